/*
 * The input side: a thread reads stdin or the files, converts to the one
 * format sent, and appends to a ring buffer, so reading never waits on
 * the network.  The ring holds every byte from the end of the last final
 * result (the tail, moved by the main thread) to what was read last (the
 * head): what a new stream has to replay.  A live pipe that outruns the
 * ring loses its oldest bytes (counted); files wait for room instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sndfile.h>

#include "clock.h"
#include "g711.h"
#include "gstt.h"
#include "log.h"
#include "resample.h"

#define CHUNK 4096

struct source {
	const char *name;
	SNDFILE *sf;
	SF_INFO info;
	int raw;		/* 8 kHz mono mu-law sent as it is */
	struct resampler *rs[MAX_TRACKS];	/* one per track */
};

static void set_format(struct input *in, int mulaw, int rate)
{
	in->mulaw = mulaw;
	in->rate = rate;
	in->align = mulaw ? 1 : 2;
	in->bps = (int64_t)rate * in->align;
}

void input_raw(struct input *in, int fd, int mulaw, int rate)
{
	in->fd = fd;
	in->channels = 1;
	set_format(in, mulaw, rate);
}

/* 8 kHz mu-law, any number of channels: each goes as mu-law. */
static int is_ulaw8k(const SF_INFO *i)
{
	return (i->format & SF_FORMAT_SUBMASK) == SF_FORMAT_ULAW &&
	       i->samplerate == 8000;
}

/*
 * Headerless files are known by their name: .ul, .ulaw, .mulaw are
 * 8 kHz mu-law; .raw, .pcm, .s16 are what --encoding and --rate say.
 */
static int open_raw(struct source *s, int mulaw, int rate)
{
	static const char *const ul[] = { ".ul", ".ulaw", ".mulaw" };
	static const char *const pcm[] = { ".raw", ".pcm", ".s16" };
	const char *dot = strrchr(s->name, '.');
	size_t i;

	if (!dot)
		return 0;
	memset(&s->info, 0, sizeof s->info);
	s->info.channels = 1;
	for (i = 0; i < 3; i++) {
		if (strcasecmp(dot, ul[i]) == 0) {
			s->info.samplerate = 8000;
			s->info.format = SF_FORMAT_RAW | SF_FORMAT_ULAW;
		} else if (strcasecmp(dot, pcm[i]) == 0) {
			s->info.samplerate = rate;
			s->info.format = SF_FORMAT_RAW | (mulaw ?
				SF_FORMAT_ULAW : SF_FORMAT_PCM_16 |
				SF_ENDIAN_LITTLE);
		}
	}
	if (!s->info.format)
		return 0;
	s->sf = sf_open(s->name, SFM_READ, &s->info);
	return 1;
}

/*
 * Open every file now, so a bad name fails before any network.  The
 * first file sets the format: 8 kHz mu-law stays mu-law, anything else
 * goes as LINEAR16 at its rate (within 8-48 kHz); later files are
 * converted to it.
 */
int input_files(struct input *in, char **names, int n, int mulaw,
		int raw_rate)
{
	int i, rate;

	in->fd = -1;
	in->src = calloc((size_t)n, sizeof *in->src);
	if (!in->src)
		return -1;
	in->nsrc = n;
	for (i = 0; i < n; i++) {
		struct source *s = &in->src[i];

		s->name = names[i];
		if (!open_raw(s, mulaw, raw_rate))
			s->sf = sf_open(names[i], SFM_READ, &s->info);
		if (!s->sf) {
			log_error("cannot open '%s': %s", names[i],
				  sf_strerror(NULL));
			return -1;
		}
		if (s->info.channels < 1 || s->info.samplerate < 1) {
			log_error("cannot read '%s': no audio", names[i]);
			return -1;
		}
	}
	in->channels = in->src[0].info.channels;
	if (is_ulaw8k(&in->src[0].info)) {
		set_format(in, 1, 8000);
	} else {
		rate = in->src[0].info.samplerate;
		set_format(in, 0, rate < 8000 ? 8000 : rate > 48000 ? 48000
			   : rate);
	}
	return 0;
}

