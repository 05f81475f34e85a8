/* lib/base64url: RFC 4648 vectors, round trips, strictness. */

#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "runner.h"

static const struct {
	const char	*plain;
	const char	*enc;
} vectors[] = {
	/* RFC 4648 §10, without padding. */
	{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
	/* RFC 7515 §2/A.1: the alphabet's '-' and '_' */
	{ "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}",
	  "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" },
	{ "\xfb\xff", "-_8" },
};

static void
t_vectors(void)
{
	unsigned char	 buf[64];
	char		 out[64];
	size_t		 i, n, len;

	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		n = strlen(vectors[i].plain);
		CU_ASSERT_EQUAL(base64url_enclen(n), strlen(vectors[i].enc));
		CU_ASSERT_EQUAL(base64url_encode(vectors[i].plain, n, out),
		    strlen(vectors[i].enc));
		CU_ASSERT_STRING_EQUAL(out, vectors[i].enc);
		CU_ASSERT_EQUAL(base64url_decode(vectors[i].enc,
		    strlen(vectors[i].enc), buf, &len), 0);
		CU_ASSERT_EQUAL(len, n);
		CU_ASSERT(memcmp(buf, vectors[i].plain, n) == 0);
	}
}

static void
t_roundtrip(void)
{
	unsigned char	 in[256], *out;
	char		*enc;
	size_t		 n, len;

	for (n = 0; n < sizeof in; n++)
		in[n] = (unsigned char)(n * 37 + 11);
	for (n = 0; n <= sizeof in; n++) {
		enc = base64url_encode_dup(in, n);
		CU_ASSERT(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
		    "nopqrstuvwxyz0123456789-_") == strlen(enc));
		out = base64url_decode_dup(enc, strlen(enc), &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_EQUAL(len, n);
		CU_ASSERT(memcmp(out, in, n) == 0);
		CU_ASSERT_EQUAL(out[len], 0);
		CU_ASSERT(base64url_declen(strlen(enc)) >= n);
		free(out);
		free(enc);
	}
}

static void
t_strict(void)
{
	static const char *const bad[] = {
		"Zg==",		/* padding */
		"Zm9v\n",	/* whitespace */
		"Zm 9v",
		"Zm9v+",	/* the other alphabet */
		"Zm/v",
		"Z",		/* 4n+1 characters */
		"Zm9vY",
		"Zh",		/* non-zero trailing bits: "f" is "Zg" */
		"Zm9",		/* "fo" is "Zm8" */
		"Zm\x80v",
	};
	unsigned char	 buf[16];
	size_t		 i, len;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(base64url_decode(bad[i], strlen(bad[i]), buf,
		    &len), -1);
	CU_ASSERT_PTR_NULL(base64url_decode_dup("Zg=", 3, &len));
	/* A NUL inside the length is not part of the alphabet either. */
	CU_ASSERT_EQUAL(base64url_decode("Zm\0v", 4, buf, &len), -1);
}

static const struct unit_case cases[] = {
	{ "vectors", t_vectors },
	{ "roundtrip", t_roundtrip },
	{ "strict", t_strict },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "base64url", cases);
}
