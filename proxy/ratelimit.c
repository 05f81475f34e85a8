/*
 * GCRA rate limiting over a bounded, lock-striped key table.  See
 * ratelimit.h for the model.
 *
 * Exactness: a window of `limit` per `period` has an emission interval of
 * period/limit, rarely a whole number of nanoseconds.  Times are kept
 * scaled by the limit (one unit = 1/limit ns), in which the interval is
 * exactly period_ns; unsigned __int128 keeps that from overflowing.
 */
#include <sys/queue.h>
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ratelimit.h"
#include "xmalloc.h"

typedef unsigned __int128	u128;

#define RL_MAXSHARDS	64
#define RL_MINPERSHARD	4	/* below that, fewer shards: LRU stays LRU */
#define RL_KEYINLINE	64	/* longer keys are stored as a keyed digest */
#define NSEC		1000000000ULL

struct rl_entry {
	struct rl_entry		*e_next;	/* hash chain */
	TAILQ_ENTRY(rl_entry)	 e_lru;		/* head: most recent */
	uint64_t		 e_hash;
	uint64_t		 e_policy;	/* policy identity */
	uint32_t		 e_keylen;	/* of the stored key bytes */
	uint8_t			 e_nwin;
	uint8_t			 e_digest;	/* key stored as digest */
	u128			 e_tat[];	/* e_nwin, then the key */
};

struct rl_shard {
	pthread_mutex_t		 s_lock;
	struct rl_entry		**s_buckets;
	size_t			 s_mask;
	TAILQ_HEAD(rl_lru, rl_entry) s_lru;
	size_t			 s_count;
	size_t			 s_cap;
	uint64_t		 s_evictions;
} __attribute__((aligned(64)));	/* no false sharing between locks */

struct ratelimit {
	LIST_ENTRY(ratelimit)	 rl_entry;	/* ratelimit_tables */
	struct rl_shard		*rl_shards;
	size_t			 rl_nshards;
	unsigned int		 rl_shift;	/* hash >> shift = shard */
	uint64_t		 rl_seed[2];	/* SipHash key */
	uint64_t		 rl_dseed[2];	/* second key, for digests */
};

struct rl_win {
	char			 w_name[RATELIMIT_NAMEMAX];
	uint64_t		 w_limit;
	uint32_t		 w_period_s;
	uint64_t		 w_burst;
	u128			 w_step;	/* period_ns: scaled interval */
	u128			 w_tau;		/* burst * step */
};

struct ratelimit_policy {
	char			 p_name[RATELIMIT_NAMEMAX];
	struct rl_win		 p_win[RATELIMIT_MAXWIN];
	size_t			 p_nwin;
	int			 p_dry_run;
	uint64_t		 p_id;
	int			 p_live;	/* counted in ratelimit_ids */
	char			*p_header;
};

/*
 * Every table, and the identities of the policies alive now with how
 * many policy objects have each: when the last policy of an identity is
 * freed (a reload removed or changed it, and the old configuration went)
 * its keys leave every table at once instead of waiting for the LRU.
 * Lock order: ratelimit_reg_mtx, then a shard lock.
 */
struct rl_live {
	uint64_t		 l_id;
	size_t			 l_n;
};
static pthread_mutex_t		 ratelimit_reg_mtx = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, ratelimit)	 ratelimit_tables =
    LIST_HEAD_INITIALIZER(ratelimit_tables);
static struct rl_live		*ratelimit_ids;
static size_t			 ratelimit_nids;

