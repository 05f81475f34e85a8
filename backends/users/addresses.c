/*
 * The caller's postal addresses: list, read, add, update, delete.  Every
 * query
 * names the caller's user id as well as the address id, so
 * someone else's address is simply not found (404, never 403).  Lines, city and
 * postal code are sealed with "address/<id>/<field>" under the user's
 * data key; the country stays in clear (shipping zones need it).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cursor.h"
#include "db.h"
#include "idempotency.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "users.h"
#include "validate.h"
#include "xmalloc.h"

enum addr_col {
	AC_ID, AC_LINE1, AC_LINE2, AC_CITY, AC_POSTAL, AC_COUNTRY, AC_CREATED
};

#define ADDR_COLS	"id, line1_enc, line2_enc, city_enc, " \
	"postal_code_enc, country, created_at"

static const char sql_get[] =
    "SELECT " ADDR_COLS " FROM addresses WHERE id = ? AND user_id = ?";
static const char sql_list[] =
    "SELECT " ADDR_COLS " FROM addresses WHERE user_id = ? AND id > ?"
    " ORDER BY id LIMIT ?";
static const char sql_all[] =
    "SELECT " ADDR_COLS " FROM addresses WHERE user_id = ? ORDER BY id";
static const char sql_count[] =
    "SELECT COUNT(*) FROM addresses WHERE user_id = ?";
static const char sql_insert[] =
    "INSERT INTO addresses (user_id, country, created_at)"
    " VALUES (?, ?, UTC_TIMESTAMP(6))";
static const char sql_seal[] =
    "UPDATE addresses SET line1_enc = ?, line2_enc = ?, city_enc = ?,"
    " postal_code_enc = ? WHERE id = ?";
static const char sql_get_lock[] =
    "SELECT " ADDR_COLS " FROM addresses WHERE id = ? AND user_id = ?"
    " FOR UPDATE";
static const char sql_update[] =
    "UPDATE addresses SET line1_enc = ?, line2_enc = ?, city_enc = ?,"
    " postal_code_enc = ?, country = ? WHERE id = ? AND user_id = ?";
static const char sql_delete[] =
    "DELETE FROM addresses WHERE id = ? AND user_id = ?";

/* The sealed members, in the order of their columns (AC_LINE1...). */
static const struct addr_field {
	const char	*af_name;
	int		 af_flags;
	size_t		 af_max;
} addr_fields[] = {
	{ "line1", VALIDATE_REQUIRED, 200 },
	{ "line2", 0, 200 },
	{ "city", VALIDATE_REQUIRED, 100 },
	{ "postal_code", VALIDATE_REQUIRED, 20 },
};
#define ADDR_NFIELDS	(sizeof addr_fields / sizeof addr_fields[0])

static const char *const addr_known[] = {
	"line1", "line2", "city", "postal_code", "country", NULL
};

enum { ADDR_GONE = 1, ADDR_FULL, ADDR_CRYPTO };

/* Writes row of res as an address of u; -1 when it does not open. */
static int
addresses_gen(yajl_gen g, const struct db_result *res, size_t row,
    const struct user *u)
{
	char		*plain[ADDR_NFIELDS], field[64];
	long long	 id = db_value(res, row, AC_ID)->i;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < ADDR_NFIELDS; i++) {
		const struct db_value *v = db_value(res, row, AC_LINE1 + i);

		snprintf(field, sizeof field, "address/%lld/%s", id,
		    addr_fields[i].af_name);
		plain[i] = NULL;
		if (!v->isnull && (plain[i] = vault_open(u->u_dk, u->u_id,
		    field, v->s)) == NULL)
			rc = -1;
	}
	if (rc == 0) {
		yajl_gen_map_open(g);
		json_gen_kv_int(g, "id", id);
		for (i = 0; i < ADDR_NFIELDS; i++)
			json_gen_kv_str(g, addr_fields[i].af_name, plain[i]);
		json_gen_kv_str(g, "country",
		    db_value(res, row, AC_COUNTRY)->s);
		json_gen_kv_str(g, "created_at",
		    db_value(res, row, AC_CREATED)->s);
		yajl_gen_map_close(g);
	} else
		log_warnx("%s: address %lld of user %lld does not open",
		    __func__, id, u->u_id);
	for (i = 0; i < ADDR_NFIELDS; i++)
		free(plain[i]);
	return rc;
}

int
addresses_gen_all(yajl_gen g, const struct user *u)
{
	struct db_result	*res;
	struct db_param		 p[1];
	size_t			 i;

	p[0] = (struct db_param)DB_INT(u->u_id);
	if (db_query(sql_all, p, 1, &res) == -1)
		return -1;
	yajl_gen_array_open(g);
	for (i = 0; i < res->nrows; i++)
		(void)addresses_gen(g, res, i, u);
	yajl_gen_array_close(g);
	db_result_free(res);
	return 0;
}

