/*
 * mulaw-split: split Twilio media NDJSON into per-track audio.
 *
 * One epoll loop serves stdin (read in large non-blocking reads, split
 * into lines here), our stdout (a bounded queue of events), every output
 * that has queued audio, every child's stdout, and a self-pipe that the
 * SIGCHLD, SIGTERM and SIGINT handlers write to.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "log.h"
#include "split.h"

#define READ_SIZE	(256 * 1024)
#define MAX_LINE	(1024 * 1024)
/* Events queued for stdout at most, and the level past which we stop
 * reading stdin and the children until stdout drains (backpressure). */
#define OUT_LIMIT	(64 * 1024 * 1024)
#define OUT_GATE	(OUT_LIMIT - 8 * 1024 * 1024)
#define WARN_LIMIT	20
#define FD_WANT		65536

struct opts opt = {
	.format = FMT_ULAW,
	.tracks = 1u << TR_IN | 1u << TR_OUT,
	.buffer = 1024 * 1024,
	.jitter = 20 * BYTES_PER_MS,
	.reorder = 100 * BYTES_PER_MS,
	.max_gap = 600LL * 1000 * BYTES_PER_MS,
	.stop_timeout = 30 * 1000,
};
struct global g;

static const char usage_text[] =
"usage: mulaw-split [-o PATTERN] [-s PATTERN] [-e CMD] [-f FORMAT]\n"
"                   [-t TRACKS] [OPTION]...\n"
"Split Twilio media NDJSON on stdin into per-track audio; write events\n"
"NDJSON on stdout.\n"
"\n"
"  -o, --out=PATTERN        write each track to PATTERN: %s stream sid,\n"
"                           %c call sid, %t track, %% a percent sign\n"
"  -s, --stereo=PATTERN     one 2-channel file per stream, inbound left,\n"
"                           outbound right (%s, %c, %%)\n"
"  -e, --exec=CMD           run 'sh -c CMD' for each track with its audio\n"
"                           on stdin; its stdout lines join ours\n"
"  -f, --format=FORMAT      ulaw (default), s16le or wav\n"
"  -t, --tracks=LIST        inbound, outbound, or both (the default)\n"
"  -b, --buffer=SIZE        queue per output (default 1M; k, M, G)\n"
"  -w, --wait               stop reading stdin while an output is behind,\n"
"                           rather than drop audio (for replays)\n"
"      --jitter=MS          timestamp jitter tolerated (default 20)\n"
"      --reorder=MS         window for reordering chunks (default 100)\n"
"      --max-gap=SECONDS    longest gap filled with silence (default 600)\n"
"      --stop-timeout=SECONDS\n"
"                           wait for outputs and children (default 30)\n"
"  -v, --verbose            more messages\n"
"  -q, --quiet              errors only\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n";

enum {
	OPT_JITTER = 256, OPT_REORDER, OPT_MAX_GAP, OPT_STOP_TIMEOUT,
};

