/* placeholder: being written */
#include "config.h"
typedef int json_placeholder;
