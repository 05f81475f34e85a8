/*
 * Products: CRUD with soft delete, optimistic versions (ETag/If-Match)
 * and keyset paging on id.  Every statement is a constant with bound
 * parameters.
 */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cursor.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "validate.h"
#include "xmalloc.h"

#define PRODUCTS_LIMIT_DEFAULT	20
#define PRODUCTS_LIMIT_MAX	100

/* Column order of PRODUCT_COLS, for db_value(). */
enum product_col {
	PC_ID, PC_SKU, PC_NAME, PC_DESCRIPTION, PC_AMOUNT, PC_CURRENCY,
	PC_CATEGORY, PC_CREATED, PC_UPDATED, PC_VERSION
};

#define PRODUCT_COLS	"id, sku, name, description, price_amount, " \
	"currency, category, created_at, updated_at, version"

static const char sql_get[] =
    "SELECT " PRODUCT_COLS " FROM products"
    " WHERE id = ? AND deleted_at IS NULL";
static const char sql_lock[] =
    "SELECT " PRODUCT_COLS " FROM products"
    " WHERE id = ? AND deleted_at IS NULL FOR UPDATE";
static const char sql_list[] =
    "SELECT " PRODUCT_COLS " FROM products"
    " WHERE deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?";
static const char sql_list_category[] =
    "SELECT " PRODUCT_COLS " FROM products"
    " WHERE deleted_at IS NULL AND category = ? AND id > ?"
    " ORDER BY id LIMIT ?";
static const char sql_insert[] =
    "INSERT INTO products (sku, name, description, price_amount,"
    " currency, category, version, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))";
static const char sql_update[] =
    "UPDATE products SET sku = ?, name = ?, description = ?,"
    " price_amount = ?, currency = ?, category = ?,"
    " version = version + 1, updated_at = UTC_TIMESTAMP(6)"
    " WHERE id = ? AND deleted_at IS NULL";
static const char sql_delete[] =
    "UPDATE products SET deleted_at = UTC_TIMESTAMP(6),"
    " updated_at = UTC_TIMESTAMP(6), version = version + 1"
    " WHERE id = ? AND deleted_at IS NULL";

/* Outcomes of a write transaction besides 0 (done) and -1 (db error). */
enum product_outcome {
	PRODUCT_NOT_FOUND = 1,
	PRODUCT_PRECONDITION,
	PRODUCT_DUPLICATE
};

/* Members of the input present in the body. */
#define PI_SKU		0x01
#define PI_NAME		0x02
#define PI_DESCRIPTION	0x04
#define PI_AMOUNT	0x08
#define PI_CURRENCY	0x10
#define PI_CATEGORY	0x20

struct product_in {
	unsigned int	 has;
	const char	*sku;
	const char	*name;
	const char	*description;
	long long	 amount;
	const char	*currency;
	const char	*category;	/* NULL: none */
};

/* One write: its input, guard, and the row it leaves behind. */
struct product_write {
	long long		 id;
	struct product_in	 in;
	int			 partial;	/* PATCH: merge over the row */
	const char		*if_match;
	struct db_result	*row;
};

static const char *const product_known[] = {
	"sku", "name", "description", "price", "category", NULL
};
/* Read-only members a client may send back from a GET. */
static const char *const product_readonly[] = {
	"id", "created_at", "updated_at", "version", NULL
};
static const char *const price_known[] = { "amount", "currency", NULL };

/* Answers a failed db_* call: 503 when the server is unreachable. */
static void
products_dberror(struct request *r, struct response *rs, const char *what)
{
	char	*cause;

	xasprintf(&cause, "%s: database error %u: %s", what, db_errno(),
	    db_error());
	problem_internal(r, rs, db_temporary() ? 503 : 500, cause);
	free(cause);
}

/* The {id} capture as a positive integer, or 0. */
static long long
products_id(struct request *r)
{
	const char	*s = request_capture(r, "id");
	char		*end;
	long long	 id;

	if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 18)
		return 0;
	errno = 0;
	id = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return 0;
	return id;
}

static int
products_is_currency(const char *s)
{
	return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' &&
	    s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z';
}

static int
products_is_slug(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") ==
	    strlen(s);
}

/*
 * Validates a body into in, every error into v.  full: PUT/POST, where
 * sku, name and price are required; else PATCH, where a member that is
 * absent is left alone and a null description or category clears it.
 */
static void
products_input(struct validate *v, yajl_val body, int full,
    struct product_in *in)
{
	yajl_val	 price, m;
	int		 req = full ? VALIDATE_REQUIRED : 0;

	memset(in, 0, sizeof *in);
	validate_known(v, body, "", product_known, product_readonly);