static const struct option longopts[] = {
	{"out", required_argument, NULL, 'o'},
	{"stereo", required_argument, NULL, 's'},
	{"exec", required_argument, NULL, 'e'},
	{"format", required_argument, NULL, 'f'},
	{"tracks", required_argument, NULL, 't'},
	{"buffer", required_argument, NULL, 'b'},
	{"wait", no_argument, NULL, 'w'},
	{"jitter", required_argument, NULL, OPT_JITTER},
	{"reorder", required_argument, NULL, OPT_REORDER},
	{"max-gap", required_argument, NULL, OPT_MAX_GAP},
	{"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
	{"verbose", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static volatile sig_atomic_t got_signal;
static int sig_pipe[2] = {-1, -1};

/* stdin, split into lines by us: ibuf[ioff, ilen) is not handled yet */
static char *ibuf;
static size_t ioff, ilen;
static int iskip;		/* discarding the rest of an over-long line */
static int input_eof;
static uint64_t in_lineno;
static uint64_t long_lines;

static int stdin_flags = -1, stdout_flags = -1;
static int flags_registered;

void warn_limited(uint64_t *count, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (++*count > WARN_LIMIT)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (*count == WARN_LIMIT)
		log_warn("%s (further warnings like this are not shown)", buf);
	else
		log_warn("%s", buf);
}

void out_line(const char *s, size_t n)
{
	static int warned;

	if (g.out_dead)
		return;
	if (obuf_putline(&g.out, s, n) < 0 && !warned) {
		log_error("standard output is not being read: events dropped");
		warned = 1;
		g.status = 1;
	}
}

static void out_flush(void)
{
	if (g.out_dead || g.out.len == 0)
		return;
	if (obuf_flush(&g.out) < 0) {
		log_error("cannot write to standard output: %s",
			  strerror(g.out.error));
		g.out_dead = 1;
		g.status = 1;
	}
}

static void on_signal(int sig)
{
	int saved = errno;
	ssize_t r;

	if (sig != SIGCHLD)
		got_signal++;
	r = write(sig_pipe[1], "", 1);
	(void)r;
	errno = saved;
}

static void setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		die(1, "cannot create a pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
}

static void drain_sig_pipe(void)
{
	char buf[256];

	while (read(sig_pipe[0], buf, sizeof buf) > 0)
		;
}

static unsigned parse_tracks(const char *arg)
{
	unsigned bits = 0;
	const char *p = arg;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 7 && strncmp(p, "inbound", n) == 0)
			bits |= 1u << TR_IN;
		else if (n == 8 && strncmp(p, "outbound", n) == 0)
			bits |= 1u << TR_OUT;
		else if (n == 4 && strncmp(p, "both", n) == 0)
			bits |= 1u << TR_IN | 1u << TR_OUT;
		else
			cli_usage_error("invalid track list '%s': expected "
					"inbound, outbound or both", arg);
		p += n;
		if (*p == ',')
			p++;
	}
	if (!bits)
		cli_usage_error("invalid track list '%s': expected inbound, "
				"outbound or both", arg);
	return bits;
}

static void parse_options(int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "o:s:e:f:t:b:wvqhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'o':
			opt.out = optarg;
			break;
		case 's':
			opt.stereo = optarg;
			break;
		case 'e':
			opt.exec = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "ulaw") == 0)
				opt.format = FMT_ULAW;
			else if (strcmp(optarg, "s16le") == 0)
				opt.format = FMT_S16LE;
			else if (strcmp(optarg, "wav") == 0)
				opt.format = FMT_WAV;
			else
				cli_usage_error("invalid format '%s': "
						"expected ulaw, s16le or wav",
						optarg);
			break;
		case 't':
			opt.tracks = parse_tracks(optarg);
			break;
		case 'b':
			opt.buffer = cli_size("--buffer", optarg);
			if (opt.buffer < 4096)
				cli_usage_error("--buffer must be at least "
						"4k");
			break;
		case 'w':
			opt.wait = 1;
			break;
		case OPT_JITTER:
			opt.jitter = cli_int("--jitter", optarg, 0, 10000) *
				     BYTES_PER_MS;
			break;
		case OPT_REORDER:
			opt.reorder = cli_int("--reorder", optarg, 0, 10000) *
				      BYTES_PER_MS;
			break;
		case OPT_MAX_GAP:
			opt.max_gap = cli_ms("--max-gap", optarg,
					     24LL * 3600 * 1000) *
				      BYTES_PER_MS;
			break;
		case OPT_STOP_TIMEOUT:
			opt.stop_timeout = cli_ms("--stop-timeout", optarg,
						  3600LL * 1000);
			break;
		case 'v':
			if (log_level < LOG_DEBUG)
				log_level++;
			break;
		case 'q':
			log_level = LOG_ERROR;
			break;
		case 'h':
			cli_help(usage_text);
		case 'V':
			cli_version();
		default:
			cli_try_help();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (opt.out) {
		pattern_check(opt.out, "--out", 1);
		if (!strstr(opt.out, "%t") &&
		    opt.tracks == (1u << TR_IN | 1u << TR_OUT))
			cli_usage_error("--out '%s' has no %%t but both "
					"tracks are written: add %%t or "
					"choose one with --tracks", opt.out);
	}
	if (opt.stereo)
		pattern_check(opt.stereo, "--stereo", 0);
	if (opt.exec && !*opt.exec)
		cli_usage_error("--exec needs a command");
}

/* fds 0, 1 and 2 must be open, or a file we open would take their place. */
static void check_std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static void restore_flags(void)
{
	if (stdin_flags >= 0)
		fcntl(0, F_SETFL, stdin_flags);
	if (stdout_flags >= 0)
		fcntl(1, F_SETFL, stdout_flags);
}

/*
 * Make fd 0 or 1 non-blocking.  O_NONBLOCK belongs to the open file
 * description, which a terminal or pipe shares with other processes (our
 * stderr and the children's, often), so fd gets a description of its own,
 * opened again through /proc.  Only where that fails (a socket) is the
 * shared flag set, and restored at exit.  A regular file never blocks.
 */