/* SipHash-2-4: keys come from clients, so the hash must be keyed. */
#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
ratelimit_siphash(const uint64_t k[2], uint64_t pre, const void *data,
    size_t len)
{
	const unsigned char	*p = data;
	uint64_t		 v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t		 v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t		 v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t		 v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t		 m, b = ((uint64_t)len) << 56;
	size_t			 i, n;

	/* The policy identity goes first, as one whole message word. */
	v3 ^= pre;
	SIPROUND; SIPROUND;
	v0 ^= pre;
	for (n = len & ~(size_t)7; n > 0; n -= 8, p += 8) {
		memcpy(&m, p, 8);	/* little-endian hosts only matter
					 * for reproducibility, not safety */
		v3 ^= m;
		SIPROUND; SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < (len & 7); i++)
		b |= ((uint64_t)p[i]) << (8 * i);
	v3 ^= b;
	SIPROUND; SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND; SIPROUND; SIPROUND; SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static int
ratelimit_validname(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
		    *s == '.'))
			return 0;
	}
	return n > 0 && n < RATELIMIT_NAMEMAX;
}

struct ratelimit *
ratelimit_new(size_t max_keys)
{
	struct ratelimit	*rl;
	struct rl_shard		*s;
	size_t			 i, nb;

	if (max_keys == 0)
		max_keys = 1;
	rl = xcalloc(1, sizeof(*rl));
	rl->rl_nshards = RL_MAXSHARDS;
	rl->rl_shift = 58;
	while (rl->rl_nshards > 1 &&
	    rl->rl_nshards * RL_MINPERSHARD > max_keys) {
		rl->rl_nshards /= 2;
		rl->rl_shift++;
	}
	if (getrandom(rl->rl_seed, sizeof(rl->rl_seed), 0) !=
	    sizeof(rl->rl_seed) ||
	    getrandom(rl->rl_dseed, sizeof(rl->rl_dseed), 0) !=
	    sizeof(rl->rl_dseed)) {
		/* Still correct, only predictable: say so. */
		log_warn("%s: getrandom", __func__);
	}
	if (posix_memalign((void **)&rl->rl_shards, 64,
	    rl->rl_nshards * sizeof(*rl->rl_shards)) != 0)
		fatalx("%s: out of memory", __func__);
	for (i = 0; i < rl->rl_nshards; i++) {
		s = &rl->rl_shards[i];
		memset(s, 0, sizeof(*s));
		pthread_mutex_init(&s->s_lock, NULL);
		TAILQ_INIT(&s->s_lru);
		/* The shards' caps sum to at most max_keys. */
		s->s_cap = max_keys / rl->rl_nshards;
		for (nb = 1; nb < s->s_cap; nb *= 2)
			;
		s->s_buckets = xcalloc(nb, sizeof(*s->s_buckets));
		s->s_mask = nb - 1;
	}
	pthread_mutex_lock(&ratelimit_reg_mtx);
	LIST_INSERT_HEAD(&ratelimit_tables, rl, rl_entry);
	pthread_mutex_unlock(&ratelimit_reg_mtx);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	struct rl_shard	*s;
	struct rl_entry	*e;
	size_t		 i;

	if (rl == NULL)
		return;
	pthread_mutex_lock(&ratelimit_reg_mtx);
	LIST_REMOVE(rl, rl_entry);
	pthread_mutex_unlock(&ratelimit_reg_mtx);
	for (i = 0; i < rl->rl_nshards; i++) {
		s = &rl->rl_shards[i];
		while ((e = TAILQ_FIRST(&s->s_lru)) != NULL) {
			TAILQ_REMOVE(&s->s_lru, e, e_lru);
			free(e);
		}
		free(s->s_buckets);
		pthread_mutex_destroy(&s->s_lock);
	}
	free(rl->rl_shards);
	free(rl);
}

size_t
ratelimit_count(struct ratelimit *rl)
{
	size_t	 i, n = 0;

	for (i = 0; i < rl->rl_nshards; i++) {
		pthread_mutex_lock(&rl->rl_shards[i].s_lock);
		n += rl->rl_shards[i].s_count;
		pthread_mutex_unlock(&rl->rl_shards[i].s_lock);
	}
	return n;
}

uint64_t
ratelimit_evictions(struct ratelimit *rl)
{
	size_t		 i;
	uint64_t	 n = 0;

	for (i = 0; i < rl->rl_nshards; i++) {
		pthread_mutex_lock(&rl->rl_shards[i].s_lock);
		n += rl->rl_shards[i].s_evictions;
		pthread_mutex_unlock(&rl->rl_shards[i].s_lock);
	}
	return n;
}

