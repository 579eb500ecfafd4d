/* SPDX-License-Identifier: Apache-2.0 */
/* Checks on text that the module copies into request headers, CGI variables
 * or REMOTE_USER: values that come from a token or from the IdP must not be
 * able to start a header line, end one early or confuse a parser. */
#ifndef OBO_TEXT_H
#define OBO_TEXT_H

#include <apr_errno.h>
#include <apr_pools.h>

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

#endif
