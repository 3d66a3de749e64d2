/*
 * The HTTP side: access rules (token, Origin), the WebSocket upgrade
 * check, the page from --web, /healthz, /metrics and POST /api/calls.
 * Every reply is built whole in memory (the page's files are small) and
 * written in pieces as the socket takes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "broadcast.h"
#include "cli.h"
#include "log.h"

#define MAX_BODY 4096		/* POST /api/calls */
#define MAX_FILE (16 << 20)	/* a file of the page */
#define CHUNK 16384

/* One HTTP request: lws's per-session data until an upgrade. */
struct req {
	int kind;		/* SESSION_HTTP */
	int is_post, waiting, close_after;
	char body[MAX_BODY + 1];
	size_t body_len;
	int body_too_big;
	char *reply;		/* body waiting for WRITEABLE */
	size_t reply_len, reply_off;
};

size_t req_size(void)
{
	return sizeof(struct req);
}

/* --- access -------------------------------------------------------- */

/* Equal, in time that does not depend on where they differ. */
static int secret_eq(const char *a, size_t alen, const char *b)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)a, alen, da);
	SHA256((const unsigned char *)b, strlen(b), db);
	return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

/* The value of cookie tapline_token, or NULL.  (lws_http_cookie_get of
 * lws 4.1 did not find cookies that curl and browsers send.) */
static const char *cookie_token(struct lws *wsi, char *buf, size_t size,
				size_t *len)
{
	static const char name[] = "tapline_token=";
	char *p, *end;

	if (lws_hdr_copy(wsi, buf, (int)size, WSI_TOKEN_HTTP_COOKIE) <= 0)
		return NULL;
	for (p = buf; *p; p = end) {
		p += strspn(p, " ;");
		end = p + strcspn(p, ";");
		if (strncmp(p, name, sizeof name - 1) == 0) {
			p += sizeof name - 1;
			*len = (size_t)(end - p);
			while (*len && p[*len - 1] == ' ')
				--*len;
			return p;
		}
	}
	return NULL;
}

static int token_ok(struct lws *wsi)
{
	char buf[4096];
	const char *v;
	size_t n;
	int k;

	if (!opt.token)
		return 1;
	if ((v = cookie_token(wsi, buf, sizeof buf, &n)) &&
	    secret_eq(v, n, opt.token))
		return 1;
	k = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
	if (k > 7 && strncasecmp(buf, "Bearer ", 7) == 0 &&
	    secret_eq(buf + 7, (size_t)k - 7, opt.token))
		return 1;
	return 0;
}

/* No Origin (not a browser), or one allowed: --allow-origin, else this
 * server's own origin as the Host header names it. */
static int origin_ok(struct lws *wsi)
{
	char origin[512], host[300], self[320];
	int i;

	if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0)
		return lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0;
	if (opt.nallow_origin) {
		for (i = 0; i < opt.nallow_origin; i++)
			if (strcasecmp(origin, opt.allow_origin[i]) == 0)
				return 1;
		return 0;
	}
	if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
		return 0;
	snprintf(self, sizeof self, "http://%s", host);
	return strcasecmp(origin, self) == 0;
}

/* --- replies --------------------------------------------------------- */

