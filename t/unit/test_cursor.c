/* backends/common/cursor.c: round trips, tampering, scopes, keys. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cursor.h"
#include "runner.h"

static const unsigned char key1[] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[] = "fedcba9876543210fedcba9876543210";

static void
t_roundtrip(void)
{
	static const long long vals[] = { 0, 1, 42, 255, 256,
	    9223372036854775807LL };
	const char	*err;
	char		*c;
	long long	 after;
	size_t		 i, j;

	cursor_set_key(key1, 32);
	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		c = cursor_encode("products", vals[i]);
		CU_ASSERT_EQUAL(strlen(c), 34);
		for (j = 0; c[j] != '\0'; j++)
			CU_ASSERT_PTR_NOT_NULL(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_", c[j]));
		after = -1;
		CU_ASSERT_EQUAL(cursor_decode(c, "products", &after, &err), 0);
		CU_ASSERT_EQUAL(after, vals[i]);
		free(c);
	}
}

static void
t_tamper(void)
{
	const char	*err;
	char		*c, saved;
	long long	 after;
	size_t		 i;
	int		 rejected = 0;

	cursor_set_key(key1, 32);
	c = cursor_encode("products", 1000);
	/* Flipping any of the first 33 characters must be caught. */
	for (i = 0; i < 33; i++) {
		saved = c[i];
		c[i] = saved == 'A' ? 'B' : 'A';
		if (cursor_decode(c, "products", &after, &err) == -1)
			rejected++;
		c[i] = saved;
	}
	CU_ASSERT_EQUAL(rejected, 33);
	CU_ASSERT_EQUAL(cursor_decode(c, "products", &after, &err), 0);
	free(c);
}

static void
t_malformed(void)
{
	static const char *const bad[] = {
		"", "abc", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "'; DROP TABLE products; --",
		NULL
	};
	const char	*err;
	long long	 after;
	size_t		 i;

	cursor_set_key(key1, 32);
	for (i = 0; bad[i] != NULL; i++) {
		err = NULL;
		CU_ASSERT_EQUAL(cursor_decode(bad[i], "products", &after,
		    &err), -1);
		CU_ASSERT_PTR_NOT_NULL(err);
	}
}

static void
t_scope_and_key(void)
{
	const char	*err;
	char		*c;
	long long	 after;

	cursor_set_key(key1, 32);
	c = cursor_encode("products?category=", 5);
	CU_ASSERT_EQUAL(cursor_decode(c, "products?category=mugs", &after,
	    &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not valid"));
	CU_ASSERT_EQUAL(cursor_decode(c, "products?category=", &after, &err),
	    0);
	cursor_set_key(key2, 32);
	CU_ASSERT_EQUAL(cursor_decode(c, "products?category=", &after, &err),
	    -1);
	free(c);
}

/* Two "processes" reading one password file agree on cursors. */
static void
t_init_from_file(void)
{
	char		 path[] = "/tmp/test_cursor.XXXXXX";
	const char	*err;
	char		*c;
	long long	 after;
	FILE		*fp;
	int		 fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	fp = fdopen(fd, "w");
	fputs("s3cret-password-for-tests\n", fp);
	fclose(fp);
	unsetenv("AGORA_CURSOR_KEY_FILE");
	unsetenv("AGORA_SECRET_FILE");
	setenv("AGORA_DB_PASSWORD_FILE", path, 1);
	CU_ASSERT_EQUAL(cursor_init(&err), 0);
	c = cursor_encode("products", 77);
	cursor_set_key(key2, 32);
	CU_ASSERT_EQUAL(cursor_decode(c, "products", &after, &err), -1);
	CU_ASSERT_EQUAL(cursor_init(&err), 0);
	CU_ASSERT_EQUAL(cursor_decode(c, "products", &after, &err), 0);
	CU_ASSERT_EQUAL(after, 77);
	free(c);

	/* A dedicated key file wins, and must not be too short. */
	setenv("AGORA_CURSOR_KEY_FILE", path, 1);
	CU_ASSERT_EQUAL(cursor_init(&err), 0);
	fp = fopen(path, "w");
	fputs("short\n", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(cursor_init(&err), -1);
	setenv("AGORA_CURSOR_KEY_FILE", "/nonexistent/key", 1);
	CU_ASSERT_EQUAL(cursor_init(&err), -1);
	unsetenv("AGORA_CURSOR_KEY_FILE");
	unsetenv("AGORA_DB_PASSWORD_FILE");
	unlink(path);
}

static const struct unit_case cases[] = {
	{ "roundtrip", t_roundtrip },
	{ "tamper", t_tamper },
	{ "malformed", t_malformed },
	{ "scope_and_key", t_scope_and_key },
	{ "init_from_file", t_init_from_file },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "cursor", cases);
}
