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

/* Logged once per change, on the thread that caused it. */
static void
generation_breaker_change(struct breaker *b, enum breaker_state from,
    enum breaker_state to, void *arg)
{
	const struct gen_breaker	*gb = arg;
	char				 detail[160];

	snprintf(detail, sizeof(detail), "breaker %s: %s -> %s",
	    breaker_name(b), breaker_state_name(from), breaker_state_name(to));
	if (to == BREAKER_CLOSED)
		log_info("%s", detail);
	else
		log_warnx("%s", detail);
	stats_event(0, gb->gb_route != NULL && gb->gb_route->r_name != NULL ?
	    gb->gb_route->r_name : "-", gb->gb_svc->svc_name, detail);
}

static void
generation_breaker_add(struct generation *gen, const struct gw_service *svc,
    const struct rule_route *route)
{
	const struct gw_breaker		*g = &gen->gen_conf->conf_breaker;
	const struct gw_breaker		*s = &svc->svc_breaker;
	const struct rule_breaker	*rb = route ? &route->r_breaker : NULL;
	struct breaker_config		 bc;
	struct gen_breaker		*gb;
	unsigned int			 window;
	const char			*errstr = NULL;
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
	bc.on_change = generation_breaker_change;
	bc.arg = gb;
	if ((gb->gb_breaker = breaker_new(&bc, &errstr)) == NULL) {
		log_warnx("%s: breaker %s: %s", __func__, name, errstr);
		return;
	}
	gen->gen_nbreakers++;
	stats_breaker_register(name, gb->gb_breaker);
}

void
generation_breakers(struct generation *gen)
{
	const struct rules	*rl = gen->gen_conf->conf_rules;
	int			 i;
	size_t			 j;

	/* room for all first: callbacks keep pointers to the entries */
	gen->gen_breakers = xcalloc(gen->gen_npools + (rl ? rl->rl_nroutes :
	    0) + 1, sizeof(*gen->gen_breakers));
	for (i = 0; i < gen->gen_npools; i++)
		generation_breaker_add(gen, gen->gen_pools[i].gp_svc, NULL);
	for (j = 0; rl != NULL && j < rl->rl_nroutes; j++)
		if (rl->rl_routes[j].r_breaker.rb_set &&
		    rl->rl_routes[j].r_service != NULL)
			generation_breaker_add(gen, rl->rl_routes[j].r_service,
			    &rl->rl_routes[j]);
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
	for (i = 0; i < gen->gen_nbreakers; i++) {
		stats_breaker_unregister(gen->gen_breakers[i].gb_breaker);
		breaker_free(gen->gen_breakers[i].gb_breaker);
	}
	free(gen->gen_breakers);
	for (i = 0; i < gen->gen_npools; i++)
		pool_free(gen->gen_pools[i].gp_pool);
	free(gen->gen_pools);
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

void
generation_swap(struct generation *gen)
{
	struct generation	*old;

	pthread_mutex_lock(&generation_mtx);
	old = generation_current;
	generation_current = gen;
	pthread_mutex_unlock(&generation_mtx);
	generation_release(old);
}
