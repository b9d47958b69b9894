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
#include "skein/controller.h"
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

/* header + CreateTopics of t[n] as a client frames it, in the arena. */
static int encode(kp_arena *a, kp_create_topics_request_creatable_topic *t, int n, kp_bytes *out)
{
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

/* A copy in the arena: the caller's strings live in a request answered at
 * once. */
static bool copy_str(kp_arena *a, kp_str in, kp_str *out)
{
    char *p = kp_arena_alloc(a, (size_t)(in.len > 0 ? in.len : 0) + 1);
    if (!p)
        return false;
    if (in.len > 0)
        memcpy(p, in.ptr, (size_t)in.len);
    *out = (kp_str){p, in.len};
    return true;
}

/* Wraps t[n] (in ac's arena) in an Envelope and sends it; takes ac. */
static int send_create(struct sk_broker *b, struct auto_create *ac,
                       kp_create_topics_request_creatable_topic *t, int n)
{
    kp_bytes frame, principal;
    int rc = t ? encode(&ac->arena, t, n, &frame) : KP_E_NOMEM;
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

static struct auto_create *new_create(void)
{
    struct auto_create *ac = calloc(1, sizeof *ac);
    if (ac)
        kp_arena_init(&ac->arena, 0);
    return ac;
}

int sk_forward_ctl_auto_create(struct sk_broker *b, const kp_str *names, int n)
{
    struct auto_create *ac = new_create();
    if (!ac)
        return KP_E_NOMEM;
    kp_create_topics_request_creatable_topic *t = kp_arena_calloc(&ac->arena, (size_t)n + 1,
                                                                  sizeof *t);
    for (int i = 0; t && i < n; i++) {
        kp_create_topics_request_creatable_topic_init(&t[i]);
        if (!copy_str(&ac->arena, names[i], &t[i].name))
            t = NULL;
        else
            t[i].num_partitions = t[i].replication_factor = -1;
    }
    return send_create(b, ac, t, n);
}

int sk_forward_ctl_create_topic(struct sk_broker *b, const struct sk_topic_spec *spec)
{
    struct auto_create *ac = new_create();
    if (!ac)
        return KP_E_NOMEM;
    kp_create_topics_request_creatable_topic *t = kp_arena_calloc(&ac->arena, 1, sizeof *t);
    kp_create_topics_request_creatable_topic_config *c =
        kp_arena_calloc(&ac->arena, (size_t)spec->nconfigs + 1, sizeof *c);
    if (t && c) {
        kp_create_topics_request_creatable_topic_init(t);
        t->num_partitions = spec->partitions;
        t->replication_factor = spec->replication_factor;
        t->configs = (kp_create_topics_request_creatable_topic_config_arr){spec->nconfigs, c};
        bool ok = copy_str(&ac->arena, spec->name, &t->name);
        for (int i = 0; ok && i < spec->nconfigs; i++)
            ok = copy_str(&ac->arena, spec->config_names[i], &c[i].name) &&
                 copy_str(&ac->arena, spec->config_values[i], &c[i].value);
        if (!ok)
            t = NULL;
    }
    return send_create(b, ac, c ? t : NULL, 1);
}