static void own_nonblock(int fd, int mode, int *saved)
{
	struct stat sb;
	char path[32];
	int nfd, fl;

	if (fstat(fd, &sb) < 0 || S_ISREG(sb.st_mode) ||
	    S_ISBLK(sb.st_mode))
		return;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((nfd = open(path, mode | O_NONBLOCK | O_CLOEXEC)) >= 0) {
		if (dup2(nfd, fd) == fd) {
			close(nfd);
			return;
		}
		close(nfd);
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || (fl & O_NONBLOCK))
		return;
	*saved = fl;
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (!flags_registered++)
		atexit(restore_flags);
}

/*
 * Thousands of tracks need thousands of descriptors.  Not more than
 * FD_WANT: the children inherit the limit, and some programs walk every
 * descriptor up to it.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= FD_WANT)
		return;
	rl.rlim_cur = rl.rlim_max < FD_WANT ? rl.rlim_max : FD_WANT;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static void handle_one(char *p, size_t n)
{
	in_lineno++;
	g.lines++;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	handle_line(p, n, in_lineno);
}

/* --wait, and an output is behind: leave the lines where they are. */
static int input_blocked(void)
{
	return opt.wait && g.nover > 0;
}

/* Whether a complete line waits in ibuf. */
static int input_pending(void)
{
	return ilen > ioff && memchr(ibuf + ioff, '\n', ilen - ioff);
}

/* Handle every complete line held, or as many as --wait allows. */
static void input_lines(void)
{
	char *p = ibuf + ioff, *end = ibuf + ilen, *nl;

	while (!input_blocked() &&
	       (nl = memchr(p, '\n', (size_t)(end - p)))) {
		if (iskip) {
			iskip = 0;
			in_lineno++;
			g.lines++;
		} else {
			handle_one(p, (size_t)(nl - p));
		}
		p = nl + 1;
	}
	ioff = (size_t)(p - ibuf);
	if (input_eof && !input_pending() && !input_blocked() &&
	    !g.input_done) {
		/* a last line without a newline is still a line */
		if (ilen > ioff && !iskip)
			handle_one(ibuf + ioff, ilen - ioff);
		ioff = ilen = 0;
		g.input_done = 1;
		streams_end_all("eof");
	}
}

/* One read of stdin, then the lines in it. */
static void input_read(void)
{
	ssize_t r;

	if (ioff > 0) {
		memmove(ibuf, ibuf + ioff, ilen - ioff);
		ilen -= ioff;
		ioff = 0;
	}
	if (!iskip && ilen > MAX_LINE) {
		g.bad_lines++;
		warn_limited(&long_lines, "line %llu: longer than %d bytes: "
			     "skipped", (unsigned long long)in_lineno + 1,
			     MAX_LINE);
		iskip = 1;
	}
	if (iskip)
		ilen = 0;
	r = read(0, ibuf + ilen, MAX_LINE + READ_SIZE - ilen);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_error("cannot read standard input: %s", strerror(errno));
		g.status = 1;
		r = 0;
	}
	if (r == 0)
		input_eof = 1;
	ilen += (size_t)r;
	input_lines();
}

/*
 * The epoll set.  A descriptor is in it only while there is something to
 * wait for on it, and its registration changes only when that changes,
 * so that an iteration in which nothing changed makes no epoll_ctl call:
 * with hundreds of children, rebuilding a pollfd array and having the
 * kernel poll every pipe on every wakeup cost a quarter of our CPU.
 *
 * An event carries a slot number and the slot's generation, not a
 * descriptor or a pointer: handling one event can close the descriptor
 * of another in the same batch (and open a new one under its number), or
 * free its owner, and the generation, bumped whenever a watch leaves its
 * slot, tells such a stale event from a live one.
 *
 * epoll refuses what poll reports as always ready (a regular file,
 * /dev/null): such a watch is kept on a list of its own, reported ready
 * at each wait, which then does not block.
 */
struct slot {
	struct watch *w;	/* NULL when free */
	uint32_t gen;
	uint32_t next_free;
};

#define NO_SLOT	UINT32_MAX

static int epfd = -1;
static struct slot *slots;
static uint32_t nslots, slots_cap, free_slots = NO_SLOT;
static uint32_t *always;		/* slots of watches epoll refused */
static size_t nalways, always_cap;
static struct epoll_event *evs;		/* the batch: slots_cap + 1 */
static int nev, evpos;

