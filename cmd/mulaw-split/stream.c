/*
 * Streams: the table keyed by streamSid, what each message does to it,
 * and the events we write.  A media line is read with twmsg_scan alone;
 * every other line is rare and goes through jansson.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "clock.h"
#include "log.h"
#include "split.h"
#include "twmsg.h"

/* Streams seen in media lines but never started, remembered to warn
 * once for each; past this many they are only counted. */
#define MAX_GHOSTS	4096
/* Timestamps beyond this (about 285 years) are refused: ms * 8 must not
 * overflow. */
#define MAX_TS_MS	(1LL << 53)

const char *const track_name[NTRACK] = {"inbound", "outbound"};

static struct stream **htab;
static size_t hsize, hcount;

static uint64_t warn_json, warn_media, warn_track, warn_b64, warn_msg;

json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy, *p;

	if (j)
		return j;
	/* not UTF-8 (a user's command line, say): keep it readable */
	if (!(copy = strdup(s)))
		return NULL;
	for (p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct stream *lookup(const char *sid, size_t n)
{
	struct stream *st;

	if (!hsize || n > SID_MAX)
		return NULL;
	for (st = htab[hash(sid, n) & (hsize - 1)]; st; st = st->hnext)
		if (strlen(st->sid) == n && memcmp(st->sid, sid, n) == 0)
			return st;
	return NULL;
}

static void hinsert(struct stream *st)
{
	size_t i;

	if (hcount >= hsize) {
		size_t nsize = hsize ? hsize * 2 : 256;
		struct stream **nt = calloc(nsize, sizeof *nt);

		if (!nt)
			die(1, "out of memory");
		for (i = 0; i < hsize; i++) {
			struct stream *s = htab[i], *next;

			for (; s; s = next) {
				size_t h = hash(s->sid, strlen(s->sid)) &
					   (nsize - 1);

				next = s->hnext;
				s->hnext = nt[h];
				nt[h] = s;
			}
		}
		free(htab);
		htab = nt;
		hsize = nsize;
	}
	i = hash(st->sid, strlen(st->sid)) & (hsize - 1);
	st->hnext = htab[i];
	htab[i] = st;
	hcount++;
}

static void hremove(struct stream *st)
{
	struct stream **pp = &htab[hash(st->sid, strlen(st->sid)) &
				   (hsize - 1)];

	while (*pp != st)
		pp = &(*pp)->hnext;
	*pp = st->hnext;
	hcount--;
}

static struct stream *stream_new(const char *sid, size_t n)
{
	struct stream *st = calloc(1, sizeof *st);

	if (!st)
		die(1, "out of memory");
	memcpy(st->sid, sid, n);
	st->sid[n] = '\0';
	hinsert(st);
	return st;
}

static void stream_free(struct stream *st)
{
	int t, i;

	hremove(st);
	if (st->state != ST_GHOST) {
		if (st->prev)
			st->prev->next = st->next;
		else
			g.streams = st->next;
		if (st->next)
			st->next->prev = st->prev;
	}
	for (t = 0; t < NTRACK; t++) {
		struct track *tr = &st->tr[t];

		if (tr->file)
			sink_free(tr->file);
		if (tr->child)
			child_free(tr->child);
		for (i = 0; i < tr->nheld; i++)
			free(tr->held[i].data);
	}
	stereo_free(st);
	json_decref(st->params);
	free(st);
}

int streams_busy(void)
{
	return g.streams != NULL;
}

void streams_cleanup(void)
{
	size_t i;

	for (i = 0; i < hsize; i++)
		while (htab[i]) {
			struct stream *st = htab[i];

			if (st->state == ST_GHOST)
				log_warn("stream '%s': %llu media lines "
					 "without a start", st->sid,
					 (unsigned long long)st->skipped);
			stream_free(st);
		}
	free(htab);
	htab = NULL;
	hsize = hcount = 0;
}

/* --- events ---------------------------------------------------------- */

json_t *event_new(const char *type, const struct stream *st, int track)
{
	char ts[RFC3339_LEN + 1];
	json_t *ev = json_object();

	if (!ev)
		die(1, "out of memory");
	rfc3339_now(ts);
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "ts", json_string(ts));
	if (st) {
		if (st->call[0])
			json_object_set_new(ev, "call_sid",
					    json_string(st->call));
		json_object_set_new(ev, "stream_sid", json_string(st->sid));
	}
	if (track >= 0)
		json_object_set_new(ev, "track",
				    json_string(track_name[track]));
	return ev;
}

