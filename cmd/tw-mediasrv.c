/*
 * tw-mediasrv: receive Twilio Media Streams and write every message, one
 * per line, to standard output.  See tw-mediasrv(1).
 *
 * One libwebsockets context, one thread.  Each WebSocket is one stream
 * (struct conn).  Messages are checked (tapline's twmsg scanner; base64 of
 * media payloads) and queued whole on a bounded output queue that is
 * written to stdout without ever blocking the event loop.  The loop wakes
 * at most once per --coalesce interval, so at thousands of streams one
 * wakeup and one pipe write serve many messages.
 *
 * The same server answers Twilio's webhooks over plain HTTP: POST /twiml
 * returns TwiML that streams the call back here, POST /status turns call
 * and stream status callbacks into {"event":"status"} lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "base64.h"
#include "cli.h"
#include "clock.h"
#include "form.h"
#include "log.h"
#include "lwslog.h"
#include "obuf.h"
#include "twmsg.h"
#include "twsig.h"

static const char usage[] =
"usage: tw-mediasrv [-qv] [--listen ADDR:PORT] [--path PATH]\n"
"                   [--public-url URL] [--no-verify] [--cert FILE --key FILE]\n"
"                   [--buffer SIZE] [--max-frame SIZE] [--drain SECONDS]\n"
"                   [--handshake-timeout SECONDS] [--start-timeout SECONDS]\n"
"                   [--coalesce MS] [--on-call ACTION]...\n"
"                   [--twiml-template FILE] [--twiml-path PATH]\n"
"                   [--status-path PATH]\n"
"\n"
"Receive Twilio Media Streams over WebSocket and write every message to\n"
"standard output, one per line.\n"
"\n"
"  --listen ADDR:PORT   where to listen (default 127.0.0.1:8080; [::1]:PORT)\n"
"  --path PATH          WebSocket path for streams (default /media)\n"
"  --public-url URL     this server as Twilio reaches it (https://host);\n"
"                       turns on the webhooks POST /twiml and POST /status\n"
"  --no-verify          accept unsigned upgrades on any address\n"
"  --cert FILE, --key FILE  serve TLS (wss://) with this certificate\n"
"  --buffer SIZE        output queue bound (default 512M)\n"
"  --max-frame SIZE     largest message accepted (default 64k)\n"
"  --drain SECONDS      on SIGTERM, wait this long for streams (default 10)\n"
"  --handshake-timeout SECONDS  (default 10)\n"
"  --start-timeout SECONDS      time from upgrade to 'start' (default 10)\n"
"  --coalesce MS        wake at most once per MS milliseconds (default 5)\n"
"  --on-call ACTION     what /twiml does after starting the stream:\n"
"                       dial:NUMBER|sip:URI|client:NAME, say:TEXT, play:URL,\n"
"                       pause:SECONDS, hangup (default pause:3600)\n"
"  --twiml-template FILE  answer /twiml with FILE: {{stream}},\n"
"                       {{stream_url}}, {{status_url}}, {{Param}} replaced\n"
"  --twiml-path PATH, --status-path PATH  the webhooks' paths\n"
"  -v, --verbose        more messages; -q, --quiet: errors only\n"
"  --help, --version\n"
"\n"
"Environment: TWILIO_AUTH_TOKEN verifies X-Twilio-Signature.\n";

/* The webhooks, and the answers they may get (counted in /metrics). */
enum hook { HOOK_NONE, HOOK_TWIML, HOOK_STATUS };
static const char *hook_paths[] = { "/twiml", "/status" };
static const unsigned hook_codes[] = {
	200, 204, 400, 403, 405, 411, 413, 415, 500, 503,
};
#define HOOK_CODES (sizeof hook_codes / sizeof hook_codes[0])
#define MAX_BODY (64 << 10)	/* Twilio's forms are a few KiB */

/* Counters, by kind, for /metrics. */
enum bad_kind {
	BAD_JSON, BAD_BASE64, BAD_BINARY, BAD_TOO_BIG, BAD_ORDER, BAD_SID,
	BAD_RESERVED, BAD_NO_EVENT, BAD_DUPLICATE_STREAM, BAD_FIELDS,
	BAD_NO_START, BAD_KINDS
};
static const char *const bad_names[BAD_KINDS] = {
	"json", "base64", "binary", "too_big", "order", "sid", "reserved",
	"no_event", "duplicate_stream", "fields", "no_start",
};

enum { EV_CONNECTED, EV_START, EV_MEDIA, EV_MARK, EV_DTMF, EV_STOP,
       EV_OTHER, EV_KINDS };
static const char *const ev_names[EV_KINDS] = {
	"connected", "start", "media", "mark", "dtmf", "stop", "other",
};

static struct {
	unsigned long long messages[EV_KINDS], bytes[EV_KINDS];
	unsigned long long bad[BAD_KINDS];
	unsigned long long connections, refused_sig, refused_path,
		refused_draining, dropped_msgs, dropped_bytes, disconnects;
	long streams;		/* WebSockets open now */
	unsigned long long hooks[2][HOOK_CODES];	/* by hook, answer */
} stats;

/* Options. */
static const char *opt_listen = "127.0.0.1:8080";
static const char *opt_path = "/media";
static const char *opt_public_url;
static const char *opt_cert, *opt_key;
static int opt_no_verify;
static size_t opt_buffer = (size_t)512 << 20;
static size_t opt_max_frame = 64 << 10;
static long long opt_drain_ms = 10000;
static int opt_handshake_s = 10, opt_start_s = 10;
static long long opt_coalesce_ms = 5;
static const char *auth_token;
static char *stream_url;	/* from --public-url: what Twilio connects to */
static char *hook_base;		/* from --public-url: webhooks' base; NULL: off */
static char *opt_template;	/* --twiml-template, its text */

/* --on-call, in the order given. */
enum act { ACT_DIAL, ACT_SAY, ACT_PLAY, ACT_PAUSE, ACT_HANGUP };
static struct action {
	enum act act;
	const char *arg;
	long n;			/* pause:N */
} actions[32];
static size_t nactions;

enum state { ST_OPEN, ST_STARTED, ST_STOPPED };

/*
 * One per WebSocket, allocated by lws as the session's user data and
 * owned by it; linked into the conns list while the socket is open.
 * Plain HTTP requests use only the reply fields.
 */
struct conn {
	struct conn *prev, *next;
	struct lws *wsi;
	enum state state;
	int is_ws;
	char stream_sid[65], call_sid[65], account_sid[65];
	char *msg;		/* message being assembled from fragments */
	size_t msglen, msgcap;
	int close_code;		/* our reason for closing, 0 if none */
	int peer_close_code;	/* the peer's close frame, 0 if none */
	unsigned long long drop_msgs, drop_bytes;	/* not yet reported */
	char *reply;		/* HTTP body waiting for WRITEABLE */
	size_t reply_len;
	int close_after;	/* close the connection after the reply */
	/* a webhook request, from its headers to its body's end */
	enum hook hook;
	unsigned hook_error;	/* an answer decided before the body */
	char *hook_url;		/* the URL Twilio signed */
	char hook_sig[64];	/* X-Twilio-Signature, "" if none */
	char *body;
	size_t body_len, body_cap;
};

