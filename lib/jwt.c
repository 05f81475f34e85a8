/* JWS compact tokens on OpenSSL 3 EVP: keys, key sets, sign, verify. */

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "base64url.h"
#include "json.h"
#include "jwt.h"
#include "xmalloc.h"

#define JWT_ES256_SIGLEN	64
#define JWT_MAX_SIG		1024	/* RSA 8192 bits */
#define JWT_KID_MAX		128

struct jwt_key {
	enum jwt_alg	 k_alg;
	char		*k_kid;
	EVP_PKEY	*k_pkey;	/* asymmetric keys */
	int		 k_private;
	unsigned char	*k_secret;	/* HS256 */
	size_t		 k_secretlen;
};

struct jwt_keyset {
	struct jwt_key	**ks_keys;
	size_t		  ks_n;
};

/* What each algorithm needs: EVP key type and digest. */
static const struct jwt_algdef {
	enum jwt_alg	 alg;
	const char	*name;
	int		 pkey_type;	/* EVP_PKEY_*, 0 for HMAC */
	int		 digest;	/* sign through SHA-256 */
} jwt_algs[] = {
	{ JWT_ALG_ES256, "ES256", EVP_PKEY_EC, 1 },
	{ JWT_ALG_RS256, "RS256", EVP_PKEY_RSA, 1 },
	{ JWT_ALG_EDDSA, "EdDSA", EVP_PKEY_ED25519, 0 },
	{ JWT_ALG_HS256, "HS256", 0, 1 },
};

static const struct jwt_algdef *
jwt_algdef(enum jwt_alg alg)
{
	size_t	i;

	for (i = 0; i < sizeof jwt_algs / sizeof jwt_algs[0]; i++)
		if (jwt_algs[i].alg == alg)
			return &jwt_algs[i];
	return NULL;
}

const char *
jwt_alg_name(enum jwt_alg alg)
{
	const struct jwt_algdef	*d = jwt_algdef(alg);

	return d != NULL ? d->name : NULL;
}

enum jwt_alg
jwt_alg_from_name(const char *name)
{
	size_t	i;

	if (name == NULL)
		return JWT_ALG_UNKNOWN;
	/* Case matters: "none", "hs256" or "NONE" are all unknown. */
	for (i = 0; i < sizeof jwt_algs / sizeof jwt_algs[0]; i++)
		if (strcmp(jwt_algs[i].name, name) == 0)
			return jwt_algs[i].alg;
	return JWT_ALG_UNKNOWN;
}

/* --- keys ---------------------------------------------------------------- */

static int
jwt_kid_ok(const char *kid)
{
	size_t	i, len = strlen(kid);

	if (len > JWT_KID_MAX || !json_utf8_valid(kid, len))
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)kid[i] < 0x20)
			return 0;
	return 1;
}

static struct jwt_key *
jwt_key_new(enum jwt_alg alg, const char *kid)
{
	struct jwt_key	*k;

	k = xcalloc(1, sizeof *k);
	k->k_alg = alg;
	k->k_kid = xstrdup(kid != NULL ? kid : "");
	return k;
}

void
jwt_key_free(struct jwt_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->k_pkey);
	if (k->k_secret != NULL) {
		OPENSSL_cleanse(k->k_secret, k->k_secretlen);
		free(k->k_secret);
	}
	free(k->k_kid);
	free(k);
}

const char *
jwt_key_kid(const struct jwt_key *k)
{
	return k->k_kid;
}

enum jwt_alg
jwt_key_alg(const struct jwt_key *k)
{
	return k->k_alg;
}

int
jwt_key_can_sign(const struct jwt_key *k)
{
	return k->k_secret != NULL || k->k_private;
}

/* Whether pkey is of the type (and curve, size) alg needs. */
static int
jwt_pkey_fits(EVP_PKEY *pkey, enum jwt_alg alg, const char **errstr)
{
	const struct jwt_algdef	*d = jwt_algdef(alg);
	char			 group[64];
	size_t			 glen;

	if (d == NULL || d->pkey_type == 0) {
		*errstr = "algorithm needs no key pair";
		return 0;
	}
	if (EVP_PKEY_get_base_id(pkey) != d->pkey_type) {
		*errstr = "key type does not fit the algorithm";
		return 0;
	}
	if (alg == JWT_ALG_ES256) {
		if (!EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) ||
		    (strcmp(group, "prime256v1") != 0 &&
		    strcmp(group, "P-256") != 0)) {
			*errstr = "ES256 needs a P-256 key";
			return 0;
		}
	}
	if (alg == JWT_ALG_RS256 && EVP_PKEY_get_bits(pkey) <
	    JWT_RSA_MIN_BITS) {
		*errstr = "RSA key shorter than 2048 bits";
		return 0;
	}
	return 1;
}

