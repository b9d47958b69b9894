/* Bringing a broker up and down. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/api.h"
#include "skein/config.h"
#include "skein/group.h"
#include "skein/controller.h"
#include "skein/fetch.h"
#include "skein/logging.h"
#include "skein/meta_quorum.h"
#include "skein/metalog.h"
#include "skein/plog.h"
#include "skein/net.h"
#include "skein/partition.h"
#include "skein/producer_ids.h"
#include "skein/publisher.h"
#include "skein/submit.h"
#include "skein/quota.h"
#include "skein/raftnet.h"
#include "skein/forward_ctl.h"
#include "skein/server.h"
#include "skein/voters_snapshot.h"
#include "skein/broker_lifecycle.h"
#include "skein/controller_registration.h"
#include "skein/broker_sessions.h"
#include "skein/checkpoints.h"
#include "server-int.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The client listener: the first one that is not a controller listener. */
/* A broker key of LONG type, as described (its value or default); 0 if
 * unknown, which the snapshot policy reads as "never". */
static int64_t broker_long(const struct sk_config *cfg, const char *key)
{
    struct sk_config_value v;
    return sk_config_describe_broker(cfg, key, &v) == 0 ? strtoll(v.value, NULL, 10) : 0;
}

static const struct sk_listener *client_listener(const struct sk_config *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (!sk_config_is_controller_listener(cfg, cfg->listeners[i].name))
            return &cfg->listeners[i];
    return NULL;
}

/* Whether fd's file is one this broker already holds a lock on: one directory
 * named twice (the metadata dir is usually the first log dir) is locked once,
 * since a second lock on it would conflict with the first. */
static bool already_locked(const struct sk_broker *b, int fd)
{
    struct stat a, o;
    if (fstat(fd, &a) < 0)
        return false;
    for (size_t i = 0; i < b->node->n_dir_locks; i++)
        if (fstat(b->node->dir_locks[i], &o) == 0 && o.st_dev == a.st_dev && o.st_ino == a.st_ino)
            return true;
    return false;
}

static int lock_dir(struct sk_broker *b, const char *dir, char *err, size_t errlen)
{
    int fd;
    int rc = sk_dir_lock(dir, &fd, err, errlen);
    if (rc == -EAGAIN && b->node->n_dir_locks > 0) {
        /* Maybe our own lock under another name: check before refusing. */
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/.lock", dir);
        int pfd = open(probe, O_RDONLY | O_CLOEXEC);
        bool ours = pfd >= 0 && already_locked(b, pfd);
        if (pfd >= 0)
            close(pfd);
        return ours ? 0 : rc;
    }
    if (rc < 0)
        return rc;
    int *v = realloc(b->node->dir_locks, sizeof *v * (b->node->n_dir_locks + 1));
    if (!v) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    b->node->dir_locks = v;
    b->node->dir_locks[b->node->n_dir_locks++] = fd;
    return 0;
}

static void unlock_dirs(struct sk_broker *b)
{
    for (size_t i = 0; i < b->node->n_dir_locks; i++)
        close(b->node->dir_locks[i]);
    free(b->node->dir_locks);
    b->node->dir_locks = NULL;
    b->node->n_dir_locks = 0;
}

/* Every directory is locked before anything in it is read or written. */
static int format_dirs(struct sk_broker *b, const struct sk_config *cfg, char *err, size_t errlen)
{
    const char *md = cfg->metadata_log_dir ? cfg->metadata_log_dir : cfg->log_dirs[0];
    for (size_t i = 0; i <= cfg->n_log_dirs; i++) {
        int rc = lock_dir(b, i < cfg->n_log_dirs ? cfg->log_dirs[i] : md, err, errlen);
        if (rc < 0)
            return rc;
    }
    return sk_storage_open_dirs(cfg, b->node->cluster_id, sizeof b->node->cluster_id, err,
                                errlen);
}

