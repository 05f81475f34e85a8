/*
 * HTTP/1.1 front: loop threads, request checks, routing, problem+json,
 * and the access log line of every request.
 *
 * evhttp (libevent 2.1) reads a whole request, body included, before our
 * callback runs; max body bounds that.  Its own error answers (413 for a
 * body or header block over its hard limits, 400 for unparsable
 * requests) are plain HTML and are not access-logged: our header limit
 * (431) is checked below a looser hard limit given to evhttp.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "rules.h"
#include "pool.h"
#include "upstream.h"
#include "accesslog.h"
#include "http.h"

#define HTTP_BACKLOG		1024
#define HTTP_MAX_LISTENERS	16
#define HTTP_DRAIN_TICK_MS	50

struct http_service {
	const struct gw_service	*hs_svc;
	struct pool		*hs_pool;
};

struct http_thread {
	struct http_server	*ht_srv;
	int			 ht_id;
	pthread_t		 ht_tid;
	int			 ht_started;
	struct event_base	*ht_base;
	struct evhttp		*ht_http;
	struct evhttp_bound_socket *ht_bound[HTTP_MAX_LISTENERS];
	int			 ht_nbound;
	struct event		*ht_ctl;	/* drain request */
	struct event		*ht_tick;	/* log flush, drain check */
	struct accesslog_buf	*ht_log;
	uint64_t		 ht_rng;
	int			 ht_inflight;
	int			 ht_draining;
	struct timeval		 ht_deadline;
};

struct http_server {
	struct gw_config	*hs_conf;
	struct http_thread	*hs_threads;
	int			 hs_nthreads;
	struct http_service	*hs_svcs;
	int			 hs_nsvcs;
	int			 hs_drain_ms;
	int			 hs_running;	/* atomic */
	/* SERVER_ADDR/PORT when one fixed address is configured */
	char			 hs_addr[INET6_ADDRSTRLEN];
	char			 hs_port[8];
};

/* One request in flight through the upstream. */
struct http_req {
	struct upstream		 hr_up;
	struct upstream_env	 hr_env;
	struct http_thread	*hr_thr;
	struct evhttp_request	*hr_req;
	const char		*hr_service;
	time_t			 hr_time;
	int			 hr_closing;	/* in http_closecb */
	int			 hr_attached;	/* evhttp frees the request */
	char			 hr_rid[65];
	char			 hr_host[256];
	char			 hr_saddr[INET6_ADDRSTRLEN];
	char			 hr_sport[8];
};

static const struct {
	int		 status;
	const char	*title;
} http_titles[] = {
	{ 400, "Bad Request" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 413, "Content Too Large" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }
};

static void	*http_thread_main(void *);
static void	 http_handle(struct evhttp_request *, void *);
static void	 http_upstream_done(struct upstream *, enum upstream_end,
		    void *);
static void	 http_closecb(struct evhttp_connection *, void *);

static const char *
http_title(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof(http_titles) / sizeof(http_titles[0]); i++)
		if (http_titles[i].status == status)
			return http_titles[i].title;
	return status >= 500 ? "Server Error" : "Client Error";
}

/* ----------------------------------------------------------- request ids */

void
http_request_id(uint64_t *rng, char out[17])
{
	static const char	 hex[] = "0123456789abcdef";
	uint64_t		 x = *rng;
	int			 i;

	/* xorshift64*: cheap, per thread, seeded from getrandom() */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	x *= 0x2545F4914F6CDD1DULL;
	for (i = 15; i >= 0; i--, x >>= 4)
		out[i] = hex[x & 0xf];
	out[16] = '\0';
}

int
http_request_id_ok(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n >= 64)
			return 0;
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') ||
		    s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return 0;
	}
	return n > 0;
}

/* ---------------------------------------------------------- problem+json */

