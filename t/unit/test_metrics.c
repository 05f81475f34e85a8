/*
 * Unit tests of proxy/metrics.c: exact text format output, escaping,
 * number formatting, histograms, and exact sums under threads.
 */
#include <event2/buffer.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "runner.h"

static struct metrics_family *
must(struct metrics_family *f, const char *errstr)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NULL(errstr);
	return f;
}

static void
collect_breakers(struct metrics_emit *e, void *arg)
{
	int	*calls = arg;

	(*calls)++;
	metrics_emit(e, (const char *const[]){ "catalog" }, 0);
	metrics_emit(e, (const char *const[]){ "auth" }, 1);
}

static void
t_render(void)
{
	static const char *const rlabels[] = { "route", "service", "code",
	    NULL };
	static const char *const slabels[] = { "service", NULL };
	static const double	 bounds[] = { 0.1, 0.5, 1 };
	struct metrics		*m = metrics_new();
	struct metrics_family	*req, *depth, *lat, *rst, *brk;
	struct metrics_series	*s;
	const char		*errstr = NULL;
	char			*out;
	size_t			 len;
	int			 calls = 0;
	static const char	 expect[] =
	    "# HELP agora_requests_total Requests by route, service and "
	    "status class.\n"
	    "# TYPE agora_requests_total counter\n"
	    "agora_requests_total{route=\"products\",service=\"catalog\","
	    "code=\"2xx\"} 3\n"
	    "agora_requests_total{route=\"login\",service=\"auth\","
	    "code=\"5xx\"} 1\n"
	    "# HELP agora_pool_queue_depth Requests waiting for a backend.\n"
	    "# TYPE agora_pool_queue_depth gauge\n"
	    "agora_pool_queue_depth{service=\"catalog\"} 7\n"
	    "# HELP agora_request_duration_seconds Request latency.\n"
	    "# TYPE agora_request_duration_seconds histogram\n"
	    "agora_request_duration_seconds_bucket{service=\"catalog\","
	    "le=\"0.1\"} 2\n"
	    "agora_request_duration_seconds_bucket{service=\"catalog\","
	    "le=\"0.5\"} 3\n"
	    "agora_request_duration_seconds_bucket{service=\"catalog\","
	    "le=\"1\"} 3\n"
	    "agora_request_duration_seconds_bucket{service=\"catalog\","
	    "le=\"+Inf\"} 4\n"
	    "agora_request_duration_seconds_sum{service=\"catalog\"} 2.85\n"
	    "agora_request_duration_seconds_count{service=\"catalog\"} 4\n"
	    "# HELP agora_supervisor_restarts_total Restarts of backend "
	    "processes.\n"
	    "# TYPE agora_supervisor_restarts_total counter\n"
	    "agora_supervisor_restarts_total 0\n"
	    "# HELP agora_breaker_state 0 closed, 1 open, 2 half-open.\n"
	    "# TYPE agora_breaker_state gauge\n"
	    "agora_breaker_state{service=\"catalog\"} 0\n"
	    "agora_breaker_state{service=\"auth\"} 1\n";

	req = must(metrics_counter(m, "agora_requests_total",
	    "Requests by route, service and status class.", rlabels,
	    &errstr), errstr);
	depth = must(metrics_gauge(m, "agora_pool_queue_depth",
	    "Requests waiting for a backend.", slabels, &errstr), errstr);
	lat = must(metrics_histogram(m, "agora_request_duration_seconds",
	    "Request latency.", slabels, bounds, 3, &errstr), errstr);
	rst = must(metrics_counter(m, "agora_supervisor_restarts_total",
	    "Restarts of backend processes.", NULL, &errstr), errstr);
	brk = must(metrics_gauge_func(m, "agora_breaker_state",
	    "0 closed, 1 open, 2 half-open.", slabels, collect_breakers,
	    &calls, &errstr), errstr);
	(void)rst;
	(void)brk;

	s = metrics_series(req,
	    (const char *const[]){ "products", "catalog", "2xx" });
	metrics_inc(s);
	metrics_add(s, 2);
	CU_ASSERT_PTR_EQUAL(s, metrics_series(req,
	    (const char *const[]){ "products", "catalog", "2xx" }));
	metrics_inc(metrics_series(req,
	    (const char *const[]){ "login", "auth", "5xx" }));
	CU_ASSERT_EQUAL(metrics_counter_value(s), 3);

	s = metrics_series(depth, (const char *const[]){ "catalog" });
	metrics_set(s, 5);
	metrics_gauge_add(s, 2);
	CU_ASSERT_EQUAL(metrics_gauge_value(s), 7.0);

	s = metrics_series(lat, (const char *const[]){ "catalog" });
	metrics_observe(s, 0.05);
	metrics_observe(s, 0.1);	/* le is inclusive */
	metrics_observe(s, 0.2);
	metrics_observe(s, 2.5);	/* above every bound */
	CU_ASSERT_EQUAL(metrics_histogram_count(s), 4);

	/* 4 samples: the median is the 2nd, at the top of (0, 0.1]. */
	CU_ASSERT_DOUBLE_EQUAL(metrics_histogram_quantile(s, 0.5), 0.1, 1e-12);
	/* Rank 3 of 4: all of (0.1, 0.5]'s one sample. */
	CU_ASSERT_DOUBLE_EQUAL(metrics_histogram_quantile(s, 0.75), 0.5,
	    1e-12);
	CU_ASSERT_DOUBLE_EQUAL(metrics_histogram_quantile(s, 0.25), 0.05,
	    1e-12);
	/* In +Inf: the highest bound. */
	CU_ASSERT_DOUBLE_EQUAL(metrics_histogram_quantile(s, 0.99), 1, 1e-12);
	out = metrics_render(m, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_STRING_EQUAL(out, expect);
	CU_ASSERT_EQUAL(len, strlen(expect));
	CU_ASSERT_EQUAL(calls, 1);
	free(out);
	CU_ASSERT(isnan(metrics_histogram_quantile(metrics_series(lat,
	    (const char *const[]){ "empty" }), 0.5)));
	metrics_free(m);
}

static void
t_escape(void)
{
	static const char *const labels[] = { "path", NULL };
	struct metrics		*m = metrics_new();
	struct metrics_family	*f;
	const char		*errstr = NULL;
	char			*out;

	f = must(metrics_counter(m, "x_total", "a \\ back\nslash \"q\"",
	    labels, &errstr), errstr);
	metrics_inc(metrics_series(f,
	    (const char *const[]){ "a\"b\\c\nd" }));
	metrics_inc(metrics_series(f, (const char *const[]){ "" }));
	out = metrics_render(m, NULL);
	/* HELP escapes \ and newline only; label values also ". */
	CU_ASSERT_STRING_EQUAL(out,
	    "# HELP x_total a \\\\ back\\nslash \"q\"\n"
	    "# TYPE x_total counter\n"
	    "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"
	    "x_total{path=\"\"} 1\n");
	free(out);
	metrics_free(m);
}

static void
t_numbers(void)
{
	static const char *const labels[] = { "v", NULL };
	struct metrics		*m = metrics_new();
	struct metrics_family	*f;
	const char		*errstr = NULL;
	char			*out;
	struct {
		const char	*label;
		double		 v;
	} cases[] = {
		{ "a", 0.1 + 0.2 }, { "b", 1e6 }, { "c", -2.5 },
		{ "d", NAN }, { "e", -INFINITY }, { "f", 1e-9 },
		{ "g", 123456789012 }, { "h", 1e300 },
	};
	size_t			 i;

	f = must(metrics_gauge(m, "g", "G.", labels, &errstr), errstr);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		metrics_set(metrics_series(f,
		    (const char *const[]){ cases[i].label }), cases[i].v);
	out = metrics_render(m, NULL);
	CU_ASSERT_STRING_EQUAL(out,
	    "# HELP g G.\n"
	    "# TYPE g gauge\n"
	    "g{v=\"a\"} 0.30000000000000004\n"
	    "g{v=\"b\"} 1000000\n"
	    "g{v=\"c\"} -2.5\n"
	    "g{v=\"d\"} NaN\n"
	    "g{v=\"e\"} -Inf\n"
	    "g{v=\"f\"} 1e-09\n"
	    "g{v=\"g\"} 123456789012\n"
	    "g{v=\"h\"} 1e+300\n");
	free(out);
	metrics_free(m);
}

static void
t_default_buckets(void)
{
	struct metrics		*m = metrics_new();
	struct metrics_family	*f;
	struct metrics_series	*s;
	const char		*errstr = NULL;
	char			*out;

	f = must(metrics_histogram(m, "h_seconds", "h", NULL, NULL, 0,
	    &errstr), errstr);
	s = metrics_series(f, NULL);
	metrics_observe(s, 0.005);
	metrics_observe(s, 0.0051);
	metrics_observe(s, 10);
	metrics_observe(s, 11);
	out = metrics_render(m, NULL);
	CU_ASSERT_STRING_EQUAL(out,
	    "# HELP h_seconds h\n"
	    "# TYPE h_seconds histogram\n"
	    "h_seconds_bucket{le=\"0.005\"} 1\n"
	    "h_seconds_bucket{le=\"0.01\"} 2\n"
	    "h_seconds_bucket{le=\"0.025\"} 2\n"
	    "h_seconds_bucket{le=\"0.05\"} 2\n"
	    "h_seconds_bucket{le=\"0.1\"} 2\n"
	    "h_seconds_bucket{le=\"0.25\"} 2\n"
	    "h_seconds_bucket{le=\"0.5\"} 2\n"
	    "h_seconds_bucket{le=\"1\"} 2\n"
	    "h_seconds_bucket{le=\"2.5\"} 2\n"
	    "h_seconds_bucket{le=\"5\"} 2\n"
	    "h_seconds_bucket{le=\"10\"} 3\n"
	    "h_seconds_bucket{le=\"+Inf\"} 4\n"
	    "h_seconds_sum 21.0101\n"
	    "h_seconds_count 4\n");
	free(out);
	metrics_free(m);
}

static void
t_evbuffer(void)
{
	struct metrics		*m = metrics_new();
	struct evbuffer		*buf = evbuffer_new();
	const char		*errstr = NULL;
	char			*out;
	size_t			 len;

	must(metrics_counter(m, "a_total", "A.", NULL, &errstr), errstr);
	CU_ASSERT_EQUAL(evbuffer_add(buf, "x", 1), 0);
	CU_ASSERT_EQUAL(metrics_render_evbuffer(m, buf), 0);
	out = metrics_render(m, &len);
	CU_ASSERT_EQUAL(evbuffer_get_length(buf), len + 1);
	CU_ASSERT(memcmp(evbuffer_pullup(buf, -1) + 1, out, len) == 0);
	free(out);
	evbuffer_free(buf);
	metrics_free(m);
}

static void
t_invalid(void)
{
	static const char *const le[] = { "le", NULL };
	static const char *const dunder[] = { "__x", NULL };
	static const char *const dup[] = { "a", "a", NULL };
	static const char *const bad[] = { "a-b", NULL };
	static const double	 down[] = { 1, 0.5 };
	struct metrics		*m = metrics_new();
	const char		*errstr;

	errstr = NULL;
	must(metrics_counter(m, "ok:total", "h", NULL, &errstr), errstr);
#define REFUSED(expr) do {						\
	errstr = NULL;							\
	CU_ASSERT_PTR_NULL(expr);					\
	CU_ASSERT_PTR_NOT_NULL(errstr);					\
} while (0)
	REFUSED(metrics_counter(m, "ok:total", "h", NULL, &errstr));
	REFUSED(metrics_counter(m, "9lives", "h", NULL, &errstr));
	REFUSED(metrics_counter(m, "a-b", "h", NULL, &errstr));
	REFUSED(metrics_counter(m, "", "h", NULL, &errstr));
	REFUSED(metrics_counter(m, "c", "h", bad, &errstr));
	REFUSED(metrics_counter(m, "c", "h", dunder, &errstr));
	REFUSED(metrics_counter(m, "c", "h", dup, &errstr));
	REFUSED(metrics_histogram(m, "h", "h", le, NULL, 0, &errstr));
	REFUSED(metrics_histogram(m, "h", "h", NULL, down, 2, &errstr));
	REFUSED(metrics_counter(m, "c", "", NULL, &errstr));
	REFUSED(metrics_counter(m, "c", NULL, NULL, &errstr));
#undef REFUSED
	/* "le" is fine outside histograms. */
	errstr = NULL;
	must(metrics_gauge(m, "g", "h", le, &errstr), errstr);
	metrics_free(m);
	metrics_free(NULL);
}

