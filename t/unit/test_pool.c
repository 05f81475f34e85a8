/*
 * proxy/pool.c: accounting, the wait queue and handoffs, driven with real
 * unix sockets and a real event_base.  A listener that never accepts is
 * enough for connects to succeed (they sit in its backlog).
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "runner.h"
#include "pool.h"

#define NLISTEN	4
#define NWAIT	6

static struct event_base *base;

/* What the callbacks saw, in order. */
struct seen {
	int	 s_n;
	int	 s_order[8];
	int	 s_status[8];
};

struct waiter {
	struct pool_wait	 w_pw;
	int			 w_id;
	struct seen		*w_seen;
};

/*
 * The fixture of most cases: listeners paths[0..n-1] in one temporary
 * folder, a pool over them, and waiters w[i] (w_id i) that record into
 * one struct seen.
 */
static struct fixture {
	char		 f_dir[64];
	char		 f_paths[NLISTEN][128];
	int		 f_lfds[NLISTEN];
	int		 f_n;
	struct pool	*f_pool;
	struct waiter	 f_w[NWAIT];
	struct seen	 f_seen;
} fx;

static void
waiter_cb(struct pool_wait *pw, int status, void *arg)
{
	struct waiter	*w = arg;
	struct seen	*s = w->w_seen;

	if (s->s_n < 8) {
		s->s_order[s->s_n] = w->w_id;
		s->s_status[s->s_n] = status;
	}
	s->s_n++;
}

static void
base_init(void)
{
	if (base == NULL) {
		evthread_use_pthreads();
		base = event_base_new();
	}
}

/*
 * n listeners, and a pool "t" over them with max conns and queue each
 * (queue timeout qto ms); a test that wants its own pool passes max 0.
 */
static struct pool *
fx_open(int n, int max, int queue, int qto)
{
	struct sockaddr_un	 sun;
	const char		*errstr = NULL;
	int			 i;

	base_init();
	memset(&fx, 0, sizeof(fx));
	strcpy(fx.f_dir, "/tmp/test_pool.XXXXXX");
	if (mkdtemp(fx.f_dir) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		snprintf(fx.f_paths[i], sizeof(fx.f_paths[i]), "%s/s%d",
		    fx.f_dir, i);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strcpy(sun.sun_path, fx.f_paths[i]);
		fx.f_lfds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(fx.f_lfds[i], (struct sockaddr *)&sun,
		    sizeof(sun)) == -1 || listen(fx.f_lfds[i], 128) == -1)
			abort();
	}
	fx.f_n = n;
	for (i = 0; i < NWAIT; i++) {
		fx.f_w[i].w_id = i;
		fx.f_w[i].w_seen = &fx.f_seen;
	}
	if (max == 0)
		return NULL;
	fx.f_pool = pool_new("t", fx.f_paths[0], max, queue, qto, 1000,
	    &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx.f_pool);
	for (i = 1; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(pool_add_server(fx.f_pool,
		    fx.f_paths[i], max, &errstr), i);
	return fx.f_pool;
}

static void
fx_close(void)
{
	int	 i;

	pool_free(fx.f_pool);
	for (i = 0; i < fx.f_n; i++) {
		close(fx.f_lfds[i]);
		unlink(fx.f_paths[i]);
	}
	rmdir(fx.f_dir);
}

/* pool_acquire_key() for waiter i of the fixture's pool. */
static int
fx_acquire_key(int i, const char *key, int avoid)
{
	return pool_acquire_key(fx.f_pool, base, &fx.f_w[i].w_pw,
	    waiter_cb, &fx.f_w[i], key, avoid, 0);
}

static int
fx_acquire(int i)
{
	return pool_acquire(fx.f_pool, base, &fx.f_w[i].w_pw, waiter_cb,
	    &fx.f_w[i]);
}

/* Which listener accepted the connection (-1: none of them). */
static int
listener_of(int fd)
{
	struct sockaddr_un	 sun;
	socklen_t		 len = sizeof(sun);
	int			 i;

	memset(&sun, 0, sizeof(sun));
	if (getpeername(fd, (struct sockaddr *)&sun, &len) == -1)
		return -1;
	for (i = 0; i < fx.f_n; i++)
		if (strcmp(sun.sun_path, fx.f_paths[i]) == 0)
			return i;
	return -1;
}

