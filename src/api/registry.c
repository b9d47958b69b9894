/* The APIs Skein serves and the versions it serves them at. ApiVersions
 * advertises exactly this table: an API appears here only once every version
 * listed is implemented with Kafka's semantics. */
#include <stddef.h>

#include "skein/api.h"
#include "skein/net.h"
#include "skein/raftnet.h"

static const struct sk_api_entry entries[] = {
    {0, 0, 11, sk_api_produce},
    {1, 0, 17, sk_api_fetch},        /* v0-3 down-convert to message format 0/1 */
    {2, 0, 9, sk_api_list_offsets},
    {3, 0, 12, sk_api_metadata},
    {8, 0, 9, sk_api_offset_commit},
    {9, 0, 9, sk_api_offset_fetch},
    {10, 0, 6, sk_api_find_coordinator},
    {11, 0, 9, sk_api_join_group},
    {12, 0, 4, sk_api_heartbeat},
    {13, 0, 5, sk_api_leave_group},
    {14, 0, 5, sk_api_sync_group},
    {15, 0, 5, sk_api_describe_groups},
    {16, 0, 5, sk_api_list_groups},
    {18, 0, 4, sk_api_versions},
    {21, 0, 2, sk_api_delete_records},
    {22, 0, 5, sk_api_init_producer_id},
    {42, 0, 2, sk_api_delete_groups},
    {47, 0, 0, sk_api_offset_delete},
    {60, 0, 1, sk_api_describe_cluster},
    {61, 0, 0, sk_api_describe_producers},
    /* Admin. */
    {19, 0, 7, sk_api_create_topics},
    {20, 0, 6, sk_api_delete_topics},
    {32, 0, 4, sk_api_describe_configs},
    {33, 0, 2, sk_api_alter_configs},
    {35, 0, 4, sk_api_describe_log_dirs},
    {37, 0, 3, sk_api_create_partitions},
    {43, 0, 2, sk_api_elect_leaders},
    {44, 0, 1, sk_api_incremental_alter_configs},
    {45, 0, 0, sk_api_alter_partition_reassignments},
    {46, 0, 0, sk_api_list_partition_reassignments},
    {48, 0, 1, sk_api_describe_client_quotas},
    {49, 0, 1, sk_api_alter_client_quotas},
    {57, 0, 1, sk_api_update_features},
    {75, 0, 0, sk_api_describe_topic_partitions},
    /* Forwarded to the quorum's leader, as Kafka 3.9's brokers do. */
    {80, 0, 0, sk_api_add_raft_voter},
    {81, 0, 0, sk_api_remove_raft_voter},
    {23, 0, 4, sk_api_offset_for_leader_epoch},
    /* No authorizer yet: answered SECURITY_DISABLED, as Kafka does. */
    {29, 0, 3, sk_api_describe_acls},
    {30, 0, 3, sk_api_create_acls},
    {31, 0, 3, sk_api_delete_acls},
    /* PLAINTEXT only: ILLEGAL_SASL_STATE, as Kafka answers on such a listener. */
    {17, 0, 1, sk_api_sasl_handshake},
    {36, 0, 2, sk_api_sasl_authenticate},
};

/* The CONTROLLER listener: what Kafka's ControllerApis serves that Skein
 * has, the Raft quorum's APIs and the brokers'
 * registration and heartbeats. Anything else there is refused as an API the
 * listener does not enable. */
static const struct sk_api_entry controller_entries[] = {
    {18, 0, 4, sk_api_versions},
    {1, 0, 17, sk_api_raft},
    {52, 0, 1, sk_api_raft},
    {53, 0, 1, sk_api_raft},
    {54, 0, 1, sk_api_raft},
    {59, 0, 1, sk_api_raft},
    {55, 0, 2, sk_api_describe_quorum},
    {62, 0, 4, sk_api_broker_registration},
    {70, 0, 0, sk_api_controller_registration},
    {60, 0, 1, sk_api_describe_cluster},
    {63, 0, 1, sk_api_broker_heartbeat},
    {56, 0, 3, sk_api_alter_partition},
    {58, 0, 0, sk_api_envelope},
    {67, 0, 0, sk_api_allocate_producer_ids},
    /* As ControllerApis: an admin client bootstrapped to the controllers
     * (KIP-919) creates topics at the active one. */
    {19, 0, 7, sk_api_create_topics},
    {80, 0, 0, sk_api_add_raft_voter},
    {81, 0, 0, sk_api_remove_raft_voter},
    {82, 0, 0, sk_api_update_raft_voter},
};

/* A combined node answers DescribeQuorum on its client listener too, as
 * Kafka's broker forwards it to the quorum. */
static const struct sk_api_entry describe_quorum = {55, 0, 2, sk_api_describe_quorum};

static bool on_controller_listener(const struct sk_request *req)
{
    return req->conn && sk_conn_tag(req->conn) == SK_LISTENER_CONTROLLER;
}

const struct sk_api_entry *sk_api_entry_for(const struct sk_request *req, int16_t key)
{
    if (on_controller_listener(req)) {
        for (size_t i = 0; i < sizeof controller_entries / sizeof controller_entries[0]; i++)
            if (controller_entries[i].key == key)
                return &controller_entries[i];
        return NULL;
    }
    if (key == describe_quorum.key)
        return req->broker->node->raftnet ? &describe_quorum : NULL;
    return sk_api_entry(key);
}

int sk_api_entries_for(const struct sk_request *req, const struct sk_api_entry **out,
                       const struct sk_api_entry **extra)
{
    int n;
    *extra = NULL;
    if (on_controller_listener(req)) {
        *out = controller_entries;
        return (int)(sizeof controller_entries / sizeof controller_entries[0]);
    }
    *out = sk_api_entries(&n);
    if (req->broker->node->raftnet)
        *extra = &describe_quorum;
    return n;
}

const struct sk_api_entry *sk_api_entries(int *n)
{
    *n = (int)(sizeof entries / sizeof entries[0]);
    return entries;
}

const struct sk_api_entry *sk_api_entry(int16_t key)
{
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (entries[i].key == key)
            return &entries[i];
    return NULL;
}
