/* gstt-serve: what the completion-queue thread, the workers and main share. */
#ifndef GSTT_SERVE_H
#define GSTT_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "google/cloud/speech/v1/cloud_speech.pb-c.h"

typedef Google__Cloud__Speech__V1__StreamingRecognizeRequest SpStreamReq;
typedef Google__Cloud__Speech__V1__StreamingRecognitionConfig SpStreamConf;
typedef Google__Cloud__Speech__V1__RecognitionConfig SpConf;
typedef Google__Cloud__Speech__V1__RecognizeRequest SpUnaryReq;

#define MAX_AUDIO_PER_MSG	25600	/* Google's limit per request */
#define MAX_UNARY_SECONDS	60	/* Google's limit for Recognize */
#define MSG_MAX			256	/* status messages */
/* Google's limits on the phrases of speech_contexts, per request */
#define MAX_PHRASES		5000
#define MAX_PHRASE_CHARS	100
#define MAX_PHRASES_CHARS	100000
#define MAX_BOOST		20	/* more counts as this much */

/* A recognition config that passed validation (request.c). */
struct sconf {
	int encoding;		/* ENCODING_MULAW or ENCODING_LINEAR16 */
	int rate;		/* 8000 or 16000 */
	int interim, single, vad_events, word_times, word_conf;
	int64_t start_timeout_us, end_timeout_us;	/* 0: none */
	char lang[36];
};

/*
 * The phrases of a config's speech_contexts, copied out of the request
 * in one allocation (the texts follow the array).
 */
struct hints {
	size_t n;
	struct hint {
		const char *text;	/* not empty */
		float boost;		/* 0 to MAX_BOOST */
	} v[];
};

enum { ENCODING_LINEAR16 = 1, ENCODING_MULAW = 3 };
/* protoc-c numbers the cases of a oneof by their fields */
enum { REQ_CONFIG = 1, REQ_AUDIO = 2, AUDIO_CONTENT = 1 };

/* request.c: parse a message (NULL if it does not); free it. */
SpStreamReq *req_unpack_stream(const uint8_t *p, size_t n);
SpUnaryReq *req_unpack_unary(const uint8_t *p, size_t n);
void req_free(void *msg);
/* Each returns GRPC_STATUS_OK or a code with msg filled in. */
grpc_status_code req_check_config(const SpConf *c, struct sconf *out,
				  char *msg, size_t msgsz);
grpc_status_code req_check_stream(const SpStreamReq *r, int first,
				  struct sconf *out, char *msg, size_t msgsz);
grpc_status_code req_check_unary(const SpUnaryReq *r, struct sconf *out,
				 char *msg, size_t msgsz);
/* The phrases of a checked config in *out (NULL: none); -1: no memory. */
int req_hints(const SpConf *c, struct hints **out);
/* Bytes of audio per second in the encoding and rate of c. */
int req_bytes_per_second(const struct sconf *c);

/* A word of a final result; times in microseconds of stream audio. */
struct word {
	char *word;
	int64_t start_us, end_us;
	float confidence;
};

/* One response waiting to be sent, built by a worker. */
struct item {
	struct item *next;
	enum { IT_EVENT, IT_RESULT, IT_UNARY } kind;
	int event;		/* IT_EVENT: SpeechEventType */
	int64_t time_us;	/* event time, or result_end_time */
	int final;
	float stability, confidence;
	char *text;
	size_t nwords;
	struct word *words;
	struct item *finals;	/* IT_UNARY: the final results, chained */
	int64_t billed_us;	/* >= 0 on the last response of a stream */
};

void item_free(struct item *);

struct decoder;
struct resampler;
struct stream;

/* What a batch's tag points at: the call and the kind of batch. */
struct tag {
	struct stream *s;
	int op;
};

/*
 * One call (streaming or unary).  Fields are grouped by who may touch
 * them; the stream is freed by the cq thread once no batch is pending,
 * no worker holds it and its decoder is back in the pool.
 */
