/* placeholder module struct: replaced by the real glue */
#include "httpd.h"
#include "http_config.h"
module AP_MODULE_DECLARE_DATA auth_obo_module = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, NULL, 0
};
