/*
 * floor: the least a WebSocket receiver can do.  It completes the
 * upgrade, then reads and discards frames, waking for every readable
 * socket (epoll, level-triggered) and counting whole messages.  No JSON,
 * no output.  bench/media runs it under the same load as the media leg
 * to show the cost no receiver that wakes once per message can beat.
 *
 * usage: floor PORT    On SIGTERM prints {"messages":N,"cpu_us":N}.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define BUFSZ 65536

struct peer {
	int fd, upgraded;
	size_t len;		/* bytes held in buf */
	uint64_t skip;		/* payload bytes of the current frame left */
	int in_frame;
	char buf[4096];
};

static volatile sig_atomic_t done;
static unsigned long long messages;

static void on_term(int sig)
{
	(void)sig;
	done = 1;
}

static int upgrade(struct peer *p)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char *key, *end, cat[128], resp[256];
	unsigned char md[SHA_DIGEST_LENGTH];
	unsigned char acc[64];
	int n;

	p->buf[p->len] = '\0';
	if (!strstr(p->buf, "\r\n\r\n"))
		return p->len < sizeof p->buf - 1 ? 0 : -1;
	key = strcasestr(p->buf, "Sec-WebSocket-Key:");
	if (!key)
		return -1;
	key += 18;
	while (*key == ' ')
		key++;
	end = strstr(key, "\r\n");
	if (!end || end - key > 60)
		return -1;
	n = snprintf(cat, sizeof cat, "%.*s%s", (int)(end - key), key, guid);
	SHA1((unsigned char *)cat, (size_t)n, md);
	EVP_EncodeBlock(acc, md, SHA_DIGEST_LENGTH);
	n = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	if (write(p->fd, resp, (size_t)n) != n)
		return -1;
	p->upgraded = 1;
	p->len = 0;
	return 0;
}

/* Walk frame headers in data, skipping payloads; count final frames. */
static void frames(struct peer *p, const unsigned char *d, size_t n)
{
	while (n > 0) {
		if (p->in_frame) {
			size_t k = p->skip < n ? (size_t)p->skip : n;

			p->skip -= k;
			d += k;
			n -= k;
			if (p->skip == 0)
				p->in_frame = 0;
			continue;
		}
		/* gather a whole header (at most 14 bytes) */
		while (p->len < 2 && n > 0)
			p->buf[p->len++] = (char)*d++, n--;
		if (p->len < 2)
			return;
		{
			unsigned char b1 = (unsigned char)p->buf[1];
			size_t need = 2 + ((b1 & 0x7F) == 126 ? 2 :
				      (b1 & 0x7F) == 127 ? 8 : 0) +
				      (b1 & 0x80 ? 4 : 0);
			uint64_t len = b1 & 0x7F;
			size_t i;

			while (p->len < need && n > 0)
				p->buf[p->len++] = (char)*d++, n--;
			if (p->len < need)
				return;
			if (len == 126)
				len = (uint64_t)(unsigned char)p->buf[2] << 8 |
				      (unsigned char)p->buf[3];
			else if (len == 127)
				for (len = 0, i = 2; i < 10; i++)
					len = len << 8 |
					      (unsigned char)p->buf[i];
			if (p->buf[0] & 0x80 && (p->buf[0] & 0x0F) != 0x08 &&
			    (p->buf[0] & 0x0F) < 0x08)
				messages++;
			p->len = 0;
			p->skip = len;
			p->in_frame = len > 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	struct epoll_event ev, evs[256];
	static unsigned char buf[BUFSZ];
	struct rusage ru;
	int lfd, ep, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: floor PORT\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)strtol(argv[1], NULL, 10));
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1024)) {
		perror("floor: cannot listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!done) {
		int i, n = epoll_wait(ep, evs, 256, 200);

		for (i = 0; i < n; i++) {
			struct peer *p = evs[i].data.ptr;
			ssize_t r;

			if (!p) {
				int fd = accept(lfd, NULL, NULL);

				if (fd < 0)
					continue;
				p = calloc(1, sizeof *p);
				p->fd = fd;
				ev.events = EPOLLIN;
				ev.data.ptr = p;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				continue;
			}
			if (!p->upgraded) {
				r = read(p->fd, p->buf + p->len,
					 sizeof p->buf - 1 - p->len);
				if (r > 0) {
					p->len += (size_t)r;
					if (upgrade(p) == 0)
						continue;
				}
			} else if ((r = read(p->fd, buf, sizeof buf)) > 0) {
				frames(p, buf, (size_t)r);
				continue;
			} else if (r < 0 && errno == EAGAIN) {
				continue;
			}
			close(p->fd);
			free(p);
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"messages\":%llu,\"cpu_us\":%lld}\n", messages,
	       (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	return 0;
}
