/* placeholder: being written */
typedef int http_parse_placeholder;
