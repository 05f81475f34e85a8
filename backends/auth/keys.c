/*
 * Signing keys: kept in signing_keys, each private key encrypted with
 * AES-256-GCM under the master key, and cached per process for a few
 * seconds so that a rotation in one process reaches the others soon.
 *
 * The master key is HMAC-SHA256(contents of AGORA_MASTER_KEY_FILE,
 * "agora auth signing keys v1"): the file may hold any secret of at least
 * 32 bytes, and other uses of the same file get unrelated keys.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "base64url.h"
#include "db.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "seal.h"
#include "xmalloc.h"

#define KEYS_CACHE_SECS		5

static const char sql_load[] =
    "SELECT kid, alg, private_enc, retired_at FROM signing_keys"
    " WHERE expires_at IS NULL OR expires_at > ?"
    " ORDER BY created_at DESC, kid DESC";
static const char sql_insert[] =
    "INSERT INTO signing_keys (kid, alg, private_enc, created_at)"
    " VALUES (?, ?, ?, ?)";
static const char sql_retire[] =
    "UPDATE signing_keys SET retired_at = ?, expires_at = ?"
    " WHERE retired_at IS NULL AND kid <> ?";

static unsigned char		 keys_master[SEAL_KEYLEN];
static int			 keys_have_master;
static struct jwt_keyset	*keys_cache;
static const struct jwt_key	*keys_current;
static time_t			 keys_loaded;
static size_t			 keys_unreadable;	/* rows not decrypted */

static int
keys_master_load(const char **errstr)
{
	if (keys_have_master)
		return 0;
	if (seal_master_key("agora auth signing keys v1", keys_master,
	    errstr) == -1)
		return -1;
	keys_have_master = 1;
	return 0;
}

/* Generates and stores a new ES256 key; its kid (caller frees) or NULL. */
static char *
keys_create(time_t now, const char **errstr)
{
	struct db_param	 p[4];
	struct jwt_key	*k;
	struct tm	 tm;
	char		 stamp[32], *kid, *rnd, *pem, *sealed;
	size_t		 len;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
	rnd = auth_random(6);
	xasprintf(&kid, "%s-%s", stamp, rnd);
	free(rnd);
	if ((k = jwt_key_generate(JWT_ALG_ES256, kid, errstr)) == NULL) {
		free(kid);
		return NULL;
	}
	pem = jwt_key_private_pem(k, &len);
	jwt_key_free(k);
	if (pem == NULL) {
		*errstr = "cannot export the new key";
		free(kid);
		return NULL;
	}
	sealed = seal_gcm(keys_master, kid, pem, len);
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (sealed == NULL) {
		*errstr = "cannot encrypt the new key";
		free(kid);
		return NULL;
	}
	p[0] = (struct db_param)DB_STR(kid);
	p[1] = (struct db_param)DB_STR(jwt_alg_name(JWT_ALG_ES256));
	p[2] = (struct db_param)DB_STR(sealed);
	p[3] = (struct db_param)DB_INT((long long)now);
	if (db_exec(sql_insert, p, 4, NULL, NULL) == -1) {
		*errstr = "cannot store the new key";
		free(kid);
		kid = NULL;
	}
	free(sealed);
	return kid;
}

static void
keys_drop(void)
{
	jwt_keyset_free(keys_cache);
	keys_cache = NULL;
	keys_current = NULL;
	keys_loaded = 0;
}

/* (Re)loads the keys when the cache is stale; 0 or -1. */
static int
keys_load(int force, const char **errstr)
{
	struct jwt_keyset	*ks;
	struct db_result	*res;
	struct db_param		 p[1];
	struct jwt_key		*k;
	const struct jwt_key	*cur = NULL;
	time_t			 now = time(NULL);
	enum jwt_alg		 alg;
	const char		*kid, *why;
	char			*pem;
	size_t			 i, len, bad = 0;

	if (!force && keys_cache != NULL && now - keys_loaded <
	    KEYS_CACHE_SECS && now >= keys_loaded)
		return 0;
	if (keys_master_load(errstr) == -1)
		return -1;
	p[0] = (struct db_param)DB_INT((long long)now);
	if (db_query(sql_load, p, 1, &res) == -1) {
		*errstr = "database error loading keys";
		return -1;
	}
	ks = jwt_keyset_new();
	for (i = 0; i < res->nrows; i++) {
		kid = db_value(res, i, 0)->s;
		alg = jwt_alg_from_name(db_value(res, i, 1)->s);
		if ((pem = (char *)seal_gcm_open(keys_master, kid,
		    db_value(res, i, 2)->s, &len)) ==
		    NULL) {
			log_warnx("%s: key %s does not decrypt under this "
			    "master key", __func__, kid);
			bad++;
			continue;
		}
		k = jwt_key_from_pem(pem, len, alg, kid, &why);
		OPENSSL_cleanse(pem, len);
		free(pem);
		if (k == NULL) {
			log_warnx("%s: key %s: %s", __func__, kid, why);
			bad++;
			continue;
		}
		if (cur == NULL && db_value(res, i, 3)->isnull)
			cur = k;
		jwt_keyset_add(ks, k);
	}
	db_result_free(res);
	keys_drop();
	keys_cache = ks;
	keys_current = cur;
	keys_loaded = now;
	keys_unreadable = bad;
	return 0;
}

