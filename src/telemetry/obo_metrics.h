/* SPDX-License-Identifier: Apache-2.0 */
/* Operational counters shared by every process of the server: one block of
 * 64-bit atomics in shared memory that the glue creates before the children
 * fork (mod_auth_obo_status.c). Counting is one relaxed atomic add, no lock,
 * so the hit path pays nothing measurable; before a block is attached (unit
 * tests, configtest) every call is a no-op. Names and labels of the exported
 * families are fixed: dashboards rely on them (README, "Metrics"). */
#ifndef OBO_METRICS_H
#define OBO_METRICS_H

#include <apr_pools.h>
#include <apr_time.h>

/* Plain counters. Keep the order: the JSON, Prometheus and HTML outputs
 * walk these tables. */
typedef enum obo_metric {
    OBO_M_REQ_ACCEPTED,             /* mod_auth_obo_requests_total{result=...} */
    OBO_M_REQ_NO_TOKEN,
    OBO_M_REQ_INVALID_TOKEN,
    OBO_M_REQ_INSUFFICIENT_SCOPE,
    OBO_M_REQ_NO_KEYS,
    OBO_M_CACHE_L1_HIT,             /* mod_auth_obo_token_cache_total{level,result} */
    OBO_M_CACHE_L1_MISS,
    OBO_M_CACHE_SHARED_HIT,
    OBO_M_CACHE_SHARED_MISS,
    OBO_M_SINGLE_FLIGHT_WAIT,       /* mod_auth_obo_single_flight_waits_total */
    OBO_M_BACKEND_ERROR_SHM,        /* mod_auth_obo_cache_backend_errors_total{backend} */
    OBO_M_BACKEND_ERROR_MEMCACHED,
    OBO_M_JWKS_REFRESH,             /* mod_auth_obo_jwks_refreshes_total */
    OBO_M_SESSION_STARTED,          /* mod_auth_obo_sessions_total{event} */
    OBO_M_SESSION_ENDED,
    OBO_M_SESSION_LIMIT,
    OBO_M_SESSION_EVICTED,
    OBO_M_SESSION_RATED,            /* not started: its user opened too many this hour */
    OBO_M_VCACHE_HIT,               /* mod_auth_obo_validated_token_cache_total{result} */
    OBO_M_VCACHE_MISS,
    OBO_M_VCACHE_DEFERRED,          /* mod_auth_obo_validated_token_cache_deferred_total */
    OBO_M_IDP_AVOIDED_REMEMBERED,   /* mod_auth_obo_idp_calls_avoided_total{reason} */
    OBO_M_IDP_AVOIDED_PAUSED,
    OBO_M_KEYS_FROM_SHARED,         /* mod_auth_obo_key_sets_reused_total{source} */
    OBO_M_KEYS_FROM_STATE,
    OBO_M_INTRO_L1_HIT,             /* mod_auth_obo_introspection_cache_total{level,result} */
    OBO_M_INTRO_L1_MISS,
    OBO_M_INTRO_SHARED_HIT,
    OBO_M_INTRO_SHARED_MISS,
    OBO_M_REQ_PREFLIGHT,            /* requests_total{result}: added after the others, */
    OBO_M_REQ_INVALID_REQUEST,      /* so the earlier counters keep their slots */
    OBO_M_SHM_WRITES,               /* mod_auth_obo_shm_cache_writes_total */
    OBO_M_SHM_LOCKS_DISPLACED,      /* mod_auth_obo_shm_locks_displaced_total */
    OBO_M_REQ_STEP_UP,              /* requests_total{result="step_up"}: a 401 step-up
                                     * challenge (Require obo-acr/-auth-age/-acrs) */
    OBO_M_DPOP_OK,                  /* mod_auth_obo_dpop_total{result}: DPoP requests */
    OBO_M_DPOP_INVALID_PROOF,
    OBO_M_DPOP_REPLAYED,
    OBO_M_DPOP_NONCE,               /* answered use_dpop_nonce */
    OBO_M_DPOP_BEARER_REFUSED,      /* a bearer token where DPoP was due */
    OBO_M_DPOP_UNAVAILABLE,         /* the replay store failed or was full: 503 */
    OBO_M_COUNTERS
} obo_metric;

