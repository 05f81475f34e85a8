/*
 * GDPR: the export of what the user's data is (Art. 15, 20) and its
 * erasure (Art. 17).
 *
 * Export: everything users holds, decrypted, and auth's part (asked of
 * auth, GET /auth/identities/{id}: username, roles, times, sessions,
 * never a hash), in one JSON document, with a "sections" list naming
 * every service of the platform and whether its part is included.  The
 * other services join later through events delivered by the relay (see
 * agora-users(8)).  Without auth's part there is no export: 503.
 *
 * Erase (DELETE /users/me, 202):
 *   1. One transaction deletes the user's wrapped data key (every sealed
 *      value of theirs, here and in any backup, is now noise), their
 *      addresses, clears the email and sealed columns, marks the row
 *      'erased', drops the answers kept for their Idempotency-Keys
 *      (which hold decrypted addresses) and that of their registration,
 *      removes the email from their user.registered event, and writes
 *      user.erased for the other services.
 *   2. auth deletes the identity (no more logins; its refresh tokens are
 *      revoked).  If auth cannot be reached the erasure stands and the
 *      identity deletion is retried by gdpr_sweep(); the 202 says so.
 * The row itself stays as a tombstone of (id, subject, erased_at): it
 * holds nothing personal, and it keeps the subject from being reused.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "users.h"
#include "xmalloc.h"

#define GDPR_SWEEP_EVERY	10	/* seconds, per process (default) */
#define GDPR_SWEEP_BATCH	20

static const char sql_lock[] =
    "SELECT id FROM users WHERE subject = ? AND state = 'active'"
    " FOR UPDATE";
static const char sql_shred[] =
    "DELETE FROM data_keys WHERE user_id = ?";
static const char sql_drop_addresses[] =
    "DELETE FROM addresses WHERE user_id = ?";
static const char sql_tombstone[] =
    "UPDATE users SET state = 'erased', email = NULL, name_enc = NULL,"
    " phone_enc = NULL, version = version + 1,"
    " erased_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6)"
    " WHERE id = ?";
/* Their own keys, and their registration's answer: {"id":"7",... */
static const char sql_drop_idempotency[] =
    "DELETE FROM idempotency_keys WHERE scope = ?"
    " OR (scope = '' AND body LIKE ?)";
static const char sql_scrub_events[] =
    "UPDATE outbox SET data = JSON_REMOVE(data, '$.email')"
    " WHERE aggregate_id = ? AND type = 'user.registered'"
    " AND JSON_EXISTS(data, '$.email')";
static const char sql_identity_gone[] =
    "UPDATE users SET identity_deleted = 1 WHERE id = ?";
static const char sql_unfinished[] =
    "SELECT id, subject FROM users WHERE state = 'erased'"
    " AND identity_deleted = 0 ORDER BY id LIMIT ?";

/* Every service of the platform, in the order of DESIGN.md. */
static const struct gdpr_section {
	const char	*gs_service;
	int		 gs_included;	/* its part is exported today */
} gdpr_sections[] = {
	{ "users", 1 },
	{ "auth", 1 },
	{ "catalog", 0 },
	{ "inventory", 0 },
	{ "orders", 0 },
	{ "payments", 0 },
	{ "shipping", 0 },
	{ "notify", 0 },
};
#define GDPR_NSECTIONS	(sizeof gdpr_sections / sizeof gdpr_sections[0])

