/*
 * POST /auth/token (RFC 6749 §3.2): the password grant (legacy, for the
 * shop's own front end), client_credentials for services, and
 * refresh_token with rotation and reuse detection.  Access tokens are
 * JWTs after RFC 9068 (typ at+jwt) signed ES256.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define TOKEN_SCOPE_MAX		255
#define TOKEN_REFRESH_MAX	128

static const char sql_identity[] =
    "SELECT id, password_hash, roles, failures, failed_at"
    " FROM identities WHERE username = ?";
/* Failures decay by one per decay period, atomically. */
static const char sql_failed[] =
    "UPDATE identities SET failures = GREATEST(CAST(failures AS SIGNED)"
    " - FLOOR((? - failed_at) / ?), 0) + 1, failed_at = ? WHERE id = ?";
static const char sql_login_ok[] =
    "UPDATE identities SET failures = 0, failed_at = 0, last_login_at = ?"
    " WHERE id = ?";
static const char sql_rehash[] =
    "UPDATE identities SET password_hash = ?, updated_at = ?"
    " WHERE id = ?";
static const char sql_refresh_get[] =
    "SELECT id, family, identity_id, client_id, scope, state, expires_at"
    " FROM refresh_tokens WHERE token_hash = ? FOR UPDATE";
static const char sql_refresh_use[] =
    "UPDATE refresh_tokens SET state = 'used'"
    " WHERE id = ? AND state = 'active'";
static const char sql_identity_roles[] =
    "SELECT roles FROM identities WHERE id = ?";

/* What a grant decided, for the response. */
struct token_grant {
	char		*sub;
	char		*roles;
	char		*scope;
	char		*refresh;	/* NULL: none issued */
};

static void
token_grant_free(struct token_grant *g)
{
	free(g->sub);
	free(g->roles);
	free(g->scope);
	if (g->refresh != NULL) {
		OPENSSL_cleanse(g->refresh, strlen(g->refresh));
		free(g->refresh);
	}
	memset(g, 0, sizeof *g);
}

/* RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E. */
static int
token_scope_syntax(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && (*s < 0x21 || *s > 0x7e || *s == '"' ||
		    *s == '\\'))
			return 0;
	return 1;
}

/*
 * The scope to grant: requested (which must lie within allowed), or all
 * of allowed.  A new string, or NULL when out of bounds.
 */
static char *
token_scope(const char *requested, const char *allowed)
{
	const char	*p, *e;
	char		*word, *out;
	size_t		 len;

	if (requested == NULL)
		return xstrdup(allowed);
	if (strlen(requested) > TOKEN_SCOPE_MAX ||
	    !token_scope_syntax(requested))
		return NULL;
	out = xcalloc(1, strlen(requested) + 1);
	for (p = requested; *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if ((len = e - p) == 0)
			continue;
		word = xstrndup(p, len);
		if (!auth_list_has(allowed, word)) {
			free(word);
			free(out);
			return NULL;
		}
		if (!auth_list_has(out, word)) {
			if (*out != '\0')
				strcat(out, " ");
			strcat(out, word);
		}
		free(word);
	}
	return out;
}

char *
token_access(const char *sub, const char *client_id, const char *scope,
    const char *roles, const char **errstr)
{
	const struct jwt_key	*k;
	yajl_gen		 g;
	const char		*p, *e;
	char			*claims, *jti, *tok;
	long long		 now = (long long)time(NULL);

	if ((k = keys_signing(errstr)) == NULL)
		return NULL;
	jti = auth_random(16);
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "iss", auth_conf.ac_issuer);
	json_gen_kv_str(g, "sub", sub);
	json_gen_kv_str(g, "aud", auth_conf.ac_audience);
	json_gen_kv_int(g, "exp", now + auth_conf.ac_access_ttl);
	json_gen_kv_int(g, "iat", now);
	json_gen_kv_int(g, "nbf", now);
	json_gen_kv_str(g, "jti", jti);
	json_gen_kv_str(g, "client_id", client_id);
	if (scope != NULL && *scope != '\0')
		json_gen_kv_str(g, "scope", scope);
	json_gen_cstr(g, "roles");
	yajl_gen_array_open(g);
	for (p = roles != NULL ? roles : ""; *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if (e > p)
			yajl_gen_string(g, (const unsigned char *)p, e - p);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	claims = json_gen_dup(g, NULL);
	yajl_gen_free(g);
	free(jti);
	if (claims == NULL) {
		*errstr = "claims are not valid UTF-8";
		return NULL;
	}
	tok = jwt_sign(k, claims, "at+jwt", errstr);
	free(claims);
	return tok;
}

