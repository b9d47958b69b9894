/* DescribeTopicPartitions (key 75), v0 (KIP-966): topics sorted by name,
 * at most response_partition_limit partitions per answer, and a cursor to
 * continue from. */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "gen/kp_all.h"
#include "skein/controller.h"
#include "skein/errors.h"

/* Kafka's max.request.partition.size.limit default. */
#define SK_MAX_PARTITION_LIMIT 2000

typedef kp_describe_topic_partitions_response_describe_topic_partitions_response_topic dt_topic;
typedef kp_describe_topic_partitions_response_describe_topic_partitions_response_partition dt_part;

static int cmp_str(const void *a, const void *b)
{
    const kp_str *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, (size_t)n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static kp_arr_i32 ids(struct sk_request *req, const int32_t *v, int32_t n)
{
    kp_arr_i32 a = {n, sk_request_alloc(req, sizeof(int32_t) * (size_t)(n + 1))};
    memcpy(a.v, v, sizeof(int32_t) * (size_t)n);
    return a;
}

/* Fills partitions [start, start+room) of t; returns the next index, or -1. */
static int32_t fill_topic(struct sk_request *req, dt_topic *o, const struct sk_topic_meta *t,
                          int32_t start, int32_t room)
{
    kp_describe_topic_partitions_response_describe_topic_partitions_response_topic_init(o);
    o->name = kp_str_c(t->name);
    o->topic_id = t->id;
    o->is_internal = sk_topic_is_internal(t->name);
    o->topic_authorized_operations = SK_TOPIC_OPERATIONS;
    int32_t end = t->npartitions - start > room ? start + room : t->npartitions;
    if (end < start)
        end = start;
    o->partitions.v = sk_request_alloc(req, sizeof(dt_part) * (size_t)(end - start + 1));
    for (int32_t i = start; i < end; i++) {
        const struct sk_partition_meta *p = &t->partitions[i];
        dt_part *op = &o->partitions.v[o->partitions.n++];
        kp_describe_topic_partitions_response_describe_topic_partitions_response_partition_init(op);
        op->error_code = p->leader < 0 ? SK_ERR_LEADER_NOT_AVAILABLE : SK_ERR_NONE;
        op->partition_index = p->id;
        op->leader_id = p->leader;
        op->leader_epoch = p->leader_epoch;
        op->replica_nodes = ids(req, p->replicas, p->nreplicas);
        op->isr_nodes = ids(req, p->isr, p->nisr);
        op->eligible_leader_replicas = (kp_arr_i32){0, NULL};
        op->last_known_elr = (kp_arr_i32){0, NULL};
        op->offline_replicas = (kp_arr_i32){0, NULL};
    }
    return end < t->npartitions ? end : -1;
}

static void set_cursor(struct sk_request *req, kp_str topic, int32_t partition)
{
    kp_describe_topic_partitions_response *resp = req->resp;
    resp->next_cursor = sk_request_alloc(req, sizeof *resp->next_cursor);
    kp_describe_topic_partitions_response_cursor_init(resp->next_cursor);
    resp->next_cursor->topic_name = topic;
    resp->next_cursor->partition_index = partition;
}

static void missing(dt_topic *o, kp_str name)
{
    kp_describe_topic_partitions_response_describe_topic_partitions_response_topic_init(o);
    o->name = name;
    o->error_code = sk_topic_name_valid(name) ? SK_ERR_UNKNOWN_TOPIC_OR_PARTITION
                                              : SK_ERR_INVALID_TOPIC_EXCEPTION;
    o->topic_authorized_operations = SK_OPERATIONS_OMITTED;
    o->partitions.n = 0;
}

static void describe(struct sk_request *req, kp_str *names, int32_t n, bool all)
{
    const kp_describe_topic_partitions_request *body = req->body;
    kp_describe_topic_partitions_response *resp = req->resp;
    int32_t room = body->response_partition_limit;
    room = room > SK_MAX_PARTITION_LIMIT ? SK_MAX_PARTITION_LIMIT : room < 1 ? 1 : room;
    resp->topics.v = sk_request_alloc(req, sizeof(dt_topic) * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        if (body->cursor && cmp_str(&names[i], &body->cursor->topic_name) < 0)
            continue;
        if (room == 0) {
            set_cursor(req, names[i], 0);
            return;
        }
        const struct sk_topic_meta *t =
            sk_meta_topic(req->broker->image, names[i].ptr, (size_t)names[i].len);
        if (!t) {
            if (!all)
                missing(&resp->topics.v[resp->topics.n++], names[i]);
            continue;
        }
        int32_t start = body->cursor && kp_str_eq(body->cursor->topic_name, names[i])
                            ? body->cursor->partition_index : 0;
        dt_topic *o = &resp->topics.v[resp->topics.n++];
        int32_t next = fill_topic(req, o, t, start, room);
        if (next >= 0) {
            set_cursor(req, o->name, next);
            return;
        }
        room -= o->partitions.n;
    }
}

static void fail_all(struct sk_request *req, kp_str *names, int32_t n)
{
    kp_describe_topic_partitions_response *resp = req->resp;
    resp->topics.v = sk_request_alloc(req, sizeof(dt_topic) * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++) {
        dt_topic *o = &resp->topics.v[resp->topics.n++];
        missing(o, names[i]);
        o->error_code = SK_ERR_INVALID_REQUEST;
    }
}

static bool invalid_cursor(struct sk_request *req, kp_str *names, int32_t n, bool all)
{
    const kp_describe_topic_partitions_request *body = req->body;
    if (!body->cursor)
        return false;
    if (body->cursor->partition_index < 0)
        return true;
    for (int32_t i = 0; all ? false : i < n; i++)
        if (kp_str_eq(names[i], body->cursor->topic_name))
            return false;
    return !all;
}

void sk_api_describe_topic_partitions(struct sk_request *req)
{
    const kp_describe_topic_partitions_request *body = req->body;
    const struct sk_meta_image *img = req->broker->image;
    bool all = body->topics.n <= 0;
    int32_t n = all ? img->ntopics : body->topics.n;
    kp_str *names = sk_request_alloc(req, sizeof *names * (size_t)(n + 1));
    for (int32_t i = 0; i < n; i++)
        names[i] = all ? sk_request_strdup(req, img->topics[i]->name) : body->topics.v[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int32_t k = 0; /* a name asked twice is answered once */
    for (int32_t i = 0; i < n; i++)
        if (k == 0 || !kp_str_eq(names[k - 1], names[i]))
            names[k++] = names[i];
    if (invalid_cursor(req, names, k, all))
        fail_all(req, names, k); /* Kafka's error response for the request */
    else
        describe(req, names, k, all);
    sk_request_respond(req);
}
