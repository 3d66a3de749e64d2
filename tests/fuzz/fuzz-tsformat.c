/*
 * ts-format's input: events NDJSON, through handle_line into calls, then
 * out in every format to /dev/null, with subtitle limits taken from the
 * input's size.  At the end of each input every call is freed, so one
 * input never leaks into the next.
 */
#define main ts_format_main
#include "../../cmd/ts-format.c"
#undef main

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct label label = { "inbound", "Customer" };
	static FILE *null;
	FILE *in;
	int f;

	if (!null) {
		log_level = LOG_QUIET;
		null = fopen("/dev/null", "w");
		opt.labels = &label;
		opt.nlabels = 1;
	}
	if (!null || size == 0)
		return 0;
	in = fmemopen((void *)data, size, "r");
	if (!in)
		return 0;
	read_events(in, "fuzz");
	fclose(in);
	opt.max_chars = 10 + (int)(size % 50);
	opt.max_lines = 1 + (int)(size % 3);
	opt.max_ms = 1000 + (long long)(size % 7) * 1000;
	for (f = FMT_TXT; f <= FMT_MD; f++) {
		opt.fmt = (enum fmt)f;
		opt.call = NULL;
		/* srt and vtt take one call: the first, when it has a sid */
		if ((f == FMT_SRT || f == FMT_VTT) && g.ncalls > 1)
			opt.call = g.calls[0].sid;
		emit(null);
	}
	fflush(null);
	calls_free();
	g.bad = 0;
	g.order = 0;
	g.status = 0;
	return 0;
}
