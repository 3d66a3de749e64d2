/*
 * wsload: load for ts-broadcast.  One program plays both ends:
 *
 *   wsload --url ws://127.0.0.1:PORT/ws --feed PATH [--clients N]
 *          [--calls N] [--rate EVENTS/S] [--seconds S] [--stall N]
 *          [--procs N]
 *
 * It opens N WebSocket clients watching every call, plus --stall clients
 * that stop reading once synced, spread over --procs worker processes
 * (default 2: one process alone cannot read what a server sends to 500
 * clients); once every client has its sync, it writes transcript events
 * of --calls calls to the feed socket at --rate for --seconds.  Each
 * event carries its call's event number "n" and its send time "sent_us"
 * (CLOCK_MONOTONIC), so each client checks that it gets every event of
 * every call, in order, and measures the fan-out delay.
 *
 * Prints one line of key=value pairs; exits 0 when every healthy client
 * got every event in order, 1 otherwise, 2 on usage errors.  A bare
 * WebSocket client over poll(2), no library: bench helpers link nothing
 * but libc and libcrypto, and this one needs neither of libcrypto's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Fan-out delays: 10 us buckets up to 100 ms, then 1 ms up to 60 s. */
#define FINE 10000
#define NBUCKETS (FINE + 60000)

/* What a worker tells the parent at the end. */
struct report {
	long got_short, bad, frames, cut;
	uint32_t hist[NBUCKETS];
};

struct client {
	int fd;
	int open, stall, synced, closed;
	int close_code;
	char *buf;
	size_t len, cap;
	long long last_id;
	long *next_n;		/* per call: the n expected next */
	long got, bad;
};

