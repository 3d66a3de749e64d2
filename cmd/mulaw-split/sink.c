/*
 * Audio outputs.  A sink takes mu-law and writes it as --format says:
 * into a regular file (WAV through libsndfile, which fixes the header at
 * close), or through a bounded queue into a FIFO, a pipe or a device
 * (WAV with a header written here, its sizes 0xFFFFFFFF since they are
 * not known).  A FIFO that has no reader yet is opened again ten times a
 * second while its audio waits in the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "g711.h"
#include "log.h"
#include "split.h"

#define FLUSH_AT	(64 * 1024)	/* write a queue this full at once */
#define RETRY_MS	100
#define STEREO_LAG	(1000 * BYTES_PER_MS)	/* 1 s */
#define PIECE		2048			/* samples converted at once */

static const char *sink_name(const struct sink *s)
{
	static char buf[160];

	if (s->path)
		return s->path;
	snprintf(buf, sizeof buf, "the input of the child for stream '%s' "
		 "track %s", s->st->sid, track_name[s->track]);
	return buf;
}

static void mark_dirty(struct sink *s);

static size_t frame_bytes(const struct sink *s)
{
	return (size_t)s->channels * (opt.format == FMT_ULAW ? 1 : 2);
}

static void link_sink(struct sink *s)
{
	s->next = g.sinks;
	if (g.sinks)
		g.sinks->prev = s;
	g.sinks = s;
}

static void le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v & 0xFF);
	p[1] = (uint8_t)(v >> 8 & 0xFF);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, v & 0xFFFF);
	le16(p + 2, v >> 16);
}

/* A WAV header for a stream of unknown length: RIFF and data sizes are
 * 0xFFFFFFFF, which readers take as "until the end" (0 would mean
 * empty). */
static void queue_wav_header(struct sink *s)
{
	uint8_t h[44];
	unsigned ch = (unsigned)s->channels;

	memcpy(h, "RIFF", 4);
	le32(h + 4, 0xFFFFFFFFu);
	memcpy(h + 8, "WAVEfmt ", 8);
	le32(h + 16, 16);
	le16(h + 20, 1);			/* PCM */
	le16(h + 22, ch);
	le32(h + 24, 8000);
	le32(h + 28, 8000 * 2 * ch);		/* bytes a second */
	le16(h + 32, 2 * ch);			/* bytes a frame */
	le16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	le32(h + 40, 0xFFFFFFFFu);
	obuf_put(&s->ob, h, sizeof h);
}

/* Whether another live sink writes this file or FIFO already. */
static const struct sink *in_use(dev_t dev, ino_t ino)
{
	const struct sink *s;

	for (s = g.sinks; s; s = s->next)
		if (s->path && s->ino == ino && s->dev == dev &&
		    (s->state == SINK_OPEN || s->state == SINK_WAIT))
			return s;
	return NULL;
}

static void open_failed(struct stream *st, int track, const char *path,
			const char *why)
{
	log_error("cannot open '%s': %s", path, why);
	error_event(st, track, "OUTPUT", "cannot open '%s': %s", path, why);
}