struct ratelimit_policy *
ratelimit_policy_new(const char *name, const struct ratelimit_window *w,
    size_t n, int dry_run, const char **errstr)
{
	struct ratelimit_policy	*p;
	struct rl_win		*pw;
	const char		*wname;
	char			*hdr, *next;
	size_t			 i, j;
	uint64_t		 h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	const unsigned char	*c;

	if (name == NULL || !ratelimit_validname(name)) {
		*errstr = "policy name must be 1-63 of [A-Za-z0-9_.-]";
		return NULL;
	}
	if (n < 1 || n > RATELIMIT_MAXWIN) {
		*errstr = "a policy has 1 to 4 windows";
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (w[i].limit < 1 || w[i].period_s < 1) {
			*errstr = "window limit and period must be >= 1";
			return NULL;
		}
		/* Keeps burst * period_ns far inside 128 bits. */
		if (w[i].limit > UINT32_MAX || w[i].burst > UINT32_MAX) {
			*errstr = "window limit or burst too large";
			return NULL;
		}
		/* The longest wait, burst intervals, must fit in 63 bits. */
		if ((u128)(w[i].burst ? w[i].burst : w[i].limit) *
		    w[i].period_s * NSEC / w[i].limit > INT64_MAX) {
			*errstr = "window burst too long to wait out";
			return NULL;
		}
		if (w[i].name != NULL && !ratelimit_validname(w[i].name)) {
			*errstr = "window name must be 1-63 of [A-Za-z0-9_.-]";
			return NULL;
		}
	}

	p = xcalloc(1, sizeof(*p));
	snprintf(p->p_name, sizeof(p->p_name), "%s", name);
	p->p_nwin = n;
	p->p_dry_run = dry_run != 0;
	for (i = 0; i < n; i++) {
		pw = &p->p_win[i];
		if (w[i].name != NULL)
			wname = w[i].name;
		else if (i == 0)
			wname = name;
		else
			wname = NULL;
		if (wname != NULL)
			snprintf(pw->w_name, sizeof(pw->w_name), "%s", wname);
		else if ((size_t)snprintf(pw->w_name, sizeof(pw->w_name),
		    "%s-%zu", name, i) >= sizeof(pw->w_name)) {
			*errstr = "policy name too long for window names";
			ratelimit_policy_free(p);
			return NULL;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(p->p_win[j].w_name, pw->w_name) == 0) {
				*errstr = "duplicate window name";
				ratelimit_policy_free(p);
				return NULL;
			}
		}
		pw->w_limit = w[i].limit;
		pw->w_period_s = w[i].period_s;
		pw->w_burst = w[i].burst ? w[i].burst : w[i].limit;
		pw->w_step = (u128)w[i].period_s * NSEC;
		pw->w_tau = (u128)pw->w_burst * pw->w_step;
	}

	/*
	 * The identity is the content, not the object: a reload that keeps
	 * a policy unchanged keeps its keys' state.
	 */
	for (c = (const unsigned char *)name; *c != '\0'; c++)
		h = (h ^ *c) * 0x100000001b3ULL;
	for (i = 0; i < n; i++) {
		uint64_t v[3] = { p->p_win[i].w_limit, p->p_win[i].w_period_s,
		    p->p_win[i].w_burst };
		for (c = (const unsigned char *)v; c < (const unsigned char *)
		    (v + 3); c++)
			h = (h ^ *c) * 0x100000001b3ULL;
	}
	p->p_id = h;
	pthread_mutex_lock(&ratelimit_reg_mtx);
	for (i = 0; i < ratelimit_nids; i++)
		if (ratelimit_ids[i].l_id == h)
			break;
	if (i == ratelimit_nids) {
		ratelimit_ids = xreallocarray(ratelimit_ids, i + 1,
		    sizeof(*ratelimit_ids));
		ratelimit_ids[i].l_id = h;
		ratelimit_ids[i].l_n = 0;
		ratelimit_nids++;
	}
	ratelimit_ids[i].l_n++;
	p->p_live = 1;
	pthread_mutex_unlock(&ratelimit_reg_mtx);

	/* "name";q=N;w=N per window, ", " between: at most ~100 bytes. */
	hdr = next = xcalloc(n, RATELIMIT_NAMEMAX + 64);
	for (i = 0; i < n; i++)
		next += sprintf(next, "%s\"%s\";q=%llu;w=%u", i ? ", " : "",
		    p->p_win[i].w_name,
		    (unsigned long long)p->p_win[i].w_limit,
		    p->p_win[i].w_period_s);
	p->p_header = hdr;
	return p;
}