/* Answers a granted request: the token response of RFC 6749 §5.1. */
static void
token_respond(struct request *r, struct response *rs,
    const struct oauth_client *c, struct token_grant *tg)
{
	yajl_gen	 g;
	const char	*errstr;
	char		*at, *cause;

	if ((at = token_access(tg->sub, c->oc_id, tg->scope, tg->roles,
	    &errstr)) == NULL) {
		xasprintf(&cause, "token: %s", errstr);
		problem_internal(r, rs, 500, cause);
		free(cause);
		return;
	}
	response_status(rs, 200);
	oauth_nostore(rs);
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "access_token", at);
	json_gen_kv_str(g, "token_type", "Bearer");
	json_gen_kv_int(g, "expires_in", auth_conf.ac_access_ttl);
	if (tg->refresh != NULL)
		json_gen_kv_str(g, "refresh_token", tg->refresh);
	if (tg->scope != NULL && *tg->scope != '\0')
		json_gen_kv_str(g, "scope", tg->scope);
	yajl_gen_map_close(g);
	log_info("token issued: sub=%s client=%s rid=%s", tg->sub, c->oc_id,
	    r->rq_id);
	OPENSSL_cleanse(at, strlen(at));
	free(at);
}

static int
token_password(struct request *r, struct response *rs,
    const struct query *q, const struct oauth_client *c,
    struct token_grant *tg)
{
	struct db_result	*res;
	struct db_param		 p[4];
	const char		*user, *pass;
	char			*hash;
	long long		 id, failures, failed_at, now, decayed;
	int			 upgrade, ok;

	user = query_get(q, "username");
	pass = query_get(q, "password");
	if (user == NULL || pass == NULL || *user == '\0') {
		oauth_error(r, rs, 400, "invalid_request", "username and "
		    "password are required");
		return -1;
	}
	if ((tg->scope = token_scope(query_get(q, "scope"),
	    c->oc_scope)) == NULL) {
		oauth_error(r, rs, 400, "invalid_scope", "the scope is "
		    "malformed or exceeds what the client may ask for");
		return -1;
	}
	if (!auth_username_ok(user) || strlen(pass) > AUTH_PASSWORD_MAX) {
		password_dummy(pass);
		oauth_error(r, rs, 400, "invalid_grant", "invalid username "
		    "or password");
		return -1;
	}
	p[0] = (struct db_param)DB_STR(user);
	if (db_query(sql_identity, p, 1, &res) == -1) {
		problem_db(r, rs, "identity lookup");
		return -1;
	}
	if (res->nrows == 0) {
		db_result_free(res);
		password_dummy(pass);
		oauth_error(r, rs, 400, "invalid_grant", "invalid username "
		    "or password");
		return -1;
	}
	id = db_value(res, 0, 0)->i;
	failures = db_value(res, 0, 3)->i;
	failed_at = db_value(res, 0, 4)->i;
	now = (long long)time(NULL);
	decayed = failures - (now > failed_at ? (now - failed_at) /
	    auth_conf.ac_lock_decay : 0);
	if (decayed >= auth_conf.ac_lock_threshold) {
		db_result_free(res);
		password_dummy(pass);
		oauth_error(r, rs, 400, "invalid_grant", "the account is "
		    "temporarily locked after repeated failures; try again "
		    "later");
		return -1;
	}
	ok = password_verify(pass, db_value(res, 0, 1)->s, &upgrade);
	if (!ok) {
		db_result_free(res);
		p[0] = (struct db_param)DB_INT(now);
		p[1] = (struct db_param)DB_INT(auth_conf.ac_lock_decay);
		p[2] = (struct db_param)DB_INT(now);
		p[3] = (struct db_param)DB_INT(id);
		if (db_exec(sql_failed, p, 4, NULL, NULL) == -1) {
			problem_db(r, rs, "recording a failure");
			return -1;
		}
		oauth_error(r, rs, 400, "invalid_grant", "invalid username "
		    "or password");
		return -1;
	}
	xasprintf(&tg->sub, "%lld", id);
	tg->roles = xstrdup(db_value(res, 0, 2)->s);
	db_result_free(res);
	/* Every login: the failures go, the time is kept for the export. */
	p[0] = (struct db_param)DB_INT(now);
	p[1] = (struct db_param)DB_INT(id);
	if (db_exec(sql_login_ok, p, 2, NULL, NULL) == -1) {
		problem_db(r, rs, "recording the login");
		return -1;
	}
	/* Parameters raised since this hash was made: rehash now. */
	if (upgrade && (hash = password_hash(pass)) != NULL) {
		p[0] = (struct db_param)DB_STR(hash);
		p[1] = (struct db_param)DB_INT(now);
		p[2] = (struct db_param)DB_INT(id);
		if (db_exec(sql_rehash, p, 3, NULL, NULL) == 0)
			log_info("password hash of identity %lld upgraded",
			    id);
		free(hash);
	}
	if (auth_list_has(c->oc_grants, "refresh_token") &&
	    (tg->refresh = refresh_issue(id, c->oc_id, tg->scope,
	    NULL)) == NULL) {
		problem_db(r, rs, "storing a refresh token");
		return -1;
	}
	return 0;
}

