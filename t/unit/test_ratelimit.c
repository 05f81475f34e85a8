/*
 * Unit tests of proxy/ratelimit.c with a fake clock: burst and refill
 * exactness, several windows, the LRU bound, threads on one key, and the
 * header fields.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ratelimit.h"
#include "runner.h"

#define SEC	1000000000ULL
#define MSEC	1000000ULL
#define T0	(1000 * SEC)	/* any origin: the clock is monotonic */

static struct ratelimit_policy *
policy(const char *name, const struct ratelimit_window *w, size_t n,
    int dry)
{
	struct ratelimit_policy	*p;
	const char		*errstr = NULL;

	p = ratelimit_policy_new(name, w, n, dry, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(errstr);
	return p;
}

static int
check(struct ratelimit *rl, struct ratelimit_policy *p, const char *key,
    uint64_t now, struct ratelimit_result *res)
{
	return ratelimit_check(rl, p, key, strlen(key), now, res);
}

static void
t_burst(void)
{
	struct ratelimit_window	 w = { NULL, 10, 1, 5 };	/* 10/s, 5 */
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p = policy("default", &w, 1, 0);
	struct ratelimit_result	 r;
	int			 i;

	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
		CU_ASSERT_EQUAL(r.allowed, 1);
		CU_ASSERT_EQUAL(r.limited, 0);
		CU_ASSERT_EQUAL(r.remaining, (uint64_t)(4 - i));
		CU_ASSERT_EQUAL(r.limit, 10);
		CU_ASSERT_EQUAL(r.period_s, 1);
		CU_ASSERT_STRING_EQUAL(r.name, "default");
	}
	/* The next one fits in 100 ms: "t=1". */
	CU_ASSERT_EQUAL(r.reset_s, 1);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 0);
	CU_ASSERT_EQUAL(r.allowed, 0);
	CU_ASSERT_EQUAL(r.limited, 1);
	CU_ASSERT_EQUAL(r.remaining, 0);
	CU_ASSERT_EQUAL(r.retry_after_ms, 100);
	CU_ASSERT_EQUAL(r.retry_after_s, 1);
	/* A rejected request charges nothing: the wait shrinks with time. */
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 30 * MSEC, &r), 0);
	CU_ASSERT_EQUAL(r.retry_after_ms, 70);
	/* Another key is not affected. */
	CU_ASSERT_EQUAL(check(rl, p, "other", T0, &r), 1);
	CU_ASSERT_EQUAL(r.remaining, 4);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_refill(void)
{
	/* 3/s: an interval of 333.33.. ms, which rounding would break. */
	struct ratelimit_window	 w = { NULL, 3, 1, 0 };
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p = policy("p", &w, 1, 0);
	struct ratelimit_result	 r;
	uint64_t		 t;
	int			 n = 0;

	/* The first request left 2 (burst = limit). */
	CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
	CU_ASSERT_EQUAL(r.remaining, 2);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 0);
	/* 333333334 ns: the exact wait, rounded up. */
	CU_ASSERT_EQUAL(r.retry_after_ms, 334);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 333333333, &r), 0);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 333333334, &r), 1);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 333333334, &r), 0);

	/* Every ms for 1000 s: exactly 3 per second, no drift. */
	for (t = 1; t <= 1000000; t++)
		n += check(rl, p, "k", T0 + t * MSEC, NULL);
	CU_ASSERT_EQUAL(n, 3000 - 1);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_multiwindow(void)
{
	struct ratelimit_window	 w[2] = {
		{ "second", 10, 1, 0 },
		{ "minute", 15, 60, 0 },	/* one every 4 s, burst 15 */
	};
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p = policy("api", w, 2, 0);
	struct ratelimit_result	 r;
	char			 pol[256], lim[64];
	int			 i, n = 0;

	CU_ASSERT_STRING_EQUAL(ratelimit_policy_header(p),
	    "\"second\";q=10;w=1, \"minute\";q=15;w=60");
	CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
	/* second has 9 left, minute 14: the lower is reported. */
	CU_ASSERT_STRING_EQUAL(r.name, "second");
	CU_ASSERT_EQUAL(r.window, 0);
	CU_ASSERT_EQUAL(r.remaining, 9);
	CU_ASSERT_EQUAL(r.reset_s, 1);
	for (i = 0; i < 20; i++)
		n += check(rl, p, "k", T0, &r);
	CU_ASSERT_EQUAL(n, 9);
	CU_ASSERT_STRING_EQUAL(r.name, "second");
	CU_ASSERT_EQUAL(r.retry_after_ms, 100);
	CU_ASSERT_EQUAL(r.reset_s, 1);
	CU_ASSERT_EQUAL(r.violated, 1);

	/* One second on: "second" is full, "minute" has 5 (+0.25) left. */
	n = 0;
	for (i = 0; i < 20; i++)
		n += check(rl, p, "k", T0 + SEC, &r);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(r.limited, 1);
	CU_ASSERT_STRING_EQUAL(r.name, "minute");
	CU_ASSERT_EQUAL(r.limit, 15);
	CU_ASSERT_EQUAL(r.period_s, 60);
	CU_ASSERT_EQUAL(r.remaining, 0);
	/* The 16th fits 4 s after the first, at T0+4 s: 3 s from now. */
	CU_ASSERT_EQUAL(r.reset_s, 3);
	CU_ASSERT_EQUAL(r.retry_after_ms, 3000);
	CU_ASSERT_EQUAL(r.retry_after_s, 3);
	CU_ASSERT_EQUAL(r.violated, 2);
	CU_ASSERT_STRING_EQUAL(ratelimit_window_name(p, 1), "minute");
	CU_ASSERT_PTR_NULL(ratelimit_window_name(p, 2));
	CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, pol, sizeof(pol),
	    lim, sizeof(lim)), 0);
	CU_ASSERT_STRING_EQUAL(lim, "\"minute\";r=0;t=3");
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 4 * SEC - 1, NULL), 0);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 4 * SEC, &r), 1);
	CU_ASSERT_STRING_EQUAL(r.name, "minute");
	CU_ASSERT_EQUAL(r.remaining, 0);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_lru(void)
{
	struct ratelimit_window	 w = { NULL, 1, 3600, 0 };
	struct ratelimit	*rl = ratelimit_new(4);
	struct ratelimit_policy	*p = policy("p", &w, 1, 0);
	const char		*keys[] = { "a", "b", "c", "d" };
	size_t			 i;

	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(check(rl, p, keys[i], T0, NULL), 1);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 4);
	/* Touch "a": now "b" is the least recently used. */
	CU_ASSERT_EQUAL(check(rl, p, "a", T0, NULL), 0);
	CU_ASSERT_EQUAL(check(rl, p, "e", T0, NULL), 1);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 4);
	CU_ASSERT_EQUAL(ratelimit_evictions(rl), 1);
	CU_ASSERT_EQUAL(check(rl, p, "a", T0, NULL), 0);	/* kept */
	CU_ASSERT_EQUAL(check(rl, p, "d", T0, NULL), 0);	/* kept */
	CU_ASSERT_EQUAL(check(rl, p, "b", T0, NULL), 1);	/* forgotten */
	CU_ASSERT_EQUAL(ratelimit_evictions(rl), 2);		/* "c" went */
	CU_ASSERT_EQUAL(check(rl, p, "e", T0, NULL), 0);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_bounded(void)
{
	struct ratelimit_window	 w = { NULL, 5, 1, 0 };
	struct ratelimit	*rl = ratelimit_new(1000);
	struct ratelimit_policy	*p = policy("p", &w, 1, 0);
	char			 key[32];
	size_t			 n;
	int			 i;

	for (i = 0; i < 200000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		CU_ASSERT_EQUAL(check(rl, p, key, T0, NULL), 1);
	}
	n = ratelimit_count(rl);
	CU_ASSERT(n <= 1000);
	CU_ASSERT(n >= 900);	/* 64 shards of 15, all full */
	CU_ASSERT_EQUAL(ratelimit_evictions(rl), 200000 - n);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_longkey(void)
{
	struct ratelimit_window	 w = { NULL, 1, 60, 0 };
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p = policy("p", &w, 1, 0);
	char			 a[300], b[300];

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 2] = 'y';
	CU_ASSERT_EQUAL(check(rl, p, a, T0, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, p, a, T0, NULL), 0);
	CU_ASSERT_EQUAL(check(rl, p, b, T0, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, p, b, T0, NULL), 0);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_policies_apart(void)
{
	struct ratelimit_window	 w1 = { NULL, 1, 60, 0 };
	struct ratelimit_window	 w2 = { NULL, 2, 60, 0 };
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p1 = policy("one", &w1, 1, 0);
	struct ratelimit_policy	*p2 = policy("two", &w2, 1, 0);
	struct ratelimit_policy	*p1b;

	CU_ASSERT_EQUAL(check(rl, p1, "k", T0, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, p1, "k", T0, NULL), 0);
	CU_ASSERT_EQUAL(check(rl, p2, "k", T0, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, p2, "k", T0, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, p2, "k", T0, NULL), 0);
	/* An identical policy (a reload) shares the state. */
	p1b = policy("one", &w1, 1, 0);
	CU_ASSERT_EQUAL(check(rl, p1b, "k", T0, NULL), 0);
	ratelimit_policy_free(p1b);
	ratelimit_policy_free(p1);
	ratelimit_policy_free(p2);
	ratelimit_free(rl);
}

static void
t_dry_run(void)
{
	struct ratelimit_window	 w = { NULL, 2, 1, 0 };
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p = policy("dry", &w, 1, 1);
	struct ratelimit_result	 r;
	int			 i, limited = 0;

	CU_ASSERT_EQUAL(ratelimit_policy_dry_run(p), 1);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
		CU_ASSERT_EQUAL(r.allowed, 1);
		limited += r.limited;
	}
	CU_ASSERT_EQUAL(limited, 3);
	CU_ASSERT_EQUAL(r.retry_after_ms, 500);
	/* Counting went on exactly as if enforced. */
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 500 * MSEC, &r), 1);
	CU_ASSERT_EQUAL(r.limited, 0);
	CU_ASSERT_EQUAL(check(rl, p, "k", T0 + 500 * MSEC, &r), 1);
	CU_ASSERT_EQUAL(r.limited, 1);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_headers(void)
{
	struct ratelimit_window	 w[2] = {
		{ NULL, 20, 1, 40 },
		{ "hourly", 1000, 3600, 0 },
	};
	struct ratelimit_window	 w3[3] = {
		{ NULL, 1, 1, 0 }, { NULL, 2, 2, 0 }, { NULL, 3, 3, 0 },
	};
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit_policy	*p = policy("default", w, 2, 0);
	struct ratelimit_policy	*p3 = policy("x", w3, 3, 0);
	struct ratelimit_result	 r;
	char			 pol[128], lim[64], tiny[8];
	int			 i;

	CU_ASSERT_STRING_EQUAL(ratelimit_policy_header(p),
	    "\"default\";q=20;w=1, \"hourly\";q=1000;w=3600");
	CU_ASSERT_STRING_EQUAL(ratelimit_policy_header(p3),
	    "\"x\";q=1;w=1, \"x-1\";q=2;w=2, \"x-2\";q=3;w=3");
	for (i = 0; i < 37; i++)
		CU_ASSERT_EQUAL(check(rl, p, "k", T0, &r), 1);
	CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, pol, sizeof(pol),
	    lim, sizeof(lim)), 0);
	CU_ASSERT_STRING_EQUAL(pol,
	    "\"default\";q=20;w=1, \"hourly\";q=1000;w=3600");
	/* 37 of a burst of 40; the 4th more fits in 50 ms: t=1. */
	CU_ASSERT_STRING_EQUAL(lim, "\"default\";r=3;t=1");
	CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, NULL, 0,
	    tiny, sizeof(tiny)), -1);
	CU_ASSERT_EQUAL(strlen(tiny), sizeof(tiny) - 1);
	CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, tiny, sizeof(tiny),
	    NULL, 0), -1);
	ratelimit_policy_free(p3);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

