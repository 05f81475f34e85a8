/*
 * Envelope encryption of personal data.  Each user has a random 256-bit
 * data key; every personal field is sealed under it with AES-256-GCM, a
 * fresh 96-bit nonce per value, and "<user id>/<field>" as associated
 * data, so a ciphertext moved to another user or another column does not
 * open.  The data key is stored wrapped (AES-256-GCM again, associated
 * data "agora-users/dk/<user id>") under the key-encryption key
 * HMAC-SHA256(contents of AGORA_MASTER_KEY_FILE, "agora users data keys
 * v1"): the file may be the one auth uses, the keys are unrelated.
 *
 * Stored form of both: base64url(nonce || ciphertext || tag).
 * Deleting a user's wrapped key leaves their ciphertexts unreadable,
 * backups included: that is the erasure.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64url.h"
#include "log.h"
#include "seal.h"
#include "users.h"
#include "xmalloc.h"

#define VAULT_AADMAX		128

static unsigned char	 vault_kek[VAULT_KEYLEN];
static int		 vault_ready;

int
vault_init(const char **errstr)
{
	if (seal_master_key("agora users data keys v1", vault_kek,
	    errstr) == -1)
		return -1;
	vault_ready = 1;
	return 0;
}

void
vault_key_new(unsigned char dk[VAULT_KEYLEN])
{
	if (RAND_bytes(dk, VAULT_KEYLEN) != 1)
		fatalx("%s: no random bytes", __func__);
}

char *
vault_wrap(const unsigned char dk[VAULT_KEYLEN], long long uid)
{
	char	 aad[VAULT_AADMAX];

	if (!vault_ready)
		return NULL;
	snprintf(aad, sizeof aad, "agora-users/dk/%lld", uid);
	return seal_gcm(vault_kek, aad, dk, VAULT_KEYLEN);
}

int
vault_unwrap(const char *wrapped, long long uid,
    unsigned char dk[VAULT_KEYLEN])
{
	unsigned char	*key;
	char		 aad[VAULT_AADMAX];
	size_t		 len;

	if (!vault_ready)
		return -1;
	snprintf(aad, sizeof aad, "agora-users/dk/%lld", uid);
	if ((key = seal_gcm_open(vault_kek, aad, wrapped, &len)) == NULL)
		return -1;
	if (len != VAULT_KEYLEN) {
		OPENSSL_cleanse(key, len);
		free(key);
		return -1;
	}
	memcpy(dk, key, VAULT_KEYLEN);
	OPENSSL_cleanse(key, len);
	free(key);
	return 0;
}

char *
vault_seal(const unsigned char dk[VAULT_KEYLEN], long long uid,
    const char *field, const char *plain)
{
	char	 aad[VAULT_AADMAX];

	if (plain == NULL)
		return NULL;
	snprintf(aad, sizeof aad, "%lld/%s", uid, field);
	return seal_gcm(dk, aad, (const unsigned char *)plain,
	    strlen(plain));
}

char *
vault_open(const unsigned char dk[VAULT_KEYLEN], long long uid,
    const char *field, const char *sealed)
{
	unsigned char	*out;
	char		 aad[VAULT_AADMAX];
	size_t		 len;

	if (sealed == NULL)
		return NULL;
	snprintf(aad, sizeof aad, "%lld/%s", uid, field);
	if ((out = seal_gcm_open(dk, aad, sealed, &len)) == NULL)
		return NULL;
	/* A field never holds a NUL: that would be a forged value. */
	if (strlen((char *)out) != len) {
		free(out);
		return NULL;
	}
	return (char *)out;
}
