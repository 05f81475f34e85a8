/*
 * The admin listener ("admin listen on ..."), on the main thread's event
 * base: GET /metrics (Prometheus text, stats.h's registry), /status (a
 * self-contained live HTML dashboard), /status.json (its data), /healthz
 * (liveness: always "ok") and /readyz (200 when the configuration is
 * loaded, every spawned service has a process running and every pool a
 * server up; else 503 problem+json saying what is not ready).  Other
 * paths get 404, other methods 405, both problem+json.
 *
 * The supervisor and the probe it reports on may be NULL; they must
 * outlive the admin.  Memory: admin_new() returns an admin freed with
 * admin_free() (NULL is fine), which closes its listeners.
 */
#ifndef AGORA_PROXY_ADMIN_H
#define AGORA_PROXY_ADMIN_H

struct admin;
struct event_base;
struct gw_config;
struct probe;
struct supervisor;

/* conf: only its admin listeners are read, here and in admin_listen(). */
struct admin	*admin_new(struct event_base *,
		    const struct gw_config *conf, struct supervisor *,
		    struct probe *);
/*
 * Binds every "admin listen on" address of conf (none: nothing to do).
 * Returns 0, or -1 with *errstr (valid until admin_free()).
 */
int		 admin_listen(struct admin *, const char **errstr);
/* The gateway is shutting down: /readyz answers 503 from now on. */
void		 admin_draining(struct admin *);
void		 admin_free(struct admin *);

#endif
