/*
 * Policy steps of a request: balancing key, retry budget, real client
 * address and rate limits (see edge.h).
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "config.h"
#include "rules.h"
#include "ratelimit.h"
#include "http_parse.h"
#include "stats.h"
#include "edge.h"

const char *
edge_header(const struct http_head *h, const char *block, const char *name)
{
	int	 i;

	for (i = 0; i < h->hh_nfields; i++)
		if (strcasecmp(block + h->hh_fields[i].hf_name, name) == 0)
			return block + h->hh_fields[i].hf_value;
	return NULL;
}

int
edge_cookie(const char *cookie, const char *name, char *out, size_t outlen)
{
	const char	*p = cookie, *v, *end;
	size_t		 n = strlen(name);

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == '=') {
			v = p + n + 1;
			/* RFC 6265: a value may be quoted */
			if (end - v >= 2 && *v == '"' && end[-1] == '"') {
				v++;
				end--;
			}
			if ((size_t)(end - v) >= outlen)
				return -1;
			memcpy(out, v, end - v);
			out[end - v] = '\0';
			return 0;
		}
		p = end;
	}
	return -1;
}

const char *
edge_hash_key(const struct gw_service *svc, const struct http_head *h,
    const char *block, const char *addr, char *buf, size_t buflen)
{
	const char	*v;

	switch (svc->svc_balance) {
	case GW_BALANCE_HASH_SOURCE:
		return addr;
	case GW_BALANCE_HASH_HEADER:
		if (svc->svc_hash_key == NULL)
			return NULL;
		return edge_header(h, block, svc->svc_hash_key);
	case GW_BALANCE_HASH_COOKIE:
		if (svc->svc_hash_key == NULL ||
		    (v = edge_header(h, block, "Cookie")) == NULL ||
		    edge_cookie(v, svc->svc_hash_key, buf, buflen) == -1)
			return NULL;
		return buf;
	default:
		return NULL;
	}
}

int
edge_idempotent(const char *method)
{
	static const char	*idem[] = {
		"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"
	};
	size_t			 i;

	for (i = 0; i < sizeof(idem) / sizeof(idem[0]); i++)
		if (strcmp(method, idem[i]) == 0)
			return 1;
	return 0;
}

int
edge_retries(const struct rule_route *route, const struct gw_service *svc,
    const char *method)
{
	int	 n;

	if (!edge_idempotent(method) &&
	    (route == NULL || !route->r_retry_non_idempotent))
		return 0;
	n = route != NULL && route->r_retries >= 0 ? route->r_retries :
	    svc->svc_retries;
	return n > 0 ? n : 0;
}

/* ------------------------------------------------------- real client */

/* The address in one list element: spaces, quotes, [v6]:port, v4:port. */
static int
edge_addr(const char *p, size_t n, char *buf, size_t buflen)
{
	const char	*c;
	struct in6_addr	 a6;
	struct in_addr	 a4;

	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '"')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
	    p[n - 1] == '"'))
		n--;
	if (n > 0 && *p == '[') {
		if ((c = memchr(p, ']', n)) == NULL)
			return -1;
		p++;
		n = c - p;
	} else if ((c = memchr(p, ':', n)) != NULL &&
	    memchr(c + 1, ':', n - (c + 1 - p)) == NULL)
		n = c - p;	/* one colon: v4 with a port */
	if (n == 0 || n >= buflen)
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a4) != 1 &&
	    inet_pton(AF_INET6, buf, &a6) != 1)
		return -1;
	return 0;
}

/*
 * Walks a comma-separated list from the right; forwarded: elements are
 * "for=X;proto=..".  The first address that is not a trusted proxy wins.
 */
static const char *
edge_walk(const struct gw_config *conf, const char *list, int forwarded,
    char *buf, size_t buflen)
{
	const char	*end = list + strlen(list), *start, *p, *f;
	size_t		 n;
	int		 found = 0;

	while (end > list) {
		for (start = end; start > list && start[-1] != ','; start--)
			;
		p = start;
		n = end - start;
		if (forwarded) {
			/* the for= parameter of this element */
			for (f = p; f < end; f++)
				if ((f == p || f[-1] == ';' || f[-1] == ' ') &&
				    end - f > 4 && strncasecmp(f, "for=", 4) ==
				    0)
					break;
			if (f >= end)
				return found ? buf : NULL;
			p = f + 4;
			for (n = 0; p + n < end && p[n] != ';'; n++)
				;
		}
		if (edge_addr(p, n, buf, buflen) == -1)
			return found ? buf : NULL;	/* garbage: stop */
		found = 1;
		if (!config_trusted(conf, buf))
			return buf;
		end = start > list ? start - 1 : list;
	}
	return found ? buf : NULL;
}

const char *
edge_client(const struct gw_config *conf, const char *peer,
    const struct http_head *h, const char *block, char *buf, size_t buflen)
{
	const char	*v, *r;

	if (!config_trusted(conf, peer))
		return peer;
	if ((v = edge_header(h, block, "X-Forwarded-For")) != NULL &&
	    (r = edge_walk(conf, v, 0, buf, buflen)) != NULL)
		return r;
	if ((v = edge_header(h, block, "Forwarded")) != NULL &&
	    (r = edge_walk(conf, v, 1, buf, buflen)) != NULL)
		return r;
	return peer;
}

