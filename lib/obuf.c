/*
 * Output queue: a list of chunks, filled at the tail and written from the
 * head with writev.  Chunks start small and grow, so thousands of idle
 * queues (one per track) cost little, while a busy one moves 64 KiB per
 * chunk.  Drained chunks are freed, keeping one spare.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "obuf.h"

#define MIN_CHUNK 2048
#define MAX_CHUNK 65536
#define MAX_IOV 64

struct obuf_chunk {
	struct obuf_chunk *next;
	size_t size, head, tail;	/* data is buf[head, tail) */
	char buf[];
};

void obuf_init(struct obuf *ob, int fd, size_t limit)
{
	memset(ob, 0, sizeof *ob);
	ob->fd = fd;
	ob->limit = limit;
}

static void free_chunks(struct obuf_chunk *c)
{
	while (c) {
		struct obuf_chunk *next = c->next;

		free(c);
		c = next;
	}
}

void obuf_free(struct obuf *ob)
{
	free_chunks(ob->head);
	free(ob->spare);
	ob->head = ob->tail = ob->spare = NULL;
	ob->len = 0;
}

size_t obuf_room(const struct obuf *ob)
{
	if (!ob->limit)
		return SIZE_MAX;
	return ob->len >= ob->limit ? 0 : ob->limit - ob->len;
}

static struct obuf_chunk *new_chunk(struct obuf *ob, size_t need)
{
	struct obuf_chunk *c;
	size_t size = ob->tail ? ob->tail->size * 2 : MIN_CHUNK;

	if (size > MAX_CHUNK)
		size = MAX_CHUNK;
	if (size < need)
		size = need;
	if (ob->spare && ob->spare->size >= size) {
		c = ob->spare;
		ob->spare = NULL;
	} else if (!(c = malloc(sizeof *c + size))) {
		return NULL;
	} else {
		c->size = size;
	}
	c->next = NULL;
	c->head = c->tail = 0;
	return c;
}

static void copy_in(struct obuf_chunk **cp, const char *s, size_t n)
{
	while (n > 0) {
		struct obuf_chunk *c = *cp;
		size_t k = c->size - c->tail;

		if (k == 0) {
			*cp = c = c->next;
			continue;
		}
		if (k > n)
			k = n;
		memcpy(c->buf + c->tail, s, k);
		c->tail += k;
		s += k;
		n -= k;
	}
}

/*
 * Append a then b, all or nothing: the one chunk that may be needed is
 * allocated before anything is copied.
 */
static int append2(struct obuf *ob, const void *a, size_t na,
		   const void *b, size_t nb)
{
	struct obuf_chunk *c = ob->tail;
	size_t room = c ? c->size - c->tail : 0, n = na + nb;

	if (n > room) {
		struct obuf_chunk *nc = new_chunk(ob, n - room);

		if (!nc)
			return -1;
		if (c)
			c->next = nc;
		else
			ob->head = c = nc;
		ob->tail = nc;
	}
	copy_in(&c, a, na);
	copy_in(&c, b, nb);
	ob->len += n;
	if (ob->len > ob->peak)
		ob->peak = ob->len;
	return 0;
}

static int refuse(struct obuf *ob, size_t n)
{
	ob->dropped_msgs++;
	ob->dropped_bytes += n;
	return -1;
}

int obuf_put(struct obuf *ob, const void *p, size_t n)
{
	if (n > obuf_room(ob) || append2(ob, p, n, NULL, 0))
		return refuse(ob, n);
	return 0;
}

int obuf_putline(struct obuf *ob, const void *p, size_t n)
{
	if (n + 1 > obuf_room(ob) || append2(ob, p, n, "\n", 1))
		return refuse(ob, n + 1);
	return 0;
}

static void consume(struct obuf *ob, size_t n)
{
	ob->written += n;
	ob->len -= n;
	while (n > 0) {
		struct obuf_chunk *c = ob->head;
		size_t k = c->tail - c->head;

		if (k > n) {
			c->head += n;
			return;
		}
		n -= k;
		ob->head = c->next;
		if (!ob->head)
			ob->tail = NULL;
		if (!ob->spare || ob->spare->size < c->size) {
			free(ob->spare);
			ob->spare = c;
		} else {
			free(c);
		}
	}
}

int obuf_flush(struct obuf *ob)
{
	while (ob->len > 0) {
		struct iovec iov[MAX_IOV];
		struct obuf_chunk *c;
		int n = 0;
		ssize_t w;

		for (c = ob->head; c && n < MAX_IOV; c = c->next) {
			iov[n].iov_base = c->buf + c->head;
			iov[n].iov_len = c->tail - c->head;
			n++;
		}
		w = writev(ob->fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			ob->error = errno;
			free_chunks(ob->head);
			ob->head = ob->tail = NULL;
			ob->len = 0;
			return -1;
		}
		consume(ob, (size_t)w);
	}
	return 0;
}

int obuf_write(struct obuf *ob, const void *p, size_t n)
{
	const char *s = p;

	/* Whole or not at all: refuse before any byte leaves, since what
	 * the descriptor does not take must then fit in the queue. */
	if (ob->error || n > obuf_room(ob))
		return refuse(ob, n);
	if (ob->len == 0) {
		ssize_t w;

		do
			w = write(ob->fd, s, n);
		while (w < 0 && errno == EINTR);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				ob->error = errno;
				return refuse(ob, n);
			}
			w = 0;
		}
		ob->written += (size_t)w;
		s += w;
		n -= (size_t)w;
		if (n == 0)
			return 0;
	}
	return obuf_put(ob, s, n);
}

int obuf_drain(struct obuf *ob, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = { ob->fd, POLLOUT, 0 };
		int r = obuf_flush(ob), wait;

		if (r <= 0)
			return r;
		wait = -1;
		if (timeout_ms >= 0) {
			int64_t left = deadline - mono_ms();

			if (left <= 0)
				return 1;
			wait = (int)left;
		}
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR) {
			ob->error = errno;
			return -1;
		}
	}
}
