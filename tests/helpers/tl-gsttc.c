/*
 * tl-gsttc: a minimal Google Speech v1 client for the tests of
 * gstt-serve.  It sends a streaming_config built from its flags, then a
 * raw audio file in chunks (as fast as the server takes them, or in real
 * time), prints each response as one JSON line and then the final status
 * as "status CODE message".
 *
 * The protobuf wire format is written and read by hand here, on purpose:
 * the field numbers are checked against the server by code that shares
 * nothing with the server's protoc-c output.  Flags also make the wrong
 * requests that validation must refuse.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <jansson.h>

#include "cli.h"
#include "clock.h"
#include "grpcpb.h"

static const char usage[] =
"usage: tl-gsttc [--addr ADDR] [--encoding E] [--rate N] [--lang L]\n"
"                [--channels N] [--model M] [--interim] [--single]\n"
"                [--events] [--words] [--word-conf] [--chunk MS]\n"
"                [--chunk-bytes N] [--realtime] [--stall SECONDS]\n"
"                [--no-config] [--config-twice] [--garbage] [--unary]\n"
"                [--deadline SECONDS] [--method PATH]\n"
"                [--start-timeout SECONDS] [--end-timeout SECONDS]\n"
"                [--phrase TEXT]... FILE\n";

/* --- writing protobuf ------------------------------------------------ */

struct pb {
	uint8_t *p;
	size_t n, cap;
};

static void pb_put(struct pb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			fprintf(stderr, "tl-gsttc: out of memory\n");
			exit(1);
		}
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	uint8_t c;

	do {
		c = v & 0x7f;
		v >>= 7;
		if (v)
			c |= 0x80;
		pb_put(b, &c, 1);
	} while (v);
}

static void pb_uint(struct pb *b, int field, uint64_t v)
{
	if (!v)
		return;
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, int field, const void *d, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	pb_put(b, d, n);
}

static void pb_str(struct pb *b, int field, const char *s)
{
	if (s && *s)
		pb_bytes(b, field, s, strlen(s));
}

/* --- reading protobuf ------------------------------------------------ */

struct rd {
	const uint8_t *p, *e;
};

static int rd_varint(struct rd *r, uint64_t *v)
{
	int shift = 0;

	*v = 0;
	while (r->p < r->e && shift < 64) {
		uint8_t c = *r->p++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
		shift += 7;
	}
	return -1;
}

/* Next field: number, wire type, its value or (wire type 2) its bytes. */
static int rd_field(struct rd *r, int *field, int *wt, uint64_t *v,
		    struct rd *sub)
{
	uint64_t key, n;

	if (r->p >= r->e || rd_varint(r, &key) != 0)
		return -1;
	*field = (int)(key >> 3);
	*wt = (int)(key & 7);
	*v = 0;
	switch (*wt) {
	case 0:
		return rd_varint(r, v);
	case 1:
	case 5:
		n = *wt == 1 ? 8 : 4;
		if ((uint64_t)(r->e - r->p) < n)
			return -1;
		memcpy(v, r->p, n);	/* little endian host */
		r->p += n;
		return 0;
	case 2:
		if (rd_varint(r, &n) != 0 || (uint64_t)(r->e - r->p) < n)
			return -1;
		sub->p = r->p;
		sub->e = r->p + n;
		r->p += n;
		return 0;
	}
	return -1;
}