struct jwt_key *
jwt_key_generate(enum jwt_alg alg, const char *kid, const char **errstr)
{
	struct jwt_key	*k;
	EVP_PKEY	*pkey = NULL;
	unsigned char	 secret[JWT_HMAC_MIN];

	if (!jwt_kid_ok(kid)) {
		*errstr = "bad kid";
		return NULL;
	}
	switch (alg) {
	case JWT_ALG_HS256:
		if (RAND_bytes(secret, sizeof secret) != 1) {
			*errstr = "no random bytes";
			return NULL;
		}
		k = jwt_key_hmac(secret, sizeof secret, kid, errstr);
		OPENSSL_cleanse(secret, sizeof secret);
		return k;
	case JWT_ALG_ES256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case JWT_ALG_RS256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)JWT_RSA_MIN_BITS);
		break;
	case JWT_ALG_EDDSA:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		*errstr = "unknown algorithm";
		return NULL;
	}
	if (pkey == NULL) {
		*errstr = "key generation failed";
		return NULL;
	}
	k = jwt_key_new(alg, kid);
	k->k_pkey = pkey;
	k->k_private = 1;
	return k;
}

struct jwt_key *
jwt_key_from_pem(const char *pem, size_t len, enum jwt_alg alg,
    const char *kid, const char **errstr)
{
	struct jwt_key	*k;
	EVP_PKEY	*pkey;
	BIO		*bio;
	int		 priv = 1;

	if (!jwt_kid_ok(kid)) {
		*errstr = "bad kid";
		return NULL;
	}
	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		*errstr = "PEM too large";
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (pkey == NULL) {
		priv = 0;
		(void)BIO_reset(bio);
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	if (pkey == NULL) {
		*errstr = "not a PEM key";
		return NULL;
	}
	if (!jwt_pkey_fits(pkey, alg, errstr)) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k = jwt_key_new(alg, kid);
	k->k_pkey = pkey;
	k->k_private = priv;
	return k;
}

struct jwt_key *
jwt_key_hmac(const void *secret, size_t len, const char *kid,
    const char **errstr)
{
	struct jwt_key	*k;

	if (!jwt_kid_ok(kid)) {
		*errstr = "bad kid";
		return NULL;
	}
	if (len < JWT_HMAC_MIN) {
		*errstr = "HS256 secret shorter than 32 bytes";
		return NULL;
	}
	k = jwt_key_new(JWT_ALG_HS256, kid);
	k->k_secret = xmalloc(len);
	memcpy(k->k_secret, secret, len);
	k->k_secretlen = len;
	return k;
}

char *
jwt_key_private_pem(const struct jwt_key *k, size_t *lenp)
{
	BIO	*bio;
	BUF_MEM	*mem;
	char	*pem;

	if (k->k_pkey == NULL || !k->k_private)
		return NULL;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (!PEM_write_bio_PrivateKey(bio, k->k_pkey, NULL, NULL, 0, NULL,
	    NULL)) {
		BIO_free(bio);
		return NULL;
	}
	BIO_get_mem_ptr(bio, &mem);
	pem = xstrndup(mem->data, mem->length);
	if (lenp != NULL)
		*lenp = mem->length;
	BIO_free(bio);
	return pem;
}

/* --- JWK ----------------------------------------------------------------- */

/*
 * The base64url member key of jwk, decoded; exactly want bytes unless
 * want is 0.  Leading zero bytes are kept.  NULL when absent or bad.
 */
static unsigned char *
jwt_jwk_bytes(yajl_val jwk, const char *key, size_t want, size_t *lenp)
{
	const char	*s;
	unsigned char	*b;
	size_t		 len;

	if ((s = json_get_string(jwk, key)) == NULL)
		return NULL;
	if ((b = base64url_decode_dup(s, strlen(s), &len)) == NULL)
		return NULL;
	if (len == 0 || (want != 0 && len != want)) {
		free(b);
		return NULL;
	}
	*lenp = len;
	return b;
}

static EVP_PKEY *
jwt_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pkey = NULL;
	OSSL_PARAM	*params;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		return NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* A public key whose point is really on the curve (RFC 8725 §3.4). */
static int
jwt_pkey_check(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX	*ctx;
	int		 ok;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		return 0;
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static EVP_PKEY *
jwt_jwk_ec(yajl_val jwk, const char **errstr)
{
	OSSL_PARAM_BLD	*bld;
	EVP_PKEY	*pkey = NULL;
	unsigned char	*x, *y = NULL, pt[65];
	const char	*crv;
	size_t		 xl, yl;

	crv = json_get_string(jwk, "crv");
	if (crv == NULL || strcmp(crv, "P-256") != 0) {
		*errstr = "EC key: only crv P-256 is supported";
		return NULL;
	}
	if ((x = jwt_jwk_bytes(jwk, "x", 32, &xl)) == NULL ||
	    (y = jwt_jwk_bytes(jwk, "y", 32, &yl)) == NULL) {
		free(x);
		*errstr = "EC key: bad x or y";
		return NULL;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, 32);
	memcpy(pt + 33, y, 32);
	free(x);
	free(y);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return NULL;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, sizeof pt))
		pkey = jwt_pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (pkey != NULL && !jwt_pkey_check(pkey)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	if (pkey == NULL)
		*errstr = "EC key: not a point on P-256";
	return pkey;
}

static EVP_PKEY *
jwt_jwk_rsa(yajl_val jwk, const char **errstr)
{
	OSSL_PARAM_BLD	*bld;
	EVP_PKEY	*pkey = NULL;
	BIGNUM		*n = NULL, *e = NULL;
	unsigned char	*nb, *eb = NULL;
	size_t		 nl, el;

	if ((nb = jwt_jwk_bytes(jwk, "n", 0, &nl)) == NULL ||
	    (eb = jwt_jwk_bytes(jwk, "e", 0, &el)) == NULL || el > 8 ||
	    nl > 2048) {
		free(nb);
		free(eb);
		*errstr = "RSA key: bad n or e";
		return NULL;
	}
	n = BN_bin2bn(nb, (int)nl, NULL);
	e = BN_bin2bn(eb, (int)el, NULL);
	free(nb);
	free(eb);
	if (n != NULL && e != NULL && BN_num_bits(n) >= JWT_RSA_MIN_BITS &&
	    BN_is_odd(e) && !BN_is_one(e) &&
	    (bld = OSSL_PARAM_BLD_new()) != NULL) {
		if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			pkey = jwt_pkey_fromdata("RSA", bld);
		OSSL_PARAM_BLD_free(bld);
	}
	if (pkey == NULL)
		*errstr = n != NULL && BN_num_bits(n) < JWT_RSA_MIN_BITS ?
		    "RSA key shorter than 2048 bits" : "RSA key: unusable";
	BN_free(n);
	BN_free(e);
	return pkey;
}

static EVP_PKEY *
jwt_jwk_okp(yajl_val jwk, const char **errstr)
{
	EVP_PKEY	*pkey;
	unsigned char	*x;
	const char	*crv;
	size_t		 xl;

	crv = json_get_string(jwk, "crv");
	if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
		*errstr = "OKP key: only crv Ed25519 is supported";
		return NULL;
	}
	if ((x = jwt_jwk_bytes(jwk, "x", 32, &xl)) == NULL) {
		*errstr = "OKP key: bad x";
		return NULL;
	}
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
	free(x);
	if (pkey == NULL)
		*errstr = "OKP key: unusable";
	return pkey;
}