/* Runs the loop until s has n callbacks, or 2 s pass. */
static void
run_until(struct seen *s, int n)
{
	struct timeval	 tv = { 0, 10000 };
	int		 i;

	for (i = 0; i < 200 && s->s_n < n; i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* Runs b's loop for ms milliseconds. */
static void
run_base_for(struct event_base *b, int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(b, &tv);
	event_base_dispatch(b);
}

/* Runs the loop for ms milliseconds. */
static void
run_for(int ms)
{
	run_base_for(base, ms);
}

static void
t_accounting(void)
{
	struct pool		*p = fx_open(1, 2, 0, 1000);
	struct waiter		*w = fx.f_w;
	struct pool_stats	 ps;
	int			 fd0, fd1;

	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	CU_ASSERT_EQUAL(w[0].w_pw.pw_reused, 0);
	CU_ASSERT_EQUAL(fx_acquire(1), POOL_READY);
	/* max 2 open, queue 0: the third is refused at once */
	CU_ASSERT_EQUAL(fx_acquire(2), POOL_EFULL);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 2);
	CU_ASSERT_EQUAL(ps.ps_idle, 0);
	fd0 = w[0].w_pw.pw_fd;
	fd1 = w[1].w_pw.pw_fd;
	pool_release(p, fd0, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 2);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	/* the idle one is reused, not a new connection */
	CU_ASSERT_EQUAL(fx_acquire(2), POOL_READY);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_fd, fd0);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_reused, 1);
	pool_release(p, fd0, 0);
	pool_release(p, fd1, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	CU_ASSERT_EQUAL(fx.f_seen.s_n, 0);
	fx_close();
}

static void
t_fifo(void)
{
	struct pool		*p = fx_open(1, 1, 2, 5000);
	struct waiter		*w = fx.f_w;
	struct seen		*s = &fx.f_seen;
	struct pool_stats	 ps;
	int			 fd;

	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	fd = w[0].w_pw.pw_fd;
	CU_ASSERT_EQUAL(fx_acquire(1), POOL_PENDING);
	CU_ASSERT_EQUAL(fx_acquire(2), POOL_PENDING);
	/* queue 2 is full now */
	CU_ASSERT_EQUAL(fx_acquire(3), POOL_EFULL);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 2);
	CU_ASSERT_EQUAL(ps.ps_open, 1);

	pool_release(p, fd, 1);
	run_until(s, 1);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 1);
	CU_ASSERT_EQUAL(s->s_order[0], 1);
	CU_ASSERT_EQUAL(s->s_status[0], POOL_READY);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_fd, fd);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_reused, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 0);

	/* not reusable: closed, and the next waiter connects anew */
	pool_release(p, fd, 0);
	run_until(s, 2);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 2);
	CU_ASSERT_EQUAL(s->s_order[1], 2);
	CU_ASSERT_EQUAL(s->s_status[1], POOL_READY);
	CU_ASSERT(w[2].w_pw.pw_fd >= 0);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_reused, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_queued, 0);
	pool_release(p, w[2].w_pw.pw_fd, 1);
	fx_close();
}

static void
t_queue_timeout(void)
{
	struct pool		*p = fx_open(1, 1, 1, 50);
	struct seen		*s = &fx.f_seen;
	struct pool_stats	 ps;

	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	CU_ASSERT_EQUAL(fx_acquire(1), POOL_PENDING);
	run_until(s, 1);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 1);
	CU_ASSERT_EQUAL(s->s_order[0], 1);
	CU_ASSERT_EQUAL(s->s_status[0], POOL_ETIMEOUT);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 0);
	/* the slot is still held by the first request */
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	pool_release(p, fx.f_w[0].w_pw.pw_fd, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	fx_close();
}

