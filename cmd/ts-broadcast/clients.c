/*
 * Browsers on /ws.  Each gets, in order: hello, its history, sync, then
 * live events (see ts-broadcast(1), PROTOCOL).
 *
 * The history is not copied per client: a client walks it with a cursor
 * (an entry of the history), and an entry leaving the history moves the
 * cursors that point at it on.  The walk stops at the last id that
 * existed when the client connected (hist_last); what came after reaches
 * the client through its queue of live events, so nothing is sent twice.
 *
 * Live events are shared references (struct msg); each client holds a
 * bounded FIFO of them.  Past --client-queue bytes the client is cut
 * (1008); past --client-queue-soft for --slow-timeout, too (1013).  A
 * cut client is never waited for: its queue is dropped at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "broadcast.h"
#include "clock.h"
#include "log.h"

#define SOCKET_SNDBUF (256 << 10)	/* the kernel doubles it */

enum phase { PH_HELLO, PH_HISTORY, PH_SYNC, PH_LIVE };

/* One per WebSocket: lws's per-session data, linked while open. */
struct client {
	int kind;			/* SESSION_WS */
	struct client *prev, *next;
	struct lws *wsi;
	char call_sid[SID_MAX + 1];	/* "" = every call */
	enum phase phase;
	struct msg *hello;
	struct hent *cursor;		/* next history entry to send */
	uint64_t hist_last;		/* history ends here for us */
	uint64_t last_sent;		/* for sync */
	struct msg **q;			/* live events: a ring */
	size_t qcap, qhead, qn;
	size_t qbytes;
	int64_t soft_since_ms;		/* over the soft limit since, or 0 */
	int close_code;			/* ours, once decided */
	int closing;			/* shutdown: close once drained */
	size_t rxlen;			/* client frame so far */
};

long nclients;
static struct client *clients;
static long walking;		/* clients in PH_HISTORY */

static void cursor_gone(struct hent *e)
{
	struct client *c;

	if (!walking)
		return;
	for (c = clients; c; c = c->next)
		if ((c->phase == PH_HELLO || c->phase == PH_HISTORY) &&
		    c->cursor == e)
			c->cursor = c->call_sid[0] ? e->cnext : e->next;
}