static struct conn *conns;
static struct obuf out;
static int out_flags;		/* stdout's flags before O_NONBLOCK */
static int drops_pending;	/* some conn has unreported drops */
static volatile sig_atomic_t got_signal;
static struct lws_context *ctx;
static uint8_t *scratch;	/* base64 check buffer, max-frame sized */

/* --- output --------------------------------------------------------- */

/*
 * Queue one line for stdout.  Messages from the wire are bounded by
 * --buffer; tapline's own events (force) are small and rare and always
 * queued, so a drop is never itself dropped.
 */
static int emit(struct conn *c, const char *p, size_t n, int force)
{
	if (!force && out.len + n + 1 > opt_buffer) {
		if (c) {
			if (!c->drop_msgs)
				log_warn("stream %s: output full, dropping "
					 "messages", c->stream_sid[0] ?
					 c->stream_sid : "(not started)");
			c->drop_msgs++;
			c->drop_bytes += n + 1;
			drops_pending = 1;
		}
		stats.dropped_msgs++;
		stats.dropped_bytes += n + 1;
		return -1;
	}
	if (obuf_putline(&out, p, n)) {
		log_error("out of memory queueing output");
		return -1;
	}
	return 0;
}

static void emit_json(struct conn *c, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s)
		emit(c, s, strlen(s), 1);
	free(s);
	json_decref(j);
}

static void report_drops(struct conn *c)
{
	if (!c->drop_msgs)
		return;
	emit_json(c, json_pack("{s:s, s:s, s:{s:I, s:I}}",
			       "event", "dropped",
			       "streamSid", c->stream_sid,
			       "dropped", "messages", (json_int_t)c->drop_msgs,
			       "bytes", (json_int_t)c->drop_bytes));
	log_warn("stream %s: dropped %llu messages (%llu bytes): output full",
		 c->stream_sid, c->drop_msgs, c->drop_bytes);
	c->drop_msgs = c->drop_bytes = 0;
}

static void flush_out(void)
{
	if (drops_pending && out.len < opt_buffer / 2) {
		struct conn *c;

		for (c = conns; c; c = c->next)
			report_drops(c);
		drops_pending = 0;
	}
	if (obuf_flush(&out) < 0) {
		log_error("cannot write to standard output: %s",
			  strerror(out.error));
		/* Nobody is reading: nothing more can be delivered. */
		got_signal = SIGPIPE;
	}
}

/* --- the streams ---------------------------------------------------- */

static const char *conn_name(const struct conn *c)
{
	return c->stream_sid[0] ? c->stream_sid : "(not started)";
}

/* Count and log bad input; with close_code, close the connection too. */
static int bad(struct conn *c, enum bad_kind kind, int close_code,
	       const char *why)
{
	stats.bad[kind]++;
	log_warn("stream %s: %s%s", conn_name(c), why,
		 close_code ? ", closing" : ", message skipped");
	if (close_code) {
		c->close_code = close_code;
		lws_close_reason(c->wsi, (enum lws_close_status)close_code,
				 (unsigned char *)bad_names[kind],
				 strlen(bad_names[kind]));
		return -1;
	}
	return 0;
}

static struct conn *find_stream(const char *sid)
{
	struct conn *c;

	for (c = conns; c; c = c->next)
		if (c->state != ST_OPEN && strcmp(c->stream_sid, sid) == 0)
			return c;
	return NULL;
}

static int copy_sid(char dst[65], json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || !sid_ok(s, strlen(s)))
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* A "start" message: who this stream is. */
static int on_start(struct conn *c, const char *buf, size_t len,
		    const struct twmsg *m)
{
	json_error_t err;
	json_t *root, *start;
	char sid[65], call[65], acct[65];
	int rc = 0;

	if (c->state != ST_OPEN)
		return bad(c, BAD_ORDER, 0, "second 'start'");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	start = json_object_get(root, "start");
	if (!json_is_object(start) ||
	    copy_sid(sid, json_object_get(start, "streamSid")) ||
	    copy_sid(call, json_object_get(start, "callSid")) ||
	    copy_sid(acct, json_object_get(start, "accountSid"))) {
		rc = bad(c, BAD_FIELDS, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			 "'start' without valid start.streamSid, callSid "
			 "and accountSid");
	} else if (m->stream_sid.p && !tw_str_eq(m->stream_sid, sid)) {
		rc = bad(c, BAD_SID, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			 "'start' streamSid differs from start.streamSid");
	} else if (find_stream(sid)) {
		memcpy(c->stream_sid, sid, sizeof sid);
		rc = bad(c, BAD_DUPLICATE_STREAM,
			 LWS_CLOSE_STATUS_POLICY_VIOLATION,
			 "a stream with this streamSid is already open");
		c->stream_sid[0] = '\0';
	} else {
		memcpy(c->stream_sid, sid, sizeof sid);
		memcpy(c->call_sid, call, sizeof call);
		memcpy(c->account_sid, acct, sizeof acct);
		c->state = ST_STARTED;
		lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
		log_info("stream %s: started (call %s)", sid, call);
		rc = 1;
	}
	json_decref(root);
	return rc;
}

/* The message's streamSid, when present, must be this stream's. */
static int sid_matches(const struct conn *c, const struct twmsg *m)
{
	return !m->stream_sid.p || tw_str_eq(m->stream_sid, c->stream_sid);
}

/*
 * Check one whole message; queue it if good.  Returns -1 to close the
 * connection (after lws_close_reason), 0 otherwise.
 */
static int on_message(struct conn *c, const char *buf, size_t len)
{
	struct twmsg m;
	char why[96];
	const char *w;
	int ev, r;

	if (twmsg_scan(buf, len, &m, why, sizeof why)) {
		char msg[128];

		snprintf(msg, sizeof msg, "invalid message: %s", why);
		return bad(c, BAD_JSON, 0, msg);
	}
	switch (m.event) {
	case TW_NONE:
		return bad(c, BAD_NO_EVENT, 0, "message without 'event'");
	case TW_DISCONNECT: case TW_DROPPED: case TW_STATUS:
		return bad(c, BAD_RESERVED, 0,
			   "event name reserved for tapline");
	case TW_CONNECTED:
		ev = EV_CONNECTED;
		break;
	case TW_START:
		if ((r = on_start(c, buf, len, &m)) <= 0)
			return r;
		ev = EV_START;
		break;
	case TW_MEDIA:
		ev = EV_MEDIA;
		if (c->state != ST_STARTED)
			return bad(c, BAD_ORDER, 0, c->state == ST_OPEN ?
				   "'media' before 'start'" :
				   "'media' after 'stop'");
		if (twmsg_media_ok(&m, &w))
			return bad(c, BAD_FIELDS, 0, w);
		if (!sid_matches(c, &m))
			return bad(c, BAD_SID, 0, "'media' of another stream");
		if (!tw_str_eq(m.track, "inbound") &&
		    !tw_str_eq(m.track, "outbound"))
			return bad(c, BAD_FIELDS, 0, "unknown media.track");
		if (base64_decode(scratch, m.payload.p, m.payload.n) < 0)
			return bad(c, BAD_BASE64, 0,
				   "media.payload is not base64");
		break;
	default:
		ev = m.event == TW_STOP ? EV_STOP : m.event == TW_MARK ?
		     EV_MARK : m.event == TW_DTMF ? EV_DTMF : EV_OTHER;
		if (c->state != ST_STARTED && m.event != TW_OTHER)
			return bad(c, BAD_ORDER, 0, c->state == ST_OPEN ?
				   "message before 'start'" :
				   "message after 'stop'");
		if (!sid_matches(c, &m))
			return bad(c, BAD_SID, 0, "message of another stream");
		if (m.event == TW_STOP) {
			c->state = ST_STOPPED;
			log_info("stream %s: stopped", c->stream_sid);
		}
		break;
	}
	stats.messages[ev]++;
	stats.bytes[ev] += len;
	if (m.has_newline) {
		char *tmp = malloc(len);

		if (!tmp)
			return bad(c, BAD_FIELDS, 0, "out of memory");
		emit(c, tmp, twmsg_strip_newlines(tmp, buf, len), 0);
		free(tmp);
	} else {
		emit(c, buf, len, 0);
	}
	return 0;
}

