/*
 * StreamingRecognizeResponse -> events NDJSON.  Result times are relative
 * to the stream; the timeline maps them onto the whole audio, so times
 * run on across restarts, and each final moves fin, the point a new
 * stream replays from.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "google/cloud/speech/v1/cloud_speech.pb-c.h"

#include "clock.h"
#include "gstt.h"
#include "log.h"

typedef Google__Cloud__Speech__V1__StreamingRecognizeResponse Response;
typedef Google__Cloud__Speech__V1__StreamingRecognitionResult Result;
typedef Google__Cloud__Speech__V1__SpeechRecognitionAlternative Alt;

#define EOSU GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_RESPONSE__\
SPEECH_EVENT_TYPE__END_OF_SINGLE_UTTERANCE

/* Valid UTF-8 for jansson: each bad byte becomes U+FFFD. */
static json_t *jstr(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), i = 0, o = 0;
	json_t *j = json_stringn((const char *)p, n);
	char *t;

	if (j)
		return j;
	t = malloc(3 * n + 1);
	if (!t)
		return json_string("");
	while (i < n) {
		unsigned char c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 :
			     (c & 0xF0) == 0xE0 ? 3 :
			     (c & 0xF8) == 0xF0 ? 4 : 0;
		size_t k;

		if (len > 1 && i + len <= n) {
			for (k = 1; k < len; k++)
				if ((p[i + k] & 0xC0) != 0x80)
					break;
			/* jansson judges overlong forms and surrogates */
			if (k == len) {
				json_t *one = json_stringn((const char *)p + i,
							   len);

				if (one) {
					json_decref(one);
					memcpy(t + o, p + i, len);
					o += len;
					i += len;
					continue;
				}
			}
		} else if (len == 1) {
			t[o++] = (char)c;
			i++;
			continue;
		}
		memcpy(t + o, "\xEF\xBF\xBD", 3);
		o += 3;
		i++;
	}
	j = json_stringn(t, o);
	free(t);
	return j ? j : json_string("");
}

/* Seconds, rounded to the microsecond so floats print short. */
static json_t *jsec(double s)
{
	if (!isfinite(s))
		s = 0;
	return json_real(round(s * 1e6) / 1e6);
}

static json_t *jfrac(float f)
{
	double d = isfinite(f) ? f : 0;

	return json_real(round(d * 1000) / 1000);
}

static json_t *event_new(const struct out *o, const char *type)
{
	char ts[RFC3339_LEN + 1];
	json_t *e = json_object();

	rfc3339_now(ts);
	json_object_set_new(e, "type", json_string(type));
	json_object_set_new(e, "ts", json_string(ts));
	if (o->call_sid)
		json_object_set_new(e, "call_sid", jstr(o->call_sid));
	if (o->stream_sid)
		json_object_set_new(e, "stream_sid", jstr(o->stream_sid));
	if (o->track)
		json_object_set_new(e, "track", jstr(o->track));
	return e;
}

/* Write e as one line, and free it. */
static int event_put(const struct out *o, json_t *e)
{
	size_t n = json_dumpb(e, NULL, 0, JSON_COMPACT |
			      JSON_REAL_PRECISION(15));
	char *line = n ? malloc(n + 1) : NULL;
	int rc = -1;

	if (line && json_dumpb(e, line, n, JSON_COMPACT |
			       JSON_REAL_PRECISION(15)) == n) {
		line[n] = '\n';
		rc = o->write_line(o->ctx, line, n + 1);
	}
	free(line);
	json_decref(e);
	return rc;
}

int event_error(const struct out *o, const char *code, const char *fmt, ...)
{
	json_t *e = event_new(o, "error");
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_object_set_new(e, "source", json_string("gstt-stream"));
	json_object_set_new(e, "code", jstr(code));
	json_object_set_new(e, "message", jstr(msg));
	return event_put(o, e);
}