static void q_clear(struct client *c)
{
	while (c->qn) {
		msg_unref(c->q[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qn--;
	}
	stats.queue_bytes -= c->qbytes;
	c->qbytes = 0;
	free(c->q);
	c->q = NULL;
	c->qcap = c->qhead = 0;
}

static int q_push(struct client *c, struct msg *m)
{
	if (c->qn == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 64, i;
		struct msg **q = malloc(cap * sizeof *q);

		if (!q)
			return -1;
		for (i = 0; i < c->qn; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qn) % c->qcap] = msg_ref(m);
	c->qn++;
	c->qbytes += m->len;
	stats.queue_bytes += m->len;
	if (stats.queue_bytes > stats.queue_peak)
		stats.queue_peak = stats.queue_bytes;
	return 0;
}

static const char *close_name(int code)
{
	switch (code) {
	case LWS_CLOSE_STATUS_POLICY_VIOLATION: return "queue full";
	case CLOSE_TRY_AGAIN_LATER: return "too slow";
	case LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE: return "frame too big";
	case LWS_CLOSE_STATUS_GOINGAWAY: return "shutdown";
	default: return "closed";
	}
}

/*
 * Close with code.  The close frame goes out when the socket takes it;
 * a client that takes nothing is dropped after 2 s regardless.  Nothing
 * more is queued for it from now on.
 */
static void cut(struct client *c, int code)
{
	if (c->close_code)
		return;
	c->close_code = code;
	if (code == LWS_CLOSE_STATUS_POLICY_VIOLATION)
		stats.cut_hard++;
	else if (code == CLOSE_TRY_AGAIN_LATER)
		stats.cut_slow++;
	if (code != LWS_CLOSE_STATUS_GOINGAWAY)
		log_warn("client %p: %s, disconnecting (%d)", (void *)c,
			 close_name(code), code);
	q_clear(c);
	if (c->phase == PH_HELLO || c->phase == PH_HISTORY)
		walking--;
	c->phase = PH_LIVE;
	c->cursor = NULL;
	lws_close_reason(c->wsi, (enum lws_close_status)code,
			 (unsigned char *)close_name(code),
			 strlen(close_name(code)));
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
	lws_callback_on_writable(c->wsi);
}

static int watches(const struct client *c, const struct msg *m)
{
	if (!c->call_sid[0])
		return 1;
	return m->call_sid[0] && strcmp(m->call_sid, c->call_sid) == 0;
}

void fanout(struct msg *m)
{
	struct client *c;

	for (c = clients; c; c = c->next) {
		if (c->close_code || !watches(c, m))
			continue;
		if (c->qbytes + m->len > opt.client_queue) {
			cut(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
			continue;
		}
		if (q_push(c, m) != 0) {
			log_error("out of memory queueing for a client");
			cut(c, LWS_CLOSE_STATUS_POLICY_VIOLATION);
			continue;
		}
		if (c->qbytes > opt.client_soft && !c->soft_since_ms)
			c->soft_since_ms = mono_ms();
		lws_callback_on_writable(c->wsi);
	}
}

void clients_tick(void)
{
	struct client *c, *next;
	int64_t now = mono_ms();

	for (c = clients; c; c = next) {
		next = c->next;
		if (!c->close_code && c->soft_since_ms &&
		    now - c->soft_since_ms >= opt.slow_timeout_ms)
			cut(c, CLOSE_TRY_AGAIN_LATER);
	}
}

void clients_shutdown(void)
{
	struct client *c;

	for (c = clients; c; c = c->next) {
		c->closing = 1;
		lws_callback_on_writable(c->wsi);
	}
}

/* --- connecting ----------------------------------------------------- */

static struct msg *make_hello(const struct client *c, int resumed)
{
	json_t *calls = json_array(), *j;
	const struct call *k;
	struct msg *m = NULL;
	char *s;

	for (k = hist.calls; k; k = k->next)
		if (!c->call_sid[0] || strcmp(k->sid, c->call_sid) == 0)
			json_array_append_new(calls, call_json(k));
	j = json_pack("{s:s, s:s, s:b, s:b, s:o}", "type", "hello",
		      "server", "ts-broadcast " TAPLINE_VERSION,
		      "dial", opt.dial_cmd != NULL, "resumed", resumed,
		      "calls", calls);
	if (j && (s = json_dumps(j, JSON_COMPACT))) {
		m = msg_new(s, strlen(s), 0);
		free(s);
	}
	json_decref(j);
	return m;
}

/* since= as given, or -1 when absent.  Checked at the upgrade. */
static long long arg_since(struct lws *wsi)
{
	char buf[40], *end;
	const char *p;
	long long v;

	/* lws copies "since=N" and points at N */
	if (!(p = lws_get_urlarg_by_name(wsi, "since=", buf, sizeof buf)))
		return -1;
	if (*p < '0' || *p > '9')
		return -2;
	errno = 0;
	v = strtoll(p, &end, 10);
	return !*end && !errno ? v : -2;
}

/* Whether the query string is one this server understands. */
int ws_args_ok(struct lws *wsi)
{
	char buf[SID_MAX + 16];
	const char *p;
	size_t n;

	if (arg_since(wsi) == -2)
		return 0;
	p = lws_get_urlarg_by_name(wsi, "call=", buf, sizeof buf);
	if (!p)
		return 1;
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789_-");
	return n > 0 && p[n] == '\0' && n <= SID_MAX;
}

static int on_established(struct client *c, struct lws *wsi)
{
	int sndbuf;
	long long since;
	int resumed;
	char buf[SID_MAX + 16];
	const char *p;

	memset(c, 0, sizeof *c);
	c->kind = SESSION_WS;
	c->wsi = wsi;
	/* A fixed kernel send buffer: without it Linux grows it to MBs per
	 * socket, memory that --client-queue does not bound and that hides
	 * a stalled client for as long. */
	sndbuf = SOCKET_SNDBUF;
	if (setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &sndbuf,
		       sizeof sndbuf) != 0)
		log_debug("cannot set SO_SNDBUF: %s", strerror(errno));
	if ((p = lws_get_urlarg_by_name(wsi, "call=", buf, sizeof buf)))
		snprintf(c->call_sid, sizeof c->call_sid, "%s", p);
	since = arg_since(wsi);
	resumed = since >= 0 && history_resumable((uint64_t)since);
	if (since >= 0)
		resumed ? stats.resumed++ : stats.not_resumed++;
	if (!(c->hello = make_hello(c, resumed)))
		return -1;
	c->hist_last = hist.next_id - 1;
	c->last_sent = resumed ? (uint64_t)since : 0;
	if (c->call_sid[0]) {
		struct call *k = call_find(c->call_sid);

		c->cursor = k ? k->head : NULL;
	} else {
		c->cursor = hist.head;
	}
	/* resuming: skip what the client has */
	while (resumed && c->cursor && c->cursor->msg->id <= (uint64_t)since)
		c->cursor = c->call_sid[0] ? c->cursor->cnext :
			    c->cursor->next;
	c->phase = PH_HELLO;
	walking++;
	hent_gone_hook = cursor_gone;
	c->next = clients;
	if (clients)
		clients->prev = c;
	clients = c;
	nclients++;
	log_debug("client %p: connected (%ld)", (void *)c, nclients);
	stats.connections++;
	if (draining)
		c->closing = 1;
	lws_callback_on_writable(wsi);
	return 0;
}

/* --- writing ---------------------------------------------------------- */

static int send_msg(struct client *c, struct msg *m)
{
	if (lws_write(c->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
	    (int)m->len)
		return -1;
	stats.frames_out++;
	stats.bytes_out += m->len;
	if (m->id > c->last_sent)
		c->last_sent = m->id;
	return 0;
}

/* The next thing to send, or NULL; *popped says to unref it after. */
static struct msg *next_msg(struct client *c, int *popped)
{
	struct msg *m;
	char sync[64];
	int n;

	*popped = 0;
	switch (c->phase) {
	case PH_HELLO:
		c->phase = PH_HISTORY;
		*popped = 1;
		m = c->hello;
		c->hello = NULL;
		return m;
	case PH_HISTORY:
		if (c->cursor && c->cursor->msg->id <= c->hist_last) {
			m = c->cursor->msg;
			c->cursor = c->call_sid[0] ? c->cursor->cnext :
				    c->cursor->next;
			return m;
		}
		c->cursor = NULL;
		c->phase = PH_SYNC;
		walking--;
		/* fall through */
	case PH_SYNC:
		c->phase = PH_LIVE;
		n = snprintf(sync, sizeof sync,
			     "{\"type\":\"sync\",\"id\":%llu}",
			     (unsigned long long)c->last_sent);
		*popped = 1;
		return msg_new(sync, (size_t)n, 0);
	case PH_LIVE:
		if (!c->qn)
			return NULL;
		m = c->q[c->qhead];
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qn--;
		c->qbytes -= m->len;
		stats.queue_bytes -= m->len;
		if (c->qbytes <= opt.client_soft)
			c->soft_since_ms = 0;
		*popped = 1;
		return m;
	}
	return NULL;
}

static int on_writeable(struct client *c)
{
	struct msg *m;
	int popped, n, r;

	if (c->close_code) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)close_name(c->close_code),
				 strlen(close_name(c->close_code)));
		return -1;
	}
	/* a burst per wakeup, bounded so that one client with a long
	 * history does not hold up the others */
	for (n = 0; n < 64; n++) {
		if (!(m = next_msg(c, &popped)))
			break;
		r = send_msg(c, m);
		if (popped)
			msg_unref(m);
		if (r) {
			log_debug("client %p: write failed", (void *)c);
			return -1;
		}
		if (lws_send_pipe_choked(c->wsi))
			break;
	}
	if (c->phase != PH_LIVE || c->qn) {
		lws_callback_on_writable(c->wsi);
	} else if (c->closing) {
		c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY,
				 (unsigned char *)"shutdown", 8);
		return -1;
	}
	return 0;
}

