/* The quorum-state file (skein/quorum_state.h). The reader knows exactly
 * the JSON Kafka writes: one object of scalars and the currentVoters array,
 * which it checks for shape and skips. */
#include "skein/quorum_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skein/atomic_writer.h"

#define MAX_FILE 65536
#define MAX_DEPTH 8

int sk_quorum_store_init(struct sk_quorum_store *s, const char *dir, const int32_t *voters,
                         int32_t n_voters)
{
    if (strlen(dir) >= sizeof s->dir)
        return -ENAMETOOLONG;
    if (n_voters < 0 || n_voters > SK_RAFT_MAX_VOTERS)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    memcpy(s->dir, dir, strlen(dir) + 1);
    if (n_voters)
        memcpy(s->voters, voters, (size_t)n_voters * sizeof *voters);
    s->n_voters = n_voters;
    return 0;
}

/* Kafka's Uuid.ZERO_UUID as its JSON converter writes a uuid (base64url). */
#define ZERO_UUID_JSON "AAAAAAAAAAAAAAAAAAAAAA"

int sk_quorum_state_format(const struct sk_quorum_store *st, const struct sk_raft_qstate *s,
                           char *buf, size_t cap)
{
    if (st->data_version == 1) {
        int n = snprintf(buf, cap, "{\"leaderId\":%" PRId32 ",\"leaderEpoch\":%" PRId32
                         ",\"votedId\":%" PRId32 ",\"votedDirectoryId\":\"" ZERO_UUID_JSON
                         "\",\"data_version\":1}", s->leader_id, s->epoch, s->voted_id);
        return n >= 0 && (size_t)n < cap ? n : -ENOBUFS;
    }
    size_t n = (size_t)snprintf(buf, cap, "{\"clusterId\":\"\",\"leaderId\":%" PRId32
                                ",\"leaderEpoch\":%" PRId32 ",\"votedId\":%" PRId32
                                ",\"appliedOffset\":0,\"currentVoters\":[",
                                s->leader_id, s->epoch, s->voted_id);
    for (int32_t i = 0; i < st->n_voters && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s{\"voterId\":%" PRId32 "}", i ? "," : "",
                              st->voters[i]);
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "],\"data_version\":0}");
    return n < cap ? (int)n : -ENOBUFS;
}

int sk_quorum_state_write(const struct sk_quorum_store *st, const struct sk_raft_qstate *s)
{
    char buf[1024];
    int n = sk_quorum_state_format(st, s, buf, sizeof buf);
    if (n < 0)
        return n;
    return sk_atomic_write(st->dir, SK_QUORUM_STATE_FILE, buf, (size_t)n);
}

static int store_write(void *ctx, const struct sk_raft_qstate *s)
{
    return sk_quorum_state_write(ctx, s);
}

void sk_quorum_store_bind(struct sk_quorum_store *s, struct sk_raft_config *cfg)
{
    cfg->store = (struct sk_raft_store_ops){.write = store_write};
    cfg->store_ctx = s;
}

/* ---- reading ------------------------------------------------------------- */

struct cur {
    const uint8_t *p, *end;
    char *err;
    size_t errlen;
};

struct fields {
    int64_t leader_id, epoch, voted_id, version;
    bool has_leader, has_epoch, has_voted, has_version, has_cluster, has_applied, has_voters;
};

static int bad(struct cur *c, const char *what)
{
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s", what);
    return -EBADMSG;
}

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(struct cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A string's contents, escapes left as they are: *s and *n span them. */
static int string(struct cur *c, const uint8_t **s, size_t *n)
{
    if (!eat(c, '"'))
        return bad(c, "a string was expected");
    *s = c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p < 0x20)
            return bad(c, "a string holds a control character");
        c->p += *c->p == '\\' && c->p + 1 < c->end ? 2 : 1;
    }
    if (c->p >= c->end)
        return bad(c, "a string is not closed");
    *n = (size_t)(c->p - *s);
    c->p++;
    return 0;
}

static int integer(struct cur *c, int64_t *v)
{
    ws(c);
    bool neg = c->p < c->end && *c->p == '-';
    const uint8_t *start = c->p += neg;
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 18)
        x = x * 10 + (*c->p++ - '0');
    if (c->p == start || (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' ||
                                            (*c->p >= '0' && *c->p <= '9'))))
        return bad(c, "a field holds a number that is not a small integer");
    *v = neg ? -x : x;
    return 0;
}

static int value(struct cur *c, int depth);

static int array(struct cur *c, int depth)
{
    if (eat(c, ']'))
        return 0;
    do {
        int rc = value(c, depth + 1);
        if (rc < 0)
            return rc;
    } while (eat(c, ','));
    return eat(c, ']') ? 0 : bad(c, "an array is not closed");
}

static int object(struct cur *c, int depth)
{
    if (eat(c, '}'))
        return 0;
    do {
        const uint8_t *k;
        size_t kn;
        int rc = string(c, &k, &kn);
        if (rc == 0 && !eat(c, ':'))
            rc = bad(c, "a ':' was expected");
        if (rc == 0)
            rc = value(c, depth + 1);
        if (rc < 0)
            return rc;
    } while (eat(c, ','));
    return eat(c, '}') ? 0 : bad(c, "an object is not closed");
}

