/* Helpers the admin API handlers share. */
#ifndef SKEIN_API_ADMIN_H
#define SKEIN_API_ADMIN_H

#include "skein/api.h"

/* NUL-terminated copy in the request's arena ("" for a null string). */
const char *sk_admin_cstr(struct sk_request *req, kp_str s);
/* kp_str copy of msg in the arena, or null when msg is empty. */
kp_str sk_admin_msg(struct sk_request *req, const char *msg);

#endif
