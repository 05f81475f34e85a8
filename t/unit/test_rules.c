/*
 * proxy/rules.c: the Lua rules load into a sorted route table, every bad
 * file in t/fixtures/rules/bad fails with the line in its .err file, and
 * matching is by whole path segments, longest prefix first.
 */

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "rules.h"

static char	 fixtures[PATH_MAX];

/* Loads t/fixtures/rules/<sub>/<name> with that folder as the cwd. */
static struct rules *
load(const char *sub, const char *name, char *err, size_t errlen)
{
	char		 dir[PATH_MAX], cwd[PATH_MAX];
	struct rules	*rl;

	if (snprintf(dir, sizeof(dir), "%s/%s", fixtures, sub) >=
	    (int)sizeof(dir))
		return NULL;
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(dir) == -1)
		return NULL;
	err[0] = '\0';
	rl = rules_load(name, err, errlen);
	if (chdir(cwd) == -1)
		abort();
	return rl;
}

static const char *
match(const struct rules *rl, const char *path)
{
	const struct rule_route	*r;

	r = rules_match(rl, path, strlen(path));
	return r != NULL ? r->r_prefix : "(none)";
}

static void
t_catalog(void)
{
	struct rules		*rl;
	const struct rule_route	*r;
	char			 err[512];

	rl = load("good", "catalog.lua", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(rl->rl_path, "catalog.lua");
	CU_ASSERT_EQUAL_FATAL(rl->rl_nroutes, 2);
	/* longest first */
	CU_ASSERT_STRING_EQUAL(rl->rl_routes[0].r_prefix, "/api/categories");
	CU_ASSERT_STRING_EQUAL(rl->rl_routes[1].r_prefix, "/api/products");
	CU_ASSERT_EQUAL(rl->rl_routes[1].r_prefix_len, 13);
	CU_ASSERT_EQUAL(rl->rl_routes[1].r_line, 2);
	CU_ASSERT_EQUAL(rl->rl_routes[0].r_line, 3);
	CU_ASSERT_PTR_NULL(rl->rl_routes[0].r_service);

	r = rules_match(rl, "/api/products/7", 15);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->r_service_name, "catalog");
	CU_ASSERT_STRING_EQUAL(r->r_strip, "/api");
	CU_ASSERT_EQUAL(r->r_strip_len, 4);

	CU_ASSERT_STRING_EQUAL(match(rl, "/api/products"), "/api/products");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/products/"), "/api/products");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/categories/x/y"),
	    "/api/categories");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/productsX"), "(none)");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/product"), "(none)");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api"), "(none)");
	CU_ASSERT_STRING_EQUAL(match(rl, "/"), "(none)");
	CU_ASSERT_STRING_EQUAL(match(rl, ""), "(none)");
	/* the length counts, not a NUL: a query string is cut off */
	CU_ASSERT_PTR_NOT_NULL(rules_match(rl, "/api/products?limit=2", 13));
	CU_ASSERT_PTR_NULL(rules_match(rl, "/api/products", 12));
	rules_free(rl);
}

static void
t_helpers(void)
{
	struct rules		*rl;
	const struct rule_route	*r;
	char			 err[512];
	size_t			 i;

	rl = load("good", "helpers.lua", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL_FATAL(rl->rl_nroutes, 6);
	for (i = 1; i < rl->rl_nroutes; i++)
		CU_ASSERT(rl->rl_routes[i - 1].r_prefix_len >=
		    rl->rl_routes[i].r_prefix_len);

	CU_ASSERT_STRING_EQUAL(match(rl, "/api/orders/export/2026"),
	    "/api/orders/export");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/orders/exports"),
	    "/api/orders");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/orders/7"), "/api/orders");
	CU_ASSERT_STRING_EQUAL(match(rl, "/api/categories"),
	    "/api/categories");
	CU_ASSERT_STRING_EQUAL(match(rl, "/static/app.css"), "/static");
	CU_ASSERT_STRING_EQUAL(match(rl, "/staticfile"), "/");
	CU_ASSERT_STRING_EQUAL(match(rl, "/"), "/");
	CU_ASSERT_STRING_EQUAL(match(rl, "/anything/else"), "/");

	r = rules_match(rl, "/api/orders/export", 18);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->r_service_name, "reports");
	CU_ASSERT_STRING_EQUAL(r->r_strip, "");
	CU_ASSERT_EQUAL(r->r_strip_len, 0);
	CU_ASSERT_EQUAL(r->r_line, 12);
	/* a route declared in a helper gets the helper's line */
	r = rules_match(rl, "/api/products", 13);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->r_line, 3);
	rules_free(rl);
}

