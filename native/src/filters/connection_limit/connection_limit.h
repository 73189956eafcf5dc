/* The connection_limit network filter (Envoy's envoy.filters.network.connection_limit): at most N connections at once pass it; the next is closed and counted. */
#ifndef XM_CONNECTION_LIMIT_H
#define XM_CONNECTION_LIMIT_H

#include "filters/filter.h"

extern const struct xm_filter_ops xm_connection_limit_filter;

#endif