/* A KIP-853 voter set, once in a snapshot, stays in every later one. */
static int keep_voter_set(struct sk_metalog *ml, char *err, size_t errlen)
{
    struct sk_voter_set *vs = malloc(sizeof *vs);
    if (!vs)
        return -ENOMEM;
    const char *dir = sk_plog_dir(sk_metalog_plog(ml));
    int rc = sk_voters_snapshot_read(dir, vs);
    if (rc == 0)
        rc = sk_metalog_set_voters(ml, vs);
    else if (rc == -ENOENT)
        rc = 0;
    if (rc < 0)
        snprintf(err, errlen, "cannot read the KIP-853 voter set in %s: %s", dir,
                 strerror(-rc));
    free(vs);
    return rc;
}

/* A one-voter node's start-up writes, before its quorum starts. */
static int startup_writes(struct sk_broker *b, bool broker)
{
    struct sk_startup_records st;
    struct sk_meta_rec recs[2];
    int n = sk_startup_records(b, false, &st, recs);
    if (n > 0 && sk_metalog_append(b->node->metalog, &b->node->image, recs, n, wall_ms()) < 0)
        return -EIO;
    /* Apart: the registration's epoch is the log offset after the bootstrap. */
    if (broker && ((n = sk_startup_records(b, true, &st, recs)) < 0 ||
                   sk_metalog_append(b->node->metalog, &b->node->image, recs, n, wall_ms()) < 0))
        return -EIO;
    return 0;
}

/* ip_limits has room for cfg's overrides; the shard copies it. */
/* queued.max.requests and queued.max.request.bytes bound the node, as
 * Kafka's request channel and memory pool do: each of count shards holds
 * its share, and at least one request of the largest size a client may
 * send, so a big request is never refused for the split. */
static void queue_limits(const struct sk_config *cfg, int count, struct sk_net_config *nc)
{
    uint32_t n = (uint32_t)count;
    nc->queued_max_requests = ((uint32_t)cfg->net.queued_max_requests + n - 1) / n;
    uint64_t bytes = cfg->net.queued_max_request_bytes > 0
                         ? (uint64_t)cfg->net.queued_max_request_bytes : 0;
    uint64_t share = (bytes + n - 1) / n, frame = (uint64_t)cfg->net.socket_request_max_bytes;
    nc->queued_max_bytes = bytes && share < frame ? frame : share;
}

static void net_config(const struct sk_config *cfg, int count, struct sk_net_config *nc,
                       struct sk_net_ip_limit *ip_limits)
{
    sk_net_config_defaults(nc);
    nc->max_frame_bytes = (uint32_t)cfg->net.socket_request_max_bytes;
    nc->max_connections = (uint32_t)cfg->net.max_connections;
    nc->max_connections_per_ip = (uint32_t)cfg->net.max_connections_per_ip;
    nc->ip_overrides = ip_limits;
    nc->n_ip_overrides = cfg->net.n_ip_overrides;
    for (size_t i = 0; i < cfg->net.n_ip_overrides; i++) {
        memcpy(ip_limits[i].addr, cfg->net.ip_overrides[i].addr, 16);
        ip_limits[i].max = (uint32_t)cfg->net.ip_overrides[i].max;
    }
    queue_limits(cfg, count, nc);
    nc->idle_ms = (uint64_t)cfg->net.connections_max_idle_ms;
    nc->send_buffer_bytes = cfg->net.socket_send_buffer_bytes;
    nc->recv_buffer_bytes = cfg->net.socket_receive_buffer_bytes;
}

/* A node that cannot load its metadata log says where and why, and how to
 * start anyway (losing the changes from there on) instead of just failing. */
static void metalog_problem(const char *md, const struct sk_metalog_failure *why, int rc,
                            char *err, size_t errlen)
{
    if (why->offset < 0) {
        snprintf(err, errlen, "cannot load the metadata log in %s: %s: %s", md, why->what,
                 strerror(-rc));
        return;
    }
    if (why->in_snapshot) {
        snprintf(err, errlen, "cannot load the metadata log in %s: at offset %lld %s (%s)", md,
                 (long long)why->offset, why->what, strerror(-rc));
        return;
    }
    snprintf(err, errlen, "cannot load the metadata log in %s: at offset %lld %s (%s). "
             "To start without that change and every later one, start once with "
             "--override skein.metadata.log.truncate.unloadable=true", md,
             (long long)why->offset, why->what, strerror(-rc));
}

