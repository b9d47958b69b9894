/* Request frames captured from real clients (tests/fixtures/, written by
 * tests/fixtures/capture.py) decode without error and re-encode byte for
 * byte. The file name says which client wrote it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/kp_all.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *buf = malloc(*len ? *len : 1);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void round_trip(const char *name, const uint8_t *frame, size_t len)
{
    int16_t key = (int16_t)kp_be16(frame), version = (int16_t)kp_be16(frame + 2);
    const kp_api_info *api = kp_api_get(key);
    cr_assert_not_null(api, "%s: unknown api key %d", name, key);
    int16_t hv = kp_request_header_version(api, version);
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_reader r;
    kp_reader_init(&r, frame, len, &a);
    kp_request_header hdr;
    void *body = kp_arena_alloc(&a, api->request.struct_size);
    cr_assert_eq(kp_request_header_decode(&hdr, &r, hv), 0, "%s: header", name);
    cr_assert_eq(api->request.decode(body, &r, version), 0, "%s: body", name);
    cr_assert_eq(r.p, r.end, "%s: %zu bytes left after the body", name, kp_left(&r));
    size_t n = kp_request_header_size(&hdr, hv) + api->request.size(body, version);
    cr_assert_eq(n, len, "%s: size() %zu, frame %zu", name, n, len);
    uint8_t *out = malloc(n);
    kp_writer w;
    kp_writer_init(&w, out, n);
    cr_assert_eq(kp_request_header_encode(&hdr, &w, hv), 0);
    cr_assert_eq(api->request.encode(body, &w, version), 0);
    cr_assert_eq(memcmp(out, frame, len), 0, "%s: re-encoding differs", name);
    free(out);
    kp_arena_free(&a);
}

Test(fixtures, captured_client_frames_round_trip)
{
    DIR *d = opendir(SK_FIXTURE_DIR);
    cr_assert_not_null(d, "no fixture dir %s", SK_FIXTURE_DIR);
    int count = 0, clients = 0;
    const char *seen[3] = {"kafka-python-", "librdkafka-", "kafkajs-"};
    int have[3] = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".bin") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", SK_FIXTURE_DIR, de->d_name);
        size_t len;
        uint8_t *frame = slurp(path, &len);
        round_trip(de->d_name, frame, len);
        free(frame);
        for (int i = 0; i < 3; i++)
            have[i] |= strncmp(de->d_name, seen[i], strlen(seen[i])) == 0;
        count++;
    }
    closedir(d);
    for (int i = 0; i < 3; i++)
        clients += have[i];
    cr_assert_eq(clients, 3, "fixtures from %d of the 3 clients", clients);
    cr_assert_geq(count, 9);
}
