/*
 * Products: CRUD with soft delete, optimistic versions (ETag/If-Match),
 * keyset paging on id with filters and full-text search, and the events
 * of every change written in the transaction that makes it.  Every
 * statement is a constant with bound parameters: the few shapes a
 * listing can take are compiled in, and filters that are absent bind
 * NULL ("? IS NULL OR ...").
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
#include "idempotency.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "outbox.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "validate.h"
#include "xmalloc.h"

#define PRODUCTS_Q_MAX		200	/* bytes of ?q= */
#define PRODUCTS_Q_WORDS	16	/* words of ?q= used */

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
/*
 * Listings.  ?category= takes the category and its descendants (the
 * recursive CTE; UNION, not UNION ALL, so that even a cycle made by hand
 * in the table ends the recursion); ?q= is a boolean-mode MATCH over products_text with
 * terms products_search() made safe.  Parameters in order: [category],
 * [q], min_price twice, max_price twice, currency twice, after, limit.
 */
#define LIST_TREE	"WITH RECURSIVE tree (slug) AS (" \
	"SELECT slug FROM categories WHERE slug = ? UNION " \
	"SELECT c.slug FROM categories c JOIN tree t ON c.parent = t.slug) "
#define LIST_SELECT	"SELECT " PRODUCT_COLS " FROM products" \
	" WHERE deleted_at IS NULL"
#define LIST_IN_TREE	" AND category IN (SELECT slug FROM tree)"
#define LIST_MATCH	" AND MATCH (name, description)" \
	" AGAINST (? IN BOOLEAN MODE)"
#define LIST_FILTERS	" AND (? IS NULL OR price_amount >= ?)" \
	" AND (? IS NULL OR price_amount <= ?)" \
	" AND (? IS NULL OR currency = ?)" \
	" AND id > ? ORDER BY id LIMIT ?"

#define LIST_BY_Q		0x01
#define LIST_BY_CATEGORY	0x02
static const char *const sql_lists[] = {
	LIST_SELECT LIST_FILTERS,
	LIST_SELECT LIST_MATCH LIST_FILTERS,
	LIST_TREE LIST_SELECT LIST_IN_TREE LIST_FILTERS,
	LIST_TREE LIST_SELECT LIST_IN_TREE LIST_MATCH LIST_FILTERS
};
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
	PRODUCT_DUPLICATE,
	PRODUCT_NO_CATEGORY
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
	struct request		*r;
	struct response		*rs;
	int			 ok;		/* 200, 201 or 204 */
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

