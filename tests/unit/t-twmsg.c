/*
 * twmsg: Twilio-shaped messages, the JSON they must be, the tracked
 * members' rules, and agreement with jansson on what is JSON at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "twmsg.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A text with an explicit length, so it may hold NUL bytes. */
#define T(s) { s, sizeof(s) - 1 }

struct text {
	const char *s;
	size_t n;
};

#define MZ "MZ18ad3ab5a668481ce02b83e7395059f0"
#define AC "AC25e16e9a716a4a1786a7c47f4c5b1ef8"
#define CA "CA1f2d6a2c3d4e5f60718293a4b5c6d7e8"
#define PAYLOAD "no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aI" \
	"jJOsLBUMCAYHDBUmspeNiIaHi5Gi"

static const char connected[] =
	"{\"event\":\"connected\",\"protocol\":\"Call\","
	"\"version\":\"1.0.0\"}";
static const char start[] =
	"{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{"
	"\"accountSid\":\"" AC "\",\"streamSid\":\"" MZ "\","
	"\"callSid\":\"" CA "\",\"tracks\":[\"inbound\",\"outbound\"],"
	"\"customParameters\":{\"FirstName\":\"Jane\"},"
	"\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","
	"\"sampleRate\":8000,\"channels\":1}},\"streamSid\":\"" MZ "\"}";
static const char media[] =
	"{\"event\":\"media\",\"sequenceNumber\":\"3\",\"media\":{"
	"\"track\":\"outbound\",\"chunk\":\"1\",\"timestamp\":\"5\","
	"\"payload\":\"" PAYLOAD "\"},\"streamSid\":\"" MZ "\"}";
static const char mark[] =
	"{\"event\":\"mark\",\"sequenceNumber\":\"4\",\"streamSid\":\"" MZ
	"\",\"mark\":{\"name\":\"my label\"}}";
static const char dtmf[] =
	"{\"event\":\"dtmf\",\"streamSid\":\"" MZ "\","
	"\"sequenceNumber\":\"5\","
	"\"dtmf\":{\"track\":\"inbound_track\",\"digit\":\"1\"}}";
static const char stop[] =
	"{\"event\":\"stop\",\"sequenceNumber\":\"5\",\"stop\":{"
	"\"accountSid\":\"" AC "\",\"callSid\":\"" CA "\"},"
	"\"streamSid\":\"" MZ "\"}";
/* The media message as a person would indent it, with CR LF. */
static const char media_pretty[] =
	"{\r\n"
	"  \"event\": \"media\",\r\n"
	"  \"sequenceNumber\": \"3\",\r\n"
	"  \"media\": {\r\n"
	"\t\"track\": \"outbound\",\r\n"
	"\t\"chunk\": \"1\",\r\n"
	"\t\"timestamp\": \"5\",\r\n"
	"\t\"payload\": \"" PAYLOAD "\"\r\n"
	"  },\n"
	"  \"streamSid\": \"" MZ "\"\n"
	"}";

static int scan(const char *s, struct twmsg *m)
{
	char why[128];

	return twmsg_scan(s, strlen(s), m, why, sizeof why);
}

/* s is absent (want NULL) or its raw text is exactly want. */
static void check_str(struct tw_str s, const char *want)
{
	if (!want) {
		assert_null(s.p);
		assert_int_equal(s.n, 0);
		return;
	}
	assert_non_null(s.p);
	assert_int_equal(s.n, strlen(want));
	assert_memory_equal(s.p, want, s.n);
}

/* The media fields of a message that has none. */
static void check_no_media(const struct twmsg *m)
{
	check_str(m->track, NULL);
	check_str(m->payload, NULL);
	assert_int_equal(m->chunk, -1);
	assert_int_equal(m->timestamp, -1);
}

/* Where needle is in hay; it must be there. */
static const char *find(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	assert_non_null(p);
	return p;
}

static void msg_connected(void **state)
{
	struct twmsg m;

	(void)state;
	assert_int_equal(scan(connected, &m), 0);
	assert_int_equal(m.event, TW_CONNECTED);
	check_str(m.event_name, "connected");
	assert_ptr_equal(m.event_name.p, find(connected, "connected\""));
	check_str(m.stream_sid, NULL);
	assert_int_equal(m.seq, -1);
	check_no_media(&m);
	assert_int_equal(m.has_newline, 0);
}

static void msg_start(void **state)
{
	struct twmsg m;
	const char *why = NULL;

	(void)state;
	assert_int_equal(scan(start, &m), 0);
	assert_int_equal(m.event, TW_START);
	check_str(m.event_name, "start");
	/* the top-level streamSid, not start.streamSid */
	check_str(m.stream_sid, MZ);
	assert_ptr_equal(m.stream_sid.p, strrchr(start, 'M'));
	assert_int_equal(m.stream_sid.escaped, 0);
	assert_int_equal(m.seq, 1);
	check_no_media(&m);
	assert_int_equal(twmsg_media_ok(&m, &why), -1);
	assert_non_null(why);
}

static void msg_media(void **state)
{
	struct twmsg m;
	const char *why = NULL;

	(void)state;
	assert_int_equal(scan(media, &m), 0);
	assert_int_equal(m.event, TW_MEDIA);
	check_str(m.stream_sid, MZ);
	assert_ptr_equal(m.stream_sid.p, find(media, MZ));
	assert_int_equal(m.seq, 3);
	check_str(m.track, "outbound");
	assert_ptr_equal(m.track.p, find(media, "outbound"));
	assert_int_equal(m.chunk, 1);
	assert_int_equal(m.timestamp, 5);
	check_str(m.payload, PAYLOAD);
	assert_ptr_equal(m.payload.p, find(media, PAYLOAD));
	assert_int_equal(m.payload.escaped, 0);
	assert_int_equal(m.has_newline, 0);
	assert_int_equal(twmsg_media_ok(&m, &why), 0);
}

