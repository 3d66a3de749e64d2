/*
 * Windowed-sinc sample-rate conversion.
 *
 * With L = out / g and M = in / g (g the gcd), output k sits at input time
 * k * M / L: an integer part, which picks the window of input samples, and
 * a phase k * M mod L, which picks the coefficients.  Both are kept as
 * integers, so the result does not depend on how the input is split.
 *
 * The kernel is a sinc low-pass whose stopband starts at the lower of the
 * two Nyquist frequencies, under a Kaiser window 2 * SPAN samples of the
 * lower rate wide: about 72 dB of stopband, flat to 0.1 dB up to 7/8 of
 * the lower Nyquist (3.5 kHz at 8 kHz).  When there are few phases
 * the coefficients of each are computed once (polyphase); otherwise they
 * are interpolated for each output from a finely sampled kernel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "resample.h"

#define RATE_MIN	1000
#define RATE_MAX	384000

/*
 * Kernel half-width in samples at the lower rate; Kaiser shape; -6 dB
 * point as a fraction of the lower Nyquist frequency.
 */
#define SPAN		32
#define BETA		7.0
#define ROLLOFF		0.93

/* Past this many phases or floats, the kernel is interpolated instead. */
#define MAX_PHASES	1024
#define MAX_TABLE	(1 << 18)
#define OVERSAMPLE	512	/* kernel points per sample, lower rate */

#define CHUNK		4096	/* input samples taken in at a time */

struct resampler {
	int copy;		/* equal rates: nothing to do */
	unsigned long L, M;	/* out and in rates over their gcd */
	unsigned long step, rem;	/* M / L and M % L */
	double scale;		/* min(1, L / M): kernel's time scale */
	double width;		/* kernel half-width, input samples */
	double i0beta;		/* the window's denominator */
	int half;		/* width rounded up */
	int taps;		/* 2 * half inputs make one output */

	float *poly;		/* L rows of taps, or NULL: */
	float *kern;		/* kernel at t = i / density, i = 0..klen */
	double density;
	size_t klen;

	/*
	 * buf[0] is input sample base - (half - 1), where base is whatever
	 * the stream has consumed; the window of the next output is
	 * buf[pos .. pos + taps) and its phase is phase / L.
	 */
	float *buf;
	size_t cap, fill, pos;
	unsigned long phase;
	unsigned long long nin, nout;	/* for the length at the flush */
};

