/*
 * Metrics registry and Prometheus text format 0.0.4.  See metrics.h.
 *
 * Doubles live in atomic 64-bit words (their bit patterns); adding to one
 * is a compare-and-swap loop.  Counters and bucket counts are plain
 * atomic integers.  Each series keeps its label set pre-rendered and
 * escaped, so a scrape is string copying plus atomic loads.
 */
#include <event2/buffer.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xmalloc.h"

#define MT_HASHSIZE	256

enum mt_type {
	MT_COUNTER,
	MT_GAUGE,
	MT_HISTOGRAM,
	MT_GAUGE_FUNC,
	MT_COUNTER_FUNC,
};

static const char *const mt_typenames[] = {
	[MT_COUNTER] = "counter",
	[MT_GAUGE] = "gauge",
	[MT_HISTOGRAM] = "histogram",
	[MT_GAUGE_FUNC] = "gauge",
	[MT_COUNTER_FUNC] = "counter",
};

const double metrics_latency_buckets[METRICS_LATENCY_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

struct metrics_series {
	struct metrics_series	*ms_next;	/* creation order */
	struct metrics_series	*ms_hnext;	/* hash chain */
	uint64_t		 ms_hash;
	char			**ms_values;
	char			*ms_labels;	/* `a="x",b="y"`, escaped */
	enum mt_type		 ms_type;
	_Atomic uint64_t	 ms_value;	/* counter, or gauge bits */
	_Atomic uint64_t	 ms_sum;	/* histogram: double bits */
	_Atomic uint64_t	*ms_buckets;	/* histogram: nbounds + 1 */
	size_t			 ms_nbounds;
	const double		*ms_bounds;	/* the family's */
};

struct metrics_family {
	struct metrics_family	*mf_next;
	pthread_mutex_t		 mf_lock;
	char			*mf_name;
	char			*mf_help;	/* escaped */
	enum mt_type		 mf_type;
	char			**mf_labels;
	size_t			 mf_nlabels;
	double			*mf_bounds;
	size_t			 mf_nbounds;
	metrics_collect_cb	 mf_cb;
	void			*mf_arg;
	struct metrics_series	*mf_series;	/* creation order */
	struct metrics_series	**mf_tail;
	struct metrics_series	*mf_hash[MT_HASHSIZE];
};

struct metrics {
	pthread_mutex_t		 m_lock;
	struct metrics_family	*m_families;
	struct metrics_family	**m_tail;
};

/* A growing string: rendering never fails short of memory. */
struct mt_buf {
	char	*b_s;
	size_t	 b_len;
	size_t	 b_size;
};

struct metrics_emit {
	struct mt_buf		*e_buf;
	struct metrics_family	*e_fam;
};

static void
mt_buf_add(struct mt_buf *b, const char *s, size_t n)
{
	if (b->b_len + n + 1 > b->b_size) {
		while (b->b_len + n + 1 > b->b_size)
			b->b_size = b->b_size ? b->b_size * 2 : 4096;
		b->b_s = xreallocarray(b->b_s, 1, b->b_size);
	}
	memcpy(b->b_s + b->b_len, s, n);
	b->b_len += n;
	b->b_s[b->b_len] = '\0';
}

static void
mt_buf_str(struct mt_buf *b, const char *s)
{
	mt_buf_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
mt_buf_printf(struct mt_buf *b, const char *fmt, ...)
{
	char	 tmp[128];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		mt_buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n :
		    sizeof(tmp) - 1);
}

/*
 * Escape for a label value (\ " and newline) or, with quotes == 0, for
 * HELP text (\ and newline only), as the format requires.
 */
static void
mt_escape(struct mt_buf *b, const char *s, int quotes)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			mt_buf_add(b, "\\\\", 2);
		else if (*s == '\n')
			mt_buf_add(b, "\\n", 2);
		else if (*s == '"' && quotes)
			mt_buf_add(b, "\\\"", 2);
		else
			mt_buf_add(b, s, 1);
	}
}

