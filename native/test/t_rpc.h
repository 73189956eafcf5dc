/* RPC peers for the native x_proxy tests: Bolt v1 and Dubbo frames, and a loopback server answering both. */
#ifndef XM_T_RPC_H
#define XM_T_RPC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* A Bolt v1 request (cmdcode 1) or heartbeat (cmdcode 0) with header map {service,
 * sofa_head_method_name} and content as the body. Returns its length. */
size_t t_bolt_req(uint8_t *out, uint32_t id, int heartbeat, const char *service, const char *method,
		  const char *content);
/* A Dubbo (hessian2) two-way request: dubbo version, service path, version "1.0.0",
 * method, no arguments, empty attachments. service and method: < 32 bytes. */
size_t t_dubbo_req(uint8_t *out, uint64_t id, const char *service, const char *method);

/* A Bolt v1 response (cmdcode 2) with status and content, no class or header map; a Dubbo
 * (hessian2) response with status and body as raw bytes. Their lengths. */
size_t t_bolt_resp(uint8_t *out, uint32_t id, uint16_t status, const char *content);
size_t t_dubbo_resp(uint8_t *out, uint64_t id, uint8_t status, const char *body);
/* Read exactly one Bolt v1 (dubbo = 0) or Dubbo (dubbo = 1) request frame (a heartbeat too)
 * from fd into buf (blocking, bounded by timeout_ms): an upstream's view. Its length with
 * *id its request id, or -1. */
long t_rpc_read_req(int fd, int dubbo, uint8_t *buf, size_t cap, uint64_t *id, int timeout_ms);

/* One response as a client sees it. content: the body (NUL-terminated, truncated). */
struct t_resp {
	uint64_t id;
	uint16_t cmd;        /* Bolt: cmdcode; Dubbo: flag byte */
	uint16_t status;
	char content[256];
};
/* Read exactly one response from fd (blocking, bounded by timeout_ms). 0 or -1. */
int t_bolt_read_resp(int fd, struct t_resp *r, int timeout_ms);
int t_dubbo_read_resp(int fd, struct t_resp *r, int timeout_ms);
/* Write a Bolt request and read its response. 0 or -1. */
int t_bolt_call(int fd, uint32_t id, const char *svc, const char *method, const char *content, struct t_resp *r);

/* A loopback server on one poll() thread (at most 63 connections). Each connection's
 * protocol is recognised from its first bytes (Bolt or Dubbo). Requests are answered:
 * Bolt with content "<tag>:<request content>" (at most 512 bytes of it; method "hang":
 * never; die_method: the
 * connection is dropped with everything in flight), Dubbo with status OK and body
 * "<tag>:<method>". */
struct t_rpc_srv {
	int lfd;
	uint16_t port;
	char tag;
	const char *die_method;  /* Bolt method that drops the connection; NULL = "die" */
	int stall;               /* set (atomically): accept, but read nothing until cleared */
	int stop;
	unsigned long accepted, requests;
	pthread_t th;
};
void t_rpc_srv_start(struct t_rpc_srv *s, char tag);
/* Same, with another method than "die" dropping the connection. */
void t_rpc_srv_start_dying(struct t_rpc_srv *s, char tag, const char *die_method);
void t_rpc_srv_stop(struct t_rpc_srv *s);

/* Blocking connect to 127.0.0.1:port; fd or -1. */
int t_connect(uint16_t port);

#endif
