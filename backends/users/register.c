/*
 * POST /users: registration.  Two services must agree, auth (the
 * identity and its password) and users (the profile), and no
 * half-created account may remain whatever fails:
 *
 *   1. One transaction writes the profile as 'pending': the row (its
 *      email unique), its wrapped data key and its sealed fields.  A
 *      taken email is a 409 here, before auth is bothered.
 *   2. auth creates the identity (POST /auth/identities, as the
 *      "service" role).  On any failure the pending row is deleted:
 *      409 when auth has the username already, 503 when auth is down.
 *   3. One transaction makes the row 'active' with the identity's id as
 *      its subject, writes user.registered (id and email only; never the
 *      password) and stores the Idempotency-Key answer.  If that fails,
 *      the identity is deleted again (compensation) and so is the row.
 *
 * A pending row is invisible to every other endpoint.  If the process
 * dies between 1 and 3 the row stays pending; register_sweep() removes
 * such rows after REGISTER_STALE seconds.  (Should it die in the instant
 * between auth's answer and step 3, auth keeps an identity without a
 * profile: it can log in but holds nothing, and registering the email
 * again answers 409 until an operator deletes it.)
 *
 * The password is only ever in this process's memory and in the request
 * to auth; it is wiped from the buffers this file owns.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "db.h"
#include "idempotency.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "users.h"
#include "validate.h"
#include "xmalloc.h"

#define REGISTER_STALE		300	/* seconds a pending row may live */
#define REGISTER_SWEEP_EVERY	60

static const char sql_drop_stale_email[] =
    "DELETE FROM users WHERE email = ? AND state = 'pending'"
    " AND created_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND";
static const char sql_insert[] =
    "INSERT INTO users (email, state, created_at, updated_at)"
    " VALUES (?, 'pending', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))";
static const char sql_insert_key[] =
    "INSERT INTO data_keys (user_id, wrapped, created_at)"
    " VALUES (?, ?, UTC_TIMESTAMP(6))";
static const char sql_seal[] =
    "UPDATE users SET name_enc = ?, phone_enc = ? WHERE id = ?";
static const char sql_activate[] =
    "UPDATE users SET state = 'active', subject = ?,"
    " updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND state = 'pending'";
static const char sql_created[] =
    "SELECT created_at FROM users WHERE id = ?";
static const char sql_drop_pending[] =
    "DELETE FROM users WHERE id = ? AND state = 'pending'";
static const char sql_sweep[] =
    "DELETE FROM users WHERE state = 'pending'"
    " AND created_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND LIMIT 100";

static const char *const register_known[] = {
	"email", "password", "name", "phone", NULL
};

enum { REG_TAKEN = 1, REG_CRYPTO, REG_LOST };

struct reg {
	struct request	*r;
	struct response	*rs;
	const char	*email;
	const char	*password;
	const char	*name;
	const char	*phone;
	long long	 uid;		/* the pending row */
	char		 subject[32];	/* auth's identity id */
};

void
register_sweep(void)
{
	static time_t		 last;
	struct timespec		 now;
	struct db_param		 p[1];
	unsigned long long	 n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last != 0 && now.tv_sec - last < REGISTER_SWEEP_EVERY)
		return;
	last = now.tv_sec;
	p[0] = (struct db_param)DB_INT(REGISTER_STALE);
	if (db_exec(sql_sweep, p, 1, &n, NULL) == -1)
		log_warnx("%s: %s", __func__, db_error());
	else if (n > 0)
		log_info("%s: removed %llu abandoned registrations", __func__,
		    n);
}

