/* Bolt v1 helpers for native x_proxy tests: frames, a blocking client, a poll() server. */
#ifndef XM_T_BOLT_H
#define XM_T_BOLT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct t_bolt_resp {
	uint32_t id;
	uint16_t cmd;
	uint16_t status;
	char content[256];
};

/* Read exactly one Bolt v1 response from fd (blocking, bounded). 0 or -1. */
int t_bolt_read_resp(int fd, struct t_bolt_resp *r, int timeout_ms);
/* A v1 request (cmdcode 1) or heartbeat (cmdcode 0) with header map {service, sofa_head_method_name}. */
size_t t_bolt_req(uint8_t *out, uint32_t id, int heartbeat, const char *service, const char *method, const char *content);
/* Send one request on fd and read one response. 0 or -1. */
int t_bolt_call(int fd, uint32_t id, const char *svc, const char *method, const char *content, struct t_bolt_resp *r);
/* A blocking loopback TCP connection, or -1. */
int t_connect(uint16_t port);

/* One thread serves every connection with poll(): requests are answered with a response
 * whose content is "<tag>:<request content>", except method "hang" (never answered) and
 * the die method (the connection is dropped with everything in flight). */
struct t_bolt_srv {
	int lfd;
	uint16_t port;
	char tag;
	const char *die_method;   /* drop the connection on this method ("die" when NULL); kept by start */
	int stop;
	unsigned long accepted, requests;
	pthread_t th;
};

void t_bolt_srv_start(struct t_bolt_srv *s, char tag);
void t_bolt_srv_stop(struct t_bolt_srv *s);

#endif