/* The shard's subscriber to new images: partitions (and the connection
 * limits dynamic configs may have changed) follow the image. */
static int image_changed(struct sk_broker *b, const struct sk_meta_image *old)
{
    int rc = sk_broker_image_changed(b, old);
    sk_groups_image_changed(b);
    if (b->index == 0 && b->node->clients_wait_catch_up &&
        sk_broker_lifecycle_unfenced_in(b->node->lifecycle, b->image)) {
        b->node->clients_wait_catch_up = false;
        sk_shard_release_clients(b->shard);
        sk_info("metadata caught up and broker %d unfenced: accepting client connections",
                b->node->node_id);
    }
    return rc;
}

/* Shards are a start-up setting: ownership is a function of their number,
 * so it is fixed before anything is opened. */
static int shards_open(struct sk_node *node, struct sk_broker *b, const struct sk_config *cfg,
                       int count, char *err, size_t errlen)
{
    struct sk_net_config nc;
    struct sk_net_ip_limit *ip_limits = calloc(cfg->net.n_ip_overrides + 1, sizeof *ip_limits);
    if (!ip_limits) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    net_config(cfg, count, &nc, ip_limits);
    int rc = sk_shard_reactor_new(b, &nc);
    if (rc == 0)
        atomic_store(&node->nserved, 1);
    if (rc == 0 && count > 1)
        rc = sk_shards_create(node, count, &nc);
    free(ip_limits);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create the io_uring shards: %s", strerror(-rc));
        return rc;
    }
    sk_info("%d shard(s) (skein.num.shards=%d)", node->nshards, cfg->num_shards);
    return 0;
}

/* Shard 0 accepts for the node and hands each connection to the next shard. */
static int listen_client(struct sk_broker *b, const struct sk_listener *l, char *err,
                         size_t errlen)
{
    struct sk_node *n = b->node;
    const char *host = l->host[0] ? l->host : "0.0.0.0";
    uint16_t bound = 0;
    int rc = sk_shard_listen(b->shard, host, l->port, &bound);
    if (rc < 0) {
        snprintf(err, errlen, "Socket server failed to bind to %s:%u: %s.", host, l->port,
                 strerror(-rc));
        return rc;
    }
    if (n->nshards > 1) {
        struct sk_shard **targets = malloc(sizeof *targets * (size_t)n->nshards);
        for (int i = 0; targets && i < n->nshards; i++)
            targets[i] = n->shards[i]->shard;
        rc = targets ? sk_shard_distribute(b->shard, targets, (size_t)n->nshards) : -ENOMEM;
        free(targets);
        if (rc < 0) {
            snprintf(err, errlen, "out of memory");
            return rc;
        }
    }
    if (n->advertised_port == 0)
        n->advertised_port = bound;
    sk_info("listening on %s://%s:%u (advertised as %s:%u)%s", l->name, host, bound,
            n->advertised_host, n->advertised_port,
            sk_shard_clients_held(b->shard) ? "; clients are taken once the metadata has "
                                              "caught up with the quorum" : "");
    return 0;
}

/* What Metadata tells clients to reach this broker at on listener l. */
static void advertise(struct sk_node *n, const struct sk_config *cfg, const struct sk_listener *l)
{
    snprintf(n->listener_name, sizeof n->listener_name, "%s", l->name);
    const struct sk_listener *adv = sk_config_advertised(cfg, l->name);
    const char *host = adv && adv->host[0] ? adv->host : l->host;
    if (!host[0])
        host = "localhost";
    snprintf(n->advertised_host, sizeof n->advertised_host, "%s", host);
    n->advertised_port = adv && adv->port ? adv->port : l->port;
}

