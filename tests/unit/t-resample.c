/*
 * Resampler: tones keep their frequency, level and timing, tones above
 * the new Nyquist are gone, lengths add up, and splitting the input any
 * way gives the same samples.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "resample.h"

struct signal {
	int16_t *s;
	size_t n;
};

static void
alloc_signal(struct signal *x, size_t n)
{
	x->n = n;
	x->s = calloc(n + 1, sizeof(*x->s));
	assert_non_null(x->s);
}

static void
tone(struct signal *x, int rate, double hz, double amp, double seconds)
{
	size_t i;

	alloc_signal(x, (size_t)(rate * seconds));
	for (i = 0; i < x->n; i++)
		x->s[i] = (int16_t)lrint(amp * sin(2 * M_PI * hz * (double)i /
		    rate));
}

/* In pieces of the given sizes, cycled; 0 means all at once. */
static void
convert(struct signal *y, int in_rate, int out_rate, const struct signal *x,
    const size_t *pieces, size_t npieces)
{
	struct resampler *r;
	size_t at = 0, k = 0, len, cap, got;

	r = resampler_new(in_rate, out_rate);
	assert_non_null(r);
	cap = resampler_max_out(r, x->n) + resampler_max_out(r, 0) + 1;
	y->s = malloc(sizeof(*y->s) * cap);
	assert_non_null(y->s);
	y->n = 0;
	while (at < x->n) {
		len = npieces == 0 ? x->n : pieces[k++ % npieces];
		if (len > x->n - at)
			len = x->n - at;
		got = resampler_run(r, x->s + at, len, y->s + y->n);
		assert_true(got <= resampler_max_out(r, len));
		y->n += got;
		at += len;
	}
	got = resampler_run(r, NULL, 0, y->s + y->n);
	assert_true(got <= resampler_max_out(r, 0));
	y->n += got;
	assert_true(y->n <= cap);
	resampler_free(r);
}

static void
release(struct signal *x)
{
	free(x->s);
	x->s = NULL;
}

/* Where the ends' silence does not reach: 25 ms in from each end. */
static size_t
margin(int rate)
{
	return (size_t)rate / 40;
}

static double
rms(const struct signal *y, size_t skip)
{
	double sum = 0;
	size_t i;

	for (i = skip; i < y->n - skip; i++)
		sum += (double)y->s[i] * y->s[i];
	return sqrt(sum / (double)(y->n - 2 * skip));
}

static int
crossings(const struct signal *y, size_t skip)
{
	int count = 0;
	size_t i;

	for (i = skip + 1; i < y->n - skip; i++)
		if ((y->s[i - 1] < 0) != (y->s[i] < 0))
			count++;
	return count;
}

/* The largest distance from the ideal tone at the output rate. */
static double
worst_error(const struct signal *y, int rate, double hz, double amp,
    size_t skip)
{
	double e, worst = 0;
	size_t i;

	for (i = skip; i < y->n - skip; i++) {
		e = amp * sin(2 * M_PI * hz * (double)i / rate);
		e = fabs(y->s[i] - e);
		if (e > worst)
			worst = e;
	}
	return worst;
}

static double
db(double ratio)
{
	return 20 * log10(ratio);
}

/*
 * A tone in the passband comes out at the same frequency, level and
 * timing: checked by zero crossings, RMS, and sample by sample.
 */
static void
passes(int in_rate, int out_rate, double hz, double tolerance)
{
	const double amp = 10000, seconds = 1;
	struct signal x, y;
	size_t skip = margin(out_rate);
	int expect;

	tone(&x, in_rate, hz, amp, seconds);
	convert(&y, in_rate, out_rate, &x, NULL, 0);
	assert_int_equal(y.n, (size_t)(out_rate * seconds));

	expect = (int)(2 * hz * (double)(y.n - 2 * skip) / out_rate);
	if (abs(crossings(&y, skip) - expect) > 2)
		fail_msg("%d -> %d, %g Hz: %d zero crossings, want %d",
		    in_rate, out_rate, hz, crossings(&y, skip), expect);
	if (fabs(db(rms(&y, skip) / (amp / sqrt(2)))) > 1)
		fail_msg("%d -> %d, %g Hz: level %.2f dB", in_rate, out_rate,
		    hz, db(rms(&y, skip) / (amp / sqrt(2))));
	if (worst_error(&y, out_rate, hz, amp, skip) > tolerance * amp)
		fail_msg("%d -> %d, %g Hz: off the ideal tone by %.1f",
		    in_rate, out_rate, hz,
		    worst_error(&y, out_rate, hz, amp, skip));
	release(&x);
	release(&y);
}

