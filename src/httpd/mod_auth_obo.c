/* SPDX-License-Identifier: Apache-2.0 */
/* mod_auth_obo: the module record and its hooks, nothing else. The work
 * itself is in the core (src/); the glue units register their hooks here,
 * in the order httpd runs them: startup and configtest checks
 * (mod_auth_obo_check.c), per-process set-up (mod_auth_obo_process.c), then
 * the request hooks: authentication, Require obo-*, the fixups (exchange
 * and hand-off), the scrub of look-alike headers, the obo-status handler,
 * long-running sessions and the obo-token handler. The directives and the
 * configuration's merging are mod_auth_obo_config.c's. */
#include "mod_auth_obo_config.h"
#include "mod_auth_obo_check.h"
#include "mod_auth_obo_process.h"
#include "mod_auth_obo_authn.h"
#include "mod_auth_obo_authz.h"
#include "mod_auth_obo_fixups.h"
#include "mod_auth_obo_scrub.h"
#include "mod_auth_obo_status.h"
#include "mod_auth_obo_session.h"
#include "mod_auth_obo_source.h"

static void auth_obo_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(auth_obo_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(auth_obo_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(auth_obo_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(auth_obo_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    auth_obo_register_source(p);
    auth_obo_register_authn_hooks(p);
    auth_obo_register_authz_providers(p);
    auth_obo_register_fixups(p);
    auth_obo_register_scrub(p);
    auth_obo_register_status(p);
    auth_obo_register_session(p);
}

AP_DECLARE_MODULE(auth_obo) = {
    STANDARD20_MODULE_STUFF,
    auth_obo_create_dir_cfg,
    auth_obo_merge_dir_cfg,
    auth_obo_create_srv_cfg,
    auth_obo_merge_srv_cfg,
    auth_obo_cmds,
    auth_obo_register_hooks,
    AP_MODULE_FLAG_NONE
};
