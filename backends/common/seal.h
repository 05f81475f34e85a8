/*
 * Sealing under the installation's master key (AGORA_MASTER_KEY_FILE):
 * agora-auth's signing keys and agora-users' per-user data keys and
 * fields.  One format for both: base64url(nonce 12 | AES-256-GCM
 * ciphertext | tag 16), the additional data binding a sealed value to its
 * place (a key id, a user and field), so a value moved elsewhere does
 * not open.
 */
#ifndef AGORA_SEAL_H
#define AGORA_SEAL_H

#include <stddef.h>

#define SEAL_KEYLEN	32

/*
 * HMAC-SHA256(master key, label): a key for one purpose.  The file holds
 * 32 to 4096 bytes (a trailing newline is not part of it).  0, or -1
 * with *errstr.
 */
int	 seal_master_key(const char *label, unsigned char out[SEAL_KEYLEN],
	    const char **errstr);

/* len bytes of in sealed under key with aad; caller frees, or NULL. */
char	*seal_gcm(const unsigned char key[SEAL_KEYLEN], const char *aad,
	    const void *in, size_t len);

/*
 * Opens what seal_gcm() made with the same key and aad: the plaintext,
 * NUL-terminated, its length in *lenp (the caller clears and frees it),
 * or NULL for anything forged, moved or malformed.
 */
unsigned char *seal_gcm_open(const unsigned char key[SEAL_KEYLEN],
	    const char *aad, const char *sealed, size_t *lenp);

#endif
