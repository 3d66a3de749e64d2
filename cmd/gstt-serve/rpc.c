/*
 * The gRPC side: one completion queue, served by one thread (the main
 * thread), which alone starts batches and owns every grpc_call.
 *
 * Per call, at most one batch of each kind is in flight (grpc's rule):
 * RECV (initial metadata out + one message in, then one message in at a
 * time), CLOSE (RECV_CLOSE_ON_SERVER, completes when the call is over),
 * SEND (one response at a time) and STATUS (once).  Every started batch
 * completes exactly once, even on a cancelled call, so a call is freed
 * only when its count of outstanding batches is back to zero.
 *
 * Received audio goes to the stream's input buffer and the stream to the
 * work queue (decode.c); workers put responses on the stream's output
 * list.  The queue is waited on with a short deadline (POLL_MS), and after
 * each wakeup every stream is looked at: a response to send, a status to
 * finish with, an audio timeout, a stream to free.  Decoding never runs
 * here, so a slow decoder delays no other call.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "clock.h"
#include "grpcpb.h"
#include "gstt-serve.h"
#include "log.h"

#define POLL_MS		5
#define BACKLOG_SECONDS	10	/* undecoded audio before we stop reading */

typedef Google__Cloud__Speech__V1__StreamingRecognizeResponse SpResp;
typedef Google__Cloud__Speech__V1__StreamingRecognitionResult SpResult;
typedef Google__Cloud__Speech__V1__SpeechRecognitionAlternative SpAlt;
typedef Google__Cloud__Speech__V1__WordInfo SpWord;
typedef Google__Cloud__Speech__V1__RecognizeResponse SpUnaryResp;
typedef Google__Cloud__Speech__V1__SpeechRecognitionResult SpUnaryResult;
typedef Google__Protobuf__Duration Duration;

enum { OP_RECV, OP_SEND, OP_STATUS, OP_CLOSE, OP_NEW };

static const struct rpc_opts *ro;
static grpc_server *server;
static grpc_completion_queue *cq;
static void *method_stream, *method_unary;
static struct stream *streams;
static int nactive, npending;
static uint64_t next_id;
static volatile sig_atomic_t got_signal;
static const char cancelled_msg[] = "The call was cancelled.";

static void on_signal(int sig)
{
	(void)sig;
	got_signal++;
}

static struct stream *stream_new(int unary)
{
	struct stream *s = calloc(1, sizeof *s);
	int i;

	if (!s)
		die(1, "out of memory");
	s->unary = unary;
	s->id = ++next_id;
	s->released = 1;	/* until it holds a decoder slot */
	s->out_tail = &s->out;
	s->status_details = grpc_empty_slice();
	grpc_metadata_array_init(&s->md);
	grpc_call_details_init(&s->details);
	pthread_mutex_init(&s->mu, NULL);
	for (i = 0; i < 5; i++) {
		s->tags[i].s = s;
		s->tags[i].op = i;
	}
	return s;
}

static void stream_free(struct stream *s)
{
	struct item *it, *next;

	for (it = s->out; it; it = next) {
		next = it->next;
		item_free(it);
	}
	for (it = s->finals; it; it = next) {
		next = it->next;
		item_free(it);
	}
	if (s->call)
		grpc_call_unref(s->call);
	if (s->rx)
		grpc_byte_buffer_destroy(s->rx);
	if (s->tx)
		grpc_byte_buffer_destroy(s->tx);
	grpc_slice_unref(s->status_details);
	grpc_metadata_array_destroy(&s->md);
	grpc_call_details_destroy(&s->details);
	pthread_mutex_destroy(&s->mu);
	free(s->hints);
	free(s->in);
	free(s);
}

/* kind: 0 StreamingRecognize, 1 Recognize, 2 any other method */
static void request_call(int kind)
{
	struct stream *s = stream_new(kind == 1);
	grpc_call_error e;

	if (kind == 2) {
		/* else a call to an unknown method waits for its deadline */
		s->generic = 1;
		e = grpc_server_request_call(server, &s->call, &s->details,
					     &s->md, cq, cq, &s->tags[OP_NEW]);
	} else {
		e = grpc_server_request_registered_call(server, kind ?
				method_unary : method_stream, &s->call,
				&s->deadline, &s->md, NULL, cq, cq,
				&s->tags[OP_NEW]);
	}
	if (e != GRPC_CALL_OK) {
		log_error("cannot request a call: error %d", (int)e);
		stream_free(s);
		return;
	}
	npending++;
}

