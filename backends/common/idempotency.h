/*
 * Idempotency-Key (API.md): a POST that carries the header runs once per
 * caller and key; a retry gets the stored response back.
 *
 * Each service database has the table idempotency_keys (see
 * sql/inventory.sql): (scope, idem_key) -> request hash, state (running,
 * done) and the stored status, Content-Type, headers and body.  The scope
 * is the caller (identity_caller(): REMOTE_USER, "" when anonymous), so
 * two callers never see each other's keys.  The request hash is SHA-256
 * over "METHOD\nPATH\nBODY".
 *
 *   1. idempotency_begin() claims the key: an INSERT in its own short
 *      (autocommit) transaction, state running.  When the key exists:
 *      another request hash -> 422; still running -> 409 (Retry-After: 1);
 *      done -> the stored response is replayed, with
 *      "Idempotent-Replayed: true".  Keys older than 24 h count as absent
 *      and are pruned (at most once a minute per process); a key left
 *      running for over IDEMPOTENCY_STALE seconds (a crashed worker) is
 *      taken over.
 *   2. The handler calls idempotency_save(r, rs) inside the transaction
 *      that makes its effects, once rs holds the answer, so the effects
 *      and the stored response commit together or not at all.
 *   3. idempotency_end() settles the key whatever happened: a response
 *      that means "nothing was done" (400, 401, 403, 413, 415, 422, 429
 *      and every 5xx) gives the key back, so a corrected or later retry
 *      runs; any other response not yet saved (a 404 or a 409 from a
 *      rolled-back transaction) is stored in its own statement.
 *
 * service_main() runs begin/end around every POST of a service whose
 * struct service has sv_idempotent set; handlers then only call
 * idempotency_save().  Without a key all three are no-ops.
 */
#ifndef AGORA_IDEMPOTENCY_H
#define AGORA_IDEMPOTENCY_H

#include <stddef.h>

#define IDEMPOTENCY_KEY_MAX	255	/* bytes of printable ASCII */
#define IDEMPOTENCY_TTL		(24 * 60 * 60)
#define IDEMPOTENCY_STALE	120	/* seconds a claim may run */
#define IDEMPOTENCY_HASHLEN	64	/* hex HMAC-SHA256 */

struct request;
struct response;

/* Strings are owned; idempotency_end() releases them. */
struct idempotency {
	char	*ik_scope;
	char	*ik_key;
	char	 ik_hash[IDEMPOTENCY_HASHLEN + 1];
	int	 ik_claimed;
};

/*
 * 0: run the handler (no key, or the key is now claimed and r->rq_idem
 * points to ik); 1: rs already holds the answer (replay, 400 bad key, 409,
 * 422, 503) and the handler must not run.
 */
int	idempotency_begin(struct request *r, struct response *rs,
	    struct idempotency *ik);
/*
 * Stores rs as the result of r's key, in the caller's transaction.  0 (also
 * when r has no key), or -1 after a failed db_* call (roll back).
 */
int	idempotency_save(struct request *r, const struct response *rs);
/* Settles and releases r's key after the handler answered rs. */
void	idempotency_end(struct request *r, const struct response *rs);

/* Whether key is acceptable: 1..IDEMPOTENCY_KEY_MAX printable ASCII. */
int	idempotency_key_valid(const char *key);
/*
 * Hex HMAC-SHA256 of "METHOD\nPATH\n" and len bytes of body into out,
 * keyed by the install secret (secret.h): bodies may hold passwords.
 */
void	idempotency_hash(const char *method, const char *path,
	    const char *body, size_t len, char out[IDEMPOTENCY_HASHLEN + 1]);
/* Whether a response with status gives the key back rather than keep it. */
int	idempotency_releases(int status);

#endif
