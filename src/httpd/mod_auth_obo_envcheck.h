/* SPDX-License-Identifier: Apache-2.0 */
/* configtest against the running server's environment. A graceful restart
 * (systemctl reload, apachectl graceful or restart) re-reads the
 * configuration in the environment the running parent started with, while
 * apachectl's configtest runs with /etc/apache2/envvars read again: an
 * OBOClientSecret/OBOCacheSecret env:NAME added there passed configtest and
 * then stopped the server on the reload. */
#ifndef MOD_AUTH_OBO_ENVCHECK_H
#define MOD_AUTH_OBO_ENVCHECK_H

#include "mod_auth_obo_config.h"

/* In configtest only (httpd -t), with a running httpd of this PidFile
 * whose environment this process may read (/proc, the same user or root):
 * 0 and OBO105 when an env: secret's variable is missing there (the
 * reload would stop it), OBO106 (a warning) when its value differs (the
 * reload keeps the old one). 1 otherwise, also when nothing can be read. */
int auth_obo_envcheck(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

#endif
