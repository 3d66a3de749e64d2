/*
 * --exec: one child per (stream, track), run as /bin/sh -c CMD (or, when
 * CMD is plain words, as those words directly) with the track's audio on
 * its stdin (a sink, so a slow child only ever fills its
 * own bounded queue) and its stdout on a pipe we read.  Its lines are
 * copied onto our stdout whole, each in one piece, so the lines of many
 * children never mix.
 *
 * After its track ends: its queue is written (bounded by --stop-timeout),
 * its stdin closed, its exit awaited (--stop-timeout, then SIGTERM, then
 * SIGKILL 5 s later), and its stdout read to the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "split.h"

#define MAX_CHILD_LINE	(1024 * 1024)
#define KILL_AFTER_MS	5000

extern char **environ;

static char **base_env;		/* ours, without TAPLINE_* of a track */
static size_t nbase;
static char **plain_argv;	/* CMD as words, when no shell is needed */

/*
 * A command of plain words (a program and its arguments, nothing the
 * shell would expand, redirect, or assign) runs without the shell: the
 * shell's own start doubles the cost of a spawn, and calls often start
 * together (400 tracks at once: ~330 ms of spawning through sh, ~170 ms
 * without).  Anything else goes to sh -c as before.
 */
static char **split_plain(const char *cmd)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"abcdefghijklmnopqrstuvwxyz0123456789_-./:,+%@=";
	char **argv, *copy, *w;
	size_t n = 0, i;

	for (i = 0; cmd[i]; i++)
		if (cmd[i] != ' ' && cmd[i] != '\t' && !strchr(plain, cmd[i]))
			return NULL;
	if (!(copy = strdup(cmd)) ||
	    !(argv = calloc(strlen(cmd) / 2 + 2, sizeof *argv)))
		die(1, "out of memory");
	for (w = strtok(copy, " \t"); w; w = strtok(NULL, " \t"))
		argv[n++] = w;
	/* VAR=value cmd is an assignment, and an empty command is sh's */
	if (n == 0 || strchr(argv[0], '=')) {
		free(copy);
		free(argv);
		return NULL;
	}
	return argv;
}

void child_env_init(void)
{
	static const char *const ours[] = {
		"TAPLINE_CALL_SID=", "TAPLINE_STREAM_SID=", "TAPLINE_TRACK=",
		"TAPLINE_ACCOUNT_SID=", "TAPLINE_PARAM_",
	};
	size_t n = 0, i, j;

	if (!opt.exec)
		return;
	plain_argv = split_plain(opt.exec);
	while (environ[n])
		n++;
	if (!(base_env = malloc((n + 1) * sizeof *base_env)))
		die(1, "out of memory");
	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof ours / sizeof *ours; j++)
			if (strncmp(environ[i], ours[j], strlen(ours[j])) == 0)
				break;
		if (j == sizeof ours / sizeof *ours)
			base_env[nbase++] = environ[i];
	}
	base_env[nbase] = NULL;
}

static char *env_var(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);

	if (!s)
		die(1, "out of memory");
	snprintf(s, n, "%s=%s", name, value);
	return s;
}

