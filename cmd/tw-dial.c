/*
 * tw-dial: place, inspect, follow and end calls through Twilio's REST API
 * (the Calls resource).  See tw-dial(1).
 *
 * Every request goes through request(), which retries what is safe to
 * retry and otherwise ends the program with the exit status that names
 * the failure, so the callers only ever see a 2xx answer.  The rule that
 * matters: a create is never repeated once it may have reached Twilio,
 * because a second POST to Calls.json is a second telephone call.  It is
 * repeated only after a 429 (Twilio says those are not processed) or when
 * the connection failed before a byte of the request was sent.
 *
 * Credentials come from the environment only and are handed to libcurl
 * alone: they are never printed, logged, or put in a URL.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "clock.h"
#include "log.h"

#define SID_LEN		34	/* two letters and 32 hex digits */
#define TWIML_MAX	4000	/* characters, Twilio's limit for Twiml */
#define PARAM_MAX	500	/* a <Parameter>'s name and value, under */
#define BODY_MAX	(1 << 20)	/* largest response we keep */
#define FILE_MAX	(64 << 10)	/* largest --twiml file read */

/* Exit statuses beyond 0, 1 and 2; tw-dial(1) lists them. */
enum {
	EXIT_FAIL = 1,
	EXIT_AUTH = 3,		/* 401 or 403 */
	EXIT_REJECTED = 4,	/* any other 4xx: Twilio said no */
	EXIT_UNAVAILABLE = 5,	/* network, 5xx, 429 after the retries */
	EXIT_BUSY = 6,		/* --wait: the call ended this way */
	EXIT_NO_ANSWER = 7,
	EXIT_CANCELED = 8,
	EXIT_CALL_FAILED = 9,
};

/* What the generated TwiML does after the stream starts, in order. */
enum verb { V_BRIDGE, V_SAY, V_PLAY, V_PAUSE };

struct action {
	enum verb verb;
	const char *arg;
};

struct buf {
	char *p;
	size_t len, cap;
};

static struct {
	const char *to, *from;
	const char *stream;
	const char **params;	/* NAME=VALUE */
	size_t nparams;
	struct action *actions;
	size_t nactions;
	const char *twiml_file, *url;
	const char *status_callback, *status_events;
	const char *machine_detection;
	const char *api_base;
	const char *hangup_sid, *status_sid;
	long long timeout, time_limit;	/* 0: not sent */
	long long request_timeout_ms, retry_time_ms, poll_ms;
	long long retries;
	int record, print_twiml, wait, quiet;
} opt;

static CURL *curl;
static struct curl_slist *headers;
static char base[512];		/* API base URL, no trailing slash */
static char account_sid[SID_LEN + 1];
static char errbuf[CURL_ERROR_SIZE];
static volatile sig_atomic_t interrupted;	/* SIGINT or SIGTERM, --wait */

static const char usage_text[] =
"usage: tw-dial [options] TO\n"
"       tw-dial --status SID [--wait]\n"
"       tw-dial --hangup SID\n"
"Place a call through Twilio's REST API and print the call as JSON.\n"
"\n"
"  -f, --from NUMBER           caller ID (default $TWILIO_CALLER_ID)\n"
"  -s, --stream URL            stream both tracks to this wss:// URL\n"
"  -P, --param NAME=VALUE      a <Parameter> of the stream\n"
"  -b, --bridge NUMBER         then <Dial> this number\n"
"  -S, --say TEXT              then <Say> TEXT\n"
"  -p, --play URL              then <Play> the audio at URL\n"
"      --pause SECONDS         then <Pause> this long\n"
"  -t, --twiml FILE|-          use this TwiML instead\n"
"  -u, --url URL               let Twilio fetch the TwiML from URL\n"
"      --print-twiml           print the TwiML and place no call\n"
"      --status-callback URL   Twilio reports the call's progress there\n"
"      --status-events LIST    which: initiated,ringing,answered,completed\n"
"      --record                record the call\n"
"      --timeout SECONDS       ring this long (Twilio's default: 60)\n"
"      --time-limit SECONDS    end the call after this long\n"
"      --machine-detection[=DetectMessageEnd]  detect answering machines\n"
"  -w, --wait                  follow the call until it ends, printing\n"
"                              call.status events\n"
"      --status SID            print a call\n"
"      --hangup SID            end a call\n"
"      --api-base URL          Twilio's API at another address\n"
"      --request-timeout SECONDS  per request (default 30)\n"
"      --retries N             retries of a failed request (default 3)\n"
"      --retry-time SECONDS    at most this long retrying (default 60)\n"
"      --poll SECONDS          longest interval between polls (default 5)\n"
"  -q, --quiet                 print the SID (or status) only; errors only\n"
"  -v, --verbose               log requests\n"
"      --help                  show this help and exit\n"
"      --version               show the version and exit\n"
"\n"
"Credentials: TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or with\n"
"TWILIO_API_KEY and TWILIO_API_SECRET.\n";

/* ---- small helpers --------------------------------------------------- */

