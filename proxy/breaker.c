/*
 * Circuit breaker with a rolling window, half-open probes and a bulkhead.
 * See breaker.h for the state machine.
 *
 * The window is a ring of buckets, each stamped with its epoch (now /
 * bucket width).  A bucket whose stamp is older than the window is empty,
 * so nothing has to run on a timer: expiry happens when counting.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "log.h"
#include "xmalloc.h"

#define MSEC	1000000ULL

struct br_bucket {
	uint64_t		 bk_epoch;
	uint64_t		 bk_requests;
	uint64_t		 bk_errors;
};

struct breaker {
	pthread_mutex_t		 b_lock;
	struct breaker_config	 b_cfg;
	char			*b_name;
	struct br_bucket	*b_buckets;
	enum breaker_state	 b_state;
	uint64_t		 b_gen;		/* bumped on every change */
	uint64_t		 b_open_until;	/* ns, when OPEN */
	unsigned int		 b_probes_out;	/* HALF_OPEN: issued */
	unsigned int		 b_probes_ok;
	uint64_t		 b_opened;
	uint64_t		 b_rejected;
	uint64_t		 b_full;
	atomic_uint_fast64_t	 b_inflight;
	_Atomic int		 b_state_pub;	/* b_state, readable unlocked */
};

static const char *const breaker_names[] = {
	[BREAKER_CLOSED] = "closed",
	[BREAKER_OPEN] = "open",
	[BREAKER_HALF_OPEN] = "half_open",
};

void
breaker_config_default(struct breaker_config *c)
{
	memset(c, 0, sizeof(*c));
	c->buckets = 10;
	c->bucket_ms = 1000;
	c->volume = 20;
	c->error_pct = 50;
	c->sleep_ms = 5000;
	c->probes = 1;
	c->error_status[0] = ~0ULL;
	c->error_status[1] = (1ULL << 36) - 1;	/* 564..599 */
}

void
breaker_config_status(struct breaker_config *c, int status, int on)
{
	unsigned int	 bit;

	if (status < 500 || status > 599)
		return;
	bit = status - 500;
	if (on)
		c->error_status[bit / 64] |= 1ULL << (bit % 64);
	else
		c->error_status[bit / 64] &= ~(1ULL << (bit % 64));
}

int
breaker_config_same(const struct breaker_config *a,
    const struct breaker_config *b)
{
	if ((a->name == NULL) != (b->name == NULL) ||
	    (a->name != NULL && strcmp(a->name, b->name) != 0))
		return 0;
	return a->buckets == b->buckets && a->bucket_ms == b->bucket_ms &&
	    a->volume == b->volume && a->error_pct == b->error_pct &&
	    a->sleep_ms == b->sleep_ms && a->probes == b->probes &&
	    a->slow_ms == b->slow_ms &&
	    a->max_concurrent == b->max_concurrent &&
	    a->error_status[0] == b->error_status[0] &&
	    a->error_status[1] == b->error_status[1];
}

struct breaker *
breaker_new(const struct breaker_config *c, const char **errstr)
{
	struct breaker	*b;

	if (c->buckets < 1 || c->buckets > 1000 || c->bucket_ms < 1) {
		*errstr = "window needs 1-1000 buckets of >= 1 ms";
		return NULL;
	}
	if (c->volume < 1) {
		*errstr = "volume must be >= 1";
		return NULL;
	}
	if (c->error_pct < 1 || c->error_pct > 100) {
		*errstr = "error percentage must be 1-100";
		return NULL;
	}
	if (c->probes < 1) {
		*errstr = "half-open probes must be >= 1";
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	pthread_mutex_init(&b->b_lock, NULL);
	b->b_cfg = *c;
	b->b_name = xstrdup(c->name != NULL ? c->name : "");
	b->b_cfg.name = b->b_name;
	b->b_buckets = xcalloc(c->buckets, sizeof(*b->b_buckets));
	b->b_state = BREAKER_CLOSED;
	atomic_init(&b->b_inflight, 0);
	atomic_init(&b->b_state_pub, BREAKER_CLOSED);
	return b;
}

void
breaker_free(struct breaker *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->b_lock);
	free(b->b_buckets);
	free(b->b_name);
	free(b);
}

