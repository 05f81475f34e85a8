/* placeholder: being written */
#include "config.h"
typedef int accesslog_placeholder;
