/*
 * obuf over a real pipe: bytes come out exactly as queued, the limit
 * refuses whole messages, a full pipe leaves data queued, and a reader
 * that went away is an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "obuf.h"

/* Bound on loops that wait for a pipe to drain or fill. */
#define MAX_ROUNDS 100000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

static void fill_random(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)rnd();
}

/* The byte at offset i of a stream both sides can compute. */
static char pattern(size_t i)
{
	return (char)(i * 7 + i / 251);
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
}

/* fds[0] reads, fds[1] writes; both non-blocking. */
static void make_pipe(int fds[2])
{
	assert_int_equal(pipe(fds), 0);
	set_nonblock(fds[0], 1);
	set_nonblock(fds[1], 1);
}

static void close_pipe(int fds[2])
{
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

/*
 * Append what the pipe holds now to buf, which holds cap bytes; more than
 * that fails the test.  Returns bytes read.
 */
static size_t read_avail(int fd, char *buf, size_t *len, size_t cap)
{
	size_t got = 0;

	for (;;) {
		char extra;
		ssize_t r = *len < cap ? read(fd, buf + *len, cap - *len) :
			    read(fd, &extra, 1);

		if (r < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			return got;
		}
		if (r == 0)
			return got;
		assert_true(*len < cap);
		*len += (size_t)r;
		got += (size_t)r;
	}
}

/* Write to fd until it takes no more; returns how much it took. */
static size_t fill_pipe(int fd)
{
	static char junk[4096];
	size_t total = 0, n = sizeof junk;
	int i;

	for (i = 0; i < MAX_ROUNDS && n > 0; i++) {
		ssize_t w = write(fd, junk, n);

		if (w < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			n /= 2;
			continue;
		}
		total += (size_t)w;
	}
	assert_int_equal(n, 0);
	return total;
}

/* Flush and read until the queue is empty; everything read goes to buf. */
static void pump(struct obuf *ob, int rfd, char *buf, size_t *len,
		 size_t cap)
{
	int i, r = 1;

	for (i = 0; i < MAX_ROUNDS && r == 1; i++) {
		r = obuf_flush(ob);
		assert_true(r == 0 || r == 1);
		assert_int_equal(r == 1, ob->len > 0);
		read_avail(rfd, buf, len, cap);
	}
	assert_int_equal(r, 0);
	assert_int_equal(ob->len, 0);
	read_avail(rfd, buf, len, cap);
}

/* Many messages of random sizes, flushed at random moments. */
static void round_trip(void **state)
{
	enum { NMSG = 3000, CAP = 8 << 20 };
	char *want = malloc(CAP), *got = malloc(CAP);
	size_t wlen = 0, glen = 0, maxlen = 0;
	struct obuf ob;
	int fds[2], i;

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	make_pipe(fds);
	obuf_init(&ob, fds[1], 0);
	assert_int_equal(obuf_room(&ob), SIZE_MAX);
	for (i = 0; i < NMSG; i++) {
		uint32_t kind = rnd() % 100;
		size_t n = kind < 5 ? 0 : kind < 90 ? rnd() % 700 :
			   kind < 98 ? rnd() % 5000 : 60000 + rnd() % 90000;

		if (wlen + n + 1 > CAP)
			break;
		fill_random(want + wlen, n);
		if (rnd() % 4 == 0) {
			assert_int_equal(obuf_putline(&ob, want + wlen, n), 0);
			want[wlen + n++] = '\n';
		} else {
			assert_int_equal(obuf_put(&ob, want + wlen, n), 0);
		}
		wlen += n;
		if (ob.len > maxlen)
			maxlen = ob.len;
		assert_int_equal(ob.peak, maxlen);
		assert_int_equal(ob.written + ob.len, wlen);
		if (rnd() % 8 == 0) {
			int r = obuf_flush(&ob);

			assert_true(r == 0 || r == 1);
			assert_int_equal(r == 1, ob.len > 0);
			assert_int_equal(ob.written + ob.len, wlen);
		}
		if (rnd() % 3 == 0)
			read_avail(fds[0], got, &glen, CAP);
	}
	pump(&ob, fds[0], got, &glen, CAP);
	assert_int_equal(ob.written, wlen);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	assert_int_equal(ob.peak, maxlen);
	assert_true(ob.peak > 65536);
	assert_int_equal(ob.dropped_msgs, 0);
	assert_int_equal(ob.dropped_bytes, 0);
	assert_int_equal(ob.error, 0);

	/* queued data and the spare chunk are freed (ASan checks) */
	assert_int_equal(obuf_put(&ob, want, 100000), 0);
	obuf_free(&ob);
	assert_int_equal(ob.len, 0);
	close_pipe(fds);
	free(want);
	free(got);
}

/* Single bytes and lines straddling every early chunk boundary. */
static void chunk_boundaries(void **state)
{
	enum { CAP = 300000 };
	char *want = malloc(CAP), *got = malloc(CAP);
	size_t wlen = 0, glen = 0, k;
	struct obuf ob;
	int fds[2];

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	make_pipe(fds);
	obuf_init(&ob, fds[1], 0);
	for (k = 0; wlen + 3 <= CAP / 2; k++) {
		size_t n = 1 + k % 3;

		fill_random(want + wlen, n);
		if (k % 2) {
			assert_int_equal(obuf_putline(&ob, want + wlen,
						      n - 1), 0);
			want[wlen + n - 1] = '\n';
		} else {
			assert_int_equal(obuf_put(&ob, want + wlen, n), 0);
		}
		wlen += n;
	}
	assert_int_equal(ob.len, wlen);
	pump(&ob, fds[0], got, &glen, CAP);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	obuf_free(&ob);
	close_pipe(fds);
	free(want);
	free(got);
}

static void limit(void **state)
{
	char a[200], b[200], got[512];
	size_t glen = 0;
	struct obuf ob;
	int fds[2];

	(void)state;
	memset(a, 'a', sizeof a);
	memset(b, 'b', sizeof b);
	make_pipe(fds);
	obuf_init(&ob, fds[1], 100);
	assert_int_equal(obuf_room(&ob), 100);
	assert_int_equal(obuf_put(&ob, a, 60), 0);
	assert_int_equal(obuf_room(&ob), 40);
	/* one byte too many: refused whole, nothing of it queued */
	assert_int_equal(obuf_put(&ob, b, 41), -1);
	assert_int_equal(ob.len, 60);
	assert_int_equal(ob.dropped_msgs, 1);
	assert_int_equal(ob.dropped_bytes, 41);
	/* exactly fits */
	assert_int_equal(obuf_put(&ob, a + 60, 40), 0);
	assert_int_equal(ob.len, 100);
	assert_int_equal(obuf_room(&ob), 0);
	assert_int_equal(obuf_put(&ob, b, 1), -1);
	assert_int_equal(ob.dropped_msgs, 2);
	assert_int_equal(ob.dropped_bytes, 42);
	assert_int_equal(ob.len, 100);
	assert_int_equal(ob.peak, 100);

	assert_int_equal(obuf_flush(&ob), 0);
	read_avail(fds[0], got, &glen, sizeof got);
	assert_int_equal(glen, 100);
	assert_memory_equal(got, a, 100);
	assert_int_equal(ob.written, 100);
	assert_int_equal(obuf_room(&ob), 100);

	/* larger than the limit on an empty queue */
	assert_int_equal(obuf_put(&ob, b, 101), -1);
	assert_int_equal(ob.len, 0);
	assert_int_equal(ob.dropped_msgs, 3);
	assert_int_equal(ob.dropped_bytes, 143);
	assert_int_equal(obuf_put(&ob, b, 100), 0);
	assert_int_equal(obuf_flush(&ob), 0);
	glen = 0;
	read_avail(fds[0], got, &glen, sizeof got);
	assert_int_equal(glen, 100);
	assert_memory_equal(got, b, 100);
	assert_int_equal(ob.written, 200);
	assert_int_equal(ob.dropped_msgs, 3);
	obuf_free(&ob);
	close_pipe(fds);
}

static void putline_limit(void **state)
{
	char got[64];
	size_t glen = 0;
	struct obuf ob;
	int fds[2];

	(void)state;
	make_pipe(fds);
	/* nine bytes and the newline fill ten exactly */
	obuf_init(&ob, fds[1], 10);
	assert_int_equal(obuf_putline(&ob, "123456789", 9), 0);
	assert_int_equal(ob.len, 10);
	assert_int_equal(obuf_room(&ob), 0);
	/* even an empty line needs its newline */
	assert_int_equal(obuf_putline(&ob, "", 0), -1);
	assert_int_equal(ob.dropped_msgs, 1);
	assert_int_equal(ob.dropped_bytes, 1);
	assert_int_equal(obuf_flush(&ob), 0);
	read_avail(fds[0], got, &glen, sizeof got);
	assert_int_equal(glen, 10);
	assert_memory_equal(got, "123456789\n", 10);
	obuf_free(&ob);

	/* ten bytes and the newline are one over: nothing is queued */
	obuf_init(&ob, fds[1], 10);
	assert_int_equal(obuf_putline(&ob, "0123456789", 10), -1);
	assert_int_equal(ob.len, 0);
	assert_int_equal(ob.dropped_msgs, 1);
	assert_int_equal(ob.dropped_bytes, 11);
	assert_int_equal(obuf_put(&ob, "abcde", 5), 0);
	assert_int_equal(obuf_putline(&ob, "fghij", 5), -1);
	assert_int_equal(ob.len, 5);
	assert_int_equal(obuf_putline(&ob, "fghi", 4), 0);
	assert_int_equal(ob.len, 10);
	assert_int_equal(obuf_flush(&ob), 0);
	glen = 0;
	read_avail(fds[0], got, &glen, sizeof got);
	assert_int_equal(glen, 10);
	assert_memory_equal(got, "abcdefghi\n", 10);
	assert_int_equal(ob.dropped_msgs, 2);
	assert_int_equal(ob.dropped_bytes, 17);
	obuf_free(&ob);
	close_pipe(fds);
}

static void flush_full_pipe(void **state)
{
	enum { N = 256 * 1024 };
	char *want = malloc(N), *got = malloc(N);
	size_t glen = 0, i;
	uint64_t w;
	struct obuf ob;
	int fds[2], cap;

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	for (i = 0; i < N; i++)
		want[i] = pattern(i);
	make_pipe(fds);
	cap = fcntl(fds[1], F_GETPIPE_SZ);
	assert_true(cap > 0 && cap < N);
	obuf_init(&ob, fds[1], 0);
	assert_int_equal(obuf_put(&ob, want, N), 0);
	assert_int_equal(obuf_flush(&ob), 1);
	w = ob.written;
	assert_true(w > 0 && w <= (uint64_t)cap);
	assert_int_equal(ob.len, N - w);
	/* still full: nothing moves */
	assert_int_equal(obuf_flush(&ob), 1);
	assert_int_equal(ob.written, w);
	/* a reader frees room; data moves on, in order */
	read_avail(fds[0], got, &glen, N);
	assert_int_equal(glen, w);
	pump(&ob, fds[0], got, &glen, N);
	assert_int_equal(obuf_flush(&ob), 0);
	assert_int_equal(glen, N);
	assert_memory_equal(got, want, N);
	assert_int_equal(ob.written, N);
	assert_int_equal(ob.peak, N);
	obuf_free(&ob);
	close_pipe(fds);
	free(want);
	free(got);
}

static void write_direct_then_queue(void **state)
{
	enum { BIG = 200000, N = 100 + BIG + 50 };
	char *want = malloc(N), *got = malloc(N);
	size_t glen = 0, i;
	uint64_t w;
	struct obuf ob;
	int fds[2];

	(void)state;
	assert_non_null(want);
	assert_non_null(got);
	for (i = 0; i < N; i++)
		want[i] = pattern(i);
	make_pipe(fds);
	obuf_init(&ob, fds[1], 1 << 20);

	/* an empty queue and room in the pipe: written at once */
	assert_int_equal(obuf_write(&ob, want, 100), 0);
	assert_int_equal(ob.len, 0);
	assert_int_equal(ob.written, 100);
	assert_int_equal(ob.peak, 0);
	read_avail(fds[0], got, &glen, N);
	assert_int_equal(glen, 100);
	assert_memory_equal(got, want, 100);

	/* more than the pipe holds: what it did not take is queued */
	assert_int_equal(obuf_write(&ob, want + 100, BIG), 0);
	w = ob.written - 100;
	assert_true(w > 0 && w < BIG);
	assert_int_equal(ob.len, BIG - w);

	/* with data queued a write goes behind it, even with room */
	read_avail(fds[0], got, &glen, N);
	assert_int_equal(glen, 100 + w);
	assert_int_equal(obuf_write(&ob, want + 100 + BIG, 50), 0);
	assert_int_equal(ob.written, 100 + w);
	assert_int_equal(ob.len, BIG - w + 50);

	pump(&ob, fds[0], got, &glen, N);
	assert_int_equal(glen, N);
	assert_memory_equal(got, want, N);
	assert_int_equal(ob.written, N);
	assert_int_equal(ob.dropped_msgs, 0);

	/* a pipe full from elsewhere: queued whole */
	fill_pipe(fds[1]);
	assert_int_equal(obuf_write(&ob, want, 10), 0);
	assert_int_equal(ob.written, N);
	assert_int_equal(ob.len, 10);
	assert_int_equal(obuf_flush(&ob), 1);
	obuf_free(&ob);
	close_pipe(fds);
	free(want);
	free(got);
}

/*
 * A message is never cut: when the pipe takes part of it and the rest
 * does not fit under the limit, either all of it goes (the rest queued)
 * or none of it.
 */
static void write_never_cuts(void **state)
{
	enum { N = 10000 };
	/* static, so that a failure here leaks nothing */
	static char msg[N], got[1 << 20];
	size_t glen = 0, filled;
	struct obuf ob;
	int fds[2], r;

	(void)state;
	memset(msg, 'm', N);
	make_pipe(fds);
	filled = fill_pipe(fds[1]);
	/* room for one page only */
	assert_int_equal(read(fds[0], got, 4096), 4096);
	obuf_init(&ob, fds[1], 1000);
	r = obuf_write(&ob, msg, N);
	if (r == 0) {
		size_t i, m = 0;

		assert_int_equal(ob.written + ob.len, N);
		pump(&ob, fds[0], got, &glen, sizeof got);
		assert_int_equal(glen, filled - 4096 + N);
		for (i = 0; i < glen; i++)
			m += got[i] == 'm';
		assert_int_equal(m, N);
	} else {
		if (ob.written)
			print_message("refused after writing %llu of %d "
				      "bytes\n",
				      (unsigned long long)ob.written, N);
		assert_int_equal(ob.written, 0);
		assert_int_equal(ob.len, 0);
		assert_int_equal(ob.dropped_bytes, N);
		glen = 0;
		read_avail(fds[0], got, &glen, sizeof got);
		assert_int_equal(glen, filled - 4096);
		assert_null(memchr(got, 'm', glen));
	}
	obuf_free(&ob);
	close_pipe(fds);
}

static void write_error(void **state)
{
	char buf[100] = "x";
	struct obuf ob;
	int fds[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	make_pipe(fds);
	close(fds[0]);
	fds[0] = -1;

	obuf_init(&ob, fds[1], 0);
	assert_int_equal(obuf_put(&ob, buf, sizeof buf), 0);
	assert_int_equal(obuf_flush(&ob), -1);
	assert_int_equal(ob.error, EPIPE);
	assert_int_equal(ob.len, 0);
	assert_int_equal(ob.written, 0);
	obuf_free(&ob);

	obuf_init(&ob, fds[1], 0);
	assert_int_equal(obuf_write(&ob, buf, sizeof buf), -1);
	assert_int_equal(ob.error, EPIPE);
	assert_int_equal(ob.dropped_msgs, 1);
	assert_int_equal(ob.dropped_bytes, sizeof buf);
	assert_int_equal(ob.written, 0);
	assert_int_equal(ob.len, 0);
	/* once failed, later writes are refused and counted */
	assert_int_equal(obuf_write(&ob, buf, 10), -1);
	assert_int_equal(ob.dropped_msgs, 2);
	assert_int_equal(ob.dropped_bytes, sizeof buf + 10);
	obuf_free(&ob);

	obuf_init(&ob, fds[1], 0);
	assert_int_equal(obuf_put(&ob, buf, sizeof buf), 0);
	assert_int_equal(obuf_drain(&ob, 1000), -1);
	assert_int_equal(ob.error, EPIPE);
	assert_int_equal(ob.len, 0);
	obuf_free(&ob);
	close_pipe(fds);
}

static void drain_timeout(void **state)
{
	struct obuf ob;
	int64_t t0, ms;
	int fds[2];

	(void)state;
	make_pipe(fds);
	obuf_init(&ob, fds[1], 0);
	fill_pipe(fds[1]);
	assert_int_equal(obuf_put(&ob, "queued", 6), 0);
	t0 = mono_ms();
	assert_int_equal(obuf_drain(&ob, 100), 1);
	ms = mono_ms() - t0;
	assert_true(ms >= 90);
	assert_true(ms < 1000);
	assert_int_equal(ob.len, 6);
	t0 = mono_ms();
	assert_int_equal(obuf_drain(&ob, 0), 1);
	assert_true(mono_ms() - t0 < 1000);
	assert_int_equal(ob.error, 0);
	obuf_free(&ob);
	close_pipe(fds);
}

/* A child reads and checks the pattern; exits 0 if all N bytes match. */
static pid_t reader(int fds[2], size_t n)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[8192];
		size_t off = 0, i;
		ssize_t r;

		close(fds[1]);
		set_nonblock(fds[0], 0);
		while ((r = read(fds[0], buf, sizeof buf)) > 0) {
			for (i = 0; i < (size_t)r; i++)
				if (buf[i] != pattern(off + i))
					_exit(3);
			off += (size_t)r;
			usleep(100);
		}
		_exit(r == 0 && off == n ? 0 : 4);
	}
	close(fds[0]);
	fds[0] = -1;
	return pid;
}

