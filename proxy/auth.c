/*
 * JWT at the edge (see auth.h).
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "xmalloc.h"
#include "fcgi_client.h"

#include "config.h"
#include "rules.h"
#include "jwt.h"
#include "upstream.h"
#include "auth.h"

#define AUTH_FETCH_TIMEOUT_MS	2000
#define AUTH_RETRY_MS		1000	/* until the first set */
#define AUTH_KID_REFRESH_MS	10000	/* unknown kid: at most this often */

struct auth_jwks {
	pthread_rwlock_t	 aj_rw;		/* aj_keys */
	struct jwt_keyset	*aj_keys;	/* NULL until fetched */
	pthread_mutex_t		 aj_mtx;	/* the rest */
	pthread_cond_t		 aj_cond;
	pthread_t		 aj_tid;
	int			 aj_stop;
	int			 aj_wake;
	uint64_t		 aj_last;	/* ms, last fetch started */
	char			*aj_addr;
	char			*aj_path;
	char			*aj_service;
	int			 aj_refresh;	/* ms */
};

static uint64_t
auth_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One GET of the JWKS; 0 and a new set in *ks, or -1 (logged). */
static int
auth_fetch(struct auth_jwks *aj, struct jwt_keyset **ks)
{
	struct fcgi_client_response	 resp;
	const struct fcgi_client_param	 p[] = {
		{ "GATEWAY_INTERFACE", "CGI/1.1" },
		{ "SERVER_PROTOCOL", "HTTP/1.1" },
		{ "SERVER_SOFTWARE", "agora-gateway/" PACKAGE_VERSION },
		{ "REQUEST_METHOD", "GET" },
		{ "REQUEST_URI", aj->aj_path },
		{ "SCRIPT_NAME", "" },
		{ "PATH_INFO", aj->aj_path },
		{ "QUERY_STRING", "" },
		{ "CONTENT_LENGTH", "" },
		{ "REMOTE_ADDR", "127.0.0.1" },
		{ "REQUEST_ID", "gateway-jwks" },
		{ "HTTP_ACCEPT", "application/json" },
	};
	const char			*errstr = NULL;

	memset(&resp, 0, sizeof(resp));
	if (fcgi_client_request(aj->aj_addr, AUTH_FETCH_TIMEOUT_MS, p,
	    sizeof(p) / sizeof(p[0]), NULL, 0, &resp, &errstr) == -1) {
		log_warnx("%s: jwks from service %s: %s", __func__,
		    aj->aj_service, errstr);
		return -1;
	}
	if (resp.status != 200) {
		log_warnx("%s: jwks from service %s: status %d", __func__,
		    aj->aj_service, resp.status);
		fcgi_client_response_free(&resp);
		return -1;
	}
	*ks = jwt_keyset_from_jwks_flags(resp.body, resp.bodylen,
	    JWT_JWKS_SKIP_UNUSABLE, &errstr);
	fcgi_client_response_free(&resp);
	if (*ks == NULL) {
		log_warnx("%s: jwks from service %s: %s", __func__,
		    aj->aj_service, errstr);
		return -1;
	}
	return 0;
}

static void *
auth_jwks_main(void *arg)
{
	struct auth_jwks	*aj = arg;
	struct jwt_keyset	*ks, *old;
	struct timespec		 ts;
	uint64_t		 wait;
	int			 have = 0, n;

	pthread_mutex_lock(&aj->aj_mtx);
	while (!aj->aj_stop) {
		aj->aj_last = auth_now_ms();
		aj->aj_wake = 0;
		pthread_mutex_unlock(&aj->aj_mtx);
		if (auth_fetch(aj, &ks) == 0) {
			n = (int)jwt_keyset_count(ks);
			pthread_rwlock_wrlock(&aj->aj_rw);
			old = aj->aj_keys;
			aj->aj_keys = ks;
			pthread_rwlock_unlock(&aj->aj_rw);
			jwt_keyset_free(old);
			if (!have)
				log_info("jwks: %d key%s from service %s", n,
				    n == 1 ? "" : "s", aj->aj_service);
			have = 1;
		}
		pthread_mutex_lock(&aj->aj_mtx);
		wait = have ? (uint64_t)aj->aj_refresh : AUTH_RETRY_MS;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!aj->aj_stop && !aj->aj_wake &&
		    pthread_cond_timedwait(&aj->aj_cond, &aj->aj_mtx, &ts) !=
		    ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&aj->aj_mtx);
	return NULL;
}

