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

/* AlterConfigs and IncrementalAlterConfigs on a node that is not the active
 * controller, before forwarding (Kafka's ConfigAdminManager.preprocess):
 * answers in req->resp every resource this node decides itself (see
 * alter_configs.c), marks in keep[] those the controller must, and returns
 * how many those are, of *total. */
int32_t sk_alter_configs_preprocess(struct sk_request *req, bool **keep, int32_t *total);
/* A copy of req's body naming only the n resources keep[] marks. */
void *sk_alter_configs_select(struct sk_request *req, const bool *keep, int32_t n, kp_arena *a);
/* The controller's answer (a decoded response to the selected request)
 * fills the kept resources' answers, in order; false if it is short. */
bool sk_alter_configs_merge(struct sk_request *req, const bool *keep, int32_t total,
                            const void *resp);
/* The forwarded resources' answers when the controller gave none (Kafka
 * answers the forwarded part's error response beside the rest). */
void sk_alter_configs_fail_kept(struct sk_request *req, const bool *keep, int32_t total,
                                int16_t err);

#endif
