/*
 * agora-gateway: reads the configuration, starts the supervised service
 * pools and the HTTP loop threads, and runs the main thread's loop:
 * supervisor, health probes, admin listener (admin.h) and signals.
 * SIGHUP builds a new configuration generation (generation.h) beside the
 * running one and swaps it in only when all of it is good.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
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
#include "admin.h"
#include "config.h"
#include "pool.h"
#include "generation.h"
#include "probe.h"
#include "supervisor.h"
#include "accesslog.h"
#include "http.h"
#include "stats.h"
#include "tls.h"

#define GATEWAY_DRAIN_MS	10000	/* in-flight requests at exit */
#define GATEWAY_STOP_MS		5000	/* children after SIGTERM */

struct gateway {
	const char		*gw_file;
	struct gw_config	*gw_conf;	/* the first generation's */
	struct event_base	*gw_base;
	struct supervisor	*gw_sup;
	struct probe		*gw_probe;
	struct http_server	*gw_http;
	struct admin		*gw_admin;
	int			 gw_draining;
	struct event		*gw_drain_ev;
};

static void
gateway_usage(void)
{
	fprintf(stderr, "usage: agora-gateway [-dnv] [-f file] "
	    "[-D name=value]\n");
	exit(1);
}

/* The pool settings a reload can keep a pool across. */
static int
gateway_pool_same(const struct gw_service *a, const struct gw_service *b)
{
	const struct gw_string	*x, *y;

	if (strcmp(a->svc_socket, b->svc_socket) != 0 ||
	    a->svc_max_conns != b->svc_max_conns ||
	    a->svc_processes != b->svc_processes ||
	    (a->svc_program == NULL) != (b->svc_program == NULL) ||
	    a->svc_queue != b->svc_queue ||
	    a->svc_queue_timeout != b->svc_queue_timeout ||
	    a->svc_connect_timeout != b->svc_connect_timeout ||
	    a->svc_balance != b->svc_balance ||
	    a->svc_fail_max != b->svc_fail_max ||
	    a->svc_fail_window != b->svc_fail_window ||
	    a->svc_fail_down != b->svc_fail_down)
		return 0;
	for (x = TAILQ_FIRST(&a->svc_servers), y = TAILQ_FIRST(&b->svc_servers);
	    x != NULL && y != NULL; x = TAILQ_NEXT(x, s_entry),
	    y = TAILQ_NEXT(y, s_entry))
		if (strcmp(x->s_value, y->s_value) != 0)
			return 0;
	return x == NULL && y == NULL;
}

/*
 * A pool for svc.  An external pool (not spawned) that leaves "max conns"
 * at its default learns it from FCGI_GET_VALUES (probe.c): 0 says so.
 */
static struct pool *
gateway_pool_new(const struct gw_service *svc, const char **errstr)
{
	const struct gw_string	*s;
	struct pool		*p;
	int			 max;

	max = svc->svc_max_conns;
	if (svc->svc_program == NULL && svc->svc_processes == 1 && max == 1)
		max = 0;
	if ((p = pool_new(svc->svc_name, svc->svc_socket, max, svc->svc_queue,
	    svc->svc_queue_timeout, svc->svc_connect_timeout, errstr)) == NULL)
		return NULL;
	TAILQ_FOREACH(s, &svc->svc_servers, s_entry) {
		if (pool_add_server(p, s->s_value, max, errstr) == -1) {
			pool_free(p);
			return NULL;
		}
	}
	pool_set_balance(p, svc->svc_balance == GW_BALANCE_ROUNDROBIN ?
	    POOL_ROUNDROBIN : svc->svc_balance == GW_BALANCE_LEASTCONN ?
	    POOL_LEASTCONN : POOL_HASH);
	pool_set_health(p, svc->svc_fail_max, svc->svc_fail_window,
	    svc->svc_fail_down);
	return p;
}

/*
 * A generation for conf (which it takes), sharing the pools of old's
 * services that did not change.  NULL, with the config freed and the
 * reason logged, when a pool cannot be made.
 */
static struct generation *
gateway_generation(struct gw_config *conf, struct generation *old)
{
	struct generation	*gen;
	struct gw_service	*svc, *osvc;
	struct pool		*p;
	const char		*errstr = NULL;

	gen = generation_new(conf);
	TAILQ_FOREACH(svc, &conf->conf_services, svc_entry) {
		if (svc->svc_socket == NULL)
			continue;	/* a helper: no pool */
		p = NULL;
		if (old != NULL && (osvc = config_service(old->gen_conf,
		    svc->svc_name)) != NULL && osvc->svc_socket != NULL &&
		    gateway_pool_same(svc, osvc) &&
		    (p = generation_pool(old, osvc)) != NULL)
			pool_ref(p);
		else if ((p = gateway_pool_new(svc, &errstr)) == NULL) {
			log_warnx("service %s: socket %s: %s", svc->svc_name,
			    svc->svc_socket, errstr);
			generation_release(gen);
			return NULL;
		}
		generation_add_pool(gen, svc, p);
	}
	generation_breakers(gen);
	generation_jwks(gen);
	return gen;
}