/* Drops every key of policy identity id from rl.  Registry locked. */
static size_t
ratelimit_purge(struct ratelimit *rl, uint64_t id)
{
	struct rl_shard	*s;
	struct rl_entry	*e, *next, **ep;
	size_t		 i, n = 0;

	for (i = 0; i < rl->rl_nshards; i++) {
		s = &rl->rl_shards[i];
		pthread_mutex_lock(&s->s_lock);
		for (e = TAILQ_FIRST(&s->s_lru); e != NULL; e = next) {
			next = TAILQ_NEXT(e, e_lru);
			if (e->e_policy != id)
				continue;
			TAILQ_REMOVE(&s->s_lru, e, e_lru);
			for (ep = &s->s_buckets[e->e_hash & s->s_mask];
			    *ep != e; ep = &(*ep)->e_next)
				;
			*ep = e->e_next;
			free(e);
			s->s_count--;
			n++;
		}
		pthread_mutex_unlock(&s->s_lock);
	}
	return n;
}

void
ratelimit_policy_free(struct ratelimit_policy *p)
{
	struct ratelimit	*rl;
	size_t			 i, n = 0;

	if (p == NULL)
		return;
	if (p->p_live) {
		pthread_mutex_lock(&ratelimit_reg_mtx);
		for (i = 0; i < ratelimit_nids; i++)
			if (ratelimit_ids[i].l_id == p->p_id)
				break;
		if (i < ratelimit_nids && --ratelimit_ids[i].l_n == 0) {
			ratelimit_ids[i] = ratelimit_ids[--ratelimit_nids];
			LIST_FOREACH(rl, &ratelimit_tables, rl_entry)
				n += ratelimit_purge(rl, p->p_id);
			if (ratelimit_nids == 0) {
				free(ratelimit_ids);
				ratelimit_ids = NULL;
			}
		}
		pthread_mutex_unlock(&ratelimit_reg_mtx);
		if (n > 0)
			log_debug("%s: policy %s gone: %zu keys dropped",
			    __func__, p->p_name, n);
	}
	free(p->p_header);
	free(p);
}

const char *
ratelimit_policy_name(const struct ratelimit_policy *p)
{
	return p->p_name;
}

int
ratelimit_policy_dry_run(const struct ratelimit_policy *p)
{
	return p->p_dry_run;
}

const char *
ratelimit_window_name(const struct ratelimit_policy *p, size_t i)
{
	return i < p->p_nwin ? p->p_win[i].w_name : NULL;
}

const char *
ratelimit_policy_header(const struct ratelimit_policy *p)
{
	return p->p_header;
}

static unsigned char *
ratelimit_entry_key(struct rl_entry *e)
{
	return (unsigned char *)(e->e_tat + e->e_nwin);
}

/*
 * Find the entry of (policy, key) in a locked shard, creating it (and
 * evicting the least recently used entry if the shard is full).  The
 * entry becomes the most recently used.
 */