struct sink *sink_open(const char *path, struct stream *st, int track,
		       int channels)
{
	struct sink *s;
	struct stat sb;
	int fd, fifo = 0;

	if (stat(path, &sb) == 0 && (S_ISREG(sb.st_mode) ||
				     S_ISFIFO(sb.st_mode))) {
		const struct sink *o = in_use(sb.st_dev, sb.st_ino);

		if (o) {
			char why[128];

			snprintf(why, sizeof why, "already written for "
				 "stream '%s'", o->st->sid);
			open_failed(st, track, path, why);
			return NULL;
		}
		fifo = S_ISFIFO(sb.st_mode);
	}
	if (!(s = calloc(1, sizeof *s)) || !(s->path = strdup(path)))
		die(1, "out of memory");
	s->w.kind = W_SINK;
	s->st = st;
	s->track = track;
	s->channels = channels;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC,
		  0666);
	if (fd < 0 && errno == ENXIO && fifo) {
		/* a FIFO nobody reads yet */
		log_info("'%s': waiting for a reader", path);
		s->state = SINK_WAIT;
		s->retry_at = g.now + RETRY_MS;
		s->dev = sb.st_dev;
		s->ino = sb.st_ino;
		g.nwaiting++;
	} else if (fd < 0) {
		open_failed(st, track, path, strerror(errno));
		goto fail;
	} else {
		if (fstat(fd, &sb) == 0) {
			s->regular = S_ISREG(sb.st_mode);
			s->dev = sb.st_dev;
			s->ino = sb.st_ino;
		}
		if (s->regular && opt.format == FMT_WAV) {
			SF_INFO info = { .samplerate = 8000,
					 .channels = channels,
					 .format = SF_FORMAT_WAV |
						   SF_FORMAT_PCM_16 };

			if (!(s->sf = sf_open_fd(fd, SFM_WRITE, &info, 1))) {
				open_failed(st, track, path,
					    sf_strerror(NULL));
				close(fd);
				goto fail;
			}
			fd = -1;
		}
	}
	obuf_init(&s->ob, fd, s->regular ? 0 : opt.buffer);
	link_sink(s);
	if (opt.format == FMT_WAV && !s->sf) {
		queue_wav_header(s);
		mark_dirty(s);
	}
	return s;
fail:
	free(s->path);
	free(s);
	return NULL;
}

void sink_init_pipe(struct sink *s, int fd, struct stream *st, int track)
{
	memset(s, 0, sizeof *s);
	s->w.kind = W_SINK;
	s->st = st;
	s->track = track;
	s->channels = 1;
	obuf_init(&s->ob, fd, opt.buffer);
	link_sink(s);
	if (opt.format == FMT_WAV) {
		queue_wav_header(s);
		mark_dirty(s);
	}
}

static void count_dropped(struct sink *s, uint64_t frames)
{
	s->dropped += frames;
	g.dropped_frames += frames;
}

/* Keep g.nover, which --wait watches, up to date. */
static void sink_level(struct sink *s)
{
	int over = s->ob.limit && s->ob.len > s->ob.limit / 2;

	if (over != s->over) {
		s->over = over;
		if (over)
			g.nover++;
		else
			g.nover--;
	}
}

static void close_fd(struct sink *s)
{
	if (s->sf) {
		int err = sf_close(s->sf);

		s->sf = NULL;
		if (err && s->state == SINK_OPEN)
			log_error("cannot write to '%s': %s", sink_name(s),
				  sf_error_number(err));
	} else if (s->ob.fd >= 0) {
		loop_unwatch(&s->w);
		if (close(s->ob.fd) < 0 && s->regular)
			log_error("cannot write to '%s': %s", sink_name(s),
				  strerror(errno));
		s->ob.fd = -1;
	}
	if (s->state == SINK_WAIT)
		g.nwaiting--;
	/* what is still queued will never be written */
	count_dropped(s, s->ob.len / frame_bytes(s));
	obuf_free(&s->ob);
	sink_level(s);
}

static void sink_fail(struct sink *s, int err)
{
	if (s->child) {
		child_input_failed(s->child, err);
	} else {
		log_error("cannot write to '%s': %s", s->path, strerror(err));
		error_event(s->st, s->track, "OUTPUT",
			    "cannot write to '%s': %s", s->path,
			    strerror(err));
	}
	close_fd(s);
	s->state = SINK_FAILED;
}

/* Stop writing to s without a word: its reader is gone (a child that
 * exited, reported as such). */
void sink_abandon(struct sink *s)
{
	if (s->state == SINK_OPEN || s->state == SINK_WAIT) {
		close_fd(s);
		s->state = SINK_FAILED;
	}
}

/* In the loop's set while what the descriptor did not take waits. */
static void sink_watch(struct sink *s)
{
	loop_watch(&s->w, s->ob.fd, s->state == SINK_OPEN &&
		   s->ob.len > 0 ? EPOLLOUT : 0);
}

