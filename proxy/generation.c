/*
 * The current configuration generation, reachable from every thread.
 *
 * The current pointer and the reference counts are guarded by one
 * mutex: taking a reference is two instructions under an uncontended
 * lock, once per request, and a plain atomic load of the pointer could
 * race with the swap freeing it.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "pool.h"
#include "rules.h"
#include "breaker.h"
#include "stats.h"
#include "auth.h"
#include "generation.h"

static pthread_mutex_t	 generation_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct generation *generation_current;
static unsigned long	 generation_ids;

struct generation *
generation_new(struct gw_config *conf)
{
	struct generation	*gen;

	gen = xcalloc(1, sizeof(*gen));
	gen->gen_conf = conf;
	gen->gen_refs = 1;
	pthread_mutex_lock(&generation_mtx);
	gen->gen_id = ++generation_ids;
	pthread_mutex_unlock(&generation_mtx);
	return gen;
}

void
generation_keep_conf(struct generation *gen)
{
	gen->gen_conf_kept = 1;
}

void
generation_add_pool(struct generation *gen, const struct gw_service *svc,
    struct pool *pool)
{
	gen->gen_pools = xreallocarray(gen->gen_pools, gen->gen_npools + 1,
	    sizeof(*gen->gen_pools));
	gen->gen_pools[gen->gen_npools].gp_svc = svc;
	gen->gen_pools[gen->gen_npools].gp_pool = pool;
	gen->gen_npools++;
}

struct pool *
generation_pool(const struct generation *gen, const struct gw_service *svc)
{
	int	 i;

	for (i = 0; i < gen->gen_npools; i++)
		if (gen->gen_pools[i].gp_svc == svc)
			return gen->gen_pools[i].gp_pool;
	return NULL;
}

struct pool *
generation_pool_name(const struct generation *gen, const char *name)
{
	int	 i;

	for (i = 0; i < gen->gen_npools; i++)
		if (strcmp(gen->gen_pools[i].gp_svc->svc_name, name) == 0)
			return gen->gen_pools[i].gp_pool;
	return NULL;
}

/* A setting: the first of route, service, global that is set. */
static unsigned int
generation_pick(int route, int svc, int global, unsigned int def)
{
	if (route > 0)
		return (unsigned int)route;
	if (svc != -1)
		return (unsigned int)svc;
	if (global != -1)
		return (unsigned int)global;
	return def;
}

/*
 * A breaker and what its change callback needs, shared by the
 * generations that have it (references under generation_mtx).  The
 * names are copies: the configs they came from may go first.
 */
struct gen_bshared {
	int			 bs_refs;
	struct breaker		*bs_breaker;	/* owned */
	struct breaker_config	 bs_cfg;	/* bs_cfg.name: bs_name */
	char			*bs_name;
	char			*bs_svc;
	char			*bs_route;	/* "-": the service's */
};

/* Logged once per change, on the thread that caused it. */
static void
generation_breaker_change(struct breaker *b, enum breaker_state from,
    enum breaker_state to, void *arg)
{
	const struct gen_bshared	*bs = arg;
	char				 detail[160];

	snprintf(detail, sizeof(detail), "breaker %s: %s -> %s",
	    breaker_name(b), breaker_state_name(from), breaker_state_name(to));
	if (to == BREAKER_CLOSED)
		log_info("%s", detail);
	else
		log_warnx("%s", detail);
	stats_event(0, bs->bs_route, bs->bs_svc, detail);
}

/* A new closed breaker for bc, or NULL (logged). */
static struct gen_bshared *
generation_bshared_new(const struct breaker_config *bc,
    const struct gw_service *svc, const struct rule_route *route)
{
	struct gen_bshared	*bs;
	const char		*errstr = NULL;

	bs = xcalloc(1, sizeof(*bs));
	bs->bs_refs = 1;
	bs->bs_name = xstrdup(bc->name);
	bs->bs_svc = xstrdup(svc->svc_name);
	bs->bs_route = xstrdup(route != NULL && route->r_name != NULL ?
	    route->r_name : "-");
	bs->bs_cfg = *bc;
	bs->bs_cfg.name = bs->bs_name;
	bs->bs_cfg.on_change = generation_breaker_change;
	bs->bs_cfg.arg = bs;
	if ((bs->bs_breaker = breaker_new(&bs->bs_cfg, &errstr)) == NULL) {
		log_warnx("%s: breaker %s: %s", __func__, bc->name, errstr);
		free(bs->bs_name);
		free(bs->bs_svc);
		free(bs->bs_route);
		free(bs);
		return NULL;
	}
	return bs;
}

