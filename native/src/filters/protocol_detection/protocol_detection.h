/* The protocol detection listener filter: sniff a connection's first bytes with codecs' match() and record the protocol as its application protocol. */
#ifndef XM_PROTOCOL_DETECTION_H
#define XM_PROTOCOL_DETECTION_H

#include "filters/filter.h"

extern const struct xm_lfilter_ops xm_protocol_detection_filter;

#endif
