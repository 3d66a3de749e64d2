#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

static __attribute__((noreturn)) void finish_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write to standard output: %s",
			  strerror(errno));
		exit(1);
	}
	exit(0);
}

void cli_version(void)
{
	printf("%s (tapline) %s\n", log_prog, TAPLINE_VERSION);
	finish_stdout();
}

void cli_help(const char *text)
{
	fputs(text, stdout);
	finish_stdout();
}

void cli_try_help(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", log_prog);
	exit(EXIT_USAGE);
}

int cli_is_e164(const char *s)
{
	size_t n;

	if (s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	n = strspn(s + 1, "0123456789");
	return s[1 + n] == '\0' && n >= 7 && n <= 15;
}

char *cli_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, r;
	int err = 0;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			if (!(nb = realloc(buf, cap + 1))) {
				err = ENOMEM;
				break;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n > max)
			err = EFBIG;
	} while (r > 0 && !err);
	if (!err && ferror(f))
		err = errno ? errno : EIO;
	if (f != stdin)
		fclose(f);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n",
		log_prog, buf, log_prog);
	exit(EXIT_USAGE);
}

long long cli_int(const char *opt, const char *arg, long long min,
		  long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < min || v > max)
		cli_usage_error("invalid value '%s' for %s: expected a whole "
				"number from %lld to %lld", arg, opt, min, max);
	return v;
}

long long cli_ms(const char *opt, const char *arg, long long max_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end != '\0' || !(v >= 0) ||
	    v * 1000 > (double)max_ms)
		cli_usage_error("invalid value '%s' for %s: expected seconds "
				"from 0 to %lld", arg, opt, max_ms / 1000);
	return (long long)(v * 1000 + 0.5);
}

size_t cli_size(const char *opt, const char *arg)
{
	char *end;
	unsigned long long v, mul = 1;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (!errno && arg[0] >= '0' && arg[0] <= '9') {
		switch (*end) {
		case 'k': case 'K': mul = 1ULL << 10; end++; break;
		case 'm': case 'M': mul = 1ULL << 20; end++; break;
		case 'g': case 'G': mul = 1ULL << 30; end++; break;
		}
		if (*end == '\0' && v <= (unsigned long long)SIZE_MAX / mul)
			return (size_t)(v * mul);
	}
	cli_usage_error("invalid size '%s' for %s: expected bytes, with an "
			"optional k, M or G", arg, opt);
}

int cli_hostport(const char *arg, char *host, size_t hostsz, int *port)
{
	const char *colon, *h = arg;
	size_t hlen;
	char *end;
	long p;

	if (strncmp(arg, "unix:", 5) == 0) {
		if (arg[5] == '\0' || strlen(arg) >= hostsz)
			return -1;
		memcpy(host, arg, strlen(arg) + 1);
		*port = 0;
		return 0;
	}
	if (arg[0] == '[') {
		const char *rb = strchr(arg, ']');

		if (!rb || rb[1] != ':')
			return -1;
		h = arg + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon || memchr(arg, ':', (size_t)(colon - arg)))
			return -1;	/* bare IPv6 needs brackets */
		hlen = (size_t)(colon - arg);
	}
	if (hlen >= hostsz)
		return -1;
	if (hlen == 0 && arg[0] == '[')
		return -1;
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

int cli_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	/* addresses only: a name such as 127.example.com may be anywhere */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return strcmp(host, "localhost") == 0 || strncmp(host, "unix:", 5) == 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
