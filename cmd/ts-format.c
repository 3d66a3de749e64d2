/*
 * ts-format: events NDJSON into text, SRT, WebVTT, JSON or Markdown.
 *
 * The whole input is read first: a call's utterances arrive track by
 * track and out of order, and only the end of the input says they are
 * all there.  Final transcripts are kept per call; interim results are
 * dropped as they are read.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "log.h"

#define WARN_LIMIT	20
/* A time past this (in seconds) is not a time of audio but garbage. */
#define MAX_SECONDS	1e9
/* A cue shorter than this cannot be read; overlapping cues are cut back
 * only while the one cut keeps at least this long. */
#define MIN_CUE_MS	500

enum fmt { FMT_TXT, FMT_SRT, FMT_VTT, FMT_JSON, FMT_MD };
static const char *const fmt_names[] = { "txt", "srt", "vtt", "json", "md" };

struct word {
	char *text;
	long long start, end;		/* ms */
};

struct utt {
	char *track;			/* NULL: the event named none */
	char *stream_sid;
	char *text;			/* one line: controls made spaces */
	long long seq;			/* -1: none */
	long long start, end;		/* ms, as the event gave them */
	long long at;			/* ms: first word, else start */
	double confidence;
	int has_confidence;
	struct word *words;
	size_t nwords;
	size_t order;		/* input order: the last tie-break */
};

struct call {
	char *sid;			/* NULL: events without call_sid */
	char *stream_sid, *account_sid;
	char *start_ts, *stop_ts, *stop_reason;
	json_t *params, *tracks;	/* from call.start, or NULL */
	json_t *errors;			/* the error events, as read */
	int stopped;
	struct utt *utts;
	size_t nutts, cap;
};

struct label {
	const char *track, *name;
};

static struct {
	enum fmt fmt;
	const char *call;
	struct label *labels;
	size_t nlabels;
	int max_chars, max_lines;
	long long max_ms;
} opt = {
	.fmt = FMT_TXT,
	.max_chars = 42,
	.max_lines = 2,
	.max_ms = 7000,
};

static struct {
	struct call *calls;
	size_t ncalls, cap;
	size_t last;			/* the call found last, a cache */
	size_t order;
	unsigned long long bad;		/* lines skipped */
	int status;
} g;

static const char usage_text[] =
"usage: ts-format [-qv] [-t txt|srt|vtt|json|md] [-c SID]\n"
"                 [-l TRACK=NAME]... [FILE]...\n"
"Turn events NDJSON (files, or standard input) into transcripts.\n"
"\n"
"  -t, --to=FORMAT          txt (default), srt, vtt, json or md\n"
"  -c, --call=SID           only the call with this call_sid\n"
"  -l, --label=TRACK=NAME   call TRACK's speaker NAME (repeatable)\n"
"      --max-chars=N        characters per subtitle line (default 42)\n"
"      --max-lines=N        lines per subtitle cue (default 2)\n"
"      --max-duration=SECONDS\n"
"                           longest subtitle cue (default 7)\n"
"  -v, --verbose            more messages\n"
"  -q, --quiet              errors only\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n";

enum { OPT_MAX_CHARS = 256, OPT_MAX_LINES, OPT_MAX_DURATION };

static const struct option longopts[] = {
	{"to", required_argument, NULL, 't'},
	{"call", required_argument, NULL, 'c'},
	{"label", required_argument, NULL, 'l'},
	{"max-chars", required_argument, NULL, OPT_MAX_CHARS},
	{"max-lines", required_argument, NULL, OPT_MAX_LINES},
	{"max-duration", required_argument, NULL, OPT_MAX_DURATION},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		die(1, "out of memory");
	p = realloc(p, n * size > 0 ? n * size : 1);
	if (!p)
		die(1, "out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n;
	char *d;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	d = xrealloc(NULL, n, 1);
	memcpy(d, s, n);
	return d;
}

/* Controls (a line break in a transcript would break a cue) become
 * spaces; runs of spaces become one; none at either end. */
static char *one_line(const char *s)
{
	char *d = xrealloc(NULL, strlen(s) + 1, 1);
	size_t o = 0;
	int space = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == 0x7f) {
			space = o > 0;
			continue;
		}
		if (space)
			d[o++] = ' ';
		space = 0;
		d[o++] = (char)c;
	}
	d[o] = '\0';
	return d;
}