static void start_batch(struct stream *s, const grpc_op *ops, size_t n,
			int op)
{
	grpc_call_error e;

	e = grpc_call_start_batch(s->call, ops, n, &s->tags[op], NULL);
	if (e != GRPC_CALL_OK)
		die(1, "grpc_call_start_batch: error %d", (int)e);
	s->outstanding++;
}

static void arm_recv(struct stream *s, int first)
{
	grpc_op ops[2];
	size_t n = 0;

	memset(ops, 0, sizeof ops);
	if (first) {
		ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
		n++;
	}
	ops[n].op = GRPC_OP_RECV_MESSAGE;
	ops[n].data.recv_message.recv_message = &s->rx;
	n++;
	start_batch(s, ops, n, OP_RECV);
	s->recv_armed = 1;
	s->recv_paused = 0;
	s->last_rx_ms = mono_ms();
}

/* Give up on s: drop what is queued, tell the worker, send code. */
static void fail(struct stream *s, grpc_status_code code, const char *msg)
{
	struct item *it, *next;

	if (s->fatal || s->status_started)
		return;
	log_info("stream %llu: %s: %s", (unsigned long long)s->id,
		 grpc_code_name(code), msg);
	s->fatal = code;
	snprintf(s->fatal_msg, sizeof s->fatal_msg, "%s", msg);
	s->input_closed = 1;
	pthread_mutex_lock(&s->mu);
	s->abort = 1;
	it = s->out;
	s->out = NULL;
	s->out_tail = &s->out;
	pthread_mutex_unlock(&s->mu);
	for (; it; it = next) {
		next = it->next;
		item_free(it);
	}
	if (s->counted)
		engine_schedule(s);
}

/* No more audio: the worker finishes the utterance, then code is sent. */
static void close_input(struct stream *s, grpc_status_code code,
			const char *msg)
{
	if (s->input_closed)
		return;
	if (code != GRPC_STATUS_OK)
		log_info("stream %llu: %s: %s", (unsigned long long)s->id,
			 grpc_code_name(code), msg);
	s->input_closed = 1;
	pthread_mutex_lock(&s->mu);
	s->in_eof = 1;
	s->eof_code = code;
	snprintf(s->eof_msg, sizeof s->eof_msg, "%s", msg);
	pthread_mutex_unlock(&s->mu);
	engine_schedule(s);
}

static void append_audio(struct stream *s, const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&s->mu);
	if (s->inlen + n > s->incap) {
		size_t cap = s->incap ? s->incap : 4096;
		uint8_t *q;

		while (cap < s->inlen + n)
			cap *= 2;
		q = realloc(s->in, cap);
		if (!q)
			die(1, "out of memory");
		s->in = q;
		s->incap = cap;
	}
	memcpy(s->in + s->inlen, p, n);
	s->inlen += n;
	pthread_mutex_unlock(&s->mu);
	s->rx_bytes += n;
}

/*
 * Take a decoder slot for s, or refuse it.  The phrases are copied here,
 * not turned into a language model: that is a worker's job (decode.c).
 */
