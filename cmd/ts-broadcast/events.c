/*
 * Events: one NDJSON line becomes one numbered event, serialized once
 * (struct msg), and the history keeps what a late browser needs.
 *
 * The history is a list of entries in id order, threaded twice: through
 * all calls (a browser watching everything) and through each call (a
 * browser watching one).  Of interim transcripts only the newest of each
 * utterance (stream_sid, track, seq) stays, and the final of that
 * utterance removes it.  Whole calls leave the history oldest ended call
 * first when --history-calls or --history-bytes is passed; lost_id
 * remembers the highest id that left, which decides whether a browser
 * resuming after some id can be given exactly what it missed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "log.h"

struct history hist;
void (*hent_gone_hook)(struct hent *);

/* Bookkeeping cost of one entry, besides its text. */
#define ENT_OVERHEAD (sizeof(struct hent) + sizeof(struct msg) + LWS_PRE)

struct msg *msg_new(const char *text, size_t len, uint64_t id)
{
	struct msg *m = malloc(sizeof *m + LWS_PRE + len + 1);

	if (!m)
		return NULL;
	m->refs = 1;
	m->id = id;
	m->call_sid[0] = '\0';
	m->is_stop = 0;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	m->buf[LWS_PRE + len] = '\0';
	return m;
}

struct msg *msg_ref(struct msg *m)
{
	m->refs++;
	return m;
}

void msg_unref(struct msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

/* --- calls ----------------------------------------------------------- */

struct call *call_find(const char *sid)
{
	struct call *c;

	/* newest first: events are mostly about calls still going */
	for (c = hist.calls_tail; c; c = c->prev)
		if (strcmp(c->sid, sid) == 0)
			return c;
	return NULL;
}

static void copy_str(char *dst, size_t size, json_t *v)
{
	const char *s = json_string_value(v);

	snprintf(dst, size, "%s", s ? s : "");
}

static struct call *call_new(const char *sid, json_t *ev)
{
	struct call *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	snprintf(c->sid, sizeof c->sid, "%s", sid);
	c->info = json_object();
	copy_str(c->start_ts, sizeof c->start_ts, json_object_get(ev, "ts"));
	c->live = 1;
	c->prev = hist.calls_tail;
	if (hist.calls_tail)
		hist.calls_tail->next = c;
	else
		hist.calls = c;
	hist.calls_tail = c;
	hist.ncalls++;
	return c;
}

/* What the event says about its call: who it is, whether it is live. */
static void call_update(struct call *c, const char *type, json_t *ev)
{
	static const char *const keys[] = {
		"stream_sid", "account_sid", "tracks", "params",
	};
	size_t i;
	json_t *v;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		v = json_object_get(ev, keys[i]);
		if (v && !json_is_null(v) &&
		    (strcmp(type, "call.start") == 0 ||
		     !json_object_get(c->info, keys[i])))
			json_object_set(c->info, keys[i], v);
	}
	if (strcmp(type, "call.start") == 0) {
		copy_str(c->start_ts, sizeof c->start_ts,
			 json_object_get(ev, "ts"));
		c->live = 1;
		c->stop_ts[0] = c->reason[0] = '\0';
	} else if (strcmp(type, "call.stop") == 0) {
		copy_str(c->stop_ts, sizeof c->stop_ts,
			 json_object_get(ev, "ts"));
		copy_str(c->reason, sizeof c->reason,
			 json_object_get(ev, "reason"));
		c->live = 0;
	}
}

static json_t *or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *call_json(const struct call *c)
{
	json_t *tracks = json_object_get(c->info, "tracks");
	json_t *params = json_object_get(c->info, "params");

	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
		"call_sid", c->sid,
		"stream_sid", or_null(json_object_get(c->info, "stream_sid")),
		"account_sid", or_null(json_object_get(c->info,
							"account_sid")),
		"tracks", tracks ? json_incref(tracks) : json_array(),
		"params", params ? json_incref(params) : json_object(),
		"start_ts", str_or_null(c->start_ts),
		"stop_ts", str_or_null(c->stop_ts),
		"live", c->live,
		"reason", c->live ? json_null() : str_or_null(c->reason));
}

/* --- the history ------------------------------------------------------ */

void history_init(size_t max_calls, size_t max_bytes, uint64_t first_id)
{
	memset(&hist, 0, sizeof hist);
	hist.max_calls = max_calls;
	hist.max_bytes = max_bytes;
	hist.next_id = first_id;
	hist.lost_id = first_id - 1;
}