static void msg_mark_dtmf_stop(void **state)
{
	struct twmsg m;

	(void)state;
	assert_int_equal(scan(mark, &m), 0);
	assert_int_equal(m.event, TW_MARK);
	check_str(m.stream_sid, MZ);
	assert_int_equal(m.seq, 4);
	check_no_media(&m);

	/* dtmf.track is not media.track */
	assert_int_equal(scan(dtmf, &m), 0);
	assert_int_equal(m.event, TW_DTMF);
	check_str(m.stream_sid, MZ);
	assert_int_equal(m.seq, 5);
	check_no_media(&m);

	assert_int_equal(scan(stop, &m), 0);
	assert_int_equal(m.event, TW_STOP);
	check_str(m.event_name, "stop");
	check_str(m.stream_sid, MZ);
	assert_int_equal(m.seq, 5);
	check_no_media(&m);
}

static void numbers_as_json_numbers(void **state)
{
	static const char text[] =
		"{\"event\":\"media\",\"sequenceNumber\":12,\"media\":{"
		"\"track\":\"inbound\",\"chunk\":3,\"timestamp\":60,"
		"\"payload\":\"AA==\"},\"streamSid\":\"" MZ "\"}";
	static const char zeros[] =
		"{\"sequenceNumber\":0,\"media\":{\"chunk\":\"0\","
		"\"timestamp\":0}}";
	static const char big[] =
		"{\"sequenceNumber\":\"123456789012345678\","
		"\"media\":{\"timestamp\":123456789012345678}}";
	struct twmsg m;
	const char *why;

	(void)state;
	assert_int_equal(scan(text, &m), 0);
	assert_int_equal(m.seq, 12);
	assert_int_equal(m.chunk, 3);
	assert_int_equal(m.timestamp, 60);
	check_str(m.payload, "AA==");
	assert_int_equal(twmsg_media_ok(&m, &why), 0);

	assert_int_equal(scan(zeros, &m), 0);
	assert_int_equal(m.event, TW_NONE);
	assert_int_equal(m.seq, 0);
	assert_int_equal(m.chunk, 0);
	assert_int_equal(m.timestamp, 0);

	assert_int_equal(scan(big, &m), 0);
	assert_int_equal(m.seq, 123456789012345678LL);
	assert_int_equal(m.timestamp, 123456789012345678LL);
}

static void member_order_and_unknown_members(void **state)
{
	/* media first, streamSid first inside nothing, and decoys: the
	 * tracked names nested where they are not tracked */
	static const char text[] =
		"{\"streamSid\":\"" MZ "\",\"media\":{\"payload\":\"AAAA\","
		"\"extra\":{\"payload\":5,\"track\":[1,{\"chunk\":null}]},"
		"\"timestamp\":\"20\",\"track\":\"inbound\",\"chunk\":\"2\"},"
		"\"x\":{\"event\":\"stop\",\"streamSid\":7,"
		"\"media\":{\"payload\":{}}},"
		"\"list\":[{\"event\":1},{\"media\":{\"track\":2}}],"
		"\"payload\":[],\"track\":true,\"chunk\":-1.5,"
		"\"sequenceNumber\":\"9\",\"event\":\"media\"}";
	struct twmsg m;
	const char *why;

	(void)state;
	assert_int_equal(scan(text, &m), 0);
	assert_int_equal(m.event, TW_MEDIA);
	check_str(m.stream_sid, MZ);
	assert_int_equal(m.seq, 9);
	check_str(m.track, "inbound");
	check_str(m.payload, "AAAA");
	assert_int_equal(m.chunk, 2);
	assert_int_equal(m.timestamp, 20);
	assert_int_equal(twmsg_media_ok(&m, &why), 0);
}

