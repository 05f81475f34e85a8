/*
 * Reservations: stock held for an order, all lines or none, until it is
 * committed (the goods leave), released, or it expires.
 *
 * Overselling is impossible by construction: each line is one
 *	UPDATE stock SET reserved = reserved + ? WHERE sku = ?
 *	    AND on_hand - reserved >= ?
 * in one transaction; InnoDB runs it on the latest committed row under an
 * exclusive row lock, so concurrent reservations of one sku serialise on
 * that row and each sees what the previous ones left.  A line that
 * matches no row is short, and the whole transaction rolls back.  Lines
 * are taken in sku order so that two multi-line reservations lock rows in
 * the same order (fewer deadlocks; db_transaction() retries the rest).
 *
 * Lock order everywhere else: the reservation row, then its stock rows in
 * sku order.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "idempotency.h"
#include "identity.h"
#include "inventory.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "validate.h"
#include "xmalloc.h"

#define RESV_LINES_MAX		100
#define RESV_QTY_MAX		1000000LL
#define RESV_TTL_DEFAULT	900		/* 15 minutes */
#define RESV_TTL_MAX		86400
#define RESV_ORDER_MAX		64

enum resv_col {
	RC_ID, RC_ORDER, RC_STATE, RC_CREATED, RC_EXPIRES, RC_UPDATED,
	RC_DUE
};

#define RESV_COLS	"id, order_ref, state, created_at, expires_at, " \
	"updated_at, expires_at <= UTC_TIMESTAMP(6)"

static const char sql_get[] =
    "SELECT " RESV_COLS " FROM reservations WHERE id = ?";
static const char sql_lock[] =
    "SELECT " RESV_COLS " FROM reservations WHERE id = ? FOR UPDATE";
static const char sql_lines[] =
    "SELECT sku, qty FROM reservation_lines WHERE reservation_id = ?"
    " ORDER BY sku";
static const char sql_insert[] =
    "INSERT INTO reservations (order_ref, state, created_by, created_at,"
    " expires_at, updated_at) VALUES (?, 'active', ?, UTC_TIMESTAMP(6),"
    " UTC_TIMESTAMP(6) + INTERVAL ? SECOND, UTC_TIMESTAMP(6))";
static const char sql_reserve[] =
    "UPDATE stock SET reserved = reserved + ?, version = version + 1,"
    " updated_at = UTC_TIMESTAMP(6)"
    " WHERE sku = ? AND on_hand - reserved >= ?";
static const char sql_available[] =
    "SELECT on_hand - reserved FROM stock WHERE sku = ?";
static const char sql_insert_line[] =
    "INSERT INTO reservation_lines (reservation_id, sku, qty)"
    " VALUES (?, ?, ?)";
static const char sql_unreserve[] =
    "UPDATE stock SET reserved = reserved - ?, version = version + 1,"
    " updated_at = UTC_TIMESTAMP(6) WHERE sku = ? AND reserved >= ?";
static const char sql_ship[] =
    "UPDATE stock SET on_hand = on_hand - ?, reserved = reserved - ?,"
    " version = version + 1, updated_at = UTC_TIMESTAMP(6)"
    " WHERE sku = ? AND reserved >= ? AND on_hand >= ?";
static const char sql_set_state[] =
    "UPDATE reservations SET state = ?, updated_at = UTC_TIMESTAMP(6)"
    " WHERE id = ?";

/* Outcomes of a transaction besides 0 (done) and -1 (db error). */
enum resv_outcome {
	RESV_NOT_FOUND = 1,
	RESV_SHORT,		/* a line could not be reserved */
	RESV_BAD_STATE,		/* e.g. commit of a released reservation */
	RESV_EXPIRED,		/* active, but past expires_at */
	RESV_UNCHANGED,		/* already in the state asked for */
	RESV_INCONSISTENT	/* stock does not hold what the lines say */
};

struct resv_line {
	const char	*sku;		/* points into the request body */
	long long	 qty;
	long long	 available;	/* when short; -1: unknown sku */
	int		 isshort;
};