/* A tone above the output's Nyquist must not come back as an alias. */
static void
stops(int in_rate, int out_rate, double hz, double min_db)
{
	const double amp = 20000;
	struct signal x, y;
	double level;

	tone(&x, in_rate, hz, amp, 1);
	convert(&y, in_rate, out_rate, &x, NULL, 0);
	level = db(rms(&y, margin(out_rate)) / (amp / sqrt(2)));
	if (level > -min_db)
		fail_msg("%d -> %d, %g Hz: only %.1f dB down", in_rate,
		    out_rate, hz, -level);
	release(&x);
	release(&y);
}

static void
tone_8000_to_16000(void **state)
{
	(void)state;
	passes(8000, 16000, 1000, 0.003);
}

static void
tone_44100_to_8000(void **state)
{
	(void)state;
	passes(44100, 8000, 1000, 0.003);
	passes(44100, 8000, 3500, 0.02);	/* near the edge, still in */
}

static void
tone_other_rates(void **state)
{
	(void)state;
	passes(16000, 8000, 440, 0.003);
	passes(48000, 8000, 1000, 0.003);
	passes(22050, 8000, 3000, 0.01);
	passes(8000, 44100, 1000, 0.003);
	passes(8000, 48000, 2000, 0.003);
	/* No small ratio here: the interpolated kernel. */
	passes(8000, 44101, 1000, 0.003);
	passes(44101, 8000, 1000, 0.003);
}

static void
stopband(void **state)
{
	(void)state;
	stops(44100, 8000, 6000, 60);	/* would alias to 2 kHz */
	stops(44100, 8000, 4500, 60);	/* just past Nyquist: to 3.5 kHz */
	stops(48000, 8000, 6000, 60);
	stops(22050, 8000, 7000, 60);
	stops(16000, 8000, 5000, 60);
	stops(44101, 8000, 6000, 60);
}

/* Rows are normalised: a constant stays that constant, exactly. */
static void
constant_stays_constant(void **state)
{
	static const int rates[][2] = {
		{ 8000, 16000 }, { 8000, 44100 }, { 44100, 8000 },
		{ 8000, 44101 },
	};
	struct signal x, y;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		alloc_signal(&x, (size_t)rates[i][0] / 2);
		for (k = 0; k < x.n; k++)
			x.s[k] = -12345;
		convert(&y, rates[i][0], rates[i][1], &x, NULL, 0);
		for (k = margin(rates[i][1]); k < y.n - margin(rates[i][1]);
		    k++)
			if (abs(y.s[k] + 12345) > 1)
				fail_msg("%d -> %d: sample %zu is %d",
				    rates[i][0], rates[i][1], k, y.s[k]);
		release(&x);
		release(&y);
	}
}

static void
lengths_add_up(void **state)
{
	static const int rates[][2] = {
		{ 8000, 16000 }, { 16000, 8000 }, { 44100, 8000 },
		{ 48000, 8000 }, { 22050, 8000 }, { 8000, 44100 },
		{ 8000, 8000 }, { 44101, 8000 }, { 1000, 384000 },
		{ 384000, 1000 }, { 11025, 48000 },
	};
	static const size_t lens[] = { 0, 1, 2, 3, 7, 160, 441, 1000, 4097,
		20000 };
	struct signal x, y;
	size_t i, j;
	double want;

	(void)state;
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			alloc_signal(&x, lens[j]);
			convert(&y, rates[i][0], rates[i][1], &x, NULL, 0);
			want = (double)x.n * rates[i][1] / rates[i][0];
			if (fabs((double)y.n - want) > 1)
				fail_msg("%d -> %d: %zu in, %zu out, want %g",
				    rates[i][0], rates[i][1], x.n, y.n, want);
			release(&x);
			release(&y);
		}
	}
}