/* Each hit counter is followed by its miss counter. */
#define OBO_M_CACHE_L1 OBO_M_CACHE_L1_HIT
#define OBO_M_CACHE_SHARED OBO_M_CACHE_SHARED_HIT
#define OBO_M_INTRO_L1 OBO_M_INTRO_L1_HIT
#define OBO_M_INTRO_SHARED OBO_M_INTRO_SHARED_HIT

typedef enum obo_m_endpoint {
    OBO_M_EP_TOKEN, OBO_M_EP_JWKS, OBO_M_EP_DISCOVERY, OBO_M_EP_INTROSPECTION,
    OBO_M_ENDPOINTS
} obo_m_endpoint;

typedef enum obo_m_outcome {
    OBO_M_OK,
    OBO_M_USER_ERROR,       /* the user's token refused, or the user must act */
    OBO_M_CLIENT_ERROR,     /* our request or credentials refused (4xx) */
    OBO_M_SERVER_ERROR,     /* 5xx, 429, an unusable answer */
    OBO_M_TIMEOUT,
    OBO_M_NETWORK,          /* no answer: refused, unresolvable, TLS */
    OBO_M_OUTCOMES
} obo_m_outcome;

/* Per identity provider (several issuers): the label provider="N" is the
 * provider's number, 1 to OBO_M_PROVIDERS, in the order the processes
 * create them (the configuration's: the same in every process); later
 * providers are counted in the families without the label only. */
#define OBO_M_PROVIDERS 16

/* Where a provider's key sets came from (..._provider_key_sets_total{source}). */
typedef enum obo_m_keysource {
    OBO_M_KS_IDP, OBO_M_KS_SHARED, OBO_M_KS_STATE, OBO_M_KEYSOURCES
} obo_m_keysource;

/* Token endpoint durations: Prometheus' default buckets (seconds), plus
 * the overflow bucket (+Inf). */
#define OBO_M_BUCKETS 11

/* One provider's endpoint as the status page and the gauges show it. */
typedef struct obo_metrics_endpoint_state {
    apr_uint64_t last_ok;       /* apr_time_t of the last success, 0: none */
    apr_uint64_t last_fail;     /* of the last failure, 0: none */
    apr_uint64_t fail_id;       /* its message id's number (310: OBO310), 0: none */
    apr_uint64_t fail_outcome;  /* its obo_m_outcome */
    apr_uint64_t bucket[OBO_M_BUCKETS + 1];   /* durations, per bucket */
    apr_uint64_t sum_usec;
} obo_metrics_endpoint_state;

typedef struct obo_metrics_snapshot {
    apr_uint64_t c[OBO_M_COUNTERS];
    apr_uint64_t idp[OBO_M_ENDPOINTS][OBO_M_OUTCOMES];
    apr_uint64_t bucket[OBO_M_BUCKETS + 1];   /* per bucket, not cumulative */
    apr_uint64_t sum_usec;
    apr_time_t since;                         /* when counting started */
    /* per provider (index = number - 1) */
    apr_uint64_t pidp[OBO_M_PROVIDERS][OBO_M_ENDPOINTS][OBO_M_OUTCOMES];
    apr_uint64_t pkeys[OBO_M_PROVIDERS][OBO_M_KEYSOURCES];
    obo_metrics_endpoint_state pep[OBO_M_PROVIDERS][OBO_M_ENDPOINTS];
    /* The counters as a view at least OBO_M_WINDOW_S ago saw them
     * (obo_metrics_window), for verdicts on recent traffic; base_at 0:
     * none yet (the verdict then reads everything since the start). */
    apr_uint64_t base[OBO_M_COUNTERS];
    apr_time_t base_at;
} obo_metrics_snapshot;

/* Seconds between the views' marks of the counters. */
#define OBO_M_WINDOW_S 300

/* What the counters cannot say, gathered by the glue when a page or a
 * scrape is asked for: this process's view of each provider's keys and
 * each cache node answering now. Shown as gauges and on the status page. */
typedef struct obo_metrics_live_provider {
    int number;                 /* 1..OBO_M_PROVIDERS */
    apr_int64_t age;            /* seconds since the IdP gave the key set; -1: none */
    int nkeys;
    apr_int64_t refresh;        /* its refresh interval, seconds */
    const char *from;           /* "the IdP", "the saved state"... or NULL */
    const char *kids;           /* the key ids, space-separated, or NULL */
    const char *issuers;        /* space-separated, or NULL */
    apr_int64_t next_refresh;   /* seconds until a request refreshes it (<= 0: due) */
    int unasked;                /* none, and not needed yet in this process (lazy) */
} obo_metrics_live_provider;