static int
products_is_currency(const char *s)
{
	return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' &&
	    s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z';
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
		/* "" means none, like null. */
		if (in->category != NULL && *in->category == '\0')
			in->category = NULL;
		if (in->category != NULL && !catalog_slug_valid(in->category))
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
	/* A price is whole Money, in a PATCH too: half of one is ambiguous. */
	if (validate_int(v, price, "amount", "price.amount",
	    VALIDATE_REQUIRED, 0, LLONG_MAX, &in->amount) > 0)
		in->has |= PI_AMOUNT;
	if (validate_string(v, price, "currency", "price.currency",
	    VALIDATE_REQUIRED, 0, SIZE_MAX, &in->currency) > 0) {
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

/*
 * Turns ?q= into a boolean-mode query that cannot be a syntax error:
 * every run of ASCII letters and digits or non-ASCII bytes (q is valid
 * UTF-8) is a word, everything else (the operators + - < > ( ) ~ * " @
 * among them) separates words, and each word becomes "+word*": all words
 * must match, as a word or the start of one.  At most PRODUCTS_Q_WORDS
 * words.  A new string the caller frees; "" when q has no word.
 */
static char *
products_search(const char *q)
{
	char		*out, *o;
	size_t		 nwords = 0;
	unsigned char	 c;
	int		 inword = 0, isword;

	/* A one-byte word and its separator (2 bytes) become 4: "+w* ". */
	o = out = xmalloc(3 * strlen(q) + 1);
	for (; *q != '\0'; q++) {
		c = (unsigned char)*q;
		isword = c >= 0x80 || (c >= '0' && c <= '9') ||
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (isword && !inword) {
			if (nwords == PRODUCTS_Q_WORDS)
				break;
			if (nwords++ > 0)
				*o++ = ' ';
			*o++ = '+';
		} else if (!isword && inword)
			*o++ = '*';
		if (isword)
			*o++ = (char)c;
		inword = isword;
	}
	if (inword)
		*o++ = '*';
	*o = '\0';
	return out;
}

/* The filters of a listing, as the query gave them. */
struct product_filter {
	const char	*category;
	char		*search;	/* products_search(q) */
	const char	*q;
	long long	 min_price, max_price;	/* -1: none */
	const char	*currency;
};

/* ?name= as an amount: 0 and *v (-1 when absent), or -1. */
static int
products_amount(struct request *r, const char *name, long long *v)
{
	const char	*s;
	char		*end;

	*v = -1;
	if ((s = query_get(&r->rq_query, name)) == NULL || *s == '\0')
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    strlen(s) > 18)
		return -1;
	return 0;
}

/* Reads and checks the filters; 0, or -1 after answering 400. */
static int
products_filter(struct request *r, struct response *rs,
    struct product_filter *f)
{
	memset(f, 0, sizeof *f);
	f->category = query_get(&r->rq_query, "category");
	if (f->category != NULL && *f->category == '\0')
		f->category = NULL;
	if (f->category != NULL && !catalog_slug_valid(f->category)) {
		problem_send(r, rs, 400, "category must be a slug: lowercase "
		    "letters, digits and '-'");
		return -1;
	}
	f->q = query_get(&r->rq_query, "q");
	if (f->q != NULL && *f->q == '\0')
		f->q = NULL;
	if (f->q != NULL && (strlen(f->q) > PRODUCTS_Q_MAX ||
	    !json_utf8_valid(f->q, strlen(f->q)))) {
		problem_send(r, rs, 400, "q must be valid UTF-8 of at most "
		    "%d bytes", PRODUCTS_Q_MAX);
		return -1;
	}
	if (products_amount(r, "min_price", &f->min_price) == -1 ||
	    products_amount(r, "max_price", &f->max_price) == -1) {
		problem_send(r, rs, 400, "min_price and max_price must be "
		    "non-negative integers (minor units)");
		return -1;
	}
	f->currency = query_get(&r->rq_query, "currency");
	if (f->currency != NULL && *f->currency == '\0')
		f->currency = NULL;
	if (f->currency != NULL && !products_is_currency(f->currency)) {
		problem_send(r, rs, 400, "currency must be an ISO 4217 code: "
		    "3 uppercase letters");
		return -1;
	}
	if (f->q != NULL)
		f->search = products_search(f->q);
	return 0;
}

/* The cursor scope: the listing and its normalised filters. */
static char *
products_scope(const struct product_filter *f)
{
	char	*scope;

	xasprintf(&scope, "products?category=%s&q=%s&min_price=%lld"
	    "&max_price=%lld&currency=%s",
	    f->category != NULL ? f->category : "",
	    f->search != NULL ? f->search : "", f->min_price, f->max_price,
	    f->currency != NULL ? f->currency : "");
	return scope;
}

/* Binds f and the page as sql_lists[*which] expects. */
static size_t
products_list_bind(struct db_param *p, const struct product_filter *f,
    long long after, long long limit, int *which)
{
	static const struct db_param	 null = { .type = DB_NULL };
	size_t				 n = 0;

	*which = 0;
	if (f->category != NULL) {
		*which |= LIST_BY_CATEGORY;
		p[n++] = (struct db_param)DB_STR(f->category);
	}
	if (f->search != NULL) {
		*which |= LIST_BY_Q;
		p[n++] = (struct db_param)DB_STR(f->search);
	}
	p[n] = f->min_price < 0 ? null :
	    (struct db_param)DB_INT(f->min_price);
	p[n + 1] = p[n];
	n += 2;
	p[n] = f->max_price < 0 ? null :
	    (struct db_param)DB_INT(f->max_price);
	p[n + 1] = p[n];
	n += 2;
	p[n] = (struct db_param)DB_STR(f->currency);
	p[n + 1] = p[n];
	n += 2;
	p[n++] = (struct db_param)DB_INT(after);
	/* One more than asked tells whether there is a next page. */
	p[n++] = (struct db_param)DB_INT(limit + 1);
	return n;
}

void
products_list(struct request *r, struct response *rs)
{
	struct product_filter	 f;
	struct db_result	*res = NULL;
	struct db_param		 p[10];
	const char		*s, *errstr;
	char			*scope = NULL, *next = NULL;
	long long		 after = 0, limit;
	size_t			 i, n, shown = 0;
	int			 which;
	yajl_gen		 g;

	if (request_limit(r, rs, &limit) == -1 ||
	    products_filter(r, rs, &f) == -1)
		return;
	scope = products_scope(&f);
	if ((s = query_get(&r->rq_query, "cursor")) != NULL && *s != '\0' &&
	    cursor_decode(s, scope, &after, &errstr) == -1) {
		problem_send(r, rs, 400, "%s", errstr);
		goto done;
	}
	/* A q without a word matches nothing; no need to ask. */
	if (f.search == NULL || *f.search != '\0') {
		n = products_list_bind(p, &f, after, limit, &which);
		if (db_query(sql_lists[which], p, n, &res) == -1) {
			problem_db(r, rs, "list");
			goto done;
		}
		shown = res->nrows > (size_t)limit ? (size_t)limit :
		    res->nrows;
		if (res->nrows > (size_t)limit)
			next = cursor_encode(scope,
			    db_value(res, shown - 1, PC_ID)->i);
	}

	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_cstr(g, "items");
	yajl_gen_array_open(g);
	for (i = 0; i < shown; i++)
		products_gen(g, res, i);
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "next_cursor", next);
	yajl_gen_map_close(g);
done:
	free(f.search);
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

	if ((id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no product %s",
		    request_capture(r, "id"));
		return;
	}
	p[0] = (struct db_param)DB_INT(id);
	if (db_query(sql_get, p, 1, &res) == -1) {
		problem_db(r, rs, "get");
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

/* The outcome of a failed INSERT or UPDATE of a product. */
static int
products_write_error(void)
{
	switch (db_errno()) {
	case DB_ER_DUP_ENTRY:
		return PRODUCT_DUPLICATE;
	case CATALOG_ER_NO_REFERENCED_ROW:
		return PRODUCT_NO_CATEGORY;
	default:
		return -1;
	}
}

/* Reads the written row back into w->row. */
static int
products_reread(struct product_write *w)
{
	struct db_param	 p[1];

	p[0] = (struct db_param)DB_INT(w->id);
	db_result_free(w->row);
	w->row = NULL;
	if (db_query(sql_get, p, 1, &w->row) == -1)
		return -1;
	/* Written in this very transaction: it cannot be missing. */
	if (w->row->nrows != 1) {
		log_warnx("%s: product %lld vanished", __func__, w->id);
		return -1;
	}
	return 0;
}

/* Writes event type about product id with the document in g. */
static int
products_event(const char *type, long long id, yajl_gen g)
{
	char	 agg[32];

	snprintf(agg, sizeof agg, "%lld", id);
	return outbox_append_gen(type, agg, g);
}

/* product.created / product.updated: the product as it now is. */
static int
products_event_row(const char *type, const struct db_result *res)
{
	yajl_gen	 g;
	int		 rc;

	g = json_gen_new();
	products_gen(g, res, 0);
	rc = products_event(type, db_value(res, 0, PC_ID)->i, g);
	yajl_gen_free(g);
	return rc;
}

static void
products_gen_price(yajl_gen g, const char *key, const struct db_result *res)
{
	json_gen_cstr(g, key);
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "amount", db_value(res, 0, PC_AMOUNT)->i);
	json_gen_kv_str(g, "currency", db_value(res, 0, PC_CURRENCY)->s);
	yajl_gen_map_close(g);
}

/* product.price_changed when the price of old and new differs. */
static int
products_event_price(const struct db_result *old, const struct db_result *new)
{
	yajl_gen	 g;
	int		 rc;

	if (db_value(old, 0, PC_AMOUNT)->i == db_value(new, 0, PC_AMOUNT)->i &&
	    strcmp(db_value(old, 0, PC_CURRENCY)->s,
	    db_value(new, 0, PC_CURRENCY)->s) == 0)
		return 0;
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "id", db_value(new, 0, PC_ID)->i);
	json_gen_kv_str(g, "sku", db_value(new, 0, PC_SKU)->s);
	products_gen_price(g, "old_price", old);
	products_gen_price(g, "new_price", new);
	json_gen_kv_int(g, "version", db_value(new, 0, PC_VERSION)->i);
	yajl_gen_map_close(g);
	rc = products_event("product.price_changed",
	    db_value(new, 0, PC_ID)->i, g);
	yajl_gen_free(g);
	return rc;
}

