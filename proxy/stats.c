/*
 * The gateway's statistics: one metrics registry for the process, the
 * series the request path updates, and what the admin listener reads
 * back for /status.json (routes, breakers, rate-limit policies, the ring
 * of recent errors).
 *
 * The request path must not take the registry's family mutexes on every
 * request, so each (route, service) pair, policy and breaker name is
 * looked up once in a small hash table under a read-write lock and its
 * series pointers kept there; a status code's counter is found through
 * an array of atomic pointers filled on first use.
 *
 * Everything initializes itself on first use (pthread_once), so a call
 * made before stats_init() is not lost; after stats_free() every call is
 * a no-op.
 */

#include <sys/types.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "log.h"
#include "xmalloc.h"
#include "json.h"
#include "breaker.h"
#include "config.h"
#include "generation.h"
#include "metrics.h"
#include "pool.h"
#include "stats.h"

#define STATS_NBUCKETS	64	/* hash buckets of each table */
#define STATS_NCODES	1000	/* status 0..999; others count as 0 */
#define STATS_NEVENTS	32	/* recent errors kept */

/* One (route, service) pair. */
struct stats_route {
	char				*sr_route;
	char				*sr_service;
	struct metrics_series		*sr_duration;
	/* the service's upstream histograms */
	struct metrics_series		*sr_upstream;
	struct metrics_series		*sr_connect;
	_Atomic(struct metrics_series *) sr_codes[STATS_NCODES];
};

/* One rate-limit policy. */
struct stats_policy {
	char			*sp_name;
	struct metrics_series	*sp_series[2]; /* enforce, dry_run */
};

/* A breaker name's rejections; the breaker itself while registered. */
struct stats_breaker {
	char			*sb_name;
	struct breaker		*sb_breaker;	/* NULL: gone */
	struct metrics_series	*sb_series[2];	/* open, bulkhead */
};

/* A string-keyed table; entries live until stats_free(). */
struct stats_entry {
	char			*e_key;
	void			*e_value;
	struct stats_entry	*e_next;	/* bucket chain */
	struct stats_entry	*e_order;	/* creation order */
};

struct stats_table {
	struct stats_entry	*t_buckets[STATS_NBUCKETS];
	struct stats_entry	*t_first, **t_last;
	void			*(*t_new)(const char *key);
	void			 (*t_free)(void *);
};

struct stats_event_rec {
	time_t			 ev_time;
	int			 ev_status;
	char			 ev_route[64];
	char			 ev_service[64];
	char			 ev_detail[192];
};

static pthread_once_t		 stats_once = PTHREAD_ONCE_INIT;
static pthread_rwlock_t		 stats_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t		 stats_event_mtx =
    PTHREAD_MUTEX_INITIALIZER;
static struct metrics		*stats_m;	/* NULL once freed */
static struct metrics_family	*stats_f_requests, *stats_f_duration;
static struct metrics_family	*stats_f_upstream, *stats_f_ratelimited;
static struct metrics_family	*stats_f_connect;
static struct metrics_family	*stats_f_rejected;
static struct stats_table	 stats_routes, stats_policies, stats_breakers;
static struct stats_event_rec	 stats_events[STATS_NEVENTS];
static uint64_t			 stats_nevents;	/* ever */
static time_t			 stats_started;

static void	*stats_route_new(const char *);
static void	 stats_route_free(void *);
static void	*stats_policy_new(const char *);
static void	 stats_policy_free(void *);
static void	*stats_breaker_new(const char *);
static void	 stats_breaker_free(void *);
static void	 stats_collect_pool(struct metrics_emit *, void *);
static void	 stats_collect_server(struct metrics_emit *, void *);
static void	 stats_collect_breaker(struct metrics_emit *, void *);

static const char *const stats_l_route[] = { "route", "service", "code",
	NULL };
static const char *const stats_l_rs[] = { "route", "service", NULL };
static const char *const stats_l_service[] = { "service", NULL };
static const char *const stats_l_server[] = { "service", "server", NULL };
static const char *const stats_l_policy[] = { "policy", "mode", NULL };
static const char *const stats_l_breaker[] = { "breaker", NULL };
static const char *const stats_l_rejected[] = { "breaker", "reason",
	NULL };