/* Collect fragments into whole messages; the common one-piece message
 * is checked where lws put it, with no copy. */
static int on_receive(struct conn *c, const char *in, size_t len)
{
	int first = lws_is_first_fragment(c->wsi);
	int last = lws_is_final_fragment(c->wsi) &&
		   !lws_remaining_packet_payload(c->wsi);
	int r;

	if (lws_frame_is_binary(c->wsi))
		return bad(c, BAD_BINARY, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
			   "binary frame");
	if (first && last && c->msglen == 0) {
		if (len > opt_max_frame)
			return bad(c, BAD_TOO_BIG,
				   LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				   "message larger than --max-frame");
		return on_message(c, in, len);
	}
	if (c->msglen + len > opt_max_frame)
		return bad(c, BAD_TOO_BIG, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			   "message larger than --max-frame");
	if (c->msglen + len > c->msgcap) {
		size_t cap = c->msgcap ? c->msgcap : 1024;
		char *p;

		while (cap < c->msglen + len)
			cap *= 2;
		if (!(p = realloc(c->msg, cap)))
			return bad(c, BAD_TOO_BIG,
				   LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				   "out of memory");
		c->msg = p;
		c->msgcap = cap;
	}
	memcpy(c->msg + c->msglen, in, len);
	c->msglen += len;
	if (!last)
		return 0;
	r = on_message(c, c->msg, c->msglen);
	c->msglen = 0;
	if (c->msgcap > 4096) {	/* keep idle streams small */
		free(c->msg);
		c->msg = NULL;
		c->msgcap = 0;
	}
	return r;
}

static void on_closed(struct conn *c)
{
	if (c->state == ST_STARTED) {
		int code = c->close_code ? c->close_code :
			   c->peer_close_code ? c->peer_close_code :
			   LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
		const char *reason = c->close_code ?
			(c->close_code == LWS_CLOSE_STATUS_GOINGAWAY ?
			 "shutdown" : "bad input") :
			c->peer_close_code ? "closed" : "connection lost";

		stats.disconnects++;
		log_warn("stream %s: socket closed without 'stop' (%s, %d)",
			 c->stream_sid, reason, code);
		emit_json(c, json_pack(
			"{s:s, s:s, s:{s:s, s:s, s:s, s:i}}",
			"event", "disconnect", "streamSid", c->stream_sid,
			"disconnect", "callSid", c->call_sid,
			"accountSid", c->account_sid, "reason", reason,
			"code", code));
	}
	report_drops(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->msg);
	stats.streams--;
}

/* --- HTTP: the upgrade check, /healthz and /metrics -------------------- */

static int path_is(const char *uri, const char *path)
{
	size_t n = strlen(path);

	/* /media and /media/ are the same path (Twilio may add the slash) */
	return strncmp(uri, path, n) == 0 &&
	       (uri[n] == '\0' || (uri[n] == '/' && uri[n + 1] == '\0' &&
				   path[n - 1] != '/'));
}

/*
 * The URL Twilio signed: prefix and path, else (prefix NULL) wss://Host
 * and path, plus the query string.  Returns a malloc'd string or NULL.
 */
static char *signed_url(struct lws *wsi, const char *prefix,
			const char *path)
{
	char host[262] = "", args[1024] = "", *url;
	size_t n, i;
	int k;

	for (i = 0, n = 0; i < 32; i++) {
		k = lws_hdr_copy_fragment(wsi, args + n,
					  (int)(sizeof args - n),
					  WSI_TOKEN_HTTP_URI_ARGS, (int)i);
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n + 2 >= sizeof args)
			return NULL;
		args[n++] = '&';
		args[n] = '\0';
	}
	if (n)
		args[--n] = '\0';
	if (!prefix) {
		if (lws_hdr_copy(wsi, host + 6, sizeof host - 6,
				 WSI_TOKEN_HOST) <= 0)
			return NULL;
		memcpy(host, "wss://", 6);
		prefix = host;
	}
	n = strlen(prefix) + strlen(path) + strlen(args) + 2;
	if (!(url = malloc(n)))
		return NULL;
	snprintf(url, n, "%s%s%s%s", prefix, path, args[0] ? "?" : "", args);
	return url;
}

static int check_signature(struct lws *wsi, const char *uri)
{
	char sig[128];
	char *url;
	int ok;

	if (!auth_token)
		return 1;
	if (lws_hdr_custom_copy(wsi, sig, sizeof sig, "x-twilio-signature:",
				19) <= 0)
		return 0;
	/* --public-url names the stream URL whole: the path is in it */
	if (!(url = signed_url(wsi, stream_url, stream_url ? "" : uri)))
		return 0;
	ok = twsig_verify(auth_token, url, NULL, 0, sig, 1);
	if (!ok)
		log_warn("upgrade refused: bad X-Twilio-Signature for '%s'",
			 url);
	free(url);
	return ok;
}

/*
 * Reply with a small body, written when the socket is writable; body is
 * malloc'd and ours from now on.  A 204 has no body (NULL) and no length.
 * allow: the value of an Allow header, or NULL.  Returns nonzero when
 * the connection is to be closed now.
 */
static int http_reply_allow(struct conn *c, unsigned status,
			    const char *type, char *body, size_t len,
			    const char *allow)
{
	unsigned char hdr[LWS_PRE + 512], *p = hdr + LWS_PRE,
		      *end = hdr + sizeof hdr - 1;

	c->reply = body;
	c->reply_len = len;
	if (status == 204 ?
	    lws_add_http_header_status(c->wsi, status, &p, end) :
	    lws_add_http_common_headers(c->wsi, status, type,
					(lws_filepos_t)len, &p, end))
		return 1;
	if (allow && lws_add_http_header_by_name(c->wsi,
			(const unsigned char *)"allow:",
			(const unsigned char *)allow, (int)strlen(allow),
			&p, end))
		return 1;
	/* HTTP/2 has no Connection header: a stream just ends there */
	if (c->close_after && lws_get_network_wsi(c->wsi) == c->wsi &&
	    lws_add_http_header_by_token(c->wsi,
			WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
			5, &p, end))
		return 1;
	if (!body) {
		/* the headers are the whole answer: over HTTP/2 they must
		 * end the stream themselves */
		if (lws_finalize_http_header(c->wsi, &p, end) ||
		    lws_write(c->wsi, hdr + LWS_PRE,
			      (size_t)(p - (hdr + LWS_PRE)),
			      LWS_WRITE_HTTP_HEADERS |
			      LWS_WRITE_H2_STREAM_END) < 0)
			return 1;
		return c->close_after || lws_http_transaction_completed(c->wsi);
	}
	if (lws_finalize_write_http_header(c->wsi, hdr + LWS_PRE, &p, end))
		return 1;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static int http_reply(struct conn *c, unsigned status, const char *type,
		      char *body, size_t len)
{
	return http_reply_allow(c, status, type, body, len, NULL);
}

/* --- webhooks ----------------------------------------------------------- */

/* Text for XML content and attribute values alike. */
static void xml_put(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			/* XML 1.0 cannot carry the other C0 controls */
			if ((unsigned char)*s < 0x20 && *s != '\t' &&
			    *s != '\n' && *s != '\r')
				fputc(' ', f);
			else
				fputc(*s, f);
		}
	}
}

