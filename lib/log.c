#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *log_prog = "tapline";
int log_level = LOG_WARN;

void log_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	log_prog = slash ? slash + 1 : argv0;
}

/*
 * One fprintf per message: stderr is unbuffered, and a single write keeps
 * lines of processes sharing the terminal from interleaving mid-line.
 */
static __attribute__((format(printf, 2, 0))) void
vlog(int level, const char *fmt, va_list ap)
{
	char buf[1024];
	int n, saved = errno;

	if (level > log_level)
		return;
	n = snprintf(buf, sizeof buf, "%s: ", log_prog);
	if (n < 0 || (size_t)n >= sizeof buf)
		n = 0;
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", buf);
	errno = saved;
}

#define LOGFN(name, level) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		vlog(level, fmt, ap); \
		va_end(ap); \
	}

LOGFN(log_error, LOG_ERROR)
LOGFN(log_warn, LOG_WARN)
LOGFN(log_info, LOG_INFO)
LOGFN(log_debug, LOG_DEBUG)

void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(status);
}
