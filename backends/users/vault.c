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
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64url.h"
#include "log.h"
#include "users.h"
#include "xmalloc.h"

#define VAULT_MASTER_MIN	32
#define VAULT_MASTER_MAX	4096
#define VAULT_NONCE		12
#define VAULT_TAG		16
#define VAULT_AADMAX		128

static unsigned char	 vault_kek[VAULT_KEYLEN];
static int		 vault_ready;

int
vault_init(const char **errstr)
{
	static const char	 label[] = "agora users data keys v1";
	unsigned char		 buf[VAULT_MASTER_MAX + 1];
	unsigned int		 mlen;
	const char		*path;
	FILE			*fp;
	size_t			 len;

	if ((path = getenv("AGORA_MASTER_KEY_FILE")) == NULL ||
	    *path == '\0') {
		*errstr = "AGORA_MASTER_KEY_FILE is not set";
		return -1;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		*errstr = "cannot open AGORA_MASTER_KEY_FILE";
		return -1;
	}
	len = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len < VAULT_MASTER_MIN || len > VAULT_MASTER_MAX) {
		OPENSSL_cleanse(buf, sizeof buf);
		*errstr = "master key file must hold 32 to 4096 bytes";
		return -1;
	}
	HMAC(EVP_sha256(), buf, (int)len, (const unsigned char *)label,
	    sizeof label - 1, vault_kek, &mlen);
	OPENSSL_cleanse(buf, sizeof buf);
	vault_ready = 1;
	return 0;
}

void
vault_key_new(unsigned char dk[VAULT_KEYLEN])
{
	if (RAND_bytes(dk, VAULT_KEYLEN) != 1)
		fatalx("%s: no random bytes", __func__);
}

/* AES-256-GCM of len bytes of in under key, with aad; base64url or NULL. */
static char *
vault_gcm_seal(const unsigned char *key, const char *aad,
    const unsigned char *in, size_t len)
{
	EVP_CIPHER_CTX	*ctx;
	unsigned char	*buf;
	char		*out = NULL;
	size_t		 total = VAULT_NONCE + len + VAULT_TAG;
	int		 n, fin;

	if (len > 1024 * 1024)
		return NULL;
	buf = xmalloc(total);
	if (RAND_bytes(buf, VAULT_NONCE) != 1) {
		free(buf);
		return NULL;
	}
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    EVP_EncryptUpdate(ctx, buf + VAULT_NONCE, &n, in, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(ctx, buf + VAULT_NONCE + n, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, VAULT_TAG,
	    buf + VAULT_NONCE + len) == 1)
		out = base64url_encode_dup(buf, total);
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(buf, total);
	free(buf);
	return out;
}

/* Opens a vault_gcm_seal() string: the plaintext (+ NUL) and *lenp. */
static unsigned char *
vault_gcm_open(const unsigned char *key, const char *aad, const char *sealed,
    size_t *lenp)
{
	EVP_CIPHER_CTX	*ctx;
	unsigned char	*buf, *out;
	size_t		 len;
	int		 n, fin, ok = 0;

	if ((buf = base64url_decode_dup(sealed, strlen(sealed), &len)) ==
	    NULL || len < VAULT_NONCE + VAULT_TAG) {
		free(buf);
		return NULL;
	}
	len -= VAULT_NONCE + VAULT_TAG;
	out = xmalloc(len + 1);
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, buf + VAULT_NONCE, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, VAULT_TAG,
	    buf + VAULT_NONCE + len) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	if (!ok) {
		OPENSSL_cleanse(out, len + 1);
		free(out);
		return NULL;
	}
	out[len] = '\0';
	*lenp = len;
	return out;
}

char *
vault_wrap(const unsigned char dk[VAULT_KEYLEN], long long uid)
{
	char	 aad[VAULT_AADMAX];

	if (!vault_ready)
		return NULL;
	snprintf(aad, sizeof aad, "agora-users/dk/%lld", uid);
	return vault_gcm_seal(vault_kek, aad, dk, VAULT_KEYLEN);
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
	if ((key = vault_gcm_open(vault_kek, aad, wrapped, &len)) == NULL)
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
	return vault_gcm_seal(dk, aad, (const unsigned char *)plain,
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
	if ((out = vault_gcm_open(dk, aad, sealed, &len)) == NULL)
		return NULL;
	/* A field never holds a NUL: that would be a forged value. */
	if (strlen((char *)out) != len) {
		free(out);
		return NULL;
	}
	return (char *)out;
}
