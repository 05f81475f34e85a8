/*
 * The policy steps of a request between routing and the upstream, kept
 * out of http.c (which is about HTTP): the balancing key, the retry
 * budget, and the helpers they share for reading request headers.
 */
#ifndef AGORA_PROXY_EDGE_H
#define AGORA_PROXY_EDGE_H

#include <stddef.h>
#include <stdint.h>

struct gw_service;
struct http_head;
struct rule_route;

/*
 * The value of the first header called name (case-insensitive) of h,
 * whose strings are NUL-terminated in block; NULL when absent.
 */
const char	*edge_header(const struct http_head *h, const char *block,
		    const char *name);

/*
 * The value of cookie name in a Cookie header value, copied into out
 * (NUL-terminated).  Returns 0, or -1 when absent or too long.
 */
int		 edge_cookie(const char *cookie, const char *name, char *out,
		    size_t outlen);

/*
 * The consistent-hash key of a request to svc (client address, a header
 * or a cookie, per its balance mode), or NULL when svc does not hash or
 * the request has no such key.  The result is addr, a string in block,
 * or buf.
 */
const char	*edge_hash_key(const struct gw_service *svc,
		    const struct http_head *h, const char *block,
		    const char *addr, char *buf, size_t buflen);

/* 1 for the idempotent methods of RFC 9110 9.2.2. */
int		 edge_idempotent(const char *method);

/*
 * How many more tries a request may get (route retries, else the
 * service's): 0 for a method that is not idempotent unless the route
 * says retry_non_idempotent.
 */
int		 edge_retries(const struct rule_route *,
		    const struct gw_service *, const char *method);

struct gw_config;

/*
 * The real client of a request: peer itself, unless peer is a trusted
 * proxy; then the right-most address of X-Forwarded-For (else of
 * Forwarded: for=) that is not a trusted proxy.  The result is peer or
 * buf.
 */
const char	*edge_client(const struct gw_config *, const char *peer,
		    const struct http_head *, const char *block, char *buf,
		    size_t buflen);

/*
 * The route's rate-limit policies (limits = {...}) for one request:
 * charges every policy and writes the RateLimit-Policy and RateLimit
 * header lines (CRLF-terminated) into hdrs.  Returns 0 to go on, or 429
 * with a Retry-After line added and *refused naming the policy.  client
 * is edge_client()'s, sub the JWT subject (NULL: none), now_ns a
 * monotonic clock.  The key table is process-wide, sized by the first
 * configuration's "ratelimit keys" (a reload does not resize it).
 */
int		 edge_ratelimit(struct gw_config *, const struct rule_route *,
		    const char *route_label, const struct http_head *,
		    const char *block, const char *client, const char *sub,
		    uint64_t now_ns, char *hdrs, size_t hdrslen,
		    const char **refused);

#endif