int
auth_jwks_start(struct gw_jwt *j, const char *addr)
{
	struct auth_jwks	*aj;

	if (j == NULL || j->jwt_jwks_service == NULL || j->jwt_fetch != NULL)
		return 0;
	aj = xcalloc(1, sizeof(*aj));
	pthread_rwlock_init(&aj->aj_rw, NULL);
	pthread_mutex_init(&aj->aj_mtx, NULL);
	pthread_cond_init(&aj->aj_cond, NULL);
	aj->aj_addr = xstrdup(addr);
	aj->aj_path = xstrdup(j->jwt_jwks_path);
	aj->aj_service = xstrdup(j->jwt_jwks_service);
	aj->aj_refresh = j->jwt_refresh > 0 ? j->jwt_refresh : 300000;
	if ((errno = pthread_create(&aj->aj_tid, NULL, auth_jwks_main,
	    aj)) != 0) {
		log_warn("%s: pthread_create", __func__);
		free(aj->aj_addr);
		free(aj->aj_path);
		free(aj->aj_service);
		free(aj);
		return -1;
	}
	j->jwt_fetch = aj;
	return 0;
}

void
auth_jwks_stop(struct gw_jwt *j)
{
	struct auth_jwks	*aj;

	if (j == NULL || (aj = j->jwt_fetch) == NULL)
		return;
	pthread_mutex_lock(&aj->aj_mtx);
	aj->aj_stop = 1;
	pthread_cond_signal(&aj->aj_cond);
	pthread_mutex_unlock(&aj->aj_mtx);
	pthread_join(aj->aj_tid, NULL);
	jwt_keyset_free(aj->aj_keys);
	pthread_rwlock_destroy(&aj->aj_rw);
	pthread_mutex_destroy(&aj->aj_mtx);
	pthread_cond_destroy(&aj->aj_cond);
	free(aj->aj_addr);
	free(aj->aj_path);
	free(aj->aj_service);
	free(aj);
	j->jwt_fetch = NULL;
}

/* An unknown kid: fetch again now, unless that was done lately. */
static void
auth_jwks_poke(struct auth_jwks *aj)
{
	pthread_mutex_lock(&aj->aj_mtx);
	if (auth_now_ms() - aj->aj_last >= AUTH_KID_REFRESH_MS) {
		aj->aj_last = auth_now_ms();
		aj->aj_wake = 1;
		pthread_cond_signal(&aj->aj_cond);
	}
	pthread_mutex_unlock(&aj->aj_mtx);
}

/* jwt_verify() against the fetched set, then the file's. */
static int
auth_verify(const struct gw_jwt *j, const char *tok,
    const struct jwt_expect *ex, struct jwt_claims **c, const char **errstr)
{
	struct auth_jwks	*aj = j->jwt_fetch;
	int			 rc = -1, unknown = 0;

	*errstr = "no keys to verify tokens with";
	if (aj != NULL) {
		pthread_rwlock_rdlock(&aj->aj_rw);
		if (aj->aj_keys != NULL)
			rc = jwt_verify(aj->aj_keys, tok, ex, c, errstr);
		else
			unknown = 1;
		pthread_rwlock_unlock(&aj->aj_rw);
		if (rc == 0)
			return 0;
		if (unknown || strcmp(*errstr, "unknown key id") == 0)
			auth_jwks_poke(aj);
	}
	/* the file's keys, unless the fetched set judged the token */
	if (j->jwt_keys != NULL && (aj == NULL || unknown ||
	    strcmp(*errstr, "unknown key id") == 0))
		rc = jwt_verify(j->jwt_keys, tok, ex, c, errstr);
	return rc;
}

/* The token of "Bearer <token>" (RFC 6750 2.1), or NULL. */
static const char *
auth_bearer(const char *h)
{
	const char	*t;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	for (t = h + 7; *t == ' '; t++)
		;
	return *t != '\0' ? t : NULL;
}

static int
auth_has_role(const struct jwt_claims *c, const char *role)
{
	size_t	 i;

	for (i = 0; i < c->jc_nroles; i++)
		if (strcmp(c->jc_roles[i], role) == 0)
			return 1;
	return 0;
}

/* Is scope one of the space-separated words of list? */
static int
auth_has_scope(const char *list, const char *scope)
{
	size_t		 n = strlen(scope);
	const char	*p;

	if (list == NULL)
		return 0;
	for (p = list; (p = strstr(p, scope)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return 1;
	return 0;
}

int
auth_check(const struct gw_jwt *j, const struct rule_route *route,
    const char *authorization, time_t now, struct jwt_claims **claims,
    const char **errstr)
{
	struct jwt_expect	 ex;
	struct jwt_claims	*c = NULL;
	const char		*tok;
	size_t			 i;

	*claims = NULL;
	if (j == NULL || (j->jwt_keys == NULL && j->jwt_fetch == NULL)) {
		*errstr = "no keys to verify tokens with";
		return 401;
	}
	if ((tok = auth_bearer(authorization)) == NULL) {
		*errstr = "missing bearer token";
		return 401;
	}
	memset(&ex, 0, sizeof(ex));
	ex.iss = j->jwt_issuer;
	ex.aud = j->jwt_audience;
	ex.leeway = j->jwt_leeway / 1000;
	ex.now = now;
	ex.require_exp = 1;
	if (auth_verify(j, tok, &ex, &c, errstr) == -1)
		return 401;
	if (route->r_roles.rn_n > 0) {
		for (i = 0; i < route->r_roles.rn_n; i++)
			if (auth_has_role(c, route->r_roles.rn_v[i]))
				break;
		if (i == route->r_roles.rn_n) {
			jwt_claims_free(c);
			*errstr = "the token lacks a required role";
			return 403;
		}
	}
	for (i = 0; i < route->r_scopes.rn_n; i++) {
		if (!auth_has_scope(c->jc_scope, route->r_scopes.rn_v[i])) {
			jwt_claims_free(c);
			*errstr = "the token lacks a required scope";
			return 403;
		}
	}
	*claims = c;
	return 0;
}

void
auth_challenge(int status, const char *errstr, char *buf, size_t len)
{
	char	 desc[200];
	size_t	 i;

	/* a quoted-string: no quote, backslash or control character */
	for (i = 0; errstr[i] != '\0' && i < sizeof(desc) - 1; i++)
		desc[i] = errstr[i] == '"' || errstr[i] == '\\' ||
		    (unsigned char)errstr[i] < 0x20 ? '\'' : errstr[i];
	desc[i] = '\0';
	snprintf(buf, len, "WWW-Authenticate: Bearer realm=\"agora\", "
	    "error=\"%s\", error_description=\"%s\"\r\n",
	    status == 403 ? "insufficient_scope" : "invalid_token", desc);
}

size_t
auth_params(const struct jwt_claims *c, struct upstream_param *p,
    char *rolesbuf, size_t rolesbuflen)
{
	size_t	 i, n = 0, off = 0, l;

	rolesbuf[0] = '\0';
	for (i = 0; i < c->jc_nroles; i++) {
		l = strlen(c->jc_roles[i]);
		if (off + l + 2 > rolesbuflen)
			break;
		if (off > 0)
			rolesbuf[off++] = ' ';
		memcpy(rolesbuf + off, c->jc_roles[i], l + 1);
		off += l;
	}
	p[n].up_name = "REMOTE_USER";
	p[n].up_value = c->jc_sub != NULL ? c->jc_sub : "";
	p[n].up_value_len = strlen(p[n].up_value);
	n++;
	p[n].up_name = "AUTH_TYPE";
	p[n].up_value = "Bearer";
	p[n].up_value_len = 6;
	n++;
	p[n].up_name = "AUTH_ROLES";
	p[n].up_value = rolesbuf;
	p[n].up_value_len = off;
	n++;
	p[n].up_name = "AUTH_SCOPE";
	p[n].up_value = c->jc_scope != NULL ? c->jc_scope : "";
	p[n].up_value_len = strlen(p[n].up_value);
	n++;
	return n;
}
