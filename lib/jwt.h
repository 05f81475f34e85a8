/*
 * JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515), signed and
 * verified through OpenSSL 3 EVP, following the JWT BCP (RFC 8725):
 *
 *   ES256  ECDSA P-256 + SHA-256, signature raw R||S (64 bytes)
 *   RS256  RSASSA-PKCS1-v1_5 + SHA-256, modulus >= 2048 bits
 *   EdDSA  Ed25519 (RFC 8037)
 *   HS256  HMAC-SHA-256, only with a secret configured as such
 *
 * Every key pins one algorithm and carries a kid.  Verification refuses
 * "none", a header alg other than the key's, HS256 against anything but
 * an HMAC key (the public-key-as-secret confusion), an unknown kid, "crit"
 * headers, and tokens or JSON parts over the size limits; then it checks
 * exp, nbf, iss, aud and typ as struct jwt_expect asks, with a leeway.
 *
 * Used by the gateway (JWT at the edge), by services running without it,
 * and by agora-auth to mint tokens.
 */
#ifndef AGORA_JWT_H
#define AGORA_JWT_H

#include <stddef.h>
#include <time.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define JWT_MAX_TOKEN		8192	/* default limit of a whole token */
#define JWT_MAX_JSON		4096	/* default limit of header, payload */
#define JWT_HMAC_MIN		32	/* bytes of an HS256 secret, at least */
#define JWT_RSA_MIN_BITS	2048

enum jwt_alg {
	JWT_ALG_UNKNOWN = 0,
	JWT_ALG_ES256,
	JWT_ALG_RS256,
	JWT_ALG_EDDSA,
	JWT_ALG_HS256
};

struct jwt_key;
struct jwt_keyset;

/* "ES256"..., or NULL for JWT_ALG_UNKNOWN. */
const char	*jwt_alg_name(enum jwt_alg);
/* The algorithm called name; JWT_ALG_UNKNOWN for "none" and the rest. */
enum jwt_alg	 jwt_alg_from_name(const char *name);

/*
 * Keys.  Every constructor returns a key the caller frees with
 * jwt_key_free() (NULL is a no-op), or NULL with *errstr.  kid is copied.
 */
/* A fresh key pair (RS256: 2048 bits) or, for HS256, a random secret. */
struct jwt_key	*jwt_key_generate(enum jwt_alg, const char *kid,
		    const char **errstr);
/*
 * A PEM private key (PKCS#8 or traditional) or public key (SPKI) whose
 * type must fit alg.
 */
struct jwt_key	*jwt_key_from_pem(const char *pem, size_t len,
		    enum jwt_alg alg, const char *kid, const char **errstr);
/* An HS256 key over len bytes of secret (at least JWT_HMAC_MIN). */
struct jwt_key	*jwt_key_hmac(const void *secret, size_t len,
		    const char *kid, const char **errstr);
/*
 * A public JWK (RFC 7517/7518/8037): kty EC (crv P-256), RSA, OKP (crv
 * Ed25519), and oct only when allow_hmac.  The alg member, when present,
 * must agree with the key type; "use" other than "sig" is refused.  A JWK
 * without kid gets kid "".
 */
struct jwt_key	*jwt_key_from_jwk(yajl_val jwk, int allow_hmac,
		    const char **errstr);
void		 jwt_key_free(struct jwt_key *);

const char	*jwt_key_kid(const struct jwt_key *);
enum jwt_alg	 jwt_key_alg(const struct jwt_key *);
/* Whether the key can sign (holds a private key or a secret). */
int		 jwt_key_can_sign(const struct jwt_key *);
/*
 * The private key as PKCS#8 PEM, a new NUL-terminated string the caller
 * frees (and should clear); NULL for public-only and HMAC keys.
 */
char		*jwt_key_private_pem(const struct jwt_key *, size_t *lenp);
/*
 * Writes the public JWK of the key (kty, crv, x, y / n, e, kid, alg,
 * use "sig") as one JSON object into g.  Returns 0, or -1 for HMAC keys,
 * whose secret is never published.
 */
int		 jwt_key_gen_jwk(yajl_gen g, const struct jwt_key *);

