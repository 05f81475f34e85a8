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

static char		 sockdir[64];
static char		 sockpath[128];
static int		 lfd = -1;
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
setup(void)
{
	struct sockaddr_un	 sun;

	if (base == NULL) {
		evthread_use_pthreads();
		base = event_base_new();
	}
	strcpy(sockdir, "/tmp/test_pool.XXXXXX");
	if (mkdtemp(sockdir) == NULL)
		abort();
	snprintf(sockpath, sizeof(sockpath), "%s/s", sockdir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sockpath);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 64) == -1)
		abort();
}

static void
teardown(void)
{
	close(lfd);
	unlink(sockpath);
	rmdir(sockdir);
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

static void
t_accounting(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	struct waiter		 w[3];
	struct seen		 s = { 0 };
	const char		*errstr = NULL;
	int			 fd0, fd1, i;

	setup();
	p = pool_new("t", sockpath, 2, 0, 1000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 3; i++) {
		w[i].w_id = i;
		w[i].w_seen = &s;
	}
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[0].w_pw, waiter_cb, &w[0]),
	    POOL_READY);
	CU_ASSERT_EQUAL(w[0].w_pw.pw_reused, 0);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[1].w_pw, waiter_cb, &w[1]),
	    POOL_READY);
	/* max 2 open, queue 0: the third is refused at once */
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[2].w_pw, waiter_cb, &w[2]),
	    POOL_EFULL);
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
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[2].w_pw, waiter_cb, &w[2]),
	    POOL_READY);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_fd, fd0);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_reused, 1);
	pool_release(p, fd0, 0);
	pool_release(p, fd1, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	CU_ASSERT_EQUAL(s.s_n, 0);
	pool_free(p);
	teardown();
}

static void
t_fifo(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	struct waiter		 w[4];
	struct seen		 s = { 0 };
	const char		*errstr = NULL;
	int			 i, fd;

	setup();
	p = pool_new("t", sockpath, 1, 2, 5000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 4; i++) {
		w[i].w_id = i;
		w[i].w_seen = &s;
	}
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[0].w_pw, waiter_cb, &w[0]),
	    POOL_READY);
	fd = w[0].w_pw.pw_fd;
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[1].w_pw, waiter_cb, &w[1]),
	    POOL_PENDING);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[2].w_pw, waiter_cb, &w[2]),
	    POOL_PENDING);
	/* queue 2 is full now */
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[3].w_pw, waiter_cb, &w[3]),
	    POOL_EFULL);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 2);
	CU_ASSERT_EQUAL(ps.ps_open, 1);

	pool_release(p, fd, 1);
	run_until(&s, 1);
	CU_ASSERT_EQUAL_FATAL(s.s_n, 1);
	CU_ASSERT_EQUAL(s.s_order[0], 1);
	CU_ASSERT_EQUAL(s.s_status[0], POOL_READY);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_fd, fd);
	CU_ASSERT_EQUAL(w[1].w_pw.pw_reused, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 0);

	/* not reusable: closed, and the next waiter connects anew */
	pool_release(p, fd, 0);
	run_until(&s, 2);
	CU_ASSERT_EQUAL_FATAL(s.s_n, 2);
	CU_ASSERT_EQUAL(s.s_order[1], 2);
	CU_ASSERT_EQUAL(s.s_status[1], POOL_READY);
	CU_ASSERT(w[2].w_pw.pw_fd >= 0);
	CU_ASSERT_EQUAL(w[2].w_pw.pw_reused, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_queued, 0);
	pool_release(p, w[2].w_pw.pw_fd, 1);
	pool_free(p);
	teardown();
}

static void
t_queue_timeout(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	struct waiter		 w[2];
	struct seen		 s = { 0 };
	const char		*errstr = NULL;
	int			 i;

	setup();
	p = pool_new("t", sockpath, 1, 1, 50, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 2; i++) {
		w[i].w_id = i;
		w[i].w_seen = &s;
	}
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[0].w_pw, waiter_cb, &w[0]),
	    POOL_READY);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[1].w_pw, waiter_cb, &w[1]),
	    POOL_PENDING);
	run_until(&s, 1);
	CU_ASSERT_EQUAL_FATAL(s.s_n, 1);
	CU_ASSERT_EQUAL(s.s_order[0], 1);
	CU_ASSERT_EQUAL(s.s_status[0], POOL_ETIMEOUT);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 0);
	/* the slot is still held by the first request */
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	pool_release(p, w[0].w_pw.pw_fd, 1);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	pool_free(p);
	teardown();
}