/* Characters, not bytes: what a subtitle line is measured in. */
static size_t width(const char *s, size_t n)
{
	size_t i, w = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			w++;
	return w;
}

static void bad_line(const char *name, unsigned long long lineno,
		     const char *why)
{
	g.bad++;
	if (g.bad < WARN_LIMIT)
		log_warn("%s:%llu: skipped: %s", name, lineno, why);
	else if (g.bad == WARN_LIMIT)
		log_warn("%s:%llu: skipped: %s (further lines skipped are "
			 "not shown)", name, lineno, why);
}

/* An optional string member: 0 when absent or a string, -1 otherwise. */
static int opt_str(json_t *o, const char *key, const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* An optional time in seconds, as ms: 0 absent, 1 present, -1 bad. */
static int opt_time(json_t *o, const char *key, long long *ms)
{
	json_t *v = json_object_get(o, key);
	double d;

	if (!v)
		return 0;
	if (!json_is_number(v))
		return -1;
	d = json_number_value(v);
	if (!(d >= 0 && d <= MAX_SECONDS))
		return -1;
	*ms = llround(d * 1000);
	return 1;
}

static int same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static struct call *call_get(const char *sid)
{
	struct call *c;
	size_t i;

	if (g.last < g.ncalls && same(g.calls[g.last].sid, sid))
		return &g.calls[g.last];
	for (i = 0; i < g.ncalls; i++)
		if (same(g.calls[i].sid, sid))
			return &g.calls[g.last = i];
	if (g.ncalls == g.cap) {
		g.cap = g.cap ? 2 * g.cap : 8;
		g.calls = xrealloc(g.calls, g.cap, sizeof *g.calls);
	}
	c = &g.calls[g.last = g.ncalls++];
	memset(c, 0, sizeof *c);
	c->sid = xstrdup(sid);
	c->errors = json_array();
	return c;
}

static void set_str(char **dst, const char *s)
{
	if (!s)
		return;
	free(*dst);
	*dst = xstrdup(s);
}

static void utt_free(struct utt *u)
{
	size_t i;

	for (i = 0; i < u->nwords; i++)
		free(u->words[i].text);
	free(u->words);
	free(u->track);
	free(u->stream_sid);
	free(u->text);
}

static const char *parse_words(json_t *a, struct utt *u)
{
	size_t i, n;

	if (!json_is_array(a))
		return "words is not an array";
	n = json_array_size(a);
	if (n == 0)
		return NULL;
	u->words = xrealloc(NULL, n, sizeof *u->words);
	for (i = 0; i < n; i++) {
		json_t *w = json_array_get(a, i);
		struct word *wd = &u->words[u->nwords];
		const char *text;

		wd->start = wd->end = 0;
		if (!json_is_object(w) || opt_str(w, "word", &text) < 0 ||
		    !text || opt_time(w, "start", &wd->start) < 0 ||
		    opt_time(w, "end", &wd->end) < 0)
			return "a word without word, start and end";
		if (wd->end < wd->start)
			wd->end = wd->start;
		wd->text = one_line(text);
		u->nwords++;
	}
	return NULL;
}

/* A final result replaces an earlier one of the same utterance. */
static void call_add_utt(struct call *c, struct utt *u)
{
	size_t i;

	if (u->seq >= 0) {
		for (i = c->nutts; i-- > 0;) {
			struct utt *o = &c->utts[i];

			if (o->seq == u->seq && same(o->track, u->track) &&
			    same(o->stream_sid, u->stream_sid)) {
				utt_free(o);
				*o = *u;
				return;
			}
		}
	}
	if (c->nutts == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->utts = xrealloc(c->utts, c->cap, sizeof *c->utts);
	}
	c->utts[c->nutts++] = *u;
}

static const char *on_transcript(json_t *ev, const char *sid)
{
	json_t *fin = json_object_get(ev, "final"), *v;
	const char *text, *track, *stream, *why;
	struct call *c;
	struct utt u;
	int hs, he;

	if (!json_is_boolean(fin))
		return "transcript without a boolean final";
	if (!json_is_true(fin))
		return NULL;
	if (opt_str(ev, "text", &text) < 0 || !text)
		return "transcript without text";
	if (opt_str(ev, "track", &track) < 0 ||
	    opt_str(ev, "stream_sid", &stream) < 0)
		return "track or stream_sid is not a string";
	memset(&u, 0, sizeof u);
	u.seq = -1;
	if ((v = json_object_get(ev, "seq"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return "seq is not a whole number";
		u.seq = json_integer_value(v);
	}
	if ((v = json_object_get(ev, "confidence")) && !json_is_null(v)) {
		if (!json_is_number(v))
			return "confidence is not a number";
		u.confidence = json_number_value(v);
		u.has_confidence = 1;
	}
	if ((hs = opt_time(ev, "start", &u.start)) < 0 ||
	    (he = opt_time(ev, "end", &u.end)) < 0)
		return "start or end is not a time in seconds";
	if (!hs)
		u.start = u.end;
	if (!he || u.end < u.start)
		u.end = u.start;
	if ((v = json_object_get(ev, "words")) &&
	    (why = parse_words(v, &u))) {
		utt_free(&u);
		return why;
	}
	u.at = u.nwords ? u.words[0].start : u.start;
	u.track = xstrdup(track);
	u.stream_sid = xstrdup(stream);
	u.text = one_line(text);
	u.order = g.order++;
	c = call_get(sid);
	if (!c->stream_sid)
		set_str(&c->stream_sid, stream);
	call_add_utt(c, &u);
	return NULL;
}

static const char *on_event(json_t *ev, const char *type)
{
	json_t *params = json_object_get(ev, "params");
	json_t *tracks = json_object_get(ev, "tracks");
	const char *sid, *stream, *s;
	struct call *c;
	json_t *v;

	if (opt_str(ev, "call_sid", &sid) < 0 ||
	    opt_str(ev, "stream_sid", &stream) < 0)
		return "call_sid or stream_sid is not a string";
	if (strcmp(type, "transcript") == 0)
		return on_transcript(ev, sid);
	/* other types (call.status, ones to come) say nothing we print */
	if (strcmp(type, "call.start") != 0 &&
	    strcmp(type, "call.stop") != 0 && strcmp(type, "error") != 0)
		return NULL;
	if (strcmp(type, "call.start") == 0 && (
	    (params && !json_is_object(params)) ||
	    (tracks && !json_is_array(tracks))))
		return "params is not an object or tracks not an array";
	c = call_get(sid);
	/* call.start says it best; without one, the first event says */
	if (!c->stream_sid)
		set_str(&c->stream_sid, stream);
	if (strcmp(type, "call.start") == 0) {
		set_str(&c->stream_sid, stream);
		if (opt_str(ev, "account_sid", &s) == 0)
			set_str(&c->account_sid, s);
		if (opt_str(ev, "ts", &s) == 0)
			set_str(&c->start_ts, s);
		if (params) {
			json_decref(c->params);
			c->params = json_incref(params);
		}
		if (tracks) {
			json_decref(c->tracks);
			c->tracks = json_incref(tracks);
		}
	} else if (strcmp(type, "call.stop") == 0) {
		c->stopped = 1;
		if (opt_str(ev, "ts", &s) == 0)
			set_str(&c->stop_ts, s);
		if (opt_str(ev, "reason", &s) == 0)
			set_str(&c->stop_reason, s);
	} else if (strcmp(type, "error") == 0) {
		v = json_deep_copy(ev);
		json_object_del(v, "type");
		json_object_del(v, "call_sid");
		json_array_append_new(c->errors, v);
	}
	return NULL;
}

static void handle_line(char *line, size_t n, const char *name,
			unsigned long long lineno)
{
	json_error_t err;
	json_t *ev, *type;
	const char *why = NULL;
	char msg[200];

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
			 line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (n == 0)
		return;
	if (!(ev = json_loadb(line, n, 0, &err))) {
		snprintf(msg, sizeof msg, "not JSON: %s", err.text);
		bad_line(name, lineno, msg);
		return;
	}
	type = json_object_get(ev, "type");
	if (!json_is_object(ev))
		why = "not a JSON object";
	else if (!json_is_string(type))
		why = "no type";
	else
		why = on_event(ev, json_string_value(type));
	if (why)
		bad_line(name, lineno, why);
	json_decref(ev);
}

static void read_events(FILE *f, const char *name)
{
	unsigned long long lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, f)) >= 0)
		handle_line(line, (size_t)n, name, ++lineno);
	if (ferror(f)) {
		log_error("cannot read '%s': %s", name, strerror(errno));
		g.status = 1;
	}
	free(line);
}

