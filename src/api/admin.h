/* Helpers the admin API handlers share. */
#ifndef SKEIN_API_ADMIN_H
#define SKEIN_API_ADMIN_H

#include "skein/api.h"
#include "skein/ctl_park.h"

/* NUL-terminated copy in the request's arena ("" for a null string). */
const char *sk_admin_cstr(struct sk_request *req, kp_str s);
/* kp_str copy of msg in the arena, or null when msg is empty. */
kp_str sk_admin_msg(struct sk_request *req, const char *msg);

/* Parks req on its controller changes (skein/ctl_park.h): each commit it
 * makes from now on is asynchronous, and sk_ctl_park_end answers req once
 * the last has committed (or failed into the result slot set for it). */
struct sk_ctl_park *sk_admin_park(struct sk_request *req);

#endif