static void oom(void)
{
	die(EXIT_FAIL, "out of memory");
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			oom();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Unicode characters in valid UTF-8 s, or -1 if s is not valid UTF-8. */
static long utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	long n = 0;

	while (p < end) {
		unsigned c = *p;
		size_t k;
		unsigned long cp;

		if (c < 0x80) {
			p++, n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return -1;
		if ((size_t)(end - p) <= k)
			return -1;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		p += k + 1;
		n++;
	}
	return n;
}

/*
 * Text fit for an XML attribute or element: valid UTF-8 and no control
 * characters, which XML 1.0 cannot carry (tab and newline aside).
 */
static void check_text(const char *opt_name, const char *s)
{
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
		    c == 0x7f)
			cli_usage_error("%s: control characters cannot go in "
					"TwiML", opt_name);
	}
	if (utf8_chars(s, strlen(s)) < 0)
		cli_usage_error("%s: not valid UTF-8", opt_name);
}

static void xml_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_str(b, "&amp;"); break;
		case '<': buf_str(b, "&lt;"); break;
		case '>': buf_str(b, "&gt;"); break;
		case '"': buf_str(b, "&quot;"); break;
		case '\'': buf_str(b, "&apos;"); break;
		default: buf_add(b, s, 1); break;
		}
	}
}

/* Server text on our stderr: no terminal control sequences get through. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int is_sid(const char *s, const char *prefix)
{
	return strlen(s) == SID_LEN && strncmp(s, prefix, 2) == 0 &&
	       strspn(s + 2, "0123456789abcdefABCDEF") == SID_LEN - 2;
}

static int has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncmp(url, scheme, n) == 0 && url[n] != '\0';
}

/* Sleep, or less when a signal asks --wait to stop. */
static void sleep_ms(long long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
		;
}

static void write_out(const char *s)
{
	if (fputs(s, stdout) == EOF || fflush(stdout) != 0)
		die(EXIT_FAIL, "cannot write to standard output: %s",
		    strerror(errno));
}

/*
 * A closed standard descriptor would be taken by the connection's socket,
 * and the call's JSON written into it.  Without standard output the SID
 * of a call could not be told, so no call is placed at all.
 */
static void guard_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (fd == 1)
			die(EXIT_FAIL, "standard output is closed");
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			exit(EXIT_FAIL);
	}
}

/* ---- TwiML ----------------------------------------------------------- */

static void build_twiml(struct buf *b)
{
	buf_str(b, "<Response>");
	if (opt.stream) {
		buf_str(b, "<Start><Stream url=\"");
		xml_escape(b, opt.stream);
		buf_str(b, "\" track=\"both_tracks\">");
		for (size_t i = 0; i < opt.nparams; i++) {
			const char *eq = strchr(opt.params[i], '=');
			char *name = strndup(opt.params[i],
					     (size_t)(eq - opt.params[i]));

			if (!name)
				oom();
			buf_str(b, "<Parameter name=\"");
			xml_escape(b, name);
			buf_str(b, "\" value=\"");
			xml_escape(b, eq + 1);
			buf_str(b, "\"/>");
			free(name);
		}
		buf_str(b, "</Stream></Start>");
	}
	for (size_t i = 0; i < opt.nactions; i++) {
		const struct action *a = &opt.actions[i];

		switch (a->verb) {
		case V_BRIDGE:
			buf_str(b, "<Dial>");
			xml_escape(b, a->arg);
			buf_str(b, "</Dial>");
			break;
		case V_SAY:
			buf_str(b, "<Say>");
			xml_escape(b, a->arg);
			buf_str(b, "</Say>");
			break;
		case V_PLAY:
			buf_str(b, "<Play>");
			xml_escape(b, a->arg);
			buf_str(b, "</Play>");
			break;
		case V_PAUSE:
			buf_str(b, "<Pause length=\"");
			buf_str(b, a->arg);
			buf_str(b, "\"/>");
			break;
		}
	}
	buf_str(b, "</Response>");
}