static void
http_json_str(struct evbuffer *b, const char *s)
{
	unsigned char	 c;

	evbuffer_add(b, "\"", 1);
	for (; (c = *s) != '\0'; s++) {
		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* The problem+json body; the caller frees it. */
static struct evbuffer *
http_problem_body(struct evhttp_request *req, int status, const char *detail)
{
	struct evkeyvalq	*out;
	struct evbuffer		*b;

	out = evhttp_request_get_output_headers(req);
	evhttp_remove_header(out, "Content-Type");
	evhttp_add_header(out, "Content-Type", "application/problem+json");
	if (status == 503)
		evhttp_add_header(out, "Retry-After", "1");
	b = evbuffer_new();
	evbuffer_add_printf(b, "{\"type\":\"about:blank\",\"title\":\"%s\","
	    "\"status\":%d,\"detail\":", http_title(status), status);
	http_json_str(b, detail);
	evbuffer_add(b, "}\n", 2);
	return b;
}

void
http_problem(struct evhttp_request *req, int status, const char *detail)
{
	struct evbuffer	*b;

	b = http_problem_body(req, status, detail);
	evhttp_send_reply(req, status, http_title(status), b);
	evbuffer_free(b);
}

/* ------------------------------------------------------------ access log */

static void
http_log(struct http_req *hr, int status, size_t bytes, double ut)
{
	struct evhttp_request	*req = hr->hr_req;
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct accesslog_entry	 e;

	e.ae_remote = hr->hr_env.ue_remote_addr;
	e.ae_time = hr->hr_time;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:	e.ae_method = "GET"; break;
	case EVHTTP_REQ_POST:	e.ae_method = "POST"; break;
	case EVHTTP_REQ_HEAD:	e.ae_method = "HEAD"; break;
	case EVHTTP_REQ_PUT:	e.ae_method = "PUT"; break;
	case EVHTTP_REQ_DELETE:	e.ae_method = "DELETE"; break;
	case EVHTTP_REQ_OPTIONS: e.ae_method = "OPTIONS"; break;
	case EVHTTP_REQ_PATCH:	e.ae_method = "PATCH"; break;
	default:		e.ae_method = "OTHER"; break;
	}
	e.ae_uri = evhttp_request_get_uri(req);
	e.ae_major = req->major;
	e.ae_minor = req->minor;
	e.ae_status = status;
	e.ae_bytes = bytes;
	e.ae_referer = evhttp_find_header(in, "Referer");
	e.ae_agent = evhttp_find_header(in, "User-Agent");
	e.ae_rid = hr->hr_rid;
	e.ae_ut = ut;
	e.ae_service = hr->hr_service;
	accesslog_log(hr->hr_thr->ht_log, &e);
}

static void
http_req_free(struct http_req *hr)
{
	hr->hr_thr->ht_inflight--;
	free(hr);
}

/* Gateway's own answer: log, send, free. */
static void
http_reply_problem(struct http_req *hr, int status, const char *detail,
    double ut)
{
	struct evbuffer	*b;

	b = http_problem_body(hr->hr_req, status, detail);
	/* logged first: the send may free the request */
	http_log(hr, status, evbuffer_get_length(b), ut);
	evhttp_send_reply(hr->hr_req, status, http_title(status), b);
	evbuffer_free(b);
	http_req_free(hr);
}

/* --------------------------------------------------------------- routing */

static struct pool *
http_pool(struct http_server *srv, const struct gw_service *svc)
{
	int	 i;

	for (i = 0; i < srv->hs_nsvcs; i++)
		if (srv->hs_svcs[i].hs_svc == svc)
			return srv->hs_svcs[i].hs_pool;
	return NULL;
}

/* SERVER_ADDR and SERVER_PORT of the connection req came on. */
static void
http_local_addr(struct http_req *hr, struct evhttp_connection *evcon)
{
	struct http_server	*srv = hr->hr_thr->ht_srv;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd;

	if (srv->hs_addr[0] != '\0') {
		hr->hr_env.ue_server_addr = srv->hs_addr;
		hr->hr_env.ue_server_port = srv->hs_port;
		return;
	}
	hr->hr_env.ue_server_addr = hr->hr_saddr;
	hr->hr_env.ue_server_port = hr->hr_sport;
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, hr->hr_saddr,
	    sizeof(hr->hr_saddr), hr->hr_sport, sizeof(hr->hr_sport),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		strcpy(hr->hr_saddr, "");
		strcpy(hr->hr_sport, "");
	}
}

