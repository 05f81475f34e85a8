/*
 * lib/jwt: round trips for each algorithm, the RFC 7515 / RFC 8037
 * vectors, and every way a token must be refused (tampering, alg none,
 * alg confusion, claims out of range, malformed input, unknown kid).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "base64url.h"
#include "json.h"
#include "jwt.h"
#include "runner.h"
#include "xmalloc.h"

/* RFC 7515 A.1 (HS256), A.2 (RS256), A.3 (ES256); RFC 8037 A.4 (EdDSA). */
#define RFC_PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0" \
	"dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define RFC_EXP		1300819380
static const char rfc_hs256[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." RFC_PAYLOAD
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_rs256[] = "eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuH"
    "Im4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdi"
    "uB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN"
    "9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2"
    "w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
static const char rfc_es256[] = "eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"
    "xfKTUJqPP3-Kg6NU1Q";
static const char rfc_eddsa[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsP"
    "t9g7sVvpAr_MuM0KAg";

#define RFC_JWK_EC "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\"," \
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"," \
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"
#define RFC_JWK_RSA "{\"kty\":\"RSA\",\"kid\":\"rsa\",\"alg\":\"RS256\"," \
	"\"e\":\"AQAB\",\"n\":\"" \
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp" \
	"-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOW" \
	"vG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs" \
	"LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9k" \
	"G4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2" \
	"PAcDTW9gb54h4FRWyuXpoQ" \
	"\"}"
#define RFC_JWK_OKP "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\"," \
	"\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
#define RFC_JWK_OCT "{\"kty\":\"oct\",\"kid\":\"hs\",\"k\":\"AyM1SysPpbyDfg" \
	"Zld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9" \
	"CAow\"}"

static const char rfc_jwks[] = "{\"keys\":[" RFC_JWK_EC "," RFC_JWK_RSA ","
    RFC_JWK_OKP "]}";

#define NOW	1900000000LL

static struct jwt_keyset *
parse_jwks(const char *s, int flags)
{
	const char		*errstr = NULL;
	struct jwt_keyset	*ks;

	ks = jwt_keyset_from_jwks_flags(s, strlen(s), flags, &errstr);
	if (ks == NULL)
		fprintf(stderr, "# jwks: %s\n", errstr);
	return ks;
}

/* rc of jwt_verify, with its reason in why. */
static int
verify(const struct jwt_keyset *ks, const char *tok,
    const struct jwt_expect *ex, const char **why)
{
	*why = "";
	return jwt_verify(ks, tok, ex, NULL, why);
}

/* A keyset holding one key: k itself. */
static struct jwt_keyset *
one(struct jwt_key *k)
{
	struct jwt_keyset	*ks = jwt_keyset_new();

	CU_ASSERT_EQUAL(jwt_keyset_add(ks, k), 0);
	return ks;
}

/* A token with any header, signed by HMAC-SHA256 over secret (or none). */
static char *
forge(const char *hdr, const char *payload, const void *secret,
    size_t slen)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 mlen = 0;
	char		*h, *p, *s, *tok;

	h = base64url_encode_dup(hdr, strlen(hdr));
	p = base64url_encode_dup(payload, strlen(payload));
	xasprintf(&tok, "%s.%s", h, p);
	if (secret != NULL)
		HMAC(EVP_sha256(), secret, (int)slen,
		    (unsigned char *)tok, strlen(tok), mac, &mlen);
	s = base64url_encode_dup(mac, mlen);
	free(tok);
	xasprintf(&tok, "%s.%s.%s", h, p, s);
	free(h);
	free(p);
	free(s);
	return tok;
}

static const char claims[] = "{\"iss\":\"https://agora.test\","
    "\"sub\":\"42\",\"aud\":[\"agora\",\"other\"],\"exp\":1900000600,"
    "\"iat\":1900000000,\"nbf\":1899999990,\"jti\":\"j1\","
    "\"client_id\":\"web\",\"scope\":\"read write\","
    "\"roles\":[\"customer\",\"admin\"]}";

static void
t_roundtrip(void)
{
	static const enum jwt_alg algs[] = {
		JWT_ALG_ES256, JWT_ALG_RS256, JWT_ALG_EDDSA, JWT_ALG_HS256
	};
	struct jwt_expect	 ex = { .iss = "https://agora.test",
	    .aud = "agora", .typ = "at+jwt", .now = NOW, .require_exp = 1 };
	struct jwt_claims	*c;
	struct jwt_keyset	*ks, *pub;
	struct jwt_key		*k;
	const char		*errstr;
	char			*tok, *jwks, *pem;
	size_t			 i;

	for (i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		k = jwt_key_generate(algs[i], "k1", &errstr);
		CU_ASSERT_PTR_NOT_NULL_FATAL(k);
		CU_ASSERT(jwt_key_can_sign(k));
		tok = jwt_sign(k, claims, "at+jwt", &errstr);
		CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
		ks = one(k);
		CU_ASSERT_EQUAL(jwt_verify(ks, tok, &ex, &c, &errstr), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT_EQUAL(c->jc_alg, algs[i]);
		CU_ASSERT_STRING_EQUAL(c->jc_kid, "k1");
		CU_ASSERT_STRING_EQUAL(c->jc_typ, "at+jwt");
		CU_ASSERT_STRING_EQUAL(c->jc_sub, "42");
		CU_ASSERT_STRING_EQUAL(c->jc_jti, "j1");
		CU_ASSERT_STRING_EQUAL(c->jc_client_id, "web");
		CU_ASSERT_STRING_EQUAL(c->jc_scope, "read write");
		CU_ASSERT_EQUAL(c->jc_naud, 2);
		CU_ASSERT_EQUAL(c->jc_nroles, 2);
		if (c->jc_nroles == 2)
			CU_ASSERT_STRING_EQUAL(c->jc_roles[1], "admin");
		CU_ASSERT_EQUAL(c->jc_exp, 1900000600);
		CU_ASSERT_EQUAL(c->jc_iat, 1900000000);
		CU_ASSERT_PTR_NOT_NULL(json_get(c->jc_payload, "roles"));
		jwt_claims_free(c);

		/* Through the published JWKS: public keys only. */
		jwks = jwt_keyset_jwks(ks, NULL);
		if (algs[i] == JWT_ALG_HS256) {
			CU_ASSERT_STRING_EQUAL(jwks, "{\"keys\":[]}");
			CU_ASSERT_PTR_NULL(jwt_key_private_pem(k, NULL));
		} else {
			CU_ASSERT(strstr(jwks, "\"d\"") == NULL);
			pub = parse_jwks(jwks, 0);
			CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
			CU_ASSERT(!jwt_key_can_sign(jwt_keyset_get(pub, 0)));
			CU_ASSERT_EQUAL(verify(pub, tok, &ex, &errstr), 0);
			jwt_keyset_free(pub);
			/* PEM storage round trip still signs. */
			pem = jwt_key_private_pem(k, NULL);
			CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
			k = jwt_key_from_pem(pem, strlen(pem), algs[i], "k2",
			    &errstr);
			free(pem);
			CU_ASSERT_PTR_NOT_NULL_FATAL(k);
			CU_ASSERT(jwt_key_can_sign(k));
			free(tok);
			tok = jwt_sign(k, claims, "at+jwt", &errstr);
			CU_ASSERT_EQUAL(jwt_keyset_add(ks, k), 0);
			CU_ASSERT_EQUAL(verify(ks, tok, &ex, &errstr), 0);
		}
		free(jwks);
		free(tok);
		jwt_keyset_free(ks);
	}
}

/* Flips one character of segment seg (0..2) of tok. */
static void
tamper(char *tok, int seg, size_t at)
{
	char	*p = tok;

	while (seg-- > 0)
		p = strchr(p, '.') + 1;
	p[at] = p[at] == 'A' ? 'B' : 'A';
}

static void
t_tampered(void)
{
	static const enum jwt_alg algs[] = {
		JWT_ALG_ES256, JWT_ALG_RS256, JWT_ALG_EDDSA, JWT_ALG_HS256
	};
	struct jwt_keyset	*ks;
	const char		*why;
	char			*tok, *t;
	size_t			 i;

	for (i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		ks = one(jwt_key_generate(algs[i], "k", &why));
		tok = jwt_sign(jwt_keyset_get(ks, 0), claims, NULL, &why);
		t = xstrdup(tok);
		tamper(t, 1, 5);
		CU_ASSERT_EQUAL(verify(ks, t, NULL, &why), -1);
		CU_ASSERT_STRING_EQUAL(why, "bad token signature");
		strcpy(t, tok);
		tamper(t, 2, 3);
		CU_ASSERT_EQUAL(verify(ks, t, NULL, &why), -1);
		/* A signature cut short. */
		strcpy(t, tok);
		t[strlen(t) - 4] = '\0';
		CU_ASSERT_EQUAL(verify(ks, t, NULL, &why), -1);
		/* Another key with the same kid. */
		jwt_keyset_free(ks);
		ks = one(jwt_key_generate(algs[i], "k", &why));
		CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
		CU_ASSERT_STRING_EQUAL(why, "bad token signature");
		free(t);
		free(tok);
		jwt_keyset_free(ks);
	}
}

/* JOSE wants raw R||S: the DER form of the same signature is refused. */
static void
t_es256_raw(void)
{
	struct jwt_expect	 ex = { .now = NOW };
	struct jwt_keyset	*ks;
	ECDSA_SIG		*sig;
	unsigned char		*raw, *der = NULL;
	const char		*why;
	char			*tok, *dot, *b64, *forged;
	size_t			 rawlen;
	int			 derlen;

	ks = one(jwt_key_generate(JWT_ALG_ES256, "k", &why));
	tok = jwt_sign(jwt_keyset_get(ks, 0), claims, NULL, &why);
	dot = strrchr(tok, '.');
	raw = base64url_decode_dup(dot + 1, strlen(dot + 1), &rawlen);
	CU_ASSERT_EQUAL_FATAL(rawlen, 64);
	sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL),
	    BN_bin2bn(raw + 32, 32, NULL));
	derlen = i2d_ECDSA_SIG(sig, &der);
	CU_ASSERT(derlen > 64);
	b64 = base64url_encode_dup(der, derlen);
	*dot = '\0';
	xasprintf(&forged, "%s.%s", tok, b64);
	CU_ASSERT_EQUAL(verify(ks, forged, &ex, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "bad token signature");
	*dot = '.';
	CU_ASSERT_EQUAL(verify(ks, tok, &ex, &why), 0);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	free(forged);
	free(b64);
	free(raw);
	free(tok);
	jwt_keyset_free(ks);
}

static void
t_alg_none(void)
{
	struct jwt_keyset	*ks;
	const char		*why;
	char			*tok;

	ks = one(jwt_key_generate(JWT_ALG_ES256, "k", &why));
	tok = forge("{\"alg\":\"none\",\"kid\":\"k\"}", claims, NULL, 0);
	CU_ASSERT_EQUAL(tok[strlen(tok) - 1], '.');
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token algorithm not accepted");
	free(tok);
	tok = forge("{\"alg\":\"None\"}", claims, "x", 1);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	free(tok);
	tok = forge("{\"kid\":\"k\"}", claims, "x", 1);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token header without alg");
	free(tok);
	CU_ASSERT_EQUAL(jwt_alg_from_name("none"), JWT_ALG_UNKNOWN);
	CU_ASSERT_EQUAL(jwt_alg_from_name("es256"), JWT_ALG_UNKNOWN);
	jwt_keyset_free(ks);
}

/*
 * The classic confusion: an HS256 token whose HMAC secret is the public
 * key (PEM or raw JWK bytes) of an asymmetric key, with that key's kid.
 */
static void
t_alg_confusion(void)
{
	struct jwt_keyset	*ks, *pub;
	struct jwt_key		*k;
	const char		*why;
	char			*tok, *jwks, *priv;
	EVP_PKEY		*pk;
	BIO			*bio;
	BUF_MEM			*mem;

	k = jwt_key_generate(JWT_ALG_ES256, "ec1", &why);
	priv = jwt_key_private_pem(k, NULL);
	ks = one(k);
	jwks = jwt_keyset_jwks(ks, NULL);
	pub = parse_jwks(jwks, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pub);

	/* The public key in PEM, as an attacker would fetch it. */
	bio = BIO_new_mem_buf(priv, -1);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, pk);
	BIO_get_mem_ptr(bio, &mem);
	tok = forge("{\"alg\":\"HS256\",\"kid\":\"ec1\"}", claims, mem->data,
	    mem->length);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token algorithm differs from the key's");
	CU_ASSERT_EQUAL(verify(pub, tok, NULL, &why), -1);
	free(tok);
	/* The JWKS text itself as the secret, and without a kid. */
	tok = forge("{\"alg\":\"HS256\"}", claims, jwks, strlen(jwks));
	CU_ASSERT_EQUAL(verify(pub, tok, NULL, &why), -1);
	free(tok);
	/* RS256 claimed for an EC key. */
	tok = forge("{\"alg\":\"RS256\",\"kid\":\"ec1\"}", claims, "x", 1);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token algorithm differs from the key's");
	free(tok);
	/* An oct JWK is refused unless HMAC was asked for. */
	CU_ASSERT_PTR_NULL(parse_jwks("{\"keys\":[" RFC_JWK_OCT "]}", 0));
	/* A PEM public key cannot pose as another algorithm's key. */
	CU_ASSERT_PTR_NULL(jwt_key_from_pem(mem->data, mem->length,
	    JWT_ALG_RS256, "x", &why));
	CU_ASSERT_PTR_NULL(jwt_key_from_pem(mem->data, mem->length,
	    JWT_ALG_HS256, "x", &why));
	k = jwt_key_from_pem(mem->data, mem->length, JWT_ALG_ES256, "x", &why);
	CU_ASSERT_PTR_NOT_NULL(k);
	CU_ASSERT(!jwt_key_can_sign(k));
	CU_ASSERT_PTR_NULL(jwt_sign(k, claims, NULL, &why));
	jwt_key_free(k);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	free(priv);
	free(jwks);
	jwt_keyset_free(pub);
	jwt_keyset_free(ks);
}

