/*
 * POST /auth/introspect (RFC 7662) and POST /auth/revoke (RFC 7009).
 * Both take either kind of token: a JWT access token (three segments)
 * or an opaque refresh token.  A refresh token is only introspected or
 * revoked for the client it was issued to; access tokens are revoked by
 * jti until they expire.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define INTROSPECT_TOKEN_MAX	JWT_MAX_TOKEN

static const char sql_revoked[] =
    "SELECT 1 FROM revoked_access WHERE jti = ?";
static const char sql_revoke_access[] =
    "INSERT IGNORE INTO revoked_access (jti, expires_at) VALUES (?, ?)";
static const char sql_prune[] =
    "DELETE FROM revoked_access WHERE expires_at < ? LIMIT 100";
static const char sql_refresh[] =
    "SELECT t.family, t.identity_id, t.client_id, t.scope, t.created_at,"
    " t.expires_at FROM refresh_tokens t JOIN identities i"
    " ON i.id = t.identity_id"
    " WHERE t.token_hash = ? AND t.state = 'active' AND t.expires_at > ?";

/* A token of the form a.b.c is a JWT; anything else is opaque. */
static int
introspect_is_jwt(const char *tok)
{
	const char	*p = strchr(tok, '.');

	return p != NULL && strchr(p + 1, '.') != NULL;
}

/* Verified claims of our own access token, or NULL. */
static struct jwt_claims *
introspect_jwt(const char *tok, int *dberr)
{
	struct jwt_expect	 ex = {
		.iss = auth_conf.ac_issuer,
		.aud = auth_conf.ac_audience,
		.typ = "at+jwt",
		.require_exp = 1,
	};
	const struct jwt_keyset	*ks;
	struct jwt_claims	*c;
	struct db_result	*res;
	struct db_param		 p[1];
	const char		*errstr;

	*dberr = 0;
	if ((ks = keys_all(0, &errstr)) == NULL) {
		*dberr = 1;
		return NULL;
	}
	if (jwt_verify(ks, tok, &ex, &c, &errstr) == -1) {
		/* Rotated in another process since our cache was filled? */
		if (strcmp(errstr, "unknown key id") != 0)
			return NULL;
		if ((ks = keys_all(1, &errstr)) == NULL) {
			*dberr = 1;
			return NULL;
		}
		if (jwt_verify(ks, tok, &ex, &c, &errstr) == -1)
			return NULL;
	}
	if (c->jc_jti == NULL) {
		jwt_claims_free(c);
		return NULL;
	}
	p[0] = (struct db_param)DB_STR(c->jc_jti);
	if (db_query(sql_revoked, p, 1, &res) == -1) {
		*dberr = 1;
		jwt_claims_free(c);
		return NULL;
	}
	if (res->nrows != 0) {
		jwt_claims_free(c);
		c = NULL;
	}
	db_result_free(res);
	return c;
}

/* The active refresh token row for tok, or NULL (with *dberr). */
static struct db_result *
introspect_refresh(const char *tok, int *dberr)
{
	struct db_result	*res;
	struct db_param		 p[2];
	char			 hash[65];

	*dberr = 0;
	auth_sha256_hex(tok, hash);
	p[0] = (struct db_param)DB_STR(hash);
	p[1] = (struct db_param)DB_INT((long long)time(NULL));
	if (db_query(sql_refresh, p, 2, &res) == -1) {
		*dberr = 1;
		return NULL;
	}
	if (res->nrows == 0) {
		db_result_free(res);
		return NULL;
	}
	return res;
}

/* The form and the client, then the token parameter; NULL: answered. */
static const char *
introspect_begin(struct request *r, struct response *rs, struct query *q,
    int allow_public, struct oauth_client *c)
{
	const char	*tok;

	if (oauth_form(r, rs, q) == -1)
		return NULL;
	if (oauth_client_auth(r, rs, q, allow_public, c) == -1) {
		query_free(q);
		return NULL;
	}
	tok = query_get(q, "token");
	if (tok == NULL || *tok == '\0') {
		oauth_error(r, rs, 400, "invalid_request", "token is "
		    "required");
		oauth_client_free(c);
		query_free(q);
		return NULL;
	}
	return tok;
}

