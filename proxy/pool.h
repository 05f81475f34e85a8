/*
 * Per-service connection pool with a bounded wait queue (the HAProxy
 * maxconn + queue model).  A libfcgi backend process serves one
 * connection at a time, and a kept-alive idle connection still occupies
 * its process, so a pool never has more connections open (idle + busy)
 * than max_conns.  Requests beyond that wait in a FIFO of at most `queue`
 * entries for at most queue_timeout_ms.
 *
 * One pool is shared by every event-loop thread: its state sits behind a
 * mutex.  A waiter belongs to the event_base of the thread that queued it;
 * a connection released on another thread is handed over with
 * event_active(), so evthread locking must be enabled
 * (evthread_use_pthreads()) before any base is created.
 *
 * The pool knows sockets, not FastCGI: it connects (unix path or
 * host:port), keeps idle fds, and hands them out.
 *
 * A pool has one or more servers (pool_new() makes the first,
 * pool_add_server() the others), each with its own max_conns and idle
 * stack; the queue is the pool's.  A request goes to a server chosen
 * round-robin, by least connections, or by consistent hashing of a key
 * (a ring of POOL_VNODES points per server), and only to a server that
 * is up.  A server goes down passively (fail_max failures within
 * fail_window_ms: down for fail_down_ms) or through the active probe
 * (pool_server_set_probe()).  When every server of a pool is down the
 * pool uses them all anyway, as nginx does: a lone server that flaps is
 * better than no server at all, and one server is never taken out.
 */
#ifndef AGORA_PROXY_POOL_H
#define AGORA_PROXY_POOL_H

#include <sys/types.h>
#include <stdint.h>
#include <sys/queue.h>	/* before event_struct.h, which else undefs it */
#include <sys/socket.h>

#include <event2/event_struct.h>

struct event_base;
struct pool;
struct pool_wait;

/* pool_acquire() results, and the status a callback gets. */
#define POOL_READY	0	/* pw_fd is a connected socket */
#define POOL_PENDING	1	/* the callback will be called */
#define POOL_EFULL	2	/* queue full: rejected at once */
#define POOL_ETIMEOUT	3	/* waited queue_timeout_ms in the queue */
#define POOL_ECONNECT	4	/* connect failed or timed out */

/* pool_set_balance() modes: the same values as config.h's gw_balance. */
#define POOL_ROUNDROBIN	0
#define POOL_LEASTCONN	1
#define POOL_HASH	2	/* 2, 3, 4: hash of a key, whatever key */

#define POOL_VNODES	100	/* hash ring points per server */

typedef void	(*pool_cb)(struct pool_wait *, int status, void *arg);

/*
 * A request's place in the pool.  The caller owns the memory (embed it in
 * the request) and must not free it while pool_acquire() is pending:
 * pool_cancel() first.
 */
struct pool_wait {
	struct pool		*pw_pool;
	struct event_base	*pw_base;
	struct event		 pw_ev;		/* handoff, timer, connect */
	pool_cb			 pw_cb;
	void			*pw_arg;
	int			 pw_fd;
	int			 pw_reused;	/* fd was idle, kept alive */
	size_t			 pw_unread;	/* see pool_release_report() */
	int			 pw_server;	/* index of pw_fd's server */
	int			 pw_want;	/* hash: only this server */
	int			 pw_forced;	/* pool_acquire_server() */
	int			 pw_flags;	/* pool_acquire_key() */
	int			 pw_state;
	uint64_t		 pw_since;	/* queued at (ms) */
	TAILQ_ENTRY(pool_wait)	 pw_entry;
};

/*
 * A new pool for name (for logs) connecting to addr: an absolute unix
 * socket path or "host:port".  max_conns 0 means "not configured": 1
 * until FCGI_GET_VALUES says otherwise.  Returns NULL with *errstr when
 * addr cannot be resolved.  The last pool_free() must come after every
 * request that used it is done.
 */
struct pool	*pool_new(const char *name, const char *addr, int max_conns,
		    int queue, int queue_timeout_ms, int connect_timeout_ms,
		    const char **errstr);
/*
 * A pool is reference counted (configuration generations share it):
 * pool_new() gives one reference, pool_ref() another, and pool_free()
 * drops one and frees the pool with the last.
 */
struct pool	*pool_ref(struct pool *);
void		 pool_free(struct pool *);

/*
 * Gets a connection for a request running on base.  Returns POOL_READY
 * with w->pw_fd set (w->pw_reused says whether it was kept alive from an
 * earlier request), POOL_EFULL when the queue is full, POOL_ECONNECT when
 * a new connection failed at once, or POOL_PENDING: then cb is called
 * exactly once, later, on base's thread, with POOL_READY, POOL_ETIMEOUT
 * or POOL_ECONNECT.  cb is never called from inside pool_acquire().
 */
int		 pool_acquire(struct pool *, struct event_base *,
		    struct pool_wait *, pool_cb cb, void *arg);