void event_emit(json_t *ev)
{
	char *s = json_dumps(ev, JSON_COMPACT);

	if (!s)
		die(1, "out of memory");
	out_line(s, strlen(s));
	free(s);
	json_decref(ev);
}

static __attribute__((format(printf, 6, 0))) void
error_event_v(const char *source, const struct stream *st, const char *sid,
	      int track, const char *code, const char *fmt, va_list ap)
{
	char msg[512];
	json_t *ev = event_new("error", st, track);

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (!st && sid)
		json_object_set_new(ev, "stream_sid", json_string(sid));
	json_object_set_new(ev, "source", json_string(source));
	json_object_set_new(ev, "code", json_string(code));
	json_object_set_new(ev, "message", jstr(msg));
	event_emit(ev);
}

void error_event(const struct stream *st, int track, const char *code,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_event_v("mulaw-split", st, NULL, track, code, fmt, ap);
	va_end(ap);
}

void error_event_from(const char *source, const struct stream *st,
		      const char *sid, int track, const char *code,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_event_v(source, st, sid, track, code, fmt, ap);
	va_end(ap);
}

/* --- lifecycle ------------------------------------------------------- */

/* "inbound", "inbound_track" and the like; -1 for anything else. */
static int track_index(const char *s, size_t n)
{
	if ((n == 7 || n == 13) && strncmp(s, "inbound", 7) == 0 &&
	    (n == 7 || strncmp(s + 7, "_track", 6) == 0))
		return TR_IN;
	if ((n == 8 || n == 14) && strncmp(s, "outbound", 8) == 0 &&
	    (n == 8 || strncmp(s + 8, "_track", 6) == 0))
		return TR_OUT;
	return -1;
}

static void stream_open_outputs(struct stream *st)
{
	char *path;
	int t;

	for (t = 0; t < NTRACK; t++) {
		struct track *tr = &st->tr[t];

		if (!tr->on)
			continue;
		if (opt.out && (path = expand_pattern(opt.out, st, t))) {
			tr->file = sink_open(path, st, t, 1);
			free(path);
		}
		if (opt.exec)
			tr->child = child_spawn(st, t);
	}
	if (opt.stereo && (path = expand_pattern(opt.stereo, st, -1))) {
		stereo_open(st, path);
		free(path);
	}
}

static void stream_end(struct stream *st, const char *reason)
{
	int t;

	st->state = ST_ENDING;
	st->reason = reason;
	g.nending++;
	for (t = 0; t < NTRACK; t++)
		if (st->tr[t].on)
			track_finish(st, t);
	if (st->stereo)
		stereo_end(st);
	for (t = 0; t < NTRACK; t++) {
		if (st->tr[t].file)
			sink_end(st->tr[t].file);
		if (st->tr[t].child)
			child_end(st->tr[t].child);
	}
	log_info("stream '%s' ended (%s)", st->sid, reason);
}

void streams_end_all(const char *reason)
{
	struct stream *st;

	for (st = g.streams; st; st = st->next)
		if (st->state == ST_LIVE)
			stream_end(st, reason);
}

/*
 * Advance every ending stream.  Its call.stop goes out only when each of
 * its outputs is closed and each child has exited with its stdout read to
 * the end: a consumer that sees call.stop has every transcript line.
 */
void streams_service(void)
{
	struct stream *st, *next;
	json_t *ev;
	int t, busy;

	for (st = g.streams; st; st = next) {
		next = st->next;
		if (st->state != ST_ENDING)
			continue;
		busy = 0;
		for (t = 0; t < NTRACK; t++) {
			if (st->tr[t].file && sink_service(st->tr[t].file))
				busy = 1;
			if (st->tr[t].child && child_service(st->tr[t].child))
				busy = 1;
		}
		if (st->stereo && sink_service(st->stereo->sink))
			busy = 1;
		if (busy)
			continue;
		for (t = 0; t < NTRACK; t++)
			if (st->tr[t].on)
				track_report(st, t);
		ev = event_new("call.stop", st, -1);
		json_object_set_new(ev, "reason", json_string(st->reason));
		event_emit(ev);
		g.nending--;
		g.nstreams--;
		stream_free(st);
	}
}

/* --- messages -------------------------------------------------------- */