/* Resamplers where a file's rate is not the one sent. */
static int prepare_sources(struct input *in)
{
	int i, k;

	for (i = 0; i < in->nsrc; i++) {
		struct source *s = &in->src[i];

		if (in->ntracks > 1 && s->info.channels != in->ntracks) {
			log_error("cannot read '%s': %d channel%s, where %d "
				  "tracks were asked for", s->name,
				  s->info.channels,
				  s->info.channels == 1 ? "" : "s",
				  in->ntracks);
			return -1;
		}
		s->raw = in->mulaw && is_ulaw8k(&s->info) &&
			 s->info.channels == 1;
		if (s->raw || s->info.samplerate == in->rate)
			continue;
		for (k = 0; k < in->ntracks; k++) {
			s->rs[k] = resampler_new(s->info.samplerate,
						 in->rate);
			if (!s->rs[k]) {
				log_error("cannot resample '%s' from %d Hz",
					  s->name, s->info.samplerate);
				return -1;
			}
		}
	}
	return 0;
}

/* Append to track k; returns -1 once input_stop was called. */
static int append(struct input *in, int k, const uint8_t *p, size_t n)
{
	struct ring *r = &in->ring[k];
	int stop;

	pthread_mutex_lock(&in->mu);
	while (n > 0 && !in->stop) {
		size_t used = (size_t)(r->head - r->tail);
		size_t room = r->cap - used, m, at;

		if (room == 0) {
			if (!in->live) {
				pthread_cond_wait(&in->room, &in->mu);
				continue;
			}
			/* make room for this chunk, in whole samples */
			m = n < r->cap / 2 ? n : r->cap / 2;
			m += (size_t)((in->align - (int64_t)m % in->align) %
				      in->align);
			r->tail += (int64_t)m;
			r->dropped += m;
			continue;
		}
		m = n < room ? n : room;
		at = (size_t)(r->head % (int64_t)r->cap);
		if (m > r->cap - at)
			m = r->cap - at;
		memcpy(r->buf + at, p, m);
		r->head += (int64_t)m;
		p += m;
		n -= m;
	}
	r->last_ms = mono_ms();
	stop = in->stop;
	pthread_mutex_unlock(&in->mu);
	return stop ? -1 : 0;
}

static void finish(struct input *in, const char *err)
{
	pthread_mutex_lock(&in->mu);
	in->eof = 1;
	if (err && !in->error[0])
		snprintf(in->error, sizeof in->error, "%s", err);
	pthread_mutex_unlock(&in->mu);
}

/* Buffers of the reader thread. */
struct rbufs {
	int16_t *pcm;		/* interleaved, as read */
	int16_t *mono;		/* one track's samples */
	int16_t *rs_out;	/* the same, resampled */
	uint8_t *out[MAX_TRACKS];	/* as sent */
	long len[MAX_TRACKS];
};

/* Samples of one track as sent (mu-law or LINEAR16 bytes). */
static long encode(const struct input *in, const int16_t *samples,
		   size_t ns, uint8_t *out)
{
	size_t i;

	if (in->mulaw) {
		ulaw_encode_buf(out, samples, ns);
		return (long)ns;
	}
	for (i = 0; i < ns; i++) {
		out[2 * i] = (uint8_t)(samples[i] & 0xFF);
		out[2 * i + 1] = (uint8_t)((uint16_t)samples[i] >> 8);
	}
	return (long)(2 * ns);
}

/*
 * Read one chunk of a source into b->out[k], b->len[k] for each track;
 * returns the bytes of all tracks, 0 at its end (resamplers flushed).
 */
static long read_source(struct input *in, struct source *s, struct rbufs *b)
{
	int ch = s->info.channels, k;
	sf_count_t frames = CHUNK / 2 / ch, got, i;
	long total = 0;

	if (s->raw) {
		b->len[0] = (long)sf_read_raw(s->sf, b->out[0], CHUNK / 2);
		return b->len[0] > 0 ? b->len[0] : 0;
	}
	got = sf_readf_short(s->sf, b->pcm, frames);
	if (got < 0)
		got = 0;
	for (k = 0; k < in->ntracks; k++) {
		const int16_t *samples = b->mono;
		size_t ns = (size_t)got;

		for (i = 0; i < got; i++) {
			long sum = 0;
			int c;

			if (in->ntracks > 1) {
				b->mono[i] = b->pcm[i * ch + k];
				continue;
			}
			for (c = 0; c < ch; c++)
				sum += b->pcm[i * ch + c];
			b->mono[i] = (int16_t)(sum / ch);
		}
		if (s->rs[k]) {
			ns = resampler_run(s->rs[k], got ? b->mono : NULL,
					   (size_t)got, b->rs_out);
			samples = b->rs_out;
		}
		b->len[k] = encode(in, samples, ns, b->out[k]);
		total += b->len[k];
	}
	return total;
}

