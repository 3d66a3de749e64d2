#include <time.h>

#include "clock.h"

int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_ms(void)
{
	return mono_us() / 1000;
}

void rfc3339_from_us(int64_t unix_us, char out[RFC3339_LEN + 1])
{
	time_t t = (time_t)(unix_us / 1000000);
	unsigned ms = (unsigned)(unix_us / 1000 % 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, RFC3339_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

void rfc3339_now(char out[RFC3339_LEN + 1])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rfc3339_from_us((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, out);
}