/* Looks up method path; returns the route's name or prefix, or a result. */
static const char *
lookup(const struct rules *rl, const char *method, const char *path,
    struct rule_match *m)
{
	switch (rules_lookup(rl, method, path, strlen(path), m)) {
	case RULES_MATCH:
		return m->m_route->r_name != NULL ? m->m_route->r_name :
		    m->m_route->r_prefix;
	case RULES_BAD_METHOD:
		return "405";
	default:
		return "404";
	}
}

static void
t_patterns(void)
{
	struct rules		*rl;
	struct rule_match	 m;
	const struct rule_route	*r;
	char			 err[512];

	rl = load("good", "api.lua", err, sizeof(err));
	if (rl == NULL)
		printf("# %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL(rl->rl_nroutes, 13);

	/* a literal segment beats a capture */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/api/products/search", &m),
	    "products.search");
	CU_ASSERT_EQUAL(m.m_ncaps, 0);
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/api/products/7", &m),
	    "products.get");
	CU_ASSERT_EQUAL_FATAL(m.m_ncaps, 1);
	CU_ASSERT_STRING_EQUAL(m.m_caps[0].c_name, "id");
	CU_ASSERT_EQUAL(m.m_caps[0].c_len, 1);
	CU_ASSERT_EQUAL(strncmp(m.m_caps[0].c_value, "7", 1), 0);
	/* ... but when its methods do not fit, the capture gets its turn */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "DELETE", "/api/products/search",
	    &m), "products.write");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "PATCH", "/api/products/9", &m),
	    "products.write");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "POST", "/api/products", &m),
	    "products.create");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "HEAD", "/api/products", &m),
	    "products.list");

	/* a method no route of that path takes: 405 and Allow */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "POST", "/v2/items/9", &m),
	    "405");
	CU_ASSERT_PTR_NULL(m.m_route);
	CU_ASSERT_EQUAL(m.m_allow, RULES_M_GET | RULES_M_DELETE);
	CU_ASSERT_STRING_EQUAL(m.m_allow_str, "GET, DELETE");
	/* the union of every route whose path fits */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "PUT", "/v2/items/new", &m), "405");
	CU_ASSERT_STRING_EQUAL(m.m_allow_str, "GET, POST, DELETE");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "POST", "/v2/items/new", &m),
	    "/v2/items/new");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/v2/items/new", &m),
	    "/v2/items/{id}");
	/* ... unless a prefix takes any method */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "POST", "/api/products/9", &m),
	    "/api");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "OPTIONS", "/api/products", &m),
	    "/api");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "POST", "/static/app.css", &m),
	    "405");
	CU_ASSERT_STRING_EQUAL(m.m_allow_str, "GET");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "PROPFIND", "/", &m), "405");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/", &m), "/");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/nothing", &m), "404");

	/* two captures; an empty segment never fills one */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET",
	    "/api/products/12/reviews/ab", &m),
	    "/api/products/{id}/reviews/{rid}");
	CU_ASSERT_EQUAL_FATAL(m.m_ncaps, 2);
	CU_ASSERT_STRING_EQUAL(m.m_caps[1].c_name, "rid");
	CU_ASSERT_EQUAL(m.m_caps[1].c_len, 2);
	CU_ASSERT_EQUAL(strncmp(m.m_caps[1].c_value, "ab", 2), 0);
	CU_ASSERT_STRING_EQUAL(m.m_route->r_service_name, "reviews");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/api/products//reviews/x",
	    &m), "/api");
	/* a trailing "/" is not the same path; the prefix takes it */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/api/products/", &m),
	    "/api");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/api/products/1/x", &m),
	    "/api");

	/* {rest...}: the tail, possibly empty */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/files/a/b/c.txt", &m),
	    "files");
	CU_ASSERT_EQUAL_FATAL(m.m_ncaps, 1);
	CU_ASSERT_STRING_EQUAL(m.m_caps[0].c_name, "rest");
	CU_ASSERT_EQUAL(m.m_caps[0].c_len, 9);
	CU_ASSERT_EQUAL(strncmp(m.m_caps[0].c_value, "a/b/c.txt", 9), 0);
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/files", &m), "files");
	CU_ASSERT_EQUAL(m.m_caps[0].c_len, 0);
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/files/", &m), "files");
	CU_ASSERT_EQUAL(m.m_caps[0].c_len, 0);
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/filesx", &m), "404");
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/x/about", &m),
	    "/{any}/about");
	/* the literal "api" has no "about" below it: back to the capture */
	CU_ASSERT_STRING_EQUAL(lookup(rl, "GET", "/api/about", &m),
	    "/{any}/about");

	/* rules_match() ignores the method */
	r = rules_match(rl, "/api/products/9", 15);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->r_name, "products.get");
	rules_free(rl);
}

