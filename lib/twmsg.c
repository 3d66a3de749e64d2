/*
 * A validating JSON scanner for Twilio Media Streams messages.
 *
 * It checks the whole text against RFC 8259 (strings must be UTF-8, no
 * lone surrogates, at most MAX_DEPTH levels of nesting) in one pass and
 * records where the members the media hot path needs are, so a media
 * message is never turned into a tree.  The rules match jansson's with
 * JSON_REJECT_DUPLICATES for the members it tracks, so a message is
 * accepted here exactly when the rest of tapline can read it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twmsg.h"

#define MAX_DEPTH 64

/* What the value being scanned is, when it is one we keep. */
enum field {
	F_NONE, F_EVENT, F_STREAM_SID, F_SEQ, F_MEDIA,
	F_TRACK, F_CHUNK, F_TIMESTAMP, F_PAYLOAD,
};

struct scan {
	const char *p, *end, *start;
	struct twmsg *m;
	const char *err;
	unsigned seen;		/* bit per field, for duplicates */
};

static int fail(struct scan *s, const char *why)
{
	if (!s->err)
		s->err = why;
	return -1;
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end) {
		char c = *s->p;

		if (c == '\n' || c == '\r')
			s->m->has_newline = 1;
		else if (c != ' ' && c != '\t')
			return;
		s->p++;
	}
}

static int read_u4(struct scan *s, unsigned *u)
{
	int i, h;

	if (s->end - s->p < 4)
		return fail(s, "truncated \\u escape");
	*u = 0;
	for (i = 0; i < 4; i++) {
		if ((h = hex_value(s->p[i])) < 0)
			return fail(s, "invalid \\u escape");
		*u = *u << 4 | (unsigned)h;
	}
	s->p += 4;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], n, min, cp, i;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2, min = 0x80, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, min = 0x800, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/*
 * The bytes of a plain run, eight at a time: nonzero when the word w holds
 * a byte that ends the run (a quote, a backslash, a control character or
 * a byte of a multibyte character), so the caller looks at those bytes
 * one by one.  A media payload is ~200 characters of base64, all plain.
 */
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

static uint64_t run_ends(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	return (w | ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) |
		((b - ONES) & ~b)) & HIGHS;
}

/* A string, at its opening quote. */
static int scan_string(struct scan *s, struct tw_str *out)
{
	const char *start = ++s->p, *p = start;
	int escaped = 0;

	for (;;) {
		unsigned char c;

		/* the common case: a run of plain ASCII */
		for (uint64_t w; s->end - p >= 8; p += 8) {
			memcpy(&w, p, 8);
			if (run_ends(w))
				break;
		}
		while (p < s->end && (c = (unsigned char)*p) >= 0x20 &&
		       c < 0x80 && c != '"' && c != '\\')
			p++;
		if (p >= s->end)
			return fail(s, "unterminated string");
		c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(s, "control character in string");
		if (c >= 0x80) {
			size_t n = utf8_len((const unsigned char *)p,
					    (const unsigned char *)s->end);
			if (!n)
				return fail(s, "invalid UTF-8 in string");
			p += n;
			continue;
		}
		/* backslash */
		escaped = 1;
		if (++p >= s->end)
			return fail(s, "unterminated string");
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f':
		case 'n': case 'r': case 't':
			p++;
			break;
		case 'u': {
			unsigned u, lo;

			s->p = p + 1;
			if (read_u4(s, &u))
				return -1;
			if (u == 0)	/* jansson refuses NUL in strings */
				return fail(s, "\\u0000 in string");
			if (u >= 0xDC00 && u <= 0xDFFF)
				return fail(s, "lone low surrogate");
			if (u >= 0xD800 && u <= 0xDBFF) {
				if (s->end - s->p < 2 || s->p[0] != '\\' ||
				    s->p[1] != 'u')
					return fail(s, "lone high surrogate");
				s->p += 2;
				if (read_u4(s, &lo))
					return -1;
				if (lo < 0xDC00 || lo > 0xDFFF)
					return fail(s, "lone high surrogate");
			}
			p = s->p;
			break;
		}
		default:
			return fail(s, "invalid escape in string");
		}
	}
	if (out) {
		out->p = start;
		out->n = (size_t)(p - start);
		out->escaped = escaped;
	}
	s->p = p + 1;
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Long real numbers (64 characters or more) go through strtod too. */
static int is_finite_long(const char *p, size_t n)
{
	char *tmp = malloc(n + 1);
	int ok;

	if (!tmp)
		return 0;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	ok = !isinf(strtod(tmp, NULL));
	free(tmp);
	return ok;
}

/*
 * A number; *intval gets its value if it is a plain non-negative integer
 * that fits, else -1.  Like jansson, refuse integers outside long long
 * and reals that overflow a double.
 */