/*
 * Custom parameters given to the stream, from the voice webhook's form;
 * mulaw-split hands them on as TAPLINE_PARAM_<name>.
 */
static const struct {
	const char *param, *field;
} stream_params[] = {
	{ "caller", "From" },
	{ "called", "To" },
	{ "caller_name", "CallerName" },
	{ "forwarded_from", "ForwardedFrom" },
};

/* <Start><Stream> back to this server, both tracks. */
static void put_stream(FILE *f, const struct form *form)
{
	size_t i;

	fputs("<Start><Stream url=\"", f);
	xml_put(f, stream_url);
	fputs("\" track=\"both_tracks\" statusCallback=\"", f);
	xml_put(f, hook_base);
	xml_put(f, hook_paths[1]);
	fputs("\">", f);
	for (i = 0; i < sizeof stream_params / sizeof stream_params[0]; i++) {
		const char *v = form_get(form, stream_params[i].field);

		if (!v || !*v)
			continue;
		/* Twilio's limit for one <Parameter>'s name and value */
		if (strlen(stream_params[i].param) + strlen(v) >= 500) {
			log_warn("webhook /twiml: %s too long, not passed on",
				 stream_params[i].field);
			continue;
		}
		fputs("<Parameter name=\"", f);
		xml_put(f, stream_params[i].param);
		fputs("\" value=\"", f);
		xml_put(f, v);
		fputs("\"/>", f);
	}
	fputs("</Stream></Start>", f);
}

/* What --on-call says, after the stream has started. */
static void put_actions(FILE *f)
{
	size_t i;

	if (!nactions) {	/* keep the call up for the caller to talk */
		fputs("<Pause length=\"3600\"/>", f);
		return;
	}
	for (i = 0; i < nactions; i++) {
		const char *arg = actions[i].arg;

		switch (actions[i].act) {
		case ACT_DIAL:
			if (strncmp(arg, "client:", 7) == 0) {
				fputs("<Dial><Client>", f);
				xml_put(f, arg + 7);
				fputs("</Client></Dial>", f);
			} else if (arg[0] == '+') {
				fputs("<Dial><Number>", f);
				xml_put(f, arg);
				fputs("</Number></Dial>", f);
			} else {
				fputs("<Dial><Sip>", f);
				xml_put(f, arg);
				fputs("</Sip></Dial>", f);
			}
			break;
		case ACT_SAY:
			fputs("<Say>", f);
			xml_put(f, arg);
			fputs("</Say>", f);
			break;
		case ACT_PLAY:
			fputs("<Play>", f);
			xml_put(f, arg);
			fputs("</Play>", f);
			break;
		case ACT_PAUSE:
			fprintf(f, "<Pause length=\"%ld\"/>", actions[i].n);
			break;
		case ACT_HANGUP:
			fputs("<Hangup/>", f);
			break;
		}
	}
}

/*
 * --twiml-template: {{stream}} is the <Start> element, {{stream_url}} and
 * {{status_url}} the URLs, {{Name}} the form's field Name (empty when it
 * is absent).  Anything else between braces is left as it is.
 */
static void put_template(FILE *f, const struct form *form)
{
	const char *p = opt_template, *q, *name, *e;
	char key[65];
	size_t n;

	while ((q = strstr(p, "{{"))) {
		fwrite(p, 1, (size_t)(q - p), f);
		name = e = q + 2;
		while ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') ||
		       (*e >= '0' && *e <= '9') || *e == '_')
			e++;
		n = (size_t)(e - name);
		if (n == 0 || n >= sizeof key || strncmp(e, "}}", 2) != 0) {
			fputs("{{", f);
			p = name;
			continue;
		}
		memcpy(key, name, n);
		key[n] = '\0';
		if (strcmp(key, "stream") == 0) {
			put_stream(f, form);
		} else if (strcmp(key, "stream_url") == 0) {
			xml_put(f, stream_url);
		} else if (strcmp(key, "status_url") == 0) {
			xml_put(f, hook_base);
			xml_put(f, hook_paths[1]);
		} else {
			const char *v = form_get(form, key);

			if (v)
				xml_put(f, v);
		}
		p = e + 2;
	}
	fputs(p, f);
}

