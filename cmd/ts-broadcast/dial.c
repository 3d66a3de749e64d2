/*
 * POST /api/calls: run --dial-cmd with the number as its only argument
 * (fork and execve, no shell), stdin /dev/null, and answer with what it
 * printed.  The child is watched from the event loop (dial_tick), never
 * waited for: its output is bounded (64 KiB each of stdout and stderr)
 * and so is its time (--dial-timeout, then SIGKILL).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broadcast.h"
#include "clock.h"
#include "log.h"

#define MAX_OUT (64 << 10)

extern char **environ;

struct out {
	int fd;
	char *buf;
	size_t len;
	int over;		/* printed more than MAX_OUT */
};

/* One child; owned by the jobs list until it is reaped. */
struct job {
	struct job *next;
	struct lws *wsi;	/* NULL once the request went away */
	pid_t pid;
	int status, exited, killed;
	int64_t deadline_ms;
	struct out out, err;
};

static struct job *jobs;
long dials_running;

static int spawn(struct job *j, const char *number)
{
	int op[2], ep[2], devnull;
	char *argv[3];

	if (pipe2(op, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(ep, O_CLOEXEC) != 0) {
		close(op[0]);
		close(op[1]);
		return -1;
	}
	argv[0] = (char *)opt.dial_cmd;
	argv[1] = (char *)number;
	argv[2] = NULL;
	j->pid = fork();
	if (j->pid == 0) {
		devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 ||
		    dup2(op[1], 1) < 0 || dup2(ep[1], 2) < 0)
			_exit(127);
		/* not the listening socket nor the clients: a dial command
		 * that outlives the server must not keep its port */
		close_range(3, ~0U, 0);
		signal(SIGPIPE, SIG_DFL);
		execve(opt.dial_cmd, argv, environ);
		dprintf(2, "cannot run '%s': %s\n", opt.dial_cmd,
			strerror(errno));
		_exit(127);
	}
	close(op[1]);
	close(ep[1]);
	if (j->pid < 0) {
		close(op[0]);
		close(ep[0]);
		return -1;
	}
	fcntl(op[0], F_SETFL, O_NONBLOCK);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	j->out.fd = op[0];
	j->err.fd = ep[0];
	return 0;
}

int dial_start(struct lws *wsi, const char *number)
{
	struct job *j = calloc(1, sizeof *j);

	if (!j)
		return -1;
	j->out.fd = j->err.fd = -1;
	if (spawn(j, number) != 0) {
		log_error("cannot start '%s': %s", opt.dial_cmd,
			  strerror(errno));
		free(j);
		return -1;
	}
	log_info("dial: started '%s' (pid %d)", opt.dial_cmd, (int)j->pid);
	j->wsi = wsi;
	j->deadline_ms = mono_ms() + opt.dial_timeout_ms;
	j->next = jobs;
	jobs = j;
	dials_running++;
	return 0;
}

void dial_forget(struct lws *wsi)
{
	struct job *j;

	for (j = jobs; j; j = j->next)
		if (j->wsi == wsi)
			j->wsi = NULL;
}

/* Read what is there; returns 1 at end of file. */
static int drain(struct out *o)
{
	char buf[4096];
	ssize_t n;

	while (o->fd >= 0) {
		n = read(o->fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			close(o->fd);
			o->fd = -1;
			break;
		}
		if (o->len + (size_t)n > MAX_OUT) {
			o->over = 1;
			continue;
		}
		if (!o->buf && !(o->buf = malloc(MAX_OUT + 1))) {
			o->over = 1;
			continue;
		}
		memcpy(o->buf + o->len, buf, (size_t)n);
		o->len += (size_t)n;
	}
	return 1;
}

/* The last line with something on it, for the error message. */
static char *last_line(struct out *o)
{
	char *p, *end;

	if (!o->buf)
		return NULL;
	o->buf[o->len] = '\0';
	end = o->buf + o->len;
	while (end > o->buf && (end[-1] == '\n' || end[-1] == '\r' ||
				end[-1] == ' '))
		*--end = '\0';
	if (end == o->buf)
		return NULL;
	p = memrchr(o->buf, '\n', (size_t)(end - o->buf));
	return p ? p + 1 : o->buf;
}

static void finish(struct job *j)
{
	char why[160], *body = NULL, *line;
	unsigned status = 502;
	json_error_t err;
	json_t *res;

	if (j->killed) {
		snprintf(why, sizeof why, "timed out after %lld s",
			 opt.dial_timeout_ms / 1000);
	} else if (WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0) {
		res = j->out.over || !j->out.buf ? NULL :
		      json_loadb(j->out.buf, j->out.len, 0, &err);
		if (json_is_object(res)) {
			body = json_line(res);
			status = 201;
		}
		json_decref(res);
		snprintf(why, sizeof why, "%s", j->out.over ?
			 "output over 64 KiB" : "output is not a JSON object");
	} else if ((line = last_line(&j->err))) {
		snprintf(why, sizeof why, "%.150s", line);
	} else if (WIFEXITED(j->status)) {
		snprintf(why, sizeof why, "exited with status %d",
			 WEXITSTATUS(j->status));
	} else {
		snprintf(why, sizeof why, "killed by signal %d",
			 WTERMSIG(j->status));
	}
	if (status == 201) {
		stats.dial_ok++;
		log_info("dial: done");
	} else {
		stats.dial_failed++;
		log_warn("dial: '%s' failed: %s", opt.dial_cmd, why);
		body = json_error(why);
	}
	if (j->wsi && body)
		http_answer(j->wsi, status, body, strlen(body));
	else
		free(body);
}

void dial_tick(void)
{
	struct job **pp = &jobs, *j;
	pid_t r;
	int eof;

	while ((j = *pp)) {
		eof = drain(&j->out) & drain(&j->err);
		if (!j->exited) {
			r = waitpid(j->pid, &j->status, WNOHANG);
			if (r == j->pid)
				j->exited = 1;
			else if (mono_ms() >= j->deadline_ms) {
				kill(j->pid, SIGKILL);
				waitpid(j->pid, &j->status, 0);
				j->exited = j->killed = 1;
			}
		}
		/* done when it has exited and closed its output (or left
		 * it to a child of its own past the deadline) */
		if (!j->exited || (!eof && !j->killed &&
				   mono_ms() < j->deadline_ms)) {
			pp = &j->next;
			continue;
		}
		finish(j);
		*pp = j->next;
		if (j->out.fd >= 0)
			close(j->out.fd);
		if (j->err.fd >= 0)
			close(j->err.fd);
		free(j->out.buf);
		free(j->err.buf);
		free(j);
		dials_running--;
	}
}

void dial_kill_all(void)
{
	struct job *j;

	for (j = jobs; j; j = j->next) {
		if (!j->exited) {
			kill(j->pid, SIGKILL);
			waitpid(j->pid, &j->status, 0);
			j->exited = j->killed = 1;
		}
		j->wsi = NULL;
	}
	dial_tick();
}
