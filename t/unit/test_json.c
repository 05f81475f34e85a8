/* lib/json.c: strict parsing with limits, getters, problem+json. */

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "runner.h"

static yajl_val
parse(const char *s, char *err, size_t errlen)
{
	return json_parse(s, strlen(s), 0, 0, err, errlen);
}

static void
t_parse_object(void)
{
	char		 err[128];
	yajl_val	 v;
	long long	 i;

	v = parse("{\"a\":\"x'; DROP TABLE t; --\",\"n\":42,\"o\":{\"k\":"
	    "\"\\u00e9\\ud83d\\ude00\"}}", err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(json_get_string(v, "a"), "x'; DROP TABLE t; --");
	CU_ASSERT_EQUAL(json_get_int(v, "n", &i), 0);
	CU_ASSERT_EQUAL(i, 42);
	CU_ASSERT_STRING_EQUAL(json_get_string(json_get(v, "o"), "k"),
	    "\xc3\xa9\xf0\x9f\x98\x80");
	CU_ASSERT_PTR_NULL(json_get(v, "missing"));
	CU_ASSERT_PTR_NULL(json_get_string(v, "n"));
	CU_ASSERT_EQUAL(json_get_int(v, "a", &i), -1);
	json_free(v);
}

static void
t_parse_not_terminated(void)
{
	char		 err[128];
	const char	 buf[] = "[1,2]garbage";
	yajl_val	 v;

	/* Only the first 5 bytes are the document. */
	v = json_parse(buf, 5, 0, 0, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_TRUE(YAJL_IS_ARRAY(v));
	CU_ASSERT_EQUAL(v->u.array.len, 2);
	json_free(v);
}

static void
t_parse_errors(void)
{
	static const struct {
		const char	*in;
		const char	*err;	/* substring expected */
	} cases[] = {
		{ "{\"a\":}", "at byte 5" },
		{ "{\"a\":1", "premature EOF" },
		{ "", "empty" },
		{ "   ", "empty" },
		{ "{} {}", "trailing garbage" },
		{ "/* c */ {}", "at byte 0" },
		{ "{\"a\":\"x\\u0000y\"}", "\\u0000" },
		{ "{\"a\\u0000\":1}", "\\u0000" },
		{ "\"\xff\"", "at byte" },
		{ "[1,]", "at byte" },
	};
	char		 err[128];
	size_t		 i;
	yajl_val	 v;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		v = parse(cases[i].in, err, sizeof err);
		CU_ASSERT_PTR_NULL(v);
		json_free(v);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].err));
		CU_ASSERT_PTR_NULL(strchr(err, '\n'));
	}
}

static void
t_parse_limits(void)
{
	char		 err[128], deep[100];
	yajl_val	 v;

	v = json_parse("[1,2,3]", 7, 6, 0, err, sizeof err);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "limit is 6"));

	memset(deep, '[', 40);
	memset(deep + 40, ']', 40);
	deep[80] = '\0';
	v = json_parse(deep, 80, 0, 0, err, sizeof err);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nesting too deep"));
	v = json_parse(deep, 80, 0, 40, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL(v);
	json_free(v);
	v = json_parse("[[[1]]]", 7, 0, 2, err, sizeof err);
	CU_ASSERT_PTR_NULL(v);
}

static void
t_parse_numbers(void)
{
	char		 err[128];
	yajl_val	 v;
	long long	 i;

	v = parse("{\"big\":99999999999999999999,\"f\":1.5,\"e\":1e3,"
	    "\"neg\":-7}", err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL(json_get_int(v, "big", &i), -1);
	CU_ASSERT_EQUAL(json_get_int(v, "f", &i), -1);
	CU_ASSERT_EQUAL(json_get_int(v, "e", &i), -1);
	CU_ASSERT_EQUAL(json_get_int(v, "neg", &i), 0);
	CU_ASSERT_EQUAL(i, -7);
	CU_ASSERT_STRING_EQUAL(json_type_name(json_get(v, "f")), "number");
	CU_ASSERT_STRING_EQUAL(json_type_name(json_get(v, "neg")), "integer");
	CU_ASSERT_STRING_EQUAL(json_type_name(NULL), "missing");
	json_free(v);
}

static void
t_problem(void)
{
	char	*s;
	size_t	 len;

	s = json_problem(404, "no route for /x", &len);
	CU_ASSERT_STRING_EQUAL(s, "{\"type\":\"about:blank\",\"title\":"
	    "\"Not Found\",\"status\":404,\"detail\":\"no route for /x\"}");
	CU_ASSERT_EQUAL(len, strlen(s));
	free(s);
	s = json_problem(503, NULL, NULL);
	CU_ASSERT_STRING_EQUAL(s, "{\"type\":\"about:blank\",\"title\":"
	    "\"Service Unavailable\",\"status\":503}");
	free(s);
}

static void
t_problem_errors(void)
{
	static const struct json_field_error errs[] = {
		{ "price.amount", "must be a non-negative integer" },
		{ "sku", "is \"required\"" },
	};
	struct json_problem	 p;
	char			*s;

	memset(&p, 0, sizeof p);
	p.status = 422;
	p.detail = "bad \xff byte";
	p.errors = errs;
	p.nerrors = 2;
	s = json_problem_ext(&p, NULL);
	CU_ASSERT_STRING_EQUAL(s, "{\"type\":\"about:blank\",\"title\":"
	    "\"Unprocessable Content\",\"status\":422,\"detail\":"
	    "\"bad ? byte\",\"errors\":[{\"field\":\"price.amount\","
	    "\"message\":\"must be a non-negative integer\"},{\"field\":"
	    "\"sku\",\"message\":\"is \\\"required\\\"\"}]}");
	free(s);
}

static void
t_utf8(void)
{
	CU_ASSERT_TRUE(json_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
	CU_ASSERT_FALSE(json_utf8_valid("\xc3", 1));
	CU_ASSERT_FALSE(json_utf8_valid("\xc0\xaf", 2));	/* overlong */
	CU_ASSERT_FALSE(json_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	CU_ASSERT_TRUE(json_utf8_valid("", 0));
	CU_ASSERT_STRING_EQUAL(json_status_title(413), "Content Too Large");
	CU_ASSERT_STRING_EQUAL(json_status_title(799), "Unknown");
}

static void
t_gen(void)
{
	yajl_gen	 g;
	char		*s;

	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "s", "a/\"b\"\\");
	json_gen_kv_str(g, "null", NULL);
	json_gen_kv_int(g, "i", -3);
	yajl_gen_map_close(g);
	s = json_gen_dup(g, NULL);
	CU_ASSERT_STRING_EQUAL(s, "{\"s\":\"a/\\\"b\\\"\\\\\",\"null\":null,"
	    "\"i\":-3}");
	free(s);
	yajl_gen_free(g);

	/* validate_utf8 is on: invalid text is refused, not emitted. */
	g = json_gen_new();
	CU_ASSERT_NOT_EQUAL(json_gen_cstr(g, "\xff"), yajl_gen_status_ok);
	yajl_gen_free(g);
}

static const struct unit_case cases[] = {
	{ "parse/object", t_parse_object },
	{ "parse/not_terminated", t_parse_not_terminated },
	{ "parse/errors", t_parse_errors },
	{ "parse/limits", t_parse_limits },
	{ "parse/numbers", t_parse_numbers },
	{ "problem/basic", t_problem },
	{ "problem/errors", t_problem_errors },
	{ "utf8", t_utf8 },
	{ "gen", t_gen },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "json", cases);
}