/*
 * pool_acquire() with the balancing key of a hash pool (client address,
 * header or cookie value; NULL: no key, round-robin), a server to avoid
 * when another is usable (a retry: the failed one's pw_server; -1:
 * none) and flags.  POOL_HANDOVER: this waiter takes a connection as
 * the last user left it, with pw_unread bytes of the last answer to read
 * away and, on the same thread, a read event still registered (see
 * pool_release_report()).  pool_acquire() is
 * pool_acquire_key(.., NULL, -1, 0).
 */
#define POOL_HANDOVER	0x01
int		 pool_acquire_key(struct pool *, struct event_base *,
		    struct pool_wait *, pool_cb cb, void *arg,
		    const char *key, int avoid, int flags);
/*
 * A connection to one given server, up or down (the health probe): it
 * counts against that server's max_conns like any other and waits in the
 * queue for that server when it is full.  Its connect failures are not
 * counted by passive health: the probe has its own verdict.
 */
int		 pool_acquire_server(struct pool *, struct event_base *,
		    struct pool_wait *, pool_cb cb, void *arg, int server);

/*
 * Gives a connection back.  reusable: the peer is in a clean state for
 * the next request (FastCGI END_REQUEST seen, nothing left over); the fd
 * goes to the oldest waiter, else to the idle stack.  Otherwise it is
 * closed and its slot goes to the oldest waiter, which connects anew.
 */
void		 pool_release(struct pool *, int fd, int reusable);

/*
 * pool_release() that also tells passive health how the exchange went:
 * ok 0 for a backend that failed (closed early, garbage, read timeout),
 * 1 for one that answered.  Connect failures are counted by the pool.
 *
 * unread: the last bytes of the answer just handled, peeked at and
 * still in the socket (ignored when the fd is not reusable).  A POOL_HANDOVER
 * request that gets the fd next must write its own request first and
 * then pool_discard(pw_fd, pw_unread): the backend, woken by the new
 * request, is not woken a second time when the old answer's buffer is
 * freed.  For any other waiter, or none, they are read away at once.
 *
 * Returns 1 when the fd went straight to a waiter with POOL_HANDOVER
 * on the event_base of the fd's last user (the caller's): that waiter
 * runs later in this loop iteration, and the caller may leave its read
 * event on the fd registered for it.  Else 0: the caller must delete it.
 */
int		 pool_release_report(struct pool *, int fd, int reusable,
		    int ok, size_t unread);
/* Reads away n bytes known to be in fd's socket; 0, or -1 if it cannot. */
int		 pool_discard(int fd, size_t n);

/*
 * Withdraws a pending pool_acquire() (the client went away).  Whatever
 * the pool had already given this waiter goes back.  A no-op when nothing
 * is pending.  Returns the fd that had been handed to the waiter and went
 * back, or -1.
 */
int		 pool_cancel(struct pool_wait *);

struct pool_stats {
	int	ps_open;	/* idle + busy + connecting */
	int	ps_idle;
	int	ps_queued;
	int	ps_max;
	int	ps_servers;
	int	ps_up;		/* servers taking traffic */
};
void		 pool_stats(struct pool *, struct pool_stats *);
const char	*pool_name(const struct pool *);

/*
 * More servers beside pool_new()'s first; returns the new server's index
 * or -1 with *errstr.  Before the pool is used.
 */
int		 pool_add_server(struct pool *, const char *addr,
		    int max_conns, const char **errstr);
/* mode: POOL_ROUNDROBIN, POOL_LEASTCONN or POOL_HASH. */
void		 pool_set_balance(struct pool *, int mode);
/* Passive health; fail_max 0 turns it off (the default). */
void		 pool_set_health(struct pool *, int fail_max,
		    int fail_window_ms, int fail_down_ms);

struct pool_server_stats {
	const char	*ss_addr;	/* lives as long as the pool */
	int		 ss_open;
	int		 ss_idle;
	int		 ss_max;
	int		 ss_up;		/* 1: takes traffic */
	int		 ss_passive_down;	/* ejected by failures */
	int		 ss_probe_down;	/* marked down by the probe */
	unsigned long	 ss_requests;	/* connections handed out */
	unsigned long	 ss_failures;
	unsigned long	 ss_ejections;
};
int		 pool_servers(struct pool *);
/* 0, or -1 when there is no server i. */
int		 pool_server_stats(struct pool *, int i,
		    struct pool_server_stats *);
const char	*pool_server_addr(struct pool *, int i);
/* A copy of server i's address for connect(); 0 or -1. */
int		 pool_server_sockaddr(struct pool *, int i,
		    struct sockaddr_storage *, socklen_t *);
/*
 * The active probe's verdict on server i (1 up, 0 down).  Up also ends a
 * passive ejection: the server answers again.
 */
void		 pool_server_set_probe(struct pool *, int i, int up);
/*
 * FCGI_MAX_CONNS discovered for server i: applied only when pool_new()
 * or pool_add_server() got max_conns 0 ("not configured").
 */
void		 pool_server_discovered(struct pool *, int i, int max_conns);
/* Passive health by hand (tests, the upstream's own failures). */
void		 pool_server_report(struct pool *, int i, int ok);
/* The server index a key maps to now, without acquiring (-1: none). */
int		 pool_server_for_key(struct pool *, const char *key);

#endif
