/*
 * proxy/stats.c: what the request path records shows up, exactly, in the
 * Prometheus text and in the status JSON; concurrent recording loses
 * nothing; the error ring keeps the newest; after stats_free() every
 * call is a harmless no-op.  The cases share the one registry, so each
 * uses its own route, policy and breaker names.
 */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "runner.h"
#include "json.h"
#include "breaker.h"
#include "metrics.h"
#include "stats.h"

/* The value of the sample whose line starts with head, or -1. */
static double
sample(const char *head)
{
	char		*text, *p;
	double		 v = -1;
	size_t		 n = strlen(head);

	text = metrics_render(stats_metrics(), NULL);
	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, head, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	free(text);
	return v;
}

/* stats_json() wrapped in a map, parsed back. */
static yajl_val
status(void)
{
	yajl_gen		 g;
	const unsigned char	*buf;
	size_t			 len;
	yajl_val		 v;
	char			*copy;

	g = json_gen_new();
	yajl_gen_map_open(g);
	stats_json(g);
	yajl_gen_map_close(g);
	CU_ASSERT_EQUAL_FATAL(yajl_gen_get_buf(g, &buf, &len),
	    yajl_gen_status_ok);
	copy = strndup((const char *)buf, len);
	v = yajl_tree_parse(copy, NULL, 0);
	free(copy);
	yajl_gen_free(g);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	return v;
}

/* A string node's text, "" for anything else. */
static const char *
str(yajl_val v)
{
	return v != NULL && YAJL_IS_STRING(v) ? v->u.string : "";
}

/* a's length and element i (a checked to be an array; yajl's
 * YAJL_GET_ARRAY may give NULL, which -Wnull-dereference flags). */
static size_t
alen(yajl_val a)
{
	return YAJL_IS_ARRAY(a) ? a->u.array.len : 0;
}

static yajl_val
aget(yajl_val a, size_t i)
{
	return i < alen(a) ? a->u.array.values[i] : NULL;
}

/* The element of array key whose field is value. */
static yajl_val
find(yajl_val root, const char *key, const char *field, const char *value)
{
	const char	*path[] = { key, NULL };
	const char	*f[] = { field, NULL };
	yajl_val	 a, s;
	size_t		 i;

	if ((a = yajl_tree_get(root, path, yajl_t_array)) == NULL)
		return NULL;
	for (i = 0; i < alen(a); i++) {
		s = yajl_tree_get(aget(a, i), f,
		    yajl_t_string);
		if (strcmp(str(s), value) == 0)
			return aget(a, i);
	}
	return NULL;
}

static long long
num(yajl_val obj, const char *k1, const char *k2)
{
	const char	*path[] = { k1, k2, NULL };
	yajl_val	 v;

	v = yajl_tree_get(obj, path, yajl_t_number);
	return v != NULL && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : -1;
}

static void
t_requests(void)
{
	int	i;

	for (i = 0; i < 3; i++)
		stats_request("products.list", "catalog", 200, 2000000,
		    1000000, 250000);
	stats_request("products.list", "catalog", 503, 20000000, 0, -1);
	stats_request(NULL, NULL, 404, 1000, 0, -1);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\""
	    "products.list\",service=\"catalog\",code=\"200\"}"), 3);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\""
	    "products.list\",service=\"catalog\",code=\"503\"}"), 1);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\"-\","
	    "service=\"-\",code=\"404\"}"), 1);
	/* 2 ms lands in the 0.005 bucket, 20 ms in 0.025 */
	CU_ASSERT_EQUAL(sample("agora_http_request_duration_seconds_bucket{"
	    "route=\"products.list\",service=\"catalog\",le=\"0.005\"}"), 3);
	CU_ASSERT_EQUAL(sample("agora_http_request_duration_seconds_bucket{"
	    "route=\"products.list\",service=\"catalog\",le=\"0.01\"}"), 3);
	CU_ASSERT_EQUAL(sample("agora_http_request_duration_seconds_bucket{"
	    "route=\"products.list\",service=\"catalog\",le=\"0.025\"}"), 4);
	CU_ASSERT_EQUAL(sample("agora_http_request_duration_seconds_count{"
	    "route=\"products.list\",service=\"catalog\"}"), 4);
	/* only the requests that reached a backend */
	CU_ASSERT_EQUAL(sample("agora_upstream_duration_seconds_count{"
	    "service=\"catalog\"}"), 3);
	CU_ASSERT_DOUBLE_EQUAL(sample("agora_upstream_duration_seconds_sum{"
	    "service=\"catalog\"}"), 0.003, 1e-9);
	/* connections held: 3 of 0.25 ms; the 503 and 404 had none */
	CU_ASSERT_EQUAL(sample("agora_upstream_connect_seconds_count{"
	    "service=\"catalog\"}"), 3);
	CU_ASSERT_DOUBLE_EQUAL(sample("agora_upstream_connect_seconds_sum{"
	    "service=\"catalog\"}"), 0.00075, 1e-9);
}

