/*
 * The process supervisor: spawns each service's pool as N processes that
 * share one listening socket passed as fd 0 (FCGI_LISTENSOCK_FILENO), and
 * restarts a process that exits with exponential backoff (100 ms doubling
 * to 30 s; the backoff resets after a process has stayed up for 10 s;
 * a crash loop is logged once per backoff step).
 * It runs on the main thread's event base and reaps children on SIGCHLD.
 */
#ifndef AGORA_PROXY_SUPERVISOR_H
#define AGORA_PROXY_SUPERVISOR_H

#include <sys/types.h>

struct event_base;
struct gw_config;
struct gw_service;
struct supervisor;

struct supervisor	*supervisor_new(struct event_base *);

/*
 * Binds the service's socket (a unix path is unlinked first and made mode
 * 0666; "host:port" is a TCP listener) and starts its processes.  A
 * service without a socket ("socket none": a helper such as agora-relay)
 * gets /dev/null as fd 0.  A service without a program is not ours: a
 * no-op.  Returns 0, or -1 with a message in errstr.
 */
int			 supervisor_add(struct supervisor *,
			    const struct gw_service *, const char **errstr);

/*
 * On reload, for each service with a program: a new one is added; one
 * whose program, arguments, environment, credentials, chdir, socket or
 * process count changed is replaced gracefully: the new processes start
 * (on the same listening socket when the address did not change), and
 * the old ones get SIGTERM half a second later, which a service handles
 * once the request it is answering is done (SIGKILL after 60 s).  An
 * unchanged one keeps running.  -1 with errstr: the old ones keep
 * running.
 */
int			 supervisor_update(struct supervisor *,
			    const struct gw_service *, const char **errstr);
/* Retires the services conf no longer spawns (SIGTERM now). */
void			 supervisor_prune(struct supervisor *,
			    const struct gw_config *conf);

/* Number of processes running for a service right now. */
int			 supervisor_running(struct supervisor *,
			    const char *service);
/* Restarts so far, for the metrics. */
unsigned long		 supervisor_restarts(struct supervisor *,
			    const char *service);
/*
 * Process exits so far, for the metrics: how >= 0 counts exits with that
 * status, how < 0 deaths by signal -how.
 */
unsigned long		 supervisor_exits(struct supervisor *,
			    const char *service, int how);

/*
 * SIGTERM to every child, wait up to timeout_ms, then SIGKILL the rest and
 * reap them all.  The supervisor restarts nothing after this.
 */
void			 supervisor_stop(struct supervisor *, int timeout_ms);
void			 supervisor_free(struct supervisor *);

#endif
