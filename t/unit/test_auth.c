/*
 * Unit tests of proxy/auth.c: bearer parsing, roles (any) and scopes
 * (all), the verified-token cache, the WWW-Authenticate line and the
 * params for the backend, with tokens signed by lib/jwt.h.
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

/* claims of a valid token for the test route, exp now + ttl */
static const char *
good(long long ttl, const char *sub, char *buf, size_t len)
{
	char	 claims[512];

	snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"iss\":\"iss1\","
	    "\"aud\":\"agora\",\"exp\":%lld,\"roles\":[\"ops\"],"
	    "\"scope\":\"read write\"}", sub, (long long)time(NULL) + ttl);
	return bearer(claims, buf, len);
}

/* a hit hands out the cached claims; roles still count per route */
static void
t_cache_hit(void)
{
	struct rule_route	 rt, strict;
	struct jwt_claims	*c1, *c2, *c3;
	const char		*errstr;
	char			 buf[2048], *other[] = { "root" };

	setup();
	auth_cache_clear();
	memset(&rt, 0, sizeof(rt));
	rt.r_roles.rn_v = admin_role;
	rt.r_roles.rn_n = 2;
	rt.r_scopes.rn_v = read_scope;
	rt.r_scopes.rn_n = 2;
	good(60, "u1", buf, sizeof(buf));
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c1, &errstr), 0);
	CU_ASSERT_EQUAL(auth_cache_count(), 1);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c2, &errstr), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
	/* the same object: not verified and parsed again */
	CU_ASSERT_PTR_EQUAL(c1, c2);
	CU_ASSERT_STRING_EQUAL(c2->jc_sub, "u1");
	CU_ASSERT_EQUAL(auth_cache_count(), 1);
	/* a route wanting another role refuses the cached token */
	strict = rt;
	strict.r_roles.rn_v = other;
	strict.r_roles.rn_n = 1;
	CU_ASSERT_EQUAL(auth_check(&J, &strict, buf, 0, &c3, &errstr), 403);
	CU_ASSERT_PTR_NULL(c3);
	/* the request's reference outlives the cache's */
	auth_cache_clear();
	CU_ASSERT_EQUAL(auth_cache_count(), 0);
	jwt_claims_free(c1);
	CU_ASSERT_STRING_EQUAL(c2->jc_sub, "u1");
	jwt_claims_free(c2);
}

/* one byte changed: a miss, and the signature fails */
static void
t_cache_tampered(void)
{
	struct rule_route	 rt;
	struct jwt_claims	*c;
	const char		*errstr;
	char			 buf[2048], *sig;

	setup();
	auth_cache_clear();
	memset(&rt, 0, sizeof(rt));
	good(60, "u2", buf, sizeof(buf));
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c, &errstr), 0);
	jwt_claims_free(c);
	/* a middle character of the signature: every bit of it counts */
	sig = strrchr(buf, '.');
	CU_ASSERT_PTR_NOT_NULL_FATAL(sig);
	sig += strlen(sig) / 2;
	*sig = *sig == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "bad token signature");
	CU_ASSERT_PTR_NULL(c);
	/* and it was not entered */
	CU_ASSERT_EQUAL(auth_cache_count(), 1);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "bad token signature");
}

/* a cached token expires on a hit, with the leeway */
static void
t_cache_expired(void)
{
	struct rule_route	 rt;
	struct jwt_claims	*c;
	const char		*errstr;
	char			 buf[2048];
	time_t			 now = time(NULL);

	setup();
	auth_cache_clear();
	memset(&rt, 0, sizeof(rt));
	good(60, "u3", buf, sizeof(buf));
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now, &c, &errstr), 0);
	jwt_claims_free(c);
	CU_ASSERT_EQUAL(auth_cache_count(), 1);
	/* still good at exp - 1 (a hit), refused from exp on */
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now + 59, &c, &errstr), 0);
	jwt_claims_free(c);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now + 60, &c, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "token expired");
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(auth_cache_count(), 0);

	/* with a leeway of 30 s, accepted to exp + 29 */
	J.jwt_leeway = 30000;
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now, &c, &errstr), 0);
	jwt_claims_free(c);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now + 89, &c, &errstr), 0);
	jwt_claims_free(c);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now + 90, &c, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "token expired");
	J.jwt_leeway = 0;
	/* the leeway changed: verified again, so refused at now + 60 */
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, now + 60, &c, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "token expired");
}

