/*
 * Profiles: the caller's own (GET/PATCH /users/me) and the admin list
 * (GET /users).  A profile is read with its wrapped data key, which is
 * unwrapped and used to open the sealed fields, and wiped afterwards.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "cursor.h"
#include "db.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "users.h"
#include "validate.h"
#include "xmalloc.h"

#define PROFILE_SCOPE	"users"

enum profile_col {
	PC_ID, PC_SUBJECT, PC_EMAIL, PC_NAME, PC_PHONE, PC_VERSION,
	PC_CREATED, PC_UPDATED, PC_WRAPPED
};

#define PROFILE_COLS	"u.id, u.subject, u.email, u.name_enc, " \
	"u.phone_enc, u.version, u.created_at, u.updated_at, k.wrapped"
#define PROFILE_FROM	" FROM users u JOIN data_keys k ON k.user_id = u.id"

static const char sql_load[] =
    "SELECT " PROFILE_COLS PROFILE_FROM
    " WHERE u.subject = ? AND u.state = 'active'";
static const char sql_load_lock[] =
    "SELECT " PROFILE_COLS PROFILE_FROM
    " WHERE u.subject = ? AND u.state = 'active' FOR UPDATE";
static const char sql_list[] =
    "SELECT " PROFILE_COLS PROFILE_FROM
    " WHERE u.state = 'active' AND u.id > ? ORDER BY u.id LIMIT ?";
static const char sql_update[] =
    "UPDATE users SET name_enc = ?, phone_enc = ?, version = version + 1,"
    " updated_at = UTC_TIMESTAMP(6) WHERE id = ?";

static const char *const patch_known[] = { "name", "phone", NULL };
/* Read-only members a client may echo back from GET. */
static const char *const patch_ignored[] = {
	"id", "email", "created_at", "updated_at", "version", NULL
};

void
profile_clear(struct user *u)
{
	if (u == NULL)
		return;
	free(u->u_subject);
	free(u->u_email);
	if (u->u_name != NULL)
		OPENSSL_cleanse(u->u_name, strlen(u->u_name));
	free(u->u_name);
	if (u->u_phone != NULL)
		OPENSSL_cleanse(u->u_phone, strlen(u->u_phone));
	free(u->u_phone);
	free(u->u_created);
	free(u->u_updated);
	OPENSSL_cleanse(u->u_dk, sizeof u->u_dk);
	memset(u, 0, sizeof *u);
}

/* Fills u from row of res: 0, or -2 when a value does not decrypt. */
static int
profile_from_row(const struct db_result *res, size_t row, struct user *u)
{
	const struct db_value	*v;

#define COL(c)	db_value(res, row, (c))
	memset(u, 0, sizeof *u);
	u->u_id = COL(PC_ID)->i;
	u->u_subject = xstrdup(COL(PC_SUBJECT)->isnull ? "" :
	    COL(PC_SUBJECT)->s);
	u->u_email = xstrdup(COL(PC_EMAIL)->isnull ? "" : COL(PC_EMAIL)->s);
	u->u_version = COL(PC_VERSION)->i;
	u->u_created = xstrdup(COL(PC_CREATED)->s);
	u->u_updated = xstrdup(COL(PC_UPDATED)->s);
	if (vault_unwrap(COL(PC_WRAPPED)->s, u->u_id, u->u_dk) == -1)
		goto bad;
	v = COL(PC_NAME);
	if (!v->isnull &&
	    (u->u_name = vault_open(u->u_dk, u->u_id, "name", v->s)) == NULL)
		goto bad;
	v = COL(PC_PHONE);
	if (!v->isnull &&
	    (u->u_phone = vault_open(u->u_dk, u->u_id, "phone", v->s)) ==
	    NULL)
		goto bad;
	return 0;
bad:
	log_warnx("%s: user %lld: a sealed value does not open under its "
	    "key", __func__, u->u_id);
	profile_clear(u);
	return -2;
#undef COL
}

int
profile_load(const char *subject, int lock, struct user *u)
{
	struct db_result	*res;
	struct db_param		 p[1];
	int			 rc;

	memset(u, 0, sizeof *u);
	p[0] = (struct db_param)DB_STR(subject);
	if (db_query(lock ? sql_load_lock : sql_load, p, 1, &res) == -1)
		return -1;
	rc = res->nrows == 0 ? 1 : profile_from_row(res, 0, u);
	db_result_free(res);
	return rc;
}

void
profile_gen(yajl_gen g, const struct user *u)
{
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", u->u_subject);
	json_gen_kv_str(g, "email", u->u_email);
	json_gen_kv_str(g, "name", u->u_name != NULL ? u->u_name : "");
	json_gen_kv_str(g, "phone", u->u_phone);
	json_gen_kv_int(g, "version", u->u_version);
	json_gen_kv_str(g, "created_at", u->u_created);
	json_gen_kv_str(g, "updated_at", u->u_updated);
	yajl_gen_map_close(g);
}

