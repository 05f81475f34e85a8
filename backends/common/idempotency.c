/* Idempotency-Key: claim, store with the effects, replay. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/params.h>

#include "db.h"
#include "idempotency.h"
#include "secret.h"
#include "identity.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define IDEMPOTENCY_PRUNE_EVERY	60	/* seconds, per process */
#define IDEMPOTENCY_PRUNE_BATCH	500
#define IDEMPOTENCY_SCOPE_MAX	191	/* longer subjects are hashed */
#define IDEMPOTENCY_ATTEMPTS	3

/* Dead keys: past IDEMPOTENCY_TTL (first ?), or running for too long. */
#define IK_DEAD	"(created_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND" \
	" OR (state = 'running'" \
	" AND created_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND))"

static const char sql_claim[] =
    "INSERT INTO idempotency_keys (scope, idem_key, request_hash, state,"
    " created_at) VALUES (?, ?, ?, 'running', UTC_TIMESTAMP(6))";
static const char sql_lookup[] =
    "SELECT request_hash, state, status, content_type, headers, body,"
    " " IK_DEAD " FROM idempotency_keys WHERE scope = ? AND idem_key = ?";
static const char sql_drop_dead[] =
    "DELETE FROM idempotency_keys WHERE scope = ? AND idem_key = ?"
    " AND " IK_DEAD;
static const char sql_store[] =
    "UPDATE idempotency_keys SET state = 'done', status = ?,"
    " content_type = ?, headers = ?, body = ?"
    " WHERE scope = ? AND idem_key = ? AND state = 'running'";
static const char sql_release[] =
    "DELETE FROM idempotency_keys"
    " WHERE scope = ? AND idem_key = ? AND state = 'running'";
static const char sql_prune[] =
    "DELETE FROM idempotency_keys"
    " WHERE created_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND LIMIT ?";

/* Columns of sql_lookup. */
enum { IL_HASH, IL_STATE, IL_STATUS, IL_CTYPE, IL_HEADERS, IL_BODY, IL_DEAD };

int
idempotency_key_valid(const char *key)
{
	size_t	 i;

	for (i = 0; key[i] != '\0'; i++)
		if ((unsigned char)key[i] < 0x20 ||
		    (unsigned char)key[i] > 0x7e || i >= IDEMPOTENCY_KEY_MAX)
			return 0;
	return i > 0;
}

static void
idempotency_hex(const unsigned char *md, size_t len, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * len] = '\0';
}

void
idempotency_hash(const char *method, const char *path, const char *body,
    size_t len, char out[IDEMPOTENCY_HASHLEN + 1])
{
	static unsigned char	 key[SECRET_KEYLEN];
	static int		 have_key;
	static char		 digest[] = "SHA256";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	size_t			 mdlen = 0;
	const char		*errstr;
	EVP_MAC			*mac = NULL;
	EVP_MAC_CTX		*ctx = NULL;
	OSSL_PARAM		 params[2];

	/*
	 * Keyed, not a plain SHA-256: the body may hold a password (POST
	 * /users), and the hash is stored for a day.  Every process derives
	 * the same key, once.
	 */
	if (!have_key) {
		if (secret_derive("agora idempotency key v1", key,
		    &errstr) == -1)
			fatalx("%s: %s", __func__, errstr);
		have_key = 1;
	}
	params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(ctx, key, sizeof key, params) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)method,
	    strlen(method)) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)path,
	    strlen(path)) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) != 1 ||
	    (len > 0 && EVP_MAC_update(ctx, (const unsigned char *)body,
	    len) != 1) ||
	    EVP_MAC_final(ctx, md, &mdlen, sizeof md) != 1 || mdlen != 32)
		fatalx("%s: HMAC-SHA256 failed", __func__);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	idempotency_hex(md, mdlen, out);
}

int
idempotency_releases(int status)
{
	switch (status) {
	case 400:
	case 401:
	case 403:
	case 413:
	case 415:
	case 422:
	case 429:
		return 1;
	default:
		return status >= 500;
	}
}

/* The caller, hashed when too long to be part of the primary key. */
static char *
idempotency_scope(struct request *r)
{
	char	*caller, *scope;
	char	 hash[IDEMPOTENCY_HASHLEN + 1];

	caller = identity_caller(r);
	if (strlen(caller) <= IDEMPOTENCY_SCOPE_MAX)
		return caller;
	idempotency_hash("scope", "", caller, strlen(caller), hash);
	xasprintf(&scope, "sha256:%s", hash);
	free(caller);
	return scope;
}

