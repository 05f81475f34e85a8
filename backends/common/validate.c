/* Field validation that reports every error at once. */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "validate.h"
#include "xmalloc.h"

void
validate_init(struct validate *v)
{
	memset(v, 0, sizeof *v);
}

void
validate_free(struct validate *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < v->v_n; i++) {
		/* const in the shared struct, but ours to free */
		free((void *)(uintptr_t)v->v_errs[i].field);
		free((void *)(uintptr_t)v->v_errs[i].message);
	}
	free(v->v_errs);
	memset(v, 0, sizeof *v);
}

void
validate_error(struct validate *v, const char *field, const char *fmt, ...)
{
	struct json_field_error	*e;
	va_list			 ap;
	char			*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s: vasprintf", __func__);
	va_end(ap);
	v->v_errs = xreallocarray(v->v_errs, v->v_n + 1, sizeof *v->v_errs);
	e = &v->v_errs[v->v_n++];
	e->field = xstrdup(field);
	e->message = msg;
}

int
validate_has(const struct validate *v, const char *field)
{
	size_t	 i;

	for (i = 0; i < v->v_n; i++)
		if (strcmp(v->v_errs[i].field, field) == 0)
			return 1;
	return 0;
}

size_t
validate_chars(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* The member, or NULL (with "is required" if so flagged) when absent. */
static yajl_val
validate_member(struct validate *v, yajl_val obj, const char *key,
    const char *field, int flags)
{
	yajl_val	 m;

	if ((m = json_get(obj, key)) != NULL && !YAJL_IS_NULL(m))
		return m;
	if (flags & VALIDATE_REQUIRED)
		validate_error(v, field, "is required");
	return NULL;
}

int
validate_string(struct validate *v, yajl_val obj, const char *key,
    const char *field, int flags, size_t minchars, size_t maxchars,
    const char **out)
{
	yajl_val	 m;
	size_t		 n;

	*out = NULL;
	if ((m = validate_member(v, obj, key, field, flags)) == NULL)
		return 0;
	if (!YAJL_IS_STRING(m)) {
		validate_error(v, field, "must be a string, not %s",
		    json_type_name(m));
		return -1;
	}
	n = validate_chars(m->u.string);
	if (n < minchars || n > maxchars) {
		if (minchars == maxchars)
			validate_error(v, field, "must be %zu characters",
			    minchars);
		else if (minchars == 0)
			validate_error(v, field, "must be at most %zu "
			    "characters", maxchars);
		else
			validate_error(v, field, "must be %zu to %zu "
			    "characters", minchars, maxchars);
		return -1;
	}
	*out = m->u.string;
	return 1;
}

int
validate_int(struct validate *v, yajl_val obj, const char *key,
    const char *field, int flags, long long min, long long max,
    long long *out)
{
	yajl_val	 m;

	*out = 0;
	if ((m = validate_member(v, obj, key, field, flags)) == NULL)
		return 0;
	if (!YAJL_IS_INTEGER(m) || YAJL_GET_INTEGER(m) < min ||
	    YAJL_GET_INTEGER(m) > max) {
		if (min == 0)
			validate_error(v, field,
			    "must be a non-negative integer");
		else
			validate_error(v, field, "must be an integer from "
			    "%lld to %lld", min, max);
		return -1;
	}
	*out = YAJL_GET_INTEGER(m);
	return 1;
}

int
validate_object(struct validate *v, yajl_val obj, const char *key,
    const char *field, int flags, yajl_val *out)
{
	yajl_val	 m;

	*out = NULL;
	if ((m = validate_member(v, obj, key, field, flags)) == NULL)
		return 0;
	if (!YAJL_IS_OBJECT(m)) {
		validate_error(v, field, "must be an object, not %s",
		    json_type_name(m));
		return -1;
	}
	*out = m;
	return 1;
}

static int
validate_listed(const char *const *list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

void
validate_known(struct validate *v, yajl_val obj, const char *prefix,
    const char *const *known, const char *const *ignored)
{
	const char	*name;
	char		*field;
	size_t		 i;

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return;
	for (i = 0; i < obj->u.object.len; i++) {
		name = obj->u.object.keys[i];
		if (validate_listed(known, name) ||
		    validate_listed(ignored, name))
			continue;
		xasprintf(&field, "%s%s", prefix, name);
		validate_error(v, field, "is not a known field");
		free(field);
	}
}
