/*
 * ts-broadcast: fan events NDJSON out to browsers over WebSocket, with
 * the history a late browser needs.  See ts-broadcast(1) and broadcast.h
 * for the map of the files.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broadcast.h"
#include "cli.h"
#include "clock.h"
#include "log.h"
#include "lwslog.h"

static const char usage[] =
"usage: ts-broadcast [-qv] [--listen ADDR:PORT] [--web DIR] [--feed PATH]\n"
"                    [--journal FILE] [--fsync-interval SECONDS]\n"
"                    [--history-calls N] [--history-bytes SIZE]\n"
"                    [--client-queue SIZE] [--client-queue-soft SIZE]\n"
"                    [--slow-timeout SECONDS] [--allow-origin ORIGIN]...\n"
"                    [--insecure-listen] [--dial-cmd PATH]\n"
"                    [--dial-timeout SECONDS] [--drain SECONDS]\n"
"                    [--max-line SIZE] [--exit-on-eof]\n"
"\n"
"Send events NDJSON (standard input, and producers on --feed) to browsers\n"
"over WebSocket (/ws), with the page from --web at /.\n"
"\n"
"  --listen ADDR:PORT      where to listen (default 127.0.0.1:8090)\n"
"  --web DIR               the page (default " TAPLINE_DATADIR "/web)\n"
"  --feed PATH             also read producers on this Unix socket\n"
"  --journal FILE          append every event; replay it at start\n"
"  --fsync-interval SECONDS  journal fdatasync at most this often (0.2)\n"
"  --history-calls N       calls kept for late browsers (default 100)\n"
"  --history-bytes SIZE    bytes of history kept (default 64M)\n"
"  --client-queue SIZE     a client queueing more is cut (default 16M)\n"
"  --client-queue-soft SIZE  ... or more than this (default 4M)\n"
"  --slow-timeout SECONDS  ... for this long (default 10)\n"
"  --allow-origin ORIGIN   a browser origin allowed (repeatable)\n"
"  --insecure-listen       listen beyond loopback without a token\n"
"  --dial-cmd PATH         POST /api/calls runs PATH NUMBER\n"
"  --dial-timeout SECONDS  how long it may take (default 30)\n"
"  --drain SECONDS         on SIGTERM, time to flush clients (default 5)\n"
"  --max-line SIZE         longest input line (default 1M)\n"
"  --exit-on-eof           exit at the end of standard input\n"
"  -v, --verbose           more messages; -q, --quiet: errors only\n"
"  --help, --version\n"
"\n"
"Environment: TAPLINE_BROADCAST_TOKEN, when set, is required of every\n"
"request but /healthz.\n";

struct options opt = {
	.listen = "127.0.0.1:8090",
	.web = TAPLINE_DATADIR "/web",
	.history_calls = 100,
	.history_bytes = (size_t)64 << 20,
	.client_queue = (size_t)16 << 20,
	.client_soft = (size_t)4 << 20,
	.slow_timeout_ms = 10000,
	.dial_timeout_ms = 30000,
	.drain_ms = 5000,
	.fsync_ms = 200,
	.max_line = (size_t)1 << 20,
};
struct stats stats;
volatile int draining;
struct lws_context *ctx;

static volatile sig_atomic_t got_signal;
static int64_t drain_deadline;
static lws_sorted_usec_list_t tick_sul;
static int64_t last_sync_ms, last_clients_ms;

void shutdown_begin(void)
{
	if (draining)
		return;
	draining = 1;
	drain_deadline = mono_ms() + opt.drain_ms;
	log_info("shutting down: flushing %ld clients for up to %lld ms",
		 nclients, opt.drain_ms);
	journal_tick();
	clients_shutdown();
}

static void on_signal(int sig)
{
	got_signal = sig;
	if (ctx)
		lws_cancel_service(ctx);
}

/* The timer: journal syncs, slow clients, the dial children. */
static void tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_ms();

	(void)sul;
	if (now - last_sync_ms >= opt.fsync_ms) {
		journal_tick();
		last_sync_ms = now;
	}
	if (now - last_clients_ms >= 100) {
		clients_tick();
		last_clients_ms = now;
	}
	if (dials_running)
		dial_tick();
	lws_sul_schedule(ctx, 0, &tick_sul, tick, 20 * LWS_US_PER_MS);
}