/* SERVER_NAME: the Host header without its port, when it looks sane. */
static void
http_server_name(struct http_req *hr, const char *host)
{
	size_t	 i, n;

	hr->hr_env.ue_server_name = hr->hr_env.ue_server_addr;
	if (host == NULL)
		return;
	for (n = 0; host[n] != '\0' && n < sizeof(hr->hr_host) - 1; n++) {
		char c = host[n];

		if (c == ':' && host[0] != '[')
			break;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '[' || c == ']' || c == ':'))
			return;
		if (c == ']') {
			n++;
			break;
		}
	}
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		hr->hr_host[i] = host[i];
	hr->hr_host[n] = '\0';
	hr->hr_env.ue_server_name = hr->hr_host;
}

static void
http_handle(struct evhttp_request *req, void *arg)
{
	struct http_thread		*t = arg;
	struct http_server		*srv = t->ht_srv;
	struct gw_config		*conf = srv->hs_conf;
	struct evhttp_connection	*evcon;
	struct evkeyvalq		*in, *out;
	struct evkeyval			*kv;
	const struct evhttp_uri		*uri;
	const struct rule_route		*route;
	struct http_req			*hr;
	struct pool			*pool;
	struct timeval			 now;
	const char			*path, *query, *rid = NULL, *host = NULL;
	char				*addr;
	ev_uint16_t			 port;
	size_t				 hsize = 0;
	int				 ncl = 0, te = 0;

	hr = xmalloc(sizeof(*hr));
	memset(&hr->hr_env, 0, sizeof(hr->hr_env));
	hr->hr_thr = t;
	hr->hr_req = req;
	hr->hr_service = NULL;
	hr->hr_closing = 0;
	hr->hr_attached = 0;
	t->ht_inflight++;
	event_base_gettimeofday_cached(t->ht_base, &now);
	hr->hr_time = now.tv_sec;

	evcon = evhttp_request_get_connection(req);
	evhttp_connection_get_peer(evcon, &addr, &port);
	hr->hr_env.ue_remote_addr = addr;
	hr->hr_env.ue_remote_port = port;

	in = evhttp_request_get_input_headers(req);
	TAILQ_FOREACH(kv, in, next) {
		hsize += strlen(kv->key) + strlen(kv->value) + 4;
		switch (kv->key[0]) {
		case 'c': case 'C':
			if (strcasecmp(kv->key, "Content-Length") == 0)
				ncl++;
			break;
		case 't': case 'T':
			if (strcasecmp(kv->key, "Transfer-Encoding") == 0)
				te++;
			else if (strcasecmp(kv->key, "traceparent") == 0)
				hr->hr_env.ue_traceparent = kv->value;
			break;
		case 'x': case 'X':
			if (rid == NULL &&
			    strcasecmp(kv->key, "X-Request-Id") == 0)
				rid = kv->value;
			break;
		case 'h': case 'H':
			if (host == NULL && strcasecmp(kv->key, "Host") == 0)
				host = kv->value;
			break;
		}
	}
	if (rid != NULL && http_request_id_ok(rid))
		strcpy(hr->hr_rid, rid);
	else
		http_request_id(&t->ht_rng, hr->hr_rid);
	hr->hr_env.ue_request_id = hr->hr_rid;
	out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "X-Request-Id", hr->hr_rid);
	if (t->ht_draining)
		evhttp_add_header(out, "Connection", "close");

	http_local_addr(hr, evcon);
	http_server_name(hr, host);

	if (hsize > conf->conf_max_header) {
		http_reply_problem(hr, 431, "request header fields exceed "
		    "the limit", -1);
		return;
	}
	if (ncl > 1 || (ncl > 0 && te > 0)) {
		/* a request another hop may frame differently: no reuse */
		evhttp_add_header(out, "Connection", "close");
		http_reply_problem(hr, 400, "ambiguous request framing "
		    "(Content-Length with Transfer-Encoding, or twice)", -1);
		return;
	}

	uri = evhttp_request_get_evhttp_uri(req);
	path = uri ? evhttp_uri_get_path(uri) : NULL;
	query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (path == NULL || path[0] != '/') {
		http_reply_problem(hr, 400, "request target is not an "
		    "absolute path", -1);
		return;
	}
	route = conf->conf_rules ? rules_match(conf->conf_rules, path,
	    strlen(path)) : NULL;
	if (route == NULL || route->r_service == NULL ||
	    (pool = http_pool(srv, route->r_service)) == NULL) {
		char	 detail[300];

		snprintf(detail, sizeof(detail), "no route for %.256s", path);
		http_reply_problem(hr, 404, detail, -1);
		return;
	}
	hr->hr_service = route->r_service->svc_name;
	hr->hr_env.ue_script_name = route->r_strip;
	hr->hr_env.ue_script_name_len = route->r_strip_len;
	hr->hr_env.ue_path_info = path + route->r_strip_len;
	hr->hr_env.ue_path_info_len = strlen(path) - route->r_strip_len;
	hr->hr_env.ue_query = query ? query : "";

	evhttp_connection_set_closecb(evcon, http_closecb, hr);
	/* may finish (and free hr) before returning */
	upstream_start(&hr->hr_up, req, t->ht_base, pool, hr->hr_service,
	    &hr->hr_env, route->r_service->svc_read_timeout,
	    http_upstream_done, hr);
}

