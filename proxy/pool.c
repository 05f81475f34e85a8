/* placeholder: being written */
#include "config.h"
typedef int pool_placeholder;
