/*
 * Sealing under the master key; see seal.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64url.h"
#include "seal.h"
#include "secret.h"
#include "xmalloc.h"

#define SEAL_MASTER_MIN	32
#define SEAL_MASTER_MAX	4096
#define SEAL_NONCE	12
#define SEAL_TAG	16
#define SEAL_MAXLEN	(1024 * 1024)

int
seal_master_key(const char *label, unsigned char out[SEAL_KEYLEN],
    const char **errstr)
{
	unsigned char	 buf[SEAL_MASTER_MAX + 1];
	unsigned int	 mlen;
	const char	*path;
	size_t		 len;

	if ((path = getenv("AGORA_MASTER_KEY_FILE")) == NULL ||
	    *path == '\0') {
		*errstr = "AGORA_MASTER_KEY_FILE is not set";
		return -1;
	}
	if (secret_read_file(path, buf, sizeof buf, &len) == -1) {
		*errstr = "cannot open AGORA_MASTER_KEY_FILE";
		return -1;
	}
	if (len < SEAL_MASTER_MIN || len > SEAL_MASTER_MAX) {
		OPENSSL_cleanse(buf, sizeof buf);
		*errstr = "master key file must hold 32 to 4096 bytes";
		return -1;
	}
	HMAC(EVP_sha256(), buf, (int)len, (const unsigned char *)label,
	    strlen(label), out, &mlen);
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

char *
seal_gcm(const unsigned char key[SEAL_KEYLEN], const char *aad,
    const void *in, size_t len)
{
	EVP_CIPHER_CTX	*ctx;
	unsigned char	*buf;
	char		*out = NULL;
	size_t		 total = SEAL_NONCE + len + SEAL_TAG;
	int		 n, fin;

	if (len > SEAL_MAXLEN)
		return NULL;
	buf = xmalloc(total);
	if (RAND_bytes(buf, SEAL_NONCE) != 1) {
		free(buf);
		return NULL;
	}
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    EVP_EncryptUpdate(ctx, buf + SEAL_NONCE, &n, in, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(ctx, buf + SEAL_NONCE + n, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG,
	    buf + SEAL_NONCE + len) == 1)
		out = base64url_encode_dup(buf, total);
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(buf, total);
	free(buf);
	return out;
}

unsigned char *
seal_gcm_open(const unsigned char key[SEAL_KEYLEN], const char *aad,
    const char *sealed, size_t *lenp)
{
	EVP_CIPHER_CTX	*ctx;
	unsigned char	*buf, *out;
	size_t		 len;
	int		 n, fin, ok = 0;

	if ((buf = base64url_decode_dup(sealed, strlen(sealed), &len)) ==
	    NULL || len < SEAL_NONCE + SEAL_TAG) {
		free(buf);
		return NULL;
	}
	len -= SEAL_NONCE + SEAL_TAG;
	out = xmalloc(len + 1);
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, buf + SEAL_NONCE, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG,
	    buf + SEAL_NONCE + len) == 1 &&
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
