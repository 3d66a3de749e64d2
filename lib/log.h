/* Messages on stderr: "prog: what failed: why", lower case, no full stop. */
#ifndef TAPLINE_LOG_H
#define TAPLINE_LOG_H

enum log_level { LOG_QUIET = -1, LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern const char *log_prog;	/* set by log_init */
extern int log_level;		/* default LOG_WARN; -v raises, -q lowers */

void log_init(const char *argv0);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_error, then exit(status). */
void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif
