/*
 * agora-gateway: reads the configuration, starts the supervised service
 * pools and the HTTP loop threads, and runs the main thread's loop:
 * supervisor, admin listener (/healthz, /readyz) and signals.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "pool.h"
#include "supervisor.h"
#include "accesslog.h"
#include "http.h"

#define GATEWAY_DRAIN_MS	10000	/* in-flight requests at exit */
#define GATEWAY_STOP_MS		5000	/* children after SIGTERM */

struct gateway {
	struct gw_config	*gw_conf;
	struct event_base	*gw_base;
	struct supervisor	*gw_sup;
	struct http_server	*gw_http;
	struct evhttp		*gw_admin;
	struct pool		**gw_pools;
	int			 gw_npools;
	int			 gw_draining;
	struct event		*gw_drain_ev;
};

static void
gateway_usage(void)
{
	fprintf(stderr, "usage: agora-gateway [-nv] [-f file] "
	    "[-D name=value]\n");
	exit(1);
}

/* GET /healthz and /readyz on the admin listener. */
static void
gateway_admin(struct evhttp_request *req, void *arg)
{
	struct gateway		*gw = arg;
	struct gw_service	*svc;
	struct evbuffer		*b;
	const char		*path;
	char			 detail[256];

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || (strcmp(path, "/healthz") != 0 &&
	    strcmp(path, "/readyz") != 0)) {
		http_problem(req, 404, "no such admin resource");
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		if (gw->gw_draining) {
			http_problem(req, 503, "shutting down");
			return;
		}
		TAILQ_FOREACH(svc, &gw->gw_conf->conf_services, svc_entry) {
			if (svc->svc_program == NULL || gw->gw_sup == NULL)
				continue;
			if (supervisor_running(gw->gw_sup,
			    svc->svc_name) < 1) {
				snprintf(detail, sizeof(detail), "service %s "
				    "has no process running", svc->svc_name);
				http_problem(req, 503, detail);
				return;
			}
		}
	}
	b = evbuffer_new();
	evbuffer_add(b, "ok\n", 3);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* While draining: stop once every loop thread has finished. */
static void
gateway_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gateway	*gw = arg;

	if (http_server_running(gw->gw_http) == 0)
		event_base_loopbreak(gw->gw_base);
}

static void
gateway_signal(evutil_socket_t sig, short what, void *arg)
{
	struct gateway	*gw = arg;
	struct timeval	 tv = { 0, 100000 };

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (gw->gw_draining) {
			log_info("second signal: stopping at once");
			event_base_loopbreak(gw->gw_base);
			return;
		}
		log_info("%s: draining", strsignal(sig));
		gw->gw_draining = 1;
		http_server_drain(gw->gw_http, GATEWAY_DRAIN_MS);
		gw->gw_drain_ev = event_new(gw->gw_base, -1, EV_PERSIST,
		    gateway_drain_tick, gw);
		event_add(gw->gw_drain_ev, &tv);
		break;
	case SIGHUP:
		log_warnx("SIGHUP: reload not supported yet");
		break;
	case SIGUSR1:
		if (log_reopen() == -1)
			log_warn("reopening the error log");
		if (accesslog_reopen() == -1)
			log_warn("reopening the access log");
		log_info("logs reopened");
		break;
	}
}

static void
gateway_admin_listen(struct gateway *gw)
{
	struct gw_listen	*l;

	TAILQ_FOREACH(l, &gw->gw_conf->conf_admin, l_entry) {
		if (gw->gw_admin == NULL) {
			gw->gw_admin = evhttp_new(gw->gw_base);
			evhttp_set_gencb(gw->gw_admin, gateway_admin, gw);
			evhttp_set_timeout(gw->gw_admin, 10);
		}
		if (evhttp_bind_socket(gw->gw_admin,
		    strcmp(l->l_addr, "*") == 0 ? "0.0.0.0" : l->l_addr,
		    (ev_uint16_t)atoi(l->l_port)) == -1)
			fatal("admin listen on %s port %s", l->l_addr,
			    l->l_port);
	}
}

