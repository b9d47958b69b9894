/* The tests' Kafka client (wire.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "skein/buf.h"
#include "wire.h"

static int32_t corr;

int sk_test_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void read_full(int fd, void *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        cr_assert_gt(r, 0, "the node did not answer (%zd, %s)", r, strerror(errno));
        got += (size_t)r;
    }
}

int32_t sk_test_send(int fd, const char *client_id, int16_t key, int16_t version,
                     const void *body)
{
    const kp_api_info *api = kp_api_get(key);
    int16_t hv = kp_request_header_version(api, version);
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = key;
    h.request_api_version = version;
    h.correlation_id = ++corr;
    h.client_id = kp_str_c(client_id);
    size_t n = kp_request_header_size(&h, hv) + api->request.size(body, version);
    uint8_t *out = malloc(4 + n);
    cr_assert_not_null(out);
    kp_writer w;
    kp_writer_init(&w, out, 4 + n);
    cr_assert_eq(kp_write_i32(&w, (int32_t)n), 0);
    cr_assert_eq(kp_request_header_encode(&h, &w, hv), 0);
    cr_assert_eq(api->request.encode(body, &w, version), 0);
    cr_assert_eq(send(fd, out, 4 + n, 0), (ssize_t)(4 + n));
    free(out);
    return h.correlation_id;
}

void sk_test_receive(int fd, int32_t id, int16_t key, int16_t version, void *resp, kp_arena *a)
{
    const kp_api_info *api = kp_api_get(key);
    uint8_t len[4];
    read_full(fd, len, 4);
    size_t rn = kp_be32(len);
    uint8_t *in = kp_arena_alloc(a, rn);
    read_full(fd, in, rn);
    kp_reader r;
    kp_reader_init(&r, in, rn, a);
    kp_response_header rh;
    cr_assert_eq(kp_response_header_decode(&rh, &r, kp_response_header_version(api, version)), 0);
    cr_assert_eq(rh.correlation_id, id);
    cr_assert_eq(api->response.decode(resp, &r, version), 0);
}

void sk_test_call(int fd, const char *client_id, int16_t key, int16_t version, const void *body,
                  void *resp, kp_arena *a)
{
    sk_test_receive(fd, sk_test_send(fd, client_id, key, version, body), key, version, resp, a);
}