static struct rl_entry *
ratelimit_lookup(struct ratelimit *rl, struct rl_shard *s,
    const struct ratelimit_policy *p, uint64_t hash, const void *key,
    size_t keylen, int digest)
{
	struct rl_entry	*e, **ep;

	for (e = s->s_buckets[hash & s->s_mask]; e != NULL; e = e->e_next) {
		if (e->e_hash == hash && e->e_policy == p->p_id &&
		    e->e_nwin == p->p_nwin && e->e_keylen == keylen &&
		    e->e_digest == digest &&
		    memcmp(ratelimit_entry_key(e), key, keylen) == 0) {
			if (e != TAILQ_FIRST(&s->s_lru)) {
				TAILQ_REMOVE(&s->s_lru, e, e_lru);
				TAILQ_INSERT_HEAD(&s->s_lru, e, e_lru);
			}
			return e;
		}
	}

	if (s->s_count >= s->s_cap && s->s_count > 0) {
		e = TAILQ_LAST(&s->s_lru, rl_lru);
		TAILQ_REMOVE(&s->s_lru, e, e_lru);
		for (ep = &s->s_buckets[e->e_hash & s->s_mask]; *ep != e;
		    ep = &(*ep)->e_next)
			;
		*ep = e->e_next;
		free(e);
		s->s_count--;
		s->s_evictions++;
	}

	e = xcalloc(1, sizeof(*e) + p->p_nwin * sizeof(u128) + keylen);
	e->e_hash = hash;
	e->e_policy = p->p_id;
	e->e_nwin = p->p_nwin;
	e->e_keylen = keylen;
	e->e_digest = digest;
	memcpy(ratelimit_entry_key(e), key, keylen);
	e->e_next = s->s_buckets[hash & s->s_mask];
	s->s_buckets[hash & s->s_mask] = e;
	TAILQ_INSERT_HEAD(&s->s_lru, e, e_lru);
	s->s_count++;
	return e;
}

static uint64_t
ratelimit_ceil_div(u128 a, u128 b)
{
	return (uint64_t)((a + b - 1) / b);
}

int
ratelimit_check(struct ratelimit *rl, const struct ratelimit_policy *p,
    const void *key, size_t keylen, uint64_t now_ns,
    struct ratelimit_result *res)
{
	struct rl_shard		*s;
	struct rl_entry		*e;
	const struct rl_win	*w;
	u128			 now[RATELIMIT_MAXWIN], next[RATELIMIT_MAXWIN];
	u128			 tat, d;
	unsigned int		 res_violated = 0;
	uint64_t		 hash, dig[2], wait_ns, worst_wait = 0;
	uint64_t		 rem[RATELIMIT_MAXWIN];
	uint64_t		 reset_ns[RATELIMIT_MAXWIN];
	size_t			 i, pick = 0;
	int			 refused[RATELIMIT_MAXWIN];
	int			 digest = 0, limited = 0;

	/* A long key (a JWT, a huge API key) costs 16 bytes, not its size. */
	if (keylen > RL_KEYINLINE) {
		dig[0] = ratelimit_siphash(rl->rl_dseed, 1, key, keylen);
		dig[1] = ratelimit_siphash(rl->rl_dseed, 2, key, keylen);
		key = dig;
		keylen = sizeof(dig);
		digest = 1;
	}
	hash = ratelimit_siphash(rl->rl_seed, p->p_id, key, keylen);
	s = &rl->rl_shards[rl->rl_nshards > 1 ? hash >> rl->rl_shift : 0];