/* Threads: increments and observations sum exactly, during scrapes. */
#define NTHREADS	8
#define PERTHREAD	100000

struct incr {
	struct metrics_family	*c;
	struct metrics_family	*h;
};

static void *
incr_run(void *arg)
{
	struct incr		*in = arg;
	struct metrics_series	*c, *h;
	int			 i;

	/* Every thread looks the series up itself: one must come out. */
	c = metrics_series(in->c, (const char *const[]){ "r" });
	h = metrics_series(in->h, (const char *const[]){ "r" });
	for (i = 0; i < PERTHREAD; i++) {
		metrics_inc(c);
		metrics_observe(h, 0.25);	/* exact in binary */
	}
	return NULL;
}

static void
t_threads(void)
{
	static const char *const labels[] = { "route", NULL };
	struct metrics		*m = metrics_new();
	struct incr		 in;
	struct metrics_series	*c, *h;
	pthread_t		 th[NTHREADS];
	const char		*errstr = NULL;
	char			*out;
	int			 i, scrapes = 0;

	in.c = must(metrics_counter(m, "n_total", "n", labels, &errstr),
	    errstr);
	in.h = must(metrics_histogram(m, "d_seconds", "d", labels, NULL, 0,
	    &errstr), errstr);
	for (i = 0; i < NTHREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, incr_run,
		    &in), 0);
	/* Scrape while they run. */
	for (scrapes = 0; scrapes < 50; scrapes++) {
		out = metrics_render(m, NULL);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "# TYPE d_seconds "
		    "histogram\n"));
		free(out);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	c = metrics_series(in.c, (const char *const[]){ "r" });
	h = metrics_series(in.h, (const char *const[]){ "r" });
	CU_ASSERT_EQUAL(metrics_counter_value(c), NTHREADS * PERTHREAD);
	CU_ASSERT_EQUAL(metrics_histogram_count(h), NTHREADS * PERTHREAD);
	CU_ASSERT_EQUAL(metrics_histogram_sum(h), NTHREADS * PERTHREAD / 4);
	out = metrics_render(m, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "n_total{route=\"r\"} 800000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    "d_seconds_bucket{route=\"r\",le=\"0.1\"} 0\n"
	    "d_seconds_bucket{route=\"r\",le=\"0.25\"} 800000\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    "d_seconds_sum{route=\"r\"} 200000\n"
	    "d_seconds_count{route=\"r\"} 800000\n"));
	/* One series per label set, however many threads raced. */
	CU_ASSERT_PTR_NULL(strstr(strstr(out, "n_total{") + 1, "n_total{"));
	free(out);
	metrics_free(m);
}