/* One request's work; a transaction function may run several times. */
struct resv_work {
	struct request		*r;
	struct response		*rs;
	long long		 id;
	/* create */
	struct resv_line	*lines;
	size_t			 nlines;
	const char		*order_ref;
	char			 orderbuf[32];
	long long		 ttl;
	char			*caller;
	/* what the transaction found */
	char			 state[16];
};

static const char *const create_known[] = {
	"order_id", "ttl_seconds", "lines", NULL
};
static const char *const line_known[] = { "sku", "qty", NULL };

/*
 * A reservation as JSON: res row 0 and its lines.  reason (NULL: none)
 * is added for inventory.released events.
 */
static void
reservations_gen(yajl_gen g, const struct db_result *res,
    const struct db_result *lines, const char *reason)
{
	const struct db_value	*order;
	size_t			 i;

#define COL(c)	db_value(res, 0, (c))
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "id", COL(RC_ID)->i);
	order = COL(RC_ORDER);
	json_gen_kv_str(g, "order_id", order->isnull ? NULL : order->s);
	json_gen_kv_str(g, "state", COL(RC_STATE)->s);
	json_gen_cstr(g, "lines");
	yajl_gen_array_open(g);
	for (i = 0; lines != NULL && i < lines->nrows; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "sku", db_value(lines, i, 0)->s);
		json_gen_kv_int(g, "qty", db_value(lines, i, 1)->i);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "created_at", COL(RC_CREATED)->s);
	json_gen_kv_str(g, "expires_at", COL(RC_EXPIRES)->s);
	json_gen_kv_str(g, "updated_at", COL(RC_UPDATED)->s);
	if (reason != NULL)
		json_gen_kv_str(g, "reason", reason);
	yajl_gen_map_close(g);
#undef COL
}

/* Reads reservation id (locked when lock) and its lines. */
static int
reservations_load(long long id, int lock, struct db_result **res,
    struct db_result **lines)
{
	struct db_param	 p[1];

	*res = *lines = NULL;
	p[0] = (struct db_param)DB_INT(id);
	if (db_query(lock ? sql_lock : sql_get, p, 1, res) == -1)
		return -1;
	if ((*res)->nrows == 0)
		return RESV_NOT_FOUND;
	return db_query(sql_lines, p, 1, lines);
}

/* Writes an event about the reservation in res/lines. */
static int
reservations_event(const char *type, const struct db_result *res,
    const struct db_result *lines, const char *reason)
{
	yajl_gen	 g;
	char		 agg[32];
	int		 rc;

	g = json_gen_new();
	reservations_gen(g, res, lines, reason);
	snprintf(agg, sizeof agg, "%lld", db_value(res, 0, RC_ID)->i);
	rc = outbox_append_gen(type, agg, g);
	yajl_gen_free(g);
	return rc;
}

/*
 * Re-reads the reservation after a change, answers status with it in
 * w->rs, writes event type (unless NULL) and stores the answer for the
 * Idempotency-Key, all in the transaction.
 */
static int
reservations_finish(struct resv_work *w, int status, const char *type,
    const char *reason)
{
	struct db_result	*res, *lines;
	int			 rc;

	if ((rc = reservations_load(w->id, 0, &res, &lines)) != 0)
		goto done;
	response_reset(w->rs);
	response_status(w->rs, status);
	if (status == 201)
		response_header(w->rs, "Location",
		    "%s/inventory/reservations/%lld", w->r->rq_script, w->id);
	if (status != 204)
		reservations_gen(response_json(w->rs), res, lines, NULL);
	if (type != NULL &&
	    (rc = reservations_event(type, res, lines, reason)) != 0)
		goto done;
	rc = idempotency_save(w->r, w->rs);
done:
	db_result_free(res);
	db_result_free(lines);
	return rc;
}

/* --- create ------------------------------------------------------------ */

