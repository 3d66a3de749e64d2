/*
 * twmsg_scan on arbitrary bytes, judged against jansson.
 *
 * What twmsg accepts must be a sane scan (every field inside the input,
 * flags that match the text) of text jansson reads as an object, with the
 * same tracked values.  When jansson reads the text as an object with no
 * duplicate keys at all, twmsg must accept it exactly when the tracked
 * members keep their rules, as far as the tree shows them; a twmsg
 * rejection is not checked where an escape could be the reason
 * ("sequenceNumber":"\u0031" is invalid to twmsg, "1" to jansson).
 * Untracked duplicates (jansson rejects, twmsg accepts) and nesting
 * between 65 and 2048 levels (twmsg rejects, jansson accepts) differ on
 * purpose and are not checked.  A NUL byte is never valid JSON, but
 * jansson 2.14 skips one right after a number or literal ({"a":1\0}
 * loads), so texts with one are only checked to be rejected.
 *
 * Built with -DTWMSG_KNOWN_GAPS it also lets pass what twmsg is known to
 * get wrong (see t-twmsg.c): \u0000 and numbers jansson finds too big,
 * and member names written with escapes.  That build is for exploring
 * past those while they are open.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "twmsg.h"

#define MAX_DEPTH 64

static const char *text;	/* the input */
static size_t textlen;
static int backslash;		/* the input has an escape somewhere */
static int minus_zero;		/* "-0" appears in the input */
static int verdict;		/* 1 must accept, 0 must reject, -1 unknown */
static int accepted;		/* twmsg_scan returned 0 */

static void gap(void)
{
#ifndef TWMSG_KNOWN_GAPS
	abort();
#endif
}

static void bad(void)
{
	verdict = 0;
}

static void unsure(void)
{
	if (verdict)
		verdict = -1;
}

static void check_str(struct tw_str s)
{
	if (!s.p) {
		if (s.n || s.escaped)
			abort();
		return;
	}
	/* the quotes around it are in the input too */
	if (s.p <= text || s.n >= textlen ||
	    s.p + s.n >= text + textlen || s.p[-1] != '"' || s.p[s.n] != '"')
		abort();
	if (!!memchr(s.p, '\\', s.n) != !!s.escaped)
		abort();
}

static enum tw_event event_of(struct tw_str name)
{
	static const struct { const char *s; enum tw_event ev; } names[] = {
		{ "connected", TW_CONNECTED }, { "start", TW_START },
		{ "media", TW_MEDIA }, { "mark", TW_MARK },
		{ "dtmf", TW_DTMF }, { "stop", TW_STOP },
		{ "disconnect", TW_DISCONNECT }, { "dropped", TW_DROPPED },
		{ "status", TW_STATUS },
	};
	size_t i;

	if (!name.p)
		return TW_NONE;
	for (i = 0; i < sizeof names / sizeof *names; i++)
		if (tw_str_eq(name, names[i].s))
			return names[i].ev;
	return TW_OTHER;
}

/* The invariants of any accepted scan, whatever the text. */
static void check_scan(const struct twmsg *m)
{
	const char *why = NULL;
	int ok;

	check_str(m->event_name);
	check_str(m->stream_sid);
	check_str(m->track);
	check_str(m->payload);
	if (m->event_name.escaped || m->event != event_of(m->event_name))
		abort();
	if (m->seq < -1 || m->chunk < -1 || m->timestamp < -1)
		abort();
	if (m->has_newline != (memchr(text, '\n', textlen) ||
			       memchr(text, '\r', textlen)))
		abort();

	ok = m->stream_sid.p && !m->stream_sid.escaped &&
	     m->stream_sid.n >= 1 && m->stream_sid.n <= 64 &&
	     sid_ok(m->stream_sid.p, m->stream_sid.n) &&
	     m->track.p && !m->track.escaped &&
	     m->payload.p && !m->payload.escaped && m->timestamp >= 0;
	if ((twmsg_media_ok(m, &why) == 0) != ok || (!ok && !why))
		abort();
}

static int same_str(struct tw_str a, struct tw_str b)
{
	return !a.p == !b.p && a.n == b.n && a.escaped == b.escaped &&
	       (!a.p || memcmp(a.p, b.p, a.n) == 0);
}

/* Without its newlines the text scans the same (and is the same text
 * if it had none). */
static void check_stripped(const struct twmsg *m)
{
	char *s = malloc(textlen ? textlen : 1);
	struct twmsg m2;
	size_t n;

	if (!s)
		abort();
	n = twmsg_strip_newlines(s, text, textlen);
	if (n > textlen || memchr(s, '\n', n) || memchr(s, '\r', n))
		abort();
	if (!m->has_newline && (n != textlen || memcmp(s, text, n) != 0))
		abort();
	if (twmsg_scan(s, n, &m2, NULL, 0) != 0 || m2.has_newline ||
	    m2.event != m->event || m2.seq != m->seq ||
	    m2.chunk != m->chunk || m2.timestamp != m->timestamp ||
	    !same_str(m2.event_name, m->event_name) ||
	    !same_str(m2.stream_sid, m->stream_sid) ||
	    !same_str(m2.track, m->track) ||
	    !same_str(m2.payload, m->payload))
		abort();
	free(s);
}

