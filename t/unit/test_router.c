/* backends/common/router.c: patterns, captures, 404 vs 405 + Allow. */

#include <string.h>

#include "router.h"
#include "runner.h"

static void h_list(struct request *r, struct response *rs) { }
static void h_one(struct request *r, struct response *rs) { }
static void h_sub(struct request *r, struct response *rs) { }

static const struct route table[] = {
	{ "GET",	"/products",			h_list },
	{ "POST",	"/products",			h_list },
	{ "GET",	"/products/{id}",		h_one },
	{ "PUT",	"/products/{id}",		h_one },
	{ "DELETE",	"/products/{id}",		h_one },
	{ "POST",	"/orders/{id}/items/{item}",	h_sub },
	{ NULL,		NULL,				NULL }
};

static enum router_result
match(const char *method, const char *path, const struct route **r,
    struct router_match *m, char *allow)
{
	return router_match(table, method, path, r, m, allow, 128);
}

static void
t_literal(void)
{
	const struct route	*r;
	struct router_match	 m;
	char			 allow[128];

	CU_ASSERT_EQUAL(match("GET", "/products", &r, &m, allow), ROUTER_FOUND);
	CU_ASSERT_PTR_EQUAL(r, &table[0]);
	CU_ASSERT_EQUAL(m.rm_ncaptures, 0);
	router_match_free(&m);
	CU_ASSERT_EQUAL(match("POST", "/products", &r, &m, allow),
	    ROUTER_FOUND);
	CU_ASSERT_PTR_EQUAL(r, &table[1]);
	router_match_free(&m);
}

static void
t_captures(void)
{
	const struct route	*r;
	struct router_match	 m;
	char			 allow[128];

	CU_ASSERT_EQUAL(match("PUT", "/products/42", &r, &m, allow),
	    ROUTER_FOUND);
	CU_ASSERT_PTR_EQUAL(r, &table[3]);
	CU_ASSERT_STRING_EQUAL(router_capture(&m, "id"), "42");
	CU_ASSERT_PTR_NULL(router_capture(&m, "i"));
	router_match_free(&m);

	CU_ASSERT_EQUAL(match("POST", "/orders/7/items/x'y", &r, &m, allow),
	    ROUTER_FOUND);
	CU_ASSERT_STRING_EQUAL(router_capture(&m, "id"), "7");
	CU_ASSERT_STRING_EQUAL(router_capture(&m, "item"), "x'y");
	router_match_free(&m);
	router_match_free(NULL);
}

static void
t_not_found(void)
{
	static const char *const paths[] = {
		"/", "", "/product", "/productsx", "/products/", "/products//",
		"/products/1/2", "//products", "/orders/7/items/",
		"products", "/PRODUCTS", NULL
	};
	const struct route	*r;
	struct router_match	 m;
	char			 allow[128];
	size_t			 i;

	for (i = 0; paths[i] != NULL; i++) {
		CU_ASSERT_EQUAL(match("GET", paths[i], &r, &m, allow),
		    ROUTER_NOT_FOUND);
		CU_ASSERT_PTR_NULL(r);
		CU_ASSERT_PTR_NULL(m.rm_buf);
	}
}

static void
t_bad_method(void)
{
	const struct route	*r;
	struct router_match	 m;
	char			 allow[128];

	CU_ASSERT_EQUAL(match("PATCH", "/products/1", &r, &m, allow),
	    ROUTER_BAD_METHOD);
	CU_ASSERT_STRING_EQUAL(allow, "GET, HEAD, PUT, DELETE");
	CU_ASSERT_EQUAL(match("DELETE", "/products", &r, &m, allow),
	    ROUTER_BAD_METHOD);
	CU_ASSERT_STRING_EQUAL(allow, "GET, HEAD, POST");
	CU_ASSERT_EQUAL(match("get", "/products", &r, &m, allow),
	    ROUTER_BAD_METHOD);
}

static void
t_head(void)
{
	const struct route	*r;
	struct router_match	 m;
	char			 allow[128];

	CU_ASSERT_EQUAL(match("HEAD", "/products/9", &r, &m, allow),
	    ROUTER_FOUND);
	CU_ASSERT_PTR_EQUAL(r, &table[2]);
	router_match_free(&m);
	CU_ASSERT_EQUAL(match("HEAD", "/orders/1/items/2", &r, &m, allow),
	    ROUTER_BAD_METHOD);
	CU_ASSERT_STRING_EQUAL(allow, "POST");
}

static void
t_allow_truncated(void)
{
	const struct route	*r;
	struct router_match	 m;
	char			 allow[8];

	CU_ASSERT_EQUAL(router_match(table, "PATCH", "/products/1", &r, &m,
	    allow, sizeof allow), ROUTER_BAD_METHOD);
	CU_ASSERT_TRUE(strlen(allow) < sizeof allow);
}

static const struct unit_case cases[] = {
	{ "literal", t_literal },
	{ "captures", t_captures },
	{ "not_found", t_not_found },
	{ "bad_method", t_bad_method },
	{ "head", t_head },
	{ "allow_truncated", t_allow_truncated },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "router", cases);
}