void sink_flush(struct sink *s)
{
	size_t len = s->ob.len;
	uint64_t written = s->ob.written;

	if (s->state != SINK_OPEN || s->ob.fd < 0 || len == 0)
		return;
	if (obuf_flush(&s->ob) < 0) {
		/* obuf discarded the rest */
		count_dropped(s, (len - (s->ob.written - written)) /
			      frame_bytes(s));
		sink_fail(s, s->ob.error);
	}
	sink_level(s);
	sink_watch(s);
}

static void mark_dirty(struct sink *s)
{
	if (s->dirty)
		return;
	s->dirty = 1;
	s->dirty_next = g.dirty;
	g.dirty = s;
}

void sinks_flush_dirty(void)
{
	while (g.dirty) {
		struct sink *s = g.dirty;

		g.dirty = s->dirty_next;
		s->dirty = 0;
		s->dirty_next = NULL;
		sink_flush(s);
	}
}

static void overflow(struct sink *s, size_t frames)
{
	count_dropped(s, frames);
	if (s->warned)
		return;
	s->warned = 1;
	log_warn("'%s' is not read fast enough: audio dropped",
		 sink_name(s));
	error_event(s->st, s->track, "OVERFLOW", "output queue full "
		    "(%zu bytes): audio dropped", opt.buffer);
}

/* Queue n bytes of mu-law (interleaved frames if stereo). */
void sink_write(struct sink *s, const uint8_t *ulaw, size_t n)
{
	int16_t pcm[PIECE];
	uint8_t bytes[2 * PIECE];
	size_t i, k;

	if (s->state == SINK_FAILED || s->state == SINK_CLOSED) {
		count_dropped(s, n / (size_t)s->channels);
		return;
	}
	if (s->sf) {
		for (; n > 0; ulaw += k, n -= k) {
			k = n < PIECE ? n : PIECE;
			ulaw_decode_buf(pcm, ulaw, k);
			if (sf_write_short(s->sf, pcm, (sf_count_t)k) !=
			    (sf_count_t)k) {
				log_error("cannot write to '%s': %s", s->path,
					  sf_strerror(s->sf));
				error_event(s->st, s->track, "OUTPUT",
					    "cannot write to '%s': %s",
					    s->path, sf_strerror(s->sf));
				count_dropped(s, n / (size_t)s->channels);
				close_fd(s);
				s->state = SINK_FAILED;
				return;
			}
		}
		return;
	}
	if (opt.format == FMT_ULAW) {
		if (obuf_put(&s->ob, ulaw, n) < 0)
			overflow(s, n / (size_t)s->channels);
	} else {
		/* PIECE is even: a piece never splits a stereo frame */
		for (; n > 0; ulaw += k, n -= k) {
			k = n < PIECE ? n : PIECE;
			ulaw_decode_buf(pcm, ulaw, k);
			for (i = 0; i < k; i++)
				le16(bytes + 2 * i, (uint16_t)pcm[i]);
			if (obuf_put(&s->ob, bytes, 2 * k) < 0)
				overflow(s, k / (size_t)s->channels);
		}
	}
	mark_dirty(s);
	/* before the end of the batch if it fills: a small --buffer must
	 * not overflow while the reader is keeping up */
	if (s->ob.len >= FLUSH_AT ||
	    (s->ob.limit && s->ob.len >= s->ob.limit / 2))
		sink_flush(s);
	sink_level(s);
}

void sink_end(struct sink *s)
{
	s->closing = 1;
	s->deadline = g.now + opt.stop_timeout;
}