/* What a reload cannot change: the listeners live as long as we do. */
static void
gateway_reload_warn(struct gw_config *old, struct gw_config *new)
{
	struct gw_listen	*a, *b;
	int			 same = 1;

	for (a = TAILQ_FIRST(&old->conf_listens),
	    b = TAILQ_FIRST(&new->conf_listens); a != NULL && b != NULL;
	    a = TAILQ_NEXT(a, l_entry), b = TAILQ_NEXT(b, l_entry))
		if (strcmp(a->l_addr, b->l_addr) != 0 ||
		    strcmp(a->l_port, b->l_port) != 0 || a->l_tls != b->l_tls ||
		    (a->l_redirect == NULL) != (b->l_redirect == NULL) ||
		    (a->l_redirect != NULL &&
		    strcmp(a->l_redirect, b->l_redirect) != 0))
			same = 0;
	if (!same || a != NULL || b != NULL)
		log_warnx("reload: listeners changed; restart the gateway "
		    "to apply that");
	if (old->conf_log_syslog != new->conf_log_syslog ||
	    old->conf_log_facility != new->conf_log_facility ||
	    (old->conf_error_log == NULL) != (new->conf_error_log == NULL) ||
	    (old->conf_error_log != NULL &&
	    strcmp(old->conf_error_log, new->conf_error_log) != 0))
		log_warnx("reload: the error log changed; restart the "
		    "gateway to apply that");
	if (old->conf_access_log_json != new->conf_access_log_json)
		log_warnx("reload: the access log format changed; restart "
		    "the gateway to apply that");
	if (old->conf_workers != new->conf_workers)
		log_warnx("reload: workers changed; restart the gateway to "
		    "apply that");
	if ((old->conf_user == NULL) != (new->conf_user == NULL) ||
	    (old->conf_user != NULL &&
	    strcmp(old->conf_user, new->conf_user) != 0))
		log_warnx("reload: user changed; restart the gateway to "
		    "apply that");
}

/*
 * SIGHUP: parse and check the file again (rules included).  A broken one
 * is refused and the running generation keeps serving.  A good one gets
 * its pools, its supervised processes (replaced gracefully where they
 * changed) and its probes, then becomes current; requests in flight
 * finish on the generation they started with.
 */
static void
gateway_reload(struct gateway *gw)
{
	struct generation	*old, *gen;
	struct gw_config	*conf;
	struct gw_service	*svc;
	const char		*errstr = NULL;

	log_info("SIGHUP: reloading %s", gw->gw_file);
	if ((conf = config_parse(gw->gw_file)) == NULL) {
		log_warnx("reload: %s has errors; keeping the running "
		    "configuration", gw->gw_file);
		return;
	}
	/* new certificates are loaded here: a bad one keeps the old */
	if (config_check(conf) == -1 || tls_config_load(conf) == -1) {
		log_warnx("reload: %s failed the check; keeping the running "
		    "configuration", gw->gw_file);
		config_free(conf);
		return;
	}
	old = generation_acquire();
	gateway_reload_warn(old->gen_conf, conf);
	if ((gen = gateway_generation(conf, old)) == NULL) {
		log_warnx("reload: keeping the running configuration");
		generation_release(old);
		return;
	}
	if (gw->gw_sup != NULL) {
		TAILQ_FOREACH(svc, &conf->conf_services, svc_entry)
			if (svc->svc_program != NULL &&
			    supervisor_update(gw->gw_sup, svc, &errstr) == -1)
				log_warnx("reload: service %s: %s; its old "
				    "processes keep running", svc->svc_name,
				    errstr);
		supervisor_prune(gw->gw_sup, conf);
	}
	probe_stop(gw->gw_probe);
	generation_swap(gen);
	probe_start(gw->gw_probe, gen);
	log_info("reloaded: generation %lu replaces %lu", gen->gen_id,
	    old->gen_id);
	generation_release(old);
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
		admin_draining(gw->gw_admin);
		http_server_drain(gw->gw_http, GATEWAY_DRAIN_MS);
		gw->gw_drain_ev = event_new(gw->gw_base, -1, EV_PERSIST,
		    gateway_drain_tick, gw);
		event_add(gw->gw_drain_ev, &tv);
		break;
	case SIGHUP:
		if (gw->gw_draining)
			log_warnx("SIGHUP: draining, not reloading");
		else
			gateway_reload(gw);
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
gateway_pidfile(const char *path)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		fatal("pidfile %s", path);
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) == EOF)
		fatal("pidfile %s", path);
}