static char *twiml_text(const struct form *form, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	if (opt_template) {
		put_template(f, form);
	} else {
		fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		      "<Response>", f);
		put_stream(f, form);
		put_actions(f);
		fputs("</Response>\n", f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

/* The status callback fields relayed, under Twilio's own names. */
static const char *const status_fields[] = {
	"AccountSid", "CallSid", "CallStatus", "CallDuration", "Timestamp",
	"SequenceNumber", "Direction", "From", "To", "ParentCallSid",
	"CallbackSource", "SipResponseCode", "AnsweredBy",
	"StreamSid", "StreamName", "StreamEvent", "StreamError",
};

/* A call or stream status callback becomes one "status" line. */
static unsigned on_status_form(const struct form *form)
{
	const char *call = form_get(form, "CallSid");
	const char *status = form_get(form, "CallStatus");
	json_t *st;
	size_t i;

	if (!status || !*status)
		status = form_get(form, "StreamEvent");
	if (!call || !sid_ok(call, strlen(call)) || !status || !*status) {
		log_warn("webhook /status: no valid CallSid, or neither "
			 "CallStatus nor StreamEvent");
		return 400;
	}
	if (!(st = json_object()))
		return 500;
	for (i = 0; i < sizeof status_fields / sizeof status_fields[0];
	     i++) {
		const char *v = form_get(form, status_fields[i]);

		/* json_string refuses what is not UTF-8: such a field is
		 * left out rather than the whole callback */
		if (v)
			json_object_set_new(st, status_fields[i],
					    json_string(v));
	}
	emit_json(NULL, json_pack("{s:s, s:o}", "event", "status",
				  "status", st));
	log_info("call %s: %s", call, status);
	return 204;
}

static void hook_reset(struct conn *c)
{
	c->hook = HOOK_NONE;
	c->hook_error = 0;
	c->hook_sig[0] = '\0';
	free(c->hook_url);
	c->hook_url = NULL;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_cap = 0;
}

/* Answer a webhook request, counting the answer; body as http_reply. */
static int hook_answer(struct conn *c, unsigned code, const char *type,
		       char *body, size_t len)
{
	static const struct { unsigned code; const char *text; } texts[] = {
		{ 400, "bad request\n" }, { 403, "forbidden\n" },
		{ 405, "method not allowed\n" }, { 411, "length required\n" },
		{ 413, "payload too large\n" },
		{ 415, "unsupported media type\n" },
		{ 500, "internal server error\n" }, { 503, "draining\n" },
	};
	size_t i;

	for (i = 0; i < HOOK_CODES; i++)
		if (hook_codes[i] == code)
			stats.hooks[c->hook - 1][i]++;
	hook_reset(c);
	if (!body && code != 204) {
		for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
			if (texts[i].code == code)
				break;
		if (!(body = strdup(i < sizeof texts / sizeof texts[0] ?
				    texts[i].text : "error\n")))
			return 1;
		len = strlen(body);
		type = "text/plain";
	}
	return http_reply_allow(c, code, type, body, len,
				code == 405 ? "POST" : NULL);
}

static int is_form(struct lws *wsi)
{
	static const char form[] = "application/x-www-form-urlencoded";
	char type[128];
	size_t n = sizeof form - 1;

	if (lws_hdr_copy(wsi, type, sizeof type,
			 WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return 0;
	/* a media type is case-insensitive; parameters (charset) may follow */
	return strncasecmp(type, form, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ' ||
		type[n] == '\t');
}

/*
 * The body is in: check the signature over URL and form, then answer.
 * Missing and wrong signatures are both 403, as for the upgrade.
 */
static int on_hook_body(struct conn *c)
{
	const char *path = hook_paths[c->hook - 1];
	struct twsig_param *params;
	struct form form;
	unsigned code;
	char *body = NULL;
	size_t i, len = 0;
	int ok;

	if (c->hook_error)
		return hook_answer(c, c->hook_error, NULL, NULL, 0);
	if (auth_token && !c->hook_sig[0]) {
		log_warn("webhook %s refused: no X-Twilio-Signature", path);
		return hook_answer(c, 403, NULL, NULL, 0);
	}
	if (form_parse(&form, c->body ? c->body : "", c->body_len)) {
		log_warn("webhook %s: malformed form body", path);
		return hook_answer(c, 400, NULL, NULL, 0);
	}
	if (auth_token) {
		if (!(params = calloc(form.n + 1, sizeof *params))) {
			form_free(&form);
			return hook_answer(c, 500, NULL, NULL, 0);
		}
		for (i = 0; i < form.n; i++) {
			params[i].name = form.fields[i].name;
			params[i].value = form.fields[i].value;
		}
		ok = twsig_verify(auth_token, c->hook_url, params, form.n,
				  c->hook_sig, 0);
		free(params);
		if (!ok) {
			log_warn("webhook %s refused: bad X-Twilio-Signature "
				 "for '%s'", path, c->hook_url);
			form_free(&form);
			return hook_answer(c, 403, NULL, NULL, 0);
		}
	}
	if (c->hook == HOOK_STATUS) {
		code = on_status_form(&form);
	} else if (got_signal) {
		code = 503;	/* a stream started now would be refused */
	} else {
		body = twiml_text(&form, &len);
		code = body ? 200 : 500;
		log_info("webhook /twiml: call %s from %s",
			 form_get(&form, "CallSid") ?
			 form_get(&form, "CallSid") : "(no CallSid)",
			 form_get(&form, "From") ? form_get(&form, "From") :
			 "(no From)");
	}
	form_free(&form);
	return hook_answer(c, code, "text/xml", body, len);
}

/* A request for a webhook: what can be checked before the body. */
static int on_hook_request(struct conn *c, enum hook h)
{
	char num[32];
	char *end, *uri;
	int urilen;
	long long clen;

	hook_reset(c);
	c->hook = h;
	/* (over HTTP/2 the method is not the name of the URI's header) */
	if (lws_http_get_uri_and_method(c->wsi, &uri, &urilen) !=
	    LWSHUMETH_POST)
		return hook_answer(c, 405, NULL, NULL, 0);
	if (lws_hdr_copy(c->wsi, num, sizeof num,
			 WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
		c->close_after = 1;	/* where the body ends is unknown */
		return hook_answer(c, 411, NULL, NULL, 0);
	}
	errno = 0;
	clen = strtoll(num, &end, 10);
	if (errno || *end || end == num || clen < 0) {
		c->close_after = 1;
		return hook_answer(c, 400, NULL, NULL, 0);
	}
	if (clen > MAX_BODY) {
		/* not worth reading: answer now and hang up */
		log_warn("webhook %s: body of %lld bytes refused",
			 hook_paths[h - 1], clen);
		c->close_after = 1;
		return hook_answer(c, 413, NULL, NULL, 0);
	}
	if (!is_form(c->wsi))
		c->hook_error = 415;
	if (lws_hdr_custom_copy(c->wsi, c->hook_sig, sizeof c->hook_sig,
				"x-twilio-signature:", 19) <= 0)
		c->hook_sig[0] = '\0';
	if (!(c->hook_url = signed_url(c->wsi, hook_base, hook_paths[h - 1])))
		c->hook_error = 400;	/* a query string too long */
	if (!(c->body = malloc((size_t)clen + 1)))
		return hook_answer(c, 500, NULL, NULL, 0);
	c->body_cap = (size_t)clen;
	if (clen == 0)		/* no body to wait for */
		return on_hook_body(c);
	return 0;
}

/* Part of a request body; kept only for a webhook. */
static int on_body(struct conn *c, const char *in, size_t len)
{
	if (c->hook == HOOK_NONE || c->hook_error)
		return 0;
	if (c->body_len + len > c->body_cap) {	/* more than it said */
		c->hook_error = 413;
		return 0;
	}
	memcpy(c->body + c->body_len, in, len);
	c->body_len += len;
	return 0;
}

static char *metrics_text(size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	int i;

	if (!f)
		return NULL;
	fprintf(f, "# HELP tw_mediasrv_streams WebSocket streams open.\n"
		"# TYPE tw_mediasrv_streams gauge\n"
		"tw_mediasrv_streams %ld\n", stats.streams);
	fprintf(f, "# HELP tw_mediasrv_connections_total WebSockets "
		"accepted.\n# TYPE tw_mediasrv_connections_total counter\n"
		"tw_mediasrv_connections_total %llu\n", stats.connections);
	fprintf(f, "# HELP tw_mediasrv_messages_total Messages received "
		"and written, by event.\n"
		"# TYPE tw_mediasrv_messages_total counter\n");
	for (i = 0; i < EV_KINDS; i++)
		fprintf(f, "tw_mediasrv_messages_total{event=\"%s\"} %llu\n",
			ev_names[i], stats.messages[i]);
	fprintf(f, "# HELP tw_mediasrv_message_bytes_total Bytes of those "
		"messages.\n# TYPE tw_mediasrv_message_bytes_total counter\n");
	for (i = 0; i < EV_KINDS; i++)
		fprintf(f, "tw_mediasrv_message_bytes_total{event=\"%s\"} "
			"%llu\n", ev_names[i], stats.bytes[i]);
	fprintf(f, "# HELP tw_mediasrv_bad_messages_total Bad input, by "
		"kind.\n# TYPE tw_mediasrv_bad_messages_total counter\n");
	for (i = 0; i < BAD_KINDS; i++)
		fprintf(f, "tw_mediasrv_bad_messages_total{kind=\"%s\"} %llu\n",
			bad_names[i], stats.bad[i]);
	fprintf(f, "# HELP tw_mediasrv_refused_total Upgrades refused.\n"
		"# TYPE tw_mediasrv_refused_total counter\n"
		"tw_mediasrv_refused_total{reason=\"signature\"} %llu\n"
		"tw_mediasrv_refused_total{reason=\"path\"} %llu\n"
		"tw_mediasrv_refused_total{reason=\"draining\"} %llu\n",
		stats.refused_sig, stats.refused_path, stats.refused_draining);
	fprintf(f, "# HELP tw_mediasrv_webhooks_total Webhook requests, by "
		"path and answer.\n# TYPE tw_mediasrv_webhooks_total counter\n");
	for (i = 0; i < 2; i++) {
		size_t k;

		for (k = 0; k < HOOK_CODES; k++)
			fprintf(f, "tw_mediasrv_webhooks_total{path=\"%s\","
				"code=\"%u\"} %llu\n", hook_paths[i],
				hook_codes[k], stats.hooks[i][k]);
	}
	fprintf(f, "# HELP tw_mediasrv_disconnects_total Streams closed "
		"without 'stop'.\n# TYPE tw_mediasrv_disconnects_total "
		"counter\ntw_mediasrv_disconnects_total %llu\n",
		stats.disconnects);
	fprintf(f, "# HELP tw_mediasrv_output_buffered_bytes Output queued "
		"for stdout.\n# TYPE tw_mediasrv_output_buffered_bytes gauge\n"
		"tw_mediasrv_output_buffered_bytes %zu\n", out.len);
	fprintf(f, "# HELP tw_mediasrv_output_peak_bytes Most output ever "
		"queued.\n# TYPE tw_mediasrv_output_peak_bytes gauge\n"
		"tw_mediasrv_output_peak_bytes %zu\n", out.peak);
	fprintf(f, "# HELP tw_mediasrv_dropped_messages_total Messages "
		"dropped because the output queue was full.\n"
		"# TYPE tw_mediasrv_dropped_messages_total counter\n"
		"tw_mediasrv_dropped_messages_total %llu\n"
		"# HELP tw_mediasrv_dropped_bytes_total Bytes of those.\n"
		"# TYPE tw_mediasrv_dropped_bytes_total counter\n"
		"tw_mediasrv_dropped_bytes_total %llu\n",
		stats.dropped_msgs, stats.dropped_bytes);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

static int on_http(struct conn *c, const char *uri)
{
	char *body;
	size_t len;
	int h;

	c->close_after = 0;
	for (h = HOOK_TWIML; h <= HOOK_STATUS && hook_base; h++)
		if (strcmp(uri, hook_paths[h - 1]) == 0)
			return on_hook_request(c, (enum hook)h);

	if (strcmp(uri, "/healthz") == 0) {
		if (!(body = strdup(got_signal ? "draining\n" : "ok\n")))
			return 1;
		return http_reply(c, got_signal ? 503 : 200, "text/plain",
				  body, strlen(body));
	}
	if (strcmp(uri, "/metrics") == 0) {
		if (!(body = metrics_text(&len)))
			return 1;
		return http_reply(c, 200, "text/plain; version=0.0.4", body,
				  len);
	}
	return lws_return_http_status(c->wsi, HTTP_STATUS_NOT_FOUND, NULL) ||
	       lws_http_transaction_completed(c->wsi);
}

static int on_confirm_upgrade(struct lws *wsi)
{
	char uri[512];

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
	    !path_is(uri, opt_path)) {
		stats.refused_path++;
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return 1;
	}
	if (got_signal) {
		stats.refused_draining++;
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
				       NULL);
		return 1;
	}
	if (!check_signature(wsi, uri)) {
		stats.refused_sig++;
		lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
		return 1;
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_confirm_upgrade(wsi);
	case LWS_CALLBACK_HTTP:
		c->wsi = wsi;
		return on_http(c, in);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!c->reply)
			break;
		{
			unsigned char *b = malloc(LWS_PRE + c->reply_len);
			int r;

			if (!b)
				return -1;
			memcpy(b + LWS_PRE, c->reply, c->reply_len);
			r = lws_write(wsi, b + LWS_PRE, c->reply_len,
				      LWS_WRITE_HTTP_FINAL);
			free(b);
			free(c->reply);
			c->reply = NULL;
			if (r < (int)c->reply_len || c->close_after)
				return -1;
		}
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(c, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c->hook == HOOK_NONE)
			break;
		c->wsi = wsi;
		return on_hook_body(c);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c) {	/* NULL if no request was ever bound */
			free(c->reply);
			c->reply = NULL;
			hook_reset(c);
		}
		break;
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof *c);
		c->wsi = wsi;
		c->is_ws = 1;
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		stats.connections++;
		stats.streams++;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, opt_start_s);
		break;
	case LWS_CALLBACK_RECEIVE:
		return on_receive(c, in, len);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2)
			c->peer_close_code = ((unsigned char *)in)[0] << 8 |
					     ((unsigned char *)in)[1];
		else
			c->peer_close_code = LWS_CLOSE_STATUS_NO_STATUS;
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c->close_code) {
			lws_close_reason(wsi,
					 (enum lws_close_status)c->close_code,
					 NULL, 0);
			return -1;
		}
		break;
	case LWS_CALLBACK_CLOSED:
		if (c->state == ST_OPEN && !c->close_code) {
			stats.bad[BAD_NO_START]++;
			log_warn("connection closed before 'start'");
		}
		on_closed(c);
		break;
	default:
		break;
	}
	return 0;
}