struct jwt_key *
jwt_key_from_jwk(yajl_val jwk, int allow_hmac, const char **errstr)
{
	struct jwt_key	*k;
	EVP_PKEY	*pkey = NULL;
	unsigned char	*secret;
	const char	*kty, *alg, *use, *kid;
	enum jwt_alg	 want;
	size_t		 len;

	if (!YAJL_IS_OBJECT(jwk)) {
		*errstr = "JWK is not an object";
		return NULL;
	}
	kty = json_get_string(jwk, "kty");
	alg = json_get_string(jwk, "alg");
	use = json_get_string(jwk, "use");
	if ((kid = json_get_string(jwk, "kid")) == NULL)
		kid = "";
	if (json_get(jwk, "kid") != NULL && json_get_string(jwk, "kid") ==
	    NULL) {
		*errstr = "JWK kid is not a string";
		return NULL;
	}
	if (!jwt_kid_ok(kid)) {
		*errstr = "JWK kid too long or not text";
		return NULL;
	}
	if (use != NULL && strcmp(use, "sig") != 0) {
		*errstr = "JWK is not for signatures";
		return NULL;
	}
	if (kty == NULL) {
		*errstr = "JWK without kty";
		return NULL;
	}
	if (strcmp(kty, "EC") == 0)
		want = JWT_ALG_ES256;
	else if (strcmp(kty, "RSA") == 0)
		want = JWT_ALG_RS256;
	else if (strcmp(kty, "OKP") == 0)
		want = JWT_ALG_EDDSA;
	else if (strcmp(kty, "oct") == 0)
		want = JWT_ALG_HS256;
	else {
		*errstr = "JWK kty not supported";
		return NULL;
	}
	if (alg != NULL && jwt_alg_from_name(alg) != want) {
		*errstr = "JWK alg does not fit its kty or is not supported";
		return NULL;
	}
	switch (want) {
	case JWT_ALG_ES256:
		pkey = jwt_jwk_ec(jwk, errstr);
		break;
	case JWT_ALG_RS256:
		pkey = jwt_jwk_rsa(jwk, errstr);
		break;
	case JWT_ALG_EDDSA:
		pkey = jwt_jwk_okp(jwk, errstr);
		break;
	default:
		if (!allow_hmac) {
			*errstr = "symmetric JWK (oct) not allowed";
			return NULL;
		}
		if ((secret = jwt_jwk_bytes(jwk, "k", 0, &len)) == NULL) {
			*errstr = "oct key: bad k";
			return NULL;
		}
		k = jwt_key_hmac(secret, len, kid, errstr);
		OPENSSL_cleanse(secret, len);
		free(secret);
		return k;
	}
	if (pkey == NULL)
		return NULL;
	k = jwt_key_new(want, kid);
	k->k_pkey = pkey;
	return k;
}

