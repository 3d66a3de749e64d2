/*
 * Input: events NDJSON from stdin and from any number of producers on
 * the --feed Unix socket.  Each is adopted into the lws loop as a raw
 * descriptor and framed into lines on its own, so lines of different
 * producers never mix.  A line is handed on whole; a malformed one is
 * counted, logged and skipped, never the end of the input.

 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broadcast.h"
#include "log.h"

int stdin_eof;
long feeds_open;

/* One input descriptor; owned by its lws wsi (opaque user data). */
struct source {
	int listener;		/* the --feed socket itself */
	char name[32];		/* for messages: "stdin", "feed 3" */
	char *buf;
	size_t len, cap;
	int skipping;		/* discarding an over-long line */
	unsigned long long lineno;
};

static char *feed_path;
static int feed_fd = -1;
static unsigned long long feed_count;
static struct lws_vhost *vhost;

static void handle_line(struct source *s, const char *line, size_t len)
{
	char why[160];
	struct msg *m;

	s->lineno++;
	switch (ingest_line(line, len, 0, &m, why, sizeof why)) {
	case IN_OK:
		stats.events++;
		if (!m->call_sid[0])
			stats.events_nocall++;
		journal_append(m, m->is_stop);
		fanout(m);
		msg_unref(m);
		break;
	case IN_MALFORMED:
		stats.malformed++;
		log_warn("%s, line %llu: %s: skipped", s->name, s->lineno,
			 why);
		break;
	case IN_EMPTY:
		break;
	}
}

/* Split what arrived into lines; keep the unfinished tail. */
static void take(struct source *s, const char *p, size_t n)
{
	const char *end = p + n, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (s->skipping) {
			if (!nl)
				return;
			s->skipping = 0;
			p = nl + 1;
			continue;
		}
		if (nl && s->len == 0 &&	/* whole line in place */
		    (size_t)(nl - p) <= opt.max_line) {
			handle_line(s, p, (size_t)(nl - p));
			p = nl + 1;
			continue;
		}
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (s->len + n > opt.max_line) {
			s->lineno++;
			stats.malformed++;
			stats.lines_too_long++;
			log_warn("%s, line %llu: longer than --max-line: "
				 "skipped", s->name, s->lineno);
			s->len = 0;
			s->skipping = !nl;
			p = nl ? nl + 1 : end;
			continue;
		}
		if (s->len + n > s->cap) {
			size_t cap = s->cap ? s->cap : 4096;
			char *b;

			while (cap < s->len + n)
				cap *= 2;
			if (!(b = realloc(s->buf, cap))) {
				log_error("%s: out of memory, line dropped",
					  s->name);
				stats.malformed++;
				s->len = 0;
				s->skipping = !nl;
				p = nl ? nl + 1 : end;
				continue;
			}
			s->buf = b;
			s->cap = cap;
		}
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		if (!nl)
			return;
		handle_line(s, s->buf, s->len);
		s->len = 0;
		p = nl + 1;
	}
}

static void source_end(struct source *s)
{
	/* a last line without its newline still counts */
	if (s->len && !s->skipping)
		handle_line(s, s->buf, s->len);
	s->len = 0;
}

static struct lws *adopt(int fd, struct source *s)
{
	lws_adopt_desc_t d;
	struct lws *wsi;

	memset(&d, 0, sizeof d);
	d.vh = vhost;
	d.type = LWS_ADOPT_RAW_FILE_DESC;
	d.fd.filefd = fd;
	d.vh_prot_name = "tapline-input";
	d.opaque = s;
	if (!(wsi = lws_adopt_descriptor_vhost_via_info(&d)))
		free(s);
	return wsi;
}

int input_stdin(struct lws_vhost *vh)
{
	struct source *s = calloc(1, sizeof *s);

	vhost = vh;
	if (!s)
		return -1;
	snprintf(s->name, sizeof s->name, "stdin");
	if (fcntl(0, F_GETFD) < 0) {	/* closed: nothing to read */
		free(s);
		stdin_eof = 1;
		return 0;
	}
	if (!adopt(0, s)) {
		log_error("cannot read standard input");
		return -1;
	}
	return 0;
}

/*
 * Listen on PATH, mode 0600: producers run as the same user.  A socket
 * file left by a server that died is replaced; one that answers is a
 * server still running, and that is an error.
 */
int input_feed_listen(struct lws_vhost *vh, const char *path)
{
	struct sockaddr_un sa;
	struct source *s;
	struct stat st;
	mode_t old;
	int fd, probe;

	vhost = vh;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("cannot listen on '%s': path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("cannot listen on '%s': exists and is not "
				  "a socket", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa,
					  sizeof sa) == 0) {
			close(probe);
			log_error("cannot listen on '%s': another server is "
				  "using it", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("cannot listen on '%s': %s", path, strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(fd, 64) != 0) {
		umask(old);
		log_error("cannot listen on '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (!(feed_path = strdup(path)) || !(s = calloc(1, sizeof *s))) {
		close(fd);
		return -1;
	}
	s->listener = 1;
	snprintf(s->name, sizeof s->name, "feed");
	if (!adopt(fd, s)) {
		log_error("cannot listen on '%s': lws adoption failed", path);
		return -1;
	}
	feed_fd = fd;
	return 0;
}

void input_close(void)
{
	if (feed_path) {
		unlink(feed_path);
		free(feed_path);
		feed_path = NULL;
	}
}

static void accept_feeds(int lfd)
{
	struct source *s;
	int fd, n;

	for (n = 0; n < 64; n++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				log_warn("feed: cannot accept: %s",
					 strerror(errno));
			return;
		}
		if (!(s = calloc(1, sizeof *s))) {
			close(fd);
			continue;
		}
		snprintf(s->name, sizeof s->name, "feed %llu", ++feed_count);
		if (!adopt(fd, s)) {
			log_warn("feed: cannot adopt a connection");
			continue;
		}
		feeds_open++;
		log_info("%s: producer connected", s->name);
	}
}

int input_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	struct source *s = lws_get_opaque_user_data(wsi);
	char buf[65536];
	ssize_t n;
	int fd;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!s)
			break;
		fd = lws_get_socket_fd(wsi);
		if (s->listener) {
			accept_feeds(fd);
			break;
		}
		n = read(fd, buf, sizeof buf);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0)
			return -1;	/* end of input: RAW_CLOSE_FILE */
		take(s, buf, (size_t)n);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (!s)
			break;
		lws_set_opaque_user_data(wsi, NULL);
		if (s->listener) {
			feed_fd = -1;
		} else {
			/* a pipe's last bytes may still be waiting */
			fd = lws_get_socket_fd(wsi);
			while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
				take(s, buf, (size_t)n);
			source_end(s);
			if (strcmp(s->name, "stdin") == 0) {
				stdin_eof = 1;
				log_info("end of standard input%s",
					 opt.exit_on_eof ? ": exiting" :
					 ", still serving");
				if (opt.exit_on_eof)
					shutdown_begin();
			} else {
				feeds_open--;
				log_info("%s: producer gone", s->name);
			}
		}
		free(s->buf);
		free(s);
		break;
	default:
		break;
	}
	return 0;
}