const char *
breaker_name(const struct breaker *b)
{
	return b->b_name;
}

const char *
breaker_state_name(enum breaker_state s)
{
	if ((unsigned int)s >= sizeof(breaker_names) / sizeof(*breaker_names))
		return "unknown";
	return breaker_names[s];
}

enum breaker_outcome
breaker_status(const struct breaker *b, int status)
{
	unsigned int	 bit;

	if (status < 500 || status > 599)
		return BREAKER_SUCCESS;
	bit = status - 500;
	return (b->b_cfg.error_status[bit / 64] >> (bit % 64)) & 1 ?
	    BREAKER_FAILURE : BREAKER_SUCCESS;
}

/* Change state, under the lock; from and changed tell who to report. */
static void
breaker_set(struct breaker *b, enum breaker_state to, uint64_t now_ns,
    enum breaker_state *from, int *changed)
{
	if (*changed == -1)
		*from = b->b_state;
	*changed = to;
	b->b_state = to;
	b->b_gen++;
	switch (to) {
	case BREAKER_OPEN:
		b->b_open_until = now_ns + b->b_cfg.sleep_ms * MSEC;
		b->b_opened++;
		break;
	case BREAKER_HALF_OPEN:
		b->b_probes_out = 0;
		b->b_probes_ok = 0;
		break;
	case BREAKER_CLOSED:
		memset(b->b_buckets, 0,
		    b->b_cfg.buckets * sizeof(*b->b_buckets));
		break;
	}
	atomic_store(&b->b_state_pub, to);
}

static void
breaker_notify(struct breaker *b, enum breaker_state from, int to)
{
	if (to == -1 || from == (enum breaker_state)to)
		return;
	if (b->b_cfg.on_change != NULL)
		b->b_cfg.on_change(b, from, to, b->b_cfg.arg);
}

/* Requests and errors in the window ending at now_ns, under the lock. */
static void
breaker_window(struct breaker *b, uint64_t now_ns, uint64_t *req,
    uint64_t *err)
{
	uint64_t	 cur = now_ns / (b->b_cfg.bucket_ms * MSEC);
	unsigned int	 i;

	*req = *err = 0;
	for (i = 0; i < b->b_cfg.buckets; i++) {
		/* In the window: cur - buckets < epoch <= cur. */
		if (b->b_buckets[i].bk_epoch + b->b_cfg.buckets > cur &&
		    b->b_buckets[i].bk_epoch <= cur) {
			*req += b->b_buckets[i].bk_requests;
			*err += b->b_buckets[i].bk_errors;
		}
	}
}

int
breaker_allow(struct breaker *b, uint64_t now_ns, struct breaker_ticket *t,
    uint64_t *retry_after_ms)
{
	enum breaker_state	 from = BREAKER_CLOSED;
	int			 changed = -1;	/* no change */
	uint64_t		 n, wait = 1000;
	int			 rv = BREAKER_ALLOW, probe = 0;

	n = atomic_fetch_add(&b->b_inflight, 1) + 1;
	pthread_mutex_lock(&b->b_lock);
	if (b->b_cfg.max_concurrent > 0 && n > b->b_cfg.max_concurrent) {
		b->b_full++;
		rv = BREAKER_FULL;
		goto done;
	}
	switch (b->b_state) {
	case BREAKER_CLOSED:
		break;
	case BREAKER_OPEN:
		if (now_ns < b->b_open_until) {
			wait = (b->b_open_until - now_ns + MSEC - 1) / MSEC;
			b->b_rejected++;
			rv = BREAKER_REJECT;
			break;
		}
		breaker_set(b, BREAKER_HALF_OPEN, now_ns, &from, &changed);
		/* FALLTHROUGH */
	case BREAKER_HALF_OPEN:
		if (b->b_probes_out >= b->b_cfg.probes) {
			b->b_rejected++;
			rv = BREAKER_REJECT;
			break;
		}
		b->b_probes_out++;
		probe = 1;
		break;
	}
	if (rv == BREAKER_ALLOW) {
		t->bt_gen = b->b_gen;
		t->bt_active = 1;
		t->bt_probe = probe;
	}
 done:
	pthread_mutex_unlock(&b->b_lock);
	if (rv != BREAKER_ALLOW) {
		atomic_fetch_sub(&b->b_inflight, 1);
		if (retry_after_ms != NULL)
			*retry_after_ms = wait;
	}
	breaker_notify(b, from, changed);
	return rv;
}

