/* gstt-stream: shared state of its parts (main.c, input.c, events.c). */
#ifndef GSTT_H
#define GSTT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses beyond 0, 1 and 2 (see gstt-stream(1)). */
enum {
	EXIT_AUTH = 3,		/* no, bad or refused credentials */
	EXIT_INVALID = 4,	/* the service rejected the request */
	EXIT_GAVE_UP = 5	/* the service stayed unreachable */
};

/*
 * The audio timeline, in bytes of what is sent (one rate, one encoding
 * for the whole run), counted from the first byte of input.  Owned by
 * the main thread.
 */
struct timeline {
	int64_t bps;		/* bytes per second */
	int64_t align;		/* bytes per sample */
	int64_t base;		/* first byte of the current stream */
	int64_t sent;		/* next byte to send on it */
	int64_t fin;		/* end of the last final result */
	int64_t heard;		/* end of the last result of any kind */
	long long seq;		/* the utterance now being recognised */
	unsigned long long finals, interims;
};

/* Where events go and what they carry. */
struct out {
	const char *call_sid, *stream_sid, *track;	/* NULL: left out */
	int words;		/* add word time offsets */
	int alternatives;	/* more than 1: add the others */
	int languages;		/* add the language of each result */
	/* Write one whole line (ending in '\n'); -1 on failure. */
	int (*write_line)(void *ctx, const char *line, size_t len);
	void *ctx;
};

/* What a response held, for the main loop (resp_handle's result). */
enum {
	RESP_FINAL = 1,		/* a final result moved fin */
	RESP_EOSU = 2,		/* END_OF_SINGLE_UTTERANCE */
	RESP_BAD = 4,		/* not a StreamingRecognizeResponse */
	RESP_ERROR = 8,		/* carried an error status */
	RESP_WRITE = 16		/* an event could not be written */
};

/* events.c */
int resp_handle(const struct out *, struct timeline *, const uint8_t *p,
		size_t n);
int event_error(const struct out *, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Events of a recording's call: call.start (tracks) and call.stop. */
int event_call_start(const struct out *, const char *const *tracks, int n);
int event_call_stop(const struct out *, const char *reason);

/*
 * input.c: a reader thread fills one ring buffer of audio to send per
 * track (a channel of the files, or the one track of stdin or of a
 * mix-down).
 */
#define MAX_TRACKS 8

struct source;

struct ring {
	uint8_t *buf;
	size_t cap;
	int64_t tail, head;	/* absolute offsets held: [tail, head) */
	uint64_t dropped;	/* bytes dropped when live and full */
	int64_t last_ms;	/* mono_ms of the last bytes read */
};

struct input {
	pthread_mutex_t mu;	/* guards the rings and the flags */
	pthread_cond_t room;	/* broadcast when a tail moves */
	pthread_t thread;
	struct ring ring[MAX_TRACKS];
	int ntracks;
	int eof, stop;
	int live;		/* drop the oldest when full, never block */
	char error[320];	/* set with eof on a read error */

	/* what is sent */
	int mulaw, rate, realtime;
	int64_t bps, align;

	int fd;			/* raw input, or -1 */
	int channels;		/* of the first file (1 on stdin) */
	struct source *src;
	int nsrc;
};

struct input_state {
	int64_t tail, head, last_ms;
	uint64_t dropped;
	int eof, full;
};

/*
 * Raw audio on fd as given; files as libsndfile reads them (headerless
 * ones by their name, see input.c).  input_files sets in->channels.
 */
void input_raw(struct input *, int fd, int mulaw, int rate);
int input_files(struct input *, char **names, int n, int mulaw, int rate);
/*
 * ntracks 1 mixes every channel down; more sends channel k as track k
 * (every file must then have that many channels).
 */
int input_start(struct input *, int ntracks, double buffer_seconds,
		int realtime);
void input_get(struct input *, int k, struct input_state *);
/* Copy [off, off + n) of track k if all still held; the bytes copied. */
size_t input_copy(struct input *, int k, int64_t off, uint8_t *dst,
		  size_t n);
void input_release(struct input *, int k, int64_t off);
void input_stop(struct input *);

#endif