/* Drops a reference; the last one frees the breaker.  Any thread. */
static void
generation_bshared_release(struct gen_bshared *bs)
{
	int	 last;

	if (bs == NULL)
		return;
	pthread_mutex_lock(&generation_mtx);
	last = --bs->bs_refs == 0;
	pthread_mutex_unlock(&generation_mtx);
	if (!last)
		return;
	stats_breaker_unregister(bs->bs_breaker);
	breaker_free(bs->bs_breaker);
	free(bs->bs_name);
	free(bs->bs_svc);
	free(bs->bs_route);
	free(bs);
}

/* The breaker of old that bc describes exactly, with a new reference. */
static struct gen_bshared *
generation_bshared_find(const struct generation *old,
    const struct breaker_config *bc)
{
	struct gen_bshared	*bs;
	int			 i;

	for (i = 0; old != NULL && i < old->gen_nbreakers; i++) {
		bs = old->gen_breakers[i].gb_shared;
		if (!breaker_config_same(&bs->bs_cfg, bc))
			continue;
		pthread_mutex_lock(&generation_mtx);
		bs->bs_refs++;
		pthread_mutex_unlock(&generation_mtx);
		return bs;
	}
	return NULL;
}

static void
generation_breaker_add(struct generation *gen, const struct generation *old,
    const struct gw_service *svc, const struct rule_route *route)
{
	const struct gw_breaker		*g = &gen->gen_conf->conf_breaker;
	const struct gw_breaker		*s = &svc->svc_breaker;
	const struct rule_breaker	*rb = route ? &route->r_breaker : NULL;
	struct breaker_config		 bc;
	struct gen_breaker		*gb;
	unsigned int			 window;
	char				 name[200];

	gb = &gen->gen_breakers[gen->gen_nbreakers];	/* room made */
	gb->gb_svc = svc;
	gb->gb_route = route;
	breaker_config_default(&bc);
	if (route != NULL)
		snprintf(name, sizeof(name), "%s/%s", svc->svc_name,
		    route->r_name != NULL ? route->r_name : route->r_prefix);
	else
		snprintf(name, sizeof(name), "%s", svc->svc_name);
	bc.name = name;
	bc.buckets = generation_pick(0, s->b_buckets, g->b_buckets,
	    bc.buckets);
	window = generation_pick(0, s->b_window, g->b_window,
	    bc.buckets * bc.bucket_ms);
	bc.bucket_ms = window / bc.buckets > 0 ? window / bc.buckets : 1;
	bc.volume = generation_pick(rb ? rb->rb_volume : 0, s->b_volume,
	    g->b_volume, bc.volume);
	bc.error_pct = generation_pick(rb ? rb->rb_error_pct : 0,
	    s->b_error_pct, g->b_error_pct, bc.error_pct);
	bc.sleep_ms = generation_pick(rb ? (int)rb->rb_sleep_ms : 0,
	    s->b_sleep, g->b_sleep, bc.sleep_ms);
	bc.probes = generation_pick(rb ? rb->rb_probes : 0, s->b_probes,
	    g->b_probes, bc.probes);
	bc.slow_ms = generation_pick(0, s->b_slow, g->b_slow, bc.slow_ms);
	bc.max_concurrent = route == NULL ? (unsigned int)
	    svc->svc_max_concurrent : 0;
	if ((gb->gb_shared = generation_bshared_find(old, &bc)) != NULL)
		log_debug("%s: breaker %s unchanged: its state carries over",
		    __func__, name);
	else if ((gb->gb_shared = generation_bshared_new(&bc, svc, route)) ==
	    NULL)
		return;
	gb->gb_breaker = gb->gb_shared->bs_breaker;
	gen->gen_nbreakers++;
	stats_breaker_register(name, gb->gb_breaker);
}

