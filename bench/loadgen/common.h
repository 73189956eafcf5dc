/* Shared helpers of the bench load generator and responder: time, args, CPU pinning, limits. */
#ifndef XB_COMMON_H
#define XB_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t xb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void xb_die(const char *what)
{
	fprintf(stderr, "%s\n", what);
	exit(2);
}

/* Strict integer/double parsing: the whole string must be a number. */
static inline long long xb_parse_ll(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "%s: not an integer: %s\n", opt, s);
		exit(2);
	}
	return v;
}

static inline double xb_parse_d(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end) {
		fprintf(stderr, "%s: not a number: %s\n", opt, s);
		exit(2);
	}
	return v;
}

/* "127.0.0.1:8080" -> sockaddr. Only loopback (127.0.0.0/8) is accepted: bench traffic never
 * leaves the host. */
static inline void xb_parse_addr(const char *opt, const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "%s: want HOST:PORT, got %s\n", opt, s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	long long port = xb_parse_ll(opt, colon + 1);
	if (port < 0 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "%s: bad IPv4 address or port: %s\n", opt, s);
		exit(2);
	}
	if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "%s: only 127.0.0.0/8 is allowed, got %s\n", opt, host);
		exit(2);
	}
	sa->sin_port = htons((uint16_t)port);
}

static inline void xb_pin_cpu(int cpu)
{
	cpu_set_t set;
	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("sched_setaffinity");
}

/* Make room for `need` descriptors: soft limit up to hard, hard raised too if we may. */
static inline void xb_raise_nofile(rlim_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		struct rlimit want = {need, need};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* 1 ns timer slack: open-loop sends are scheduled at microsecond granularity. */
static inline void xb_tight_timers(void)
{
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}

static inline uint64_t xb_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000ull + (uint64_t)ru.ru_utime.tv_usec +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000ull + (uint64_t)ru.ru_stime.tv_usec;
}

static inline void xb_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

#endif