	if (validate_string(v, body, "sku", "sku", req, 1, 64, &in->sku) > 0)
		in->has |= PI_SKU;
	if (validate_string(v, body, "name", "name", req, 1, 200,
	    &in->name) > 0)
		in->has |= PI_NAME;
	if (validate_string(v, body, "description", "description", 0, 0,
	    4000, &in->description) >= 0 && (full ||
	    json_get(body, "description") != NULL)) {
		in->has |= PI_DESCRIPTION;
		if (in->description == NULL)
			in->description = "";
	}
	if (validate_string(v, body, "category", "category", 0, 0, 64,
	    &in->category) >= 0 && (full ||
	    json_get(body, "category") != NULL)) {
		if (in->category != NULL && !products_is_slug(in->category))
			validate_error(v, "category", "must be a slug: "
			    "lowercase letters, digits and '-'");
		else
			in->has |= PI_CATEGORY;
	}
	if (!full) {
		/* PATCH: null cannot clear a required member. */
		if ((m = json_get(body, "sku")) != NULL && YAJL_IS_NULL(m))
			validate_error(v, "sku", "cannot be null");
		if ((m = json_get(body, "name")) != NULL && YAJL_IS_NULL(m))
			validate_error(v, "name", "cannot be null");
		if ((m = json_get(body, "price")) != NULL && YAJL_IS_NULL(m))
			validate_error(v, "price", "cannot be null");
	}
	if (validate_object(v, body, "price", "price", req, &price) <= 0)
		return;
	validate_known(v, price, "price.", price_known, NULL);
	if (validate_int(v, price, "amount", "price.amount", req, 0,
	    LLONG_MAX, &in->amount) > 0)
		in->has |= PI_AMOUNT;
	if (validate_string(v, price, "currency", "price.currency", req, 0,
	    SIZE_MAX, &in->currency) > 0) {
		if (!products_is_currency(in->currency))
			validate_error(v, "price.currency", "must be an ISO "
			    "4217 code: 3 uppercase letters");
		else
			in->has |= PI_CURRENCY;
	}
}

/* Writes row 0 of res as a product. */
static void
products_gen(yajl_gen g, const struct db_result *res, size_t row)
{
	const struct db_value	*cat;

#define COL(c)	db_value(res, row, (c))
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "id", COL(PC_ID)->i);
	json_gen_kv_str(g, "sku", COL(PC_SKU)->s);
	json_gen_kv_str(g, "name", COL(PC_NAME)->s);
	json_gen_kv_str(g, "description", COL(PC_DESCRIPTION)->isnull ? "" :
	    COL(PC_DESCRIPTION)->s);
	json_gen_cstr(g, "price");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "amount", COL(PC_AMOUNT)->i);
	json_gen_kv_str(g, "currency", COL(PC_CURRENCY)->s);
	yajl_gen_map_close(g);
	cat = COL(PC_CATEGORY);
	json_gen_kv_str(g, "category", cat->isnull ? NULL : cat->s);
	json_gen_kv_str(g, "created_at", COL(PC_CREATED)->s);
	json_gen_kv_str(g, "updated_at", COL(PC_UPDATED)->s);
	json_gen_kv_int(g, "version", COL(PC_VERSION)->i);
	yajl_gen_map_close(g);
#undef COL
}

static void
products_etag(char *buf, size_t len, long long version)
{
	snprintf(buf, len, "\"%lld\"", version);
}

/* status with row 0 of res as the body, and its ETag. */
static void
products_reply(struct request *r, struct response *rs, int status,
    const struct db_result *res)
{
	char	 etag[32];

	response_status(rs, status);
	products_etag(etag, sizeof etag, db_value(res, 0, PC_VERSION)->i);
	response_header(rs, "ETag", "%s", etag);
	if (status == 201)
		response_header(rs, "Location", "%s/products/%lld",
		    r->rq_script, db_value(res, 0, PC_ID)->i);
	products_gen(response_json(rs), res, 0);
}