static void
t_fields(void)
{
	struct rules		*rl;
	const struct rule_route	*r, *w, *c;
	char			 err[512];

	rl = load("good", "api.lua", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	r = rules_find(rl, "products.get");
	w = rules_find(rl, "products.write");
	c = rules_find(rl, "products.create");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NULL(rules_find(rl, "nope"));
	CU_ASSERT_PTR_NULL(rules_find(NULL, "nope"));

	/* group defaults, and what a route sets itself wins */
	CU_ASSERT_EQUAL(r->r_kind, RULE_PATH);
	CU_ASSERT_STRING_EQUAL(r->r_service_name, "catalog");
	CU_ASSERT_STRING_EQUAL(r->r_strip, "/api");
	CU_ASSERT_EQUAL(r->r_timeout_ms, 5000);
	CU_ASSERT_EQUAL(w->r_timeout_ms, 250);
	CU_ASSERT_EQUAL(r->r_methods, RULES_M_GET | RULES_M_HEAD);
	CU_ASSERT_EQUAL(r->r_auth, RULE_AUTH_NONE);
	CU_ASSERT_EQUAL(r->r_retries, -1);
	CU_ASSERT_EQUAL(r->r_line, 7);
	CU_ASSERT_EQUAL(r->r_fallback, RULE_FALLBACK_STATIC);
	CU_ASSERT_EQUAL(r->r_fb_status, 200);
	CU_ASSERT_STRING_EQUAL(r->r_fb_json, "{\"stale\":true}");
	CU_ASSERT_EQUAL_FATAL(r->r_limits.rn_n, 1);
	CU_ASSERT_STRING_EQUAL(r->r_limits.rn_v[0], "per_ip");
	CU_ASSERT_FALSE(r->r_breaker.rb_set);
	CU_ASSERT_FALSE(r->r_handler);

	/* the inner group */
	CU_ASSERT_EQUAL(w->r_auth, RULE_AUTH_JWT);
	CU_ASSERT_EQUAL_FATAL(w->r_roles.rn_n, 1);
	CU_ASSERT_STRING_EQUAL(w->r_roles.rn_v[0], "admin");
	CU_ASSERT_EQUAL_FATAL(w->r_scopes.rn_n, 1);
	CU_ASSERT_STRING_EQUAL(w->r_scopes.rn_v[0], "catalog:write");
	CU_ASSERT_EQUAL_FATAL(w->r_limits.rn_n, 2);
	CU_ASSERT_STRING_EQUAL(w->r_limits.rn_v[1], "writes");
	CU_ASSERT_EQUAL(w->r_retries, 0);
	CU_ASSERT_FALSE(w->r_retry_non_idempotent);
	CU_ASSERT_EQUAL(w->r_ncaps, 1);
	CU_ASSERT_STRING_EQUAL(w->r_capnames[0], "id");

	CU_ASSERT_EQUAL(c->r_retries, 2);
	CU_ASSERT_TRUE(c->r_retry_non_idempotent);
	CU_ASSERT_TRUE(c->r_breaker.rb_set);
	CU_ASSERT_EQUAL(c->r_breaker.rb_volume, 10);
	CU_ASSERT_EQUAL(c->r_breaker.rb_error_pct, 25);
	CU_ASSERT_EQUAL(c->r_breaker.rb_sleep_ms, 2000);
	CU_ASSERT_EQUAL(c->r_breaker.rb_probes, 3);
	CU_ASSERT_EQUAL(c->r_fallback, RULE_FALLBACK_ROUTE);
	CU_ASSERT_PTR_EQUAL(c->r_fb_route, rules_find(rl, "products.list"));

	r = rules_find(rl, "files");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_TRUE(r->r_handler);
	CU_ASSERT_EQUAL(r->r_methods, RULES_M_ALL);
	CU_ASSERT_STRING_EQUAL(r->r_strip, "/files");
	rules_free(rl);
}

/* The shipped rules and every example load. */
static void
t_shipped(void)
{
	static const char *const files[] = {
		"agora.lua", "examples/canary.lua",
		"examples/header-routing.lua", "examples/maintenance.lua",
		"examples/api-key-tier.lua",
	};
	char			 path[PATH_MAX + 64], err[512];
	struct rules		*rl;
	const struct rule_route	*r;
	size_t			 i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/../../../rules/%s", fixtures,
		    files[i]);
		rl = rules_load(path, err, sizeof(err));
		if (rl == NULL) {
			printf("# %s\n", err);
			CU_FAIL("shipped rules do not load");
			continue;
		}
		if (i == 0) {
			/* the catalog routes API.md names, with admin writes */
			r = rules_find(rl, "products.write");
			CU_ASSERT_PTR_NOT_NULL_FATAL(r);
			CU_ASSERT_EQUAL(r->r_auth, RULE_AUTH_JWT);
			CU_ASSERT_STRING_EQUAL(r->r_roles.rn_v[0], "admin");
			r = rules_match(rl, "/api/products/7", 15);
			CU_ASSERT_PTR_NOT_NULL_FATAL(r);
			CU_ASSERT_STRING_EQUAL(r->r_service_name, "catalog");
			CU_ASSERT_STRING_EQUAL(r->r_strip, "/api");
			CU_ASSERT_PTR_NULL(rules_match(rl, "/api/other", 10));
		}
		rules_free(rl);
	}
}

