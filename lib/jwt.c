/* placeholder: being written */
typedef int jwt_placeholder;
