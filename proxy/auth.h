/*
 * JWT at the edge: the bearer token of a request to a route with
 * auth = "jwt" is verified against the keys of the configuration's jwt
 * block (lib/jwt.h: algorithm pinned per key, exp/nbf/iss/aud with a
 * leeway), then the route's roles (any one of them) and scopes (all of
 * them) are checked.  What passes reaches the backend as REMOTE_USER,
 * AUTH_TYPE=Bearer, AUTH_ROLES and AUTH_SCOPE (auth_params()); the front
 * never passes client headers that would set those.
 */
#ifndef AGORA_PROXY_AUTH_H
#define AGORA_PROXY_AUTH_H

#include <stddef.h>
#include <time.h>

struct gw_jwt;
struct jwt_claims;
struct rule_route;
struct upstream_param;

#define AUTH_NPARAMS	4
#define AUTH_CACHE_SIZE	2048	/* verified tokens cached per thread */

/*
 * Checks the Authorization header value (NULL: none) for route.  Returns
 * 0 with *claims set (the caller frees them with jwt_claims_free()), 401
 * (no or bad token) or 403 (a role or scope missing), with *errstr a
 * static reason fit for error_description.  now 0: time(NULL).
 *
 * Verified tokens are cached per thread (AUTH_CACHE_SIZE, LRU), until
 * their exp or until the key set or the jwt block changes; the claims of
 * a hit are shared (jwt_claims_ref()), never to be changed.
 */
int	 auth_check(const struct gw_jwt *, const struct rule_route *,
	    const char *authorization, time_t now,
	    struct jwt_claims **claims, const char **errstr);

/*
 * The WWW-Authenticate header line (with its CRLF) for a 401 or 403 of
 * auth_check(), into buf.
 */
void	 auth_challenge(int status, const char *errstr, char *buf,
	    size_t len);

/*
 * Fills p[AUTH_NPARAMS] with the params for claims; the space-joined
 * roles go to rolesbuf (cut to its size).  The values point into claims
 * and rolesbuf.  Returns how many were filled.
 */
size_t	 auth_params(const struct jwt_claims *, struct upstream_param *p,
	    char *rolesbuf, size_t rolesbuflen);

/*
 * "jwks url URL refresh T" (an HTTP/1.1 GET of an http:// URL, normally
 * the gateway's own listener, so the fetch goes through the pool) or
 * "jwks service NAME path P refresh T" (a FastCGI GET of P on a new
 * connection to addr, the service's socket): a thread fetches the JWK Set
 * at once, again
 * every second until it has one, then every T, and on demand when a
 * token names an unknown kid (at most once every 10 s).  Tokens are
 * verified against the fetched set first, then the jwks file's.  Started
 * for a configuration generation; auth_jwks_stop() (config_free) joins
 * the thread.
 */
int	 auth_jwks_start(struct gw_jwt *, const char *addr);

/*
 * Splits an http:// URL into host (no brackets), port (default 80), the
 * Host header value and path (default "/"), each for the caller to free;
 * with host NULL it only checks.  0, or -1 and *errstr.
 */
int	 auth_url_parse(const char *url, char **host, char **port,
	    char **hosthdr, char **path, const char **errstr);
void	 auth_jwks_stop(struct gw_jwt *);

/* Frees the calling thread's token cache; the entries it holds. */
void	 auth_cache_clear(void);
size_t	 auth_cache_count(void);

#endif
