/* skein [server.properties] [--override key=value]... | format ... | random-uuid |
 *       --version | --help */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "skein/config.h"
#include "skein/logging.h"
#include "skein/server.h"
#include "skein/sync_stats.h"
#include "main_format.h"
#include "version.h"

static struct sk_node node;
static struct sk_broker broker;

static void on_signal(int sig)
{
    (void)sig;
    sk_server_stop(&broker);
}

/* Operators and bench/scale read how the node's syncs split by kind: the
 * line is built and written without stdio, so doing it here is safe. */
static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno; /* the interrupted code may be about to read it */
    char line[512];
    size_t len = sk_sync_stats_format(line, sizeof line);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    errno = saved;
}

/* Every connection and every partition's active segment is a file descriptor
 * (plus a few for segments waiting for their sync), and a broker with thousands
 * of partitions needs tens of thousands: take what the system allows
 * (fs.nr_open when privileged, else the hard limit), as operators of Kafka do
 * with ulimit -n. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long long nr_open = 0;
    if (f) {
        if (fscanf(f, "%llu", &nr_open) != 1)
            nr_open = 0;
        fclose(f);
    }
    if (nr_open > rl.rlim_max) {
        struct rlimit want = {nr_open, nr_open};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            sk_warn("cannot raise the open file limit to %llu", (unsigned long long)rl.rlim_max);
    }
}

static const char usage_text[] =
    "usage: skein [server.properties] [--override key=value]...\n"
    "       skein format --cluster-id ID [server.properties] [--override key=value]...\n"
    "                    [--standalone | --initial-controllers LIST] [--ignore-formatted]\n"
    "                    [--release-version V]\n"
    "       skein random-uuid\n"
    "       skein --version | --help\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}

static int help(void)
{
    printf("%s\n"
           "Starts a Skein node (broker and controller) and serves until SIGTERM or SIGINT;\n"
           "SIGUSR1 writes the sync counts since start (by file kind) to stderr.\n"
           "\n"
           "  server.properties     Kafka-style properties file; without one, the embedded\n"
           "                        single-node default: PLAINTEXT://localhost:9092, data in\n"
           "                        ./data\n"
           "  --override key=value  sets one config key, after the file (repeatable)\n"
           "  --version             prints the version and the commit it was built from\n"
           "  --help                prints this\n"
           "\n"
           "skein format writes meta.properties (cluster.id, node.id, directory.id) into\n"
           "every log dir and the metadata log dir of the config, as Kafka's kafka-storage\n"
           "format does; the config is read as the node reads it (-c/--config PATH also\n"
           "names it). Every node of a cluster is formatted with the same id:\n"
           "  -t, --cluster-id ID          the cluster id (skein random-uuid makes one)\n"
           "  -g, --ignore-formatted       format the unformatted dirs, skip the others\n"
           "  -r, --release-version V      metadata.version to start at (3.9-IV0 only)\n"
           "  -s, --standalone             KIP-853: this controller is the one initial voter\n"
           "  -I, --initial-controllers L  KIP-853: id@host:port:directoryId,... voters\n"
           "  (the KIP-853 flags are checked; the voters snapshot is not written yet)\n"
           "A node whose controller.quorum.voters names only itself formats its empty dirs\n"
           "itself at start-up; any other node must be formatted first.\n"
           "skein random-uuid prints a new cluster id.\n"
           "\n"
           "Config keys are Apache Kafka's broker keys, with Kafka's defaults; the ones\n"
           "Skein acts on are documented in deploy/server.properties, and DescribeConfigs\n"
           "on a broker (e.g. kafka-configs --describe --entity-type brokers --all) lists\n"
           "every key with its value and documentation. An unknown key is a warning; a bad\n"
           "value stops start-up naming the key.\n",
           usage_text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "format") == 0)
        return sk_main_format(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "random-uuid") == 0)
        return sk_main_random_uuid(argc - 1, argv + 1);
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("skein %s (commit %s)\n", SKEIN_VERSION, SKEIN_COMMIT);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return help();
    const char *path = NULL;
    const char **overrides = calloc((size_t)argc, sizeof *overrides);
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--override") == 0 && i + 1 < argc)
            overrides[n++] = argv[++i];
        else if (strncmp(argv[i], "--override=", 11) == 0)
            overrides[n++] = argv[i] + 11;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            free(overrides);
            return usage();
        }
    }
    struct sk_config cfg;
    char err[1024];
    int rc = sk_config_load(&cfg, path, overrides, n, err, sizeof err);
    free(overrides);
    if (rc != 0) {
        sk_error("invalid configuration: %s", err);
        return 1;
    }
    sk_log_set_level(cfg.log_level);
    for (size_t i = 0; i < cfg.n_warnings; i++)
        sk_warn("%s", cfg.warnings[i]);

    raise_fd_limit();
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction su = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigemptyset(&su.sa_mask);
    sigaction(SIGUSR1, &su, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sk_server_open(&node, &broker, &cfg, err, sizeof err) < 0) {
        sk_error("cannot start: %s", err);
        sk_server_close(&broker);
        sk_config_free(&cfg);
        return 1;
    }
    rc = sk_server_run(&broker);
    if (rc < 0)
        sk_error("the reactor stopped on an error: %s", strerror(-rc));
    sk_info("shutting down");
    sk_server_close(&broker);
    sk_config_free(&cfg);
    sk_info("stopped");
    return rc < 0 ? 1 : 0;
}