static const char *const stats_l_info[] = { "version", NULL };

/* The scrape-time gauges: a callback per kind, told by its row what to read. */
enum stats_pool_field {
	SPF_QUEUED, SPF_BUSY, SPF_IDLE, SPF_OPEN, SPF_MAX, SPF_SERVERS, SPF_UP,
	SSF_UP, SSF_OPEN, SSF_IDLE, SSF_MAX, SSF_REQUESTS, SSF_FAILURES,
	SSF_EJECTIONS,
	SBF_STATE, SBF_REQUESTS, SBF_ERRORS, SBF_INFLIGHT, SBF_OPENED
};

static const struct stats_gauge {
	const char		*g_name;
	enum stats_pool_field	 g_field;
	metrics_collect_cb	 g_cb;
	const char *const	*g_labels;
	const char		*g_help;
} stats_gauges[] = {
	{ "agora_pool_queue_depth", SPF_QUEUED,
	    stats_collect_pool, stats_l_service,
	    "Requests waiting for a connection." },
	{ "agora_pool_connections_busy", SPF_BUSY,
	    stats_collect_pool, stats_l_service,
	    "Connections serving a request." },
	{ "agora_pool_connections_idle", SPF_IDLE,
	    stats_collect_pool, stats_l_service,
	    "Kept-alive idle connections." },
	{ "agora_pool_connections_open", SPF_OPEN,
	    stats_collect_pool, stats_l_service,
	    "Connections open (idle, busy, connecting)." },
	{ "agora_pool_max_connections", SPF_MAX,
	    stats_collect_pool, stats_l_service,
	    "Connection cap of the pool." },
	{ "agora_pool_servers", SPF_SERVERS,
	    stats_collect_pool, stats_l_service,
	    "Servers of the pool." },
	{ "agora_pool_servers_up", SPF_UP,
	    stats_collect_pool, stats_l_service,
	    "Servers of the pool taking traffic." },
	{ "agora_pool_server_up", SSF_UP,
	    stats_collect_server, stats_l_server,
	    "1 when the server takes traffic." },
	{ "agora_pool_server_connections_open", SSF_OPEN,
	    stats_collect_server, stats_l_server,
	    "Connections open to the server." },
	{ "agora_pool_server_connections_idle", SSF_IDLE,
	    stats_collect_server, stats_l_server,
	    "Idle connections to the server." },
	{ "agora_pool_server_max_connections", SSF_MAX,
	    stats_collect_server, stats_l_server,
	    "Connection cap of the server." },
	{ "agora_pool_server_connections", SSF_REQUESTS,
	    stats_collect_server, stats_l_server,
	    "Connections handed out to the server since the pool was "
	    "made." },
	{ "agora_pool_server_failures", SSF_FAILURES,
	    stats_collect_server, stats_l_server,
	    "Failures of the server since the pool was made." },
	{ "agora_pool_server_ejections", SSF_EJECTIONS,
	    stats_collect_server, stats_l_server,
	    "Passive-health ejections of the server since the pool was "
	    "made." },
	{ "agora_breaker_state", SBF_STATE,
	    stats_collect_breaker, stats_l_breaker,
	    "Breaker state: 0 closed, 1 open, 2 half-open." },
	{ "agora_breaker_window_requests", SBF_REQUESTS,
	    stats_collect_breaker, stats_l_breaker,
	    "Requests in the breaker's rolling window." },
	{ "agora_breaker_window_errors", SBF_ERRORS,
	    stats_collect_breaker, stats_l_breaker,
	    "Errors in the breaker's rolling window." },
	{ "agora_breaker_inflight", SBF_INFLIGHT,
	    stats_collect_breaker, stats_l_breaker,
	    "Requests in flight through the breaker (bulkhead)." },
	{ "agora_breaker_opened", SBF_OPENED,
	    stats_collect_breaker, stats_l_breaker,
	    "Transitions of the breaker to open since it was made." },
};

static struct metrics_family *
stats_check(struct metrics_family *f, const char *errstr)
{
	if (f == NULL)
		fatalx("%s: %s", __func__, errstr);
	return f;
}

