/*
 * backends/users/vault.c: data keys wrapped under the master key, fields
 * sealed with AES-256-GCM and bound to their user and field.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64url.h"
#include "runner.h"
#include "users.h"

static char	 keyfile[] = "/tmp/agora-vault.XXXXXX";

static void
vault_setup(void)
{
	static int	 done;
	const char	*errstr = NULL;
	int		 fd;

	if (done)
		return;
	if ((fd = mkstemp(keyfile)) == -1)
		abort();
	(void)write(fd, "0123456789abcdef0123456789abcdef-test\n", 38);
	close(fd);
	setenv("AGORA_MASTER_KEY_FILE", keyfile, 1);
	CU_ASSERT_EQUAL_FATAL(vault_init(&errstr), 0);
	done = 1;
}

static void
t_init_refuses_short_key(void)
{
	char		 path[] = "/tmp/agora-vault-short.XXXXXX";
	const char	*errstr = NULL, *saved;
	int		 fd;

	vault_setup();
	if ((fd = mkstemp(path)) == -1)
		abort();
	(void)write(fd, "too short\n", 10);
	close(fd);
	saved = getenv("AGORA_MASTER_KEY_FILE");
	setenv("AGORA_MASTER_KEY_FILE", path, 1);
	CU_ASSERT_EQUAL(vault_init(&errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr);
	setenv("AGORA_MASTER_KEY_FILE", saved, 1);
	unlink(path);
}

static void
t_wrap_roundtrip(void)
{
	unsigned char	 dk[VAULT_KEYLEN], out[VAULT_KEYLEN];
	char		*w;

	vault_setup();
	vault_key_new(dk);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w = vault_wrap(dk, 42));
	CU_ASSERT_EQUAL(vault_unwrap(w, 42, out), 0);
	CU_ASSERT_EQUAL(memcmp(dk, out, VAULT_KEYLEN), 0);
	/* Bound to its user. */
	CU_ASSERT_EQUAL(vault_unwrap(w, 43, out), -1);
	free(w);
}

static void
t_seal_roundtrip(void)
{
	unsigned char	 dk[VAULT_KEYLEN];
	char		*a, *b, *p;

	vault_setup();
	vault_key_new(dk);
	a = vault_seal(dk, 7, "name", "Alice Liddell");
	b = vault_seal(dk, 7, "name", "Alice Liddell");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	/* Fresh nonces: the same value seals differently. */
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	CU_ASSERT_PTR_NULL(strstr(a, "Alice"));
	p = vault_open(dk, 7, "name", a);
	CU_ASSERT_STRING_EQUAL(p, "Alice Liddell");
	free(p);
	CU_ASSERT_PTR_NULL(vault_seal(dk, 7, "phone", NULL));
	free(a);
	free(b);
}

static void
t_binding(void)
{
	unsigned char	 dk[VAULT_KEYLEN], other[VAULT_KEYLEN];
	char		*a;

	vault_setup();
	vault_key_new(dk);
	vault_key_new(other);
	a = vault_seal(dk, 7, "name", "Alice");
	CU_ASSERT_PTR_NULL(vault_open(dk, 8, "name", a));	/* user */
	CU_ASSERT_PTR_NULL(vault_open(dk, 7, "phone", a));	/* field */
	CU_ASSERT_PTR_NULL(vault_open(other, 7, "name", a));	/* key */
	free(a);
}

static void
t_tamper(void)
{
	unsigned char	 dk[VAULT_KEYLEN];
	char		*a;
	size_t		 n;

	vault_setup();
	vault_key_new(dk);
	a = vault_seal(dk, 7, "name", "Alice");
	n = strlen(a);
	/* One flipped character anywhere: nonce, ciphertext or tag. */
	a[n / 2] = a[n / 2] == 'A' ? 'B' : 'A';
	CU_ASSERT_PTR_NULL(vault_open(dk, 7, "name", a));
	CU_ASSERT_PTR_NULL(vault_open(dk, 7, "name", "short"));
	CU_ASSERT_PTR_NULL(vault_open(dk, 7, "name", "!!not base64!!"));
	free(a);
}

static const struct unit_case cases[] = {
	{ "a master key shorter than 32 bytes is refused",
	    t_init_refuses_short_key },
	{ "data key wrap and unwrap, bound to the user", t_wrap_roundtrip },
	{ "seal and open, fresh nonces", t_seal_roundtrip },
	{ "a ciphertext is bound to user, field and key", t_binding },
	{ "tampered or malformed ciphertexts do not open", t_tamper },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	int	 rc;

	rc = unit_main(argc, argv, "users_vault", cases);
	unlink(keyfile);
	return rc;
}