/* text with "\r\n" after every structural character outside strings */
static char *add_newlines(const char *text, size_t *outlen)
{
	size_t n = strlen(text), i, k = 0;
	char *out = malloc(3 * n + 1);
	int in_str = 0;

	assert_non_null(out);
	for (i = 0; i < n; i++) {
		char c = text[i];

		out[k++] = c;
		if (in_str) {
			if (c == '\\')
				out[k++] = text[++i];
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (strchr("{}[]:,", c)) {
			out[k++] = '\r';
			out[k++] = '\n';
		}
	}
	out[k] = '\0';
	*outlen = k;
	return out;
}

static void whitespace_and_newlines(void **state)
{
	static const char spaces[] =
		" \t{ \"event\" :\t\"stop\" , \"streamSid\" : \"" MZ "\" }\t ";
	struct twmsg m, c;
	char *s;
	size_t n;

	(void)state;
	assert_int_equal(scan(spaces, &m), 0);
	assert_int_equal(m.event, TW_STOP);
	assert_int_equal(m.has_newline, 0);

	assert_int_equal(scan(media_pretty, &m), 0);
	assert_int_equal(m.has_newline, 1);
	assert_int_equal(scan(media, &c), 0);
	assert_int_equal(m.event, c.event);
	check_str(m.stream_sid, MZ);
	check_str(m.track, "outbound");
	check_str(m.payload, PAYLOAD);
	assert_int_equal(m.seq, c.seq);
	assert_int_equal(m.chunk, c.chunk);
	assert_int_equal(m.timestamp, c.timestamp);

	/* a lone LF or a lone CR is enough */
	assert_int_equal(scan("{\"a\":1\n}", &m), 0);
	assert_int_equal(m.has_newline, 1);
	assert_int_equal(scan("\r{}", &m), 0);
	assert_int_equal(m.has_newline, 1);
	assert_int_equal(scan("{}\r", &m), 0);
	assert_int_equal(m.has_newline, 1);
	/* an escaped \n in a string is not a newline */
	assert_int_equal(scan("{\"a\":\"x\\ny\\r\"}", &m), 0);
	assert_int_equal(m.has_newline, 0);

	s = add_newlines(start, &n);
	assert_int_equal(twmsg_scan(s, n, &m, NULL, 0), 0);
	assert_int_equal(m.has_newline, 1);
	assert_int_equal(m.event, TW_START);
	check_str(m.stream_sid, MZ);
	assert_int_equal(m.seq, 1);
	free(s);
}

static void strip_newlines(void **state)
{
	static const char *const msgs[] = {
		connected, start, media, mark, dtmf, stop,
		"{\"a\":\"x\\ny\\r\\\\\",\"b\":[\"\\\"\",{}]}",
	};
	struct twmsg m, c;
	char out[sizeof media_pretty];
	size_t i, k, n;

	(void)state;
	for (i = 0; i < NELEM(msgs); i++) {
		char *s = add_newlines(msgs[i], &n);
		char *o = malloc(n);

		assert_non_null(o);
		assert_int_equal(twmsg_scan(s, n, &m, NULL, 0), 0);
		assert_int_equal(m.has_newline, 1);
		n = twmsg_strip_newlines(o, s, n);
		assert_int_equal(n, strlen(msgs[i]));
		assert_memory_equal(o, msgs[i], n);
		assert_int_equal(twmsg_scan(o, n, &m, NULL, 0), 0);
		assert_int_equal(m.has_newline, 0);
		free(o);
		free(s);
	}

	n = twmsg_strip_newlines(out, media_pretty, strlen(media_pretty));
	assert_null(memchr(out, '\n', n));
	assert_null(memchr(out, '\r', n));
	for (i = 0, k = 0; media_pretty[i]; i++)
		k += media_pretty[i] == '\r' || media_pretty[i] == '\n';
	assert_int_equal(n, strlen(media_pretty) - k);
	assert_int_equal(twmsg_scan(out, n, &m, NULL, 0), 0);
	assert_int_equal(scan(media, &c), 0);
	assert_int_equal(m.has_newline, 0);
	assert_int_equal(m.event, TW_MEDIA);
	check_str(m.stream_sid, MZ);
	check_str(m.track, "outbound");
	check_str(m.payload, PAYLOAD);
	assert_int_equal(m.seq, c.seq);
	assert_int_equal(m.chunk, c.chunk);
	assert_int_equal(m.timestamp, c.timestamp);
}

static void event_names(void **state)
{
	static const struct { const char *text; enum tw_event ev; } t[] = {
		{ "{\"event\":\"connected\"}", TW_CONNECTED },
		{ "{\"event\":\"start\"}", TW_START },
		{ "{\"event\":\"media\"}", TW_MEDIA },
		{ "{\"event\":\"mark\"}", TW_MARK },
		{ "{\"event\":\"dtmf\"}", TW_DTMF },
		{ "{\"event\":\"stop\"}", TW_STOP },
		{ "{\"event\":\"disconnect\"}", TW_DISCONNECT },
		{ "{\"event\":\"dropped\",\"count\":3}", TW_DROPPED },
		{ "{\"event\":\"status\",\"ok\":true}", TW_STATUS },
		{ "{\"event\":\"clear\"}", TW_OTHER },
		{ "{\"event\":\"Media\"}", TW_OTHER },
		{ "{\"event\":\"medi\"}", TW_OTHER },
		{ "{\"event\":\"mediax\"}", TW_OTHER },
		{ "{\"event\":\"media \"}", TW_OTHER },
		{ "{\"event\":\"\"}", TW_OTHER },
		{ "{\"event\":\"\xc3\xa9v\xc3\xa9nement\"}", TW_OTHER },
		{ "{}", TW_NONE },
		{ "{\"Event\":\"media\"}", TW_NONE },
		{ "{\"start\":{\"event\":\"media\"}}", TW_NONE },
		{ "{\"a\":[{\"event\":\"media\"}]}", TW_NONE },
	};
	struct twmsg m;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		int r = scan(t[i].text, &m);

		if (r != 0 || m.event != t[i].ev) {
			print_message("%s: got %d, event %d, want event %d\n",
				      t[i].text, r, (int)m.event,
				      (int)t[i].ev);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Every proper prefix of a valid message is not valid. */
static void truncated_prefixes(void **state)
{
	static const char *const msgs[] = {
		connected, start, media, mark, dtmf, stop, media_pretty,
		"{\"a\":\"\\ud83d\\ude00\xf0\x9f\x98\x80\\u00e9\","
		"\"b\":[-1.5e+10,true,false,null,{}]}",
	};
	size_t i, k;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEM(msgs); i++) {
		size_t len = strlen(msgs[i]);

		for (k = 0; k < len; k++) {
			/* exactly k bytes, so ASan sees any read past them */
			char *p = malloc(k ? k : 1);
			char why[80] = "";
			struct twmsg m;

			assert_non_null(p);
			memcpy(p, msgs[i], k);
			if (twmsg_scan(p, k, &m, why, sizeof why) != -1 ||
			    !why[0]) {
				print_message("message %zu cut at %zu "
					      "accepted\n", i, k);
				bad++;
			}
			free(p);
		}
		assert_int_equal(twmsg_scan(msgs[i], len, &(struct twmsg){0},
					    NULL, 0), 0);
	}
	assert_int_equal(bad, 0);
}

static int check_rejected(const struct text *t, size_t n)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		char *p = malloc(t[i].n ? t[i].n : 1);
		char why[80] = "";
		struct twmsg m;

		assert_non_null(p);
		memcpy(p, t[i].s, t[i].n);
		if (twmsg_scan(p, t[i].n, &m, why, sizeof why) != -1) {
			print_message("accepted: %.*s\n", (int)t[i].n, t[i].s);
			bad++;
		} else if (!strstr(why, " at byte ")) {
			print_message("no reason for %.*s: '%s'\n",
				      (int)t[i].n, t[i].s, why);
			bad++;
		}
		free(p);
	}
	return bad;
}

static int check_accepted(const struct text *t, size_t n)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		char *p = malloc(t[i].n);
		char why[80] = "";
		struct twmsg m;

		assert_non_null(p);
		memcpy(p, t[i].s, t[i].n);
		if (twmsg_scan(p, t[i].n, &m, why, sizeof why) != 0) {
			print_message("rejected (%s): %.*s\n", why,
				      (int)t[i].n, t[i].s);
			bad++;
		}
		free(p);
	}
	return bad;
}

