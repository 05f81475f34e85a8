/* placeholder: being written */
#include "config.h"
typedef int config_placeholder;
