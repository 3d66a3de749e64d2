/*
 * tw-simcall: play audio files to a WebSocket server as Twilio Media
 * Streams, one connection per simulated call, paced in real time or as
 * fast as the server reads.
 *
 * Every call is a small state machine driven by lws: each WRITEABLE sends
 * exactly one message (connected, start, media..., stop), then either asks
 * for the next WRITEABLE at once or, when the next chunk is not due yet,
 * waits in the pacer.  Due times are computed from the stream's start,
 * never from the previous send, so lateness does not accumulate.
 *
 * The pacer is a heap of waiting calls ordered by due time and one timerfd
 * armed for the earliest, adopted into the lws loop.  lws's own timers
 * (lws_sul) are not used for pacing: lws 4.1 rounds its poll timeout down
 * to whole milliseconds and spins with a zero timeout until a timer is
 * ripe, which at 10,000 chunks a second kept a core busy.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <sndfile.h>

#include "base64.h"
#include "cli.h"
#include "clock.h"
#include "g711.h"
#include "log.h"
#include "resample.h"
#include "twsig.h"

#define RATE		8000
#define SID_LEN		34	/* two letters and 32 hex digits */
#define READ_FRAMES	4096
#define DRAIN_US	(5 * 1000000)	/* grace for closing after a signal */

enum { IN, OUT, NTRACKS };
static const char *const track_name[NTRACKS] = { "inbound", "outbound" };

/* A track's audio as mu-law bytes, loaded once and shared by every call. */
struct audio {
	const char *path;
	uint8_t *ulaw;
	size_t len;
	uint64_t total;		/* bytes one call plays (looped if longer) */
	uint64_t nchunks;
};

/* What a call sends at its next WRITEABLE. */
enum step {
	S_CONNECTED, S_START, S_MEDIA, S_STOP,
	S_CLOSE,	/* close frame 1000 */
	S_ABORT,	/* drop the connection without a close frame */
	S_GONE,		/* closing or closed: send nothing more */
};

struct call {
	int idx;
	struct lws *wsi;
	lws_sorted_usec_list_t sul;	/* start time */
	int queued;		/* has an entry in the pacer's heap */
	char call_sid[SID_LEN + 1], stream_sid[SID_LEN + 1];
	enum step step;
	uint64_t seq;		/* sequenceNumber of the last message sent */
	uint64_t tick;		/* chunk being sent, from 0, both tracks */
	int track;		/* IN or OUT within the tick */
	uint64_t media;		/* media messages sent */
	int64_t t0;		/* stream start, mono_us() */
	int ended;		/* sent all it meant to: closing is success */
	int peer_code;		/* close code from the server, 0 if none */
	int started;		/* connect_call has run */
	int done;		/* counted in completed or failed */
	char *buf;		/* LWS_PRE + msg_max */
};

static struct {
	const char *url, *sign_url;
	char scheme_tls;
	char host[256];		/* address to connect to, no brackets */
	char authority[300];	/* Host header: host[:port] as written */
	char *path;		/* path and query, starting with '/' */
	int port;
	double pace;		/* speed factor; 0 = as fast as possible */
	long long chunk_ms;
	size_t chunk_bytes;
	long long ncalls;
	const char *call_sid;		/* --call-sid, for the one call */
	long long ramp_ms;
	long long duration_ms;	/* 0 = each file once */
	long long disconnect_after;	/* -1 = never */
	int insecure, stamp, no_stop;
	char *params_json;	/* customParameters object, compact */
	char tracks_json[32];
	char account_sid[SID_LEN + 1];
	char signature[TWSIG_LEN + 1];	/* empty = do not sign */
	size_t msg_max;
	uint64_t ticks;		/* chunks in the longest track */
} opt;

static struct audio audio[NTRACKS];
static struct call *calls;
static struct lws_context *ctx;
static uint8_t *scratch;	/* one chunk, for looping and --stamp */

static struct {
	long long started, completed, failed;
	uint64_t messages, media, bytes;
} stats;

static long long nopen;		/* calls not yet done */

/*
 * The pacer: calls waiting for their next chunk, earliest first, at most
 * one entry per call.  An entry's time never changes once pushed; a call
 * woken too early (its entry outlived a send) simply waits again.
 */
struct wait {
	int64_t due;
	struct call *c;
};
static struct wait *heap;
static size_t nheap;
static int timer_fd = -1;
static int64_t timer_at;	/* when timer_fd fires; 0: disarmed */
static volatile sig_atomic_t interrupted;
static int draining;