static void
gateway_pidfile(const char *path)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fatal("pidfile %s", path);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int
main(int argc, char *argv[])
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct gateway		 gw;
	struct gw_service	*svc;
	struct event		*sigev[sizeof(sigs) / sizeof(sigs[0])];
	sigset_t		 block, old;
	const char		*conffile = SYSCONFDIR "/agora/gateway.conf";
	const char		*errstr = NULL;
	long			 ncpu;
	size_t			 i;
	int			 ch, noaction = 0, verbose = 0, nworkers, max;

	log_init("agora-gateway", 0);
	while ((ch = getopt(argc, argv, "D:f:nv")) != -1) {
		switch (ch) {
		case 'D':
			if (config_cmdline_symset(optarg) < 0)
				fatalx("could not parse macro definition %s",
				    optarg);
			break;
		case 'f':
			conffile = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			gateway_usage();
		}
	}
	if (argc != optind)
		gateway_usage();
	log_init("agora-gateway", verbose);

	memset(&gw, 0, sizeof(gw));
	if ((gw.gw_conf = config_parse(conffile)) == NULL)
		exit(1);
	if (config_check(gw.gw_conf) == -1)
		exit(1);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (gw.gw_conf->conf_error_log != NULL &&
	    log_open(gw.gw_conf->conf_error_log) == -1)
		fatal("error log %s", gw.gw_conf->conf_error_log);
	if (accesslog_open(gw.gw_conf->conf_access_log) == -1)
		fatal("access log %s", gw.gw_conf->conf_access_log);

	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads failed");
	if ((gw.gw_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");

	nworkers = gw.gw_conf->conf_workers;
	if (nworkers <= 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		nworkers = ncpu > 0 ? (int)ncpu : 1;
	}
	gw.gw_http = http_server_new(gw.gw_conf, nworkers);
	TAILQ_FOREACH(svc, &gw.gw_conf->conf_services, svc_entry) {
		struct pool	*p;

		max = svc->svc_max_conns > 0 ? svc->svc_max_conns :
		    svc->svc_processes;
		p = pool_new(svc->svc_name, svc->svc_socket, max,
		    svc->svc_queue, svc->svc_queue_timeout,
		    svc->svc_connect_timeout, &errstr);
		if (p == NULL)
			fatalx("service %s: socket %s: %s", svc->svc_name,
			    svc->svc_socket, errstr);
		gw.gw_pools = xreallocarray(gw.gw_pools, gw.gw_npools + 1,
		    sizeof(*gw.gw_pools));
		gw.gw_pools[gw.gw_npools++] = p;
		http_server_pool(gw.gw_http, svc, p);
	}
	if (http_server_listen(gw.gw_http, &errstr) == -1)
		fatalx("cannot listen: %s", errstr);
	gateway_admin_listen(&gw);

	gw.gw_sup = supervisor_new(gw.gw_base);
	TAILQ_FOREACH(svc, &gw.gw_conf->conf_services, svc_entry) {
		if (svc->svc_program == NULL)
			continue;
		if (supervisor_add(gw.gw_sup, svc, &errstr) == -1)
			fatalx("service %s: %s", svc->svc_name, errstr);
	}

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigev[i] = evsignal_new(gw.gw_base, sigs[i], gateway_signal,
		    &gw);
		evsignal_add(sigev[i], NULL);
	}
	/* only the main thread takes signals */
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	sigaddset(&block, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	http_server_start(gw.gw_http);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (gw.gw_conf->conf_pidfile != NULL)
		gateway_pidfile(gw.gw_conf->conf_pidfile);
	log_info("started: %d worker%s, %d service%s", nworkers,
	    nworkers == 1 ? "" : "s", gw.gw_npools,
	    gw.gw_npools == 1 ? "" : "s");

	event_base_dispatch(gw.gw_base);

	/* drained (or a second signal): stop the children, then free */
	http_server_drain(gw.gw_http, 0);
	supervisor_stop(gw.gw_sup, GATEWAY_STOP_MS);
	http_server_free(gw.gw_http);
	for (i = 0; i < (size_t)gw.gw_npools; i++)
		pool_free(gw.gw_pools[i]);
	free(gw.gw_pools);
	supervisor_free(gw.gw_sup);
	if (gw.gw_admin != NULL)
		evhttp_free(gw.gw_admin);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(sigev[i]);
	if (gw.gw_drain_ev != NULL)
		event_free(gw.gw_drain_ev);
	if (gw.gw_conf->conf_pidfile != NULL)
		unlink(gw.gw_conf->conf_pidfile);
	event_base_free(gw.gw_base);
	config_free(gw.gw_conf);
	accesslog_close();
	log_info("exiting");
	return 0;
}