/* The client connection is going away while the upstream runs. */
static void
http_closecb(struct evhttp_connection *evcon, void *arg)
{
	struct http_req	*hr = arg;

	/* still attached: evhttp frees the request with the connection */
	hr->hr_closing = 1;
	hr->hr_attached = evhttp_request_get_connection(hr->hr_req) != NULL;
	upstream_abort(&hr->hr_up);
}

static void
http_upstream_done(struct upstream *u, enum upstream_end end, void *arg)
{
	struct http_req			*hr = arg;
	struct evhttp_request		*req = hr->hr_req;
	struct evhttp_connection	*evcon;
	char				 detail[256];

	evcon = evhttp_request_get_connection(req);
	if (evcon != NULL && end != UPSTREAM_END_GONE)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	switch (end) {
	case UPSTREAM_END_OK:
		http_log(hr, u->u_status, u->u_bytes, upstream_time(u));
		evhttp_send_reply_end(req);
		break;
	case UPSTREAM_END_ERROR:
		if (u->u_started) {
			/* the head is out: only cutting the connection
			 * tells the client the body is incomplete */
			http_log(hr, u->u_status, u->u_bytes,
			    upstream_time(u));
			if (evcon != NULL)
				evhttp_connection_free(evcon);
			else
				evhttp_send_reply_end(req);
			break;
		}
		snprintf(detail, sizeof(detail), "service %s: %s",
		    hr->hr_service, u->u_detail);
		http_reply_problem(hr, u->u_status, detail, upstream_time(u));
		return;
	case UPSTREAM_END_GONE:
		/* 499: nginx's "client closed request" */
		http_log(hr, 499, u->u_bytes, upstream_time(u));
		if (hr->hr_closing) {
			if (!hr->hr_attached)
				evhttp_request_free(req);
		} else if (evcon != NULL) {
			/* the upstream saw EOF while queued: close it all */
			evhttp_connection_set_closecb(evcon, NULL, NULL);
			evhttp_connection_free(evcon);
		} else
			evhttp_request_free(req);
		break;
	}
	http_req_free(hr);
}

/* ---------------------------------------------------------- the threads */

/* A numeric address that is not a wildcard. */
static int
http_numeric_host(const char *host)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return a4.s_addr != htonl(INADDR_ANY);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return !IN6_IS_ADDR_UNSPECIFIED(&a6);
	return 0;
}

