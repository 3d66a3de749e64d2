/*
 * gstt-serve: an offline Google Speech v1 server (StreamingRecognize and
 * Recognize) on pocketsphinx.  See gstt-serve(1).
 *
 * Threads:
 *   main      the gRPC completion queue: every call and batch (rpc.c)
 *   workers   --workers of them, decoding audio with pocketsphinx
 *             decoders from a pool (decode.c)
 *   metrics   with --metrics, a small HTTP server for /metrics
 *   grpc's own threads, which never call us.
 * The main thread and the workers meet at each stream's input buffer and
 * output list (under the stream's lock) and at the work queue.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "cli.h"
#include "gstt-serve.h"
#include "log.h"

#define DEFAULT_MODEL "/usr/share/pocketsphinx/model/en-us"

static const char usage[] =
"usage: gstt-serve [-qv] [--listen ADDR:PORT|unix:PATH] [--allow-remote]\n"
"                  [--model DIR] [--dict FILE] [--lm FILE] [--pool N]\n"
"                  [--max-streams N] [--workers N]\n"
"                  [--max-stream-seconds N] [--audio-timeout SECONDS]\n"
"                  [--drain SECONDS] [--metrics ADDR:PORT]\n"
"\n"
"Serve Google Speech v1 StreamingRecognize and Recognize over gRPC with\n"
"pocketsphinx, offline.\n"
"\n"
"  --listen ADDR:PORT      where to listen (default 127.0.0.1:50051)\n"
"  --allow-remote          listen on a non-loopback address (there is no\n"
"                          authentication)\n"
"  --model DIR             pocketsphinx model (default " DEFAULT_MODEL ")\n"
"  --dict FILE, --lm FILE  dictionary and language model (default: in DIR)\n"
"  --pool N                decoders made at start (default 1)\n"
"  --max-streams N         streams decoded at once (default 4)\n"
"  --workers N             decoding threads (default: number of CPUs)\n"
"  --max-stream-seconds N  audio per stream (default 305)\n"
"  --audio-timeout SECONDS end a stream without audio (default 10)\n"
"  --drain SECONDS         on SIGTERM, let streams finish (default 10)\n"
"  --metrics ADDR:PORT     serve Prometheus metrics at /metrics\n"
"  --vad-postspeech N, --vad-prespeech N, --vad-startspeech N (frames),\n"
"  --vad-threshold X, --lw X, --keep-cmn  decoder tuning (see the manual)\n"
"  -v, --verbose           more messages; -q, --quiet: errors only\n"
"  --help, --version\n";

enum {
	OPT_LISTEN = 256, OPT_REMOTE, OPT_MODEL, OPT_DICT, OPT_LM, OPT_POOL,
	OPT_MAXSTREAMS, OPT_WORKERS, OPT_MAXSECONDS, OPT_TIMEOUT, OPT_DRAIN,
	OPT_METRICS, OPT_POSTSPEECH, OPT_PRESPEECH, OPT_STARTSPEECH,
	OPT_THRESHOLD, OPT_LW, OPT_KEEPCMN, OPT_HELP, OPT_VERSION,
};

/* HOST:PORT or unix:PATH; refuse what is not loopback unless allowed. */
static void check_addr(const char *opt, const char *arg, int remote,
		       char *host, size_t hostsz, int *port)
{
	if (cli_hostport(arg, host, hostsz, port) != 0)
		cli_usage_error("invalid address '%s' for %s", arg, opt);
	if (strncmp(arg, "unix:", 5) == 0)
		return;
	if (!remote && !cli_is_loopback(host))
		cli_usage_error("refusing to listen on '%s' (%s): it has no "
				"authentication; add --allow-remote", arg,
				opt);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"allow-remote", no_argument, NULL, OPT_REMOTE},
		{"model", required_argument, NULL, OPT_MODEL},
		{"dict", required_argument, NULL, OPT_DICT},
		{"lm", required_argument, NULL, OPT_LM},
		{"pool", required_argument, NULL, OPT_POOL},
		{"max-streams", required_argument, NULL, OPT_MAXSTREAMS},
		{"workers", required_argument, NULL, OPT_WORKERS},
		{"max-stream-seconds", required_argument, NULL,
		 OPT_MAXSECONDS},
		{"audio-timeout", required_argument, NULL, OPT_TIMEOUT},
		{"drain", required_argument, NULL, OPT_DRAIN},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"vad-postspeech", required_argument, NULL, OPT_POSTSPEECH},
		{"vad-prespeech", required_argument, NULL, OPT_PRESPEECH},
		{"vad-startspeech", required_argument, NULL, OPT_STARTSPEECH},
		{"vad-threshold", required_argument, NULL, OPT_THRESHOLD},
		{"lw", required_argument, NULL, OPT_LW},
		{"keep-cmn", no_argument, NULL, OPT_KEEPCMN},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	struct engine_opts eo = {
		.model = DEFAULT_MODEL, .pool = 1, .max_streams = 4,
		.vad_prespeech = 20, .vad_postspeech = 50,
		.vad_startspeech = 10, .vad_threshold = 2.0,
	};
	struct rpc_opts ro = {
		.listen = "127.0.0.1:50051", .audio_timeout_ms = 10000,
		.max_stream_seconds = 305, .drain_ms = 10000,
	};
	const char *metrics = NULL;
	char host[512], mhost[512];
	int remote = 0, port, mport = 0, ch, rc;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;

	log_init(argv[0]);
	eo.workers = ncpu > 0 && ncpu < 256 ? (int)ncpu : 2;
	while ((ch = getopt_long(argc, argv, "qv", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_LISTEN: ro.listen = optarg; break;
		case OPT_REMOTE: remote = 1; break;
		case OPT_MODEL: eo.model = optarg; break;
		case OPT_DICT: eo.dict = optarg; break;
		case OPT_LM: eo.lm = optarg; break;
		case OPT_POOL:
			eo.pool = (int)cli_int("--pool", optarg, 0, 256);
			break;
		case OPT_MAXSTREAMS:
			eo.max_streams = (int)cli_int("--max-streams", optarg,
						      1, 256);
			break;
		case OPT_WORKERS:
			eo.workers = (int)cli_int("--workers", optarg, 1, 256);
			break;
		case OPT_MAXSECONDS:
			ro.max_stream_seconds = (int)cli_int(
				"--max-stream-seconds", optarg, 1, 86400);
			break;
		case OPT_TIMEOUT:
			ro.audio_timeout_ms = (int)cli_ms("--audio-timeout",
							  optarg, 3600000);
			break;
		case OPT_DRAIN:
			ro.drain_ms = (int)cli_ms("--drain", optarg, 3600000);
			break;
		case OPT_METRICS: metrics = optarg; break;
		case OPT_POSTSPEECH:
			eo.vad_postspeech = (int)cli_int("--vad-postspeech",
							 optarg, 1, 1000);
			break;
		case OPT_PRESPEECH:
			eo.vad_prespeech = (int)cli_int("--vad-prespeech",
							optarg, 1, 1000);
			break;
		case OPT_STARTSPEECH:
			eo.vad_startspeech = (int)cli_int("--vad-startspeech",
							  optarg, 1, 1000);
			break;
		case OPT_THRESHOLD:
			eo.vad_threshold = strtod(optarg, &end);
			if (end == optarg || *end || !(eo.vad_threshold > 0) ||
			    eo.vad_threshold > 100)
				cli_usage_error("invalid value '%s' for "
						"--vad-threshold", optarg);
			break;
		case OPT_LW:
			eo.lw = strtod(optarg, &end);
			if (end == optarg || *end || !(eo.lw > 0) ||
			    eo.lw > 100)
				cli_usage_error("invalid value '%s' for --lw",
						optarg);
			break;
		case OPT_KEEPCMN: eo.keep_cmn = 1; break;
		case 'v': log_level++; break;
		case 'q': log_level = LOG_ERROR; break;
		case OPT_HELP: cli_help(usage);
		case OPT_VERSION: cli_version();
		default:
			cli_usage_error("unknown option");
		}
	}
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (eo.pool > eo.max_streams)
		cli_usage_error("--pool %d is more than --max-streams %d",
				eo.pool, eo.max_streams);
	check_addr("--listen", ro.listen, remote, host, sizeof host, &port);
	if (metrics) {
		check_addr("--metrics", metrics, remote, mhost, sizeof mhost,
			   &mport);
		if (strncmp(metrics, "unix:", 5) == 0)
			cli_usage_error("--metrics takes ADDR:PORT");
	}
	ro.max_streams = eo.max_streams;

	/* grpc logs to stderr by itself; quiet unless asked for */
	setenv("GRPC_VERBOSITY", "NONE", 0);
	if (engine_start(&eo) != 0)
		return 1;
	if (metrics && metrics_start(mhost, mport) != 0) {
		engine_stop();
		return 1;
	}
	grpc_init();
	rc = rpc_run(&ro);
	metrics_stop();
	engine_stop();
	grpc_shutdown();
	log_info("exiting");
	return rc;
}