static void pace(struct input *in, int64_t t0)
{
	int64_t head, due, now = mono_us();
	struct timespec ts;

	if (!in->realtime)
		return;
	pthread_mutex_lock(&in->mu);
	head = in->ring[0].head;
	pthread_mutex_unlock(&in->mu);
	due = t0 + head * 1000000 / in->bps;
	if (due <= now)
		return;
	ts.tv_sec = (time_t)((due - now) / 1000000);
	ts.tv_nsec = (long)((due - now) % 1000000 * 1000);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * A live pipe is read at most every READ_TICK_US: requests carry 100 ms
 * of audio anyway, and a reader that sleeps between reads is not waiting
 * on the pipe, so the writer (mulaw-split, 50 writes a second per track)
 * pays no wakeup for us.  The pipe holds 8 s of mu-law meanwhile.
 */
#define READ_TICK_US	100000

static void next_tick(int64_t *tick)
{
	int64_t now = mono_us();
	struct timespec ts;

	*tick += READ_TICK_US;
	if (*tick <= now) {
		*tick = now;	/* behind: catch up, do not sleep */
		return;
	}
	ts.tv_sec = (time_t)((*tick - now) / 1000000);
	ts.tv_nsec = (long)((*tick - now) % 1000000 * 1000);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *reader(void *arg)
{
	struct input *in = arg;
	size_t maxout = CHUNK / 2;
	struct rbufs b;
	int64_t t0 = mono_us();
	char err[300];
	int i, k, stop = 0, nomem = 0;

	memset(&b, 0, sizeof b);
	for (i = 0; i < in->nsrc; i++)
		if (in->src[i].rs[0] &&
		    resampler_max_out(in->src[i].rs[0], CHUNK / 2) > maxout)
			maxout = resampler_max_out(in->src[i].rs[0],
						   CHUNK / 2);
	b.pcm = malloc(CHUNK);
	b.mono = malloc(CHUNK);
	b.rs_out = malloc(maxout * sizeof *b.rs_out);
	nomem = !b.pcm || !b.mono || !b.rs_out;
	for (k = 0; k < in->ntracks; k++)
		if (!(b.out[k] = malloc(2 * maxout + CHUNK)))
			nomem = 1;
	if (nomem) {
		finish(in, "out of memory");
		goto done;
	}
	if (in->fd >= 0) {
		int64_t tick = mono_us();

		for (;;) {
			ssize_t n = read(in->fd, b.out[0], CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				snprintf(err, sizeof err, "cannot read "
					 "standard input: %s",
					 strerror(errno));
				finish(in, err);
				break;
			}
			if (n == 0 || append(in, 0, b.out[0], (size_t)n) < 0)
				break;
			pace(in, t0);
			/* a short read emptied the pipe: wait for more */
			if (in->live && !in->realtime && n < CHUNK)
				next_tick(&tick);
		}
	}
	for (i = 0; i < in->nsrc && !stop; i++) {
		struct source *s = &in->src[i];

		while (!stop && read_source(in, s, &b) > 0) {
			for (k = 0; k < in->ntracks && !stop; k++)
				stop = append(in, k, b.out[k],
					      (size_t)b.len[k]) < 0;
			pace(in, t0);
		}
		if (sf_error(s->sf)) {
			snprintf(err, sizeof err, "cannot read '%s': %s",
				 s->name, sf_strerror(s->sf));
			finish(in, err);
		}
	}
	finish(in, NULL);
done:
	free(b.pcm);
	free(b.mono);
	free(b.rs_out);
	for (k = 0; k < in->ntracks; k++)
		free(b.out[k]);
	return NULL;
}

int input_start(struct input *in, int ntracks, double buffer_seconds,
		int realtime)
{
	struct stat st;
	size_t cap;
	int k;

	in->ntracks = ntracks;
	if (prepare_sources(in) < 0)
		return -1;
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->room, NULL);
	in->realtime = realtime;
	cap = (size_t)(buffer_seconds * (double)in->bps);
	cap -= cap % (size_t)in->align;
	for (k = 0; k < ntracks; k++) {
		void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED) {
			log_error("cannot start reading: %s", strerror(errno));
			return -1;
		}
		in->ring[k].cap = cap;
		in->ring[k].buf = m;
		in->ring[k].last_ms = mono_ms();
	}
	/* a pipe or a socket is live: it cannot wait for the network */
	in->live = in->fd >= 0 && fstat(in->fd, &st) == 0 &&
		   !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
	if (pthread_create(&in->thread, NULL, reader, in) != 0) {
		log_error("cannot start reading: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void input_get(struct input *in, int k, struct input_state *s)
{
	const struct ring *r = &in->ring[k];

	pthread_mutex_lock(&in->mu);
	s->tail = r->tail;
	s->head = r->head;
	s->eof = in->eof;
	s->dropped = r->dropped;
	s->last_ms = r->last_ms;
	s->full = (size_t)(r->head - r->tail) + CHUNK * 8 > r->cap;
	pthread_mutex_unlock(&in->mu);
}

size_t input_copy(struct input *in, int k, int64_t off, uint8_t *dst,
		  size_t n)
{
	const struct ring *r = &in->ring[k];
	size_t done = 0;

	pthread_mutex_lock(&in->mu);
	if (off < r->tail)
		n = 0;		/* dropped since the caller looked */
	else if (off + (int64_t)n > r->head)
		n = r->head > off ? (size_t)(r->head - off) : 0;
	while (done < n) {
		size_t at = (size_t)((off + (int64_t)done) %
				     (int64_t)r->cap);
		size_t m = n - done < r->cap - at ? n - done : r->cap - at;

		memcpy(dst + done, r->buf + at, m);
		done += m;
	}
	pthread_mutex_unlock(&in->mu);
	return done;
}

/*
 * Give the whole pages of ring positions [a, b) back to the system: a
 * live call fills the ring once every --buffer seconds, and would keep
 * all of it resident though only the audio since the last final is
 * needed (usually seconds).
 */
static size_t page_size(void)
{
	static size_t pg;

	if (!pg)
		pg = (size_t)sysconf(_SC_PAGESIZE);
	return pg;
}

static void forget(struct ring *r, size_t a, size_t b)
{
	size_t pg = page_size(), from, to;

	from = (a + pg - 1) / pg * pg;
	to = b / pg * pg;
	if (to > from)
		madvise(r->buf + from, to - from, MADV_DONTNEED);
}

void input_release(struct input *in, int k, int64_t off)
{
	struct ring *r = &in->ring[k];

	pthread_mutex_lock(&in->mu);
	if (off > r->head)
		off = r->head;
	if (off > r->tail) {
		size_t a = (size_t)(r->tail % (int64_t)r->cap);
		size_t b = (size_t)(off % (int64_t)r->cap);
		size_t d = a % page_size();

		/*
		 * The page of the old tail goes too, unless the bytes
		 * before it in that page are the newest (a full ring).
		 */
		if (r->head + (int64_t)d <= r->tail + (int64_t)r->cap)
			a -= d;

		/* [tail, off) holds nothing the head region needs */
		if (off - r->tail >= (int64_t)r->cap)
			forget(r, 0, r->cap);
		else if (a < b)
			forget(r, a, b);
		else {
			forget(r, a, r->cap);
			forget(r, 0, b);
		}
		r->tail = off;
		pthread_cond_broadcast(&in->room);
	}
	pthread_mutex_unlock(&in->mu);
}

/* Take no more input (a signal): what was read is still sent. */
void input_stop(struct input *in)
{
	pthread_mutex_lock(&in->mu);
	in->stop = 1;
	in->eof = 1;
	pthread_cond_broadcast(&in->room);
	pthread_mutex_unlock(&in->mu);
}