static int reply(struct lws *wsi, struct req *r, unsigned status,
		 const char *type, const char *const *hdrs, char *body,
		 size_t len)
{
	unsigned char buf[LWS_PRE + 2048], *p = buf + LWS_PRE,
		      *end = buf + sizeof buf - 1;
	const char *const *h;

	r->reply = body;
	r->reply_len = len;
	r->reply_off = 0;
	r->waiting = 0;
	if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len,
					&p, end) ||
	    lws_add_http_header_by_name(wsi,
			(const unsigned char *)"x-content-type-options:",
			(const unsigned char *)"nosniff", 7, &p, end) ||
	    lws_add_http_header_by_name(wsi,
			(const unsigned char *)"referrer-policy:",
			(const unsigned char *)"no-referrer", 11, &p, end) ||
	    lws_add_http_header_by_name(wsi,
			(const unsigned char *)"cache-control:",
			(const unsigned char *)"no-cache", 8, &p, end))
		return 1;
	for (h = hdrs; h && *h; h += 2)
		if (lws_add_http_header_by_name(wsi,
				(const unsigned char *)h[0],
				(const unsigned char *)h[1],
				(int)strlen(h[1]), &p, end))
			return 1;
	if (lws_finalize_write_http_header(wsi, buf + LWS_PRE, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int reply_text(struct lws *wsi, struct req *r, unsigned status,
		      const char *text)
{
	char *body = strdup(text);

	if (!body)
		return 1;
	return reply(wsi, r, status, "text/plain; charset=utf-8", NULL, body,
		     strlen(body));
}

char *json_line(const json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL, *t;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	if ((t = realloc(s, n + 2))) {
		t[n] = '\n';
		t[n + 1] = '\0';
	} else {
		free(s);
	}
	return t;
}

char *json_error(const char *why)
{
	json_t *j = json_pack("{s:s}", "error", why);
	char *s = json_line(j);

	json_decref(j);
	return s;
}

static int reply_error(struct lws *wsi, struct req *r, unsigned status,
		       const char *why)
{
	char *s = json_error(why);

	if (!s)
		return 1;
	return reply(wsi, r, status, "application/json", NULL, s, strlen(s));
}

void http_answer(struct lws *wsi, unsigned status, char *body, size_t len)
{
	struct req *r = lws_wsi_user(wsi);

	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (reply(wsi, r, status, "application/json", NULL, body, len))
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
}

/* --- /metrics ---------------------------------------------------------- */

static char *metrics_text(size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
#define GAUGE(name, help, fmt, v) \
	fprintf(f, "# HELP ts_broadcast_" name " " help "\n" \
		"# TYPE ts_broadcast_" name " gauge\nts_broadcast_" name \
		" " fmt "\n", v)
#define COUNTER(name, help, v) \
	fprintf(f, "# HELP ts_broadcast_" name " " help "\n" \
		"# TYPE ts_broadcast_" name " counter\nts_broadcast_" name \
		" %llu\n", (unsigned long long)(v))
	GAUGE("clients", "WebSocket clients connected.", "%ld", nclients);
	COUNTER("connections_total", "WebSocket clients accepted.",
		stats.connections);
	GAUGE("feeds", "Producers connected to the feed socket.", "%ld",
	      feeds_open);
	COUNTER("events_in_total", "Events read (stdin and feeds).",
		stats.events);
	COUNTER("events_without_call_total", "Of those, events without "
		"call_sid (live only).", stats.events_nocall);
	COUNTER("malformed_lines_total", "Input lines skipped as malformed.",
		stats.malformed);
	COUNTER("long_lines_total", "Of those, lines over --max-line.",
		stats.lines_too_long);
	COUNTER("frames_out_total", "WebSocket messages sent to clients.",
		stats.frames_out);
	COUNTER("bytes_out_total", "Bytes of those messages.",
		stats.bytes_out);
	GAUGE("last_event_id", "Id of the newest event.", "%llu",
	      (unsigned long long)(hist.next_id - 1));
	GAUGE("history_calls", "Calls in the history.", "%zu", hist.ncalls);
	GAUGE("history_events", "Events in the history.", "%zu", hist.nent);
	GAUGE("history_bytes", "Bytes the history holds.", "%zu",
	      hist.bytes);
	COUNTER("history_evicted_calls_total", "Calls dropped from the "
		"history for its limits.", hist.evicted_calls);
	COUNTER("history_evicted_live_total", "Live calls or their events "
		"dropped from the history for its limits.",
		hist.evicted_live);
	GAUGE("queue_bytes", "Live event bytes queued for all clients.",
	      "%zu", stats.queue_bytes);
	GAUGE("queue_peak_bytes", "Most bytes ever queued for clients.",
	      "%zu", stats.queue_peak);
	fprintf(f, "# HELP ts_broadcast_clients_cut_total Clients "
		"disconnected by the server, by reason.\n"
		"# TYPE ts_broadcast_clients_cut_total counter\n"
		"ts_broadcast_clients_cut_total{reason=\"queue_full\"} %llu\n"
		"ts_broadcast_clients_cut_total{reason=\"slow\"} %llu\n"
		"ts_broadcast_clients_cut_total{reason=\"frame_too_big\"} "
		"%llu\n", stats.cut_hard, stats.cut_slow, stats.cut_too_big);
	fprintf(f, "# HELP ts_broadcast_refused_total Requests refused, by "
		"reason.\n# TYPE ts_broadcast_refused_total counter\n"
		"ts_broadcast_refused_total{reason=\"token\"} %llu\n"
		"ts_broadcast_refused_total{reason=\"origin\"} %llu\n"
		"ts_broadcast_refused_total{reason=\"path\"} %llu\n"
		"ts_broadcast_refused_total{reason=\"draining\"} %llu\n",
		stats.refused_token, stats.refused_origin, stats.refused_path,
		stats.refused_draining);
	fprintf(f, "# HELP ts_broadcast_resume_total Clients that gave "
		"since=, by outcome.\n# TYPE ts_broadcast_resume_total "
		"counter\nts_broadcast_resume_total{resumed=\"true\"} %llu\n"
		"ts_broadcast_resume_total{resumed=\"false\"} %llu\n",
		stats.resumed, stats.not_resumed);
	fprintf(f, "# HELP ts_broadcast_dial_total POST /api/calls, by "
		"answer.\n# TYPE ts_broadcast_dial_total counter\n"
		"ts_broadcast_dial_total{status=\"201\"} %llu\n"
		"ts_broadcast_dial_total{status=\"400\"} %llu\n"
		"ts_broadcast_dial_total{status=\"502\"} %llu\n",
		stats.dial_ok, stats.dial_bad, stats.dial_failed);
	COUNTER("journal_lines_replayed_total", "Events read back from the "
		"journal at start.", journal_lines);
	COUNTER("journal_syncs_total", "fdatasync calls on the journal.",
		journal_fsyncs);
	COUNTER("journal_errors_total", "Journal writes or syncs that "
		"failed.", journal_errors);
	COUNTER("http_requests_total", "HTTP requests.", stats.http_requests);
#undef GAUGE
#undef COUNTER
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

/* --- the page ------------------------------------------------------- */

static const char *content_type(const char *name)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".webmanifest", "application/manifest+json" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i][0]) == 0)
			return types[i][1];
	return NULL;
}