static void on_media(const struct twmsg *m, uint64_t lineno)
{
	static uint8_t audio[BASE64_DECODED_MAX(1024 * 1024 + 4)];
	struct stream *st;
	const char *why;
	long n;
	int t;

	if (twmsg_media_ok(m, &why) < 0) {
		g.bad_lines++;
		warn_limited(&warn_media, "line %llu: media skipped: %s",
			     (unsigned long long)lineno, why);
		return;
	}
	g.media++;
	st = lookup(m->stream_sid.p, m->stream_sid.n);
	if (!st || st->state == ST_GHOST) {
		g.unknown_lines++;
		if (st) {
			st->skipped++;
		} else if (g.nghosts < MAX_GHOSTS) {
			st = stream_new(m->stream_sid.p, m->stream_sid.n);
			st->state = ST_GHOST;
			st->skipped = 1;
			g.nghosts++;
			log_warn("line %llu: media for stream '%s' before its "
				 "start: skipped", (unsigned long long)lineno,
				 st->sid);
		}
		return;
	}
	if (st->state == ST_ENDING) {
		st->skipped++;
		log_debug("line %llu: media for stream '%s' after its end",
			  (unsigned long long)lineno, st->sid);
		return;
	}
	if ((t = track_index(m->track.p, m->track.n)) < 0) {
		g.bad_lines++;
		warn_limited(&warn_track, "line %llu: media with unknown "
			     "track '%.*s': skipped",
			     (unsigned long long)lineno,
			     (int)(m->track.n > 32 ? 32 : m->track.n),
			     m->track.p);
		return;
	}
	if (!st->tr[t].on)
		return;
	if (m->timestamp > MAX_TS_MS) {
		g.bad_lines++;
		warn_limited(&warn_media, "line %llu: media timestamp %lld "
			     "out of range: skipped",
			     (unsigned long long)lineno, m->timestamp);
		return;
	}
	if (m->payload.n > sizeof audio / 3 * 4 ||
	    (n = base64_decode(audio, m->payload.p, m->payload.n)) < 0) {
		g.bad_lines++;
		warn_limited(&warn_b64, "line %llu: media payload is not "
			     "base64: skipped", (unsigned long long)lineno);
		return;
	}
	track_media(st, t, m->timestamp, audio, (size_t)n);
}

static json_t *load(const char *line, size_t len, uint64_t lineno)
{
	json_error_t err;
	json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);

	if (!root) {
		g.bad_lines++;
		warn_limited(&warn_json, "line %llu: not valid JSON (%s): "
			     "skipped", (unsigned long long)lineno, err.text);
	}
	return root;
}

static const char *get_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Copy an optional sid; 0 if absent, -1 if present and not a sid. */
static int copy_sid(char dst[SID_MAX + 1], const char *s)
{
	size_t n;

	if (!s)
		return 0;
	n = strlen(s);
	if (!sid_ok(s, n))
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

static int media_format_ok(json_t *start)
{
	json_t *mf = json_object_get(start, "mediaFormat"), *v;
	const char *enc;

	if (!mf)
		return 1;
	if ((enc = get_str(mf, "encoding")) && strcmp(enc, "audio/x-mulaw"))
		return 0;
	if ((v = json_object_get(mf, "sampleRate")) &&
	    json_number_value(v) != 8000)
		return 0;
	if ((v = json_object_get(mf, "channels")) &&
	    json_number_value(v) != 1)
		return 0;
	return 1;
}

/* The tracks a start announces, as bits; both when it names none. */
static unsigned start_tracks(json_t *start)
{
	json_t *arr = json_object_get(start, "tracks"), *v;
	unsigned bits = 0;
	size_t i;

	if (!json_is_array(arr))
		return 1u << TR_IN | 1u << TR_OUT;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		int t;

		if (!s)
			continue;
		if (strcmp(s, "both_tracks") == 0)
			bits |= 1u << TR_IN | 1u << TR_OUT;
		else if ((t = track_index(s, strlen(s))) >= 0)
			bits |= 1u << t;
	}
	return bits;
}