static int
token_client_credentials(struct request *r, struct response *rs,
    const struct query *q, const struct oauth_client *c,
    struct token_grant *tg)
{
	if (c->oc_public) {
		oauth_error(r, rs, 400, "unauthorized_client", "a public "
		    "client cannot use client_credentials");
		return -1;
	}
	if ((tg->scope = token_scope(query_get(q, "scope"),
	    c->oc_scope)) == NULL) {
		oauth_error(r, rs, 400, "invalid_scope", "the scope is "
		    "malformed or exceeds what the client may ask for");
		return -1;
	}
	tg->sub = xstrdup(c->oc_id);
	tg->roles = xstrdup(c->oc_roles);
	return 0;
}

enum token_refresh_result {
	TR_OK = 0,
	TR_INVALID = 1,		/* unknown, expired, other client, revoked */
	TR_REUSED,		/* family revoked: commit, then refuse */
	TR_SCOPE,
	TR_GONE			/* identity deleted: family revoked */
};

struct token_refresh {
	const char		*token;
	const char		*scope_req;
	const struct oauth_client *c;
	struct token_grant	*tg;
	int			 result;
};

static int
token_refresh_txn(void *arg)
{
	struct token_refresh	*tr = arg;
	struct db_result	*res, *ires;
	struct db_param		 p[1];
	char			 hash[65], *family = NULL;
	long long		 rowid, identity;
	const char		*state;
	int			 rc = -1;

	token_grant_free(tr->tg);
	tr->result = TR_INVALID;
	auth_sha256_hex(tr->token, hash);
	p[0] = (struct db_param)DB_STR(hash);
	if (db_query(sql_refresh_get, p, 1, &res) == -1)
		return -1;
	if (res->nrows == 0 || strcmp(db_value(res, 0, 3)->s,
	    tr->c->oc_id) != 0) {
		db_result_free(res);
		return 0;
	}
	rowid = db_value(res, 0, 0)->i;
	family = xstrdup(db_value(res, 0, 1)->s);
	identity = db_value(res, 0, 2)->i;
	state = db_value(res, 0, 5)->s;
	if (strcmp(state, "used") == 0) {
		/* A used token again: stolen, or a replay.  Kill the family. */
		tr->result = TR_REUSED;
		rc = refresh_revoke_family(family);
		goto done;
	}
	if (strcmp(state, "active") != 0 ||
	    db_value(res, 0, 6)->i <= (long long)time(NULL)) {
		rc = 0;
		goto done;
	}
	if ((tr->tg->scope = token_scope(tr->scope_req,
	    db_value(res, 0, 4)->s)) == NULL) {
		tr->result = TR_SCOPE;
		rc = 0;
		goto done;
	}
	p[0] = (struct db_param)DB_INT(identity);
	if (db_query(sql_identity_roles, p, 1, &ires) == -1)
		goto done;
	if (ires->nrows == 0) {
		db_result_free(ires);
		tr->result = TR_GONE;
		rc = refresh_revoke_family(family);
		goto done;
	}
	tr->tg->roles = xstrdup(db_value(ires, 0, 0)->s);
	db_result_free(ires);
	p[0] = (struct db_param)DB_INT(rowid);
	if (db_exec(sql_refresh_use, p, 1, NULL, NULL) == -1)
		goto done;
	if ((tr->tg->refresh = refresh_issue(identity, tr->c->oc_id,
	    tr->tg->scope, family)) == NULL)
		goto done;
	xasprintf(&tr->tg->sub, "%lld", identity);
	tr->result = TR_OK;
	rc = 0;
 done:
	free(family);
	db_result_free(res);
	return rc;
}

