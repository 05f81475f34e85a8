/*
 * Unit tests of proxy/breaker.c with a fake clock: the thresholds, the
 * half-open probes, the rolling window, the bulkhead and threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "breaker.h"
#include "runner.h"

#define SEC	1000000000ULL
#define MSEC	1000000ULL
#define T0	(1000 * SEC)

/* State changes seen by the callback, in order. */
struct changes {
	int	 n;
	int	 from[16];
	int	 to[16];
};

static void
on_change(struct breaker *b, enum breaker_state from, enum breaker_state to,
    void *arg)
{
	struct changes	*c = arg;

	if (c->n < 16) {
		c->from[c->n] = from;
		c->to[c->n] = to;
	}
	c->n++;
}

static struct breaker *
mkbreaker(struct breaker_config *cfg, struct changes *ch)
{
	struct breaker	*b;
	const char	*errstr = NULL;

	if (ch != NULL) {
		memset(ch, 0, sizeof(*ch));
		cfg->on_change = on_change;
		cfg->arg = ch;
	}
	b = breaker_new(cfg, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	return b;
}

/* One request, start to end, at `now`. */
static int
call(struct breaker *b, uint64_t now, enum breaker_outcome o)
{
	struct breaker_ticket	 t;
	int			 rv;

	rv = breaker_allow(b, now, &t, NULL);
	if (rv == BREAKER_ALLOW)
		breaker_record(b, &t, o, 0, now);
	return rv;
}

static void
t_volume(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct changes		 ch;
	struct breaker_stats	 st;
	int			 i;

	breaker_config_default(&cfg);
	cfg.name = "catalog";
	b = mkbreaker(&cfg, &ch);
	CU_ASSERT_STRING_EQUAL(breaker_name(b), "catalog");
	/* 19 failures: 100% errors, but below the volume. */
	for (i = 0; i < 19; i++)
		CU_ASSERT_EQUAL(call(b, T0, BREAKER_FAILURE), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.requests, 19);
	CU_ASSERT_EQUAL(st.errors, 19);
	CU_ASSERT_EQUAL(ch.n, 0);
	/* The 20th opens it, exactly once. */
	CU_ASSERT_EQUAL(call(b, T0, BREAKER_TIMEOUT), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(ch.n, 1);
	CU_ASSERT_EQUAL(ch.from[0], BREAKER_CLOSED);
	CU_ASSERT_EQUAL(ch.to[0], BREAKER_OPEN);
	CU_ASSERT_EQUAL(call(b, T0, BREAKER_SUCCESS), BREAKER_REJECT);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.opened, 1);
	CU_ASSERT_EQUAL(st.rejected, 1);
	CU_ASSERT_EQUAL(st.inflight, 0);
	breaker_free(b);
}

static void
t_percentage(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	int			 i;

	breaker_config_default(&cfg);
	b = mkbreaker(&cfg, NULL);
	/* 11 ok + 9 errors = 45%: stays closed at volume 20. */
	for (i = 0; i < 11; i++)
		call(b, T0, BREAKER_SUCCESS);
	for (i = 0; i < 9; i++)
		call(b, T0, BREAKER_CONNECT);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	/* 10 of 21 = 47.6%: closed; 11 of 22 = 50%: open. */
	call(b, T0, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	call(b, T0, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	breaker_free(b);
}

static void
t_halfopen(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct changes		 ch;
	struct breaker_ticket	 p1, p2, x;
	uint64_t		 ra = 0, now;
	int			 i;

	breaker_config_default(&cfg);
	cfg.volume = 5;
	cfg.probes = 2;
	b = mkbreaker(&cfg, &ch);
	for (i = 0; i < 5; i++)
		call(b, T0, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_allow(b, T0, &x, &ra), BREAKER_REJECT);
	CU_ASSERT_EQUAL(ra, 5000);
	CU_ASSERT_EQUAL(breaker_allow(b, T0 + 4999 * MSEC + 1, &x, &ra),
	    BREAKER_REJECT);
	CU_ASSERT_EQUAL(ra, 1);

	/* Sleep over: two probes, the third is refused. */
	now = T0 + 5 * SEC;
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p1, NULL), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p2, NULL), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_allow(b, now, &x, &ra), BREAKER_REJECT);
	CU_ASSERT_EQUAL(p1.bt_probe, 1);
	/* One success is not enough. */
	breaker_record(b, &p1, BREAKER_SUCCESS, 0, now);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	/* Recording a ticket twice counts once. */
	breaker_record(b, &p1, BREAKER_SUCCESS, 0, now);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	breaker_record(b, &p2, BREAKER_SUCCESS, 0, now);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	CU_ASSERT_EQUAL(ch.n, 3);
	CU_ASSERT_EQUAL(ch.to[1], BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(ch.from[2], BREAKER_HALF_OPEN);
	CU_ASSERT_EQUAL(ch.to[2], BREAKER_CLOSED);
	/* Closed again with an empty window: 4 failures do not trip it. */
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(call(b, now, BREAKER_FAILURE), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_free(b);
}

static void
t_probe_fails(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct changes		 ch;
	struct breaker_ticket	 p1, p2, x;
	uint64_t		 ra = 0, now;
	int			 i;

	breaker_config_default(&cfg);
	cfg.volume = 3;
	cfg.probes = 2;
	cfg.sleep_ms = 2000;
	b = mkbreaker(&cfg, &ch);
	for (i = 0; i < 3; i++)
		call(b, T0, BREAKER_FAILURE);
	now = T0 + 10 * SEC;
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p1, NULL), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p2, NULL), BREAKER_ALLOW);
	/* The first probe fails: open again, with a fresh sleep. */
	breaker_record(b, &p1, BREAKER_FAILURE, 0, now + SEC);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_allow(b, now + SEC, &x, &ra),
	    BREAKER_REJECT);
	CU_ASSERT_EQUAL(ra, 2000);
	/* The late second probe belongs to the old round: no effect. */
	breaker_record(b, &p2, BREAKER_SUCCESS, 0, now + SEC);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(ch.n, 3);	/* open, half-open, open */
	CU_ASSERT_EQUAL(ch.to[2], BREAKER_OPEN);
	/* An ignored probe (client gone) frees its place. */
	now += 3 * SEC;
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p1, NULL), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p2, NULL), BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_allow(b, now, &x, NULL), BREAKER_REJECT);
	breaker_record(b, &p1, BREAKER_IGNORE, 0, now);
	CU_ASSERT_EQUAL(breaker_allow(b, now, &p1, NULL), BREAKER_ALLOW);
	breaker_record(b, &p1, BREAKER_SUCCESS, 0, now);
	breaker_record(b, &p2, BREAKER_SUCCESS, 0, now);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_free(b);
}

