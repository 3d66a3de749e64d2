/*
 * tl-fakespeech: a stand-in for Google Speech-to-Text v1 StreamingRecognize
 * for tests.  It speaks the real wire protocol (grpc, the same protobuf
 * messages) and "recognises" audio deterministically, so tests can check
 * that a client loses and repeats nothing.
 *
 * Test audio is a sequence of 100-byte blocks, block k holding "%08d" of k
 * repeated (tl-fakespeech --gen-blocks N writes it).  The fake reads each
 * stream in 100-byte blocks from its first byte and, every --final-every
 * ms of audio, sends a final result listing the blocks it covers
 * ("b12 b13 ..."; "b?" for a block that is not one), with result_end_time
 * relative to the stream as Google does.  A stream whose first byte is
 * not the start of a block therefore shows as "b?": exactly what a client
 * that replays the wrong bytes after a restart would cause.
 *
 * usage: tl-fakespeech --listen ADDR [options]
 *        tl-fakespeech --gen-blocks N [--first K]
 *
 *   --final-every MS        a final result every MS of audio (1000)
 *   --interim-every MS      interim results this often, if asked (250)
 *   --close-delay MS        wait this long after a half-close before the
 *                           last final and the status (0)
 *   --no-close-final        no final for the rest after a half-close
 *   --max-stream-seconds S  OUT_OF_RANGE after S s of audio, as Google
 *   --audio-timeout S       OUT_OF_RANGE after S s without audio
 *   --unavailable-after-bytes N  UNAVAILABLE once, N bytes into stream 1
 *   --drop-after-bytes N    exit, N bytes into stream 1: the connection
 *                           drops (the test starts the fake again)
 *   --auth TOKEN            require "authorization: Bearer TOKEN" or
 *                           "x-goog-api-key: TOKEN", else UNAUTHENTICATED
 *   --log FILE              append what each stream got: metadata,
 *                           config, bytes, blocks, finals, status
 *   --cert FILE --key FILE  serve over TLS with this certificate chain
 *                           and key (PEM), as Google's endpoint does
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "google/cloud/speech/v1/cloud_speech.pb-c.h"

#include "cli.h"
#include "clock.h"
#include "grpcpb.h"

#define METHOD "/google.cloud.speech.v1.Speech/StreamingRecognize"
#define REQ(x) GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_REQUEST__\
STREAMING_REQUEST_##x
#define BLOCK 100
#define MAX_AUDIO (25 * 1024)

enum { OP_NEW, OP_RECV, OP_SEND, OP_STATUS, OP_CLOSE, OP_N };

struct tag {
	struct fcall *c;
	int op;
};

struct outmsg {
	grpc_byte_buffer *buf;
	struct outmsg *next;
};

/* One stream.  Freed once every batch started on it has completed. */
struct fcall {
	struct tag tags[OP_N];
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *rbuf, *sbuf;	/* sbuf: till its send is done */
	int id, outstanding, cancelled;
	int sending, status_started, closing, half_closed;
	grpc_status_code code;
	char msg[160];
	struct outmsg *qhead, *qtail;

	int got_config, interim, words;
	long bps;		/* bytes per second, from the config */
	long long bytes;	/* audio received */
	long long fin;		/* end of the last final in the stream */
	long long last_interim;
	int64_t close_due, last_audio;	/* mono_ms */
	unsigned char blk[BLOCK];
	int blen;
	long *pend;		/* blocks since the last final */
	size_t npend, cpend;
	long first, last;
	int nfinals;
	struct fcall *next;
};

static grpc_server *server;
static grpc_completion_queue *cq;
static void *method;
static struct fcall *calls, *waiting;
static int nstreams;

