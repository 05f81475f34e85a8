/*
 * Active health checks and FCGI_GET_VALUES discovery, on the main
 * thread's event base.
 *
 * For every server of a pool whose service sets "health check path", a
 * FastCGI GET of that path every interval, on a connection taken from
 * the pool like any request's (so it never starves behind kept-alive
 * connections).  A 2xx or 3xx answer is a success; anything else, a
 * connect failure or no answer within the interval is a failure.  After
 * "fall" failures in a row the server is marked down
 * (pool_server_set_probe()), after "rise" successes up again.  A server
 * starts up.
 *
 * For every server of a pool the gateway does not spawn, one
 * FCGI_GET_VALUES asks for FCGI_MAX_CONNS and FCGI_MAX_REQS; the pool
 * takes the smaller as that server's max conns when the config left it
 * out (pool_server_discovered()).
 */
#ifndef AGORA_PROXY_PROBE_H
#define AGORA_PROXY_PROBE_H

struct event_base;
struct generation;
struct probe;

struct probe	*probe_new(struct event_base *);
/* Starts probing gen's pools (a reference is held while probing). */
void		 probe_start(struct probe *, struct generation *gen);
/* Stops every probe; a check in flight is abandoned. */
void		 probe_stop(struct probe *);
/* Checks done so far (tests, metrics): successes and failures. */
void		 probe_counts(struct probe *, unsigned long *ok,
		    unsigned long *failed);
void		 probe_free(struct probe *);

#endif