static void calls_free(void)
{
	size_t i, j;

	for (i = 0; i < g.ncalls; i++) {
		struct call *c = &g.calls[i];

		for (j = 0; j < c->nutts; j++)
			utt_free(&c->utts[j]);
		free(c->utts);
		free(c->sid);
		free(c->stream_sid);
		free(c->account_sid);
		free(c->start_ts);
		free(c->stop_ts);
		free(c->stop_reason);
		json_decref(c->params);
		json_decref(c->tracks);
		json_decref(c->errors);
	}
	free(g.calls);
	g.calls = NULL;
	g.ncalls = g.cap = g.last = 0;
}

/* --- output ------------------------------------------------------ */

/*
 * A track's speaker: --label, else the call's parameter TRACK_label,
 * else Caller for inbound (the far end) and Callee for outbound.
 */
static const char *speaker(const struct call *c, const char *track)
{
	static char key[128];
	json_t *v;
	size_t i;

	if (!track)
		return "Speaker";
	for (i = opt.nlabels; i-- > 0;)
		if (strcmp(opt.labels[i].track, track) == 0)
			return opt.labels[i].name;
	snprintf(key, sizeof key, "%s_label", track);
	v = c->params ? json_object_get(c->params, key) : NULL;
	if (json_is_string(v) && json_string_value(v)[0])
		return json_string_value(v);
	if (strcmp(track, "inbound") == 0)
		return "Caller";
	if (strcmp(track, "outbound") == 0)
		return "Callee";
	return track;
}