/* Writes the parsed JSON value v to g as it is. */
static void
gdpr_gen_value(yajl_gen g, yajl_val v)
{
	size_t	 i;

	if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (i = 0; i < v->u.object.len; i++) {
			json_gen_cstr(g, v->u.object.keys[i]);
			gdpr_gen_value(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (i = 0; i < v->u.array.len; i++)
			gdpr_gen_value(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_STRING(v))
		json_gen_cstr(g, v->u.string);
	else if (YAJL_IS_NUMBER(v))
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
	else if (YAJL_IS_TRUE(v))
		yajl_gen_bool(g, 1);
	else if (YAJL_IS_FALSE(v))
		yajl_gen_bool(g, 0);
	else
		yajl_gen_null(g);
}

/*
 * auth's part of the export: 0 and *part (NULL when auth has no such
 * identity), or -1 after answering 503.
 */
static int
gdpr_auth_part(struct request *r, struct response *rs, const char *subject,
    yajl_val *part)
{
	struct authcall_answer	 ans;
	char			 err[128];
	int			 rc = 0;

	*part = NULL;
	err[0] = '\0';
	switch (authcall_export(r->rq_id, subject, &ans)) {
	case AUTHCALL_OK:
		*part = json_parse(ans.body, ans.bodylen, ans.bodylen + 1, 8,
		    err, sizeof err);
		if (*part == NULL || !YAJL_IS_OBJECT(*part)) {
			log_warnx("%s: auth's export does not parse: %s rid=%s",
			    __func__, err, r->rq_id);
			json_free(*part);
			*part = NULL;
			rc = -1;
		}
		break;
	case AUTHCALL_REFUSED:
		/* No identity (its deletion is pending): nothing held. */
		break;
	default:
		rc = -1;
		break;
	}
	authcall_answer_free(&ans);
	if (rc == -1) {
		problem_send(r, rs, 503, "the account service is unavailable;"
		    " its part of the export cannot be included, try again "
		    "later");
		response_header(rs, "Retry-After", "5");
	}
	return rc;
}

void
gdpr_export(struct request *r, struct response *rs)
{
	struct user	 u;
	yajl_gen	 g;
	yajl_val	 auth;
	time_t		 now = time(NULL);
	struct tm	 tm;
	char		 stamp[32];
	size_t		 i;

	if (!profile_me(r, rs, 0, &u))
		return;
	if (gdpr_auth_part(r, rs, u.u_subject, &auth) == -1) {
		profile_clear(&u);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	response_header(rs, "Cache-Control", "no-store");
	response_header(rs, "Content-Disposition",
	    "attachment; filename=\"agora-export-%s.json\"", u.u_subject);
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "format", "agora-export/1");
	json_gen_kv_str(g, "id", u.u_subject);
	json_gen_kv_str(g, "generated_at", stamp);
	json_gen_cstr(g, "sections");
	yajl_gen_array_open(g);
	for (i = 0; i < GDPR_NSECTIONS; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "service", gdpr_sections[i].gs_service);
		json_gen_cstr(g, "included");
		yajl_gen_bool(g, gdpr_sections[i].gs_included);
		if (!gdpr_sections[i].gs_included)
			json_gen_kv_str(g, "note", "joins the export through "
			    "events in a later release");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_gen_cstr(g, "users");
	yajl_gen_map_open(g);
	json_gen_cstr(g, "profile");
	profile_gen(g, &u);
	json_gen_cstr(g, "addresses");
	if (addresses_gen_all(g, &u) == -1) {
		problem_db(r, rs, "export addresses");
		json_free(auth);
		profile_clear(&u);
		return;
	}
	yajl_gen_map_close(g);
	json_gen_cstr(g, "auth");
	if (auth != NULL)
		gdpr_gen_value(g, auth);
	else
		yajl_gen_null(g);
	yajl_gen_map_close(g);
	json_free(auth);
	log_info("export of %s rid=%s", u.u_subject, r->rq_id);
	profile_clear(&u);
}

struct gdpr_erase {
	const char	*subject;
	long long	 uid;
};

static int
gdpr_erase_txn(void *arg)
{
	struct gdpr_erase	*ge = arg;
	struct db_result	*res;
	struct db_param		 p[2];
	yajl_gen		 g;
	char			*like;
	int			 rc;

	p[0] = (struct db_param)DB_STR(ge->subject);
	if (db_query(sql_lock, p, 1, &res) == -1)
		return -1;
	if (res->nrows == 0) {
		db_result_free(res);
		return 1;
	}
	ge->uid = db_value(res, 0, 0)->i;
	db_result_free(res);
	p[0] = (struct db_param)DB_INT(ge->uid);
	if (db_exec(sql_shred, p, 1, NULL, NULL) == -1 ||
	    db_exec(sql_drop_addresses, p, 1, NULL, NULL) == -1 ||
	    db_exec(sql_tombstone, p, 1, NULL, NULL) == -1)
		return -1;
	p[0] = (struct db_param)DB_STR(ge->subject);
	xasprintf(&like, "{\"id\":\"%s\",%%", ge->subject);
	p[1] = (struct db_param)DB_STR(like);
	rc = db_exec(sql_drop_idempotency, p, 2, NULL, NULL);
	free(like);
	if (rc == -1 || db_exec(sql_scrub_events, p, 1, NULL, NULL) == -1)
		return -1;
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", ge->subject);
	yajl_gen_map_close(g);
	rc = outbox_append_gen("user.erased", ge->subject, g);
	yajl_gen_free(g);
	return rc;
}

/* Deletes the identity of an erased user; 1 when auth did it. */
static int
gdpr_identity_delete(const char *rid, long long uid, const char *subject)
{
	struct db_param	 p[1];

	if (authcall_delete(rid, subject) != AUTHCALL_OK)
		return 0;
	p[0] = (struct db_param)DB_INT(uid);
	if (db_exec(sql_identity_gone, p, 1, NULL, NULL) == -1)
		log_warnx("%s: user %lld: %s", __func__, uid, db_error());
	return 1;
}

void
gdpr_sweep(int force)
{
	static time_t		 last;
	struct timespec		 now;
	struct db_result	*res;
	struct db_param		 p[1];
	static long		 every = -1;
	const char		*s;
	size_t			 i;

	if (every == -1) {
		/* AGORA_USERS_SWEEP_SECS: tests shorten the wait. */
		s = getenv("AGORA_USERS_SWEEP_SECS");
		every = s != NULL && *s >= '0' && *s <= '9' ?
		    strtol(s, NULL, 10) : GDPR_SWEEP_EVERY;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && last != 0 && now.tv_sec - last < every)
		return;
	last = now.tv_sec;
	p[0] = (struct db_param)DB_INT(GDPR_SWEEP_BATCH);
	if (db_query(sql_unfinished, p, 1, &res) == -1) {
		log_warnx("%s: %s", __func__, db_error());
		return;
	}
	for (i = 0; i < res->nrows; i++)
		if (gdpr_identity_delete("sweep", db_value(res, i, 0)->i,
		    db_value(res, i, 1)->s))
			log_info("%s: identity %s of an erased user deleted",
			    __func__, db_value(res, i, 1)->s);
	db_result_free(res);
}

void
gdpr_erase(struct request *r, struct response *rs)
{
	struct gdpr_erase	 ge;
	char			*subject;
	yajl_gen		 g;
	int			 rc, gone;

	if (!identity_require_user(r, rs))
		return;
	gdpr_sweep(0);
	memset(&ge, 0, sizeof ge);
	ge.subject = subject = identity_caller(r);
	if ((rc = db_transaction(gdpr_erase_txn, &ge)) == 1) {
		problem_send(r, rs, 404, "no profile for this account");
		goto done;
	}
	if (rc != 0) {
		problem_db(r, rs, "erase");
		goto done;
	}
	gone = gdpr_identity_delete(r->rq_id, ge.uid, subject);
	log_info("user %lld (%s) erased, identity %s rid=%s", ge.uid,
	    subject, gone ? "deleted" : "deletion pending", r->rq_id);
	response_status(rs, 202);
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "id", subject);
	json_gen_kv_str(g, "state", "erased");
	json_gen_cstr(g, "identity_deleted");
	yajl_gen_bool(g, gone);
	yajl_gen_map_close(g);
done:
	free(subject);
}