static int nclients = 500, nstall = 1, ncalls = 50, seconds = 20;
static int nprocs = 2;
static double rate = 400;
static const char *url, *feed_path;
static char host[256], path[256];
static int port;
static struct report rep;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	ssize_t r;

	while (n) {
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static long long field(const char *s, const char *name)
{
	const char *p = strstr(s, name);

	return p ? strtoll(p + strlen(name), NULL, 10) : -1;
}

/* One text message, NUL-terminated. */
static void on_message(struct client *c, const char *s)
{
	long long id, n, call, sent;
	const char *p;
	int64_t d;
	size_t b;

	if (strncmp(s, "{\"type\":\"hello\"", 15) == 0)
		return;
	if (strncmp(s, "{\"type\":\"sync\"", 14) == 0) {
		c->synced = 1;
		return;
	}
	id = field(s, ",\"id\":");
	if (id <= c->last_id)
		c->bad++;
	c->last_id = id;
	if (!(p = strstr(s, "\"call_sid\":\"CA")))
		return;
	call = strtoll(p + 14, NULL, 10);
	n = field(s, "\"n\":");
	sent = field(s, "\"sent_us\":");
	if (call < 0 || call >= ncalls || n < 0)
		return;
	if (n != c->next_n[call])
		c->bad++;
	c->next_n[call] = n + 1;
	c->got++;
	if (sent > 0 && !c->stall) {
		d = now_us() - sent;
		b = d < FINE * 10 ? (size_t)(d < 0 ? 0 : d / 10) :
		    (size_t)(FINE + (d - FINE * 10) / 1000);
		rep.hist[b < NBUCKETS ? b : NBUCKETS - 1]++;
		rep.frames++;
	}
}

/* Take the whole frames in c->buf; returns -1 when the socket is done. */
static int parse(struct client *c)
{
	size_t off = 0, hdr, plen;
	unsigned char *u;
	char *end, save;

	if (!c->open) {
		if (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
			return c->len > 8192 ? -1 : 0;
		if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) {
			fprintf(stderr, "wsload: upgrade refused: %.*s\n",
				(int)strcspn(c->buf, "\r\n"), c->buf);
			return -1;
		}
		c->open = 1;
		off = (size_t)(end + 4 - c->buf);
	}
	while (c->len - off >= 2) {
		u = (unsigned char *)c->buf + off;
		plen = u[1] & 0x7f;
		hdr = 2;
		if (plen == 126) {
			if (c->len - off < 4)
				break;
			plen = (size_t)u[2] << 8 | u[3];
			hdr = 4;
		} else if (plen == 127) {
			if (c->len - off < 10)
				break;
			plen = 0;
			for (hdr = 2; hdr < 10; hdr++)
				plen = plen << 8 | u[hdr];
		}
		if (c->len - off < hdr + plen)
			break;
		switch (u[0] & 0x0f) {
		case 1:		/* text; the server sends each one whole */
			save = c->buf[off + hdr + plen];
			c->buf[off + hdr + plen] = '\0';
			on_message(c, c->buf + off + hdr);
			c->buf[off + hdr + plen] = save;
			break;
		case 8:
			c->close_code = plen >= 2 ? u[hdr] << 8 | u[hdr + 1] :
					1005;
			return -1;
		default:
			break;
		}
		off += hdr + plen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

static int service(struct client *c)
{
	ssize_t n;

	for (;;) {
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 131072;
			if (!(c->buf = realloc(c->buf, c->cap + 1)))
				return -1;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		if (parse(c) != 0)
			return -1;
		if (c->synced && c->stall)
			return 0;	/* from now on it reads nothing */
	}
}

static int ws_connect(struct client *c)
{
	struct sockaddr_in sa;
	char req[512];
	int n;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "wsload: '%s': not an IPv4 address\n", host);
		return -1;
	}
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fprintf(stderr, "wsload: cannot connect: %s\n",
			strerror(errno));
		return -1;
	}
	n = snprintf(req, sizeof req,
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n", path, host, port);
	if (write_all(c->fd, req, (size_t)n) != 0)
		return -1;
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	return 0;
}

static void close_client(struct client *c, int *nclosed)
{
	if (c->closed)
		return;
	close(c->fd);
	c->closed = 1;
	++*nclosed;
}

/*
 * A worker: count clients, the last nstall_here of which stall.  Writes
 * 'S' to rep_fd once all are synced, reads the number of events sent from
 * ctl_fd, waits (bounded) until its clients have them all, and writes its
 * report.
 */
static int worker(int first, int count, int nstall_here, int rep_fd,
		  int ctl_fd)
{
	struct client *cl = calloc((size_t)count, sizeof *cl);
	struct pollfd *pfd = calloc((size_t)count + 1, sizeof *pfd);
	long total = -1, behind;
	int64_t deadline;
	int i, nclosed = 0, synced, started = 0;

	if (!cl || !pfd)
		return 1;
	for (i = 0; i < count; i++) {
		cl[i].stall = i >= count - nstall_here;
		cl[i].last_id = -1;
		if (!(cl[i].next_n = calloc((size_t)ncalls, sizeof(long))) ||
		    ws_connect(&cl[i]) != 0)
			return 1;
	}
	(void)first;
	deadline = now_us() + 30 * 1000000LL;
	for (;;) {
		for (synced = 0, behind = 0, i = 0; i < count; i++) {
			synced += cl[i].synced || cl[i].closed;
			if (!cl[i].stall && !cl[i].closed &&
			    cl[i].got < total)
				behind++;
		}
		if (!started && synced == count) {
			if (write_all(rep_fd, "S", 1) != 0)
				return 1;
			started = 1;
		}
		if (total >= 0 && (!behind || now_us() >= deadline))
			break;
		if (!started && now_us() >= deadline) {
			fprintf(stderr, "wsload: only %d of %d clients "
				"synced\n", synced, count);
			return 1;
		}
		for (i = 0; i < count; i++) {
			pfd[i].fd = cl[i].closed || (cl[i].stall &&
				    cl[i].synced) ? -1 : cl[i].fd;
			pfd[i].events = POLLIN;
		}
		pfd[count].fd = total < 0 ? ctl_fd : -1;
		pfd[count].events = POLLIN;
		if (poll(pfd, (nfds_t)count + 1, 100) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < count; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents &&
			    service(&cl[i]) != 0)
				close_client(&cl[i], &nclosed);
		if (pfd[count].fd >= 0 && pfd[count].revents) {
			if (read_all(ctl_fd, &total, sizeof total) != 0)
				return 1;
			deadline = now_us() + 10 * 1000000LL;
		}
	}
	for (i = 0; i < count; i++) {
		if (cl[i].stall) {
			rep.cut += cl[i].closed;
			continue;
		}
		rep.bad += cl[i].bad;
		if (cl[i].got != total)
			rep.got_short++;
	}
	return write_all(rep_fd, &rep, sizeof rep) ? 1 : 0;
}

static int feed_connect(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", feed_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fprintf(stderr, "wsload: cannot connect to '%s': %s\n",
			feed_path, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Event k of the run: the calls in turn, each with its own n. */
static size_t make_event(char *buf, size_t size, long k, long *n,
			 int64_t sent)
{
	long call = k % ncalls, i = n[call]++;
	int track = (int)(i / 5 % 2), seq = (int)(i / 10), fin = i % 5 == 4;

	return (size_t)snprintf(buf, size,
		"{\"type\":\"transcript\",\"ts\":\"2026-01-01T00:00:00.000Z\","
		"\"call_sid\":\"CA%032ld\",\"stream_sid\":\"MZ%032ld\","
		"\"track\":\"%s\",\"seq\":%d,\"final\":%s,"
		"\"text\":\"the quick brown fox jumps over the lazy dog %ld\","
		"\"start\":%d.5,\"end\":%d.9,\"n\":%ld,\"sent_us\":%lld}\n",
		call, call, track ? "outbound" : "inbound", seq,
		fin ? "true" : "false", i, seq, seq, i, (long long)sent);
}

/* The delay at quantile q of the histogram, in milliseconds. */
static double quantile(const struct report *r, double q)
{
	uint64_t n = 0, want, acc = 0;
	size_t b;

	for (b = 0; b < NBUCKETS; b++)
		n += r->hist[b];
	if (!n)
		return 0;
	want = (uint64_t)(q * (double)(n - 1)) + 1;
	for (b = 0; b < NBUCKETS - 1; b++) {
		acc += r->hist[b];
		if (acc >= want)
			break;
	}
	return b < FINE ? (double)b * 0.01 : 100.0 + (double)(b - FINE);
}

static int num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s && !*end && v >= 0 && v <= 1000000 ? (int)v : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: wsload --url ws://HOST:PORT/PATH --feed PATH "
		"[--clients N] [--calls N] [--rate EVENTS/S] [--seconds S] "
		"[--stall N] [--procs N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "feed", required_argument, NULL, 'f' },
		{ "clients", required_argument, NULL, 'c' },
		{ "calls", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "stall", required_argument, NULL, 'S' },
		{ "procs", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct report *sum = calloc(1, sizeof *sum), *got;
	char buf[1024];
	long *n, sent = 0, due;
	int64_t start, end, t;
	int ch, fd, p, first, count, st, *rfd, *cfd;
	pid_t *pids;
	size_t len, b;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'f': feed_path = optarg; break;
		case 'c': nclients = num(optarg); break;
		case 'n': ncalls = num(optarg); break;
		case 'r': rate = strtod(optarg, NULL); break;
		case 's': seconds = num(optarg); break;
		case 'S': nstall = num(optarg); break;
		case 'P': nprocs = num(optarg); break;
		default: usage();
		}
	}
	if (!url || !feed_path || nclients < 1 || ncalls < 1 || rate <= 0 ||
	    seconds < 1 || nstall < 0 || nprocs < 1 || optind != argc ||
	    sscanf(url, "ws://%255[0-9.]:%d%255s", host, &port, path) != 3 ||
	    path[0] != '/')
		usage();
	if (nprocs > nclients)
		nprocs = nclients;
	n = calloc((size_t)ncalls, sizeof *n);
	pids = calloc((size_t)nprocs, sizeof *pids);
	rfd = calloc((size_t)nprocs, sizeof *rfd);
	cfd = calloc((size_t)nprocs, sizeof *cfd);
	got = calloc(1, sizeof *got);
	if (!sum || !n || !pids || !rfd || !cfd || !got)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (p = 0; p < nprocs; p++) {
		int rp[2], cp[2];

		if (pipe(rp) || pipe(cp))
			return 1;
		first = (int)((long)nclients * p / nprocs);
		count = (int)((long)nclients * (p + 1) / nprocs) - first;
		if ((pids[p] = fork()) == 0) {
			close(rp[0]);
			close(cp[1]);
			/* the stalled clients go with the last worker */
			_exit(worker(first, count + (p == nprocs - 1 ? nstall :
						     0),
				     p == nprocs - 1 ? nstall : 0, rp[1],
				     cp[0]));
		}
		close(rp[1]);
		close(cp[0]);
		rfd[p] = rp[0];
		cfd[p] = cp[1];
	}
	for (p = 0; p < nprocs; p++) {
		char c;

		if (read_all(rfd[p], &c, 1) != 0 || c != 'S') {
			fprintf(stderr, "wsload: worker %d did not start\n",
				p);
			for (p = 0; p < nprocs; p++)
				kill(pids[p], SIGKILL);
			return 1;
		}
	}

	fd = feed_connect();
	start = now_us();
	end = start + (int64_t)seconds * 1000000;
	while ((t = now_us()) < end) {
		due = (long)((double)(t - start) * rate / 1e6);
		while (sent < due) {
			len = make_event(buf, sizeof buf, sent, n, now_us());
			if (write_all(fd, buf, len) != 0) {
				fprintf(stderr, "wsload: feed write failed\n");
				return 1;
			}
			sent++;
		}
		usleep(1000);
	}
	t = now_us();
	close(fd);
	for (p = 0; p < nprocs; p++)
		if (write_all(cfd[p], &sent, sizeof sent) != 0)
			return 1;
	for (p = 0; p < nprocs; p++) {
		if (read_all(rfd[p], got, sizeof *got) != 0) {
			fprintf(stderr, "wsload: worker %d gave no report\n",
				p);
			return 1;
		}
		waitpid(pids[p], &st, 0);
		sum->got_short += got->got_short;
		sum->bad += got->bad;
		sum->frames += got->frames;
		sum->cut += got->cut;
		for (b = 0; b < NBUCKETS; b++)
			sum->hist[b] += got->hist[b];
	}
	printf("clients=%d stalled=%d procs=%d calls=%d events=%ld "
	       "seconds=%.2f events_per_s=%.0f frames=%ld frames_per_s=%.0f "
	       "delay_p50_ms=%.2f delay_p99_ms=%.2f delay_max_ms=%.2f "
	       "clients_missing_events=%ld out_of_order=%ld\n",
	       nclients, nstall, nprocs, ncalls, sent,
	       (double)(t - start) / 1e6,
	       (double)sent * 1e6 / (double)(t - start), sum->frames,
	       (double)sum->frames * 1e6 / (double)(t - start),
	       quantile(sum, 0.5), quantile(sum, 0.99), quantile(sum, 1.0),
	       sum->got_short, sum->bad);
	return sum->got_short || sum->bad ? 1 : 0;
}