const struct jwt_keyset *
keys_all(int fresh, const char **errstr)
{
	if (keys_load(fresh, errstr) == -1)
		return NULL;
	return keys_cache;
}

const struct jwt_key *
keys_signing(const char **errstr)
{
	char	*kid;

	if (keys_load(0, errstr) == -1)
		return NULL;
	if (keys_current != NULL)
		return keys_current;
	/*
	 * Keys we cannot read mean a wrong master key, not a first start:
	 * adding a key nobody else can read would only make it worse.
	 */
	if (keys_unreadable > 0) {
		*errstr = "the stored signing keys do not decrypt under this "
		    "master key";
		return NULL;
	}
	/* First start without bootstrap: make the first key. */
	if ((kid = keys_create(time(NULL), errstr)) == NULL)
		return NULL;
	log_info("created signing key %s", kid);
	free(kid);
	if (keys_load(1, errstr) == -1)
		return NULL;
	if (keys_current == NULL)
		*errstr = "no usable signing key";
	return keys_current;
}

struct keys_rotation {
	time_t		 now;
	char		*kid;
	const char	*errstr;
};

static int
keys_rotate_txn(void *arg)
{
	struct keys_rotation	*kr = arg;
	struct db_param		 p[3];

	free(kr->kid);
	if ((kr->kid = keys_create(kr->now, &kr->errstr)) == NULL)
		return -1;
	/* Old keys verify until the last token they signed expires. */
	p[0] = (struct db_param)DB_INT((long long)kr->now);
	p[1] = (struct db_param)DB_INT((long long)kr->now +
	    auth_conf.ac_access_ttl + AUTH_LEEWAY);
	p[2] = (struct db_param)DB_STR(kr->kid);
	if (db_exec(sql_retire, p, 3, NULL, NULL) == -1) {
		kr->errstr = "cannot retire the old keys";
		return -1;
	}
	return 0;
}

int
keys_rotate(char **kidp, const char **errstr)
{
	struct keys_rotation	kr = { .now = time(NULL) };

	if (keys_master_load(errstr) == -1)
		return -1;
	if (db_transaction(keys_rotate_txn, &kr) != 0) {
		free(kr.kid);
		*errstr = kr.errstr != NULL ? kr.errstr : "database error";
		return -1;
	}
	keys_drop();
	*kidp = kr.kid;
	return 0;
}

void
keys_jwks(struct request *r, struct response *rs)
{
	const struct jwt_keyset	*ks;
	const char		*errstr;
	char			*jwks, *cause;
	size_t			 len;

	/*
	 * Always from the database: another process may have rotated a
	 * moment ago and be signing with a key our cache has not seen.
	 * Verifiers fetch this rarely.  keys_signing() makes the first key
	 * when there is none, so the set is never empty.
	 */
	if (keys_signing(&errstr) == NULL || (ks = keys_all(1, &errstr)) ==
	    NULL) {
		xasprintf(&cause, "jwks: %s", errstr);
		problem_internal(r, rs, db_temporary() ? 503 : 500, cause);
		free(cause);
		return;
	}
	jwks = jwt_keyset_jwks(ks, &len);
	response_body(rs, "application/json", jwks, len);
	/* Short: verifiers must see a rotated key soon. */
	response_header(rs, "Cache-Control", "public, max-age=60");
	free(jwks);
}

void
keys_rotate_handler(struct request *r, struct response *rs)
{
	const char	*errstr;
	char		*kid, *cause;
	yajl_gen	 g;

	if (!identity_require_role(r, rs, "admin"))
		return;
	if (keys_rotate(&kid, &errstr) == -1) {
		xasprintf(&cause, "key rotation: %s", errstr);
		problem_internal(r, rs, db_temporary() ? 503 : 500, cause);
		free(cause);
		return;
	}
	log_info("signing key rotated to %s by %s rid=%s", kid,
	    request_param(r, "REMOTE_USER"), r->rq_id);
	response_status(rs, 201);
	response_header(rs, "Location", "/.well-known/jwks.json");
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "kid", kid);
	json_gen_kv_str(g, "alg", jwt_alg_name(JWT_ALG_ES256));
	yajl_gen_map_close(g);
	free(kid);
}
