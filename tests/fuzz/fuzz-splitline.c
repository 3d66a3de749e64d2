/*
 * mulaw-split's input: media NDJSON lines, through handle_line and the
 * placement of chunks on each track, into sinks on /dev/null.  Each input
 * is a whole capture (lines split at '\n'); at its end every stream is
 * ended and freed, so one input never leaks into the next.
 */
#define main mulaw_split_main
#include "../../cmd/mulaw-split/main.c"
#include "../../cmd/mulaw-split/stream.c"
#include "../../cmd/mulaw-split/timing.c"
#include "../../cmd/mulaw-split/sink.c"
#include "../../cmd/mulaw-split/child.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const uint8_t *p = data, *end = data + size;
	uint64_t lineno = 0;
	int rounds;

	if (!ready) {
		ready = 1;
		log_level = LOG_QUIET;
		obuf_init(&g.out, open("/dev/null", O_WRONLY), 0);
		/* one track to one sink: /dev/null may not take two */
		opt.out = "/dev/null";
		opt.tracks = 1u << TR_IN;
		opt.stop_timeout = 0;
	}
	g.now = mono_ms();
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = malloc(n + 1);

		if (!line)
			return 0;
		memcpy(line, p, n);
		line[n] = '\0';
		handle_line(line, n, ++lineno);
		free(line);
		p += n + (nl != NULL);
	}
	streams_end_all("eof");
	for (rounds = 0; rounds < 100 && streams_busy(); rounds++) {
		g.now = mono_ms();
		streams_service();
	}
	streams_cleanup();
	obuf_flush(&g.out);
	return 0;
}
