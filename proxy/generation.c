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
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "pool.h"
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

static void
generation_free(struct generation *gen)
{
	int	 i;

	log_debug("%s: generation %lu", __func__, gen->gen_id);
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