static void
t_stale(void)
{
	struct pool		*p = fx_open(1, 1, 0, 1000);
	struct waiter		*w = fx.f_w;
	struct pool_stats	 ps;
	int			 peer;

	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	pool_release(p, w[0].w_pw.pw_fd, 1);
	/* the backend closes the idle connection */
	peer = accept(fx.f_lfds[0], NULL, NULL);
	CU_ASSERT_FATAL(peer >= 0);
	close(peer);
	CU_ASSERT_EQUAL(fx_acquire(1), POOL_READY);
	/* a fresh connection, not the dead one */
	CU_ASSERT_EQUAL(w[1].w_pw.pw_reused, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 0);
	pool_release(p, w[1].w_pw.pw_fd, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 0);
	fx_close();
}

static void
t_cancel(void)
{
	struct pool		*p = fx_open(1, 1, 4, 5000);
	struct waiter		*w = fx.f_w;
	struct pool_stats	 ps;

	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	CU_ASSERT_EQUAL(fx_acquire(1), POOL_PENDING);
	CU_ASSERT_EQUAL(fx_acquire(2), POOL_PENDING);
	pool_cancel(&w[1].w_pw);
	pool_release(p, w[0].w_pw.pw_fd, 1);
	/* handed to 2 (not yet run); cancelling 2 gives the fd back */
	pool_cancel(&w[2].w_pw);
	run_until(&fx.f_seen, 1);
	CU_ASSERT_EQUAL(fx.f_seen.s_n, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 0);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	fx_close();
}

/*
 * A released connection goes to a waiter of its own thread (event base)
 * before an older one of another thread, until the older one has waited
 * a few milliseconds (POOL_LOCAL_MS): then strictly the oldest.
 */
static void
t_local(void)
{
	struct pool		*p = fx_open(1, 1, 4, 5000);
	struct waiter		*w = fx.f_w;
	struct seen		*s = &fx.f_seen;
	struct event_base	*other = event_base_new();
	int			 fd;

	CU_ASSERT_EQUAL(pool_acquire(p, other, &w[0].w_pw, waiter_cb, &w[0]),
	    POOL_READY);
	fd = w[0].w_pw.pw_fd;
	CU_ASSERT_EQUAL(fx_acquire(1), POOL_PENDING);
	CU_ASSERT_EQUAL(pool_acquire(p, other, &w[2].w_pw, waiter_cb, &w[2]),
	    POOL_PENDING);
	/* released on other's thread: its waiter 2 goes before 1 */
	pool_release(p, fd, 1);
	run_base_for(other, 10);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 1);
	CU_ASSERT_EQUAL(s->s_order[0], 2);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_fd, fd);
	/* 1 has waited long enough now: it goes before 3, on other too */
	CU_ASSERT_EQUAL(pool_acquire(p, other, &w[3].w_pw, waiter_cb, &w[3]),
	    POOL_PENDING);
	usleep(5000);
	pool_release(p, fd, 1);
	run_until(s, 2);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 2);
	CU_ASSERT_EQUAL(s->s_order[1], 1);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_fd, fd);
	/* released on base's thread now: 3 (other) is the only waiter */
	pool_release(p, fd, 1);
	run_base_for(other, 10);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 3);
	CU_ASSERT_EQUAL(s->s_order[2], 3);
	pool_release(p, fd, 1);
	fx_close();
	event_base_free(other);
}

/* Bytes waiting in fd's socket, without taking them. */
static int
pending(int fd)
{
	char	 buf[64];

	return (int)recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
}

/*
 * pool_release_report() with unread bytes: a POOL_HANDOVER waiter that
 * gets the fd is told how many bytes of the last answer are still in the
 * socket, and they stay there until it discards them; for another waiter
 * (the probe), or none, they are read away at once.
 */