void
products_list(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[3];
	const char		*s, *errstr, *category;
	char			*scope, *next = NULL, *end;
	long long		 after = 0, limit = PRODUCTS_LIMIT_DEFAULT;
	size_t			 i, n = 0, shown;
	yajl_gen		 g;

	if ((s = query_get(&r->rq_query, "limit")) != NULL) {
		errno = 0;
		limit = strtoll(s, &end, 10);
		if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
		    limit < 1 || limit > PRODUCTS_LIMIT_MAX) {
			problem_send(r, rs, 400, "limit must be an integer "
			    "from 1 to %d", PRODUCTS_LIMIT_MAX);
			return;
		}
	}
	category = query_get(&r->rq_query, "category");
	if (category != NULL && *category == '\0')
		category = NULL;
	xasprintf(&scope, "products?category=%s",
	    category != NULL ? category : "");
	if ((s = query_get(&r->rq_query, "cursor")) != NULL && *s != '\0' &&
	    cursor_decode(s, scope, &after, &errstr) == -1) {
		problem_send(r, rs, 400, "%s", errstr);
		free(scope);
		return;
	}
	if (category != NULL)
		p[n++] = (struct db_param)DB_STR(category);
	p[n++] = (struct db_param)DB_INT(after);
	/* One more than asked tells whether there is a next page. */
	p[n++] = (struct db_param)DB_INT(limit + 1);
	if (db_query(category != NULL ? sql_list_category : sql_list, p, n,
	    &res) == -1) {
		products_dberror(r, rs, "list");
		free(scope);
		return;
	}
	shown = res->nrows > (size_t)limit ? (size_t)limit : res->nrows;
	if (res->nrows > (size_t)limit)
		next = cursor_encode(scope, db_value(res, shown - 1, PC_ID)->i);

	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_cstr(g, "items");
	yajl_gen_array_open(g);
	for (i = 0; i < shown; i++)
		products_gen(g, res, i);
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "next_cursor", next);
	yajl_gen_map_close(g);
	free(next);
	free(scope);
	db_result_free(res);
}

void
products_get(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[1];
	char			 etag[32];
	long long		 id;

	if ((id = products_id(r)) == 0) {
		problem_send(r, rs, 404, "no product %s",
		    request_capture(r, "id"));
		return;
	}
	p[0] = (struct db_param)DB_INT(id);
	if (db_query(sql_get, p, 1, &res) == -1) {
		products_dberror(r, rs, "get");
		return;
	}
	if (res->nrows == 0)
		problem_send(r, rs, 404, "no product %lld", id);
	else {
		products_etag(etag, sizeof etag,
		    db_value(res, 0, PC_VERSION)->i);
		if (request_etag_match(request_header(r, "If-None-Match"),
		    etag, 1)) {
			response_status(rs, 304);
			response_header(rs, "ETag", "%s", etag);
		} else
			products_reply(r, rs, 200, res);
	}
	db_result_free(res);
}

/* Binds in as the first six parameters of sql_insert / sql_update. */
static size_t
products_bind(struct db_param *p, const struct product_in *in)
{
	p[0] = (struct db_param)DB_STR(in->sku);
	p[1] = (struct db_param)DB_STR(in->name);
	p[2] = (struct db_param)DB_STR(in->description);
	p[3] = (struct db_param)DB_INT(in->amount);
	p[4] = (struct db_param)DB_STR(in->currency);
	p[5] = (struct db_param)DB_STR(in->category);
	return 6;
}

/* Reads the written row back into w->row. */
static int
products_reread(struct product_write *w)
{
	struct db_param	 p[1];

	p[0] = (struct db_param)DB_INT(w->id);
	db_result_free(w->row);
	w->row = NULL;
	return db_query(sql_get, p, 1, &w->row);
}

static int
products_create_txn(void *arg)
{
	struct product_write	*w = arg;
	struct db_param		 p[6];
	unsigned long long	 id;
	size_t			 n;

	n = products_bind(p, &w->in);
	if (db_exec(sql_insert, p, n, NULL, &id) == -1)
		return db_errno() == DB_ER_DUP_ENTRY ? PRODUCT_DUPLICATE : -1;
	w->id = (long long)id;
	return products_reread(w);
}

/* Overwrites in's absent members with the row's current values. */
static void
products_merge(struct product_in *in, const struct db_result *cur)
{
	const struct db_value	*cat;

	if (!(in->has & PI_SKU))
		in->sku = db_value(cur, 0, PC_SKU)->s;
	if (!(in->has & PI_NAME))
		in->name = db_value(cur, 0, PC_NAME)->s;
	if (!(in->has & PI_DESCRIPTION))
		in->description = db_value(cur, 0, PC_DESCRIPTION)->s;
	if (!(in->has & PI_AMOUNT))
		in->amount = db_value(cur, 0, PC_AMOUNT)->i;
	if (!(in->has & PI_CURRENCY))
		in->currency = db_value(cur, 0, PC_CURRENCY)->s;
	if (!(in->has & PI_CATEGORY)) {
		cat = db_value(cur, 0, PC_CATEGORY);
		in->category = cat->isnull ? NULL : cat->s;
	}
}

