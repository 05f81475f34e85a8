/*
 * GCRA rate limiting (the generic cell rate algorithm: one theoretical
 * arrival time, "TAT", per key and window), with the header fields of
 * draft-ietf-httpapi-ratelimit-headers-10.
 *
 * A policy has 1..RATELIMIT_MAXWIN windows, e.g. 20/s with a burst of 40
 * plus 1000/h.  A request passes only if every window has room, and then
 * it is charged to every window; a rejected request charges nothing.  A
 * window of `limit` per `period_s` with burst B accepts B requests at once
 * and then one every period_s/limit seconds.  Arithmetic is exact (scaled
 * integers, no rounding of the emission interval), so 3/s means exactly
 * 3 per second forever.
 *
 * Keys are opaque bytes built by the caller (client address, JWT subject,
 * API key, route, or a combination); a key of one policy never collides
 * with the same bytes of another policy.  The key table is bounded by
 * max_keys and split into up to 64 shards, each with a mutex, a hash table
 * and an LRU list; a full shard evicts its least recently used key.  The
 * check and the update happen under the shard lock, so N threads hitting
 * one key never get more than the policy allows.  Eviction forgets a key's
 * history, which can only make the limiter more lenient to that key.
 *
 * Time is a monotonic nanosecond clock passed by the caller (tests use a
 * fake one).
 *
 * A policy's identity is its content (name and windows, not dry_run):
 * a reload that builds an identical policy finds its keys' state where
 * the old one left it.  When the last policy object of an identity is
 * freed, its keys are dropped from every table (their memory is freed
 * then, not when the LRU would get to them).
 *
 * Memory: ratelimit_new() and ratelimit_policy_new() return objects the
 * caller frees with ratelimit_free() / ratelimit_policy_free() (both
 * accept NULL).  A policy must outlive every ratelimit_check() using it
 * and every result that points to its names.  Keys are copied.  Results
 * are filled in caller memory; result->name points into the policy.
 */
#ifndef AGORA_PROXY_RATELIMIT_H
#define AGORA_PROXY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_MAXWIN	4
#define RATELIMIT_NAMEMAX	64

struct ratelimit;
struct ratelimit_policy;

/* One window of a policy, as configured. */
struct ratelimit_window {
	const char	*name;		/* header name; NULL: derived */
	uint64_t	 limit;		/* requests per period, >= 1 */
	uint32_t	 period_s;	/* seconds, >= 1 */
	uint64_t	 burst;		/* requests at once; 0: = limit */
};

/* What one check decided, for the response headers and the log. */
struct ratelimit_result {
	int		 allowed;	/* 1: forward the request */
	int		 limited;	/* 1: over the limit (dry run too) */
	int		 window;	/* index of the reported window */
	const char	*name;		/* its name (owned by the policy) */
	uint64_t	 limit;		/* its quota per period ("q") */
	uint32_t	 period_s;	/* its period ("w") */
	uint64_t	 remaining;	/* requests left now ("r") */
	uint64_t	 reset_s;	/* seconds until more quota ("t");
					 * = retry_after_s when limited */
	unsigned int	 violated;	/* bit i: window i refused (for
					 * "violated-policies" in 429s) */
	uint64_t	 retry_after_s;	/* limited: ceil seconds to wait */
	uint64_t	 retry_after_ms; /* limited: ceil milliseconds */
};

/*
 * A key table holding at most max_keys keys (>= 1).  Never NULL.
 */
struct ratelimit	*ratelimit_new(size_t max_keys);
void			 ratelimit_free(struct ratelimit *);
/* Keys held now, summed over the shards (takes each shard lock). */
size_t			 ratelimit_count(struct ratelimit *);
/* Keys evicted since ratelimit_new(), for a metric. */
uint64_t		 ratelimit_evictions(struct ratelimit *);

/*
 * A policy named `name` (1..RATELIMIT_NAMEMAX-1 characters of
 * [A-Za-z0-9_.-]) with n windows (1..RATELIMIT_MAXWIN), copied.  A window
 * without a name is called `name` if it is the only or the first one,
 * else "<name>-<index>".  dry_run: count and report, but never reject
 * (result->allowed is always 1, result->limited tells).  Returns NULL
 * with *errstr set (a static string) when the arguments are invalid.
 */
struct ratelimit_policy	*ratelimit_policy_new(const char *name,
			    const struct ratelimit_window *windows, size_t n,
			    int dry_run, const char **errstr);
void			 ratelimit_policy_free(struct ratelimit_policy *);
const char		*ratelimit_policy_name(const struct ratelimit_policy *);
int			 ratelimit_policy_dry_run(
			    const struct ratelimit_policy *);
/* The name of window i (owned by the policy), NULL past the last. */
const char		*ratelimit_window_name(const struct ratelimit_policy *,
			    size_t i);
/*
 * The RateLimit-Policy field value, fixed for the policy, e.g.
 * "default";q=20;w=1, "hourly";q=1000;w=3600 (owned by the policy).
 */
const char		*ratelimit_policy_header(
			    const struct ratelimit_policy *);

/*
 * Check and charge one request of `key` against `policy` at now_ns.
 * Returns 1 if the request may pass, 0 if it must get 429 (never 0 in
 * dry run).  *res (may be NULL) reports the window with the fewest
 * requests remaining after this request (on a tie, the one that waits
 * longest for more quota); when limited it is the refusing window that
 * waits longest, and retry_after is the exact time until the request
 * would pass in every window.  "remaining" counts what the burst allows
 * now, so with burst > limit it can exceed "limit".
 */
int	ratelimit_check(struct ratelimit *, const struct ratelimit_policy *,
	    const void *key, size_t keylen, uint64_t now_ns,
	    struct ratelimit_result *res);

/*
 * Format the two field values of a result into caller buffers: the
 * RateLimit-Policy value (all windows of the policy) and the RateLimit
 * value (the reported window), e.g. "default";r=3;t=1.  Either buffer
 * may be NULL.  Returns 0, or -1 if a buffer is too small (it then holds
 * a truncated, NUL-terminated string: do not send it).  The 429
 * Retry-After value is res->retry_after_s.
 */
int	ratelimit_format_headers(const struct ratelimit_policy *,
	    const struct ratelimit_result *, char *policy, size_t policylen,
	    char *ratelimit, size_t ratelimitlen);

#endif