static int
register_pending_txn(void *arg)
{
	struct reg		*rg = arg;
	struct db_param		 p[3];
	unsigned long long	 id;
	unsigned char		 dk[VAULT_KEYLEN];
	char			*wrapped = NULL, *name_enc = NULL;
	char			*phone_enc = NULL;
	int			 rc = REG_CRYPTO;

	p[0] = (struct db_param)DB_STR(rg->email);
	p[1] = (struct db_param)DB_INT(REGISTER_STALE);
	if (db_exec(sql_drop_stale_email, p, 2, NULL, NULL) == -1)
		return -1;
	if (db_exec(sql_insert, p, 1, NULL, &id) == -1)
		return db_errno() == DB_ER_DUP_ENTRY ? REG_TAKEN : -1;
	rg->uid = (long long)id;

	vault_key_new(dk);
	wrapped = vault_wrap(dk, rg->uid);
	name_enc = vault_seal(dk, rg->uid, "name", rg->name);
	phone_enc = vault_seal(dk, rg->uid, "phone", rg->phone);
	OPENSSL_cleanse(dk, sizeof dk);
	if (wrapped == NULL || name_enc == NULL ||
	    (rg->phone != NULL && phone_enc == NULL))
		goto done;
	p[0] = (struct db_param)DB_INT(rg->uid);
	p[1] = (struct db_param)DB_STR(wrapped);
	if ((rc = db_exec(sql_insert_key, p, 2, NULL, NULL)) != 0)
		goto done;
	p[0] = (struct db_param)DB_STR(name_enc);
	p[1] = (struct db_param)DB_STR(phone_enc);
	p[2] = (struct db_param)DB_INT(rg->uid);
	rc = db_exec(sql_seal, p, 3, NULL, NULL);
done:
	free(wrapped);
	free(name_enc);
	free(phone_enc);
	return rc;
}

/*
 * The 201 answer holds no sealed field: it is kept in clear in the
 * Idempotency-Key store for a day.  GET /users/me has the rest.
 */