/* One protocol for everything, so that upgrades naming no subprotocol
 * (browsers) land here; per-session data says HTTP or WebSocket. */
static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_CLOSED:
		return ws_cb(wsi, reason, user, in, len);
	default:
		return http_cb(wsi, reason, user, in, len);
	}
}

static void parse_args(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_WEB, O_FEED, O_JOURNAL, O_FSYNC, O_HCALLS,
	       O_HBYTES, O_CQUEUE, O_CSOFT, O_SLOW, O_ORIGIN, O_INSECURE,
	       O_DIAL, O_DIALTO, O_DRAIN, O_MAXLINE, O_EOF, O_HELP,
	       O_VERSION };
	static const struct option opts[] = {
		{"listen", required_argument, NULL, O_LISTEN},
		{"web", required_argument, NULL, O_WEB},
		{"feed", required_argument, NULL, O_FEED},
		{"journal", required_argument, NULL, O_JOURNAL},
		{"fsync-interval", required_argument, NULL, O_FSYNC},
		{"history-calls", required_argument, NULL, O_HCALLS},
		{"history-bytes", required_argument, NULL, O_HBYTES},
		{"client-queue", required_argument, NULL, O_CQUEUE},
		{"client-queue-soft", required_argument, NULL, O_CSOFT},
		{"slow-timeout", required_argument, NULL, O_SLOW},
		{"allow-origin", required_argument, NULL, O_ORIGIN},
		{"insecure-listen", no_argument, NULL, O_INSECURE},
		{"dial-cmd", required_argument, NULL, O_DIAL},
		{"dial-timeout", required_argument, NULL, O_DIALTO},
		{"drain", required_argument, NULL, O_DRAIN},
		{"max-line", required_argument, NULL, O_MAXLINE},
		{"exit-on-eof", no_argument, NULL, O_EOF},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	int ch, soft_given = 0;
	size_t n;

	while ((ch = getopt_long(argc, argv, "qv", opts, NULL)) != -1) {
		switch (ch) {
		case O_LISTEN: opt.listen = optarg; break;
		case O_WEB: opt.web = optarg; break;
		case O_FEED: opt.feed = optarg; break;
		case O_JOURNAL: opt.journal = optarg; break;
		case O_FSYNC:
			opt.fsync_ms = cli_ms("--fsync-interval", optarg,
					      60000);
			break;
		case O_HCALLS:
			opt.history_calls = (size_t)cli_int(
				"--history-calls", optarg, 1, 1000000);
			break;
		case O_HBYTES:
			opt.history_bytes = cli_size("--history-bytes",
						     optarg);
			break;
		case O_CQUEUE:
			opt.client_queue = cli_size("--client-queue",
						    optarg);
			break;
		case O_CSOFT:
			opt.client_soft = cli_size("--client-queue-soft",
						   optarg);
			soft_given = 1;
			break;
		case O_SLOW:
			opt.slow_timeout_ms = cli_ms("--slow-timeout", optarg,
						     86400000);
			break;
		case O_ORIGIN:
			if (opt.nallow_origin ==
			    (int)(sizeof opt.allow_origin /
				  sizeof opt.allow_origin[0]))
				cli_usage_error("too many --allow-origin");
			n = strlen(optarg);
			while (n && optarg[n - 1] == '/')
				optarg[--n] = '\0';
			if (strncmp(optarg, "http://", 7) &&
			    strncmp(optarg, "https://", 8))
				cli_usage_error("--allow-origin '%s': not "
						"http:// or https://", optarg);
			opt.allow_origin[opt.nallow_origin++] = optarg;
			break;
		case O_INSECURE: opt.insecure_listen = 1; break;
		case O_DIAL: opt.dial_cmd = optarg; break;
		case O_DIALTO:
			opt.dial_timeout_ms = cli_ms("--dial-timeout", optarg,
						     3600000);
			if (opt.dial_timeout_ms < 1000)
				cli_usage_error("--dial-timeout must be at "
						"least 1 second");
			break;
		case O_DRAIN:
			opt.drain_ms = cli_ms("--drain", optarg, 3600000);
			break;
		case O_MAXLINE:
			opt.max_line = cli_size("--max-line", optarg);
			if (opt.max_line < 256)
				cli_usage_error("--max-line must be at least "
						"256 bytes");
			break;
		case O_EOF: opt.exit_on_eof = 1; break;
		case 'v': log_level++; break;
		case 'q': log_level = LOG_ERROR; break;
		case O_HELP: cli_help(usage);
		case O_VERSION: cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!soft_given && opt.client_soft > opt.client_queue)
		opt.client_soft = opt.client_queue;
	if (opt.client_soft > opt.client_queue)
		cli_usage_error("--client-queue-soft is over --client-queue");
	if (opt.dial_cmd && opt.dial_cmd[0] != '/')
		cli_usage_error("--dial-cmd must be an absolute path");
}

/* Without a journal ids start from the clock, so that a browser still
 * holding ids of an earlier run cannot mistake new events for ones it
 * has seen (microseconds: below 2^53 until the year 2255). */
static uint64_t first_id(void)
{
	struct timespec ts;

	if (opt.journal)
		return 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	static const struct lws_protocols protocols[] = {
		{ "tapline", callback, 0, 0, 0, NULL, 0 },
		{ "tapline-input", input_cb, 0, 0, 0, NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	static const struct lws_protocol_vhost_options pvo_default = {
		NULL, NULL, "default", ""
	}, pvo = { NULL, &pvo_default, "tapline", "" };
	struct lws_protocols protos[3];
	struct lws_context_creation_info info;
	struct sigaction sa;
	struct stat st;
	struct lws_vhost *vh;
	char host[256];
	int port, rc = 0;

	log_init(argv[0]);
	parse_args(argc, argv);

	if (cli_hostport(opt.listen, host, sizeof host, &port) ||
	    strncmp(host, "unix:", 5) == 0)
		cli_usage_error("invalid --listen '%s': expected ADDR:PORT",
				opt.listen);
	opt.token = getenv("TAPLINE_BROADCAST_TOKEN");
	if (opt.token && !*opt.token)
		opt.token = NULL;
	if (!opt.token && !opt.insecure_listen && !cli_is_loopback(host))
		die(1, "refusing to listen on '%s' without "
		    "TAPLINE_BROADCAST_TOKEN (set it, or give "
		    "--insecure-listen)", opt.listen);
	if (stat(opt.web, &st) != 0 || !S_ISDIR(st.st_mode))
		log_warn("cannot serve the page from '%s': not a directory",
			 opt.web);

	history_init(opt.history_calls, opt.history_bytes, first_id());
	if (opt.journal && journal_open(opt.journal, (int)opt.fsync_ms))
		exit(1);

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	lwslog_init();

	memcpy(protos, protocols, sizeof protos);
	protos[0].per_session_data_size = client_size() > req_size() ?
					  client_size() : req_size();
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host[0] ? host : NULL;
	info.protocols = protos;
	info.pvo = &pvo;
	info.timeout_secs = 10;
	info.timeout_secs_ah_idle = 10;
	info.pt_serv_buf_size = 64 << 10;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (!(ctx = lws_create_context(&info)))
		die(1, "cannot create the libwebsockets context");
	if (!(vh = lws_create_vhost(ctx, &info)))
		die(1, "cannot listen on '%s'", opt.listen);
	if (input_stdin(vh) != 0 ||
	    (opt.feed && input_feed_listen(vh, opt.feed) != 0)) {
		lws_context_destroy(ctx);
		input_close();
		exit(1);
	}
	log_info("listening on http://%s/ (next event id %llu)", opt.listen,
		 (unsigned long long)hist.next_id);
	lws_sul_schedule(ctx, 0, &tick_sul, tick, 20 * LWS_US_PER_MS);

	for (;;) {
		if (got_signal && !draining)
			shutdown_begin();
		if (draining && (!nclients || mono_ms() >= drain_deadline))
			break;
		if (lws_service(ctx, 0) < 0) {
			rc = 1;
			break;
		}
	}

	/* The drain is over: whoever is left is told 1001 and dropped. */
	if (nclients) {
		int64_t until = mono_ms() + 1000;

		log_warn("closing %ld clients still busy after the drain",
			 nclients);
		clients_close_all();
		while (nclients && mono_ms() < until)
			if (lws_service(ctx, 0) < 0)
				break;
	}
	dial_kill_all();
	lws_context_destroy(ctx);
	input_close();
	journal_close();
	history_free();
	log_info("exiting");
	return rc;
}