static void read_twiml_file(struct buf *b, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char chunk[4096];
	size_t n;

	if (!f)
		die(EXIT_FAIL, "cannot open '%s': %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_add(b, chunk, n);
		if (b->len > FILE_MAX)
			break;
	}
	if (ferror(f))
		die(EXIT_FAIL, "cannot read '%s': %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	if (b->len > 0 && memchr(b->p, '\0', b->len))
		die(EXIT_FAIL, "'%s' is not text", path);
	/* a file's final newline is not part of the TwiML */
	while (b->len > 0 && strchr(" \t\r\n", b->p[b->len - 1]))
		b->p[--b->len] = '\0';
	if (b->len == 0)
		die(EXIT_FAIL, "'%s' is empty", path);
}

/* The TwiML of the call, checked against Twilio's limit. */
static void make_twiml(struct buf *b)
{
	long chars;

	if (opt.twiml_file)
		read_twiml_file(b, opt.twiml_file);
	else
		build_twiml(b);
	chars = b->len > FILE_MAX ? -2 : utf8_chars(b->p, b->len);
	if (chars == -1)
		die(EXIT_USAGE, "the TwiML is not valid UTF-8");
	if (chars == -2 || chars > TWIML_MAX)
		die(EXIT_USAGE, "the TwiML has %s%ld characters; Twilio takes "
		    "at most %d (use --url for longer TwiML)",
		    chars == -2 ? "over " : "",
		    chars == -2 ? (long)FILE_MAX : chars, TWIML_MAX);
}

/* ---- HTTP ------------------------------------------------------------ */

struct resp {
	long status;
	struct buf body;
	int too_big;
	long long retry_after_ms;	/* -1: no Retry-After */
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	if (r->body.len + n > BODY_MAX) {
		r->too_big = 1;
		return 0;
	}
	buf_add(&r->body, data, n);
	(void)size;
	return n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	static const char name[] = "retry-after:";
	struct resp *r = arg;
	const size_t nlen = sizeof name - 1;
	char value[128], *end;
	long long secs;
	time_t when;

	(void)size;
	if (n <= nlen || n - nlen >= sizeof value ||
	    strncasecmp(data, name, nlen) != 0)
		return n;
	memcpy(value, data + nlen, n - nlen);
	value[n - nlen] = '\0';
	value[strcspn(value, "\r\n")] = '\0';
	/* Retry-After is whole seconds or an HTTP date (RFC 9110 10.2.3) */
	errno = 0;
	secs = strtoll(value, &end, 10);
	if (!errno && end != value && *end == '\0' && secs >= 0 &&
	    secs < 86400 * 365)
		r->retry_after_ms = secs * 1000;
	else if ((when = curl_getdate(value, NULL)) != -1)
		r->retry_after_ms = when > time(NULL) ?
			(long long)(when - time(NULL)) * 1000 : 0;
	return n;
}

/* The API error in a response, as "21211: message (more_info)". */
static void api_error_text(const struct resp *r, char *out, size_t outsz)
{
	json_t *root = NULL, *code, *msg, *info;

	if (r->body.len)
		root = json_loadb(r->body.p, r->body.len, 0, NULL);
	code = json_object_get(root, "code");
	msg = json_object_get(root, "message");
	info = json_object_get(root, "more_info");
	if (!json_is_string(msg)) {
		snprintf(out, outsz, "HTTP %ld from '%s' (not a Twilio error)",
			 r->status, base);
		json_decref(root);
		return;
	}
	if (json_is_integer(code))
		snprintf(out, outsz, "%lld: %s", json_integer_value(code),
			 json_string_value(msg));
	else
		snprintf(out, outsz, "HTTP %ld: %s", r->status,
			 json_string_value(msg));
	if (json_is_string(info) && json_string_length(info) > 0) {
		size_t n = strlen(out);

		snprintf(out + n, outsz - n, " (%s)", json_string_value(info));
	}
	sanitize(out);
	json_decref(root);
}

static long long api_error_code(const struct resp *r)
{
	json_t *root;
	long long code = 0;

	if (!r->body.len)
		return 0;
	root = json_loadb(r->body.p, r->body.len, 0, NULL);
	if (json_is_integer(json_object_get(root, "code")))
		code = json_integer_value(json_object_get(root, "code"));
	json_decref(root);
	return code;
}

static long connect_timeout_ms(void)
{
	return (long)(opt.request_timeout_ms < 10000 ? opt.request_timeout_ms
						     : 10000);
}

/* A clear sentence for a transfer that failed below HTTP. */
static void net_error_text(CURLcode rc, char *out, size_t outsz)
{
	long os_errno = 0;
	double connect_time = 0;
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME, &connect_time);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(out, outsz, "cannot resolve the host of '%s'", base);
		break;
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(out, outsz, "cannot resolve the proxy's host: %s",
			 why);
		break;
	case CURLE_COULDNT_CONNECT:
		snprintf(out, outsz, "cannot connect to '%s': %s", base,
			 os_errno ? strerror((int)os_errno) : why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_time > 0)
			snprintf(out, outsz, "request to '%s' timed out after "
				 "%.1f s", base,
				 (double)opt.request_timeout_ms / 1000);
		else
			snprintf(out, outsz, "connecting to '%s' timed out "
				 "after %.1f s", base,
				 (double)connect_timeout_ms() / 1000);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(out, outsz, "TLS handshake with '%s' failed: %s",
			 base, why);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, outsz, "cannot verify the TLS certificate of "
			 "'%s': %s", base, why);
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		snprintf(out, outsz, "connection to '%s' lost: %s", base, why);
		break;
	case CURLE_WRITE_ERROR:
		snprintf(out, outsz, "answer from '%s' is over %d bytes", base,
			 BODY_MAX);
		break;
	default:
		snprintf(out, outsz, "request to '%s' failed: %s", base, why);
		break;
	}
	sanitize(out);
}

/*
 * Whether a failed transfer may be tried again.  A request that is safe
 * to repeat (reading a call, hanging up) may be after any transient
 * failure; a create only when nothing of it was sent.
 */
static int net_retryable(CURLcode rc, int safe)
{
	long sent = 0;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_WRITE_ERROR:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_OUT_OF_MEMORY:
		return 0;	/* trying again will not help */
	default:
		break;
	}
	if (safe)
		return 1;
	curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent);
	return rc == CURLE_COULDNT_CONNECT ||
	       (rc == CURLE_OPERATION_TIMEDOUT && sent == 0);
}

/* Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... up to 8 s. */
static long long backoff_ms(long long attempt)
{
	long long full = 500LL << (attempt < 4 ? attempt : 4);
	unsigned r = 0;

	if (getrandom(&r, sizeof r, 0) != sizeof r)
		r = (unsigned)mono_us();
	return full / 2 + (long long)(r % (unsigned)(full / 2 + 1));
}

static int perform(const char *method, const char *url, const char *form,
		   struct resp *r)
{
	CURLcode rc;
	int64_t t0 = mono_ms();

	buf_free(&r->body);
	r->status = 0;
	r->too_big = 0;
	r->retry_after_ms = -1;
	errbuf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (form) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(form));
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	if (form)
		log_debug("form: %s", form);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
		log_info("%s %s: %ld (%.2f s)", method, url, r->status,
			 (double)(mono_ms() - t0) / 1000);
	} else if (r->too_big) {
		rc = CURLE_WRITE_ERROR;
	}
	return (int)rc;
}

