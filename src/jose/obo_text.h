/* SPDX-License-Identifier: Apache-2.0 */
/* Checks on text that the module copies into request headers, CGI variables
 * or REMOTE_USER: values that come from a token or from the IdP must not be
 * able to start a header line, end one early or confuse a parser. */
#ifndef OBO_TEXT_H
#define OBO_TEXT_H

#include <apr_errno.h>
#include <apr_pools.h>
#include <string.h>

typedef enum {
    /* Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code
     * points above U+10FFFF) without C0 controls, DEL or C1 controls. */
    OBO_TEXT_UTF8 = 1,
    /* Visible ASCII, %x21-7E: an access token (RFC 6749 A.12 minus space,
     * which a header value cannot keep at its ends). */
    OBO_TEXT_VISIBLE,
    /* An RFC 9110 token (tchar): a token_type such as "Bearer". */
    OBO_TEXT_TOKEN
} obo_text_kind;

/* APR_SUCCESS when s (NUL-terminated) is non-empty, at most max bytes long
 * and made only of what kind allows; else APR_EINVAL with *why (static text)
 * saying what is wrong. */
apr_status_t obo_text_check(const char *s, apr_size_t max, obo_text_kind kind,
                            const char **why);

/* url as logs show it: without its query and fragment ("?..." in their
 * place), which may carry a key (an Azure Functions ?code=, a signed
 * URL); "-" for NULL. User names and passwords are refused in IdP URLs
 * before any is used. */
const char *obo_url_shown(apr_pool_t *p, const char *url);
/* Untrusted text (a token's claim) fit for a log line: control characters
 * left out, at most max bytes kept ("..." after a cut); "(none)" for NULL. */
const char *obo_text_shown(apr_pool_t *p, const char *s, apr_size_t max);

/* The same without a pool: "..." OBO_URL_FMT "..." with OBO_URL_ARGS(url)
 * (url a plain expression, evaluated more than once; not NULL). */
#define OBO_URL_FMT "%.*s%s"
#define OBO_URL_ARGS(url) (int)strcspn((url), "?#"), (url), \
    (url)[strcspn((url), "?#")] ? "?..." : ""

#endif
