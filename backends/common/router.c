/* Route table matching: literal segments and {captures}. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "xmalloc.h"

struct router_span {
	size_t		 off;
	size_t		 len;
	const char	*name;
	size_t		 namelen;
};

/*
 * Matches path against pattern segment by segment; fills spans with the
 * captures.  Returns the number of captures, or -1 when it does not match.
 */
static int
router_pattern(const char *pattern, const char *path,
    struct router_span spans[ROUTER_MAXCAPTURES])
{
	const char	*p = pattern, *s = path, *pe, *se;
	int		 n = 0;

	if (*p != '/' || *s != '/')
		return -1;
	while (*p == '/' && *s == '/') {
		p++;
		s++;
		pe = p + strcspn(p, "/");
		se = s + strcspn(s, "/");
		if (pe - p >= 2 && *p == '{' && pe[-1] == '}') {
			if (se == s || n == ROUTER_MAXCAPTURES)
				return -1;
			spans[n].off = s - path;
			spans[n].len = se - s;
			spans[n].name = p + 1;
			spans[n].namelen = pe - p - 2;
			n++;
		} else if (pe - p != se - s || memcmp(p, s, se - s) != 0)
			return -1;
		p = pe;
		s = se;
	}
	return (*p == '\0' && *s == '\0') ? n : -1;
}

static int
router_method(const char *route_method, const char *method)
{
	if (strcmp(route_method, method) == 0)
		return 1;
	return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* router_cat(3) is not in glibc 2.36. */
static void
router_cat(char *dst, const char *src, size_t size)
{
	size_t	 n = strlen(dst);

	if (n + 1 >= size)
		return;
	snprintf(dst + n, size - n, "%s", src);
}

/* Appends method to the comma-separated list unless already there. */
static void
router_allow_add(char *allow, size_t allowlen, const char *method)
{
	const char	*p;
	size_t		 n = strlen(method);

	for (p = allow; (p = strstr(p, method)) != NULL; p += n)
		if ((p == allow || p[-1] == ' ') &&
		    (p[n] == ',' || p[n] == '\0'))
			return;
	if (allow[0] != '\0')
		router_cat(allow, ", ", allowlen);
	router_cat(allow, method, allowlen);
}

enum router_result
router_match(const struct route *table, const char *method, const char *path,
    const struct route **route, struct router_match *m, char *allow,
    size_t allowlen)
{
	struct router_span	 spans[ROUTER_MAXCAPTURES];
	const struct route	*r;
	int			 n, i, pathfound = 0;

	memset(m, 0, sizeof *m);
	*route = NULL;
	if (allowlen > 0)
		allow[0] = '\0';
	for (r = table; r->method != NULL; r++) {
		if ((n = router_pattern(r->pattern, path, spans)) == -1)
			continue;
		pathfound = 1;
		if (allowlen > 0) {
			router_allow_add(allow, allowlen, r->method);
			if (strcmp(r->method, "GET") == 0)
				router_allow_add(allow, allowlen, "HEAD");
		}
		if (*route != NULL || !router_method(r->method, method))
			continue;
		*route = r;
		m->rm_buf = xstrdup(path);
		m->rm_ncaptures = n;
		for (i = 0; i < n; i++) {
			m->rm_buf[spans[i].off + spans[i].len] = '\0';
			m->rm_values[i] = m->rm_buf + spans[i].off;
			m->rm_names[i] = spans[i].name;
			m->rm_namelens[i] = spans[i].namelen;
		}
		/* Keep scanning only to complete an Allow list. */
		break;
	}
	if (*route != NULL)
		return ROUTER_FOUND;
	return pathfound ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

const char *
router_capture(const struct router_match *m, const char *name)
{
	size_t	 i, len = strlen(name);

	for (i = 0; i < m->rm_ncaptures; i++)
		if (m->rm_namelens[i] == len &&
		    memcmp(m->rm_names[i], name, len) == 0)
			return m->rm_values[i];
	return NULL;
}

void
router_match_free(struct router_match *m)
{
	if (m == NULL)
		return;
	free(m->rm_buf);
	memset(m, 0, sizeof *m);
}
