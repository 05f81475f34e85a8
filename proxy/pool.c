/*
 * Per-service connection pool and wait queue, shared by all loop threads.
 * A pool has one or more servers; each has its own slots (max_conns) and
 * idle stack, and the queue is the pool's.
 *
 * Locking: p_mtx guards the servers' counters, idle stacks and health,
 * the queue and every queued waiter's pw_state.  The order is always pool
 * mutex, then an event_base's own lock (taken inside event_active/
 * event_del); libevent never runs our callbacks with a base lock held, so
 * it cannot invert.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"
#include "pool.h"

enum pool_wait_state {
	PW_NONE = 0,	/* nothing pending */
	PW_QUEUED,	/* in p_queue, queue timer armed */
	PW_HANDED,	/* an idle fd was given; pw_ev made active */
	PW_SLOT,	/* a free slot was given: connect on own thread */
	PW_CONNECTING	/* non-blocking connect in progress */
};

TAILQ_HEAD(pool_waitq, pool_wait);

/* pool_waiter_locked(): how long a waiter may be passed over for one on
 * the releasing thread, and how far down the queue to look for one */
#define POOL_LOCAL_MS	2
#define POOL_LOCAL_SCAN	32

struct pool_server {
	char			*srv_addr;
	struct sockaddr_storage	 srv_ss;
	socklen_t		 srv_sslen;
	int			 srv_max;
	int			 srv_max_set;	/* configured, not discovered */
	int			 srv_open;	/* idle + busy + connecting */
	int			*srv_idle;	/* stack of idle fds */
	int			 srv_nidle;
	int			 srv_fails;	/* in the current window */
	uint64_t		 srv_fail_start;
	uint64_t		 srv_down_until;	/* passive; 0: up */
	int			 srv_probe_down;
	unsigned long		 srv_requests;
	unsigned long		 srv_failures;
	unsigned long		 srv_ejections;
};

/* What the pool knows of one of its fds. */
struct pool_fdinfo {
	int			 fi_server;	/* index + 1; 0: not ours */
	struct event_base	*fi_base;	/* of its last user */
};

struct pool_vnode {
	uint64_t		 vn_hash;
	int			 vn_server;
};

struct pool {
	char			*p_name;
	int			 p_refs;	/* under p_mtx */
	struct pool_server	**p_servers;
	int			 p_nservers;
	int			 p_balance;
	unsigned int		 p_rr;
	struct pool_vnode	*p_ring;
	int			 p_nring;
	int			 p_fail_max;
	int			 p_fail_window;
	int			 p_fail_down;
	int			 p_queue_max;
	struct timeval		 p_queue_tv;
	struct timeval		 p_connect_tv;

	pthread_mutex_t		 p_mtx;
	struct pool_fdinfo	*p_fdinfo;	/* by fd */
	int			 p_nfdinfo;
	struct pool_waitq	 p_waitq;
	int			 p_nqueued;
};

static int	pool_addr(struct pool_server *, const char *, const char **);
static int	pool_connect(struct pool *, struct pool_wait *);
static void	pool_connect_cb(evutil_socket_t, short, void *);
static void	pool_wait_cb(evutil_socket_t, short, void *);
static int	pool_release_locked(struct pool *, int, int, int, size_t);
static void	pool_slot_free_locked(struct pool *, int);
static void	pool_report_locked(struct pool *, int, int);
static int	pool_fd_alive(int);
static int	pool_acquire_at(struct pool *, struct event_base *,
		    struct pool_wait *, pool_cb, void *, const char *, int,
		    int, int);