static float as_float(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static json_t *str_of(struct rd s)
{
	return json_stringn((const char *)s.p, (size_t)(s.e - s.p));
}

static double duration(struct rd r)
{
	struct rd sub;
	uint64_t v;
	int f, wt;
	double d = 0;

	while (rd_field(&r, &f, &wt, &v, &sub) == 0) {
		if (f == 1 && wt == 0)
			d += (double)(int64_t)v;
		else if (f == 2 && wt == 0)
			d += (double)(int32_t)v / 1e9;
	}
	return d;
}

static json_t *word_info(struct rd r)
{
	json_t *o = json_object();
	struct rd sub;
	uint64_t v;
	int f, wt;

	while (rd_field(&r, &f, &wt, &v, &sub) == 0) {
		if (f == 1 && wt == 2)
			json_object_set_new(o, "start",
					    json_real(duration(sub)));
		else if (f == 2 && wt == 2)
			json_object_set_new(o, "end",
					    json_real(duration(sub)));
		else if (f == 3 && wt == 2)
			json_object_set_new(o, "word", str_of(sub));
		else if (f == 4 && wt == 5)
			json_object_set_new(o, "confidence",
					    json_real(as_float(v)));
	}
	return o;
}

static json_t *alternative(struct rd r)
{
	json_t *o = json_object(), *words = json_array();
	struct rd sub;
	uint64_t v;
	int f, wt;

	while (rd_field(&r, &f, &wt, &v, &sub) == 0) {
		if (f == 1 && wt == 2)
			json_object_set_new(o, "transcript", str_of(sub));
		else if (f == 2 && wt == 5)
			json_object_set_new(o, "confidence",
					    json_real(as_float(v)));
		else if (f == 3 && wt == 2)
			json_array_append_new(words, word_info(sub));
	}
	if (json_array_size(words))
		json_object_set_new(o, "words", words);
	else
		json_decref(words);
	if (!json_object_get(o, "transcript"))
		json_object_set_new(o, "transcript", json_string(""));
	return o;
}

/* StreamingRecognitionResult, or (unary) SpeechRecognitionResult. */
static json_t *result(struct rd r, int unary)
{
	json_t *o = json_object(), *alts = json_array();
	struct rd sub;
	uint64_t v;
	int f, wt;

	json_object_set_new(o, "final", json_boolean(unary));
	while (rd_field(&r, &f, &wt, &v, &sub) == 0) {
		if (f == 1 && wt == 2)
			json_array_append_new(alts, alternative(sub));
		else if (!unary && f == 2 && wt == 0)
			json_object_set_new(o, "final", json_boolean(v));
		else if (!unary && f == 3 && wt == 5)
			json_object_set_new(o, "stability",
					    json_real(as_float(v)));
		else if (f == 4 && wt == 2)
			json_object_set_new(o, "end",
					    json_real(duration(sub)));
		else if (f == (unary ? 5 : 6) && wt == 2)
			json_object_set_new(o, "lang", str_of(sub));
	}
	json_object_set_new(o, "alternatives", alts);
	return o;
}

static const char *event_name(uint64_t e)
{
	static const char *const names[] = {
		"SPEECH_EVENT_UNSPECIFIED", "END_OF_SINGLE_UTTERANCE",
		"SPEECH_ACTIVITY_BEGIN", "SPEECH_ACTIVITY_END",
		"SPEECH_ACTIVITY_TIMEOUT",
	};

	return e < 5 ? names[e] : "unknown";
}

/* Print one response; returns its speech event type (0 if none). */
static int print_response(const uint8_t *p, size_t n, int unary)
{
	struct rd r = { p, p + n }, sub;
	json_t *o = json_object(), *results = json_array();
	uint64_t v;
	int f, wt, event = 0;
	char *text;

	while (rd_field(&r, &f, &wt, &v, &sub) == 0) {
		if (unary) {
			if (f == 2 && wt == 2)
				json_array_append_new(results, result(sub, 1));
			else if (f == 3 && wt == 2)
				json_object_set_new(o, "billed",
						    json_real(duration(sub)));
			continue;
		}
		if (f == 1 && wt == 2)
			json_object_set_new(o, "error", json_true());
		else if (f == 2 && wt == 2)
			json_array_append_new(results, result(sub, 0));
		else if (f == 4 && wt == 0) {
			event = (int)v;
			json_object_set_new(o, "event",
					    json_string(event_name(v)));
		} else if (f == 8 && wt == 2)
			json_object_set_new(o, "time",
					    json_real(duration(sub)));
		else if (f == 5 && wt == 2)
			json_object_set_new(o, "billed",
					    json_real(duration(sub)));
	}
	if (r.p != r.e)
		json_object_set_new(o, "malformed", json_true());
	if (json_array_size(results) || unary)
		json_object_set_new(o, "results", results);
	else
		json_decref(results);
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
			  JSON_REAL_PRECISION(6));
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(o);
	return event;
}

/* --- the call -------------------------------------------------------- */

static struct {
	const char *addr, *lang, *model, *method;
	int encoding, rate, channels, interim, single, events, words;
	int word_conf, chunk_ms, chunk_bytes, realtime, no_config;
	int config_twice, garbage, unary;
	double stall, deadline, start_timeout, end_timeout;
	const char *phrases[16];	/* one speech_contexts entry */
	int nphrases;
} o = {
	.addr = "127.0.0.1:50051", .lang = "en-US", .encoding = 3,
	.rate = 8000, .chunk_ms = 100, .deadline = 120,
};