static void on_start(const char *line, size_t len, uint64_t lineno)
{
	json_t *root, *start, *params, *tracks, *ev;
	char call[SID_MAX + 1] = "", account[SID_MAX + 1] = "";
	unsigned long long ln = (unsigned long long)lineno;
	const char *sid;
	struct stream *st;
	unsigned bits;
	int t;

	if (!(root = load(line, len, lineno)))
		return;
	start = json_object_get(root, "start");
	if (!json_is_object(start)) {
		warn_limited(&warn_msg, "line %llu: start without a start "
			     "object: skipped", ln);
		goto out;
	}
	if (!(sid = get_str(root, "streamSid")))
		sid = get_str(start, "streamSid");
	if (!sid || !sid_ok(sid, strlen(sid))) {
		warn_limited(&warn_msg, "line %llu: start with a missing or "
			     "invalid streamSid: skipped", ln);
		goto out;
	}
	if (copy_sid(call, get_str(start, "callSid")) < 0 || !call[0]) {
		warn_limited(&warn_msg, "line %llu: start of stream '%s' with "
			     "a missing or invalid callSid: skipped", ln, sid);
		goto out;
	}
	if (copy_sid(account, get_str(start, "accountSid")) < 0) {
		log_warn("line %llu: start of stream '%s': invalid "
			 "accountSid ignored", ln, sid);
		account[0] = '\0';
	}
	if (!media_format_ok(start)) {
		log_warn("line %llu: stream '%s' is not 8000 Hz mono mu-law: "
			 "skipped", ln, sid);
		goto out;
	}
	st = lookup(sid, strlen(sid));
	if (st && st->state != ST_GHOST) {
		log_warn("line %llu: second start for stream '%s' ignored",
			 ln, sid);
		goto out;
	}
	if (st) {
		log_warn("stream '%s': %llu media lines before its start "
			 "were skipped", sid,
			 (unsigned long long)st->skipped);
		g.nghosts--;
		st->skipped = 0;
	} else {
		st = stream_new(sid, strlen(sid));
	}
	st->state = ST_LIVE;
	memcpy(st->call, call, sizeof call);
	memcpy(st->account, account, sizeof account);
	params = json_object_get(start, "customParameters");
	st->params = json_is_object(params) ? json_incref(params) :
		     json_object();
	st->next = g.streams;
	if (g.streams)
		g.streams->prev = st;
	g.streams = st;
	g.nstreams++;

	bits = start_tracks(start) & opt.tracks;
	tracks = json_array();
	for (t = 0; t < NTRACK; t++) {
		st->tr[t].on = !!(bits & 1u << t);
		if (st->tr[t].on)
			json_array_append_new(tracks,
					      json_string(track_name[t]));
	}
	ev = event_new("call.start", st, -1);
	if (st->account[0])
		json_object_set_new(ev, "account_sid",
				    json_string(st->account));
	json_object_set_new(ev, "tracks", tracks);
	json_object_set(ev, "params", st->params);
	event_emit(ev);
	log_info("stream '%s' of call '%s' started", st->sid, st->call);
	stream_open_outputs(st);
out:
	json_decref(root);
}

static struct stream *msg_stream(json_t *root, const char **sidp)
{
	const char *sid = get_str(root, "streamSid");

	*sidp = sid && sid_ok(sid, strlen(sid)) ? sid : NULL;
	return *sidp ? lookup(*sidp, strlen(*sidp)) : NULL;
}

static void on_stop(const char *line, size_t len, uint64_t lineno,
		    const char *reason)
{
	unsigned long long ln = (unsigned long long)lineno;
	json_t *root = load(line, len, lineno);
	struct stream *st;
	const char *sid;

	if (!root)
		return;
	st = msg_stream(root, &sid);
	if (!st || st->state == ST_GHOST) {
		/* tw-mediasrv reports a socket that closed before start too */
		if (!sid && strcmp(reason, "stop") == 0)
			warn_limited(&warn_msg, "line %llu: stop without a "
				     "valid streamSid ignored", ln);
		else if (sid)
			warn_limited(&warn_msg, "line %llu: %s for %s stream "
				     "'%s' ignored", ln, reason,
				     st ? "a not started" : "an unknown", sid);
	} else if (st->state == ST_ENDING) {
		log_debug("line %llu: %s for stream '%s' which has ended",
			  ln, reason, st->sid);
	} else {
		stream_end(st, reason);
	}
	json_decref(root);
}

static void on_dtmf(const char *line, size_t len, uint64_t lineno)
{
	json_t *root = load(line, len, lineno), *d, *ev;
	const char *sid, *digit, *track;
	struct stream *st;
	int t = -1;

	if (!root)
		return;
	st = msg_stream(root, &sid);
	d = json_object_get(root, "dtmf");
	digit = get_str(d, "digit");
	if (!st || st->state == ST_GHOST || !digit) {
		warn_limited(&warn_msg, "line %llu: dtmf for an unknown "
			     "stream or without a digit: skipped",
			     (unsigned long long)lineno);
		goto out;
	}
	if ((track = get_str(d, "track")))
		t = track_index(track, strlen(track));
	ev = event_new("dtmf", st, t);
	json_object_set_new(ev, "digit", json_string(digit));
	event_emit(ev);
out:
	json_decref(root);
}