/* Only plain names: no '/', no leading '.', nothing odd. */
static int name_ok(const char *name)
{
	size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "abcdefghijklmnopqrstuvwxyz0123456789._-");

	return n > 0 && n < 256 && name[n] == '\0' && name[0] != '.';
}

static int serve_file(struct lws *wsi, struct req *r, const char *uri)
{
	const char *name = strcmp(uri, "/") == 0 ? "index.html" : uri + 1;
	const char *type;
	char path[4096], *body;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	if (!name_ok(name) || !(type = content_type(name)))
		return reply_text(wsi, r, 404, "not found\n");
	snprintf(path, sizeof path, "%s/%s", opt.web, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MAX_FILE) {
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT)
			log_warn("cannot open '%s': %s", path,
				 strerror(errno));
		return reply_text(wsi, r, 404, "not found\n");
	}
	if (!(body = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return 1;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, body + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return reply(wsi, r, 200, type, NULL, body, got);
}

/* --- routes ---------------------------------------------------------- */

/* GET /?token=T: T right sets the cookie and sends the browser to /, so
 * the token leaves the address bar (and the history). */
static int login(struct lws *wsi, struct req *r, const char *given)
{
	static const char attrs[] = "; Path=/; HttpOnly; SameSite=Strict";
	const char *hdrs[5];
	char cookie[1200];

	if (!secret_eq(given, strlen(given), opt.token)) {
		stats.refused_token++;
		return reply_text(wsi, r, 401, "unauthorized\n");
	}
	snprintf(cookie, sizeof cookie, "tapline_token=%s%s", opt.token,
		 attrs);
	hdrs[0] = "set-cookie:";
	hdrs[1] = cookie;
	hdrs[2] = "location:";
	hdrs[3] = "/";
	hdrs[4] = NULL;
	return reply(wsi, r, 303, "text/plain; charset=utf-8", hdrs,
		     strdup("see /\n"), 6);
}

static int on_dial_body(struct lws *wsi, struct req *r)
{
	json_error_t err;
	json_t *j;
	const char *to;
	int rc;

	if (r->body_too_big) {
		stats.dial_bad++;
		return reply_error(wsi, r, 413, "request body too large");
	}
	j = json_loadb(r->body, r->body_len, 0, &err);
	to = json_string_value(json_object_get(j, "to"));
	if (!json_is_object(j) || !to) {
		json_decref(j);
		stats.dial_bad++;
		return reply_error(wsi, r, 400,
				   "expected {\"to\":\"+E.164 number\"}");
	}
	if (!cli_is_e164(to)) {
		json_decref(j);
		stats.dial_bad++;
		return reply_error(wsi, r, 400, "'to' is not an E.164 number "
				   "(+ and 2 to 15 digits)");
	}
	rc = dial_start(wsi, to);
	json_decref(j);
	if (rc != 0) {
		stats.dial_failed++;
		return reply_error(wsi, r, 502, "cannot start the dial "
				   "command");
	}
	r->waiting = 1;
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
			(int)(opt.dial_timeout_ms / 1000) + 5);
	return 0;
}