static void
t_odd_status(void)
{
	stats_request("odd", "svc", -5, 1, 0, -1);
	stats_request("odd", "svc", 1000, 1, 0, -1);
	stats_request("odd", "svc", 999, 1, 0, -1);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\"odd\","
	    "service=\"svc\",code=\"0\"}"), 2);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\"odd\","
	    "service=\"svc\",code=\"999\"}"), 1);
}

/* A reload may put another name at the address of a freed one. */
static void
t_reused_names(void)
{
	char	route[16], service[16];

	snprintf(route, sizeof(route), "reuse.a");
	snprintf(service, sizeof(service), "svc.a");
	stats_request(route, service, 200, 1, 0, -1);
	snprintf(route, sizeof(route), "reuse.b");
	stats_request(route, service, 200, 1, 0, -1);
	snprintf(service, sizeof(service), "svc.b");
	stats_request(route, service, 200, 1, 0, -1);
	stats_request(route, service, 200, 1, 0, -1);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\"reuse.a\","
	    "service=\"svc.a\",code=\"200\"}"), 1);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\"reuse.b\","
	    "service=\"svc.a\",code=\"200\"}"), 1);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route=\"reuse.b\","
	    "service=\"svc.b\",code=\"200\"}"), 2);
}

static void
t_json_routes(void)
{
	yajl_val	 root, r;

	stats_request("json.route", "jsvc", 200, 1000000, 500000, 0);
	stats_request("json.route", "jsvc", 200, 1000000, 500000, 0);
	stats_request("json.route", "jsvc", 502, 1000000, 0, -1);
	root = status();
	r = find(root, "routes", "route", "json.route");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(num(r, "requests", NULL), 3);
	CU_ASSERT_EQUAL(num(r, "errors", NULL), 1);
	CU_ASSERT_EQUAL(num(r, "codes", "200"), 2);
	CU_ASSERT_EQUAL(num(r, "codes", "502"), 1);
	CU_ASSERT_PTR_NOT_NULL(find(root, "routes", "service", "jsvc"));
	yajl_tree_free(root);
}

static void
t_ratelimited(void)
{
	yajl_val	 root, p;

	stats_ratelimited("per-ip", 0);
	stats_ratelimited("per-ip", 0);
	stats_ratelimited("per-ip", 1);
	CU_ASSERT_EQUAL(sample("agora_ratelimit_rejected_total{policy="
	    "\"per-ip\",mode=\"enforce\"}"), 2);
	CU_ASSERT_EQUAL(sample("agora_ratelimit_rejected_total{policy="
	    "\"per-ip\",mode=\"dry_run\"}"), 1);
	root = status();
	p = find(root, "ratelimits", "policy", "per-ip");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(num(p, "rejected", NULL), 2);
	CU_ASSERT_EQUAL(num(p, "dry_run", NULL), 1);
	yajl_tree_free(root);
}