static void not_json(void **state)
{
	static const struct text t[] = {
		/* not one object */
		T(""), T(" "), T("\r\n"), T("[]"),
		T("[{\"event\":\"media\"}]"),
		T("\"event\""), T("1"), T("true"), T("null"),
		T("\xef\xbb\xbf{}"),
		/* trailing garbage */
		T("{}x"), T("{}{}"), T("{} ,"), T("{}}"), T("{}]"),
		T("{}\0"), T("{} \0"), T("{\"a\":1}/"),
		T("{\"a\":1}//comment"),
		/* structure */
		T("{"), T("}"), T("{\"a\"}"), T("{\"a\":}"), T("{\"a\" 1}"),
		T("{\"a\":1,}"), T("{,}"), T("{,\"a\":1}"),
		T("{\"a\":1 \"b\":2}"),
		T("{\"a\":1,,\"b\":2}"), T("{\"a\"::1}"), T("{a:1}"),
		T("{'a':1}"), T("{\"a\":'b'}"), T("{1:2}"), T("{null:1}"),
		T("{\"a\":[1,]}"), T("{\"a\":[,1]}"), T("{\"a\":[1 2]}"),
		T("{\"a\":[1}"), T("{\"a\":{]}"), T("{\"a\":[1,2]]}"),
		T("{\"a\":1}}"), T("{\"a\"\0:1}"), T("{\0}"),
		/* literals */
		T("{\"a\":tru}"), T("{\"a\":truex}"), T("{\"a\":True}"),
		T("{\"a\":nul}"), T("{\"a\":NULL}"), T("{\"a\":fals}"),
		T("{\"a\":undefined}"),
		/* numbers */
		T("{\"a\":01}"), T("{\"a\":00}"), T("{\"a\":-01}"),
		T("{\"a\":1.}"), T("{\"a\":1.e5}"), T("{\"a\":-}"),
		T("{\"a\":--1}"), T("{\"a\":.5}"), T("{\"a\":+1}"),
		T("{\"a\":1e}"), T("{\"a\":1e+}"), T("{\"a\":1E-}"),
		T("{\"a\":0x10}"), T("{\"a\":1_000}"), T("{\"a\":NaN}"),
		T("{\"a\":Infinity}"), T("{\"a\":-Infinity}"),
		T("{\"a\":1.5.2}"), T("{\"a\":1e5e5}"), T("{\"a\":- 1}"),
		/* escapes */
		T("{\"a\":\"\\x\"}"), T("{\"a\":\"\\'\"}"),
		T("{\"a\":\"\\a\"}"),
		T("{\"a\":\"\\U0041\"}"), T("{\"a\":\"\\u12\"}"),
		T("{\"a\":\"\\u12G4\"}"), T("{\"a\":\"\\u\"}"),
		T("{\"a\":\"\\u004\"}"), T("{\"a\":\"\\0\"}"),
		T("{\"a\":\"\\\"}"), T("{\"a\":\"x\\"), T("{\"\\q\":1}"),
		/* lone surrogates */
		T("{\"a\":\"\\ud800\"}"), T("{\"a\":\"\\udc00\"}"),
		T("{\"a\":\"\\uDFFF\"}"), T("{\"a\":\"\\udbff\\udbff\"}"),
		T("{\"a\":\"\\ud800\\u0041\"}"), T("{\"a\":\"\\ud800x\"}"),
		T("{\"a\":\"\\ud800\\\"}"), T("{\"a\":\"\\ud800\\n\"}"),
		T("{\"a\":\"\\udc00\\ud800\"}"), T("{\"\\ud800\":1}"),
		/* invalid UTF-8 */
		T("{\"a\":\"\xc0\x80\"}"), T("{\"a\":\"\xc1\xbf\"}"),
		T("{\"a\":\"\xe0\x80\xaf\"}"), T("{\"a\":\"\xe0\x9f\xbf\"}"),
		T("{\"a\":\"\xf0\x8f\xbf\xbf\"}"),
		T("{\"a\":\"\xed\xa0\x80\"}"), T("{\"a\":\"\xed\xbf\xbf\"}"),
		T("{\"a\":\"\xf4\x90\x80\x80\"}"),
		T("{\"a\":\"\xf5\x80\x80\x80\"}"),
		T("{\"a\":\"\xf8\x88\x80\x80\x80\"}"),
		T("{\"a\":\"\x80\"}"), T("{\"a\":\"\xbf\"}"),
		T("{\"a\":\"\xc3\"}"), T("{\"a\":\"\xe2\x82\"}"),
		T("{\"a\":\"\xf0\x9f\x98\"}"), T("{\"a\":\"\xc3\xc3\xa9\"}"),
		T("{\"a\":\"\xe2\x28\xa1\"}"), T("{\"a\":\"\xfe\"}"),
		T("{\"a\":\"\xff\"}"), T("{\"\xc0\x80\":1}"),
		T("{\"a\":1,\xc3\xa9:2}"), T("{\"a\":\"x\"\xa0}"),
		/* control characters in strings */
		T("{\"a\":\"\x01\"}"), T("{\"a\":\"\x1f\"}"),
		T("{\"a\":\"x\ty\"}"), T("{\"a\":\"x\ny\"}"),
		T("{\"a\":\"x\ry\"}"), T("{\"a\":\"x\0y\"}"),
		T("{\"a\x0b\":1}"), T("{\"a\":\"\x1fn\"}"),
		T("{\"a\":\"\x01n\"}"),
		/* whitespace JSON does not have */
		T("{\"a\":1\x0b}"), T("{\"a\":1\x0c}"), T("{\xc2\xa0}"),
		/* unterminated */
		T("{\"a"), T("{\"a\":\"b"), T("{\"a\":[1,2"), T("{\"a\":{"),
	};

	(void)state;
	assert_int_equal(check_rejected(t, NELEM(t)), 0);
}