/* The shortest text that reads back as the same double. */
static void
mt_double(struct mt_buf *b, double v)
{
	char	 tmp[40];
	int	 prec;

	if (isnan(v)) {
		mt_buf_str(b, "NaN");
		return;
	}
	if (isinf(v)) {
		mt_buf_str(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Whole numbers in full: 10, not 1e+01 (both parse). */
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(tmp, sizeof(tmp), "%.0f", v);
		mt_buf_str(b, tmp);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	mt_buf_str(b, tmp);
}

static uint64_t
mt_dbits(double d)
{
	uint64_t	 u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double
mt_bitsd(uint64_t u)
{
	double	 d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void
mt_atomic_dadd(_Atomic uint64_t *p, double v)
{
	uint64_t	 old = atomic_load_explicit(p, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(p, &old,
	    mt_dbits(mt_bitsd(old) + v), memory_order_relaxed,
	    memory_order_relaxed))
		;
}

static int
mt_validname(const char *s, int colon)
{
	const char	*p;

	if (s == NULL || *s == '\0')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    *p == '_' || (colon && *p == ':') ||
		    (p != s && *p >= '0' && *p <= '9'))
			continue;
		return 0;
	}
	return 1;
}

struct metrics *
metrics_new(void)
{
	struct metrics	*m;

	m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->m_lock, NULL);
	m->m_tail = &m->m_families;
	return m;
}

static void
metrics_series_free(struct metrics_series *s, size_t nvalues)
{
	size_t	 i;

	for (i = 0; i < nvalues; i++)
		free(s->ms_values[i]);
	free(s->ms_values);
	free(s->ms_labels);
	free(s->ms_buckets);
	free(s);
}

static void
metrics_family_free(struct metrics_family *f)
{
	struct metrics_series	*s, *snext;
	size_t			 i;

	for (s = f->mf_series; s != NULL; s = snext) {
		snext = s->ms_next;
		metrics_series_free(s, f->mf_nlabels);
	}
	for (i = 0; i < f->mf_nlabels; i++)
		free(f->mf_labels[i]);
	free(f->mf_labels);
	free(f->mf_bounds);
	free(f->mf_name);
	free(f->mf_help);
	pthread_mutex_destroy(&f->mf_lock);
	free(f);
}

void
metrics_free(struct metrics *m)
{
	struct metrics_family	*f, *fnext;

	if (m == NULL)
		return;
	for (f = m->m_families; f != NULL; f = fnext) {
		fnext = f->mf_next;
		metrics_family_free(f);
	}
	pthread_mutex_destroy(&m->m_lock);
	free(m);
}

static struct metrics_family *
metrics_register(struct metrics *m, enum mt_type type, const char *name,
    const char *help, const char *const *labels, const double *bounds,
    size_t nbounds, const char **errstr)
{
	struct metrics_family	*f, *g;
	struct mt_buf		 hb = { NULL, 0, 0 };
	size_t			 i, j, n = 0;

	if (!mt_validname(name, 1)) {
		*errstr = "invalid metric name";
		return NULL;
	}
	if (help == NULL || *help == '\0') {
		*errstr = "metric without help text";	/* promtool says so */
		return NULL;
	}
	for (n = 0; labels != NULL && labels[n] != NULL; n++) {
		if (!mt_validname(labels[n], 0) ||
		    strncmp(labels[n], "__", 2) == 0 ||
		    (type == MT_HISTOGRAM && strcmp(labels[n], "le") == 0)) {
			*errstr = "invalid label name";
			return NULL;
		}
		for (j = 0; j < n; j++) {
			if (strcmp(labels[j], labels[n]) == 0) {
				*errstr = "duplicate label name";
				return NULL;
			}
		}
	}
	if (type == MT_HISTOGRAM) {
		if (bounds == NULL) {
			bounds = metrics_latency_buckets;
			nbounds = METRICS_LATENCY_NBUCKETS;
		}
		for (i = 0; i < nbounds; i++) {
			if (!isfinite(bounds[i]) ||
			    (i > 0 && bounds[i] <= bounds[i - 1])) {
				*errstr = "bucket bounds must increase";
				return NULL;
			}
		}
	}

	f = xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->mf_lock, NULL);
	f->mf_type = type;
	f->mf_name = xstrdup(name);
	mt_escape(&hb, help, 0);
	f->mf_help = hb.b_s;
	f->mf_nlabels = n;
	f->mf_labels = xcalloc(n + 1, sizeof(*f->mf_labels));
	for (i = 0; i < n; i++)
		f->mf_labels[i] = xstrdup(labels[i]);
	if (type == MT_HISTOGRAM) {
		f->mf_nbounds = nbounds;
		f->mf_bounds = xcalloc(nbounds + 1, sizeof(double));
		memcpy(f->mf_bounds, bounds, nbounds * sizeof(double));
	}
	f->mf_tail = &f->mf_series;

	pthread_mutex_lock(&m->m_lock);
	for (g = m->m_families; g != NULL; g = g->mf_next) {
		if (strcmp(g->mf_name, name) == 0)
			break;
	}
	if (g == NULL) {
		*m->m_tail = f;
		m->m_tail = &f->mf_next;
	}
	pthread_mutex_unlock(&m->m_lock);
	if (g != NULL) {
		*errstr = "metric name already registered";
		metrics_family_free(f);
		return NULL;
	}
	if (n == 0 && type != MT_GAUGE_FUNC && type != MT_COUNTER_FUNC)
		(void)metrics_series(f, NULL);
	return f;
}