static int on_request(struct lws *wsi, struct req *r, const char *uri)
{
	char arg[1024];
	const char *given;
	char *body;
	size_t len;

	stats.http_requests++;
	r->is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	r->close_after = r->is_post;
	if (strcmp(uri, "/healthz") == 0)
		return reply_text(wsi, r, draining ? 503 : 200,
				  draining ? "draining\n" : "ok\n");
	if (opt.token) {
		if (strcmp(uri, "/") == 0 && !r->is_post &&
		    (given = lws_get_urlarg_by_name(wsi, "token=", arg,
						    sizeof arg)))
			return login(wsi, r, given);
		if (!token_ok(wsi)) {
			stats.refused_token++;
			return reply_text(wsi, r, 401, "unauthorized\n");
		}
	}
	if (strcmp(uri, "/api/calls") == 0 && opt.dial_cmd) {
		if (!r->is_post)
			return reply_text(wsi, r, 405, "use POST\n");
		/* a page of another site must not place calls */
		if (!origin_ok(wsi)) {
			stats.refused_origin++;
			return reply_text(wsi, r, 403, "origin not allowed\n");
		}
		if (lws_hdr_copy(wsi, arg, sizeof arg,
				 WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
		    strtoull(arg, NULL, 10) == 0) {
			stats.dial_bad++;
			return reply_error(wsi, r, 400, "expected {\"to\":"
					   "\"+E.164 number\"}");
		}
		if (strtoull(arg, NULL, 10) > MAX_BODY) {
			stats.dial_bad++;
			return reply_error(wsi, r, 413,
					   "request body too large");
		}
		/* the body comes in LWS_CALLBACK_HTTP_BODY */
		r->waiting = 1;
		return 0;
	}
	if (r->is_post)
		return reply_text(wsi, r, 404, "not found\n");
	if (strcmp(uri, "/metrics") == 0) {
		if (!(body = metrics_text(&len)))
			return 1;
		return reply(wsi, r, 200, "text/plain; version=0.0.4", NULL,
			     body, len);
	}
	return serve_file(wsi, r, uri);
}

/* Answer an upgrade with a status and a plain text body, then close
 * (lws_return_http_status would say it in HTML). */
static int refuse_upgrade(struct lws *wsi, unsigned status)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
		      *end = buf + sizeof buf - 1;
	const char *text = status == 401 ? "unauthorized\n" :
			   status == 403 ? "origin not allowed\n" :
			   status == 404 ? "not found\n" :
			   status == 503 ? "draining\n" : "bad request\n";
	size_t n = strlen(text);

	if (lws_add_http_common_headers(wsi, status,
					"text/plain; charset=utf-8",
					(lws_filepos_t)n, &p, end) ||
	    lws_add_http_header_by_name(wsi,
			(const unsigned char *)"connection:",
			(const unsigned char *)"close", 5, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end) ||
	    (size_t)(end - p) < n) {
		lws_return_http_status(wsi, status, NULL);
		return 1;
	}
	memcpy(p, text, n);
	p += n;
	lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
	return 1;
}

static int on_confirm_upgrade(struct lws *wsi)
{
	char uri[256];
	int status = 0;

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(uri, "/ws") != 0) {
		stats.refused_path++;
		status = HTTP_STATUS_NOT_FOUND;
	} else if (draining) {
		stats.refused_draining++;
		status = HTTP_STATUS_SERVICE_UNAVAILABLE;
	} else if (!token_ok(wsi)) {
		stats.refused_token++;
		status = HTTP_STATUS_UNAUTHORIZED;
	} else if (!origin_ok(wsi)) {
		stats.refused_origin++;
		status = HTTP_STATUS_FORBIDDEN;
	} else if (!ws_args_ok(wsi)) {
		status = HTTP_STATUS_BAD_REQUEST;
	}
	if (!status)
		return 0;
	return refuse_upgrade(wsi, (unsigned)status);
}

static int on_writeable(struct lws *wsi, struct req *r)
{
	unsigned char *b;
	size_t n;
	int final, w;

	if (!r->reply)
		return 0;
	n = r->reply_len - r->reply_off;
	if (n > CHUNK)
		n = CHUNK;
	final = r->reply_off + n == r->reply_len;
	if (!(b = malloc(LWS_PRE + n + 1)))
		return -1;
	memcpy(b + LWS_PRE, r->reply + r->reply_off, n);
	w = lws_write(wsi, b + LWS_PRE, n,
		      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
	free(b);
	if (w < (int)n)
		return -1;
	r->reply_off += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(r->reply);
	r->reply = NULL;
	if (r->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	    void *in, size_t len)
{
	struct req *r = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_confirm_upgrade(wsi);
	case LWS_CALLBACK_HTTP:
		free(r->reply);
		memset(r, 0, sizeof *r);
		r->kind = SESSION_HTTP;
		return on_request(wsi, r, in) ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY:
		if (r->body_len + len > MAX_BODY) {
			r->body_too_big = 1;
			break;
		}
		memcpy(r->body + r->body_len, in, len);
		r->body_len += len;
		break;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!r->waiting || r->reply)
			break;
		r->body[r->body_len] = '\0';
		return on_dial_body(wsi, r) ? -1 : 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_writeable(wsi, r);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (r && r->kind == SESSION_HTTP) {
			dial_forget(wsi);
			free(r->reply);
			r->reply = NULL;
			r->kind = 0;
		}
		break;
	default:
		break;
	}
	return 0;
}
