/* KIP-853's voter set as a KRaft snapshot holds it: the bootstrap checkpoint
 * `kafka-storage format --standalone/--initial-controllers` writes
 * (__cluster_metadata-0/00000000000000000000-0000000000.checkpoint), and the
 * KRaftVersion and Voters control records any later snapshot carries.
 *
 * Names and hosts are bytes with a length: a VotersRecord is read as Kafka
 * reads it, whatever bytes its strings hold. */
#ifndef SKEIN_VOTERS_SNAPSHOT_H
#define SKEIN_VOTERS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"

#define SK_VOTER_SET_MAX 64
#define SK_VOTER_ENDPOINTS_MAX 4
#define SK_VOTER_STR_MAX 255

/* Kafka's control record types (ControlRecordType). */
#define SK_CONTROL_SNAPSHOT_HEADER 3
#define SK_CONTROL_SNAPSHOT_FOOTER 4
#define SK_CONTROL_KRAFT_VERSION 5
#define SK_CONTROL_KRAFT_VOTERS 6

/* The bootstrap snapshot's id: end offset 0, epoch 0. */
#define SK_BOOTSTRAP_SNAPSHOT_NAME "00000000000000000000-0000000000.checkpoint"
#define SK_METADATA_PARTITION_DIR "__cluster_metadata-0"

struct sk_voter_endpoint {
    uint8_t name[SK_VOTER_STR_MAX]; /* the listener's name */
    uint16_t name_len;
    uint8_t host[SK_VOTER_STR_MAX];
    uint16_t host_len;
    uint16_t port;
};

struct sk_voter_node {
    int32_t id;
    uint8_t dir_id[16];
    struct sk_voter_endpoint ep[SK_VOTER_ENDPOINTS_MAX];
    int n_ep;
    int16_t min_kraft, max_kraft; /* KRaftVersionFeature */
};

struct sk_voter_set {
    struct sk_voter_node v[SK_VOTER_SET_MAX];
    size_t n;
};

/* The records a snapshot of kraft.version 1 opens with: one control batch
 * (base offset base, leader epoch epoch) holding the SnapshotHeader, the
 * KRaftVersion (1) and the Voters records, stamped now_ms; the header says
 * last_ts was the last contained record's time. Appended to out. */
int sk_voters_snapshot_open(const struct sk_voter_set *vs, int64_t base, int32_t epoch,
                            int64_t last_ts, int64_t now_ms, struct sk_buf *out);

/* A voter change as Kafka's leader writes it in the log: one control batch
 * (base, epoch) of the Voters record, after the KRaftVersion (1) record
 * when with_kraft_version. Appended to out. */
int sk_voters_control_batch(const struct sk_voter_set *vs, bool with_kraft_version, int64_t base,
                            int32_t epoch, int64_t now_ms, struct sk_buf *out);

/* The SnapshotFooter control batch at base offset base. */
int sk_voters_snapshot_close(int64_t base, int32_t epoch, int64_t now_ms, struct sk_buf *out);

/* The whole bootstrap snapshot Kafka 3.9's formatter writes. */
int sk_voters_snapshot_encode(const struct sk_voter_set *vs, int64_t now_ms,
                              struct sk_buf *out);

/* The voter set of a snapshot's bytes (every batch's CRC checked): 0,
 * -ENOENT when no control batch holds a Voters record, -EBADMSG when a
 * batch or a KRaft control record does not decode. *kraft_version is the
 * KRaftVersion record's (0 without one); it may be NULL. */
int sk_voters_snapshot_decode(const uint8_t *p, size_t len, struct sk_voter_set *out,
                              int16_t *kraft_version);

/* Writes the bootstrap snapshot into <metadata_dir>/__cluster_metadata-0
 * (created if needed) durably: a temporary name, synced, renamed, the
 * directory synced. 0 or -errno. */
int sk_voters_snapshot_write(const char *metadata_dir, const struct sk_voter_set *vs,
                             int64_t now_ms);

/* The voter set of the newest snapshot in the partition directory dir
 * (…/__cluster_metadata-0) that holds one: 0, -ENOENT when none does, or
 * another -errno / -EBADMSG. */
int sk_voters_snapshot_read(const char *dir, struct sk_voter_set *out);

/* The voter set of the snapshot of dir ending at end: 0, -ENOENT (no such
 * snapshot, or none in it), -EBADMSG. */
int sk_voters_snapshot_read_at(const char *dir, int64_t end, struct sk_voter_set *out);

#endif
