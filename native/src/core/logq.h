/* Access-log lines off the workers' path: one lock-free ring per worker, drained to the files by one writer thread. */
#ifndef XM_LOGQ_H
#define XM_LOGQ_H

#include <stddef.h>
#include <stdint.h>

/*
 * Why: a write(2) to a file can block on the disk (or a full pipe, or a stalled NFS mount),
 * and a worker blocked there stalls every connection it serves. A worker only copies its
 * line into its own ring (single producer, single consumer: no lock, no syscall but one
 * eventfd write when the ring was empty); the writer thread writes whole lines with
 * O_APPEND, so lines never interleave, and drains every ring before it exits, so none is
 * lost on shutdown. A line that finds its ring full is dropped and counted
 * (dataplane.access_log_dropped_total): the worker never waits for the disk.
 */
struct xm_logq;

/* nworkers rings of ring_bytes each (a power of two); dropped counts lines dropped. */
int xm_logq_new(struct xm_logq **out, unsigned nworkers, uint32_t ring_bytes, uint64_t *dropped);
/* Worker `worker` queues one whole line for fd (the sink's, which stays open until
 * xm_logq_free). 0, or -ENOSPC when the ring is full (the line is dropped and counted). */
int xm_logq_put(struct xm_logq *q, unsigned worker, int fd, const char *line, uint32_t len);
/* Write everything queued and stop the writer (after the workers stopped). */
void xm_logq_free(struct xm_logq *q);

#endif
