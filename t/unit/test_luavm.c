/*
 * proxy/lua.c: request-phase functions of t/fixtures/rules/lua/
 * handlers.lua split traffic, edit headers and params, answer directly;
 * runaway loops and memory bombs end within their budgets; the sandbox
 * refuses every way out; errors carry file:line.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "json.h"
#include "luavm.h"

static char			 fixtures[PATH_MAX / 2];
static struct rules		*rl;
static struct luavm	*rt;

/* A request to path, with the given headers (name, value, ... NULL). */
struct req {
	struct luavm_request	 q;
	struct rule_match	 m;
	struct luavm_header	 h[8];
};

static void
mkreq(struct req *r, const char *method, const char *path, ...)
{
	va_list		 ap;
	const char	*n, *v;
	size_t		 i = 0;

	memset(r, 0, sizeof(*r));
	CU_ASSERT_EQUAL_FATAL(rules_lookup(rl, method, path, strlen(path),
	    &r->m), RULES_MATCH);
	r->q.lr_method = method;
	r->q.lr_path = path;
	r->q.lr_path_len = strlen(path);
	r->q.lr_match = &r->m;
	r->q.lr_client_addr = "192.0.2.7";
	r->q.lr_client_port = 40000;
	va_start(ap, path);
	while ((n = va_arg(ap, const char *)) != NULL && i < 8) {
		v = va_arg(ap, const char *);
		r->h[i].h_name = n;
		r->h[i].h_name_len = strlen(n);
		r->h[i].h_value = v;
		r->h[i].h_value_len = strlen(v);
		i++;
	}
	va_end(ap);
	r->q.lr_headers = r->h;
	r->q.lr_nheaders = i;
}

static const char *
param(const struct luavm_result *res, const char *name)
{
	size_t	 i;

	for (i = 0; i < res->lres_nparams; i++)
		if (strcmp(res->lres_params[i].kv_name, name) == 0)
			return res->lres_params[i].kv_value;
	return "(unset)";
}

static int
setup(void)
{
	char	 path[PATH_MAX], err[512];

	snprintf(path, sizeof(path), "%s/lua/handlers.lua", fixtures);
	if ((rl = rules_load(path, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		return -1;
	}
	if ((rt = luavm_new(rl, err, sizeof(err))) == NULL) {
		printf("# %s\n", err);
		return -1;
	}
	return 0;
}

static void
t_canary_header(void)
{
	struct luavm_result	 res;
	struct req		 r;

	mkreq(&r, "GET", "/api/header/7", "x-canary", "1", NULL);
	CU_ASSERT_TRUE(luavm_has(rt, r.m.m_route, LUAVM_PHASE_HANDLER));
	CU_ASSERT_FALSE(luavm_has(rt, r.m.m_route, LUAVM_PHASE_FALLBACK));
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	CU_ASSERT_STRING_EQUAL(res.lres_service, "catalog-canary");
	luavm_result_clear(&res);

	mkreq(&r, "GET", "/api/header/7", "X-Canary", "0", NULL);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	CU_ASSERT_PTR_NULL(res.lres_service);
	luavm_result_clear(&res);
}

static void
t_canary_percent(void)
{
	struct luavm_result	 res;
	struct req		 r;
	int			 i, canary = 0, sticky = 0;
	char			 addr[32];

	mkreq(&r, "GET", "/api/pct", NULL);
	for (i = 0; i < 10000; i++) {
		CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q,
		    &res), LUAVM_OUT_CONTINUE);
		if (res.lres_service != NULL &&
		    strcmp(res.lres_service, "catalog-canary") == 0)
			canary++;
		luavm_result_clear(&res);
	}
	/* 10% of 10000: 1000, sd 30; 6 sd either way */
	CU_ASSERT(canary > 820 && canary < 1180);

	/* sticky: the same client always lands on the same side */
	mkreq(&r, "GET", "/api/sticky", NULL);
	for (i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		r.q.lr_client_addr = addr;
		luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res);
		if (res.lres_service != NULL)
			sticky++;
		luavm_result_clear(&res);
		luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res);
		if (res.lres_service != NULL)
			sticky--;
		luavm_result_clear(&res);
	}
	CU_ASSERT_EQUAL(sticky, 0);
	for (i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
		r.q.lr_client_addr = addr;
		luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res);
		sticky += res.lres_service != NULL;
		luavm_result_clear(&res);
	}
	CU_ASSERT(sticky > 400 && sticky < 600);
}

