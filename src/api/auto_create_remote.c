/* Auto-creation on a node that is not the active controller, as Kafka
 * 3.9's DefaultAutoTopicCreationManager does it: the broker sends one
 * CreateTopics for the names (in an Envelope, with the requester's
 * principal) to the active controller and does not wait for it; the
 * Metadata request is answered LEADER_NOT_AVAILABLE for them at once, and
 * the client's next Metadata finds the topics once the quorum committed and
 * this node applied them. */
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"
#include "kp_tables.h"
#include "skein/config.h"
#include "skein/envelope.h"
#include "skein/errors.h"
#include "skein/forward_ctl.h"
#include "skein/logging.h"

/* CreateTopics v4 is the first to take -1 partitions and replication
 * factor (KIP-464): the controller applies its defaults. */
#define CREATE_TOPICS_VERSION 4
#define CREATE_TOPICS 19
/* How long the controller may take; nobody waits for the answer. */
#define AUTO_CREATE_TIMEOUT_MS 30000

struct auto_create {
    kp_arena arena;
    kp_envelope_request env;
};

static void release(void *arg)
{
    struct auto_create *ac = arg;
    kp_arena_free(&ac->arena);
    free(ac);
}

static bool not_controller(const void *resp)
{
    return ((const kp_envelope_response *)resp)->error_code == SK_ERR_NOT_CONTROLLER;
}

static void answered(void *arg, int16_t err, int16_t version, const void *resp)
{
    (void)arg;
    (void)version;
    const kp_envelope_response *r = resp;
    if (!err)
        err = r->error_code;
    if (err)
        sk_warn("auto-creation sent to the active controller: %s", sk_err_name(err));
}

/* header + CreateTopics as a client frames it, in the arena. */
static int encode(kp_arena *a, const kp_str *names, int n, kp_bytes *out)
{
    kp_create_topics_request_creatable_topic *t = kp_arena_calloc(a, (size_t)n + 1, sizeof *t);
    if (!t)
        return KP_E_NOMEM;
    for (int i = 0; i < n; i++) {
        kp_create_topics_request_creatable_topic_init(&t[i]);
        t[i].name = names[i];
        t[i].num_partitions = -1;
        t[i].replication_factor = -1;
    }
    kp_create_topics_request q;
    kp_create_topics_request_init(&q);
    q.topics = (kp_create_topics_request_creatable_topic_arr){n, t};
    q.timeout_ms = AUTO_CREATE_TIMEOUT_MS;
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = CREATE_TOPICS;
    h.request_api_version = CREATE_TOPICS_VERSION;
    h.client_id = kp_str_c("auto-topic-creation");
    int16_t hv = kp_request_header_version(kp_api_get(CREATE_TOPICS), CREATE_TOPICS_VERSION);
    size_t len = kp_request_header_size(&h, hv) +
                 kp_create_topics_request_size(&q, CREATE_TOPICS_VERSION);
    uint8_t *buf = kp_arena_alloc(a, len);
    if (!buf)
        return KP_E_NOMEM;
    kp_writer w;
    kp_writer_init(&w, buf, len);
    int rc = kp_request_header_encode(&h, &w, hv);
    if (rc == 0)
        rc = kp_create_topics_request_encode(&q, &w, CREATE_TOPICS_VERSION);
    *out = (kp_bytes){buf, (int32_t)len};
    return rc;
}

int sk_forward_ctl_auto_create(struct sk_broker *b, const kp_str *names, int n)
{
    struct auto_create *ac = calloc(1, sizeof *ac);
    if (!ac)
        return KP_E_NOMEM;
    kp_arena_init(&ac->arena, 0);
    /* The names live in the Metadata request, which is answered at once. */
    kp_str *copy = kp_arena_calloc(&ac->arena, (size_t)n + 1, sizeof *copy);
    for (int i = 0; copy && i < n; i++) {
        char *p = kp_arena_alloc(&ac->arena, (size_t)names[i].len + 1);
        if (!p) {
            copy = NULL;
            break;
        }
        memcpy(p, names[i].ptr, (size_t)names[i].len);
        copy[i] = (kp_str){p, names[i].len};
    }
    kp_bytes frame, principal;
    int rc = copy ? encode(&ac->arena, copy, n, &frame) : KP_E_NOMEM;
    if (rc == 0)
        rc = sk_envelope_principal(&ac->arena, kp_str_c("User"),
                                   kp_str_c(SK_PRINCIPAL_ANONYMOUS), &principal);
    if (rc < 0) {
        release(ac);
        return rc;
    }
    sk_envelope_wrap(&ac->env, frame, principal, (kp_bytes){NULL, 0});
    struct sk_ctl_call_spec spec = {
        .api_key = SK_API_ENVELOPE, .max_version = 0, .body = &ac->env,
        .timeout_ms = AUTO_CREATE_TIMEOUT_MS, .not_controller = not_controller,
        .done = answered, .release = release, .arg = ac,
    };
    rc = sk_ctl_call(b, &spec);
    if (rc < 0)
        release(ac);
    return rc;
}