/* Any split of the input gives the same output, sample for sample. */
static void
chunks_match_one_call(void **state)
{
	static const int rates[][2] = {
		{ 8000, 16000 }, { 44100, 8000 }, { 48000, 8000 },
		{ 8000, 44101 }, { 44101, 8000 }, { 22050, 8000 },
		{ 8000, 8000 },
	};
	static const size_t tiny[] = { 1 };
	static const size_t odd[] = { 0, 3, 1, 160, 0, 7, 4096, 5000, 2 };
	static const size_t frames[] = { 160 };
	size_t random[64];
	const size_t *splits[] = { tiny, odd, frames, random };
	const size_t nsplit[] = { 1, 9, 1, 64 };
	struct signal x, whole, part;
	uint32_t seed = 12345;
	size_t i, j, k;

	(void)state;
	for (k = 0; k < 64; k++) {
		seed = seed * 1103515245 + 12345;
		random[k] = (seed >> 16) % 3000;
	}
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		tone(&x, rates[i][0], 1234.5, 15000, 0.7);
		/* Some noise, so every tap matters. */
		for (k = 0; k < x.n; k++) {
			seed = seed * 1103515245 + 12345;
			x.s[k] = (int16_t)(x.s[k] / 2 +
			    (int)((seed >> 16) % 20001) - 10000);
		}
		convert(&whole, rates[i][0], rates[i][1], &x, NULL, 0);
		for (j = 0; j < 4; j++) {
			convert(&part, rates[i][0], rates[i][1], &x,
			    splits[j], nsplit[j]);
			assert_int_equal(part.n, whole.n);
			assert_memory_equal(part.s, whole.s,
			    sizeof(*whole.s) * whole.n);
			release(&part);
		}
		release(&x);
		release(&whole);
	}
}

/* After the flush the next stream starts afresh. */
static void
reusable_after_flush(void **state)
{
	struct resampler *r;
	struct signal x, fresh;
	int16_t *out;
	size_t n, cap;
	int round;

	(void)state;
	tone(&x, 44100, 700, 8000, 0.3);
	convert(&fresh, 44100, 8000, &x, NULL, 0);
	r = resampler_new(44100, 8000);
	assert_non_null(r);
	cap = resampler_max_out(r, x.n) + resampler_max_out(r, 0);
	out = malloc(sizeof(*out) * cap);
	assert_non_null(out);
	for (round = 0; round < 3; round++) {
		n = resampler_run(r, x.s, x.n, out);
		n += resampler_run(r, NULL, 0, out + n);
		assert_int_equal(n, fresh.n);
		assert_memory_equal(out, fresh.s, sizeof(*out) * n);
		/* A second flush has nothing left to say. */
		assert_int_equal(resampler_run(r, NULL, 0, out), 0);
	}
	free(out);
	resampler_free(r);
	release(&x);
	release(&fresh);
}

static void
same_rate_copies(void **state)
{
	struct resampler *r;
	int16_t in[500], out[500];
	size_t i;

	(void)state;
	for (i = 0; i < 500; i++)
		in[i] = (int16_t)(i * 131 - 32768);
	r = resampler_new(16000, 16000);
	assert_non_null(r);
	assert_int_equal(resampler_max_out(r, 500), 500);
	assert_int_equal(resampler_run(r, in, 500, out), 500);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(resampler_run(r, NULL, 0, out), 0);
	resampler_free(r);
}

/* Overshoot beyond full scale saturates instead of wrapping round. */
static void
clips_without_wrapping(void **state)
{
	struct signal x, y;
	size_t k;

	(void)state;
	alloc_signal(&x, 4000);
	for (k = 0; k < x.n; k++)
		x.s[k] = (k / 20) % 2 ? -32768 : 32767;
	convert(&y, 8000, 16000, &x, NULL, 0);
	assert_int_equal(y.n, 2 * x.n);
	for (k = margin(16000); k < y.n - margin(16000); k++) {
		/* The middle of each half period, well clear of an edge. */
		if (k % 80 < 10 || k % 80 > 30)
			continue;
		if (y.s[k] < 30000)
			fail_msg("sample %zu is %d", k, y.s[k]);
		if (y.s[k + 40] > -30000)
			fail_msg("sample %zu is %d", k + 40, y.s[k + 40]);
	}
	release(&x);
	release(&y);
}

static void
rates_out_of_range(void **state)
{
	static const int bad[][2] = {
		{ 999, 8000 }, { 8000, 999 }, { 0, 8000 }, { 8000, 0 },
		{ -8000, 8000 }, { 8000, -16000 }, { 384001, 8000 },
		{ 8000, 384001 }, { 2147483647, 8000 },
	};
	struct resampler *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(resampler_new(bad[i][0], bad[i][1]));
	r = resampler_new(1000, 384000);
	assert_non_null(r);
	resampler_free(r);
	r = resampler_new(384000, 1000);
	assert_non_null(r);
	resampler_free(r);
	resampler_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tone_8000_to_16000),
		cmocka_unit_test(tone_44100_to_8000),
		cmocka_unit_test(tone_other_rates),
		cmocka_unit_test(stopband),
		cmocka_unit_test(constant_stays_constant),
		cmocka_unit_test(lengths_add_up),
		cmocka_unit_test(chunks_match_one_call),
		cmocka_unit_test(reusable_after_flush),
		cmocka_unit_test(same_rate_copies),
		cmocka_unit_test(clips_without_wrapping),
		cmocka_unit_test(rates_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