void
addresses_list(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[3];
	struct user		 u;
	const char		*s, *errstr;
	char			*next = NULL, scope[64];
	long long		 after = 0, limit;
	size_t			 i, shown;
	yajl_gen		 g;

	if (!profile_me(r, rs, 0, &u))
		return;
	if (request_limit(r, rs, &limit) == -1)
		goto done;
	/* One user's cursor means nothing in another's list. */
	snprintf(scope, sizeof scope, "addresses/%lld", u.u_id);
	if ((s = query_get(&r->rq_query, "cursor")) != NULL && *s != '\0' &&
	    cursor_decode(s, scope, &after, &errstr) == -1) {
		problem_send(r, rs, 400, "%s", errstr);
		goto done;
	}
	p[0] = (struct db_param)DB_INT(u.u_id);
	p[1] = (struct db_param)DB_INT(after);
	p[2] = (struct db_param)DB_INT(limit + 1);
	if (db_query(sql_list, p, 3, &res) == -1) {
		problem_db(r, rs, "addresses list");
		goto done;
	}
	shown = res->nrows > (size_t)limit ? (size_t)limit : res->nrows;
	if (res->nrows > (size_t)limit)
		next = cursor_encode(scope, db_value(res, shown - 1, AC_ID)->i);
	response_header(rs, "Cache-Control", "private, no-cache");
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_cstr(g, "items");
	yajl_gen_array_open(g);
	for (i = 0; i < shown; i++)
		(void)addresses_gen(g, res, i, &u);
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "next_cursor", next);
	yajl_gen_map_close(g);
	free(next);
	db_result_free(res);
done:
	profile_clear(&u);
}

/* Answers address id of u (200, or status 201 with Location). */
static int
addresses_answer(struct request *r, struct response *rs,
    const struct user *u, long long id, int status)
{
	struct db_result	*res;
	struct db_param		 p[2];
	int			 rc;

	p[0] = (struct db_param)DB_INT(id);
	p[1] = (struct db_param)DB_INT(u->u_id);
	if (db_query(sql_get, p, 2, &res) == -1)
		return -1;
	if (res->nrows == 0) {
		db_result_free(res);
		return ADDR_GONE;
	}
	response_reset(rs);
	response_status(rs, status);
	if (status == 201)
		response_header(rs, "Location", "%s/users/me/addresses/%lld",
		    r->rq_script, id);
	response_header(rs, "Cache-Control", "private, no-cache");
	rc = addresses_gen(response_json(rs), res, 0, u) == 0 ? 0 :
	    ADDR_CRYPTO;
	db_result_free(res);
	return rc;
}

void
addresses_get(struct request *r, struct response *rs)
{
	struct user	 u;
	long long	 id;
	int		 rc;

	if (!profile_me(r, rs, 0, &u))
		return;
	if ((id = request_capture_id(r, "id")) == 0)
		rc = ADDR_GONE;
	else
		rc = addresses_answer(r, rs, &u, id, 200);
	if (rc == ADDR_GONE)
		problem_send(r, rs, 404, "no such address");
	else if (rc == ADDR_CRYPTO)
		problem_internal(r, rs, 500, "address does not decrypt");
	else if (rc != 0)
		problem_db(r, rs, "address get");
	profile_clear(&u);
}

/* --- POST ----------------------------------------------------------------- */

struct addr_new {
	struct request	*r;
	struct response	*rs;
	const char	*subject;
	const char	*vals[ADDR_NFIELDS];
	const char	*country;
	long long	 id;
};

static int
addresses_create_txn(void *arg)
{
	struct addr_new		*an = arg;
	struct user		 u;
	struct db_result	*res;
	struct db_param		 p[ADDR_NFIELDS + 1];
	unsigned long long	 id;
	char			*sealed[ADDR_NFIELDS], field[64];
	size_t			 i;
	int			 rc;

	/* The profile row, locked: concurrent adds count one by one. */
	if ((rc = profile_load(an->subject, 1, &u)) != 0)
		return rc == 1 ? ADDR_GONE : rc == -2 ? ADDR_CRYPTO : -1;
	memset(sealed, 0, sizeof sealed);
	p[0] = (struct db_param)DB_INT(u.u_id);
	if ((rc = db_query(sql_count, p, 1, &res)) != 0)
		goto done;
	if (db_value(res, 0, 0)->i >= USERS_ADDRESSES_MAX)
		rc = ADDR_FULL;
	db_result_free(res);
	if (rc != 0)
		goto done;
	p[1] = (struct db_param)DB_STR(an->country);
	if ((rc = db_exec(sql_insert, p, 2, NULL, &id)) != 0)
		goto done;
	an->id = (long long)id;
	for (i = 0; i < ADDR_NFIELDS; i++) {
		snprintf(field, sizeof field, "address/%lld/%s", an->id,
		    addr_fields[i].af_name);
		sealed[i] = vault_seal(u.u_dk, u.u_id, field, an->vals[i]);
		if (an->vals[i] != NULL && sealed[i] == NULL) {
			rc = ADDR_CRYPTO;
			goto done;
		}
		p[i] = (struct db_param)DB_STR(sealed[i]);
	}
	p[ADDR_NFIELDS] = (struct db_param)DB_INT(an->id);
	if ((rc = db_exec(sql_seal, p, ADDR_NFIELDS + 1, NULL, NULL)) != 0)
		goto done;
	if ((rc = addresses_answer(an->r, an->rs, &u, an->id, 201)) == 0)
		rc = idempotency_save(an->r, an->rs);
done:
	for (i = 0; i < ADDR_NFIELDS; i++)
		free(sealed[i]);
	profile_clear(&u);
	return rc;
}

