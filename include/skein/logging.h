/* Broker logging: one line per event that matters, to stderr, with a level.
 * Per-request logging only at DEBUG, so the default level stays quiet. */
#ifndef SKEIN_LOGGING_H
#define SKEIN_LOGGING_H

#include <stdbool.h>

enum sk_log_level { SK_LOG_DEBUG, SK_LOG_INFO, SK_LOG_WARN, SK_LOG_ERROR };

void sk_log_set_level(enum sk_log_level level);
enum sk_log_level sk_log_get_level(void);
/* Parses "DEBUG", "INFO", "WARN", "ERROR" (case-insensitive); -1 if unknown. */
int sk_log_level_parse(const char *name);

void sk_log(enum sk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A call site that may fire for every request a misbehaving client sends:
 * at most `burst` lines per second go out, the rest are counted and the
 * count is told with the next line that does. Not shared between threads
 * (a shard's own, _Thread_local). */
struct sk_log_limit {
    long second;
    int sent;
    unsigned long held; /* lines held back since the last that went out */
};
/* Whether a line may go out now; *held gets how many were held back
 * before it (0 when none). */
bool sk_log_limit_pass(struct sk_log_limit *l, int burst, unsigned long *held);

#define sk_debug(...) do { if (sk_log_get_level() <= SK_LOG_DEBUG) sk_log(SK_LOG_DEBUG, __VA_ARGS__); } while (0)
#define sk_info(...)  sk_log(SK_LOG_INFO, __VA_ARGS__)
#define sk_warn(...)  sk_log(SK_LOG_WARN, __VA_ARGS__)
#define sk_error(...) sk_log(SK_LOG_ERROR, __VA_ARGS__)

#endif
