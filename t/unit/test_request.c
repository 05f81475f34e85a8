/* backends/common/request.c: query decoding, paths, body limits, ETags. */

#include <string.h>

#include "request.h"
#include "response.h"
#include "runner.h"

static void
t_query_basic(void)
{
	struct query	 q;
	const char	*err = NULL;

	CU_ASSERT_EQUAL_FATAL(query_parse(&q,
	    "limit=10&cursor=abc-_&q=caf%C3%A9+au+lait&empty=&flag&&a=1&a=2",
	    &err), 0);
	CU_ASSERT_EQUAL(q.q_n, 7);
	CU_ASSERT_STRING_EQUAL(query_get(&q, "limit"), "10");
	CU_ASSERT_STRING_EQUAL(query_get(&q, "cursor"), "abc-_");
	CU_ASSERT_STRING_EQUAL(query_get(&q, "q"), "caf\xc3\xa9 au lait");
	CU_ASSERT_STRING_EQUAL(query_get(&q, "empty"), "");
	CU_ASSERT_STRING_EQUAL(query_get(&q, "flag"), "");
	CU_ASSERT_STRING_EQUAL(query_get(&q, "a"), "1");
	CU_ASSERT_PTR_NULL(query_get(&q, "missing"));
	query_free(&q);
	query_free(NULL);
}

static void
t_query_escapes(void)
{
	struct query	 q;
	const char	*err = NULL;

	CU_ASSERT_EQUAL_FATAL(query_parse(&q,
	    "n%61me=%27%3B%20DROP%20TABLE%20products%3B--%5c&x=%2b%26%3d",
	    &err), 0);
	CU_ASSERT_STRING_EQUAL(query_get(&q, "name"),
	    "'; DROP TABLE products;--\\");
	CU_ASSERT_STRING_EQUAL(query_get(&q, "x"), "+&=");
	query_free(&q);
	CU_ASSERT_EQUAL(query_parse(&q, "", &err), 0);
	CU_ASSERT_EQUAL(q.q_n, 0);
	query_free(&q);
}

static void
t_query_errors(void)
{
	static const char *const bad[] = {
		"a=%", "a=%4", "a=%zz", "a=%00", "%=1", "a=b%2", "a=%ff",
		"a=%c3", NULL
	};
	struct query	 q;
	const char	*err;
	size_t		 i;

	for (i = 0; bad[i] != NULL; i++) {
		err = NULL;
		CU_ASSERT_EQUAL(query_parse(&q, bad[i], &err), -1);
		CU_ASSERT_PTR_NOT_NULL(err);
		CU_ASSERT_EQUAL(q.q_n, 0);
		CU_ASSERT_PTR_NULL(q.q_params);
	}
}

/* A request whose params are env, without a connection. */
static void
fake(struct request *r, FCGX_Request *f, char **env, size_t maxbody)
{
	memset(f, 0, sizeof *f);
	f->envp = env;
	request_init(r, f, maxbody);
}

static void
t_paths(void)
{
	static char *env1[] = { "REQUEST_METHOD=PUT", "PATH_INFO=/products/7",
	    "SCRIPT_NAME=/api", "REQUEST_ID=abc",
	    "QUERY_STRING=limit=5", NULL };
	static char *env2[] = { "REQUEST_URI=/api/products?limit=2",
	    "SCRIPT_NAME=/api", NULL };
	static char *env3[] = { "REQUEST_URI=/apix/products",
	    "SCRIPT_NAME=/api", "PATH_INFO=", NULL };
	static char *env4[] = { "QUERY_STRING=a=%zz", NULL };
	struct request	 r;
	FCGX_Request	 f;

	fake(&r, &f, env1, 10);
	CU_ASSERT_STRING_EQUAL(r.rq_method, "PUT");
	CU_ASSERT_STRING_EQUAL(r.rq_path, "/products/7");
	CU_ASSERT_STRING_EQUAL(r.rq_script, "/api");
	CU_ASSERT_STRING_EQUAL(r.rq_id, "abc");
	CU_ASSERT_TRUE(r.rq_query_ok);
	CU_ASSERT_STRING_EQUAL(query_get(&r.rq_query, "limit"), "5");
	request_free(&r);

	fake(&r, &f, env2, 10);
	CU_ASSERT_STRING_EQUAL(r.rq_method, "GET");
	CU_ASSERT_STRING_EQUAL(r.rq_path, "/products");
	CU_ASSERT_STRING_EQUAL(r.rq_id, "-");
	request_free(&r);

	fake(&r, &f, env3, 10);
	CU_ASSERT_STRING_EQUAL(r.rq_path, "/apix/products");
	request_free(&r);

	fake(&r, &f, env4, 10);
	CU_ASSERT_FALSE(r.rq_query_ok);
	CU_ASSERT_PTR_NOT_NULL(r.rq_query_err);
	CU_ASSERT_STRING_EQUAL(r.rq_path, "/");
	request_free(&r);
	request_free(NULL);
}

