/* SPDX-License-Identifier: Apache-2.0 */
/* Character checks for values handed to httpd (see obo_text.h). */
#include "obo_text.h"

#include <string.h>
#include <apr_strings.h>

/* Length of the UTF-8 sequence at s (1..4), or 0 if it is not well formed
 * (RFC 3629 s.4). The NUL terminator stops every continuation test. */
static apr_size_t utf8_seq(const unsigned char *s, unsigned long *cp)
{
    unsigned char c = s[0];
    apr_size_t n, i;
    unsigned long v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; v = c & 0x1F; min = 0x80;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; v = c & 0x0F; min = 0x800;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; v = c & 0x07; min = 0x10000;
    }
    else {
        return 0;     /* continuation byte, C0/C1 (overlong) or F5..FF */
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return n;
}

static apr_status_t check_utf8(const unsigned char *s, const char **why)
{
    unsigned long cp = 0;
    apr_size_t n;

    for (; *s; s += n) {
        if ((n = utf8_seq(s, &cp)) == 0) {
            *why = "invalid UTF-8";
            return APR_EINVAL;
        }
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
            *why = "control character";
            return APR_EINVAL;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t check_ascii(const unsigned char *s, int tchar, const char **why)
{
    static const char tspecials[] = "!#$%&'*+-.^_`|~";

    for (; *s; s++) {
        if (*s < 0x21 || *s > 0x7E) {
            *why = *s < 0x20 || *s == 0x7F ? "control character"
                   : *s == 0x20 ? "space" : "non-ASCII character";
            return APR_EINVAL;
        }
        if (tchar && !(*s >= '0' && *s <= '9') && !(*s >= 'A' && *s <= 'Z')
            && !(*s >= 'a' && *s <= 'z') && !strchr(tspecials, *s)) {
            *why = "character not allowed in a token";
            return APR_EINVAL;
        }
    }
    return APR_SUCCESS;
}

apr_status_t obo_text_check(const char *s, apr_size_t max, obo_text_kind kind,
                            const char **why)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t len = s ? strnlen(s, max + 1) : 0;

    *why = NULL;
    if (len == 0) {
        *why = "empty";
        return APR_EINVAL;
    }
    if (len > max) {
        *why = "too long";
        return APR_EINVAL;
    }
    if (kind == OBO_TEXT_UTF8) {
        return check_utf8(u, why);
    }
    return check_ascii(u, kind == OBO_TEXT_TOKEN, why);
}

const char *obo_url_shown(apr_pool_t *p, const char *url)
{
    apr_size_t n = url ? strcspn(url, "?#") : 0;

    if (!url) {
        return "-";
    }
    return url[n] ? apr_pstrcat(p, apr_pstrmemdup(p, url, n), "?...", NULL) : url;
}

const char *obo_text_shown(apr_pool_t *p, const char *s, apr_size_t max)
{
    char *out, *o;

    if (!s) {
        return "(none)";
    }
    out = o = apr_palloc(p, max + 4);
    for (; *s && (apr_size_t)(o - out) < max; s++) {
        if ((unsigned char)*s >= 0x20 && *s != 0x7f) {
            *o++ = *s;
        }
    }
    strcpy(o, *s ? "..." : "");
    return out;
}
