/* Option parsing helpers shared by every program. */
#ifndef TAPLINE_CLI_H
#define TAPLINE_CLI_H

#include <stddef.h>

/* Exit statuses common to all programs (DESIGN.md). */
enum { EXIT_USAGE = 2 };

/* "prog (tapline) VERSION" on stdout, then exit 0 (or 1 if stdout fails). */
void cli_version(void) __attribute__((noreturn));
/* Print text to stdout and exit 0 (1 if the write fails). */
void cli_help(const char *text) __attribute__((noreturn));
/* "Try 'prog --help' for more information." then exit 2: getopt has
 * already said what was wrong. */
void cli_try_help(void) __attribute__((noreturn));
/* "prog: MSG\nTry 'prog --help' for more information." then exit 2. */
void cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Whole decimal number in [min, max]; on error a usage error naming opt. */
long long cli_int(const char *opt, const char *arg, long long min,
		  long long max);
/* Non-negative decimal seconds ("1.5"), returned in milliseconds. */
long long cli_ms(const char *opt, const char *arg, long long max_ms);
/* Byte size with optional k, M, G suffix (powers of 1024). */
size_t cli_size(const char *opt, const char *arg);

/*
 * Split "HOST:PORT", "[V6]:PORT", ":PORT" or "unix:PATH" into host (no
 * brackets) and port.  For "unix:PATH" host is the whole string and port 0.
 * Returns 0, or -1 if malformed.  host must hold hostsz bytes.
 */
int cli_hostport(const char *arg, char *host, size_t hostsz, int *port);
/* Whether host is a loopback address (127.0.0.0/8, ::1, localhost). */
int cli_is_loopback(const char *host);

/* Whether s is an E.164 number: '+', then 7 to 15 digits, the first not 0. */
int cli_is_e164(const char *s);

/* The value of a hexadecimal digit, or -1. */
int hex_value(int c);

/*
 * The whole of a file ("-": stdin), NUL-terminated, its length in *len.
 * NULL with errno set when it cannot be read, or EFBIG when it holds more
 * than max bytes.  The caller frees it.
 */
char *cli_read_file(const char *path, size_t max, size_t *len);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

#endif