static void
t_headers(void)
{
	static char *env[] = { "HTTP_IF_MATCH=\"3\"",
	    "CONTENT_TYPE=application/json", "HTTP_X_A_B=1", NULL };
	struct request	 r;
	FCGX_Request	 f;

	fake(&r, &f, env, 10);
	CU_ASSERT_STRING_EQUAL(request_header(&r, "If-Match"), "\"3\"");
	CU_ASSERT_STRING_EQUAL(request_header(&r, "if-match"), "\"3\"");
	CU_ASSERT_STRING_EQUAL(request_header(&r, "Content-Type"),
	    "application/json");
	CU_ASSERT_STRING_EQUAL(request_header(&r, "X-A-B"), "1");
	CU_ASSERT_PTR_NULL(request_header(&r, "If-None-Match"));
	request_free(&r);
}

static void
t_body_limits(void)
{
	static char *big[] = { "CONTENT_LENGTH=101", NULL };
	static char *bad[] = { "CONTENT_LENGTH=-1", NULL };
	static char *shortb[] = { "CONTENT_LENGTH=5", NULL };
	struct request	 r;
	FCGX_Request	 f;
	const char	*err;

	fake(&r, &f, big, 100);
	CU_ASSERT_EQUAL(request_body(&r, &err), 413);
	request_free(&r);
	fake(&r, &f, bad, 100);
	CU_ASSERT_EQUAL(request_body(&r, &err), 400);
	request_free(&r);
	fake(&r, &f, shortb, 100);
	CU_ASSERT_EQUAL(request_body(&r, &err), 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "shorter"));
	request_free(&r);
}

static void
t_json_ctype(void)
{
	static char *plain[] = { "CONTENT_TYPE=text/plain",
	    "CONTENT_LENGTH=2", NULL };
	static char *none[] = { "CONTENT_LENGTH=2", NULL };
	static char *merge[] = {
	    "CONTENT_TYPE=application/merge-patch+json; charset=utf-8",
	    "CONTENT_LENGTH=0", NULL };
	static char *big[] = { "CONTENT_TYPE=Application/JSON",
	    "CONTENT_LENGTH=1000", NULL };
	struct request	 r;
	struct response	 rs;
	FCGX_Request	 f;

	fake(&r, &f, plain, 100);
	response_init(&rs);
	CU_ASSERT_PTR_NULL(request_json(&r, &rs));
	CU_ASSERT_EQUAL(rs.rs_status, 415);
	CU_ASSERT_STRING_EQUAL(rs.rs_ctype, "application/problem+json");
	CU_ASSERT_PTR_NOT_NULL(strstr(rs.rs_body, "\"status\":415"));
	response_free(&rs);
	request_free(&r);

	fake(&r, &f, none, 100);
	response_init(&rs);
	CU_ASSERT_PTR_NULL(request_json(&r, &rs));
	CU_ASSERT_EQUAL(rs.rs_status, 415);
	response_free(&rs);
	request_free(&r);

	/* Accepted type, empty document: 400, not 415. */
	fake(&r, &f, merge, 100);
	response_init(&rs);
	CU_ASSERT_PTR_NULL(request_json(&r, &rs));
	CU_ASSERT_EQUAL(rs.rs_status, 400);
	response_free(&rs);
	request_free(&r);

	fake(&r, &f, big, 100);
	response_init(&rs);
	CU_ASSERT_PTR_NULL(request_json(&r, &rs));
	CU_ASSERT_EQUAL(rs.rs_status, 413);
	response_free(&rs);
	request_free(&r);
}

