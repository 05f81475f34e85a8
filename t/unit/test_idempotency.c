/* backends/common/idempotency.c: keys, request hashes, what is kept. */

#include <string.h>

#include "idempotency.h"
#include "secret.h"
#include "runner.h"

static void
t_key_valid(void)
{
	char	 key[IDEMPOTENCY_KEY_MAX + 2];

	CU_ASSERT_TRUE(idempotency_key_valid("a"));
	CU_ASSERT_TRUE(idempotency_key_valid(
	    "8e03978e-40d5-43e8-bc93-6894a57f9324"));
	CU_ASSERT_TRUE(idempotency_key_valid("order 42 / try ~1"));
	CU_ASSERT_FALSE(idempotency_key_valid(""));
	CU_ASSERT_FALSE(idempotency_key_valid("tab\there"));
	CU_ASSERT_FALSE(idempotency_key_valid("caf\xc3\xa9"));
	CU_ASSERT_FALSE(idempotency_key_valid("del\x7f"));
	memset(key, 'k', IDEMPOTENCY_KEY_MAX);
	key[IDEMPOTENCY_KEY_MAX] = '\0';
	CU_ASSERT_TRUE(idempotency_key_valid(key));
	key[IDEMPOTENCY_KEY_MAX] = 'k';
	key[IDEMPOTENCY_KEY_MAX + 1] = '\0';
	CU_ASSERT_FALSE(idempotency_key_valid(key));
}

static void
t_hash(void)
{
	char	 a[IDEMPOTENCY_HASHLEN + 1], b[IDEMPOTENCY_HASHLEN + 1];

	/*
	 * HMAC-SHA256(HMAC-SHA256(secret, "agora idempotency key v1"),
	 * "POST\n/x\n{}"), as Python's hmac module computes it.
	 */
	secret_set((const unsigned char *)"test secret 0123456789", 22);
	idempotency_hash("POST", "/x", "{}", 2, a);
	CU_ASSERT_STRING_EQUAL(a, "df2b310176eca707de1626db31d3c034"
	    "3e9bbe6b81057d802b40be47fb8656e9");
	idempotency_hash("POST", "/x", "{}", 2, b);
	CU_ASSERT_STRING_EQUAL(a, b);
	/* Each part counts, and the separators keep them apart. */
	idempotency_hash("POST", "/x", "{ }", 3, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	idempotency_hash("POST", "/y", "{}", 2, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	idempotency_hash("PUT", "/x", "{}", 2, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	idempotency_hash("POST", "/x", NULL, 0, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

static void
t_releases(void)
{
	static const int keep[] = { 200, 201, 204, 404, 409, 412, 0 };
	static const int give[] = { 400, 401, 403, 413, 415, 422, 429, 500,
	    502, 503, 0 };
	size_t	 i;

	for (i = 0; keep[i] != 0; i++)
		CU_ASSERT_FALSE(idempotency_releases(keep[i]));
	for (i = 0; give[i] != 0; i++)
		CU_ASSERT_TRUE(idempotency_releases(give[i]));
}

static const struct unit_case cases[] = {
	{ "key/valid", t_key_valid },
	{ "hash", t_hash },
	{ "releases", t_releases },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "idempotency", cases);
}
