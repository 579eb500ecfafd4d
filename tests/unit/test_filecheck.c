/* SPDX-License-Identifier: Apache-2.0 */
/* The startup checks of local files (mod_auth_obo_check.c): a CA file is
 * usable when it holds a PEM certificate and every PEM block decodes
 * (obo_http_check_ca_file); a JWKS file when it parses as a key set with a
 * usable key (obo_provider_check_jwks_file). Files that open but can never
 * work are refused with a reason. And what reads them (obo_file_read, also
 * behind file: secrets, client keys and the JWKS file's refreshes) never
 * blocks on something that is not a regular file. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "tap.h"
#include "testkeys.h"
#include "obo_http.h"
#include "obo_provider.h"

static char dir[] = "/tmp/obo-filecheck-XXXXXX";

static const char *put(apr_pool_t *p, const char *name, const char *text)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    FILE *f = fopen(path, "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* A self-signed certificate of a fresh key, as PEM text. */
static const char *cert_pem(apr_pool_t *p)
{
    EVP_PKEY *k = tk_gen(p, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    const char *out;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"obo-ca", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    PEM_write_bio_X509(b, x);
    len = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)len);
    BIO_free(b);
    X509_free(x);
    return out;
}

static void test_ca_file(apr_pool_t *p)
{
    const char *pem = cert_pem(p), *err = NULL;
    int n = -1;

    is_int(obo_http_check_ca_file(p, put(p, "ca.pem", pem), &n, &err), APR_SUCCESS,
           "a PEM certificate: usable");
    is_int(n, 1, "one certificate");
    is_int(obo_http_check_ca_file(p, put(p, "two.pem", apr_pstrcat(p, "# bundle\n", pem,
                                                                    "text\n", pem, NULL)),
                                  &n, &err), APR_SUCCESS, "two, with text around: usable");
    is_int(n, 2, "two certificates");
    is_int(obo_http_check_ca_file(p, put(p, "text.pem", "localhost\n"), &n, &err), APR_EINVAL,
           "a text file: refused");
    ok(err && strstr(err, "no PEM certificate"), "reason: no PEM certificate (%s)", err);
    is_int(obo_http_check_ca_file(p, put(p, "empty.pem", ""), &n, &err), APR_EINVAL,
           "an empty file: refused");
    is_int(obo_http_check_ca_file(p, put(p, "broken.pem", "-----BEGIN CERTIFICATE-----\n"
                                         "not base64 !!\n-----END CERTIFICATE-----\n"),
                                  &n, &err), APR_EINVAL, "a damaged PEM block: refused");
    ok(err && strstr(err, "damaged"), "reason: damaged (%s)", err);
    is_int(obo_http_check_ca_file(p, apr_pstrcat(p, dir, "/missing.pem", NULL), &n, &err),
           APR_ENOENT, "a missing file: refused");
}

static void test_jwks_file(apr_pool_t *p)
{
    json_t *set = json_pack("{s:[O]}", "keys", tk_jwk(p, tk_gen(p, "EC", "P-256"), "k1"));
    char *text = json_dumps(set, 0);
    const char *err = NULL;
    int n = -1;

    is_int(obo_provider_check_jwks_file(p, put(p, "good.json", text), &n, &err), APR_SUCCESS,
           "a key set with an EC key: usable");
    is_int(n, 1, "one key");
    free(text);
    json_decref(set);
    is_int(obo_provider_check_jwks_file(p, put(p, "bad.json", "{\"keys\":[{\"kty\":"), &n,
                                        &err), APR_EINVAL, "malformed JSON: refused");
    is_str(err, "malformed JSON", "reason: malformed JSON");
    is_int(obo_provider_check_jwks_file(p, put(p, "empty.json", "{\"keys\":[]}"), &n, &err),
           APR_EINVAL, "{\"keys\":[]}: refused");
    is_str(err, "JWKS has no usable key", "reason: no usable key");
    is_int(obo_provider_check_jwks_file(p, put(p, "oct.json", "{\"keys\":[{\"kty\":\"oct\","
                                               "\"k\":\"c2VjcmV0\"}]}"), &n, &err),
           APR_EINVAL, "only an oct key: refused");
    is_int(obo_provider_check_jwks_file(p, put(p, "nokeys.json", "{\"k\":[]}"), &n, &err),
           APR_EINVAL, "no keys array: refused");
    is_int(obo_provider_check_jwks_file(p, apr_pstrcat(p, dir, "/missing.json", NULL), &n,
                                        &err) != APR_SUCCESS, 1, "a missing file: refused");
}

/* Review 36A-F1/F2: a FIFO nobody writes to held open() for ever (a JWKS
 * file swapped at run time: every worker in the end; a file: secret:
 * configtest). The process is killed after 10 s if anything blocks. */
static void test_not_regular(apr_pool_t *p)
{
    const char *fifo = apr_pstrcat(p, dir, "/fifo", NULL);
    const char *link = apr_pstrcat(p, dir, "/link.json", NULL);
    const char *why = NULL, *err = NULL;
    char *buf = NULL;
    apr_size_t len = 0;
    int n = -1;

    alarm(10);
    ok(mkfifo(fifo, 0600) == 0, "a FIFO that nobody writes to");
    is_int(obo_file_read(p, fifo, 1024, &buf, &len, &why), APR_EINVAL,
           "obo_file_read: refused at once");
    ok(why && strstr(why, "not a regular file"), "reason: not a regular file (%s)", why);
    is_int(obo_file_read(p, dir, 1024, &buf, &len, &why), APR_EINVAL, "a directory: refused");
    is_int(obo_provider_check_jwks_file(p, fifo, &n, &err), APR_EINVAL,
           "the JWKS file check: refused");
    ok(err && strstr(err, "not a regular file"), "reason: %s", err);
    is_int(obo_http_check_ca_file(p, fifo, &n, &err), APR_ENOENT, "the CA file check: refused");
    ok(err && strstr(err, "not a regular file"), "reason: %s", err);
    is_int(obo_file_read(p, put(p, "big.json", "0123456789"), 9, &buf, &len, &why), APR_ENOSPC,
           "a file larger than the bound: refused");
    ok(symlink(apr_pstrcat(p, dir, "/good.json", NULL), link) == 0, "a symbolic link");
    is_int(obo_provider_check_jwks_file(p, link, &n, &err), APR_SUCCESS,
           "to a key set: followed (administrators link these files)");
    alarm(0);
}

static void cleanup(apr_pool_t *p)
{
    const char *names[] = { "ca.pem", "two.pem", "text.pem", "empty.pem", "broken.pem",
                            "good.json", "bad.json", "empty.json", "oct.json", "nokeys.json",
                            "fifo", "big.json", "link.json" };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        unlink(apr_pstrcat(p, dir, "/", names[i], NULL));
    }
    ok(rmdir(dir) == 0, "temporary directory removed");
}

int main(void)
{
    apr_initialize();
    if (!mkdtemp(dir)) {
        return 1;
    }
    TAP_RUN(test_ca_file);
    TAP_RUN(test_jwks_file);
    TAP_RUN(test_not_regular);
    TAP_RUN(cleanup);
    apr_terminate();
    return tap_done();
}