void
generation_breakers(struct generation *gen)
{
	const struct rules	*rl = gen->gen_conf->conf_rules;
	struct generation	*old;
	int			 i;
	size_t			 j;

	/* the running generation, if any: its breakers may carry over */
	old = generation_acquire();
	gen->gen_breakers = xcalloc(gen->gen_npools + (rl ? rl->rl_nroutes :
	    0) + 1, sizeof(*gen->gen_breakers));
	for (i = 0; i < gen->gen_npools; i++)
		generation_breaker_add(gen, old, gen->gen_pools[i].gp_svc,
		    NULL);
	for (j = 0; rl != NULL && j < rl->rl_nroutes; j++)
		if (rl->rl_routes[j].r_breaker.rb_set &&
		    rl->rl_routes[j].r_service != NULL)
			generation_breaker_add(gen, old,
			    rl->rl_routes[j].r_service, &rl->rl_routes[j]);
	generation_release(old);
}

void
generation_jwks(struct generation *gen)
{
	struct gw_jwt		*j = gen->gen_conf->conf_jwt;
	struct gw_service	*svc = NULL;

	if (j == NULL)
		return;
	if (j->jwt_jwks_service != NULL)
		svc = config_service(gen->gen_conf, j->jwt_jwks_service);
	/* a "jwks url" needs no socket */
	(void)auth_jwks_start(j, svc != NULL ? svc->svc_socket : NULL);
}

struct breaker *
generation_breaker(const struct generation *gen,
    const struct gw_service *svc, const struct rule_route *route)
{
	struct breaker	*own = NULL;
	int		 i;

	for (i = 0; i < gen->gen_nbreakers; i++) {
		if (route != NULL && gen->gen_breakers[i].gb_route == route)
			return gen->gen_breakers[i].gb_breaker;
		if (gen->gen_breakers[i].gb_route == NULL &&
		    gen->gen_breakers[i].gb_svc == svc)
			own = gen->gen_breakers[i].gb_breaker;
	}
	return own;
}

static void
generation_free(struct generation *gen)
{
	int	 i;

	log_debug("%s: generation %lu", __func__, gen->gen_id);
	for (i = 0; i < gen->gen_nbreakers; i++)
		generation_bshared_release(gen->gen_breakers[i].gb_shared);
	free(gen->gen_breakers);
	for (i = 0; i < gen->gen_npools; i++)
		pool_free(gen->gen_pools[i].gp_pool);
	free(gen->gen_pools);
	if (!gen->gen_conf_kept)
		config_free(gen->gen_conf);
	free(gen);
}

struct generation *
generation_acquire(void)
{
	struct generation	*gen;

	pthread_mutex_lock(&generation_mtx);
	if ((gen = generation_current) != NULL)
		gen->gen_refs++;
	pthread_mutex_unlock(&generation_mtx);
	return gen;
}

struct generation *
generation_ref(struct generation *gen)
{
	pthread_mutex_lock(&generation_mtx);
	gen->gen_refs++;
	pthread_mutex_unlock(&generation_mtx);
	return gen;
}

void
generation_release(struct generation *gen)
{
	int	 last;

	if (gen == NULL)
		return;
	pthread_mutex_lock(&generation_mtx);
	last = --gen->gen_refs == 0;
	pthread_mutex_unlock(&generation_mtx);
	if (last)
		generation_free(gen);
}

/*
 * The breakers of old that gen dropped (removed or changed) leave the
 * admin listener now, not when old is freed, which waits for the last
 * request in flight on it.  Those requests keep using them.  Main
 * thread.
 */
static void
generation_breakers_retire(const struct generation *old,
    const struct generation *gen)
{
	int	 i, j;

	for (i = 0; old != NULL && i < old->gen_nbreakers; i++) {
		for (j = 0; gen != NULL && j < gen->gen_nbreakers; j++)
			if (gen->gen_breakers[j].gb_shared ==
			    old->gen_breakers[i].gb_shared)
				break;
		if (gen == NULL || j == gen->gen_nbreakers)
			stats_breaker_unregister(
			    old->gen_breakers[i].gb_breaker);
	}
}

void
generation_swap(struct generation *gen)
{
	struct generation	*old;

	pthread_mutex_lock(&generation_mtx);
	old = generation_current;
	generation_current = gen;
	pthread_mutex_unlock(&generation_mtx);
	generation_breakers_retire(old, gen);
	generation_release(old);
}