static void
t_stale(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	struct waiter		 w[2];
	struct seen		 s = { 0 };
	const char		*errstr = NULL;
	int			 peer, fd, i;

	setup();
	p = pool_new("t", sockpath, 1, 0, 1000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 2; i++) {
		w[i].w_id = i;
		w[i].w_seen = &s;
	}
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[0].w_pw, waiter_cb, &w[0]),
	    POOL_READY);
	fd = w[0].w_pw.pw_fd;
	pool_release(p, fd, 1);
	/* the backend closes the idle connection */
	peer = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(peer >= 0);
	close(peer);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[1].w_pw, waiter_cb, &w[1]),
	    POOL_READY);
	/* a fresh connection, not the dead one */
	CU_ASSERT_EQUAL(w[1].w_pw.pw_reused, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 0);
	pool_release(p, w[1].w_pw.pw_fd, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 0);
	pool_free(p);
	teardown();
}

static void
t_cancel(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	struct waiter		 w[3];
	struct seen		 s = { 0 };
	const char		*errstr = NULL;
	int			 i;

	setup();
	p = pool_new("t", sockpath, 1, 4, 5000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 3; i++) {
		w[i].w_id = i;
		w[i].w_seen = &s;
	}
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[0].w_pw, waiter_cb, &w[0]),
	    POOL_READY);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[1].w_pw, waiter_cb, &w[1]),
	    POOL_PENDING);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w[2].w_pw, waiter_cb, &w[2]),
	    POOL_PENDING);
	pool_cancel(&w[1].w_pw);
	pool_release(p, w[0].w_pw.pw_fd, 1);
	/* handed to 2 (not yet run); cancelling 2 gives the fd back */
	pool_cancel(&w[2].w_pw);
	run_until(&s, 1);
	CU_ASSERT_EQUAL(s.s_n, 0);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_queued, 0);
	CU_ASSERT_EQUAL(ps.ps_open, 1);
	CU_ASSERT_EQUAL(ps.ps_idle, 1);
	pool_free(p);
	teardown();
}

static void
t_connect_fail(void)
{
	struct pool		*p;
	struct pool_stats	 ps;
	struct waiter		 w = { .w_id = 0 };
	struct seen		 s = { 0 };
	const char		*errstr = NULL;

	w.w_seen = &s;
	p = pool_new("t", "/nonexistent/agora.sock", 2, 4, 1000, 1000,
	    &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w.w_pw, waiter_cb, &w),
	    POOL_ECONNECT);
	pool_stats(p, &ps);
	CU_ASSERT_EQUAL(ps.ps_open, 0);
	pool_free(p);
	CU_ASSERT_PTR_NULL(pool_new("t", "no-port", 1, 1, 1, 1, &errstr));
	CU_ASSERT_PTR_NOT_NULL(errstr);
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
	struct pool	*p;
	struct other	 o;
	struct waiter	 w = { .w_id = 0 };
	struct seen	 s = { 0 };
	pthread_t	 t;
	const char	*errstr = NULL;
	int		 fd, i;

	setup();
	memset(&o, 0, sizeof(o));
	w.w_seen = &s;
	p = pool_new("t", sockpath, 1, 4, 5000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(pool_acquire(p, base, &w.w_pw, waiter_cb, &w),
	    POOL_READY);
	fd = w.w_pw.pw_fd;
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
	pool_free(p);
	teardown();
}

static const struct unit_case cases[] = {
	{ "accounting", t_accounting },
	{ "fifo", t_fifo },
	{ "queue_timeout", t_queue_timeout },
	{ "stale", t_stale },
	{ "cancel", t_cancel },
	{ "connect_fail", t_connect_fail },
	{ "handoff_thread", t_handoff_thread },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "pool", cases);
}
