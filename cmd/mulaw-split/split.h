/*
 * mulaw-split: what its files share.  main.c runs the loop and reads
 * stdin, stream.c keeps the streams and speaks events, timing.c places
 * each track's chunks on the stream clock, sink.c writes audio outputs
 * (files, FIFOs, the stereo file, a child's stdin), child.c runs --exec.
 */
#ifndef MULAW_SPLIT_H
#define MULAW_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <sndfile.h>

#include "obuf.h"

#define BYTES_PER_MS	8	/* 8000 Hz, one byte a sample */
#define MAX_HELD	32	/* chunks held per track for reordering */
#define SID_MAX		64	/* sid_ok's limit */

enum fmt { FMT_ULAW, FMT_S16LE, FMT_WAV };
enum { TR_IN, TR_OUT, NTRACK };

extern const char *const track_name[NTRACK];

struct opts {
	const char *out;	/* --out pattern */
	const char *stereo;	/* --stereo pattern */
	const char *exec;	/* --exec command */
	enum fmt format;
	unsigned tracks;	/* bit per track */
	size_t buffer;		/* bound of each output queue */
	int wait;		/* --wait: backpressure instead of drops */
	int64_t jitter;		/* bytes */
	int64_t reorder;	/* bytes */
	int64_t max_gap;	/* bytes */
	int64_t stop_timeout;	/* ms */
};
extern struct opts opt;

/*
 * A descriptor in the loop's epoll set (main.c).  It is registered only
 * while there is something to wait for on it, and must leave the set
 * (loop_unwatch) before its descriptor is closed.
 */
enum wkind { W_SIG, W_STDIN, W_STDOUT, W_SINK, W_CHILD };

/* The struct of type that has member m at p. */
#define container_of(p, type, m) \
	((type *)(void *)((char *)(p) - offsetof(type, m)))

struct watch {
	enum wkind kind;	/* what the owner is: see the loop */
	int fd;
	uint32_t events;	/* registered now; 0 when not in the set */
	uint32_t slot;		/* while registered: its slot in the loop */
	int always;		/* epoll refused fd: reported always ready */
	int refused;		/* epoll refused fd before */
};

/*
 * An audio output.  Data arrives as mu-law (interleaved when channels is
 * 2) and is converted to the sink's format on the way into its queue.
 * A FIFO without a reader has fd -1 in ob and state SINK_WAIT.
 */
enum sink_state { SINK_OPEN, SINK_WAIT, SINK_FAILED, SINK_CLOSED };

struct sink {
	struct sink *next, *prev;	/* every sink (g.sinks) */
	struct sink *dirty_next;	/* written since the last flush */
	int dirty;
	struct watch w;			/* fd, while its queue waits on it */
	struct stream *st;
	int track;			/* TR_*, or -1 for a stereo file */
	struct child *child;		/* set when this is a child's stdin */
	char *path;			/* NULL for a child's stdin */
	int channels;
	enum sink_state state;
	int closing;			/* track ended: drain, then close */
	int64_t deadline;		/* closing: give up draining then */
	int64_t retry_at;		/* SINK_WAIT: next open attempt */
	int regular;			/* a regular file: never EAGAIN */
	dev_t dev;
	ino_t ino;
	SNDFILE *sf;			/* WAV into a regular file */
	struct obuf ob;
	uint64_t dropped;		/* frames not written */
	int warned;			/* overflow already reported */
	int over;			/* queue over half full (g.nover) */
};

/* A --exec child: one per (stream, track). */
enum child_state {
	CH_RUNNING,	/* its track is live */
	CH_DRAINING,	/* track ended: its queued audio is still going in */
	CH_WAITING,	/* stdin closed: waiting for it to exit */
	CH_TERM,	/* sent SIGTERM after --stop-timeout */
	CH_KILL,	/* sent SIGKILL */
};

struct child {
	struct child *next, *prev;	/* every child (g.children) */
	struct stream *st;
	int track;
	pid_t pid;
	struct sink in;			/* its stdin */
	int out_fd;			/* its stdout, -1 after EOF */
	struct watch out_w;		/* out_fd, unless our stdout is full */
	char *line;			/* partial line from its stdout */
	size_t len, cap;
	int skipping;			/* discarding an over-long line */
	enum child_state state;
	int64_t deadline;
	int64_t out_deadline;		/* exited: stdout must end by then */
	int reaped, status;
	int input_err;			/* first write error, 0 if none */
	uint64_t lines, long_lines;
};

/* A chunk that came early, held until the hole before it is filled. */
struct held {
	int64_t pos;
	size_t len;
	uint8_t *data;
};

