/*
 * The HTTP/1.1 front on libevent's evhttp: `workers` event-loop threads,
 * each with its own event_base, evhttp and SO_REUSEPORT listener per
 * `listen on`.  A request is checked (header size, smuggling), given a
 * request id, routed with the rules of the current configuration
 * generation (generation.h; held to the end of the request), and handed
 * to the FastCGI upstream of its service in that generation; errors the gateway answers itself are
 * application/problem+json.
 */
#ifndef AGORA_PROXY_HTTP_H
#define AGORA_PROXY_HTTP_H

#include <stdint.h>

struct evhttp_request;
struct gw_config;
struct gw_service;
struct http_server;
struct pool;

/*
 * A server for conf with nworkers loop threads.  conf must outlive it.
 * evthread_use_pthreads() must have been called.  Freed with
 * http_server_free().
 */
struct http_server	*http_server_new(struct gw_config *conf, int nworkers);
/*
 * Creates each loop's base and binds its listeners (SO_REUSEPORT, so all
 * loops share each address).  Returns 0, or -1 with *errstr.
 */
int			 http_server_listen(struct http_server *,
			    const char **errstr);
/* Starts the loop threads. */
void			 http_server_start(struct http_server *);
/*
 * From any thread: every loop stops accepting, answers what is in flight
 * (with Connection: close), and exits when idle or after timeout_ms.
 */
void			 http_server_drain(struct http_server *,
			    int timeout_ms);
/* Loop threads still running. */
int			 http_server_running(struct http_server *);
/* Joins the threads (drain first) and frees everything. */
void			 http_server_free(struct http_server *);

/*
 * Answers req with an application/problem+json body
 * {"type":"about:blank","title":..,"status":..,"detail":..}
 * (Retry-After: 1 with 503).  req belongs to evhttp again afterwards.
 */
void			 http_problem(struct evhttp_request *, int status,
			    const char *detail);

/* 16 lowercase hex characters and a NUL from the xorshift state *rng. */
void			 http_request_id(uint64_t *rng, char out[17]);
/* 1 when a client's X-Request-Id is [A-Za-z0-9._-]{1,64}. */
int			 http_request_id_ok(const char *);

#endif