/* Report a failed request and exit; note when a call may exist anyway. */
static void __attribute__((noreturn))
fail(int status, const char *text, int maybe_placed)
{
	if (!maybe_placed)
		die(status, "%s", text);
	log_error("%s", text);
	die(status, "not retried: the call may have been placed; check "
	    "before trying again");
}

/*
 * One API request with its retries.  Returns only with a 2xx answer in r;
 * any other outcome is reported and ends the program.  safe: the request
 * may be repeated without effect beyond the first.
 */
static void request(const char *method, const char *path, const char *form,
		    int safe, struct resp *r)
{
	char url[2048], text[1024];
	int64_t start = mono_ms();
	long long attempt;

	if ((size_t)snprintf(url, sizeof url, "%s%s", base, path) >=
	    sizeof url)
		die(EXIT_USAGE, "API base URL too long");
	for (attempt = 0;; attempt++) {
		int rc = perform(method, url, form, r);
		long long wait_ms;

		if (rc != CURLE_OK) {
			long sent = 0;

			curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent);
			net_error_text((CURLcode)rc, text, sizeof text);
			if (!net_retryable((CURLcode)rc, safe))
				fail(EXIT_UNAVAILABLE, text, !safe && sent > 0);
			wait_ms = backoff_ms(attempt);
		} else if (r->status >= 200 && r->status < 300) {
			return;
		} else {
			/* Twilio: a 429 was not processed, so always safe */
			int rate = r->status == 429 ||
				   api_error_code(r) == 20429;

			api_error_text(r, text, sizeof text);
			if (r->status == 401 || r->status == 403)
				fail(EXIT_AUTH, text, 0);
			if (!rate && r->status >= 400 && r->status < 500)
				fail(EXIT_REJECTED, text, 0);
			if (!rate && r->status < 400)
				fail(EXIT_FAIL, text, 0);
			if (!rate && !safe)
				fail(EXIT_UNAVAILABLE, text, 1);
			wait_ms = r->retry_after_ms >= 0 ? r->retry_after_ms
							 : backoff_ms(attempt);
		}
		if (attempt >= opt.retries) {
			log_error("%s", text);
			die(EXIT_UNAVAILABLE, "giving up after %lld %s",
			    attempt + 1, attempt ? "attempts" : "attempt");
		}
		if (mono_ms() + wait_ms - start > opt.retry_time_ms) {
			log_error("%s", text);
			die(EXIT_UNAVAILABLE, "giving up: waiting %.1f s more "
			    "would pass --retry-time (%.1f s)",
			    (double)wait_ms / 1000,
			    (double)opt.retry_time_ms / 1000);
		}
		log_warn("%s; retrying in %.1f s", text,
			 (double)wait_ms / 1000);
		sleep_ms(wait_ms);
	}
}

/* ---- setup ----------------------------------------------------------- */

static void form_add(struct buf *b, const char *name, const char *value)
{
	char *v = curl_easy_escape(curl, value, 0);

	if (!v)
		oom();
	if (b->len)
		buf_str(b, "&");
	buf_str(b, name);
	buf_str(b, "=");
	buf_str(b, v);
	curl_free(v);
}

/* From TWILIO_REGION and TWILIO_EDGE, as Twilio's SDKs do. */
static void region_base(void)
{
	/* the edge each region is reached through by default */
	static const char *const edges[][2] = {
		{ "au1", "sydney" }, { "br1", "sao-paulo" },
		{ "de1", "frankfurt" }, { "ie1", "dublin" },
		{ "jp1", "tokyo" }, { "jp2", "osaka" },
		{ "sg1", "singapore" }, { "us1", "ashburn" },
		{ "us2", "umatilla" },
	};
	const char *region = getenv("TWILIO_REGION");
	const char *edge = getenv("TWILIO_EDGE");
	const char *allowed = "abcdefghijklmnopqrstuvwxyz0123456789-";

	if (region && !*region)
		region = NULL;
	if (edge && !*edge)
		edge = NULL;
	if (!region && !edge) {
		memcpy(base, "https://api.twilio.com",
		       sizeof "https://api.twilio.com");
		return;
	}
	if ((region && (strlen(region) > 64 ||
			region[strspn(region, allowed)])) ||
	    (edge && (strlen(edge) > 64 || edge[strspn(edge, allowed)])))
		die(EXIT_USAGE, "TWILIO_REGION and TWILIO_EDGE take lower-case "
		    "names such as 'ie1' and 'dublin'");
	if (!region)
		region = "us1";
	if (!edge) {
		for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
			if (strcmp(edges[i][0], region) == 0)
				edge = edges[i][1];
		if (!edge)
			die(EXIT_USAGE, "no default edge known for region "
			    "'%s': set TWILIO_EDGE too", region);
	}
	snprintf(base, sizeof base, "https://api.%s.%s.twilio.com", edge,
		 region);
}

/*
 * --api-base or TWILIO_API_BASE: http(s), no credentials, no query; plain
 * http only to this machine, since Basic credentials travel in clear.
 */