static int depth(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	int d = 0, x;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			if ((x = depth(v)) > d)
				d = x;
		return d + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((x = depth(v)) > d)
				d = x;
		return d + 1;
	}
	return 0;
}

/* A string member: must be a JSON string; equal to what twmsg kept. */
static void tracked_str(json_t *v, struct tw_str s, int plain_only)
{
	if (!v) {
		if (accepted && s.p)
			abort();
		return;
	}
	if (!json_is_string(v)) {
		bad();
		return;
	}
	if (plain_only && backslash)
		unsure();
	if (!accepted)
		return;
	if (!s.p) {
		gap();	/* the member's name was escaped */
		return;
	}
	if (!s.escaped && (s.n != json_string_length(v) ||
			   memcmp(s.p, json_string_value(v), s.n) != 0))
		abort();
}

/* A number member: a string of 1 to 18 digits or a whole number. */
static void tracked_num(json_t *v, long long got)
{
	long long want = 0;

	if (!v) {
		if (accepted && got != -1)
			abort();
		return;
	}
	if (json_is_string(v)) {
		const char *p = json_string_value(v);
		size_t n = json_string_length(v), i;

		if (n < 1 || n > 18) {
			bad();
			return;
		}
		for (i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9') {
				bad();
				return;
			}
			want = want * 10 + (p[i] - '0');
		}
		if (backslash)
			unsure();
	} else if (json_is_integer(v)) {
		want = json_integer_value(v);
		if (want < 0) {
			bad();
			return;
		}
		/* 19 digits and more, and -0, are twmsg's own business */
		if (want >= 1000000000000000000LL) {
			unsure();
			return;
		}
		if (want == 0 && minus_zero)
			unsure();
	} else {
		bad();
		return;
	}
	if (accepted && got == -1)
		gap();	/* the member's name was escaped */
	else if (accepted && got != want)
		abort();
}

/*
 * Walk the tracked members of o (jansson's reading, no duplicate keys),
 * setting verdict and, when twmsg accepted, comparing its values.
 */
static void judge(json_t *o, const struct twmsg *m)
{
	json_t *media = json_object_get(o, "media");

	verdict = 1;
	if (depth(o) > MAX_DEPTH)
		bad();
	tracked_str(json_object_get(o, "event"), m->event_name, 1);
	tracked_str(json_object_get(o, "streamSid"), m->stream_sid, 0);
	tracked_num(json_object_get(o, "sequenceNumber"), m->seq);
	if (media && !json_is_object(media)) {
		unsure();	/* twmsg takes "media" of any type */
		media = NULL;
	}
	if (!media) {
		if (accepted && (m->track.p || m->payload.p ||
				 m->chunk != -1 || m->timestamp != -1))
			abort();
		return;
	}
	tracked_str(json_object_get(media, "track"), m->track, 0);
	tracked_str(json_object_get(media, "payload"), m->payload, 0);
	tracked_num(json_object_get(media, "chunk"), m->chunk);
	tracked_num(json_object_get(media, "timestamp"), m->timestamp);
}

static int known_gap(const json_error_t *err)
{
#ifdef TWMSG_KNOWN_GAPS
	switch (json_error_code(err)) {
	case json_error_null_character:
	case json_error_null_byte_in_key:
	case json_error_numeric_overflow:
		return 1;
	default:
		return 0;
	}
#else
	(void)err;
	return 0;
#endif
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_object_seed(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct twmsg m;
	char why[8], why2[200];
	json_error_t err;
	json_t *any, *nodup;
	int r, nul;

	text = (const char *)data;
	textlen = size;
	nul = memchr(data, '\0', size) != NULL;
	backslash = memchr(data, '\\', size) != NULL;
	minus_zero = memmem(data, size, "-0", 2) != NULL;

	memset(why, 'x', sizeof why);
	r = twmsg_scan(text, size, &m, why, sizeof why);
	accepted = r == 0;
	if (r != 0 && r != -1)
		abort();
	if (r == -1 && (!memchr(why, '\0', sizeof why) || !why[0]))
		abort();
	/* the same verdict, whatever the size of why's buffer */
	if (twmsg_scan(text, size, &m, why2, sizeof why2) != r)
		abort();
	if (r == -1 && strncmp(why, why2, sizeof why - 1) != 0)
		abort();
	if (accepted) {
		if (nul)
			abort();
		check_scan(&m);
		check_stripped(&m);
	}
	if (nul)
		return 0;

	any = json_loadb(text, size, 0, &err);
	if (accepted && !any && !known_gap(&err))
		abort();	/* twmsg took what is not JSON */
	if (accepted && any && !json_is_object(any))
		abort();
	json_decref(any);

	nodup = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
	if (nodup && json_is_object(nodup)) {
		judge(nodup, &m);
#ifdef TWMSG_KNOWN_GAPS
		if (backslash && verdict == 0)
			verdict = -1;	/* perhaps an escaped name */
#endif
		if (accepted && verdict == 0)
			abort();	/* a tracked rule broken */
		if (!accepted && verdict == 1)
			abort();	/* valid, and twmsg said no */
	}
	json_decref(nodup);
	return 0;
}