/* --- main ------------------------------------------------------------- */

static void on_signal(int sig)
{
	got_signal = sig;
	if (ctx)
		lws_cancel_service(ctx);
}

/*
 * The pause between two turns of the loop, until mono_us() reaches
 * until_us.  Output that stdout could not take is written as the pipe
 * drains, not at the next turn: at --pace fast the reader empties a 64 KiB
 * pipe in far less than a --coalesce interval, and a pause that only slept
 * would cap the leg at one pipe's worth per interval.
 */
static void pause_until(int64_t until_us)
{
	for (int i = 0; i < 1000; i++) {
		int64_t now = mono_us();
		struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
		struct timespec ts;

		if (now >= until_us)
			return;
		if (!out.len || got_signal) {
			usleep((useconds_t)(until_us - now));
			return;
		}
		ts.tv_sec = (until_us - now) / 1000000;
		ts.tv_nsec = (until_us - now) % 1000000 * 1000;
		if (ppoll(&pfd, 1, &ts, NULL) > 0)
			flush_out();
	}
}

/*
 * A bigger pipe to the next stage absorbs bursts (calls starting together,
 * a reader busy for a moment) without a turn of the loop per 64 KiB.  Best
 * effort: an unprivileged process may ask for up to fs.pipe-max-size.
 */
static void grow_pipe(int fd)
{
	struct stat st;
	int want;

	if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
		return;
	for (want = 1 << 20; want > 65536; want >>= 1)
		if (fcntl(fd, F_SETPIPE_SZ, want) >= 0) {
			log_debug("stdout: pipe of %d bytes", want);
			return;
		}
}