struct http_server *
http_server_new(struct gw_config *conf, int nworkers)
{
	struct http_server	*srv;
	struct gw_listen	*l;
	int			 i, n = 0;

	srv = xcalloc(1, sizeof(*srv));
	srv->hs_conf = conf;
	srv->hs_nthreads = nworkers > 0 ? nworkers : 1;
	srv->hs_threads = xcalloc(srv->hs_nthreads, sizeof(struct http_thread));
	for (i = 0; i < srv->hs_nthreads; i++) {
		srv->hs_threads[i].ht_srv = srv;
		srv->hs_threads[i].ht_id = i;
	}
	TAILQ_FOREACH(l, &conf->conf_listens, l_entry)
		n++;
	l = TAILQ_FIRST(&conf->conf_listens);
	/* one fixed numeric address: no getsockname() per request */
	if (n == 1 && http_numeric_host(l->l_addr) &&
	    strlen(l->l_port) < sizeof(srv->hs_port)) {
		strcpy(srv->hs_addr, l->l_addr);
		strcpy(srv->hs_port, l->l_port);
	}
	return srv;
}

void
http_server_pool(struct http_server *srv, const struct gw_service *svc,
    struct pool *pool)
{
	srv->hs_svcs = xreallocarray(srv->hs_svcs, srv->hs_nsvcs + 1,
	    sizeof(*srv->hs_svcs));
	srv->hs_svcs[srv->hs_nsvcs].hs_svc = svc;
	srv->hs_svcs[srv->hs_nsvcs].hs_pool = pool;
	srv->hs_nsvcs++;
}

static int
http_bind(struct http_thread *t, const struct gw_listen *l,
    const char **errstr)
{
	struct evconnlistener	*lev;
	struct evhttp_bound_socket *bound;
	struct addrinfo		 hints, *res, *ai;
	const char		*host = l->l_addr;
	int			 error, n = 0;

	if (strcmp(host, "*") == 0)
		host = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((error = getaddrinfo(host, l->l_port, &hints, &res)) != 0) {
		*errstr = gai_strerror(error);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (t->ht_nbound >= HTTP_MAX_LISTENERS) {
			*errstr = "too many listeners";
			break;
		}
		lev = evconnlistener_new_bind(t->ht_base, NULL, NULL,
		    LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
		    HTTP_BACKLOG, ai->ai_addr, ai->ai_addrlen);
		if (lev == NULL) {
			*errstr = strerror(errno);
			break;
		}
		if ((bound = evhttp_bind_listener(t->ht_http, lev)) == NULL) {
			evconnlistener_free(lev);
			*errstr = "evhttp_bind_listener failed";
			break;
		}
		t->ht_bound[t->ht_nbound++] = bound;
		n++;
	}
	freeaddrinfo(res);
	return ai == NULL && n > 0 ? 0 : -1;
}

int
http_server_listen(struct http_server *srv, const char **errstr)
{
	struct gw_config	*conf = srv->hs_conf;
	struct http_thread	*t;
	struct gw_listen	*l;
	struct timeval		 tv;
	size_t			 hard;
	int			 i;

	/* above our own 431 check, so that one answers in most cases */
	hard = conf->conf_max_header * 4;
	if (hard < 16384)
		hard = 16384;
	tv.tv_sec = conf->conf_idle_timeout / 1000;
	tv.tv_usec = (conf->conf_idle_timeout % 1000) * 1000;
	for (i = 0; i < srv->hs_nthreads; i++) {
		t = &srv->hs_threads[i];
		if ((t->ht_base = event_base_new()) == NULL ||
		    (t->ht_http = evhttp_new(t->ht_base)) == NULL) {
			*errstr = "cannot create an event loop";
			return -1;
		}
		evhttp_set_max_headers_size(t->ht_http, hard);
		evhttp_set_max_body_size(t->ht_http, conf->conf_max_body);
		evhttp_set_timeout_tv(t->ht_http, &tv);
		evhttp_set_allowed_methods(t->ht_http, EVHTTP_REQ_GET |
		    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
		    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
		/* a backend without Content-Type gets none, not text/html */
		evhttp_set_default_content_type(t->ht_http, NULL);
		evhttp_set_gencb(t->ht_http, http_handle, t);
		TAILQ_FOREACH(l, &conf->conf_listens, l_entry) {
			if (http_bind(t, l, errstr) == -1) {
				log_warnx("%s: listen on %s port %s: %s",
				    __func__, l->l_addr, l->l_port, *errstr);
				return -1;
			}
		}
		if (getrandom(&t->ht_rng, sizeof(t->ht_rng), 0) !=
		    sizeof(t->ht_rng) || t->ht_rng == 0)
			t->ht_rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)i ^
			    (uint64_t)getpid();
		t->ht_log = accesslog_buf_new();
	}
	return 0;
}