/* Locks the row and checks If-Match; 0, or an outcome / -1. */
static int
products_lock(struct product_write *w, struct db_result **cur)
{
	struct db_param	 p[1];
	char		 etag[32];

	p[0] = (struct db_param)DB_INT(w->id);
	if (db_query(sql_lock, p, 1, cur) == -1)
		return -1;
	if ((*cur)->nrows == 0)
		return PRODUCT_NOT_FOUND;
	products_etag(etag, sizeof etag, db_value(*cur, 0, PC_VERSION)->i);
	if (w->if_match != NULL && !request_etag_match(w->if_match, etag, 0))
		return PRODUCT_PRECONDITION;
	return 0;
}

static int
products_update_txn(void *arg)
{
	struct product_write	*w = arg;
	struct product_in	 in = w->in;
	struct db_result	*cur = NULL;
	struct db_param		 p[7];
	size_t			 n;
	int			 rc;

	if ((rc = products_lock(w, &cur)) != 0)
		goto done;
	if (w->partial)
		products_merge(&in, cur);
	n = products_bind(p, &in);
	p[n++] = (struct db_param)DB_INT(w->id);
	if (db_exec(sql_update, p, n, NULL, NULL) == -1) {
		rc = db_errno() == DB_ER_DUP_ENTRY ? PRODUCT_DUPLICATE : -1;
		goto done;
	}
	rc = products_reread(w);
done:
	db_result_free(cur);
	return rc;
}

static int
products_delete_txn(void *arg)
{
	struct product_write	*w = arg;
	struct db_result	*cur = NULL;
	struct db_param		 p[1];
	int			 rc;

	if ((rc = products_lock(w, &cur)) == 0) {
		p[0] = (struct db_param)DB_INT(w->id);
		rc = db_exec(sql_delete, p, 1, NULL, NULL);
	}
	db_result_free(cur);
	return rc;
}

/* Runs a write and answers with its outcome; ok is 200 or 201 or 204. */
static void
products_write(struct request *r, struct response *rs,
    struct product_write *w, int (*fn)(void *), int ok)
{
	switch (db_transaction(fn, w)) {
	case 0:
		if (ok == 204)
			response_status(rs, 204);
		else
			products_reply(r, rs, ok, w->row);
		break;
	case PRODUCT_NOT_FOUND:
		problem_send(r, rs, 404, "no product %lld", w->id);
		break;
	case PRODUCT_PRECONDITION:
		problem_send(r, rs, 412, "product %lld has changed: "
		    "If-Match does not match its ETag", w->id);
		break;
	case PRODUCT_DUPLICATE:
		problem_send(r, rs, 409, "a product with sku \"%s\" already "
		    "exists", w->in.sku);
		break;
	default:
		products_dberror(r, rs, r->rq_method);
		break;
	}
	db_result_free(w->row);
	w->row = NULL;
}

/* Parses and validates the body; 0, or -1 after answering. */
static int
products_body(struct request *r, struct response *rs, int full,
    yajl_val *body, struct product_in *in)
{
	struct validate	 v;

	if ((*body = request_json(r, rs)) == NULL)
		return -1;
	validate_init(&v);
	products_input(&v, *body, full, in);
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		validate_free(&v);
		json_free(*body);
		*body = NULL;
		return -1;
	}
	validate_free(&v);
	return 0;
}

void
products_create(struct request *r, struct response *rs)
{
	struct product_write	 w;
	yajl_val		 body;

	memset(&w, 0, sizeof w);
	if (products_body(r, rs, 1, &body, &w.in) == -1)
		return;
	products_write(r, rs, &w, products_create_txn, 201);
	json_free(body);
}

static void
products_update(struct request *r, struct response *rs, int partial)
{
	struct product_write	 w;
	yajl_val		 body;

	memset(&w, 0, sizeof w);
	if ((w.id = products_id(r)) == 0) {
		problem_send(r, rs, 404, "no product %s",
		    request_capture(r, "id"));
		return;
	}
	if (products_body(r, rs, !partial, &body, &w.in) == -1)
		return;
	w.partial = partial;
	w.if_match = request_header(r, "If-Match");
	products_write(r, rs, &w, products_update_txn, 200);
	json_free(body);
}

void
products_replace(struct request *r, struct response *rs)
{
	products_update(r, rs, 0);
}

void
products_patch(struct request *r, struct response *rs)
{
	products_update(r, rs, 1);
}

void
products_delete(struct request *r, struct response *rs)
{
	struct product_write	 w;

	memset(&w, 0, sizeof w);
	if ((w.id = products_id(r)) == 0) {
		problem_send(r, rs, 404, "no product %s",
		    request_capture(r, "id"));
		return;
	}
	w.if_match = request_header(r, "If-Match");
	products_write(r, rs, &w, products_delete_txn, 204);
}
