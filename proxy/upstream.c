/* placeholder: being written */
#include "config.h"
typedef int upstream_placeholder;
