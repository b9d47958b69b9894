/* Finalized feature levels (UpdateFeatures), as Kafka's FeatureControlManager
 * decides them: metadata.version moves within what this build implements. */
#include <stdio.h>

#include "gen/kp_all.h"
#include "internal.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/wire_str.h"

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
    int16_t cur = sk_meta_feature(&b->image, "metadata.version");
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
    if (!kp_str_eq_c(feature, "metadata.version")) {
        /* Features this build does not implement may only stay disabled. */
        if (level == 0)
            return SK_ERR_NONE;
        snprintf(msg, msglen, "Invalid update version %d for feature %s. The controller does "
                 "not support the given feature.", level, shown);
        return SK_ERR_INVALID_UPDATE_VERSION;
    }
    int16_t err = metadata_version_check(b, level, type, msg, msglen);
    if (err || validate_only || level == sk_meta_feature(&b->image, "metadata.version"))
        return err;
    kp_feature_level_record fl;
    kp_feature_level_record_init(&fl);
    fl.name = feature;
    fl.feature_level = level;
    struct sk_meta_rec rec = {SK_META_FEATURE_LEVEL, 0, &fl};
    return sk_ctl_commit(b, &rec, 1, msg, msglen);
}