static void
t_edit(void)
{
	struct luavm_result	 res;
	struct req		 r;
	char			 err[128];
	const char		*claims = "{\"sub\":\"u42\",\"roles\":"
	    "[\"admin\",\"x\"],\"exp\":1}";
	yajl_val		 v;

	mkreq(&r, "POST", "/edit/one/two/three", "X-In", "hello",
	    "Cookie", "a=1", "cookie", "b=2", NULL);
	r.q.lr_query = "limit=2";
	r.q.lr_query_len = 7;
	v = json_parse(claims, strlen(claims), 0, 0, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	r.q.lr_claims = v;
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	CU_ASSERT_STRING_EQUAL(res.lres_error, "");
	CU_ASSERT_EQUAL_FATAL(res.lres_nedits, 2);
	CU_ASSERT_EQUAL(res.lres_edits[0].he_op, LUAVM_HDR_SET);
	CU_ASSERT_STRING_EQUAL(res.lres_edits[0].he_name, "X-Seen");
	CU_ASSERT_STRING_EQUAL(res.lres_edits[0].he_value, "hello");
	CU_ASSERT_EQUAL(res.lres_edits[1].he_op, LUAVM_HDR_REMOVE);
	CU_ASSERT_STRING_EQUAL(res.lres_edits[1].he_name, "Cookie");
	CU_ASSERT_PTR_NULL(res.lres_edits[1].he_value);
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_A"), "one");
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_REST"), "two/three");
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_SUB"), "u42");
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_ROLE1"), "admin");
	/* reads see the edits made before them */
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_SEEN"), "hello");
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_COOKIE"), "gone");
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_Q"), "limit=2|POST");
	CU_ASSERT_PTR_NULL(res.lres_service);
	luavm_result_clear(&res);
	json_free(v);
}

static void
t_respond(void)
{
	struct luavm_result	 res;
	struct req		 r;
	size_t			 i;
	int			 seen = 0;

	mkreq(&r, "GET", "/answer/x", NULL);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	CU_ASSERT_EQUAL(res.lres_status, 418);
	CU_ASSERT_EQUAL(res.lres_body_len, 15);
	CU_ASSERT_STRING_EQUAL(res.lres_body, "{\"teapot\":true}");
	CU_ASSERT_EQUAL_FATAL(res.lres_nheaders, 2);
	for (i = 0; i < res.lres_nheaders; i++) {
		if (strcmp(res.lres_headers[i].kv_name, "Content-Type") == 0 &&
		    strcmp(res.lres_headers[i].kv_value,
		    "application/json") == 0)
			seen++;
		if (strcmp(res.lres_headers[i].kv_name, "X-Count") == 0 &&
		    strcmp(res.lres_headers[i].kv_value, "3") == 0)
			seen++;
	}
	CU_ASSERT_EQUAL(seen, 2);
	luavm_result_clear(&res);

	/* the fallback phase */
	mkreq(&r, "GET", "/fb", NULL);
	CU_ASSERT_FALSE(luavm_has(rt, r.m.m_route, LUAVM_PHASE_HANDLER));
	CU_ASSERT_TRUE(luavm_has(rt, r.m.m_route, LUAVM_PHASE_FALLBACK));
	CU_ASSERT_EQUAL(r.m.m_route->r_fallback, RULE_FALLBACK_LUA);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_FALLBACK, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	CU_ASSERT_EQUAL(res.lres_status, 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_body, "degraded"));
	luavm_result_clear(&res);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_ERROR);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_error, "no handler"));
	luavm_result_clear(&res);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