static int cmp_str(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int cmp_utt(const void *pa, const void *pb)
{
	const struct utt *a = pa, *b = pb;
	int r;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if ((r = cmp_str(a->track, b->track)))
		return r;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* HH:MM:SS, with sep and milliseconds when sep is not 0. */
static void clock_str(char *buf, size_t n, long long ms, char sep)
{
	long long s = ms / 1000;

	if (sep)
		snprintf(buf, n, "%02lld:%02lld:%02lld%c%03lld", s / 3600,
			 s / 60 % 60, s % 60, sep, ms % 1000);
	else
		snprintf(buf, n, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60,
			 s % 60);
}

static const char *call_name(const struct call *c)
{
	return c->sid ? c->sid : "(no call_sid)";
}

static void out_txt(FILE *out, const struct call *c, int first)
{
	char t[32];
	size_t i;

	if (!first)
		fputc('\n', out);
	fprintf(out, "Call %s", call_name(c));
	if (c->start_ts)
		fprintf(out, ", started %s", c->start_ts);
	fputc('\n', out);
	for (i = 0; i < c->nutts; i++) {
		const struct utt *u = &c->utts[i];

		if (!u->text[0])
			continue;
		clock_str(t, sizeof t, u->at, 0);
		fprintf(out, "[%s] %s: %s\n", t, speaker(c, u->track),
			u->text);
	}
}

/* Markdown's specials, backslashed, so text stays text. */
static void md_escape(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (strchr("\\`*_[]<>|~", *s))
			fputc('\\', out);
		fputc(*s, out);
	}
}

static void out_md(FILE *out, const struct call *c, int first)
{
	char t[32];
	size_t i;

	if (!first)
		fputc('\n', out);
	fputs("# Call ", out);
	md_escape(out, call_name(c));
	fputc('\n', out);
	if (c->stream_sid || c->start_ts || c->stop_ts ||
	    json_array_size(c->errors))
		fputc('\n', out);
	if (c->stream_sid) {
		fputs("- Stream: ", out);
		md_escape(out, c->stream_sid);
		fputc('\n', out);
	}
	if (c->start_ts) {
		fputs("- Started: ", out);
		md_escape(out, c->start_ts);
		fputc('\n', out);
	}
	if (c->stop_ts) {
		fputs("- Ended: ", out);
		md_escape(out, c->stop_ts);
		if (c->stop_reason) {
			fputs(" (", out);
			md_escape(out, c->stop_reason);
			fputc(')', out);
		}
		fputc('\n', out);
	}
	if (json_array_size(c->errors))
		fprintf(out, "- Errors: %zu\n", json_array_size(c->errors));
	for (i = 0; i < c->nutts; i++) {
		const struct utt *u = &c->utts[i];

		if (!u->text[0])
			continue;
		clock_str(t, sizeof t, u->at, 0);
		fprintf(out, "\n**%s ", t);
		md_escape(out, speaker(c, u->track));
		fputs(":** ", out);
		md_escape(out, u->text);
		fputc('\n', out);
	}
}

static json_t *jtime(long long ms)
{
	return json_real((double)ms / 1000);
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *call_json(const struct call *c)
{
	json_t *doc = json_object(), *speakers = json_object();
	json_t *utts = json_array();
	size_t i, j;

	json_object_set_new(doc, "call_sid", jstr_or_null(c->sid));
	json_object_set_new(doc, "stream_sid", jstr_or_null(c->stream_sid));
	json_object_set_new(doc, "account_sid",
			    jstr_or_null(c->account_sid));
	json_object_set_new(doc, "started", jstr_or_null(c->start_ts));
	json_object_set_new(doc, "ended", jstr_or_null(c->stop_ts));
	json_object_set_new(doc, "end_reason", jstr_or_null(c->stop_reason));
	json_object_set_new(doc, "complete", json_boolean(c->stopped));
	json_object_set_new(doc, "params",
			    c->params ? json_deep_copy(c->params) :
			    json_object());
	for (i = 0; i < json_array_size(c->tracks); i++) {
		json_t *t = json_array_get(c->tracks, i);

		if (json_is_string(t))
			json_object_set_new(speakers, json_string_value(t),
				json_string(speaker(c, json_string_value(t))));
	}
	for (i = 0; i < c->nutts; i++) {
		const struct utt *u = &c->utts[i];
		json_t *o = json_object(), *w;

		if (u->track)
			json_object_set_new(speakers, u->track,
					    json_string(speaker(c, u->track)));
		json_object_set_new(o, "track", jstr_or_null(u->track));
		json_object_set_new(o, "speaker",
				    json_string(speaker(c, u->track)));
		if (u->stream_sid && !same(u->stream_sid, c->stream_sid))
			json_object_set_new(o, "stream_sid",
					    json_string(u->stream_sid));
		json_object_set_new(o, "seq", u->seq >= 0 ?
				    json_integer(u->seq) : json_null());
		json_object_set_new(o, "start", jtime(u->start));
		json_object_set_new(o, "end", jtime(u->end));
		json_object_set_new(o, "text", json_string(u->text));
		if (u->has_confidence)
			json_object_set_new(o, "confidence",
					    json_real(u->confidence));
		if (u->nwords) {
			w = json_array();
			for (j = 0; j < u->nwords; j++)
				json_array_append_new(w, json_pack(
					"{s:s, s:o, s:o}",
					"word", u->words[j].text,
					"start", jtime(u->words[j].start),
					"end", jtime(u->words[j].end)));
			json_object_set_new(o, "words", w);
		}
		json_array_append_new(utts, o);
	}
	json_object_set_new(doc, "speakers", speakers);
	json_object_set_new(doc, "utterances", utts);
	json_object_set(doc, "errors", c->errors);
	return doc;
}

static int out_json(FILE *out, const struct call *c)
{
	json_t *doc = call_json(c);
	int r;

	r = json_dumpf(doc, out, JSON_COMPACT | JSON_REAL_PRECISION(12));
	fputc('\n', out);
	json_decref(doc);
	return r;
}

/* --- subtitles --------------------------------------------------- */

struct tok {
	const char *s;
	size_t len, w;			/* bytes, characters */
	long long start, end;
};

struct cue {
	long long start, end;
	char *text;			/* lines joined by '\n' */
	const char *who;
	size_t order;
};

static struct {
	struct tok *tok;
	size_t ntok, tokcap;
	struct cue *cue;
	size_t ncue, cuecap;
} sub;

static void tok_add(const char *s, size_t len, long long start,
		    long long end)
{
	struct tok *t;

	if (sub.ntok == sub.tokcap) {
		sub.tokcap = sub.tokcap ? 2 * sub.tokcap : 64;
		sub.tok = xrealloc(sub.tok, sub.tokcap, sizeof *sub.tok);
	}
	t = &sub.tok[sub.ntok++];
	t->s = s;
	t->len = len;
	t->w = width(s, len);
	t->start = start;
	t->end = end;
}

/*
 * The utterance's words with times: those of its words when they match
 * its text one for one (the text keeps case and punctuation); the words
 * themselves when they do not; else the text, its span shared out by
 * length.
 */
static void tokenize(const struct utt *u)
{
	size_t n = 0, i, total = 0, pos = 0;
	const char *p;

	sub.ntok = 0;
	for (p = u->text; *p; n++) {
		size_t len = strcspn(p, " ");

		total += width(p, len) + 1;
		p += len;
		p += *p == ' ';
	}
	if (u->nwords && u->nwords != n) {
		for (i = 0; i < u->nwords; i++)
			if (u->words[i].text[0])
				tok_add(u->words[i].text,
					strlen(u->words[i].text),
					u->words[i].start, u->words[i].end);
		return;
	}
	for (p = u->text, i = 0; *p; i++) {
		size_t len = strcspn(p, " ");
		size_t w = width(p, len);
		double span = (double)(u->end - u->start);

		if (u->nwords)
			tok_add(p, len, u->words[i].start, u->words[i].end);
		else
			tok_add(p, len, u->start + llround(span * (double)pos /
					(double)total),
				u->start + llround(span * (double)(pos + w) /
					(double)total));
		pos += w + 1;
		p += len;
		p += *p == ' ';
	}
}

/* Lines that tokens [i, j) fill, greedily, after a prefix of pw chars. */
static int lines_needed(size_t i, size_t j, size_t pw)
{
	size_t lw = pw;
	int lines = 1;

	for (; i < j; i++) {
		if (lw == 0 ||
		    lw + 1 + sub.tok[i].w <= (size_t)opt.max_chars) {
			lw += (lw ? 1 : 0) + sub.tok[i].w;
			continue;
		}
		lines++;
		lw = sub.tok[i].w;
	}
	return lines;
}

static int ends_sentence(const struct tok *t)
{
	char c = t->s[t->len - 1];

	return c == '.' || c == '?' || c == '!';
}

static void cue_add(size_t i, size_t j, size_t pw, const char *who,
		    int vtt)
{
	size_t k, cap = 16, o = 0, brk = j, lw, best = (size_t)-1;
	int nl = lines_needed(i, j, pw);
	struct cue *c;
	char *s;

	/* two lines: the break that makes them most even */
	if (nl == 2) {
		size_t tot = pw, first;

		for (k = i; k < j; k++)
			tot += (tot ? 1 : 0) + sub.tok[k].w;
		for (k = i + 1, first = pw + (pw ? 1 : 0) + sub.tok[i].w;
		     k < j; first += 1 + sub.tok[k].w, k++) {
			size_t second = tot - first - 1;
			size_t m = first > second ? first : second;

			if (first <= (size_t)opt.max_chars &&
			    second <= (size_t)opt.max_chars && m < best) {
				best = m;
				brk = k;
			}
		}
	}
	for (k = i; k < j; k++)
		cap += sub.tok[k].len * (vtt ? 5 : 1) + 1;
	s = xrealloc(NULL, cap, 1);
	lw = pw;
	for (k = i; k < j; k++) {
		const char *p, *end = sub.tok[k].s + sub.tok[k].len;
		int newline = nl == 2 && best != (size_t)-1 ? k == brk :
			      lw > 0 && lw + 1 + sub.tok[k].w >
			      (size_t)opt.max_chars;

		if (newline) {
			s[o++] = '\n';
			lw = 0;
		} else if (lw > 0) {
			s[o++] = ' ';
			lw++;
		}
		lw += sub.tok[k].w;
		for (p = sub.tok[k].s; p < end; p++) {
			const char *esc = !vtt ? NULL : *p == '&' ? "&amp;" :
					  *p == '<' ? "&lt;" :
					  *p == '>' ? "&gt;" : NULL;

			if (esc) {
				memcpy(s + o, esc, strlen(esc));
				o += strlen(esc);
			} else {
				s[o++] = *p;
			}
		}
	}
	s[o] = '\0';
	if (sub.ncue == sub.cuecap) {
		sub.cuecap = sub.cuecap ? 2 * sub.cuecap : 64;
		sub.cue = xrealloc(sub.cue, sub.cuecap, sizeof *sub.cue);
	}
	c = &sub.cue[sub.ncue];
	c->start = sub.tok[i].start;
	c->end = sub.tok[j - 1].end;
	if (c->end < c->start + MIN_CUE_MS)
		c->end = c->start + MIN_CUE_MS;
	/* one word can be that long, with its times shared out by length */
	if (c->end > c->start + opt.max_ms)
		c->end = c->start + opt.max_ms;
	c->text = s;
	c->who = who;
	c->order = sub.ncue++;
}

/*
 * Cues of one utterance: as many words as fit in max_lines lines and
 * max_ms, ending early after a sentence once a line is half full.
 */
static void utt_cues(const struct utt *u, const char *who, int vtt)
{
	/* SRT has no voices: "Who:" starts the cue's first line */
	size_t i = 0, j, pw = vtt ? 0 : width(who, strlen(who)) + 1;
	size_t half = (size_t)opt.max_chars / 2;

	tokenize(u);
	while (i < sub.ntok) {
		for (j = i + 1; j < sub.ntok; j++) {
			if (sub.tok[j].end - sub.tok[i].start > opt.max_ms ||
			    lines_needed(i, j + 1, pw) > opt.max_lines)
				break;
			if (ends_sentence(&sub.tok[j - 1]) &&
			    lines_needed(i, j, pw + half) > 1)
				break;
		}
		cue_add(i, j, pw, who, vtt);
		i = j;
	}
}

static int cmp_cue(const void *pa, const void *pb)
{
	const struct cue *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/*
 * Both tracks may talk at once; cues must not overlap.  A cue is cut
 * back to where the next starts while it keeps MIN_CUE_MS; else the
 * next one waits for it, as long as it was.  Either way starts never go
 * back in time.
 */
static void cues_untangle(void)
{
	size_t i;

	if (sub.ncue > 1)
		qsort(sub.cue, sub.ncue, sizeof *sub.cue, cmp_cue);
	for (i = 1; i < sub.ncue; i++) {
		struct cue *a = &sub.cue[i - 1], *b = &sub.cue[i];

		if (b->start >= a->end)
			continue;
		if (b->start - a->start >= MIN_CUE_MS) {
			a->end = b->start;
		} else {
			long long len = b->end - b->start;

			b->start = a->end;
			b->end = b->start + len;
		}
	}
}

static void out_subtitles(FILE *out, const struct call *c, int vtt)
{
	char t1[32], t2[32];
	size_t i;

	for (i = 0; i < c->nutts; i++)
		if (c->utts[i].text[0])
			utt_cues(&c->utts[i], speaker(c, c->utts[i].track),
				 vtt);
	cues_untangle();
	for (i = 0; i < sub.ncue; i++) {
		const struct cue *q = &sub.cue[i];
		const char *p;

		clock_str(t1, sizeof t1, q->start, vtt ? '.' : ',');
		clock_str(t2, sizeof t2, q->end, vtt ? '.' : ',');
		fprintf(out, "%s%zu\n%s --> %s\n", i || vtt ? "\n" : "", i + 1,
			t1, t2);
		if (!vtt) {
			fprintf(out, "%s:%s\n", q->who, q->text);
			continue;
		}
		fputs("<v ", out);
		for (p = q->who; *p; p++) {
			if (*p == '&' || *p == '<' || *p == '>')
				fputs(*p == '&' ? "&amp;" : *p == '<' ?
				      "&lt;" : "&gt;", out);
			else
				fputc(*p, out);
		}
		fprintf(out, ">%s\n", q->text);
	}
	for (i = 0; i < sub.ncue; i++)
		free(sub.cue[i].text);
	free(sub.cue);
	free(sub.tok);
	memset(&sub, 0, sizeof sub);
}

/* The calls asked for, in the order they first appeared; -1 on error. */
static int emit(FILE *out)
{
	size_t i, shown = 0, chosen = 0;

	for (i = 0; i < g.ncalls; i++)
		if (g.calls[i].nutts > 1)
			qsort(g.calls[i].utts, g.calls[i].nutts,
			      sizeof *g.calls[i].utts, cmp_utt);
	if (opt.call) {
		for (i = 0; i < g.ncalls; i++)
			if (same(g.calls[i].sid, opt.call))
				chosen = i + 1;
		if (!chosen) {
			log_error("no call '%s' in the input", opt.call);
			return -1;
		}
	}
	if ((opt.fmt == FMT_SRT || opt.fmt == FMT_VTT) && !opt.call) {
		if (g.ncalls > 1) {
			log_error("the input holds %zu calls: choose one with "
				  "--call", g.ncalls);
			return -1;
		}
		chosen = g.ncalls;
	}
	if (opt.fmt == FMT_VTT)
		fputs("WEBVTT\n", out);
	for (i = 0; i < g.ncalls; i++) {
		const struct call *c = &g.calls[i];

		if (chosen && i != chosen - 1)
			continue;
		switch (opt.fmt) {
		case FMT_TXT:
			out_txt(out, c, shown == 0);
			break;
		case FMT_MD:
			out_md(out, c, shown == 0);
			break;
		case FMT_JSON:
			if (out_json(out, c) < 0)
				return -1;
			break;
		case FMT_SRT:
		case FMT_VTT:
			out_subtitles(out, c, opt.fmt == FMT_VTT);
			break;
		}
		shown++;
	}
	return 0;
}

static void add_label(const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *track;

	if (!eq || eq == arg || !eq[1])
		cli_usage_error("invalid value '%s' for --label: expected "
				"TRACK=NAME", arg);
	track = xrealloc(NULL, (size_t)(eq - arg) + 1, 1);
	memcpy(track, arg, (size_t)(eq - arg));
	track[eq - arg] = '\0';
	opt.labels = xrealloc(opt.labels, opt.nlabels + 1,
			      sizeof *opt.labels);
	opt.labels[opt.nlabels].track = track;
	opt.labels[opt.nlabels++].name = eq + 1;
}

static void labels_free(void)
{
	size_t i;

	for (i = 0; i < opt.nlabels; i++)
		free((char *)opt.labels[i].track);
	free(opt.labels);
}

int main(int argc, char **argv)
{
	size_t i;
	int c;

	log_init(argv[0]);
	while ((c = getopt_long(argc, argv, "t:c:l:vqhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 't':
			for (i = 0; i < sizeof fmt_names / sizeof *fmt_names;
			     i++)
				if (strcmp(optarg, fmt_names[i]) == 0)
					break;
			if (i == sizeof fmt_names / sizeof *fmt_names)
				cli_usage_error("invalid format '%s': "
						"expected txt, srt, vtt, json "
						"or md", optarg);
			opt.fmt = (enum fmt)i;
			break;
		case 'c':
			opt.call = optarg;
			break;
		case 'l':
			add_label(optarg);
			break;
		case OPT_MAX_CHARS:
			opt.max_chars = (int)cli_int("--max-chars", optarg, 10,
						     1000);
			break;
		case OPT_MAX_LINES:
			opt.max_lines = (int)cli_int("--max-lines", optarg, 1,
						     10);
			break;
		case OPT_MAX_DURATION:
			opt.max_ms = cli_ms("--max-duration", optarg, 3600000);
			if (opt.max_ms < 1000)
				cli_usage_error("--max-duration must be at "
						"least 1 second");
			break;
		case 'v':
			log_level++;
			break;
		case 'q':
			log_level = LOG_ERROR;
			break;
		case 'h':
			cli_help(usage_text);
		case 'V':
			cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind == argc)
		read_events(stdin, "<stdin>");
	for (; optind < argc; optind++) {
		const char *name = argv[optind];
		FILE *f = strcmp(name, "-") ? fopen(name, "r") : stdin;

		if (!f) {
			log_error("cannot open '%s': %s", name,
				  strerror(errno));
			g.status = 1;
			continue;
		}
		read_events(f, f == stdin ? "<stdin>" : name);
		if (f != stdin)
			fclose(f);
	}
	if (g.bad) {
		log_error("%llu malformed line%s skipped", g.bad,
			  g.bad == 1 ? "" : "s");
		g.status = 1;
	}
	if (emit(stdout) < 0)
		g.status = 1;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output: %s",
			  strerror(errno));
		g.status = 1;
	}
	calls_free();
	labels_free();
	return g.status;
}