/* A timer that keeps the loop turning while output waits for stdout. */
static lws_sorted_usec_list_t flush_sul;
static void flush_tick(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	flush_out();
	if (out.len)
		lws_sul_schedule(ctx, 0, &flush_sul, flush_tick,
				 10 * LWS_US_PER_MS);
}

/* "+" and 2 to 15 digits, the first not 0. */
static int is_e164(const char *s)
{
	size_t n;

	if (s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	for (n = 1; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return 0;
	return n >= 3 && n <= 16;
}

static void add_action(const char *arg)
{
	struct action *a;

	if (nactions == sizeof actions / sizeof actions[0])
		cli_usage_error("too many --on-call actions (at most %zu)",
				sizeof actions / sizeof actions[0]);
	a = &actions[nactions++];
	if (strncmp(arg, "dial:", 5) == 0) {
		a->act = ACT_DIAL;
		a->arg = arg + 5;
		if (!is_e164(a->arg) && strncmp(a->arg, "sip:", 4) != 0 &&
		    strncmp(a->arg, "sips:", 5) != 0 &&
		    (strncmp(a->arg, "client:", 7) != 0 || !a->arg[7]))
			cli_usage_error("--on-call dial: expected +E.164 "
					"number, sip:URI or client:NAME, not "
					"'%s'", a->arg);
	} else if (strncmp(arg, "say:", 4) == 0 && arg[4]) {
		a->act = ACT_SAY;
		a->arg = arg + 4;
	} else if (strncmp(arg, "play:", 5) == 0 &&
		   (strncmp(arg + 5, "https://", 8) == 0 ||
		    strncmp(arg + 5, "http://", 7) == 0)) {
		a->act = ACT_PLAY;
		a->arg = arg + 5;
	} else if (strncmp(arg, "pause:", 6) == 0) {
		a->act = ACT_PAUSE;
		a->n = (long)cli_int("--on-call pause", arg + 6, 1, 14400);
	} else if (strcmp(arg, "hangup") == 0) {
		a->act = ACT_HANGUP;
	} else {
		cli_usage_error("unknown --on-call action '%s' (dial:, say:, "
				"play:URL, pause:SECONDS, hangup)", arg);
	}
}

/* prefix + n bytes of s + suffix, malloc'd; out of memory is fatal. */
static char *concat(const char *prefix, const char *s, size_t n,
		    const char *suffix)
{
	size_t size = strlen(prefix) + n + strlen(suffix) + 1;
	char *p = malloc(size);

	if (!p)
		die(1, "out of memory");
	snprintf(p, size, "%s%.*s%s", prefix, (int)n, s, suffix);
	return p;
}

/*
 * --public-url: this server's base (https://host[/prefix]), from which the
 * stream URL (wss://host[/prefix]/PATH) and the webhooks' URLs follow; or,
 * as before webhooks, the stream URL itself, whose last path segment is
 * then replaced for the webhooks.
 */
static void set_public_url(const char *u)
{
	static const char *const schemes[][2] = {
		{ "https://", "wss://" }, { "http://", "ws://" },
		{ "wss://", "https://" }, { "ws://", "http://" },
	};
	const char *rest, *slash;
	size_t i, n, from;

	for (i = 0; i < 4; i++)
		if (strncmp(u, schemes[i][0], strlen(schemes[i][0])) == 0)
			break;
	if (i == 4 || strpbrk(u, "?#"))
		cli_usage_error("invalid --public-url '%s': expected "
				"https://HOST[/PREFIX], without a query", u);
	rest = u + strlen(schemes[i][0]);
	if (!*rest || *rest == '/')
		cli_usage_error("invalid --public-url '%s': no host", u);
	n = strlen(rest);
	while (n && rest[n - 1] == '/')
		n--;
	if (i < 2) {
		hook_base = concat(schemes[i][0], rest, n, "");
		stream_url = concat(schemes[i][1], rest, n, opt_path);
	} else {
		stream_url = concat(u, "", 0, "");
		slash = memchr(rest, '/', n);
		from = n;
		if (slash)
			for (from = n; rest[from - 1] != '/'; from--)
				;
		if (slash)
			from--;
		hook_base = concat(schemes[i][1], rest, from, "");
	}
	if (i % 2)
		log_warn("--public-url '%s': Twilio streams only to wss:// "
			 "and should call webhooks over https://", u);
}

static void load_template(const char *path)
{
	size_t n;

	if (!(opt_template = cli_read_file(path, MAX_BODY, &n))) {
		if (errno == EFBIG)
			die(1, "cannot use '%s': larger than %d bytes", path,
			    MAX_BODY);
		die(1, "cannot open '%s': %s", path, strerror(errno));
	}
	if (memchr(opt_template, '\0', n))
		die(1, "cannot use '%s': not text", path);
	if (!strstr(opt_template, "{{stream"))
		log_warn("'%s' has neither {{stream}} nor {{stream_url}}: "
			 "calls will not be streamed", path);
}

static void parse_args(int argc, char **argv)
{
	enum { OPT_LISTEN = 256, OPT_PATH, OPT_PUBLIC, OPT_NOVERIFY, OPT_CERT, OPT_KEY,
	       OPT_BUFFER, OPT_MAXFRAME, OPT_DRAIN, OPT_HSTIMEOUT, OPT_STARTTIMEOUT,
	       OPT_COALESCE, OPT_ONCALL, OPT_TEMPLATE, OPT_TWIMLPATH,
	       OPT_STATUSPATH, OPT_HELP, OPT_VERSION };
	static const struct option opts[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"path", required_argument, NULL, OPT_PATH},
		{"public-url", required_argument, NULL, OPT_PUBLIC},
		{"no-verify", no_argument, NULL, OPT_NOVERIFY},
		{"cert", required_argument, NULL, OPT_CERT},
		{"key", required_argument, NULL, OPT_KEY},
		{"buffer", required_argument, NULL, OPT_BUFFER},
		{"max-frame", required_argument, NULL, OPT_MAXFRAME},
		{"drain", required_argument, NULL, OPT_DRAIN},
		{"handshake-timeout", required_argument, NULL, OPT_HSTIMEOUT},
		{"start-timeout", required_argument, NULL, OPT_STARTTIMEOUT},
		{"coalesce", required_argument, NULL, OPT_COALESCE},
		{"on-call", required_argument, NULL, OPT_ONCALL},
		{"twiml-template", required_argument, NULL, OPT_TEMPLATE},
		{"twiml-path", required_argument, NULL, OPT_TWIMLPATH},
		{"status-path", required_argument, NULL, OPT_STATUSPATH},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *template = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "qv", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_LISTEN: opt_listen = optarg; break;
		case OPT_PATH: opt_path = optarg; break;
		case OPT_PUBLIC: opt_public_url = optarg; break;
		case OPT_NOVERIFY: opt_no_verify = 1; break;
		case OPT_CERT: opt_cert = optarg; break;
		case OPT_KEY: opt_key = optarg; break;
		case OPT_BUFFER: opt_buffer = cli_size("--buffer", optarg); break;
		case OPT_MAXFRAME:
			opt_max_frame = cli_size("--max-frame", optarg);
			if (opt_max_frame < 256 || opt_max_frame > (64 << 20))
				cli_usage_error("--max-frame must be from 256 "
						"bytes to 64M");
			break;
		case OPT_DRAIN:
			opt_drain_ms = cli_ms("--drain", optarg, 3600000);
			break;
		case OPT_HSTIMEOUT:
			opt_handshake_s = (int)cli_int("--handshake-timeout",
						       optarg, 1, 3600);
			break;
		case OPT_STARTTIMEOUT:
			opt_start_s = (int)cli_int("--start-timeout", optarg,
						   1, 3600);
			break;
		case OPT_COALESCE:
			opt_coalesce_ms = cli_int("--coalesce", optarg, 0,
						  100);
			break;
		case OPT_ONCALL: add_action(optarg); break;
		case OPT_TEMPLATE: template = optarg; break;
		case OPT_TWIMLPATH: hook_paths[0] = optarg; break;
		case OPT_STATUSPATH: hook_paths[1] = optarg; break;
		case 'v': log_level++; break;
		case 'q': log_level = LOG_ERROR; break;
		case OPT_HELP: cli_help(usage);
		case OPT_VERSION: cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (opt_path[0] != '/' || hook_paths[0][0] != '/' ||
	    hook_paths[1][0] != '/')
		cli_usage_error("--path, --twiml-path and --status-path must "
				"start with '/'");
	if (strcmp(hook_paths[0], hook_paths[1]) == 0 ||
	    path_is(hook_paths[0], opt_path) ||
	    path_is(hook_paths[1], opt_path))
		cli_usage_error("--path, --twiml-path and --status-path must "
				"differ");
	if (!opt_cert != !opt_key)
		cli_usage_error("--cert and --key go together");
	if (template && nactions)
		cli_usage_error("--on-call and --twiml-template exclude each "
				"other");
	if (opt_public_url)
		set_public_url(opt_public_url);
	if (template)
		load_template(template);
}

int main(int argc, char **argv)
{
	static const struct lws_protocols protocols[] = {
		{ "twilio-media", callback, sizeof(struct conn), 0, 0, NULL,
		  0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	static const struct lws_extension exts[] = {
		{ "permessage-deflate", lws_extension_callback_pm_deflate,
		  "permessage-deflate; client_no_context_takeover; "
		  "client_max_window_bits" },
		{ NULL, NULL, NULL },
	};
	/* Twilio may name no subprotocol: bind such upgrades to ours. */
	static const struct lws_protocol_vhost_options pvo_default = {
		NULL, NULL, "default", ""
	}, pvo = { NULL, &pvo_default, "twilio-media", "" };
	struct lws_context_creation_info info;
	struct sigaction sa;
	char host[256];
	int port;
	int64_t next_wake, drain_deadline = 0;

	log_init(argv[0]);
	parse_args(argc, argv);

	if (cli_hostport(opt_listen, host, sizeof host, &port) ||
	    strncmp(host, "unix:", 5) == 0)
		cli_usage_error("invalid --listen '%s': expected ADDR:PORT",
				opt_listen);
	auth_token = getenv("TWILIO_AUTH_TOKEN");
	if (auth_token && !*auth_token)
		auth_token = NULL;
	if (!auth_token && !opt_no_verify && !cli_is_loopback(host))
		die(1, "refusing to listen on '%s' without TWILIO_AUTH_TOKEN "
		    "(set it, or give --no-verify)", opt_listen);
	if (!auth_token)
		log_info("TWILIO_AUTH_TOKEN not set: signatures not checked");
	if (!(scratch = malloc(BASE64_DECODED_MAX(opt_max_frame) + 4)))
		die(1, "out of memory");

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (out_flags < 0)
		die(1, "cannot use standard output: %s", strerror(errno));
	fcntl(STDOUT_FILENO, F_SETFL, out_flags | O_NONBLOCK);
	obuf_init(&out, STDOUT_FILENO, 0);
	grow_pipe(STDOUT_FILENO);

	lwslog_init();

	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = strcmp(host, "") == 0 ? NULL : host;
	info.protocols = protocols;
	info.pvo = &pvo;
	info.extensions = exts;
	/* both: a request half sent, and an upgrade not completed */
	info.timeout_secs = (unsigned)opt_handshake_s;
	info.timeout_secs_ah_idle = (unsigned)opt_handshake_s;
	/*
	 * What one wakeup may read from one socket.  lws's default, 4 KiB,
	 * would cap a busy stream at ~10 messages per --coalesce interval;
	 * this is one buffer for the whole loop, not one per connection.
	 */
	info.pt_serv_buf_size = 64 << 10;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (opt_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = opt_cert;
		info.ssl_private_key_filepath = opt_key;
		/*
		 * lws reads headers it does not know, X-Twilio-Signature
		 * among them, only over HTTP/1: offering h2 would make every
		 * signed request look unsigned.
		 */
		info.alpn = "http/1.1";
	}
	if (!(ctx = lws_create_context(&info)))
		die(1, "cannot listen on '%s'", opt_listen);
	log_info("listening on %s%s (%s)", opt_listen, opt_path,
		 opt_cert ? "wss" : "ws");
	if (hook_base)
		log_info("webhooks: %s%s (voice), %s%s (status callbacks); "
			 "streams to %s", hook_base, hook_paths[0], hook_base,
			 hook_paths[1], stream_url);
	else
		log_info("no --public-url: webhooks off");

	next_wake = mono_us();
	for (;;) {
		if (got_signal == SIGPIPE)
			break;
		if (got_signal && !drain_deadline) {
			log_info("draining %ld streams for up to %lld ms",
				 stats.streams, opt_drain_ms);
			drain_deadline = mono_ms() + opt_drain_ms;
		}
		if (drain_deadline && (!conns || mono_ms() >= drain_deadline))
			break;
		if (lws_service(ctx, 0) < 0)
			break;
		flush_out();
		if (out.len)	/* stdout is full: retry even if idle */
			lws_sul_schedule(ctx, 0, &flush_sul, flush_tick,
					 10 * LWS_US_PER_MS);
		if (opt_coalesce_ms) {
			int64_t now = mono_us();

			next_wake += opt_coalesce_ms * 1000;
			if (next_wake > now)
				pause_until(next_wake);
			else
				next_wake = now;
		}
	}

	/* Drain over: close what is left, saying why. */
	if (conns && got_signal != SIGPIPE) {
		struct conn *c;
		int64_t until = mono_ms() + 1000;

		log_warn("closing %ld streams still open after the drain",
			 stats.streams);
		for (c = conns; c; c = c->next) {
			c->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
			lws_callback_on_writable(c->wsi);
		}
		while (conns && mono_ms() < until)
			if (lws_service(ctx, 0) < 0)
				break;
	}
	lws_context_destroy(ctx);	/* closes the rest: on_closed runs */
	flush_out();
	if (obuf_drain(&out, 10000) != 0)
		log_error("%zu bytes of output not written", out.len);
	fcntl(STDOUT_FILENO, F_SETFL, out_flags);
	obuf_free(&out);
	free(scratch);
	free(stream_url);
	free(hook_base);
	free(opt_template);
	return out.error ? 1 : 0;
}