/* Writes the base64url of BN param name of pkey, padded to pad bytes. */
static int
jwt_gen_bn(yajl_gen g, const char *key, EVP_PKEY *pkey, const char *name,
    int pad)
{
	BIGNUM		*bn = NULL;
	unsigned char	*buf;
	char		*s;
	int		 len, rc = -1;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		return -1;
	len = pad > 0 ? pad : BN_num_bytes(bn);
	buf = xmalloc(len > 0 ? len : 1);
	if (BN_bn2binpad(bn, buf, len) == len) {
		s = base64url_encode_dup(buf, len);
		json_gen_kv_str(g, key, s);
		free(s);
		rc = 0;
	}
	free(buf);
	BN_free(bn);
	return rc;
}

int
jwt_key_gen_jwk(yajl_gen g, const struct jwt_key *k)
{
	unsigned char	 raw[32];
	size_t		 len = sizeof raw;
	char		*s;
	int		 rc = 0;

	if (k->k_pkey == NULL)
		return -1;
	yajl_gen_map_open(g);
	switch (k->k_alg) {
	case JWT_ALG_ES256:
		json_gen_kv_str(g, "kty", "EC");
		json_gen_kv_str(g, "crv", "P-256");
		rc |= jwt_gen_bn(g, "x", k->k_pkey, OSSL_PKEY_PARAM_EC_PUB_X,
		    32);
		rc |= jwt_gen_bn(g, "y", k->k_pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
		    32);
		break;
	case JWT_ALG_RS256:
		json_gen_kv_str(g, "kty", "RSA");
		rc |= jwt_gen_bn(g, "n", k->k_pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		rc |= jwt_gen_bn(g, "e", k->k_pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		break;
	case JWT_ALG_EDDSA:
		json_gen_kv_str(g, "kty", "OKP");
		json_gen_kv_str(g, "crv", "Ed25519");
		if (EVP_PKEY_get_raw_public_key(k->k_pkey, raw, &len) != 1) {
			rc = -1;
			break;
		}
		s = base64url_encode_dup(raw, len);
		json_gen_kv_str(g, "x", s);
		free(s);
		break;
	default:
		rc = -1;
		break;
	}
	json_gen_kv_str(g, "use", "sig");
	json_gen_kv_str(g, "alg", jwt_alg_name(k->k_alg));
	json_gen_kv_str(g, "kid", k->k_kid);
	yajl_gen_map_close(g);
	return rc == 0 ? 0 : -1;
}

/* --- key sets ------------------------------------------------------------ */

struct jwt_keyset *
jwt_keyset_new(void)
{
	return xcalloc(1, sizeof(struct jwt_keyset));
}

void
jwt_keyset_free(struct jwt_keyset *ks)
{
	size_t	i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->ks_n; i++)
		jwt_key_free(ks->ks_keys[i]);
	free(ks->ks_keys);
	free(ks);
}

int
jwt_keyset_add(struct jwt_keyset *ks, struct jwt_key *k)
{
	if (jwt_keyset_find(ks, k->k_kid) != NULL) {
		jwt_key_free(k);
		return -1;
	}
	ks->ks_keys = xreallocarray(ks->ks_keys, ks->ks_n + 1,
	    sizeof *ks->ks_keys);
	ks->ks_keys[ks->ks_n++] = k;
	return 0;
}

size_t
jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks->ks_n;
}

const struct jwt_key *
jwt_keyset_get(const struct jwt_keyset *ks, size_t i)
{
	return i < ks->ks_n ? ks->ks_keys[i] : NULL;
}