static const char usage_text[] =
"usage: tw-simcall [options] URL\n"
"Play audio files to URL (ws:// or wss://) as Twilio Media Streams.\n"
"\n"
"  -i, --inbound FILE        audio for the inbound track\n"
"  -o, --outbound FILE       audio for the outbound track\n"
"  -p, --pace MODE           realtime (default), fast, or a speed factor\n"
"      --chunk MS            milliseconds of audio per message (20)\n"
"  -n, --calls N             concurrent streams (1)\n"
"      --ramp SECONDS        spread the starts of the calls over SECONDS\n"
"  -d, --duration SECONDS    play this long, looping the audio\n"
"  -P, --param NAME=VALUE    add a start.customParameters entry\n"
"      --sign-url URL        URL to sign with TWILIO_AUTH_TOKEN (URL)\n"
"  -k, --insecure            accept any TLS certificate\n"
"      --stamp               put the send time in each chunk's first 8 bytes\n"
"      --no-stop             close without sending stop\n"
"      --disconnect-after N  drop the connection after N media messages\n"
"      --call-sid SID        the call's SID (one call only)\n"
"  -v, --verbose             say more (twice: libwebsockets too)\n"
"  -q, --quiet               say less\n"
"      --help                show this help and exit\n"
"      --version             show the version and exit\n";

/* ---- message text ---------------------------------------------------- */

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUTLIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_str(char *p, const char *s)
{
	return put(p, s, strlen(s));
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	size_t n = sizeof tmp;

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return put(p, tmp + n, sizeof tmp - n);
}

static size_t build_connected(char *b)
{
	char *p = b;

	p = PUTLIT(p, "{\"event\":\"connected\",\"protocol\":\"Call\","
		   "\"version\":\"1.0.0\"}");
	return (size_t)(p - b);
}

static size_t build_start(struct call *c, char *b)
{
	char *p = b;

	p = PUTLIT(p, "{\"event\":\"start\",\"sequenceNumber\":\"");
	p = put_u64(p, ++c->seq);
	p = PUTLIT(p, "\",\"start\":{\"accountSid\":\"");
	p = put_str(p, opt.account_sid);
	p = PUTLIT(p, "\",\"streamSid\":\"");
	p = put_str(p, c->stream_sid);
	p = PUTLIT(p, "\",\"callSid\":\"");
	p = put_str(p, c->call_sid);
	p = PUTLIT(p, "\",\"tracks\":");
	p = put_str(p, opt.tracks_json);
	p = PUTLIT(p, ",\"customParameters\":");
	p = put_str(p, opt.params_json);
	p = PUTLIT(p, ",\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\","
		   "\"sampleRate\":8000,\"channels\":1}},\"streamSid\":\"");
	p = put_str(p, c->stream_sid);
	p = PUTLIT(p, "\"}");
	return (size_t)(p - b);
}

static size_t build_stop(struct call *c, char *b)
{
	char *p = b;

	p = PUTLIT(p, "{\"event\":\"stop\",\"sequenceNumber\":\"");
	p = put_u64(p, ++c->seq);
	p = PUTLIT(p, "\",\"stop\":{\"accountSid\":\"");
	p = put_str(p, opt.account_sid);
	p = PUTLIT(p, "\",\"callSid\":\"");
	p = put_str(p, c->call_sid);
	p = PUTLIT(p, "\"},\"streamSid\":\"");
	p = put_str(p, c->stream_sid);
	p = PUTLIT(p, "\"}");
	return (size_t)(p - b);
}

/* The bytes of chunk k of track a, looping the audio when it is short. */
static const uint8_t *chunk_bytes(const struct audio *a, uint64_t k,
				  size_t *n)
{
	uint64_t pos = k * opt.chunk_bytes;
	size_t want = opt.chunk_bytes, off, got = 0;

	if (a->total - pos < want)
		want = (size_t)(a->total - pos);
	*n = want;
	off = (size_t)(pos % a->len);
	if (off + want <= a->len && !opt.stamp)
		return a->ulaw + off;
	while (got < want) {
		size_t m = a->len - off;

		if (m > want - got)
			m = want - got;
		memcpy(scratch + got, a->ulaw + off, m);
		got += m;
		off = 0;
	}
	if (opt.stamp) {
		uint64_t t = (uint64_t)mono_us();
		size_t i;

		for (i = 0; i < 8 && i < want; i++)
			scratch[i] = (uint8_t)(t >> (8 * i));
	}
	return scratch;
}

static size_t build_media(struct call *c, char *b, size_t *audio_bytes)
{
	const uint8_t *src;
	char *p = b;
	size_t n;

	src = chunk_bytes(&audio[c->track], c->tick, &n);
	p = PUTLIT(p, "{\"event\":\"media\",\"sequenceNumber\":\"");
	p = put_u64(p, ++c->seq);
	p = PUTLIT(p, "\",\"media\":{\"track\":\"");
	p = put_str(p, track_name[c->track]);
	p = PUTLIT(p, "\",\"chunk\":\"");
	p = put_u64(p, c->tick + 1);
	p = PUTLIT(p, "\",\"timestamp\":\"");
	p = put_u64(p, c->tick * (uint64_t)opt.chunk_ms);
	p = PUTLIT(p, "\",\"payload\":\"");
	p += base64_encode(p, src, n);
	p = PUTLIT(p, "\"},\"streamSid\":\"");
	p = put_str(p, c->stream_sid);
	p = PUTLIT(p, "\"}");
	*audio_bytes = n;
	return (size_t)(p - b);
}

