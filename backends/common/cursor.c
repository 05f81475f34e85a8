/* HMAC-protected base64url paging cursors. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "cursor.h"
#include "secret.h"
#include "log.h"
#include "xmalloc.h"

#define CURSOR_VERSION	1
#define CURSOR_MACLEN	16
#define CURSOR_RAWLEN	(1 + 8 + CURSOR_MACLEN)
#define CURSOR_B64LEN	34	/* 25 bytes, unpadded base64url */
#define CURSOR_KEYFILE_MAX	4096

static unsigned char	cursor_key[32];
static int		cursor_have_key;

void
cursor_set_key(const unsigned char *key, size_t len)
{
	SHA256(key, len, cursor_key);
	cursor_have_key = 1;
}

int
cursor_init(const char **errstr)
{
	unsigned char	 buf[CURSOR_KEYFILE_MAX];
	const char	*path;
	size_t		 len;

	/* a key of the cursors' own wins over the install secret */
	if ((path = getenv("AGORA_CURSOR_KEY_FILE")) != NULL) {
		if (secret_read_file(path, buf, sizeof buf, &len) == -1) {
			*errstr = "cannot read the cursor key file";
			return -1;
		}
		if (len < 16) {
			OPENSSL_cleanse(buf, sizeof buf);
			*errstr = "cursor key file holds fewer than 16 bytes";
			return -1;
		}
		cursor_set_key(buf, len);
		OPENSSL_cleanse(buf, sizeof buf);
		return 0;
	}
	if (secret_derive("agora cursor key v1", cursor_key, errstr) == -1)
		return -1;
	cursor_have_key = 1;
	return 0;
}

static void
cursor_mac(const unsigned char *raw, const char *scope,
    unsigned char mac[CURSOR_MACLEN])
{
	unsigned char	 full[EVP_MAX_MD_SIZE], *msg;
	unsigned int	 len;
	size_t		 slen = strlen(scope);
	const char	*errstr;

	if (!cursor_have_key && cursor_init(&errstr) == -1)
		fatalx("%s: %s", __func__, errstr);
	/* key || NUL || scope: the NUL keeps the two apart. */
	msg = xmalloc(10 + slen);
	memcpy(msg, raw, 9);
	msg[9] = '\0';
	memcpy(msg + 10, scope, slen);
	if (HMAC(EVP_sha256(), cursor_key, sizeof cursor_key, msg, 10 + slen,
	    full, &len) == NULL)
		fatalx("%s: HMAC failed", __func__);
	free(msg);
	memcpy(mac, full, CURSOR_MACLEN);
}

char *
cursor_encode(const char *scope, long long after)
{
	unsigned char	 raw[CURSOR_RAWLEN];
	char		 b64[4 * ((CURSOR_RAWLEN + 2) / 3) + 1];
	uint64_t	 u = (uint64_t)after;
	int		 i, n;

	raw[0] = CURSOR_VERSION;
	for (i = 0; i < 8; i++)
		raw[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	cursor_mac(raw, scope, raw + 9);
	n = EVP_EncodeBlock((unsigned char *)b64, raw, sizeof raw);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	for (i = 0; i < n; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	return xstrdup(b64);
}

int
cursor_decode(const char *cursor, const char *scope, long long *after,
    const char **errstr)
{
	unsigned char	 raw[CURSOR_RAWLEN + 3], mac[CURSOR_MACLEN];
	char		 b64[CURSOR_B64LEN + 3];
	uint64_t	 u = 0;
	size_t		 i, len = strlen(cursor);

	*errstr = "malformed cursor";
	if (len != CURSOR_B64LEN)
		return -1;
	for (i = 0; i < len; i++) {
		char c = cursor[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')))
			return -1;
		b64[i] = c;
	}
	b64[len++] = '=';
	b64[len++] = '=';
	b64[len] = '\0';
	/* 36 chars in, 27 bytes out; the last two are padding. */
	if (EVP_DecodeBlock(raw, (unsigned char *)b64, (int)len) !=
	    CURSOR_RAWLEN + 2)
		return -1;
	if (raw[0] != CURSOR_VERSION)
		return -1;
	cursor_mac(raw, scope, mac);
	if (CRYPTO_memcmp(mac, raw + 9, CURSOR_MACLEN) != 0) {
		*errstr = "cursor is not valid for this listing";
		return -1;
	}
	for (i = 0; i < 8; i++)
		u = u << 8 | raw[1 + i];
	*after = (long long)u;
	*errstr = NULL;
	return 0;
}
