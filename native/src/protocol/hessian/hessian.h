/* A minimal Hessian2 reader for routing: strings and ints read, every other value skipped, nothing decoded. */
#ifndef XM_HESSIAN_H
#define XM_HESSIAN_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/codec.h"

/*
 * Two dialects reach us: Hessian 2.0 final (Dubbo's hessian-lite, Java Hessian 4) and the
 * 2.0 draft spoken by SOFA's hessian 3.x and sofa-bolt-node ('O' class definitions, 'o'
 * instances, 'z' terminators, 't' types, 's' string chunks). They share strings, ints and
 * most scalars but disagree on several codes, so the caller says which one it reads.
 *
 * The cursor walks a segmented view within [pos, end) and never reads past end; every
 * function returns -EBADMSG on malformed or truncated input, so hostile bodies are safe.
 */

#define XM_HESSIAN_MAX_CLASSES 16
#define XM_HESSIAN_MAX_DEPTH 16

struct xm_hcur {
	const struct xm_iview *v;
	size_t pos, end;         /* absolute view offsets */
	size_t seg_start;        /* view offset of iov[seg]: cached so reads are O(1) */
	unsigned seg;
	uint8_t draft;           /* 1: Hessian 2.0 draft dialect */
	uint8_t nclasses;
	uint16_t class_fields[XM_HESSIAN_MAX_CLASSES]; /* field count of each class definition */
};

void xm_hcur_init(struct xm_hcur *c, const struct xm_iview *v, size_t pos, size_t end, int draft);
/* Next byte without consuming it, or -1 at end. */
int xm_hcur_peek(struct xm_hcur *c);
/* Consume one byte: 0 or -EBADMSG at end. */
int xm_hcur_byte(struct xm_hcur *c, uint8_t *b);

/* An int in any int encoding. 0 or -EBADMSG. */
int xm_hessian_int(struct xm_hcur *c, int32_t *out);
/* A string (any form, chunks joined) copied into dst (may be NULL: skipped). 0: a string of
 * *len bytes; 1: null; -E2BIG: longer than cap bytes (consumed, dst holds a prefix);
 * -EBADMSG: not a string or malformed UTF-8 / truncated. */
int xm_hessian_string(struct xm_hcur *c, char *dst, size_t cap, size_t *len);
/* Skip one value of any type (class definitions before it are recorded). 0 or -EBADMSG. */
int xm_hessian_skip(struct xm_hcur *c);
/* Record a class definition's field count so later instances can be skipped. 0 or -EBADMSG. */
int xm_hessian_add_class(struct xm_hcur *c, int32_t nfields);

#endif