/* TAPLINE_PARAM_<name>, with <name> made of [A-Za-z0-9_] only. */
static char *param_var(const char *key, json_t *v)
{
	static const char prefix[] = "TAPLINE_PARAM_";
	char *name, *dumped = NULL, *s;
	const char *value;
	size_t i, n = strlen(key);

	if (n == 0 || n > 256)
		return NULL;
	if (!(name = malloc(sizeof prefix + n)))
		die(1, "out of memory");
	memcpy(name, prefix, sizeof prefix - 1);
	for (i = 0; i < n; i++) {
		char c = key[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '_';

		name[sizeof prefix - 1 + i] = ok ? c : '_';
	}
	name[sizeof prefix - 1 + n] = '\0';
	if (!(value = json_string_value(v)))
		value = dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	s = value ? env_var(name, value) : NULL;
	free(dumped);
	free(name);
	return s;
}

/* Whether envp[0..n) has a variable named like s (up to its '='). */
static int env_has(char **envp, size_t n, const char *s)
{
	size_t k = (size_t)(strchr(s, '=') - s) + 1, i;

	for (i = 0; i < n; i++)
		if (strncmp(envp[i], s, k) == 0)
			return 1;
	return 0;
}

/* The child's environment: ours, then who it is.  *nown are ours to free
 * (they follow the nbase inherited entries). */
static char **child_env(const struct stream *st, int track, size_t *nown)
{
	size_t max = nbase + 5 + json_object_size(st->params), n = nbase;
	char **envp = malloc(max * sizeof *envp), *s;
	const char *key;
	json_t *v;

	if (!envp)
		die(1, "out of memory");
	memcpy(envp, base_env, nbase * sizeof *envp);
	envp[n++] = env_var("TAPLINE_CALL_SID", st->call);
	envp[n++] = env_var("TAPLINE_STREAM_SID", st->sid);
	envp[n++] = env_var("TAPLINE_TRACK", track_name[track]);
	if (st->account[0])
		envp[n++] = env_var("TAPLINE_ACCOUNT_SID", st->account);
	json_object_foreach(st->params, key, v) {
		if (!(s = param_var(key, v)))
			continue;
		/* two names may sanitize alike: the first one wins */
		if (env_has(envp + nbase, n - nbase, s)) {
			free(s);
			continue;
		}
		envp[n++] = s;
	}
	envp[n] = NULL;
	*nown = n - nbase;
	return envp;
}

static void free_env(char **envp, size_t nown)
{
	size_t i;

	for (i = 0; i < nown; i++)
		free(envp[nbase + i]);
	free(envp);
}

struct child *child_spawn(struct stream *st, int track)
{
	char *argv[] = {"sh", "-c", (char *)opt.exec, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int in[2], out[2], r;
	struct child *c;
	sigset_t set;
	char **envp;
	size_t nown;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	/* SIGPIPE is ignored here, and an ignored signal stays ignored
	 * across exec: give the child the defaults. */
	posix_spawnattr_init(&attr);
	sigfillset(&set);
	posix_spawnattr_setsigdefault(&attr, &set);
	sigemptyset(&set);
	posix_spawnattr_setsigmask(&attr, &set);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
					POSIX_SPAWN_SETSIGMASK);
	envp = child_env(st, track, &nown);
	/*
	 * A program not found (or a shell builtin such as exec) falls back
	 * to the shell, which reports it as it always did: exit status 127.
	 */
	r = plain_argv ? posix_spawnp(&pid, plain_argv[0], &fa, &attr,
				      plain_argv, envp) : ENOENT;
	if (r == ENOENT || r == EACCES)
		r = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
	free_env(envp, nown);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	if (r != 0) {
		close(in[1]);
		close(out[0]);
		errno = r;
		goto fail;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	if (!(c = calloc(1, sizeof *c)))
		die(1, "out of memory");
	c->st = st;
	c->track = track;
	c->pid = pid;
	c->out_fd = out[0];
	c->state = CH_RUNNING;
	sink_init_pipe(&c->in, in[1], st, track);
	c->in.child = c;
	c->next = g.children;
	if (g.children)
		g.children->prev = c;
	g.children = c;
	g.nchildren++;
	loop_watch_child(c);
	log_debug("stream '%s' track %s: started pid %ld", st->sid,
		  track_name[track], (long)pid);
	return c;
fail:
	log_error("cannot run '%s': %s", opt.exec, strerror(errno));
	error_event(st, track, "CHILD_EXIT", "cannot run '%.200s': %s",
		    opt.exec, strerror(errno));
	return NULL;
}

static void emit_line(struct child *c, const char *p, size_t n)
{
	if (n == 0)
		return;
	c->lines++;
	out_line(p, n);
}

static void long_line(struct child *c)
{
	c->long_lines++;
	log_warn("stream '%s' track %s: a line of more than %d bytes from "
		 "the child was dropped", c->st->sid, track_name[c->track],
		 MAX_CHILD_LINE);
	error_event(c->st, c->track, "LINE_TOO_LONG", "a line of more than "
		    "%d bytes from '%.200s' was dropped", MAX_CHILD_LINE,
		    opt.exec);
}

/* Append to the partial line; 0, or -1 when it grows too long. */
static int line_append(struct child *c, const char *p, size_t n)
{
	if (c->len + n > MAX_CHILD_LINE)
		return -1;
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 1024;
		char *nl;

		while (cap < c->len + n)
			cap *= 2;
		if (!(nl = realloc(c->line, cap)))
			die(1, "out of memory");
		c->line = nl;
		c->cap = cap;
	}
	memcpy(c->line + c->len, p, n);
	c->len += n;
	return 0;
}

static void split_lines(struct child *c, const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t k = (size_t)((nl ? nl : end) - p);

		if (c->skipping) {
			if (nl)
				c->skipping = 0;
		} else if (c->len == 0 && nl && k <= MAX_CHILD_LINE) {
			emit_line(c, p, k);	/* whole in what we read */
		} else if (line_append(c, p, k) < 0) {
			long_line(c);
			c->len = 0;
			c->skipping = !nl;
		} else if (nl) {
			emit_line(c, c->line, c->len);
			c->len = 0;
		}
		p += k + (nl ? 1 : 0);
	}
}

/* Read what the child wrote; one read a call, so that no child starves
 * the others and our stdout queue grows by a bounded amount. */
void child_read(struct child *c)
{
	char buf[65536];
	ssize_t r;

	r = read(c->out_fd, buf, sizeof buf);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		split_lines(c, buf, buf + r);
		return;
	}
	if (r < 0)
		log_error("cannot read from the child for stream '%s' track "
			  "%s: %s", c->st->sid, track_name[c->track],
			  strerror(errno));
	/* a last line without a newline is still a line */
	if (!c->skipping)
		emit_line(c, c->line, c->len);
	c->len = 0;
	loop_unwatch(&c->out_w);
	close(c->out_fd);
	c->out_fd = -1;
}

