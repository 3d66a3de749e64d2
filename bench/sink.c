/*
 * sink: a throwaway consumer of one track's audio for bench/media, run
 * by mulaw-split --exec.  The audio comes from tw-simcall --stamp, whose
 * every chunk begins with its send time (CLOCK_MONOTONIC, microseconds,
 * little-endian), so the delay from send to here is measured per chunk.
 * At EOF prints one JSON line: {"sink":1,"chunks":N,"lat_us":[...],
 * "warm_us":[...]}: a sample of the delays in microseconds in steady
 * state, and those of the first second (while calls are being set up).
 *
 * usage: sink [CHUNK_BYTES [INTERVAL_MS]]   (default 160, 0)
 *
 * With INTERVAL_MS, it reads at most once per interval, as gstt-stream
 * does (it sends 100 ms requests): a writer then finds nobody waiting on
 * the pipe and pays no wakeup.  The delays it reports then include the
 * time the audio waited in the pipe for the next read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 4096
#define WARM_CHUNKS 50	/* the first second of 20 ms chunks */

int main(int argc, char **argv)
{
	size_t chunk = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 160;
	long interval_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	struct timespec next;
	static unsigned char buf[65536];
	static long lat[MAX_SAMPLES], warm[WARM_CHUNKS];
	size_t have = 0, nlat = 0, nwarm = 0, i;
	unsigned long long chunks = 0;
	ssize_t r;

	if (chunk < 8 || chunk > sizeof buf || interval_ms < 0 ||
	    interval_ms > 10000)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		struct timespec ts;
		int64_t now;
		size_t off = 0;

		if (interval_ms > 0) {
			next.tv_nsec += interval_ms * 1000000;
			next.tv_sec += next.tv_nsec / 1000000000;
			next.tv_nsec %= 1000000000;
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
					NULL);
		}
		if ((r = read(0, buf + have, sizeof buf - have)) <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		have += (size_t)r;
		for (; have - off >= chunk; off += chunk) {
			uint64_t sent = 0;

			for (i = 0; i < 8; i++)
				sent |= (uint64_t)buf[off + i] << (8 * i);
			/* keep an even sample across the whole run */
			if (chunks < WARM_CHUNKS)
				warm[nwarm++] = (long)(now - (int64_t)sent);
			else if (nlat < MAX_SAMPLES)
				lat[nlat++] = (long)(now - (int64_t)sent);
			else if (chunks % 16 == 0)
				lat[(chunks / 16) % MAX_SAMPLES] =
					(long)(now - (int64_t)sent);
			chunks++;
		}
		for (i = off; i < have; i++)
			buf[i - off] = buf[i];
		have -= off;
	}
	printf("{\"sink\":1,\"chunks\":%llu,\"lat_us\":[", chunks);
	for (i = 0; i < nlat; i++)
		printf("%s%ld", i ? "," : "", lat[i]);
	printf("],\"warm_us\":[");
	for (i = 0; i < nwarm; i++)
		printf("%s%ld", i ? "," : "", warm[i]);
	printf("]}\n");
	return 0;
}