/* The supervisor's way: totals it keeps, read at scrape time. */
static void
collect_restarts(struct metrics_emit *e, void *arg)
{
	const unsigned long	*n = arg;

	metrics_emit(e, (const char *const[]){ "catalog", NULL }, n[0]);
	metrics_emit(e, (const char *const[]){ "auth", NULL }, n[1]);
}

static void
t_counter_func(void)
{
	static const char *const slabels[] = { "service", NULL };
	struct metrics		*m = metrics_new();
	const char		*errstr = NULL;
	unsigned long		 n[2] = { 0, 3 };
	char			*out;

	must(metrics_counter_func(m, "agora_supervisor_restarts_total",
	    "Processes restarted.", slabels, collect_restarts, n, &errstr),
	    errstr);
	out = metrics_render(m, NULL);
	CU_ASSERT_STRING_EQUAL(out,
	    "# HELP agora_supervisor_restarts_total Processes restarted.\n"
	    "# TYPE agora_supervisor_restarts_total counter\n"
	    "agora_supervisor_restarts_total{service=\"catalog\"} 0\n"
	    "agora_supervisor_restarts_total{service=\"auth\"} 3\n");
	free(out);
	/* read at each scrape, not copied at registration */
	n[0] = 12;
	out = metrics_render(m, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    "agora_supervisor_restarts_total{service=\"catalog\"} 12\n"));
	free(out);
	/* a counter without _total would fail promtool: refused */
	CU_ASSERT_PTR_NULL(metrics_counter_func(m, "agora_restarts",
	    "Restarts.", slabels, collect_restarts, n, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	errstr = NULL;
	CU_ASSERT_PTR_NULL(metrics_counter_func(m,
	    "agora_supervisor_restarts_total", "Again.", slabels,
	    collect_restarts, n, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	metrics_free(m);
}

static const struct unit_case cases[] = {
	{ "render", t_render },
	{ "escape", t_escape },
	{ "numbers", t_numbers },
	{ "default_buckets", t_default_buckets },
	{ "evbuffer", t_evbuffer },
	{ "invalid", t_invalid },
	{ "threads", t_threads },
	{ "counter_func", t_counter_func },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "metrics", cases);
}
