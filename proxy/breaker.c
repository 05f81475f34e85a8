/* placeholder: being written */
typedef int breaker_placeholder;
