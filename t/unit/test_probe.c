/*
 * proxy/probe.c and proxy/generation.c: a FastCGI responder thread on a
 * unix socket answers health checks with a status the test sets, and
 * FCGI_GET_VALUES with FCGI_MAX_CONNS 7; the probe marks the pool's
 * server down after "fall" failures and up after "rise" successes, and
 * sets the discovered max conns.  Generations are reference counted.
 */

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "fcgi.h"
#include "runner.h"
#include "proxy/config.h"
#include "pool.h"
#include "generation.h"
#include "probe.h"

/* CU_ASSERT_*_FATAL leaves by longjmp, which gcc cannot see. */
#pragma GCC diagnostic ignored "-Wnull-dereference"

static char		 sockdir[64], sockpath[128];
static int		 lfd = -1;
static volatile int	 status = 200;	/* what health checks get */
static volatile int	 checks;	/* requests answered */
static volatile int	 getvalues;	/* GET_VALUES answered */
static volatile int	 stop;

static int
readn(int fd, void *buf, size_t n)
{
	size_t	 got = 0;
	ssize_t	 r;

	while (got < n) {
		if ((r = read(fd, (char *)buf + got, n - got)) <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void
record(int fd, uint8_t type, uint16_t id, const void *data, size_t len)
{
	uint8_t	 buf[1024];
	size_t	 n;

	n = fcgi_record_encode(buf, sizeof(buf), type, id, data,
	    (uint16_t)len);
	if (write(fd, buf, n) != (ssize_t)n)
		return;
}

/* One connection: answers records until the peer closes. */
static void
serve(int fd)
{
	struct fcgi_header	 h;
	uint8_t			 hdr[8], body[65536 + 256], end[8], nv[64];
	char			 out[128];
	const char		*errstr;
	size_t			 n;
	int			 len;

	while (!stop && readn(fd, hdr, 8) == 0) {
		if (fcgi_header_decode(hdr, 8, &h, &errstr) != 1 ||
		    readn(fd, body, (size_t)h.content_length +
		    h.padding_length) == -1)
			return;
		if (h.type == FCGI_T_GET_VALUES) {
			n = fcgi_nv_encode(nv, sizeof(nv), "FCGI_MAX_CONNS",
			    14, "7", 1);
			record(fd, FCGI_T_GET_VALUES_RESULT, 0, nv, n);
			getvalues++;
		} else if (h.type == FCGI_T_STDIN && h.content_length == 0) {
			len = snprintf(out, sizeof(out), "Status: %d X\r\n"
			    "Content-Type: text/plain\r\n\r\nok\n", status);
			record(fd, FCGI_T_STDOUT, h.request_id, out,
			    (size_t)len);
			record(fd, FCGI_T_STDOUT, h.request_id, NULL, 0);
			fcgi_end_request_encode(end, 0,
			    FCGI_S_REQUEST_COMPLETE);
			record(fd, FCGI_T_END_REQUEST, h.request_id, end, 8);
			checks++;
		}
	}
}

static void *
responder(void *arg)
{
	int	 fd;

	while (!stop) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		serve(fd);
		close(fd);
	}
	return NULL;
}

/* Runs base until cond() or ms pass. */
static int
run_until(struct event_base *base, int (*cond)(void), int ms)
{
	struct timeval	 tv = { 0, 20000 };
	int		 i;

	for (i = 0; i < ms / 20; i++) {
		if (cond())
			return 1;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return cond();
}

static struct pool	*tpool;

static int
server_down(void)
{
	struct pool_server_stats	 ss;

	pool_server_stats(tpool, 0, &ss);
	return ss.ss_probe_down;
}

static int
server_up(void)
{
	return !server_down();
}

static int
discovered(void)
{
	struct pool_stats	 ps;

	pool_stats(tpool, &ps);
	return ps.ps_max == 7;
}

static void
t_probe(void)
{
	struct sockaddr_un	 sun;
	struct event_base	*base;
	struct gw_config	*conf;
	struct gw_service	*svc;
	struct generation	*gen;
	struct probe		*pr;
	pthread_t		 t;
	const char		*errstr = NULL;
	unsigned long		 ok, failed;

	strcpy(sockdir, "/tmp/test_probe.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(sockdir));
	snprintf(sockpath, sizeof(sockpath), "%s/s", sockdir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sockpath);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) ==
	    0 && listen(lfd, 16) == 0);
	pthread_create(&t, NULL, responder, NULL);

	evthread_use_pthreads();
	base = event_base_new();
	conf = config_new("test");
	svc = config_service_new("svc");
	svc->svc_socket = strdup(sockpath);
	svc->svc_check_path = strdup("/health");
	TAILQ_INSERT_TAIL(&conf->conf_services, svc, svc_entry);
	config_defaults(conf);
	svc->svc_check_interval = 50;
	svc->svc_check_rise = 2;
	svc->svc_check_fall = 3;
	/* max conns 0: not configured, so GET_VALUES sets it */
	tpool = pool_new("svc", sockpath, 0, 4, 1000, 1000, &errstr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tpool);
	gen = generation_new(conf);
	generation_add_pool(gen, svc, tpool);
	generation_swap(gen);
	CU_ASSERT_PTR_EQUAL(generation_pool_name(gen, "svc"), tpool);
	CU_ASSERT_PTR_NULL(generation_pool_name(gen, "other"));

	pr = probe_new(base);
	probe_start(pr, gen);
	CU_ASSERT(run_until(base, discovered, 2000));
	CU_ASSERT(getvalues >= 1);
	/* healthy: checks run, the server stays up */
	run_until(base, server_down, 300);
	CU_ASSERT(checks >= 3);
	CU_ASSERT_EQUAL(server_down(), 0);

	/* 500s: down after 3 in a row */
	status = 500;
	CU_ASSERT(run_until(base, server_down, 2000));
	probe_counts(pr, &ok, &failed);
	CU_ASSERT(failed >= 3);
	CU_ASSERT(ok >= 1);

	/* healthy again: up after 2 in a row */
	status = 204;
	CU_ASSERT(run_until(base, server_up, 2000));

	/* the generation outlives the swap while someone holds it */
	probe_stop(pr);
	gen = generation_acquire();
	CU_ASSERT_PTR_NOT_NULL(gen);
	generation_swap(NULL);
	CU_ASSERT_PTR_NULL(generation_acquire());
	CU_ASSERT_PTR_EQUAL(generation_pool(gen, svc), tpool);
	generation_release(gen);	/* frees conf and the pool */

	probe_free(pr);
	event_base_free(base);
	stop = 1;
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(t, NULL);
	unlink(sockpath);
	rmdir(sockdir);
}

static const struct unit_case cases[] = {
	{ "probe", t_probe },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "probe", cases);
}