/*
 * Header values are exact at every buffer size: the whole value with
 * room for its NUL, else -1 and the longest prefix; 64-bit numbers whole.
 */
static void
t_headers_sizes(void)
{
	struct ratelimit_window	 w[2] = {
		{ NULL, 20, 1, 40 },
		{ "hourly", 1000, 3600, 0 },
	};
	struct ratelimit_policy	*p = policy("default", w, 2, 0);
	struct ratelimit_result	 r;
	const char		*want_pol;
	char			 buf[128], want_lim[128];
	size_t			 n, len;

	memset(&r, 0, sizeof(r));
	r.name = "hourly";
	r.remaining = UINT64_MAX;
	r.reset_s = 0;
	CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, NULL, 0, buf,
	    sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf,
	    "\"hourly\";r=18446744073709551615;t=0");
	snprintf(want_lim, sizeof(want_lim), "%s", buf);
	want_pol = ratelimit_policy_header(p);
	len = strlen(want_pol);
	for (n = 1; n <= len + 1; n++) {
		memset(buf, 'X', sizeof(buf));
		CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, buf, n,
		    NULL, 0), n > len ? 0 : -1);
		CU_ASSERT_EQUAL(strlen(buf), n > len ? len : n - 1);
		CU_ASSERT_EQUAL(strncmp(buf, want_pol, n - 1), 0);
		CU_ASSERT_EQUAL(buf[n], 'X');
	}
	len = strlen(want_lim);
	for (n = 1; n <= len + 1; n++) {
		memset(buf, 'X', sizeof(buf));
		CU_ASSERT_EQUAL(ratelimit_format_headers(p, &r, NULL, 0,
		    buf, n), n > len ? 0 : -1);
		CU_ASSERT_EQUAL(strlen(buf), n > len ? len : n - 1);
		CU_ASSERT_EQUAL(strncmp(buf, want_lim, n - 1), 0);
		CU_ASSERT_EQUAL(buf[n], 'X');
	}
	ratelimit_policy_free(p);
}