static void on_dropped(const char *line, size_t len, uint64_t lineno)
{
	json_t *root = load(line, len, lineno), *d;
	const char *sid;
	struct stream *st;

	if (!root)
		return;
	st = msg_stream(root, &sid);
	if (st && st->state == ST_GHOST)
		st = NULL;
	d = json_object_get(root, "dropped");
	error_event_from("tw-mediasrv", st, sid, -1, "DROPPED",
			 "tw-mediasrv dropped %lld messages (%lld bytes)",
			 (long long)json_integer_value(
				 json_object_get(d, "messages")),
			 (long long)json_integer_value(
				 json_object_get(d, "bytes")));
	json_decref(root);
}

/* "CallDuration" -> "call_duration"; 0 if the key is not that simple. */
static int snake_case(char *dst, size_t size, const char *key)
{
	size_t i, n = 0;

	for (i = 0; key[i]; i++) {
		char c = key[i];
		int upper = c >= 'A' && c <= 'Z';
		int lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!upper && !lower)
			return 0;
		/* a new word: an upper-case letter after a lower-case one */
		if (upper && i > 0 &&
		    !(key[i - 1] >= 'A' && key[i - 1] <= 'Z')) {
			if (n + 1 >= size)
				return 0;
			dst[n++] = '_';
		}
		if (n + 1 >= size)
			return 0;
		dst[n++] = upper ? (char)(c - 'A' + 'a') : c;
	}
	dst[n] = '\0';
	return n > 0;
}

/*
 * A call or stream status callback, as tw-mediasrv relays it.  A stream
 * callback has no CallStatus: its StreamEvent ("stream-started") is the
 * status, and its StreamSid becomes stream_sid.
 */
static int on_status(const char *line, size_t len, uint64_t lineno)
{
	json_t *root = load(line, len, lineno), *status, *ev, *v;
	const char *call, *callstatus, *key, *dur;
	char name[72], *end;
	long long secs;

	if (!root)
		return 1;
	status = json_object_get(root, "status");
	call = get_str(status, "CallSid");
	callstatus = get_str(status, "CallStatus");
	if (!callstatus || !*callstatus)
		callstatus = get_str(status, "StreamEvent");
	if (!call || !callstatus || !*callstatus ||
	    !sid_ok(call, strlen(call))) {
		json_decref(root);
		return 0;
	}
	ev = event_new("call.status", NULL, -1);
	json_object_set_new(ev, "call_sid", json_string(call));
	json_object_set_new(ev, "status", json_string(callstatus));
	/* seconds, as a number; set first, so that Twilio's Duration (in
	 * minutes, for billing) cannot take the name */
	if ((dur = get_str(status, "CallDuration"))) {
		errno = 0;
		secs = strtoll(dur, &end, 10);
		if (!errno && end != dur && !*end && secs >= 0)
			json_object_set_new(ev, "duration",
					    json_integer(secs));
	}
	json_object_foreach(status, key, v) {
		if (!(json_is_string(v) || json_is_number(v) ||
		      json_is_boolean(v)) ||
		    !snake_case(name, sizeof name, key) ||
		    json_object_get(ev, name))
			continue;
		json_object_set(ev, name, v);
	}
	event_emit(ev);
	json_decref(root);
	return 1;
}

void handle_line(char *line, size_t len, uint64_t lineno)
{
	struct twmsg m;
	char why[96];
	size_t i;

	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' ||
				line[i] == '\r'); i++)
		;
	if (i == len)
		return;
	if (twmsg_scan(line, len, &m, why, sizeof why) < 0) {
		g.bad_lines++;
		warn_limited(&warn_json, "line %llu: not valid JSON (%s): "
			     "skipped", (unsigned long long)lineno, why);
		return;
	}
	switch (m.event) {
	case TW_MEDIA:
		on_media(&m, lineno);
		break;
	case TW_START:
		on_start(line, len, lineno);
		break;
	case TW_STOP:
		on_stop(line, len, lineno, "stop");
		break;
	case TW_DISCONNECT:
		on_stop(line, len, lineno, "disconnect");
		break;
	case TW_DTMF:
		on_dtmf(line, len, lineno);
		break;
	case TW_DROPPED:
		on_dropped(line, len, lineno);
		break;
	case TW_STATUS:
		if (!on_status(line, len, lineno))
			out_line(line, len);
		break;
	case TW_CONNECTED:
	case TW_MARK:
		break;
	case TW_NONE:
	case TW_OTHER:
		out_line(line, len);
		break;
	}
}
