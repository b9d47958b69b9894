/* Finalized feature levels (UpdateFeatures), as Kafka's FeatureControlManager
 * decides them: metadata.version moves within what this build implements. */
#include <stdio.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

/* Kafka 3.9's features. kraft.version 0 is the static voter set of
 * controller.quorum.voters, 1 KIP-853's dynamic quorum (a cluster formatted
 * with its bootstrap voter set runs at 1 from the start, as Kafka 3.9's; the
 * level is the quorum's, not an UpdateFeatures change). Of the other two
 * Skein implements level 0: group.version 0
 * the classic group protocol (1 adds KIP-848's consumer protocol), and
 * transaction.version 0 the transaction protocol before KIP-890's epoch bumps.
 * Kafka leaves a feature out of ApiVersions when it supports level 0 only;
 * Skein lists them at 0-0 so that `kafka-features describe` says which levels
 * this node lacks instead of leaving the feature unmentioned. */
static const struct sk_feature_range supported[] = {
    {"metadata.version", SK_METADATA_VERSION_MIN, SK_METADATA_VERSION_MAX},
    {"kraft.version", 0, 1},
    {"group.version", 0, 0},
    {"transaction.version", 0, 0},
};

const struct sk_feature_range *sk_features_supported(size_t *n)
{
    *n = sizeof supported / sizeof supported[0];
    return supported;
}

static const struct sk_feature_range *find_supported(kp_str name)
{
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        if (kp_str_eq_c(name, supported[i].name))
            return &supported[i];
    return NULL;
}

#define SK_UPGRADE 1
#define SK_SAFE_DOWNGRADE 2
#define SK_UNSAFE_DOWNGRADE 3

static int16_t metadata_version_check(struct sk_broker *b, int16_t level, int8_t type,
                                      char *msg, size_t msglen)
{
    if (level < SK_METADATA_VERSION_MIN || level > SK_METADATA_VERSION_MAX) {
        snprintf(msg, msglen, "Invalid metadata.version %d. Valid versions are from %d to %d.",
                 level, SK_METADATA_VERSION_MIN, SK_METADATA_VERSION_MAX);
        return SK_ERR_INVALID_UPDATE_VERSION;
    }
    int16_t cur = sk_meta_feature(sk_ctl_working(b), "metadata.version");
    if (level >= cur)
        return SK_ERR_NONE;
    if (type == SK_UPGRADE) {
        snprintf(msg, msglen, "Invalid update version %d for feature metadata.version. Can't "
                 "downgrade the version of this feature without setting the upgrade type to "
                 "either safe or unsafe downgrade.", level);
        return SK_ERR_INVALID_UPDATE_VERSION;
    }
    /* Every level between here and 3.9 changed the metadata format, so a
     * downgrade could drop records: Kafka refuses both kinds. */
    if (type == SK_UNSAFE_DOWNGRADE)
        snprintf(msg, msglen, "Invalid metadata.version %d. Unsafe metadata downgrade is not "
                 "supported in this version.", level);
    else
        snprintf(msg, msglen, "Invalid metadata.version %d. Refusing to perform the requested "
                 "downgrade because it might delete metadata information.", level);
    return SK_ERR_INVALID_UPDATE_VERSION;
}

int16_t sk_feature_update(struct sk_broker *b, kp_str feature, int16_t level, int8_t type,
                          bool validate_only, char *msg, size_t msglen)
{
    msg[0] = 0;
    char shown[128]; /* messages are text: the name escaped, not cut */
    sk_wire_str_escape(feature, shown, sizeof shown);
    if (type < SK_UPGRADE || type > SK_UNSAFE_DOWNGRADE) {
        snprintf(msg, msglen, "Unknown upgrade type %d", type);
        return SK_ERR_INVALID_REQUEST;
    }
    if (level < 0) {
        snprintf(msg, msglen, "Invalid update version %d for feature %s. The lower version "
                 "bound cannot be negative.", level, shown);
        return SK_ERR_INVALID_UPDATE_VERSION;
    }
    const struct sk_feature_range *f = find_supported(feature);
    if (!kp_str_eq_c(feature, "metadata.version")) {
        /* Only level 0 of the others is implemented: they may only stay there. */
        if (level == 0)
            return SK_ERR_NONE;
        if (f)
            snprintf(msg, msglen, "Invalid update version %d for feature %s. Local controller "
                     "%d only supports versions %d-%d", level, f->name, b->node->node_id, f->min,
                     f->max);
        else
            snprintf(msg, msglen, "Invalid update version %d for feature %s. The controller "
                     "does not support the given feature.", level, shown);
        return SK_ERR_INVALID_UPDATE_VERSION;
    }
    int16_t err = metadata_version_check(b, level, type, msg, msglen);
    if (err || validate_only || level == sk_meta_feature(sk_ctl_working(b), "metadata.version"))
        return err;
    kp_feature_level_record fl;
    kp_feature_level_record_init(&fl);
    fl.name = feature;
    fl.feature_level = level;
    struct sk_meta_rec rec = {SK_META_FEATURE_LEVEL, 0, &fl};
    return sk_ctl_commit(b, &rec, 1, msg, msglen);
}
