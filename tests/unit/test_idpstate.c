/* SPDX-License-Identifier: Apache-2.0 */
/* obo_idpstate: the sealed last-good IdP state file. A round trip keeps every
 * field; the file is private (0600), its content is not readable as JSON, and
 * an altered file, another key or another IdP's identity is refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_crypto.h"
#include "obo_http.h"
#include "obo_idpstate.h"

#define JWKS "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\"," \
             "\"x\":\"AAAA\",\"y\":\"BBBB\"}]}"
#define ID "https://idp.example/t/v2.0/.well-known/openid-configuration|||"

static unsigned char key[OBO_AEAD_KEY_LEN], other[OBO_AEAD_KEY_LEN];
static char dir[] = "/tmp/obo-idpstate-XXXXXX";

static obo_idpstate sample(void)
{
    obo_idpstate st;

    memset(&st, 0, sizeof(st));
    st.issuer = "https://idp.example/t/v2.0";
    st.jwks_uri = "https://idp.example/t/keys";
    st.token_endpoint = "https://idp.example/t/token";
    st.introspection_endpoint = "https://idp.example/t/introspect";
    st.jwks = JWKS;
    st.jwks_len = strlen(JWKS);
    st.saved_at = apr_time_from_sec(1700000000);
    return st;
}

static const char *path_of(apr_pool_t *p, const char *name)
{
    return apr_pstrcat(p, dir, "/", name, NULL);
}

static void test_round_trip(apr_pool_t *p)
{
    obo_idpstate st = sample(), got;
    const char *err = NULL, *path = path_of(p, "a.state");
    struct stat sb;
    char *raw = NULL;
    apr_size_t len = 0;

    is_int(obo_idpstate_save(p, path, key, ID, &st, &err), APR_SUCCESS, "saved");
    memset(&sb, 0, sizeof(sb));
    stat(path, &sb);
    ok((sb.st_mode & 07777) == 0600, "mode 0600 (%o)", (unsigned)(sb.st_mode & 07777));
    obo_file_read(p, path, 1 << 20, &raw, &len, NULL);
    ok(raw && !memmem(raw, len, "keys", 4) && !memmem(raw, len, "idp.example", 11),
       "sealed: neither the JWKS nor the URLs are visible");
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_SUCCESS, "loaded");
    is_str(got.issuer, st.issuer, "issuer");
    is_str(got.jwks_uri, st.jwks_uri, "jwks_uri");
    is_str(got.token_endpoint, st.token_endpoint, "token_endpoint");
    is_str(got.introspection_endpoint, st.introspection_endpoint, "introspection_endpoint");
    ok(got.jwks_len == st.jwks_len && memcmp(got.jwks, JWKS, st.jwks_len) == 0, "JWKS");
    is_int(apr_time_sec(got.saved_at), 1700000000, "saved_at");

    st.token_endpoint = NULL;
    st.jwks_uri = "https://idp.example/t/keys2";
    is_int(obo_idpstate_save(p, path, key, ID, &st, &err), APR_SUCCESS, "replaced");
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_SUCCESS, "loaded again");
    ok(got.token_endpoint == NULL && strcmp(got.jwks_uri, st.jwks_uri) == 0,
       "the new content, absent fields stay absent");
}

static void test_refused(apr_pool_t *p)
{
    obo_idpstate st = sample(), got;
    const char *err = NULL, *path = path_of(p, "b.state");
    char *raw = NULL;
    apr_size_t len = 0;
    apr_file_t *f = NULL;

    is_int(obo_idpstate_load(p, path_of(p, "none.state"), key, ID, &got, &err), APR_ENOENT,
           "no file: APR_ENOENT");
    obo_idpstate_save(p, path, key, ID, &st, &err);
    is_int(obo_idpstate_load(p, path, other, ID, &got, &err), APR_EINVAL, "another key");
    is_int(obo_idpstate_load(p, path, key, "https://evil.example/|||", &got, &err),
           APR_EINVAL, "another IdP's identity");
    obo_file_read(p, path, 1 << 20, &raw, &len, NULL);
    raw[len / 2] ^= 1;
    apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY, 0, p);
    apr_file_write_full(f, raw, len, NULL);
    apr_file_close(f);
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_EINVAL, "one bit flipped");
    ok(err && strstr(err, "seal"), "with a reason (%s)", err ? err : "none");
    apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY, 0, p);
    apr_file_write_full(f, "{\"v\":1}", 7, NULL);
    apr_file_close(f);
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_EINVAL, "plain JSON");
}

/* Files planted where the state file goes (issue 14, A4): a link is not
 * followed, a FIFO does not block (alarm() turns a hang into a failure),
 * a directory or an oversized file is not read; the writer replaces a
 * planted link or FIFO without writing through it. */