static void
stats_table_init(struct stats_table *t, void *(*fnew)(const char *),
    void (*ffree)(void *))
{
	memset(t, 0, sizeof(*t));
	t->t_last = &t->t_first;
	t->t_new = fnew;
	t->t_free = ffree;
}

static void
stats_do_init(void)
{
	const struct stats_gauge	*g;
	const char			*errstr = NULL;
	const char			*v[2] = { PACKAGE_VERSION, NULL };
	size_t				 i;

	stats_m = metrics_new();
	stats_started = time(NULL);
	stats_table_init(&stats_routes, stats_route_new, stats_route_free);
	stats_table_init(&stats_policies, stats_policy_new,
	    stats_policy_free);
	stats_table_init(&stats_breakers, stats_breaker_new,
	    stats_breaker_free);
	metrics_set(metrics_series(stats_check(metrics_gauge(stats_m,
	    "agora_gateway_info", "The gateway's version (always 1).",
	    stats_l_info, &errstr), errstr), v), 1);
	stats_f_requests = stats_check(metrics_counter(stats_m,
	    "agora_http_requests_total", "Requests answered, by route, "
	    "service and status code.", stats_l_route, &errstr), errstr);
	stats_f_duration = stats_check(metrics_histogram(stats_m,
	    "agora_http_request_duration_seconds", "Time from the request "
	    "to the end of the response.", stats_l_rs, NULL, 0, &errstr),
	    errstr);
	stats_f_upstream = stats_check(metrics_histogram(stats_m,
	    "agora_upstream_duration_seconds", "Time spent on the backend "
	    "(connect and response).", stats_l_service, NULL, 0, &errstr),
	    errstr);
	stats_f_connect = stats_check(metrics_histogram(stats_m,
	    "agora_upstream_connect_seconds", "Time from asking the pool to "
	    "holding a connection (queue wait and connect).",
	    stats_l_service, NULL, 0, &errstr), errstr);
	stats_f_ratelimited = stats_check(metrics_counter(stats_m,
	    "agora_ratelimit_rejected_total", "Requests over a rate-limit "
	    "policy (mode dry_run: counted, not refused).", stats_l_policy,
	    &errstr), errstr);
	stats_f_rejected = stats_check(metrics_counter(stats_m,
	    "agora_breaker_rejected_total", "Requests refused by an open "
	    "breaker or a full bulkhead.", stats_l_rejected, &errstr), errstr);
	for (i = 0; i < sizeof(stats_gauges) / sizeof(stats_gauges[0]); i++) {
		g = &stats_gauges[i];
		stats_check(metrics_gauge_func(stats_m, g->g_name, g->g_help,
		    g->g_labels, g->g_cb, (void *)(uintptr_t)g, &errstr), errstr);
	}
}

/* Initialized and not freed: the registry, else NULL. */
static struct metrics *
stats_get(void)
{
	pthread_once(&stats_once, stats_do_init);
	return stats_m;
}

void
stats_init(void)
{
	(void)stats_get();
}

struct metrics *
stats_metrics(void)
{
	return stats_get();
}

static void
stats_table_clear(struct stats_table *t)
{
	struct stats_entry	*e, *next;

	for (e = t->t_first; e != NULL; e = next) {
		next = e->e_order;
		t->t_free(e->e_value);
		free(e->e_key);
		free(e);
	}
	stats_table_init(t, t->t_new, t->t_free);
}

void
stats_free(void)
{
	if (stats_get() == NULL)
		return;
	pthread_rwlock_wrlock(&stats_lock);
	stats_table_clear(&stats_routes);
	stats_table_clear(&stats_policies);
	stats_table_clear(&stats_breakers);
	metrics_free(stats_m);
	stats_m = NULL;
	pthread_rwlock_unlock(&stats_lock);
}

static unsigned int
stats_hash(const char *s)
{
	unsigned int	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % STATS_NBUCKETS;
}

static struct stats_entry *
stats_table_find(struct stats_table *t, const char *key)
{
	struct stats_entry	*e;

	for (e = t->t_buckets[stats_hash(key)]; e != NULL; e = e->e_next)
		if (strcmp(e->e_key, key) == 0)
			return e;
	return NULL;
}

/*
 * The value for key, made on first use.  Read lock for the common case;
 * the write lock only to add.  NULL after stats_free().
 */
