/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded JSON parsing and the small jansson accessors. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "obo_json.h"

static apr_status_t parse(apr_pool_t *p, const char *s, int depth, int want_object,
                          json_t **out, const char **err)
{
    return obo_json_parse(p, s, strlen(s), depth, want_object, out, err);
}

static char *nested(apr_pool_t *p, int levels)
{
    char *s = apr_palloc(p, (apr_size_t)levels * 2 + 1);
    int i;

    for (i = 0; i < levels; i++) {
        s[i] = '[';
        s[levels * 2 - 1 - i] = ']';
    }
    s[levels * 2] = '\0';
    return s;
}

static void test_parse(apr_pool_t *p)
{
    json_t *j = NULL;
    const char *err = NULL;

    is_int(parse(p, "{\"a\":1,\"b\":[true,null]}", 16, 1, &j, &err), APR_SUCCESS,
           "object parses");
    ok(json_is_object(j) && json_array_size(json_object_get(j, "b")) == 2, "content");
    is_int(parse(p, "[1,2]", 16, 1, &j, &err), APR_EINVAL, "array refused when object wanted");
    is_str(err, "JSON is not an object", "not-object error");
    is_int(parse(p, "[1,2]", 16, 0, &j, &err), APR_SUCCESS, "array accepted otherwise");
    is_int(parse(p, "\"s\"", 16, 0, &j, &err), APR_SUCCESS, "scalar accepted otherwise");
    is_int(parse(p, "{\"a\":1,\"a\":2}", 16, 1, &j, &err), APR_EINVAL, "duplicate key");
    is_int(parse(p, "{\"o\":{\"a\":1,\"a\":1}}", 16, 1, &j, &err), APR_EINVAL,
           "nested duplicate key");
    is_int(parse(p, "{\"a\":1} {}", 16, 1, &j, &err), APR_EINVAL, "trailing garbage");
    is_int(parse(p, "{\"a\":1", 16, 1, &j, &err), APR_EINVAL, "truncated");
    is_int(parse(p, "", 16, 1, &j, &err), APR_EINVAL, "empty");
    is_int(obo_json_parse(p, "{\"a\":1}\0", 8, 16, 1, &j, &err), APR_EINVAL, "raw NUL");
    is_int(parse(p, "{\"a\":\"x\\u0000y\"}", 16, 1, &j, &err), APR_EINVAL, "escaped NUL");
    is_int(parse(p, "{\"secret-input\":}", 16, 1, &j, &err), APR_EINVAL, "syntax error");
    ok(err && strstr(err, "secret") == NULL, "error does not echo input");
}

static void test_depth(apr_pool_t *p)
{
    json_t *j = NULL;
    const char *err = NULL;

    is_int(parse(p, nested(p, 16), 16, 0, &j, &err), APR_SUCCESS, "depth 16 of 16 ok");
    is_int(parse(p, nested(p, 17), 16, 0, &j, &err), APR_EINVAL, "depth 17 of 16 refused");
    is_str(err, "JSON nested too deeply", "depth error");
    is_int(parse(p, nested(p, 100000), 16, 0, &j, &err), APR_EINVAL, "100000 levels refused");
    is_int(parse(p, "{\"a\":\"[[[[[[\",\"b\":\"\\\"[[[[\"}", 2, 1, &j, &err), APR_SUCCESS,
           "brackets inside strings do not count");
    is_int(parse(p, "{\"a\":{\"b\":{}}}", 2, 1, &j, &err), APR_EINVAL, "objects count");
}

static void test_accessors(apr_pool_t *p)
{
    json_t *j = NULL;
    const char *err = NULL;
    apr_int64_t v = 0;

    parse(p, "{\"s\":\"str\",\"i\":42,\"r\":1700000000.0,\"f\":1.5,\"n\":null,"
          "\"neg\":-5,\"big\":1e300,\"t\":\"12\"}", 16, 1, &j, &err);
    is_str(obo_json_str(j, "s"), "str", "string member");
    ok(obo_json_str(j, "i") == NULL && obo_json_str(j, "none") == NULL, "non-strings NULL");
    ok(obo_json_int(j, "i", &v) == APR_SUCCESS && v == 42, "integer");
    ok(obo_json_int(j, "neg", &v) == APR_SUCCESS && v == -5, "negative integer");
    ok(obo_json_int(j, "r", &v) == APR_SUCCESS && v == 1700000000, "whole real");
    is_int(obo_json_int(j, "f", &v), APR_EINVAL, "fractional real");
    is_int(obo_json_int(j, "big", &v), APR_EINVAL, "out-of-range real");
    is_int(obo_json_int(j, "t", &v), APR_EINVAL, "numeric string is not a number");
    is_int(obo_json_int(j, "n", &v), APR_EINVAL, "null is not a number");
    is_int(obo_json_int(j, "absent", &v), APR_NOTFOUND, "absent");
    is_int(obo_json_int(NULL, "i", &v), APR_NOTFOUND, "NULL object");
    is_str(obo_json_dump(p, json_object_get(j, "s")), "\"str\"", "dump scalar");
    parse(p, "{ \"a\" : [ 1 , 2 ] }", 16, 1, &j, &err);
    is_str(obo_json_dump(p, j), "{\"a\":[1,2]}", "dump is compact");
    ok(obo_json_dump(p, NULL) == NULL, "dump NULL");
}

static void test_pool_lifetime(apr_pool_t *p)
{
    apr_pool_t *sub;
    json_t *j = json_object();

    json_incref(j);
    apr_pool_create(&sub, p);
    ok(obo_json_pool(sub, j) == j, "obo_json_pool returns its argument");
    apr_pool_destroy(sub);
    is_int(j->refcount, 1, "pool cleanup dropped its reference");
    json_decref(j);
    ok(obo_json_pool(p, NULL) == NULL, "NULL passes through");
}

int main(void)
{
    apr_initialize();
    TAP_RUN(test_parse);
    TAP_RUN(test_depth);
    TAP_RUN(test_accessors);
    TAP_RUN(test_pool_lifetime);
    apr_terminate();
    return tap_done();
}