static void
t_unread(void)
{
	struct pool		*p = fx_open(1, 1, 2, 5000);
	struct waiter		*w = fx.f_w;
	struct pool_stats	 ps;
	int			 fd, peer;

	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	fd = w[0].w_pw.pw_fd;
	peer = accept(fx.f_lfds[0], NULL, NULL);
	CU_ASSERT_FATAL(peer >= 0);
	CU_ASSERT_EQUAL(write(peer, "answer", 6), 6);
	CU_ASSERT_EQUAL(pool_acquire_key(p, base, &w[1].w_pw, waiter_cb,
	    &w[1], NULL, -1, POOL_HANDOVER), POOL_PENDING);
	pool_release_report(p, fd, 1, 1, 6);
	run_until(&fx.f_seen, 1);
	CU_ASSERT_EQUAL_FATAL(fx.f_seen.s_n, 1);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_fd, fd);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_unread, 6);
	CU_ASSERT_EQUAL(pending(fd), 6);
	CU_ASSERT_EQUAL(pool_discard(fd, 6), 0);
	CU_ASSERT_EQUAL(pending(fd), -1);

	/* a waiter without POOL_HANDOVER gets the fd clean */
	CU_ASSERT_EQUAL(write(peer, "answer", 6), 6);
	CU_ASSERT_EQUAL(fx_acquire(2), POOL_PENDING);
	pool_release_report(p, fd, 1, 1, 6);
	run_until(&fx.f_seen, 2);
	CU_ASSERT_EQUAL_FATAL(fx.f_seen.s_n, 2);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_fd, fd);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_unread, 0);
	CU_ASSERT_EQUAL(pending(fd), -1);

	/* no one waits: read away before the fd goes idle */
	CU_ASSERT_EQUAL(write(peer, "end", 3), 3);
	pool_release_report(p, fd, 1, 1, 3);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	CU_ASSERT_EQUAL(pending(fd), -1);

	/* fewer bytes than said: the connection is broken */
	CU_ASSERT_EQUAL(write(peer, "ab", 2), 2);
	CU_ASSERT_EQUAL(pool_discard(fd, 5), -1);
	close(peer);
	fx_close();
}

/* No listener at all: the fixture's folder stays empty. */
static void
t_connect_fail(void)
{
	struct pool_stats	 ps;
	const char		*errstr = NULL;

	fx_open(0, 0, 0, 0);
	fx.f_pool = pool_new("t", "/nonexistent/agora.sock", 2, 4, 1000, 1000,
	    &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fx.f_pool);
	CU_ASSERT_EQUAL(fx_acquire(0), POOL_ECONNECT);
	pool_stats(fx.f_pool, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 0);
	CU_ASSERT_PTR_NULL(pool_new("t", "no-port", 1, 1, 1, 1, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
	fx_close();
}

/* Another thread's loop waits in the queue; this thread releases. */
struct other {
	struct pool		*o_pool;
	struct event_base	*o_base;
	struct waiter		 o_w;
	struct seen		 o_seen;
	volatile int		 o_queued;
};

static void
other_cb(struct pool_wait *pw, int status, void *arg)
{
	struct other	*o = arg;

	o->o_seen.s_status[0] = status;
	o->o_seen.s_n = 1;
	event_base_loopbreak(o->o_base);
}

static void *
other_main(void *arg)
{
	struct other	*o = arg;
	struct timeval	 tv = { 3, 0 };

	o->o_base = event_base_new();
	if (pool_acquire(o->o_pool, o->o_base, &o->o_w.w_pw, other_cb, o) ==
	    POOL_PENDING) {
		o->o_queued = 1;
		event_base_loopexit(o->o_base, &tv);
		event_base_dispatch(o->o_base);
	}
	o->o_queued = 1;
	return NULL;
}

static void
t_handoff_thread(void)
{
	struct pool	*p = fx_open(1, 1, 4, 5000);
	struct other	 o;
	pthread_t	 t;
	int		 fd, i;

	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	fd = fx.f_w[0].w_pw.pw_fd;
	o.o_pool = p;
	pthread_create(&t, NULL, other_main, &o);
	for (i = 0; i < 2000 && !o.o_queued; i++)
		usleep(1000);
	usleep(20000);	/* let it enter its loop */
	pool_release(p, fd, 1);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(o.o_seen.s_n, 1);
	CU_ASSERT_EQUAL(o.o_seen.s_status[0], POOL_READY);
	CU_ASSERT_EQUAL(o.o_w.w_pw.pw_fd, fd);
	pool_release(p, fd, 1);
	event_base_free(o.o_base);
	fx_close();
}

static void
t_roundrobin(void)
{
	struct pool		*p = fx_open(3, 4, 0, 1000);
	struct waiter		*w = fx.f_w;
	struct pool_stats	 ps;
	int			 count[NLISTEN] = { 0 }, i, srv;

	for (i = 0; i < 30; i++) {
		CU_ASSERT_EQUAL_FATAL(fx_acquire(0), POOL_READY);
		srv = listener_of(w[0].w_pw.pw_fd);
		CU_ASSERT_EQUAL(srv, w[0].w_pw.pw_server);
		if (srv >= 0)
			count[srv]++;
		/* kept alive: round-robin still moves on */
		pool_release(p, w[0].w_pw.pw_fd, 1);
	}
	CU_ASSERT_EQUAL(count[0], 10);
	CU_ASSERT_EQUAL(count[1], 10);
	CU_ASSERT_EQUAL(count[2], 10);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_servers, 3);
	CU_ASSERT_EQUAL(ps.ps_up, 3);
	CU_ASSERT_EQUAL(ps.ps_max, 12);
	CU_ASSERT_EQUAL(ps.ps_open, 3);
	CU_ASSERT_EQUAL(ps.ps_idle, 3);
	fx_close();
}

static void
t_leastconn(void)
{
	struct pool	*p = fx_open(2, 4, 0, 1000);
	struct waiter	*w = fx.f_w;
	int		 count[2] = { 0, 0 }, i;

	pool_set_balance(p, POOL_LEASTCONN);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL_FATAL(fx_acquire(i), POOL_READY);
		count[w[i].w_pw.pw_server]++;
	}
	CU_ASSERT_EQUAL(count[0], 2);
	CU_ASSERT_EQUAL(count[1], 2);
	/* server 1 finishes both: the next two go there, not to 0 */
	for (i = 0; i < 4; i++)
		if (w[i].w_pw.pw_server == 1)
			pool_release(p, w[i].w_pw.pw_fd, 1);
	for (i = 4; i < 6; i++) {
		CU_ASSERT_EQUAL_FATAL(fx_acquire(i), POOL_READY);
		CU_ASSERT_EQUAL(w[i].w_pw.pw_server, 1);
		CU_ASSERT_EQUAL(listener_of(w[i].w_pw.pw_fd), 1);
	}
	for (i = 0; i < 6; i++)
		if (w[i].w_pw.pw_server == 0 || i >= 4)
			pool_release(p, w[i].w_pw.pw_fd, 0);
	fx_close();
}