static uint64_t slot_key(uint32_t i)
{
	return (uint64_t)slots[i].gen << 32 | i;
}

static uint32_t slot_get(struct watch *w)
{
	uint32_t i;

	if (free_slots != NO_SLOT) {
		i = free_slots;
		free_slots = slots[i].next_free;
	} else {
		if (nslots == slots_cap) {
			uint32_t ncap = slots_cap ? slots_cap * 2 : 64;
			struct slot *ns = realloc(slots, ncap * sizeof *ns);
			struct epoll_event *ne;

			if (!ns)
				die(1, "out of memory");
			slots = ns;
			/* realloc keeps a batch being handled */
			if (!(ne = realloc(evs, (ncap + 1) * sizeof *ne)))
				die(1, "out of memory");
			evs = ne;
			slots_cap = ncap;
		}
		i = nslots++;
		slots[i].gen = 0;
	}
	slots[i].w = w;
	return i;
}

static void slot_put(uint32_t i)
{
	slots[i].w = NULL;
	slots[i].gen++;
	slots[i].next_free = free_slots;
	free_slots = i;
}

static void always_add(uint32_t i)
{
	if (nalways == always_cap) {
		size_t ncap = always_cap ? always_cap * 2 : 8;
		uint32_t *na = realloc(always, ncap * sizeof *na);

		if (!na)
			die(1, "out of memory");
		always = na;
		always_cap = ncap;
	}
	always[nalways++] = i;
}

static void always_del(uint32_t i)
{
	size_t k;

	for (k = 0; k < nalways; k++)
		if (always[k] == i) {
			always[k] = always[--nalways];
			return;
		}
}

/* Leave the set; before closing w's descriptor. */
void loop_unwatch(struct watch *w)
{
	if (!w->events)
		return;
	if (w->always) {
		always_del(w->slot);
		w->always = 0;
	} else {
		/* it cannot fail while fd is open and ours */
		epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
	}
	slot_put(w->slot);
	w->events = 0;
}

/*
 * Wait for events on fd (level-triggered), or for nothing if events is 0
 * or fd is -1.  Costs nothing when that is what w waits for already.
 */
