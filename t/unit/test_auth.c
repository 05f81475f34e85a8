/*
 * Unit tests of proxy/auth.c: bearer parsing, roles (any) and scopes
 * (all), the WWW-Authenticate line and the params for the backend, with
 * tokens signed by lib/jwt.h.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "rules.h"
#include "jwt.h"
#include "upstream.h"
#include "auth.h"
#include "runner.h"

static struct jwt_key	*key;
static struct gw_jwt	 J;
static char		*admin_role[] = { "admin", "ops" };
static char		*read_scope[] = { "read", "write" };

/* "Bearer <token>" for claims signed with the test key, in buf. */
static const char *
bearer(const char *claims, char *buf, size_t len)
{
	const char	*errstr;
	char		*t;

	t = jwt_sign(key, claims, NULL, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	snprintf(buf, len, "Bearer %s", t);
	free(t);
	return buf;
}

static void
setup(void)
{
	const char	*errstr;
	char		*pem;
	size_t		 len;

	if (key != NULL)
		return;
	key = jwt_key_generate(JWT_ALG_ES256, "k1", &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	J.jwt_keys = jwt_keyset_new();
	/* a second handle on the same key: the set owns it */
	pem = jwt_key_private_pem(key, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
	CU_ASSERT_EQUAL_FATAL(jwt_keyset_add(J.jwt_keys,
	    jwt_key_from_pem(pem, len, JWT_ALG_ES256, "k1", &errstr)), 0);
	free(pem);
	J.jwt_issuer = "iss1";
	J.jwt_audience = "agora";
	J.jwt_leeway = 0;
}

static void
t_check(void)
{
	struct rule_route	 rt;
	struct jwt_claims	*c;
	const char		*errstr;
	char			 buf[2048], claims[512];
	long long		 now = time(NULL);

	setup();
	memset(&rt, 0, sizeof(rt));
	rt.r_roles.rn_v = admin_role;
	rt.r_roles.rn_n = 2;
	rt.r_scopes.rn_v = read_scope;
	rt.r_scopes.rn_n = 2;

	CU_ASSERT_EQUAL(auth_check(&J, &rt, NULL, 0, &c, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "missing bearer token");
	CU_ASSERT_EQUAL(auth_check(&J, &rt, "Basic eDp5", 0, &c, &errstr),
	    401);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, "Bearer ", 0, &c, &errstr), 401);

	snprintf(claims, sizeof(claims), "{\"sub\":\"u1\",\"iss\":\"iss1\","
	    "\"aud\":\"agora\",\"exp\":%lld,\"roles\":[\"ops\",\"x\"],"
	    "\"scope\":\"write read\"}", now + 60);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, bearer(claims, buf, sizeof(buf)),
	    0, &c, &errstr), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->jc_sub, "u1");
	jwt_claims_free(c);

	/* the scheme is case-insensitive */
	bearer(claims, buf, sizeof(buf));
	memcpy(buf, "bEARER", 6);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c, &errstr), 0);
	jwt_claims_free(c);

	snprintf(claims, sizeof(claims), "{\"sub\":\"u1\",\"iss\":\"iss1\","
	    "\"aud\":\"agora\",\"exp\":%lld,\"roles\":[\"buyer\"],"
	    "\"scope\":\"read write\"}", now + 60);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, bearer(claims, buf, sizeof(buf)),
	    0, &c, &errstr), 403);
	CU_ASSERT_PTR_NULL(c);

	/* "rea" is not "read": scopes are whole words */
	snprintf(claims, sizeof(claims), "{\"sub\":\"u1\",\"iss\":\"iss1\","
	    "\"aud\":\"agora\",\"exp\":%lld,\"roles\":\"admin\","
	    "\"scope\":\"rea write\"}", now + 60);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, bearer(claims, buf, sizeof(buf)),
	    0, &c, &errstr), 403);

	snprintf(claims, sizeof(claims), "{\"sub\":\"u1\",\"iss\":\"iss2\","
	    "\"aud\":\"agora\",\"exp\":%lld,\"roles\":\"admin\","
	    "\"scope\":\"read write\"}", now + 60);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, bearer(claims, buf, sizeof(buf)),
	    0, &c, &errstr), 401);
	snprintf(claims, sizeof(claims), "{\"sub\":\"u1\",\"iss\":\"iss1\","
	    "\"aud\":\"agora\",\"exp\":%lld}", now - 10);
	rt.r_roles.rn_n = rt.r_scopes.rn_n = 0;
	CU_ASSERT_EQUAL(auth_check(&J, &rt, bearer(claims, buf, sizeof(buf)),
	    0, &c, &errstr), 401);
	/* no keys at all */
	CU_ASSERT_EQUAL(auth_check(NULL, &rt, buf, 0, &c, &errstr), 401);
}

