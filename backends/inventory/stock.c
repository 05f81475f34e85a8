/*
 * Stock per sku: read it, restock it (admin), and notice low stock.
 * available = on_hand - reserved is computed, never stored.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "identity.h"
#include "idempotency.h"
#include "inventory.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "validate.h"
#include "xmalloc.h"

#define STOCK_QTY_MAX		1000000000LL

enum stock_col {
	SC_SKU, SC_ON_HAND, SC_RESERVED, SC_THRESHOLD, SC_VERSION, SC_UPDATED
};

#define STOCK_COLS	"sku, on_hand, reserved, low_stock_threshold, " \
	"version, updated_at"

static const char sql_get[] =
    "SELECT " STOCK_COLS " FROM stock WHERE sku = ?";
static const char sql_restock[] =
    "INSERT INTO stock (sku, on_hand, reserved, low_stock_threshold,"
    " version, updated_at)"
    " VALUES (?, ?, 0, COALESCE(?, 5), 1, UTC_TIMESTAMP(6))"
    " ON DUPLICATE KEY UPDATE on_hand = on_hand + VALUES(on_hand),"
    " low_stock_threshold = COALESCE(?, low_stock_threshold),"
    " version = version + 1, updated_at = UTC_TIMESTAMP(6)";

static const char *const restock_known[] = {
	"qty", "low_stock_threshold", NULL
};

struct stock_restock {
	struct request	*r;
	struct response	*rs;
	const char	*sku;
	long long	 qty;
	long long	 threshold;	/* -1: leave as it is */
};

/* Writes row of res as a stock object. */
static void
stock_gen(yajl_gen g, const struct db_result *res, size_t row)
{
#define COL(c)	db_value(res, row, (c))
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "sku", COL(SC_SKU)->s);
	json_gen_kv_int(g, "on_hand", COL(SC_ON_HAND)->i);
	json_gen_kv_int(g, "reserved", COL(SC_RESERVED)->i);
	json_gen_kv_int(g, "available", COL(SC_ON_HAND)->i -
	    COL(SC_RESERVED)->i);
	json_gen_kv_int(g, "low_stock_threshold", COL(SC_THRESHOLD)->i);
	json_gen_kv_int(g, "version", COL(SC_VERSION)->i);
	json_gen_kv_str(g, "updated_at", COL(SC_UPDATED)->s);
	yajl_gen_map_close(g);
#undef COL
}

static void
stock_etag(char *buf, size_t len, long long version)
{
	snprintf(buf, len, "\"%lld\"", version);
}

void
stock_get(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[1];
	const char		*sku;
	char			 etag[32];

	if ((sku = inventory_sku(r)) == NULL) {
		problem_send(r, rs, 404, "no such sku");
		return;
	}
	/* Expired reservations must not show as reserved. */
	sweeper_run(0);
	p[0] = (struct db_param)DB_STR(sku);
	if (db_query(sql_get, p, 1, &res) == -1) {
		problem_db(r, rs, "stock get");
		return;
	}
	if (res->nrows == 0)
		problem_send(r, rs, 404, "no stock is recorded for sku "
		    "\"%s\"", sku);
	else {
		stock_etag(etag, sizeof etag, db_value(res, 0,
		    SC_VERSION)->i);
		response_header(rs, "ETag", "%s", etag);
		response_header(rs, "Cache-Control", "no-cache");
		if (request_etag_match(request_header(r, "If-None-Match"),
		    etag, 1))
			response_status(rs, 304);
		else
			stock_gen(response_json(rs), res, 0);
	}
	db_result_free(res);
}