const struct jwt_key *
jwt_keyset_find(const struct jwt_keyset *ks, const char *kid)
{
	size_t	i;

	for (i = 0; i < ks->ks_n; i++)
		if (strcmp(ks->ks_keys[i]->k_kid, kid) == 0)
			return ks->ks_keys[i];
	return NULL;
}

struct jwt_keyset *
jwt_keyset_from_jwks(const char *json, size_t len, const char **errstr)
{
	return jwt_keyset_from_jwks_flags(json, len, 0, errstr);
}

struct jwt_keyset *
jwt_keyset_from_jwks_flags(const char *json, size_t len, int flags,
    const char **errstr)
{
	struct jwt_keyset	*ks;
	struct jwt_key		*k;
	yajl_val		 root, keys;
	char			 err[128];
	size_t			 i;

	if ((root = json_parse(json, len, 1024 * 1024, 0, err,
	    sizeof err)) == NULL) {
		*errstr = "JWKS is not valid JSON";
		return NULL;
	}
	keys = json_get(root, "keys");
	if (!YAJL_IS_ARRAY(keys)) {
		json_free(root);
		*errstr = "JWKS has no keys array";
		return NULL;
	}
	ks = jwt_keyset_new();
	for (i = 0; i < keys->u.array.len; i++) {
		k = jwt_key_from_jwk(keys->u.array.values[i],
		    flags & JWT_JWKS_ALLOW_HMAC, errstr);
		if (k == NULL) {
			if (flags & JWT_JWKS_SKIP_UNUSABLE)
				continue;
			goto fail;
		}
		if (jwt_keyset_add(ks, k) == -1) {
			*errstr = "JWKS has a duplicate kid";
			goto fail;
		}
	}
	json_free(root);
	if (ks->ks_n == 0) {
		jwt_keyset_free(ks);
		*errstr = "JWKS holds no usable key";
		return NULL;
	}
	return ks;
 fail:
	json_free(root);
	jwt_keyset_free(ks);
	return NULL;
}

