/*
 * ts-broadcast's input: events NDJSON lines through ingest_line into the
 * history, with limits small enough that calls and entries are evicted.
 * The first byte picks live lines (ids assigned) or journal lines (ids
 * read).  After each input the history is checked whole: both lists in
 * id order, the interims unique per utterance, the counts and bytes
 * right, the limits kept; then it is freed, so inputs never leak into
 * each other.
 */
#include "../../cmd/ts-broadcast/events.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(void)
{
	const struct hent *e, *f;
	const struct call *c;
	size_t n = 0, bytes = 0, cn, cbytes;
	uint64_t last = 0;

	for (e = hist.head; e; e = e->next) {
		if (e->msg->id <= last || e->msg->id >= hist.next_id ||
		    (e->next && e->next->prev != e) || e->msg->refs < 1)
			abort();
		last = e->msg->id;
		n++;
		bytes += e->msg->len + ENT_OVERHEAD;
	}
	if (n != hist.nent || bytes != hist.bytes)
		abort();
	for (n = 0, c = hist.calls; c; c = c->next, n++) {
		json_t *j = call_json(c);

		if (!j)
			abort();
		json_decref(j);
		last = 0;
		cn = cbytes = 0;
		for (e = c->head; e; e = e->cnext) {
			if (e->call != c || e->msg->id <= last)
				abort();
			last = e->msg->id;
			cn++;
			cbytes += e->msg->len + ENT_OVERHEAD;
		}
		if (cn != c->nent || cbytes != c->bytes)
			abort();
		for (e = c->interims; e; e = e->inext) {
			if (!e->interim || e->call != c)
				abort();
			for (f = e->inext; f; f = f->inext)
				if (same_utterance(f, e->stream_sid, e->track,
						   e->seq))
					abort();
		}
	}
	if (n != hist.ncalls || hist.ncalls > hist.max_calls)
		abort();
	(void)history_resumable(hist.lost_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *end = data + size;
	int journal;
	char why[160];
	struct msg *m;

	log_level = LOG_QUIET;
	if (size < 1)
		return 0;
	journal = data[0] & 1;
	history_init(3, 4096, journal ? 1 : 1000);
	for (p = data + 1; p < end;) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (ingest_line((const char *)p, n, journal, &m, why,
				sizeof why) == IN_OK) {
			if (!m || m->len == 0 || MSG_TEXT(m)[m->len] != '\0' ||
			    MSG_TEXT(m)[m->len - 1] != '}')
				abort();
			msg_unref(m);
		}
		check();
		p += n + (nl != NULL);
	}
	history_free();
	if (hist.nent || hist.bytes || hist.calls)
		abort();
	return 0;
}