static void valid_json(void **state)
{
	static const struct text t[] = {
		T("{}"), T(" {} "), T("\t\r\n{\t\r\n}\t\r\n"),
		T("{\"\":\"\"}"),
		T("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"),
		T("{\"a\":\"\\u0041\\u00e9\\u00E9\\u20ac\\uFFFF\"}"),
		T("{\"a\":\"\\ud83d\\ude00\\uD800\\uDC00\\udbff\\udfff\"}"),
		T("{\"a\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\"}"),
		T("{\"a\":\"\xed\x9f\xbf\xee\x80\x80\"}"),
		T("{\"a\":\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}"),
		T("{\"\xc3\xa9\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}"),
		T("{\"a\":\"\x7f ~\"}"),
		T("{\"a\":[0,-0,1,-1,0.5,-0.5,10,1e5,1E5,1e+5,1e-5,"
		  "-1.25E+3,0e0,1e-400]}"),
		T("{\"a\":true,\"b\":false,\"c\":null}"),
		T("{\"a\":{\"b\":{\"c\":[[],{},[[{}]]]}}}"),
		T("{\"a\":[1,\"2\",[3],{\"4\":4}]}"),
		/* untracked members may repeat */
		T("{\"a\":1,\"a\":2}"),
		T("{\"event\":\"start\",\"start\":{\"x\":1,\"x\":2},"
		  "\"protocol\":\"a\",\"protocol\":\"b\"}"),
		T("{\"start\":{\"streamSid\":\"a\",\"streamSid\":\"b\"},"
		  "\"start\":{}}"),
		T("{\"payload\":\"a\",\"payload\":\"b\",\"track\":1,"
		  "\"track\":2,\"chunk\":\"x\",\"timestamp\":{}}"),
		T("{\"start\":{\"payload\":\"a\",\"payload\":\"b\"}}"),
		T("{\"media\":{\"x\":{\"payload\":1,\"payload\":2}}}"),
	};

	(void)state;
	assert_int_equal(check_accepted(t, NELEM(t)), 0);
}

/* {"a": then levels-1 more containers, each '[' or '{"a":' */
static char *nested(int levels, int objects, size_t *len)
{
	char *s = malloc(8 * (size_t)levels + 16), *p = s;
	int i;

	assert_non_null(s);
	memcpy(p, "{\"a\":", 5);
	p += 5;
	for (i = 1; i < levels; i++) {
		memcpy(p, objects ? "{\"a\":" : "[", objects ? 5 : 1);
		p += objects ? 5 : 1;
	}
	*p++ = '1';
	for (i = 1; i < levels; i++)
		*p++ = objects ? '}' : ']';
	*p++ = '}';
	*len = (size_t)(p - s);
	return s;
}

static void nesting_depth(void **state)
{
	struct twmsg m;
	char why[80] = "";
	size_t n;
	char *s;
	int obj;

	(void)state;
	for (obj = 0; obj < 2; obj++) {
		s = nested(64, obj, &n);
		assert_int_equal(twmsg_scan(s, n, &m, why, sizeof why), 0);
		free(s);
		s = nested(65, obj, &n);
		assert_int_equal(twmsg_scan(s, n, &m, why, sizeof why), -1);
		assert_non_null(strstr(why, " at byte "));
		free(s);
		s = nested(10000, obj, &n);
		assert_int_equal(twmsg_scan(s, n, &m, NULL, 0), -1);
		free(s);
	}
	/* the innermost may be empty and still counts */
	assert_int_equal(scan("{\"a\":[[]]}", &m), 0);
}

static void tracked_duplicates(void **state)
{
	static const struct text t[] = {
		T("{\"event\":\"media\",\"event\":\"media\"}"),
		T("{\"event\":\"stop\",\"x\":1,\"event\":\"start\"}"),
		T("{\"streamSid\":\"" MZ "\",\"streamSid\":\"" MZ "\"}"),
		T("{\"sequenceNumber\":\"1\",\"sequenceNumber\":\"2\"}"),
		T("{\"sequenceNumber\":1,\"sequenceNumber\":\"1\"}"),
		T("{\"media\":{},\"media\":{}}"),
		T("{\"media\":{\"payload\":\"a\",\"payload\":\"b\"}}"),
		T("{\"media\":{\"track\":\"a\",\"track\":\"a\"}}"),
		T("{\"media\":{\"chunk\":\"1\",\"chunk\":\"1\"}}"),
		T("{\"media\":{\"timestamp\":1,\"timestamp\":2}}"),
	};

	(void)state;
	assert_int_equal(check_rejected(t, NELEM(t)), 0);
}

static void tracked_types(void **state)
{
	static const struct text t[] = {
		T("{\"event\":1}"), T("{\"event\":-1}"), T("{\"event\":null}"),
		T("{\"event\":true}"), T("{\"event\":{}}"),
		T("{\"event\":[]}"),
		T("{\"event\":[\"media\"]}"),
		T("{\"event\":\"med\\u0069a\"}"),
		T("{\"streamSid\":5}"), T("{\"streamSid\":null}"),
		T("{\"streamSid\":{}}"),
		T("{\"media\":{\"payload\":5}}"),
		T("{\"media\":{\"payload\":null}}"),
		T("{\"media\":{\"payload\":[\"AA==\"]}}"),
		T("{\"media\":{\"track\":null}}"),
		T("{\"media\":{\"track\":false}}"),
		T("{\"sequenceNumber\":\"12a\"}"),
		T("{\"sequenceNumber\":\"\"}"),
		T("{\"sequenceNumber\":\" 12\"}"),
		T("{\"sequenceNumber\":\"-1\"}"),
		T("{\"sequenceNumber\":\"+1\"}"),
		T("{\"sequenceNumber\":\"1.5\"}"),
		T("{\"sequenceNumber\":\"1e3\"}"),
		T("{\"sequenceNumber\":\"\\u0031\"}"),
		T("{\"sequenceNumber\":-1}"), T("{\"sequenceNumber\":-0}"),
		T("{\"sequenceNumber\":1.5}"), T("{\"sequenceNumber\":1.0}"),
		T("{\"sequenceNumber\":1e3}"), T("{\"sequenceNumber\":true}"),
		T("{\"sequenceNumber\":null}"), T("{\"sequenceNumber\":[1]}"),
		T("{\"sequenceNumber\":9999999999999999999}"),
		T("{\"media\":{\"chunk\":99999999999999999999999}}"),
		T("{\"media\":{\"chunk\":-3}}"),
		T("{\"media\":{\"chunk\":2.5}}"),
		T("{\"media\":{\"chunk\":\"2.5\"}}"),
		T("{\"media\":{\"chunk\":{}}}"),
		T("{\"media\":{\"timestamp\":\"x\"}}"),
		T("{\"media\":{\"timestamp\":-20}}"),
		T("{\"media\":{\"timestamp\":\"-20\"}}"),
	};

	(void)state;
	assert_int_equal(check_rejected(t, NELEM(t)), 0);
}