int sk_server_open(struct sk_node *node, struct sk_broker *b, struct sk_config *cfg, char *err,
                   size_t errlen)
{
    memset(node, 0, sizeof *node);
    memset(b, 0, sizeof *b);
    b->node = node;
    b->image = &node->image;
    b->cfg = cfg;
    /* Sized once: the signal handler may walk it while shards are made. */
    int count = sk_shard_count(cfg);
    node->shards = calloc((size_t)count, sizeof *node->shards);
    if (!node->shards) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    node->shards[0] = b;
    node->nshards = 1;
    node->subscriber = image_changed;
    node->cfg = cfg;
    node->group_partitions = cfg->offsets.num_partitions;
    b->node->node_id = cfg->node_id;
    sk_meta_image_init(b->image);
    /* A controller-only node serves clients nothing: only a broker needs a
     * client listener. */
    bool broker = !cfg->process_roles || (cfg->process_roles & SK_ROLE_BROKER);
    const struct sk_listener *l = broker ? client_listener(cfg) : NULL;
    if (broker && !l) {
        snprintf(err, errlen, "listeners has no listener for clients (only controller listeners)");
        return -EINVAL;
    }
    if (l)
        advertise(b->node, cfg, l);

    int rc = format_dirs(b, cfg, err, errlen);
    if (rc == 0)
        rc = sk_storage_bootstrap_voters(cfg, err, errlen);
    if (rc < 0)
        return rc;
    const char *md = cfg->metadata_log_dir ? cfg->metadata_log_dir : cfg->log_dirs[0];
    struct sk_metalog_failure why;
    /* A member of a larger quorum replays only its snapshot, which holds
     * only what was committed: its log may end in batches a new leader
     * truncates, so the rest is applied as the high watermark passes it. */
    bool many = sk_config_quorum_on_wire(cfg);
    int64_t applied_end = 0;
    rc = sk_metalog_open_upto(md, b->image, wall_ms(), cfg->admission.metadata_truncate_unloadable,
                              many ? 0 : INT64_MAX, &why, &applied_end, &b->node->metalog);
    if (rc < 0) {
        metalog_problem(md, &why, rc, err, errlen);
        return rc;
    }
    if ((rc = keep_voter_set(b->node->metalog, err, errlen)) < 0)
        return rc;
    if (sk_controller_apply_dynamic_configs(b) == -ENOMEM) { /* stale keys were logged */
        snprintf(err, errlen, "cannot load the metadata log in %s: %s", md, strerror(ENOMEM));
        return -ENOMEM;
    }
    struct sk_budget_inputs in;
    sk_budget_inputs_probe(cfg->net.max_connections, cfg->admission.max_partitions_per_shard, &in);
    sk_partition_budget_compute(&in, &b->node->budget);
    char line[512];
    sk_partition_budget_describe(&b->node->budget, line, sizeof line);
    sk_info("%s", line);
    sk_metalog_set_snapshot_policy(b->node->metalog,
                                   broker_long(cfg, "metadata.log.max.record.bytes.between.snapshots"),
                                   broker_long(cfg, "metadata.log.max.snapshot.interval.ms"));
    sk_metalog_set_retention(b->node->metalog, cfg->metadata.log_segment_bytes,
                             cfg->metadata.log_segment_ms, cfg->metadata.max_retention_bytes,
                             cfg->metadata.max_retention_ms);
    sk_info("metadata log replayed: %d topics, %d brokers, last offset %lld", b->image->ntopics,
            b->image->nbrokers, (long long)b->image->last_offset);

    if ((rc = shards_open(node, b, cfg, count, err, errlen)) < 0)
        return rc;
    sk_metalog_set_syncer(b->node->metalog, &b->syncer);
    /* As Kafka's broker enables request processing only once its metadata
     * has caught up and the controller has unfenced its new registration:
     * until then a member of a larger quorum has only an empty image, and a
     * client told its topics do not exist would drop its partitions
     * (librdkafka even its idempotent sequences); and until its previous
     * life's session lapses (a kill -9 and a quick restart) the caught-up
     * image still has it leading at epochs whose log tail it may have
     * lost. The port is bound but refuses connections, so clients use
     * another broker. */
    if (l && many)
        sk_shard_hold_clients(b->shard);
    if (l && (rc = listen_client(b, l, err, errlen)) < 0)
        return rc;
    /* The only metadata written outside the controller's submit queue:
     * nothing is served yet, so the synchronous append blocks no one. A
     * larger quorum's leader writes them through the quorum instead. */
    if (!many && startup_writes(b, l != NULL) < 0) {
        snprintf(err, errlen, "cannot write the metadata log in %s", md);
        return -EIO;
    }
    /* From here on every metadata change is committed by the quorum. */
    if ((rc = sk_meta_quorum_open(b, cfg, many ? applied_end : -1, err, errlen)) < 0)
        return rc;
    if (many && (rc = sk_raftnet_start(b, err, errlen)) < 0)
        return rc;
    /* Kafka's brokers get producer ids from the active controller. */
    if (many && (cfg->process_roles & SK_ROLE_BROKER) &&
        sk_producer_ids_set_source(b, sk_producer_ids_remote) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (many && sk_broker_lifecycle_start(b) < 0) {
        snprintf(err, errlen, "cannot start the broker's registration: out of memory");
        return -ENOMEM;
    }
    if ((rc = sk_controller_registration_start(b)) < 0) {
        snprintf(err, errlen, "cannot start the controller's registration: %s", strerror(-rc));
        return rc;
    }
    if (sk_checkpoints_open(node) < 0) {
        snprintf(err, errlen, "cannot read the offset checkpoints in %s: out of memory",
                 cfg->log_dirs[0]);
        return -ENOMEM;
    }
    /* Every shard gets its first image before any serves: shard 0 applies
     * it here, the others on their threads as they start (shards.c). */
    if (sk_publish_first(b, many) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    node->clients_wait_catch_up = sk_shard_clients_held(b->shard);
    return sk_shard_state_open(b, err, errlen);
}

int sk_server_run(struct sk_broker *b)
{
    struct sk_node *n = b->node;
    int rc = sk_shards_start(n);
    if (rc == 0) {
        sk_info("Skein started: node %d, cluster %s, %d shard(s)", n->node_id, n->cluster_id,
                n->nshards);
        rc = sk_shard_run(b->shard);
    }
    sk_ctl_submit_abandon(n);
    sk_shard_state_close(b);
    int other = sk_shards_join(n);
    return rc < 0 ? rc : other;
}

void sk_server_stop(struct sk_broker *b)
{
    /* A broker of a larger cluster first hands its leaderships over. */
    if (b->node && !sk_broker_lifecycle_begin_shutdown(b->node->lifecycle))
        sk_shards_stop(b->node);
}

bool sk_server_stopping(const struct sk_broker *b)
{
    return atomic_load(&b->node->stop_asked) || (b->shard && sk_shard_stopping(b->shard));
}

void sk_server_close(struct sk_broker *b)
{
    struct sk_node *n = b->node;
    if (!n)
        return;
    sk_shard_state_close(b);
    sk_shards_free(n);
    n->nshards = 1;
    atomic_store(&n->nserved, 0);
    /* Every shard has closed its partitions: the files get their last lines. */
    if (sk_checkpoints_write_final(n) < 0)
        sk_warn("cannot write the offset checkpoints in %s at shutdown", n->cfg->log_dirs[0]);
    sk_checkpoints_close(n);
    sk_node_quotas_close(n);
    sk_producer_ids_free(b);
    sk_ctl_channel_close(b);
    sk_broker_lifecycle_close(b);
    sk_controller_registration_close(b);
    sk_raftnet_close(b);
    sk_meta_quorum_close(n);
    if (b->shard)
        sk_shard_destroy(b->shard);
    sk_ctl_submit_close(n);
    sk_brokers_close(n);
    sk_metalog_close(n->metalog);
    sk_publish_close(b);
    sk_publish_node_close(n);
    sk_meta_image_free(&n->image);
    unlock_dirs(b);
    b->shard = NULL;
    n->metalog = NULL;
    free(n->shards);
    n->shards = NULL;
    n->nshards = 0;
}