/* Text without control characters. */
static void
addresses_check_text(struct validate *v, const char *field, const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			validate_error(v, field, "must not hold control "
			    "characters");
			return;
		}
}

/*
 * Validates an address body into vals and country; errors go to v.  For
 * a PATCH (patch set) every member is optional, set[i] says whether
 * member i was given, and null clears an optional one.
 */
static void
addresses_input(struct validate *v, yajl_val body, int patch,
    const char *vals[ADDR_NFIELDS], int set[ADDR_NFIELDS],
    const char **country)
{
	yajl_val	 m;
	size_t		 i;
	int		 flags;

	validate_known(v, body, "", addr_known, NULL);
	for (i = 0; i < ADDR_NFIELDS; i++) {
		vals[i] = NULL;
		flags = addr_fields[i].af_flags;
		if (patch) {
			if ((m = json_get(body, addr_fields[i].af_name)) ==
			    NULL)
				continue;
			set[i] = 1;
			if (YAJL_IS_NULL(m) && !(flags & VALIDATE_REQUIRED))
				continue;
		}
		if (validate_string(v, body, addr_fields[i].af_name,
		    addr_fields[i].af_name, flags, 1,
		    addr_fields[i].af_max, &vals[i]) == 1)
			addresses_check_text(v, addr_fields[i].af_name,
			    vals[i]);
	}
	*country = NULL;
	if (patch && json_get(body, "country") == NULL)
		return;
	if (validate_string(v, body, "country", "country",
	    VALIDATE_REQUIRED, 2, 2, country) == 1 &&
	    strspn(*country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 2)
		validate_error(v, "country", "must be an ISO 3166-1 alpha-2 "
		    "code in capitals, like \"FR\"");
}

/*
 * The caller's address body, checked for create (patch 0) or update:
 * its fields in vals/set/country as addresses_input() gives them
 * (pointing into the body, which the caller frees with json_free()), or
 * NULL after answering 401, 400 or 422.
 */
static yajl_val
addresses_body(struct request *r, struct response *rs, int patch,
    const char **vals, int *set, const char **country)
{
	struct validate	 v;
	yajl_val	 body;

	if (!identity_require_user(r, rs))
		return NULL;
	if ((body = request_json(r, rs)) == NULL)
		return NULL;
	if (!YAJL_IS_OBJECT(body)) {
		problem_send(r, rs, 400, "the body must be a JSON object");
		json_free(body);
		return NULL;
	}
	validate_init(&v);
	addresses_input(&v, body, patch, vals, set, country);
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		json_free(body);
		body = NULL;
	}
	validate_free(&v);
	return body;
}

void
addresses_create(struct request *r, struct response *rs)
{
	struct addr_new	 an;
	yajl_val	 body;
	char		*subject;

	memset(&an, 0, sizeof an);
	an.r = r;
	an.rs = rs;
	if ((body = addresses_body(r, rs, 0, an.vals, NULL,
	    &an.country)) == NULL)
		return;
	an.subject = subject = identity_caller(r);
	switch (db_transaction(addresses_create_txn, &an)) {
	case 0:
		log_info("address %lld added for %s rid=%s", an.id, subject,
		    r->rq_id);
		break;
	case ADDR_GONE:
		problem_send(r, rs, 404, "no profile for this account");
		break;
	case ADDR_FULL:
		problem_send(r, rs, 409, "at most %d addresses may be kept",
		    USERS_ADDRESSES_MAX);
		break;
	case ADDR_CRYPTO:
		problem_internal(r, rs, 500, "sealing the address failed");
		break;
	default:
		problem_db(r, rs, "address add");
		break;
	}
	free(subject);
	json_free(body);
}

/* --- PATCH ---------------------------------------------------------------- */

struct addr_patch {
	struct request	*r;
	struct response	*rs;
	const char	*subject;
	long long	 id;
	const char	*vals[ADDR_NFIELDS];
	int		 set[ADDR_NFIELDS];
	const char	*country;	/* NULL: unchanged */
};