static void
t_window(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct breaker_stats	 st;
	int			 i;

	breaker_config_default(&cfg);	/* 10 x 1 s, volume 20 */
	b = mkbreaker(&cfg, NULL);
	for (i = 0; i < 19; i++)
		call(b, T0, BREAKER_FAILURE);
	/* 9.999 s on, the first bucket is still in the window. */
	breaker_stats(b, T0 + 9999 * MSEC, &st);
	CU_ASSERT_EQUAL(st.requests, 19);
	/* 10 s on, it has rolled out: one failure is far from 20. */
	breaker_stats(b, T0 + 10 * SEC, &st);
	CU_ASSERT_EQUAL(st.requests, 0);
	call(b, T0 + 10 * SEC, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	breaker_stats(b, T0 + 10 * SEC, &st);
	CU_ASSERT_EQUAL(st.requests, 1);
	breaker_free(b);

	/* The same, spread: buckets expire one by one. */
	b = mkbreaker(&cfg, NULL);
	for (i = 0; i < 19; i++)
		call(b, T0 + i * 500 * MSEC, BREAKER_FAILURE);
	/* At T0+9.5 s the window is T0+0 s..: all 19 are in. */
	breaker_stats(b, T0 + 9500 * MSEC, &st);
	CU_ASSERT_EQUAL(st.requests, 19);
	/* At T0+10 s the bucket of T0 (2 requests) is out. */
	breaker_stats(b, T0 + 10 * SEC, &st);
	CU_ASSERT_EQUAL(st.requests, 17);
	call(b, T0 + 10 * SEC, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED);
	call(b, T0 + 10 * SEC, BREAKER_FAILURE);
	call(b, T0 + 10 * SEC, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	breaker_free(b);
}

static void
t_slow_and_status(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct breaker_ticket	 t;
	struct breaker_stats	 st;

	breaker_config_default(&cfg);
	cfg.slow_ms = 200;
	breaker_config_status(&cfg, 501, 0);	/* 501 is the client's */
	b = mkbreaker(&cfg, NULL);
	CU_ASSERT_EQUAL(breaker_status(b, 200), BREAKER_SUCCESS);
	CU_ASSERT_EQUAL(breaker_status(b, 404), BREAKER_SUCCESS);
	CU_ASSERT_EQUAL(breaker_status(b, 500), BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_status(b, 501), BREAKER_SUCCESS);
	CU_ASSERT_EQUAL(breaker_status(b, 503), BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_status(b, 599), BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_status(b, 600), BREAKER_SUCCESS);

	CU_ASSERT_EQUAL(breaker_allow(b, T0, &t, NULL), BREAKER_ALLOW);
	breaker_record(b, &t, BREAKER_SUCCESS, 199 * MSEC, T0);
	CU_ASSERT_EQUAL(breaker_allow(b, T0, &t, NULL), BREAKER_ALLOW);
	breaker_record(b, &t, BREAKER_SUCCESS, 200 * MSEC, T0);
	CU_ASSERT_EQUAL(breaker_allow(b, T0, &t, NULL), BREAKER_ALLOW);
	breaker_record(b, &t, BREAKER_IGNORE, 0, T0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.requests, 2);
	CU_ASSERT_EQUAL(st.errors, 1);
	breaker_free(b);
}

static void
t_bulkhead(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct breaker_ticket	 t[4];
	struct breaker_stats	 st;
	uint64_t		 ra = 0;
	int			 i;

	breaker_config_default(&cfg);
	cfg.max_concurrent = 3;
	b = mkbreaker(&cfg, NULL);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(breaker_allow(b, T0, &t[i], NULL),
		    BREAKER_ALLOW);
	CU_ASSERT_EQUAL(breaker_allow(b, T0, &t[3], &ra), BREAKER_FULL);
	CU_ASSERT_EQUAL(ra, 1000);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.inflight, 3);
	CU_ASSERT_EQUAL(st.full, 1);
	breaker_record(b, &t[1], BREAKER_SUCCESS, 0, T0);
	CU_ASSERT_EQUAL(breaker_allow(b, T0, &t[3], NULL), BREAKER_ALLOW);
	for (i = 0; i < 4; i++)
		breaker_record(b, &t[i], BREAKER_SUCCESS, 0, T0);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.inflight, 0);
	CU_ASSERT_EQUAL(st.requests, 4);
	breaker_free(b);
}

