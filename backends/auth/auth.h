/*
 * agora-auth: identities, OAuth 2.0 clients and tokens, signing keys.
 * The handlers its route table (auth.c) points to, and what they share.
 *
 * Environment (besides db.h's):
 *   AGORA_MASTER_KEY_FILE       at least 32 bytes; signing keys are kept
 *                               in the database encrypted under it
 *   AGORA_AUTH_ISSUER           "iss" and the base of the discovery URLs,
 *                               default "http://127.0.0.1:8080"
 *   AGORA_AUTH_AUDIENCE         "aud" of access tokens, default "agora"
 *   AGORA_AUTH_ACCESS_TTL       seconds, default 900
 *   AGORA_AUTH_REFRESH_TTL      seconds, default 30 days
 *   AGORA_AUTH_LOCK_THRESHOLD   failed logins before a lock, default 5
 *   AGORA_AUTH_LOCK_DECAY       seconds for one failure to be forgiven,
 *                               default 60
 *   AGORA_AUTH_SCRYPT_N         scrypt cost of new hashes, default 32768
 */
#ifndef AGORA_AUTH_H
#define AGORA_AUTH_H

#include <stddef.h>
#include <time.h>

#include "jwt.h"

struct request;
struct response;
struct query;

struct auth_config {
	const char	*ac_issuer;
	const char	*ac_audience;
	long long	 ac_access_ttl;
	long long	 ac_refresh_ttl;
	long long	 ac_lock_threshold;
	long long	 ac_lock_decay;
	unsigned long long ac_scrypt_n;
};
extern struct auth_config	auth_conf;

#define AUTH_LEEWAY		60	/* clock skew granted to verifiers */
#define AUTH_USERNAME_MAX	191
#define AUTH_PASSWORD_MIN	8
#define AUTH_PASSWORD_MAX	1024

/* auth.c */
void	 auth_config_load(void);
/* Whether space-separated list holds word. */
int	 auth_list_has(const char *list, const char *word);
/* 1 when name is 1..191 characters of UTF-8 text without controls. */
int	 auth_username_ok(const char *name);
/* A fresh random token: base64url of n random bytes, caller frees. */
char	*auth_random(size_t n);
/* Lowercase hex SHA-256 of s into out[65]. */
void	 auth_sha256_hex(const char *s, char out[65]);

/* oauth.c: RFC 6749 form requests and their errors. */
struct oauth_client {
	char	*oc_id;
	int	 oc_public;		/* authenticated by id alone */
	char	*oc_grants;
	char	*oc_scope;
	char	*oc_roles;
};
/*
 * Reads the application/x-www-form-urlencoded body into q.  0, or -1
 * after answering invalid_request (wrong type, repeated parameter...).
 */
int	 oauth_form(struct request *, struct response *, struct query *q);
/*
 * Authenticates the client by client_secret_basic or client_secret_post
 * (or, when allow_public, a public client by client_id alone).  0 and c
 * filled (release with oauth_client_free), or -1 after answering
 * invalid_client (401) or invalid_request.
 */
int	 oauth_client_auth(struct request *, struct response *,
	    const struct query *, int allow_public, struct oauth_client *c);
void	 oauth_client_free(struct oauth_client *);
/* The §5.2 error answer: status, error code, description. */
void	 oauth_error(struct request *, struct response *, int status,
	    const char *error, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/* No caching of anything token-bearing (RFC 6749 §5.1). */
void	 oauth_nostore(struct response *);

/* password.c: scrypt hashes "$scrypt$N$r$p$salt$hash". */
char	*password_hash(const char *password);	/* NULL on failure */
/*
 * 1 when password matches stored, 0 when not (or stored is malformed);
 * *upgrade set when the hash uses other parameters than today's.
 */
int	 password_verify(const char *password, const char *stored,
	    int *upgrade);
/* Spends the time of one verification, for unknown usernames. */
void	 password_dummy(const char *password);

/* keys.c: signing keys under the master key. */
/* The key that signs now (creating the first one if none), or NULL. */
const struct jwt_key *keys_signing(const char **errstr);
/*
 * Every key still in the JWKS, reloaded when stale or when fresh is set,
 * or NULL.  Valid until the next keys_* call.
 */
const struct jwt_keyset *keys_all(int fresh, const char **errstr);
/* Creates a new signing key and retires the others; 0 or -1. */
int	 keys_rotate(char **kidp, const char **errstr);
void	 keys_jwks(struct request *, struct response *);
void	 keys_rotate_handler(struct request *, struct response *);

/* token.c */
void	 token_handler(struct request *, struct response *);
/*
 * Mints an access token for sub; scope and roles are space-separated
 * (either may be empty).  A new string, or NULL with *errstr.
 */
char	*token_access(const char *sub, const char *client_id,
	    const char *scope, const char *roles, const char **errstr);

/* refresh.c: opaque refresh tokens with rotation. */
/* Stores a new token (of family, or of a new one when NULL). */
char	*refresh_issue(long long identity_id, const char *client_id,
	    const char *scope, const char *family);
/* Revokes every token of the family; 0 or -1. */
int	 refresh_revoke_family(const char *family);

/* introspect.c: RFC 7662 and RFC 7009. */
void	 introspect_handler(struct request *, struct response *);
void	 revoke_handler(struct request *, struct response *);

/* identities.c: created, exported and removed by the users service. */
void	 identities_create(struct request *, struct response *);
void	 identities_get(struct request *, struct response *);
void	 identities_delete(struct request *, struct response *);
/* 0 and the new id, 1 when taken, -1 on error. */
int	 identities_insert(const char *username, const char *password,
	    const char *roles, long long *id);

/* discovery.c */
void	 discovery_handler(struct request *, struct response *);

/* bootstrap.c: agora-auth -B */
int	 bootstrap_main(int verbose);

#endif