struct metrics_family *
metrics_counter(struct metrics *m, const char *name, const char *help,
    const char *const *labels, const char **errstr)
{
	return metrics_register(m, MT_COUNTER, name, help, labels, NULL, 0,
	    errstr);
}

struct metrics_family *
metrics_gauge(struct metrics *m, const char *name, const char *help,
    const char *const *labels, const char **errstr)
{
	return metrics_register(m, MT_GAUGE, name, help, labels, NULL, 0,
	    errstr);
}

struct metrics_family *
metrics_histogram(struct metrics *m, const char *name, const char *help,
    const char *const *labels, const double *bounds, size_t nbounds,
    const char **errstr)
{
	return metrics_register(m, MT_HISTOGRAM, name, help, labels, bounds,
	    nbounds, errstr);
}

struct metrics_family *
metrics_gauge_func(struct metrics *m, const char *name, const char *help,
    const char *const *labels, metrics_collect_cb cb, void *arg,
    const char **errstr)
{
	struct metrics_family	*f;

	f = metrics_register(m, MT_GAUGE_FUNC, name, help, labels, NULL, 0,
	    errstr);
	if (f != NULL) {
		f->mf_cb = cb;
		f->mf_arg = arg;
	}
	return f;
}

struct metrics_family *
metrics_counter_func(struct metrics *m, const char *name, const char *help,
    const char *const *labels, metrics_collect_cb cb, void *arg,
    const char **errstr)
{
	struct metrics_family	*f;
	size_t			 n = strlen(name);

	/* A counter's samples are name_total: promtool wants the suffix. */
	if (n < 6 || strcmp(name + n - 6, "_total") != 0) {
		*errstr = "a counter's name must end in _total";
		return NULL;
	}
	f = metrics_register(m, MT_COUNTER_FUNC, name, help, labels, NULL, 0,
	    errstr);
	if (f != NULL) {
		f->mf_cb = cb;
		f->mf_arg = arg;
	}
	return f;
}

/* `a="x",b="y"` for a family's label names and these values. */
static char *
metrics_labelstr(struct metrics_family *f, const char *const *values)
{
	struct mt_buf	 b = { NULL, 0, 0 };
	size_t		 i;

	mt_buf_add(&b, "", 0);
	for (i = 0; i < f->mf_nlabels; i++) {
		if (i > 0)
			mt_buf_add(&b, ",", 1);
		mt_buf_str(&b, f->mf_labels[i]);
		mt_buf_add(&b, "=\"", 2);
		mt_escape(&b, values[i] != NULL ? values[i] : "", 1);
		mt_buf_add(&b, "\"", 1);
	}
	return b.b_s;
}