/* Drops keys past their 24 hours, now and then, in its own statement. */
static void
idempotency_prune(void)
{
	static time_t		 last;
	struct timespec		 now;
	struct db_param		 p[2];
	unsigned long long	 n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last != 0 && now.tv_sec - last < IDEMPOTENCY_PRUNE_EVERY)
		return;
	last = now.tv_sec;
	p[0] = (struct db_param)DB_INT(IDEMPOTENCY_TTL);
	p[1] = (struct db_param)DB_INT(IDEMPOTENCY_PRUNE_BATCH);
	if (db_exec(sql_prune, p, 2, &n, NULL) == -1)
		log_warnx("%s: %s", __func__, db_error());
	else if (n > 0)
		log_debug("%s: %llu expired keys", __func__, n);
}

static void
idempotency_clear(struct idempotency *ik)
{
	free(ik->ik_scope);
	free(ik->ik_key);
	memset(ik, 0, sizeof *ik);
}

static void
idempotency_dberror(struct request *r, struct response *rs, const char *what)
{
	char	*cause;

	xasprintf(&cause, "idempotency %s: database error %u: %s", what,
	    db_errno(), db_error());
	problem_internal(r, rs, db_temporary() ? 503 : 500, cause);
	free(cause);
}

/* Answers with the stored response of row 0 of res. */
static void
idempotency_replay(struct request *r, struct response *rs,
    const struct db_result *res)
{
	const struct db_value	*ctype, *headers, *body;

	response_reset(rs);
	response_status(rs, (int)db_value(res, 0, IL_STATUS)->i);
	headers = db_value(res, 0, IL_HEADERS);
	if (!headers->isnull && headers->len > 0) {
		rs->rs_headers = xstrndup(headers->s, headers->len);
		rs->rs_hlen = headers->len;
	}
	ctype = db_value(res, 0, IL_CTYPE);
	body = db_value(res, 0, IL_BODY);
	if (!body->isnull && body->len > 0)
		response_body(rs, ctype->isnull ? "application/octet-stream" :
		    ctype->s, body->s, body->len);
	response_header(rs, "Idempotent-Replayed", "true");
	log_info("%s %s: replayed %d for Idempotency-Key rid=%s",
	    r->rq_method, r->rq_path, rs->rs_status, r->rq_id);
}

/*
 * The key exists: 1 after answering (422, 409, replay, error), 0 when it
 * was dead and dropped, so the claim can be tried again.
 */
static int
idempotency_existing(struct request *r, struct response *rs,
    struct idempotency *ik)
{
	struct db_result	*res;
	struct db_param		 p[4], q[4];
	const char		*state;
	int			 rc = 1;

	p[0] = (struct db_param)DB_INT(IDEMPOTENCY_TTL);
	p[1] = (struct db_param)DB_INT(IDEMPOTENCY_STALE);
	p[2] = (struct db_param)DB_STR(ik->ik_scope);
	p[3] = (struct db_param)DB_STR(ik->ik_key);
	if (db_query(sql_lookup, p, 4, &res) == -1) {
		idempotency_dberror(r, rs, "lookup");
		return 1;
	}
	if (res->nrows == 0)
		rc = 0;		/* released meanwhile: claim again */
	else if (db_value(res, 0, IL_DEAD)->i) {
		q[0] = p[2];
		q[1] = p[3];
		q[2] = p[0];
		q[3] = p[1];
		if (db_exec(sql_drop_dead, q, 4, NULL, NULL) == -1)
			idempotency_dberror(r, rs, "drop");
		else
			rc = 0;
	} else if (strcmp(db_value(res, 0, IL_HASH)->s, ik->ik_hash) != 0)
		problem_send(r, rs, 422, "Idempotency-Key \"%s\" was already "
		    "used for a different request", ik->ik_key);
	else if (strcmp((state = db_value(res, 0, IL_STATE)->s),
	    "running") == 0) {
		problem_send(r, rs, 409, "a request with Idempotency-Key "
		    "\"%s\" is still being processed", ik->ik_key);
		response_header(rs, "Retry-After", "1");
	} else
		idempotency_replay(r, rs, res);
	db_result_free(res);
	return rc;
}

int
idempotency_begin(struct request *r, struct response *rs,
    struct idempotency *ik)
{
	struct db_param	 p[3];
	const char	*key, *errstr = NULL;
	int		 status, attempt;