static int
reservations_create_txn(void *arg)
{
	struct resv_work	*w = arg;
	struct db_param		 p[3];
	unsigned long long	 id, n;
	struct db_result	*res;
	size_t			 i, nshort = 0;

	p[0] = (struct db_param)DB_STR(w->order_ref);
	p[1] = (struct db_param)DB_STR(w->caller);
	p[2] = (struct db_param)DB_INT(w->ttl);
	if (db_exec(sql_insert, p, 3, NULL, &id) == -1)
		return -1;
	w->id = (long long)id;

	/* Every line is tried, so the 409 names all that are short. */
	for (i = 0; i < w->nlines; i++) {
		w->lines[i].isshort = 0;
		p[0] = (struct db_param)DB_INT(w->lines[i].qty);
		p[1] = (struct db_param)DB_STR(w->lines[i].sku);
		p[2] = (struct db_param)DB_INT(w->lines[i].qty);
		if (db_exec(sql_reserve, p, 3, &n, NULL) == -1)
			return -1;
		if (n == 1)
			continue;
		w->lines[i].isshort = 1;
		nshort++;
		if (db_query(sql_available, p + 1, 1, &res) == -1)
			return -1;
		w->lines[i].available = res->nrows == 0 ? -1 :
		    db_value(res, 0, 0)->i;
		db_result_free(res);
	}
	if (nshort > 0)
		return RESV_SHORT;

	for (i = 0; i < w->nlines; i++) {
		p[0] = (struct db_param)DB_INT(w->id);
		p[1] = (struct db_param)DB_STR(w->lines[i].sku);
		p[2] = (struct db_param)DB_INT(w->lines[i].qty);
		if (db_exec(sql_insert_line, p, 3, NULL, NULL) == -1)
			return -1;
		if (stock_low_check(w->lines[i].sku, w->lines[i].qty) == -1)
			return -1;
	}
	return reservations_finish(w, 201, "inventory.reserved", NULL);
}

/* 409 problem+json with a "short" member: [{sku, requested, available}]. */
static void
reservations_short(struct request *r, struct response *rs,
    const struct resv_work *w)
{
	yajl_gen	 g;
	char		*detail = NULL, *tmp;
	size_t		 i;

	for (i = 0; i < w->nlines; i++) {
		if (!w->lines[i].isshort)
			continue;
		xasprintf(&tmp, "%s%s%s", detail != NULL ? detail : "",
		    detail != NULL ? ", " : "", w->lines[i].sku);
		free(detail);
		detail = tmp;
	}
	xasprintf(&tmp, "insufficient stock for %s; nothing was reserved",
	    detail);
	free(detail);
	detail = tmp;
	/* problem_send() logs it and sets the headers; the body is ours. */
	problem_send(r, rs, 409, "%s", detail);
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "type", "about:blank");
	json_gen_kv_str(g, "title", json_status_title(409));
	json_gen_kv_int(g, "status", 409);
	json_gen_kv_str(g, "detail", detail);
	json_gen_cstr(g, "short");
	yajl_gen_array_open(g);
	for (i = 0; i < w->nlines; i++) {
		if (!w->lines[i].isshort)
			continue;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "sku", w->lines[i].sku);
		json_gen_kv_int(g, "requested", w->lines[i].qty);
		json_gen_kv_int(g, "available", w->lines[i].available < 0 ?
		    0 : w->lines[i].available);
		if (w->lines[i].available < 0)
			json_gen_kv_str(g, "reason", "unknown sku");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	free(rs->rs_body);
	rs->rs_body = json_gen_dup(g, &rs->rs_bodylen);
	yajl_gen_free(g);
	free(detail);
}

static int
reservations_line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct resv_line *)a)->sku,
	    ((const struct resv_line *)b)->sku);
}

