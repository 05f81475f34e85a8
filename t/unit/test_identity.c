/* backends/common/identity.c: params, role lists, 401/403, the hook. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "identity.h"
#include "json.h"
#include "jwt.h"
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

/* --- the JWT verifier, with keys made by lib/jwt.h ------------------------ */

#define ISS	"https://auth.test"

static char	jwks_dir[64];
static char	jwks_path[128];

/* A keyset of one fresh ES256 key; its JWKS is what the file holds. */
static struct jwt_keyset *
keys_new(const char *kid)
{
	struct jwt_keyset	*ks;
	const char		*errstr;

	ks = jwt_keyset_new();
	CU_ASSERT_FATAL(jwt_keyset_add(ks, jwt_key_generate(JWT_ALG_ES256,
	    kid, &errstr)) == 0);
	return ks;
}

/* Writes the public JWKS of ks (or raw text) in place of the file. */
static void
jwks_write(const struct jwt_keyset *ks, const char *raw)
{
	char	 tmp[160];
	char	*json = NULL;
	FILE	*fp;

	if (ks != NULL)
		raw = json = jwt_keyset_jwks(ks, NULL);
	snprintf(tmp, sizeof tmp, "%s.new", jwks_path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(tmp, "w"));
	fputs(raw, fp);
	fclose(fp);
	/* rename: a new inode, so even a same-second rewrite is noticed */
	CU_ASSERT_FATAL(rename(tmp, jwks_path) == 0);
	free(json);
}

/*
 * A token signed by the first key of ks.  exp_in: seconds from now (0: no
 * exp); NULL strings leave the claim out.
 */
