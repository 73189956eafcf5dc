/* The stop watchdog: chained SIGTERM/SIGINT handlers feed a pipe; a thread enforces the forced-exit deadline even when the JavaScript thread is stuck. */
#include "server/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int wd__signals[] = { SIGTERM, SIGINT };
#define WD__NSIG (sizeof(wd__signals) / sizeof(wd__signals[0]))

static pthread_mutex_t wd__lock = PTHREAD_MUTEX_INITIALIZER;
static int wd__pipe[2] = { -1, -1 };       /* handler -> thread: one byte per event */
static struct sigaction wd__next[WD__NSIG]; /* what ran before ours (libuv's) */
static struct xm_watchdog_opts wd__opts;    /* under wd__lock */
static int wd__started;

enum { WD__EV_SIGNAL = 's', WD__EV_STOPPING = 'q', WD__EV_DISARM = 'd' };

static void wd__handler(int sig, siginfo_t *info, void *uctx)
{
	int saved = errno;
	char ev = WD__EV_SIGNAL;

	if (wd__pipe[1] >= 0 && write(wd__pipe[1], &ev, 1) < 0) {
		/* full pipe: the thread already has plenty to act on */
	}
	for (unsigned i = 0; i < WD__NSIG; i++) {
		if (wd__signals[i] != sig)
			continue;
		const struct sigaction *n = &wd__next[i];
		if (n->sa_flags & SA_SIGINFO) {
			if (n->sa_sigaction)
				n->sa_sigaction(sig, info, uctx);
		} else if (n->sa_handler != SIG_DFL && n->sa_handler != SIG_IGN && n->sa_handler) {
			n->sa_handler(sig);
		} else if (n->sa_handler == SIG_DFL) {
			/* Nobody else listens: the default action (terminate) is what a stop signal
			 * means; the thread turns it into the forced exit below instead of dying with
			 * a signal status, after the deadline. */
		}
	}
	errno = saved;
}

static uint64_t wd__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wd__force(const char *why, int code)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"level\":60,\"module\":\"watchdog\",\"msg\":\"%s: the control thread did not exit, forcing exit %d\"}\n",
			 why, code);
	if (n > 0 && write(2, line, (size_t)n) < 0) {
		/* nothing left to report to */
	}
	_exit(code);
}

static void *wd__main(void *arg)
{
	uint64_t deadline = 0; /* 0: no stop under way */
	const char *why = "";
	unsigned signals = 0;

	(void)arg;
	for (;;) {
		int timeout = -1;
		if (deadline) {
			uint64_t now = wd__now_ms();
			if (now >= deadline) {
				pthread_mutex_lock(&wd__lock);
				int code = wd__opts.exit_code;
				pthread_mutex_unlock(&wd__lock);
				wd__force(why, code);
			}
			timeout = (int)(deadline - now);
		}
		struct pollfd p = { .fd = wd__pipe[0], .events = POLLIN };
		int r = poll(&p, 1, timeout);
		if (r <= 0)
			continue;
		char evs[16];
		ssize_t n = read(wd__pipe[0], evs, sizeof(evs));
		for (ssize_t i = 0; i < n; i++) {
			pthread_mutex_lock(&wd__lock);
			struct xm_watchdog_opts o = wd__opts;
			pthread_mutex_unlock(&wd__lock);
			uint64_t now = wd__now_ms();
			if (evs[i] == WD__EV_DISARM) {
				deadline = 0, signals = 0;
			} else if (evs[i] == WD__EV_SIGNAL && ++signals >= 2) {
				uint64_t d = now + o.second_ms;
				if (!deadline || d < deadline)
					deadline = d, why = "second stop signal";
			} else if (!deadline) {
				deadline = now + o.deadline_ms;
				why = "shutdown deadline passed";
			}
		}
	}
	return NULL;
}

static int wd__start(void)
{
	pthread_t th;
	pthread_attr_t a;
	sigset_t all, old;
	int rc;

	if (pipe2(wd__pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* The thread takes no signal itself: they go to the JavaScript thread, as before. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	rc = pthread_create(&th, &a, wd__main, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		close(wd__pipe[0]), close(wd__pipe[1]);
		wd__pipe[0] = wd__pipe[1] = -1;
		return -rc;
	}
	pthread_setname_np(th, "xmesh-watchdog");
	return 0;
}

int xm_watchdog_arm(const struct xm_watchdog_opts *o)
{
	int rc = 0;

	pthread_mutex_lock(&wd__lock);
	wd__opts = *o;
	if (!wd__started) {
		if ((rc = wd__start()) < 0)
			goto out;
		wd__started = 1;
	}
	for (unsigned i = 0; i < WD__NSIG; i++) {
		struct sigaction cur, ours;
		if (sigaction(wd__signals[i], NULL, &cur) < 0) {
			rc = -errno;
			goto out;
		}
		if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == wd__handler)
			continue; /* already chained in front of what is there */
		memset(&ours, 0, sizeof(ours));
		ours.sa_sigaction = wd__handler;
		ours.sa_flags = SA_SIGINFO | SA_RESTART | (cur.sa_flags & SA_ONSTACK);
		sigfillset(&ours.sa_mask);
		/* The previous handler is saved before ours can run. */
		wd__next[i] = cur;
		if (sigaction(wd__signals[i], &ours, NULL) < 0) {
			rc = -errno;
			goto out;
		}
	}
out:
	pthread_mutex_unlock(&wd__lock);
	return rc;
}

static void wd__post(char ev)
{
	if (wd__pipe[1] >= 0 && write(wd__pipe[1], &ev, 1) < 0) {
		/* full: the thread has events to act on */
	}
}

void xm_watchdog_stopping(void)
{
	wd__post(WD__EV_STOPPING);
}

void xm_watchdog_disarm(void)
{
	wd__post(WD__EV_DISARM);
}