/* product.deleted: what identified the product (old: its last row). */
static int
products_event_deleted(const struct db_result *old)
{
	yajl_gen	 g;
	int		 rc;

	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "id", db_value(old, 0, PC_ID)->i);
	json_gen_kv_str(g, "sku", db_value(old, 0, PC_SKU)->s);
	json_gen_kv_int(g, "version", db_value(old, 0, PC_VERSION)->i + 1);
	yajl_gen_map_close(g);
	rc = products_event("product.deleted", db_value(old, 0, PC_ID)->i, g);
	yajl_gen_free(g);
	return rc;
}

/*
 * Last step of every write transaction: the answer (w->ok with w->row,
 * or 204) goes into w->rs and is stored for the Idempotency-Key, so the
 * effects, their events and the stored answer commit together.  A retry
 * of the transaction builds it again from scratch.
 */
static int
products_finish(struct product_write *w)
{
	response_reset(w->rs);
	if (w->ok == 204)
		response_status(w->rs, 204);
	else
		products_reply(w->r, w->rs, w->ok, w->row);
	return idempotency_save(w->r, w->rs);
}

static int
products_create_txn(void *arg)
{
	struct product_write	*w = arg;
	struct db_param		 p[6];
	unsigned long long	 id;
	size_t			 n;
	int			 rc;

	n = products_bind(p, &w->in);
	if (db_exec(sql_insert, p, n, NULL, &id) == -1)
		return products_write_error();
	w->id = (long long)id;
	if ((rc = products_reread(w)) != 0 ||
	    (rc = products_event_row("product.created", w->row)) != 0)
		return rc;
	return products_finish(w);
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
		rc = products_write_error();
		goto done;
	}
	if ((rc = products_reread(w)) != 0 ||
	    (rc = products_event_row("product.updated", w->row)) != 0 ||
	    (rc = products_event_price(cur, w->row)) != 0)
		goto done;
	rc = products_finish(w);
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
		if ((rc = db_exec(sql_delete, p, 1, NULL, NULL)) == 0 &&
		    (rc = products_event_deleted(cur)) == 0)
			rc = products_finish(w);
	}
	db_result_free(cur);
	return rc;
}