static void try_open(struct sink *s)
{
	int fd = open(s->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno == ENXIO) {
		s->retry_at = g.now + RETRY_MS;
		return;
	}
	g.nwaiting--;
	if (fd < 0) {
		int err = errno;

		s->state = SINK_OPEN;	/* so that close_fd counts it */
		open_failed(s->st, s->track, s->path, strerror(err));
		close_fd(s);
		s->state = SINK_FAILED;
		return;
	}
	log_info("'%s': reader connected", s->path);
	s->ob.fd = fd;
	s->state = SINK_OPEN;
	sink_flush(s);
}

void sinks_retry(void)
{
	struct sink *s;

	if (!g.nwaiting)
		return;
	for (s = g.sinks; s; s = s->next)
		if (s->state == SINK_WAIT && g.now >= s->retry_at)
			try_open(s);
}

/*
 * An ending sink: close it once its queue is written, or at its deadline
 * with what is left counted as dropped.  Returns 1 while it is not done.
 */
int sink_service(struct sink *s)
{
	if (s->state == SINK_CLOSED || s->state == SINK_FAILED)
		return 0;
	if (!s->closing)
		return 1;
	if (s->state == SINK_WAIT && g.now >= s->retry_at)
		try_open(s);
	if (s->state == SINK_OPEN)
		sink_flush(s);
	if (s->state == SINK_FAILED)
		return 0;
	if (s->state == SINK_OPEN && s->ob.len == 0) {
		close_fd(s);
		s->state = SINK_CLOSED;
		return 0;
	}
	if (g.hurry || g.now >= s->deadline) {
		log_warn("'%s' %s within %g s: %zu bytes dropped",
			 sink_name(s), s->state == SINK_WAIT ?
			 "found no reader" : "was not read",
			 (double)opt.stop_timeout / 1000, s->ob.len);
		close_fd(s);
		s->state = SINK_CLOSED;
		return 0;
	}
	return 1;
}

