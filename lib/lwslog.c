/* libwebsockets' own messages, through log.h.  See lwslog.h. */
#include <string.h>

#include <libwebsockets.h>

#include "log.h"
#include "lwslog.h"

static void lws_line(int level, const char *line)
{
	size_t n = strlen(line);

	/* lws lines carry a newline of their own */
	while (n && line[n - 1] == '\n')
		n--;
	if (level & LLL_ERR)
		log_error("lws: %.*s", (int)n, line);
	else
		log_info("lws: %.*s", (int)n, line);
}

void lwslog_init(void)
{
	int levels = LLL_ERR;

	if (log_level >= LOG_DEBUG)
		levels |= LLL_WARN | LLL_NOTICE;
	if (log_level > LOG_DEBUG)
		levels |= LLL_INFO | LLL_DEBUG;
	lws_set_log_level(log_level < LOG_ERROR ? 0 : levels, lws_line);
}
