/*
 * A bounded output queue in front of a non-blocking file descriptor.
 * Messages are queued whole or not at all: what does not fit under the
 * limit is refused and counted, never cut.
 */
#ifndef TAPLINE_OBUF_H
#define TAPLINE_OBUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct obuf_chunk;

struct obuf {
	int fd;
	size_t limit;		/* most bytes held; 0 = no limit */
	size_t len;		/* bytes held now */
	size_t peak;		/* most bytes ever held */
	uint64_t written;	/* bytes written to fd */
	uint64_t dropped_msgs, dropped_bytes;	/* refused by obuf_put */
	int error;		/* errno of a failed write, 0 if none */
	struct obuf_chunk *head, *tail;
	struct obuf_chunk *spare;	/* one cached empty chunk */
};

void obuf_init(struct obuf *, int fd, size_t limit);
/* Free everything held (unwritten data is discarded). */
void obuf_free(struct obuf *);

/* Queue n bytes.  0, or -1 (counted in dropped_*) if over the limit. */
int obuf_put(struct obuf *, const void *p, size_t n);
/*
 * Write n bytes now if nothing is queued, and queue what the descriptor
 * did not take (whole or not at all, as obuf_put).  For sinks that want
 * each message on its way at once; obuf_put + obuf_flush batches instead.
 * Returns 0, or -1 if refused or on a write error (see error).
 */
int obuf_write(struct obuf *, const void *p, size_t n);
/* Queue a line: p, then '\n'; whole or not at all. */
int obuf_putline(struct obuf *, const void *p, size_t n);
/* Room left under the limit (SIZE_MAX when there is no limit). */
size_t obuf_room(const struct obuf *);

/*
 * Write as much as the descriptor takes now.  Returns 1 if data remains
 * (wait for POLLOUT), 0 if empty, -1 on a write error (errno in error;
 * the queue is then discarded).
 */
int obuf_flush(struct obuf *);
/* Flush with blocking poll until empty, error, or timeout_ms (<0: none). */
int obuf_drain(struct obuf *, int timeout_ms);

#endif