/*
 * "\u0065vent" is "event" to jansson and to every reader after
 * tw-mediasrv; twmsg must not read the message as something else
 * (reject it, or see the event).
 */
static void escaped_member_names(void **state)
{
	static const char ev[] =
		"{\"\\u0065vent\":\"media\",\"sequenceNumber\":\"3\","
		"\"media\":{\"track\":\"inbound\",\"chunk\":\"1\","
		"\"timestamp\":\"5\",\"payload\":\"AA==\"},"
		"\"streamSid\":\"" MZ "\"}";
	static const char dup[] =
		"{\"event\":\"media\",\"\\u0065vent\":\"stop\"}";
	static const char pay[] =
		"{\"event\":\"media\",\"media\":{\"track\":\"inbound\","
		"\"timestamp\":\"5\",\"payload\":\"AA==\","
		"\"p\\u0061yload\":\"//8=\"},\"streamSid\":\"" MZ "\"}";
	struct twmsg m;
	int r, bad = 0;

	(void)state;
	r = scan(ev, &m);
	if (r == 0 && m.event != TW_MEDIA) {
		print_message("\\u0065vent: accepted as event %d\n",
			      (int)m.event);
		bad++;
	}
	/* two events to jansson, which rejects that */
	if (scan(dup, &m) == 0) {
		print_message("\"event\" and \"\\u0065vent\" accepted\n");
		bad++;
	}
	if (scan(pay, &m) == 0) {
		print_message("\"payload\" and \"p\\u0061yload\" "
			      "accepted\n");
		bad++;
	}
	assert_int_equal(bad, 0);
}

/* An escaped string is kept whole, from its first byte to its last. */
static void escaped_string_bounds(void **state)
{
	static const char *const sids[] = {
		"MZ\\u0031x", "\\u0041", "a\\u00e9b\\u00e9c",
		"\\ud83d\\ude00z",
		"\\n\\u0041", "\\u0041\\n", "a\\/b", "\\\\",
	};
	char text[128];
	struct twmsg m;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEM(sids); i++) {
		int n = snprintf(text, sizeof text,
				 "{\"streamSid\":\"%s\",\"event\":\"x\"}",
				 sids[i]);

		assert_true(n > 0 && (size_t)n < sizeof text);
		assert_int_equal(scan(text, &m), 0);
		if (m.stream_sid.p != text + 14 ||
		    m.stream_sid.n != strlen(sids[i]) ||
		    !m.stream_sid.escaped) {
			print_message("%s: kept '%.*s' (offset %td)\n",
				      sids[i], (int)m.stream_sid.n,
				      m.stream_sid.p,
				      m.stream_sid.p - text);
			bad++;
		}
		/* and what follows is still read right */
		check_str(m.event_name, "x");
	}
	assert_int_equal(bad, 0);
}

static int jansson_object(const char *s, size_t n)
{
	json_error_t err;
	json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &err);
	int ok = j && json_is_object(j);

	json_decref(j);
	return ok;
}

static int disagreements(const struct text *t, size_t n)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < n; i++) {
		struct twmsg m;
		char why[80] = "";
		int mine = twmsg_scan(t[i].s, t[i].n, &m, why, sizeof why);
		int theirs = jansson_object(t[i].s, t[i].n);

		if ((mine == 0) != theirs) {
			print_message("twmsg %s, jansson %s: %.*s%s%s\n",
				      mine ? "rejects" : "accepts",
				      theirs ? "accepts" : "rejects",
				      (int)t[i].n, t[i].s, mine ? " -- " : "",
				      why);
			bad++;
		}
	}
	return bad;
}

/*
 * The same verdict as jansson with JSON_REJECT_DUPLICATES on texts that
 * repeat no untracked member and break no tracked member's rule (those
 * two are where twmsg differs on purpose).
 */
