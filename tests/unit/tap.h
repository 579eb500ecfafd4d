/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal TAP producer for the core's unit tests: each test program prints
 * "1..N" at the end (plan after tests) and exits non-zero on any failure. */
#ifndef OBO_TAP_H
#define OBO_TAP_H

#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
    tap_ok(((got) && (want) && strcmp((got), (want)) == 0) || (!(got) && !(want)), \
           __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_ok((long long)(got) == (long long)(want), \
                                      __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    return pass;
}

/* Each test gets a fresh pool so leaks and lifetimes are per test. */
#define TAP_RUN(fn) do { apr_pool_t *tp_; apr_pool_create(&tp_, NULL); \
    printf("# %s\n", #fn); fn(tp_); apr_pool_destroy(tp_); } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