static void
t_stale_ticket(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct breaker_ticket	 old, p;
	int			 i;

	breaker_config_default(&cfg);
	cfg.volume = 3;
	b = mkbreaker(&cfg, NULL);
	/* A request goes out while closed and hangs. */
	CU_ASSERT_EQUAL(breaker_allow(b, T0, &old, NULL), BREAKER_ALLOW);
	for (i = 0; i < 3; i++)
		call(b, T0, BREAKER_FAILURE);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(breaker_allow(b, T0 + 5 * SEC, &p, NULL),
	    BREAKER_ALLOW);
	/* Its late success must not close the breaker: p is the probe. */
	breaker_record(b, &old, BREAKER_SUCCESS, 0, T0 + 5 * SEC);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_HALF_OPEN);
	breaker_record(b, &p, BREAKER_FAILURE, 0, T0 + 5 * SEC);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	breaker_free(b);
}

static void
t_invalid(void)
{
	struct breaker_config	 cfg;
	const char		*errstr;

	breaker_config_default(&cfg);
	cfg.error_pct = 0;
	errstr = NULL;
	CU_ASSERT_PTR_NULL(breaker_new(&cfg, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	breaker_config_default(&cfg);
	cfg.buckets = 0;
	errstr = NULL;
	CU_ASSERT_PTR_NULL(breaker_new(&cfg, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	breaker_config_default(&cfg);
	cfg.probes = 0;
	errstr = NULL;
	CU_ASSERT_PTR_NULL(breaker_new(&cfg, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	CU_ASSERT_STRING_EQUAL(breaker_state_name(BREAKER_HALF_OPEN),
	    "half_open");
	breaker_free(NULL);
}

/* Threads: the bulkhead holds, and the breaker opens exactly once. */
#define NTHREADS	8
#define PERTHREAD	20000

struct worker {
	struct breaker		*b;
	atomic_int		*busy;
	atomic_int		*maxbusy;
	enum breaker_outcome	 outcome;
	int			 allowed;
};

static void *
worker_run(void *arg)
{
	struct worker		*w = arg;
	struct breaker_ticket	 t;
	int			 i, n, m;

	for (i = 0; i < PERTHREAD; i++) {
		if (breaker_allow(w->b, T0, &t, NULL) != BREAKER_ALLOW)
			continue;
		w->allowed++;
		n = atomic_fetch_add(w->busy, 1) + 1;
		m = atomic_load(w->maxbusy);
		while (n > m && !atomic_compare_exchange_weak(w->maxbusy,
		    &m, n))
			;
		atomic_fetch_sub(w->busy, 1);
		breaker_record(w->b, &t, w->outcome, 0, T0);
	}
	return NULL;
}

static int
run_workers(struct breaker *b, enum breaker_outcome o, int *maxbusy)
{
	pthread_t	 th[NTHREADS];
	struct worker	 w[NTHREADS];
	atomic_int	 busy = 0, mb = 0;
	int		 i, total = 0;

	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ b, &busy, &mb, o, 0 };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL,
		    worker_run, &w[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += w[i].allowed;
	}
	*maxbusy = mb;
	return total;
}

static void
t_threads(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	struct changes		 ch;
	struct breaker_stats	 st;
	int			 allowed, maxbusy;

	/* Successes only, a bulkhead of 3. */
	breaker_config_default(&cfg);
	cfg.max_concurrent = 3;
	cfg.volume = 1000000;	/* keep every success in the window */
	b = mkbreaker(&cfg, NULL);
	allowed = run_workers(b, BREAKER_SUCCESS, &maxbusy);
	CU_ASSERT(maxbusy <= 3);
	CU_ASSERT(maxbusy >= 1);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.inflight, 0);
	CU_ASSERT_EQUAL(st.requests, (uint64_t)allowed);
	CU_ASSERT_EQUAL(st.full + (uint64_t)allowed, NTHREADS * PERTHREAD);
	breaker_free(b);

	/* Failures only: opens once, then refuses all (the clock stands). */
	breaker_config_default(&cfg);
	b = mkbreaker(&cfg, &ch);
	allowed = run_workers(b, BREAKER_FAILURE, &maxbusy);
	CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN);
	CU_ASSERT_EQUAL(ch.n, 1);
	breaker_stats(b, T0, &st);
	CU_ASSERT_EQUAL(st.opened, 1);
	/* At least the volume went out; the rest was refused. */
	CU_ASSERT(allowed >= 20);
	CU_ASSERT(allowed <= 20 + NTHREADS);
	CU_ASSERT_EQUAL(st.rejected + (uint64_t)allowed,
	    NTHREADS * PERTHREAD);
	CU_ASSERT_EQUAL(st.inflight, 0);
	breaker_free(b);
}

/* What a reload compares: every setting, the name; not the callback. */
static void
t_config_same(void)
{
	struct breaker_config	 a, b;
	struct changes		 ch;
	unsigned int		*fields[] = { &b.buckets, &b.bucket_ms,
	    &b.volume, &b.error_pct, &b.sleep_ms, &b.probes, &b.slow_ms,
	    &b.max_concurrent };
	size_t			 i;

	breaker_config_default(&a);
	a.name = "catalog";
	b = a;
	CU_ASSERT_EQUAL(breaker_config_same(&a, &b), 1);
	b.name = "catalog/route";
	CU_ASSERT_EQUAL(breaker_config_same(&a, &b), 0);
	b.name = NULL;
	CU_ASSERT_EQUAL(breaker_config_same(&a, &b), 0);
	b = a;
	b.on_change = on_change;	/* a new generation's callback */
	b.arg = &ch;
	CU_ASSERT_EQUAL(breaker_config_same(&a, &b), 1);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		b = a;
		(*fields[i])++;
		CU_ASSERT_EQUAL(breaker_config_same(&a, &b), 0);
	}
	b = a;
	breaker_config_status(&b, 503, 0);
	CU_ASSERT_EQUAL(breaker_config_same(&a, &b), 0);
}

static const struct unit_case cases[] = {
	{ "volume", t_volume },
	{ "percentage", t_percentage },
	{ "halfopen", t_halfopen },
	{ "probe_fails", t_probe_fails },
	{ "window", t_window },
	{ "slow_and_status", t_slow_and_status },
	{ "bulkhead", t_bulkhead },
	{ "stale_ticket", t_stale_ticket },
	{ "invalid", t_invalid },
	{ "threads", t_threads },
	{ "config_same", t_config_same },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "breaker", cases);
}
