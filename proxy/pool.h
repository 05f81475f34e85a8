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
 */
#ifndef AGORA_PROXY_POOL_H
#define AGORA_PROXY_POOL_H

#include <sys/queue.h>	/* before event_struct.h, which else undefs it */

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
	int			 pw_state;
	TAILQ_ENTRY(pool_wait)	 pw_entry;
};

/*
 * A new pool for name (for logs) connecting to addr: an absolute unix
 * socket path or "host:port".  Returns NULL with *errstr when addr cannot
 * be resolved.  The caller frees it with pool_free() after every thread
 * that used it has stopped.
 */
struct pool	*pool_new(const char *name, const char *addr, int max_conns,
		    int queue, int queue_timeout_ms, int connect_timeout_ms,
		    const char **errstr);
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
 * Gives a connection back.  reusable: the peer is in a clean state for
 * the next request (FastCGI END_REQUEST seen, nothing left over); the fd
 * goes to the oldest waiter, else to the idle stack.  Otherwise it is
 * closed and its slot goes to the oldest waiter, which connects anew.
 */
void		 pool_release(struct pool *, int fd, int reusable);

/*
 * Withdraws a pending pool_acquire() (the client went away).  Whatever
 * the pool had already given this waiter goes back.  A no-op when nothing
 * is pending.
 */
void		 pool_cancel(struct pool_wait *);

struct pool_stats {
	int	ps_open;	/* idle + busy + connecting */
	int	ps_idle;
	int	ps_queued;
	int	ps_max;
};
void		 pool_stats(struct pool *, struct pool_stats *);
const char	*pool_name(const struct pool *);

#endif