static void jansson_agreement(void **state)
{
	static const struct text t[] = {
		T("{}"), T(connected), T(start), T(media), T(media_pretty),
		T(" {\r\n\t\"a\" : [ 1 , 2 ] } \n"),
		T("{\"a\":\"\\u00e9\\ud83d\\ude00\\u00E9\"}"),
		T("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"),
		T("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"),
		T("{\"a\":\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\x7f\"}"),
		T("{\"a\":[-0,0.5,1e5,1E-5,-1.25e+3,123456789,1e-400]}"),
		T("{\"a\":true,\"b\":false,\"c\":null,\"\":{}}"),
		T("{\"a\":{\"b\":{\"c\":[[],{}]}}}"),
		T("[1]"), T("[]"), T("\"s\""), T("1"), T("null"),
		T(""), T("{"), T("{\"a\"}"), T("{\"a\":}"), T("{\"a\":1,}"),
		T("{,}"), T("{\"a\":1 \"b\":2}"), T("{\"a\":01}"),
		T("{\"a\":1.}"), T("{\"a\":-}"), T("{\"a\":.5}"),
		T("{\"a\":+1}"), T("{\"a\":1e}"), T("{\"a\":tru}"),
		T("{\"a\":True}"), T("{\"a\":\"\\x\"}"),
		T("{\"a\":\"\\u12\"}"),
		T("{\"a\":\"\\ud800\"}"), T("{\"a\":\"\\udc00\"}"),
		T("{\"a\":\"\\ud800\\ud800\"}"), T("{\"a\":\"\xc0\x80\"}"),
		T("{\"a\":\"\xed\xa0\x80\"}"),
		T("{\"a\":\"\xf4\x90\x80\x80\"}"),
		T("{\"a\":\"\x80\"}"), T("{\"a\":\"\x01\"}"),
		T("{\"a\":\"x\ty\"}"), T("{}x"), T("{}{}"), T("{\"a\":1}\0"),
		T("\xef\xbb\xbf{}"), T("{'a':1}"), T("{a:1}"),
		T("{\"a\":[1,2]]}"), T("{\"a\":\"x\""), T("{\"\xff\":1}"),
		T("{\"event\":\"stop\",\"event\":\"stop\"}"),
		T("{\"media\":{\"payload\":\"a\",\"payload\":\"b\"}}"),
	};

	(void)state;
	assert_int_equal(disagreements(t, NELEM(t)), 0);
}

/*
 * Valid JSON that jansson refuses: \u0000 (without JSON_ALLOW_NUL) and
 * numbers that overflow a json_int_t or a double.  twmsg accepts them,
 * so tw-mediasrv would pass on a line the readers after it reject.
 */
static void jansson_agreement_nul_and_overflow(void **state)
{
	static const struct text t[] = {
		T("{\"a\":\"\\u0000\"}"), T("{\"a\":\"x\\u0000y\"}"),
		T("{\"\\u0000\":1}"),
		T("{\"a\":9223372036854775807}"),
		T("{\"a\":9223372036854775808}"),
		T("{\"a\":-9223372036854775809}"),
		T("{\"a\":99999999999999999999}"),
		T("{\"a\":1e308}"), T("{\"a\":1e309}"), T("{\"a\":-1e400}"),
	};

	(void)state;
	assert_int_equal(disagreements(t, NELEM(t)), 0);
}