static int scan_number(struct scan *s, long long *intval)
{
	const char *p = s->p, *digits;
	int neg = 0, real = 0;
	long long v = 0;
	size_t nd;

	if (p < s->end && *p == '-')
		p++, neg = 1;
	digits = p;
	if (p < s->end && *p == '0')
		p++;
	else if (p < s->end && *p >= '1' && *p <= '9')
		while (p < s->end && is_digit(*p))
			p++;
	else
		return fail(s, "invalid number");
	nd = (size_t)(p - digits);
	if (p < s->end && *p == '.') {
		real = 1;
		if (++p >= s->end || !is_digit(*p))
			return fail(s, "invalid number");
		while (p < s->end && is_digit(*p))
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		real = 1;
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || !is_digit(*p))
			return fail(s, "invalid number");
		while (p < s->end && is_digit(*p))
			p++;
	}
	if (real) {
		char tmp[64];
		size_t n = (size_t)(p - s->p);

		/* rare in these messages: check the range the slow way */
		if (n < sizeof tmp) {
			memcpy(tmp, s->p, n);
			tmp[n] = '\0';
			if (isinf(strtod(tmp, NULL)))
				return fail(s, "number out of range");
		} else if (!is_finite_long(s->p, n)) {
			return fail(s, "number out of range");
		}
	} else if (nd > 19 || (nd == 19 &&
		   memcmp(digits, neg ? "9223372036854775808" :
			  "9223372036854775807", 19) > 0)) {
		return fail(s, "integer out of range");
	} else if (!neg) {
		for (const char *q = digits; q < p; q++)
			v = v * 10 + (*q - '0');
	}
	s->p = p;
	if (intval)
		*intval = real || neg ? -1 : v;
	return 0;
}

static int scan_literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return fail(s, "invalid literal");
	s->p += n;
	return 0;
}

/* Decimal digits only, as Twilio writes sequenceNumber, chunk, timestamp. */
static int decimal_string(struct tw_str str, long long *out)
{
	long long v = 0;
	size_t i;

	if (str.n == 0 || str.n > 18 || str.escaped)
		return -1;
	for (i = 0; i < str.n; i++) {
		if (!is_digit(str.p[i]))
			return -1;
		v = v * 10 + (str.p[i] - '0');
	}
	*out = v;
	return 0;
}

static int scan_value(struct scan *s, int depth, enum field f);

/*
 * A member name with escapes, decoded for matching when it is short and
 * ASCII (every tracked name is); NULL otherwise.  jansson and every later
 * reader decode names, so "\u0065vent" must count as "event" here too.
 */
static const char *plain_key(struct tw_str key, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < key.n; i++) {
		char c = key.p[i];

		if (c == '\\') {
			c = key.p[++i];
			if (c == 'u') {
				unsigned u = 0;
				int k;

				for (k = 1; k <= 4; k++)
					u = u << 4 |
					    (unsigned)hex_value(key.p[i + k]);
				i += 4;
				if (u >= 0x80)
					return NULL;
				c = (char)u;
			} else if (c != '"' && c != '\\' && c != '/') {
				return NULL;	/* \b \n etc.: no tracked name */
			}
		}
		if (n + 1 >= size)
			return NULL;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return buf;
}

static int key_is(struct tw_str key, const char *decoded, const char *name)
{
	return decoded ? strcmp(decoded, name) == 0 : tw_str_eq(key, name);
}

static enum field member_field(struct tw_str key, int depth, int in_media)
{
	char buf[32];
	const char *k = NULL;

	if (key.escaped && !(k = plain_key(key, buf, sizeof buf)))
		return F_NONE;
	if (depth == 1) {
		if (key_is(key, k, "event"))
			return F_EVENT;
		if (key_is(key, k, "streamSid"))
			return F_STREAM_SID;
		if (key_is(key, k, "sequenceNumber"))
			return F_SEQ;
		if (key_is(key, k, "media"))
			return F_MEDIA;
	} else if (depth == 2 && in_media) {
		if (key_is(key, k, "track"))
			return F_TRACK;
		if (key_is(key, k, "chunk"))
			return F_CHUNK;
		if (key_is(key, k, "timestamp"))
			return F_TIMESTAMP;
		if (key_is(key, k, "payload"))
			return F_PAYLOAD;
	}
	return F_NONE;
}

static int scan_object(struct scan *s, int depth, int in_media)
{
	struct tw_str key;

	if (depth > MAX_DEPTH)
		return fail(s, "nesting too deep");
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		enum field f;

		skip_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return fail(s, "expected a member name");
		if (scan_string(s, &key))
			return -1;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return fail(s, "expected ':'");
		s->p++;
		f = member_field(key, depth, in_media);
		if (f != F_NONE) {
			if (s->seen & 1u << f)
				return fail(s, "duplicate member");
			s->seen |= 1u << f;
		}
		if (scan_value(s, depth, f))
			return -1;
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unterminated object");
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (*s->p != ',')
			return fail(s, "expected ',' or '}'");
		s->p++;
	}
}