static int
token_refresh(struct request *r, struct response *rs,
    const struct query *q, const struct oauth_client *c,
    struct token_grant *tg)
{
	struct token_refresh	 tr;

	memset(&tr, 0, sizeof tr);
	tr.token = query_get(q, "refresh_token");
	tr.scope_req = query_get(q, "scope");
	tr.c = c;
	tr.tg = tg;
	if (tr.token == NULL || *tr.token == '\0') {
		oauth_error(r, rs, 400, "invalid_request", "refresh_token is "
		    "required");
		return -1;
	}
	if (strlen(tr.token) > TOKEN_REFRESH_MAX) {
		oauth_error(r, rs, 400, "invalid_grant", "the refresh token "
		    "is invalid, expired or revoked");
		return -1;
	}
	if (db_transaction(token_refresh_txn, &tr) != 0) {
		problem_db(r, rs, "refresh");
		return -1;
	}
	switch (tr.result) {
	case TR_OK:
		return 0;
	case TR_REUSED:
		log_warnx("refresh token reuse by client %s: family revoked "
		    "rid=%s", c->oc_id, r->rq_id);
		oauth_error(r, rs, 400, "invalid_grant", "the refresh token "
		    "was already used; the session has been revoked");
		return -1;
	case TR_SCOPE:
		oauth_error(r, rs, 400, "invalid_scope", "the scope exceeds "
		    "the original grant");
		return -1;
	default:
		oauth_error(r, rs, 400, "invalid_grant", "the refresh token "
		    "is invalid, expired or revoked");
		return -1;
	}
}

static const struct {
	const char	*name;
	int		(*grant)(struct request *, struct response *,
			    const struct query *, const struct oauth_client *,
			    struct token_grant *);
} token_grants[] = {
	{ "password", token_password },
	{ "client_credentials", token_client_credentials },
	{ "refresh_token", token_refresh },
};

void
token_handler(struct request *r, struct response *rs)
{
	struct oauth_client	 c;
	struct token_grant	 tg;
	struct query		 q;
	const char		*gt;
	size_t			 i;

	if (oauth_form(r, rs, &q) == -1)
		return;
	memset(&tg, 0, sizeof tg);
	if ((gt = query_get(&q, "grant_type")) == NULL) {
		oauth_error(r, rs, 400, "invalid_request", "grant_type is "
		    "required");
		goto done;
	}
	for (i = 0; i < sizeof token_grants / sizeof token_grants[0]; i++)
		if (strcmp(gt, token_grants[i].name) == 0)
			break;
	if (i == sizeof token_grants / sizeof token_grants[0]) {
		oauth_error(r, rs, 400, "unsupported_grant_type", "the grant "
		    "type is not supported");
		goto done;
	}
	if (oauth_client_auth(r, rs, &q, 1, &c) == -1)
		goto done;
	if (!auth_list_has(c.oc_grants, gt))
		oauth_error(r, rs, 400, "unauthorized_client", "the client "
		    "may not use this grant type");
	else if (token_grants[i].grant(r, rs, &q, &c, &tg) == 0)
		token_respond(r, rs, &c, &tg);
	oauth_client_free(&c);
 done:
	token_grant_free(&tg);
	query_free(&q);
}