static unsigned long
gcd(unsigned long a, unsigned long b)
{
	while (b != 0) {
		unsigned long t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Modified Bessel function of the first kind, order 0, by its series. */
static double
bessel_i0(double x)
{
	double sum = 1, term = 1, q = x * x / 4;
	int k;

	for (k = 1; k < 200; k++) {
		term *= q / ((double)k * k);
		sum += term;
		if (term < sum * 1e-17)
			break;
	}
	return sum;
}

/* The kernel at t input samples from the output's position. */
static double
kernel(const struct resampler *r, double t)
{
	double fc = ROLLOFF * r->scale;	/* cutoff over the input Nyquist */
	double x = t / r->width, s;

	if (fabs(x) >= 1)
		return 0;
	s = t == 0 ? 1 : sin(M_PI * fc * t) / (M_PI * fc * t);
	return fc * s * bessel_i0(BETA * sqrt(1 - x * x)) / r->i0beta;
}

/*
 * Each row is scaled to sum to one, so that no phase changes the level:
 * a constant input stays constant.
 */
static int
make_poly(struct resampler *r)
{
	unsigned long p;
	int o;

	r->poly = malloc(sizeof(*r->poly) * r->L * (size_t)r->taps);
	if (r->poly == NULL)
		return -1;
	for (p = 0; p < r->L; p++) {
		float *row = r->poly + p * (size_t)r->taps;
		double sum = 0, frac = (double)p / (double)r->L;

		for (o = 0; o < r->taps; o++) {
			row[o] = (float)kernel(r, o - (r->half - 1) - frac);
			sum += row[o];
		}
		for (o = 0; o < r->taps; o++)
			row[o] = (float)(row[o] / sum);
	}
	return 0;
}

static int
make_kern(struct resampler *r)
{
	size_t i;

	r->density = OVERSAMPLE * r->scale;
	r->klen = (size_t)ceil(r->width * r->density);
	/* Two spare zeros, so interpolation may read index klen + 1. */
	r->kern = calloc(r->klen + 2, sizeof(*r->kern));
	if (r->kern == NULL)
		return -1;
	for (i = 0; i <= r->klen; i++)
		r->kern[i] = (float)kernel(r, (double)i / r->density);
	return 0;
}

/* Back to the start of a stream: silence before the first sample. */
static void
reset(struct resampler *r)
{
	r->fill = (size_t)r->half - 1;
	memset(r->buf, 0, sizeof(*r->buf) * r->fill);
	r->pos = 0;
	r->phase = 0;
	r->nin = 0;
	r->nout = 0;
}

struct resampler *
resampler_new(int in_rate, int out_rate)
{
	struct resampler *r;
	unsigned long g;

	if (in_rate < RATE_MIN || in_rate > RATE_MAX ||
	    out_rate < RATE_MIN || out_rate > RATE_MAX)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (in_rate == out_rate) {
		r->copy = 1;
		return r;
	}

	g = gcd((unsigned long)in_rate, (unsigned long)out_rate);
	r->L = (unsigned long)out_rate / g;
	r->M = (unsigned long)in_rate / g;
	r->step = r->M / r->L;
	r->rem = r->M % r->L;
	r->scale = r->L < r->M ? (double)r->L / (double)r->M : 1.0;
	r->width = SPAN / r->scale;
	r->i0beta = bessel_i0(BETA);
	r->half = (int)ceil(r->width);
	r->taps = 2 * r->half;

	if (r->L <= MAX_PHASES && r->L * (size_t)r->taps <= MAX_TABLE) {
		if (make_poly(r) == -1)
			goto fail;
	} else if (make_kern(r) == -1) {
		goto fail;
	}
	r->cap = (size_t)r->taps + CHUNK;
	r->buf = malloc(sizeof(*r->buf) * r->cap);
	if (r->buf == NULL)
		goto fail;
	reset(r);
	return r;
fail:
	resampler_free(r);
	return NULL;
}

void
resampler_free(struct resampler *r)
{
	if (r == NULL)
		return;
	free(r->poly);
	free(r->kern);
	free(r->buf);
	free(r);
}

size_t
resampler_max_out(const struct resampler *r, size_t n)
{
	if (r->copy)
		return n;
	/*
	 * n inputs complete at most n * L / M + 1 outputs; the flush
	 * completes those whose window reaches past the end, at most
	 * half * L / M + 2.  Split n to stay clear of overflow.
	 */
	return n / r->M * r->L +
	    ((n % r->M + (size_t)r->taps + 2) * r->L + r->M - 1) / r->M + 2;
}

static float
dot(const float *a, const float *b, int n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int i;

	/* Four sums the compiler may keep in flight; taps is even. */
	for (i = 0; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

/* One output from an interpolated kernel, normalised like a poly row. */
static float
interpolated(const struct resampler *r, const float *x)
{
	double frac = (double)r->phase / (double)r->L;
	double acc = 0, sum = 0, at, w;
	float c;
	size_t i;
	int o;

	for (o = 0; o < r->taps; o++) {
		at = fabs(o - (r->half - 1) - frac) * r->density;
		if (at >= (double)r->klen)
			continue;
		i = (size_t)at;
		w = at - (double)i;
		c = (float)(r->kern[i] + w * (r->kern[i + 1] - r->kern[i]));
		acc += (double)c * x[o];
		sum += c;
	}
	return (float)(acc / sum);
}

static int16_t
to_s16(float v)
{
	if (v >= 32767.0f)
		return 32767;
	if (v <= -32768.0f)
		return -32768;
	return (int16_t)lrintf(v);
}

/* Write the outputs whose windows are complete, at most limit of them. */
static size_t
produce(struct resampler *r, int16_t *out, unsigned long long limit)
{
	size_t n = 0;
	float v;

	while (n < limit && r->pos + (size_t)r->taps <= r->fill) {
		if (r->poly != NULL)
			v = dot(r->poly + r->phase * (size_t)r->taps,
			    r->buf + r->pos, r->taps);
		else
			v = interpolated(r, r->buf + r->pos);
		out[n++] = to_s16(v);
		r->pos += r->step;
		r->phase += r->rem;
		if (r->phase >= r->L) {
			r->phase -= r->L;
			r->pos++;
		}
	}
	r->nout += n;
	return n;
}

/* Drop the samples no window needs any more; leaves at least CHUNK room. */
static void
compact(struct resampler *r)
{
	memmove(r->buf, r->buf + r->pos, sizeof(*r->buf) * (r->fill - r->pos));
	r->fill -= r->pos;
	r->pos = 0;
}

/*
 * The stream had nin samples, so it ends with round(nin * L / M)
 * outputs; silence after the end completes the windows of the last.
 * Afterwards the resampler is ready for a new stream.
 */
static size_t
flush(struct resampler *r, int16_t *out)
{
	unsigned long long total, done = 0;
	size_t k;

	total = (2 * r->nin * r->L + r->M) / (2 * r->M);
	while (r->nout < total) {
		compact(r);
		for (k = 0; k < CHUNK; k++)
			r->buf[r->fill++] = 0;
		done += produce(r, out + done, total - r->nout);
	}
	reset(r);
	return (size_t)done;
}

size_t
resampler_run(struct resampler *r, const int16_t *in, size_t n,
    int16_t *out)
{
	size_t done = 0, take, i;

	if (in == NULL)
		return r->copy ? 0 : flush(r, out);
	if (r->copy) {
		memcpy(out, in, sizeof(*in) * n);
		return n;
	}
	while (n > 0) {
		compact(r);
		take = r->cap - r->fill;
		if (take > n)
			take = n;
		for (i = 0; i < take; i++)
			r->buf[r->fill + i] = in[i];
		r->fill += take;
		r->nin += take;
		in += take;
		n -= take;
		done += produce(r, out + done, (unsigned long long)-1);
	}
	return done;
}