static void
t_invalid(void)
{
	struct ratelimit_window	 ok = { NULL, 1, 1, 0 };
	struct ratelimit_window	 zero = { NULL, 0, 1, 0 };
	struct ratelimit_window	 bad = { "a\"b", 1, 1, 0 };
	struct ratelimit_window	 five[5] = { ok, ok, ok, ok, ok };
	struct ratelimit_window	 dup[2] = { { "a", 1, 1, 0 },
	    { "a", 1, 1, 0 } };
	const char		*errstr;

	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("a b", &ok, 1, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("", &ok, 1, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("p", &zero, 1, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("p", &bad, 1, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("p", five, 5, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("p", five, 0, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(ratelimit_policy_new("p", dup, 2, 0, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	ratelimit_policy_free(NULL);
	ratelimit_free(NULL);
}

/* Threads on one key at one instant: exactly the burst passes. */
#define NTHREADS	8
#define PERTHREAD	20000

struct hammer {
	struct ratelimit	*rl;
	struct ratelimit_policy	*p;
	atomic_uint_fast64_t	*clock;		/* NULL: fixed at T0 */
	int			 distinct;	/* one key per call */
	int			 id;
	int			 ok;
};

static void *
hammer_run(void *arg)
{
	struct hammer	*h = arg;
	char		 key[32];
	uint64_t	 now;
	int		 i;

	for (i = 0; i < PERTHREAD; i++) {
		now = h->clock == NULL ? T0 :
		    atomic_fetch_add(h->clock, 100000);	/* 0.1 ms a call */
		if (h->distinct)
			snprintf(key, sizeof(key), "%d/%d", h->id, i);
		else
			snprintf(key, sizeof(key), "one");
		h->ok += ratelimit_check(h->rl, h->p, key, strlen(key), now,
		    NULL);
	}
	return NULL;
}

static int
hammer(struct ratelimit *rl, struct ratelimit_policy *p,
    atomic_uint_fast64_t *clock, int distinct)
{
	pthread_t	 th[NTHREADS];
	struct hammer	 h[NTHREADS];
	int		 i, total = 0;

	for (i = 0; i < NTHREADS; i++) {
		h[i] = (struct hammer){ rl, p, clock, distinct, i, 0 };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL,
		    hammer_run, &h[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		total += h[i].ok;
	}
	return total;
}

static void
t_threads_exact(void)
{
	struct ratelimit_window	 w[2] = { { NULL, 100, 1, 1000 },
	    { "hour", 100000, 3600, 0 } };
	struct ratelimit	*rl = ratelimit_new(1000);
	struct ratelimit_policy	*p = policy("p", w, 2, 0);

	CU_ASSERT_EQUAL(hammer(rl, p, NULL, 0), 1000);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_threads_clock(void)
{
	struct ratelimit_window	 w = { NULL, 100, 1, 50 };
	struct ratelimit	*rl = ratelimit_new(1000);
	struct ratelimit_policy	*p = policy("p", &w, 1, 0);
	atomic_uint_fast64_t	 clock = T0;
	int			 n;

	/* 160000 calls over 16 s of fake time: 50 + 16 * 100 at most. */
	n = hammer(rl, p, &clock, 0);
	CU_ASSERT(n <= 1650);
	CU_ASSERT(n >= 1600);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

static void
t_threads_evict(void)
{
	struct ratelimit_window	 w = { NULL, 1, 60, 0 };
	struct ratelimit	*rl = ratelimit_new(256);
	struct ratelimit_policy	*p = policy("p", &w, 1, 0);

	/* Every key is new, so every call passes and most evict. */
	CU_ASSERT_EQUAL(hammer(rl, p, NULL, 1), NTHREADS * PERTHREAD);
	CU_ASSERT(ratelimit_count(rl) <= 256);
	CU_ASSERT_EQUAL(ratelimit_evictions(rl) + ratelimit_count(rl),
	    NTHREADS * PERTHREAD);
	ratelimit_policy_free(p);
	ratelimit_free(rl);
}

/*
 * A reload: the new configuration's policy objects replace the old ones.
 * An identical policy keeps its keys' state; a changed one (same name,
 * other windows) starts fresh; when the last object of the old identity
 * goes, its keys leave every table.
 */
static void
t_reload(void)
{
	struct ratelimit_window	 w1 = { NULL, 1, 60, 0 };
	struct ratelimit_window	 w2 = { NULL, 2, 60, 0 };
	struct ratelimit	*rl = ratelimit_new(100);
	struct ratelimit	*other = ratelimit_new(100);
	struct ratelimit_policy	*old, *same, *changed, *gone;
	struct ratelimit_result	 res;

	old = policy("api", &w1, 1, 0);
	gone = policy("removed", &w1, 1, 0);
	CU_ASSERT_EQUAL(check(rl, old, "k", T0, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, gone, "k", T0, NULL), 1);
	CU_ASSERT_EQUAL(check(other, gone, "k", T0, NULL), 1);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 2);

	/* the new generation is built while the old one still serves */
	same = policy("api", &w1, 1, 0);
	changed = policy("api", &w2, 1, 0);
	ratelimit_policy_free(old);
	ratelimit_policy_free(gone);
	/* "removed" is gone from both tables; "api" stays */
	CU_ASSERT_EQUAL(ratelimit_count(rl), 1);
	CU_ASSERT_EQUAL(ratelimit_count(other), 0);
	CU_ASSERT_EQUAL(ratelimit_evictions(rl), 0);

	/* unchanged: still limited, with the exact wait left */
	CU_ASSERT_EQUAL(check(rl, same, "k", T0 + 20 * SEC, &res), 0);
	CU_ASSERT_EQUAL(res.retry_after_s, 40);
	/* changed: a fresh start (two at once) */
	CU_ASSERT_EQUAL(check(rl, changed, "k", T0 + 20 * SEC, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, changed, "k", T0 + 20 * SEC, NULL), 1);
	CU_ASSERT_EQUAL(check(rl, changed, "k", T0 + 20 * SEC, NULL), 0);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 2);

	/* the next reload drops 1/60 for good */
	ratelimit_policy_free(same);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 1);
	ratelimit_policy_free(changed);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 0);
	ratelimit_free(other);
	ratelimit_free(rl);
}

/* Resident set size in bytes, from /proc/self/statm. */
static long
rss_bytes(void)
{
	FILE	*f;
	long	 size, res = -1;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * sysconf(_SC_PAGESIZE);
}

#if defined(__SANITIZE_ADDRESS__)
#define RL_SANITIZED	1	/* ASan's quarantine holds freed entries */
#else
#define RL_SANITIZED	0
#endif

/*
 * The "memory bounded under 1M distinct keys", through the API
 * the gateway uses (edge.c keys client addresses exactly so): a table of
 * 100000 keys fed 1M distinct client addresses holds at most 100000, has
 * evicted the rest, and the process grows by no more than a few MB
 * between 200k keys (table full) and 1M keys.  Driving 1M requests
 * through the real gateway would take minutes; the key path is the same.
 */
static void
t_million(void)
{
	struct ratelimit_window	 w[2] = { { NULL, 20, 1, 40 },
	    { NULL, 1000, 3600, 0 } };
	struct ratelimit	*rl = ratelimit_new(100000);
	struct ratelimit_policy	*p = policy("perip", w, 2, 0);
	char			 key[64];
	size_t			 n, full = 0;
	long			 rss_full = 0, rss_end;
	int			 i, ok = 0;

	for (i = 0; i < 1000000; i++) {
		/* the edge key: type byte, then the client address */
		n = (size_t)snprintf(key, sizeof(key), "0%d.%d.%d.%d",
		    10 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255, i & 255);
		ok += ratelimit_check(rl, p, key, n, T0 + (uint64_t)i * 1000,
		    NULL);
		if (i == 200000 - 1) {
			full = ratelimit_count(rl);
			rss_full = rss_bytes();
		}
	}
	CU_ASSERT_EQUAL(ok, 1000000);	/* every key new: all pass */
	n = ratelimit_count(rl);
	CU_ASSERT(n <= 100000);
	CU_ASSERT(n >= 95000);		/* 64 shards of 1562, all full */
	CU_ASSERT_EQUAL(n, full);	/* full since 200k keys */
	CU_ASSERT_EQUAL(ratelimit_evictions(rl), 1000000 - n);
	rss_end = rss_bytes();
	if (!RL_SANITIZED && rss_full > 0 && rss_end > 0) {
		if (rss_end - rss_full >= 4L << 20)
			fprintf(stderr, "# rss %ld -> %ld\n", rss_full,
			    rss_end);
		CU_ASSERT(rss_end - rss_full < 4L << 20);
	}
	/* the oldest are gone: the first client starts afresh */
	CU_ASSERT_EQUAL(ratelimit_check(rl, p, "010.0.0.0", 9, T0, NULL), 1);
	ratelimit_policy_free(p);
	CU_ASSERT_EQUAL(ratelimit_count(rl), 0);
	ratelimit_free(rl);
}

static const struct unit_case cases[] = {
	{ "burst", t_burst },
	{ "refill", t_refill },
	{ "multiwindow", t_multiwindow },
	{ "lru", t_lru },
	{ "bounded", t_bounded },
	{ "longkey", t_longkey },
	{ "policies_apart", t_policies_apart },
	{ "dry_run", t_dry_run },
	{ "headers", t_headers },
	{ "headers_sizes", t_headers_sizes },
	{ "invalid", t_invalid },
	{ "threads_exact", t_threads_exact },
	{ "threads_clock", t_threads_clock },
	{ "threads_evict", t_threads_evict },
	{ "reload", t_reload },
	{ "million", t_million },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "ratelimit", cases);
}
