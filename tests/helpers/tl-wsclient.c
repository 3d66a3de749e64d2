/*
 * tl-wsclient: a WebSocket client for tests that plays a script from stdin.
 *
 *   tl-wsclient [--header 'Name: value']... [--subprotocol NAME]
 *               [--timeout SECONDS] [--insecure] URL < script
 *
 * Script, one command a line (blank lines and '#' lines are skipped):
 *   text JSON...    the rest of the line as one text message
 *   textfile PATH   the file as one text message
 *   binary HEX      one binary message
 *   frag N TEXT     TEXT as one text message in N fragments
 *   sleep MS        pause
 *   close [CODE]    close with CODE (1000) and wait for the server's reply
 *   wait-close      wait until the server closes
 *   wait-recv N     wait until N messages have been received in all
 *   stall           stop reading from the socket (a client that hangs)
 * At the end of the script the client closes with 1000.
 *
 * Prints on stdout: "connected" after the upgrade, "refused STATUS" if the
 * server answers the upgrade with an HTTP status, "text MSG" or
 * "binary HEX" for each message received, and "closed CODE" when the
 * server closes (1005: a close frame without a code, 1006: no close frame).
 * Exit 0 when the script ran to its end, 1 if the connection failed, the
 * server closed before the end, or the timeout (10 s) passed; 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cli.h"
#include "log.h"

#define MAX_HEADERS	16
#define MAX_RX		(64 << 20)

enum kind { C_TEXT, C_BINARY, C_FRAG, C_SLEEP, C_CLOSE, C_WAIT_CLOSE,
	    C_WAIT_RECV, C_STALL };

struct cmd {
	enum kind kind;
	unsigned char *data;	/* LWS_PRE bytes, then the payload */
	size_t len;
	long long n;		/* fragments, milliseconds, code or count */
};

static struct cmd *cmds;
static size_t ncmds, pc;	/* the command being run */
static long long frag_sent;	/* fragments of cmds[pc] already sent */

static const char *headers[MAX_HEADERS];
static int nheaders;

static struct lws_context *ctx;
static struct lws *client;
static lws_sorted_usec_list_t sleep_sul, timeout_sul;
static unsigned char *rx;
static size_t rxlen, rxcap;
static long long nrecv;
static int we_closed, peer_closed, finished, status = 1;

static const char usage_text[] =
"usage: tl-wsclient [--header 'Name: value']... [--subprotocol NAME]\n"
"                   [--timeout SECONDS] [--insecure] URL < script\n";

static void finish(int code)
{
	finished = 1;
	status = code;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* A payload with LWS_PRE bytes of headroom in front. */
static unsigned char *payload(size_t len)
{
	unsigned char *p = malloc(LWS_PRE + len + 1);

	if (!p)
		die(1, "out of memory");
	return p;
}

static void load_file(struct cmd *c, const char *path)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) < 0)
		die(1, "cannot open '%s': %s", path, strerror(errno));
	c->data = payload((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		n = read(fd, c->data + LWS_PRE + got,
			 (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "cannot read '%s': %s", path,
			    n < 0 ? strerror(errno) : "file shrank");
		got += (size_t)n;
	}
	close(fd);
	c->len = got;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void parse_line(char *line, size_t lineno)
{
	struct cmd c;
	char *arg = line + strcspn(line, " ");
	size_t i, wlen = (size_t)(arg - line);

	if (*arg)
		arg++;
	memset(&c, 0, sizeof c);
#define IS(w) (wlen == sizeof(w) - 1 && memcmp(line, w, wlen) == 0)
	if (IS("text")) {
		c.kind = C_TEXT;
		c.len = strlen(arg);
		c.data = payload(c.len);
		memcpy(c.data + LWS_PRE, arg, c.len);
	} else if (IS("textfile")) {
		c.kind = C_TEXT;
		load_file(&c, arg);
	} else if (IS("binary")) {
		c.kind = C_BINARY;
		c.len = strlen(arg) / 2;
		c.data = payload(c.len);
		for (i = 0; i < c.len; i++) {
			int hi = hexval(arg[2 * i]), lo = hexval(arg[2 * i + 1]);

			if (hi < 0 || lo < 0)
				cli_usage_error("line %zu: bad hex", lineno);
			c.data[LWS_PRE + i] = (unsigned char)(hi << 4 | lo);
		}
		if (strlen(arg) % 2)
			cli_usage_error("line %zu: odd hex length", lineno);
	} else if (IS("frag")) {
		char *sp = arg + strcspn(arg, " ");

		c.kind = C_FRAG;
		if (*sp)
			*sp++ = '\0';
		c.n = cli_int("frag", arg, 1, 1000000);
		c.len = strlen(sp);
		c.data = payload(c.len);
		memcpy(c.data + LWS_PRE, sp, c.len);
	} else if (IS("sleep")) {
		c.kind = C_SLEEP;
		c.n = cli_int("sleep", arg, 0, 3600000);
	} else if (IS("close")) {
		c.kind = C_CLOSE;
		c.n = *arg ? cli_int("close", arg, 1000, 4999) : 1000;
	} else if (IS("wait-close")) {
		c.kind = C_WAIT_CLOSE;
	} else if (IS("stall")) {
		c.kind = C_STALL;
	} else if (IS("wait-recv")) {
		c.kind = C_WAIT_RECV;
		c.n = cli_int("wait-recv", arg, 0, 1LL << 40);
	} else {
		cli_usage_error("line %zu: unknown command '%.*s'", lineno,
				(int)wlen, line);
	}
#undef IS
	if (!(cmds = realloc(cmds, (ncmds + 1) * sizeof *cmds)))
		die(1, "out of memory");
	cmds[ncmds++] = c;
}

static void read_script(void)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		parse_line(line, lineno);
	}
	if (ferror(stdin))
		die(1, "cannot read the script: %s", strerror(errno));
	free(line);
}

