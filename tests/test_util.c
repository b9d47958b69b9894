/* The shared helpers: wire strings (bytes with a length) and log lines. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>

#include "skein/logging.h"
#include "skein/wire_str.h"

#define WS(lit) ((kp_str){(lit), (int32_t)sizeof(lit) - 1})

Test(wire_str, copies_compare_and_escape)
{
    kp_str s;
    cr_assert_eq(sk_wire_str_dup(&s, WS("a\0b")), 0);
    cr_assert(kp_str_eq(s, WS("a\0b")));
    cr_assert_lt(sk_wire_str_cmp(WS("a\0a"), s), 0);
    cr_assert_gt(sk_wire_str_cmp(s, kp_str_c("a")), 0, "a longer string sorts after its prefix");
    cr_assert_lt(sk_wire_str_cmp(KP_STR_NULL, kp_str_c("")), 0);
    char buf[16];
    cr_assert_str_eq(sk_wire_str_escape(s, buf, sizeof buf), "a\\x00b");
    cr_assert_str_eq(sk_wire_str_escape(kp_str_c("a\\b\n"), buf, sizeof buf), "a\\x5cb\\x0a",
                     "the backslash is escaped too, so the form is unambiguous");
    cr_assert_str_eq(sk_wire_str_escape(kp_str_c("abcdefghijklmnopq"), buf, sizeof buf),
                     "abcdefghijkl...");
    cr_assert(kp_str_eq_c(s, "a") == false);
    cr_assert_eq(sk_wire_str_set(&s, kp_str_c("xyz")), 0);
    cr_assert(kp_str_eq_c(s, "xyz"));
    sk_wire_str_free(&s);
    cr_assert_eq(s.len, -1);
    cr_assert_eq(sk_wire_str_dup(&s, KP_STR_NULL), 0);
    cr_assert_eq(s.len, -1);
}

Test(wire_str, node_ids_are_read_over_all_their_bytes)
{
    int32_t id = 0;
    cr_assert_eq(sk_wire_str_to_i32(kp_str_c("42"), &id), 0);
    cr_assert_eq(id, 42);
    cr_assert_eq(sk_wire_str_to_i32(kp_str_c("-2147483648"), &id), 0);
    cr_assert_eq(id, INT32_MIN);
    cr_assert_lt(sk_wire_str_to_i32(WS("1\0x"), &id), 0, "not 1");
    cr_assert_lt(sk_wire_str_to_i32(kp_str_c("2147483648"), &id), 0);
    cr_assert_lt(sk_wire_str_to_i32(kp_str_c(""), &id), 0);
    cr_assert_lt(sk_wire_str_to_i32(kp_str_c("-"), &id), 0);
    cr_assert_lt(sk_wire_str_to_i32(KP_STR_NULL, &id), 0);
}

Test(logging, control_bytes_cannot_split_a_line, .init = cr_redirect_stderr)
{
    sk_log(SK_LOG_WARN, "client %s says hi", "evil\n[2026-01-01 00:00:00,000] ERROR forged");
    fflush(stderr);
    char out[512] = "";
    FILE *f = cr_get_redirected_stderr();
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    cr_assert(strstr(out, "client evil\\x0a[2026-01-01 00:00:00,000] ERROR forged says hi\n"),
              "%s", out);
    cr_assert_eq(strchr(out, '\n'), out + n - 1, "one event, one line: %s", out);
}

Test(logging, a_limited_call_site_sends_a_burst_then_counts_what_it_holds_back)
{
    struct sk_log_limit l = {0};
    unsigned long held = 99;
    /* Within one second (the loop is far shorter, bar a second boundary,
     * which only lets more through). */
    int passed = 0;
    for (int i = 0; i < 3; i++)
        passed += sk_log_limit_pass(&l, 3, &held);
    cr_assert_eq(passed, 3);
    cr_assert_eq(held, 0);
    if (sk_log_limit_pass(&l, 3, &held))
        cr_skip_test("a second boundary fell inside the burst");
    cr_assert(!sk_log_limit_pass(&l, 3, &held));
    cr_assert_eq(l.held, 2);
    l.second--; /* the next second */
    cr_assert(sk_log_limit_pass(&l, 3, &held));
    cr_assert_eq(held, 2, "the line that goes out tells how many were held back");
    cr_assert_eq(l.held, 0);
}