static void *
stats_lookup(struct stats_table *t, const char *key)
{
	struct stats_entry	*e;
	unsigned int		 h;
	void			*v = NULL;

	if (stats_get() == NULL)
		return NULL;
	pthread_rwlock_rdlock(&stats_lock);
	if (stats_m != NULL && (e = stats_table_find(t, key)) != NULL)
		v = e->e_value;
	pthread_rwlock_unlock(&stats_lock);
	if (v != NULL)
		return v;
	pthread_rwlock_wrlock(&stats_lock);
	if (stats_m != NULL && (e = stats_table_find(t, key)) == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->e_key = xstrdup(key);
		e->e_value = t->t_new(key);
		h = stats_hash(key);
		e->e_next = t->t_buckets[h];
		t->t_buckets[h] = e;
		*t->t_last = e;
		t->t_last = &e->e_order;
	}
	if (stats_m != NULL)
		v = e->e_value;
	pthread_rwlock_unlock(&stats_lock);
	return v;
}

/* Route keys are "route" US "service" (US: \037, in no config name). */
static void *
stats_route_new(const char *key)
{
	struct stats_route	*r;
	const char		*v[3];
	size_t			 n;

	r = xcalloc(1, sizeof(*r));
	n = strcspn(key, "\037");
	r->sr_route = xstrndup(key, n);
	r->sr_service = xstrdup(key[n] != '\0' ? key + n + 1 : "-");
	v[0] = r->sr_route;
	v[1] = r->sr_service;
	v[2] = NULL;
	r->sr_duration = metrics_series(stats_f_duration, v);
	r->sr_upstream = metrics_series(stats_f_upstream, v + 1);
	r->sr_connect = metrics_series(stats_f_connect, v + 1);
	return r;
}

static void
stats_route_free(void *p)
{
	struct stats_route	*r = p;

	free(r->sr_route);
	free(r->sr_service);
	free(r);
}

static void *
stats_policy_new(const char *name)
{
	struct stats_policy	*p;
	const char		*v[3] = { name, "enforce", NULL };

	p = xcalloc(1, sizeof(*p));
	p->sp_name = xstrdup(name);
	p->sp_series[0] = metrics_series(stats_f_ratelimited, v);
	v[1] = "dry_run";
	p->sp_series[1] = metrics_series(stats_f_ratelimited, v);
	return p;
}

static void
stats_policy_free(void *p)
{
	free(((struct stats_policy *)p)->sp_name);
	free(p);
}

static void *
stats_breaker_new(const char *name)
{
	struct stats_breaker	*b;
	const char		*v[3] = { name, "open", NULL };

	b = xcalloc(1, sizeof(*b));
	b->sb_name = xstrdup(name);
	b->sb_series[0] = metrics_series(stats_f_rejected, v);
	v[1] = "bulkhead";
	b->sb_series[1] = metrics_series(stats_f_rejected, v);
	return b;
}

static void
stats_breaker_free(void *p)
{
	free(((struct stats_breaker *)p)->sb_name);
	free(p);
}

/*
 * Each thread remembers the pairs it saw last, by the caller's string
 * pointers (the route's own names): the common case takes no lock.  The
 * names are compared too, since a reload may free a string and put
 * another at the same address.
 */
#define STATS_TCACHE	32
static _Thread_local struct stats_tcache {
	const char		*tc_route;
	const char		*tc_service;
	struct stats_route	*tc_r;
} stats_tcache[STATS_TCACHE];

static struct stats_route *
stats_route(const char *route, const char *service)
{
	struct stats_tcache	*tc;
	struct stats_route	*r;
	char			 key[512];
	int			 n;

	if (route == NULL)
		route = "-";
	if (service == NULL)
		service = "-";
	if (stats_get() == NULL)
		return NULL;
	tc = &stats_tcache[(((uintptr_t)route >> 3) ^
	    ((uintptr_t)service >> 5)) % STATS_TCACHE];
	if (tc->tc_route == route && tc->tc_service == service &&
	    strcmp(tc->tc_r->sr_route, route) == 0 &&
	    strcmp(tc->tc_r->sr_service, service) == 0)
		return tc->tc_r;
	n = snprintf(key, sizeof(key), "%s\037%s", route, service);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;	/* config names are never this long */
	if ((r = stats_lookup(&stats_routes, key)) != NULL) {
		tc->tc_route = route;
		tc->tc_service = service;
		tc->tc_r = r;
	}
	return r;
}