/*
 * Consistent hashing: keys spread evenly, and taking a server out (from
 * the config, or down) moves only its own keys.
 */
static void
t_hash_stability(void)
{
	static const char	*addrs[] = { "127.0.0.1:10001",
				    "127.0.0.1:10002", "127.0.0.1:10003",
				    "127.0.0.1:10004" };
	struct pool		*p4, *p3;
	const char		*errstr = NULL;
	char			 key[32];
	int			 count[4] = { 0 }, i, a, b, c, moved = 0;
	int			 stray = 0, mismatch = 0;

	p4 = pool_new("h", addrs[0], 1, 0, 1000, 1000, &errstr);
	p3 = pool_new("h", addrs[0], 1, 0, 1000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p4);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p3);
	for (i = 1; i < 4; i++) {
		pool_add_server(p4, addrs[i], 1, &errstr);
		if (i != 2)
			pool_add_server(p3, addrs[i], 1, &errstr);
	}
	pool_set_balance(p4, POOL_HASH);
	pool_set_balance(p3, POOL_HASH);
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "client-%d", i);
		a = pool_server_for_key(p4, key);
		CU_ASSERT_FATAL(a >= 0 && a < 4);
		count[a]++;
		b = pool_server_for_key(p3, key);
		/* p3 has no addrs[2]: its index 2 is addrs[3] */
		b = b == 2 ? 3 : b;
		if (a != b)
			moved++;
		if (a != 2 && a != b)
			stray++;
	}
	for (i = 0; i < 4; i++) {
		printf("# server %d: %d keys\n", i, count[i]);
		CU_ASSERT(count[i] > 1500 && count[i] < 3500);
	}
	/* only server 2's keys (about 1/4) moved */
	printf("# moved %d of 10000\n", moved);
	CU_ASSERT_EQUAL(stray, 0);
	CU_ASSERT_EQUAL(moved, count[2]);

	/* server 2 down: the same keys move, to the same places */
	pool_server_set_probe(p4, 2, 0);
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "client-%d", i);
		a = pool_server_for_key(p4, key);
		c = pool_server_for_key(p3, key);
		c = c == 2 ? 3 : c;
		if (a != c)
			mismatch++;
	}
	CU_ASSERT_EQUAL(mismatch, 0);
	/* and back: every key where it was */
	pool_server_set_probe(p4, 2, 1);
	count[0] = count[1] = count[2] = count[3] = 0;
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "client-%d", i);
		count[pool_server_for_key(p4, key)]++;
	}
	CU_ASSERT_EQUAL(count[2], moved);
	pool_free(p4);
	pool_free(p3);
}


