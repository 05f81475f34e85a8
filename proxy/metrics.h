/*
 * A small metrics registry rendered in the Prometheus text exposition
 * format 0.0.4: counters, gauges (set, or read by a callback at scrape
 * time) and histograms, each a family with fixed label names and one
 * series per combination of label values.
 *
 * Register families at startup.  Look a series up once (route setup,
 * config load) and keep the pointer: lookups take the family's mutex,
 * while updating a series is a lock-free C11 atomic operation that any
 * thread may do.  A scrape reads the atomics without stopping writers,
 * so a histogram's _count is computed from its buckets and always equals
 * its +Inf bucket.
 *
 * Families render in registration order, series in creation order.  A
 * family without labels has its one series from the start, so it renders
 * as 0 before the first update.
 *
 * Memory: metrics_new() returns a registry freed with metrics_free()
 * (NULL is fine), which frees every family and series: pointers to them
 * stay valid until then, and no thread may use them after.  Names, help
 * texts, label names and values and bucket bounds are copied.
 * metrics_render() returns a string the caller frees.
 */
#ifndef AGORA_PROXY_METRICS_H
#define AGORA_PROXY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct metrics;
struct metrics_family;
struct metrics_series;
struct metrics_emit;

/* Request latency bounds in seconds: 0.005 .. 10 (the Prometheus set). */
extern const double	metrics_latency_buckets[];
#define METRICS_LATENCY_NBUCKETS	11

/*
 * Called at each scrape (registry locked: do not register from it) to
 * emit the current samples of a callback gauge or counter with
 * metrics_emit().
 */
typedef void	(*metrics_collect_cb)(struct metrics_emit *, void *arg);

struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *);

/*
 * Register a family.  name: [a-zA-Z_:][a-zA-Z0-9_:]*, unique in the
 * registry (counters should end in _total, by convention).  labels: a
 * NULL-terminated array of label names ([a-zA-Z_][a-zA-Z0-9_]*, not
 * "__*", not "le" for histograms), or NULL for none.  help must not be
 * empty (promtool check metrics insists).  Returns NULL with
 * *errstr (static) if a name is invalid or taken.
 */
struct metrics_family	*metrics_counter(struct metrics *, const char *name,
			    const char *help, const char *const *labels,
			    const char **errstr);
struct metrics_family	*metrics_gauge(struct metrics *, const char *name,
			    const char *help, const char *const *labels,
			    const char **errstr);
/* bounds: nbounds increasing finite upper bounds (NULL: latency set). */
struct metrics_family	*metrics_histogram(struct metrics *,
			    const char *name, const char *help,
			    const char *const *labels, const double *bounds,
			    size_t nbounds, const char **errstr);
/* A gauge whose samples come from cb at scrape time. */
struct metrics_family	*metrics_gauge_func(struct metrics *,
			    const char *name, const char *help,
			    const char *const *labels, metrics_collect_cb cb,
			    void *arg, const char **errstr);

/*
 * A counter whose samples come from cb at scrape time: for totals kept
 * elsewhere (the supervisor's restarts).  The name must end in _total;
 * cb must emit values that never decrease while the process lives.
 */
struct metrics_family	*metrics_counter_func(struct metrics *,
			    const char *name, const char *help,
			    const char *const *labels, metrics_collect_cb cb,
			    void *arg, const char **errstr);

/*
 * The series of a family for these label values (as many as the family
 * has label names; NULL if it has none), created on first use.  Never
 * NULL.  Not for callback gauges or counters.
 */
struct metrics_series	*metrics_series(struct metrics_family *,
			    const char *const *values);

/* Updates: lock-free, any thread.  The type must match the family. */
void	metrics_inc(struct metrics_series *);		/* counter += 1 */
void	metrics_add(struct metrics_series *, uint64_t);	/* counter += n */
void	metrics_set(struct metrics_series *, double);	/* gauge = v */
void	metrics_gauge_add(struct metrics_series *, double); /* gauge += v */
void	metrics_observe(struct metrics_series *, double); /* histogram */

/* Reads, for tests and the status page. */
uint64_t	metrics_counter_value(struct metrics_series *);
double		metrics_gauge_value(struct metrics_series *);
uint64_t	metrics_histogram_count(struct metrics_series *);
double		metrics_histogram_sum(struct metrics_series *);
/*
 * The q-quantile (0..1) estimated from the buckets as Prometheus'
 * histogram_quantile() does: linear within the bucket, the highest bound
 * if it falls in +Inf, NaN with no observations.  For the status page.
 */
double		metrics_histogram_quantile(struct metrics_series *, double q);

/* From a metrics_collect_cb: one sample of the family being scraped. */
void	metrics_emit(struct metrics_emit *, const char *const *values,
	    double v);

/*
 * The whole registry in text format 0.0.4 (Content-Type:
 * text/plain; version=0.0.4; charset=utf-8).  metrics_render() returns a
 * NUL-terminated string the caller frees, its length in *lenp (may be
 * NULL); metrics_render_evbuffer() appends to buf and returns 0 or -1.
 */
char	*metrics_render(struct metrics *, size_t *lenp);
int	 metrics_render_evbuffer(struct metrics *, struct evbuffer *buf);

#endif
