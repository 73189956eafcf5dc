/* The filter registry: the one place that lists every network and listener filter kind. */
#include <string.h>

#include "filters/connection_limit/connection_limit.h"
#include "filters/filter.h"
#include "filters/protocol_detection/protocol_detection.h"
#include "filters/tcp_proxy/tcp_proxy.h"
#include "filters/x_proxy/x_proxy.h"

/* Adding a filter: its module, its message in NetworkFilter.config (proto), one line here. */
static const struct xm_filter_ops *const registry__filters[] = {
	&xm_tcp_proxy_filter,
	&xm_x_proxy_filter,
	&xm_connection_limit_filter,
};

static const struct xm_lfilter_ops *const registry__lfilters[] = {
	&xm_protocol_detection_filter,
};

_Static_assert(XM_ARRAY_SIZE(registry__filters) <= XM_FILTER_KINDS_MAX, "xm_fworker.state has a slot per kind");

const struct xm_filter_ops *xm_filter_find(const char *name)
{
	for (size_t i = 0; i < XM_ARRAY_SIZE(registry__filters); i++)
		if (strcmp(registry__filters[i]->name, name) == 0)
			return registry__filters[i];
	return NULL;
}

const struct xm_lfilter_ops *xm_lfilter_find(const char *name)
{
	for (size_t i = 0; i < XM_ARRAY_SIZE(registry__lfilters); i++)
		if (strcmp(registry__lfilters[i]->name, name) == 0)
			return registry__lfilters[i];
	return NULL;
}

unsigned xm_filter_index(const struct xm_filter_ops *ops)
{
	for (unsigned i = 0; i < XM_ARRAY_SIZE(registry__filters); i++)
		if (registry__filters[i] == ops)
			return i;
	xm_assert(!"filter ops not registered");
	return 0;
}

const struct xm_filter_ops *xm_filter_at(unsigned i)
{
	return i < XM_ARRAY_SIZE(registry__filters) ? registry__filters[i] : NULL;
}