static void recognition_config(struct pb *c)
{
	pb_uint(c, 1, (uint64_t)o.encoding);
	pb_uint(c, 2, (uint64_t)o.rate);
	pb_str(c, 3, o.lang);
	if (o.nphrases > 0) {
		struct pb sc = { 0 };
		int i;

		for (i = 0; i < o.nphrases; i++)
			pb_str(&sc, 1, o.phrases[i]);
		pb_bytes(c, 6, sc.p, sc.n);
		free(sc.p);
	}
	pb_uint(c, 7, (uint64_t)o.channels);
	pb_uint(c, 8, (uint64_t)o.words);
	pb_str(c, 13, o.model);
	pb_uint(c, 15, (uint64_t)o.word_conf);
}

static struct pb streaming_config(void)
{
	struct pb c = { 0 }, sc = { 0 }, req = { 0 };

	recognition_config(&c);
	pb_bytes(&sc, 1, c.p, c.n);
	pb_uint(&sc, 2, (uint64_t)o.single);
	pb_uint(&sc, 3, (uint64_t)o.interim);
	pb_uint(&sc, 5, (uint64_t)o.events);
	if (o.start_timeout > 0 || o.end_timeout > 0) {
		struct pb vt = { 0 }, d = { 0 };
		double t[2] = { o.start_timeout, o.end_timeout };
		int i;

		for (i = 0; i < 2; i++) {
			if (t[i] <= 0)
				continue;
			uint64_t whole = (uint64_t)t[i];

			d.n = 0;
			pb_uint(&d, 1, whole);
			pb_uint(&d, 2, (uint64_t)((t[i] - (double)whole) * 1e9
						  + 0.5));
			pb_bytes(&vt, i + 1, d.p, d.n);
		}
		pb_bytes(&sc, 6, vt.p, vt.n);
		free(vt.p);
		free(d.p);
	}
	pb_bytes(&req, 1, sc.p, sc.n);
	free(c.p);
	free(sc.p);
	return req;
}

static struct pb unary_request(const uint8_t *audio, size_t n)
{
	struct pb c = { 0 }, a = { 0 }, req = { 0 };

	recognition_config(&c);
	pb_bytes(&a, 1, audio, n);
	pb_bytes(&req, 1, c.p, c.n);
	pb_bytes(&req, 2, a.p, a.n);
	free(c.p);
	free(a.p);
	return req;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	char *buf = cli_read_file(path, SIZE_MAX - 1, len);

	if (!buf) {
		fprintf(stderr, "tl-gsttc: cannot read '%s': %s\n", path,
			strerror(errno));
		exit(1);
	}
	return (uint8_t *)buf;
}

enum { T_START, T_STATUS, T_RECV, T_SEND, T_CLOSE };
static int tags[5];

static void start(grpc_call *call, grpc_op *ops, size_t n, int tag)
{
	if (grpc_call_start_batch(call, ops, n, &tags[tag], NULL) !=
	    GRPC_CALL_OK) {
		fprintf(stderr, "tl-gsttc: grpc_call_start_batch failed\n");
		exit(1);
	}
}

static grpc_byte_buffer *buffer_of(const void *p, size_t n)
{
	grpc_slice s = grpc_slice_from_copied_buffer(p, n);
	grpc_byte_buffer *b = grpc_raw_byte_buffer_create(&s, 1);

	grpc_slice_unref(s);
	return b;
}

