/* Per-purpose keys from the installation's secret; see secret.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "log.h"
#include "secret.h"

#define SECRET_FILE_MAX	4096

static unsigned char	secret_buf[SECRET_FILE_MAX];
static size_t		secret_len;	/* 0: not loaded yet */

int
secret_read_file(const char *path, unsigned char *buf, size_t size,
    size_t *len)
{
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	*len = fread(buf, 1, size, fp);
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

void
secret_set(const unsigned char *secret, size_t len)
{
	if (len > sizeof secret_buf)
		len = sizeof secret_buf;
	memcpy(secret_buf, secret, len);
	secret_len = len;
}

static int
secret_load(const char **errstr)
{
	const char	*path;
	size_t		 len;

	if ((path = getenv("AGORA_SECRET_FILE")) != NULL) {
		if (secret_read_file(path, secret_buf, sizeof secret_buf,
		    &len) == -1) {
			*errstr = "cannot read AGORA_SECRET_FILE";
			return -1;
		}
		if (len < 16) {
			*errstr = "AGORA_SECRET_FILE holds fewer than 16 bytes";
			return -1;
		}
	} else if ((path = getenv("AGORA_DB_PASSWORD_FILE")) == NULL ||
	    secret_read_file(path, secret_buf, sizeof secret_buf, &len) == -1 ||
	    len == 0) {
		log_warnx("%s: no secret file; derived keys hold only in this "
		    "process", __func__);
		len = 32;
		if (RAND_bytes(secret_buf, (int)len) != 1) {
			*errstr = "RAND_bytes failed";
			return -1;
		}
	}
	secret_len = len;
	return 0;
}

int
secret_derive(const char *label, unsigned char out[SECRET_KEYLEN],
    const char **errstr)
{
	unsigned int	 mlen = 0;

	if (secret_len == 0 && secret_load(errstr) == -1)
		return -1;
	if (HMAC(EVP_sha256(), secret_buf, (int)secret_len,
	    (const unsigned char *)label, strlen(label), out, &mlen) == NULL ||
	    mlen != SECRET_KEYLEN) {
		*errstr = "HMAC failed";
		return -1;
	}
	return 0;
}
