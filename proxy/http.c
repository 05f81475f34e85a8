/* placeholder: being written */
#include "config.h"
typedef int http_placeholder;