static long final_ms = 1000, interim_ms = 250, close_delay_ms;
static long long unavailable_after = -1, drop_after = -1;
static long max_stream_s, audio_timeout_s;
static const char *auth_token, *log_path;
static int unavailable_done, close_final = 1;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	FILE *f;

	if (!log_path)
		return;
	f = fopen(log_path, "a");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p) {
		fputs("tl-fakespeech: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

static void start(struct fcall *c, int op, grpc_op *ops, size_t n)
{
	grpc_call_error e = grpc_call_start_batch(c->call, ops, n,
						  &c->tags[op], NULL);

	if (e != GRPC_CALL_OK) {
		fprintf(stderr, "tl-fakespeech: start_batch %d: %d\n", op, e);
		exit(1);
	}
	c->outstanding++;
}

static void pump(struct fcall *c);

static void queue(struct fcall *c, const ProtobufCMessage *m)
{
	struct outmsg *o = xcalloc(1, sizeof *o);

	o->buf = pb_to_buffer(m);
	if (c->qtail)
		c->qtail->next = o;
	else
		c->qhead = o;
	c->qtail = o;
	pump(c);
}

static void drop_queue(struct fcall *c)
{
	while (c->qhead) {
		struct outmsg *o = c->qhead;

		c->qhead = o->next;
		grpc_byte_buffer_destroy(o->buf);
		free(o);
	}
	c->qtail = NULL;
}

/* End the stream with a status once what is queued has gone. */
static void finish(struct fcall *c, grpc_status_code code, const char *msg)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->code = code;
	snprintf(c->msg, sizeof c->msg, "%s", msg);
	if (code != GRPC_STATUS_OK)
		drop_queue(c);
	pump(c);
}

static void pump(struct fcall *c)
{
	grpc_op op;

	if (c->cancelled || c->status_started || c->sending)
		return;
	memset(&op, 0, sizeof op);
	if (c->qhead) {
		struct outmsg *o = c->qhead;

		c->qhead = o->next;
		if (!c->qhead)
			c->qtail = NULL;
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = o->buf;
		start(c, OP_SEND, &op, 1);
		c->sbuf = o->buf;
		free(o);
		c->sending = 1;
	} else if (c->closing) {
		grpc_slice details = grpc_slice_from_copied_string(c->msg);

		op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		op.data.send_status_from_server.status = c->code;
		op.data.send_status_from_server.status_details = &details;
		start(c, OP_STATUS, &op, 1);
		grpc_slice_unref(details);
		c->status_started = 1;
		logf_("stream=%d bytes=%lld first=%ld last=%ld finals=%d "
		      "status=%s", c->id, c->bytes, c->first, c->last,
		      c->nfinals, grpc_code_name(c->code));
	}
}

/* The transcript of n blocks: "b1 b2 b3". */
static char *blocks_text(const long *b, size_t n)
{
	size_t i, sz = n * 12 + 1, o = 0;
	char *s = xcalloc(sz, 1);

	for (i = 0; i < n; i++) {
		if (b[i] < 0)
			o += (size_t)snprintf(s + o, sz - o, "%sb?",
					      i ? " " : "");
		else
			o += (size_t)snprintf(s + o, sz - o, "%sb%ld",
					      i ? " " : "", b[i]);
	}
	return s;
}

/*
 * One result: final covers the pending blocks up to stream offset end;
 * an interim covers what is pending so far.
 */
static void send_result(struct fcall *c, int final, long long end)
{
	Google__Cloud__Speech__V1__StreamingRecognizeResponse r =
		GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNIZE_RESPONSE__INIT;
	Google__Cloud__Speech__V1__StreamingRecognitionResult res =
		GOOGLE__CLOUD__SPEECH__V1__STREAMING_RECOGNITION_RESULT__INIT;
	Google__Cloud__Speech__V1__SpeechRecognitionAlternative alt;
	Google__Cloud__Speech__V1__StreamingRecognitionResult *rp = &res;
	Google__Cloud__Speech__V1__SpeechRecognitionAlternative *ap = &alt;
	Google__Protobuf__Duration endt = GOOGLE__PROTOBUF__DURATION__INIT;
	Google__Cloud__Speech__V1__WordInfo *w = NULL, **wp = NULL;
	Google__Protobuf__Duration *wt = NULL;
	size_t n = c->npend, i;
	long long bstart;

	google__cloud__speech__v1__speech_recognition_alternative__init(&alt);
	if (final) {
		n = (size_t)((end - c->fin) / BLOCK);
		if (n > c->npend)
			n = c->npend;
	}
	alt.transcript = blocks_text(c->pend, n);
	duration_set_us(&endt, end * 1000000 / c->bps);
	res.result_end_time = &endt;
	res.is_final = final;
	res.n_alternatives = 1;
	res.alternatives = &ap;
	if (final) {
		alt.confidence = 0.875f;
	} else {
		res.stability = 0.5f;
	}
	if (final && c->words && n > 0) {
		w = xcalloc(n, sizeof *w);
		wp = xcalloc(n, sizeof *wp);
		wt = xcalloc(2 * n, sizeof *wt);
		bstart = c->fin;
		for (i = 0; i < n; i++) {
			google__cloud__speech__v1__word_info__init(&w[i]);
			google__protobuf__duration__init(&wt[2 * i]);
			google__protobuf__duration__init(&wt[2 * i + 1]);
			duration_set_us(&wt[2 * i], (bstart + (long long)i *
					BLOCK) * 1000000 / c->bps);
			duration_set_us(&wt[2 * i + 1], (bstart + (long long)
					(i + 1) * BLOCK) * 1000000 / c->bps);
			w[i].start_time = &wt[2 * i];
			w[i].end_time = &wt[2 * i + 1];
			w[i].word = xcalloc(24, 1);
			if (c->pend[i] < 0)
				snprintf(w[i].word, 24, "b?");
			else
				snprintf(w[i].word, 24, "b%ld", c->pend[i]);
			wp[i] = &w[i];
		}
		alt.n_words = n;
		alt.words = wp;
	}
	r.n_results = 1;
	r.results = &rp;
	queue(c, &r.base);
	free(alt.transcript);
	for (i = 0; w && i < n; i++)
		free(w[i].word);
	free(w);
	free(wp);
	free(wt);
	if (final) {
		memmove(c->pend, c->pend + n,
			(c->npend - n) * sizeof *c->pend);
		c->npend -= n;
		c->fin = end;
		c->nfinals++;
		c->last_interim = end;
	}
}

static long block_index(const unsigned char *b)
{
	char num[9];
	long k;
	int i;

	for (i = 0; i < BLOCK; i++)
		if (b[i] != b[i % 8] || b[i] < '0' || b[i] > '9')
			return -1;
	memcpy(num, b, 8);
	num[8] = '\0';
	k = strtol(num, NULL, 10);
	return k;
}

static void audio(struct fcall *c, const uint8_t *p, size_t n)
{
	long long final_bytes = final_ms * c->bps / 1000;
	long long limit = max_stream_s * c->bps;
	size_t i;

	for (i = 0; i < n && !c->closing; i++) {
		c->blk[c->blen++] = p[i];
		c->bytes++;
		if (c->blen == BLOCK) {
			long k = block_index(c->blk);

			if (c->cpend == c->npend) {
				c->cpend = c->cpend ? 2 * c->cpend : 256;
				c->pend = realloc(c->pend,
						  c->cpend * sizeof *c->pend);
				if (!c->pend)
					exit(1);
			}
			c->pend[c->npend++] = k;
			if (c->first == -2)
				c->first = k;
			c->blen = 0;
		}
		if (limit > 0 && c->bytes >= limit) {
			char m[128];

			snprintf(m, sizeof m, "Exceeded maximum allowed "
				 "stream duration of %ld seconds.",
				 max_stream_s);
			finish(c, GRPC_STATUS_OUT_OF_RANGE, m);
			break;
		}
		if (c->bytes % final_bytes == 0) {
			if (c->npend > 0)
				c->last = c->pend[c->npend - 1];
			send_result(c, 1, c->bytes);
		}
		if (drop_after >= 0 && c->id == 1 && c->bytes >= drop_after) {
			logf_("stream=%d bytes=%lld drop", c->id, c->bytes);
			_exit(0);	/* the connection drops with us */
		}
		if (unavailable_after >= 0 && !unavailable_done &&
		    c->bytes >= unavailable_after) {
			unavailable_done = 1;
			finish(c, GRPC_STATUS_UNAVAILABLE,
			       "The service is currently unavailable.");
			break;
		}
	}
	if (!c->closing && c->interim && c->npend > 0 &&
	    c->bytes - c->last_interim >= interim_ms * c->bps / 1000) {
		send_result(c, 0, c->bytes);
		c->last_interim = c->bytes;
	}
}

static int lang_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 2 || n > 35)
		return 0;
	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return 0;
	return 1;
}

