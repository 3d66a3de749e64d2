/*
 * ts-broadcast: fan events NDJSON out to browsers.  See ts-broadcast(1).
 *
 * The pieces, each in its own file:
 *   events.c   one input line -> a numbered, serialized event (struct msg);
 *              the calls and the retained history
 *   journal.c  the journal file: replay at start, append, fsync policy
 *   input.c    stdin and the --feed socket, framed into lines
 *   clients.c  WebSocket clients: hello/history/sync, queues, limits
 *   http.c     the HTTP side: the page, /healthz, /metrics, access rules
 *   dial.c     POST /api/calls: the --dial-cmd child
 *   main.c     options, the libwebsockets context, the loop, shutdown
 * All of it runs on one thread, the lws event loop.
 */
#ifndef TS_BROADCAST_H
#define TS_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>

#define SID_MAX 64		/* longest call_sid / stream_sid kept */
#define MAX_FRAME_IN 4096	/* largest client frame before 1009 */
#define CLOSE_TRY_AGAIN_LATER 1013	/* not named by lws 4.1 */

/*
 * One event as sent to clients: the producer's JSON object with "id"
 * added, serialized once, shared by reference by the history and by
 * every client queue that holds it.  buf has LWS_PRE bytes of headroom
 * before the text for the frame header lws writes there.
 */
struct msg {
	unsigned refs;
	uint64_t id;		/* 0 for hello/sync, which are per client */
	char call_sid[SID_MAX + 1];	/* "" if about no call */
	int is_stop;		/* a call.stop: the journal syncs at once */
	size_t len;
	unsigned char buf[];	/* LWS_PRE + len + 1 (NUL) */
};

#define MSG_TEXT(m) ((char *)(m)->buf + LWS_PRE)

struct msg *msg_new(const char *text, size_t len, uint64_t id);
struct msg *msg_ref(struct msg *);
void msg_unref(struct msg *);

struct call;

/* One retained event: in the history of all calls and of its call. */
struct hent {
	struct hent *prev, *next;	/* all history, by id */
	struct hent *cprev, *cnext;	/* this call's history, by id */
	struct call *call;
	struct msg *msg;
	/* interim transcripts: the utterance it stands for */
	int interim;
	struct hent *inext;		/* the call's interims */
	char stream_sid[SID_MAX + 1], track[16];
	long long seq;
};

struct call {
	struct call *prev, *next;	/* by first appearance, oldest first */
	char sid[SID_MAX + 1];
	json_t *info;		/* stream_sid, account_sid, tracks, params */
	char start_ts[40], stop_ts[40];
	char reason[32];
	int live;
	struct hent *head, *tail;	/* its history */
	struct hent *interims;		/* those that are interims */
	size_t nent, bytes;
};

/* What one input line became. */
enum ingest {
	IN_OK,		/* an event: *out holds it */
	IN_MALFORMED,	/* counted and skipped; why says why */
	IN_EMPTY,	/* a blank line: ignored */
};

struct history {
	struct call *calls, *calls_tail;
	size_t ncalls;
	struct hent *head, *tail;
	size_t nent, bytes;
	uint64_t next_id;	/* id of the next event */
	uint64_t lost_id;	/* highest id no longer in the history */
	size_t max_calls, max_bytes;
	unsigned long long evicted_calls, evicted_live;
};

extern struct history hist;

void history_init(size_t max_calls, size_t max_bytes, uint64_t first_id);
void history_free(void);
/*
 * Turn one line into an event: check it, number it (or, from the journal,
 * keep its id), keep it in the history.  On IN_OK *out is a new reference
 * the caller drops.  A line from the journal must carry an id above every
 * id seen.
 */
enum ingest ingest_line(const char *line, size_t len, int from_journal,
			struct msg **out, char *why, size_t whysz);
struct call *call_find(const char *sid);
/* Called before an entry leaves the history (clients walking it). */
extern void (*hent_gone_hook)(struct hent *);
/* A call as the hello message describes it (new reference). */
json_t *call_json(const struct call *);
/* Whether every event after id since is still in the history. */
int history_resumable(uint64_t since);

/* journal.c */
int journal_open(const char *path, int fsync_ms);
void journal_append(const struct msg *, int sync_now);
void journal_tick(void);
void journal_close(void);
extern unsigned long long journal_fsyncs, journal_errors, journal_lines;

/* input.c */
int input_stdin(struct lws_vhost *);
int input_feed_listen(struct lws_vhost *, const char *path);
void input_close(void);
int input_cb(struct lws *, enum lws_callback_reasons, void *, void *,
	     size_t);
extern int stdin_eof;
extern long feeds_open;

/* What lws's per-session data of a connection holds: it starts with
 * one of these, so the shared callback knows which it is. */
enum { SESSION_HTTP = 1, SESSION_WS };

/* clients.c */
struct client;
size_t client_size(void);
int ws_args_ok(struct lws *);
void clients_close_all(void);
int ws_cb(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
void fanout(struct msg *);
void clients_tick(void);
void clients_shutdown(void);
extern long nclients;

/* http.c */
struct req;
size_t req_size(void);
int http_cb(struct lws *, enum lws_callback_reasons, void *, void *,
	    size_t);
/* JSON as one line with its newline; {"error":why} so (malloc'd). */
char *json_line(const json_t *);
char *json_error(const char *why);
/* Answer a request that waited (the dial command): body is malloc'd. */
void http_answer(struct lws *wsi, unsigned status, char *body, size_t len);

/* dial.c */
int dial_start(struct lws *wsi, const char *number);
extern long dials_running;
void dial_forget(struct lws *wsi);
void dial_tick(void);
void dial_kill_all(void);

/* main.c: options and counters shared by the files above */
void shutdown_begin(void);
struct options {
	const char *listen, *web, *feed, *journal, *dial_cmd;
	const char *allow_origin[16];
	int nallow_origin;
	size_t history_calls, history_bytes;
	size_t client_queue, client_soft;
	long long slow_timeout_ms, dial_timeout_ms, drain_ms, fsync_ms;
	size_t max_line;
	int exit_on_eof, insecure_listen;
	const char *token;	/* TAPLINE_BROADCAST_TOKEN, or NULL */
};
extern struct options opt;

struct stats {
	unsigned long long events, events_nocall, malformed, lines_too_long;
	unsigned long long frames_out, bytes_out, connections;
	unsigned long long cut_hard, cut_slow, cut_too_big;
	unsigned long long refused_token, refused_origin, refused_path,
		refused_draining, resumed, not_resumed;
	unsigned long long dial_ok, dial_bad, dial_failed;
	unsigned long long http_requests;
	size_t queue_bytes, queue_peak;
};
extern struct stats stats;
extern volatile int draining;
extern struct lws_context *ctx;

#endif