struct stream {
	struct stream *next;		/* cq thread: the list of all calls */
	uint64_t id;
	int unary;
	int generic;			/* a method we do not have */

	/* cq thread only */
	grpc_call *call;
	grpc_metadata_array md;
	grpc_call_details details;	/* generic calls */
	gpr_timespec deadline;
	grpc_byte_buffer *rx, *tx;
	grpc_slice status_details;
	int cancelled;			/* RECV_CLOSE_ON_SERVER result */
	int outstanding;		/* batches started, not completed */
	int recv_armed, recv_done, recv_paused, send_busy;
	int status_started, status_done, close_done;
	int configured, counted;
	int64_t last_rx_ms;
	uint64_t rx_bytes;		/* audio bytes accepted */
	int64_t max_bytes;		/* --max-stream-seconds of audio */
	grpc_status_code fatal;		/* set: abandon output, send this */
	char fatal_msg[MSG_MAX];
	struct tag tags[5];
	int input_closed;		/* no more audio is taken */

	/* shared, under mu */
	pthread_mutex_t mu;
	struct sconf conf;
	struct hints *hints;		/* set with conf, read by workers */
	uint8_t *in;			/* audio not yet decoded */
	size_t inlen, incap;
	int in_eof, abort;
	grpc_status_code eof_code;	/* status after the last response */
	char eof_msg[MSG_MAX];
	struct item *out, **out_tail;
	int done;			/* worker: no more items */
	grpc_status_code done_code;
	char done_msg[MSG_MAX];
	int released;			/* decoder back in the pool, or none */
	int64_t decoded_us;		/* audio decoded, for billing */

	/* work queue membership, under the queue's lock (decode.c) */
	struct stream *wnext;
	int queued, running, wake;

	/* worker only (decode.c) */
	struct decoder *dec;
	struct resampler *rs;
	int has_odd;			/* a LINEAR16 sample split in two */
	uint8_t odd;
	int64_t pos16;			/* 16 kHz samples fed to the decoder */
	int in_speech, begun, partial_sent, utt_count, finished, utt_open;
	int64_t last_end16;		/* where the last utterance ended */
	int64_t last_partial16;
	char *last_partial;
	struct item *finals, **finals_tail;	/* unary */
	struct item *pend, **pend_tail;	/* made this turn, not yet out */
};

/* decode.c */
struct engine_opts {
	const char *model, *hmm, *dict, *lm;
	int pool, max_streams, workers;
	int vad_prespeech, vad_postspeech, vad_startspeech;
	double vad_threshold, lw;
	int keep_cmn;
};
int engine_start(const struct engine_opts *);
void engine_stop(void);
/* Queue s for a worker (cq thread, after adding input or setting abort). */
void engine_schedule(struct stream *s);
/* Whether no worker holds or will take s. */
int engine_idle(struct stream *s);
/* Decoders: idle in the pool, in use by streams. */
void engine_decoders(int *idle, int *busy);

/* hints.c: a decoder's search biased towards phrases, and back. */
struct ps_decoder_s;
int hints_apply(struct ps_decoder_s *ps, const char *search,
		const struct hints *h, uint64_t id);
void hints_undo(struct ps_decoder_s *ps, const char *search);

/* rpc.c */
struct rpc_opts {
	const char *listen;
	int audio_timeout_ms, max_stream_seconds, max_streams, drain_ms;
};
/* Serve until SIGTERM/SIGINT and the drain; 0, or 1 if it cannot. */
int rpc_run(const struct rpc_opts *);

/* metrics.c */
enum metric {
	M_STREAMS_TOTAL, M_UNARY_TOTAL, M_STREAMS_ACTIVE, M_AUDIO_US,
	M_RESULTS_FINAL, M_RESULTS_INTERIM, M_EVENTS, M_REJECTED, M_HINTED,
	M_COUNT
};
void metric_add(enum metric, int64_t n);
void metric_status(grpc_status_code code);
int metrics_start(const char *host, int port);
void metrics_stop(void);

#endif