static int scan_array(struct scan *s, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(s, "nesting too deep");
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		if (scan_value(s, depth, F_NONE))
			return -1;
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unterminated array");
		if (*s->p == ']') {
			s->p++;
			return 0;
		}
		if (*s->p != ',')
			return fail(s, "expected ',' or ']'");
		s->p++;
	}
}

/* Store a tracked string member, or check a number-like one. */
static int keep_string(struct scan *s, enum field f, struct tw_str str)
{
	struct twmsg *m = s->m;
	long long *num = NULL;

	switch (f) {
	case F_EVENT: m->event_name = str; return 0;
	case F_STREAM_SID: m->stream_sid = str; return 0;
	case F_TRACK: m->track = str; return 0;
	case F_PAYLOAD: m->payload = str; return 0;
	case F_SEQ: num = &m->seq; break;
	case F_CHUNK: num = &m->chunk; break;
	case F_TIMESTAMP: num = &m->timestamp; break;
	default: return 0;
	}
	if (decimal_string(str, num))
		return fail(s, "number member is not a decimal string");
	return 0;
}

static int scan_value(struct scan *s, int depth, enum field f)
{
	struct tw_str str;
	long long n;

	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, "expected a value");
	if (*s->p != '"' && *s->p != '-' && !is_digit(*s->p) &&
	    f != F_NONE && f != F_MEDIA)
		return fail(s, "member has the wrong type");
	switch (*s->p) {
	case '{':
		return scan_object(s, depth + 1, f == F_MEDIA);
	case '[':
		return scan_array(s, depth + 1);
	case '"':
		if (scan_string(s, &str))
			return -1;
		return keep_string(s, f, str);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		if (scan_number(s, &n))
			return -1;
		switch (f) {
		case F_SEQ: s->m->seq = n; break;
		case F_CHUNK: s->m->chunk = n; break;
		case F_TIMESTAMP: s->m->timestamp = n; break;
		case F_NONE: case F_MEDIA: return 0;
		default: return fail(s, "member has the wrong type");
		}
		if (n < 0)
			return fail(s, "number member is not a whole number");
		return 0;
	}
}

static const struct { const char *name; enum tw_event ev; } events[] = {
	{"media", TW_MEDIA}, {"start", TW_START}, {"stop", TW_STOP},
	{"mark", TW_MARK}, {"dtmf", TW_DTMF}, {"connected", TW_CONNECTED},
	{"disconnect", TW_DISCONNECT}, {"dropped", TW_DROPPED},
	{"status", TW_STATUS},
};

int twmsg_scan(const char *buf, size_t len, struct twmsg *m,
	       char *why_buf, size_t why_size)
{
	struct scan s = { buf, buf + len, buf, m, NULL, 0 };
	size_t i;

	memset(m, 0, sizeof *m);
	m->seq = m->chunk = m->timestamp = -1;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		fail(&s, "not a JSON object");
	else if (scan_object(&s, 1, 0) == 0) {
		skip_ws(&s);
		if (s.p != s.end)
			fail(&s, "data after the object");
	}
	if (!s.err && m->event_name.p) {
		if (m->event_name.escaped) {
			fail(&s, "escaped event name");
		} else {
			m->event = TW_OTHER;
			for (i = 0; i < sizeof events / sizeof *events; i++)
				if (tw_str_eq(m->event_name, events[i].name))
					m->event = events[i].ev;
		}
	}
	if (s.err) {
		if (why_buf && why_size)
			snprintf(why_buf, why_size, "%s at byte %zu", s.err,
				 (size_t)(s.p - s.start));
		return -1;
	}
	return 0;
}

int twmsg_media_ok(const struct twmsg *m, const char **why)
{
	if (!m->stream_sid.p || m->stream_sid.escaped ||
	    !sid_ok(m->stream_sid.p, m->stream_sid.n))
		*why = "missing or invalid streamSid";
	else if (!m->track.p || m->track.escaped)
		*why = "missing media.track";
	else if (!m->payload.p || m->payload.escaped)
		*why = "missing media.payload";
	else if (m->timestamp < 0)
		*why = "missing media.timestamp";
	else
		return 0;
	return -1;
}

int tw_str_eq(struct tw_str s, const char *c)
{
	size_t n = strlen(c);

	return s.p && s.n == n && memcmp(s.p, c, n) == 0;
}

int sid_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      is_digit(c) || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

size_t twmsg_strip_newlines(char *out, const char *buf, size_t len)
{
	size_t i, n = 0;

	/* A valid JSON text has no raw CR or LF inside strings, so every
	 * one of them lies between tokens. */
	for (i = 0; i < len; i++)
		if (buf[i] != '\n' && buf[i] != '\r')
			out[n++] = buf[i];
	return n;
}
