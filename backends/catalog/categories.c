/* placeholder: being written */
typedef int categories_placeholder;
