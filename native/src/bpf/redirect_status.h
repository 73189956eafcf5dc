/* Status of an installed redirect instance, as JSON for the control core and the CLI. */
#ifndef XM_BPF_REDIRECT_STATUS_H
#define XM_BPF_REDIRECT_STATUS_H

#include <stddef.h>

/* Sets *json to a malloc'd JSON document describing the instance: {"installed":false} when
 * nothing is pinned, else knobs, attachments (link/prog ids and attach points), map fill
 * levels and counters. The caller frees *json. */
int xm_redirect_status_json(const char *instance, char **json, char *msg, size_t msglen);

#endif