void loop_watch(struct watch *w, int fd, uint32_t events)
{
	struct epoll_event ev;

	if (fd < 0)
		events = 0;
	if (w->events == events && (!events || w->fd == fd))
		return;
	if (!events || (w->events && w->fd != fd)) {
		loop_unwatch(w);
		if (!events)
			return;
	}
	if (fd != w->fd)
		w->refused = 0;
	w->fd = fd;
	if (epfd < 0 && (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die(1, "cannot create an epoll instance: %s",
		    strerror(errno));
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	if (w->events) {
		ev.data.u64 = slot_key(w->slot);
		if (!w->always && epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			die(1, "epoll_ctl: %s", strerror(errno));
		w->events = events;
		return;
	}
	w->slot = slot_get(w);
	w->events = events;
	ev.data.u64 = slot_key(w->slot);
	if (!w->refused) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
			return;
		if (errno != EPERM)
			die(1, "epoll_ctl: %s", strerror(errno));
		w->refused = 1;
	}
	w->always = 1;
	always_add(w->slot);
}

/* Wait up to timeout ms (-1: no limit) and make the batch. */
static void loop_wait(int timeout)
{
	size_t k;
	int n;

	nev = evpos = 0;
	if (epfd < 0)
		return;
	if (nalways)
		timeout = 0;
	/* the batch holds every watch: slots_cap + 1 >= nslots + 1 */
	n = epoll_wait(epfd, evs, (int)(slots_cap + 1 - nalways), timeout);
	if (n < 0) {
		if (errno == EINTR)
			n = 0;
		else
			die(1, "epoll_wait: %s", strerror(errno));
	}
	nev = n;
	for (k = 0; k < nalways; k++) {
		evs[nev].events = slots[always[k]].w->events;
		evs[nev].data.u64 = slot_key(always[k]);
		nev++;
	}
}

/* The next watch of the batch still registered, or NULL. */
static struct watch *loop_next(void)
{
	while (evpos < nev) {
		uint64_t key = evs[evpos++].data.u64;
		uint32_t i = (uint32_t)key;

		if (i < nslots && slots[i].w &&
		    slots[i].gen == (uint32_t)(key >> 32))
			return slots[i].w;
	}
	return NULL;
}

static void loop_free(void)
{
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
	free(slots);
	free(evs);
	free(always);
}

static struct watch w_sig = { .kind = W_SIG };
static struct watch w_in = { .kind = W_STDIN };
static struct watch w_out = { .kind = W_STDOUT };
static int gated_now;		/* children's stdout is out of the set */

/* Watch the child's stdout, unless our stdout is too far behind. */
void loop_watch_child(struct child *c)
{
	c->out_w.kind = W_CHILD;
	loop_watch(&c->out_w, c->out_fd, gated_now ? 0 : EPOLLIN);
}

/* Our stdout is backed up past OUT_GATE, or no longer: stop or resume
 * reading the children, on the change only. */
static void set_gated(int gated)
{
	struct child *c;

	if (gated == gated_now)
		return;
	gated_now = gated;
	for (c = g.children; c; c = c->next)
		loop_watch_child(c);
}

static int poll_once(void)
{
	int gated = !g.out_dead && g.out.len > OUT_GATE, timeout = -1;
	struct watch *w;
	struct child *c;

	/* written to since the last wait: a sink joins the set only if it
	 * still has a queue after this */
	sinks_flush_dirty();
	set_gated(gated);
	loop_watch(&w_sig, sig_pipe[0], EPOLLIN);
	loop_watch(&w_in, 0, !input_eof && !gated && !input_blocked() &&
		   !input_pending() ? EPOLLIN : 0);
	loop_watch(&w_out, 1, !g.out_dead && g.out.len > 0 ? EPOLLOUT : 0);
	/* deadlines and FIFO retries are checked ten times a second */
	if (g.nwaiting || g.nending)
		timeout = 100;
	loop_wait(timeout);
	g.now = mono_ms();
	while ((w = loop_next())) {
		switch (w->kind) {
		case W_SIG:
			drain_sig_pipe();
			children_reap();
			break;
		case W_STDIN:
			input_read();
			break;
		case W_STDOUT:
			out_flush();
			break;
		case W_SINK:
			sink_flush(container_of(w, struct sink, w));
			break;
		case W_CHILD:
			c = container_of(w, struct child, out_w);
			if (c->out_fd >= 0)
				child_read(c);
			break;
		}
	}
	sinks_flush_dirty();
	return 0;
}

static void summary(void)
{
	int level = g.bad_lines || g.unknown_lines || g.dropped_frames ?
		    LOG_WARN : LOG_INFO;

	if (level > log_level)
		return;
	(level == LOG_WARN ? log_warn : log_info)(
		"read %llu lines (%llu media); skipped %llu not valid, %llu "
		"for streams not started; dropped %llu ms of audio on full "
		"or failed outputs",
		(unsigned long long)g.lines, (unsigned long long)g.media,
		(unsigned long long)g.bad_lines,
		(unsigned long long)g.unknown_lines,
		(unsigned long long)(g.dropped_frames / BYTES_PER_MS));
}

int main(int argc, char **argv)
{
	int seen_signals = 0;

	log_init(argv[0]);
	parse_options(argc, argv);
	check_std_fds();
	setup_signals();
	child_env_init();
	raise_fd_limit();
	own_nonblock(0, O_RDONLY, &stdin_flags);
	own_nonblock(1, O_WRONLY, &stdout_flags);
	obuf_init(&g.out, 1, OUT_LIMIT);
	if (!(ibuf = malloc(MAX_LINE + READ_SIZE)))
		die(1, "out of memory");

	for (;;) {
		g.now = mono_ms();
		if (got_signal != seen_signals) {
			if (!seen_signals) {
				log_info("signal received: finishing");
				input_eof = g.input_done = 1;
				streams_end_all("eof");
			} else {
				g.hurry = 1;
			}
			seen_signals = got_signal;
		}
		if (!g.input_done && !input_blocked() &&
		    (input_pending() || input_eof))
			input_lines();
		streams_service();
		sinks_retry();
		out_flush();
		if (g.input_done && !streams_busy() && !g.children)
			break;
		poll_once();
	}

	if (!g.out_dead && g.out.len > 0) {
		int r = obuf_drain(&g.out, g.hurry ? 0 :
				   (int)opt.stop_timeout);

		if (r != 0) {
			log_error("cannot write to standard output: %s",
				  r < 0 ? strerror(g.out.error) :
				  "not read in time");
			g.status = 1;
		}
	}
	summary();
	streams_cleanup();
	obuf_free(&g.out);
	free(ibuf);
	loop_free();
	return g.status;
}