/* Key sets: a kid occurs at most once. */
struct jwt_keyset *jwt_keyset_new(void);
void		 jwt_keyset_free(struct jwt_keyset *);	/* NULL: no-op */
/* Takes ownership of key; 0, or -1 (and frees key) for a duplicate kid. */
int		 jwt_keyset_add(struct jwt_keyset *, struct jwt_key *);
size_t		 jwt_keyset_count(const struct jwt_keyset *);
const struct jwt_key *jwt_keyset_get(const struct jwt_keyset *, size_t);
const struct jwt_key *jwt_keyset_find(const struct jwt_keyset *,
		    const char *kid);

#define JWT_JWKS_ALLOW_HMAC	0x01	/* accept kty "oct" as HS256 */
#define JWT_JWKS_SKIP_UNUSABLE	0x02	/* ignore keys we cannot use */
/*
 * A JWK Set ({"keys": [...]}) of len bytes.  Without SKIP_UNUSABLE any
 * key that cannot be used fails the whole set.  A set without usable
 * keys is an error.
 */
struct jwt_keyset *jwt_keyset_from_jwks(const char *json, size_t len,
		    const char **errstr);
struct jwt_keyset *jwt_keyset_from_jwks_flags(const char *json, size_t len,
		    int flags, const char **errstr);
/* The public JWK Set, a new NUL-terminated string the caller frees. */
char		*jwt_keyset_jwks(const struct jwt_keyset *, size_t *lenp);

/* What a verified token must satisfy; zero fields mean the defaults. */
struct jwt_expect {
	const char	*iss;		/* NULL: any issuer */
	const char	*aud;		/* NULL: any audience */
	const char	*typ;		/* NULL: any; "at+jwt" also matches
					   "application/at+jwt" */
	long		 leeway;	/* seconds of clock skew allowed */
	time_t		 now;		/* 0: time(NULL) */
	int		 require_exp;	/* a token without exp is refused */
	size_t		 max_token;	/* 0: JWT_MAX_TOKEN */
	size_t		 max_json;	/* 0: JWT_MAX_JSON */
};

/*
 * A verified token's claims; all strings are owned by the claims, which
 * must not be changed once verified (the gateway shares them between
 * requests through jwt_claims_ref()).
 */
struct jwt_claims {
	enum jwt_alg	 jc_alg;
	char		*jc_kid;	/* NULL: the header had none */
	char		*jc_typ;
	char		*jc_iss;
	char		*jc_sub;
	char		*jc_jti;
	char		*jc_client_id;
	char		*jc_scope;	/* space-separated, as in the token */
	char		**jc_aud;	/* string or array, as a list */
	size_t		 jc_naud;
	char		**jc_roles;	/* "roles": array or space string */
	size_t		 jc_nroles;
	long long	 jc_exp, jc_nbf, jc_iat;	/* 0 when absent */
	yajl_val	 jc_payload;	/* the whole payload object */
	unsigned int	 jc_refs;	/* owners beyond the first */
};
/*
 * Another owner of c, which it releases with jwt_claims_free(); the last
 * jwt_claims_free() frees.  Atomic: owners may be on other threads.
 * Returns c.
 */
struct jwt_claims *jwt_claims_ref(struct jwt_claims *c);
void		 jwt_claims_free(struct jwt_claims *);	/* NULL: no-op */

/*
 * Verifies token against the keys of ks: the key is found by the header's
 * kid (a token without kid is accepted only when ks holds one key).
 * Returns 0 and, when out is not NULL, the claims the caller frees with
 * jwt_claims_free(); or -1 with *errstr, a short reason fit for a
 * WWW-Authenticate error_description.
 */
int		 jwt_verify(const struct jwt_keyset *ks, const char *token,
		    const struct jwt_expect *, struct jwt_claims **out,
		    const char **errstr);

/*
 * Signs claims_json (a JSON object, used verbatim as the payload) with
 * key; the header is {"alg", "typ" (when typ is not NULL), "kid"}.
 * Returns the compact token, a new string the caller frees, or NULL with
 * *errstr.
 */
char		*jwt_sign(const struct jwt_key *key, const char *claims_json,
		    const char *typ, const char **errstr);

#endif