/* The value of metadata key, in one of a few rotating buffers. */
static const char *md_get(struct fcall *c, const char *key)
{
	static char bufs[4][4096];	/* a JWT is a kilobyte or so */
	static int next;
	char *v = bufs[next++ % 4];
	size_t i, n;

	for (i = 0; i < c->md.count; i++) {
		if (grpc_slice_str_cmp(c->md.metadata[i].key, key) != 0)
			continue;
		n = GRPC_SLICE_LENGTH(c->md.metadata[i].value);
		if (n >= sizeof bufs[0])
			n = sizeof bufs[0] - 1;
		memcpy(v, GRPC_SLICE_START_PTR(c->md.metadata[i].value), n);
		v[n] = '\0';
		return v;
	}
	return NULL;
}

/* A whole PEM file, or exit. */
static char *slurp(const char *path)
{
	size_t n;
	char *buf = cli_read_file(path, 65536, &n);

	if (!buf || n == 0) {
		fprintf(stderr, "tl-fakespeech: cannot read '%s': %s\n", path,
			buf ? "empty" : strerror(errno));
		exit(1);
	}
	return buf;
}

static void config(struct fcall *c,
		   const Google__Cloud__Speech__V1__StreamingRecognitionConfig
		   *sc)
{
	const Google__Cloud__Speech__V1__RecognitionConfig *rc = sc->config;
	char alts[256] = "", phrases[512] = "";
	size_t i, j, o = 0, po = 0;
	double boost = 0;

	if (!rc) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT,
		       "Invalid recognition 'config': missing config.");
		return;
	}
	if (!lang_ok(rc->language_code)) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT,
		       "Invalid recognition 'config': bad language code.");
		return;
	}
	if (rc->sample_rate_hertz < 8000 || rc->sample_rate_hertz > 48000 ||
	    (rc->encoding != 1 && rc->encoding != 3)) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT,
		       "Invalid recognition 'config': bad encoding or "
		       "sample rate.");
		return;
	}
	c->bps = rc->sample_rate_hertz * (rc->encoding == 1 ? 2 : 1);
	c->interim = sc->interim_results;
	c->words = rc->enable_word_time_offsets;
	c->got_config = 1;
	for (i = 0; i < rc->n_alternative_language_codes; i++)
		o += (size_t)snprintf(alts + o, o < sizeof alts ?
				      sizeof alts - o : 0, "%s%s",
				      i ? "," : "",
				      rc->alternative_language_codes[i]);
	for (i = 0; i < rc->n_speech_contexts; i++) {
		const Google__Cloud__Speech__V1__SpeechContext *sp =
			rc->speech_contexts[i];

		boost = sp->boost;
		for (j = 0; j < sp->n_phrases; j++)
			po += (size_t)snprintf(phrases + po,
					       po < sizeof phrases ?
					       sizeof phrases - po : 0,
					       "%s%s", po ? "|" : "",
					       sp->phrases[j]);
	}
	logf_("config stream=%d encoding=%d rate=%d channels=%d lang=%s "
	      "alts=%s model=%s enhanced=%d interim=%d punct=%d words=%d "
	      "profanity=%d maxalt=%d single=%d phrases=%s boost=%g",
	      c->id, rc->encoding, rc->sample_rate_hertz,
	      rc->audio_channel_count, rc->language_code, alts,
	      rc->model ? rc->model : "", rc->use_enhanced,
	      sc->interim_results,
	      rc->enable_automatic_punctuation, rc->enable_word_time_offsets,
	      rc->profanity_filter, rc->max_alternatives,
	      sc->single_utterance, phrases, boost);
}