static void
t_breakers(void)
{
	struct breaker_config	 cfg;
	struct breaker		*b;
	const char		*errstr = NULL;
	const char		*path[] = { "state", NULL };
	yajl_val		 root, e, s;

	breaker_config_default(&cfg);
	cfg.name = "orders";
	b = breaker_new(&cfg, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	stats_breaker_register("orders", b);
	stats_breaker_rejected("orders", 0);
	stats_breaker_rejected("orders", 1);
	stats_breaker_rejected("orders", 1);
	CU_ASSERT_EQUAL(sample("agora_breaker_state{breaker=\"orders\"}"),
	    BREAKER_CLOSED);
	CU_ASSERT_EQUAL(sample("agora_breaker_rejected_total{breaker="
	    "\"orders\",reason=\"open\"}"), 1);
	CU_ASSERT_EQUAL(sample("agora_breaker_rejected_total{breaker="
	    "\"orders\",reason=\"bulkhead\"}"), 2);
	root = status();
	e = find(root, "breakers", "name", "orders");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	s = yajl_tree_get(e, path, yajl_t_string);
	CU_ASSERT_STRING_EQUAL(str(s), "closed");
	CU_ASSERT_EQUAL(num(e, "rejected_bulkhead", NULL), 2);
	yajl_tree_free(root);

	/* gone from the gauges once unregistered; counters stay */
	stats_breaker_unregister(b);
	breaker_free(b);
	CU_ASSERT_EQUAL(sample("agora_breaker_state{breaker=\"orders\"}"), -1);
	CU_ASSERT_EQUAL(sample("agora_breaker_rejected_total{breaker="
	    "\"orders\",reason=\"open\"}"), 1);
}

static void
t_events(void)
{
	const char	*path[] = { "events", NULL };
	const char	*detail[] = { "detail", NULL };
	yajl_val	 root, a, d;
	char		 buf[64];
	int		 i;

	for (i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "event %d \xc3\xa9\n", i);
		stats_event(500 + i % 5, "r", "s", buf);
	}
	root = status();
	a = yajl_tree_get(root, path, yajl_t_array);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	/* a bounded ring, newest first, printable ASCII only */
	CU_ASSERT_EQUAL(alen(a), 32);
	d = yajl_tree_get(aget(a, 0), detail,
	    yajl_t_string);
	CU_ASSERT_STRING_EQUAL(str(d), "event 39 ???");
	d = yajl_tree_get(aget(a, 31), detail,
	    yajl_t_string);
	CU_ASSERT_STRING_EQUAL(str(d), "event 8 ???");
	yajl_tree_free(root);
}

#define NTHREADS	4
#define NREQS		20000

static void *
hammer(void *arg)
{
	static const char *const routes[] = { "t.a", "t.b", "t.c" };
	char	 route[16];
	int	 i, id = (int)(intptr_t)arg;

	for (i = 0; i < NREQS; i++) {
		/* a new route now and then: lookups race with inserts */
		snprintf(route, sizeof(route), "t.new%d.%d", id, i / 5000);
		stats_request(routes[i % 3], "hammer", 200 + i % 2, 1000, 1, 1);
		if (i % 5000 == 0)
			stats_request(route, "hammer", 200, 1000, 1, 1);
	}
	return NULL;
}

static void
t_threads(void)
{
	pthread_t	t[NTHREADS];
	double		total = 0;
	int		i;

	for (i = 0; i < NTHREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, hammer,
		    (void *)(intptr_t)i), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	total += sample("agora_http_requests_total{route=\"t.a\","
	    "service=\"hammer\",code=\"200\"}");
	total += sample("agora_http_requests_total{route=\"t.a\","
	    "service=\"hammer\",code=\"201\"}");
	total += sample("agora_http_requests_total{route=\"t.b\","
	    "service=\"hammer\",code=\"200\"}");
	total += sample("agora_http_requests_total{route=\"t.b\","
	    "service=\"hammer\",code=\"201\"}");
	total += sample("agora_http_requests_total{route=\"t.c\","
	    "service=\"hammer\",code=\"200\"}");
	total += sample("agora_http_requests_total{route=\"t.c\","
	    "service=\"hammer\",code=\"201\"}");
	CU_ASSERT_EQUAL(total, NTHREADS * NREQS);
	CU_ASSERT_EQUAL(sample("agora_upstream_duration_seconds_count{"
	    "service=\"hammer\"}"), NTHREADS * NREQS + NTHREADS * 4);
	CU_ASSERT_EQUAL(sample("agora_http_requests_total{route="
	    "\"t.new3.2\",service=\"hammer\",code=\"200\"}"), 1);
}

/* Last: after stats_free() everything is a no-op. */
static void
t_free(void)
{
	yajl_gen	g;
	size_t		len;
	const unsigned char *buf;

	stats_free();
	CU_ASSERT_PTR_NULL(stats_metrics());
	stats_request("after", "free", 200, 1, 1, 1);
	stats_ratelimited("after", 0);
	stats_breaker_rejected("after", 0);
	stats_breaker_register("after", NULL);
	stats_breaker_unregister(NULL);
	stats_event(500, "after", "free", "nothing");
	g = json_gen_new();
	yajl_gen_map_open(g);
	stats_json(g);
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &buf, &len);
	CU_ASSERT_EQUAL(len, 2);	/* {} */
	yajl_gen_free(g);
	stats_free();
}

static const struct unit_case cases[] = {
	{ "requests", t_requests },
	{ "odd_status", t_odd_status },
	{ "reused_names", t_reused_names },
	{ "json_routes", t_json_routes },
	{ "ratelimited", t_ratelimited },
	{ "breakers", t_breakers },
	{ "events", t_events },
	{ "threads", t_threads },
	{ "free", t_free },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	stats_init();
	return unit_main(argc, argv, "stats", cases);
}
