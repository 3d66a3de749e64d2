/*
 * Placing chunks on the stream clock.  Every track is written as one
 * contiguous run of audio from time 0; a chunk's place in it comes from
 * media.timestamp (8 bytes a millisecond), and its length is whatever the
 * payload holds.  next is where the track's audio ends now.
 *
 *   close to next (jitter)      written at next, whole: audio stays exact
 *   overlapping what is written only the new tail is written
 *   entirely before next        late or duplicate: dropped
 *   after next                  held until the hole is filled, or until
 *                               the track is --reorder past the hole,
 *                               then the hole is filled with silence
 *   beyond --max-gap either way a resync: the clock is shifted, no fill
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "g711.h"
#include "log.h"
#include "split.h"

/* Whether a chunk d bytes off next, n long, is the next one, jittered:
 * off by no more than --jitter, and by less than half its length, so
 * that a neighbour that came early or twice is not taken for it. */
static int contiguous(int64_t d, size_t n)
{
	int64_t a = d < 0 ? -d : d;

	return a <= opt.jitter && 2 * a < (int64_t)n;
}

static void emit(struct stream *st, int t, const uint8_t *p, size_t n)
{
	struct track *tr = &st->tr[t];

	if (tr->file)
		sink_write(tr->file, p, n);
	if (tr->child)
		sink_write(&tr->child->in, p, n);
	if (st->stereo)
		stereo_feed(st, t, tr->next, p, n);
	tr->next += (int64_t)n;
}

static void fill(struct stream *st, int t, int64_t n)
{
	static uint8_t silence[4096];

	if (silence[0] != ULAW_SILENCE)
		memset(silence, ULAW_SILENCE, sizeof silence);
	st->tr[t].gaps++;
	st->tr[t].gap_bytes += (uint64_t)n;
	while (n > 0) {
		size_t k = n > (int64_t)sizeof silence ? sizeof silence :
			   (size_t)n;

		emit(st, t, silence, k);
		n -= (int64_t)k;
	}
}

/* Write a chunk that starts at or near next. */
static void put(struct stream *st, int t, int64_t pos, const uint8_t *p,
		size_t n)
{
	struct track *tr = &st->tr[t];
	int64_t d = pos - tr->next;

	tr->started = 1;
	tr->last_pos = pos;
	tr->last_len = n;
	if (d < 0 && !contiguous(d, n)) {
		size_t skip = (size_t)-d;

		tr->cut_bytes += skip;
		p += skip;
		n -= skip;
	}
	emit(st, t, p, n);
}

/*
 * Place the held chunks that can be placed now.  force holes are filled
 * with silence even if the window has not passed (INT_MAX: all).
 */
static void release(struct stream *st, int t, int force)
{
	struct track *tr = &st->tr[t];

	while (tr->nheld > 0) {
		struct held *h = &tr->held[0];
		int64_t d = h->pos - tr->next;

		if (h->pos + (int64_t)h->len <= tr->next) {
			tr->late++;
		} else if (d <= 0 || contiguous(d, h->len)) {
			put(st, t, h->pos, h->data, h->len);
		} else if (force > 0 ||
			   tr->seen_end - tr->next > opt.reorder) {
			if (force > 0 && force != INT_MAX)
				force--;
			fill(st, t, d);
			put(st, t, h->pos, h->data, h->len);
		} else {
			break;
		}
		free(h->data);
		tr->nheld--;
		memmove(&tr->held[0], &tr->held[1],
			(size_t)tr->nheld * sizeof tr->held[0]);
	}
}

static void hold(struct stream *st, int t, int64_t pos, const uint8_t *p,
		 size_t n)
{
	struct track *tr = &st->tr[t];
	int i, j;

	for (i = 0; i < tr->nheld; i++) {
		if (tr->held[i].pos == pos) {
			tr->dups++;
			return;
		}
		if (tr->held[i].pos > pos)
			break;
	}
	if (tr->nheld == MAX_HELD) {
		release(st, t, 1);
		/* what is left may have shifted, or the chunk may fit now */
		if (pos - tr->next <= 0 || contiguous(pos - tr->next, n)) {
			if (pos + (int64_t)n <= tr->next)
				tr->late++;
			else
				put(st, t, pos, p, n);
			return;
		}
		for (i = 0; i < tr->nheld && tr->held[i].pos < pos; i++)
			;
		if (i < tr->nheld && tr->held[i].pos == pos) {
			tr->dups++;
			return;
		}
	}
	for (j = tr->nheld; j > i; j--)
		tr->held[j] = tr->held[j - 1];
	if (!(tr->held[i].data = malloc(n)))
		die(1, "out of memory");
	memcpy(tr->held[i].data, p, n);
	tr->held[i].pos = pos;
	tr->held[i].len = n;
	tr->nheld++;
}

void track_media(struct stream *st, int t, long long ts_ms,
		 const uint8_t *data, size_t n)
{
	struct track *tr = &st->tr[t];
	int64_t pos, d;

	if (n == 0)
		return;
	tr->chunks++;
	pos = (int64_t)ts_ms * BYTES_PER_MS - tr->offset;
	d = pos - tr->next;
	if (d > opt.max_gap || -d > opt.max_gap) {
		/* what is held belongs to the old clock */
		release(st, t, INT_MAX);
		d = pos - tr->next;
		if (d > opt.max_gap || -d > opt.max_gap) {
			log_warn("stream '%s' track %s: timestamp %lld jumps "
				 "by %lld ms: not filled, going on from here",
				 st->sid, track_name[t], ts_ms,
				 (long long)(d / BYTES_PER_MS));
			tr->resyncs++;
			tr->offset += d;
			pos -= d;
			tr->seen_end = pos;
		}
	}
	if (pos + (int64_t)n > tr->seen_end)
		tr->seen_end = pos + (int64_t)n;
	if (pos == tr->last_pos && n == tr->last_len) {
		/* the chunk just placed, again (placed at next, so it would
		 * not look like the past if it was jittered) */
		tr->dups++;
		return;
	}
	if (pos + (int64_t)n <= tr->next) {
		tr->late++;
		return;
	}
	if (pos <= tr->next || contiguous(pos - tr->next, n))
		put(st, t, pos, data, n);
	else
		hold(st, t, pos, data, n);
	release(st, t, 0);
}

void track_finish(struct stream *st, int t)
{
	release(st, t, INT_MAX);
}

void track_report(const struct stream *st, int t)
{
	const struct track *tr = &st->tr[t];
	uint64_t dropped = 0;
	int warn;

	if (tr->file)
		dropped += tr->file->dropped;
	if (tr->child)
		dropped += tr->child->in.dropped;
	if (st->stereo)
		dropped += st->stereo->late[t];
	warn = tr->late || tr->dups || dropped;
	if (!warn && log_level < LOG_INFO)
		return;
	(warn ? log_warn : log_info)(
		"stream '%s' track %s: %llu chunks, %lld ms; dropped %llu "
		"late and %llu duplicate chunks, %llu bytes overlapping; "
		"filled %llu gaps (%llu ms); %llu resyncs; %llu bytes not "
		"written by full or failed outputs",
		st->sid, track_name[t], (unsigned long long)tr->chunks,
		(long long)(tr->next / BYTES_PER_MS),
		(unsigned long long)tr->late, (unsigned long long)tr->dups,
		(unsigned long long)tr->cut_bytes,
		(unsigned long long)tr->gaps,
		(unsigned long long)(tr->gap_bytes / BYTES_PER_MS),
		(unsigned long long)tr->resyncs, (unsigned long long)dropped);
}
