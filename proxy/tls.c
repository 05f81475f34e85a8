/* placeholder: being written */
typedef int tls_placeholder;