static void run(void);

static void timed_out(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	log_error("timed out");
	finish(1);
}

static void slept(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	pc++;
	run();
}

/* Run commands until one has to wait for WRITEABLE, a timer or the peer. */
static void run(void)
{
	while (!finished && !we_closed && !peer_closed) {
		struct cmd *c = pc < ncmds ? &cmds[pc] : NULL;

		if (!c) {
			lws_callback_on_writable(client);	/* close */
			return;
		}
		switch (c->kind) {
		case C_SLEEP:
			lws_sul_schedule(ctx, 0, &sleep_sul, slept,
					 c->n * 1000 + 1);
			return;
		case C_WAIT_CLOSE:
			return;
		case C_WAIT_RECV:
			if (nrecv < c->n)
				return;
			pc++;
			break;
		case C_STALL:
			lws_rx_flow_control(client, 0);
			pc++;
			break;
		default:
			lws_callback_on_writable(client);
			return;
		}
	}
}

static int writeable(struct lws *wsi)
{
	struct cmd *c = pc < ncmds ? &cmds[pc] : NULL;
	enum lws_write_protocol wp;
	unsigned char *p;
	size_t off, end;

	if (!c || c->kind == C_CLOSE) {
		we_closed = 1;
		lws_close_reason(wsi, c ? (enum lws_close_status)c->n :
				 LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	switch (c->kind) {
	case C_TEXT:
	case C_BINARY:
		wp = c->kind == C_TEXT ? LWS_WRITE_TEXT : LWS_WRITE_BINARY;
		if (lws_write(wsi, c->data + LWS_PRE, c->len, wp) < 0)
			return -1;
		pc++;
		break;
	case C_FRAG:
		off = c->len * (size_t)frag_sent / (size_t)c->n;
		end = c->len * (size_t)(frag_sent + 1) / (size_t)c->n;
		wp = frag_sent ? LWS_WRITE_CONTINUATION : LWS_WRITE_TEXT;
		if (frag_sent + 1 < c->n)
			wp |= LWS_WRITE_NO_FIN;
		/*
		 * lws writes the frame header into the LWS_PRE bytes before
		 * p: payload of fragments already sent, so no harm done.
		 */
		p = c->data + LWS_PRE + off;
		if (lws_write(wsi, p, end - off, wp) < 0)
			return -1;
		if (++frag_sent == c->n) {
			frag_sent = 0;
			pc++;
		}
		break;
	default:
		return 0;
	}
	run();
	return 0;
}

static void received(struct lws *wsi, const void *in, size_t len)
{
	size_t i;

	if (rxlen + len > MAX_RX) {
		log_error("message over %d bytes", MAX_RX);
		finish(1);
		return;
	}
	if (rxlen + len > rxcap) {
		rxcap = (rxlen + len) * 2;
		if (!(rx = realloc(rx, rxcap)))
			die(1, "out of memory");
	}
	memcpy(rx + rxlen, in, len);
	rxlen += len;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	if (lws_frame_is_binary(wsi)) {
		fputs("binary ", stdout);
		for (i = 0; i < rxlen; i++)
			printf("%02x", rx[i]);
		say("\n");
	} else {
		say("text %.*s\n", (int)rxlen, (const char *)rx);
	}
	rxlen = 0;
	nrecv++;
	run();
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	unsigned char **hp, *end;
	unsigned int code;
	int i;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		hp = (unsigned char **)in;
		end = *hp + len;
		for (i = 0; i < nheaders; i++) {
			const char *colon = strchr(headers[i], ':');
			const char *v = colon + 1;
			char name[256];

			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(name, sizeof name, "%.*s:",
				 (int)(colon - headers[i]), headers[i]);
			if (lws_add_http_header_by_name(wsi,
					(const unsigned char *)name,
					(const unsigned char *)v,
					(int)strlen(v), hp, end))
				return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		code = lws_http_client_http_response(wsi);
		if (code && code != 101)
			say("refused %u\n", code);
		else
			log_error("cannot connect: %.*s", in ? (int)len : 7,
				  in ? (const char *)in : "unknown");
		client = NULL;
		finish(1);
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		client = wsi;
		say("connected\n");
		run();
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (finished)
			return -1;
		return writeable(wsi);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		received(wsi, in, len);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		peer_closed = 1;
		say("closed %d\n", len >= 2 ? ((const unsigned char *)in)[0]
			<< 8 | ((const unsigned char *)in)[1] : 1005);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		client = NULL;
		if (finished)	/* timed out: the context is going */
			break;
		lws_sul_cancel(&sleep_sul);
		if (!we_closed && !peer_closed)
			say("closed 1006\n");
		if (we_closed || (pc < ncmds &&
				  cmds[pc].kind == C_WAIT_CLOSE)) {
			finish(0);
		} else {
			log_error("the server closed before the script "
				  "ended");
			finish(1);
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "tl-wsclient", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "header", required_argument, NULL, 'H' },
		{ "subprotocol", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	const char *subprotocol = NULL, *prot, *addr, *path;
	char *url, *fullpath, *host;
	long long timeout_ms = 10000;
	int c, insecure = 0, port;
	size_t i;

	log_init(argv[0]);
	while ((c = getopt_long(argc, argv, "H:s:t:k", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'H':
			if (nheaders == MAX_HEADERS || !strchr(optarg, ':'))
				cli_usage_error("bad --header '%s'", optarg);
			headers[nheaders++] = optarg;
			break;
		case 's':
			subprotocol = optarg;
			break;
		case 't':
			timeout_ms = cli_ms("--timeout", optarg, 86400000LL);
			break;
		case 'k':
			insecure = 1;
			break;
		case 'h':
			cli_help(usage_text);
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		cli_usage_error("give one URL");
	if (!(url = strdup(argv[optind])))
		die(1, "out of memory");
	if (lws_parse_uri(url, &prot, &addr, &port, &path) ||
	    (strcmp(prot, "ws") && strcmp(prot, "wss")))
		cli_usage_error("'%s': not a ws:// or wss:// URL",
				argv[optind]);
	if (!(fullpath = malloc(strlen(path) + 2)))
		die(1, "out of memory");
	fullpath[0] = '/';
	memcpy(fullpath + 1, path, strlen(path) + 1);
	/* Host: the authority as written, port included */
	host = strstr(argv[optind], "://") + 3;
	if (!(host = strndup(host, strcspn(host, "/?#"))))
		die(1, "out of memory");
	read_script();

	lws_set_log_level(0, NULL);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	if (!strcmp(prot, "wss"))
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (!(ctx = lws_create_context(&info)))
		die(1, "cannot create the libwebsockets context");

	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = fullpath;
	ci.host = host;
	ci.protocol = subprotocol;
	ci.local_protocol_name = protocols[0].name;
	if (!strcmp(prot, "wss")) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (insecure)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
				LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
				LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	}
	if (!lws_client_connect_via_info(&ci) && !finished) {
		log_error("cannot connect to '%s'", argv[optind]);
		finish(1);
	}

	lws_sul_schedule(ctx, 0, &timeout_sul, timed_out, timeout_ms * 1000);
	while (!finished)
		if (lws_service(ctx, 0) < 0)
			break;
	lws_context_destroy(ctx);
	for (i = 0; i < ncmds; i++)
		free(cmds[i].data);
	free(cmds);
	free(rx);
	free(url);
	free(fullpath);
	free(host);
	return status;
}