static void drain_with_reader(void **state)
{
	enum { N = 1 << 20 };
	char *data = malloc(N);
	struct obuf ob;
	int fds[2], status, t;
	size_t i;
	pid_t pid;

	(void)state;
	assert_non_null(data);
	for (i = 0; i < N; i++)
		data[i] = pattern(i);
	for (t = 0; t < 2; t++) {
		make_pipe(fds);
		obuf_init(&ob, fds[1], 0);
		for (i = 0; i < N; i += 1000)
			assert_int_equal(obuf_put(&ob, data + i,
					 N - i < 1000 ? N - i : 1000), 0);
		pid = reader(fds, N);
		assert_int_equal(obuf_drain(&ob, t ? -1 : 30000), 0);
		assert_int_equal(ob.written, N);
		assert_int_equal(ob.len, 0);
		close(fds[1]);
		fds[1] = -1;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		obuf_free(&ob);
	}
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(chunk_boundaries),
		cmocka_unit_test(limit),
		cmocka_unit_test(putline_limit),
		cmocka_unit_test(flush_full_pipe),
		cmocka_unit_test(write_direct_then_queue),
		cmocka_unit_test(write_never_cuts),
		cmocka_unit_test(write_error),
		cmocka_unit_test(drain_timeout),
		cmocka_unit_test(drain_with_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