static void
introspect_gen_jwt(yajl_gen g, const struct jwt_claims *c)
{
	size_t	i;

	json_gen_kv_str(g, "token_type", "access_token");
	if (c->jc_scope != NULL)
		json_gen_kv_str(g, "scope", c->jc_scope);
	if (c->jc_client_id != NULL)
		json_gen_kv_str(g, "client_id", c->jc_client_id);
	if (c->jc_sub != NULL)
		json_gen_kv_str(g, "sub", c->jc_sub);
	json_gen_kv_str(g, "iss", c->jc_iss);
	if (c->jc_naud > 0)
		json_gen_kv_str(g, "aud", c->jc_aud[0]);
	json_gen_kv_int(g, "exp", c->jc_exp);
	if (c->jc_iat != 0)
		json_gen_kv_int(g, "iat", c->jc_iat);
	json_gen_kv_str(g, "jti", c->jc_jti);
	json_gen_cstr(g, "roles");
	yajl_gen_array_open(g);
	for (i = 0; i < c->jc_nroles; i++)
		json_gen_cstr(g, c->jc_roles[i]);
	yajl_gen_array_close(g);
}

void
introspect_handler(struct request *r, struct response *rs)
{
	struct oauth_client	 client;
	struct jwt_claims	*c = NULL;
	struct db_result	*res = NULL;
	struct query		 q;
	const char		*tok;
	yajl_gen		 g;
	char			 sub[32];
	int			 dberr = 0;

	if ((tok = introspect_begin(r, rs, &q, 0, &client)) == NULL)
		return;
	if (strlen(tok) <= INTROSPECT_TOKEN_MAX) {
		if (introspect_is_jwt(tok))
			c = introspect_jwt(tok, &dberr);
		else if ((res = introspect_refresh(tok, &dberr)) != NULL &&
		    strcmp(db_value(res, 0, 2)->s, client.oc_id) != 0) {
			db_result_free(res);
			res = NULL;
		}
	}
	if (dberr) {
		problem_db(r, rs, "introspection");
		goto done;
	}
	response_status(rs, 200);
	oauth_nostore(rs);
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_cstr(g, "active");
	yajl_gen_bool(g, c != NULL || res != NULL);
	if (c != NULL)
		introspect_gen_jwt(g, c);
	else if (res != NULL) {
		json_gen_kv_str(g, "token_type", "refresh_token");
		if (*db_value(res, 0, 3)->s != '\0')
			json_gen_kv_str(g, "scope", db_value(res, 0, 3)->s);
		json_gen_kv_str(g, "client_id", db_value(res, 0, 2)->s);
		snprintf(sub, sizeof sub, "%lld", db_value(res, 0, 1)->i);
		json_gen_kv_str(g, "sub", sub);
		json_gen_kv_str(g, "iss", auth_conf.ac_issuer);
		json_gen_kv_int(g, "iat", db_value(res, 0, 4)->i);
		json_gen_kv_int(g, "exp", db_value(res, 0, 5)->i);
	}
	yajl_gen_map_close(g);
 done:
	jwt_claims_free(c);
	db_result_free(res);
	oauth_client_free(&client);
	query_free(&q);
}

void
revoke_handler(struct request *r, struct response *rs)
{
	struct oauth_client	 client;
	struct jwt_claims	*c = NULL;
	struct db_result	*res = NULL;
	struct db_param		 p[2];
	struct query		 q;
	const char		*tok;
	int			 dberr = 0;

	if ((tok = introspect_begin(r, rs, &q, 1, &client)) == NULL)
		return;
	if (strlen(tok) > INTROSPECT_TOKEN_MAX)
		;	/* not ours: nothing to do, RFC 7009 §2.2 */
	else if (introspect_is_jwt(tok)) {
		c = introspect_jwt(tok, &dberr);
		if (c != NULL && c->jc_client_id != NULL &&
		    strcmp(c->jc_client_id, client.oc_id) == 0) {
			p[0] = (struct db_param)DB_STR(c->jc_jti);
			p[1] = (struct db_param)DB_INT(c->jc_exp);
			dberr = db_exec(sql_revoke_access, p, 2, NULL,
			    NULL) == -1;
			p[0] = (struct db_param)DB_INT((long long)time(NULL));
			if (!dberr)
				(void)db_exec(sql_prune, p, 1, NULL, NULL);
			if (!dberr)
				log_info("access token %s revoked by %s rid=%s",
				    c->jc_jti, client.oc_id, r->rq_id);
		}
	} else if ((res = introspect_refresh(tok, &dberr)) != NULL &&
	    strcmp(db_value(res, 0, 2)->s, client.oc_id) == 0) {
		/* The whole grant goes: its refresh tokens (RFC 7009 §2.1). */
		dberr = refresh_revoke_family(db_value(res, 0, 0)->s) == -1;
		if (!dberr)
			log_info("refresh family revoked by %s rid=%s",
			    client.oc_id, r->rq_id);
	}
	if (dberr)
		problem_db(r, rs, "revocation");
	else {
		/* Unknown, foreign or invalid tokens get 200 too (§2.2). */
		response_status(rs, 200);
		oauth_nostore(rs);
		response_body(rs, "application/json", "{}", 2);
	}
	jwt_claims_free(c);
	db_result_free(res);
	oauth_client_free(&client);
	query_free(&q);
}
