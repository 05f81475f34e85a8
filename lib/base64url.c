/* placeholder: being written */
typedef int base64url_placeholder;