static int
register_activate_txn(void *arg)
{
	struct reg		*rg = arg;
	struct db_result	*res;
	struct db_param		 p[2];
	unsigned long long	 n;
	yajl_gen		 g;
	int			 rc;

	p[0] = (struct db_param)DB_STR(rg->subject);
	p[1] = (struct db_param)DB_INT(rg->uid);
	if (db_exec(sql_activate, p, 2, &n, NULL) == -1)
		return -1;
	if (n != 1)
		return REG_LOST;
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", rg->subject);
	json_gen_kv_str(g, "email", rg->email);
	yajl_gen_map_close(g);
	rc = outbox_append_gen("user.registered", rg->subject, g);
	yajl_gen_free(g);
	if (rc != 0)
		return rc;
	if (db_query(sql_created, p + 1, 1, &res) == -1)
		return -1;
	response_reset(rg->rs);
	response_status(rg->rs, 201);
	response_header(rg->rs, "Location", "%s/users/me", rg->r->rq_script);
	g = response_json(rg->rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", rg->subject);
	json_gen_kv_str(g, "email", rg->email);
	json_gen_kv_str(g, "created_at", db_value(res, 0, 0)->s);
	yajl_gen_map_close(g);
	db_result_free(res);
	return idempotency_save(rg->r, rg->rs);
}

/* Step 2 or 3 failed: the pending row goes (a failure is logged only). */
static void
register_drop_pending(struct reg *rg)
{
	struct db_param	 p[1];

	p[0] = (struct db_param)DB_INT(rg->uid);
	if (db_exec(sql_drop_pending, p, 1, NULL, NULL) == -1)
		log_warnx("%s: pending user %lld stays for the sweeper: %s",
		    __func__, rg->uid, db_error());
}

/* An email as auth can take it as a username: local@domain.tld. */
static void
register_check_email(struct validate *v, const char *email)
{
	const char	*at, *p;

	for (p = email; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			validate_error(v, "email", "must not hold spaces or "
			    "control characters");
			return;
		}
	if ((at = strchr(email, '@')) == NULL || at == email ||
	    strchr(at + 1, '@') != NULL || at[1] == '\0' ||
	    (p = strrchr(at + 1, '.')) == NULL || p == at + 1 ||
	    p[1] == '\0')
		validate_error(v, "email", "must be an address like "
		    "name@example.com");
}

static void
register_check_password(struct validate *v, const char *password)
{
	const char	*p;

	for (p = password; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20) {
			validate_error(v, "password", "must not hold control "
			    "characters");
			return;
		}
}

/* Validates the body into rg; every error goes to v. */
static void
register_input(struct validate *v, yajl_val body, struct reg *rg)
{
	yajl_val	 ph;

	validate_known(v, body, "", register_known, NULL);
	if (validate_string(v, body, "email", "email", VALIDATE_REQUIRED, 3,
	    USERS_EMAIL_MAX, &rg->email) == 1)
		register_check_email(v, rg->email);
	if (validate_string(v, body, "password", "password",
	    VALIDATE_REQUIRED, USERS_PASSWORD_MIN, USERS_PASSWORD_MAX,
	    &rg->password) == 1)
		register_check_password(v, rg->password);
	if (validate_string(v, body, "name", "name", VALIDATE_REQUIRED, 1,
	    USERS_NAME_MAX, &rg->name) == 1)
		profile_check_name(v, rg->name);
	if ((ph = json_get(body, "phone")) != NULL && !YAJL_IS_NULL(ph) &&
	    validate_string(v, body, "phone", "phone", 0, 1, USERS_PHONE_MAX,
	    &rg->phone) == 1)
		profile_check_phone(v, rg->phone);
}

/* Step 3 failed: delete the identity again, then the pending row. */
static void
register_compensate(struct reg *rg)
{
	if (authcall_delete(rg->r->rq_id, rg->subject) != AUTHCALL_OK)
		log_warnx("%s: identity %s of a failed registration could "
		    "not be deleted; it has no profile rid=%s", __func__,
		    rg->subject, rg->r->rq_id);
	register_drop_pending(rg);
}

/* Runs steps 2 and 3 once the pending row exists. */
static void
register_complete(struct reg *rg)
{
	struct request		*r = rg->r;
	struct response		*rs = rg->rs;
	struct authcall_answer	 ans;
	long long		 identity = 0;
	int			 rc;

	switch (authcall_create(r->rq_id, rg->email, rg->password, &identity,
	    &ans)) {
	case AUTHCALL_OK:
		break;
	case AUTHCALL_CONFLICT:
		register_drop_pending(rg);
		problem_send(r, rs, 409, "an account with this email "
		    "exists already");
		return;
	case AUTHCALL_REFUSED:
		register_drop_pending(rg);
		/* auth's own words (a 422 of a rule ours missed). */
		problem_send(r, rs, ans.status, "the identity was refused");
		if (ans.body != NULL) {
			response_reset(rs);
			response_status(rs, ans.status);
			response_body(rs, ans.ctype, ans.body, ans.bodylen);
		}
		authcall_answer_free(&ans);
		return;
	default:
		register_drop_pending(rg);
		problem_send(r, rs, 503, "the account service is unavailable;"
		    " nothing was created, try again later");
		response_header(rs, "Retry-After", "5");
		return;
	}
	authcall_answer_free(&ans);
	snprintf(rg->subject, sizeof rg->subject, "%lld", identity);
	if ((rc = db_transaction(register_activate_txn, rg)) == 0) {
		log_info("user %lld registered as identity %s rid=%s",
		    rg->uid, rg->subject, r->rq_id);
		return;
	}
	register_compensate(rg);
	if (rc == REG_LOST)
		problem_internal(r, rs, 503, "the pending registration was "
		    "removed while auth was called");
	else
		problem_db(r, rs, "registration");
}

void
register_handler(struct request *r, struct response *rs)
{
	struct reg	 rg;
	struct validate	 v;
	yajl_val	 body;
	int		 rc;

	if ((body = request_json(r, rs)) == NULL)
		return;
	memset(&rg, 0, sizeof rg);
	rg.r = r;
	rg.rs = rs;
	validate_init(&v);
	if (!YAJL_IS_OBJECT(body)) {
		problem_send(r, rs, 400, "the body must be a JSON object");
		goto done;
	}
	register_input(&v, body, &rg);
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		goto done;
	}
	register_sweep();
	gdpr_sweep(0);
	switch ((rc = db_transaction(register_pending_txn, &rg))) {
	case 0:
		register_complete(&rg);
		break;
	case REG_TAKEN:
		problem_send(r, rs, 409, "an account with this email "
		    "exists already");
		break;
	case REG_CRYPTO:
		problem_internal(r, rs, 500, "sealing the profile failed");
		break;
	default:
		problem_db(r, rs, "registration");
		break;
	}
done:
	validate_free(&v);
	/* The tree holds the password; wipe it before it is freed. */
	if (rg.password != NULL)
		OPENSSL_cleanse((char *)(uintptr_t)rg.password,
		    strlen(rg.password));
	if (r->rq_body != NULL)
		OPENSSL_cleanse(r->rq_body, r->rq_bodylen);
	json_free(body);
}