static void
pool_ms_tv(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static uint64_t
pool_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* FNV-1a, then a 64-bit finalizer so that near keys spread on the ring. */
static uint64_t
pool_hash(const char *s, size_t len)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static struct pool_server *
pool_server_new(const char *addr, int max_conns, const char **errstr)
{
	struct pool_server	*srv;

	srv = xcalloc(1, sizeof(*srv));
	if (pool_addr(srv, addr, errstr) == -1) {
		free(srv);
		return NULL;
	}
	srv->srv_addr = xstrdup(addr);
	srv->srv_max_set = max_conns > 0;
	srv->srv_max = max_conns > 0 ? max_conns : 1;
	srv->srv_idle = xcalloc(srv->srv_max, sizeof(int));
	return srv;
}

static int
pool_vnode_cmp(const void *a, const void *b)
{
	const struct pool_vnode	*x = a, *y = b;

	if (x->vn_hash != y->vn_hash)
		return x->vn_hash < y->vn_hash ? -1 : 1;
	return x->vn_server - y->vn_server;
}

/*
 * The ring's points depend on each server's address only, so removing
 * a server (or adding one) moves only the keys that were (or will be) on
 * it.
 */
static void
pool_ring_build(struct pool *p)
{
	char	 buf[512];
	int	 i, v, n = 0, len;

	p->p_ring = xreallocarray(p->p_ring, (size_t)p->p_nservers *
	    POOL_VNODES, sizeof(*p->p_ring));
	for (i = 0; i < p->p_nservers; i++) {
		for (v = 0; v < POOL_VNODES; v++) {
			len = snprintf(buf, sizeof(buf), "%s#%d",
			    p->p_servers[i]->srv_addr, v);
			if (len < 0 || (size_t)len >= sizeof(buf))
				len = sizeof(buf) - 1;
			p->p_ring[n].vn_hash = pool_hash(buf, (size_t)len);
			p->p_ring[n].vn_server = i;
			n++;
		}
	}
	qsort(p->p_ring, (size_t)n, sizeof(*p->p_ring), pool_vnode_cmp);
	p->p_nring = n;
}

struct pool *
pool_new(const char *name, const char *addr, int max_conns, int queue,
    int queue_timeout_ms, int connect_timeout_ms, const char **errstr)
{
	struct pool		*p;
	struct pool_server	*srv;

	if ((srv = pool_server_new(addr, max_conns, errstr)) == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->p_name = xstrdup(name);
	p->p_refs = 1;
	p->p_servers = xcalloc(1, sizeof(*p->p_servers));
	p->p_servers[0] = srv;
	p->p_nservers = 1;
	p->p_queue_max = queue >= 0 ? queue : 0;
	pool_ms_tv(&p->p_queue_tv, queue_timeout_ms);
	pool_ms_tv(&p->p_connect_tv, connect_timeout_ms);
	TAILQ_INIT(&p->p_waitq);
	pthread_mutex_init(&p->p_mtx, NULL);
	pool_ring_build(p);
	return p;
}

int
pool_add_server(struct pool *p, const char *addr, int max_conns,
    const char **errstr)
{
	struct pool_server	*srv;
	int			 i;

	if ((srv = pool_server_new(addr, max_conns, errstr)) == NULL)
		return -1;
	pthread_mutex_lock(&p->p_mtx);
	p->p_servers = xreallocarray(p->p_servers, p->p_nservers + 1,
	    sizeof(*p->p_servers));
	i = p->p_nservers;
	p->p_servers[p->p_nservers++] = srv;
	pool_ring_build(p);
	pthread_mutex_unlock(&p->p_mtx);
	return i;
}

void
pool_set_balance(struct pool *p, int mode)
{
	pthread_mutex_lock(&p->p_mtx);
	p->p_balance = mode >= POOL_HASH ? POOL_HASH : mode;
	pthread_mutex_unlock(&p->p_mtx);
}

void
pool_set_health(struct pool *p, int fail_max, int fail_window_ms,
    int fail_down_ms)
{
	pthread_mutex_lock(&p->p_mtx);
	p->p_fail_max = fail_max > 0 ? fail_max : 0;
	p->p_fail_window = fail_window_ms;
	p->p_fail_down = fail_down_ms;
	pthread_mutex_unlock(&p->p_mtx);
}

void
pool_free(struct pool *p)
{
	struct pool_server	*srv;
	int			 i, j;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->p_mtx);
	i = --p->p_refs;
	pthread_mutex_unlock(&p->p_mtx);
	if (i > 0)
		return;
	for (i = 0; i < p->p_nservers; i++) {
		srv = p->p_servers[i];
		for (j = 0; j < srv->srv_nidle; j++)
			close(srv->srv_idle[j]);
		free(srv->srv_idle);
		free(srv->srv_addr);
		free(srv);
	}
	pthread_mutex_destroy(&p->p_mtx);
	free(p->p_servers);
	free(p->p_ring);
	free(p->p_fdinfo);
	free(p->p_name);
	free(p);
}

struct pool *
pool_ref(struct pool *p)
{
	pthread_mutex_lock(&p->p_mtx);
	p->p_refs++;
	pthread_mutex_unlock(&p->p_mtx);
	return p;
}

const char *
pool_name(const struct pool *p)
{
	return p->p_name;
}

/* Passive: down until srv_down_until; it comes back on its own. */
static int
pool_server_up_locked(struct pool *p, struct pool_server *srv,
    uint64_t now)
{
	if (srv->srv_probe_down)
		return 0;
	if (srv->srv_down_until != 0) {
		if (now < srv->srv_down_until)
			return 0;
		srv->srv_down_until = 0;
		srv->srv_fails = 0;
		log_info("%s: server %s is back in the pool", p->p_name,
		    srv->srv_addr);
	}
	return 1;
}

/* Every server down: use them all (see pool.h). */
static int
pool_all_down_locked(struct pool *p, uint64_t now)
{
	int	 i;

	for (i = 0; i < p->p_nservers; i++)
		if (pool_server_up_locked(p, p->p_servers[i], now))
			return 0;
	return 1;
}

static int
pool_usable_locked(struct pool *p, int i, uint64_t now, int alldown)
{
	return alldown || pool_server_up_locked(p, p->p_servers[i], now);
}

void
pool_stats(struct pool *p, struct pool_stats *ps)
{
	struct pool_server	*srv;
	uint64_t		 now = pool_now_ms();
	int			 i;

	memset(ps, 0, sizeof(*ps));
	pthread_mutex_lock(&p->p_mtx);
	for (i = 0; i < p->p_nservers; i++) {
		srv = p->p_servers[i];
		ps->ps_open += srv->srv_open;
		ps->ps_idle += srv->srv_nidle;
		ps->ps_max += srv->srv_max;
		if (pool_server_up_locked(p, srv, now))
			ps->ps_up++;
	}
	ps->ps_servers = p->p_nservers;
	ps->ps_queued = p->p_nqueued;
	pthread_mutex_unlock(&p->p_mtx);
}

int
pool_servers(struct pool *p)
{
	return p->p_nservers;
}

int
pool_server_stats(struct pool *p, int i, struct pool_server_stats *ss)
{
	struct pool_server	*srv;

	if (i < 0 || i >= p->p_nservers)
		return -1;
	pthread_mutex_lock(&p->p_mtx);
	srv = p->p_servers[i];
	ss->ss_addr = srv->srv_addr;
	ss->ss_open = srv->srv_open;
	ss->ss_idle = srv->srv_nidle;
	ss->ss_max = srv->srv_max;
	ss->ss_up = pool_server_up_locked(p, srv, pool_now_ms());
	ss->ss_passive_down = srv->srv_down_until != 0;
	ss->ss_probe_down = srv->srv_probe_down;
	ss->ss_requests = srv->srv_requests;
	ss->ss_failures = srv->srv_failures;
	ss->ss_ejections = srv->srv_ejections;
	pthread_mutex_unlock(&p->p_mtx);
	return 0;
}

const char *
pool_server_addr(struct pool *p, int i)
{
	if (i < 0 || i >= p->p_nservers)
		return NULL;
	return p->p_servers[i]->srv_addr;
}

int
pool_server_sockaddr(struct pool *p, int i, struct sockaddr_storage *ss,
    socklen_t *len)
{
	if (i < 0 || i >= p->p_nservers)
		return -1;
	memcpy(ss, &p->p_servers[i]->srv_ss, sizeof(*ss));
	*len = p->p_servers[i]->srv_sslen;
	return 0;
}

void
pool_server_set_probe(struct pool *p, int i, int up)
{
	struct pool_server	*srv;

	if (i < 0 || i >= p->p_nservers)
		return;
	pthread_mutex_lock(&p->p_mtx);
	srv = p->p_servers[i];
	if (srv->srv_probe_down == !up) {
		pthread_mutex_unlock(&p->p_mtx);
		return;
	}
	srv->srv_probe_down = !up;
	if (up) {
		srv->srv_down_until = 0;
		srv->srv_fails = 0;
	}
	if (up)
		log_info("%s: server %s is up (health check)", p->p_name,
		    srv->srv_addr);
	else
		log_warnx("%s: server %s is down (health check)", p->p_name,
		    srv->srv_addr);
	pthread_mutex_unlock(&p->p_mtx);
}

void
pool_server_discovered(struct pool *p, int i, int max_conns)
{
	struct pool_server	*srv;

	if (i < 0 || i >= p->p_nservers || max_conns < 1)
		return;
	pthread_mutex_lock(&p->p_mtx);
	srv = p->p_servers[i];
	if (!srv->srv_max_set && max_conns > srv->srv_max) {
		/* the idle stack holds at most srv_max fds */
		srv->srv_idle = xreallocarray(srv->srv_idle, max_conns,
		    sizeof(int));
		log_info("%s: server %s: FCGI_MAX_CONNS %d", p->p_name,
		    srv->srv_addr, max_conns);
		srv->srv_max = max_conns;
		srv->srv_max_set = 1;
	}
	pthread_mutex_unlock(&p->p_mtx);
}

void
pool_server_report(struct pool *p, int i, int ok)
{
	if (i < 0 || i >= p->p_nservers)
		return;
	pthread_mutex_lock(&p->p_mtx);
	pool_report_locked(p, i, ok);
	pthread_mutex_unlock(&p->p_mtx);
}

/* fail_max failures within fail_window take a server out (not a lone one). */
static void
pool_report_locked(struct pool *p, int i, int ok)
{
	struct pool_server	*srv = p->p_servers[i];
	uint64_t		 now;

	if (ok)
		return;
	srv->srv_failures++;
	if (p->p_fail_max == 0 || p->p_nservers < 2 ||
	    srv->srv_down_until != 0)
		return;
	now = pool_now_ms();
	if (srv->srv_fails == 0 ||
	    now - srv->srv_fail_start > (uint64_t)p->p_fail_window) {
		srv->srv_fails = 0;
		srv->srv_fail_start = now;
	}
	if (++srv->srv_fails >= p->p_fail_max) {
		srv->srv_down_until = now + (uint64_t)p->p_fail_down;
		srv->srv_ejections++;
		log_warnx("%s: server %s: %d failures within %d ms, out of "
		    "the pool for %d ms", p->p_name, srv->srv_addr,
		    srv->srv_fails, p->p_fail_window, p->p_fail_down);
	}
}

/* The ring's first usable server clockwise from key's hash. */
static int
pool_ring_lookup_locked(struct pool *p, const char *key, uint64_t now,
    int alldown)
{
	uint64_t	 h;
	int		 lo, hi, mid, n;

	if (p->p_nring == 0)
		return -1;
	h = pool_hash(key, strlen(key));
	lo = 0;
	hi = p->p_nring;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (p->p_ring[mid].vn_hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (n = 0; n < p->p_nring; n++) {
		mid = (lo + n) % p->p_nring;
		if (pool_usable_locked(p, p->p_ring[mid].vn_server, now,
		    alldown))
			return p->p_ring[mid].vn_server;
	}
	return -1;
}

int
pool_server_for_key(struct pool *p, const char *key)
{
	uint64_t	 now = pool_now_ms();
	int		 i;

	pthread_mutex_lock(&p->p_mtx);
	i = pool_ring_lookup_locked(p, key, now, pool_all_down_locked(p,
	    now));
	pthread_mutex_unlock(&p->p_mtx);
	return i;
}

static int
pool_has_room(struct pool_server *srv)
{
	return srv->srv_nidle > 0 || srv->srv_open < srv->srv_max;
}

/*
 * The server for a new request with room for it, or -1 (then queue).
 * *want gets the one server a hash request must wait for.
 */
static int
pool_pick_locked(struct pool *p, const char *key, int avoid, int force,
    int *want)
{
	struct pool_server	*srv;
	uint64_t		 now = pool_now_ms();
	int			 alldown, i, n, best = -1, busy, bestbusy = 0;
	int			 start, usable = 0;

	*want = -1;
	if (force >= 0) {
		*want = force;
		return pool_has_room(p->p_servers[force]) ? force : -1;
	}
	alldown = pool_all_down_locked(p, now);
	for (i = 0; i < p->p_nservers; i++)
		if (i != avoid && pool_usable_locked(p, i, now, alldown))
			usable++;
	if (usable == 0)
		avoid = -1;	/* a retry may go back to the same one */

	if (p->p_balance == POOL_HASH && key != NULL) {
		i = pool_ring_lookup_locked(p, key, now, alldown);
		if (i == avoid && avoid != -1) {
			/* a retry: the next usable server clockwise */
			for (n = 1; n < p->p_nservers; n++) {
				best = (i + n) % p->p_nservers;
				if (pool_usable_locked(p, best, now, alldown))
					break;
			}
			i = best;
		}
		if (i == -1)
			return -1;
		*want = i;
		return pool_has_room(p->p_servers[i]) ? i : -1;
	}

	start = (int)(p->p_rr % (unsigned int)p->p_nservers);
	for (n = 0; n < p->p_nservers; n++) {
		i = (start + n) % p->p_nservers;
		srv = p->p_servers[i];
		if (i == avoid || !pool_usable_locked(p, i, now, alldown) ||
		    !pool_has_room(srv))
			continue;
		if (p->p_balance != POOL_LEASTCONN) {
			best = i;
			break;
		}
		/* least busy relative to its size; ties: round-robin order */
		busy = (srv->srv_open - srv->srv_nidle) * 1000 / srv->srv_max;
		if (best == -1 || busy < bestbusy) {
			best = i;
			bestbusy = busy;
		}
	}
	if (best != -1)
		p->p_rr = (unsigned int)best + 1;
	return best;
}

/* A new fd of server i, for a request running on base. */
static void
pool_fd_map_locked(struct pool *p, int fd, int i, struct event_base *base)
{
	int	 n;

	if (fd < 0)
		return;
	if (fd >= p->p_nfdinfo) {
		n = fd + 64;
		p->p_fdinfo = xreallocarray(p->p_fdinfo, n,
		    sizeof(*p->p_fdinfo));
		memset(p->p_fdinfo + p->p_nfdinfo, 0,
		    (size_t)(n - p->p_nfdinfo) * sizeof(*p->p_fdinfo));
		p->p_nfdinfo = n;
	}
	p->p_fdinfo[fd].fi_server = i + 1;
	p->p_fdinfo[fd].fi_base = base;
}

/* fd is handed to a request running on base. */
static void
pool_fd_user_locked(struct pool *p, int fd, struct event_base *base)
{
	if (fd >= 0 && fd < p->p_nfdinfo)
		p->p_fdinfo[fd].fi_base = base;
}

/* The base of fd's last user: the thread that releases it. */
static struct event_base *
pool_fd_base_locked(struct pool *p, int fd)
{
	if (fd < 0 || fd >= p->p_nfdinfo)
		return NULL;
	return p->p_fdinfo[fd].fi_base;
}

static int
pool_fd_server_locked(struct pool *p, int fd)
{
	if (fd < 0 || fd >= p->p_nfdinfo || p->p_fdinfo[fd].fi_server == 0)
		return 0;	/* cannot happen; the first server */
	return p->p_fdinfo[fd].fi_server - 1;
}

/*
 * As config.h defines a service socket: a unix path when it contains a
 * "/", else "host:port" or "[v6]:port"; "*" (bind to any) connects to
 * the loopback.
 */
static int
pool_addr(struct pool_server *srv, const char *addr, const char **errstr)
{
	struct sockaddr_un	*sun;
	struct addrinfo		 hints, *res;
	char			*host, *port;
	int			 error;

	if (strncmp(addr, "unix:", 5) == 0)
		addr += 5;
	if (strchr(addr, '/') != NULL) {
		sun = (struct sockaddr_un *)&srv->srv_ss;
		if (strlen(addr) >= sizeof(sun->sun_path)) {
			*errstr = "unix socket path too long";
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, addr);
		srv->srv_sslen = sizeof(*sun);
		return 0;
	}
	host = xstrdup(addr);
	if ((port = strrchr(host, ':')) == NULL) {
		free(host);
		*errstr = "address is neither a unix path nor host:port";
		return -1;
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	error = getaddrinfo(strcmp(host, "*") == 0 ? "127.0.0.1" : host, port,
	    &hints, &res);
	if (error != 0) {
		free(host);
		*errstr = gai_strerror(error);
		return -1;
	}
	memcpy(&srv->srv_ss, res->ai_addr, res->ai_addrlen);
	srv->srv_sslen = res->ai_addrlen;
	freeaddrinfo(res);
	free(host);
	return 0;
}

/*
 * A kept-alive fd may have been closed by the backend (it restarted, or
 * died) while idle.  A peek costs one syscall and saves a failed request.
 */
static int
pool_fd_alive(int fd)
{
	char	 c;
	ssize_t	 n;

	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	return 0;	/* EOF, error, or stray bytes: not usable */
}

int
pool_acquire(struct pool *p, struct event_base *base, struct pool_wait *w,
    pool_cb cb, void *arg)
{
	return pool_acquire_key(p, base, w, cb, arg, NULL, -1, 0);
}

int
pool_acquire_key(struct pool *p, struct event_base *base,
    struct pool_wait *w, pool_cb cb, void *arg, const char *key, int avoid,
    int flags)
{
	return pool_acquire_at(p, base, w, cb, arg, key, avoid, -1, flags);
}

int
pool_acquire_server(struct pool *p, struct event_base *base,
    struct pool_wait *w, pool_cb cb, void *arg, int server)
{
	if (server < 0 || server >= p->p_nservers)
		return POOL_ECONNECT;
	return pool_acquire_at(p, base, w, cb, arg, NULL, -1, server, 0);
}

static int
pool_acquire_at(struct pool *p, struct event_base *base,
    struct pool_wait *w, pool_cb cb, void *arg, const char *key, int avoid,
    int force, int flags)
{
	struct pool_server	*srv;
	int			 fd, i, want;

	w->pw_pool = p;
	w->pw_base = base;
	w->pw_cb = cb;
	w->pw_arg = arg;
	w->pw_fd = -1;
	w->pw_reused = 0;
	w->pw_unread = 0;
	w->pw_server = -1;
	w->pw_want = -1;
	w->pw_forced = force >= 0;
	w->pw_flags = flags;
	w->pw_state = PW_NONE;

	pthread_mutex_lock(&p->p_mtx);
	while ((i = pool_pick_locked(p, key, avoid, force, &want)) != -1) {
		srv = p->p_servers[i];
		srv->srv_requests++;
		w->pw_server = i;
		if (srv->srv_nidle == 0) {
			srv->srv_open++;
			pthread_mutex_unlock(&p->p_mtx);
			return pool_connect(p, w);
		}
		fd = srv->srv_idle[--srv->srv_nidle];
		pool_fd_user_locked(p, fd, base);
		/* the peek is a syscall: do it without the lock */
		pthread_mutex_unlock(&p->p_mtx);
		if (pool_fd_alive(fd)) {
			w->pw_fd = fd;
			w->pw_reused = 1;
			return POOL_READY;
		}
		log_debug("%s: %s: dropping stale idle connection to %s",
		    __func__, p->p_name, srv->srv_addr);
		close(fd);
		pthread_mutex_lock(&p->p_mtx);
		srv->srv_open--;
		srv->srv_requests--;
	}
	w->pw_server = -1;
	if (p->p_nqueued >= p->p_queue_max) {
		pthread_mutex_unlock(&p->p_mtx);
		return POOL_EFULL;
	}
	w->pw_want = want;
	w->pw_since = pool_now_ms();
	evtimer_assign(&w->pw_ev, base, pool_wait_cb, w);
	evtimer_add(&w->pw_ev, &p->p_queue_tv);
	w->pw_state = PW_QUEUED;
	TAILQ_INSERT_TAIL(&p->p_waitq, w, pw_entry);
	p->p_nqueued++;
	pthread_mutex_unlock(&p->p_mtx);
	return POOL_PENDING;
}

/* Runs on the waiter's own thread: handoff, free slot, or queue timeout. */
static void
pool_wait_cb(evutil_socket_t unused, short what, void *arg)
{
	struct pool_wait	*w = arg;
	struct pool		*p = w->pw_pool;
	int			 state, rv;

	pthread_mutex_lock(&p->p_mtx);
	state = w->pw_state;
	if (state == PW_QUEUED) {
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
	}
	w->pw_state = PW_NONE;
	pthread_mutex_unlock(&p->p_mtx);

	switch (state) {
	case PW_QUEUED:
		w->pw_cb(w, POOL_ETIMEOUT, w->pw_arg);
		break;
	case PW_HANDED:
		w->pw_cb(w, POOL_READY, w->pw_arg);
		break;
	case PW_SLOT:
		if ((rv = pool_connect(p, w)) != POOL_PENDING)
			w->pw_cb(w, rv, w->pw_arg);
		break;
	default:
		break;
	}
}

/* The caller holds one slot (counted in srv_open) on w->pw_server. */
static int
pool_connect(struct pool *p, struct pool_wait *w)
{
	struct pool_server	*srv = p->p_servers[w->pw_server];
	int			 fd, one = 1;

	fd = socket(srv->srv_ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s: %s: socket", __func__, p->p_name);
		goto fail;
	}
	if (srv->srv_ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	pthread_mutex_lock(&p->p_mtx);
	pool_fd_map_locked(p, fd, w->pw_server, w->pw_base);
	pthread_mutex_unlock(&p->p_mtx);
	if (connect(fd, (struct sockaddr *)&srv->srv_ss, srv->srv_sslen) ==
	    0) {
		w->pw_fd = fd;
		return POOL_READY;
	}
	if (errno == EINPROGRESS) {
		w->pw_fd = fd;
		w->pw_state = PW_CONNECTING;
		event_assign(&w->pw_ev, w->pw_base, fd, EV_WRITE,
		    pool_connect_cb, w);
		event_add(&w->pw_ev, &p->p_connect_tv);
		return POOL_PENDING;
	}
	/* a unix socket answers EAGAIN when its backlog is full */
	log_warn("%s: %s: connect %s", __func__, p->p_name, srv->srv_addr);
	close(fd);
 fail:
	pthread_mutex_lock(&p->p_mtx);
	if (!w->pw_forced)
		pool_report_locked(p, w->pw_server, 0);
	pool_slot_free_locked(p, w->pw_server);
	pthread_mutex_unlock(&p->p_mtx);
	return POOL_ECONNECT;
}

static void
pool_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_wait	*w = arg;
	struct pool		*p = w->pw_pool;
	socklen_t		 len = sizeof(int);
	int			 error = 0;

	w->pw_state = PW_NONE;
	if (what & EV_TIMEOUT)
		error = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		error = errno;
	if (error == 0) {
		w->pw_cb(w, POOL_READY, w->pw_arg);
		return;
	}
	log_warnx("%s: %s: connect %s: %s", __func__, p->p_name,
	    p->p_servers[w->pw_server]->srv_addr, strerror(error));
	close(fd);
	w->pw_fd = -1;
	pthread_mutex_lock(&p->p_mtx);
	if (!w->pw_forced)
		pool_report_locked(p, w->pw_server, 0);
	pool_slot_free_locked(p, w->pw_server);
	pthread_mutex_unlock(&p->p_mtx);
	w->pw_cb(w, POOL_ECONNECT, w->pw_arg);
}

/*
 * The waiter that gets server i's connection or slot, or NULL: the oldest
 * that may use it, unless a waiter on base (the releasing thread) comes
 * soon after it and the oldest has not waited POOL_LOCAL_MS yet.  Keeping
 * a connection on its thread saves the cross-thread wakeup and the move
 * of its fd between event loops; the age bound keeps other threads'
 * waiters from starving.  base NULL: strictly the oldest.
 */
static struct pool_wait *
pool_waiter_locked(struct pool *p, int i, struct event_base *base)
{
	struct pool_wait	*w, *oldest = NULL;
	uint64_t		 now;
	int			 usable, n = 0;

	if (TAILQ_EMPTY(&p->p_waitq))
		return NULL;
	now = pool_now_ms();
	/* a server that went down serves only those who want it */
	usable = pool_usable_locked(p, i, now, pool_all_down_locked(p, now));
	TAILQ_FOREACH(w, &p->p_waitq, pw_entry) {
		if (w->pw_want != i && (w->pw_want != -1 || !usable))
			continue;
		if (w->pw_base == base)
			return w;
		if (oldest == NULL) {
			oldest = w;
			if (base == NULL || now - w->pw_since >= POOL_LOCAL_MS)
				return w;
		}
		if (++n >= POOL_LOCAL_SCAN)
			break;
	}
	return oldest;
}

/* A slot of server i was freed: a waiter gets it and connects. */
static void
pool_slot_free_locked(struct pool *p, int i)
{
	struct pool_wait	*w;

	if ((w = pool_waiter_locked(p, i, NULL)) != NULL) {
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
		w->pw_server = i;
		w->pw_state = PW_SLOT;
		p->p_servers[i]->srv_requests++;
		event_active(&w->pw_ev, EV_WRITE, 1);
		return;
	}
	p->p_servers[i]->srv_open--;
}

/*
 * unread: bytes of the last answer still in the socket (the upstream
 * peeked at them).  A POOL_HANDOVER waiter that gets the fd reads them
 * away after it has written its request: the backend, woken by that
 * request, is then not woken again for nothing when its answer's buffer
 * is freed (which a unix socket does to a peer blocked in read).  For
 * anyone else (the probe, the idle stack) they are read away here.
 */
static int
pool_release_locked(struct pool *p, int i, int fd, int reusable,
    size_t unread)
{
	struct pool_server	*srv = p->p_servers[i];
	struct pool_wait	*w;
	struct event_base	*base;

	if (!reusable) {
		close(fd);
		pool_slot_free_locked(p, i);
		return 0;
	}
	base = pool_fd_base_locked(p, fd);
	w = pool_waiter_locked(p, i, base);
	/* only an upstream knows to read the rest of the last answer */
	if (unread > 0 && (w == NULL || !(w->pw_flags & POOL_HANDOVER))) {
		if (pool_discard(fd, unread) == -1) {
			close(fd);
			pool_slot_free_locked(p, i);
			return 0;
		}
		unread = 0;
	}
	if (w != NULL) {
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
		pool_fd_user_locked(p, fd, w->pw_base);
		w->pw_fd = fd;
		w->pw_reused = 1;
		w->pw_unread = unread;
		w->pw_server = i;
		w->pw_state = PW_HANDED;
		srv->srv_requests++;
		/* the waiter's timer is pending: activating it runs it now */
		event_active(&w->pw_ev, EV_READ, 1);
		return w->pw_base == base && (w->pw_flags & POOL_HANDOVER);
	}
	if (srv->srv_nidle < srv->srv_max)
		srv->srv_idle[srv->srv_nidle++] = fd;
	else {
		close(fd);
		srv->srv_open--;
	}
	return 0;
}

void
pool_release(struct pool *p, int fd, int reusable)
{
	pthread_mutex_lock(&p->p_mtx);
	(void)pool_release_locked(p, pool_fd_server_locked(p, fd), fd,
	    reusable, 0);
	pthread_mutex_unlock(&p->p_mtx);
}

int
pool_release_report(struct pool *p, int fd, int reusable, int ok,
    size_t unread)
{
	int	 i, kept;

	pthread_mutex_lock(&p->p_mtx);
	i = pool_fd_server_locked(p, fd);
	pool_report_locked(p, i, ok);
	kept = pool_release_locked(p, i, fd, reusable, unread);
	pthread_mutex_unlock(&p->p_mtx);
	return kept;
}

int
pool_discard(int fd, size_t n)
{
	char	 buf[4096];
	ssize_t	 r;

	while (n > 0) {
		r = recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf),
		    MSG_DONTWAIT);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;	/* the bytes were there: broken */
		n -= r;
	}
	return 0;
}

int
pool_cancel(struct pool_wait *w)
{
	struct pool	*p = w->pw_pool;
	int		 handed = -1;

	if (p == NULL)
		return -1;
	pthread_mutex_lock(&p->p_mtx);
	switch (w->pw_state) {
	case PW_QUEUED:
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
		event_del(&w->pw_ev);
		break;
	case PW_HANDED:
		event_del(&w->pw_ev);
		handed = w->pw_fd;
		(void)pool_release_locked(p, w->pw_server, w->pw_fd, 1,
		    w->pw_unread);
		break;
	case PW_SLOT:
		event_del(&w->pw_ev);
		pool_slot_free_locked(p, w->pw_server);
		break;
	case PW_CONNECTING:
		event_del(&w->pw_ev);
		(void)pool_release_locked(p, w->pw_server, w->pw_fd, 0, 0);
		break;
	default:
		break;
	}
	w->pw_state = PW_NONE;
	w->pw_fd = -1;
	pthread_mutex_unlock(&p->p_mtx);
	return handed;
}
