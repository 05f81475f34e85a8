/*
 * JSON helpers on yajl, shared by the gateway and the services.
 *
 * Parsing builds a yajl_tree, but only after a first streaming pass has
 * checked the size and nesting limits and produced a precise error ("at
 * byte 17: invalid char in json text"), which yajl_tree_parse() cannot do.
 * The strict pass also refuses what yajl_tree_parse() would let through:
 * comments, and strings holding U+0000 (yajl_tree keeps strings
 * NUL-terminated and would silently truncate them).
 *
 * Generation always goes through yajl_gen with validate_utf8 on.
 */
#ifndef AGORA_JSON_H
#define AGORA_JSON_H

#include <stddef.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define JSON_MAX_DEPTH		32	/* default nesting limit */

/*
 * Parses len bytes of buf (need not be NUL-terminated).  Returns a tree
 * the caller frees with json_free(), or NULL with a one-line reason in
 * err (always NUL-terminated when errlen > 0).  maxlen 0 means no size
 * limit; maxdepth 0 means JSON_MAX_DEPTH.
 */
yajl_val	 json_parse(const char *buf, size_t len, size_t maxlen,
		    int maxdepth, char *err, size_t errlen);
void		 json_free(yajl_val);		/* NULL is a no-op */

/* Member key of object obj, or NULL when obj is not an object or lacks it. */
yajl_val	 json_get(yajl_val obj, const char *key);
/* The string member, or NULL when absent or not a string. */
const char	*json_get_string(yajl_val obj, const char *key);
/* 0 and *out for an integer member that fits a long long, else -1. */
int		 json_get_int(yajl_val obj, const char *key, long long *out);
/* Name of the JSON type of v for messages: "string", "null", ... */
const char	*json_type_name(yajl_val v);

/*
 * A generator with validate_utf8 on, beautify off.  Free with
 * yajl_gen_free().  json_gen_cstr() and json_gen_key() emit a
 * NUL-terminated string (NULL emits null); they return the yajl status.
 */
yajl_gen	 json_gen_new(void);
yajl_gen_status	 json_gen_cstr(yajl_gen, const char *);
yajl_gen_status	 json_gen_kv_str(yajl_gen, const char *key, const char *);
yajl_gen_status	 json_gen_kv_int(yajl_gen, const char *key, long long);
/*
 * Copies the generated text into a new NUL-terminated string the caller
 * frees; *lenp (if not NULL) gets its length.  Does not free the gen.
 */
char		*json_gen_dup(yajl_gen, size_t *lenp);

/* Whether len bytes of s are well-formed UTF-8 (no surrogates/overlongs). */
int		 json_utf8_valid(const char *s, size_t len);

/* HTTP reason phrase for status ("Not Found"); "Unknown" if unknown. */
const char	*json_status_title(int status);

/* One validation error: field is a dotted path ("price.amount"). */
struct json_field_error {
	const char	*field;
	const char	*message;
};

/* RFC 9457 problem details; NULL members are left out or defaulted. */
struct json_problem {
	int				 status;
	const char			*type;	/* NULL: "about:blank" */
	const char			*title;	/* NULL: reason phrase */
	const char			*detail;
	const char			*instance;
	const struct json_field_error	*errors;	/* "errors" member */
	size_t				 nerrors;
};

/*
 * application/problem+json body for status and detail (detail may be
 * NULL).  Returns a NUL-terminated string the caller frees; *lenp (if not
 * NULL) gets its length.  Never returns NULL: text that is not valid UTF-8
 * is replaced rather than failing.
 */
char		*json_problem(int status, const char *detail, size_t *lenp);
char		*json_problem_ext(const struct json_problem *, size_t *lenp);

#endif
