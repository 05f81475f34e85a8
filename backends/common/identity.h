/*
 * Who is calling: the identity the gateway established, passed as FastCGI
 * params that a client can never set (the gateway drops client headers
 * that would collide with them):
 *
 *   REMOTE_USER   the subject ("sub" of the JWT); empty or unset: anonymous
 *   AUTH_TYPE     "Bearer"
 *   AUTH_ROLES    roles, separated by spaces and/or commas: "admin service"
 *   AUTH_SCOPE    OAuth2 scopes, separated the same way
 *
 * A caller is authenticated when REMOTE_USER is non-empty; roles without a
 * subject do not count.  A role check in a handler is one line:
 *
 *	if (!identity_require_role(r, rs, "admin", "service"))
 *		return;
 *
 * which answers 401 (no identity, with WWW-Authenticate: Bearer) or 403
 * (authenticated, but none of the roles) as problem+json.
 *
 * Hook for services that run without the gateway (behind nginx): when the
 * params carry no identity, the request has "Authorization: Bearer ..."
 * and a verifier was installed with identity_set_verifier(), the token is
 * handed to it.  Until a verifier is installed a bearer token alone does
 * not authenticate.
 *
 * The verifier every service installs (service_main, through
 * identity_jwt_from_env()) checks the JWT with lib/jwt.h against a JWK Set
 * file, from the environment:
 *
 *   AGORA_JWKS_FILE    the JWK Set (agora-auth's /.well-known/jwks.json);
 *                      unset or empty: no verifier, bearer tokens alone
 *                      stay anonymous.  Re-read when its mtime, size or
 *                      inode change; a file that does not parse keeps the
 *                      previous keys.
 *   AGORA_AUTH_ISSUER  the iss every token must carry (required with
 *                      AGORA_JWKS_FILE)
 *
 * A token must have typ at+jwt, aud "agora", iss as above and an exp;
 * exp and nbf get 60 s of leeway.  sub becomes the user, "roles" the
 * roles and "scope" the scopes.
 */
#ifndef AGORA_IDENTITY_H
#define AGORA_IDENTITY_H

#include <stddef.h>

struct request;
struct response;

#define IDENTITY_MAXLIST	32	/* roles or scopes kept per caller */

enum identity_source {
	IDENTITY_NONE = 0,	/* anonymous */
	IDENTITY_PARAMS,	/* from the gateway's params */
	IDENTITY_TOKEN		/* from the verifier hook */
};

/* Every string is owned by the identity; identity_free() releases them. */
struct identity {
	enum identity_source	 id_source;
	char			*id_user;	/* NULL: anonymous */
	char			*id_type;	/* NULL when unknown */
	char			*id_roles[IDENTITY_MAXLIST];
	size_t			 id_nroles;
	char			*id_scopes[IDENTITY_MAXLIST];
	size_t			 id_nscopes;
	int			 id_bad_token;	/* token refused */
};

/*
 * Verifies a bearer token: 0 and id filled (id_user set), or -1 with
 * *errstr when the token is not valid.
 */
typedef int	(*identity_verifier)(const char *token, struct identity *id,
		    const char **errstr);

/* Installs (or with NULL removes) the bearer token verifier. */
void		 identity_set_verifier(identity_verifier);

/* The JWT verifier: audience, type and leeway it insists on. */
#define IDENTITY_JWT_AUDIENCE	"agora"
#define IDENTITY_JWT_TYPE	"at+jwt"
#define IDENTITY_JWT_LEEWAY	60
#define IDENTITY_JWT_MAXFILE	(1024 * 1024)	/* bytes of a JWKS file */

/*
 * Configures the JWT verifier over the JWK Set in jwks_file with the
 * issuer iss (both copied).  The file is read now; when it cannot be read
 * yet, tokens are refused until it can.  Returns 0, or -1 with *errstr
 * for an unusable configuration.  It does not install the verifier.
 */
int		 identity_jwt_configure(const char *jwks_file, const char *iss,
		    const char **errstr);
/*
 * From AGORA_JWKS_FILE and AGORA_AUTH_ISSUER: configures and installs the
 * verifier and returns 1; returns 0 (and installs nothing) when
 * AGORA_JWKS_FILE is unset or empty; -1 with *errstr when the issuer is
 * missing.
 */
int		 identity_jwt_from_env(const char **errstr);
/* The verifier itself, an identity_verifier. */
int		 identity_jwt_verify(const char *token, struct identity *id,
		    const char **errstr);
/* Forgets the configuration and the keys (and removes the verifier). */
void		 identity_jwt_reset(void);

/*
 * Fills id from the raw param values (any may be NULL).  Pure: the unit
 * tests and identity_get() share it.
 */
void		 identity_parse(struct identity *id, const char *user,
		    const char *type, const char *roles, const char *scope);
/* Fills id for request r: params first, then the verifier hook. */
void		 identity_get(struct request *r, struct identity *id);
void		 identity_free(struct identity *);	/* NULL is a no-op */

int		 identity_authenticated(const struct identity *);
int		 identity_has_role(const struct identity *, const char *role);
int		 identity_has_scope(const struct identity *,
		    const char *scope);

/*
 * 1 when the caller of r is authenticated and has at least one of the
 * roles (a NULL-terminated list; an empty list only asks for
 * authentication); otherwise answers 401 or 403 in rs and returns 0.
 */
int		 identity_require_roles(struct request *r, struct response *rs,
		    ...) __attribute__((sentinel));
#define identity_require_role(r, rs, ...) \
	identity_require_roles((r), (rs), __VA_ARGS__, (const char *)NULL)
/* Authenticated, any role. */
#define identity_require_user(r, rs) \
	identity_require_roles((r), (rs), (const char *)NULL)

/*
 * The scope idempotency keys and other per-caller state hang off: the
 * subject, or "" for anonymous callers.  A new string the caller frees.
 */
char		*identity_caller(struct request *r);

#endif