static void
t_claims(void)
{
	static const struct {
		const char	*name;
		const char	*payload;
		long		 leeway;
		const char	*iss, *aud;
		int		 ok;
	} cases[] = {
		{ "valid", "{\"exp\":1900000010}", 0, NULL, NULL, 1 },
		{ "expired", "{\"exp\":1900000000}", 0, NULL, NULL, 0 },
		{ "expired in leeway", "{\"exp\":1899999950}", 60, NULL, NULL,
		  1 },
		{ "expired past leeway", "{\"exp\":1899999940}", 60, NULL,
		  NULL, 0 },
		{ "nbf future", "{\"nbf\":1900000030}", 0, NULL, NULL, 0 },
		{ "nbf in leeway", "{\"nbf\":1900000030}", 30, NULL, NULL, 1 },
		{ "exp string", "{\"exp\":\"1900000010\"}", 0, NULL, NULL, 0 },
		{ "exp negative", "{\"exp\":-5}", 0, NULL, NULL, 0 },
		{ "iss", "{\"iss\":\"a\"}", 0, "a", NULL, 1 },
		{ "iss wrong", "{\"iss\":\"b\"}", 0, "a", NULL, 0 },
		{ "iss missing", "{}", 0, "a", NULL, 0 },
		{ "iss not string", "{\"iss\":1}", 0, NULL, NULL, 0 },
		{ "aud string", "{\"aud\":\"x\"}", 0, NULL, "x", 1 },
		{ "aud array", "{\"aud\":[\"y\",\"x\"]}", 0, NULL, "x", 1 },
		{ "aud wrong", "{\"aud\":[\"y\"]}", 0, NULL, "x", 0 },
		{ "aud missing", "{}", 0, NULL, "x", 0 },
		{ "aud bad type", "{\"aud\":[1]}", 0, NULL, NULL, 0 },
		{ "roles string", "{\"roles\":\"a  b\"}", 0, NULL, NULL, 1 },
		{ "roles bad", "{\"roles\":{}}", 0, NULL, NULL, 0 },
		{ "payload array", "[1]", 0, NULL, NULL, 0 },
		{ "payload not json", "{\"a\":", 0, NULL, NULL, 0 },
	};
	struct jwt_expect	 ex = { .now = NOW };
	struct jwt_keyset	*ks;
	struct jwt_claims	*c;
	const char		*why;
	unsigned char		 secret[32];
	char			*tok, name[80];
	size_t			 i;
	int			 rc;

	memset(secret, 7, sizeof secret);
	ks = one(jwt_key_hmac(secret, sizeof secret, "h", &why));
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ex.leeway = cases[i].leeway;
		ex.iss = cases[i].iss;
		ex.aud = cases[i].aud;
		tok = forge("{\"alg\":\"HS256\",\"kid\":\"h\"}",
		    cases[i].payload, secret, sizeof secret);
		why = "";
		rc = jwt_verify(ks, tok, &ex, &c, &why);
		snprintf(name, sizeof name, "%s: %s", cases[i].name, why);
		if (rc != (cases[i].ok ? 0 : -1))
			fprintf(stderr, "# claims case %s\n", name);
		CU_ASSERT_EQUAL(rc, cases[i].ok ? 0 : -1);
		if (rc == 0 && strcmp(cases[i].name, "roles string") == 0) {
			CU_ASSERT_EQUAL(c->jc_nroles, 2);
			CU_ASSERT_STRING_EQUAL(c->jc_roles[1], "b");
		}
		jwt_claims_free(c);
		free(tok);
	}
	/* require_exp */
	ex = (struct jwt_expect){ .now = NOW, .require_exp = 1 };
	tok = forge("{\"alg\":\"HS256\"}", "{}", secret, sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, &ex, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token without exp");
	free(tok);
	jwt_keyset_free(ks);
}