static void
t_etag(void)
{
	CU_ASSERT_TRUE(request_etag_match("\"3\"", "\"3\"", 0));
	CU_ASSERT_TRUE(request_etag_match("\"1\", \"3\"", "\"3\"", 0));
	CU_ASSERT_TRUE(request_etag_match("*", "\"3\"", 0));
	CU_ASSERT_FALSE(request_etag_match("\"33\"", "\"3\"", 0));
	CU_ASSERT_FALSE(request_etag_match("3", "\"3\"", 0));
	CU_ASSERT_FALSE(request_etag_match(NULL, "\"3\"", 1));
	/* Weak tags match only in the weak comparison (If-None-Match). */
	CU_ASSERT_FALSE(request_etag_match("W/\"3\"", "\"3\"", 0));
	CU_ASSERT_TRUE(request_etag_match("W/\"3\"", "\"3\"", 1));
	CU_ASSERT_FALSE(request_etag_match("\"3", "\"3\"", 0));
}

static void
t_response_header(void)
{
	struct response	 rs;

	response_init(&rs);
	CU_ASSERT_EQUAL(response_header(&rs, "ETag", "\"%d\"", 4), 0);
	CU_ASSERT_EQUAL(response_header(&rs, "X-Bad", "a\r\nSet-Cookie: x"),
	    -1);
	CU_ASSERT_STRING_EQUAL(rs.rs_headers, "ETag: \"4\"\r\n");
	response_free(&rs);
	response_free(NULL);
}

#define A16	"aaaaaaaaaaaaaaaa"
#define A63	A16 A16 A16 "aaaaaaaaaaaaaaa"

/* A parsed body that yajl accepts but request_json() must refuse. */
static void
t_json_check(void)
{
	static const struct {
		const char	*json;
		int		 ok;
		const char	*why;
	} c[] = {
		{ "{\"a\": 1, \"b\": [1, {\"c\": \"\xc3\xa9\"}]}", 0, NULL },
		{ "{}", 0, NULL },
		{ "{\"a\": 1, \"b\": 2, \"a\": 3}", -1, "\"a\" appears twice" },
		{ "{\"x\": {\"k\": 1, \"k\": 1}}", -1, "\"k\" appears twice" },
		{ "[{\"k\": 1}, {\"k\": 1}]", 0, NULL },
		/* an encoded surrogate, an overlong '/' */
		{ "{\"a\": \"\xed\xa0\x80\"}", -1, "not valid UTF-8" },
		{ "{\"a\": [\"\xc0\xaf\"]}", -1, "not valid UTF-8" },
		{ "{\"\xed\xa0\x80\": 1}", -1, "member name is not valid" },
		/* a long name is cut before the 'é' that straddles byte 64 */
		{ "{\"" A63 "\xc3\xa9x\": 1, \"" A63 "\xc3\xa9x\": 2}", -1,
		  "\"" A63 "\" appears" },
	};
	char		 err[128];
	yajl_val	 v;
	size_t		 i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		v = yajl_tree_parse(c[i].json, err, sizeof err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		err[0] = '\0';
		CU_ASSERT_EQUAL(request_json_check(v, err, sizeof err),
		    c[i].ok);
		if (c[i].why != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(err, c[i].why));
		yajl_tree_free(v);
	}
}

static const struct unit_case cases[] = {
	{ "body/json_check", t_json_check },
	{ "query/basic", t_query_basic },
	{ "query/escapes", t_query_escapes },
	{ "query/errors", t_query_errors },
	{ "paths", t_paths },
	{ "headers", t_headers },
	{ "body/limits", t_body_limits },
	{ "body/json_ctype", t_json_ctype },
	{ "etag", t_etag },
	{ "response/header", t_response_header },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "request", cases);
}
