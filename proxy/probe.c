/* placeholder: being written */
typedef int probe_placeholder;