static char *
token_make(const struct jwt_keyset *ks, const char *typ, const char *iss,
    const char *aud, const char *sub, long exp_in)
{
	const struct {
		const char	*name, *value;
	} strs[] = { { "iss", iss }, { "aud", aud }, { "sub", sub } };
	const char	*errstr;
	char		 claims[512];
	char		*tok;
	size_t		 i, n;

	n = snprintf(claims, sizeof claims, "{\"iat\": %lld, "
	    "\"roles\": [\"admin\", \"service\"], "
	    "\"scope\": \"orders:read inventory:write\"",
	    (long long)time(NULL));
	if (exp_in != 0)
		n += snprintf(claims + n, sizeof claims - n, ", \"exp\": %lld",
		    (long long)time(NULL) + exp_in);
	for (i = 0; i < sizeof strs / sizeof strs[0]; i++)
		if (strs[i].value != NULL)
			n += snprintf(claims + n, sizeof claims - n,
			    ", \"%s\": \"%s\"", strs[i].name, strs[i].value);
	snprintf(claims + n, sizeof claims - n, "}");
	tok = jwt_sign(jwt_keyset_get(ks, 0), claims, typ, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	return tok;
}

static int
jwt_ok(const char *tok, struct identity *id, const char **errstr)
{
	*errstr = NULL;
	return identity_jwt_verify(tok, id, errstr);
}

static void
jwt_setup(void)
{
	snprintf(jwks_dir, sizeof jwks_dir, "/tmp/test_identity.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(jwks_dir));
	snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", jwks_dir);
}

static void
jwt_teardown(void)
{
	char	 tmp[160];

	identity_jwt_reset();
	unlink(jwks_path);
	snprintf(tmp, sizeof tmp, "%s.new", jwks_path);
	unlink(tmp);
	rmdir(jwks_dir);
}

static void
t_jwt_accepts(void)
{
	struct jwt_keyset	*ks;
	struct identity		 id;
	const char		*errstr;
	char			*tok;

	jwt_setup();
	ks = keys_new("k1");
	jwks_write(ks, NULL);
	CU_ASSERT_EQUAL_FATAL(identity_jwt_configure(jwks_path, ISS,
	    &errstr), 0);
	tok = token_make(ks, "at+jwt", ISS, "agora", "42", 300);
	CU_ASSERT_EQUAL(jwt_ok(tok, &id, &errstr), 0);
	CU_ASSERT_STRING_EQUAL(id.id_user, "42");
	CU_ASSERT_STRING_EQUAL(id.id_type, "Bearer");
	CU_ASSERT_EQUAL(id.id_nroles, 2);
	CU_ASSERT_TRUE(identity_has_role(&id, "admin"));
	CU_ASSERT_TRUE(identity_has_role(&id, "service"));
	CU_ASSERT_FALSE(identity_has_role(&id, "customer"));
	CU_ASSERT_EQUAL(id.id_nscopes, 2);
	CU_ASSERT_TRUE(identity_has_scope(&id, "inventory:write"));
	identity_free(&id);
	free(tok);

	/* "application/at+jwt" is the same type (RFC 9068). */
	tok = token_make(ks, "application/at+jwt", ISS, "agora", "42", 300);
	CU_ASSERT_EQUAL(jwt_ok(tok, &id, &errstr), 0);
	identity_free(&id);
	free(tok);

	/* Expired 30 s ago: still within the 60 s leeway. */
	tok = token_make(ks, "at+jwt", ISS, "agora", "42", -30);
	CU_ASSERT_EQUAL(jwt_ok(tok, &id, &errstr), 0);
	identity_free(&id);
	free(tok);
	jwt_keyset_free(ks);
	jwt_teardown();
}

static void
t_jwt_refuses(void)
{
	struct jwt_keyset	*ks, *other;
	struct identity		 id;
	const char		*errstr;
	char			*tok, *good, *forged;
	size_t			 i;
	static const struct {
		const char	*what, *typ, *iss, *aud, *sub;
		long		 exp;
	} bad[] = {
		{ "wrong issuer", "at+jwt", "https://evil.test", "agora",
		    "42", 300 },
		{ "no issuer", "at+jwt", NULL, "agora", "42", 300 },
		{ "wrong audience", "at+jwt", ISS, "shop", "42", 300 },
		{ "no audience", "at+jwt", ISS, NULL, "42", 300 },
		{ "typ JWT", "JWT", ISS, "agora", "42", 300 },
		{ "no typ", NULL, ISS, "agora", "42", 300 },
		{ "no exp", "at+jwt", ISS, "agora", "42", 0 },
		{ "expired beyond the leeway", "at+jwt", ISS, "agora", "42",
		    -120 },
		{ "no sub", "at+jwt", ISS, "agora", NULL, 300 },
		{ "empty sub", "at+jwt", ISS, "agora", "", 300 },
	};

	jwt_setup();
	ks = keys_new("k1");
	jwks_write(ks, NULL);
	CU_ASSERT_EQUAL_FATAL(identity_jwt_configure(jwks_path, ISS,
	    &errstr), 0);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tok = token_make(ks, bad[i].typ, bad[i].iss, bad[i].aud,
		    bad[i].sub, bad[i].exp);
		if (jwt_ok(tok, &id, &errstr) != -1) {
			fprintf(stderr, "accepted: %s\n", bad[i].what);
			CU_FAIL("a bad token was accepted");
		} else
			CU_ASSERT_PTR_NOT_NULL(errstr);
		CU_ASSERT_PTR_NULL(id.id_user);
		identity_free(&id);
		free(tok);
	}

	/* Same kid, another key: the signature does not verify. */
	other = keys_new("k1");
	tok = token_make(other, "at+jwt", ISS, "agora", "42", 300);
	CU_ASSERT_EQUAL(jwt_ok(tok, &id, &errstr), -1);
	free(tok);
	/* A payload edited after signing. */
	good = token_make(ks, "at+jwt", ISS, "agora", "42", 300);
	forged = token_make(other, "at+jwt", ISS, "agora", "1", 300);
	{
		char	*d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
		char	*f1 = strchr(forged, '.'), *f2 = strchr(f1 + 1, '.');
		char	*mix;

		/* header and signature of good, payload of forged */
		if (asprintf(&mix, "%.*s%.*s%s", (int)(d1 - good), good,
		    (int)(f2 - f1), f1, d2) != -1) {
			CU_ASSERT_EQUAL(jwt_ok(mix, &id, &errstr), -1);
			free(mix);
		}
	}
	CU_ASSERT_EQUAL(jwt_ok("not.a-token", &id, &errstr), -1);
	CU_ASSERT_EQUAL(jwt_ok("", &id, &errstr), -1);
	free(good);
	free(forged);
	jwt_keyset_free(other);
	jwt_keyset_free(ks);
	jwt_teardown();
}

static void
t_jwt_reload(void)
{
	struct jwt_keyset	*k1, *k2;
	struct identity		 id;
	const char		*errstr;
	char			*t1, *t2;

	jwt_setup();
	k1 = keys_new("k1");
	k2 = keys_new("k2");
	t1 = token_make(k1, "at+jwt", ISS, "agora", "1", 300);
	t2 = token_make(k2, "at+jwt", ISS, "agora", "2", 300);

	/* No file yet: configured, but every token refused. */
	CU_ASSERT_EQUAL_FATAL(identity_jwt_configure(jwks_path, ISS,
	    &errstr), 0);
	CU_ASSERT_EQUAL(jwt_ok(t1, &id, &errstr), -1);
	/* The file appears. */
	jwks_write(k1, NULL);
	CU_ASSERT_EQUAL(jwt_ok(t1, &id, &errstr), 0);
	identity_free(&id);
	CU_ASSERT_EQUAL(jwt_ok(t2, &id, &errstr), -1);
	/* Rotated to k2: k1's tokens are refused from now on. */
	jwks_write(k2, NULL);
	CU_ASSERT_EQUAL(jwt_ok(t2, &id, &errstr), 0);
	CU_ASSERT_STRING_EQUAL(id.id_user, "2");
	identity_free(&id);
	CU_ASSERT_EQUAL(jwt_ok(t1, &id, &errstr), -1);
	/* A broken file keeps the keys before it. */
	jwks_write(NULL, "{\"keys\": [ garbage");
	CU_ASSERT_EQUAL(jwt_ok(t2, &id, &errstr), 0);
	identity_free(&id);
	/* An empty set is no set either. */
	jwks_write(NULL, "{\"keys\": []}");
	CU_ASSERT_EQUAL(jwt_ok(t2, &id, &errstr), 0);
	identity_free(&id);

	free(t1);
	free(t2);
	jwt_keyset_free(k1);
	jwt_keyset_free(k2);
	jwt_teardown();
}

/* identity_jwt_from_env() installs the verifier behind identity_get(). */
static void
t_jwt_env(void)
{
	struct jwt_keyset	*ks;
	struct identity		 id;
	struct fake		 f;
	const char		*errstr;
	char			*tok, *hdr, *bad;
	char			*envp[] = { NULL, NULL };
	char			*forged[] = { NULL, "REMOTE_USER=",
	    "AUTH_ROLES=admin", NULL };

	jwt_setup();
	unsetenv("AGORA_JWKS_FILE");
	unsetenv("AGORA_AUTH_ISSUER");
	CU_ASSERT_EQUAL(identity_jwt_from_env(&errstr), 0);
	setenv("AGORA_JWKS_FILE", jwks_path, 1);
	CU_ASSERT_EQUAL(identity_jwt_from_env(&errstr), -1);
	setenv("AGORA_AUTH_ISSUER", ISS, 1);

	ks = keys_new("k1");
	jwks_write(ks, NULL);
	CU_ASSERT_EQUAL_FATAL(identity_jwt_from_env(&errstr), 1);
	tok = token_make(ks, "at+jwt", ISS, "agora", "7", 300);
	if (asprintf(&hdr, "HTTP_AUTHORIZATION=Bearer %s", tok) == -1)
		CU_FAIL_FATAL("asprintf");
	envp[0] = hdr;
	fake_init(&f, envp);
	identity_get(&f.r, &id);
	CU_ASSERT_EQUAL(id.id_source, IDENTITY_TOKEN);
	CU_ASSERT_STRING_EQUAL(id.id_user, "7");
	identity_free(&id);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 1);
	fake_free(&f);

	/* Empty identity params with roles: the token still decides. */
	forged[0] = hdr;
	fake_init(&f, forged);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 1);
	fake_free(&f);

	/* A bad signature: 401 invalid_token, never anonymous access. */
	if (asprintf(&bad, "HTTP_AUTHORIZATION=Bearer %s", tok) == -1)
		CU_FAIL_FATAL("asprintf");
	/* a character inside the signature, not its last (padding bits) */
	bad[strlen(bad) - 10] = bad[strlen(bad) - 10] == 'A' ? 'B' : 'A';
	envp[0] = bad;
	fake_init(&f, envp);
	CU_ASSERT_EQUAL(identity_require_role(&f.r, &f.rs, "admin"), 0);
	CU_ASSERT_EQUAL(f.rs.rs_status, 401);
	CU_ASSERT_PTR_NOT_NULL(strstr(f.rs.rs_headers,
	    "error=\"invalid_token\""));
	fake_free(&f);

	free(bad);
	free(hdr);
	free(tok);
	jwt_keyset_free(ks);
	unsetenv("AGORA_JWKS_FILE");
	unsetenv("AGORA_AUTH_ISSUER");
	jwt_teardown();
	/* reset removed the verifier: a token alone is anonymous again */
	envp[0] = "HTTP_AUTHORIZATION=Bearer x.y.z";
	fake_init(&f, envp);
	identity_get(&f.r, &id);
	CU_ASSERT_EQUAL(id.id_source, IDENTITY_NONE);
	CU_ASSERT_EQUAL(id.id_bad_token, 0);
	fake_free(&f);
}

static const struct unit_case cases[] = {
	{ "parse/lists", t_parse_lists },
	{ "parse/anonymous", t_parse_anonymous },
	{ "parse/limit", t_parse_limit },
	{ "require/401", t_require_401 },
	{ "require/403", t_require_403 },
	{ "require/ok", t_require_ok },
	{ "verifier/hook", t_verifier_hook },
	{ "jwt/accepts", t_jwt_accepts },
	{ "jwt/refuses", t_jwt_refuses },
	{ "jwt/reload", t_jwt_reload },
	{ "jwt/env", t_jwt_env },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "identity", cases);
}