/* ---- audio ----------------------------------------------------------- */

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static int is_raw_name(const char *path)
{
	return has_suffix(path, ".ul") || has_suffix(path, ".ulaw") ||
	       has_suffix(path, ".mulaw") || has_suffix(path, ".raw");
}

/* Append n bytes to a growing buffer. */
static int grow(struct audio *a, size_t *cap, size_t n)
{
	if (a->len + n > *cap) {
		size_t ncap = *cap ? *cap : 65536;
		uint8_t *p;

		while (ncap < a->len + n)
			ncap *= 2;
		if (!(p = realloc(a->ulaw, ncap)))
			return -1;
		a->ulaw = p;
		*cap = ncap;
	}
	return 0;
}

/* A headerless file is taken to be 8 kHz mu-law already: bytes as is. */
static int load_raw(struct audio *a)
{
	size_t cap = 0;
	ssize_t n;
	int fd;

	if ((fd = open(a->path, O_RDONLY)) < 0) {
		log_error("cannot open '%s': %s", a->path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (grow(a, &cap, 65536) < 0) {
			log_error("'%s': out of memory", a->path);
			close(fd);
			return -1;
		}
		n = read(fd, a->ulaw + a->len, cap - a->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("cannot read '%s': %s", a->path,
				  strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		a->len += (size_t)n;
	}
	close(fd);
	return 0;
}

/* libsndfile's message in our style: lower case, no full stop. */
static const char *sf_why(SNDFILE *sf)
{
	static char buf[256];
	size_t n;

	snprintf(buf, sizeof buf, "%s", sf_strerror(sf));
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '.' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\n'))
		buf[--n] = '\0';
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' &&
						 buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

/* Mix down, resample to 8 kHz and encode whatever libsndfile reads. */
static int load_convert(struct audio *a, SNDFILE *sf, const SF_INFO *info)
{
	struct resampler *rs = NULL;
	int16_t *frames, *mono, *out;
	size_t cap = 0, outmax = READ_FRAMES;
	sf_count_t got;
	int ch = info->channels, ret = -1;

	if (info->samplerate != RATE) {
		rs = resampler_new(info->samplerate, RATE);
		if (!rs) {
			log_error("'%s': cannot resample from %d Hz",
				  a->path, info->samplerate);
			return -1;
		}
		outmax = resampler_max_out(rs, READ_FRAMES);
	}
	frames = malloc(sizeof *frames * READ_FRAMES * (size_t)ch);
	mono = malloc(sizeof *mono * READ_FRAMES);
	out = malloc(sizeof *out * outmax);
	if (!frames || !mono || !out) {
		log_error("'%s': out of memory", a->path);
		goto out;
	}
	sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	for (;;) {
		const int16_t *enc = mono;
		size_t i, n;

		got = sf_readf_short(sf, frames, READ_FRAMES);
		if (got < 0 || sf_error(sf)) {
			log_error("cannot read '%s': %s", a->path,
				  sf_why(sf));
			goto out;
		}
		if (got == 0 && !rs)
			break;
		for (i = 0; i < (size_t)got; i++) {
			int32_t sum = 0;
			int j;

			for (j = 0; j < ch; j++)
				sum += frames[i * (size_t)ch + (size_t)j];
			mono[i] = (int16_t)(sum / ch);
		}
		n = (size_t)got;
		if (rs) {
			/* got == 0: the end; flush the filter's tail */
			n = got ? resampler_run(rs, mono, n, out)
				: resampler_run(rs, NULL, 0, out);
			enc = out;
		}
		if (grow(a, &cap, n) < 0) {
			log_error("'%s': out of memory", a->path);
			goto out;
		}
		ulaw_encode_buf(a->ulaw + a->len, enc, n);
		a->len += n;
		if (got == 0)
			break;
	}
	ret = 0;
out:
	free(frames);
	free(mono);
	free(out);
	resampler_free(rs);
	return ret;
}

static int load_audio(struct audio *a)
{
	SF_INFO info;
	SNDFILE *sf;
	int fd, ret = 0;

	if (is_raw_name(a->path)) {
		if (load_raw(a) < 0)
			return -1;
	} else {
		/* open(2) first: its reasons read better than libsndfile's */
		if ((fd = open(a->path, O_RDONLY)) < 0) {
			log_error("cannot open '%s': %s", a->path,
				  strerror(errno));
			return -1;
		}
		close(fd);
		memset(&info, 0, sizeof info);
		if (!(sf = sf_open(a->path, SFM_READ, &info))) {
			log_error("cannot read '%s': %s", a->path,
				  sf_why(NULL));
			return -1;
		}
		if ((info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_ULAW &&
		    info.samplerate == RATE && info.channels == 1) {
			/* already what Twilio sends: keep the bytes exact */
			size_t cap = 0;
			sf_count_t n;

			do {
				if (grow(a, &cap, 65536) < 0) {
					log_error("'%s': out of memory",
						  a->path);
					ret = -1;
					break;
				}
				n = sf_read_raw(sf, a->ulaw + a->len,
						(sf_count_t)(cap - a->len));
				if (n > 0)
					a->len += (size_t)n;
			} while (n > 0);
			if (ret == 0 && sf_error(sf)) {
				log_error("cannot read '%s': %s", a->path,
					  sf_why(sf));
				ret = -1;
			}
		} else {
			ret = load_convert(a, sf, &info);
		}
		sf_close(sf);
		if (ret < 0)
			return -1;
	}
	if (a->len == 0) {
		log_error("'%s': no audio", a->path);
		return -1;
	}
	return 0;
}

/* ---- calls ----------------------------------------------------------- */

static int random_hex(char *out, size_t ndigits)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	size_t i, got = 0;

	while (got < (ndigits + 1) / 2) {
		ssize_t n = getrandom(r + got, (ndigits + 1) / 2 - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	for (i = 0; i < ndigits; i++)
		out[i] = hex[(r[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[ndigits] = '\0';
	return 0;
}

static int make_sid(char out[SID_LEN + 1], const char *prefix)
{
	out[0] = prefix[0];
	out[1] = prefix[1];
	return random_hex(out + 2, SID_LEN - 2);
}

static int64_t media_due(const struct call *c)
{
	double us = (double)c->tick * (double)opt.chunk_ms * 1000.0;

	return c->t0 + (int64_t)(us / opt.pace + 0.5);
}

/* Move to the next (tick, track) that has a chunk; 0 at the end. */
static int next_chunk(struct call *c, int first)
{
	if (!first) {
		if (c->track == IN)
			c->track = OUT;
		else {
			c->track = IN;
			c->tick++;
		}
	}
	for (; c->tick < opt.ticks; c->tick++, c->track = IN) {
		for (; c->track < NTRACKS; c->track++)
			if (audio[c->track].path &&
			    c->tick < audio[c->track].nchunks)
				return 1;
	}
	return 0;
}

static void call_finish(struct call *c, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void call_finish(struct call *c, int ok, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (c->done)
		return;
	c->done = 1;
	nopen--;
	c->step = S_GONE;
	c->wsi = NULL;
	lws_sul_cancel(&c->sul);
	if (ok) {
		stats.completed++;
		log_info("call %d %s: completed, %llu media messages",
			 c->idx, c->stream_sid,
			 (unsigned long long)c->media);
		return;
	}
	stats.failed++;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	log_error("call %d %s: '%s': %s", c->idx, c->stream_sid, opt.url,
		  why);
}

static void heap_push(struct call *c, int64_t due)
{
	size_t i = nheap++;

	while (i > 0 && heap[(i - 1) / 2].due > due) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i].due = due;
	heap[i].c = c;
	c->queued = 1;
}

static struct call *heap_pop(void)
{
	struct call *top = heap[0].c;
	struct wait last = heap[--nheap];
	size_t i = 0, k;

	while ((k = 2 * i + 1) < nheap) {
		if (k + 1 < nheap && heap[k + 1].due < heap[k].due)
			k++;
		if (last.due <= heap[k].due)
			break;
		heap[i] = heap[k];
		i = k;
	}
	if (nheap)
		heap[i] = last;
	top->queued = 0;
	return top;
}

static void arm_timer(int64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = at / 1000000;
	its.it_value.tv_nsec = at % 1000000 * 1000;
	if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die(1, "cannot set a timer: %s", strerror(errno));
	timer_at = at;
}

/* The timer fired: wake every call that is due, then re-arm. */
static void pacer_fire(void)
{
	uint64_t expirations;
	int64_t now = mono_us();

	while (read(timer_fd, &expirations, sizeof expirations) < 0 &&
	       errno == EINTR)
		;
	timer_at = 0;
	while (nheap && heap[0].due <= now) {
		struct call *c = heap_pop();

		if (c->wsi && !c->done)
			lws_callback_on_writable(c->wsi);
	}
	if (nheap)
		arm_timer(heap[0].due);
}

/* Ask for the next WRITEABLE now, or when the next chunk is due. */
static void schedule(struct call *c)
{
	int64_t due;

	if (c->step == S_MEDIA && opt.pace > 0 && !draining) {
		due = media_due(c);
		if (due > mono_us()) {
			if (!c->queued)
				heap_push(c, due);
			if (!timer_at || due < timer_at)
				arm_timer(due);
			return;
		}
	}
	lws_callback_on_writable(c->wsi);
}

/* The step after media: stop, or a bare close with --no-stop. */
static enum step after_media(void)
{
	return opt.no_stop ? S_CLOSE : S_STOP;
}

/* After start or a media message: the next chunk, or the end. */
static enum step next_step(struct call *c, int first)
{
	if (opt.disconnect_after >= 0 &&
	    c->media >= (uint64_t)opt.disconnect_after)
		return S_ABORT;
	if (draining || !next_chunk(c, first))
		return after_media();
	return S_MEDIA;
}

static int on_writeable(struct call *c, struct lws *wsi)
{
	char *b = c->buf + LWS_PRE;
	size_t n = 0, nbytes = 0;

	switch (c->step) {
	case S_CONNECTED:
		n = build_connected(b);
		break;
	case S_START:
		n = build_start(c, b);
		break;
	case S_MEDIA:
		if (opt.pace > 0 && !draining && media_due(c) > mono_us()) {
			schedule(c);	/* woken early: wait */
			return 0;
		}
		n = build_media(c, b, &nbytes);
		break;
	case S_STOP:
		n = build_stop(c, b);
		break;
	case S_CLOSE:
		c->ended = 1;
		c->step = S_GONE;
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	case S_ABORT:
		c->ended = 1;
		c->step = S_GONE;
		return -1;	/* no close reason: lws drops the socket */
	case S_GONE:
		return 0;
	}
	if (lws_write(wsi, (unsigned char *)b, n, LWS_WRITE_TEXT) < (int)n) {
		call_finish(c, 0, "write failed");
		return -1;
	}
	stats.messages++;
	switch (c->step) {
	case S_CONNECTED:
		c->step = S_START;
		break;
	case S_START:
		c->step = next_step(c, 1);
		break;
	case S_MEDIA:
		c->media++;
		stats.media++;
		stats.bytes += nbytes;
		c->step = next_step(c, 0);
		break;
	case S_STOP:
		c->step = S_CLOSE;
		c->ended = 1;	/* the server may close first: that is fine */
		break;
	default:
		break;
	}
	schedule(c);
	return 0;
}

static const char *close_text(const void *in, size_t len, int *code)
{
	const uint8_t *p = in;

	*code = len >= 2 ? p[0] << 8 | p[1] : 1005;	/* 1005: no code */
	return len > 2 ? (const char *)p + 2 : "";
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct call *c = user;
	unsigned char **hp;
	unsigned int status;
	const char *text;
	int code;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		pacer_fire();
		break;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (!opt.signature[0])
			break;
		hp = (unsigned char **)in;
		if (lws_add_http_header_by_name(wsi,
				(const unsigned char *)"X-Twilio-Signature:",
				(const unsigned char *)opt.signature,
				TWSIG_LEN, hp, *hp + len))
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!c)
			break;
		status = lws_http_client_http_response(wsi);
		if (status && status != 101)
			call_finish(c, 0, "handshake refused: %u", status);
		else
			call_finish(c, 0, "cannot connect: %.*s",
				    in ? (int)len : 7,
				    in ? (const char *)in : "unknown");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!c)
			return -1;
		c->wsi = wsi;
		c->t0 = mono_us();
		c->step = S_CONNECTED;
		log_info("call %d %s: connected", c->idx, c->stream_sid);
		if (draining) {
			c->step = S_CLOSE;
			c->ended = 1;
		}
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!c || c->done)
			return -1;
		return on_writeable(c, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (!c)
			break;
		text = close_text(in, len, &code);
		c->peer_code = code;
		if (!c->ended)
			call_finish(c, 0, "closed by the server: %d%s%.*s",
				    code, len > 2 ? " " : "",
				    len > 2 ? (int)(len - 2) : 0, text);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!c)
			break;
		if (c->ended && (!c->peer_code || c->peer_code == 1000 ||
				 c->peer_code == 1001 ||
				 c->peer_code == 1005))
			call_finish(c, 1, NULL);
		else if (c->ended)
			call_finish(c, 0, "closed by the server: %d",
				    c->peer_code);
		else
			call_finish(c, 0, "connection closed by the server "
				    "without a close frame");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "tw-simcall", callback, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void connect_call(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, sul);
	struct lws_client_connect_info ci;

	if (draining || c->done)
		return;
	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	ci.address = opt.host;
	ci.port = opt.port;
	ci.path = opt.path;
	ci.host = opt.authority;
	ci.protocol = NULL;	/* Twilio asks for no subprotocol */
	ci.local_protocol_name = protocols[0].name;
	ci.userdata = c;
	ci.pwsi = &c->wsi;
	if (opt.scheme_tls) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (opt.insecure)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
				LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
				LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	}
	stats.started++;
	c->started = 1;
	c->step = S_GONE;	/* until ESTABLISHED */
	if (!lws_client_connect_via_info(&ci))
		call_finish(c, 0, "cannot connect");
}

/* ---- setup ----------------------------------------------------------- */

/* Split ws[s]://authority/path?query. */
static void parse_url(const char *url)
{
	const char *a, *slash, *h, *colon;
	size_t alen, hlen;

	if (strncasecmp(url, "ws://", 5) == 0) {
		a = url + 5;
		opt.port = 80;
	} else if (strncasecmp(url, "wss://", 6) == 0) {
		a = url + 6;
		opt.port = 443;
		opt.scheme_tls = 1;
	} else {
		cli_usage_error("'%s': not a ws:// or wss:// URL", url);
	}
	slash = a + strcspn(a, "/?#");
	alen = (size_t)(slash - a);
	if (alen == 0 || alen >= sizeof opt.authority || memchr(a, '@', alen))
		cli_usage_error("'%s': bad host in URL", url);
	memcpy(opt.authority, a, alen);
	opt.authority[alen] = '\0';

	h = opt.authority;
	if (*h == '[') {
		const char *rb = strchr(h, ']');

		if (!rb || (rb[1] != '\0' && rb[1] != ':'))
			cli_usage_error("'%s': bad host in URL", url);
		hlen = (size_t)(rb - h - 1);
		memcpy(opt.host, h + 1, hlen);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strchr(h, ':');
		hlen = colon ? (size_t)(colon - h) : strlen(h);
		memcpy(opt.host, h, hlen);
	}
	opt.host[hlen] = '\0';
	if (hlen == 0)
		cli_usage_error("'%s': bad host in URL", url);
	if (colon) {
		char *end;
		long p;

		errno = 0;
		p = strtol(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || p < 1 || p > 65535)
			cli_usage_error("'%s': bad port in URL", url);
		opt.port = (int)p;
	}
	/* the fragment never goes on the wire */
	alen = strcspn(slash, "#");
	if (!(opt.path = malloc(alen + 2)))
		die(1, "out of memory");
	opt.path[0] = '/';
	if (*slash == '/')
		memcpy(opt.path, slash, alen);
	else
		memcpy(opt.path + 1, slash, alen++);
	opt.path[alen] = '\0';
}

static void parse_pace(const char *arg)
{
	char *end;

	if (strcmp(arg, "realtime") == 0) {
		opt.pace = 1;
		return;
	}
	if (strcmp(arg, "fast") == 0) {
		opt.pace = 0;
		return;
	}
	errno = 0;
	opt.pace = strtod(arg, &end);
	if (errno || end == arg || *end || !(opt.pace > 0) ||
	    opt.pace > 1e6)
		cli_usage_error("invalid value '%s' for --pace: expected "
				"realtime, fast or a positive factor", arg);
}

static void add_param(json_t *params, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[512];
	json_t *v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name)
		cli_usage_error("invalid value '%s' for --param: expected "
				"NAME=VALUE", arg);
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	if (!(v = json_string(eq + 1)) || json_object_set_new(params,
							       name, v))
		cli_usage_error("invalid value '%s' for --param: not UTF-8",
				arg);
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* After a signal: start no more calls, end each stream with stop now. */
static void drain_all(void)
{
	long long i;

	draining = 1;
	for (i = 0; i < opt.ncalls; i++) {
		struct call *c = &calls[i];

		if (c->done)
			continue;
		if (!c->started) {
			/* not a call at all: not counted */
			lws_sul_cancel(&c->sul);
			c->done = 1;
			nopen--;
			continue;
		}
		if (c->step == S_MEDIA)
			c->step = after_media();
		if (c->wsi && c->step != S_GONE) {
			lws_sul_cancel(&c->sul);
			lws_callback_on_writable(c->wsi);
		}
	}
}

static void start_pacer(size_t ncalls)
{
	lws_sock_file_fd_type fd;

	if (!(heap = malloc(ncalls * sizeof *heap)))
		die(1, "out of memory");
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (timer_fd < 0)
		die(1, "cannot create a timer: %s", strerror(errno));
	fd.filefd = timer_fd;
	if (!lws_adopt_descriptor_vhost(lws_get_vhost_by_name(ctx, "default"),
					LWS_ADOPT_RAW_FILE_DESC, fd,
					protocols[0].name, NULL))
		die(1, "cannot add a timer to the event loop");
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static const char *ca_file(void)
{
	const char *env = getenv("SSL_CERT_FILE");
	static const char deb[] = "/etc/ssl/certs/ca-certificates.crt";

	if (env && *env)
		return env;
	return access(deb, R_OK) == 0 ? deb : NULL;
}

/* Options into opt and audio[].path; returns how verbose to be. */
static int parse_options(int argc, char **argv)
{
	enum { O_CHUNK = 256, O_RAMP, O_SIGN_URL, O_STAMP, O_NO_STOP,
	       O_DISCONNECT, O_CALL_SID, O_HELP, O_VERSION };
	static const struct option longopts[] = {
		{ "inbound", required_argument, NULL, 'i' },
		{ "outbound", required_argument, NULL, 'o' },
		{ "pace", required_argument, NULL, 'p' },
		{ "chunk", required_argument, NULL, O_CHUNK },
		{ "calls", required_argument, NULL, 'n' },
		{ "ramp", required_argument, NULL, O_RAMP },
		{ "duration", required_argument, NULL, 'd' },
		{ "param", required_argument, NULL, 'P' },
		{ "sign-url", required_argument, NULL, O_SIGN_URL },
		{ "insecure", no_argument, NULL, 'k' },
		{ "stamp", no_argument, NULL, O_STAMP },
		{ "no-stop", no_argument, NULL, O_NO_STOP },
		{ "disconnect-after", required_argument, NULL, O_DISCONNECT },
		{ "call-sid", required_argument, NULL, O_CALL_SID },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	json_t *params;
	int c, verbose = 0;

	opt.pace = 1;
	opt.chunk_ms = 20;
	opt.ncalls = 1;
	opt.disconnect_after = -1;
	if (!(params = json_object()))
		die(1, "out of memory");

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:o:p:n:d:P:kvq", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'i':
			audio[IN].path = optarg;
			break;
		case 'o':
			audio[OUT].path = optarg;
			break;
		case 'p':
			parse_pace(optarg);
			break;
		case O_CHUNK:
			opt.chunk_ms = cli_int("--chunk", optarg, 1, 10000);
			break;
		case 'n':
			opt.ncalls = cli_int("--calls", optarg, 1, 1000000);
			break;
		case O_RAMP:
			opt.ramp_ms = cli_ms("--ramp", optarg, 86400000LL);
			break;
		case 'd':
			opt.duration_ms = cli_ms("--duration", optarg,
						 86400000LL * 7);
			if (opt.duration_ms == 0)
				cli_usage_error("invalid value '%s' for "
						"--duration: must be more "
						"than 0", optarg);
			break;
		case 'P':
			add_param(params, optarg);
			break;
		case O_SIGN_URL:
			opt.sign_url = optarg;
			break;
		case 'k':
			opt.insecure = 1;
			break;
		case O_STAMP:
			opt.stamp = 1;
			break;
		case O_NO_STOP:
			opt.no_stop = 1;
			break;
		case O_CALL_SID:
			if (strlen(optarg) != SID_LEN ||
			    strncmp(optarg, "CA", 2) != 0 ||
			    strspn(optarg + 2, "0123456789abcdef") !=
			    SID_LEN - 2)
				cli_usage_error("invalid value '%s' for "
						"--call-sid: CA and 32 hex "
						"digits", optarg);
			opt.call_sid = optarg;
			break;
		case O_DISCONNECT:
			opt.disconnect_after = cli_int("--disconnect-after",
						       optarg, 0, LLONG_MAX);
			break;
		case 'v':
			verbose++;
			if (log_level < LOG_DEBUG)
				log_level++;
			break;
		case 'q':
			if (log_level > LOG_QUIET)
				log_level--;
			break;
		case O_HELP:
			cli_help(usage_text);
		case O_VERSION:
			cli_version();
		case ':':
			cli_usage_error("option '%s' needs a value",
					argv[optind - 1]);
		default:
			cli_usage_error("unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (opt.call_sid && opt.ncalls != 1)
		cli_usage_error("--call-sid names one call: not with --calls");
	if (optind != argc - 1)
		cli_usage_error(optind >= argc ? "missing URL" :
				"too many arguments");
	opt.url = argv[optind];
	if (!audio[IN].path && !audio[OUT].path)
		cli_usage_error("give --inbound FILE, --outbound FILE, or both");
	parse_url(opt.url);
	if (!opt.sign_url)
		opt.sign_url = opt.url;
	if (!(opt.params_json = json_dumps(params, JSON_COMPACT |
					    JSON_PRESERVE_ORDER)))
		die(1, "out of memory");
	json_decref(params);
	return verbose;
}

/* Load each file once; every call shares the bytes. */
static int load_tracks(void)
{
	int t;

	opt.chunk_bytes = (size_t)opt.chunk_ms * (RATE / 1000);
	snprintf(opt.tracks_json, sizeof opt.tracks_json, "[%s%s%s]",
		 audio[IN].path ? "\"inbound\"" : "",
		 audio[IN].path && audio[OUT].path ? "," : "",
		 audio[OUT].path ? "\"outbound\"" : "");
	for (t = 0; t < NTRACKS; t++) {
		struct audio *a = &audio[t];

		if (!a->path)
			continue;
		if (load_audio(a) < 0)
			return -1;
		a->total = opt.duration_ms ?
			(uint64_t)opt.duration_ms * (RATE / 1000) : a->len;
		a->nchunks = (a->total + opt.chunk_bytes - 1) /
			     opt.chunk_bytes;
		if (a->nchunks > opt.ticks)
			opt.ticks = a->nchunks;
		log_info("%s: %zu bytes of mu-law (%.3f s)", a->path,
			 a->len, (double)a->len / RATE);
	}
	return 0;
}

/* Account, signature, and each call's SIDs and message buffer. */
static void init_calls(void)
{
	const char *token, *acct;
	size_t start_max;
	long long i;

	acct = getenv("TWILIO_ACCOUNT_SID");
	if (acct && *acct) {
		if (strlen(acct) > SID_LEN)
			die(2, "TWILIO_ACCOUNT_SID: longer than %d characters",
			    SID_LEN);
		memcpy(opt.account_sid, acct, strlen(acct) + 1);
	} else if (make_sid(opt.account_sid, "AC") < 0) {
		die(1, "cannot get random bytes: %s", strerror(errno));
	}
	token = getenv("TWILIO_AUTH_TOKEN");
	if (token && *token &&
	    twsig_sign(token, opt.sign_url, NULL, 0, opt.signature) < 0)
		die(1, "cannot sign '%s'", opt.sign_url);

	/* the largest message is a start or a full media chunk */
	start_max = 400 + strlen(opt.params_json);
	opt.msg_max = 256 + BASE64_ENCODED_LEN(opt.chunk_bytes);
	if (opt.msg_max < start_max)
		opt.msg_max = start_max;
	if (!(scratch = malloc(opt.chunk_bytes)) ||
	    !(calls = calloc((size_t)opt.ncalls, sizeof *calls)))
		die(1, "out of memory");
	for (i = 0; i < opt.ncalls; i++) {
		struct call *cl = &calls[i];

		cl->idx = (int)i;
		cl->step = S_CONNECTED;
		if (make_sid(cl->call_sid, "CA") < 0 ||
		    make_sid(cl->stream_sid, "MZ") < 0)
			die(1, "cannot get random bytes: %s",
			    strerror(errno));
		/* a call placed through a stand-in of Twilio's REST API */
		if (opt.call_sid)
			memcpy(cl->call_sid, opt.call_sid, SID_LEN + 1);
		if (!(cl->buf = malloc(LWS_PRE + opt.msg_max)))
			die(1, "out of memory");
	}
}

static void init_lws(int verbose)
{
	struct lws_context_creation_info info;
	struct sigaction sa;
	int lws_level;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;	/* no SA_RESTART: wake the poll */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	lws_level = verbose >= 2 ? LLL_ERR | LLL_WARN | LLL_NOTICE :
		    verbose ? LLL_ERR : 0;
	lws_set_log_level(lws_level, NULL);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	if (opt.scheme_tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = ca_file();
	}
	if (!(ctx = lws_create_context(&info)))
		die(1, "cannot create the libwebsockets context");
	if (opt.pace > 0)
		start_pacer((size_t)opt.ncalls);
}

static void wake_for_deadline(lws_sorted_usec_list_t *sul)
{
	(void)sul;	/* only here to end the wait in lws_service */
}

/* Start the calls and serve them until every one is done. */
static void run(void)
{
	static lws_sorted_usec_list_t drain_sul;
	int64_t drain_deadline = 0;
	long long i;

	for (i = 0; i < opt.ncalls; i++) {
		int64_t at = opt.ramp_ms * 1000 * i / opt.ncalls;

		lws_sul_schedule(ctx, 0, &calls[i].sul, connect_call,
				 at > 0 ? at : 1);
	}
	nopen = opt.ncalls;
	while (nopen > 0) {
		if (interrupted && !draining) {
			log_info("interrupted: ending the streams");
			drain_all();
			drain_deadline = mono_us() + DRAIN_US;
			lws_sul_schedule(ctx, 0, &drain_sul,
					 wake_for_deadline, DRAIN_US + 1000);
			continue;
		}
		if (draining && mono_us() > drain_deadline) {
			for (i = 0; i < opt.ncalls; i++)
				if (!calls[i].done)
					call_finish(&calls[i], 0,
						    "still open after the "
						    "signal");
			break;
		}
		if (lws_service(ctx, 0) < 0)
			break;
	}
}

int main(int argc, char **argv)
{
	int64_t started_us;
	long long i;
	int t, verbose;

	log_init(argv[0]);
	verbose = parse_options(argc, argv);
	if (load_tracks() < 0)
		return 1;
	init_calls();
	init_lws(verbose);
	started_us = mono_us();
	run();
	lws_context_destroy(ctx);

	printf("{\"calls\":%lld,\"completed\":%lld,\"failed\":%lld,"
	       "\"messages\":%llu,\"media\":%llu,\"bytes\":%llu,"
	       "\"seconds\":%.3f}\n", stats.started, stats.completed,
	       stats.failed, (unsigned long long)stats.messages,
	       (unsigned long long)stats.media,
	       (unsigned long long)stats.bytes,
	       (double)(mono_us() - started_us) / 1e6);
	if (fflush(stdout) || ferror(stdout))
		die(1, "cannot write to standard output: %s", strerror(errno));
	for (i = 0; i < opt.ncalls; i++)
		free(calls[i].buf);
	free(calls);
	free(heap);
	free(scratch);
	free(opt.path);
	free(opt.params_json);
	for (t = 0; t < NTRACKS; t++)
		free(audio[t].ulaw);
	return stats.failed || stats.completed < stats.started ? 1 : 0;
}
