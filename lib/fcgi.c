/* placeholder: being written */
#include "config.h"
typedef int fcgi_placeholder;
