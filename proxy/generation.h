/*
 * A configuration generation: one parsed and checked gw_config (with its
 * rules) and the pools of its services.  SIGHUP builds a new generation
 * in the main thread and makes it current with generation_swap(); a
 * request takes a reference to the current one when it starts
 * (generation_acquire()) and drops it when it ends, so requests in
 * flight finish on the generation they started with.  The last reference
 * frees a generation, its config and its pool references, on whatever
 * thread drops it.
 *
 * Pools are shared between generations when a service did not change
 * (pool_ref()), so their idle connections and queue carry over.
 */
#ifndef AGORA_PROXY_GENERATION_H
#define AGORA_PROXY_GENERATION_H

struct gw_config;
struct gw_service;
struct pool;

struct breaker;
struct rule_route;
struct gen_bshared;

/*
 * A circuit breaker: a service's, or a route's own (rules breaker = {}).
 * The breaker itself sits in a gen_bshared that generations share: a
 * reload whose breaker has the same name and settings takes a reference
 * to the running one, so its state (window, open, half-open probes,
 * bulkhead count) carries over.  The last generation using it frees it.
 */
struct gen_breaker {
	const struct gw_service	*gb_svc;
	const struct rule_route	*gb_route;	/* NULL: the service's */
	struct breaker		*gb_breaker;	/* gb_shared's */
	struct gen_bshared	*gb_shared;	/* one reference */
};

struct gen_pool {
	const struct gw_service	*gp_svc;	/* in gen_conf */
	struct pool		*gp_pool;	/* one reference */
};

struct generation {
	struct gw_config	*gen_conf;	/* owned, unless gen_conf_kept */
	int			 gen_conf_kept;	/* the caller frees gen_conf */
	struct gen_pool		*gen_pools;
	int			 gen_npools;
	struct gen_breaker	*gen_breakers;
	int			 gen_nbreakers;
	unsigned long		 gen_id;	/* 1, 2, ...: for logs */
	int			 gen_refs;	/* atomic */
};

/* A generation owning conf, with one reference (the caller's). */
struct generation	*generation_new(struct gw_config *conf);
/*
 * The generation's config outlives it: the caller frees it (gateway.c's
 * first config, whose listeners and limits http.c reads for as long as
 * it runs).  The generation's pools and breakers still go with it.
 */
void			 generation_keep_conf(struct generation *);
/* Adds svc's pool; the generation takes the caller's reference. */
void			 generation_add_pool(struct generation *,
			    const struct gw_service *svc, struct pool *);
/* The pool of a service of this generation (svc or its name), or NULL. */
struct pool		*generation_pool(const struct generation *,
			    const struct gw_service *svc);
struct pool		*generation_pool_name(const struct generation *,
			    const char *name);

/*
 * Makes a breaker for every service with a pool and for every route with
 * its own breaker = {} (settings: the route's, else the service's
 * breaker block, else the global one, else breaker.h's defaults), and
 * registers them for the admin listener ("service", "service/route").
 * A breaker whose name and settings are those of one in the current
 * generation (a reload) is that breaker, state and all; a new or changed
 * one starts closed.  Main thread, before generation_swap(gen).
 */
void			 generation_breakers(struct generation *);
/*
 * Starts fetching the JWK Set of the jwt block's "jwks url", or its
 * "jwks service" from that service's socket (auth.h), for as long as
 * gen's config lives.
 */
void			 generation_jwks(struct generation *);
/* The breaker a request to route (on svc) uses, or NULL. */
struct breaker		*generation_breaker(const struct generation *,
			    const struct gw_service *svc,
			    const struct rule_route *route);

/*
 * The current generation, with a reference the caller drops with
 * generation_release(); NULL before the first generation_swap().  Any
 * thread.
 */
struct generation	*generation_acquire(void);
struct generation	*generation_ref(struct generation *);
void			 generation_release(struct generation *);

/*
 * Makes gen current (the caller's reference becomes the current one's)
 * and drops the old current's reference.  NULL: no current generation
 * (at exit).  Main thread.
 */
void			 generation_swap(struct generation *gen);

#endif