int
profile_me(struct request *r, struct response *rs, int lock, struct user *u)
{
	char	*subject;
	int	 rc;

	memset(u, 0, sizeof *u);
	if (!identity_require_user(r, rs))
		return 0;
	subject = identity_caller(r);
	rc = profile_load(subject, lock, u);
	free(subject);
	switch (rc) {
	case 0:
		return 1;
	case 1:
		problem_send(r, rs, 404, "no profile for this account");
		break;
	case -2:
		problem_internal(r, rs, 500, "profile does not decrypt");
		break;
	default:
		problem_db(r, rs, "profile load");
		break;
	}
	return 0;
}

static void
profile_etag(char *buf, size_t len, long long version)
{
	snprintf(buf, len, "\"%lld\"", version);
}

/* 200 with the profile, its ETag and no caching by shared caches. */
static void
profile_answer(struct response *rs, const struct user *u)
{
	char	 etag[32];

	profile_etag(etag, sizeof etag, u->u_version);
	response_header(rs, "ETag", "%s", etag);
	response_header(rs, "Cache-Control", "private, no-cache");
	profile_gen(response_json(rs), u);
}

void
profile_get(struct request *r, struct response *rs)
{
	struct user	 u;
	char		 etag[32];

	if (!profile_me(r, rs, 0, &u))
		return;
	profile_etag(etag, sizeof etag, u.u_version);
	if (request_etag_match(request_header(r, "If-None-Match"), etag, 1)) {
		response_status(rs, 304);
		response_header(rs, "ETag", "%s", etag);
	} else
		profile_answer(rs, &u);
	profile_clear(&u);
}

/* --- PATCH /users/me ---------------------------------------------------- */

enum { PATCH_GONE = 1, PATCH_PRECONDITION, PATCH_CRYPTO };

struct profile_patch {
	struct request	*r;
	struct response	*rs;
	const char	*subject;
	const char	*if_match;
	const char	*name;		/* NULL: unchanged */
	const char	*phone;
	int		 set_phone;	/* phone given (NULL: cleared) */
	char		 changed[32];
};

static int
profile_patch_txn(void *arg)
{
	struct profile_patch	*pp = arg;
	struct user		 u;
	struct db_param		 p[3];
	yajl_gen		 g;
	char			*name_enc = NULL, *phone_enc = NULL, etag[32];
	const char		*phone;
	int			 rc;

	if ((rc = profile_load(pp->subject, 1, &u)) != 0)
		return rc == 1 ? PATCH_GONE : rc == -2 ? PATCH_CRYPTO : -1;
	profile_etag(etag, sizeof etag, u.u_version);
	if (pp->if_match != NULL &&
	    !request_etag_match(pp->if_match, etag, 0)) {
		profile_clear(&u);
		return PATCH_PRECONDITION;
	}
	/* Fresh nonces for both fields, changed or not. */
	phone = pp->set_phone ? pp->phone : u.u_phone;
	name_enc = vault_seal(u.u_dk, u.u_id, "name",
	    pp->name != NULL ? pp->name : u.u_name);
	phone_enc = vault_seal(u.u_dk, u.u_id, "phone", phone);
	if (name_enc == NULL || (phone != NULL && phone_enc == NULL)) {
		rc = PATCH_CRYPTO;
		goto done;
	}
	p[0] = (struct db_param)DB_STR(name_enc);
	p[1] = (struct db_param)DB_STR(phone_enc);
	p[2] = (struct db_param)DB_INT(u.u_id);
	if ((rc = db_exec(sql_update, p, 3, NULL, NULL)) != 0)
		goto done;
	/* The event says what changed, never to what. */
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", u.u_subject);
	json_gen_cstr(g, "changed");
	yajl_gen_array_open(g);
	if (pp->name != NULL)
		json_gen_cstr(g, "name");
	if (pp->set_phone)
		json_gen_cstr(g, "phone");
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	rc = outbox_append_gen("user.updated", u.u_subject, g);
	yajl_gen_free(g);
	if (rc != 0)
		goto done;
	profile_clear(&u);
	if ((rc = profile_load(pp->subject, 0, &u)) != 0) {
		rc = rc == -2 ? PATCH_CRYPTO : -1;
		goto done;
	}
	response_reset(pp->rs);
	profile_answer(pp->rs, &u);
done:
	profile_clear(&u);
	free(name_enc);
	free(phone_enc);
	return rc;
}

void
profile_check_phone(struct validate *v, const char *phone)
{
	size_t	 digits = 0;
	const char *p;

	for (p = phone; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (strchr("+-()./ ", *p) == NULL) {
			validate_error(v, "phone", "may hold only digits, "
			    "spaces and + - ( ) . /");
			return;
		}
	}
	if (digits < 3)
		validate_error(v, "phone", "must hold at least 3 digits");
}