static void media_ok(void **state)
{
#define HEAD "{\"event\":\"media\","
#define SID "\"streamSid\":\"" MZ "\","
	static const struct { const char *text; int ok; } t[] = {
		{ HEAD SID "\"media\":{\"track\":\"inbound\","
		  "\"timestamp\":\"0\",\"payload\":\"\"}}", 0 },
		{ HEAD "\"media\":{\"track\":\"inbound\","
		  "\"timestamp\":\"5\",\"payload\":\"AA==\"}}", -1 },
		{ HEAD SID "\"media\":{"
		  "\"timestamp\":\"5\",\"payload\":\"AA==\"}}", -1 },
		{ HEAD SID "\"media\":{\"track\":\"inbound\","
		  "\"timestamp\":\"5\"}}", -1 },
		{ HEAD SID "\"media\":{\"track\":\"inbound\","
		  "\"payload\":\"AA==\"}}", -1 },
		{ HEAD SID "\"media\":{\"track\":\"inbound\","
		  "\"timestamp\":\"5\",\"payload\":\"AA\\/=\"}}", -1 },
		{ HEAD SID "\"media\":{\"track\":\"in\\u0062ound\","
		  "\"timestamp\":\"5\",\"payload\":\"AA==\"}}", -1 },
		{ HEAD "\"streamSid\":\"MZ\\u0031\",\"media\":{"
		  "\"track\":\"inbound\",\"timestamp\":\"5\","
		  "\"payload\":\"AA==\"}}", -1 },
		{ HEAD "\"streamSid\":\"../etc\",\"media\":{"
		  "\"track\":\"inbound\",\"timestamp\":\"5\","
		  "\"payload\":\"AA==\"}}", -1 },
		{ HEAD "\"streamSid\":\"MZ/..\",\"media\":{"
		  "\"track\":\"inbound\",\"timestamp\":\"5\","
		  "\"payload\":\"AA==\"}}", -1 },
		{ HEAD "\"streamSid\":\"\",\"media\":{"
		  "\"track\":\"inbound\",\"timestamp\":\"5\","
		  "\"payload\":\"AA==\"}}", -1 },
		{ HEAD "\"streamSid\":\"" MZ MZ "\",\"media\":{"
		  "\"track\":\"inbound\",\"timestamp\":\"5\","
		  "\"payload\":\"AA==\"}}", -1 },
		/* the media object missing, or nested elsewhere */
		{ HEAD SID "\"x\":1}", -1 },
		{ HEAD SID "\"start\":{\"media\":{\"track\":\"inbound\","
		  "\"timestamp\":\"5\",\"payload\":\"AA==\"}}}", -1 },
	};
	struct twmsg m;
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		const char *why = NULL;
		int r;

		assert_int_equal(scan(t[i].text, &m), 0);
		r = twmsg_media_ok(&m, &why);
		if (r != t[i].ok || (r && (!why || !*why))) {
			print_message("media_ok %d: %s\n", r, t[i].text);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
#undef HEAD
#undef SID
}

static void sid(void **state)
{
	char s[66];
	int c;

	(void)state;
	memset(s, 'a', sizeof s);
	assert_int_equal(sid_ok(s, 0), 0);
	assert_int_equal(sid_ok(s, 1), 1);
	assert_int_equal(sid_ok(s, 64), 1);
	assert_int_equal(sid_ok(s, 65), 0);
	assert_int_equal(sid_ok(MZ, strlen(MZ)), 1);
	assert_int_equal(sid_ok("A-z_0-9", 7), 1);
	assert_int_equal(sid_ok("../x", 4), 0);
	assert_int_equal(sid_ok("a/b", 3), 0);
	/* only n bytes are looked at */
	assert_int_equal(sid_ok("ab/", 2), 1);
	assert_int_equal(sid_ok("ab\0cd", 5), 0);
	for (c = 0; c < 256; c++) {
		int want = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9') || c == '_' || c == '-';

		s[0] = 'M';
		s[1] = (char)c;
		s[2] = 'Z';
		if (sid_ok(s, 3) != want)
			print_message("byte 0x%02x\n", c);
		assert_int_equal(sid_ok(s, 3), want);
	}
}

static void str_eq(void **state)
{
	static const char buf[] = "mediax";
	struct tw_str s = { buf, 5, 0 };
	struct tw_str none = { NULL, 0, 0 };
	struct tw_str empty = { buf, 0, 0 };

	(void)state;
	assert_true(tw_str_eq(s, "media"));
	assert_false(tw_str_eq(s, "mediax"));
	assert_false(tw_str_eq(s, "medi"));
	assert_false(tw_str_eq(s, "Media"));
	assert_false(tw_str_eq(s, ""));
	assert_true(tw_str_eq(empty, ""));
	assert_false(tw_str_eq(empty, "m"));
	assert_false(tw_str_eq(none, ""));
	assert_false(tw_str_eq(none, "media"));
}

static void why_buffer(void **state)
{
	static const char bad[] = "{\"a\":01}";
	char why[8];
	struct twmsg m;

	(void)state;
	memset(why, 'x', sizeof why);
	assert_int_equal(twmsg_scan(bad, strlen(bad), &m, why, sizeof why),
			 -1);
	assert_int_equal(strlen(why), sizeof why - 1);
	memset(why, 'x', sizeof why);
	assert_int_equal(twmsg_scan(bad, strlen(bad), &m, why, 1), -1);
	assert_int_equal(why[0], '\0');
	assert_int_equal(why[1], 'x');
	assert_int_equal(twmsg_scan(bad, strlen(bad), &m, why, 0), -1);
	assert_int_equal(why[1], 'x');
	assert_int_equal(twmsg_scan(bad, strlen(bad), &m, NULL, 0), -1);
	/* a zero-length text at NULL */
	assert_int_equal(twmsg_scan(NULL, 0, &m, NULL, 0), -1);
}

/*
 * The scanner reads plain runs of a string eight bytes at a time: a byte
 * that ends the run must be seen at every position of a word, whatever
 * the alignment of the string in the message.
 */
static void string_run_edges(void **state)
{
	static const struct {
		const char *ins;	/* put inside a run of 'A's */
		int ok;
		const char *why;	/* expected error, if not ok */
	} cases[] = {
		{ "\x01", 0, "control character in string" },
		{ "\x1f", 0, "control character in string" },
		{ " ", 1, NULL },
		{ "\x7f", 1, NULL },
		{ "\\n", 1, NULL },
		{ "\\\"", 1, NULL },
		{ "\\q", 0, "invalid escape in string" },
		{ "\xc3\xa9", 1, NULL },		/* U+00E9 */
		{ "\xe2\x82\xac", 1, NULL },	/* U+20AC */
		{ "\xf0\x9f\x93\x9e", 1, NULL },	/* U+1F4DE */
		{ "\xc3", 0, "invalid UTF-8 in string" },
		{ "\xff", 0, "invalid UTF-8 in string" },
		{ "\xed\xa0\x80", 0, "invalid UTF-8 in string" },
	};
	char msg[160], why[128];
	struct twmsg m;
	size_t i;
	int lead, at;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		for (lead = 0; lead < 8; lead++)
			for (at = 0; at < 24; at++) {
				int n = snprintf(msg, sizeof msg,
					"{\"event\":\"mark\",%*s\"x\":"
					"\"%.*s%s%.*s\"}", lead, "", at,
					"AAAAAAAAAAAAAAAAAAAAAAAA",
					cases[i].ins, 24 - at,
					"AAAAAAAAAAAAAAAAAAAAAAAA");
				int rc;

				assert_true(n > 0 && (size_t)n < sizeof msg);
				why[0] = '\0';
				rc = twmsg_scan(msg, (size_t)n, &m, why,
						sizeof why);
				if (cases[i].ok != (rc == 0))
					fail_msg("case %zu lead %d at %d: %s",
						 i, lead, at, why);
				if (!cases[i].ok &&
				    !strstr(why, cases[i].why))
					fail_msg("case %zu at %d: '%s'", i, at,
						 why);
			}
	/* a quote at any position ends the string there */
	for (at = 0; at < 24; at++) {
		int n = snprintf(msg, sizeof msg,
				 "{\"event\":\"mark\",\"x\":\"%.*s\"}",
				 at, "AAAAAAAAAAAAAAAAAAAAAAAA");

		assert_int_equal(twmsg_scan(msg, (size_t)n, &m, why,
					    sizeof why), 0);
		assert_int_equal(twmsg_scan(msg, (size_t)n - 2, &m, why,
					    sizeof why), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(msg_connected),
		cmocka_unit_test(msg_start),
		cmocka_unit_test(msg_media),
		cmocka_unit_test(msg_mark_dtmf_stop),
		cmocka_unit_test(numbers_as_json_numbers),
		cmocka_unit_test(member_order_and_unknown_members),
		cmocka_unit_test(whitespace_and_newlines),
		cmocka_unit_test(strip_newlines),
		cmocka_unit_test(event_names),
		cmocka_unit_test(truncated_prefixes),
		cmocka_unit_test(not_json),
		cmocka_unit_test(valid_json),
		cmocka_unit_test(nesting_depth),
		cmocka_unit_test(tracked_duplicates),
		cmocka_unit_test(tracked_types),
		cmocka_unit_test(escaped_member_names),
		cmocka_unit_test(escaped_string_bounds),
		cmocka_unit_test(jansson_agreement),
		cmocka_unit_test(jansson_agreement_nul_and_overflow),
		cmocka_unit_test(media_ok),
		cmocka_unit_test(sid),
		cmocka_unit_test(str_eq),
		cmocka_unit_test(why_buffer),
		cmocka_unit_test(string_run_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
