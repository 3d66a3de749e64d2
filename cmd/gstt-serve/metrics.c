/*
 * Counters, and a tiny HTTP server on its own thread that answers
 * GET /metrics in the Prometheus text format.  One connection at a time,
 * each bounded in time: it is for a scraper, not for the public.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "grpcpb.h"
#include "gstt-serve.h"
#include "log.h"

#define NCODES 17

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t counters[M_COUNT];
static uint64_t statuses[NCODES];
static int lfd = -1;
static volatile int quit;
static pthread_t thread;
static int running;

void metric_add(enum metric m, int64_t n)
{
	pthread_mutex_lock(&mu);
	counters[m] += n;
	pthread_mutex_unlock(&mu);
}

void metric_status(grpc_status_code code)
{
	pthread_mutex_lock(&mu);
	if ((unsigned)code < NCODES)
		statuses[code]++;
	pthread_mutex_unlock(&mu);
}

static size_t render(char *buf, size_t sz)
{
	int64_t c[M_COUNT];
	uint64_t st[NCODES];
	int nidle, nbusy, i;
	size_t n = 0;

	pthread_mutex_lock(&mu);
	memcpy(c, counters, sizeof c);
	memcpy(st, statuses, sizeof st);
	pthread_mutex_unlock(&mu);
	engine_decoders(&nidle, &nbusy);
#define OUT(...) do { \
		int k_ = snprintf(buf + n, sz - n, __VA_ARGS__); \
		if (k_ > 0 && (size_t)k_ < sz - n) n += (size_t)k_; \
	} while (0)
	OUT("# HELP gstt_streams_active Streams holding a decoder.\n"
	    "# TYPE gstt_streams_active gauge\n"
	    "gstt_streams_active %lld\n", (long long)c[M_STREAMS_ACTIVE]);
	OUT("# HELP gstt_calls_total Calls accepted, by method.\n"
	    "# TYPE gstt_calls_total counter\n"
	    "gstt_calls_total{method=\"StreamingRecognize\"} %lld\n"
	    "gstt_calls_total{method=\"Recognize\"} %lld\n",
	    (long long)c[M_STREAMS_TOTAL], (long long)c[M_UNARY_TOTAL]);
	OUT("# HELP gstt_audio_seconds_total Audio decoded.\n"
	    "# TYPE gstt_audio_seconds_total counter\n"
	    "gstt_audio_seconds_total %.3f\n", (double)c[M_AUDIO_US] / 1e6);
	OUT("# HELP gstt_results_total Results sent.\n"
	    "# TYPE gstt_results_total counter\n"
	    "gstt_results_total{final=\"true\"} %lld\n"
	    "gstt_results_total{final=\"false\"} %lld\n",
	    (long long)c[M_RESULTS_FINAL], (long long)c[M_RESULTS_INTERIM]);
	OUT("# HELP gstt_speech_events_total Speech events sent.\n"
	    "# TYPE gstt_speech_events_total counter\n"
	    "gstt_speech_events_total %lld\n", (long long)c[M_EVENTS]);
	OUT("# HELP gstt_phrase_calls_total Calls decoded with a language "
	    "model biased towards their speech_contexts phrases.\n"
	    "# TYPE gstt_phrase_calls_total counter\n"
	    "gstt_phrase_calls_total %lld\n", (long long)c[M_HINTED]);
	OUT("# HELP gstt_status_total Calls finished, by gRPC status.\n"
	    "# TYPE gstt_status_total counter\n");
	for (i = 0; i < NCODES; i++)
		if (st[i] || i == 0)
			OUT("gstt_status_total{code=\"%s\"} %llu\n",
			    grpc_code_name((grpc_status_code)i),
			    (unsigned long long)st[i]);
	OUT("# HELP gstt_decoders Decoders, by state.\n"
	    "# TYPE gstt_decoders gauge\n"
	    "gstt_decoders{state=\"idle\"} %d\n"
	    "gstt_decoders{state=\"busy\"} %d\n", nidle, nbusy);
#undef OUT
	return n;
}

static void serve(int fd)
{
	char req[2048] = "", body[8192], head[256];
	size_t got = 0, blen;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int hl;

	/* read the request head, for at most 2 s */
	while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t r;

		if (poll(&p, 1, 2000) <= 0)
			return;
		r = read(fd, req + got, sizeof req - 1 - got);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
	}
	if (strncmp(req, "GET /metrics ", 13) == 0 ||
	    strncmp(req, "GET /metrics?", 13) == 0) {
		blen = render(body, sizeof body);
		hl = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\n"
			      "Content-Type: text/plain; version=0.0.4\r\n"
			      "Content-Length: %zu\r\n"
			      "Connection: close\r\n\r\n", blen);
	} else {
		blen = (size_t)snprintf(body, sizeof body, "not found\n");
		hl = snprintf(head, sizeof head, "HTTP/1.0 404 Not Found\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: %zu\r\n"
			      "Connection: close\r\n\r\n", blen);
	}
	if (write_all(fd, head, (size_t)hl) == 0)
		write_all(fd, body, blen);
}

static void *loop(void *arg)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	(void)arg;
	while (!quit) {
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
	return NULL;
}

int metrics_start(const char *host, int port)
{
	struct addrinfo hints, *res, *ai;
	char ps[16];
	int one = 1, e;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof ps, "%d", port);
	e = getaddrinfo(*host ? host : NULL, ps, &hints, &res);
	if (e != 0) {
		log_error("cannot resolve '%s': %s", host, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		lfd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			     ai->ai_protocol);
		if (lfd < 0)
			continue;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(lfd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(lfd, 16) == 0)
			break;
		close(lfd);
		lfd = -1;
	}
	freeaddrinfo(res);
	if (lfd < 0) {
		log_error("cannot listen on '%s:%d' for metrics: %s", host,
			  port, strerror(errno));
		return -1;
	}
	if (pthread_create(&thread, NULL, loop, NULL) != 0) {
		close(lfd);
		lfd = -1;
		return -1;
	}
	running = 1;
	return 0;
}

void metrics_stop(void)
{
	if (!running)
		return;
	quit = 1;
	pthread_join(thread, NULL);
	close(lfd);
	running = 0;
}
