/*
 * Input validation that collects every field error of a request at once,
 * so a client fixes them in one round trip.  Field names are dotted paths
 * ("price.amount").  The getters below record an error and return -1 for
 * a wrong type or range; for an absent member (or null) they record
 * "is required" when VALIDATE_REQUIRED is set and return 0, else 0
 * silently; for a good value they return 1.
 */
#ifndef AGORA_VALIDATE_H
#define AGORA_VALIDATE_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "json.h"

#define VALIDATE_REQUIRED	0x01

struct validate {
	struct json_field_error	*v_errs;	/* owned copies */
	size_t			 v_n;
};

void	validate_init(struct validate *);
void	validate_free(struct validate *);	/* NULL is a no-op */
/* Records an error; field and message are copied. */
void	validate_error(struct validate *, const char *field,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Whether field already has an error (so checks do not pile up). */
int	validate_has(const struct validate *, const char *field);

/* Length of s in Unicode code points (s is valid UTF-8). */
size_t	validate_chars(const char *s);

/*
 * String member key of obj, between minchars and maxchars code points.
 * *out points into the tree.
 */
int	validate_string(struct validate *, yajl_val obj, const char *key,
	    const char *field, int flags, size_t minchars, size_t maxchars,
	    const char **out);
/* Integer member (not a float, fits a long long) within [min, max]. */
int	validate_int(struct validate *, yajl_val obj, const char *key,
	    const char *field, int flags, long long min, long long max,
	    long long *out);
/* Object member; *out is the object. */
int	validate_object(struct validate *, yajl_val obj, const char *key,
	    const char *field, int flags, yajl_val *out);
/*
 * Flags each member of obj not in the NULL-terminated known list, as
 * "<prefix><name>": "is not a known field".  ignored lists members that
 * are accepted and ignored (read-only ones a client may echo back).
 */
void	validate_known(struct validate *, yajl_val obj, const char *prefix,
	    const char *const *known, const char *const *ignored);

#endif
