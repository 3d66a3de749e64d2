/* Clocks and time formats. */
#ifndef TAPLINE_CLOCK_H
#define TAPLINE_CLOCK_H

#include <stdint.h>

#define RFC3339_LEN 24	/* 2026-01-02T03:04:05.678Z, without NUL */

/* Monotonic time in microseconds / milliseconds. */
int64_t mono_us(void);
int64_t mono_ms(void);
/* Wall-clock now in RFC 3339 UTC with milliseconds. */
void rfc3339_now(char out[RFC3339_LEN + 1]);
void rfc3339_from_us(int64_t unix_us, char out[RFC3339_LEN + 1]);

#endif
