/* SPDX-License-Identifier: Apache-2.0 */
/* jansson helpers: bounded parsing and pool-bound lifetimes (see obo_json.h). */
#include "obo_json.h"

#include <string.h>
#include <apr_strings.h>

static apr_status_t obo_json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

json_t *obo_json_pool(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, obo_json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

/* jansson's parser recurses per nesting level; hostile input like
 * "[[[[..." must be refused before it gets there. Brackets inside strings
 * do not count, so string and escape state is tracked. */
static int obo_json_depth_ok(const char *buf, apr_size_t len, int max_depth)
{
    int depth = 0, in_str = 0, esc = 0, good = 1;
    apr_size_t i;

    for (i = 0; i < len && good; i++) {
        char c = buf[i];
        if (in_str) {
            if (esc) {
                esc = 0;
            }
            else if (c == '\\') {
                esc = 1;
            }
            else if (c == '"') {
                in_str = 0;
            }
        }
        else if (c == '"') {
            in_str = 1;
        }
        else if (c == '[' || c == '{') {
            good = ++depth <= max_depth;
        }
        else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return good;
}

apr_status_t obo_json_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                            int max_depth, int want_object, json_t **out,
                            const char **err)
{
    apr_status_t rv = APR_EINVAL;
    json_error_t jerr;
    json_t *j = NULL;
    size_t flags = JSON_REJECT_DUPLICATES | (want_object ? 0 : JSON_DECODE_ANY);

    if (buf == NULL || memchr(buf, '\0', len) != NULL) {
        *err = "JSON contains a NUL byte";
    }
    else if (!obo_json_depth_ok(buf, len, max_depth)) {
        *err = "JSON nested too deeply";
    }
    else if ((j = json_loadb(buf, len, flags, &jerr)) == NULL) {
        /* jerr.text can quote input, so it is not passed on. */
        *err = "malformed JSON";
    }
    else if (want_object && !json_is_object(j)) {
        *err = "JSON is not an object";
        json_decref(j);
    }
    else {
        *out = obo_json_pool(p, j);
        rv = APR_SUCCESS;
    }
    return rv;
}

const char *obo_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

apr_status_t obo_json_int(const json_t *obj, const char *key, apr_int64_t *out)
{
    apr_status_t rv = APR_NOTFOUND;
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (json_is_integer(v)) {
        *out = (apr_int64_t)json_integer_value(v);
        rv = APR_SUCCESS;
    }
    else if (json_is_real(v)) {
        double d = json_real_value(v);
        rv = APR_EINVAL;
        /* Range first: converting an out-of-range double is undefined. */
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0
            && (double)(apr_int64_t)d == d) {
            *out = (apr_int64_t)d;
            rv = APR_SUCCESS;
        }
    }
    else if (v != NULL) {
        rv = APR_EINVAL;
    }
    return rv;
}

apr_status_t obo_json_numericdate(const json_t *obj, const char *key, apr_int64_t *sec,
                                  apr_int32_t *usec)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    apr_status_t rv = v ? APR_EINVAL : APR_NOTFOUND;
    double d;
    apr_int64_t t;

    if (json_is_integer(v)) {
        *sec = (apr_int64_t)json_integer_value(v);
        *usec = 0;
        rv = APR_SUCCESS;
    }
    else if (json_is_real(v)) {
        d = json_real_value(v);
        /* Range first: converting an out-of-range double is undefined (and
         * NaN fails both comparisons). */
        if (d > -9223372036854775808.0 && d < 9223372036854775808.0) {
            t = (apr_int64_t)d;             /* toward zero: the floor below */
            t -= (double)t > d ? 1 : 0;
            *sec = t;
            *usec = (apr_int32_t)((d - (double)t) * 1e6);
            *usec = *usec > 999999 ? 999999 : *usec < 0 ? 0 : *usec;
            rv = APR_SUCCESS;
        }
    }
    return rv;
}

char *obo_json_dump(apr_pool_t *p, const json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *copy = s ? apr_pstrdup(p, s) : NULL;
    json_free_t free_fn = NULL;

    /* json_dumps allocates with jansson's allocator, which may be custom. */
    json_get_alloc_funcs(NULL, &free_fn);
    if (s) {
        free_fn(s);
    }
    return copy;
}