/* Validates the body into w; every error goes to v. */
static void
reservations_input(struct validate *v, yajl_val body, struct resv_work *w)
{
	yajl_val	 lines, line, order;
	char		 field[64], sfield[64];
	size_t		 i, j, n;

	validate_known(v, body, "", create_known, NULL);
	if ((order = json_get(body, "order_id")) != NULL &&
	    !YAJL_IS_NULL(order)) {
		if (YAJL_IS_INTEGER(order) && YAJL_GET_INTEGER(order) >= 0) {
			snprintf(w->orderbuf, sizeof w->orderbuf, "%lld",
			    YAJL_GET_INTEGER(order));
			w->order_ref = w->orderbuf;
		} else if (!YAJL_IS_STRING(order))
			validate_error(v, "order_id", "must be a string or a "
			    "non-negative integer, not %s",
			    json_type_name(order));
		else
			validate_string(v, body, "order_id", "order_id", 0, 1,
			    RESV_ORDER_MAX, &w->order_ref);
	}
	if (validate_int(v, body, "ttl_seconds", "ttl_seconds", 0, 1,
	    RESV_TTL_MAX, &w->ttl) <= 0)
		w->ttl = RESV_TTL_DEFAULT;

	if ((lines = json_get(body, "lines")) == NULL ||
	    YAJL_IS_NULL(lines)) {
		validate_error(v, "lines", "is required");
		return;
	}
	if (!YAJL_IS_ARRAY(lines)) {
		validate_error(v, "lines", "must be an array, not %s",
		    json_type_name(lines));
		return;
	}
	n = lines->u.array.len;
	if (n == 0 || n > RESV_LINES_MAX) {
		validate_error(v, "lines", "must hold 1 to %d lines",
		    RESV_LINES_MAX);
		return;
	}
	w->lines = xcalloc(n, sizeof *w->lines);
	for (i = 0; i < n; i++) {
		line = lines->u.array.values[i];
		snprintf(field, sizeof field, "lines[%zu]", i);
		if (!YAJL_IS_OBJECT(line)) {
			validate_error(v, field, "must be an object, not %s",
			    json_type_name(line));
			continue;
		}
		snprintf(field, sizeof field, "lines[%zu].", i);
		validate_known(v, line, field, line_known, NULL);
		snprintf(sfield, sizeof sfield, "lines[%zu].sku", i);
		validate_string(v, line, "sku", sfield, VALIDATE_REQUIRED, 1,
		    INVENTORY_SKU_MAX, &w->lines[i].sku);
		snprintf(field, sizeof field, "lines[%zu].qty", i);
		validate_int(v, line, "qty", field, VALIDATE_REQUIRED, 1,
		    RESV_QTY_MAX, &w->lines[i].qty);
		for (j = 0; w->lines[i].sku != NULL && j < i; j++)
			if (w->lines[j].sku != NULL &&
			    strcmp(w->lines[i].sku, w->lines[j].sku) == 0) {
				validate_error(v, sfield, "repeats the sku of "
				    "lines[%zu]", j);
				break;
			}
	}
	w->nlines = n;
}

void
reservations_create(struct request *r, struct response *rs)
{
	struct resv_work	 w;
	struct validate		 v;
	yajl_val		 body;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	if ((body = request_json(r, rs)) == NULL)
		return;
	memset(&w, 0, sizeof w);
	w.r = r;
	w.rs = rs;
	validate_init(&v);
	reservations_input(&v, body, &w);
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		goto done;
	}
	qsort(w.lines, w.nlines, sizeof *w.lines, reservations_line_cmp);
	w.caller = identity_caller(r);
	/* Expired holds go back first, so they can be reserved again. */
	sweeper_run(1);
	switch (db_transaction(reservations_create_txn, &w)) {
	case 0:
		log_info("reservation %lld: %zu line%s for %s rid=%s", w.id,
		    w.nlines, w.nlines == 1 ? "" : "s",
		    w.order_ref != NULL ? w.order_ref : "no order", r->rq_id);
		break;
	case RESV_SHORT:
		reservations_short(r, rs, &w);
		break;
	default:
		problem_db(r, rs, "reserve");
		break;
	}
done:
	validate_free(&v);
	free(w.lines);
	free(w.caller);
	json_free(body);
}

/* --- read --------------------------------------------------------------- */