/* -------------------------------------------------------- rate limits */

static pthread_mutex_t	 edge_rl_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct ratelimit	*edge_rl_table;

static struct ratelimit *
edge_rl(size_t keys)
{
	struct ratelimit	*t;

	/* made once, then only read: no lock on the request path */
	if ((t = __atomic_load_n(&edge_rl_table, __ATOMIC_ACQUIRE)) != NULL)
		return t;
	pthread_mutex_lock(&edge_rl_mtx);
	if ((t = edge_rl_table) == NULL) {
		t = ratelimit_new(keys > 0 ? keys : 100000);
		__atomic_store_n(&edge_rl_table, t, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&edge_rl_mtx);
	return t;
}

/* The key of policy rl for this request: its parts, NUL-separated. */
static size_t
edge_rl_key(const struct gw_ratelimit *rl, const char *route_label,
    const struct http_head *h, const char *block, const char *client,
    const char *sub, char *key, size_t keylen)
{
	const char	*v;
	size_t		 off = 0, n;
	int		 i, nkeys = rl->rl_nkeys, type;

	for (i = 0; i < (nkeys > 0 ? nkeys : 1); i++) {
		type = nkeys > 0 ? rl->rl_keys[i] : GW_RL_KEY_IP;
		switch (type) {
		case GW_RL_KEY_SUB:
			v = sub != NULL ? sub : client;
			break;
		case GW_RL_KEY_ROUTE:
			v = route_label;
			break;
		case GW_RL_KEY_HEADER:
			v = edge_header(h, block, rl->rl_headers[i]);
			if (v == NULL)
				v = "";
			break;
		default:
			v = client;
			break;
		}
		n = strlen(v);
		if (off + n + 2 > keylen)
			n = keylen > off + 2 ? keylen - off - 2 : 0;
		key[off++] = (char)('0' + type);
		memcpy(key + off, v, n);
		off += n;
	}
	return off;
}

/*
 * Appends n bytes of s at *off in dst (size bytes, NUL-terminated), cut
 * as snprintf would cut.  No format parsing: this runs per request.
 */
static void
edge_cat(char *dst, size_t size, size_t *off, const char *s, size_t n)
{
	if (*off + 1 >= size)
		return;
	if (n > size - 1 - *off)
		n = size - 1 - *off;
	memcpy(dst + *off, s, n);
	*off += n;
	dst[*off] = '\0';
}

/* Appends an item to a ", "-separated list in field. */
static void
edge_list_add(char *field, size_t len, size_t *off, const char *item)
{
	if (*off > 0)
		edge_cat(field, len, off, ", ", 2);
	edge_cat(field, len, off, item, strlen(item));
}

int
edge_ratelimit(struct gw_config *conf, const struct rule_route *route,
    const char *route_label, const struct http_head *h, const char *block,
    const char *client, const char *sub, uint64_t now_ns, char *hdrs,
    size_t hdrslen, const char **refused)
{
	struct ratelimit	*table = edge_rl(conf->conf_ratelimit_keys);
	struct gw_ratelimit	*rl;
	struct ratelimit_result	 res;
	char			 key[512], pol[256], lim[128];
	char			 fpol[512], flim[512];
	uint64_t		 retry = 0;
	size_t			 i, klen, npol = 0, nlim = 0, off = 0;
	int			 status = 0;

	fpol[0] = flim[0] = '\0';
	*refused = NULL;
	for (i = 0; i < route->r_limits.rn_n; i++) {
		if ((rl = config_ratelimit(conf, route->r_limits.rn_v[i])) ==
		    NULL || rl->rl_policy == NULL)
			continue;
		klen = edge_rl_key(rl, route_label, h, block, client, sub,
		    key, sizeof(key));
		if (ratelimit_check(table, rl->rl_policy, key, klen, now_ns,
		    &res) == 0 && status == 0) {
			status = 429;
			*refused = rl->rl_name;
		}
		if (res.limited) {
			stats_ratelimited(rl->rl_name, rl->rl_dry_run);
			if (!res.allowed && res.retry_after_s > retry)
				retry = res.retry_after_s;
			if (rl->rl_dry_run)
				log_info("ratelimit %s: dry run: would refuse "
				    "%s (route %s)", rl->rl_name, client,
				    route_label);
		}
		if (ratelimit_format_headers(rl->rl_policy, &res, pol,
		    sizeof(pol), lim, sizeof(lim)) == 0) {
			edge_list_add(fpol, sizeof(fpol), &npol, pol);
			edge_list_add(flim, sizeof(flim), &nlim, lim);
		}
	}
	if (hdrslen == 0)
		return status;
	hdrs[0] = '\0';
	if (npol > 0) {
		edge_cat(hdrs, hdrslen, &off, "RateLimit-Policy: ", 18);
		edge_cat(hdrs, hdrslen, &off, fpol, npol);
		edge_cat(hdrs, hdrslen, &off, "\r\nRateLimit: ", 13);
		edge_cat(hdrs, hdrslen, &off, flim, nlim);
		edge_cat(hdrs, hdrslen, &off, "\r\n", 2);
	}
	if (status == 429) {
		char	 num[32];

		snprintf(num, sizeof(num), "Retry-After: %llu\r\n",
		    (unsigned long long)retry);
		edge_cat(hdrs, hdrslen, &off, num, strlen(num));
	}
	return status;
}