typedef struct obo_metrics_live_node {
    const char *backend;        /* "shm", "memcached" */
    const char *node;           /* "host:port", or "shm" */
    int up;
} obo_metrics_live_node;

typedef struct obo_metrics_live {
    const obo_metrics_live_provider *providers;
    int nproviders;
    const obo_metrics_live_node *nodes;
    int nnodes;
    int unasked;                /* memcached nodes this view had no time to ask */
    apr_int64_t sessions_live;  /* -1: not known (no long-running sessions) */
    int sessions_full;          /* the ledger pushed live sessions out: a lower bound */
} obo_metrics_live;

/* Bytes the shared block needs. */
apr_size_t obo_metrics_size(void);

/* Counts into mem (obo_metrics_size() bytes, shared by every process). A
 * block this function set up before (same layout) keeps its figures: the
 * glue keeps it across graceful restarts. APR_ENOTIMPL when this platform
 * has no lock-free 64-bit atomics, APR_EINVAL when the block is too small. */
apr_status_t obo_metrics_attach(void *mem, apr_size_t len);
void obo_metrics_detach(void);
int obo_metrics_attached(void);

void obo_metrics_inc(obo_metric m);

/* Counts `level` (a hit counter) on a hit, the miss after it otherwise;
 * returns is_hit, so a lookup can be counted where it is tested. */
int obo_metrics_hit(obo_metric level, int is_hit);

/* Cache backend failures, by backend name ("shm", "memcached"). */
void obo_metrics_backend_error(const char *backend);

/* An HTTP exchange's class: transport status and HTTP status. */
obo_m_outcome obo_metrics_http_outcome(apr_status_t rv, int http_status);

/* One request to the IdP that started at `started`; for the token endpoint
 * its duration goes into the histogram. */
void obo_metrics_idp(obo_m_endpoint ep, obo_m_outcome o, apr_time_t started);

/* The same for provider number `provider` (1..OBO_M_PROVIDERS; anything
 * else is not counted): a request to its discovery, JWKS or token endpoint
 * that started at `started` (0: no duration), and a key set it installed.
 * Counted in addition to the unlabelled families (obo_metrics_idp,
 * OBO_M_JWKS_REFRESH, OBO_M_KEYS_FROM_*). A success or failure also sets
 * the endpoint's last-success or last-failure time. */
void obo_metrics_provider_idp(int provider, obo_m_endpoint ep, obo_m_outcome o,
                              apr_time_t started);
/* The message id ("OBO310") logged for the endpoint's last failure; the
 * status page shows it beside the failure's age. */
void obo_metrics_provider_failure_id(int provider, obo_m_endpoint ep, const char *msgid);
void obo_metrics_provider_keys(int provider, obo_m_keysource src);

/* The figures now (each read atomically; not a snapshot across counters). */
void obo_metrics_read(obo_metrics_snapshot *out);

/* Marks the counters for later views (at most every OBO_M_WINDOW_S, by
 * whichever view comes) and fills out->base/base_at with the older mark:
 * what the counters were 5 to 10 minutes ago while views come at least
 * that often, else at the view before last. */
void obo_metrics_window(obo_metrics_snapshot *out, apr_time_t now);

/* Text exposition format 0.0.4 and JSON of a snapshot; live (or NULL)
 * adds the gauges of keys, cache nodes and sessions. */
char *obo_metrics_prometheus(apr_pool_t *p, const obo_metrics_snapshot *s,
                             const obo_metrics_live *live, const char *version);
char *obo_metrics_json(apr_pool_t *p, const obo_metrics_snapshot *s,
                       const obo_metrics_live *live, const char *version);

/* The q-quantile (0..1) of a per-bucket histogram, in seconds, linearly
 * interpolated inside its bucket as Prometheus' histogram_quantile does;
 * -1 without observations. The +Inf bucket answers its lower bound. */
double obo_metrics_quantile(const apr_uint64_t *bucket, double q);

/* Names for the status page: label values of each counter and outcome. */
const char *obo_metrics_outcome_name(obo_m_outcome o);
const char *obo_metrics_endpoint_name(obo_m_endpoint ep);
/* Upper bound of bucket i in seconds, as printed ("0.005", ..., "+Inf"). */
const char *obo_metrics_bucket_le(int i);

#endif
