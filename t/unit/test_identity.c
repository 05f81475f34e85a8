/* backends/common/identity.c: params, role lists, 401/403, the hook. */

#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "identity.h"
#include "json.h"
#include "request.h"
#include "response.h"
#include "runner.h"

/* A request whose params are envp, as libfcgi hands them over. */
struct fake {
	FCGX_Request	 fcgx;
	struct request	 r;
	struct response	 rs;
};

static void
fake_init(struct fake *f, char **envp)
{
	memset(f, 0, sizeof *f);
	f->fcgx.envp = envp;
	request_init(&f->r, &f->fcgx, 1024);
	response_init(&f->rs);
}

static void
fake_free(struct fake *f)
{
	response_free(&f->rs);
	request_free(&f->r);
}

/* The problem body's "status" member, or -1. */
static long long
fake_problem_status(struct fake *f)
{
	yajl_val	 v;
	long long	 status = -1;
	char		 err[64];

	if (f->rs.rs_body == NULL)
		return -1;
	if ((v = json_parse(f->rs.rs_body, f->rs.rs_bodylen, 0, 0, err,
	    sizeof err)) != NULL && json_get_int(v, "status", &status) != 0)
		status = -1;
	json_free(v);
	return status;
}

static void
t_parse_lists(void)
{
	struct identity	 id;

	identity_parse(&id, "alice", "Bearer", " admin,service  customer,,",
	    "inventory:write orders:read");
	CU_ASSERT_EQUAL(id.id_source, IDENTITY_PARAMS);
	CU_ASSERT_STRING_EQUAL(id.id_user, "alice");
	CU_ASSERT_STRING_EQUAL(id.id_type, "Bearer");
	CU_ASSERT_EQUAL(id.id_nroles, 3);
	CU_ASSERT_TRUE(identity_has_role(&id, "admin"));
	CU_ASSERT_TRUE(identity_has_role(&id, "service"));
	CU_ASSERT_TRUE(identity_has_role(&id, "customer"));
	/* Whole words only, case-sensitive. */
	CU_ASSERT_FALSE(identity_has_role(&id, "admi"));
	CU_ASSERT_FALSE(identity_has_role(&id, "Admin"));
	CU_ASSERT_FALSE(identity_has_role(&id, ""));
	CU_ASSERT_EQUAL(id.id_nscopes, 2);
	CU_ASSERT_TRUE(identity_has_scope(&id, "orders:read"));
	CU_ASSERT_FALSE(identity_has_scope(&id, "orders:write"));
	identity_free(&id);
	identity_free(NULL);
}

static void
t_parse_anonymous(void)
{
	struct identity	 id;

	/* Roles without a subject do not make an identity. */
	identity_parse(&id, NULL, NULL, "admin", NULL);
	CU_ASSERT_FALSE(identity_authenticated(&id));
	CU_ASSERT_FALSE(identity_has_role(&id, "admin"));
	identity_free(&id);
	identity_parse(&id, "", "Bearer", "admin", NULL);
	CU_ASSERT_FALSE(identity_authenticated(&id));
	CU_ASSERT_FALSE(identity_has_role(&id, "admin"));
	identity_free(&id);
	identity_parse(&id, "bob", NULL, NULL, NULL);
	CU_ASSERT_TRUE(identity_authenticated(&id));
	CU_ASSERT_EQUAL(id.id_nroles, 0);
	CU_ASSERT_PTR_NULL(id.id_type);
	identity_free(&id);
}

static void
t_parse_limit(void)
{
	struct identity	 id;
	char		 roles[IDENTITY_MAXLIST * 4 + 16];
	size_t		 i;

	roles[0] = '\0';
	for (i = 0; i < IDENTITY_MAXLIST + 5; i++)
		strcat(roles, "r ");
	identity_parse(&id, "u", NULL, roles, NULL);
	CU_ASSERT_EQUAL(id.id_nroles, IDENTITY_MAXLIST);
	identity_free(&id);
}