/* The event data of inventory.restocked / inventory.low_stock. */
static int
stock_event(const char *type, const struct db_result *res, long long qty)
{
	yajl_gen	 g;
	int		 rc;

#define COL(c)	db_value(res, 0, (c))
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "sku", COL(SC_SKU)->s);
	if (qty > 0)
		json_gen_kv_int(g, "qty", qty);
	json_gen_kv_int(g, "on_hand", COL(SC_ON_HAND)->i);
	json_gen_kv_int(g, "reserved", COL(SC_RESERVED)->i);
	json_gen_kv_int(g, "available", COL(SC_ON_HAND)->i -
	    COL(SC_RESERVED)->i);
	json_gen_kv_int(g, "low_stock_threshold", COL(SC_THRESHOLD)->i);
	yajl_gen_map_close(g);
	rc = outbox_append_gen(type, COL(SC_SKU)->s, g);
	yajl_gen_free(g);
	return rc;
#undef COL
}

int
stock_low_check(const char *sku, long long qty)
{
	struct db_result	*res;
	struct db_param		 p[1];
	long long		 avail, threshold;
	int			 rc = 0;

	p[0] = (struct db_param)DB_STR(sku);
	if (db_query(sql_get, p, 1, &res) == -1)
		return -1;
	if (res->nrows == 1) {
		avail = db_value(res, 0, SC_ON_HAND)->i -
		    db_value(res, 0, SC_RESERVED)->i;
		threshold = db_value(res, 0, SC_THRESHOLD)->i;
		/* Only the crossing: not one event per reservation below. */
		if (avail < threshold && avail + qty >= threshold)
			rc = stock_event("inventory.low_stock", res, 0);
	}
	db_result_free(res);
	return rc;
}

static int
stock_restock_txn(void *arg)
{
	struct stock_restock	*sr = arg;
	struct db_result	*res;
	struct db_param		 p[4];
	yajl_gen		 g;
	int			 rc;

	p[0] = (struct db_param)DB_STR(sr->sku);
	p[1] = (struct db_param)DB_INT(sr->qty);
	if (sr->threshold >= 0) {
		p[2] = (struct db_param)DB_INT(sr->threshold);
		p[3] = (struct db_param)DB_INT(sr->threshold);
	} else {
		p[2] = (struct db_param)DB_STR(NULL);
		p[3] = (struct db_param)DB_STR(NULL);
	}
	if (db_exec(sql_restock, p, 4, NULL, NULL) == -1)
		return -1;
	if (db_query(sql_get, p, 1, &res) == -1)
		return -1;
	if (res->nrows != 1) {
		db_result_free(res);
		return -1;
	}
	response_reset(sr->rs);
	g = response_json(sr->rs);
	stock_gen(g, res, 0);
	rc = stock_event("inventory.restocked", res, sr->qty);
	if (rc == 0)
		rc = idempotency_save(sr->r, sr->rs);
	db_result_free(res);
	return rc;
}

void
stock_restock(struct request *r, struct response *rs)
{
	struct stock_restock	 sr;
	struct validate		 v;
	yajl_val		 body;

	if (!identity_require_role(r, rs, "admin"))
		return;
	memset(&sr, 0, sizeof sr);
	sr.r = r;
	sr.rs = rs;
	if ((sr.sku = inventory_sku(r)) == NULL) {
		problem_send(r, rs, 404, "no such sku");
		return;
	}
	if ((body = request_json(r, rs)) == NULL)
		return;
	validate_init(&v);
	validate_known(&v, body, "", restock_known, NULL);
	validate_int(&v, body, "qty", "qty", VALIDATE_REQUIRED, 1,
	    STOCK_QTY_MAX, &sr.qty);
	if (validate_int(&v, body, "low_stock_threshold",
	    "low_stock_threshold", 0, 0, STOCK_QTY_MAX, &sr.threshold) <= 0)
		sr.threshold = -1;
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		goto done;
	}
	sweeper_run(0);
	if (db_transaction(stock_restock_txn, &sr) != 0)
		problem_db(r, rs, "restock");
	else
		log_info("restocked %s by %lld rid=%s", sr.sku, sr.qty,
		    r->rq_id);
done:
	validate_free(&v);
	json_free(body);
}
