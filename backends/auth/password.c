/*
 * Password hashes: scrypt through EVP_PBE_scrypt, stored with their
 * parameters, "$scrypt$N$r$p$<salt>$<hash>" (salt and hash base64url), so
 * raising the cost later only needs a rehash at the next good login.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "base64url.h"
#include "log.h"
#include "xmalloc.h"

#define PW_SALTLEN	16
#define PW_HASHLEN	32
#define PW_R		8
#define PW_P		1
#define PW_MAX_N	(1ULL << 20)
#define PW_MAX_R	32
#define PW_MAX_P	16
#define PW_MAXMEM	(1ULL << 30)

static int
password_scrypt(const char *password, const unsigned char *salt,
    size_t saltlen, unsigned long long n, unsigned long long r,
    unsigned long long p, unsigned char *out, size_t outlen)
{
	/* 128*N*r for V, plus 128*r*p for B, plus slack. */
	uint64_t	maxmem = 128 * n * r + 128 * r * p + (1 << 20);

	if (maxmem > PW_MAXMEM)
		return -1;
	return EVP_PBE_scrypt(password, strlen(password), salt, saltlen, n,
	    r, p, maxmem, out, outlen) == 1 ? 0 : -1;
}

char *
password_hash(const char *password)
{
	unsigned char	 salt[PW_SALTLEN], hash[PW_HASHLEN];
	char		 s[64], h[64], *out;

	if (RAND_bytes(salt, sizeof salt) != 1)
		return NULL;
	if (password_scrypt(password, salt, sizeof salt, auth_conf.ac_scrypt_n,
	    PW_R, PW_P, hash, sizeof hash) == -1) {
		log_warnx("%s: scrypt failed", __func__);
		return NULL;
	}
	base64url_encode(salt, sizeof salt, s);
	base64url_encode(hash, sizeof hash, h);
	OPENSSL_cleanse(hash, sizeof hash);
	xasprintf(&out, "$scrypt$%llu$%d$%d$%s$%s", auth_conf.ac_scrypt_n,
	    PW_R, PW_P, s, h);
	return out;
}

/* A decimal field of the hash up to '$'; 0 on a malformed one. */
static unsigned long long
password_field(const char **p, unsigned long long max)
{
	unsigned long long	 v = 0;
	const char		*s = *p;

	if (*s < '1' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > max)
			return 0;
	}
	if (*s != '$')
		return 0;
	*p = s + 1;
	return v;
}

int
password_verify(const char *password, const char *stored, int *upgrade)
{
	unsigned long long	 n, r, p;
	unsigned char		 salt[64], want[64], got[64];
	const char		*s = stored, *dollar;
	size_t			 saltlen, wantlen;
	int			 ok;

	*upgrade = 0;
	if (strncmp(s, "$scrypt$", 8) != 0)
		return 0;
	s += 8;
	if ((n = password_field(&s, PW_MAX_N)) < 2 || (n & (n - 1)) != 0 ||
	    (r = password_field(&s, PW_MAX_R)) == 0 ||
	    (p = password_field(&s, PW_MAX_P)) == 0)
		return 0;
	if ((dollar = strchr(s, '$')) == NULL ||
	    (size_t)(dollar - s) > base64url_enclen(sizeof salt - 1) ||
	    strlen(dollar + 1) > base64url_enclen(sizeof want - 1) ||
	    base64url_decode(s, dollar - s, salt, &saltlen) == -1 ||
	    base64url_decode(dollar + 1, strlen(dollar + 1), want,
	    &wantlen) == -1 || saltlen < 8 || wantlen < 16)
		return 0;
	if (password_scrypt(password, salt, saltlen, n, r, p, got,
	    wantlen) == -1)
		return 0;
	ok = CRYPTO_memcmp(got, want, wantlen) == 0;
	OPENSSL_cleanse(got, sizeof got);
	if (ok && (n != auth_conf.ac_scrypt_n || r != PW_R || p != PW_P ||
	    wantlen != PW_HASHLEN || saltlen != PW_SALTLEN))
		*upgrade = 1;
	return ok;
}

void
password_dummy(const char *password)
{
	static char	*dummy;
	int		 upgrade;

	if (dummy == NULL && (dummy = password_hash("agora dummy")) == NULL)
		return;
	(void)password_verify(password, dummy, &upgrade);
}