static void set_api_base(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	char *query = NULL, *frag = NULL;
	size_t n;

	if (!u)
		oom();
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		cli_usage_error("--api-base: '%s' is not a URL", url);
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	if (user || pass)
		cli_usage_error("--api-base: credentials do not belong in the "
				"URL; set them in the environment");
	if (!scheme || (strcmp(scheme, "https") != 0 &&
			strcmp(scheme, "http") != 0))
		cli_usage_error("--api-base: '%s' is not an http(s) URL", url);
	if (query || frag)
		cli_usage_error("--api-base: '%s' has a query or fragment",
				url);
	if (strcmp(scheme, "http") == 0) {
		char h[256];
		size_t hl = strlen(host);

		if (host[0] == '[' && hl >= 2 && hl - 2 < sizeof h) {
			memcpy(h, host + 1, hl - 2);
			h[hl - 2] = '\0';
		} else {
			snprintf(h, sizeof h, "%s", host);
		}
		if (!cli_is_loopback(h))
			cli_usage_error("--api-base: plain http is only for "
					"this machine (127.0.0.1 or ::1); use "
					"https");
	}
	if ((n = strlen(url)) >= sizeof base)
		cli_usage_error("--api-base: URL too long");
	memcpy(base, url, n + 1);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
}

static void set_credentials(void)
{
	const char *sid = getenv("TWILIO_ACCOUNT_SID");
	const char *token = getenv("TWILIO_AUTH_TOKEN");
	const char *key = getenv("TWILIO_API_KEY");
	const char *secret = getenv("TWILIO_API_SECRET");
	const char *user, *pass;

	if (!sid || !*sid)
		die(EXIT_USAGE, "TWILIO_ACCOUNT_SID is not set");
	if (!is_sid(sid, "AC"))
		die(EXIT_USAGE, "TWILIO_ACCOUNT_SID is not an account SID "
		    "(AC and 32 hex digits)");
	memcpy(account_sid, sid, SID_LEN + 1);
	if (key && !*key)
		key = NULL;
	if (secret && !*secret)
		secret = NULL;
	if (!key != !secret)
		die(EXIT_USAGE, "TWILIO_API_KEY and TWILIO_API_SECRET go "
		    "together: one is not set");
	if (key) {
		user = key;
		pass = secret;
		if (strchr(key, ':'))
			die(EXIT_USAGE, "TWILIO_API_KEY has a ':'");
	} else {
		if (!token || !*token)
			die(EXIT_USAGE, "TWILIO_AUTH_TOKEN is not set (nor "
			    "TWILIO_API_KEY and TWILIO_API_SECRET)");
		user = sid;
		pass = token;
	}
	curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(curl, CURLOPT_USERNAME, user);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, pass);
}

static void setup_curl(void)
{
	static char agent[64];

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(curl = curl_easy_init()))
		die(EXIT_FAIL, "cannot initialise libcurl");
	snprintf(agent, sizeof agent, "tw-dial (tapline) %s", TAPLINE_VERSION);
	/* no Expect: 100-continue round trip before a large Twiml */
	if (!(headers = curl_slist_append(headers, "Accept: application/json"))
	    || !(headers = curl_slist_append(headers, "Accept-Charset: utf-8"))
	    || !(headers = curl_slist_append(headers, "Expect:")))
		oom();
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)opt.request_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms());
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
}

/* ---- the commands ---------------------------------------------------- */

/* The call JSON in a 2xx answer, with its sid and status checked. */
static json_t *parse_call(const struct resp *r, const char **sid,
			  const char **status)
{
	json_t *root = json_loadb(r->body.p ? r->body.p : "", r->body.len,
				 0, NULL);
	json_t *s = json_object_get(root, "sid");
	json_t *st = json_object_get(root, "status");

	if (!json_is_object(root) || !json_is_string(s) ||
	    !is_sid(json_string_value(s), "CA") || !json_is_string(st))
		die(EXIT_FAIL, "unexpected answer from '%s' (HTTP %ld): not a "
		    "call", base, r->status);
	*sid = json_string_value(s);
	*status = json_string_value(st);
	return root;
}

static void print_json(json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (!s)
		oom();
	write_out(s);
	write_out("\n");
	free(s);
}

