/* backends/common/validate.c: every field error at once. */

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "runner.h"
#include "validate.h"

static yajl_val
doc(const char *s)
{
	char	 err[128];

	return json_parse(s, strlen(s), 0, 0, err, sizeof err);
}

static const char *
msg(const struct validate *v, const char *field)
{
	size_t	 i;

	for (i = 0; i < v->v_n; i++)
		if (strcmp(v->v_errs[i].field, field) == 0)
			return v->v_errs[i].message;
	return NULL;
}

static void
t_collects_all(void)
{
	static const char *const known[] = { "sku", "name", "price", NULL };
	struct validate	 v;
	yajl_val	 d, price;
	const char	*s;
	long long	 n;

	d = doc("{\"sku\":\"\",\"name\":7,\"price\":{\"amount\":-1},"
	    "\"colour\":\"red\"}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	validate_init(&v);
	validate_known(&v, d, "", known, NULL);
	CU_ASSERT_EQUAL(validate_string(&v, d, "sku", "sku",
	    VALIDATE_REQUIRED, 1, 64, &s), -1);
	CU_ASSERT_EQUAL(validate_string(&v, d, "name", "name",
	    VALIDATE_REQUIRED, 1, 200, &s), -1);
	CU_ASSERT_EQUAL(validate_object(&v, d, "price", "price",
	    VALIDATE_REQUIRED, &price), 1);
	CU_ASSERT_EQUAL(validate_int(&v, price, "amount", "price.amount",
	    VALIDATE_REQUIRED, 0, LLONG_MAX, &n), -1);
	CU_ASSERT_EQUAL(validate_string(&v, price, "currency",
	    "price.currency", VALIDATE_REQUIRED, 3, 3, &s), 0);
	CU_ASSERT_EQUAL(v.v_n, 5);
	CU_ASSERT_STRING_EQUAL(msg(&v, "colour"), "is not a known field");
	CU_ASSERT_STRING_EQUAL(msg(&v, "sku"), "must be 1 to 64 characters");
	CU_ASSERT_STRING_EQUAL(msg(&v, "name"),
	    "must be a string, not integer");
	CU_ASSERT_STRING_EQUAL(msg(&v, "price.amount"),
	    "must be a non-negative integer");
	CU_ASSERT_STRING_EQUAL(msg(&v, "price.currency"), "is required");
	CU_ASSERT_TRUE(validate_has(&v, "sku"));
	CU_ASSERT_FALSE(validate_has(&v, "description"));
	validate_free(&v);
	validate_free(NULL);
	json_free(d);
}

static void
t_optional_and_null(void)
{
	struct validate	 v;
	yajl_val	 d, o;
	const char	*s;
	long long	 n;

	d = doc("{\"a\":null,\"f\":1.0,\"o\":[]}");
	validate_init(&v);
	CU_ASSERT_EQUAL(validate_string(&v, d, "a", "a", 0, 0, 10, &s), 0);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(validate_string(&v, d, "b", "b", 0, 0, 10, &s), 0);
	CU_ASSERT_EQUAL(v.v_n, 0);
	CU_ASSERT_EQUAL(validate_string(&v, d, "a", "a", VALIDATE_REQUIRED,
	    0, 10, &s), 0);
	CU_ASSERT_EQUAL(validate_int(&v, d, "f", "f", 0, 0, 10, &n), -1);
	CU_ASSERT_EQUAL(validate_object(&v, d, "o", "o", 0, &o), -1);
	CU_ASSERT_EQUAL(v.v_n, 3);
	CU_ASSERT_STRING_EQUAL(msg(&v, "o"), "must be an object, not array");
	validate_free(&v);
	json_free(d);
}

static void
t_lengths_in_characters(void)
{
	struct validate	 v;
	yajl_val	 d;
	const char	*s;

	/* Four emoji: 16 bytes but 4 characters. */
	d = doc("{\"e\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	    "\xf0\x9f\x98\x80\",\"q\":\"a'b\\\\c\\\"d; DROP TABLE x\"}");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	validate_init(&v);
	CU_ASSERT_EQUAL(validate_string(&v, d, "e", "e", 0, 4, 4, &s), 1);
	CU_ASSERT_EQUAL(validate_chars(s), 4);
	CU_ASSERT_EQUAL(validate_string(&v, d, "e", "e", 0, 0, 3, &s), -1);
	CU_ASSERT_STRING_EQUAL(msg(&v, "e"), "must be at most 3 characters");
	CU_ASSERT_EQUAL(validate_string(&v, d, "q", "q", 0, 0, 100, &s), 1);
	CU_ASSERT_STRING_EQUAL(s, "a'b\\c\"d; DROP TABLE x");
	validate_free(&v);
	json_free(d);
}

static void
t_int_range(void)
{
	struct validate	 v;
	yajl_val	 d;
	long long	 n;

	d = doc("{\"z\":0,\"big\":9223372036854775807,\"over\":"
	    "9223372036854775808,\"five\":5}");
	validate_init(&v);
	CU_ASSERT_EQUAL(validate_int(&v, d, "z", "z", 0, 0, LLONG_MAX, &n), 1);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(validate_int(&v, d, "big", "big", 0, 0, LLONG_MAX,
	    &n), 1);
	CU_ASSERT_EQUAL(n, LLONG_MAX);
	CU_ASSERT_EQUAL(validate_int(&v, d, "over", "over", 0, 0, LLONG_MAX,
	    &n), -1);
	CU_ASSERT_EQUAL(validate_int(&v, d, "five", "five", 0, 1, 4, &n), -1);
	CU_ASSERT_STRING_EQUAL(msg(&v, "five"),
	    "must be an integer from 1 to 4");
	validate_free(&v);
	json_free(d);
}

static void
t_known_ignored(void)
{
	static const char *const known[] = { "a", NULL };
	static const char *const ignored[] = { "id", NULL };
	struct validate	 v;
	yajl_val	 d;

	d = doc("{\"a\":1,\"id\":2,\"x\":{\"y\":1}}");
	validate_init(&v);
	validate_known(&v, d, "p.", known, ignored);
	CU_ASSERT_EQUAL(v.v_n, 1);
	CU_ASSERT_STRING_EQUAL(v.v_errs[0].field, "p.x");
	validate_free(&v);
	json_free(d);
}

static const struct unit_case cases[] = {
	{ "collects_all", t_collects_all },
	{ "optional_and_null", t_optional_and_null },
	{ "lengths_in_characters", t_lengths_in_characters },
	{ "int_range", t_int_range },
	{ "known_ignored", t_known_ignored },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "validate", cases);
}