static void input_closed_event(struct child *c)
{
	log_warn("stream '%s' track %s: the child closed its standard input "
		 "early", c->st->sid, track_name[c->track]);
	error_event(c->st, c->track, "CHILD_EXIT", "'%.200s' closed its "
		    "standard input before the end of the audio", opt.exec);
}

/*
 * Writing to the child failed.  EPIPE means it closed its stdin, most often
 * because it is exiting: a child that exits 3 would otherwise be reported
 * twice, once for the pipe and once for the status, depending on which we
 * noticed first.  So EPIPE is only noted here and reported when the child
 * is reaped: as its exit status if that is a failure, as "closed its
 * standard input" if it exited 0.
 */
void child_input_failed(struct child *c, int err)
{
	if (c->input_err)
		return;
	c->input_err = err;
	if (err == EPIPE && !c->reaped)
		return;
	if (err == EPIPE) {
		if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
			input_closed_event(c);
		return;
	}
	log_warn("stream '%s' track %s: cannot write to the child: %s",
		 c->st->sid, track_name[c->track], strerror(err));
	error_event(c->st, c->track, "CHILD_EXIT", "cannot write to "
		    "'%.200s': %s", opt.exec, strerror(err));
}

static void reaped(struct child *c, int status)
{
	char what[64];

	c->reaped = 1;
	c->status = status;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (c->input_err == EPIPE) {
			input_closed_event(c);
			return;
		}
		if (c->state != CH_RUNNING || c->input_err) {
			log_debug("stream '%s' track %s: child exited after "
				  "%llu lines (%llu too long)", c->st->sid,
				  track_name[c->track],
				  (unsigned long long)c->lines,
				  (unsigned long long)c->long_lines);
			return;
		}
		snprintf(what, sizeof what, "exited with status 0 before "
			 "its track ended");
	} else if (WIFEXITED(status)) {
		snprintf(what, sizeof what, "exited with status %d",
			 WEXITSTATUS(status));
	} else {
		snprintf(what, sizeof what, "was killed by signal %d",
			 WTERMSIG(status));
	}
	log_warn("stream '%s' track %s: '%s' %s", c->st->sid,
		 track_name[c->track], opt.exec, what);
	error_event(c->st, c->track, "CHILD_EXIT", "'%.200s' %s", opt.exec,
		    what);
	/* nobody reads its stdin any more: what comes is dropped */
	sink_abandon(&c->in);
}

void children_reap(void)
{
	struct child *c;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (c = g.children; c && c->pid != pid; c = c->next)
			;
		if (c)
			reaped(c, status);
	}
}

void child_end(struct child *c)
{
	c->state = CH_DRAINING;
	sink_end(&c->in);
}

/* Advance an ending child; 1 while it is not done. */
int child_service(struct child *c)
{
	switch (c->state) {
	case CH_RUNNING:
		return 1;
	case CH_DRAINING:
		if (sink_service(&c->in))
			return 1;
		c->state = CH_WAITING;
		c->deadline = g.now + opt.stop_timeout;
		/* FALLTHROUGH */
	case CH_WAITING:
		if (c->reaped)
			break;
		if (g.hurry || g.now >= c->deadline) {
			log_warn("stream '%s' track %s: the child did not "
				 "exit within %g s of its input's end: "
				 "sending SIGTERM", c->st->sid,
				 track_name[c->track],
				 (double)opt.stop_timeout / 1000);
			kill(c->pid, SIGTERM);
			c->state = CH_TERM;
			c->deadline = g.now + KILL_AFTER_MS;
		}
		return 1;
	case CH_TERM:
		if (c->reaped)
			break;
		if (g.now >= c->deadline) {
			log_warn("stream '%s' track %s: the child ignored "
				 "SIGTERM: sending SIGKILL", c->st->sid,
				 track_name[c->track]);
			kill(c->pid, SIGKILL);
			c->state = CH_KILL;
		}
		return 1;
	case CH_KILL:
		if (c->reaped)
			break;
		return 1;
	}
	/* exited: read its stdout to the end, unless something it left
	 * behind holds it open past the deadline */
	if (c->out_fd < 0)
		return 0;
	if (!c->out_deadline)
		c->out_deadline = g.now + opt.stop_timeout;
	if (g.now < c->out_deadline && !g.hurry)
		return 1;
	log_warn("stream '%s' track %s: the child's output is still open "
		 "after it exited: closed", c->st->sid, track_name[c->track]);
	loop_unwatch(&c->out_w);
	close(c->out_fd);
	c->out_fd = -1;
	return 0;
}

void child_free(struct child *c)
{
	if (!c->reaped) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		g.children = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g.nchildren--;
	sink_free(&c->in);
	loop_unwatch(&c->out_w);
	if (c->out_fd >= 0)
		close(c->out_fd);
	free(c->line);
	free(c);
}
