/* An intrusive doubly linked list: sessions of a worker, connections with batched output, pending requests. */
#ifndef XM_LIST_H
#define XM_LIST_H

struct xm_link {
	struct xm_link *next, *prev;
};

static inline void xm_link_init(struct xm_link *l) { l->next = l->prev = l; }
static inline int xm_link_empty(const struct xm_link *l) { return l->next == l; }
/* Is n linked into some list (a node unlinked by xm_link_del points at itself)? */
static inline int xm_link_linked(const struct xm_link *n) { return n->next != n; }
static inline void xm_link_add(struct xm_link *head, struct xm_link *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}
static inline void xm_link_del(struct xm_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

#endif
