/* The process's stop watchdog: a thread JavaScript cannot block enforces the forced-exit deadline after a stop signal. */
#ifndef XM_WATCHDOG_H
#define XM_WATCHDOG_H

#include <stdint.h>

/*
 * The control core (JavaScript) drains and exits on SIGTERM/SIGINT, and forces the exit
 * (code 4) when that takes too long or a second signal comes. It can do neither while its
 * thread is stuck (a runaway computation, a native call that never returns). The watchdog
 * is the backstop: a signal handler chained in front of libuv's notes the signal (with
 * async-signal-safe writes only) and passes it on; a thread of its own then gives the
 * control core deadline_ms after the first stop signal (it has its own deadline before
 * that) and second_ms after a second one, and otherwise writes one line to stderr and
 * _exit()s with exit_code.
 *
 * libuv restores the default disposition when the last JavaScript listener of a signal goes
 * away and installs its own handler again when one comes: call xm_watchdog_arm again after
 * changing listeners (it is idempotent: it chains only what is not already its own).
 */
struct xm_watchdog_opts {
	uint32_t deadline_ms; /* after the first stop signal (or xm_watchdog_stopping) */
	uint32_t second_ms;   /* after a second stop signal */
	int exit_code;
};

/* Start the thread (once) and (re)install the chained SIGTERM/SIGINT handlers. 0 or -errno. */
int xm_watchdog_arm(const struct xm_watchdog_opts *o);
/* A stop that did not come by signal (admin /quitquitquit): start the deadline as a first
 * signal would. */
void xm_watchdog_stopping(void);
/* The control core finished on its own (tests, or a stop that was called off): stop counting. */
void xm_watchdog_disarm(void);

#endif
