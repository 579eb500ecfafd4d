/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics and the status page (mod_auth_obo_status.c): the shared counter
 * block (obo_metrics.c), "SetHandler obo-status" (HTML, JSON, Prometheus)
 * and a section in mod_status's page. Request hooks report each request's
 * authentication result once, through auth_obo_metrics_request. */
#ifndef MOD_AUTH_OBO_STATUS_H
#define MOD_AUTH_OBO_STATUS_H

#include "mod_auth_obo_request.h"

void auth_obo_register_status(apr_pool_t *p);
/* Counts what r's state says: accepted, insufficient scope, no or invalid
 * token, no keys; nothing for a subrequest or a request without state. */
void auth_obo_metrics_request(request_rec *r, const auth_obo_req *st);

#endif