	memset(ik, 0, sizeof *ik);
	if ((key = request_header(r, "Idempotency-Key")) == NULL)
		return 0;
	if (!idempotency_key_valid(key)) {
		problem_send(r, rs, 400, "Idempotency-Key must be 1 to %d "
		    "printable ASCII characters", IDEMPOTENCY_KEY_MAX);
		return 1;
	}
	/* The same answers request_json() would give, before any claim. */
	if ((status = request_body(r, &errstr)) != 0) {
		if (status == 413)
			problem_send(r, rs, 413, "request body is larger than "
			    "%zu bytes", r->rq_maxbody);
		else
			problem_send(r, rs, status, "%s", errstr);
		return 1;
	}
	idempotency_hash(r->rq_method, r->rq_path, r->rq_body, r->rq_bodylen,
	    ik->ik_hash);
	ik->ik_key = xstrdup(key);
	ik->ik_scope = idempotency_scope(r);
	idempotency_prune();

	p[0] = (struct db_param)DB_STR(ik->ik_scope);
	p[1] = (struct db_param)DB_STR(ik->ik_key);
	p[2] = (struct db_param)DB_STR(ik->ik_hash);
	for (attempt = 0; attempt < IDEMPOTENCY_ATTEMPTS; attempt++) {
		if (db_exec(sql_claim, p, 3, NULL, NULL) == 0) {
			ik->ik_claimed = 1;
			r->rq_idem = ik;
			return 0;
		}
		if (db_errno() != DB_ER_DUP_ENTRY) {
			idempotency_dberror(r, rs, "claim");
			break;
		}
		if (idempotency_existing(r, rs, ik) == 1)
			break;
	}
	if (attempt == IDEMPOTENCY_ATTEMPTS) {
		problem_send(r, rs, 409, "a request with Idempotency-Key "
		    "\"%s\" is being processed", ik->ik_key);
		response_header(rs, "Retry-After", "1");
	}
	idempotency_clear(ik);
	return 1;
}

/* Runs sql_store for rs: 0, or -1 (db error); *stored whether it did. */
static int
idempotency_store(struct idempotency *ik, const struct response *rs,
    int *stored)
{
	struct db_param		 p[6];
	const unsigned char	*buf = NULL;
	unsigned long long	 n = 0;
	size_t			 len = 0;
	char			*body = NULL, *headers;
	int			 rc;

	if (rs->rs_gen != NULL) {
		if (yajl_gen_get_buf(rs->rs_gen, &buf, &len) !=
		    yajl_gen_status_ok)
			len = 0;
		body = xstrndup((const char *)buf, len);
	} else if (rs->rs_body != NULL)
		body = xstrndup(rs->rs_body, rs->rs_bodylen);
	headers = rs->rs_headers != NULL ?
	    xstrndup(rs->rs_headers, rs->rs_hlen) : NULL;
	p[0] = (struct db_param)DB_INT(rs->rs_status);
	p[1] = (struct db_param)DB_STR(rs->rs_ctype);
	p[2] = (struct db_param)DB_STR(headers);
	p[3] = (struct db_param)DB_STR(body);
	p[4] = (struct db_param)DB_STR(ik->ik_scope);
	p[5] = (struct db_param)DB_STR(ik->ik_key);
	rc = db_exec(sql_store, p, 6, &n, NULL);
	*stored = rc == 0 && n > 0;
	free(body);
	free(headers);
	return rc;
}

int
idempotency_save(struct request *r, const struct response *rs)
{
	struct idempotency	*ik = r->rq_idem;
	int			 stored;

	if (ik == NULL || !ik->ik_claimed)
		return 0;
	if (idempotency_store(ik, rs, &stored) == -1) {
		log_warnx("%s: %s", __func__, db_error());
		return -1;
	}
	/* 0 rows: a takeover after IDEMPOTENCY_STALE; nothing to undo. */
	if (!stored)
		log_warnx("%s: key \"%s\" was no longer ours", __func__,
		    ik->ik_key);
	return 0;
}

void
idempotency_end(struct request *r, const struct response *rs)
{
	struct idempotency	*ik = r->rq_idem;
	struct db_param		 p[2];
	int			 stored;

	if (ik == NULL)
		return;
	r->rq_idem = NULL;
	if (!ik->ik_claimed) {
		idempotency_clear(ik);
		return;
	}
	/*
	 * Both statements only touch a key still running: one the handler
	 * saved in its transaction is done and stays as it is.
	 */
	if (idempotency_releases(rs->rs_status)) {
		p[0] = (struct db_param)DB_STR(ik->ik_scope);
		p[1] = (struct db_param)DB_STR(ik->ik_key);
		if (db_exec(sql_release, p, 2, NULL, NULL) == -1)
			log_warnx("%s: releasing key \"%s\": %s", __func__,
			    ik->ik_key, db_error());
	} else if (idempotency_store(ik, rs, &stored) == -1)
		log_warnx("%s: storing key \"%s\": %s", __func__,
		    ik->ik_key, db_error());
	idempotency_clear(ik);
}