static void test_planted(apr_pool_t *p)
{
    obo_idpstate st = sample(), got;
    const char *err = NULL, *real = path_of(p, "real.state"), *path = path_of(p, "c.state");
    char *raw = NULL, *big = apr_pcalloc(p, 800 * 1024);
    apr_size_t len = 0, rlen = 0;
    apr_file_t *f = NULL;
    struct stat sb;

    obo_idpstate_save(p, real, key, ID, &st, &err);
    obo_file_read(p, real, 1 << 20, &raw, &rlen, NULL);
    ok(symlink(real, path) == 0, "a symbolic link to a valid state file");
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_EINVAL, "is not followed");
    ok(err && strstr(err, "symbolic link"), "and says so (%s)", err ? err : "none");
    st.jwks_uri = "https://idp.example/t/keys3";
    is_int(obo_idpstate_save(p, path, key, ID, &st, &err), APR_SUCCESS, "saved over the link");
    ok(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode), "the link was replaced by a file");
    obo_file_read(p, real, 1 << 20, &raw, &len, NULL);
    ok(len == rlen, "the link's target was not written through");
    unlink(path);

    ok(mkfifo(path, 0600) == 0, "a FIFO without a writer");
    alarm(10);
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_EINVAL, "is not read");
    alarm(0);
    ok(err && strstr(err, "regular file"), "and does not block (%s)", err ? err : "none");
    is_int(obo_idpstate_save(p, path, key, ID, &st, &err), APR_SUCCESS, "saved over the FIFO");
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_SUCCESS, "then it loads");
    unlink(path);

    ok(mkdir(path, 0700) == 0, "a directory");
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_EINVAL, "is not read");
    rmdir(path);

    memset(big, 'A', 800 * 1024);
    apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_BINARY,
                  APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    apr_file_write_full(f, big, 800 * 1024, NULL);
    apr_file_close(f);
    is_int(obo_idpstate_load(p, path, key, ID, &got, &err), APR_EINVAL, "an oversized file");
    ok(err && strstr(err, "larger"), "is not read (%s)", err ? err : "none");
    unlink(path);
}

static void cleanup(apr_pool_t *p)
{
    apr_dir_t *d = NULL;
    apr_finfo_t fi;

    if (apr_dir_open(&d, dir, p) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS) {
            if (strcmp(fi.name, ".") && strcmp(fi.name, "..")) {
                ok(strstr(fi.name, ".state.") == NULL, "no temporary file left: %s", fi.name);
                apr_file_remove(path_of(p, fi.name), p);
            }
        }
        apr_dir_close(d);
    }
    rmdir(dir);
}

int main(void)
{
    apr_initialize();
    obo_random(key, sizeof(key));
    obo_random(other, sizeof(other));
    if (!mkdtemp(dir)) {
        return 1;
    }
    TAP_RUN(test_round_trip);
    TAP_RUN(test_refused);
    TAP_RUN(test_planted);
    TAP_RUN(cleanup);
    apr_terminate();
    return tap_done();
}
