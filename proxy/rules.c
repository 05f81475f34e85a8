/* placeholder: being written */
#include "config.h"
typedef int rules_placeholder;
