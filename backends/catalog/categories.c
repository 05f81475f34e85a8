/*
 * Categories: a tree of slugs.  A category names its parent (or none)
 * when it is created and never changes afterwards, so the tree cannot
 * grow a cycle; products reference a category by slug, and
 * GET /products?category= lists a category together with its
 * descendants (products.c).
 */

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

enum category_col { CC_ID, CC_SLUG, CC_NAME, CC_PARENT, CC_CREATED };

#define CATEGORY_COLS	"id, slug, name, parent, created_at"

static const char sql_get[] =
    "SELECT " CATEGORY_COLS " FROM categories WHERE slug = ?";
static const char sql_list[] =
    "SELECT " CATEGORY_COLS " FROM categories WHERE id > ?"
    " ORDER BY id LIMIT ?";
static const char sql_insert[] =
    "INSERT INTO categories (slug, name, parent, created_at)"
    " VALUES (?, ?, ?, UTC_TIMESTAMP(6))";

#define CATEGORIES_SCOPE	"categories"

/* Outcomes of the create transaction besides 0 and -1. */
enum category_outcome {
	CATEGORY_DUPLICATE = 1,
	CATEGORY_NO_PARENT
};

struct category_write {
	struct request	*r;
	struct response	*rs;
	const char	*slug;
	const char	*name;
	const char	*parent;	/* NULL: a root */
};

static const char *const category_known[] = {
	"slug", "name", "parent", NULL
};
static const char *const category_readonly[] = { "created_at", NULL };

/* Writes row of res as a category. */
static void
categories_gen(yajl_gen g, const struct db_result *res, size_t row)
{
	const struct db_value	*parent = db_value(res, row, CC_PARENT);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "slug", db_value(res, row, CC_SLUG)->s);
	json_gen_kv_str(g, "name", db_value(res, row, CC_NAME)->s);
	json_gen_kv_str(g, "parent", parent->isnull ? NULL : parent->s);
	json_gen_kv_str(g, "created_at", db_value(res, row, CC_CREATED)->s);
	yajl_gen_map_close(g);
}

void
categories_list(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[2];
	const char		*s, *errstr;
	char			*next = NULL;
	long long		 after = 0, limit;
	size_t			 i, shown;
	yajl_gen		 g;

	if (request_limit(r, rs, &limit) == -1)
		return;
	if ((s = query_get(&r->rq_query, "cursor")) != NULL && *s != '\0' &&
	    cursor_decode(s, CATEGORIES_SCOPE, &after, &errstr) == -1) {
		problem_send(r, rs, 400, "%s", errstr);
		return;
	}
	p[0] = (struct db_param)DB_INT(after);
	p[1] = (struct db_param)DB_INT(limit + 1);
	if (db_query(sql_list, p, 2, &res) == -1) {
		problem_db(r, rs, "categories list");
		return;
	}
	shown = res->nrows > (size_t)limit ? (size_t)limit : res->nrows;
	if (res->nrows > (size_t)limit)
		next = cursor_encode(CATEGORIES_SCOPE,
		    db_value(res, shown - 1, CC_ID)->i);
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_cstr(g, "items");
	yajl_gen_array_open(g);
	for (i = 0; i < shown; i++)
		categories_gen(g, res, i);
	yajl_gen_array_close(g);
	json_gen_kv_str(g, "next_cursor", next);
	yajl_gen_map_close(g);
	free(next);
	db_result_free(res);
}

void
categories_get(struct request *r, struct response *rs)
{
	struct db_result	*res;
	struct db_param		 p[1];
	const char		*slug = request_capture(r, "slug");

	if (slug == NULL || !catalog_slug_valid(slug)) {
		problem_send(r, rs, 404, "no such category");
		return;
	}
	p[0] = (struct db_param)DB_STR(slug);
	if (db_query(sql_get, p, 1, &res) == -1) {
		problem_db(r, rs, "category get");
		return;
	}
	if (res->nrows == 0)
		problem_send(r, rs, 404, "no category %s", slug);
	else
		categories_gen(response_json(rs), res, 0);
	db_result_free(res);
}

/*
 * Inserts the category, answers 201 with it, writes category.created and
 * stores the answer for the Idempotency-Key, all in one transaction.
 */
static int
categories_create_txn(void *arg)
{
	struct category_write	*w = arg;
	struct db_result	*res = NULL;
	struct db_param		 p[3];
	yajl_gen		 g;
	int			 rc;

	p[0] = (struct db_param)DB_STR(w->slug);
	p[1] = (struct db_param)DB_STR(w->name);
	p[2] = (struct db_param)DB_STR(w->parent);
	if (db_exec(sql_insert, p, 3, NULL, NULL) == -1) {
		if (db_errno() == DB_ER_DUP_ENTRY)
			return CATEGORY_DUPLICATE;
		if (db_errno() == CATALOG_ER_NO_REFERENCED_ROW)
			return CATEGORY_NO_PARENT;
		return -1;
	}
	if (db_query(sql_get, p, 1, &res) == -1)
		return -1;
	if (res->nrows != 1) {
		log_warnx("%s: category %s vanished", __func__, w->slug);
		db_result_free(res);
		return -1;
	}
	response_reset(w->rs);
	response_status(w->rs, 201);
	response_header(w->rs, "Location", "%s/categories/%s",
	    w->r->rq_script, w->slug);
	categories_gen(response_json(w->rs), res, 0);

	g = json_gen_new();
	categories_gen(g, res, 0);
	rc = outbox_append_gen("category.created", w->slug, g);
	yajl_gen_free(g);
	db_result_free(res);
	if (rc == 0)
		rc = idempotency_save(w->r, w->rs);
	return rc;
}

static void
categories_input(struct validate *v, yajl_val body, struct category_write *w)
{
	validate_known(v, body, "", category_known, category_readonly);
	if (validate_string(v, body, "slug", "slug", VALIDATE_REQUIRED, 1,
	    CATALOG_SLUG_MAX, &w->slug) > 0 && !catalog_slug_valid(w->slug))
		validate_error(v, "slug", "must be a slug: lowercase letters, "
		    "digits and '-'");
	validate_string(v, body, "name", "name", VALIDATE_REQUIRED, 1, 200,
	    &w->name);
	if (validate_string(v, body, "parent", "parent", 0, 1,
	    CATALOG_SLUG_MAX, &w->parent) > 0 &&
	    !catalog_slug_valid(w->parent))
		validate_error(v, "parent", "must be a slug: lowercase "
		    "letters, digits and '-'");
}

void
categories_create(struct request *r, struct response *rs)
{
	struct category_write	 w;
	struct validate		 v;
	yajl_val		 body;

	if (catalog_writes_require_admin &&
	    !identity_require_role(r, rs, "admin"))
		return;
	if ((body = request_json(r, rs)) == NULL)
		return;
	memset(&w, 0, sizeof w);
	w.r = r;
	w.rs = rs;
	validate_init(&v);
	categories_input(&v, body, &w);
	if (v.v_n > 0) {
		problem_validation(r, rs, &v);
		goto done;
	}
	switch (db_transaction(categories_create_txn, &w)) {
	case 0:
		break;
	case CATEGORY_DUPLICATE:
		problem_send(r, rs, 409, "category \"%s\" already exists",
		    w.slug);
		break;
	case CATEGORY_NO_PARENT:
		validate_error(&v, "parent", "no category \"%s\"", w.parent);
		problem_validation(r, rs, &v);
		break;
	default:
		problem_db(r, rs, "category create");
		break;
	}
done:
	validate_free(&v);
	json_free(body);
}
