/*
 * The process supervisor: spawns each service's pool as N processes that
 * share one listening socket passed as fd 0 (FCGI_LISTENSOCK_FILENO), and
 * restarts a process that exits with exponential backoff (100 ms doubling
 * to 30 s; the backoff resets after a process has stayed up for 10 s).
 * It runs on the main thread's event base and reaps children on SIGCHLD.
 */
#ifndef AGORA_PROXY_SUPERVISOR_H
#define AGORA_PROXY_SUPERVISOR_H

#include <sys/types.h>

struct event_base;
struct gw_service;
struct supervisor;

struct supervisor	*supervisor_new(struct event_base *);

/*
 * Binds the service's socket (a unix path is unlinked first and made mode
 * 0666; "host:port" is a TCP listener) and starts its processes.  Returns
 * 0, or -1 with a message in errstr.
 */
int			 supervisor_add(struct supervisor *,
			    const struct gw_service *, const char **errstr);

/* Number of processes running for a service right now. */
int			 supervisor_running(struct supervisor *,
			    const char *service);
/* Restarts so far, for the metrics. */
unsigned long		 supervisor_restarts(struct supervisor *,
			    const char *service);

/*
 * SIGTERM to every child, wait up to timeout_ms, then SIGKILL the rest and
 * reap them all.  The supervisor restarts nothing after this.
 */
void			 supervisor_stop(struct supervisor *, int timeout_ms);
void			 supervisor_free(struct supervisor *);

#endif