static void request(struct fcall *c, grpc_byte_buffer *b)
{
	Google__Cloud__Speech__V1__StreamingRecognizeRequest *r;

	r = (Google__Cloud__Speech__V1__StreamingRecognizeRequest *)
		pb_from_buffer(b,
		&google__cloud__speech__v1__streaming_recognize_request__descriptor);
	if (!r) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT,
		       "Invalid request: cannot parse.");
		return;
	}
	if (!c->got_config) {
		if (r->streaming_request_case != REQ(STREAMING_CONFIG))
			finish(c, GRPC_STATUS_INVALID_ARGUMENT, "Invalid "
			       "request: the first message must hold "
			       "streaming_config.");
		else
			config(c, r->streaming_config);
	} else if (r->streaming_request_case != REQ(AUDIO_CONTENT)) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT, "Invalid request: "
		       "streaming_config may only come first.");
	} else if (r->audio_content.len > MAX_AUDIO) {
		finish(c, GRPC_STATUS_INVALID_ARGUMENT, "Invalid request: "
		       "audio_content over 25 KB.");
	} else {
		c->last_audio = mono_ms();
		audio(c, r->audio_content.data, r->audio_content.len);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void recv_next(struct fcall *c)
{
	grpc_op op;

	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->rbuf;
	start(c, OP_RECV, &op, 1);
}

static void await_call(void)
{
	waiting = xcalloc(1, sizeof *waiting);
	for (int i = 0; i < OP_N; i++) {
		waiting->tags[i].c = waiting;
		waiting->tags[i].op = i;
	}
	grpc_metadata_array_init(&waiting->md);
	if (grpc_server_request_registered_call(server, method,
			&waiting->call, &waiting->deadline, &waiting->md, NULL,
			cq, cq, &waiting->tags[OP_NEW]) != GRPC_CALL_OK) {
		fputs("tl-fakespeech: cannot request a call\n", stderr);
		exit(1);
	}
}

static void accept_call(struct fcall *c)
{
	grpc_op ops[2];
	const char *bearer, *key, *proj;

	c->id = ++nstreams;
	c->first = -2;
	c->last = -2;
	c->last_audio = mono_ms();
	c->next = calls;
	calls = c;
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[0].data.recv_close_on_server.cancelled = &c->cancelled;
	start(c, OP_CLOSE, ops, 1);
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &c->rbuf;
	start(c, OP_RECV, ops, 2);

	bearer = md_get(c, "authorization");
	key = md_get(c, "x-goog-api-key");
	proj = md_get(c, "x-goog-user-project");
	logf_("open stream=%d project=%s key=%s bearer=%s", c->id,
	      proj ? proj : "", key ? key : "", bearer ? bearer + 7 : "");
	if (auth_token) {
		char want[300];

		snprintf(want, sizeof want, "Bearer %s", auth_token);
		if (!(bearer && strcmp(bearer, want) == 0) &&
		    !(key && strcmp(key, auth_token) == 0))
			finish(c, GRPC_STATUS_UNAUTHENTICATED, "Request had "
			       "invalid authentication credentials.");
	}
}

static void free_call(struct fcall *c)
{
	struct fcall **pp;

	for (pp = &calls; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	drop_queue(c);
	grpc_metadata_array_destroy(&c->md);
	grpc_call_unref(c->call);
	free(c->pend);
	free(c);
}

static void complete(struct tag *t, int ok)
{
	struct fcall *c = t->c;

	if (t->op == OP_NEW) {
		await_call();
		if (!ok) {
			grpc_metadata_array_destroy(&c->md);
			free(c);
			return;
		}
		accept_call(c);
		return;
	}
	c->outstanding--;
	switch (t->op) {
	case OP_RECV:
		if (!ok || !c->rbuf) {
			c->half_closed = 1;
			c->close_due = mono_ms() + close_delay_ms;
		} else {
			grpc_byte_buffer *b = c->rbuf;

			c->rbuf = NULL;
			if (!c->closing)
				request(c, b);
			grpc_byte_buffer_destroy(b);
			if (!c->cancelled)
				recv_next(c);
		}
		break;
	case OP_SEND:
		grpc_byte_buffer_destroy(c->sbuf);
		c->sbuf = NULL;
		c->sending = 0;
		if (!ok)
			drop_queue(c);
		pump(c);
		break;
	case OP_CLOSE:
		if (c->cancelled)
			drop_queue(c);
		break;
	}
	if (c->outstanding == 0 && (c->status_started || c->cancelled))
		free_call(c);
}

/* Timers: the last final after a half-close, and Google's audio timeout. */
static void tick(void)
{
	int64_t now = mono_ms();
	struct fcall *c;

	for (c = calls; c; c = c->next) {
		if (c->closing)
			continue;
		if (c->half_closed && now >= c->close_due) {
			if (close_final && c->got_config &&
			    c->bytes > c->fin) {
				if (c->npend > 0)
					c->last = c->pend[c->npend - 1];
				send_result(c, 1, c->bytes);
			}
			finish(c, GRPC_STATUS_OK, "");
		} else if (audio_timeout_s > 0 && !c->half_closed &&
			   now - c->last_audio > audio_timeout_s * 1000) {
			finish(c, GRPC_STATUS_OUT_OF_RANGE, "Audio Timeout "
			       "Error: Long duration elapsed without audio. "
			       "Audio should be sent close to real time.");
		}
	}
}

static void gen_blocks(long n, long first)
{
	char b[BLOCK + 8], num[24];
	long k;
	int i;

	for (k = first; k < first + n; k++) {
		snprintf(num, sizeof num, "%08ld", k % 100000000);
		for (i = 0; i < BLOCK; i += 8)
			memcpy(b + i, num, 8);
		if (fwrite(b, 1, BLOCK, stdout) != BLOCK)
			exit(1);
	}
	exit(fflush(stdout) == 0 ? 0 : 1);
}

static long long num(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "tl-fakespeech: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", 1, NULL, 'l' },
		{ "final-every", 1, NULL, 'f' },
		{ "interim-every", 1, NULL, 'i' },
		{ "unavailable-after-bytes", 1, NULL, 'u' },
		{ "drop-after-bytes", 1, NULL, 'd' },
		{ "max-stream-seconds", 1, NULL, 'm' },
		{ "audio-timeout", 1, NULL, 't' },
		{ "close-delay", 1, NULL, 'c' },
		{ "auth", 1, NULL, 'a' },
		{ "log", 1, NULL, 'L' },
		{ "no-close-final", 0, NULL, 'N' },
		{ "gen-blocks", 1, NULL, 'g' },
		{ "first", 1, NULL, 'F' },
		{ "cert", 1, NULL, 'C' },
		{ "key", 1, NULL, 'K' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen_addr = NULL, *cert = NULL, *key = NULL;
	grpc_server_credentials *creds;
	long gen = -1, first = 0;
	int o;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'l': listen_addr = optarg; break;
		case 'f': final_ms = (long)num(optarg); break;
		case 'i': interim_ms = (long)num(optarg); break;
		case 'u': unavailable_after = num(optarg); break;
		case 'd': drop_after = num(optarg); break;
		case 'm': max_stream_s = (long)num(optarg); break;
		case 't': audio_timeout_s = (long)num(optarg); break;
		case 'c': close_delay_ms = (long)num(optarg); break;
		case 'a': auth_token = optarg; break;
		case 'L': log_path = optarg; break;
		case 'N': close_final = 0; break;
		case 'g': gen = (long)num(optarg); break;
		case 'F': first = (long)num(optarg); break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		default:
			fputs("usage: tl-fakespeech --listen ADDR [options] | "
			      "--gen-blocks N\n", stderr);
			return 2;
		}
	}
	if (gen >= 0)
		gen_blocks(gen, first);
	/* finals on block boundaries at 8 kHz mu-law, the test format */
	if (!listen_addr || final_ms <= 0 || final_ms * 8 % BLOCK != 0 ||
	    interim_ms <= 0) {
		fputs("tl-fakespeech: need --listen, and --final-every a "
		      "multiple of 12.5 ms\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	method = grpc_server_register_method(server, METHOD, NULL,
					     GRPC_SRM_PAYLOAD_NONE, 0);
	if (!cert != !key) {
		fputs("tl-fakespeech: --cert and --key go together\n", stderr);
		return 2;
	}
	if (cert) {
		grpc_ssl_pem_key_cert_pair pair;

		pair.cert_chain = slurp(cert);
		pair.private_key = slurp(key);
		creds = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0,
							   NULL);
	} else {
		creds = grpc_insecure_server_credentials_create();
	}
	if (!grpc_server_add_http2_port(server, listen_addr, creds)) {
		fprintf(stderr, "tl-fakespeech: cannot listen on '%s'\n",
			listen_addr);
		return 1;
	}
	grpc_server_credentials_release(creds);
	grpc_server_start(server);
	await_call();
	for (;;) {
		gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				gpr_time_from_millis(20, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(cq, dl, NULL);

		if (ev.type == GRPC_OP_COMPLETE)
			complete(ev.tag, ev.success);
		tick();
	}
}