static int admit(struct stream *s, const struct sconf *c, const SpConf *rc)
{
	char msg[MSG_MAX];
	struct hints *h;

	if (nactive >= ro->max_streams) {
		snprintf(msg, sizeof msg, "Too many concurrent streams: this "
			 "server decodes at most %d at once.",
			 ro->max_streams);
		fail(s, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
		return -1;
	}
	if (req_hints(rc, &h) < 0)
		die(1, "out of memory");
	nactive++;
	s->counted = 1;
	s->configured = 1;
	pthread_mutex_lock(&s->mu);
	s->conf = *c;
	s->hints = h;
	s->released = 0;
	pthread_mutex_unlock(&s->mu);
	s->max_bytes = (int64_t)ro->max_stream_seconds *
		       req_bytes_per_second(c);
	metric_add(M_STREAMS_ACTIVE, 1);
	return 0;
}

static void on_unary(struct stream *s, const uint8_t *p, size_t n)
{
	char msg[MSG_MAX];
	struct sconf c;
	SpUnaryReq *r;
	grpc_status_code code;

	r = req_unpack_unary(p, n);
	code = req_check_unary(r, &c, msg, sizeof msg);
	if (code != GRPC_STATUS_OK) {
		fail(s, code, msg);
	} else if (admit(s, &c, r->config) == 0) {
		append_audio(s, r->audio->content.data, r->audio->content.len);
		close_input(s, GRPC_STATUS_OK, "");
	}
	req_free(r);
	s->recv_done = 1;
}

static void on_streaming(struct stream *s, const uint8_t *p, size_t n)
{
	char msg[MSG_MAX];
	struct sconf c;
	SpStreamReq *r;
	grpc_status_code code;
	size_t len;

	r = req_unpack_stream(p, n);
	code = req_check_stream(r, !s->configured, &c, msg, sizeof msg);
	if (code != GRPC_STATUS_OK) {
		fail(s, code, msg);
	} else if (!s->configured) {
		if (admit(s, &c, r->streaming_config->config) == 0)
			engine_schedule(s);	/* fetches a decoder */
	} else if (!s->input_closed &&
		   (int)r->streaming_request_case == REQ_AUDIO) {
		len = r->audio_content.len;
		if ((int64_t)(s->rx_bytes + len) > s->max_bytes)
			len = (size_t)(s->max_bytes - (int64_t)s->rx_bytes);
		append_audio(s, r->audio_content.data, len);
		if (len < r->audio_content.len) {
			snprintf(msg, sizeof msg, "Exceeded maximum allowed "
				 "stream duration of %d seconds.",
				 ro->max_stream_seconds);
			close_input(s, GRPC_STATUS_OUT_OF_RANGE, msg);
		} else {
			engine_schedule(s);
		}
	}
	req_free(r);
}

static size_t backlog(struct stream *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->inlen;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void on_recv(struct stream *s, int ok)
{
	grpc_byte_buffer_reader rd;
	grpc_slice sl;

	s->recv_armed = 0;
	if (!ok) {
		s->recv_done = 1;
		fail(s, GRPC_STATUS_CANCELLED, cancelled_msg);
		return;
	}
	if (!s->rx) {
		/* the client half-closed */
		s->recv_done = 1;
		if (!s->configured && !s->fatal)
			fail(s, GRPC_STATUS_INVALID_ARGUMENT, s->unary ?
			     "Invalid request: no RecognizeRequest was sent." :
			     "Invalid request: the stream ended before its "
			     "'streaming_config'.");
		else if (s->configured)
			close_input(s, GRPC_STATUS_OK, "");
		return;
	}
	if (!grpc_byte_buffer_reader_init(&rd, s->rx))
		die(1, "cannot read a received message");
	sl = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	grpc_byte_buffer_destroy(s->rx);
	s->rx = NULL;
	if (!s->fatal && !s->input_closed) {
		if (s->unary)
			on_unary(s, GRPC_SLICE_START_PTR(sl),
				 GRPC_SLICE_LENGTH(sl));
		else
			on_streaming(s, GRPC_SLICE_START_PTR(sl),
				     GRPC_SLICE_LENGTH(sl));
	}
	grpc_slice_unref(sl);
	if (s->recv_done || s->fatal || s->status_started)
		return;
	if (s->configured && backlog(s) > (size_t)BACKLOG_SECONDS *
	    (size_t)req_bytes_per_second(&s->conf))
		s->recv_paused = 1;	/* let the decoder catch up */
	else
		arm_recv(s, 0);
}

static void set_duration(Duration *d, int64_t us)
{
	google__protobuf__duration__init(d);
	duration_set_us(d, us);
}

/* The words of it as WordInfo messages, storage in words and times. */
static SpWord **word_infos(const struct item *it, const struct sconf *c,
			   SpWord *words, Duration *times)
{
	SpWord **pw = calloc(it->nwords ? it->nwords : 1, sizeof *pw);
	size_t i;

	if (!pw)
		die(1, "out of memory");
	for (i = 0; i < it->nwords; i++) {
		google__cloud__speech__v1__word_info__init(&words[i]);
		words[i].word = it->words[i].word;
		if (c->word_times) {
			set_duration(&times[2 * i], it->words[i].start_us);
			set_duration(&times[2 * i + 1], it->words[i].end_us);
			words[i].start_time = &times[2 * i];
			words[i].end_time = &times[2 * i + 1];
		}
		if (c->word_conf)
			words[i].confidence = it->words[i].confidence;
		pw[i] = &words[i];
	}
	return pw;
}

/* Google reports the language in lower case ("en-us"). */
static void lower_lang(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n && src[i]; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32
							      : src[i]);
	dst[i] = '\0';
}

struct alt_store {
	SpAlt alt, *palt;
	SpWord *words, **pwords;
	Duration *times, end;
};

static void alt_fill(struct alt_store *a, const struct item *it,
		     const struct sconf *c)
{
	google__cloud__speech__v1__speech_recognition_alternative__init(
		&a->alt);
	a->alt.transcript = it->text;
	if (it->final)
		a->alt.confidence = it->confidence;
	a->words = calloc(it->nwords + 1, sizeof *a->words);
	a->times = calloc(2 * it->nwords + 1, sizeof *a->times);
	if (!a->words || !a->times)
		die(1, "out of memory");
	a->pwords = word_infos(it, c, a->words, a->times);
	a->alt.n_words = it->nwords;
	a->alt.words = a->pwords;
	a->palt = &a->alt;
	set_duration(&a->end, it->time_us);
}

static void alt_free(struct alt_store *a)
{
	free(a->words);
	free(a->times);
	free(a->pwords);
}

static grpc_byte_buffer *pack_unary(struct stream *s, struct item *it)
{
	SpUnaryResp r = GOOGLE__CLOUD__SPEECH__V1__RECOGNIZE_RESPONSE__INIT;
	SpUnaryResult *res, **pres;
	struct alt_store *as;
	grpc_byte_buffer *b;
	struct item *f;
	Duration billed;
	char lang[sizeof s->conf.lang];
	size_t n = 0, i;

	lower_lang(lang, s->conf.lang, sizeof lang);
	for (f = it->finals; f; f = f->next)
		n++;
	res = calloc(n + 1, sizeof *res);
	pres = calloc(n + 1, sizeof *pres);
	as = calloc(n + 1, sizeof *as);
	if (!res || !pres || !as)
		die(1, "out of memory");
	for (f = it->finals, i = 0; f; f = f->next, i++) {
		google__cloud__speech__v1__speech_recognition_result__init(
			&res[i]);
		alt_fill(&as[i], f, &s->conf);
		res[i].n_alternatives = 1;
		res[i].alternatives = &as[i].palt;
		res[i].result_end_time = &as[i].end;
		res[i].language_code = lang;
		pres[i] = &res[i];
	}
	r.n_results = n;
	r.results = pres;
	if (it->billed_us >= 0) {
		set_duration(&billed, it->billed_us);
		r.total_billed_time = &billed;
	}
	b = pb_to_buffer(&r.base);
	for (i = 0; i < n; i++)
		alt_free(&as[i]);
	free(as);
	free(pres);
	free(res);
	return b;
}

static grpc_byte_buffer *pack(struct stream *s, struct item *it)
{
	SpResp r;
	SpResult res, *pres = &res;
	struct alt_store as;
	Duration when, billed;
	grpc_byte_buffer *b;
	char lang[sizeof s->conf.lang];

	if (it->kind == IT_UNARY)
		return pack_unary(s, it);
	google__cloud__speech__v1__streaming_recognize_response__init(&r);
	google__cloud__speech__v1__streaming_recognition_result__init(&res);
	memset(&as, 0, sizeof as);
	if (it->billed_us >= 0) {
		set_duration(&billed, it->billed_us);
		r.total_billed_time = &billed;
	}
	if (it->kind == IT_EVENT) {
		r.speech_event_type = it->event;
		set_duration(&when, it->time_us);
		r.speech_event_time = &when;
		return pb_to_buffer(&r.base);
	}
	alt_fill(&as, it, &s->conf);
	res.n_alternatives = 1;
	res.alternatives = &as.palt;
	res.is_final = it->final;
	if (!it->final)
		res.stability = it->stability;
	res.result_end_time = &as.end;
	lower_lang(lang, s->conf.lang, sizeof lang);
	res.language_code = lang;
	r.n_results = 1;
	r.results = &pres;
	b = pb_to_buffer(&r.base);
	alt_free(&as);
	return b;
}

static void send_item(struct stream *s, struct item *it)
{
	grpc_op op;

	s->tx = pack(s, it);
	item_free(it);
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = s->tx;
	start_batch(s, &op, 1, OP_SEND);
	s->send_busy = 1;
}

static void send_status(struct stream *s, grpc_status_code code,
			const char *msg)
{
	grpc_op ops[2];
	size_t n = 0;

	s->status_started = 1;
	grpc_slice_unref(s->status_details);
	s->status_details = grpc_slice_from_copied_string(msg);
	memset(ops, 0, sizeof ops);
	if (s->generic)		/* no RECV batch sent them */
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details =
		&s->status_details;
	n++;
	start_batch(s, ops, n, OP_STATUS);
	metric_status(code);
	log_debug("stream %llu: status %s", (unsigned long long)s->id,
		  grpc_code_name(code));
}

static void start_call(struct stream *s)
{
	grpc_op op;

	s->next = streams;
	streams = s;
	if (s->generic) {
		char *m = grpc_slice_to_c_string(s->details.method);
		char msg[MSG_MAX];

		snprintf(msg, sizeof msg, "Method not found: %s", m);
		gpr_free(m);
		memset(&op, 0, sizeof op);
		op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
		op.data.recv_close_on_server.cancelled = &s->cancelled;
		start_batch(s, &op, 1, OP_CLOSE);
		fail(s, GRPC_STATUS_UNIMPLEMENTED, msg);
		return;
	}
	metric_add(s->unary ? M_UNARY_TOTAL : M_STREAMS_TOTAL, 1);
	log_debug("stream %llu: new %s call", (unsigned long long)s->id,
		  s->unary ? "Recognize" : "StreamingRecognize");
	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &s->cancelled;
	start_batch(s, &op, 1, OP_CLOSE);
	arm_recv(s, 1);
}

static void on_event(struct stream *s, int op, int ok)
{
	if (op != OP_NEW)
		s->outstanding--;
	switch (op) {
	case OP_NEW:
		npending--;
		if (!ok) {
			stream_free(s);	/* the server is shutting down */
			return;
		}
		start_call(s);
		if (!got_signal)
			request_call(s->generic ? 2 : s->unary);
		break;
	case OP_RECV:
		on_recv(s, ok);
		break;
	case OP_SEND:
		s->send_busy = 0;
		grpc_byte_buffer_destroy(s->tx);
		s->tx = NULL;
		if (!ok)
			fail(s, GRPC_STATUS_CANCELLED, cancelled_msg);
		break;
	case OP_STATUS:
		s->status_done = 1;
		break;
	case OP_CLOSE:
		s->close_done = 1;
		if (s->cancelled)
			fail(s, GRPC_STATUS_CANCELLED, cancelled_msg);
		break;
	}
}

/* Look at one stream: send, time out, or free it.  1 if it was freed. */
static int poll_stream(struct stream *s, int64_t now)
{
	struct item *it = NULL;
	int done = 0, released;
	grpc_status_code code = GRPC_STATUS_OK;
	char msg[MSG_MAX];

	if (s->fatal && !s->send_busy && !s->status_started) {
		send_status(s, s->fatal, s->fatal_msg);
	} else if (!s->send_busy && !s->status_started) {
		pthread_mutex_lock(&s->mu);
		it = s->out;
		if (it) {
			s->out = it->next;
			if (!s->out)
				s->out_tail = &s->out;
		} else if (s->done) {
			done = 1;
			code = s->done_code;
			memcpy(msg, s->done_msg, sizeof msg);
		}
		pthread_mutex_unlock(&s->mu);
		if (it)
			send_item(s, it);
		else if (done)
			send_status(s, code, msg);
	}
	if (s->recv_paused && !s->fatal && backlog(s) <
	    (size_t)req_bytes_per_second(&s->conf) * BACKLOG_SECONDS / 2)
		arm_recv(s, 0);
	if (s->recv_armed && !s->input_closed && !s->fatal &&
	    !s->status_started && now - s->last_rx_ms > ro->audio_timeout_ms) {
		const char *m = "Audio Timeout Error: Long duration elapsed "
				"without audio. Audio should be sent close to "
				"real time.";

		if (s->configured)
			close_input(s, GRPC_STATUS_OUT_OF_RANGE, m);
		else
			fail(s, GRPC_STATUS_OUT_OF_RANGE, m);
	}
	if (s->outstanding > 0 || !s->status_done || !s->close_done)
		return 0;
	pthread_mutex_lock(&s->mu);
	released = s->released;
	pthread_mutex_unlock(&s->mu);
	if (!released || !engine_idle(s))
		return 0;
	if (s->counted)
		nactive--;
	log_debug("stream %llu: freed", (unsigned long long)s->id);
	stream_free(s);
	return 1;
}

static void poll_all(void)
{
	int64_t now = mono_ms();
	struct stream **pp = &streams, *s;

	while ((s = *pp)) {
		struct stream *next = s->next;

		if (poll_stream(s, now))
			*pp = next;
		else
			pp = &s->next;
	}
}

int rpc_run(const struct rpc_opts *o)
{
	grpc_arg arg;
	grpc_channel_args args;
	grpc_server_credentials *creds;
	struct sigaction sa;
	int port, shutdown_tag, shutdown_done = 0, draining = 0, cancelled = 0;
	int64_t drain_end = 0;

	ro = o;
	memset(&arg, 0, sizeof arg);
	arg.type = GRPC_ARG_INTEGER;
	arg.key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	arg.value.integer = 16 << 20;	/* a minute of LINEAR16 is 1.9 MB */
	args.num_args = 1;
	args.args = &arg;
	cq = grpc_completion_queue_create_for_next(NULL);
	server = grpc_server_create(&args, NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	method_stream = grpc_server_register_method(server,
			"/google.cloud.speech.v1.Speech/StreamingRecognize",
			NULL, GRPC_SRM_PAYLOAD_NONE, 0);
	method_unary = grpc_server_register_method(server,
			"/google.cloud.speech.v1.Speech/Recognize", NULL,
			GRPC_SRM_PAYLOAD_NONE, 0);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(server, o->listen, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		log_error("cannot listen on '%s'", o->listen);
		grpc_server_destroy(server);
		cq_destroy_drained(cq);
		return 1;
	}
	grpc_server_start(server);
	log_info("listening on %s (port %d)", o->listen, port);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	request_call(0);
	request_call(1);
	request_call(2);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq,
			gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				     gpr_time_from_millis(POLL_MS,
							  GPR_TIMESPAN)),
			NULL);

		if (ev.type == GRPC_OP_COMPLETE) {
			if (ev.tag == &shutdown_tag)
				shutdown_done = 1;
			else {
				struct tag *t = ev.tag;

				on_event(t->s, t->op, ev.success);
			}
		}
		poll_all();
		if (got_signal && !draining) {
			draining = 1;
			log_info("draining: %d streams, up to %d ms",
				 nactive, o->drain_ms);
			grpc_server_shutdown_and_notify(server, cq,
							&shutdown_tag);
			drain_end = mono_ms() + o->drain_ms;
		}
		if (draining && !cancelled &&
		    (mono_ms() >= drain_end || got_signal > 1)) {
			log_info("drain time over: cancelling every call");
			grpc_server_cancel_all_calls(server);
			cancelled = 1;
		}
		if (draining && shutdown_done && !streams && npending == 0)
			break;
	}
	grpc_server_destroy(server);
	cq_destroy_drained(cq);
	return 0;
}
