/*
 * Identities as other services manage them: the users service creates
 * one at registration, reads auth's part of the GDPR export, and deletes
 * it at erasure (role "service"; admins may too).  Registration itself,
 * with its profile, is the users service's business.
 *
 * The export (GET /auth/identities/{id}) is what auth holds about the
 * person, never a secret: the username, roles, times (created, updated,
 * last login), the failed-login count, and the live sessions (refresh
 * token families: client, started, last used, expiry), not their hashes.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "db.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "validate.h"
#include "xmalloc.h"

static const char sql_insert[] =
    "INSERT INTO identities (username, password_hash, roles, created_at,"
    " updated_at) VALUES (?, ?, ?, ?, ?)";
static const char sql_delete[] =
    "DELETE FROM identities WHERE id = ?";
static const char sql_revoke_all[] =
    "UPDATE refresh_tokens SET state = 'revoked'"
    " WHERE identity_id = ? AND state <> 'revoked'";

static const char sql_get[] =
    "SELECT id, username, roles, created_at, updated_at, last_login_at,"
    " failures FROM identities WHERE id = ?";
/* One row per live session: its family's newest active token. */
static const char sql_sessions[] =
    "SELECT client_id, MIN(created_at), MAX(created_at), MAX(expires_at)"
    " FROM refresh_tokens WHERE identity_id = ? AND family IN"
    " (SELECT family FROM refresh_tokens WHERE identity_id = ?"
    " AND state = 'active' AND expires_at > ?)"
    " GROUP BY family, client_id ORDER BY MIN(created_at), family";

static const char *const identities_known[] = {
	"username", "password", "roles", NULL
};
static const char *const identities_roles[] = { "customer", "admin", NULL };

int
identities_insert(const char *username, const char *password,
    const char *roles, long long *id)
{
	struct db_param		 p[5];
	unsigned long long	 newid;
	char			*hash;
	long long		 now = (long long)time(NULL);
	int			 rc;

	if ((hash = password_hash(password)) == NULL)
		return -1;
	p[0] = (struct db_param)DB_STR(username);
	p[1] = (struct db_param)DB_STR(hash);
	p[2] = (struct db_param)DB_STR(roles);
	p[3] = (struct db_param)DB_INT(now);
	p[4] = (struct db_param)DB_INT(now);
	rc = db_exec(sql_insert, p, 5, NULL, &newid);
	free(hash);
	if (rc == -1)
		return db_errno() == DB_ER_DUP_ENTRY ? 1 : -1;
	*id = (long long)newid;
	return 0;
}

/* The roles member as a space-separated list, or NULL after an error. */
static char *
identities_roles_of(struct validate *v, yajl_val body)
{
	yajl_val	 roles = json_get(body, "roles"), e;
	char		*out, *tmp;
	size_t		 i, j;

	if (roles == NULL || YAJL_IS_NULL(roles))
		return xstrdup("customer");
	if (!YAJL_IS_ARRAY(roles) || roles->u.array.len == 0) {
		validate_error(v, "roles", "must be a non-empty array of "
		    "\"customer\" or \"admin\"");
		return NULL;
	}
	out = xstrdup("");
	for (i = 0; i < roles->u.array.len; i++) {
		e = roles->u.array.values[i];
		for (j = 0; identities_roles[j] != NULL; j++)
			if (YAJL_IS_STRING(e) &&
			    strcmp(e->u.string, identities_roles[j]) == 0)
				break;
		if (identities_roles[j] == NULL) {
			validate_error(v, "roles", "must be a non-empty array "
			    "of \"customer\" or \"admin\"");
			free(out);
			return NULL;
		}
		if (auth_list_has(out, identities_roles[j]))
			continue;
		xasprintf(&tmp, "%s%s%s", out, *out != '\0' ? " " : "",
		    identities_roles[j]);
		free(out);
		out = tmp;
	}
	return out;
}

void
identities_create(struct request *r, struct response *rs)
{
	struct validate	 v;
	yajl_val	 body;
	yajl_gen	 g;
	const char	*user = NULL, *pass = NULL, *p;
	char		*roles = NULL;
	long long	 id;
	size_t		 n;
	int		 rc;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	if ((body = request_json(r, rs)) == NULL)
		return;
	validate_init(&v);
	if (!YAJL_IS_OBJECT(body)) {
		problem_send(r, rs, 400, "the body must be a JSON object");
		goto done;
	}
	validate_known(&v, body, "", identities_known, NULL);
	if (validate_string(&v, body, "username", "username",
	    VALIDATE_REQUIRED, 1, AUTH_USERNAME_MAX, &user) == 1 &&
	    !auth_username_ok(user))
		validate_error(&v, "username", "must not hold control "
		    "characters");
	validate_string(&v, body, "password", "password", VALIDATE_REQUIRED,
	    AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX, &pass);
	if (pass != NULL)
		for (p = pass; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20) {
				validate_error(&v, "password", "must not hold "
				    "control characters");
				break;
			}
	roles = identities_roles_of(&v, body);
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		goto done;
	}
	if ((rc = identities_insert(user, pass, roles, &id)) == 1) {
		problem_send(r, rs, 409, "the username is taken");
		goto done;
	}
	if (rc == -1) {
		problem_db(r, rs, "identity insert");
		goto done;
	}
	log_info("identity %lld created by %s rid=%s", id,
	    request_param(r, "REMOTE_USER"), r->rq_id);
	response_status(rs, 201);
	response_header(rs, "Location", "%s/auth/identities/%lld",
	    r->rq_script, id);
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "id", id);
	json_gen_kv_str(g, "username", user);
	json_gen_cstr(g, "roles");
	yajl_gen_array_open(g);
	for (p = roles; *p != '\0'; p += strspn(p, " ")) {
		n = strcspn(p, " ");
		yajl_gen_string(g, (const unsigned char *)p, n);
		p += n;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
 done:
	free(roles);
	validate_free(&v);
	json_free(body);
}