/*
 * A recording is framed as a live call is by mulaw-split: call.start
 * before any transcript, call.stop after the last one of every track.
 * These carry no track, whatever o says.
 */
int event_call_start(const struct out *o, const char *const *tracks, int n)
{
	struct out call = *o;
	json_t *e, *t = json_array();
	int i;

	call.track = NULL;
	e = event_new(&call, "call.start");
	for (i = 0; i < n; i++)
		json_array_append_new(t, jstr(tracks[i]));
	json_object_set_new(e, "tracks", t);
	json_object_set_new(e, "params", json_object());
	return event_put(o, e);
}

int event_call_stop(const struct out *o, const char *reason)
{
	struct out call = *o;
	json_t *e;

	call.track = NULL;
	e = event_new(&call, "call.stop");
	json_object_set_new(e, "reason", json_string(reason));
	return event_put(o, e);
}

/* A stream-relative time as an absolute offset, within [lo, hi]. */
static int64_t to_offset(const struct timeline *t,
			 const Google__Protobuf__Duration *d, int64_t lo,
			 int64_t hi)
{
	double us, off;
	int64_t r;

	if (!d)
		return lo;
	us = (double)d->seconds * 1e6 + d->nanos / 1e3;
	off = (double)t->base + round(us * (double)t->bps / 1e6);
	if (!(off >= (double)lo))
		return lo;
	if (off > (double)hi)
		return hi;
	r = (int64_t)off;
	return r - (r - t->base) % t->align;
}

static double to_seconds(const struct timeline *t,
			 const Google__Protobuf__Duration *d)
{
	double s = d ? (double)d->seconds + d->nanos / 1e9 : 0;

	if (!(s >= 0))
		s = 0;
	return (double)t->base / (double)t->bps + s;
}

static const Alt *top(const Result *r)
{
	if (r->n_alternatives == 0 || !r->alternatives[0])
		return NULL;
	return r->alternatives[0];
}

static int emit_final(const struct out *o, struct timeline *t,
		      const Result *r)
{
	const Alt *a = top(r);
	int64_t end = to_offset(t, r->result_end_time, t->fin, t->sent);
	double start_s = (double)t->fin / (double)t->bps;
	json_t *e;
	size_t i;

	t->fin = end;
	if (end > t->heard)
		t->heard = end;
	if (!a || !a->transcript || !a->transcript[0])
		return 0;	/* nothing said: the time still counts */
	e = event_new(o, "transcript");
	json_object_set_new(e, "seq", json_integer(t->seq++));
	json_object_set_new(e, "final", json_true());
	json_object_set_new(e, "text", jstr(a->transcript));
	if (a->confidence > 0)
		json_object_set_new(e, "confidence", jfrac(a->confidence));
	json_object_set_new(e, "start", jsec(start_s));
	json_object_set_new(e, "end", jsec((double)end / (double)t->bps));
	if (o->languages && r->language_code && r->language_code[0])
		json_object_set_new(e, "language", jstr(r->language_code));
	if (o->words) {
		json_t *w = json_array();

		for (i = 0; i < a->n_words; i++) {
			const Google__Cloud__Speech__V1__WordInfo *wi =
				a->words[i];
			json_t *x;

			if (!wi)
				continue;
			x = json_object();
			json_object_set_new(x, "word", jstr(wi->word));
			json_object_set_new(x, "start",
				jsec(to_seconds(t, wi->start_time)));
			json_object_set_new(x, "end",
				jsec(to_seconds(t, wi->end_time)));
			if (wi->confidence > 0)
				json_object_set_new(x, "confidence",
						    jfrac(wi->confidence));
			if (wi->speaker_label && wi->speaker_label[0])
				json_object_set_new(x, "speaker",
						    jstr(wi->speaker_label));
			json_array_append_new(w, x);
		}
		json_object_set_new(e, "words", w);
	}
	if (o->alternatives > 1 && r->n_alternatives > 1) {
		json_t *alts = json_array();

		for (i = 1; i < r->n_alternatives; i++) {
			const Alt *b = r->alternatives[i];
			json_t *x;

			if (!b)
				continue;
			x = json_object();
			json_object_set_new(x, "text", jstr(b->transcript));
			if (b->confidence > 0)
				json_object_set_new(x, "confidence",
						    jfrac(b->confidence));
			json_array_append_new(alts, x);
		}
		json_object_set_new(e, "alternatives", alts);
	}
	t->finals++;
	return event_put(o, e);
}

