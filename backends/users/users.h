/*
 * agora-users: profiles and addresses, encrypted at rest under per-user
 * keys; registration (with auth), GDPR export and erasure.  The handlers
 * its route table (users.c) points to, and what the files share.
 *
 * Environment (besides db.h's and cursor.h's):
 *   AGORA_MASTER_KEY_FILE   at least 32 bytes; the per-user data keys are
 *                           wrapped under a key derived from it
 *   AGORA_AUTH_SOCKET       agora-auth's FastCGI socket (path or
 *                           host:port), for registration, export and
 *                           erasure; not the socket the gateway's pool
 *                           keeps busy (see etc/gateway.conf)
 *   AGORA_AUTH_TIMEOUT      milliseconds for one call to auth, default
 *                           5000
 *   AGORA_USERS_SWEEP_SECS  how often a process retries the identity
 *                           deletions auth missed at erasure, default 10
 */
#ifndef AGORA_USERS_H
#define AGORA_USERS_H

#include <stddef.h>

#include <yajl/yajl_gen.h>

struct request;
struct response;

#define USERS_EMAIL_MAX		191	/* auth's username limit */
#define USERS_NAME_MAX		200
#define USERS_PHONE_MAX		32
#define USERS_PASSWORD_MIN	8
#define USERS_PASSWORD_MAX	1024
#define USERS_ADDRESSES_MAX	50

/* vault.c: AES-256-GCM under per-user data keys. */
#define VAULT_KEYLEN		32
/* Loads the master key; 0, or -1 with *errstr. */
int	 vault_init(const char **errstr);
/* A fresh random data key. */
void	 vault_key_new(unsigned char dk[VAULT_KEYLEN]);
/* dk wrapped under the master key for user uid: a new string, or NULL. */
char	*vault_wrap(const unsigned char dk[VAULT_KEYLEN], long long uid);
/* 0 and dk, or -1 when wrapped is not uid's key under this master key. */
int	 vault_unwrap(const char *wrapped, long long uid,
	    unsigned char dk[VAULT_KEYLEN]);
/*
 * Encrypts plain for field of user uid ("name", "address/7/line1"): a
 * new string base64url(nonce || ciphertext || tag), or NULL.  A NULL
 * plain gives NULL.
 */
char	*vault_seal(const unsigned char dk[VAULT_KEYLEN], long long uid,
	    const char *field, const char *plain);
/* The plaintext (a new string), or NULL when it does not authenticate. */
char	*vault_open(const unsigned char dk[VAULT_KEYLEN], long long uid,
	    const char *field, const char *sealed);

/* authcall.c: agora-auth over FastCGI, as the "service" role. */
enum authcall_result {
	AUTHCALL_OK = 0,
	AUTHCALL_CONFLICT,	/* the username is taken */
	AUTHCALL_REFUSED,	/* another 4xx: status and body kept */
	AUTHCALL_UNAVAILABLE	/* not configured, down, 5xx, garbage */
};
struct authcall_answer {
	int	 status;
	char	*ctype;
	char	*body;		/* auth's problem or export, or NULL */
	size_t	 bodylen;
};
/* POST /auth/identities; *id is the new identity. */
enum authcall_result
	 authcall_create(const char *rid, const char *email,
	    const char *password, long long *id, struct authcall_answer *);
/*
 * GET /auth/identities/{subject}, auth's part of the GDPR export: OK with
 * the JSON in ans->body, REFUSED when auth has no such identity (404).
 */
enum authcall_result
	 authcall_export(const char *rid, const char *subject,
	    struct authcall_answer *);
/* DELETE /auth/identities/{subject}: OK also when it was gone already. */
enum authcall_result
	 authcall_delete(const char *rid, const char *subject);
void	 authcall_answer_free(struct authcall_answer *);

/* profile.c: a loaded, decrypted profile. */
struct user {
	long long	 u_id;		/* row id: the crypto binding */
	char		*u_subject;	/* auth identity id, "sub" */
	char		*u_email;
	char		*u_name;
	char		*u_phone;	/* NULL when unset */
	long long	 u_version;
	char		*u_created;
	char		*u_updated;
	unsigned char	 u_dk[VAULT_KEYLEN];
};
/*
 * Loads the active profile of subject (locked FOR UPDATE when lock):
 * 0, 1 when there is none, -1 on a db error, -2 when it does not decrypt.
 */
int	 profile_load(const char *subject, int lock, struct user *);
void	 profile_clear(struct user *);		/* wipes the key too */
/* The profile as a JSON object. */
void	 profile_gen(yajl_gen, const struct user *);
/*
 * For a /users/me handler: the caller's profile in u, or 0 after
 * answering 401 / 404 / 5xx.
 */
int	 profile_me(struct request *, struct response *, int lock,
	    struct user *);
struct validate;
/* Field checks shared with registration; errors go to v. */
void	 profile_check_name(struct validate *, const char *name);
void	 profile_check_phone(struct validate *, const char *phone);
void	 profile_get(struct request *, struct response *);
void	 profile_patch(struct request *, struct response *);
void	 profile_list(struct request *, struct response *);

/* register.c */
void	 register_handler(struct request *, struct response *);
/* Removes pending registrations older than a few minutes (crashes). */
void	 register_sweep(void);

/* addresses.c */
void	 addresses_list(struct request *, struct response *);
void	 addresses_get(struct request *, struct response *);
void	 addresses_create(struct request *, struct response *);
void	 addresses_update(struct request *, struct response *);
void	 addresses_delete(struct request *, struct response *);
/*
 * Writes the user's addresses as a JSON array (no paging, for the
 * export).  0, or -1 on a db error.
 */
int	 addresses_gen_all(yajl_gen, const struct user *);

/* gdpr.c */
void	 gdpr_export(struct request *, struct response *);
void	 gdpr_erase(struct request *, struct response *);
/* Retries identity deletions that auth could not do at erasure time. */
void	 gdpr_sweep(int force);

/* users.c */

#endif
