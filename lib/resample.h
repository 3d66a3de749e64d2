/*
 * Sample-rate conversion of mono 16-bit audio by windowed-sinc
 * interpolation, streaming: feed any number of samples at a time.
 */
#ifndef TAPLINE_RESAMPLE_H
#define TAPLINE_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct resampler;

/* NULL if a rate is out of [1000, 384000] or out of memory. */
struct resampler *resampler_new(int in_rate, int out_rate);
void resampler_free(struct resampler *);

/* Output samples that n input samples can yield at most (for sizing out). */
size_t resampler_max_out(const struct resampler *, size_t n);
/*
 * Consume n input samples and write the output now available; returns the
 * number of samples written.  With in NULL and n 0, flush the tail
 * (end of stream).
 */
size_t resampler_run(struct resampler *, const int16_t *in, size_t n,
		     int16_t *out);

#endif