/*
 * Runs a write; on success the transaction left the answer in rs, else
 * this answers the outcome.
 */
static void
products_write(struct product_write *w, int (*fn)(void *))
{
	struct request	*r = w->r;
	struct response	*rs = w->rs;
	struct validate	 v;

	switch (db_transaction(fn, w)) {
	case 0:
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
	case PRODUCT_NO_CATEGORY:
		validate_init(&v);
		validate_error(&v, "category", "no category \"%s\"",
		    w->in.category != NULL ? w->in.category : "");
		problem_validation(r, rs, &v);
		validate_free(&v);
		break;
	default:
		problem_db(r, rs, r->rq_method);
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

static void
products_write_init(struct product_write *w, struct request *r,
    struct response *rs, int ok)
{
	memset(w, 0, sizeof *w);
	w->r = r;
	w->rs = rs;
	w->ok = ok;
}

void
products_create(struct request *r, struct response *rs)
{
	struct product_write	 w;
	yajl_val		 body;

	if (catalog_writes_require_admin &&
	    !identity_require_role(r, rs, "admin"))
		return;
	products_write_init(&w, r, rs, 201);
	if (products_body(r, rs, 1, &body, &w.in) == -1)
		return;
	products_write(&w, products_create_txn);
	json_free(body);
}

static void
products_update(struct request *r, struct response *rs, int partial)
{
	struct product_write	 w;
	yajl_val		 body;

	products_write_init(&w, r, rs, 200);
	if ((w.id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no product %s",
		    request_capture(r, "id"));
		return;
	}
	if (products_body(r, rs, !partial, &body, &w.in) == -1)
		return;
	w.partial = partial;
	w.if_match = request_header(r, "If-Match");
	products_write(&w, products_update_txn);
	json_free(body);
}

void
products_replace(struct request *r, struct response *rs)
{
	if (catalog_writes_require_admin &&
	    !identity_require_role(r, rs, "admin"))
		return;
	products_update(r, rs, 0);
}

void
products_patch(struct request *r, struct response *rs)
{
	if (catalog_writes_require_admin &&
	    !identity_require_role(r, rs, "admin"))
		return;
	products_update(r, rs, 1);
}

void
products_delete(struct request *r, struct response *rs)
{
	struct product_write	 w;

	if (catalog_writes_require_admin &&
	    !identity_require_role(r, rs, "admin"))
		return;
	products_write_init(&w, r, rs, 204);
	if ((w.id = request_capture_id(r, "id")) == 0) {
		problem_send(r, rs, 404, "no product %s",
		    request_capture(r, "id"));
		return;
	}
	w.if_match = request_header(r, "If-Match");
	products_write(&w, products_delete_txn);
}
