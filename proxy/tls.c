/* TLS termination on listeners: being written. */
#include "tls.h"
typedef int tls_placeholder;
