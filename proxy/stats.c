/* placeholder: being written */
typedef int stats_placeholder;
