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
	struct resampler *rs;
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
	set_format(in, mulaw, rate);
}

static int is_ulaw8k(const SF_INFO *i)
{
	return (i->format & SF_FORMAT_SUBMASK) == SF_FORMAT_ULAW &&
	       i->samplerate == 8000 && i->channels == 1;
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
	if (is_ulaw8k(&in->src[0].info)) {
		set_format(in, 1, 8000);
	} else {
		rate = in->src[0].info.samplerate;
		set_format(in, 0, rate < 8000 ? 8000 : rate > 48000 ? 48000
			   : rate);
	}
	for (i = 0; i < n; i++) {
		struct source *s = &in->src[i];

		s->raw = in->mulaw && is_ulaw8k(&s->info);
		if (!s->raw && s->info.samplerate != in->rate) {
			s->rs = resampler_new(s->info.samplerate, in->rate);
			if (!s->rs) {
				log_error("cannot resample '%s' from %d Hz",
					  s->name, s->info.samplerate);
				return -1;
			}
		}
	}
	return 0;
}

/* Returns -1 once input_stop was called. */
static int append(struct input *in, const uint8_t *p, size_t n)
{
	int stop;

	pthread_mutex_lock(&in->mu);
	while (n > 0 && !in->stop) {
		size_t used = (size_t)(in->head - in->tail);
		size_t room = in->cap - used, k, at;

		if (room == 0) {
			if (!in->live) {
				pthread_cond_wait(&in->room, &in->mu);
				continue;
			}
			/* make room for this chunk, in whole samples */
			k = n < in->cap / 2 ? n : in->cap / 2;
			k += (size_t)((in->align - (int64_t)k % in->align) %
				      in->align);
			in->tail += (int64_t)k;
			in->dropped += k;
			continue;
		}
		k = n < room ? n : room;
		at = (size_t)(in->head % (int64_t)in->cap);
		if (k > in->cap - at)
			k = in->cap - at;
		memcpy(in->buf + at, p, k);
		in->head += (int64_t)k;
		p += k;
		n -= k;
	}
	in->last_ms = mono_ms();
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

/* Read one chunk of a source into out as sent; bytes, 0 at its end. */
static long read_source(struct input *in, struct source *s, uint8_t *out,
			int16_t *pcm, int16_t *mono, int16_t *rs_out)
{
	sf_count_t frames = CHUNK / 2 / s->info.channels, got, i;
	int16_t *samples = mono;
	size_t ns;
	int c;

	if (s->raw)
		return (long)sf_read_raw(s->sf, out, CHUNK / 2);
	got = sf_readf_short(s->sf, pcm, frames);
	if (got < 0)
		got = 0;
	for (i = 0; i < got; i++) {
		long sum = 0;

		for (c = 0; c < s->info.channels; c++)
			sum += pcm[i * s->info.channels + c];
		mono[i] = (int16_t)(sum / s->info.channels);
	}
	ns = (size_t)got;
	if (s->rs) {
		ns = resampler_run(s->rs, got ? mono : NULL, (size_t)got,
				   rs_out);
		samples = rs_out;
		if (got == 0 && ns == 0)
			return 0;
	} else if (got == 0) {
		return 0;
	}
	if (in->mulaw) {
		ulaw_encode_buf(out, samples, ns);
		return (long)ns;
	}
	for (i = 0; i < (sf_count_t)ns; i++) {
		out[2 * i] = (uint8_t)(samples[i] & 0xFF);
		out[2 * i + 1] = (uint8_t)((uint16_t)samples[i] >> 8);
	}
	return (long)(2 * ns);
}

static void pace(struct input *in, int64_t t0)
{
	int64_t due = t0 + in->head * 1000000 / in->bps, now = mono_us();
	struct timespec ts;

	if (!in->realtime || due <= now)
		return;
	ts.tv_sec = (time_t)((due - now) / 1000000);
	ts.tv_nsec = (long)((due - now) % 1000000 * 1000);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *reader(void *arg)
{
	struct input *in = arg;
	size_t maxout = CHUNK / 2;
	uint8_t *out;
	int16_t *pcm = malloc(CHUNK), *mono = malloc(CHUNK), *rs_out;
	int64_t t0 = mono_us();
	char err[300];
	int i, stop = 0;

	for (i = 0; i < in->nsrc; i++)
		if (in->src[i].rs &&
		    resampler_max_out(in->src[i].rs, CHUNK / 2) > maxout)
			maxout = resampler_max_out(in->src[i].rs, CHUNK / 2);
	out = malloc(2 * maxout + CHUNK);
	rs_out = malloc(maxout * sizeof *rs_out);
	if (!out || !pcm || !mono || !rs_out) {
		finish(in, "out of memory");
		return NULL;
	}
	if (in->fd >= 0) {
		for (;;) {
			ssize_t n = read(in->fd, out, CHUNK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				snprintf(err, sizeof err, "cannot read "
					 "standard input: %s",
					 strerror(errno));
				finish(in, err);
				break;
			}
			if (n == 0 || append(in, out, (size_t)n) < 0)
				break;
			pace(in, t0);
		}
	}
	for (i = 0; i < in->nsrc && !stop; i++) {
		struct source *s = &in->src[i];
		long n;

		while (!stop &&
		       (n = read_source(in, s, out, pcm, mono, rs_out)) > 0) {
			stop = append(in, out, (size_t)n) < 0;
			pace(in, t0);
		}
		if (sf_error(s->sf)) {
			snprintf(err, sizeof err, "cannot read '%s': %s",
				 s->name, sf_strerror(s->sf));
			finish(in, err);
		}
	}
	finish(in, NULL);
	free(out);
	free(pcm);
	free(mono);
	free(rs_out);
	return NULL;
}

int input_start(struct input *in, double buffer_seconds, int realtime)
{
	struct stat st;

	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->room, NULL);
	in->realtime = realtime;
	in->cap = (size_t)(buffer_seconds * (double)in->bps);
	in->cap -= in->cap % (size_t)in->align;
	in->buf = malloc(in->cap);
	if (!in->buf)
		return -1;
	/* a pipe or a socket is live: it cannot wait for the network */
	in->live = in->fd >= 0 && fstat(in->fd, &st) == 0 &&
		   !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
	in->last_ms = mono_ms();
	return pthread_create(&in->thread, NULL, reader, in) == 0 ? 0 : -1;
}

void input_get(struct input *in, struct input_state *s)
{
	pthread_mutex_lock(&in->mu);
	s->tail = in->tail;
	s->head = in->head;
	s->eof = in->eof;
	s->dropped = in->dropped;
	s->last_ms = in->last_ms;
	s->full = (size_t)(in->head - in->tail) + CHUNK * 8 > in->cap;
	pthread_mutex_unlock(&in->mu);
}

size_t input_copy(struct input *in, int64_t off, uint8_t *dst, size_t n)
{
	size_t done = 0;

	pthread_mutex_lock(&in->mu);
	if (off < in->tail)
		n = 0;		/* dropped since the caller looked */
	else if (off + (int64_t)n > in->head)
		n = in->head > off ? (size_t)(in->head - off) : 0;
	while (done < n) {
		size_t at = (size_t)((off + (int64_t)done) %
				     (int64_t)in->cap);
		size_t k = n - done < in->cap - at ? n - done : in->cap - at;

		memcpy(dst + done, in->buf + at, k);
		done += k;
	}
	pthread_mutex_unlock(&in->mu);
	return done;
}

void input_release(struct input *in, int64_t off)
{
	pthread_mutex_lock(&in->mu);
	if (off > in->head)
		off = in->head;
	if (off > in->tail) {
		in->tail = off;
		pthread_cond_signal(&in->room);
	}
	pthread_mutex_unlock(&in->mu);
}

/* Take no more input (a signal): what was read is still sent. */
void input_stop(struct input *in)
{
	pthread_mutex_lock(&in->mu);
	in->stop = 1;
	in->eof = 1;
	pthread_cond_signal(&in->room);
	pthread_mutex_unlock(&in->mu);
}