t_runaway(void)
{
	struct luavm_result	 res;
	struct req		 r;
	double			 t0;

	mkreq(&r, "GET", "/runaway", NULL);
	t0 = now();
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_ERROR);
	CU_ASSERT(now() - t0 < 2.0);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_error, "handlers.lua:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_error,
	    "rule ran too long (more than 1000000 instructions)"));
	luavm_result_clear(&res);

	/* a smaller budget, and the runtime still works after */
	luavm_limits(rt, 1000, 0);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_ERROR);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_error, "more than 1000 "));
	luavm_result_clear(&res);
	luavm_limits(rt, LUAVM_INSTRUCTIONS, 0);
	mkreq(&r, "GET", "/answer", NULL);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	luavm_result_clear(&res);
}

static void
t_memory(void)
{
	struct luavm_result	 res;
	struct req		 r;
	int			 i;

	mkreq(&r, "GET", "/bomb", NULL);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q,
		    &res), LUAVM_OUT_ERROR);
		CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_error,
		    "rule uses more than 33554432 bytes of memory"));
		luavm_result_clear(&res);
	}
	mkreq(&r, "GET", "/answer", NULL);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	luavm_result_clear(&res);
}

static void
t_sandbox(void)
{
	static const struct {
		const char	*path;
		const char	*want;
	} cases[] = {
		{ "/escape/os", "attempt to index a nil value (global 'os')" },
		{ "/escape/io", "attempt to index a nil value (global 'io')" },
		{ "/escape/require",
		    "attempt to call a nil value (global 'require')" },
		{ "/escape/load",
		    "attempt to call a nil value (global 'load')" },
		{ "/escape/dump",
		    "attempt to call a nil value (field 'dump')" },
		{ "/escape/debug",
		    "attempt to index a nil value (global 'debug')" },
		{ "/escape/dofile",
		    "attempt to call a nil value (global 'dofile')" },
		{ "/escape/pcall",
		    "attempt to call a nil value (global 'pcall')" },
		{ "/escape/route", "route{} is only for loading rules" },
		{ "/escape/param", "param REMOTE_USER is set by the gateway" },
		{ "/escape/crlf", "header value holds CR, LF or NUL" },
		{ "/reuse", "request object used outside its call" },
	};
	struct luavm_result	 res;
	struct req		 r;
	size_t			 i;

	mkreq(&r, "GET", "/keep", NULL);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	luavm_result_clear(&res);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mkreq(&r, "GET", cases[i].path, NULL);
		if (luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res) !=
		    LUAVM_OUT_ERROR || strstr(res.lres_error, "handlers.lua:") ==
		    NULL || strstr(res.lres_error, cases[i].want) == NULL) {
			printf("# %s: %s\n", cases[i].path, res.lres_error);
			CU_FAIL("sandbox escape not refused");
		}
		/* nothing recorded before the error leaks out */
		CU_ASSERT_EQUAL(res.lres_nparams + res.lres_nedits, 0);
		luavm_result_clear(&res);
	}
}

static void
t_error(void)
{
	struct luavm_result	 res;
	struct req		 r;
	char			 want[PATH_MAX + 64];

	mkreq(&r, "GET", "/fails", NULL);
	CU_ASSERT_EQUAL(luavm_call(rt, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_ERROR);
	snprintf(want, sizeof(want), "handlers.lua:%d: attempt to index a "
	    "nil value (local 't')", 86);
	if (strstr(res.lres_error, want) == NULL) {
		printf("# got %s\n", res.lres_error);
		CU_FAIL("error without file:line");
	}
	luavm_result_clear(&res);
}

static void
t_changed(void)
{
	struct luavm	*rt2;
	struct rules		*rl2;
	char			 path[PATH_MAX], err[512];

	/* the same file loads a second runtime */
	rt2 = luavm_new(rl, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(rt2);
	luavm_free(rt2);
	luavm_free(NULL);
	luavm_result_clear(NULL);

	/* a file that declares other routes on each run is refused */
	snprintf(path, sizeof(path), "%s/lua/chance.lua", fixtures);
	rl2 = rules_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl2);
	rt2 = luavm_new(rl2, err, sizeof(err));
	CU_ASSERT_PTR_NULL(rt2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "declared other routes"));
	luavm_free(rt2);
	rules_free(rl2);
}

