/* The records a node's start brings to the metadata log: the bootstrap of
 * metadata.version on a fresh cluster, and this broker's registration. A
 * one-voter node appends them itself before its quorum starts; a member of
 * a larger quorum has them committed by the quorum once it leads, since
 * only the leader writes (Kafka's controller writes its bootstrap records
 * on the first activation of an empty log). */
#include <errno.h>
#include <sys/random.h>

#include "server-int.h"
#include "skein/config.h"
#include "skein/metalog.h"
#include "skein/node.h"

static int16_t latest(int16_t type)
{
    return kp_metadata_record_get(type)->max_version;
}

/* A new cluster starts at the highest metadata.version this build knows. */
static void bootstrap(struct sk_startup_records *st, struct sk_meta_rec *rec)
{
    kp_feature_level_record_init(&st->fl);
    st->fl.name = kp_str_c("metadata.version");
    st->fl.feature_level = SK_METADATA_VERSION_MAX;
    *rec = (struct sk_meta_rec){SK_META_FEATURE_LEVEL, latest(SK_META_FEATURE_LEVEL), &st->fl};
}

/* Every start registers the broker anew, with a new epoch (the metadata log
 * offset, as in KRaft) and its current endpoints. */
static int registration(const struct sk_broker *b, struct sk_startup_records *st,
                        struct sk_meta_rec *rec)
{
    kp_register_broker_record *r = &st->reg;
    kp_register_broker_record_init(r);
    r->broker_id = b->node->node_id;
    r->broker_epoch = sk_metalog_end_offset(b->node->metalog);
    if (getrandom(r->incarnation_id.b, 16, 0) != 16)
        return -EIO;
    kp_register_broker_record_broker_endpoint_init(&st->ep);
    st->ep.name = kp_str_c(b->node->listener_name);
    st->ep.host = kp_str_c(b->node->advertised_host);
    st->ep.port = b->node->advertised_port;
    st->ep.security_protocol = 0; /* PLAINTEXT */
    r->end_points = (kp_register_broker_record_broker_endpoint_arr){1, &st->ep};
    kp_register_broker_record_broker_feature_init(&st->feat);
    st->feat.name = kp_str_c("metadata.version");
    st->feat.min_supported_version = SK_METADATA_VERSION_MIN;
    st->feat.max_supported_version = SK_METADATA_VERSION_MAX;
    r->features = (kp_register_broker_record_broker_feature_arr){1, &st->feat};
    r->rack = kp_str_c(b->cfg->rack);
    r->fenced = false;
    *rec = (struct sk_meta_rec){SK_META_REGISTER_BROKER, latest(SK_META_REGISTER_BROKER), r};
    return 0;
}

int sk_startup_records(const struct sk_broker *b, bool reg, struct sk_startup_records *st,
                       struct sk_meta_rec *recs)
{
    int n = 0;
    if (sk_meta_feature(&b->node->image, "metadata.version") <= 0)
        bootstrap(st, &recs[n++]);
    if (reg && registration(b, st, &recs[n++]) < 0)
        return -EIO;
    return n;
}