void
reservations_get(struct request *r, struct response *rs)
{
	struct db_result	*res, *lines;
	long long		 id;
	int			 rc;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	if ((id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no reservation %s",
		    request_capture(r, "id"));
		return;
	}
	sweeper_run(0);
	if ((rc = reservations_load(id, 0, &res, &lines)) == -1)
		problem_db(r, rs, "reservation get");
	else if (rc == RESV_NOT_FOUND)
		problem_send(r, rs, 404, "no reservation %lld", id);
	else
		reservations_gen(response_json(rs), res, lines, NULL);
	db_result_free(res);
	db_result_free(lines);
}

/* --- commit, release, expire --------------------------------------------- */

/*
 * Locks reservation w->id and checks it is active.  0: go on, with *res
 * and *lines loaded; else an outcome (w->state says the state).
 */
static int
reservations_lock_active(struct resv_work *w, struct db_result **res,
    struct db_result **lines)
{
	const char	*state;
	int		 rc;

	if ((rc = reservations_load(w->id, 1, res, lines)) != 0)
		return rc;
	state = db_value(*res, 0, RC_STATE)->s;
	snprintf(w->state, sizeof w->state, "%s", state);
	if (strcmp(state, "active") != 0)
		return RESV_BAD_STATE;
	return 0;
}

/* Gives the stock of lines back: reserved -= qty, line by line. */
static int
reservations_unreserve(const struct db_result *lines)
{
	struct db_param		 p[3];
	unsigned long long	 n;
	size_t			 i;

	for (i = 0; i < lines->nrows; i++) {
		p[0] = (struct db_param)DB_INT(db_value(lines, i, 1)->i);
		p[1] = (struct db_param)DB_STR(db_value(lines, i, 0)->s);
		p[2] = (struct db_param)DB_INT(db_value(lines, i, 1)->i);
		if (db_exec(sql_unreserve, p, 3, &n, NULL) == -1)
			return -1;
		if (n != 1) {
			log_warnx("%s: stock of %s holds less than the %lld "
			    "reserved", __func__, p[1].s, p[0].i);
			return RESV_INCONSISTENT;
		}
	}
	return 0;
}

static int
reservations_set_state(long long id, const char *state)
{
	struct db_param	 p[2];

	p[0] = (struct db_param)DB_STR(state);
	p[1] = (struct db_param)DB_INT(id);
	return db_exec(sql_set_state, p, 2, NULL, NULL);
}

static int
reservations_commit_txn(void *arg)
{
	struct resv_work	*w = arg;
	struct db_result	*res = NULL, *lines = NULL;
	struct db_param		 p[5];
	unsigned long long	 n;
	size_t			 i;
	int			 rc;

	rc = reservations_lock_active(w, &res, &lines);
	if (rc == RESV_BAD_STATE && strcmp(w->state, "committed") == 0)
		rc = RESV_UNCHANGED;
	if (rc != 0)
		goto done;
	/* Past its time: the sweeper gives it back, it cannot ship. */
	if (db_value(res, 0, RC_DUE)->i) {
		rc = RESV_EXPIRED;
		goto done;
	}
	for (i = 0; i < lines->nrows; i++) {
		p[0] = (struct db_param)DB_INT(db_value(lines, i, 1)->i);
		p[1] = p[0];
		p[2] = (struct db_param)DB_STR(db_value(lines, i, 0)->s);
		p[3] = p[0];
		p[4] = p[0];
		if ((rc = db_exec(sql_ship, p, 5, &n, NULL)) == -1)
			goto done;
		if (n != 1) {
			log_warnx("%s: stock of %s cannot ship %lld", __func__,
			    p[2].s, p[0].i);
			rc = RESV_INCONSISTENT;
			goto done;
		}
	}
	if ((rc = reservations_set_state(w->id, "committed")) == 0)
		rc = reservations_finish(w, 200, "inventory.committed", NULL);
done:
	db_result_free(res);
	db_result_free(lines);
	return rc;
}