	pthread_mutex_lock(&s->s_lock);
	e = ratelimit_lookup(rl, s, p, hash, key, keylen, digest);
	for (i = 0; i < p->p_nwin; i++) {
		w = &p->p_win[i];
		now[i] = (u128)now_ns * w->w_limit;
		tat = e->e_tat[i] > now[i] ? e->e_tat[i] : now[i];
		next[i] = tat + w->w_step;
		refused[i] = next[i] - now[i] > w->w_tau;
		if (refused[i]) {
			limited = 1;
			wait_ns = ratelimit_ceil_div(next[i] - w->w_tau -
			    now[i], w->w_limit);
			if (wait_ns > worst_wait) {
				worst_wait = wait_ns;
				pick = i;
			}
		}
	}
	for (i = 0; i < p->p_nwin; i++) {
		w = &p->p_win[i];
		if (!limited) {
			/* Charge every window. */
			e->e_tat[i] = next[i];
			tat = next[i];
		} else
			tat = e->e_tat[i] > now[i] ? e->e_tat[i] : now[i];
		/* A thread with an older clock reading may see tat beyond. */
		d = tat - now[i];
		rem[i] = d >= w->w_tau ? 0 : (uint64_t)((w->w_tau - d) /
		    w->w_step);
		/*
		 * "t" is the time until more quota is available (draft
		 * section 4.1.2): until one more request fits, not until the
		 * window is full.  A full window gets no more: 0.
		 */
		if (rem[i] >= w->w_burst)
			reset_ns[i] = 0;
		else
			reset_ns[i] = ratelimit_ceil_div(d + (u128)(rem[i] +
			    1) * w->w_step - w->w_tau, w->w_limit);
		if (refused[i])
			res_violated |= 1U << i;
	}
	pthread_mutex_unlock(&s->s_lock);

	if (res == NULL)
		return !limited || p->p_dry_run;
	memset(res, 0, sizeof(*res));
	if (!limited) {
		pick = 0;
		for (i = 1; i < p->p_nwin; i++) {
			if (rem[i] < rem[pick] || (rem[i] == rem[pick] &&
			    reset_ns[i] > reset_ns[pick]))
				pick = i;
		}
	} else {
		res->retry_after_ms = (worst_wait + 999999) / 1000000;
		res->retry_after_s = (worst_wait + NSEC - 1) / NSEC;
	}
	w = &p->p_win[pick];
	res->allowed = !limited || p->p_dry_run;
	res->limited = limited;
	res->window = pick;
	res->violated = res_violated;
	res->name = w->w_name;
	res->limit = w->w_limit;
	res->period_s = w->w_period_s;
	res->remaining = rem[pick];
	res->reset_s = (reset_ns[pick] + NSEC - 1) / NSEC;
	return res->allowed;
}

/*
 * Appends len bytes of src at *off, cut short to leave room for the NUL
 * (as snprintf would); -1 when cut.  Header values are made per request:
 * two snprintf calls cost more than the rate limit check itself.
 */
static int
ratelimit_put(char *buf, size_t buflen, size_t *off, const char *src,
    size_t len)
{
	int	 rv = 0;

	if (*off + len >= buflen) {
		len = buflen - 1 - *off;
		rv = -1;
	}
	memcpy(buf + *off, src, len);
	*off += len;
	buf[*off] = '\0';
	return rv;
}

/* Appends v in decimal; -1 when cut. */
static int
ratelimit_put_u64(char *buf, size_t buflen, size_t *off, uint64_t v)
{
	char	 num[24], *p = num + sizeof(num);

	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v != 0);
	return ratelimit_put(buf, buflen, off, p, num + sizeof(num) - p);
}

int
ratelimit_format_headers(const struct ratelimit_policy *p,
    const struct ratelimit_result *res, char *policy, size_t policylen,
    char *ratelimit, size_t ratelimitlen)
{
	size_t	 off;
	int	 rv = 0;

	if (policy != NULL && policylen > 0) {
		off = 0;
		rv |= ratelimit_put(policy, policylen, &off, p->p_header,
		    strlen(p->p_header));
	}
	if (ratelimit != NULL && ratelimitlen > 0) {
		off = 0;
		rv |= ratelimit_put(ratelimit, ratelimitlen, &off, "\"", 1);
		rv |= ratelimit_put(ratelimit, ratelimitlen, &off, res->name,
		    strlen(res->name));
		rv |= ratelimit_put(ratelimit, ratelimitlen, &off, "\";r=", 4);
		rv |= ratelimit_put_u64(ratelimit, ratelimitlen, &off,
		    res->remaining);
		rv |= ratelimit_put(ratelimit, ratelimitlen, &off, ";t=", 3);
		rv |= ratelimit_put_u64(ratelimit, ratelimitlen, &off,
		    res->reset_s);
	}
	return rv;
}
