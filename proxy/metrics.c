/* placeholder: being written */
typedef int metrics_placeholder;