static int
reservations_release_txn(void *arg)
{
	struct resv_work	*w = arg;
	struct db_result	*res = NULL, *lines = NULL;
	int			 rc;

	rc = reservations_lock_active(w, &res, &lines);
	if (rc == RESV_BAD_STATE && strcmp(w->state, "committed") != 0)
		rc = RESV_UNCHANGED;	/* released or expired already */
	if (rc == 0 && (rc = reservations_unreserve(lines)) == 0 &&
	    (rc = reservations_set_state(w->id, "released")) == 0) {
		/* The event shows the new state. */
		db_result_free(res);
		db_result_free(lines);
		if ((rc = reservations_load(w->id, 0, &res, &lines)) == 0)
			rc = reservations_event("inventory.released", res,
			    lines, "released");
	}
	db_result_free(res);
	db_result_free(lines);
	return rc;
}

int
reservations_expire(long long id)
{
	struct resv_work	 w;
	struct db_result	*res = NULL, *lines = NULL;
	int			 rc;

	memset(&w, 0, sizeof w);
	w.id = id;
	rc = reservations_lock_active(&w, &res, &lines);
	/* Someone committed, released or expired it first. */
	if (rc == RESV_BAD_STATE || rc == RESV_NOT_FOUND ||
	    (rc == 0 && !db_value(res, 0, RC_DUE)->i)) {
		rc = 0;
		goto done;
	}
	if (rc == 0 && (rc = reservations_unreserve(lines)) == 0 &&
	    (rc = reservations_set_state(id, "expired")) == 0) {
		db_result_free(res);
		db_result_free(lines);
		if ((rc = reservations_load(id, 0, &res, &lines)) == 0)
			rc = reservations_event("inventory.released", res,
			    lines, "expired");
	}
done:
	db_result_free(res);
	db_result_free(lines);
	return rc;
}

/* Answers the outcome of a commit or release transaction. */
static void
reservations_outcome(struct request *r, struct response *rs,
    struct resv_work *w, int rc, const char *verb)
{
	switch (rc) {
	case RESV_NOT_FOUND:
		problem_send(r, rs, 404, "no reservation %lld", w->id);
		break;
	case RESV_BAD_STATE:
		problem_send(r, rs, 409, "reservation %lld is %s and cannot "
		    "be %s", w->id, w->state, verb);
		break;
	case RESV_EXPIRED:
		problem_send(r, rs, 409, "reservation %lld has expired and "
		    "cannot be %s", w->id, verb);
		break;
	case RESV_INCONSISTENT:
		problem_internal(r, rs, 500, "stock does not match the "
		    "reservation");
		break;
	default:
		problem_db(r, rs, verb);
		break;
	}
}

void
reservations_commit(struct request *r, struct response *rs)
{
	struct resv_work	 w;
	struct db_result	*res, *lines;
	int			 rc;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	memset(&w, 0, sizeof w);
	w.r = r;
	w.rs = rs;
	if ((w.id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no reservation %s",
		    request_capture(r, "id"));
		return;
	}
	sweeper_run(0);
	rc = db_transaction(reservations_commit_txn, &w);
	if (rc == 0)
		log_info("reservation %lld committed rid=%s", w.id, r->rq_id);
	else if (rc == RESV_UNCHANGED) {
		/* Committing twice is harmless: the same answer again. */
		if (reservations_load(w.id, 0, &res, &lines) == 0) {
			response_reset(rs);
			reservations_gen(response_json(rs), res, lines, NULL);
		} else
			problem_db(r, rs, "commit");
		db_result_free(res);
		db_result_free(lines);
	} else
		reservations_outcome(r, rs, &w, rc, "committed");
}

void
reservations_release(struct request *r, struct response *rs)
{
	struct resv_work	 w;
	int			 rc;

	if (!identity_require_role(r, rs, "service", "admin"))
		return;
	memset(&w, 0, sizeof w);
	w.r = r;
	w.rs = rs;
	if ((w.id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no reservation %s",
		    request_capture(r, "id"));
		return;
	}
	sweeper_run(0);
	rc = db_transaction(reservations_release_txn, &w);
	if (rc == 0 || rc == RESV_UNCHANGED) {
		if (rc == 0)
			log_info("reservation %lld released rid=%s", w.id,
			    r->rq_id);
		response_reset(rs);
		response_status(rs, 204);
	} else
		reservations_outcome(r, rs, &w, rc, "released");
}