/* Every second: flush the access log; while draining, check for idle. */
static void
http_tick(evutil_socket_t fd, short what, void *arg)
{
	struct http_thread	*t = arg;
	struct timeval		 now;

	accesslog_flush(t->ht_log);
	if (!t->ht_draining)
		return;
	event_base_gettimeofday_cached(t->ht_base, &now);
	if (t->ht_inflight == 0 || timercmp(&now, &t->ht_deadline, >))
		event_base_loopbreak(t->ht_base);
}

static void
http_ctl(evutil_socket_t fd, short what, void *arg)
{
	struct http_thread	*t = arg;
	struct timeval		 tv, now;
	int			 i;

	if (t->ht_draining)
		return;
	t->ht_draining = 1;
	for (i = 0; i < t->ht_nbound; i++)
		evhttp_del_accept_socket(t->ht_http, t->ht_bound[i]);
	t->ht_nbound = 0;
	event_base_gettimeofday_cached(t->ht_base, &now);
	tv.tv_sec = t->ht_srv->hs_drain_ms / 1000;
	tv.tv_usec = (t->ht_srv->hs_drain_ms % 1000) * 1000;
	timeradd(&now, &tv, &t->ht_deadline);
	/* from now on the tick checks often */
	tv.tv_sec = 0;
	tv.tv_usec = HTTP_DRAIN_TICK_MS * 1000;
	event_del(t->ht_tick);
	event_add(t->ht_tick, &tv);
}

static void *
http_thread_main(void *arg)
{
	struct http_thread	*t = arg;

	event_base_dispatch(t->ht_base);
	/* closes idle keep-alive connections; in-flight ones end as 499 */
	evhttp_free(t->ht_http);
	t->ht_http = NULL;
	accesslog_flush(t->ht_log);
	upstream_thread_free();
	__atomic_sub_fetch(&t->ht_srv->hs_running, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

void
http_server_start(struct http_server *srv)
{
	struct http_thread	*t;
	struct timeval		 sec = { 1, 0 };
	int			 i;

	for (i = 0; i < srv->hs_nthreads; i++) {
		t = &srv->hs_threads[i];
		t->ht_ctl = event_new(t->ht_base, -1, 0, http_ctl, t);
		t->ht_tick = event_new(t->ht_base, -1, EV_PERSIST, http_tick,
		    t);
		event_add(t->ht_tick, &sec);
		__atomic_add_fetch(&srv->hs_running, 1, __ATOMIC_SEQ_CST);
		if ((errno = pthread_create(&t->ht_tid, NULL,
		    http_thread_main, t)) != 0)
			fatal("%s: pthread_create", __func__);
		t->ht_started = 1;
	}
}

void
http_server_drain(struct http_server *srv, int timeout_ms)
{
	int	 i;

	srv->hs_drain_ms = timeout_ms;
	for (i = 0; i < srv->hs_nthreads; i++)
		if (srv->hs_threads[i].ht_ctl != NULL)
			event_active(srv->hs_threads[i].ht_ctl, EV_READ, 1);
}

int
http_server_running(struct http_server *srv)
{
	return __atomic_load_n(&srv->hs_running, __ATOMIC_SEQ_CST);
}

void
http_server_free(struct http_server *srv)
{
	struct http_thread	*t;
	int			 i;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->hs_nthreads; i++) {
		t = &srv->hs_threads[i];
		if (t->ht_started)
			pthread_join(t->ht_tid, NULL);
		if (t->ht_http != NULL)
			evhttp_free(t->ht_http);
		if (t->ht_ctl != NULL)
			event_free(t->ht_ctl);
		if (t->ht_tick != NULL)
			event_free(t->ht_tick);
		accesslog_buf_free(t->ht_log);
		if (t->ht_base != NULL)
			event_base_free(t->ht_base);
	}
	free(srv->hs_threads);
	free(srv->hs_svcs);
	free(srv);
}