static void
t_challenge(void)
{
	char	 buf[512];

	auth_challenge(401, "bad \"sig\"\r\n", buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "WWW-Authenticate: Bearer realm=\"agora\""
	    ", error=\"invalid_token\", error_description=\"bad 'sig'''\"\r\n");
	auth_challenge(403, "no role", buf, sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "error=\"insufficient_scope\""));
}

static void
t_params(void)
{
	struct jwt_claims	 c;
	struct upstream_param	 p[AUTH_NPARAMS];
	char			*roles[] = { "admin", "ops" }, buf[16];

	memset(&c, 0, sizeof(c));
	c.jc_sub = "u9";
	c.jc_roles = roles;
	c.jc_nroles = 2;
	CU_ASSERT_EQUAL(auth_params(&c, p, buf, sizeof(buf)), 4);
	CU_ASSERT_STRING_EQUAL(p[0].up_name, "REMOTE_USER");
	CU_ASSERT_STRING_EQUAL(p[0].up_value, "u9");
	CU_ASSERT_STRING_EQUAL(p[1].up_value, "Bearer");
	CU_ASSERT_STRING_EQUAL(p[2].up_name, "AUTH_ROLES");
	CU_ASSERT_STRING_EQUAL(p[2].up_value, "admin ops");
	CU_ASSERT_EQUAL(p[2].up_value_len, 9);
	CU_ASSERT_STRING_EQUAL(p[3].up_name, "AUTH_SCOPE");
	CU_ASSERT_STRING_EQUAL(p[3].up_value, "");
	/* roles that do not fit are left out, never cut */
	CU_ASSERT_EQUAL(auth_params(&c, p, buf, 8), 4);
	CU_ASSERT_STRING_EQUAL(p[2].up_value, "admin");
}

/* "jwks url": http:// only, host, port (default 80), Host and path */
static void
t_url_parse(void)
{
	static const struct {
		const char	*url, *host, *port, *hosthdr, *path;
	} good[] = {
		{ "http://127.0.0.1:8080/.well-known/jwks.json", "127.0.0.1",
		    "8080", "127.0.0.1:8080", "/.well-known/jwks.json" },
		{ "http://auth.example", "auth.example", "80",
		    "auth.example", "/" },
		{ "HTTP://[::1]:81/k?x=1", "::1", "81", "[::1]:81",
		    "/k?x=1" },
		{ "http://[::1]/", "::1", "80", "[::1]", "/" },
	};
	static const char *bad[] = {
		"https://h/", "http://", "http:///x", "http://:80/",
		"http://h:/", "http://h:0/", "http://h:65536/", "http://h:8a/",
		"http://u@h/", "http://[::1/", "http://[::1]x/", "http://h/a b",
		"ftp://h/",
	};
	const char	*errstr;
	char		*host, *port, *hosthdr, *path;
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		errstr = NULL;
		CU_ASSERT_EQUAL_FATAL(auth_url_parse(good[i].url, &host, &port,
		    &hosthdr, &path, &errstr), 0);
		CU_ASSERT_STRING_EQUAL(host, good[i].host);
		CU_ASSERT_STRING_EQUAL(port, good[i].port);
		CU_ASSERT_STRING_EQUAL(hosthdr, good[i].hosthdr);
		CU_ASSERT_STRING_EQUAL(path, good[i].path);
		free(host);
		free(port);
		free(hosthdr);
		free(path);
		CU_ASSERT_EQUAL(auth_url_parse(good[i].url, NULL, NULL, NULL,
		    NULL, &errstr), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errstr = NULL;
		CU_ASSERT_EQUAL(auth_url_parse(bad[i], NULL, NULL, NULL,
		    NULL, &errstr), -1);
		CU_ASSERT_PTR_NOT_NULL(errstr);
	}
}

static const struct unit_case cases[] = {
	{ "check", t_check },
	{ "challenge", t_challenge },
	{ "params", t_params },
	{ "url_parse", t_url_parse },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	int	 rc;

	rc = unit_main(argc, argv, "auth", cases);
	jwt_keyset_free(J.jwt_keys);
	jwt_key_free(key);
	return rc;
}