void
stats_request(const char *route, const char *service, int status,
    uint64_t total_ns, uint64_t upstream_ns, int64_t connect_ns)
{
	struct stats_route	*r;
	struct metrics_series	*s;
	const char		*v[4];
	char			 code[8];

	if ((r = stats_route(route, service)) == NULL)
		return;
	if (status < 0 || status >= STATS_NCODES)
		status = 0;
	if ((s = atomic_load_explicit(&r->sr_codes[status],
	    memory_order_acquire)) == NULL) {
		/* two threads may race here: both get the same series */
		snprintf(code, sizeof(code), "%d", status);
		v[0] = r->sr_route;
		v[1] = r->sr_service;
		v[2] = code;
		v[3] = NULL;
		s = metrics_series(stats_f_requests, v);
		atomic_store_explicit(&r->sr_codes[status], s,
		    memory_order_release);
	}
	metrics_inc(s);
	metrics_observe(r->sr_duration, (double)total_ns / 1e9);
	if (upstream_ns > 0)
		metrics_observe(r->sr_upstream, (double)upstream_ns / 1e9);
	if (connect_ns >= 0)
		metrics_observe(r->sr_connect, (double)connect_ns / 1e9);
}

void
stats_ratelimited(const char *policy, int dry_run)
{
	struct stats_policy	*p;

	if ((p = stats_lookup(&stats_policies, policy != NULL ? policy :
	    "-")) != NULL)
		metrics_inc(p->sp_series[dry_run ? 1 : 0]);
}

void
stats_breaker_rejected(const char *name, int bulkhead)
{
	struct stats_breaker	*b;

	if ((b = stats_lookup(&stats_breakers, name != NULL ? name :
	    "-")) != NULL)
		metrics_inc(b->sb_series[bulkhead ? 1 : 0]);
}

void
stats_breaker_register(const char *name, struct breaker *br)
{
	struct stats_breaker	*b;

	if ((b = stats_lookup(&stats_breakers, name != NULL ? name :
	    "-")) == NULL)
		return;
	pthread_rwlock_wrlock(&stats_lock);
	b->sb_breaker = br;
	pthread_rwlock_unlock(&stats_lock);
}

void
stats_breaker_unregister(struct breaker *br)
{
	struct stats_entry	*e;

	if (br == NULL || stats_get() == NULL)
		return;
	pthread_rwlock_wrlock(&stats_lock);
	for (e = stats_breakers.t_first; e != NULL; e = e->e_order)
		if (((struct stats_breaker *)e->e_value)->sb_breaker == br)
			((struct stats_breaker *)e->e_value)->sb_breaker =
			    NULL;
	pthread_rwlock_unlock(&stats_lock);
}

