/*
 * The gateway's own statistics, shared by the request path (which records)
 * and the admin listener (which renders /metrics, /status, /status.json).
 * One process-wide registry on proxy/metrics.c; every function is safe
 * from any thread.  Label values come from the configuration (route and
 * service names, policy names) or are status codes: never from a client,
 * so the number of series stays bounded.
 */
#ifndef AGORA_PROXY_STATS_H
#define AGORA_PROXY_STATS_H

#include <stdint.h>

struct breaker;
struct metrics;

/* Creates the registry and its families; main thread, before workers. */
void		 stats_init(void);
void		 stats_free(void);
struct metrics	*stats_metrics(void);

/*
 * One finished request.  route is the route's name ("-" when none
 * matched), service "-" when the gateway answered itself; upstream_ns 0
 * when no backend was involved; connect_ns the time from asking the
 * pool to holding a connection (queue wait and connect; about 0 on a
 * kept one), -1 when the request never had one.
 */
void		 stats_request(const char *route, const char *service,
		    int status, uint64_t total_ns, uint64_t upstream_ns,
		    int64_t connect_ns);

/* A request refused by a rate-limit policy (or counted in dry run). */
void		 stats_ratelimited(const char *policy, int dry_run);

/* A request refused by an open breaker or a full bulkhead. */
void		 stats_breaker_rejected(const char *name, int bulkhead);

/*
 * Breakers the admin listener shows: name is "service" or
 * "service/route".  The registry keeps the pointer until unregistered.
 */
void		 stats_breaker_register(const char *name, struct breaker *);
void		 stats_breaker_unregister(struct breaker *);

/*
 * A recent error for the status page (kept in a small ring): 5xx answers,
 * upstream failures, breaker changes.  detail is copied.
 */
void		 stats_event(int status, const char *route,
		    const char *service, const char *detail);

/*
 * For the admin listener's /status.json: adds "uptime", "routes" (counts
 * by code, p50/p99/mean seconds), "breakers", "ratelimits" and "events"
 * (newest first) as keys of the map open in g.
 */
struct yajl_gen_t;
void		 stats_json(struct yajl_gen_t *g);

#endif
