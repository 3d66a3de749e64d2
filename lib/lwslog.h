/* libwebsockets' own messages, through log.h. */
#ifndef TAPLINE_LWSLOG_H
#define TAPLINE_LWSLOG_H

/*
 * Route libwebsockets' log lines to log_error/log_info, "lws: ...", at
 * a level that follows log_level: errors by default, warnings and
 * notices with -vv, everything with -vvv, nothing with LOG_QUIET.
 * Call after the options are parsed.
 */
void lwslog_init(void);

#endif
