/*
 * cli: option values, HOST:PORT, loopback, write_all, and the exits of
 * the usage errors (run in a child); clock: RFC 3339 and the monotonic
 * clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "log.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PROG "t-cli-child"
/* A child's exit status when the function under test returned. */
#define RETURNED 100

struct result {
	int status;		/* exit status, or -1 if killed */
	char out[1024], err[1024];
};

static void slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
}

/*
 * Run fn(arg) in a child named PROG, stdout and stderr captured (stdout
 * to /dev/full instead when full is set).
 */
static void run(void (*fn)(const char *), const char *arg, int full,
		struct result *res)
{
	int out[2], err[2], status;
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = full ? open("/dev/full", O_WRONLY) : out[1];

		if (o < 0 || dup2(o, 1) < 0 || dup2(err[1], 2) < 0)
			_exit(99);
		close(out[0]);
		close(err[0]);
		log_init("/usr/libexec/" PROG);
		fn(arg);
		_exit(RETURNED);
	}
	close(out[1]);
	close(err[1]);
	slurp(out[0], res->out, sizeof res->out);
	slurp(err[0], res->err, sizeof res->err);
	close(out[0]);
	close(err[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void do_int(const char *a)
{
	cli_int("--port", a, 1, 65535);
}

static void do_ms(const char *a)
{
	cli_ms("--timeout", a, 60000);
}

static void do_size(const char *a)
{
	cli_size("--limit", a);
}

static void do_version(const char *a)
{
	(void)a;
	cli_version();
}

static void do_help(const char *a)
{
	cli_help(a);
}

/* fn(arg) must be a usage error: status 2, the value and option named. */
static int usage_error(void (*fn)(const char *), const char *arg,
		       const char *opt)
{
	static const char try[] =
		"\nTry '" PROG " --help' for more information.\n";
	struct result r;
	char quoted[256];
	size_t n;

	run(fn, arg, 0, &r);
	snprintf(quoted, sizeof quoted, "'%s'", arg);
	n = strlen(r.err);
	if (r.status == EXIT_USAGE && r.out[0] == '\0' &&
	    strncmp(r.err, PROG ": ", strlen(PROG) + 2) == 0 &&
	    strstr(r.err, quoted) && strstr(r.err, opt) &&
	    n > strlen(try) && strcmp(r.err + n - strlen(try), try) == 0 &&
	    !memchr(r.err, '\n', n - strlen(try)))
		return 0;
	print_message("%s '%s': status %d, stderr: %s\n", opt, arg,
		      r.status, r.err);
	return 1;
}

static void int_values(void **state)
{
	(void)state;
	assert_int_equal(cli_int("-n", "42", 0, 100), 42);
	assert_int_equal(cli_int("-n", "0", 0, 100), 0);
	assert_int_equal(cli_int("-n", "100", 0, 100), 100);
	assert_int_equal(cli_int("-n", "-5", -10, 10), -5);
	assert_int_equal(cli_int("-p", "65535", 1, 65535), 65535);
	assert_int_equal(cli_int("-n", "007", 0, 100), 7);
	assert_true(cli_int("-n", "9223372036854775807", 0, LLONG_MAX) ==
		    LLONG_MAX);
	assert_true(cli_int("-n", "-9223372036854775808", LLONG_MIN, 0) ==
		    LLONG_MIN);
}

static void int_errors(void **state)
{
	static const char *const bad[] = {
		"", "abc", "12x", "x12", "65536", "0", "-1", "1.5", "0x10",
		"99999999999999999999", "-99999999999999999999", "1 2",
	};
	size_t i;
	int n = 0;

	(void)state;
	for (i = 0; i < NELEM(bad); i++)
		n += usage_error(do_int, bad[i], "--port");
	assert_int_equal(n, 0);
}

static void ms_values(void **state)
{
	(void)state;
	assert_int_equal(cli_ms("-t", "1.5", 60000), 1500);
	assert_int_equal(cli_ms("-t", "0", 60000), 0);
	assert_int_equal(cli_ms("-t", "2", 60000), 2000);
	assert_int_equal(cli_ms("-t", "0.001", 60000), 1);
	assert_int_equal(cli_ms("-t", "0.25", 60000), 250);
	assert_int_equal(cli_ms("-t", "0.0004", 60000), 0);
	assert_int_equal(cli_ms("-t", "60", 60000), 60000);
	assert_int_equal(cli_ms("-t", "10", 10000), 10000);
	assert_int_equal(cli_ms("-t", "86400", 86400000), 86400000);
}

static void ms_errors(void **state)
{
	static const char *const bad[] = {
		"", "-1", "-0.5", "abc", "1s", "1 ", "nan", "inf", "-inf",
		"60.001", "61", "1e999", "1,5",
	};
	size_t i;
	int n = 0;

	(void)state;
	for (i = 0; i < NELEM(bad); i++)
		n += usage_error(do_ms, bad[i], "--timeout");
	assert_int_equal(n, 0);
}

static void size_values(void **state)
{
	(void)state;
	assert_int_equal(cli_size("-s", "0"), 0);
	assert_int_equal(cli_size("-s", "512"), 512);
	assert_int_equal(cli_size("-s", "4k"), 4096);
	assert_int_equal(cli_size("-s", "4K"), 4096);
	assert_int_equal(cli_size("-s", "2M"), 2 << 20);
	assert_int_equal(cli_size("-s", "16m"), 16 << 20);
	assert_int_equal(cli_size("-s", "1G"), 1 << 30);
	assert_int_equal(cli_size("-s", "3g"), 3ULL << 30);
	assert_int_equal(cli_size("-s", "0k"), 0);
}

static void size_errors(void **state)
{
	static const char *const bad[] = {
		"", "-1", "k", "1kB", "1T", "1.5M", "0x10", "1 k",
		"99999999999999999999", "18446744073709551615G",
		"18446744073709551615k",
	};
	size_t i;
	int n = 0;

	(void)state;
	for (i = 0; i < NELEM(bad); i++)
		n += usage_error(do_size, bad[i], "--limit");
	assert_int_equal(n, 0);
}

/* strtoull takes " -1" as ULLONG_MAX: a negative size, not a huge one. */
static void size_negative_after_space(void **state)
{
	(void)state;
	assert_int_equal(usage_error(do_size, " -1", "--limit") +
			 usage_error(do_size, "\t-5k", "--limit") +
			 usage_error(do_size, "\t-5", "--limit"), 0);
}

static void version_and_help(void **state)
{
	struct result r;

	(void)state;
	run(do_version, NULL, 0, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, PROG " (tapline) " TAPLINE_VERSION "\n");
	assert_string_equal(r.err, "");
	run(do_help, "Usage: x [-v]\n", 0, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "Usage: x [-v]\n");
	assert_string_equal(r.err, "");
	/* a stdout that cannot be written is a failure, and said */
	run(do_version, NULL, 1, &r);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, PROG ": "));
	run(do_help, "Usage: x [-v]\n", 1, &r);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, PROG ": "));
}