void
breaker_record(struct breaker *b, struct breaker_ticket *t,
    enum breaker_outcome outcome, uint64_t latency_ns, uint64_t now_ns)
{
	enum breaker_state	 from = BREAKER_CLOSED;
	int			 changed = -1;	/* no change */
	struct br_bucket	*bk;
	uint64_t		 cur, req, err;
	int			 failed;

	if (!t->bt_active)
		return;
	t->bt_active = 0;
	atomic_fetch_sub(&b->b_inflight, 1);

	failed = outcome == BREAKER_FAILURE || outcome == BREAKER_CONNECT ||
	    outcome == BREAKER_TIMEOUT ||
	    (outcome == BREAKER_SUCCESS && b->b_cfg.slow_ms > 0 &&
	    latency_ns >= b->b_cfg.slow_ms * MSEC);

	pthread_mutex_lock(&b->b_lock);
	if (t->bt_gen != b->b_gen)
		goto done;	/* issued before a state change */
	switch (b->b_state) {
	case BREAKER_CLOSED:
		if (outcome == BREAKER_IGNORE)
			break;
		cur = now_ns / (b->b_cfg.bucket_ms * MSEC);
		bk = &b->b_buckets[cur % b->b_cfg.buckets];
		if (bk->bk_epoch != cur) {
			bk->bk_epoch = cur;
			bk->bk_requests = bk->bk_errors = 0;
		}
		bk->bk_requests++;
		bk->bk_errors += failed;
		breaker_window(b, now_ns, &req, &err);
		if (req >= b->b_cfg.volume &&
		    err * 100 >= (uint64_t)b->b_cfg.error_pct * req) {
			log_debug("%s: %s: %llu errors in %llu requests",
			    __func__, b->b_name, (unsigned long long)err,
			    (unsigned long long)req);
			breaker_set(b, BREAKER_OPEN, now_ns, &from, &changed);
		}
		break;
	case BREAKER_HALF_OPEN:
		if (!t->bt_probe)
			break;
		if (outcome == BREAKER_IGNORE) {
			b->b_probes_out--;	/* let another probe go */
			break;
		}
		if (failed)
			breaker_set(b, BREAKER_OPEN, now_ns, &from, &changed);
		else if (++b->b_probes_ok >= b->b_cfg.probes)
			breaker_set(b, BREAKER_CLOSED, now_ns, &from, &changed);
		break;
	case BREAKER_OPEN:
		break;		/* no ticket is issued while OPEN */
	}
 done:
	pthread_mutex_unlock(&b->b_lock);
	breaker_notify(b, from, changed);
}

enum breaker_state
breaker_state(struct breaker *b)
{
	return atomic_load(&b->b_state_pub);
}

void
breaker_stats(struct breaker *b, uint64_t now_ns, struct breaker_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&b->b_lock);
	st->state = b->b_state;
	if (b->b_state == BREAKER_CLOSED)
		breaker_window(b, now_ns, &st->requests, &st->errors);
	st->opened = b->b_opened;
	st->rejected = b->b_rejected;
	st->full = b->b_full;
	pthread_mutex_unlock(&b->b_lock);
	st->inflight = atomic_load(&b->b_inflight);
}