static int run(const uint8_t *audio, size_t alen)
{
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(o.addr, creds, NULL);
	grpc_completion_queue *cq;
	grpc_slice method = grpc_slice_from_static_string(o.method ? o.method :
		o.unary ? "/google.cloud.speech.v1.Speech/Recognize" :
		"/google.cloud.speech.v1.Speech/StreamingRecognize");
	grpc_metadata_array imd, tmd;
	grpc_status_code code;
	grpc_slice details;
	grpc_byte_buffer *rx = NULL, *tx = NULL;
	grpc_call *call;
	grpc_op ops[2];
	size_t off = 0, step;
	int outstanding = 0, status_done = 0, send_busy = 0, closed = 0;
	int step_no = 0, stop_audio = 0, bps;
	int64_t t0 = mono_ms(), last_audio = t0;
	char *d;

	cq = grpc_completion_queue_create_for_next(NULL);
	bps = o.encoding == 1 ? 2 * o.rate : o.rate;
	if (bps <= 0)
		bps = 8000;
	step = o.chunk_bytes ? (size_t)o.chunk_bytes :
	       (size_t)bps * (size_t)o.chunk_ms / 1000;
	if (step == 0)
		step = 1;
	grpc_channel_credentials_release(creds);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
		method, NULL, gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
		gpr_time_from_millis((int64_t)(o.deadline * 1000),
				     GPR_TIMESPAN)), NULL);
	grpc_metadata_array_init(&imd);
	grpc_metadata_array_init(&tmd);
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	start(call, ops, 1, T_START);
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &tmd;
	ops[0].data.recv_status_on_client.status = &code;
	ops[0].data.recv_status_on_client.status_details = &details;
	start(call, ops, 1, T_STATUS);
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &imd;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &rx;
	start(call, ops, 2, T_RECV);
	outstanding = 3;

	while (!status_done || outstanding > 0) {
		int64_t now = mono_ms(), wait = 50;
		grpc_event ev;

		if (!send_busy && !closed && !status_done) {
			struct pb m = { 0 };
			int64_t due = o.realtime ? t0 + (int64_t)step_no *
				      o.chunk_ms : now;
			int have = 0;

			if (o.unary && step_no == 0) {
				m = unary_request(audio, alen);
				have = 1;
			} else if (o.unary) {
				;
			} else if (step_no == 0 && o.garbage) {
				pb_put(&m, "\x0a\xff\xff", 3);
				have = 1;
			} else if (step_no == 0 && !o.no_config) {
				m = streaming_config();
				have = 1;
			} else if (step_no == 2 && o.config_twice &&
				   !o.no_config) {
				m = streaming_config();
				have = 1;
			} else if (off < alen && !stop_audio && due <= now) {
				size_t k = alen - off < step ? alen - off
							     : step;

				pb_bytes(&m, 2, audio + off, k);
				off += k;
				have = 1;
				last_audio = now;
			} else if (off < alen && !stop_audio) {
				wait = due - now;
			}
			if (have) {
				tx = buffer_of(m.p, m.n);
				free(m.p);
				memset(ops, 0, sizeof ops);
				ops[0].op = GRPC_OP_SEND_MESSAGE;
				ops[0].data.send_message.send_message = tx;
				start(call, ops, 1, T_SEND);
				outstanding++;
				send_busy = 1;
				step_no++;
				continue;
			}
			if ((off >= alen || stop_audio || o.unary) &&
			    (now - last_audio) >= (int64_t)(o.stall * 1000)) {
				memset(ops, 0, sizeof ops);
				ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
				start(call, ops, 1, T_CLOSE);
				outstanding++;
				closed = 1;
			}
		}
		if (wait < 1)
			wait = 1;
		ev = grpc_completion_queue_next(cq, gpr_time_add(
			gpr_now(GPR_CLOCK_MONOTONIC),
			gpr_time_from_millis(wait, GPR_TIMESPAN)), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		outstanding--;
		if (ev.tag == &tags[T_STATUS]) {
			status_done = 1;
		} else if (ev.tag == &tags[T_SEND]) {
			send_busy = 0;
			grpc_byte_buffer_destroy(tx);
			tx = NULL;
		} else if (ev.tag == &tags[T_RECV] && rx) {
			grpc_byte_buffer_reader r;
			grpc_slice s;

			grpc_byte_buffer_reader_init(&r, rx);
			s = grpc_byte_buffer_reader_readall(&r);
			grpc_byte_buffer_reader_destroy(&r);
			if (print_response(GRPC_SLICE_START_PTR(s),
					   GRPC_SLICE_LENGTH(s), o.unary) == 1)
				stop_audio = 1;	/* END_OF_SINGLE_UTTERANCE */
			grpc_slice_unref(s);
			grpc_byte_buffer_destroy(rx);
			rx = NULL;
			memset(ops, 0, sizeof ops);
			ops[0].op = GRPC_OP_RECV_MESSAGE;
			ops[0].data.recv_message.recv_message = &rx;
			start(call, ops, 1, T_RECV);
			outstanding++;
		}
	}
	d = grpc_slice_to_c_string(details);
	printf("status %s %s\n", code == GRPC_STATUS_OK ? "OK" :
	       code == GRPC_STATUS_CANCELLED ? "CANCELLED" :
	       code == GRPC_STATUS_INVALID_ARGUMENT ? "INVALID_ARGUMENT" :
	       code == GRPC_STATUS_DEADLINE_EXCEEDED ? "DEADLINE_EXCEEDED" :
	       code == GRPC_STATUS_RESOURCE_EXHAUSTED ? "RESOURCE_EXHAUSTED" :
	       code == GRPC_STATUS_OUT_OF_RANGE ? "OUT_OF_RANGE" :
	       code == GRPC_STATUS_INTERNAL ? "INTERNAL" :
	       code == GRPC_STATUS_UNAVAILABLE ? "UNAVAILABLE" :
	       code == GRPC_STATUS_UNIMPLEMENTED ? "UNIMPLEMENTED" :
	       "OTHER", d);
	gpr_free(d);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&imd);
	grpc_metadata_array_destroy(&tmd);
	grpc_call_unref(call);
	grpc_channel_destroy(ch);
	cq_destroy_drained(cq);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int encoding_of(const char *s)
{
	static const char *const names[] = {
		"ENCODING_UNSPECIFIED", "LINEAR16", "FLAC", "MULAW", "AMR",
		"AMR_WB", "OGG_OPUS", "SPEEX_WITH_HEADER_BYTE", "MP3",
		"WEBM_OPUS",
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof *names; i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return (int)strtol(s, NULL, 10);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"addr", required_argument, NULL, 'a'},
		{"encoding", required_argument, NULL, 'e'},
		{"rate", required_argument, NULL, 'r'},
		{"lang", required_argument, NULL, 'l'},
		{"channels", required_argument, NULL, 'C'},
		{"model", required_argument, NULL, 'm'},
		{"interim", no_argument, NULL, 'i'},
		{"single", no_argument, NULL, 's'},
		{"events", no_argument, NULL, 'E'},
		{"words", no_argument, NULL, 'w'},
		{"word-conf", no_argument, NULL, 'W'},
		{"chunk", required_argument, NULL, 'c'},
		{"chunk-bytes", required_argument, NULL, 'b'},
		{"realtime", no_argument, NULL, 'R'},
		{"stall", required_argument, NULL, 'S'},
		{"no-config", no_argument, NULL, 'n'},
		{"config-twice", no_argument, NULL, 't'},
		{"garbage", no_argument, NULL, 'g'},
		{"unary", no_argument, NULL, 'u'},
		{"deadline", required_argument, NULL, 'd'},
		{"method", required_argument, NULL, 'M'},
		{"start-timeout", required_argument, NULL, 'T'},
		{"end-timeout", required_argument, NULL, 'U'},
		{"phrase", required_argument, NULL, 'P'},
		{NULL, 0, NULL, 0},
	};
	uint8_t *audio;
	size_t alen;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': o.addr = optarg; break;
		case 'e': o.encoding = encoding_of(optarg); break;
		case 'r': o.rate = (int)strtol(optarg, NULL, 10); break;
		case 'l': o.lang = optarg; break;
		case 'C': o.channels = (int)strtol(optarg, NULL, 10); break;
		case 'm': o.model = optarg; break;
		case 'i': o.interim = 1; break;
		case 's': o.single = 1; break;
		case 'E': o.events = 1; break;
		case 'w': o.words = 1; break;
		case 'W': o.word_conf = 1; break;
		case 'c': o.chunk_ms = (int)strtol(optarg, NULL, 10); break;
		case 'b': o.chunk_bytes = (int)strtol(optarg, NULL, 10); break;
		case 'R': o.realtime = 1; break;
		case 'S': o.stall = strtod(optarg, NULL); break;
		case 'n': o.no_config = 1; break;
		case 't': o.config_twice = 1; break;
		case 'g': o.garbage = 1; break;
		case 'u': o.unary = 1; break;
		case 'd': o.deadline = strtod(optarg, NULL); break;
		case 'M': o.method = optarg; break;
		case 'T': o.start_timeout = strtod(optarg, NULL); break;
		case 'U': o.end_timeout = strtod(optarg, NULL); break;
		case 'P':
			if (o.nphrases == 16) {
				fputs("tl-gsttc: at most 16 --phrase\n", stderr);
				return 2;
			}
			o.phrases[o.nphrases++] = optarg;
			break;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (o.chunk_ms <= 0)
		o.chunk_ms = 100;
	audio = read_file(argv[optind], &alen);
	grpc_init();
	rc = run(audio, alen);
	grpc_shutdown();
	free(audio);
	return rc;
}