struct metrics_series *
metrics_series(struct metrics_family *f, const char *const *values)
{
	struct metrics_series	*s;
	uint64_t		 h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	const char		*p;
	size_t			 i;

	for (i = 0; i < f->mf_nlabels; i++) {
		for (p = values[i] != NULL ? values[i] : ""; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		h = (h ^ 0xff) * 0x100000001b3ULL;	/* separator */
	}

	pthread_mutex_lock(&f->mf_lock);
	for (s = f->mf_hash[h % MT_HASHSIZE]; s != NULL; s = s->ms_hnext) {
		if (s->ms_hash != h)
			continue;
		for (i = 0; i < f->mf_nlabels; i++) {
			if (strcmp(s->ms_values[i],
			    values[i] != NULL ? values[i] : "") != 0)
				break;
		}
		if (i == f->mf_nlabels)
			goto out;
	}
	s = xcalloc(1, sizeof(*s));
	s->ms_hash = h;
	s->ms_type = f->mf_type;
	s->ms_values = xcalloc(f->mf_nlabels + 1, sizeof(*s->ms_values));
	for (i = 0; i < f->mf_nlabels; i++)
		s->ms_values[i] = xstrdup(values[i] != NULL ? values[i] : "");
	s->ms_labels = metrics_labelstr(f, values);
	atomic_init(&s->ms_value, f->mf_type == MT_GAUGE ? mt_dbits(0) : 0);
	atomic_init(&s->ms_sum, mt_dbits(0));
	if (f->mf_type == MT_HISTOGRAM) {
		s->ms_nbounds = f->mf_nbounds;
		s->ms_bounds = f->mf_bounds;
		s->ms_buckets = xcalloc(f->mf_nbounds + 1,
		    sizeof(*s->ms_buckets));
		for (i = 0; i <= f->mf_nbounds; i++)
			atomic_init(&s->ms_buckets[i], 0);
	}
	s->ms_hnext = f->mf_hash[h % MT_HASHSIZE];
	f->mf_hash[h % MT_HASHSIZE] = s;
	/* Publish last: a scrape walks this list under the same lock. */
	*f->mf_tail = s;
	f->mf_tail = &s->ms_next;
 out:
	pthread_mutex_unlock(&f->mf_lock);
	return s;
}

void
metrics_inc(struct metrics_series *s)
{
	atomic_fetch_add_explicit(&s->ms_value, 1, memory_order_relaxed);
}

void
metrics_add(struct metrics_series *s, uint64_t n)
{
	atomic_fetch_add_explicit(&s->ms_value, n, memory_order_relaxed);
}

void
metrics_set(struct metrics_series *s, double v)
{
	atomic_store_explicit(&s->ms_value, mt_dbits(v),
	    memory_order_relaxed);
}

void
metrics_gauge_add(struct metrics_series *s, double v)
{
	mt_atomic_dadd(&s->ms_value, v);
}

void
metrics_observe(struct metrics_series *s, double v)
{
	size_t	 lo = 0, hi = s->ms_nbounds, mid;

	/* The first bucket whose bound is >= v ("le"); NaN goes to +Inf. */
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (v <= s->ms_bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (isnan(v))
		lo = s->ms_nbounds;
	atomic_fetch_add_explicit(&s->ms_buckets[lo], 1,
	    memory_order_relaxed);
	mt_atomic_dadd(&s->ms_sum, v);
}

uint64_t
metrics_counter_value(struct metrics_series *s)
{
	return atomic_load(&s->ms_value);
}

double
metrics_gauge_value(struct metrics_series *s)
{
	return mt_bitsd(atomic_load(&s->ms_value));
}

uint64_t
metrics_histogram_count(struct metrics_series *s)
{
	uint64_t	 n = 0;
	size_t		 i;

	for (i = 0; i <= s->ms_nbounds; i++)
		n += atomic_load(&s->ms_buckets[i]);
	return n;
}

double
metrics_histogram_sum(struct metrics_series *s)
{
	return mt_bitsd(atomic_load(&s->ms_sum));
}

double
metrics_histogram_quantile(struct metrics_series *s, double q)
{
	uint64_t	*counts, total = 0, cum = 0;
	double		 rank, lo, v;
	size_t		 i;

	/* One snapshot of the buckets, so the ranks agree. */
	counts = xcalloc(s->ms_nbounds + 1, sizeof(*counts));
	for (i = 0; i <= s->ms_nbounds; i++) {
		counts[i] = atomic_load(&s->ms_buckets[i]);
		total += counts[i];
	}
	v = NAN;
	if (total == 0 || isnan(q))
		goto done;
	q = q < 0 ? 0 : q > 1 ? 1 : q;
	rank = q * (double)total;
	for (i = 0; i < s->ms_nbounds; i++) {
		if ((double)(cum + counts[i]) >= rank && counts[i] > 0) {
			lo = i == 0 ? (s->ms_bounds[0] > 0 ? 0 :
			    s->ms_bounds[0]) : s->ms_bounds[i - 1];
			v = lo + (s->ms_bounds[i] - lo) *
			    (rank - (double)cum) / (double)counts[i];
			goto done;
		}
		cum += counts[i];
	}
	if (s->ms_nbounds > 0)
		v = s->ms_bounds[s->ms_nbounds - 1];
 done:
	free(counts);
	return v;
}

/* name{labels} or name{labels,extra} or name, then a space. */
static void
mt_sample_head(struct mt_buf *b, const char *name, const char *suffix,
    const char *labels, const char *extra)
{
	mt_buf_str(b, name);
	mt_buf_str(b, suffix);
	if (*labels != '\0' || extra != NULL) {
		mt_buf_add(b, "{", 1);
		mt_buf_str(b, labels);
		if (extra != NULL) {
			if (*labels != '\0')
				mt_buf_add(b, ",", 1);
			mt_buf_str(b, extra);
		}
		mt_buf_add(b, "}", 1);
	}
	mt_buf_add(b, " ", 1);
}

void
metrics_emit(struct metrics_emit *e, const char *const *values, double v)
{
	char	*labels;

	labels = metrics_labelstr(e->e_fam, values);
	mt_sample_head(e->e_buf, e->e_fam->mf_name, "", labels, NULL);
	mt_double(e->e_buf, v);
	mt_buf_add(e->e_buf, "\n", 1);
	free(labels);
}

static void
metrics_render_histogram(struct mt_buf *b, struct metrics_family *f,
    struct metrics_series *s)
{
	struct mt_buf	 le = { NULL, 0, 0 };
	uint64_t	 cum = 0;
	size_t		 i;

	for (i = 0; i <= s->ms_nbounds; i++) {
		cum += atomic_load_explicit(&s->ms_buckets[i],
		    memory_order_relaxed);
		le.b_len = 0;
		mt_buf_str(&le, "le=\"");
		mt_double(&le, i < s->ms_nbounds ? s->ms_bounds[i] : INFINITY);
		mt_buf_str(&le, "\"");
		mt_sample_head(b, f->mf_name, "_bucket", s->ms_labels,
		    le.b_s);
		mt_buf_printf(b, "%llu\n", (unsigned long long)cum);
	}
	free(le.b_s);
	mt_sample_head(b, f->mf_name, "_sum", s->ms_labels, NULL);
	mt_double(b, mt_bitsd(atomic_load(&s->ms_sum)));
	mt_buf_add(b, "\n", 1);
	mt_sample_head(b, f->mf_name, "_count", s->ms_labels, NULL);
	mt_buf_printf(b, "%llu\n", (unsigned long long)cum);
}

static void
metrics_render_buf(struct metrics *m, struct mt_buf *b)
{
	struct metrics_family	*f;
	struct metrics_series	*s;
	struct metrics_emit	 e;

	mt_buf_add(b, "", 0);
	pthread_mutex_lock(&m->m_lock);
	for (f = m->m_families; f != NULL; f = f->mf_next) {
		mt_buf_str(b, "# HELP ");
		mt_buf_str(b, f->mf_name);
		mt_buf_add(b, " ", 1);
		mt_buf_str(b, f->mf_help);
		mt_buf_str(b, "\n# TYPE ");
		mt_buf_str(b, f->mf_name);
		mt_buf_add(b, " ", 1);
		mt_buf_str(b, mt_typenames[f->mf_type]);
		mt_buf_add(b, "\n", 1);
		if (f->mf_type == MT_GAUGE_FUNC ||
		    f->mf_type == MT_COUNTER_FUNC) {
			e.e_buf = b;
			e.e_fam = f;
			f->mf_cb(&e, f->mf_arg);
			continue;
		}
		pthread_mutex_lock(&f->mf_lock);
		for (s = f->mf_series; s != NULL; s = s->ms_next) {
			switch (f->mf_type) {
			case MT_COUNTER:
				mt_sample_head(b, f->mf_name, "",
				    s->ms_labels, NULL);
				mt_buf_printf(b, "%llu\n", (unsigned long long)
				    atomic_load(&s->ms_value));
				break;
			case MT_GAUGE:
				mt_sample_head(b, f->mf_name, "",
				    s->ms_labels, NULL);
				mt_double(b, mt_bitsd(atomic_load(
				    &s->ms_value)));
				mt_buf_add(b, "\n", 1);
				break;
			case MT_HISTOGRAM:
				metrics_render_histogram(b, f, s);
				break;
			case MT_GAUGE_FUNC:
			case MT_COUNTER_FUNC:
				break;
			}
		}
		pthread_mutex_unlock(&f->mf_lock);
	}
	pthread_mutex_unlock(&m->m_lock);
}

char *
metrics_render(struct metrics *m, size_t *lenp)
{
	struct mt_buf	 b = { NULL, 0, 0 };

	metrics_render_buf(m, &b);
	if (lenp != NULL)
		*lenp = b.b_len;
	return b.b_s;
}

int
metrics_render_evbuffer(struct metrics *m, struct evbuffer *buf)
{
	struct mt_buf	 b = { NULL, 0, 0 };
	int		 rv;

	metrics_render_buf(m, &b);
	rv = evbuffer_add(buf, b.b_s, b.b_len);
	free(b.b_s);
	return rv;
}