static void
t_typ(void)
{
	struct jwt_expect	 ex = { .typ = "at+jwt" };
	struct jwt_keyset	*ks;
	const char		*why;
	unsigned char		 secret[40];
	char			*tok;

	memset(secret, 1, sizeof secret);
	ks = one(jwt_key_hmac(secret, sizeof secret, "h", &why));
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"application/AT+JWT\"}",
	    "{}", secret, sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, &ex, &why), 0);
	free(tok);
	tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{}", secret,
	    sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, &ex, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "wrong token type");
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), 0);
	free(tok);
	tok = forge("{\"alg\":\"HS256\"}", "{}", secret, sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, &ex, &why), -1);
	free(tok);
	tok = forge("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", "{}",
	    secret, sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token header has crit");
	free(tok);
	/* Short secrets are refused outright. */
	CU_ASSERT_PTR_NULL(jwt_key_hmac(secret, 31, "s", &why));
	jwt_keyset_free(ks);
}

static void
t_malformed(void)
{
	static const char *const bad[] = {
		"",
		"abc",
		"a.b",
		"a.b.c.d",
		"eyJhbGciOiJIUzI1NiJ9.e30.sig.x",
		"eyJhbGciOiJIUzI1NiJ9..AAAA",	/* empty payload */
		"eyJhbGciOiJIUzI1NiJ9.e30.",	/* empty signature */
		".e30.AAAA",
		"eyJhbGciOiJIUzI1NiJ9=.e30.AAAA",	/* padding */
		"eyJhbGciOiJIUzI1NiJ9.e30.AA+A",	/* other alphabet */
		"e30.e30.AAAA",			/* {} header */
		"WzFd.e30.AAAA",		/* [1] header */
		"eyJhbGciOiJIUzI1NiJ9.e30.A",	/* 4n+1 */
		"bm90IGpzb24.e30.AAAA",		/* "not json" */
	};
	struct jwt_keyset	*ks;
	const char		*why;
	unsigned char		 secret[32];
	char			*big, *tok;
	size_t			 i;

	memset(secret, 3, sizeof secret);
	ks = one(jwt_key_hmac(secret, sizeof secret, "h", &why));
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		{
		if (verify(ks, bad[i], NULL, &why) != -1)
			fprintf(stderr, "# accepted %s\n", bad[i]);
		CU_ASSERT_EQUAL(verify(ks, bad[i], NULL, &why), -1);
	}
	CU_ASSERT_EQUAL(verify(ks, NULL, NULL, &why), -1);

	/* Size limits: whole token, and the decoded JSON parts. */
	big = xmalloc(JWT_MAX_JSON + 64);
	memset(big, 'a', JWT_MAX_JSON + 63);
	big[0] = '{';
	big[1] = '"';
	strcpy(big + JWT_MAX_JSON + 10, "\":1}");
	tok = forge("{\"alg\":\"HS256\"}", big, secret, sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "malformed token payload");
	CU_ASSERT_EQUAL(verify(ks, tok, &(struct jwt_expect){ .max_json =
	    8192, .max_token = 16384 }, &why), 0);
	CU_ASSERT_EQUAL(verify(ks, tok, &(struct jwt_expect){ .max_json =
	    8192, .max_token = 1000 }, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token too long");
	free(tok);
	free(big);
	/* Nested too deep. */
	tok = forge("{\"alg\":\"HS256\"}", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", secret,
	    sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tok, NULL, &why), -1);
	free(tok);
	jwt_keyset_free(ks);
}

static void
t_kid(void)
{
	struct jwt_keyset	*ks;
	struct jwt_key		*a, *b;
	const char		*why;
	char			*ta, *tb, *tn;
	unsigned char		 secret[32];

	a = jwt_key_generate(JWT_ALG_ES256, "2026-a", &why);
	b = jwt_key_generate(JWT_ALG_EDDSA, "2026-b", &why);
	ks = jwt_keyset_new();
	CU_ASSERT_EQUAL(jwt_keyset_add(ks, a), 0);
	CU_ASSERT_EQUAL(jwt_keyset_add(ks, b), 0);
	CU_ASSERT_EQUAL(jwt_keyset_add(ks, jwt_key_generate(JWT_ALG_ES256,
	    "2026-a", &why)), -1);
	CU_ASSERT_EQUAL(jwt_keyset_count(ks), 2);
	CU_ASSERT_PTR_EQUAL(jwt_keyset_find(ks, "2026-b"), b);
	CU_ASSERT_PTR_NULL(jwt_keyset_find(ks, "2026-c"));
	ta = jwt_sign(a, "{}", NULL, &why);
	tb = jwt_sign(b, "{}", NULL, &why);
	CU_ASSERT_EQUAL(verify(ks, ta, NULL, &why), 0);
	CU_ASSERT_EQUAL(verify(ks, tb, NULL, &why), 0);
	memset(secret, 9, sizeof secret);
	tn = forge("{\"alg\":\"ES256\",\"kid\":\"2026-c\"}", "{}", secret,
	    sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tn, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "unknown key id");
	free(tn);
	/* No kid with two keys: which one? Refused. */
	tn = forge("{\"alg\":\"ES256\"}", "{}", secret, sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tn, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "unknown key id");
	free(tn);
	tn = forge("{\"alg\":\"ES256\",\"kid\":7}", "{}", secret,
	    sizeof secret);
	CU_ASSERT_EQUAL(verify(ks, tn, NULL, &why), -1);
	free(tn);
	free(ta);
	free(tb);
	jwt_keyset_free(ks);
}

static void
t_rfc_vectors(void)
{
	struct jwt_expect	 ex = { .now = RFC_EXP - 60, .iss = "joe" };
	struct jwt_keyset	*ks, *one_ks;
	struct jwt_claims	*c;
	const struct jwt_key	*k;
	const char		*why;
	char			*t;

	ks = parse_jwks(rfc_jwks, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ks);
	CU_ASSERT_EQUAL(jwt_keyset_count(ks), 3);
	k = jwt_keyset_find(ks, "rsa");
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(jwt_key_alg(k), JWT_ALG_RS256);
	CU_ASSERT_EQUAL(jwt_key_alg(jwt_keyset_find(ks, "ed")),
	    JWT_ALG_EDDSA);

	/* The vectors carry no kid: verify each against its own key. */
	one_ks = parse_jwks("{\"keys\":[" RFC_JWK_EC "]}", 0);
	CU_ASSERT_EQUAL(jwt_verify(one_ks, rfc_es256, &ex, &c, &why), 0);
	if (c != NULL) {
		CU_ASSERT_STRING_EQUAL(c->jc_iss, "joe");
		CU_ASSERT_EQUAL(c->jc_exp, RFC_EXP);
		CU_ASSERT_EQUAL(json_get(c->jc_payload,
		    "http://example.com/is_root")->type, yajl_t_true);
		/* a second owner: the first free leaves the claims whole */
		CU_ASSERT_PTR_EQUAL(jwt_claims_ref(c), c);
		jwt_claims_free(c);
		CU_ASSERT_STRING_EQUAL(c->jc_iss, "joe");
		CU_ASSERT_EQUAL(c->jc_refs, 0);
	}
	jwt_claims_free(c);
	/* Without a fixed clock: long expired. */
	CU_ASSERT_EQUAL(verify(one_ks, rfc_es256, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "token expired");
	t = xstrdup(rfc_es256);
	tamper(t, 2, 10);
	CU_ASSERT_EQUAL(verify(one_ks, t, &ex, &why), -1);
	free(t);
	jwt_keyset_free(one_ks);

	one_ks = parse_jwks("{\"keys\":[" RFC_JWK_RSA "]}", 0);
	CU_ASSERT_EQUAL(verify(one_ks, rfc_rs256, &ex, &why), 0);
	t = xstrdup(rfc_rs256);
	tamper(t, 1, 20);
	CU_ASSERT_EQUAL(verify(one_ks, t, &ex, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "bad token signature");
	free(t);
	jwt_keyset_free(one_ks);

	/* RFC 8037's payload is not JSON: the signature passes, then no. */
	one_ks = parse_jwks("{\"keys\":[" RFC_JWK_OKP "]}", 0);
	CU_ASSERT_EQUAL(verify(one_ks, rfc_eddsa, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "malformed token payload");
	t = xstrdup(rfc_eddsa);
	tamper(t, 2, 10);
	CU_ASSERT_EQUAL(verify(one_ks, t, NULL, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "bad token signature");
	free(t);
	jwt_keyset_free(one_ks);

	one_ks = parse_jwks("{\"keys\":[" RFC_JWK_OCT "]}",
	    JWT_JWKS_ALLOW_HMAC);
	CU_ASSERT_PTR_NOT_NULL_FATAL(one_ks);
	CU_ASSERT_EQUAL(verify(one_ks, rfc_hs256, &ex, &why), 0);
	CU_ASSERT_EQUAL(verify(one_ks, rfc_hs256, &(struct jwt_expect){
	    .now = RFC_EXP - 60, .iss = "mallory" }, &why), -1);
	/* Published JWKS never carries the secret. */
	t = jwt_keyset_jwks(one_ks, NULL);
	CU_ASSERT_STRING_EQUAL(t, "{\"keys\":[]}");
	free(t);
	jwt_keyset_free(one_ks);

	/* The RSA key published again comes out as the RFC's n and e. */
	t = jwt_keyset_jwks(ks, NULL);
	CU_ASSERT(strstr(t, "\"n\":\"ofgWCuLjybRlzo0tZWJj") != NULL);
	CU_ASSERT(strstr(t, "\"e\":\"AQAB\"") != NULL);
	CU_ASSERT(strstr(t, "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uP"
	    "HvRVEU\"") != NULL);
	CU_ASSERT(strstr(t, "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaP"
	    "cHURo\"") != NULL);
	free(t);
	jwt_keyset_free(ks);
}

static void
t_jwks_bad(void)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{}",
		"{\"keys\":{}}",
		"{\"keys\":[]}",
		"{\"keys\":[1]}",
		"{\"keys\":[{\"kty\":\"XX\"}]}",
		"{\"keys\":[{\"crv\":\"P-256\"}]}",
		/* EC: wrong curve, short x, a point off the curve */
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\","
		    "\"y\":\"AA\"}]}",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
		    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}",
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
		    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
		    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}]}",
		/* RSA: too short */
		"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
		/* alg disagreeing with kty, and an encryption key */
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":"
		    "\"ES256\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaa"
		    "PcHURo\"}]}",
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"use\":"
		    "\"enc\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaa"
		    "PcHURo\"}]}",
		"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAY"
		    "KxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
		/* duplicate kid */
		"{\"keys\":[" RFC_JWK_EC "," RFC_JWK_EC "]}",
		/* a short oct secret, even when allowed */
		"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
	};
	struct jwt_keyset	*ks;
	const char		*why;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ks = jwt_keyset_from_jwks_flags(bad[i], strlen(bad[i]),
		    JWT_JWKS_ALLOW_HMAC, &why);
		if (ks != NULL)
			fprintf(stderr, "# accepted %s\n", bad[i]);
		CU_ASSERT_PTR_NULL(ks);
		jwt_keyset_free(ks);
	}
	/* Skipping what we cannot use keeps the rest. */
	ks = jwt_keyset_from_jwks_flags("{\"keys\":[{\"kty\":\"XX\"},"
	    RFC_JWK_OKP "]}", strlen("{\"keys\":[{\"kty\":\"XX\"},"
	    RFC_JWK_OKP "]}"), JWT_JWKS_SKIP_UNUSABLE, &why);
	CU_ASSERT_PTR_NOT_NULL(ks);
	if (ks != NULL)
		CU_ASSERT_EQUAL(jwt_keyset_count(ks), 1);
	jwt_keyset_free(ks);
}

static const struct unit_case cases[] = {
	{ "roundtrip", t_roundtrip },
	{ "tampered", t_tampered },
	{ "es256_raw", t_es256_raw },
	{ "alg_none", t_alg_none },
	{ "alg_confusion", t_alg_confusion },
	{ "claims", t_claims },
	{ "typ", t_typ },
	{ "malformed", t_malformed },
	{ "kid", t_kid },
	{ "rfc_vectors", t_rfc_vectors },
	{ "jwks_bad", t_jwks_bad },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "jwt", cases);
}