static void
t_require_401(void)
{
	char		*env[] = { "REQUEST_METHOD=POST",
	    "AUTH_ROLES=admin", "HTTP_REMOTE_USER=mallory", NULL };
	struct fake	 f;

	fake_init(&f, env);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 0);
	CU_ASSERT_EQUAL(f.rs.rs_status, 401);
	CU_ASSERT_EQUAL(fake_problem_status(&f), 401);
	CU_ASSERT_STRING_EQUAL(f.rs.rs_ctype, "application/problem+json");
	CU_ASSERT_PTR_NOT_NULL(f.rs.rs_headers != NULL ?
	    strstr(f.rs.rs_headers, "WWW-Authenticate: Bearer\r\n") : NULL);
	fake_free(&f);
}

static void
t_require_403(void)
{
	char		*env[] = { "REQUEST_METHOD=POST", "REMOTE_USER=carol",
	    "AUTH_ROLES=customer", NULL };
	struct fake	 f;

	fake_init(&f, env);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin",
	    "service"), 0);
	CU_ASSERT_EQUAL(f.rs.rs_status, 403);
	CU_ASSERT_EQUAL(fake_problem_status(&f), 403);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.rs.rs_body, "admin or service"));
	fake_free(&f);
}

static void
t_require_ok(void)
{
	char		*env[] = { "REMOTE_USER=orders", "AUTH_TYPE=Bearer",
	    "AUTH_ROLES=service", NULL };
	struct fake	 f;
	char		*caller;

	fake_init(&f, env);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin",
	    "service"), 1);
	/* Nothing was answered. */
	CU_ASSERT_EQUAL(f.rs.rs_status, 200);
	CU_ASSERT_PTR_NULL(f.rs.rs_body);
	CU_ASSERT_EQUAL(identity_require_user(&f.r, &f.rs), 1);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 0);
	CU_ASSERT_EQUAL(f.rs.rs_status, 403);
	caller = identity_caller(&f.r);
	CU_ASSERT_STRING_EQUAL(caller, "orders");
	free(caller);
	fake_free(&f);
}

/* A verifier standing in for the JWT code of a later issue. */
static int
fake_verify(const char *token, struct identity *id, const char **errstr)
{
	if (strcmp(token, "good") != 0) {
		*errstr = "bad signature";
		return -1;
	}
	identity_parse(id, "tok-user", NULL, "admin", "s1");
	return 0;
}

static void
t_verifier_hook(void)
{
	char		*good[] = { "HTTP_AUTHORIZATION=Bearer good", NULL };
	char		*bad[] = { "HTTP_AUTHORIZATION=bearer  forged", NULL };
	char		*both[] = { "HTTP_AUTHORIZATION=Bearer good",
	    "REMOTE_USER=gw-user", "AUTH_ROLES=customer", NULL };
	struct fake	 f;
	struct identity	 id;

	/* Without a verifier a token alone is anonymous. */
	fake_init(&f, good);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 0);
	CU_ASSERT_EQUAL(f.rs.rs_status, 401);
	fake_free(&f);

	identity_set_verifier(fake_verify);
	fake_init(&f, good);
	identity_get(&f.r, &id);
	CU_ASSERT_EQUAL(id.id_source, IDENTITY_TOKEN);
	CU_ASSERT_STRING_EQUAL(id.id_type, "Bearer");
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 1);
	identity_free(&id);
	fake_free(&f);

	fake_init(&f, bad);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 0);
	CU_ASSERT_EQUAL(f.rs.rs_status, 401);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.rs.rs_headers,
	    "error=\"invalid_token\""));
	fake_free(&f);

	/* The gateway's params win over a token. */
	fake_init(&f, both);
	identity_get(&f.r, &id);
	CU_ASSERT_EQUAL(id.id_source, IDENTITY_PARAMS);
	CU_ASSERT_STRING_EQUAL(id.id_user, "gw-user");
	identity_free(&id);
	fake_free(&f);
	identity_set_verifier(NULL);
}

static const struct unit_case cases[] = {
	{ "parse/lists", t_parse_lists },
	{ "parse/anonymous", t_parse_anonymous },
	{ "parse/limit", t_parse_limit },
	{ "require/401", t_require_401 },
	{ "require/403", t_require_403 },
	{ "require/ok", t_require_ok },
	{ "verifier/hook", t_verifier_hook },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "identity", cases);
}