char *
jwt_keyset_jwks(const struct jwt_keyset *ks, size_t *lenp)
{
	yajl_gen	 g;
	char		*s;
	size_t		 i;

	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_cstr(g, "keys");
	yajl_gen_array_open(g);
	for (i = 0; i < ks->ks_n; i++)
		if (ks->ks_keys[i]->k_pkey != NULL)
			jwt_key_gen_jwk(g, ks->ks_keys[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	s = json_gen_dup(g, lenp);
	yajl_gen_free(g);
	return s;
}

/* --- signatures ---------------------------------------------------------- */

/* raw R||S (64 bytes) to DER; new memory in *der, or -1. */
static int
jwt_ecdsa_raw2der(const unsigned char *raw, unsigned char **der,
    int *derlen)
{
	ECDSA_SIG	*sig;
	BIGNUM		*r, *s;

	if ((sig = ECDSA_SIG_new()) == NULL)
		return -1;
	r = BN_bin2bn(raw, 32, NULL);
	s = BN_bin2bn(raw + 32, 32, NULL);
	if (r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return -1;
	}
	*der = NULL;
	*derlen = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	return *derlen > 0 ? 0 : -1;
}

/* DER to raw R||S in raw (64 bytes). */
static int
jwt_ecdsa_der2raw(const unsigned char *der, size_t derlen,
    unsigned char *raw)
{
	ECDSA_SIG		*sig;
	const BIGNUM		*r, *s;
	const unsigned char	*p = der;
	int			 ok;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32,
	    32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

/* Signs len bytes of data; *sig is new memory of *siglen bytes. */
static int
jwt_sign_raw(const struct jwt_key *k, const char *data, size_t len,
    unsigned char **sig, size_t *siglen)
{
	const struct jwt_algdef	*d = jwt_algdef(k->k_alg);
	EVP_MD_CTX		*ctx;
	unsigned char		*der = NULL;
	unsigned int		 hlen;
	size_t			 dlen = 0;
	int			 rc = -1;

	if (k->k_alg == JWT_ALG_HS256) {
		*sig = xmalloc(EVP_MAX_MD_SIZE);
		if (HMAC(EVP_sha256(), k->k_secret, (int)k->k_secretlen,
		    (const unsigned char *)data, len, *sig, &hlen) == NULL) {
			free(*sig);
			return -1;
		}
		*siglen = hlen;
		return 0;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestSignInit(ctx, NULL, d->digest ? EVP_sha256() : NULL,
	    NULL, k->k_pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &dlen, (const unsigned char *)data,
	    len) != 1)
		goto done;
	der = xmalloc(dlen);
	if (EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)data,
	    len) != 1)
		goto done;
	if (k->k_alg == JWT_ALG_ES256) {
		*sig = xmalloc(JWT_ES256_SIGLEN);
		if (jwt_ecdsa_der2raw(der, dlen, *sig) == -1) {
			free(*sig);
			goto done;
		}
		*siglen = JWT_ES256_SIGLEN;
	} else {
		*sig = der;
		*siglen = dlen;
		der = NULL;
	}
	rc = 0;
 done:
	free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* 1 when sig is the key's signature of data. */
static int
jwt_verify_raw(const struct jwt_key *k, const char *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
	const struct jwt_algdef	*d = jwt_algdef(k->k_alg);
	EVP_MD_CTX		*ctx;
	unsigned char		 mac[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int		 mlen;
	int			 derlen, ok = 0;

	if (k->k_alg == JWT_ALG_HS256) {
		if (HMAC(EVP_sha256(), k->k_secret, (int)k->k_secretlen,
		    (const unsigned char *)data, len, mac, &mlen) == NULL)
			return 0;
		return siglen == mlen && CRYPTO_memcmp(mac, sig, mlen) == 0;
	}
	if (k->k_alg == JWT_ALG_ES256) {
		if (siglen != JWT_ES256_SIGLEN ||
		    jwt_ecdsa_raw2der(sig, &der, &derlen) == -1)
			return 0;
		sig = der;
		siglen = derlen;
	}
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, d->digest ? EVP_sha256() : NULL,
	    NULL, k->k_pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, siglen,
		    (const unsigned char *)data, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

char *
jwt_sign(const struct jwt_key *k, const char *claims_json, const char *typ,
    const char **errstr)
{
	yajl_gen	 g;
	yajl_val	 v;
	unsigned char	*sig;
	char		*hdr, *token, err[128];
	size_t		 hlen, plen, siglen, off;

	if (!jwt_key_can_sign(k)) {
		*errstr = "key cannot sign";
		return NULL;
	}
	plen = strlen(claims_json);
	if ((v = json_parse(claims_json, plen, 0, 0, err,
	    sizeof err)) == NULL || !YAJL_IS_OBJECT(v)) {
		json_free(v);
		*errstr = "claims are not a JSON object";
		return NULL;
	}
	json_free(v);
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "alg", jwt_alg_name(k->k_alg));
	if (typ != NULL)
		json_gen_kv_str(g, "typ", typ);
	if (k->k_kid[0] != '\0')
		json_gen_kv_str(g, "kid", k->k_kid);
	yajl_gen_map_close(g);
	hdr = json_gen_dup(g, &hlen);
	yajl_gen_free(g);

	token = xmalloc(base64url_enclen(hlen) + base64url_enclen(plen) +
	    base64url_enclen(JWT_MAX_SIG) + 3);
	off = base64url_encode(hdr, hlen, token);
	token[off++] = '.';
	off += base64url_encode(claims_json, plen, token + off);
	free(hdr);
	if (jwt_sign_raw(k, token, off, &sig, &siglen) == -1) {
		free(token);
		*errstr = "signing failed";
		return NULL;
	}
	token[off++] = '.';
	base64url_encode(sig, siglen, token + off);
	free(sig);
	return token;
}

/* --- verification -------------------------------------------------------- */

struct jwt_claims *
jwt_claims_ref(struct jwt_claims *c)
{
	__atomic_add_fetch(&c->jc_refs, 1, __ATOMIC_RELAXED);
	return c;
}

void
jwt_claims_free(struct jwt_claims *c)
{
	size_t	i;

	if (c == NULL)
		return;
	/* jc_refs counts the other owners: 0 here means the last one */
	if (__atomic_fetch_sub(&c->jc_refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(c->jc_kid);
	free(c->jc_typ);
	free(c->jc_iss);
	free(c->jc_sub);
	free(c->jc_jti);
	free(c->jc_client_id);
	free(c->jc_scope);
	for (i = 0; i < c->jc_naud; i++)
		free(c->jc_aud[i]);
	free(c->jc_aud);
	for (i = 0; i < c->jc_nroles; i++)
		free(c->jc_roles[i]);
	free(c->jc_roles);
	json_free(c->jc_payload);
	free(c);
}

static char *
jwt_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Appends s to a list of strings. */
static void
jwt_list_add(char ***list, size_t *n, const char *s, size_t len)
{
	*list = xreallocarray(*list, *n + 1, sizeof **list);
	(*list)[(*n)++] = xstrndup(s, len);
}

/*
 * A string-or-array-of-strings claim into a list; a string is split on
 * spaces when split is set.  -1 when the claim has another type.
 */
static int
jwt_claim_list(yajl_val v, int split, char ***list, size_t *n)
{
	const char	*s, *e;
	size_t		 i;

	if (v == NULL)
		return 0;
	if (YAJL_IS_STRING(v)) {
		s = v->u.string;
		if (!split) {
			jwt_list_add(list, n, s, strlen(s));
			return 0;
		}
		while (*s != '\0') {
			while (*s == ' ')
				s++;
			for (e = s; *e != '\0' && *e != ' '; e++)
				;
			if (e > s)
				jwt_list_add(list, n, s, e - s);
			s = e;
		}
		return 0;
	}
	if (!YAJL_IS_ARRAY(v))
		return -1;
	for (i = 0; i < v->u.array.len; i++) {
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return -1;
		s = v->u.array.values[i]->u.string;
		jwt_list_add(list, n, s, strlen(s));
	}
	return 0;
}

/* A NumericDate claim: 0 and *out (0 when absent), -1 when not a number. */
static int
jwt_claim_time(yajl_val payload, const char *key, long long *out)
{
	yajl_val	v = json_get(payload, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (YAJL_IS_INTEGER(v)) {
		*out = YAJL_GET_INTEGER(v);
		return *out > 0 ? 0 : -1;
	}
	if (YAJL_IS_DOUBLE(v) && v->u.number.d >= 1 &&
	    v->u.number.d < 1e15) {
		*out = (long long)v->u.number.d;
		return 0;
	}
	return -1;
}

/* Whether header typ matches want ("at+jwt" ~ "application/at+jwt"). */
static int
jwt_typ_match(const char *typ, const char *want)
{
	if (typ == NULL)
		return 0;
	if (strncasecmp(typ, "application/", 12) == 0 && strchr(typ + 12,
	    '/') == NULL)
		typ += 12;
	if (strncasecmp(want, "application/", 12) == 0)
		want += 12;
	return strcasecmp(typ, want) == 0;
}

/* Decodes and parses one JSON segment; the object, or NULL. */
static yajl_val
jwt_segment_json(const char *s, size_t len, size_t maxjson)
{
	unsigned char	*raw;
	size_t		 rawlen;
	yajl_val	 v;
	char		 err[128];

	if (len == 0 || len > base64url_enclen(maxjson))
		return NULL;
	if ((raw = base64url_decode_dup(s, len, &rawlen)) == NULL)
		return NULL;
	v = json_parse((char *)raw, rawlen, maxjson, 0, err, sizeof err);
	free(raw);
	if (v != NULL && !YAJL_IS_OBJECT(v)) {
		json_free(v);
		return NULL;
	}
	return v;
}

int
jwt_verify(const struct jwt_keyset *ks, const char *token,
    const struct jwt_expect *ex, struct jwt_claims **out,
    const char **errstr)
{
	static const struct jwt_expect	 none;
	struct jwt_claims		*c = NULL;
	const struct jwt_key		*k;
	const char			*dot1, *dot2, *alg, *kid, *iss;
	yajl_val			 hdr = NULL, payload = NULL, v;
	unsigned char			*sig = NULL;
	size_t				 len, maxtok, maxjson, siglen, i;
	enum jwt_alg			 a;
	time_t				 now;
	int				 found;

	if (out != NULL)
		*out = NULL;
	if (ex == NULL)
		ex = &none;
	maxtok = ex->max_token != 0 ? ex->max_token : JWT_MAX_TOKEN;
	maxjson = ex->max_json != 0 ? ex->max_json : JWT_MAX_JSON;
	now = ex->now != 0 ? ex->now : time(NULL);

	if (token == NULL || (len = strnlen(token, maxtok + 1)) > maxtok) {
		*errstr = "token too long";
		return -1;
	}
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (dot1 + 1 - token))) == NULL ||
	    memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL) {
		*errstr = "token is not three segments";
		return -1;
	}
	if ((hdr = jwt_segment_json(token, dot1 - token, maxjson)) == NULL) {
		*errstr = "malformed token header";
		goto fail;
	}
	alg = json_get_string(hdr, "alg");
	if (alg == NULL) {
		*errstr = "token header without alg";
		goto fail;
	}
	if ((a = jwt_alg_from_name(alg)) == JWT_ALG_UNKNOWN) {
		*errstr = "token algorithm not accepted";
		goto fail;
	}
	/* We implement no extension, so any "crit" must be refused. */
	if (json_get(hdr, "crit") != NULL) {
		*errstr = "token header has crit";
		goto fail;
	}
	if (json_get(hdr, "kid") != NULL) {
		if ((kid = json_get_string(hdr, "kid")) == NULL) {
			*errstr = "token kid is not a string";
			goto fail;
		}
		k = jwt_keyset_find(ks, kid);
	} else {
		kid = NULL;
		k = jwt_keyset_count(ks) == 1 ? jwt_keyset_get(ks, 0) : NULL;
	}
	if (k == NULL) {
		*errstr = "unknown key id";
		goto fail;
	}
	if (a != k->k_alg) {
		*errstr = "token algorithm differs from the key's";
		goto fail;
	}
	/* Pinned alg already implies it; kept so no key type slips by. */
	if (a == JWT_ALG_HS256 && k->k_secret == NULL) {
		*errstr = "HS256 with a public key";
		goto fail;
	}
	if (json_get(hdr, "typ") != NULL && json_get_string(hdr, "typ") ==
	    NULL) {
		*errstr = "token typ is not a string";
		goto fail;
	}
	if (ex->typ != NULL && !jwt_typ_match(json_get_string(hdr, "typ"),
	    ex->typ)) {
		*errstr = "wrong token type";
		goto fail;
	}
	if ((sig = base64url_decode_dup(dot2 + 1, strlen(dot2 + 1),
	    &siglen)) == NULL || siglen == 0 || siglen > JWT_MAX_SIG) {
		*errstr = "malformed token signature";
		goto fail;
	}
	if (!jwt_verify_raw(k, token, dot2 - token, sig, siglen)) {
		*errstr = "bad token signature";
		goto fail;
	}
	/* Only a signed payload gets parsed. */
	if ((payload = jwt_segment_json(dot1 + 1, dot2 - dot1 - 1,
	    maxjson)) == NULL) {
		*errstr = "malformed token payload";
		goto fail;
	}
	c = xcalloc(1, sizeof *c);
	c->jc_alg = a;
	c->jc_kid = jwt_strdup_or_null(kid);
	c->jc_typ = jwt_strdup_or_null(json_get_string(hdr, "typ"));
	if (jwt_claim_time(payload, "exp", &c->jc_exp) == -1 ||
	    jwt_claim_time(payload, "nbf", &c->jc_nbf) == -1 ||
	    jwt_claim_time(payload, "iat", &c->jc_iat) == -1) {
		*errstr = "token time claim is not a number";
		goto fail;
	}
	if (c->jc_exp == 0 && ex->require_exp) {
		*errstr = "token without exp";
		goto fail;
	}
	if (c->jc_exp != 0 && (long long)now >= c->jc_exp + ex->leeway) {
		*errstr = "token expired";
		goto fail;
	}
	if (c->jc_nbf != 0 && (long long)now + ex->leeway < c->jc_nbf) {
		*errstr = "token not yet valid";
		goto fail;
	}
	/* String claims: present with another type is an error. */
	{
		static const struct {
			const char	*name;
			size_t		 off;
		} strs[] = {
			{ "iss", offsetof(struct jwt_claims, jc_iss) },
			{ "sub", offsetof(struct jwt_claims, jc_sub) },
			{ "jti", offsetof(struct jwt_claims, jc_jti) },
			{ "client_id", offsetof(struct jwt_claims,
			    jc_client_id) },
			{ "scope", offsetof(struct jwt_claims, jc_scope) },
		};
		for (i = 0; i < sizeof strs / sizeof strs[0]; i++) {
			if ((v = json_get(payload, strs[i].name)) == NULL)
				continue;
			if (!YAJL_IS_STRING(v)) {
				*errstr = "token claim has the wrong type";
				goto fail;
			}
			*(char **)((char *)c + strs[i].off) =
			    xstrdup(v->u.string);
		}
	}
	if (jwt_claim_list(json_get(payload, "aud"), 0, &c->jc_aud,
	    &c->jc_naud) == -1 || jwt_claim_list(json_get(payload, "roles"),
	    1, &c->jc_roles, &c->jc_nroles) == -1) {
		*errstr = "token claim has the wrong type";
		goto fail;
	}
	iss = c->jc_iss;
	if (ex->iss != NULL && (iss == NULL || strcmp(iss, ex->iss) != 0)) {
		*errstr = "wrong token issuer";
		goto fail;
	}
	if (ex->aud != NULL) {
		for (found = 0, i = 0; i < c->jc_naud && !found; i++)
			found = strcmp(c->jc_aud[i], ex->aud) == 0;
		if (!found) {
			*errstr = "wrong token audience";
			goto fail;
		}
	}
	c->jc_payload = payload;
	json_free(hdr);
	free(sig);
	if (out != NULL)
		*out = c;
	else
		jwt_claims_free(c);
	return 0;
 fail:
	jwt_claims_free(c);
	json_free(payload);
	json_free(hdr);
	free(sig);
	return -1;
}