struct track {
	int on;			/* in the stream's tracks and selected */
	int started;		/* a chunk was placed */
	int64_t next;		/* bytes written so far = next position */
	int64_t offset;		/* subtracted from positions after a resync */
	int64_t seen_end;	/* furthest chunk end seen, in track frame */
	int64_t last_pos;	/* position and length of the last chunk */
	size_t last_len;	/* placed, to know a resent one */
	struct held held[MAX_HELD];	/* sorted by pos */
	int nheld;
	struct sink *file;	/* --out */
	struct child *child;	/* --exec */
	uint64_t chunks, late, dups, gaps, gap_bytes, cut_bytes, resyncs;
};

struct stereo {
	struct sink *sink;
	int64_t done;		/* frames written */
	uint8_t *pend[NTRACK];	/* each side's audio from frame done on */
	size_t plen[NTRACK], pcap[NTRACK];
	uint64_t late[NTRACK];	/* bytes for a region already written */
};

enum stream_state {
	ST_GHOST,	/* media seen without a start: counted, skipped */
	ST_LIVE,
	ST_ENDING,	/* stopped: outputs and children finishing */
};

struct stream {
	struct stream *hnext;		/* hash chain */
	struct stream *next, *prev;	/* live and ending (g.streams) */
	char sid[SID_MAX + 1];
	char call[SID_MAX + 1];
	char account[SID_MAX + 1];
	enum stream_state state;
	const char *reason;		/* why it ended */
	json_t *params;			/* start.customParameters */
	struct track tr[NTRACK];
	struct stereo *stereo;
	uint64_t skipped;		/* lines skipped (ghost, after stop) */
};

/* The process's state. */
struct global {
	struct obuf out;		/* events to stdout */
	int out_dead;			/* stdout failed: output discarded */
	struct sink *sinks;
	struct sink *dirty;
	struct child *children;
	size_t nchildren;
	struct stream *streams;
	size_t nstreams, nghosts;
	size_t nending;			/* streams in ST_ENDING */
	size_t nwaiting;		/* sinks in SINK_WAIT */
	size_t nover;			/* sinks with a queue over half full */
	int input_done;
	int hurry;			/* second signal: end all waits now */
	int64_t now;			/* mono_ms() at the top of the loop */
	int status;			/* exit status */
	uint64_t lines, media, bad_lines, unknown_lines;
	uint64_t dropped_frames;	/* by every sink, for the summary */
};
extern struct global g;

/* main.c */
void loop_watch(struct watch *w, int fd, uint32_t events);
void loop_unwatch(struct watch *w);
void loop_watch_child(struct child *c);
void out_line(const char *s, size_t n);
void warn_limited(uint64_t *count, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* stream.c */
void handle_line(char *line, size_t len, uint64_t lineno);
void streams_end_all(const char *reason);
void streams_service(void);
int streams_busy(void);
void streams_cleanup(void);
json_t *event_new(const char *type, const struct stream *st, int track);
void event_emit(json_t *ev);
void error_event(const struct stream *st, int track, const char *code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void error_event_from(const char *source, const struct stream *st,
		      const char *sid, int track, const char *code,
		      const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
json_t *jstr(const char *s);

/* timing.c */
void track_media(struct stream *st, int t, long long ts_ms,
		 const uint8_t *data, size_t n);
void track_finish(struct stream *st, int t);
void track_report(const struct stream *st, int t);

/* sink.c */
struct sink *sink_open(const char *path, struct stream *st, int track,
		       int channels);
void sink_init_pipe(struct sink *s, int fd, struct stream *st, int track);
void sink_write(struct sink *s, const uint8_t *ulaw, size_t n);
void sink_flush(struct sink *s);
void sink_end(struct sink *s);
void sink_abandon(struct sink *s);
int sink_service(struct sink *s);
void sink_free(struct sink *s);
void sinks_flush_dirty(void);
void sinks_retry(void);
void stereo_open(struct stream *st, const char *path);
void stereo_feed(struct stream *st, int t, int64_t at, const uint8_t *p,
		 size_t n);
void stereo_end(struct stream *st);
void stereo_free(struct stream *st);
char *expand_pattern(const char *pat, const struct stream *st, int track);
int pattern_check(const char *pat, const char *opt_name, int allow_track);

/* child.c */
void child_env_init(void);
struct child *child_spawn(struct stream *st, int track);
void child_end(struct child *c);
void child_read(struct child *c);
void child_input_failed(struct child *c, int err);
void children_reap(void);
int child_service(struct child *c);
void child_free(struct child *c);

#endif