/* A hash request waits for its own server, not for any. */
static void
t_hash_queue(void)
{
	struct pool	*p = fx_open(2, 1, 4, 1000);
	struct waiter	*w = fx.f_w;
	struct seen	*s = &fx.f_seen;
	const char	*key0 = NULL;
	char		 key[32];
	int		 i, other;

	pool_set_balance(p, POOL_HASH);
	for (i = 0; i < 100 && key0 == NULL; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (pool_server_for_key(p, key) == 0)
			key0 = key;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(key0);
	CU_ASSERT_EQUAL_FATAL(fx_acquire_key(0, key0, -1), POOL_READY);
	CU_ASSERT_EQUAL(w[0].w_pw.pw_server, 0);
	/* no key: round-robin takes server 1, the one with room */
	CU_ASSERT_EQUAL_FATAL(fx_acquire(1), POOL_READY);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_server, 1);
	other = w[1].w_pw.pw_fd;
	/* the key's server is full: it waits for that one */
	CU_ASSERT_EQUAL(fx_acquire_key(2, key0, -1), POOL_PENDING);
	pool_release(p, other, 1);
	run_for(100);
	CU_ASSERT_EQUAL(s->s_n, 0);
	pool_release(p, w[0].w_pw.pw_fd, 1);
	run_until(s, 1);
	CU_ASSERT_EQUAL_FATAL(s->s_n, 1);
	CU_ASSERT_EQUAL(s->s_status[0], POOL_READY);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_server, 0);
	CU_ASSERT_EQUAL(listener_of(w[2].w_pw.pw_fd), 0);
	/* a retry avoids the server that failed */
	pool_release(p, w[2].w_pw.pw_fd, 1);
	CU_ASSERT_EQUAL_FATAL(fx_acquire_key(2, key0, 0), POOL_READY);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_server, 1);
	pool_release(p, w[2].w_pw.pw_fd, 0);
	fx_close();
}

