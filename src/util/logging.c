#include "skein/logging.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* The level is set once at start-up, before shards start, and only read after:
 * no synchronisation is needed. */
static enum sk_log_level sk_level = SK_LOG_INFO;

void sk_log_set_level(enum sk_log_level level) { sk_level = level; }
enum sk_log_level sk_log_get_level(void) { return sk_level; }

int sk_log_level_parse(const char *name)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    if (strcasecmp(name, "WARNING") == 0)
        return SK_LOG_WARN;
    return -1;
}

/* A line holds one event: control bytes in it (a newline inside a client id or
 * a config value quoted in a message, say) are written as \xNN, so nothing a
 * client sends can forge or split log lines. */
static void escape_controls(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 5 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = 0;
}

void sk_log(enum sk_log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < sk_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char line[2048 + 64];
    int n = snprintf(line, sizeof line, "[%04d-%02d-%02d %02d:%02d:%02d,%03d] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), tags[level]);
    char msg[2048], shown[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    escape_controls(msg, shown, sizeof shown);
    if (n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, "%s", shown);
    /* One fputs per line keeps lines from different shards whole. */
    fprintf(stderr, "%s\n", line);
}

bool sk_log_limit_pass(struct sk_log_limit *l, int burst, unsigned long *held)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ts.tv_sec != l->second) {
        l->second = ts.tv_sec;
        l->sent = 0;
    }
    if (l->sent >= burst) {
        l->held++;
        return false;
    }
    l->sent++;
    *held = l->held;
    l->held = 0;
    return true;
}
