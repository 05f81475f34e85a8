/* placeholder: being written */
typedef int ratelimit_placeholder;
