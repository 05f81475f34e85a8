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