/*
 * After binding and opening the logs: become user (and its groups) for
 * good.  Only root can, and only root needs to.  The pidfile is given to
 * the user so that it can still be removed at exit.
 */
static void
gateway_privdrop(const char *user, const char *pidfile)
{
	struct passwd	*pw;

	if (user == NULL || geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("user %s: no such user", user);
	if (pidfile != NULL && chown(pidfile, pw->pw_uid, pw->pw_gid) == -1)
		log_warn("pidfile %s: chown", pidfile);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", user);
	if (setresuid(0, 0, 0) != -1)
		fatalx("dropped privileges to %s, but could become root "
		    "again", user);
	log_info("running as %s (uid %d)", user, (int)pw->pw_uid);
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
	struct generation	*gen;
	const char		*errstr = NULL;
	char			*pidfile = NULL;
	long			 ncpu;
	size_t			 i;
	int			 ch, noaction = 0, verbose = 0, nworkers;
	int			 foreground = 0;

	log_init("agora-gateway", 0);
	while ((ch = getopt(argc, argv, "dD:f:nv")) != -1) {
		switch (ch) {
		case 'd':
			/* never daemonizes anyway; -d also keeps stderr */
			foreground = 1;
			break;
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
	gw.gw_file = conffile;
	if ((gw.gw_conf = config_parse(conffile)) == NULL)
		exit(1);
	if (config_check(gw.gw_conf) == -1 ||
	    tls_config_load(gw.gw_conf) == -1)
		exit(1);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (!foreground && gw.gw_conf->conf_error_log != NULL &&
	    log_open(gw.gw_conf->conf_error_log) == -1)
		fatal("error log %s", gw.gw_conf->conf_error_log);
	/* -d keeps stderr */
	if (!foreground && gw.gw_conf->conf_log_syslog)
		log_syslog(gw.gw_conf->conf_log_facility);
	accesslog_json(gw.gw_conf->conf_access_log_json);
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
	if ((gen = gateway_generation(gw.gw_conf, NULL)) == NULL)
		fatalx("cannot set up the service pools");
	/*
	 * http.c reads gw_conf's listener and connection limits for as
	 * long as it runs; each request takes the current generation, and
	 * the first one goes (pools, breakers) once a reload replaces it.
	 */
	generation_keep_conf(gen);
	gw.gw_http = http_server_new(gw.gw_conf, nworkers);
	generation_swap(gen);
	if (http_server_listen(gw.gw_http, &errstr) == -1)
		fatalx("cannot listen: %s", errstr);

	gw.gw_sup = supervisor_new(gw.gw_base);
	gw.gw_probe = probe_new(gw.gw_base);
	/* bound before any process is spawned: a failure leaves no child */
	gw.gw_admin = admin_new(gw.gw_base, gw.gw_conf, gw.gw_sup,
	    gw.gw_probe);
	if (admin_listen(gw.gw_admin, &errstr) == -1)
		fatalx("%s", errstr);
	TAILQ_FOREACH(svc, &gw.gw_conf->conf_services, svc_entry) {
		if (svc->svc_program == NULL)
			continue;
		if (supervisor_add(gw.gw_sup, svc, &errstr) == -1)
			fatalx("service %s: %s", svc->svc_name, errstr);
	}
	probe_start(gw.gw_probe, gen);

	if (gw.gw_conf->conf_pidfile != NULL) {
		pidfile = xstrdup(gw.gw_conf->conf_pidfile);
		gateway_pidfile(pidfile);
	}
	gateway_privdrop(gw.gw_conf->conf_user, pidfile);

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

	log_info("started: %d worker%s, %d pool%s", nworkers,
	    nworkers == 1 ? "" : "s", gen->gen_npools,
	    gen->gen_npools == 1 ? "" : "s");

	event_base_dispatch(gw.gw_base);

	/* drained (or a second signal): stop the children, then free */
	http_server_drain(gw.gw_http, 0);
	probe_free(gw.gw_probe);
	supervisor_stop(gw.gw_sup, GATEWAY_STOP_MS);
	http_server_free(gw.gw_http);
	generation_swap(NULL);
	supervisor_free(gw.gw_sup);
	admin_free(gw.gw_admin);
	stats_free();
	config_free(gw.gw_conf);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(sigev[i]);
	if (gw.gw_drain_ev != NULL)
		event_free(gw.gw_drain_ev);
	/* the one written at startup: a reload does not move it */
	if (pidfile != NULL && unlink(pidfile) == -1)
		log_warn("pidfile %s", pidfile);
	free(pidfile);
	event_base_free(gw.gw_base);
	accesslog_close();
	log_info("exiting");
	return 0;
}
