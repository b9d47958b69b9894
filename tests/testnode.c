/* The tests' single node (testnode.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testnode.h"

#define COMMON_OVERRIDES 5
#define MAX_EXTRA 16

/* What every test node is, besides its ports and folder. */
static const char *const common[COMMON_OVERRIDES] = {
    "process.roles=broker,controller", "controller.listener.names=CONTROLLER",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT", "node.id=1",
    "controller.quorum.voters=1@127.0.0.1:9"};

void sk_test_node_config(struct sk_config *cfg, const char *dir, const char *const *extra,
                         int nextra)
{
    cr_assert_leq(nextra, MAX_EXTRA);
    char logdirs[256];
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s", dir);
    const char *ov[COMMON_OVERRIDES + 2 + MAX_EXTRA];
    int n = 0;
    for (int i = 0; i < COMMON_OVERRIDES; i++)
        ov[n++] = common[i];
    ov[n++] = logdirs;
    ov[n++] = "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0";
    for (int i = 0; i < nextra; i++)
        ov[n++] = extra[i];
    char err[256];
    cr_assert_eq(sk_config_load(cfg, NULL, ov, n, err, sizeof err), 0, "%s", err);
}

uint16_t sk_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

pid_t sk_test_spawn_broker(const char *bin, const char *dir, uint16_t port, uint16_t ctrl,
                           const char *const *extra, int nextra)
{
    cr_assert_leq(nextra, MAX_EXTRA);
    char listeners[128], voters[64], logs[256], out[256];
    snprintf(listeners, sizeof listeners,
             "listeners=PLAINTEXT://127.0.0.1:%u,CONTROLLER://127.0.0.1:%u", port, ctrl);
    snprintf(voters, sizeof voters, "controller.quorum.voters=1@127.0.0.1:%u", ctrl);
    snprintf(logs, sizeof logs, "log.dirs=%s/logs", dir);
    snprintf(out, sizeof out, "%s/broker.log", dir);
    const char *ov[COMMON_OVERRIDES - 1 + 3 + MAX_EXTRA];
    int n = 0;
    for (int i = 0; i < COMMON_OVERRIDES - 1; i++) /* the voters are on ctrl */
        ov[n++] = common[i];
    ov[n++] = voters;
    ov[n++] = listeners;
    ov[n++] = logs;
    for (int i = 0; i < nextra; i++)
        ov[n++] = extra[i];
    const char *argv[2 * (COMMON_OVERRIDES + 2 + MAX_EXTRA) + 2];
    int argc = 0;
    argv[argc++] = bin;
    for (int i = 0; i < n; i++) {
        argv[argc++] = "--override";
        argv[argc++] = ov[i];
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    cr_assert_gt(pid, 0);
    return pid;
}