static bool word(struct cur *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Checks any JSON value for shape and steps over it. */
static int value(struct cur *c, int depth)
{
    if (depth > MAX_DEPTH)
        return bad(c, "the JSON nests too deep");
    ws(c);
    if (c->p >= c->end)
        return bad(c, "the file ends inside the JSON");
    const uint8_t *s;
    size_t n;
    int64_t v;
    switch (*c->p) {
    case '"': return string(c, &s, &n);
    case '[': c->p++; return array(c, depth);
    case '{': c->p++; return object(c, depth);
    case 'n': return word(c, "null") ? 0 : bad(c, "an unknown word");
    case 't': return word(c, "true") ? 0 : bad(c, "an unknown word");
    case 'f': return word(c, "false") ? 0 : bad(c, "an unknown word");
    default: return integer(c, &v);
    }
}

static bool key_is(const uint8_t *k, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(k, name, n) == 0;
}

static int int_field(struct cur *c, int64_t *v, bool *has)
{
    *has = true;
    return integer(c, v);
}

static int field(struct cur *c, const uint8_t *k, size_t n, struct fields *f)
{
    if (key_is(k, n, "leaderId"))
        return int_field(c, &f->leader_id, &f->has_leader);
    if (key_is(k, n, "leaderEpoch"))
        return int_field(c, &f->epoch, &f->has_epoch);
    if (key_is(k, n, "votedId"))
        return int_field(c, &f->voted_id, &f->has_voted);
    if (key_is(k, n, "data_version"))
        return int_field(c, &f->version, &f->has_version);
    if (key_is(k, n, "clusterId"))
        f->has_cluster = true;
    else if (key_is(k, n, "appliedOffset"))
        f->has_applied = true;
    else if (key_is(k, n, "currentVoters"))
        f->has_voters = true;
    return value(c, 1);
}

static int top(struct cur *c, struct fields *f)
{
    if (!eat(c, '{'))
        return bad(c, "the file does not hold a JSON object");
    if (eat(c, '}'))
        return 0;
    do {
        const uint8_t *k;
        size_t kn;
        int rc = string(c, &k, &kn);
        if (rc == 0 && !eat(c, ':'))
            rc = bad(c, "a ':' was expected");
        if (rc == 0)
            rc = field(c, k, kn, f);
        if (rc < 0)
            return rc;
    } while (eat(c, ','));
    if (!eat(c, '}'))
        return bad(c, "the JSON object is not closed");
    ws(c);
    return c->p == c->end ? 0 : bad(c, "something follows the JSON object");
}

static bool fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

static int check(struct cur *c, const struct fields *f)
{
    if (!f->has_version)
        return bad(c, "it has no data_version field");
    if (f->version < 0 || f->version > 1)
        return bad(c, "its data_version is not 0 or 1");
    if (!f->has_leader || !f->has_epoch || !f->has_voted)
        return bad(c, "leaderId, leaderEpoch or votedId is missing");
    if (f->version == 0 && (!f->has_cluster || !f->has_applied || !f->has_voters))
        return bad(c, "clusterId, appliedOffset or currentVoters is missing (data_version 0)");
    if (!fits32(f->leader_id) || !fits32(f->epoch) || !fits32(f->voted_id))
        return bad(c, "leaderId, leaderEpoch or votedId is out of range");
    return 0;
}

int sk_quorum_state_parse(const uint8_t *p, size_t len, struct sk_raft_qstate *out, char *err,
                          size_t errlen)
{
    struct cur c = {p, p + len, err, errlen};
    /* Kafka reads the first line only; a file with more is not its own. */
    struct fields f = {0};
    int rc = top(&c, &f);
    if (rc == 0)
        rc = check(&c, &f);
    if (rc < 0)
        return rc;
    /* Kafka's -1 epoch is a node that never took part in an election. */
    *out = (struct sk_raft_qstate){.epoch = f.epoch < 0 ? 0 : (int32_t)f.epoch,
                                   .leader_id = f.leader_id < 0 ? SK_RAFT_NO_ID
                                                                : (int32_t)f.leader_id,
                                   .voted_id = f.voted_id < 0 ? SK_RAFT_NO_ID
                                                              : (int32_t)f.voted_id};
    return 0;
}

static int slurp(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return n == cap ? -EFBIG : 0;
}

int sk_quorum_state_read(const char *dir, struct sk_raft_qstate *out, char *err, size_t errlen)
{
    *out = (struct sk_raft_qstate){.epoch = 0, .leader_id = SK_RAFT_NO_ID,
                                   .voted_id = SK_RAFT_NO_ID};
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, SK_QUORUM_STATE_FILE) >= sizeof path)
        return -ENAMETOOLONG;
    uint8_t *buf = malloc(MAX_FILE);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    int rc = slurp(path, buf, MAX_FILE, &len);
    if (rc == -ENOENT) {
        free(buf);
        return rc;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s cannot be read: %s", path, strerror(-rc));
    struct sk_raft_qstate s;
    char why[160] = "";
    if (rc == 0 && (rc = sk_quorum_state_parse(buf, len, &s, why, sizeof why)) < 0)
        snprintf(err, errlen, "%s is damaged (%s); it holds this node's Raft epoch and vote, "
                 "so the node will not start without it", path, why);
    if (rc == 0)
        *out = s;
    free(buf);
    return rc;
}