/* Copies s into a fixed field, printable ASCII only (valid JSON/HTML). */
static void
stats_copy(char *dst, size_t size, const char *s)
{
	size_t	i;

	if (s == NULL)
		s = "-";
	for (i = 0; i + 1 < size && s[i] != '\0'; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

void
stats_event(int status, const char *route, const char *service,
    const char *detail)
{
	struct stats_event_rec	*ev;

	if (stats_get() == NULL)
		return;
	pthread_mutex_lock(&stats_event_mtx);
	ev = &stats_events[stats_nevents++ % STATS_NEVENTS];
	ev->ev_time = time(NULL);
	ev->ev_status = status;
	stats_copy(ev->ev_route, sizeof(ev->ev_route), route);
	stats_copy(ev->ev_service, sizeof(ev->ev_service), service);
	stats_copy(ev->ev_detail, sizeof(ev->ev_detail), detail);
	pthread_mutex_unlock(&stats_event_mtx);
}

/* --- scrape-time gauges (registry locked; main thread) ------------------ */

static void
stats_collect_pool(struct metrics_emit *e, void *arg)
{
	const struct stats_gauge	*g = arg;
	struct generation		*gen;
	struct pool_stats		 ps;
	const char			*v[2] = { NULL, NULL };
	double				 x = 0;
	int				 i;

	if ((gen = generation_acquire()) == NULL)
		return;
	for (i = 0; i < gen->gen_npools; i++) {
		pool_stats(gen->gen_pools[i].gp_pool, &ps);
		switch (g->g_field) {
		case SPF_QUEUED:	x = ps.ps_queued; break;
		case SPF_BUSY:		x = ps.ps_open - ps.ps_idle;
			break;
		case SPF_IDLE:		x = ps.ps_idle; break;
		case SPF_OPEN:		x = ps.ps_open; break;
		case SPF_MAX:		x = ps.ps_max; break;
		case SPF_SERVERS:	x = ps.ps_servers; break;
		case SPF_UP:		x = ps.ps_up; break;
		default:		break;
		}
		v[0] = gen->gen_pools[i].gp_svc->svc_name;
		metrics_emit(e, v, x);
	}
	generation_release(gen);
}

static void
stats_collect_server(struct metrics_emit *e, void *arg)
{
	const struct stats_gauge	*g = arg;
	struct generation		*gen;
	struct pool_server_stats	 ss;
	const char			*v[3] = { NULL, NULL, NULL };
	double				 x = 0;
	int				 i, j;

	if ((gen = generation_acquire()) == NULL)
		return;
	for (i = 0; i < gen->gen_npools; i++) {
		v[0] = gen->gen_pools[i].gp_svc->svc_name;
		for (j = 0; pool_server_stats(gen->gen_pools[i].gp_pool, j,
		    &ss) == 0; j++) {
			switch (g->g_field) {
			case SSF_UP:		x = ss.ss_up; break;
			case SSF_OPEN:		x = ss.ss_open; break;
			case SSF_IDLE:		x = ss.ss_idle; break;
			case SSF_MAX:		x = ss.ss_max; break;
			case SSF_REQUESTS:	x = ss.ss_requests; break;
			case SSF_FAILURES:	x = ss.ss_failures; break;
			case SSF_EJECTIONS:	x = ss.ss_ejections; break;
			default:		break;
			}
			v[1] = ss.ss_addr;
			metrics_emit(e, v, x);
		}
	}
	generation_release(gen);
}

static uint64_t
stats_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
stats_collect_breaker(struct metrics_emit *e, void *arg)
{
	const struct stats_gauge	*g = arg;
	struct stats_entry		*en;
	struct stats_breaker		*b;
	struct breaker_stats		 bs;
	const char			*v[2] = { NULL, NULL };
	double				 x = 0;

	pthread_rwlock_rdlock(&stats_lock);
	for (en = stats_breakers.t_first; en != NULL; en = en->e_order) {
		b = en->e_value;
		if (b->sb_breaker == NULL)
			continue;
		breaker_stats(b->sb_breaker, stats_now_ns(), &bs);
		switch (g->g_field) {
		case SBF_STATE:		x = bs.state; break;
		case SBF_REQUESTS:	x = bs.requests; break;
		case SBF_ERRORS:	x = bs.errors; break;
		case SBF_INFLIGHT:	x = bs.inflight; break;
		case SBF_OPENED:	x = bs.opened; break;
		default:		break;
		}
		v[0] = b->sb_name;
		metrics_emit(e, v, x);
	}
	pthread_rwlock_unlock(&stats_lock);
}

/* --- /status.json ------------------------------------------------------- */

static void
stats_json_double(yajl_gen g, const char *key, double v)
{
	json_gen_cstr(g, key);
	if (isnan(v) || isinf(v))
		yajl_gen_null(g);
	else
		yajl_gen_double(g, v);
}

static void
stats_json_routes(yajl_gen g)
{
	struct stats_entry	*e;
	struct stats_route	*r;
	struct metrics_series	*s;
	uint64_t		 n, total, errors;
	char			 code[8];
	int			 i;

	json_gen_cstr(g, "routes");
	yajl_gen_array_open(g);
	for (e = stats_routes.t_first; e != NULL; e = e->e_order) {
		r = e->e_value;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "route", r->sr_route);
		json_gen_kv_str(g, "service", r->sr_service);
		json_gen_cstr(g, "codes");
		yajl_gen_map_open(g);
		total = errors = 0;
		for (i = 0; i < STATS_NCODES; i++) {
			if ((s = atomic_load_explicit(&r->sr_codes[i],
			    memory_order_acquire)) == NULL)
				continue;
			n = metrics_counter_value(s);
			total += n;
			if (i >= 500)
				errors += n;
			snprintf(code, sizeof(code), "%d", i);
			json_gen_kv_int(g, code, (long long)n);
		}
		yajl_gen_map_close(g);
		json_gen_kv_int(g, "requests", (long long)total);
		json_gen_kv_int(g, "errors", (long long)errors);
		stats_json_double(g, "p50", metrics_histogram_quantile(
		    r->sr_duration, 0.5));
		stats_json_double(g, "p99", metrics_histogram_quantile(
		    r->sr_duration, 0.99));
		n = metrics_histogram_count(r->sr_duration);
		stats_json_double(g, "mean", n == 0 ? NAN :
		    metrics_histogram_sum(r->sr_duration) / (double)n);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
stats_json_breakers(yajl_gen g)
{
	struct stats_entry	*e;
	struct stats_breaker	*b;
	struct breaker_stats	 bs;

	json_gen_cstr(g, "breakers");
	yajl_gen_array_open(g);
	for (e = stats_breakers.t_first; e != NULL; e = e->e_order) {
		b = e->e_value;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "name", b->sb_name);
		if (b->sb_breaker != NULL) {
			breaker_stats(b->sb_breaker, stats_now_ns(), &bs);
			json_gen_kv_str(g, "state",
			    breaker_state_name(bs.state));
			json_gen_kv_int(g, "window_requests",
			    (long long)bs.requests);
			json_gen_kv_int(g, "window_errors",
			    (long long)bs.errors);
			json_gen_kv_int(g, "inflight", (long long)bs.inflight);
			json_gen_kv_int(g, "opened", (long long)bs.opened);
		} else
			json_gen_kv_str(g, "state", NULL);
		json_gen_kv_int(g, "rejected_open",
		    (long long)metrics_counter_value(b->sb_series[0]));
		json_gen_kv_int(g, "rejected_bulkhead",
		    (long long)metrics_counter_value(b->sb_series[1]));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
stats_json_policies(yajl_gen g)
{
	struct stats_entry	*e;
	struct stats_policy	*p;

	json_gen_cstr(g, "ratelimits");
	yajl_gen_array_open(g);
	for (e = stats_policies.t_first; e != NULL; e = e->e_order) {
		p = e->e_value;
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "policy", p->sp_name);
		json_gen_kv_int(g, "rejected",
		    (long long)metrics_counter_value(p->sp_series[0]));
		json_gen_kv_int(g, "dry_run",
		    (long long)metrics_counter_value(p->sp_series[1]));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
stats_json_events(yajl_gen g)
{
	struct stats_event_rec	*ev;
	uint64_t		 i, first;
	char			 when[32];
	struct tm		 tm;

	json_gen_cstr(g, "events");
	yajl_gen_array_open(g);
	pthread_mutex_lock(&stats_event_mtx);
	first = stats_nevents > STATS_NEVENTS ? stats_nevents -
	    STATS_NEVENTS : 0;
	/* newest first */
	for (i = stats_nevents; i > first; i--) {
		ev = &stats_events[(i - 1) % STATS_NEVENTS];
		gmtime_r(&ev->ev_time, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "time", when);
		json_gen_kv_int(g, "status", ev->ev_status);
		json_gen_kv_str(g, "route", ev->ev_route);
		json_gen_kv_str(g, "service", ev->ev_service);
		json_gen_kv_str(g, "detail", ev->ev_detail);
		yajl_gen_map_close(g);
	}
	pthread_mutex_unlock(&stats_event_mtx);
	yajl_gen_array_close(g);
}

void
stats_json(struct yajl_gen_t *g)
{
	if (stats_get() == NULL)
		return;
	json_gen_kv_int(g, "uptime", (long long)(time(NULL) - stats_started));
	pthread_rwlock_rdlock(&stats_lock);
	stats_json_routes(g);
	stats_json_breakers(g);
	stats_json_policies(g);
	pthread_rwlock_unlock(&stats_lock);
	stats_json_events(g);
}