static void hostport(void **state)
{
	static const struct { const char *arg, *host; int port; } ok[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 },
		{ "[::1]:8090", "::1", 8090 },
		{ ":80", "", 80 },
		{ "unix:/tmp/x", "unix:/tmp/x", 0 },
		{ "localhost:0", "localhost", 0 },
		{ "example.com:65535", "example.com", 65535 },
		{ "[fe80::1%lo]:1", "fe80::1%lo", 1 },
		{ "[::]:443", "::", 443 },
		{ "0.0.0.0:50051", "0.0.0.0", 50051 },
	};
	static const char *const bad[] = {
		"::1:80", "host:", "host:65536", "host:-1", "[::1]80",
		"[::1]", "[::1", "[::1]:", "[::1]:x", "127.0.0.1", "", ":",
		"host:80x", "host:8o", "host:0x50", "unix:",
		"host:99999999999999999999", "a:b:80",
	};
	char host[64];
	size_t i;
	int port, n = 0;

	(void)state;
	for (i = 0; i < NELEM(ok); i++) {
		memset(host, 'x', sizeof host);
		port = -7;
		if (cli_hostport(ok[i].arg, host, sizeof host, &port) != 0 ||
		    strcmp(host, ok[i].host) != 0 || port != ok[i].port) {
			print_message("'%s' -> '%.64s' %d\n", ok[i].arg, host,
				      port);
			n++;
		}
	}
	for (i = 0; i < NELEM(bad); i++) {
		if (cli_hostport(bad[i], host, sizeof host, &port) != -1) {
			print_message("'%s' accepted\n", bad[i]);
			n++;
		}
	}
	assert_int_equal(n, 0);

	/* host must fit with its NUL */
	assert_int_equal(cli_hostport("[::1]:80", host, 4, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(cli_hostport("[::1]:80", host, 3, &port), -1);
	assert_int_equal(cli_hostport("abc:1", host, 4, &port), 0);
	assert_string_equal(host, "abc");
	assert_int_equal(cli_hostport("abc:1", host, 3, &port), -1);
	assert_int_equal(cli_hostport("unix:/tmp/x", host, 12, &port), 0);
	assert_string_equal(host, "unix:/tmp/x");
	assert_int_equal(cli_hostport("unix:/tmp/x", host, 11, &port), -1);
}

static void loopback(void **state)
{
	static const char *const yes[] = {
		"127.0.0.1", "127.255.255.254", "127.0.1.1", "::1",
		"localhost", "unix:/tmp/x",
	};
	static const char *const no[] = {
		"", "0.0.0.0", "::", "128.0.0.1", "10.0.0.1", "192.168.1.1",
		"1270.0.0.1", "12.7.0.1", "localhost.example.com",
		"example.com", "::2", "[::1]",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(yes); i++) {
		if (!cli_is_loopback(yes[i]))
			print_message("'%s'\n", yes[i]);
		assert_true(cli_is_loopback(yes[i]));
	}
	for (i = 0; i < NELEM(no); i++) {
		if (cli_is_loopback(no[i]))
			print_message("'%s'\n", no[i]);
		assert_false(cli_is_loopback(no[i]));
	}
}

/*
 * A host name that starts with "127." is looked up like any other and
 * may be anywhere; only an address in 127.0.0.0/8 is loopback.
 */
static void loopback_hostnames(void **state)
{
	static const char *const no[] = {
		"127.example.com", "127.0.0.1.nip.io",
	};
	size_t i;
	int n = 0;

	(void)state;
	for (i = 0; i < NELEM(no); i++) {
		if (cli_is_loopback(no[i])) {
			print_message("'%s' taken as loopback\n", no[i]);
			n++;
		}
	}
	assert_int_equal(n, 0);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static char pattern(size_t i)
{
	return (char)(i * 13 + i / 509);
}

/* Through a slow reader, with signals interrupting the writes. */
static void write_all_pipe(void **state)
{
	enum { N = 1 << 20 };
	char *data = malloc(N);
	struct itimerval it = { { 0, 500 }, { 0, 500 } }, off = { 0 };
	struct sigaction sa, old;
	int fds[2], status;
	size_t i;
	pid_t pid;

	(void)state;
	assert_non_null(data);
	for (i = 0; i < N; i++)
		data[i] = pattern(i);
	assert_int_equal(write_all(1, data, 0), 0);
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[3000];
		size_t got = 0;
		ssize_t r;

		close(fds[1]);
		while ((r = read(fds[0], buf, sizeof buf)) > 0) {
			for (i = 0; i < (size_t)r; i++)
				if (buf[i] != pattern(got + i))
					_exit(3);
			got += (size_t)r;
			usleep(50);
		}
		_exit(r == 0 && got == N ? 0 : 4);
	}
	close(fds[0]);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;	/* no SA_RESTART: writes see EINTR */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	assert_int_equal(write_all(fds[1], data, N), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(data);
}

static void write_all_errors(void **state)
{
	int fds[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	errno = 0;
	assert_int_equal(write_all(fds[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(fds[1]);
	errno = 0;
	assert_int_equal(write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);

	/* a full non-blocking pipe is an error, not a spin */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	{
		static char big[256 * 1024];

		errno = 0;
		assert_int_equal(write_all(fds[1], big, sizeof big), -1);
		assert_int_equal(errno, EAGAIN);
	}
	close(fds[0]);
	close(fds[1]);
}

static void rfc3339(void **state)
{
	static const struct { int64_t us; const char *s; } t[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 999, "1970-01-01T00:00:00.000Z" },
		{ 1000, "1970-01-01T00:00:00.001Z" },
		{ 59999999, "1970-01-01T00:00:59.999Z" },
		{ 1000000000000000, "2001-09-09T01:46:40.000Z" },
		{ 1709251199999000, "2024-02-29T23:59:59.999Z" },
		{ 1767323045678999, "2026-01-02T03:04:05.678Z" },
		{ 253402300799999999, "9999-12-31T23:59:59.999Z" },
	};
	char out[RFC3339_LEN + 2];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(out, 'x', sizeof out);
		rfc3339_from_us(t[i].us, out);
		assert_string_equal(out, t[i].s);
		assert_int_equal(out[RFC3339_LEN + 1], 'x');
	}
}

static void rfc3339_now_format(void **state)
{
	char a[RFC3339_LEN + 1], now[RFC3339_LEN + 1], b[RFC3339_LEN + 1];
	const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
	time_t t0, t1;
	int i;

	(void)state;
	t0 = time(NULL);
	rfc3339_now(now);
	t1 = time(NULL);
	rfc3339_from_us((int64_t)t0 * 1000000, a);
	rfc3339_from_us((int64_t)t1 * 1000000, b);
	assert_int_equal(strlen(now), RFC3339_LEN);
	for (i = 0; i < RFC3339_LEN; i++) {
		if (shape[i] == 'd')
			assert_true(now[i] >= '0' && now[i] <= '9');
		else
			assert_int_equal(now[i], shape[i]);
	}
	/* same format, so the text orders as the time does */
	assert_true(strncmp(a, now, 19) <= 0);
	assert_true(strncmp(now, b, 19) <= 0);
}

static void mono(void **state)
{
	int64_t prev = mono_us(), t0, a, b, c;
	int i;

	(void)state;
	assert_true(prev > 0);
	for (i = 0; i < 10000; i++) {
		int64_t now = mono_us();

		assert_true(now >= prev);
		prev = now;
	}
	t0 = mono_us();
	usleep(20000);
	a = mono_us() - t0;
	assert_true(a >= 20000);
	assert_true(a < 10000000);

	a = mono_us() / 1000;
	b = mono_ms();
	c = mono_us() / 1000;
	assert_true(a <= b);
	assert_true(b <= c);
}

static void read_file(void **state)
{
	char path[] = "/tmp/t-cli-XXXXXX";
	size_t n = 99;
	char *s;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	s = cli_read_file(path, 10, &n);
	assert_non_null(s);
	assert_int_equal(n, 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	s = cli_read_file(path, 10, &n);
	assert_non_null(s);
	assert_int_equal(n, 10);
	assert_string_equal(s, "0123456789");
	free(s);
	assert_int_equal(write(fd, "x", 1), 1);
	errno = 0;
	assert_null(cli_read_file(path, 10, &n));
	assert_int_equal(errno, EFBIG);
	close(fd);
	unlink(path);
	assert_null(cli_read_file(path, 10, &n));
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(int_values),
		cmocka_unit_test(int_errors),
		cmocka_unit_test(ms_values),
		cmocka_unit_test(ms_errors),
		cmocka_unit_test(size_values),
		cmocka_unit_test(size_errors),
		cmocka_unit_test(size_negative_after_space),
		cmocka_unit_test(version_and_help),
		cmocka_unit_test(hostport),
		cmocka_unit_test(loopback),
		cmocka_unit_test(loopback_hostnames),
		cmocka_unit_test(write_all_pipe),
		cmocka_unit_test(write_all_errors),
		cmocka_unit_test(rfc3339),
		cmocka_unit_test(rfc3339_now_format),
		cmocka_unit_test(mono),
		cmocka_unit_test(read_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
