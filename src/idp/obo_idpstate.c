/* SPDX-License-Identifier: Apache-2.0 */
/* Sealed last-good IdP state behind obo_idpstate.h. */
#include "obo_idpstate.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_file_io.h>
#include <apr_portable.h>
#include <apr_strings.h>
#include "obo_json.h"

#define STATE_VERSION 1
/* A JWKS is at most 256 KiB and a discovery triple a few KiB; JSON escaping
 * can double the JWKS. */
#define STATE_MAX_BYTES (768 * 1024)

static const char *aad_for(apr_pool_t *p, const char *id)
{
    return apr_pstrcat(p, "mod_auth_obo idp state v1\n", id, NULL);
}

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

char *obo_idpstate_encode(apr_pool_t *p, const obo_idpstate *st, int version,
                          const char *when_key, apr_int64_t when)
{
    json_t *o = json_object();
    char *out = NULL;

    if (!o) {
        return NULL;
    }
    apr_pool_cleanup_register(p, o, json_cleanup, apr_pool_cleanup_null);
    json_object_set_new(o, "v", json_integer(version));
    json_object_set_new(o, when_key, json_integer((json_int_t)when));
    if (st->issuer) {
        json_object_set_new(o, "issuer", json_string(st->issuer));
    }
    if (st->jwks_uri) {
        json_object_set_new(o, "jwks_uri", json_string(st->jwks_uri));
    }
    if (st->token_endpoint) {
        json_object_set_new(o, "token_endpoint", json_string(st->token_endpoint));
    }
    if (st->introspection_endpoint) {
        json_object_set_new(o, "introspection_endpoint",
                            json_string(st->introspection_endpoint));
    }
    json_object_set_new(o, "jwks", json_stringn(st->jwks, st->jwks_len));
    if (json_is_string(json_object_get(o, "jwks"))) {   /* NULL if not UTF-8 */
        out = obo_json_dump(p, o);
    }
    return out;
}

static const char *dup_str(apr_pool_t *p, const json_t *o, const char *name)
{
    const char *v = obo_json_str(o, name);
    return v ? apr_pstrdup(p, v) : NULL;
}

apr_status_t obo_idpstate_decode(apr_pool_t *p, const char *buf, apr_size_t len, int version,
                                 const char *when_key, apr_int64_t *when, obo_idpstate *st,
                                 const char **err)
{
    json_t *o = NULL, *jwks;
    apr_int64_t v = 0;
    apr_status_t rv = obo_json_parse(p, buf, len, OBO_JSON_MAX_DEPTH, 1, &o, err);

    if (rv == APR_SUCCESS) {
        jwks = json_object_get(o, "jwks");
        if (obo_json_int(o, "v", &v) != APR_SUCCESS || v != version
            || obo_json_int(o, when_key, when) != APR_SUCCESS || !json_is_string(jwks)) {
            *err = "unexpected content";
            rv = APR_EINVAL;
        }
        else {
            memset(st, 0, sizeof(*st));
            st->issuer = dup_str(p, o, "issuer");
            st->jwks_uri = dup_str(p, o, "jwks_uri");
            st->token_endpoint = dup_str(p, o, "token_endpoint");
            st->introspection_endpoint = dup_str(p, o, "introspection_endpoint");
            st->jwks_len = json_string_length(jwks);
            st->jwks = apr_pstrmemdup(p, json_string_value(jwks), st->jwks_len);
        }
    }
    return rv;
}

static apr_status_t write_atomically(apr_pool_t *p, const char *path,
                                     const unsigned char *data, apr_size_t len)
{
    /* mktemp in the target's directory: rename() stays within one file system */
    char *tmp = apr_pstrcat(p, path, ".XXXXXX", NULL);
    apr_file_t *f = NULL;
    apr_os_file_t fd = -1;
    apr_status_t rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_READ
                                      | APR_FOPEN_WRITE | APR_FOPEN_EXCL
                                      | APR_FOPEN_BINARY, p);

    /* mkstemp made it (O_EXCL: never through a planted link); its mode is
     * set on the descriptor, not through the name, and rename() replaces
     * whatever is at path (a link, a FIFO) without following it. */
    if (rv == APR_SUCCESS && apr_os_file_get(&fd, f) == APR_SUCCESS
        && fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        rv = errno;
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, data, len, NULL);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_flush(f);
    }
    if (f) {
        apr_status_t crv = apr_file_close(f);
        rv = rv == APR_SUCCESS ? crv : rv;
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_rename(tmp, path, p);
    }
    if (rv != APR_SUCCESS && f) {
        apr_file_remove(tmp, p);
    }
    return rv;
}

