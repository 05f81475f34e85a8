/*
 * Per-service connection pool and wait queue, shared by all loop threads.
 *
 * Locking: p_mtx guards the counters, the idle stack, the queue and every
 * queued waiter's pw_state.  The order is always pool mutex, then an
 * event_base's own lock (taken inside event_active/event_del); libevent
 * never runs our callbacks with a base lock held, so it cannot invert.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
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

struct pool {
	char			*p_name;
	struct sockaddr_storage	 p_ss;
	socklen_t		 p_sslen;
	int			 p_max;
	int			 p_queue_max;
	struct timeval		 p_queue_tv;
	struct timeval		 p_connect_tv;

	pthread_mutex_t		 p_mtx;
	int			 p_open;	/* idle + busy + connecting */
	int			*p_idle;	/* stack of idle fds */
	int			 p_nidle;
	struct pool_waitq	 p_waitq;
	int			 p_nqueued;
};

static int	pool_addr(struct pool *, const char *, const char **);
static int	pool_connect(struct pool *, struct pool_wait *);
static void	pool_connect_cb(evutil_socket_t, short, void *);
static void	pool_wait_cb(evutil_socket_t, short, void *);
static void	pool_release_locked(struct pool *, int, int);
static void	pool_slot_free_locked(struct pool *);
static int	pool_fd_alive(int);

static void
pool_ms_tv(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

struct pool *
pool_new(const char *name, const char *addr, int max_conns, int queue,
    int queue_timeout_ms, int connect_timeout_ms, const char **errstr)
{
	struct pool	*p;

	p = xcalloc(1, sizeof(*p));
	if (pool_addr(p, addr, errstr) == -1) {
		free(p);
		return NULL;
	}
	p->p_name = xstrdup(name);
	p->p_max = max_conns > 0 ? max_conns : 1;
	p->p_queue_max = queue >= 0 ? queue : 0;
	pool_ms_tv(&p->p_queue_tv, queue_timeout_ms);
	pool_ms_tv(&p->p_connect_tv, connect_timeout_ms);
	p->p_idle = xcalloc(p->p_max, sizeof(int));
	TAILQ_INIT(&p->p_waitq);
	pthread_mutex_init(&p->p_mtx, NULL);
	return p;
}

void
pool_free(struct pool *p)
{
	int	 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->p_nidle; i++)
		close(p->p_idle[i]);
	pthread_mutex_destroy(&p->p_mtx);
	free(p->p_idle);
	free(p->p_name);
	free(p);
}

const char *
pool_name(const struct pool *p)
{
	return p->p_name;
}

void
pool_stats(struct pool *p, struct pool_stats *ps)
{
	pthread_mutex_lock(&p->p_mtx);
	ps->ps_open = p->p_open;
	ps->ps_idle = p->p_nidle;
	ps->ps_queued = p->p_nqueued;
	ps->ps_max = p->p_max;
	pthread_mutex_unlock(&p->p_mtx);
}

/*
 * As config.h defines a service socket: a unix path when it contains a
 * "/", else "host:port" or "[v6]:port"; "*" (bind to any) connects to
 * the loopback.
 */
