/* SPDX-License-Identifier: Apache-2.0 */
/* configtest against the running server's environment (see
 * mod_auth_obo_envcheck.h). Linux's /proc gives another process's
 * environment to its own user and root only, which is who runs configtest
 * for a server; anywhere else, or for anyone else, nothing is checked. The
 * environment read holds secrets: it is compared (by SHA-256, in constant
 * time), never logged, and wiped with ptemp. */
#include "mod_auth_obo_envcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "apr_file_io.h"
#include "apr_strings.h"
#include "http_main.h"
#include "http_core.h"
#include "mpm_common.h"
#include "obo_crypto.h"

APLOG_USE_MODULE(auth_obo);

#define ENVIRON_MAX (1024 * 1024)
#define PID_MAX_TEXT 32

/* A /proc file (whose size reads 0) or the pid file, up to max bytes.
 * Opened without blocking and read only if a regular file: a FIFO planted
 * as the PidFile hung configtest, and so every reload (review 37C-F5). */
static apr_status_t read_all(apr_pool_t *p, const char *path, apr_size_t max, char **buf,
                             apr_size_t *len)
{
    apr_file_t *f = NULL;
    apr_size_t got = 0, n;
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    apr_status_t rv = fd < 0 ? APR_FROM_OS_ERROR(errno) : APR_SUCCESS;

    if (rv == APR_SUCCESS && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        rv = apr_os_file_put(&f, &fd, APR_FOPEN_READ, p);
    }
    if (rv != APR_SUCCESS) {
        if (fd >= 0) {
            close(fd);
        }
        return rv;
    }
    *buf = apr_palloc(p, max + 1);
    do {
        n = max - got;
        rv = apr_file_read(f, *buf + got, &n);
        got += rv == APR_SUCCESS ? n : 0;
    } while (rv == APR_SUCCESS && got < max);
    apr_file_close(f);
    (*buf)[got] = '\0';
    *len = got;
    return rv == APR_EOF || rv == APR_SUCCESS ? APR_SUCCESS : rv;
}

/* The running parent named by PidFile: not this process, and running this
 * same binary (a stale pid file may name anything). 0 if there is none. */
static pid_t running_parent(apr_pool_t *p)
{
    const char *path = ap_pid_fname ? ap_server_root_relative(p, ap_pid_fname) : NULL;
    char self[1024], other[1024], *text = NULL;
    apr_size_t len = 0;
    ssize_t a, b;
    long pid;

    if (!path || read_all(p, path, PID_MAX_TEXT, &text, &len) != APR_SUCCESS) {
        return 0;
    }
    pid = strtol(text, NULL, 10);
    if (pid <= 1 || pid == (long)getpid()) {
        return 0;
    }
    a = readlink("/proc/self/exe", self, sizeof(self) - 1);
    b = readlink(apr_psprintf(p, "/proc/%ld/exe", pid), other, sizeof(other) - 1);
    if (a <= 0 || a != b || memcmp(self, other, (size_t)a) != 0) {
        return 0;
    }
    return (pid_t)pid;
}

/* NAME's value in a NUL-separated environment, or NULL. */
static const char *env_value(const char *env, apr_size_t len, const char *name)
{
    apr_size_t n = strlen(name);
    const char *e = env, *end = env + len;

    while (e < end) {
        apr_size_t l = strnlen(e, (apr_size_t)(end - e));

        if (l > n && memcmp(e, name, n) == 0 && e[n] == '=') {
            return e + n + 1;
        }
        e += l + 1;
    }
    return NULL;
}

static int check_one(server_rec *s, pid_t pid, const char *env,
                     apr_size_t len, const auth_obo_env_secret *e)
{
    unsigned char h[OBO_SHA256_LEN];
    const char *v = env_value(env, len, e->name);

    if (!v || !*v) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "OBO105: %s env:%s: the running httpd "
                     "(pid %ld) was started without %s, and a graceful restart (systemctl "
                     "reload, apachectl graceful or restart) keeps the environment it started "
                     "with, so it would stop: stop and start it instead (systemctl restart)",
                     e->directive, e->name, (long)pid, e->name);
        return 0;
    }
    obo_sha256(v, strlen(v), h);
    if (!obo_ct_equal(h, sizeof(h), e->sha256, sizeof(h))) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "OBO106: %s env:%s: the running httpd "
                     "(pid %ld) has another value of %s, and a graceful restart keeps that "
                     "one: stop and start it to use the new one", e->directive, e->name,
                     (long)pid, e->name);
    }
    return 1;
}

int auth_obo_envcheck(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const apr_array_header_t *list = auth_obo_env_secrets(pconf);
    char *env = NULL;
    apr_size_t len = 0;
    pid_t pid;
    int i, ok = 1;

    if (!list || ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST
        || (pid = running_parent(ptemp)) == 0
        || read_all(ptemp, apr_psprintf(ptemp, "/proc/%ld/environ", (long)pid), ENVIRON_MAX,
                    &env, &len) != APR_SUCCESS) {
        return 1;
    }
    obo_cleanse_on_clear(ptemp, env, len);
    for (i = 0; i < list->nelts; i++) {
        ok = check_one(s, pid, env, len, &APR_ARRAY_IDX(list, i, auth_obo_env_secret))
             && ok;
    }
    return ok;
}