static void print_event(const char *sid, const char *status)
{
	char ts[RFC3339_LEN + 1];
	json_t *ev;
	char *s;

	rfc3339_now(ts);
	ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "call.status",
		       "ts", ts, "call_sid", sid, "status", status);
	if (!ev || !(s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		oom();
	write_out(s);
	write_out("\n");
	free(s);
	json_decref(ev);
}

static int final_status(const char *status)
{
	static const struct {
		const char *name;
		int code;
	} finals[] = {
		{ "completed", 0 }, { "busy", EXIT_BUSY },
		{ "no-answer", EXIT_NO_ANSWER }, { "canceled", EXIT_CANCELED },
		{ "failed", EXIT_CALL_FAILED },
	};

	for (size_t i = 0; i < sizeof finals / sizeof finals[0]; i++)
		if (strcmp(status, finals[i].name) == 0)
			return finals[i].code;
	return -1;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/*
 * While --wait follows a call, the first SIGINT or SIGTERM is handled
 * (the second one kills, SA_RESETHAND).  A SIGINT that the shell ignored
 * for a background job stays ignored.
 */
static void catch_signals(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;	/* no SA_RESTART: wake the sleep */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
}

/*
 * Poll the call until its status is final, printing each status seen.
 * The interval starts short, doubles while nothing changes, and starts
 * short again after a change: changes come in bursts (ringing, answered).
 *
 * A signal ends the call if this tw-dial placed it (own), and the
 * following goes on until the call says how it ended; on a call placed
 * elsewhere, a signal only stops the following, with exit status 0.
 */
static int follow(const char *sid, const char *status, int own)
{
	char path[256], last[64];
	long long first = opt.poll_ms < 1000 ? opt.poll_ms : 1000;
	long long interval = first;
	struct resp r = { 0 };
	int code, hung_up = 0;

	snprintf(path, sizeof path, "/2010-04-01/Accounts/%s/Calls/%s.json",
		 account_sid, sid);
	snprintf(last, sizeof last, "%s", status);
	print_event(sid, last);
	while ((code = final_status(last)) < 0) {
		const char *s, *st;
		json_t *root;

		if (interrupted && !own) {
			code = 0;
			break;
		}
		if (interrupted && !hung_up) {
			log_warn("interrupted: hanging up %s", sid);
			request("POST", path, "Status=completed", 1, &r);
			hung_up = 1;
			interval = first;
		} else {
			sleep_ms(interval);
			if (interrupted && (!own || !hung_up))
				continue;	/* act on it first */
			request("GET", path, NULL, 1, &r);
		}
		root = parse_call(&r, &s, &st);
		if (strcmp(s, sid) != 0)
			die(EXIT_FAIL, "asked for call %s, got %s", sid, s);
		if (strcmp(st, last) != 0) {
			snprintf(last, sizeof last, "%s", st);
			sanitize(last);
			print_event(sid, last);
			interval = first;
		} else if ((interval *= 2) > opt.poll_ms) {
			interval = opt.poll_ms;
		}
		json_decref(root);
	}
	buf_free(&r.body);
	return code;
}

static void add_events(struct buf *form)
{
	static const char *const known[] = {
		"initiated", "ringing", "answered", "completed",
	};
	const char *list = opt.status_events ? opt.status_events :
			   "initiated,ringing,answered,completed";
	char item[32];

	while (*list) {
		size_t n = strcspn(list, ","), i;

		for (i = 0; i < 4; i++)
			if (strlen(known[i]) == n &&
			    strncmp(known[i], list, n) == 0)
				break;
		if (i == 4 || n >= sizeof item)
			cli_usage_error("--status-events: unknown event '%.*s' "
					"(initiated, ringing, answered or "
					"completed)", (int)(n < 32 ? n : 32),
					list);
		memcpy(item, list, n);
		item[n] = '\0';
		form_add(form, "StatusCallbackEvent", item);
		list += n;
		if (*list == ',')
			list++;
	}
}

static int create(const struct buf *twiml)
{
	struct buf form = { 0 };
	struct resp r = { 0 };
	char path[128], num[32];
	const char *sid, *status;
	json_t *root;
	int code = 0;

	form_add(&form, "To", opt.to);
	form_add(&form, "From", opt.from);
	if (opt.url)
		form_add(&form, "Url", opt.url);
	else
		form_add(&form, "Twiml", twiml->p);
	if (opt.status_callback) {
		form_add(&form, "StatusCallback", opt.status_callback);
		add_events(&form);
	}
	if (opt.timeout) {
		snprintf(num, sizeof num, "%lld", opt.timeout);
		form_add(&form, "Timeout", num);
	}
	if (opt.time_limit) {
		snprintf(num, sizeof num, "%lld", opt.time_limit);
		form_add(&form, "TimeLimit", num);
	}
	if (opt.record)
		form_add(&form, "Record", "true");
	if (opt.machine_detection)
		form_add(&form, "MachineDetection", opt.machine_detection);

	snprintf(path, sizeof path, "/2010-04-01/Accounts/%s/Calls.json",
		 account_sid);
	request("POST", path, form.p, 0, &r);
	root = parse_call(&r, &sid, &status);
	if (opt.wait) {
		code = follow(sid, status, 1);
	} else if (opt.quiet) {
		write_out(sid);
		write_out("\n");
	} else {
		print_json(root);
	}
	json_decref(root);
	buf_free(&form);
	buf_free(&r.body);
	return code;
}

/* --status and --hangup: one request on an existing call. */
static int existing(const char *sid, int hangup)
{
	struct resp r = { 0 };
	char path[128];
	const char *s, *status;
	json_t *root;
	int code = 0;

	snprintf(path, sizeof path, "/2010-04-01/Accounts/%s/Calls/%s.json",
		 account_sid, sid);
	/* hanging up twice ends the call once: safe to repeat */
	request(hangup ? "POST" : "GET", path,
		hangup ? "Status=completed" : NULL, 1, &r);
	root = parse_call(&r, &s, &status);
	if (opt.wait) {
		code = follow(s, status, 0);
	} else if (opt.quiet) {
		char st[64];

		snprintf(st, sizeof st, "%s", status);
		sanitize(st);
		write_out(st);
		write_out("\n");
	} else {
		print_json(root);
	}
	json_decref(root);
	buf_free(&r.body);
	return code;
}

/* ---- options --------------------------------------------------------- */

static void add_action(enum verb verb, const char *arg, size_t max)
{
	if (opt.nactions >= max)
		oom();	/* cannot happen: at most one per argument */
	opt.actions[opt.nactions].verb = verb;
	opt.actions[opt.nactions].arg = arg;
	opt.nactions++;
}

/*
 * A ws:// URL whose host is 127.0.0.1, ::1 or localhost: Twilio reaches
 * only wss://, but a stand-in of Twilio on this machine (tests, demos)
 * plays the stream to a plain local server.
 */
static int loopback_ws(const char *url)
{
	const char *h, *e;
	char host[64];

	if (!has_scheme(url, "ws://"))
		return 0;
	h = url + 5;
	if (*h == '[') {
		e = strchr(++h, ']');
	} else {
		e = h + strcspn(h, ":/");
	}
	if (!e || (size_t)(e - h) >= sizeof host)
		return 0;
	memcpy(host, h, (size_t)(e - h));
	host[e - h] = '\0';
	return strcmp(host, "localhost") == 0 || cli_is_loopback(host);
}

static void check_url(const char *name, const char *url, int wss)
{
	if (wss ? !has_scheme(url, "wss://") && !loopback_ws(url)
		: !has_scheme(url, "https://") && !has_scheme(url, "http://"))
		cli_usage_error("%s: '%s' is not a%s URL", name, url,
				wss ? " wss://" : "n http(s)");
	check_text(name, url);
}

static void check_options(int ngenerated)
{
	int modes = !!opt.to + !!opt.hangup_sid + !!opt.status_sid;
	int place = opt.to || (opt.print_twiml && modes == 0);

	if (modes > 1)
		cli_usage_error("give one of TO, --status and --hangup");
	if (!place && modes == 0)
		cli_usage_error("missing TO");
	if (opt.hangup_sid && !is_sid(opt.hangup_sid, "CA"))
		cli_usage_error("--hangup: '%s' is not a call SID",
				opt.hangup_sid);
	if (opt.status_sid && !is_sid(opt.status_sid, "CA"))
		cli_usage_error("--status: '%s' is not a call SID",
				opt.status_sid);
	if (opt.wait && opt.hangup_sid)
		cli_usage_error("--wait does not go with --hangup");
	if (opt.wait && opt.quiet)
		cli_usage_error("--wait prints events; it does not go with "
				"--quiet");
	if (!place) {
		if (ngenerated || opt.twiml_file || opt.url || opt.from ||
		    opt.print_twiml || opt.status_callback ||
		    opt.status_events || opt.record || opt.timeout ||
		    opt.time_limit || opt.machine_detection)
			cli_usage_error("call options go with TO only");
		return;
	}
	if (opt.to && !cli_is_e164(opt.to))
		cli_usage_error("'%s' is not a phone number in E.164 form "
				"(+ and 7 to 15 digits)", opt.to);
	if (!opt.from && !opt.print_twiml) {
		opt.from = getenv("TWILIO_CALLER_ID");
		if (!opt.from || !*opt.from)
			cli_usage_error("missing --from (or TWILIO_CALLER_ID)");
	}
	if (opt.from && !cli_is_e164(opt.from))
		cli_usage_error("'%s' is not a phone number in E.164 form "
				"(+ and 7 to 15 digits)", opt.from);
	if (!!ngenerated + !!opt.twiml_file + !!opt.url > 1)
		cli_usage_error("give --twiml, --url or the TwiML options "
				"(--stream, --bridge, --say ...), not two");
	if (!ngenerated && !opt.twiml_file && !opt.url)
		cli_usage_error("nothing for the call to do: give --stream, "
				"--bridge, --say, --play, --pause, --twiml or "
				"--url");
	if (opt.nparams && !opt.stream)
		cli_usage_error("--param goes with --stream");
	if (opt.stream && opt.nactions == 0)
		cli_usage_error("--stream alone would hang up at once: give "
				"what the call does (--bridge, --say, --play "
				"or --pause)");
	if (opt.print_twiml && opt.url)
		cli_usage_error("--print-twiml: with --url, Twilio fetches "
				"the TwiML");
	if (opt.status_events && !opt.status_callback)
		cli_usage_error("--status-events goes with --status-callback");
	if (opt.print_twiml && opt.wait)
		cli_usage_error("--print-twiml places no call to --wait for");
}

int main(int argc, char **argv)
{
	enum {
		O_PAUSE = 256, O_PRINT, O_CALLBACK, O_EVENTS, O_RECORD,
		O_TIMEOUT, O_TIME_LIMIT, O_AMD, O_STATUS, O_HANGUP, O_API_BASE,
		O_REQ_TIMEOUT, O_RETRIES, O_RETRY_TIME, O_POLL, O_HELP,
		O_VERSION,
	};
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "stream", required_argument, NULL, 's' },
		{ "param", required_argument, NULL, 'P' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "say", required_argument, NULL, 'S' },
		{ "play", required_argument, NULL, 'p' },
		{ "pause", required_argument, NULL, O_PAUSE },
		{ "twiml", required_argument, NULL, 't' },
		{ "url", required_argument, NULL, 'u' },
		{ "print-twiml", no_argument, NULL, O_PRINT },
		{ "status-callback", required_argument, NULL, O_CALLBACK },
		{ "status-events", required_argument, NULL, O_EVENTS },
		{ "record", no_argument, NULL, O_RECORD },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "time-limit", required_argument, NULL, O_TIME_LIMIT },
		{ "machine-detection", optional_argument, NULL, O_AMD },
		{ "wait", no_argument, NULL, 'w' },
		{ "status", required_argument, NULL, O_STATUS },
		{ "hangup", required_argument, NULL, O_HANGUP },
		{ "api-base", required_argument, NULL, O_API_BASE },
		{ "request-timeout", required_argument, NULL, O_REQ_TIMEOUT },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "retry-time", required_argument, NULL, O_RETRY_TIME },
		{ "poll", required_argument, NULL, O_POLL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	struct buf twiml = { 0 };
	size_t max_actions = (size_t)argc;
	int c, verbose = 0, ngenerated = 0, code = 0;
	const char *env_base;

	log_init(argv[0]);
	guard_std_fds();
	opt.request_timeout_ms = 30000;
	opt.retry_time_ms = 60000;
	opt.poll_ms = 5000;
	opt.retries = 3;
	if (!(opt.actions = calloc(max_actions, sizeof *opt.actions)) ||
	    !(opt.params = calloc(max_actions, sizeof *opt.params)))
		oom();

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:s:P:b:S:p:t:u:wqv", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'f':
			opt.from = optarg;
			break;
		case 's':
			check_url("--stream", optarg, 1);
			if (strchr(optarg, '?'))
				cli_usage_error("--stream: Twilio drops the "
						"query string of stream URLs; "
						"use --param");
			opt.stream = optarg;
			ngenerated++;
			break;
		case 'P': {
			const char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg)
				cli_usage_error("--param: expected NAME=VALUE, "
						"not '%s'", optarg);
			check_text("--param", optarg);
			if (utf8_chars(optarg, strlen(optarg)) - 1 >=
			    PARAM_MAX)
				cli_usage_error("--param: name and value must "
						"be under %d characters",
						PARAM_MAX);
			opt.params[opt.nparams++] = optarg;
			ngenerated++;
			break;
		}
		case 'b':
			if (!cli_is_e164(optarg))
				cli_usage_error("--bridge: '%s' is not a phone "
						"number in E.164 form (+ and "
						"7 to 15 digits)", optarg);
			add_action(V_BRIDGE, optarg, max_actions);
			ngenerated++;
			break;
		case 'S':
			if (!*optarg)
				cli_usage_error("--say: no text");
			check_text("--say", optarg);
			add_action(V_SAY, optarg, max_actions);
			ngenerated++;
			break;
		case 'p':
			check_url("--play", optarg, 0);
			add_action(V_PLAY, optarg, max_actions);
			ngenerated++;
			break;
		case O_PAUSE:
			cli_int("--pause", optarg, 1, 14400);
			add_action(V_PAUSE, optarg, max_actions);
			ngenerated++;
			break;
		case 't':
			opt.twiml_file = optarg;
			break;
		case 'u':
			check_url("--url", optarg, 0);
			opt.url = optarg;
			break;
		case O_PRINT:
			opt.print_twiml = 1;
			break;
		case O_CALLBACK:
			check_url("--status-callback", optarg, 0);
			opt.status_callback = optarg;
			break;
		case O_EVENTS:
			opt.status_events = optarg;
			break;
		case O_RECORD:
			opt.record = 1;
			break;
		case O_TIMEOUT:
			opt.timeout = cli_int("--timeout", optarg, 1, 600);
			break;
		case O_TIME_LIMIT:
			opt.time_limit = cli_int("--time-limit", optarg, 1,
						 14400);
			break;
		case O_AMD:
			if (!optarg || strcasecmp(optarg, "enable") == 0)
				opt.machine_detection = "Enable";
			else if (strcasecmp(optarg, "detectmessageend") == 0)
				opt.machine_detection = "DetectMessageEnd";
			else
				cli_usage_error("--machine-detection: '%s' is "
						"neither Enable nor "
						"DetectMessageEnd", optarg);
			break;
		case 'w':
			opt.wait = 1;
			break;
		case O_STATUS:
			opt.status_sid = optarg;
			break;
		case O_HANGUP:
			opt.hangup_sid = optarg;
			break;
		case O_API_BASE:
			opt.api_base = optarg;
			break;
		case O_REQ_TIMEOUT:
			opt.request_timeout_ms = cli_ms("--request-timeout",
							optarg, 600000);
			if (opt.request_timeout_ms < 100)
				cli_usage_error("--request-timeout: at least "
						"0.1 s");
			break;
		case O_RETRIES:
			opt.retries = cli_int("--retries", optarg, 0, 20);
			break;
		case O_RETRY_TIME:
			opt.retry_time_ms = cli_ms("--retry-time", optarg,
						   3600000);
			break;
		case O_POLL:
			opt.poll_ms = cli_ms("--poll", optarg, 600000);
			if (opt.poll_ms < 100)
				cli_usage_error("--poll: at least 0.1 s");
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 'v':
			verbose++;
			break;
		case O_HELP:
			cli_help(usage_text);
		case O_VERSION:
			cli_version();
		case ':':
			cli_usage_error("option '%s' needs a value",
					argv[optind - 1]);
		default:
			cli_usage_error("unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc)
		opt.to = argv[optind++];
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	log_level = opt.quiet ? LOG_ERROR : LOG_WARN + verbose;
	check_options(ngenerated);

	if (opt.to || opt.print_twiml) {
		if (!opt.url)
			make_twiml(&twiml);
		if (opt.print_twiml) {
			write_out(twiml.p);
			write_out("\n");
			buf_free(&twiml);
			free(opt.actions);
			free(opt.params);
			return 0;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	if (opt.wait)
		catch_signals();
	setup_curl();
	env_base = getenv("TWILIO_API_BASE");
	if (opt.api_base)
		set_api_base(opt.api_base);
	else if (env_base && *env_base)
		set_api_base(env_base);
	else
		region_base();
	set_credentials();

	if (opt.to)
		code = create(&twiml);
	else
		code = existing(opt.hangup_sid ? opt.hangup_sid : opt.status_sid,
				!!opt.hangup_sid);

	buf_free(&twiml);
	free(opt.actions);
	free(opt.params);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return code;
}