static int
pool_addr(struct pool *p, const char *addr, const char **errstr)
{
	struct sockaddr_un	*sun;
	struct addrinfo		 hints, *res;
	char			*host, *port;
	int			 error;

	if (strncmp(addr, "unix:", 5) == 0)
		addr += 5;
	if (strchr(addr, '/') != NULL) {
		sun = (struct sockaddr_un *)&p->p_ss;
		if (strlen(addr) >= sizeof(sun->sun_path)) {
			*errstr = "unix socket path too long";
			return -1;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, addr);
		p->p_sslen = sizeof(*sun);
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
	memcpy(&p->p_ss, res->ai_addr, res->ai_addrlen);
	p->p_sslen = res->ai_addrlen;
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
	int	 fd;

	w->pw_pool = p;
	w->pw_base = base;
	w->pw_cb = cb;
	w->pw_arg = arg;
	w->pw_fd = -1;
	w->pw_reused = 0;
	w->pw_state = PW_NONE;

	pthread_mutex_lock(&p->p_mtx);
	while (p->p_nidle > 0) {
		fd = p->p_idle[--p->p_nidle];
		/* the peek is a syscall: do it without the lock */
		pthread_mutex_unlock(&p->p_mtx);
		if (pool_fd_alive(fd)) {
			w->pw_fd = fd;
			w->pw_reused = 1;
			return POOL_READY;
		}
		log_debug("%s: %s: dropping stale idle connection", __func__,
		    p->p_name);
		close(fd);
		pthread_mutex_lock(&p->p_mtx);
		p->p_open--;
	}
	if (p->p_open < p->p_max) {
		p->p_open++;
		pthread_mutex_unlock(&p->p_mtx);
		return pool_connect(p, w);
	}
	if (p->p_nqueued >= p->p_queue_max) {
		pthread_mutex_unlock(&p->p_mtx);
		return POOL_EFULL;
	}
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

/* The caller holds one slot (counted in p_open) for w. */
static int
pool_connect(struct pool *p, struct pool_wait *w)
{
	int	 fd, one = 1;

	fd = socket(p->p_ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s: %s: socket", __func__, p->p_name);
		goto fail;
	}
	if (p->p_ss.ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	if (connect(fd, (struct sockaddr *)&p->p_ss, p->p_sslen) == 0) {
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
	log_warn("%s: %s: connect", __func__, p->p_name);
	close(fd);
 fail:
	pthread_mutex_lock(&p->p_mtx);
	pool_slot_free_locked(p);
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
	log_warnx("%s: %s: connect: %s", __func__, p->p_name,
	    strerror(error));
	close(fd);
	w->pw_fd = -1;
	pthread_mutex_lock(&p->p_mtx);
	pool_slot_free_locked(p);
	pthread_mutex_unlock(&p->p_mtx);
	w->pw_cb(w, POOL_ECONNECT, w->pw_arg);
}

/* A slot was freed: the oldest waiter gets it and connects, else open--. */
static void
pool_slot_free_locked(struct pool *p)
{
	struct pool_wait	*w;

	if ((w = TAILQ_FIRST(&p->p_waitq)) != NULL) {
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
		w->pw_state = PW_SLOT;
		event_active(&w->pw_ev, EV_WRITE, 1);
		return;
	}
	p->p_open--;
}

static void
pool_release_locked(struct pool *p, int fd, int reusable)
{
	struct pool_wait	*w;

	if (!reusable) {
		close(fd);
		pool_slot_free_locked(p);
		return;
	}
	if ((w = TAILQ_FIRST(&p->p_waitq)) != NULL) {
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
		w->pw_fd = fd;
		w->pw_reused = 1;
		w->pw_state = PW_HANDED;
		/* the waiter's timer is pending: activating it runs it now */
		event_active(&w->pw_ev, EV_READ, 1);
		return;
	}
	p->p_idle[p->p_nidle++] = fd;
}

void
pool_release(struct pool *p, int fd, int reusable)
{
	pthread_mutex_lock(&p->p_mtx);
	pool_release_locked(p, fd, reusable);
	pthread_mutex_unlock(&p->p_mtx);
}

void
pool_cancel(struct pool_wait *w)
{
	struct pool	*p = w->pw_pool;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->p_mtx);
	switch (w->pw_state) {
	case PW_QUEUED:
		TAILQ_REMOVE(&p->p_waitq, w, pw_entry);
		p->p_nqueued--;
		event_del(&w->pw_ev);
		break;
	case PW_HANDED:
		event_del(&w->pw_ev);
		pool_release_locked(p, w->pw_fd, 1);
		break;
	case PW_SLOT:
		event_del(&w->pw_ev);
		pool_slot_free_locked(p);
		break;
	case PW_CONNECTING:
		event_del(&w->pw_ev);
		pool_release_locked(p, w->pw_fd, 0);
		break;
	default:
		break;
	}
	w->pw_state = PW_NONE;
	w->pw_fd = -1;
	pthread_mutex_unlock(&p->p_mtx);
}
