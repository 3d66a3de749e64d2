/*
 * gstt-stream's handling of StreamingRecognizeResponse bytes, as they come
 * off the wire, into events NDJSON.
 *
 * The first 8 bytes of the input pick the timeline (format, where the
 * stream starts, how much was sent on it); the rest is the response,
 * handled twice in a row on the same timeline.  Every event must be one
 * line of JSON, an object with the fields DESIGN.md names; finals must
 * tile the timeline from where the last one ended; no time may fall
 * outside what was sent; and fin, the replay point, only moves forward
 * within the stream, on whole samples.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../cmd/gstt-stream/events.c"

static struct timeline tl;
static double last_end;		/* end of the last final, seconds */
static long long finals_seen;

static void check(int ok)
{
	if (!ok)
		abort();
}

static int on_line(void *ctx, const char *line, size_t len)
{
	json_error_t err;
	json_t *e, *v;
	const char *type;
	double start, end, top = (double)tl.sent / (double)tl.bps;

	(void)ctx;
	check(len > 0 && line[len - 1] == '\n');
	check(memchr(line, '\n', len - 1) == NULL);
	e = json_loadb(line, len, 0, &err);
	check(e && json_is_object(e));
	type = json_string_value(json_object_get(e, "type"));
	check(type != NULL);
	check(json_is_string(json_object_get(e, "ts")));
	if (strcmp(type, "transcript") == 0) {
		check(json_is_integer(json_object_get(e, "seq")));
		check(json_is_string(json_object_get(e, "text")));
		check(json_string_length(json_object_get(e, "text")) > 0);
		start = json_number_value(json_object_get(e, "start"));
		end = json_number_value(json_object_get(e, "end"));
		check(start >= 0 && start <= end && end <= top + 1e-6);
		v = json_object_get(e, "final");
		check(json_is_boolean(v));
		if (json_is_true(v)) {
			/* a final with no words moves fin without an event */
			check(json_integer_value(json_object_get(e, "seq")) ==
			      finals_seen);
			check(start >= last_end - 1e-6);
			check(end >= (double)tl.fin / (double)tl.bps - 1e-6 &&
			      end <= (double)tl.fin / (double)tl.bps + 1e-6);
			finals_seen++;
			last_end = end;
		} else {
			check(json_integer_value(json_object_get(e, "seq")) ==
			      finals_seen);
			check(start >= last_end - 1e-6);
		}
	} else {
		check(strcmp(type, "error") == 0);
	}
	json_decref(e);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out o = { .call_sid = "CA1", .track = "inbound", .words = 1,
			 .alternatives = 3, .languages = 1,
			 .write_line = on_line };
	int64_t fin0;
	int round;

	if (size < 8)
		return 0;
	log_level = LOG_QUIET;
	memset(&tl, 0, sizeof tl);
	tl.align = data[0] & 1 ? 2 : 1;
	tl.bps = tl.align == 2 ? 32000 : 8000;
	tl.base = ((int64_t)data[1] << 16 | data[2] << 8 | data[3]) *
		  tl.align;
	tl.fin = tl.heard = tl.base;
	tl.sent = tl.base + ((int64_t)data[4] << 16 | data[5] << 8 |
			     data[6]) * tl.align;
	tl.seq = data[7];
	finals_seen = tl.seq;
	last_end = (double)tl.fin / (double)tl.bps;
	for (round = 0; round < 2; round++) {
		fin0 = tl.fin;
		resp_handle(&o, &tl, data + 8, size - 8);
		check(tl.fin >= fin0 && tl.fin <= tl.sent);
		check((tl.fin - tl.base) % tl.align == 0);
		check(tl.heard >= tl.fin);
		check(tl.seq == finals_seen);
	}
	return 0;
}