/* Close and forget a sink, without freeing it (a child embeds one). */
static void sink_release(struct sink *s)
{
	struct sink **pp;

	if (s->state == SINK_OPEN || s->state == SINK_WAIT)
		close_fd(s);
	loop_unwatch(&s->w);
	s->state = SINK_CLOSED;
	if (s->dirty) {
		for (pp = &g.dirty; *pp != s; pp = &(*pp)->dirty_next)
			;
		*pp = s->dirty_next;
		s->dirty = 0;
	}
	if (s->prev)
		s->prev->next = s->next;
	else if (g.sinks == s)
		g.sinks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

void sink_free(struct sink *s)
{
	sink_release(s);
	free(s->path);
	if (!s->child)
		free(s);
}

/* --- stereo ---------------------------------------------------------- */

void stereo_open(struct stream *st, const char *path)
{
	struct stereo *sx = calloc(1, sizeof *sx);

	if (!sx)
		die(1, "out of memory");
	if (!(sx->sink = sink_open(path, st, -1, 2))) {
		free(sx);
		return;
	}
	st->stereo = sx;
}

static void side_append(struct stereo *sx, int t, const uint8_t *p,
			size_t n, int silence)
{
	if (sx->plen[t] + n > sx->pcap[t]) {
		size_t cap = sx->pcap[t] ? sx->pcap[t] : 4096;
		uint8_t *np;

		while (cap < sx->plen[t] + n)
			cap *= 2;
		if (!(np = realloc(sx->pend[t], cap)))
			die(1, "out of memory");
		sx->pend[t] = np;
		sx->pcap[t] = cap;
	}
	if (silence)
		memset(sx->pend[t] + sx->plen[t], ULAW_SILENCE, n);
	else
		memcpy(sx->pend[t] + sx->plen[t], p, n);
	sx->plen[t] += n;
}

/*
 * Write the frames both sides have.  A side that is absent, or lags the
 * other by more than STEREO_LAG (or by anything, at the end), is padded
 * with silence first.
 */
static void stereo_pump(struct stream *st, int final)
{
	struct stereo *sx = st->stereo;
	uint8_t frames[2 * PIECE];
	int64_t pos[NTRACK], lead, limit;
	size_t m, k, i, done = 0;
	int t;

	for (t = 0; t < NTRACK; t++)
		pos[t] = sx->done + (int64_t)sx->plen[t];
	lead = pos[TR_IN] > pos[TR_OUT] ? pos[TR_IN] : pos[TR_OUT];
	for (t = 0; t < NTRACK; t++) {
		limit = final || !st->tr[t].on ? lead : lead - STEREO_LAG;
		if (pos[t] < limit) {
			side_append(sx, t, NULL, (size_t)(limit - pos[t]), 1);
			pos[t] = limit;
		}
	}
	m = sx->plen[TR_IN] < sx->plen[TR_OUT] ? sx->plen[TR_IN] :
	    sx->plen[TR_OUT];
	for (; done < m; done += k) {
		k = m - done < PIECE ? m - done : PIECE;
		for (i = 0; i < k; i++) {
			frames[2 * i] = sx->pend[TR_IN][done + i];
			frames[2 * i + 1] = sx->pend[TR_OUT][done + i];
		}
		sink_write(sx->sink, frames, 2 * k);
	}
	if (m == 0)
		return;
	for (t = 0; t < NTRACK; t++) {
		sx->plen[t] -= m;
		memmove(sx->pend[t], sx->pend[t] + m, sx->plen[t]);
	}
	sx->done += (int64_t)m;
}

/* n bytes of track t's audio, which starts at position at. */
void stereo_feed(struct stream *st, int t, int64_t at, const uint8_t *p,
		 size_t n)
{
	struct stereo *sx = st->stereo;
	int64_t pos = sx->done + (int64_t)sx->plen[t];

	if (at + (int64_t)n <= pos) {
		sx->late[t] += n;
		return;
	}
	if (at < pos) {
		size_t skip = (size_t)(pos - at);

		sx->late[t] += skip;
		p += skip;
		n -= skip;
	}
	side_append(sx, t, p, n, 0);
	stereo_pump(st, 0);
}

void stereo_end(struct stream *st)
{
	stereo_pump(st, 1);
	sink_end(st->stereo->sink);
}

void stereo_free(struct stream *st)
{
	struct stereo *sx = st->stereo;
	int t;

	if (!sx)
		return;
	sink_free(sx->sink);
	for (t = 0; t < NTRACK; t++)
		free(sx->pend[t]);
	free(sx);
	st->stereo = NULL;
}

/* --- file names ------------------------------------------------------ */

int pattern_check(const char *pat, const char *opt_name, int allow_track)
{
	const char *p;

	for (p = pat; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == 's' || *p == 'c' || *p == '%' ||
		    (*p == 't' && allow_track))
			continue;
		if (*p == 't')
			cli_usage_error("%s '%s': %%t has no meaning for a "
					"file of both tracks", opt_name, pat);
		if (!*p)
			cli_usage_error("%s '%s': a lone %% at the end: write "
					"%%%% for a percent sign", opt_name,
					pat);
		cli_usage_error("%s '%s': unknown %%%c: use %%s, %%c%s or "
				"%%%%", opt_name, pat, *p,
				allow_track ? ", %t" : "");
	}
	return 0;
}

static const char *conversion(char c, const struct stream *st, int track)
{
	switch (c) {
	case 's': return st->sid;
	case 'c': return st->call;
	case 't': return track_name[track];
	default: return "%";
	}
}

/*
 * The pattern was checked by pattern_check, and the sids with sid_ok:
 * no '/' and no '.' reach the path from a message.
 */
char *expand_pattern(const char *pat, const struct stream *st, int track)
{
	size_t len = 0, n = 0;
	const char *p, *v;
	char *out;

	for (p = pat; *p; p++)
		len += *p == '%' ? strlen(conversion(*++p, st, track)) : 1;
	if (!(out = malloc(len + 1)))
		die(1, "out of memory");
	for (p = pat; *p; p++) {
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		v = conversion(*++p, st, track);
		memcpy(out + n, v, strlen(v));
		n += strlen(v);
	}
	out[n] = '\0';
	return out;
}