static void
t_empty(void)
{
	struct rules	*rl;
	char		 err[512];

	rl = load("good", "empty.lua", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL(rl->rl_nroutes, 0);
	CU_ASSERT_PTR_NULL(rules_match(rl, "/", 1));
	rules_free(rl);
	CU_ASSERT_PTR_NULL(rules_match(NULL, "/", 1));
	rules_free(NULL);
}

static void
t_missing(void)
{
	char	 err[512];

	CU_ASSERT_PTR_NULL(load("good", "nonexistent.lua", err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err,
	    "nonexistent.lua: No such file or directory");
}

/* Every bad/<x>.lua fails with exactly the line in bad/<x>.err. */
static void
t_bad(void)
{
	char		 dir[PATH_MAX], path[PATH_MAX], err[512], want[512];
	struct dirent	*de;
	struct rules	*rl;
	DIR		*d;
	FILE		*fp;
	size_t		 n, len;
	int		 count = 0;

	CU_ASSERT_FATAL(snprintf(dir, sizeof(dir), "%s/bad", fixtures) <
	    (int)sizeof(dir));
	d = opendir(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".lua") != 0)
			continue;
		count++;
		if (snprintf(path, sizeof(path), "%s/%.*s.err", dir,
		    (int)(len - 4), de->d_name) >= (int)sizeof(path))
			continue;
		want[0] = '\0';
		if ((fp = fopen(path, "r")) != NULL) {
			n = fread(want, 1, sizeof(want) - 1, fp);
			want[n] = '\0';
			want[strcspn(want, "\n")] = '\0';
			fclose(fp);
		}
		rl = load("bad", de->d_name, err, sizeof(err));
		if (rl != NULL || strcmp(err, want) != 0) {
			printf("# %s\n#   want: %s\n#   got:  %s\n",
			    de->d_name, want, rl != NULL ? "(loaded)" : err);
			CU_FAIL("bad rules file: unexpected result");
		}
		rules_free(rl);
	}
	closedir(d);
	CU_ASSERT(count >= 10);
}

static const struct unit_case cases[] = {
	{ "catalog", t_catalog },
	{ "helpers", t_helpers },
	{ "patterns", t_patterns },
	{ "fields", t_fields },
	{ "shipped", t_shipped },
	{ "empty", t_empty },
	{ "missing", t_missing },
	{ "bad", t_bad },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	const char	*top;

	if ((top = getenv("top_srcdir")) == NULL)
		top = ".";
	snprintf(fixtures, sizeof(fixtures), "%s/t/fixtures/rules", top);
	return unit_main(argc, argv, "rules", cases);
}