/* Failures take a server out for a while; a down one gets nothing. */
static void
t_passive(void)
{
	struct pool			*p = fx_open(1, 8, 0, 1000);
	struct waiter			*w = fx.f_w;
	struct pool_server_stats	 ss;
	struct pool_stats		 ps;
	const char			*errstr = NULL;
	int				 i, rv, fails = 0, good = 0;

	CU_ASSERT_EQUAL(pool_add_server(p, "/nonexistent/agora.sock", 8,
	    &errstr), 1);
	pool_set_health(p, 2, 10000, 300);
	for (i = 0; i < 20; i++) {
		rv = fx_acquire(0);
		if (rv == POOL_ECONNECT) {
			fails++;
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(rv, POOL_READY);
		CU_ASSERT_EQUAL(w[0].w_pw.pw_server, 0);
		good++;
		pool_release(p, w[0].w_pw.pw_fd, 0);
	}
	/* two connect failures, then server 1 is out */
	CU_ASSERT_EQUAL(fails, 2);
	CU_ASSERT_EQUAL(good, 18);
	CU_ASSERT_EQUAL(pool_server_stats(p, 1, &ss), 0);
	CU_ASSERT_EQUAL(ss.ss_up, 0);
	CU_ASSERT_EQUAL(ss.ss_passive_down, 1);
	CU_ASSERT_EQUAL(ss.ss_failures, 2);
	CU_ASSERT_EQUAL(ss.ss_ejections, 1);
	CU_ASSERT_STRING_EQUAL(ss.ss_addr, "/nonexistent/agora.sock");
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_up, 1);
	/* after fail_down it is back */
	usleep(350 * 1000);
	CU_ASSERT_EQUAL(pool_server_stats(p, 1, &ss), 0);
	CU_ASSERT_EQUAL(ss.ss_up, 1);
	CU_ASSERT_EQUAL(pool_server_stats(p, 2, &ss), -1);

	/* failures the caller reports count the same */
	pool_server_report(p, 0, 0);
	CU_ASSERT_EQUAL_FATAL(fx_acquire_key(0, NULL, 1), POOL_READY);
	CU_ASSERT_EQUAL(w[0].w_pw.pw_server, 0);
	pool_release_report(p, w[0].w_pw.pw_fd, 0, 0, 0);
	CU_ASSERT_EQUAL(pool_server_stats(p, 0, &ss), 0);
	CU_ASSERT_EQUAL(ss.ss_up, 0);
	CU_ASSERT_EQUAL(ss.ss_failures, 2);
	pool_free(p);

	/* a lone server is never taken out */
	p = fx.f_pool = pool_new("t", fx.f_paths[0], 8, 0, 1000, 1000,
	    &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	pool_set_health(p, 1, 10000, 10000);
	pool_server_report(p, 0, 0);
	pool_server_report(p, 0, 0);
	CU_ASSERT_EQUAL(pool_server_stats(p, 0, &ss), 0);
	CU_ASSERT_EQUAL(ss.ss_up, 1);
	fx_close();
}

/* The probe's verdict; with every server down the pool uses them all. */
static void
t_probe_down(void)
{
	struct pool			*p = fx_open(2, 4, 0, 1000);
	struct waiter			*w = fx.f_w;
	struct pool_server_stats	 ss;
	int				 i;

	pool_server_set_probe(p, 0, 0);
	for (i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL_FATAL(fx_acquire(0), POOL_READY);
		CU_ASSERT_EQUAL(w[0].w_pw.pw_server, 1);
		CU_ASSERT_EQUAL(listener_of(w[0].w_pw.pw_fd), 1);
		pool_release(p, w[0].w_pw.pw_fd, 0);
	}
	CU_ASSERT_EQUAL(pool_server_stats(p, 0, &ss), 0);
	CU_ASSERT_EQUAL(ss.ss_probe_down, 1);
	CU_ASSERT_EQUAL(ss.ss_requests, 0);
	pool_server_set_probe(p, 1, 0);
	CU_ASSERT_EQUAL(fx_acquire(0), POOL_READY);
	pool_release(p, w[0].w_pw.pw_fd, 0);
	pool_server_set_probe(p, 0, 1);
	pool_server_set_probe(p, 1, 1);
	fx_close();
}

/* FCGI_MAX_CONNS applies only where the config left max conns out. */
static void
t_discovered(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	const char		*errstr = NULL;

	p = pool_new("d", "127.0.0.1:10001", 0, 0, 1000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(pool_add_server(p, "127.0.0.1:10002", 3, &errstr), 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_max, 4);
	pool_server_discovered(p, 0, 8);
	pool_server_discovered(p, 1, 8);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_max, 11);
	CU_ASSERT_STRING_EQUAL(pool_server_addr(p, 1), "127.0.0.1:10002");
	CU_ASSERT_PTR_NULL(pool_server_addr(p, 2));
	pool_free(p);
}

static const struct unit_case cases[] = {
	{ "accounting", t_accounting },
	{ "fifo", t_fifo },
	{ "queue_timeout", t_queue_timeout },
	{ "stale", t_stale },
	{ "cancel", t_cancel },
	{ "local", t_local },
	{ "unread", t_unread },
	{ "connect_fail", t_connect_fail },
	{ "handoff_thread", t_handoff_thread },
	{ "roundrobin", t_roundrobin },
	{ "leastconn", t_leastconn },
	{ "hash_stability", t_hash_stability },
	{ "hash_queue", t_hash_queue },
	{ "passive", t_passive },
	{ "probe_down", t_probe_down },
	{ "discovered", t_discovered },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "pool", cases);
}