apr_status_t obo_idpstate_save(apr_pool_t *p, const char *path,
                               const unsigned char key[OBO_AEAD_KEY_LEN], const char *id,
                               const obo_idpstate *st, const char **err)
{
    const char *aad = aad_for(p, id);
    char *pt = obo_idpstate_encode(p, st, STATE_VERSION, "saved", apr_time_sec(st->saved_at));
    unsigned char *sealed = NULL;
    apr_size_t slen = 0;
    apr_status_t rv = pt ? APR_SUCCESS : APR_ENOMEM;

    *err = "cannot serialise the IdP state";
    if (rv == APR_SUCCESS) {
        *err = "cannot seal the IdP state";
        rv = obo_aead_seal(p, key, aad, strlen(aad), pt, strlen(pt), &sealed, &slen);
    }
    if (rv == APR_SUCCESS) {
        rv = write_atomically(p, path, sealed, slen);
        *err = rv == APR_SUCCESS ? NULL : "cannot write the state file";
    }
    return rv;
}

static apr_status_t parse(apr_pool_t *p, const unsigned char *pt, apr_size_t len,
                          obo_idpstate *st, const char **err)
{
    apr_int64_t saved = 0;
    apr_status_t rv = obo_idpstate_decode(p, (const char *)pt, len, STATE_VERSION, "saved",
                                          &saved, st, err);

    if (rv == APR_SUCCESS) {
        st->saved_at = apr_time_from_sec(saved);
    }
    return rv;
}

/* Reads the state file as if someone else had planted it: a symbolic link
 * is not followed (O_NOFOLLOW), a FIFO or a device does not block the
 * caller (O_NONBLOCK: a FIFO without a writer would hang every request
 * that falls back on the state), and only a regular file of at most
 * STATE_MAX_BYTES is read (fstat on the descriptor, not the name). */
static apr_status_t read_file(apr_pool_t *p, const char *path, char **buf, apr_size_t *len,
                              const char **err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    apr_size_t got = 0;
    apr_status_t rv = fd < 0 ? errno : APR_SUCCESS;
    ssize_t n = 1;

    /* Linux says ELOOP for O_NOFOLLOW on a link, FreeBSD EMLINK */
    *err = rv == ELOOP || rv == EMLINK ? "it is a symbolic link (not followed)"
                                       : "cannot open the file";
    if (rv == APR_SUCCESS && fstat(fd, &sb) != 0) {
        rv = errno;
        *err = "cannot stat the file";
    }
    if (rv == APR_SUCCESS && !S_ISREG(sb.st_mode)) {
        rv = APR_EINVAL;
        *err = "not a regular file (a FIFO, device or directory is not read)";
    }
    if (rv == APR_SUCCESS && sb.st_size > STATE_MAX_BYTES) {
        rv = APR_ENOSPC;
        *err = "larger than a state file can be (not read)";
    }
    if (rv == APR_SUCCESS) {
        *buf = apr_palloc(p, (apr_size_t)sb.st_size + 1);
        while (rv == APR_SUCCESS && got < (apr_size_t)sb.st_size && n != 0) {
            n = read(fd, *buf + got, (apr_size_t)sb.st_size - got);
            got += n > 0 ? (apr_size_t)n : 0;
            rv = n < 0 && errno != EINTR ? errno : APR_SUCCESS;
        }
        *err = rv == APR_SUCCESS ? NULL : "cannot read the file";
        (*buf)[got] = '\0';
        *len = got;
    }
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

apr_status_t obo_idpstate_load(apr_pool_t *p, const char *path,
                               const unsigned char key[OBO_AEAD_KEY_LEN], const char *id,
                               obo_idpstate *st, const char **err)
{
    const char *aad = aad_for(p, id);
    char *buf = NULL;
    unsigned char *pt = NULL;
    apr_size_t len = 0, ptlen = 0;
    apr_status_t rv = read_file(p, path, &buf, &len, err);

    if (APR_STATUS_IS_ENOENT(rv)) {
        *err = "no saved state";
        return APR_ENOENT;
    }
    if (rv == APR_SUCCESS) {
        rv = obo_aead_open(p, key, aad, strlen(aad), (const unsigned char *)buf, len,
                           &pt, &ptlen);
        *err = "the seal does not verify (altered, another IdP or another server key)";
    }
    if (rv == APR_SUCCESS) {
        rv = parse(p, pt, ptlen, st, err);
    }
    return rv == APR_SUCCESS || rv == APR_ENOENT ? rv : APR_EINVAL;
}