/* The documented examples in rules/examples do what they say. */
static void
t_examples(void)
{
	struct luavm	*x;
	struct rules		*xr;
	struct luavm_result	 res;
	struct req		 r;
	char			 path[PATH_MAX], err[512];
	struct rules		*saved = rl;

	snprintf(path, sizeof(path), "%s/../../../rules/examples/"
	    "maintenance.lua", fixtures);
	xr = rules_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(xr);
	x = luavm_new(xr, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	rl = xr;
	mkreq(&r, "GET", "/api/products/7", NULL);
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	CU_ASSERT_EQUAL(res.lres_status, 503);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.lres_body, "maintenance"));
	luavm_result_clear(&res);
	r.q.lr_client_addr = "127.0.0.1";
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	luavm_result_clear(&res);
	luavm_free(x);
	rules_free(xr);

	snprintf(path, sizeof(path), "%s/../../../rules/examples/"
	    "api-key-tier.lua", fixtures);
	xr = rules_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(xr);
	x = luavm_new(xr, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	rl = xr;
	mkreq(&r, "GET", "/api/products", "X-Api-Key", "k-3f9a1c7e2b", NULL);
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	CU_ASSERT_STRING_EQUAL(res.lres_service, "catalog-gold");
	CU_ASSERT_STRING_EQUAL(param(&res, "AGORA_TIER"), "gold");
	CU_ASSERT_EQUAL_FATAL(res.lres_nedits, 1);
	CU_ASSERT_EQUAL(res.lres_edits[0].he_op, LUAVM_HDR_REMOVE);
	luavm_result_clear(&res);
	mkreq(&r, "GET", "/api/products", "X-Api-Key", "stolen", NULL);
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	CU_ASSERT_EQUAL(res.lres_status, 401);
	luavm_result_clear(&res);
	luavm_free(x);
	rules_free(xr);

	snprintf(path, sizeof(path), "%s/../../../rules/examples/"
	    "header-routing.lua", fixtures);
	xr = rules_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(xr);
	x = luavm_new(xr, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	rl = xr;
	mkreq(&r, "GET", "/api/products", "Cookie", "a=b; beta=1", NULL);
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	CU_ASSERT_STRING_EQUAL(res.lres_service, "catalog-v2");
	luavm_result_clear(&res);
	mkreq(&r, "GET", "/api/products", "X-Api-Version", "7", NULL);
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_RESPOND);
	CU_ASSERT_EQUAL(res.lres_status, 400);
	luavm_result_clear(&res);
	mkreq(&r, "GET", "/api/products", "Cookie", "nobeta=1", NULL);
	CU_ASSERT_EQUAL(luavm_call(x, LUAVM_PHASE_HANDLER, &r.q, &res),
	    LUAVM_OUT_CONTINUE);
	CU_ASSERT_PTR_NULL(res.lres_service);
	luavm_result_clear(&res);
	luavm_free(x);
	rules_free(xr);
	rl = saved;
}

static const struct unit_case cases[] = {
	{ "canary_header", t_canary_header },
	{ "canary_percent", t_canary_percent },
	{ "edit", t_edit },
	{ "respond", t_respond },
	{ "runaway", t_runaway },
	{ "memory", t_memory },
	{ "sandbox", t_sandbox },
	{ "error", t_error },
	{ "changed", t_changed },
	{ "examples", t_examples },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	const char	*top;
	int		 rc;

	if ((top = getenv("top_srcdir")) == NULL)
		top = ".";
	snprintf(fixtures, sizeof(fixtures), "%s/t/fixtures/rules", top);
	if (setup() == -1) {
		printf("1..1\nnot ok 1 - lua/setup\n");
		return 1;
	}
	rc = unit_main(argc, argv, "lua", cases);
	luavm_free(rt);
	rules_free(rl);
	return rc;
}
