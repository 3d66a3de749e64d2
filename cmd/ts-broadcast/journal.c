/*
 * The journal: every event, with its id, one line each, appended as it
 * comes.  At start it is read back through the same path as live input,
 * which rebuilds the history and the next id.  Durability policy: each
 * line is written (write(2)) before the event goes to any browser, and
 * fdatasync(2) follows at most --fsync-interval later, at once after a
 * call.stop, and at exit.  A crash of the program loses nothing written;
 * a crash of the machine loses at most the last interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broadcast.h"
#include "cli.h"
#include "clock.h"
#include "log.h"

unsigned long long journal_fsyncs, journal_errors, journal_lines;

static int jfd = -1;
static const char *jpath;
static int dirty;
static off_t jsize;		/* bytes of whole lines in the file */
static int64_t last_error_ms = -100000;
static char *line;
static size_t linecap;

static void jerror(const char *what)
{
	int64_t now = mono_ms();

	journal_errors++;
	/* a full disk fails every write: say so every 10 s, not each */
	if (now - last_error_ms >= 10000) {
		log_error("cannot %s journal '%s': %s", what, jpath,
			  strerror(errno));
		last_error_ms = now;
	}
}

static void sync_now(void)
{
	if (jfd < 0 || !dirty)
		return;
	if (fdatasync(jfd) != 0)
		jerror("sync");
	else
		journal_fsyncs++;
	dirty = 0;
}

/* Feed the lines of buf to the history; returns bytes of whole lines. */
static size_t replay(const char *buf, size_t len, unsigned long long *lineno)
{
	const char *p = buf, *end = buf + len, *nl;
	char why[160];
	struct msg *m;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		++*lineno;
		switch (ingest_line(p, (size_t)(nl - p), 1, &m, why,
				    sizeof why)) {
		case IN_OK:
			journal_lines++;
			msg_unref(m);
			break;
		case IN_MALFORMED:
			log_warn("journal '%s', line %llu: %s: skipped",
				 jpath, *lineno, why);
			break;
		case IN_EMPTY:
			break;
		}
		p = nl + 1;
	}
	return (size_t)(p - buf);
}

int journal_open(const char *path, int fsync_ms)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, used;
	unsigned long long lineno = 0;
	off_t whole = 0;
	ssize_t n;

	(void)fsync_ms;
	jpath = path;
	jfd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (jfd < 0) {
		log_error("cannot open journal '%s': %s", path,
			  strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 65536) {
			char *p;

			cap = cap ? cap * 2 : 1 << 20;
			if (!(p = realloc(buf, cap))) {
				free(buf);
				log_error("out of memory reading journal "
					  "'%s'", path);
				return -1;
			}
			buf = p;
		}
		n = read(jfd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("cannot read journal '%s': %s", path,
				  strerror(errno));
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		used = replay(buf, len, &lineno);
		memmove(buf, buf + used, len - used);
		len -= used;
		whole += (off_t)used;
	}
	free(buf);
	if (len) {
		/* A line without its newline: the write that a crash cut.
		 * Cut it off, or the next line would be glued to it. */
		log_warn("journal '%s': ignoring a torn last line (%zu bytes)",
			 path, len);
		if (ftruncate(jfd, whole) != 0) {
			log_error("cannot truncate journal '%s': %s", path,
				  strerror(errno));
			return -1;
		}
	}
	jsize = whole;
	log_info("journal '%s': %llu events replayed, next id %llu", path,
		 journal_lines, (unsigned long long)hist.next_id);
	return 0;
}

void journal_append(const struct msg *m, int sync)
{
	if (jfd < 0)
		return;
	if (m->len + 1 > linecap) {
		char *p = realloc(line, m->len + 1);

		if (!p) {
			errno = ENOMEM;
			jerror("write");
			return;
		}
		line = p;
		linecap = m->len + 1;
	}
	memcpy(line, MSG_TEXT(m), m->len);
	line[m->len] = '\n';
	/* one write per line: lines of a crash are whole or torn at the end */
	if (write_all(jfd, line, m->len + 1) != 0) {
		jerror("write");
		/* a line half written would swallow the next one */
		if (ftruncate(jfd, jsize) != 0)
			jerror("truncate");
		return;
	}
	jsize += (off_t)m->len + 1;
	dirty = 1;
	if (sync)
		sync_now();
}

void journal_tick(void)
{
	sync_now();
}

void journal_close(void)
{
	if (jfd < 0)
		return;
	sync_now();
	close(jfd);
	jfd = -1;
	free(line);
	line = NULL;
	linecap = 0;
}