/* a new key set, a gw_jwt going or a new audience empty the cache */
static void
t_cache_keys(void)
{
	struct rule_route	 rt;
	struct jwt_claims	*c1, *c2;
	struct jwt_keyset	*keep, *ks;
	const char		*errstr;
	char			 buf[2048];

	setup();
	auth_cache_clear();
	memset(&rt, 0, sizeof(rt));
	good(60, "u4", buf, sizeof(buf));
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c1, &errstr), 0);

	/* another key under the same kid: the cached token must fail */
	keep = J.jwt_keys;
	J.jwt_keys = ks = jwt_keyset_new();
	CU_ASSERT_EQUAL_FATAL(jwt_keyset_add(ks,
	    jwt_key_generate(JWT_ALG_ES256, "k1", &errstr)), 0);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c2, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "bad token signature");
	CU_ASSERT_EQUAL(auth_cache_count(), 0);
	J.jwt_keys = keep;
	jwt_keyset_free(ks);

	/* back to the old set: verified again, a new object */
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c2, &errstr), 0);
	CU_ASSERT_PTR_NOT_EQUAL(c1, c2);
	jwt_claims_free(c1);
	c1 = c2;

	/* a configuration going (reload) empties every thread's cache */
	auth_jwks_stop(&J);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c2, &errstr), 0);
	CU_ASSERT_PTR_NOT_EQUAL(c1, c2);
	CU_ASSERT_EQUAL(auth_cache_count(), 1);
	jwt_claims_free(c1);
	jwt_claims_free(c2);

	/* another audience: the cached token is checked against it */
	J.jwt_audience = "elsewhere";
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c2, &errstr), 401);
	CU_ASSERT_STRING_EQUAL(errstr, "wrong token audience");
	J.jwt_audience = "agora";
}

/* the cache never holds more than AUTH_CACHE_SIZE tokens */
static void
t_cache_bound(void)
{
	struct rule_route	 rt;
	struct jwt_claims	*c, *last;
	const char		*errstr;
	char			 buf[2048], sub[32];
	size_t			 i;

	setup();
	auth_cache_clear();
	memset(&rt, 0, sizeof(rt));
	for (i = 0; i < 2 * AUTH_CACHE_SIZE; i++) {
		snprintf(sub, sizeof(sub), "u%zu", i);
		good(60, sub, buf, sizeof(buf));
		CU_ASSERT_EQUAL_FATAL(auth_check(&J, &rt, buf, 0, &c, &errstr),
		    0);
		jwt_claims_free(c);
		CU_ASSERT_FATAL(auth_cache_count() <= AUTH_CACHE_SIZE);
	}
	/* well filled, and the last one in is there */
	CU_ASSERT(auth_cache_count() > AUTH_CACHE_SIZE / 2);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &last, &errstr), 0);
	CU_ASSERT_EQUAL(auth_check(&J, &rt, buf, 0, &c, &errstr), 0);
	CU_ASSERT_PTR_EQUAL(c, last);
	CU_ASSERT_STRING_EQUAL(c->jc_sub, sub);
	jwt_claims_free(c);
	jwt_claims_free(last);
	auth_cache_clear();
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
	{ "cache_hit", t_cache_hit },
	{ "cache_tampered", t_cache_tampered },
	{ "cache_expired", t_cache_expired },
	{ "cache_keys", t_cache_keys },
	{ "cache_bound", t_cache_bound },
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
	auth_cache_clear();
	jwt_keyset_free(J.jwt_keys);
	jwt_key_free(key);
	return rc;
}
