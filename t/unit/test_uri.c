/*
 * proxy/uri.c: decoding and dot-segment resolution of request paths.
 */
#include <string.h>

#include "runner.h"
#include "uri.h"

static const struct {
	const char	*in, *out;	/* out NULL: refused */
} uri_cases[] = {
	{ "/", "/" },
	{ "/api/products/1", "/api/products/1" },
	{ "/api/products/", "/api/products/" },
	{ "/api/%70roducts/1", "/api/products/1" },
	{ "/api/products/caf%C3%A9", "/api/products/caf\xc3\xa9" },
	{ "/a%20b", "/a b" },
	{ "/a//b", "/a/b" },
	{ "//a", "/a" },
	{ "/a/./b", "/a/b" },
	{ "/a/b/../c", "/a/c" },
	{ "/a/b/..", "/a/" },
	{ "/a/.", "/a/" },
	{ "/a/%2e%2E/b", "/b" },
	{ "/a/..%2e", "/a/..." },
	{ "/..", NULL },
	{ "/a/../../b", NULL },
	{ "/%2e%2e/x", NULL },
	{ "/a%2Fb", NULL },
	{ "/a%00b", NULL },
	{ "/a%", NULL },
	{ "/a%4", NULL },
	{ "/a%zz", NULL },
	{ "/.a/..b", "/.a/..b" },
	{ "/a/", "/a/" },
};

static void
t_normalize(void)
{
	char		 out[128];
	const char	*err;
	size_t		 i, n;
	int		 rc;

	for (i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
		err = NULL;
		rc = uri_path_normalize(uri_cases[i].in,
		    strlen(uri_cases[i].in), out, &n, &err);
		if (uri_cases[i].out == NULL) {
			CU_ASSERT_EQUAL(rc, -1);
			CU_ASSERT_PTR_NOT_NULL(err);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(out, uri_cases[i].out);
		CU_ASSERT_EQUAL(n, strlen(uri_cases[i].out));
	}
}

/* plain means: normalising would give the same bytes */
static void
t_plain(void)
{
	char		 out[128];
	const char	*err;
	size_t		 i, n;
	int		 same;

	for (i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
		const char *in = uri_cases[i].in;

		same = uri_path_normalize(in, strlen(in), out, &n, &err) ==
		    0 && strcmp(out, in) == 0 && strchr(in, '%') == NULL;
		CU_ASSERT_EQUAL(uri_path_plain(in, strlen(in)), same);
	}
	/* the length bounds the scan: what follows is not looked at */
	CU_ASSERT_EQUAL(uri_path_plain("/a?/../", 2), 1);
}

static const struct unit_case cases[] = {
	{ "normalize", t_normalize },
	{ "plain", t_plain },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return (unit_main(argc, argv, "uri", cases));
}
