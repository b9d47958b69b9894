/* Config names and values from the wire that hold a zero byte. The config
 * code reads names and values as text (C strings), which would cut such a
 * string at its zero byte: "retention.ms\0x" would set retention.ms and
 * "1000\0 7" would be taken as 1000. Here they are read as Kafka reads them,
 * before anything else sees them:
 *  - a name with a zero byte is never a known key; it becomes its escaped
 *    form, printable and just as unknown, so the usual unknown-name answer
 *    follows (naming it readably);
 *  - a value is parsed as ConfigDef does, after Java's String.trim, which
 *    takes every byte up to 0x20 off both ends, the zero byte included:
 *    "\0 1000\0" is 1000, and stored as such since Kafka shows the parsed
 *    value;
 *  - a zero byte left inside makes numbers, booleans and choices invalid,
 *    with Kafka's message; a throttled-replica list (Kafka trims each item)
 *    may keep one, as Kafka keeps it, and is stored as its bytes;
 *  - other free-form strings with a zero byte inside are refused: Kafka
 *    would keep them, but they are read as text here. So are broker keys
 *    with a zero byte in their name, or an unknown broker key with one in
 *    its value: Kafka stores keys it does not define as sent, and so does
 *    Skein, but as text. (A known broker key's value is stored trimmed, as
 *    it takes effect; Kafka would describe it as sent.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/config_defs.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/meta.h"
#include "skein/wire_str.h"

#define SK_SHOWN_MAX 512

static bool has_zero(kp_str s)
{
    return s.len > 0 && memchr(s.ptr, 0, (size_t)s.len) != NULL;
}

/* Java's String.trim. */
static kp_str java_trim(kp_str s)
{
    int32_t b = 0, e = s.len;
    while (b < e && (unsigned char)s.ptr[b] <= 0x20)
        b++;
    while (e > b && (unsigned char)s.ptr[e - 1] <= 0x20)
        e--;
    return (kp_str){s.ptr + b, e - b};
}

/* \s in a Java regex: not the zero byte. */
static bool java_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool replica_ok(kp_str item)
{
    kp_str t = java_trim(item);
    const char *colon = t.len ? memchr(t.ptr, ':', (size_t)t.len) : NULL;
    if (!t.len)
        return true;
    if (!colon || colon == t.ptr || colon == t.ptr + t.len - 1)
        return false;
    for (int32_t i = 0; i < t.len; i++)
        if (t.ptr + i != colon && (t.ptr[i] < '0' || t.ptr[i] > '9'))
            return false;
    return true;
}

/* ConfigDef's LIST parse (trim, split on \s*,\s*) joined back with ","
 * (how Kafka shows it), checked as ThrottledReplicaListValidator does:
 * every trimmed item empty or partition:broker, or the items together "*".
 * The value's bytes are already trimmed. -EINVAL if invalid. */
static int throttled_list(kp_str v, kp_str *out)
{
    char *buf = malloc((size_t)v.len + 1);
    if (!buf)
        return -ENOMEM;
    int32_t n = 0, item = 0;
    bool ok = true;
    size_t star = 0, other = 0;
    for (int32_t i = 0; i <= v.len; i++) {
        if (i < v.len && v.ptr[i] != ',') {
            buf[n++] = v.ptr[i];
            continue;
        }
        while (n > item && java_space(buf[n - 1]))
            n--; /* \s* before the comma */
        kp_str it = java_trim((kp_str){buf + item, n - item});
        ok = ok && replica_ok((kp_str){buf + item, n - item});
        star += it.len == 1 && it.ptr[0] == '*';
        other += it.len > 0 && !(it.len == 1 && it.ptr[0] == '*');
        if (i < v.len) {
            buf[n++] = ',';
            while (i + 1 < v.len && java_space(v.ptr[i + 1]))
                i++; /* \s* after it */
        }
        item = n;
    }
    buf[n] = 0;
    if (!ok && !(star == 1 && other == 0)) {
        free(buf);
        return -EINVAL;
    }
    *out = (kp_str){buf, n};
    return 0;
}

static const struct sk_config_def *def_of(int8_t type, kp_str name)
{
    char cname[128];
    if (name.len <= 0 || (size_t)name.len >= sizeof cname || has_zero(name))
        return NULL;
    memcpy(cname, name.ptr, (size_t)name.len);
    cname[name.len] = 0;
    return type == SK_RESOURCE_TOPIC ? sk_topic_config_find(cname) : sk_broker_config_find(cname);
}

/* A value with a zero byte inside its trimmed bytes, for the key name. */
static int16_t inner_zero(int8_t type, kp_str name, kp_str v, kp_str *out, char *msg,
                          size_t msglen)
{
    const struct sk_config_def *def = def_of(type, name);
    char shown[SK_SHOWN_MAX];
    sk_wire_str_escape(v, shown, sizeof shown);
    if (def && def->check == SK_CHECK_THROTTLED_REPLICAS) {
        int rc = throttled_list(v, out);
        if (rc == -ENOMEM)
            abort(); /* as sk_ctl_cstr: a half-read change never reaches the log */
        if (rc == 0)
            return SK_ERR_NONE;
    }
    /* An unknown topic key gets the usual answer later, whatever its value. */
    if (!def) {
        if (sk_wire_str_dup(out, kp_str_c(shown)) < 0)
            abort();
        return SK_ERR_NONE;
    }
    /* The escaped text fails every check a zero byte fails, with the message
     * Kafka gives (showing the value readably). */
    int16_t err = (int16_t)sk_config_def_validate(def, shown, msg, msglen);
    if (err != SK_ERR_NONE)
        return err;
    snprintf(msg, msglen, "Invalid value %s for configuration %s: a zero byte inside the value "
             "is not supported", shown, def->name);
    return SK_ERR_INVALID_CONFIG;
}

int16_t sk_config_from_wire(int8_t type, kp_str name, kp_str value, kp_str *name_out,
                            kp_str *value_out, char *msg, size_t msglen)
{
    *name_out = *value_out = KP_STR_NULL;
    char shown[SK_SHOWN_MAX];
    if (has_zero(name)) {
        sk_wire_str_escape(name, shown, sizeof shown);
        if (type == SK_RESOURCE_BROKER) {
            snprintf(msg, msglen, "Invalid config name %s: a zero byte inside a broker config "
                     "name is not supported", shown);
            return SK_ERR_INVALID_CONFIG;
        }
        name = kp_str_c(shown);
    }
    /* Kafka stores a broker key it does not define as sent, unparsed. */
    if (type == SK_RESOURCE_BROKER && has_zero(value) && !def_of(type, name)) {
        sk_wire_str_escape(value, shown, sizeof shown);
        snprintf(msg, msglen, "Invalid value %s for configuration %.*s: a zero byte in the value "
                 "of a broker config Kafka does not define is not supported", shown,
                 (int)name.len, name.ptr);
        return SK_ERR_INVALID_CONFIG;
    }
    if (sk_wire_str_dup(name_out, name) < 0)
        abort();
    if (!has_zero(value)) {
        if (sk_wire_str_dup(value_out, value) < 0)
            abort();
        return SK_ERR_NONE;
    }
    kp_str t = java_trim(value);
    if (!has_zero(t)) {
        if (sk_wire_str_dup(value_out, t) < 0)
            abort();
        return SK_ERR_NONE;
    }
    int16_t err = inner_zero(type, *name_out, t, value_out, msg, msglen);
    if (err != SK_ERR_NONE)
        sk_wire_str_free(name_out);
    return err;
}
