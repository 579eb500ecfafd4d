/* SPDX-License-Identifier: Apache-2.0 */
/* obo_text_check: what may go into REMOTE_USER, a header or a variable. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_text.h"

static int good(const char *s, apr_size_t max, obo_text_kind k)
{
    const char *why = NULL;
    return obo_text_check(s, max, k, &why) == APR_SUCCESS && why == NULL;
}

static int bad(const char *s, apr_size_t max, obo_text_kind k, const char *want)
{
    const char *why = NULL;
    return obo_text_check(s, max, k, &why) == APR_EINVAL && why && !strcmp(why, want);
}

static void test_utf8(apr_pool_t *p)
{
    ok(good("alice", 256, OBO_TEXT_UTF8), "plain ASCII");
    ok(good("alice@example.com", 256, OBO_TEXT_UTF8), "an e-mail address");
    ok(good("J\xC3\xBCrgen \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80", 256, OBO_TEXT_UTF8),
       "2, 3 and 4 byte sequences");
    ok(good("a b\"c", 256, OBO_TEXT_UTF8), "space and quotes are text");
    ok(bad("alice\r\nX-Injected: yes", 256, OBO_TEXT_UTF8, "control character"), "CR LF");
    ok(bad("alice\n", 256, OBO_TEXT_UTF8, "control character"), "LF");
    ok(bad("a\tb", 256, OBO_TEXT_UTF8, "control character"), "TAB");
    ok(bad("a\x7F", 256, OBO_TEXT_UTF8, "control character"), "DEL");
    ok(bad("a\xC2\x85", 256, OBO_TEXT_UTF8, "control character"), "U+0085 (NEL, C1)");
    ok(bad("a\xC2\x9B", 256, OBO_TEXT_UTF8, "control character"), "U+009B (CSI, C1)");
    ok(bad("a\xFF", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "0xFF");
    ok(bad("a\x80", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "lone continuation byte");
    ok(bad("a\xC3", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "truncated sequence");
    ok(bad("\xC0\xAF", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "overlong '/' (C0 AF)");
    ok(bad("\xE0\x80\xAF", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "overlong 3-byte form");
    ok(bad("\xF0\x80\x80\xAF", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "overlong 4-byte form");
    ok(bad("\xED\xA0\x80", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "surrogate U+D800");
    ok(bad("\xF4\x90\x80\x80", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "above U+10FFFF");
    ok(bad("\xF5\x80\x80\x80", 256, OBO_TEXT_UTF8, "invalid UTF-8"), "lead byte F5");
    ok(good("\xF4\x8F\xBF\xBF", 256, OBO_TEXT_UTF8), "U+10FFFF itself");
    ok(bad("", 256, OBO_TEXT_UTF8, "empty"), "empty");
    ok(bad(NULL, 256, OBO_TEXT_UTF8, "empty"), "NULL");
    {
        char *s = apr_palloc(p, 258);
        memset(s, 'a', 257);
        s[257] = '\0';
        ok(bad(s, 256, OBO_TEXT_UTF8, "too long"), "257 bytes over a 256 bound");
        s[256] = '\0';
        ok(good(s, 256, OBO_TEXT_UTF8), "256 bytes at a 256 bound");
    }
}

static void test_visible(apr_pool_t *p)
{
    ok(good("eyJhbGciOi.eyJzdWIi.c2ln", 65536, OBO_TEXT_VISIBLE), "a JWT");
    ok(good("opaque~token+/=", 65536, OBO_TEXT_VISIBLE), "an opaque token");
    ok(bad("eyJ\r\nX-Injected: yes", 65536, OBO_TEXT_VISIBLE, "control character"), "CR LF");
    ok(bad("a b", 65536, OBO_TEXT_VISIBLE, "space"), "space");
    ok(bad("a\xC3\xA9", 65536, OBO_TEXT_VISIBLE, "non-ASCII character"), "non-ASCII");
    ok(bad("abcdef", 5, OBO_TEXT_VISIBLE, "too long"), "length bound");
    (void)p;
}

static void test_token(apr_pool_t *p)
{
    ok(good("Bearer", 64, OBO_TEXT_TOKEN), "Bearer");
    ok(good("N_A", 64, OBO_TEXT_TOKEN), "N_A (RFC 8693)");
    ok(bad("Bearer\r\nX-Injected: yes", 64, OBO_TEXT_TOKEN, "control character"), "CR LF");
    ok(bad("Bearer x", 64, OBO_TEXT_TOKEN, "space"), "space");
    ok(bad("Bea\"rer", 64, OBO_TEXT_TOKEN, "character not allowed in a token"), "quote");
    ok(bad("Bearer:", 64, OBO_TEXT_TOKEN, "character not allowed in a token"), "colon");
    (void)p;
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_utf8);
    TAP_RUN(test_visible);
    TAP_RUN(test_token);
    apr_terminate();
    return tap_done();
}