static void ent_unlink(struct hent *e, int lost)
{
	struct call *c = e->call;

	if (hent_gone_hook)
		hent_gone_hook(e);
	if (e->prev)
		e->prev->next = e->next;
	else
		hist.head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		hist.tail = e->prev;
	if (e->cprev)
		e->cprev->cnext = e->cnext;
	else
		c->head = e->cnext;
	if (e->cnext)
		e->cnext->cprev = e->cprev;
	else
		c->tail = e->cprev;
	if (e->interim) {
		struct hent **pp;

		for (pp = &c->interims; *pp; pp = &(*pp)->inext)
			if (*pp == e) {
				*pp = e->inext;
				break;
			}
	}
	hist.nent--;
	hist.bytes -= e->msg->len + ENT_OVERHEAD;
	c->nent--;
	c->bytes -= e->msg->len + ENT_OVERHEAD;
	if (lost && e->msg->id > hist.lost_id)
		hist.lost_id = e->msg->id;
	msg_unref(e->msg);
	free(e);
}

static void call_free(struct call *c)
{
	while (c->head)
		ent_unlink(c->head, 1);
	if (c->prev)
		c->prev->next = c->next;
	else
		hist.calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		hist.calls_tail = c->prev;
	hist.ncalls--;
	json_decref(c->info);
	free(c);
}

/*
 * Keep within --history-calls and --history-bytes: whole ended calls go
 * first, oldest first.  When every call is live, the oldest live call goes
 * if there are too many calls, and the oldest entries go if there are too
 * many bytes; both are counted and logged, since a browser then misses
 * part of a call still going.
 */
static void history_trim(const struct call *keep)
{
	struct call *c;

	while (hist.ncalls > hist.max_calls || hist.bytes > hist.max_bytes) {
		for (c = hist.calls; c && (c->live || c == keep); c = c->next)
			;
		if (c) {
			log_debug("history: dropping ended call %s", c->sid);
			hist.evicted_calls++;
			call_free(c);
			continue;
		}
		if (hist.ncalls > hist.max_calls) {
			c = hist.calls == keep ? keep->next : hist.calls;
			if (!c)
				break;
			log_warn("history: more than %zu live calls, dropping "
				 "call %s", hist.max_calls, c->sid);
			hist.evicted_calls++;
			hist.evicted_live++;
			call_free(c);
			continue;
		}
		if (!hist.head || hist.head == hist.tail)
			break;
		if (hist.evicted_live++ % 1000 == 0)
			log_warn("history: over --history-bytes with only "
				 "live calls, dropping their oldest events");
		ent_unlink(hist.head, 1);
	}
}

void history_free(void)
{
	while (hist.calls)
		call_free(hist.calls);
}

static int same_utterance(const struct hent *e, const char *stream,
			  const char *track, long long seq)
{
	return e->interim && e->seq == seq && strcmp(e->track, track) == 0 &&
	       strcmp(e->stream_sid, stream) == 0;
}

static void keep(struct call *c, struct msg *m, int interim,
		 const char *stream, const char *track, long long seq)
{
	struct hent *e;

	if (track) {
		/* the utterance's previous interim, if any, is superseded */
		for (e = c->interims; e; e = e->inext)
			if (same_utterance(e, stream, track, seq)) {
				ent_unlink(e, 0);
				break;
			}
	}
	if (!(e = calloc(1, sizeof *e))) {
		log_error("out of memory: event %llu not kept in history",
			  (unsigned long long)m->id);
		return;
	}
	e->call = c;
	e->msg = msg_ref(m);
	e->interim = interim;
	if (interim) {
		snprintf(e->stream_sid, sizeof e->stream_sid, "%s", stream);
		snprintf(e->track, sizeof e->track, "%s", track);
		e->seq = seq;
		e->inext = c->interims;
		c->interims = e;
	}
	e->prev = hist.tail;
	if (hist.tail)
		hist.tail->next = e;
	else
		hist.head = e;
	hist.tail = e;
	e->cprev = c->tail;
	if (c->tail)
		c->tail->cnext = e;
	else
		c->head = e;
	c->tail = e;
	hist.nent++;
	hist.bytes += m->len + ENT_OVERHEAD;
	c->nent++;
	c->bytes += m->len + ENT_OVERHEAD;
}

int history_resumable(uint64_t since)
{
	return since >= hist.lost_id && since < hist.next_id;
}

/* --- one line ------------------------------------------------------- */

/* A SID as tapline passes them on: letters and digits, 1 to 64. */
static int sid_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "abcdefghijklmnopqrstuvwxyz0123456789_-");

	return n > 0 && n <= SID_MAX && s[n] == '\0';
}