/* The id of the {id} capture, or 0 (not an id: 404). */
static long long
identities_id(struct request *r)
{
	const char	*s = request_capture(r, "id");
	char		*end;
	long long	 id;

	errno = 0;
	id = s != NULL ? strtoll(s, &end, 10) : 0;
	if (s == NULL || *s < '1' || *s > '9' || *end != '\0' ||
	    errno != 0)
		return 0;
	return id;
}

/* Unix seconds as RFC 3339 UTC, or null for a NULL or 0 column. */
static void
identities_gen_time(yajl_gen g, const char *key, const struct db_value *v)
{
	time_t		 t;
	struct tm	 tm;
	char		 buf[32];

	json_gen_cstr(g, key);
	if (v->isnull || v->i <= 0) {
		yajl_gen_null(g);
		return;
	}
	t = (time_t)v->i;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_gen_cstr(g, buf);
}

/* A space-separated list as a JSON array. */
static void
identities_gen_list(yajl_gen g, const char *key, const char *list)
{
	const char	*p;
	size_t		 n;

	json_gen_cstr(g, key);
	yajl_gen_array_open(g);
	for (p = list; *p != '\0'; p += strspn(p, " ")) {
		n = strcspn(p, " ");
		if (n > 0)
			yajl_gen_string(g, (const unsigned char *)p, n);
		p += n;
	}
	yajl_gen_array_close(g);
}

void
identities_get(struct request *r, struct response *rs)
{
	struct db_result	*res, *ses;
	struct db_param		 p[3];
	yajl_gen		 g;
	long long		 id;
	size_t			 i;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	if ((id = identities_id(r)) == 0) {
		problem_send(r, rs, 404, "no such identity");
		return;
	}
	p[0] = (struct db_param)DB_INT(id);
	if (db_query(sql_get, p, 1, &res) == -1) {
		problem_db(r, rs, "identity get");
		return;
	}
	if (res->nrows == 0) {
		db_result_free(res);
		problem_send(r, rs, 404, "no such identity");
		return;
	}
	p[1] = (struct db_param)DB_INT(id);
	p[2] = (struct db_param)DB_INT((long long)time(NULL));
	if (db_query(sql_sessions, p, 3, &ses) == -1) {
		db_result_free(res);
		problem_db(r, rs, "identity sessions");
		return;
	}
	response_header(rs, "Cache-Control", "no-store");
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", db_value(res, 0, 0)->s);
	json_gen_kv_str(g, "username", db_value(res, 0, 1)->s);
	identities_gen_list(g, "roles", db_value(res, 0, 2)->s);
	identities_gen_time(g, "created_at", db_value(res, 0, 3));
	identities_gen_time(g, "updated_at", db_value(res, 0, 4));
	identities_gen_time(g, "last_login_at", db_value(res, 0, 5));
	json_gen_kv_int(g, "failed_logins", db_value(res, 0, 6)->i);
	json_gen_kv_int(g, "active_sessions", (long long)ses->nrows);
	json_gen_cstr(g, "sessions");
	yajl_gen_array_open(g);
	for (i = 0; i < ses->nrows; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "client_id", db_value(ses, i, 0)->s);
		identities_gen_time(g, "started_at", db_value(ses, i, 1));
		identities_gen_time(g, "refreshed_at", db_value(ses, i, 2));
		identities_gen_time(g, "expires_at", db_value(ses, i, 3));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	log_info("identity %lld exported for %s rid=%s", id,
	    request_param(r, "REMOTE_USER"), r->rq_id);
	db_result_free(ses);
	db_result_free(res);
}

static int
identities_delete_txn(void *arg)
{
	struct db_param		p[1];
	unsigned long long	affected;
	long long		id = *(long long *)arg;

	p[0] = (struct db_param)DB_INT(id);
	if (db_exec(sql_delete, p, 1, &affected, NULL) == -1)
		return -1;
	if (affected == 0)
		return 1;
	if (db_exec(sql_revoke_all, p, 1, NULL, NULL) == -1)
		return -1;
	return 0;
}

void
identities_delete(struct request *r, struct response *rs)
{
	long long	 id;
	int		 rc;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	if ((id = identities_id(r)) == 0) {
		problem_send(r, rs, 404, "no such identity");
		return;
	}
	if ((rc = db_transaction(identities_delete_txn, &id)) == 1)
		problem_send(r, rs, 404, "no such identity");
	else if (rc != 0)
		problem_db(r, rs, "identity delete");
	else {
		log_info("identity %lld deleted by %s rid=%s", id,
		    request_param(r, "REMOTE_USER"), r->rq_id);
		response_status(rs, 204);
	}
}