/*
 * Google splits an interim hypothesis into results of falling stability
 * ("to be or not to be" 0.9, " that" 0.01); one interim event carries
 * their concatenation, with the stability of the first.
 */
static int emit_interim(const struct out *o, struct timeline *t,
			Result *const *rs, size_t n)
{
	size_t i, len = 0;
	int64_t end = t->fin;
	float stab = 0;
	char *text;
	json_t *e;

	for (i = 0; i < n; i++) {
		const Alt *a = top(rs[i]);
		int64_t x = to_offset(t, rs[i]->result_end_time, t->fin,
				      t->sent);

		if (a && a->transcript)
			len += strlen(a->transcript);
		if (x > end)
			end = x;
	}
	if (end > t->heard)
		t->heard = end;
	if (len == 0)
		return 0;
	text = malloc(len + 1);
	if (!text)
		return -1;
	text[0] = '\0';
	len = 0;
	for (i = 0; i < n; i++) {
		const Alt *a = top(rs[i]);
		size_t k;

		if (!a || !a->transcript)
			continue;
		if (stab == 0)
			stab = rs[i]->stability;
		k = strlen(a->transcript);
		memcpy(text + len, a->transcript, k + 1);
		len += k;
	}
	e = event_new(o, "transcript");
	json_object_set_new(e, "seq", json_integer(t->seq));
	json_object_set_new(e, "final", json_false());
	json_object_set_new(e, "text", jstr(text));
	free(text);
	if (stab > 0)
		json_object_set_new(e, "stability", jfrac(stab));
	json_object_set_new(e, "start",
			    jsec((double)t->fin / (double)t->bps));
	json_object_set_new(e, "end", jsec((double)end / (double)t->bps));
	if (o->languages && rs[0]->language_code && rs[0]->language_code[0])
		json_object_set_new(e, "language",
				    jstr(rs[0]->language_code));
	t->interims++;
	return event_put(o, e);
}

int resp_handle(const struct out *o, struct timeline *t, const uint8_t *p,
		size_t n)
{
	Response *r = (Response *)protobuf_c_message_unpack(
		&google__cloud__speech__v1__streaming_recognize_response__descriptor,
		NULL, n, p);
	size_t i, first_interim;
	int flags = 0;

	if (!r)
		return RESP_BAD;
	if (r->error && r->error->code != 0) {
		log_warn("service error %d: %s", r->error->code,
			 r->error->message ? r->error->message : "");
		flags |= RESP_ERROR;
	}
	if (r->speech_event_type == EOSU)
		flags |= RESP_EOSU;
	/* finals first, then the interims, as the service orders them */
	first_interim = r->n_results;
	for (i = 0; i < r->n_results; i++) {
		const Result *res = r->results[i];

		if (!res)
			continue;
		if (!res->is_final) {
			if (first_interim == r->n_results)
				first_interim = i;
			continue;
		}
		if (emit_final(o, t, res) < 0)
			flags |= RESP_WRITE;
		flags |= RESP_FINAL;
	}
	if (first_interim < r->n_results) {
		Result **rs = malloc(r->n_results * sizeof *rs);
		size_t k = 0;

		if (rs) {
			for (i = first_interim; i < r->n_results; i++)
				if (r->results[i] && !r->results[i]->is_final)
					rs[k++] = r->results[i];
			if (emit_interim(o, t, rs, k) < 0)
				flags |= RESP_WRITE;
			free(rs);
		}
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return flags;
}
