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

/* Reads at most CURSOR_KEYFILE_MAX bytes of path; -1 on error. */
static int
cursor_read(const char *path, unsigned char *buf, size_t *len)
{
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	*len = fread(buf, 1, CURSOR_KEYFILE_MAX, fp);
	if (ferror(fp)) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/* A trailing newline is not part of the secret. */
	while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
		(*len)--;
	return 0;
}

int
cursor_init(const char **errstr)
{
	static const char	 label[] = "agora cursor key v1";
	unsigned char		 buf[CURSOR_KEYFILE_MAX], raw[32];
	unsigned int		 mlen;
	const char		*path;
	size_t			 len;

	if ((path = getenv("AGORA_CURSOR_KEY_FILE")) != NULL ||
	    (path = getenv("AGORA_SECRET_FILE")) != NULL) {
		if (cursor_read(path, buf, &len) == -1) {
			*errstr = "cannot read the cursor key file";
			return -1;
		}
		if (len < 16) {
			*errstr = "cursor key file holds fewer than 16 bytes";
			return -1;
		}
		cursor_set_key(buf, len);
	} else if ((path = getenv("AGORA_DB_PASSWORD_FILE")) != NULL &&
	    cursor_read(path, buf, &len) == 0 && len > 0) {
		HMAC(EVP_sha256(), buf, (int)len, (const unsigned char *)label,
		    sizeof label - 1, cursor_key, &mlen);
		cursor_have_key = 1;
	} else {
		log_warnx("%s: no key file, paging cursors are only valid "
		    "in this process", __func__);
		if (RAND_bytes(raw, sizeof raw) != 1) {
			*errstr = "RAND_bytes failed";
			return -1;
		}
		cursor_set_key(raw, sizeof raw);
	}
	OPENSSL_cleanse(buf, sizeof buf);
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
