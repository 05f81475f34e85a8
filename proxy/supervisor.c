/* placeholder: being written */
#include "config.h"
typedef int supervisor_placeholder;