void
profile_check_name(struct validate *v, const char *name)
{
	const char	*p;

	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			validate_error(v, "name", "must not hold control "
			    "characters");
			return;
		}
}

void
profile_patch(struct request *r, struct response *rs)
{
	struct profile_patch	 pp;
	struct user		 cur;
	struct validate		 v;
	yajl_val		 body, ph;
	char			*subject = NULL, etag[32];
	int			 rc;

	if (!identity_require_user(r, rs))
		return;
	if ((body = request_json(r, rs)) == NULL)
		return;
	/* The current profile: 401/404 first, and the email to compare. */
	if (!profile_me(r, rs, 0, &cur)) {
		json_free(body);
		return;
	}
	memset(&pp, 0, sizeof pp);
	pp.r = r;
	pp.rs = rs;
	validate_init(&v);
	if (!YAJL_IS_OBJECT(body)) {
		problem_send(r, rs, 400, "the body must be a JSON object");
		goto done;
	}
	validate_known(&v, body, "", patch_known, patch_ignored);
	/* Echoing the email back is fine; changing it is auth's business. */
	if ((ph = json_get(body, "email")) != NULL &&
	    (!YAJL_IS_STRING(ph) || strcasecmp(ph->u.string,
	    cur.u_email) != 0))
		validate_error(&v, "email", "cannot be changed");
	if (json_get(body, "name") != NULL &&
	    validate_string(&v, body, "name", "name", VALIDATE_REQUIRED, 1,
	    USERS_NAME_MAX, &pp.name) == 1)
		profile_check_name(&v, pp.name);
	if ((ph = json_get(body, "phone")) != NULL) {
		pp.set_phone = 1;
		if (!YAJL_IS_NULL(ph) && validate_string(&v, body, "phone",
		    "phone", 0, 1, USERS_PHONE_MAX, &pp.phone) == 1)
			profile_check_phone(&v, pp.phone);
	}
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		goto done;
	}
	pp.if_match = request_header(r, "If-Match");
	if (pp.name == NULL && !pp.set_phone) {
		/* Nothing to change: no new version, no event. */
		profile_etag(etag, sizeof etag, cur.u_version);
		if (pp.if_match != NULL &&
		    !request_etag_match(pp.if_match, etag, 0))
			problem_send(r, rs, 412, "the profile has changed "
			    "since If-Match's version");
		else
			profile_answer(rs, &cur);
		goto done;
	}
	pp.subject = subject = identity_caller(r);
	switch ((rc = db_transaction(profile_patch_txn, &pp))) {
	case 0:
		log_info("profile of %s updated rid=%s", subject, r->rq_id);
		break;
	case PATCH_GONE:
		problem_send(r, rs, 404, "no profile for this account");
		break;
	case PATCH_PRECONDITION:
		problem_send(r, rs, 412, "the profile has changed since "
		    "If-Match's version");
		break;
	case PATCH_CRYPTO:
		problem_internal(r, rs, 500, "profile does not decrypt");
		break;
	default:
		problem_db(r, rs, "profile update");
		break;
	}
done:
	profile_clear(&cur);
	free(subject);
	validate_free(&v);
	json_free(body);
}

/* --- GET /users (admin) -------------------------------------------------- */

void
profile_list(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[2];
	struct user		 u;
	const char		*s, *errstr;
	char			*next = NULL;
	long long		 after = 0, limit;
	size_t			 i, shown;
	yajl_gen		 g;

	if (!identity_require_role(r, rs, "admin"))
		return;
	if (request_limit(r, rs, &limit) == -1)
		return;
	gdpr_sweep(0);
	if ((s = query_get(&r->rq_query, "cursor")) != NULL && *s != '\0' &&
	    cursor_decode(s, PROFILE_SCOPE, &after, &errstr) == -1) {
		problem_send(r, rs, 400, "%s", errstr);
		return;
	}
	p[0] = (struct db_param)DB_INT(after);
	p[1] = (struct db_param)DB_INT(limit + 1);
	if (db_query(sql_list, p, 2, &res) == -1) {
		problem_db(r, rs, "users list");
		return;
	}
	shown = res->nrows > (size_t)limit ? (size_t)limit : res->nrows;
	if (res->nrows > (size_t)limit)
		next = cursor_encode(PROFILE_SCOPE,
		    db_value(res, shown - 1, PC_ID)->i);
	response_header(rs, "Cache-Control", "private, no-store");
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_cstr(g, "items");
	yajl_gen_array_open(g);
	for (i = 0; i < shown; i++) {
		/* One unreadable profile must not hide the others. */
		if (profile_from_row(res, i, &u) != 0)
			continue;
		profile_gen(g, &u);
		profile_clear(&u);
	}
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "next_cursor", next);
	yajl_gen_map_close(g);
	free(next);
	db_result_free(res);
}