static void on_closed(struct client *c)
{
	if (!c->wsi)
		return;
	q_clear(c);
	msg_unref(c->hello);
	c->hello = NULL;
	if (c->phase == PH_HISTORY || c->phase == PH_HELLO)
		walking--;
	if (c->prev)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->wsi = NULL;
	nclients--;
	log_debug("client %p: closed (%ld)", (void *)c, nclients);
}

/* Close every client now, saying 1001: the end of the drain. */
void clients_close_all(void)
{
	struct client *c;

	for (c = clients; c; c = c->next)
		cut(c, LWS_CLOSE_STATUS_GOINGAWAY);
}

int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	  void *in, size_t len)
{
	struct client *c = user;

	(void)in;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(c, wsi);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(c);
	case LWS_CALLBACK_RECEIVE:
		/* what a client says is ignored, but not without bound */
		c->rxlen += len;
		if (c->rxlen > MAX_FRAME_IN) {
			stats.cut_too_big++;
			lws_close_reason(wsi,
					 LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 (unsigned char *)"frame too big", 13);
			return -1;
		}
		if (lws_is_final_fragment(wsi) &&
		    !lws_remaining_packet_payload(wsi))
			c->rxlen = 0;
		break;
	case LWS_CALLBACK_CLOSED:
		on_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

size_t client_size(void)
{
	return sizeof(struct client);
}