/*
 * Opens what is kept, takes what the body changes, and seals every field
 * again with fresh nonces.
 */
static int
addresses_update_txn(void *arg)
{
	struct addr_patch	*ap = arg;
	struct user		 u;
	struct db_result	*res = NULL;
	struct db_param		 p[ADDR_NFIELDS + 3];
	const struct db_value	*dv;
	char			*plain[ADDR_NFIELDS], *sealed[ADDR_NFIELDS];
	char			 field[64];
	const char		*val;
	size_t			 i;
	int			 rc;

	memset(plain, 0, sizeof plain);
	memset(sealed, 0, sizeof sealed);
	if ((rc = profile_load(ap->subject, 1, &u)) != 0)
		return rc == 1 ? ADDR_GONE : rc == -2 ? ADDR_CRYPTO : -1;
	p[0] = (struct db_param)DB_INT(ap->id);
	p[1] = (struct db_param)DB_INT(u.u_id);
	if ((rc = db_query(sql_get_lock, p, 2, &res)) != 0)
		goto done;
	if (res->nrows == 0) {
		rc = ADDR_GONE;
		goto done;
	}
	for (i = 0; i < ADDR_NFIELDS; i++) {
		snprintf(field, sizeof field, "address/%lld/%s", ap->id,
		    addr_fields[i].af_name);
		dv = db_value(res, 0, AC_LINE1 + i);
		if (!ap->set[i] && !dv->isnull && (plain[i] =
		    vault_open(u.u_dk, u.u_id, field, dv->s)) == NULL) {
			rc = ADDR_CRYPTO;
			goto done;
		}
		val = ap->set[i] ? ap->vals[i] : plain[i];
		sealed[i] = vault_seal(u.u_dk, u.u_id, field, val);
		if (val != NULL && sealed[i] == NULL) {
			rc = ADDR_CRYPTO;
			goto done;
		}
		p[i] = (struct db_param)DB_STR(sealed[i]);
	}
	p[ADDR_NFIELDS] = (struct db_param)DB_STR(ap->country != NULL ?
	    ap->country : db_value(res, 0, AC_COUNTRY)->s);
	p[ADDR_NFIELDS + 1] = (struct db_param)DB_INT(ap->id);
	p[ADDR_NFIELDS + 2] = (struct db_param)DB_INT(u.u_id);
	if ((rc = db_exec(sql_update, p, ADDR_NFIELDS + 3, NULL, NULL)) != 0)
		goto done;
	rc = addresses_answer(ap->r, ap->rs, &u, ap->id, 200);
done:
	for (i = 0; i < ADDR_NFIELDS; i++) {
		if (plain[i] != NULL)
			OPENSSL_cleanse(plain[i], strlen(plain[i]));
		free(plain[i]);
		free(sealed[i]);
	}
	db_result_free(res);
	profile_clear(&u);
	return rc;
}

void
addresses_update(struct request *r, struct response *rs)
{
	struct addr_patch	 ap;
	yajl_val		 body;
	char			*subject;

	memset(&ap, 0, sizeof ap);
	ap.r = r;
	ap.rs = rs;
	if ((body = addresses_body(r, rs, 1, ap.vals, ap.set,
	    &ap.country)) == NULL)
		return;
	/* Someone else's id, or garbage: the same 404. */
	if ((ap.id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no such address");
		json_free(body);
		return;
	}
	ap.subject = subject = identity_caller(r);
	switch (db_transaction(addresses_update_txn, &ap)) {
	case 0:
		log_info("address %lld updated for %s rid=%s", ap.id, subject,
		    r->rq_id);
		break;
	case ADDR_GONE:
		problem_send(r, rs, 404, "no such address");
		break;
	case ADDR_CRYPTO:
		problem_internal(r, rs, 500, "address does not decrypt");
		break;
	default:
		problem_db(r, rs, "address update");
		break;
	}
	free(subject);
	json_free(body);
}

/* --- DELETE --------------------------------------------------------------- */

void
addresses_delete(struct request *r, struct response *rs)
{
	struct user		 u;
	struct db_param		 p[2];
	unsigned long long	 n = 0;
	long long		 id;

	if (!profile_me(r, rs, 0, &u))
		return;
	if ((id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no such address");
		goto done;
	}
	p[0] = (struct db_param)DB_INT(id);
	p[1] = (struct db_param)DB_INT(u.u_id);
	if (db_exec(sql_delete, p, 2, &n, NULL) == -1)
		problem_db(r, rs, "address delete");
	else if (n == 0)
		problem_send(r, rs, 404, "no such address");
	else {
		log_info("address %lld of user %lld deleted rid=%s", id,
		    u.u_id, r->rq_id);
		response_status(rs, 204);
	}
done:
	profile_clear(&u);
}
