/*
 * GDPR: the export of what the user's data is (Art. 15, 20) and its
 * erasure (Art. 17).
 *
 * Export: everything users holds, decrypted, in one JSON document, with
 * a "sections" list naming every service of the platform.  Today only
 * users contributes; the other services join later through events
 * delivered by the relay, and the list says which sections are
 * included (see agora-users(8)).
 *
 * Erase (DELETE /users/me, 202):
 *   1. One transaction deletes the user's wrapped data key (every sealed
 *      value of theirs, here and in any backup, is now noise), their
 *      addresses, clears the email and sealed columns, marks the row
 *      'erased', and writes user.erased for the other services.
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
static const char sql_identity_gone[] =
    "UPDATE users SET identity_deleted = 1 WHERE id = ?";
static const char sql_unfinished[] =
    "SELECT id, subject FROM users WHERE state = 'erased'"
    " AND identity_deleted = 0 ORDER BY id LIMIT ?";

/* Every service of the platform, in the order of DESIGN.md. */
static const char *const gdpr_services[] = {
	"users", "auth", "catalog", "inventory", "orders", "payments",
	"shipping", "notify", NULL
};

void
gdpr_export(struct request *r, struct response *rs)
{
	struct user	 u;
	yajl_gen	 g;
	time_t		 now = time(NULL);
	struct tm	 tm;
	char		 stamp[32];
	size_t		 i;

	if (!profile_me(r, rs, 0, &u))
		return;
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
	for (i = 0; gdpr_services[i] != NULL; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "service", gdpr_services[i]);
		json_gen_cstr(g, "included");
		yajl_gen_bool(g, i == 0);
		if (i != 0)
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
		profile_clear(&u);
		return;
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
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
	struct db_param		 p[1];
	yajl_gen		 g;
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