static enum ingest malformed(json_t *root, char *why, size_t whysz,
			     const char *what)
{
	snprintf(why, whysz, "%s", what);
	json_decref(root);
	return IN_MALFORMED;
}

/* The serialized event: the producer's own text with ,"id":N spliced
 * in before its closing brace, so numbers keep the form they were
 * written in.  If the producer sent an "id" of its own, it is replaced
 * and the object serialized again. */
static struct msg *serialize(json_t *root, const char *text, size_t len,
			     uint64_t id)
{
	struct msg *m;
	char *s;

	if (!json_object_get(root, "id") && len >= 2 && text[len - 1] == '}') {
		char tail[32];
		int n = snprintf(tail, sizeof tail, ",\"id\":%llu}",
				 (unsigned long long)id);

		if (!(m = malloc(sizeof *m + LWS_PRE + len + (size_t)n)))
			return NULL;
		m->refs = 1;
		m->id = id;
		m->call_sid[0] = '\0';
		m->is_stop = 0;
		m->len = len - 1 + (size_t)n;
		memcpy(m->buf + LWS_PRE, text, len - 1);
		memcpy(m->buf + LWS_PRE + len - 1, tail, (size_t)n + 1);
		return m;
	}
	json_object_set_new(root, "id", json_integer((json_int_t)id));
	if (!(s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15))))
		return NULL;
	m = msg_new(s, strlen(s), id);
	free(s);
	return m;
}

enum ingest ingest_line(const char *line, size_t len, int from_journal,
			struct msg **out, char *why, size_t whysz)
{
	json_error_t err;
	json_t *root, *v;
	const char *type, *sid = NULL, *stream = "", *track = NULL;
	long long seq = 0;
	int interim = 0;
	uint64_t id;
	struct call *c;
	struct msg *m;

	*out = NULL;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
		       line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (len == 0)
		return IN_EMPTY;
	if (memchr(line, '\n', len) || memchr(line, '\r', len))
		return malformed(NULL, why, whysz, "line break inside a line");
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		snprintf(why, whysz, "not JSON: %s", err.text);
		return IN_MALFORMED;
	}
	if (!json_is_object(root))
		return malformed(root, why, whysz, "not a JSON object");
	type = json_string_value(json_object_get(root, "type"));
	if (!type || !*type)
		return malformed(root, why, whysz, "no \"type\"");
	v = json_object_get(root, "call_sid");
	if (v && !json_is_null(v)) {
		if (!(sid = json_string_value(v)) || !sid_ok(sid))
			return malformed(root, why, whysz, "bad \"call_sid\"");
	}
	v = json_object_get(root, "stream_sid");
	if (v && !json_is_null(v)) {
		if (!(stream = json_string_value(v)) || !sid_ok(stream))
			return malformed(root, why, whysz,
					 "bad \"stream_sid\"");
	}
	if (strcmp(type, "transcript") == 0) {
		v = json_object_get(root, "final");
		if (!json_is_boolean(v))
			return malformed(root, why, whysz,
					 "transcript without boolean "
					 "\"final\"");
		interim = json_is_false(v);
		track = json_string_value(json_object_get(root, "track"));
		v = json_object_get(root, "seq");
		if (!track || strlen(track) >= sizeof ((struct hent *)0)->track
		    || !json_is_integer(v) || json_integer_value(v) < 0)
			return malformed(root, why, whysz,
					 "transcript without \"track\" and "
					 "\"seq\"");
		seq = json_integer_value(v);
	}

	if (from_journal) {
		v = json_object_get(root, "id");
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    (uint64_t)json_integer_value(v) < hist.next_id)
			return malformed(root, why, whysz,
					 "journal line without an increasing "
					 "\"id\"");
		id = (uint64_t)json_integer_value(v);
		m = msg_new(line, len, id);
	} else {
		id = hist.next_id;
		m = serialize(root, line, len, id);
	}
	if (!m)
		return malformed(root, why, whysz, "out of memory");
	hist.next_id = id + 1;
	m->is_stop = strcmp(type, "call.stop") == 0;
	if (sid) {
		snprintf(m->call_sid, sizeof m->call_sid, "%s", sid);
		if (!(c = call_find(sid)) && !(c = call_new(sid, root))) {
			log_error("out of memory: call %s not kept", sid);
		} else {
			call_update(c, type, root);
			keep(c, m, interim, stream, track, seq);
			history_trim(c);
		}
	}
	json_decref(root);
	*out = m;
	return IN_OK;
}
