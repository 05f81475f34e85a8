/*
 * HTTP/1.1 front: loop threads, connections, request checks, routing,
 * problem+json, and the access log line of every request.
 *
 * Each loop thread has an evconnlistener per address (SO_REUSEPORT) and
 * drives its connections with raw events and evbuffers: the read event
 * stays enabled for the life of a connection (no epoll_ctl per request),
 * responses are written straight away and the write event is added only
 * when the socket is full.  Requests on a connection are handled one at
 * a time, so pipelined requests are answered in order; their bytes wait
 * in the input buffer (bounded: reading stops beyond it).
 *
 * TLS listeners (tls.h) use the same events: SSL_do_handshake, SSL_read
 * and SSL_write run on the non-blocking fd from these callbacks, and
 * WANT_READ/WANT_WRITE only decide which event waits.  Not libevent's
 * bufferevent_openssl: this front is not built on bufferevents (their
 * per-connection callbacks, watermarks and deferred writes are what the
 * raw events save), and putting TLS connections alone on bufferevents
 * would mean two connection layers.  The plain path pays one predicted
 * branch (c_tls == NULL) in each of the read and write calls.
 *
 * A request body with a Content-Length streams to the upstream as it
 * arrives.  A chunked body is decoded and collected first (at most max
 * body) because CGI needs CONTENT_LENGTH; nginx does the same.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "rules.h"
#include "pool.h"
#include "http_parse.h"
#include "upstream.h"
#include "accesslog.h"
#include "generation.h"
#include "stats.h"
#include "edge.h"
#include "auth.h"
#include "jwt.h"
#include "breaker.h"
#include "luavm.h"
#include "tls.h"
#include "uri.h"
#include "http.h"

#define HTTP_BACKLOG		1024
#define HTTP_MAX_LISTENERS	16
#define HTTP_DRAIN_TICK_MS	50
#define HTTP_READ_MAX		16384
/* unsent response bytes beyond this pause the upstream */
#define HTTP_OUT_HIWAT		(256 * 1024)
#define HTTP_OUT_LOWAT		(64 * 1024)
/* pipelined input held while a request runs */
#define HTTP_IN_MAX		(64 * 1024)
/* after an error answer, how long unread input is drained */
#define HTTP_LINGER_MS		2000
#define HTTP_CLIENT_BUCKETS	1024
/* requests kept for reuse per thread, and the head bytes each can hold */
#define HTTP_REQ_SPARES		16
#define HTTP_REQ_ROOM		4096
#define HTTP_REQ_BLOCK		(sizeof(struct http_req) + HTTP_REQ_ROOM)

struct http_conn;
TAILQ_HEAD(http_conns, http_conn);
struct http_thread;

/* What an evconnlistener accepts for: the thread and the listener. */
struct http_lsn {
	struct http_thread	*hl_thr;
	const struct gw_listen	*hl_listen;	/* in hs_conf */
};

struct http_thread {
	struct http_server	*ht_srv;
	int			 ht_id;
	pthread_t		 ht_tid;
	int			 ht_started;
	struct event_base	*ht_base;
	struct evconnlistener	*ht_lev[HTTP_MAX_LISTENERS];
	struct http_lsn		 ht_lsn[HTTP_MAX_LISTENERS];
	int			 ht_nlev;
	struct event		*ht_ctl;	/* drain request */
	struct event		*ht_tick;	/* log flush, drain check */
	struct accesslog_buf	*ht_log;
	struct http_conns	 ht_conns;
	struct http_field	*ht_fields;	/* parse scratch */
	uint64_t		 ht_rng;
	int			 ht_inflight;	/* connections not idle */
	int			 ht_draining;
	struct timeval		 ht_deadline;
	struct luavm		*ht_lvm;	/* request functions.. */
	struct generation	*ht_lvm_gen;	/* ..of this generation */
	time_t			 ht_date_t;	/* cached Date: value */
	char			 ht_date[40];
	struct http_req		*ht_rspare[HTTP_REQ_SPARES];
	int			 ht_nrspare;
	/* status line, Date, "X-Request-Id: " of the last head made */
	int			 ht_head_ok;
	int			 ht_head_status;
	time_t			 ht_head_t;
	char			 ht_head_reason[64];
	size_t			 ht_head_len;
	char			 ht_head[192];
};

/*
 * A response head assembled on the stack and handed to libevent in one
 * evbuffer_add: a printf per header line cost more than the copying.
 */
struct http_hbuf {
	struct evbuffer		*hb_out;
	size_t			 hb_len;
	char			 hb_buf[2048];
};

/* Connections per client address, shared by every thread. */
struct http_client {
	char			 cl_addr[INET6_ADDRSTRLEN];
	int			 cl_n;
	struct http_client	*cl_next;
};

struct http_server {
	struct gw_config	*hs_conf;
	struct http_thread	*hs_threads;
	int			 hs_nthreads;
	int			 hs_drain_ms;
	int			 hs_running;	/* atomic */
	/* SERVER_ADDR/PORT when one fixed address is configured */
	char			 hs_addr[INET6_ADDRSTRLEN];
	char			 hs_port[8];
	pthread_mutex_t		 hs_clients_mtx;
	struct http_client	*hs_clients[HTTP_CLIENT_BUCKETS];
};

enum http_cstate {
	HC_IDLE,	/* between requests: idle timeout */
	HC_HEAD,	/* part of a head: header timeout */
	HC_BODY,	/* reading the body: body timeout */
	HC_WAIT,	/* body read, the response runs */
	HC_LINGER	/* answered and closing: drain input, then close */
};

enum http_body {
	HB_NONE,
	HB_LENGTH,
	HB_CHUNKED
};

struct http_req;

struct http_conn {
	struct http_thread	*c_thr;
	int			 c_fd;
	enum http_cstate	 c_state;
	struct event		 c_rev;		/* always on */
	struct event		 c_wev;		/* while c_out is stuck */
	struct event		 c_tev;		/* timeouts, deferred close */
	struct evbuffer		*c_in;
	struct evbuffer		*c_out;
	size_t			 c_scan;	/* http_parse_end() resume */
	struct http_req		*c_req;
	int			 c_nreq;
	int			 c_busy;	/* nested callbacks */
	int			 c_dead;	/* free when not busy */
	int			 c_eof;		/* the client sent FIN */
	int			 c_rpaused;
	int			 c_first;	/* no request yet */
	int			 c_inproc;	/* in http_conn_process() */
	struct http_client	*c_client;
	const struct gw_listen	*c_listen;	/* in hs_conf */
	struct tls_conn		*c_tls;		/* NULL: plain */
	unsigned int		 c_tls_ready:1;	/* handshake done */
	unsigned int		 c_tls_peeked:1; /* first byte looked at */
	unsigned int		 c_tls_rww:1;	/* SSL_read wants to write */
	unsigned int		 c_tls_wwr:1;	/* SSL_write wants to read */
	char			 c_addr[INET6_ADDRSTRLEN];
	unsigned int		 c_port;
	char			 c_saddr[INET6_ADDRSTRLEN];
	char			 c_sport[8];
	TAILQ_ENTRY(http_conn)	 c_entry;
};

/* One request, from its head to the end of its response. */
struct http_req {
	struct upstream		 r_up;
	struct upstream_env	 r_env;
	struct http_conn	*r_conn;
	struct http_head	 r_head;
	char			*r_block;	/* NUL-split head */
	size_t			 r_blen;
	const struct gw_service	*r_svc;
	struct pool		*r_pool;
	const char		*r_service;
	struct generation	*r_gen;		/* one reference, or NULL */
	const struct rule_route	*r_route;	/* NULL: none matched */
	struct rule_match	 r_match;	/* captures point in r_block */
	uint64_t		 r_t0;		/* monotonic ns at the head */
	time_t			 r_time;
	enum http_body		 r_body;
	int64_t			 r_left;	/* body bytes to read */
	struct http_chunked	 r_chunk;
	struct evbuffer		*r_cbody;	/* decoded chunked body */
	int			 r_body_done;
	int			 r_upstream;	/* upstream started, not done */
	int			 r_timedout;
	int			 r_close;	/* close after the response */
	int			 r_nobody;	/* HEAD, 1xx, 204, 304 */
	int			 r_head_sent;
	int			 r_chunked_out;
	int64_t			 r_out_left;	/* backend Content-Length */
	int			 r_status;
	size_t			 r_bytes;
	char			 r_rid[65];
	char			 r_host[256];
	char			 r_hkey[128];	/* a cookie's balancing key */
	struct jwt_claims	*r_claims;	/* a verified bearer token */
	struct upstream_param	 r_params[AUTH_NPARAMS];
	char			 r_roles[512];	/* AUTH_ROLES */
	char			 r_xhdrs[1024];	/* RateLimit headers etc. */
	struct breaker		*r_breaker;	/* holds r_ticket */
	struct breaker_ticket	 r_ticket;
	struct luavm_result	*r_lres;	/* a handler's edits */
	struct luavm_result	*r_lres_fb;	/* a fallback function's */
	struct upstream_param	*r_uparams;	/* Lua + auth params */
	const char		*r_path;	/* r_block's or r_dpath, no query */
	char			*r_dpath;	/* normalised path, if not plain */
	const char		*r_upstream_addr; /* the pool's; NULL: none */
	int64_t			 r_connect_ns;	/* pool asked -> connection */
	size_t			 r_plen;
	const char		*r_query;	/* "?..." or NULL */
	char			*r_block2;	/* head after header edits */
	struct http_field	*r_fields2;
	struct http_head	 r_head2;
	size_t			 r_alloc;	/* HTTP_REQ_BLOCK: reusable */
};

#define HTTP_REQ_STR(m)							\
	{ offsetof(struct http_req, m), sizeof(((struct http_req *)0)->m) }

/*
 * The request's strings, in the order they are declared: a new request
 * clears only their first byte (each is a C string written before it is
 * read further), and everything else in the struct.
 */
static const struct {
	size_t	 off;
	size_t	 len;
} http_req_strs[] = {
	HTTP_REQ_STR(r_rid),
	HTTP_REQ_STR(r_host),
	HTTP_REQ_STR(r_hkey),
	HTTP_REQ_STR(r_roles),
	HTTP_REQ_STR(r_xhdrs)
};
_Static_assert(offsetof(struct http_req, r_rid) <
    offsetof(struct http_req, r_host) &&
    offsetof(struct http_req, r_host) < offsetof(struct http_req, r_hkey) &&
    offsetof(struct http_req, r_hkey) < offsetof(struct http_req, r_roles) &&
    offsetof(struct http_req, r_roles) < offsetof(struct http_req, r_xhdrs),
    "http_req_strs must follow the declaration order");

static const struct {
	int		 status;
	const char	*title;
} http_titles[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 206, "Partial Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" },
	{ 428, "Precondition Required" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" }
};

static void	*http_thread_main(void *);
static void	 http_conn_process(struct http_conn *);
static void	 http_conn_flush(struct http_conn *);
static void	 http_conn_kill(struct http_conn *);
static void	 http_conn_free(struct http_conn *);
static void	 http_conn_timer(struct http_conn *, int ms);
static void	 http_conn_linger(struct http_conn *);
static void	 http_client_put(struct http_server *, struct http_client *);
static void	 http_req_end(struct http_req *);
static void	 http_answer_hdrs(struct http_conn *, struct http_req *, int,
		    const char *, double, const char *);
static void	 http_answer_body(struct http_conn *, struct http_req *, int,
		    const char *, struct evbuffer *, double, const char *);
static void	 http_upstream_done(struct upstream *, enum upstream_end,
		    void *);
static void	 http_up_head(void *, int, const char *, struct evkeyvalq *);
static int	 http_up_body(void *, struct evbuffer *, int);
static void	 http_up_more(void *);

static const struct upstream_ops http_upstream_ops = {
	http_up_head, http_up_body, http_up_more
};

static const char *
http_title(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof(http_titles) / sizeof(http_titles[0]); i++)
		if (http_titles[i].status == status)
			return http_titles[i].title;
	return status >= 500 ? "Server Error" : status >= 400 ?
	    "Client Error" : "Unknown";
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

static void
http_problem_json(struct evbuffer *b, int status, const char *detail)
{
	evbuffer_add_printf(b, "{\"type\":\"about:blank\",\"title\":\"%s\","
	    "\"status\":%d,\"detail\":", http_title(status), status);
	http_json_str(b, detail);
	evbuffer_add(b, "}\n", 2);
}

/* For evhttp (the admin listener). */
void
http_problem(struct evhttp_request *req, int status, const char *detail)
{
	struct evkeyvalq	*out;
	struct evbuffer		*b;

	out = evhttp_request_get_output_headers(req);
	evhttp_remove_header(out, "Content-Type");
	evhttp_add_header(out, "Content-Type", "application/problem+json");
	if (status == 503)
		evhttp_add_header(out, "Retry-After", "1");
	b = evbuffer_new();
	http_problem_json(b, status, detail);
	evhttp_send_reply(req, status, http_title(status), b);
	evbuffer_free(b);
}

/* ------------------------------------------------------------ access log */

static uint64_t
http_now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The route's label for stats: its name, else its pattern; "-": none. */
static const char *
http_route_name(const struct http_req *r)
{
	if (r->r_route == NULL)
		return "-";
	return r->r_route->r_name != NULL ? r->r_route->r_name :
	    r->r_route->r_prefix;
}

static void
http_log(struct http_conn *c, struct http_req *r, int status, size_t bytes,
    double ut)
{
	struct accesslog_entry	 e;
	const char		*b;
	uint64_t		 total;

	memset(&e, 0, sizeof(e));
	e.ae_remote = c->c_addr;
	e.ae_status = status;
	e.ae_bytes = bytes;
	e.ae_ut = ut;
	if (c->c_tls != NULL && c->c_tls_ready) {
		struct tls_info	 ti;

		tls_conn_info(c->c_tls, &ti);
		e.ae_tls = ti.ti_protocol;
	}
	if (r == NULL) {
		/* no request could be read */
		e.ae_time = time(NULL);
		e.ae_method = "-";
		e.ae_uri = "-";
		e.ae_major = e.ae_minor = 1;
		e.ae_rid = "-";
		accesslog_log(c->c_thr->ht_log, &e);
		stats_request("-", "-", status, 0, 0, -1);
		return;
	}
	b = r->r_block;
	e.ae_time = r->r_time;
	e.ae_method = b + r->r_head.hh_method;
	e.ae_uri = b + r->r_head.hh_target;
	e.ae_major = r->r_head.hh_major;
	e.ae_minor = r->r_head.hh_minor;
	if (r->r_head.hh_referer != -1)
		e.ae_referer = b +
		    r->r_head.hh_fields[r->r_head.hh_referer].hf_value;
	if (r->r_head.hh_agent != -1)
		e.ae_agent = b +
		    r->r_head.hh_fields[r->r_head.hh_agent].hf_value;
	e.ae_rid = r->r_rid;
	e.ae_service = r->r_service;
	e.ae_upstream = r->r_upstream_addr;
	total = http_now_ns() - r->r_t0;
	e.ae_rt = total / 1e9;
	accesslog_log(c->c_thr->ht_log, &e);
	stats_request(http_route_name(r), r->r_service ? r->r_service : "-",
	    status, total, ut > 0 ? (uint64_t)(ut * 1e9) : 0,
	    r->r_upstream_addr != NULL ? r->r_connect_ns : -1);
}

/* ------------------------------------------------------------- responses */

static const char *
http_date(struct http_thread *t)
{
	struct timeval	 now;
	struct tm	 tm;

	event_base_gettimeofday_cached(t->ht_base, &now);
	if (now.tv_sec != t->ht_date_t) {
		t->ht_date_t = now.tv_sec;
		gmtime_r(&now.tv_sec, &tm);
		strftime(t->ht_date, sizeof(t->ht_date),
		    "%a, %d %b %Y %H:%M:%S GMT", &tm);
	}
	return t->ht_date;
}

static void
http_hbuf_init(struct http_hbuf *h, struct evbuffer *out)
{
	h->hb_out = out;
	h->hb_len = 0;
}

static void
http_hbuf_flush(struct http_hbuf *h)
{
	if (h->hb_len > 0)
		evbuffer_add(h->hb_out, h->hb_buf, h->hb_len);
	h->hb_len = 0;
}

/* What does not fit: the buffer goes out first, then a huge p alone. */
static void
http_hbuf_spill(struct http_hbuf *h, const void *p, size_t len)
{
	http_hbuf_flush(h);
	if (len > sizeof(h->hb_buf)) {
		evbuffer_add(h->hb_out, p, len);
		return;
	}
	memcpy(h->hb_buf, p, len);
	h->hb_len = len;
}

static inline void
http_hbuf_add(struct http_hbuf *h, const void *p, size_t len)
{
	if (len > sizeof(h->hb_buf) - h->hb_len) {
		http_hbuf_spill(h, p, len);
		return;
	}
	memcpy(h->hb_buf + h->hb_len, p, len);
	h->hb_len += len;
}

static void
http_hbuf_str(struct http_hbuf *h, const char *s)
{
	http_hbuf_add(h, s, strlen(s));
}

/*
 * The status line, Date: and "X-Request-Id: ", made once per status,
 * reason and second in each thread (a printf per response before); its
 * length in *len.
 */
static const char *
http_head_line(struct http_thread *t, int status, const char *reason,
    size_t *len)
{
	const char	*date;
	size_t		 rlen;
	int		 n;

	if (reason == NULL)
		reason = http_title(status);
	date = http_date(t);
	if (t->ht_head_ok && t->ht_head_t == t->ht_date_t &&
	    t->ht_head_status == status &&
	    strcmp(t->ht_head_reason, reason) == 0) {
		*len = t->ht_head_len;
		return t->ht_head;
	}
	t->ht_head_ok = 0;
	n = snprintf(t->ht_head, sizeof(t->ht_head), "HTTP/1.1 %d %s\r\n"
	    "Date: %s\r\nX-Request-Id: ", status, reason, date);
	rlen = strlen(reason);
	if (n < 0 || (size_t)n >= sizeof(t->ht_head) ||
	    rlen >= sizeof(t->ht_head_reason))
		return NULL;	/* never cut: the caller prints it */
	memcpy(t->ht_head_reason, reason, rlen + 1);
	t->ht_head_status = status;
	t->ht_head_t = t->ht_date_t;
	t->ht_head_len = n;
	t->ht_head_ok = 1;
	*len = n;
	return t->ht_head;
}

/* Status line and the headers every response carries, into h. */
static void
http_head_start_hb(struct http_hbuf *h, struct http_thread *t, int status,
    const char *reason, const char *rid)
{
	const char	*line;
	size_t		 len;

	if ((line = http_head_line(t, status, reason, &len)) == NULL) {
		http_hbuf_flush(h);
		evbuffer_add_printf(h->hb_out, "HTTP/1.1 %d %s\r\n"
		    "Date: %s\r\nX-Request-Id: ", status, reason ? reason :
		    http_title(status), http_date(t));
	} else
		http_hbuf_add(h, line, len);
	http_hbuf_str(h, rid);
	http_hbuf_add(h, "\r\n", 2);
}

static void
http_head_start(struct http_conn *c, int status, const char *reason,
    const char *rid)
{
	struct http_hbuf	 h;

	http_hbuf_init(&h, c->c_out);
	http_head_start_hb(&h, c->c_thr, status, reason, rid);
	http_hbuf_flush(&h);
}

/* Connection: close or keep-alive, as the request wants; NULL: none. */
static const char *
http_head_connection_str(const struct http_req *r, size_t *len)
{
	if (r->r_close) {
		*len = 19;
		return "Connection: close\r\n";
	} else if (r->r_head.hh_minor == 0) {
		*len = 24;
		return "Connection: keep-alive\r\n";
	}
	return NULL;
}

static void
http_head_connection(struct http_conn *c, struct http_req *r)
{
	const char	*s;
	size_t		 len;

	if ((s = http_head_connection_str(r, &len)) != NULL)
		evbuffer_add(c->c_out, s, len);
}

/*
 * The front's own answer to r (or to a request that could not be read,
 * r NULL: then the connection closes).  Logged once here.
 */
static void
http_answer(struct http_conn *c, struct http_req *r, int status,
    const char *detail, double ut)
{
	http_answer_hdrs(c, r, status, detail, ut, NULL);
}

/* http_answer() with extra header lines ("Name: value\r\n"...). */
static void
http_answer_hdrs(struct http_conn *c, struct http_req *r, int status,
    const char *detail, double ut, const char *extra)
{
	struct evbuffer	*b;

	b = evbuffer_new();
	http_problem_json(b, status, detail);
	http_answer_body(c, r, status, "application/problem+json", b, ut,
	    extra);
	evbuffer_free(b);
}

/* The front's own answer with body b (drained) of type ctype. */
static void
http_answer_body(struct http_conn *c, struct http_req *r, int status,
    const char *ctype, struct evbuffer *b, double ut, const char *extra)
{
	char		 rid[17];
	size_t		 n;

	n = evbuffer_get_length(b);
	if (r == NULL)
		http_request_id(&c->c_thr->ht_rng, rid);
	http_head_start(c, status, NULL, r ? r->r_rid : rid);
	evbuffer_add_printf(c->c_out, "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n", ctype, n);
	if (r != NULL && r->r_xhdrs[0] != '\0')
		evbuffer_add(c->c_out, r->r_xhdrs, strlen(r->r_xhdrs));
	if (extra != NULL)
		evbuffer_add(c->c_out, extra, strlen(extra));
	else if (status == 503)
		evbuffer_add(c->c_out, "Retry-After: 1\r\n", 16);
	if (r == NULL)
		evbuffer_add(c->c_out, "Connection: close\r\n", 19);
	else
		http_head_connection(c, r);
	evbuffer_add(c->c_out, "\r\n", 2);
	if (r != NULL && r->r_nobody)
		evbuffer_drain(b, n);
	else
		evbuffer_add_buffer(c->c_out, b);
	if (r != NULL) {
		r->r_status = status;
		r->r_head_sent = 1;
	}
	http_log(c, r, status, n, ut);
}

/* ------------------------------------------------------------------ I/O */

/*
 * A connection reads and writes through these two: recv(2)/writev(2)
 * for a plain one, OpenSSL for a TLS one.  Both give what the plain
 * calls give: n > 0, 0 at EOF, -1 with errno (EAGAIN: nothing now).
 */
static ssize_t	http_tls_read(struct http_conn *);
static ssize_t	http_tls_write(struct http_conn *);

static inline ssize_t
http_io_read(struct http_conn *c)
{
	if (__builtin_expect(c->c_tls != NULL, 0))
		return http_tls_read(c);
	return upstream_recv(c->c_in, c->c_fd, HTTP_READ_MAX);
}

static inline ssize_t
http_io_write(struct http_conn *c)
{
	if (__builtin_expect(c->c_tls != NULL, 0))
		return http_tls_write(c);
	return evbuffer_write(c->c_out, c->c_fd);
}

static ssize_t
http_tls_read(struct http_conn *c)
{
	ssize_t	 n;

	n = tls_conn_read(c->c_tls, c->c_in, HTTP_READ_MAX);
	if (n > 0) {
		/*
		 * A record can hold more than was asked for, and OpenSSL
		 * keeps the rest where epoll does not see it: come back for
		 * it (a pause cancels this, and http_conn_pause() redoes
		 * it).
		 */
		if (tls_conn_pending(c->c_tls))
			event_active(&c->c_rev, EV_READ, 1);
		return n;
	}
	switch (n) {
	case 0:
		return 0;
	case TLS_IO_WANT_WRITE:
		/* the write event comes back here (http_conn_write_cb) */
		c->c_tls_rww = 1;
		if (!event_pending(&c->c_wev, EV_WRITE, NULL))
			event_add(&c->c_wev, NULL);
		/* FALLTHROUGH */
	case TLS_IO_WANT_READ:
		errno = EAGAIN;
		return -1;
	default:
		/* never "try again": the session is broken */
		if (errno == EAGAIN || errno == EINTR)
			errno = ECONNRESET;
		return -1;
	}
}

static ssize_t
http_tls_write(struct http_conn *c)
{
	ssize_t	 n;

	n = tls_conn_write(c->c_tls, c->c_out);
	if (n > 0)
		return n;
	switch (n) {
	case TLS_IO_WANT_READ:
		/*
		 * Only a renegotiation (refused) or a key update does that:
		 * the read event retries the write (http_conn_read_cb).
		 */
		c->c_tls_wwr = 1;
		if (c->c_rpaused && !c->c_eof)
			event_add(&c->c_rev, NULL);
		/* FALLTHROUGH */
	case TLS_IO_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	default:
		if (errno == EAGAIN)
			errno = EPIPE;
		return -1;
	}
}

/*
 * The first byte on a TLS port: a handshake record, or someone speaking
 * plain HTTP to it, who gets a readable 400 (nginx's 497 idea) rather
 * than a TLS alert.  1: TLS; 0: nothing yet; -1: answered or closed.
 */
static int
http_tls_peek(struct http_conn *c)
{
	unsigned char	 b;
	ssize_t		 n;

	n = recv(c->c_fd, &b, 1, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		http_conn_kill(c);
		return -1;
	}
	c->c_tls_peeked = 1;
	if (b == TLS_RECORD_HANDSHAKE)
		return 1;
	tls_conn_free(c->c_tls);
	c->c_tls = NULL;
	/* answered in plain text; the access log has the line */
	http_answer(c, NULL, 400, "plain HTTP request sent to a TLS port",
	    -1);
	http_conn_linger(c);
	return -1;
}

/* One handshake step, from either event. */
static void
http_tls_handshake(struct http_conn *c)
{
	const char	*errstr = NULL;

	if (!c->c_tls_peeked && http_tls_peek(c) != 1)
		return;
	switch (tls_conn_handshake(c->c_tls, &errstr)) {
	case 1:
		c->c_tls_ready = 1;
		if (evbuffer_get_length(c->c_out) == 0 &&
		    event_pending(&c->c_wev, EV_WRITE, NULL))
			event_del(&c->c_wev);
		break;
	case TLS_IO_WANT_READ:
		/* the read event is always on at this point */
		if (event_pending(&c->c_wev, EV_WRITE, NULL))
			event_del(&c->c_wev);
		break;
	case TLS_IO_WANT_WRITE:
		if (!event_pending(&c->c_wev, EV_WRITE, NULL))
			event_add(&c->c_wev, NULL);
		break;
	default:
		/* scanners and refused client certificates: not warnings */
		log_debug("%s: %s: %s", __func__, c->c_addr, errstr);
		http_conn_kill(c);
		break;
	}
}

/*
 * The read event of a TLS connection, before reading: the handshake, or
 * a write that waited for readability.  1: the callback is done.
 */
static int
http_tls_wake_read(struct http_conn *c)
{
	if (!c->c_tls_ready) {
		http_tls_handshake(c);
		/* done: the request may be in OpenSSL already, read on */
		return c->c_dead || c->c_tls == NULL || !c->c_tls_ready;
	}
	if (c->c_tls_wwr) {
		c->c_tls_wwr = 0;
		http_conn_flush(c);
		if (c->c_dead)
			return 1;
		if (c->c_rpaused) {
			/* woken only for the write */
			event_del(&c->c_rev);
			return 1;
		}
	}
	return 0;
}

/* The write event of a TLS connection: 1 when it was not for c_out. */
static int
http_tls_wake_write(struct http_conn *c)
{
	if (!c->c_tls_ready) {
		http_tls_handshake(c);
		if (!c->c_dead && c->c_tls_ready)
			event_active(&c->c_rev, EV_READ, 1);
		return 1;
	}
	if (c->c_tls_wwr) {
		/* the read event retries the write */
		event_del(&c->c_wev);
		return 1;
	}
	if (c->c_tls_rww) {
		c->c_tls_rww = 0;
		if (!c->c_rpaused)
			event_active(&c->c_rev, EV_READ, 1);
		if (evbuffer_get_length(c->c_out) == 0) {
			event_del(&c->c_wev);
			return 1;
		}
	}
	return 0;
}

/* Our side is done writing: close_notify first over TLS. */
static void
http_conn_shutdown_wr(struct http_conn *c)
{
	if (c->c_tls != NULL)
		tls_conn_shutdown(c->c_tls);
	shutdown(c->c_fd, SHUT_WR);
}

/* ------------------------------------------------------------ connection */

/* Re-arms the one timer of c; ms <= 0 disarms it. */
static void
http_conn_timer(struct http_conn *c, int ms)
{
	struct timeval	 tv;

	if (ms <= 0) {
		event_del(&c->c_tev);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(&c->c_tev, &tv);
}

/* Stops reading the client (pipelined bytes piling up, body backpressure). */
static void
http_conn_pause(struct http_conn *c, int pause)
{
	if (pause == c->c_rpaused || c->c_dead || c->c_eof)
		return;
	c->c_rpaused = pause;
	if (pause)
		event_del(&c->c_rev);
	else {
		event_add(&c->c_rev, NULL);
		/* decrypted bytes no socket event will announce */
		if (c->c_tls != NULL && c->c_tls_ready &&
		    tls_conn_pending(c->c_tls))
			event_active(&c->c_rev, EV_READ, 1);
	}
}

/* Closes now, or as soon as no callback of c is on the stack. */
static void
http_conn_kill(struct http_conn *c)
{
	if (c->c_dead)
		return;
	c->c_dead = 1;
	if (c->c_busy == 0)
		http_conn_free(c);
	else
		event_active(&c->c_tev, EV_TIMEOUT, 1);
}

static void
http_conn_leave(struct http_conn *c)
{
	if (--c->c_busy == 0 && c->c_dead)
		http_conn_free(c);
}

/* After an answer that ends the connection: flush, then drain input. */
static void
http_conn_linger(struct http_conn *c)
{
	/*
	 * It serves no more requests, so it no longer counts against its
	 * address's `max client connections': a client that reconnects at
	 * once (after `max requests', say) is not refused while this one
	 * drains.
	 */
	if (c->c_client != NULL) {
		http_client_put(c->c_thr->ht_srv, c->c_client);
		c->c_client = NULL;
	}
	c->c_state = HC_LINGER;
	http_conn_pause(c, 0);
	http_conn_timer(c, HTTP_LINGER_MS);
	http_conn_flush(c);
	if (!c->c_dead && evbuffer_get_length(c->c_out) == 0) {
		http_conn_shutdown_wr(c);
		if (c->c_eof)
			http_conn_kill(c);
	}
}

/* Writes what c_out holds; the write event only when the socket is full. */
static void
http_conn_flush(struct http_conn *c)
{
	struct http_req	*r = c->c_req;
	int		 n;

	while (evbuffer_get_length(c->c_out) > 0) {
		n = http_io_write(c);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->c_tls_wwr &&
				    !event_pending(&c->c_wev, EV_WRITE, NULL))
					event_add(&c->c_wev, NULL);
				/* the send timeout, unless another one runs */
				if (c->c_state == HC_WAIT)
					http_conn_timer(c, c->c_thr->ht_srv->
					    hs_conf->conf_send_timeout);
				return;
			}
			/* the client is gone */
			evbuffer_drain(c->c_out, evbuffer_get_length(c->c_out));
			http_conn_kill(c);
			return;
		}
	}
	if (event_pending(&c->c_wev, EV_WRITE, NULL)) {
		event_del(&c->c_wev);
		if (c->c_state == HC_WAIT)
			http_conn_timer(c, 0);
	}
	if (r != NULL && r->r_upstream && r->r_up.u_paused)
		upstream_resume(&r->r_up);
}

static void
http_conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;
	struct http_req		*r = c->c_req;

	c->c_busy++;
	if (__builtin_expect(c->c_tls != NULL, 0) && http_tls_wake_write(c)) {
		http_conn_leave(c);
		return;
	}
	if (evbuffer_get_length(c->c_out) > 0 && http_io_write(c) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		evbuffer_drain(c->c_out, evbuffer_get_length(c->c_out));
		http_conn_kill(c);
	} else if (evbuffer_get_length(c->c_out) == 0) {
		event_del(&c->c_wev);
		if (c->c_state == HC_WAIT)
			http_conn_timer(c, 0);
		if (c->c_state == HC_LINGER) {
			http_conn_shutdown_wr(c);
			if (c->c_eof)
				http_conn_kill(c);
		} else if (r != NULL && r->r_upstream && r->r_up.u_paused)
			upstream_resume(&r->r_up);
	} else if (evbuffer_get_length(c->c_out) < HTTP_OUT_LOWAT &&
	    r != NULL && r->r_upstream && r->r_up.u_paused)
		upstream_resume(&r->r_up);
	http_conn_leave(c);
}

static void
http_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;
	ssize_t			 n;

	c->c_busy++;
	if (__builtin_expect(c->c_tls != NULL, 0) && http_tls_wake_read(c)) {
		http_conn_leave(c);
		return;
	}
	n = http_io_read(c);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		/* woken by http_up_more(): buffered body goes on */
		if (c->c_state == HC_BODY)
			http_conn_process(c);
		http_conn_leave(c);
		return;
	}
	if (n <= 0) {
		c->c_eof = 1;
		event_del(&c->c_rev);
		c->c_rpaused = 1;
		if (n == 0 && c->c_req == NULL &&
		    evbuffer_get_length(c->c_out) > 0) {
			/* the last answer is still going out */
			c->c_state = HC_LINGER;
		} else {
			/*
			 * Like nginx, a FIN while a request runs is the
			 * client giving up (half-closing clients lose their
			 * answer): the upstream stops, logged as 499.
			 */
			http_conn_kill(c);
		}
		http_conn_leave(c);
		return;
	}
	if (c->c_state == HC_LINGER)
		evbuffer_drain(c->c_in, evbuffer_get_length(c->c_in));
	else
		http_conn_process(c);
	http_conn_leave(c);
}

static void
http_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;
	struct http_req		*r = c->c_req;

	c->c_busy++;
	if (c->c_dead) {
		http_conn_leave(c);
		return;
	}
	switch (c->c_state) {
	case HC_IDLE:
		http_conn_kill(c);
		break;
	case HC_HEAD:
		/* slowloris: a head that does not arrive in time */
		if (evbuffer_get_length(c->c_in) > 0) {
			http_answer(c, NULL, 408, "request header not "
			    "received in time", -1);
			http_conn_linger(c);
		} else
			http_conn_kill(c);
		break;
	case HC_BODY:
		r->r_timedout = 1;
		r->r_close = 1;
		if (r->r_upstream)
			upstream_abort(&r->r_up);	/* answers in done */
		else {
			http_answer(c, r, 408, "request body not received "
			    "in time", -1);
			http_req_end(r);
		}
		break;
	case HC_WAIT:
		/* send timeout: the client does not read */
		log_debug("%s: %s: send timeout", __func__, c->c_addr);
		http_conn_kill(c);
		break;
	case HC_LINGER:
		http_conn_kill(c);
		break;
	}
	http_conn_leave(c);
}

static struct http_client *
http_client_get(struct http_server *srv, const char *addr)
{
	struct http_client	*cl;
	unsigned int		 h = 5381;
	const char		*p;
	int			 max = srv->hs_conf->conf_max_client_conns;

	for (p = addr; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	h %= HTTP_CLIENT_BUCKETS;
	pthread_mutex_lock(&srv->hs_clients_mtx);
	for (cl = srv->hs_clients[h]; cl != NULL; cl = cl->cl_next)
		if (strcmp(cl->cl_addr, addr) == 0)
			break;
	if (cl == NULL) {
		cl = xcalloc(1, sizeof(*cl));
		strcpy(cl->cl_addr, addr);
		cl->cl_next = srv->hs_clients[h];
		srv->hs_clients[h] = cl;
	}
	if (max > 0 && cl->cl_n >= max)
		cl = NULL;
	else
		cl->cl_n++;
	pthread_mutex_unlock(&srv->hs_clients_mtx);
	return cl;
}

static void
http_client_put(struct http_server *srv, struct http_client *cl)
{
	/* entries stay (bounded by distinct addresses seen) */
	pthread_mutex_lock(&srv->hs_clients_mtx);
	cl->cl_n--;
	pthread_mutex_unlock(&srv->hs_clients_mtx);
}

/*
 * The TLS context of listener l in the current generation, so that a
 * reload brings new certificates to new connections; l's own (the first
 * generation's) when the reload changed listeners.  SSL_new() takes its
 * own reference: the generation goes at once.
 */
static struct tls_conn *
http_tls_new(const struct gw_listen *l, int fd)
{
	struct generation	*gen;
	struct gw_listen	*nl;
	struct tls_listener	*ctx = l->l_tlsctx;
	struct tls_conn		*tc;

	if ((gen = generation_acquire()) != NULL) {
		TAILQ_FOREACH(nl, &gen->gen_conf->conf_listens, l_entry)
			if (nl->l_tls && nl->l_tlsctx != NULL &&
			    strcmp(nl->l_addr, l->l_addr) == 0 &&
			    strcmp(nl->l_port, l->l_port) == 0) {
				ctx = nl->l_tlsctx;
				break;
			}
	}
	tc = ctx != NULL ? tls_conn_new(ctx, fd) : NULL;
	generation_release(gen);
	return tc;
}

static void
http_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct http_lsn		*hl = arg;
	struct http_thread	*t = hl->hl_thr;
	struct http_server	*srv = t->ht_srv;
	struct http_conn	*c;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 port[8];
	int			 one = 1;

	c = xcalloc(1, sizeof(*c));
	if (getnameinfo(sa, salen, c->c_addr, sizeof(c->c_addr), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		strcpy(c->c_addr, "-");
		strcpy(port, "0");
	}
	c->c_port = strtoul(port, NULL, 10);
	c->c_listen = hl->hl_listen;
	if ((c->c_client = http_client_get(srv, c->c_addr)) == NULL) {
		log_debug("%s: %s: too many connections", __func__,
		    c->c_addr);
		close(fd);
		free(c);
		return;
	}
	if (c->c_listen->l_tls &&
	    (c->c_tls = http_tls_new(c->c_listen, fd)) == NULL) {
		http_client_put(srv, c->c_client);
		close(fd);
		free(c);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (srv->hs_addr[0] == '\0') {
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
		    getnameinfo((struct sockaddr *)&ss, len, c->c_saddr,
		    sizeof(c->c_saddr), c->c_sport, sizeof(c->c_sport),
		    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
			c->c_saddr[0] = '\0';
			c->c_sport[0] = '\0';
		}
	}
	c->c_thr = t;
	c->c_fd = fd;
	c->c_first = 1;
	c->c_state = HC_IDLE;
	c->c_in = evbuffer_new();
	c->c_out = evbuffer_new();
	event_assign(&c->c_rev, t->ht_base, fd, EV_READ | EV_PERSIST,
	    http_conn_read_cb, c);
	event_assign(&c->c_wev, t->ht_base, fd, EV_WRITE | EV_PERSIST,
	    http_conn_write_cb, c);
	evtimer_assign(&c->c_tev, t->ht_base, http_conn_timer_cb, c);
	event_add(&c->c_rev, NULL);
	/* the first request gets the header timeout from the start */
	http_conn_timer(c, srv->hs_conf->conf_header_timeout);
	TAILQ_INSERT_TAIL(&t->ht_conns, c, c_entry);
}

static void
http_conn_free(struct http_conn *c)
{
	struct http_thread	*t = c->c_thr;
	struct http_req		*r = c->c_req;

	c->c_dead = 1;
	c->c_busy++;	/* nothing below frees c again */
	if (r != NULL) {
		if (r->r_upstream)
			upstream_abort(&r->r_up);	/* ends r */
		else
			http_req_end(r);
	}
	TAILQ_REMOVE(&t->ht_conns, c, c_entry);
	event_del(&c->c_rev);
	event_del(&c->c_wev);
	event_del(&c->c_tev);
	tls_conn_free(c->c_tls);	/* close_notify, if it went well */
	close(c->c_fd);
	evbuffer_free(c->c_in);
	evbuffer_free(c->c_out);
	if (c->c_client != NULL)
		http_client_put(t->ht_srv, c->c_client);
	free(c);
}

/* ---------------------------------------------------------------- request */

/* SERVER_NAME: the Host header without its port, when it looks sane. */
static void
http_server_name(struct http_req *r, const char *host)
{
	size_t	 i, n;

	r->r_env.ue_server_name = r->r_env.ue_server_addr;
	if (host == NULL)
		return;
	for (n = 0; host[n] != '\0' && n < sizeof(r->r_host) - 1; n++) {
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
		r->r_host[i] = host[i];
	r->r_host[n] = '\0';
	r->r_env.ue_server_name = r->r_host;
}

/*
 * A request block of size bytes, zeroed as calloc would but for the
 * tails of its strings: a calloc'ed 4 KB per request (the struct alone
 * is near 4 KB) was a tenth of a request's instructions.  Small blocks
 * come from the thread's spares.
 */
static struct http_req *
http_req_alloc(struct http_thread *t, size_t size)
{
	struct http_req	*r;
	char		*p;
	size_t		 i, off = 0;

	if (size <= HTTP_REQ_BLOCK) {
		size = HTTP_REQ_BLOCK;
		if (t->ht_nrspare > 0)
			r = t->ht_rspare[--t->ht_nrspare];
		else
			r = xmalloc(size);
	} else
		r = xmalloc(size);
	p = (char *)r;
	for (i = 0; i < sizeof(http_req_strs) / sizeof(http_req_strs[0]);
	    i++) {
		memset(p + off, 0, http_req_strs[i].off - off);
		p[http_req_strs[i].off] = '\0';
		off = http_req_strs[i].off + http_req_strs[i].len;
	}
	memset(p + off, 0, sizeof(*r) - off);
	r->r_alloc = size;
	return r;
}

static void
http_req_release(struct http_thread *t, struct http_req *r)
{
	if (r->r_alloc == HTTP_REQ_BLOCK && t->ht_nrspare < HTTP_REQ_SPARES)
		t->ht_rspare[t->ht_nrspare++] = r;
	else
		free(r);
}

/* The request is over (answered or gone): free it, go on with the next. */
static void
http_req_end(struct http_req *r)
{
	struct http_conn	*c = r->r_conn;
	struct http_server	*srv = c->c_thr->ht_srv;
	int			 close_after;

	/* a body not read to its end leaves the framing unknown */
	close_after = r->r_close || !r->r_body_done;
	if (r->r_cbody != NULL)
		evbuffer_free(r->r_cbody);
	/* a ticket no outcome was recorded for (a no-op otherwise) */
	if (r->r_breaker != NULL)
		breaker_record(r->r_breaker, &r->r_ticket, BREAKER_IGNORE, 0,
		    http_now_ns());
	generation_release(r->r_gen);
	jwt_claims_free(r->r_claims);
	if (r->r_lres != NULL) {
		luavm_result_clear(r->r_lres);
		free(r->r_lres);
	}
	if (r->r_lres_fb != NULL) {
		luavm_result_clear(r->r_lres_fb);
		free(r->r_lres_fb);
	}
	free(r->r_uparams);
	free(r->r_block2);
	free(r->r_fields2);
	free(r->r_dpath);
	http_req_release(c->c_thr, r);
	c->c_req = NULL;
	c->c_thr->ht_inflight--;
	if (c->c_dead)
		return;
	if (close_after) {
		http_conn_linger(c);
		return;
	}
	http_conn_flush(c);
	if (c->c_dead)
		return;
	c->c_state = HC_IDLE;
	http_conn_timer(c, srv->hs_conf->conf_idle_timeout);
	http_conn_pause(c, 0);
	if (!c->c_inproc) {
		/* a pipelined request may be waiting */
		c->c_busy++;
		http_conn_process(c);
		c->c_busy--;	/* the caller holds c */
	}
}

/* The body is complete: tell the upstream, or start it (chunked). */
static void
http_req_body_done(struct http_req *r)
{
	struct http_conn	*c = r->r_conn;

	r->r_body_done = 1;
	c->c_state = HC_WAIT;
	http_conn_timer(c, 0);
	/* chunked: the whole body goes with the head, in one write */
	r->r_env.ue_content_length = evbuffer_get_length(r->r_cbody);
	r->r_upstream = 1;
	upstream_start(&r->r_up, c->c_thr->ht_base, r->r_pool, r->r_svc,
	    &r->r_env, &http_upstream_ops, r->r_cbody, 1, http_upstream_done,
	    r);
}

/* Feeds body bytes from c_in.  0, or -1 when r has ended. */
static int
http_req_body(struct http_conn *c, struct http_req *r)
{
	struct gw_config	*conf = c->c_thr->ht_srv->hs_conf;
	struct evbuffer		*tmp;
	const char		*errstr, *p;
	size_t			 len, used, data;
	int			 full;

	if (r->r_body == HB_LENGTH) {
		len = evbuffer_get_length(c->c_in);
		if ((int64_t)len > r->r_left)
			len = r->r_left;
		if (len == 0)
			return 0;
		r->r_left -= len;
		tmp = evbuffer_new();
		evbuffer_remove_buffer(c->c_in, tmp, len);
		full = upstream_body(&r->r_up, tmp, r->r_left == 0);
		evbuffer_free(tmp);
		if (c->c_req != r)
			return -1;
		if (r->r_left == 0) {
			r->r_body_done = 1;
			c->c_state = HC_WAIT;
			http_conn_timer(c, 0);
		} else
			http_conn_timer(c, conf->conf_body_timeout);
		if (full)
			http_conn_pause(c, 1);
		return 0;
	}
	/* chunked: decode into r_cbody */
	while ((len = evbuffer_get_length(c->c_in)) > 0 &&
	    !r->r_chunk.hc_done) {
		if (len > HTTP_READ_MAX)
			len = HTTP_READ_MAX;
		p = (const char *)evbuffer_pullup(c->c_in, len);
		if (http_chunked_parse(&r->r_chunk, p, len, &used, &data,
		    &errstr) == -1) {
			r->r_close = 1;
			http_answer(c, r, 400, errstr, -1);
			http_req_end(r);
			return -1;
		}
		if (used == 0)
			break;
		if (data > 0) {
			if (evbuffer_get_length(r->r_cbody) + data >
			    conf->conf_max_body) {
				r->r_close = 1;
				http_answer(c, r, 413, "request body exceeds "
				    "the limit", -1);
				http_req_end(r);
				return -1;
			}
			evbuffer_remove_buffer(c->c_in, r->r_cbody, data);
		} else
			evbuffer_drain(c->c_in, used);
	}
	if (r->r_chunk.hc_done)
		http_req_body_done(r);
	else
		http_conn_timer(c, conf->conf_body_timeout);
	return 0;
}

/*
 * The thread's Lua runtime for gen's rules: made on first use, and anew
 * after a reload (the old one, and its reference to its generation, go).
 */
static struct luavm *
http_lua_vm(struct http_thread *t, struct generation *gen)
{
	char	 err[512];

	if (t->ht_lvm != NULL && t->ht_lvm_gen == gen)
		return t->ht_lvm;
	luavm_free(t->ht_lvm);
	generation_release(t->ht_lvm_gen);
	t->ht_lvm = NULL;
	t->ht_lvm_gen = NULL;
	if ((t->ht_lvm = luavm_new(gen->gen_conf->conf_rules, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s: %s", __func__, err);
		return NULL;
	}
	t->ht_lvm_gen = generation_ref(gen);
	return t->ht_lvm;
}

/* A header line from Lua that is safe to send. */
static int
http_lua_hdr_ok(const char *name, const char *value)
{
	const char	*p;

	if (*name == '\0')
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return strpbrk(value, "\r\n") == NULL;
}

/* req:respond(): the handler's own answer. */
static void
http_lua_respond(struct http_conn *c, struct http_req *r,
    const struct luavm_result *res)
{
	struct evbuffer	*body, *extra;
	const char	*ctype = "text/plain; charset=utf-8";
	size_t		 i;

	body = evbuffer_new();
	extra = evbuffer_new();
	for (i = 0; i < res->lres_nheaders; i++) {
		const struct luavm_kv *kv = &res->lres_headers[i];

		if (!http_lua_hdr_ok(kv->kv_name, kv->kv_value) ||
		    strcasecmp(kv->kv_name, "Content-Length") == 0 ||
		    strcasecmp(kv->kv_name, "Transfer-Encoding") == 0 ||
		    strcasecmp(kv->kv_name, "Connection") == 0 ||
		    strcasecmp(kv->kv_name, "X-Request-Id") == 0)
			continue;
		if (strcasecmp(kv->kv_name, "Content-Type") == 0)
			ctype = kv->kv_value;
		else
			evbuffer_add_printf(extra, "%s: %s\r\n", kv->kv_name,
			    kv->kv_value);
	}
	evbuffer_add(extra, "", 1);
	if (res->lres_body != NULL)
		evbuffer_add(body, res->lres_body, res->lres_body_len);
	http_answer_body(c, r, res->lres_status, ctype, body, -1,
	    (const char *)evbuffer_pullup(extra, -1));
	evbuffer_free(body);
	evbuffer_free(extra);
}

/*
 * A request with header edits: a copy of the head block with the set
 * values appended and the fields rebuilt, for the upstream's HTTP_*.
 */
static void
http_lua_edits(struct http_req *r, const struct luavm_result *res)
{
	const struct http_head	*h = &r->r_head;
	struct http_field	*f;
	size_t			 blen, len, i, j, k, nf;
	int			 gone;
	char			*b;

	blen = r->r_blen + 1;	/* with its NUL */
	len = blen;
	for (i = 0; i < res->lres_nedits; i++)
		if (res->lres_edits[i].he_op == LUAVM_HDR_SET)
			len += strlen(res->lres_edits[i].he_name) +
			    strlen(res->lres_edits[i].he_value) + 2;
	b = r->r_block2 = xmalloc(len);
	memcpy(b, r->r_block, blen);
	f = r->r_fields2 = xcalloc(h->hh_nfields + res->lres_nedits + 1,
	    sizeof(*f));
	nf = 0;
	/* a field stays unless a later edit removes or replaces it */
	for (i = 0; i < (size_t)h->hh_nfields; i++) {
		gone = 0;
		for (j = 0; j < res->lres_nedits; j++)
			if (strcasecmp(r->r_block + h->hh_fields[i].hf_name,
			    res->lres_edits[j].he_name) == 0)
				gone = 1;
		if (!gone)
			f[nf++] = h->hh_fields[i];
	}
	/* the last SET of each name wins */
	for (i = 0; i < res->lres_nedits; i++) {
		const struct luavm_hdr_edit *e = &res->lres_edits[i];

		for (j = i + 1; j < res->lres_nedits; j++)
			if (strcasecmp(res->lres_edits[j].he_name,
			    e->he_name) == 0)
				break;
		if (j < res->lres_nedits || e->he_op != LUAVM_HDR_SET ||
		    !http_lua_hdr_ok(e->he_name, e->he_value))
			continue;
		k = strlen(e->he_name);
		f[nf].hf_name = blen;
		f[nf].hf_name_len = k;
		memcpy(b + blen, e->he_name, k + 1);
		blen += k + 1;
		k = strlen(e->he_value);
		f[nf].hf_value = blen;
		f[nf].hf_value_len = k;
		memcpy(b + blen, e->he_value, k + 1);
		blen += k + 1;
		nf++;
	}
	r->r_head2 = r->r_head;
	r->r_head2.hh_fields = f;
	r->r_head2.hh_nfields = nf;
	r->r_head2.hh_maxfields = nf;
	r->r_head2.hh_ctype = -1;
	for (i = 0; i < nf; i++)
		if (strcasecmp(b + f[i].hf_name, "Content-Type") == 0)
			r->r_head2.hh_ctype = i;
	r->r_env.ue_block = b;
	r->r_env.ue_head = &r->r_head2;
}

/*
 * The route's handler function: 0 to go on (with its edits, params and
 * service), -1 when r has been answered (req:respond, or 500 on an error).
 * The fallback function (breaker open) may answer or choose another
 * service (0); 1 when it did neither.
 */
static int
http_req_lua(struct http_conn *c, struct http_req *r,
    const struct rule_route *route, enum luavm_phase phase)
{
	const char		*path = r->r_path, *q = r->r_query;
	size_t			 plen = r->r_plen;
	struct luavm		*vm;
	struct luavm_request	 lr;
	struct luavm_header	*hv;
	struct luavm_result	*res;
	struct gw_service	*svc;
	struct pool		*pool;
	const char		*b = r->r_block;
	char			 cbuf[INET6_ADDRSTRLEN], detail[256];
	size_t			 i, n;
	int			 out;

	if ((vm = http_lua_vm(c->c_thr, r->r_gen)) == NULL ||
	    !luavm_has(vm, route, phase))
		goto fail;
	hv = xcalloc(r->r_head.hh_nfields + 1, sizeof(*hv));
	for (i = 0; i < (size_t)r->r_head.hh_nfields; i++) {
		hv[i].h_name = b + r->r_head.hh_fields[i].hf_name;
		hv[i].h_name_len = r->r_head.hh_fields[i].hf_name_len;
		hv[i].h_value = b + r->r_head.hh_fields[i].hf_value;
		hv[i].h_value_len = r->r_head.hh_fields[i].hf_value_len;
	}
	memset(&lr, 0, sizeof(lr));
	lr.lr_method = b + r->r_head.hh_method;
	lr.lr_path = path;
	lr.lr_path_len = plen;
	lr.lr_query = q != NULL ? q + 1 : NULL;
	lr.lr_query_len = q != NULL ? strlen(q + 1) : 0;
	lr.lr_headers = hv;
	lr.lr_nheaders = r->r_head.hh_nfields;
	lr.lr_match = &r->r_match;
	lr.lr_client_addr = edge_client(r->r_gen->gen_conf, c->c_addr,
	    &r->r_head, b, cbuf, sizeof(cbuf));
	lr.lr_client_port = c->c_port;
	lr.lr_claims = r->r_claims != NULL ? r->r_claims->jc_payload : NULL;
	/* a fallback's result is kept apart: the handler's edits stay */
	res = xcalloc(1, sizeof(*res));
	if (phase == LUAVM_PHASE_HANDLER)
		r->r_lres = res;
	else
		r->r_lres_fb = res;
	out = luavm_call(vm, phase, &lr, res);
	free(hv);
	switch (out) {
	case LUAVM_OUT_RESPOND:
		r->r_service = NULL;
		http_lua_respond(c, r, res);
		http_req_end(r);
		return -1;
	case LUAVM_OUT_ERROR:
		log_warnx("%s: route %s: %s (rid %s)", __func__,
		    http_route_name(r), res->lres_error, r->r_rid);
		goto fail;
	default:
		break;
	}
	if (res->lres_service != NULL) {
		if ((svc = config_service(r->r_gen->gen_conf,
		    res->lres_service)) == NULL ||
		    (pool = generation_pool(r->r_gen, svc)) == NULL) {
			snprintf(detail, sizeof(detail), "no service %s",
			    res->lres_service);
			r->r_service = NULL;
			http_answer(c, r, 502, detail, -1);
			http_req_end(r);
			return -1;
		}
		r->r_svc = svc;
		r->r_pool = pool;
		r->r_service = svc->svc_name;
		r->r_env.ue_hash_key = edge_hash_key(svc, &r->r_head, b,
		    c->c_addr, r->r_hkey, sizeof(r->r_hkey));
	} else if (phase == LUAVM_PHASE_FALLBACK)
		return 1;	/* the function let it be: 503 */
	if (phase == LUAVM_PHASE_FALLBACK)
		return 0;	/* another service, unguarded */
	if (res->lres_nedits > 0)
		http_lua_edits(r, res);
	if (res->lres_nparams > 0) {
		/* Lua's first, the auth params last */
		n = res->lres_nparams + r->r_env.ue_nparams;
		r->r_uparams = xcalloc(n, sizeof(*r->r_uparams));
		for (i = 0; i < res->lres_nparams; i++) {
			r->r_uparams[i].up_name = res->lres_params[i].kv_name;
			r->r_uparams[i].up_value = res->lres_params[i].kv_value;
			r->r_uparams[i].up_value_len =
			    res->lres_params[i].kv_value_len;
		}
		for (i = 0; i < r->r_env.ue_nparams; i++)
			r->r_uparams[res->lres_nparams + i] =
			    r->r_env.ue_params[i];
		r->r_env.ue_params = r->r_uparams;
		r->r_env.ue_nparams = n;
	}
	return 0;
 fail:
	r->r_service = NULL;
	snprintf(detail, sizeof(detail), "the request function of route %s "
	    "failed", http_route_name(r));
	http_answer(c, r, 500, detail, -1);
	http_req_end(r);
	return -1;
}

/*
 * The breaker of the route (or of its service) lets r through, or the
 * route's fallback answers: a static body, another route (which then
 * serves r: 0), else 503.  -1 when r has been answered and ended.
 */
static int
http_req_breaker(struct http_conn *c, struct http_req *r,
    const struct rule_route *route)
{
	struct breaker		*br;
	const struct rule_route	*fb;
	struct evbuffer		*body;
	uint64_t		 retry_ms = 1000;
	char			 detail[256], extra[64];
	int			 verdict;

	if ((br = generation_breaker(r->r_gen, r->r_svc, route)) == NULL)
		return 0;
	verdict = breaker_allow(br, r->r_t0, &r->r_ticket, &retry_ms);
	if (verdict == BREAKER_ALLOW) {
		r->r_breaker = br;
		return 0;
	}
	stats_breaker_rejected(breaker_name(br), verdict == BREAKER_FULL);
	fb = route->r_fallback == RULE_FALLBACK_ROUTE ? route->r_fb_route :
	    NULL;
	if (fb != NULL && fb->r_service != NULL &&
	    (r->r_pool = generation_pool(r->r_gen, fb->r_service)) != NULL) {
		/* the other route serves it, unguarded: it is the fallback */
		r->r_route = fb;
		r->r_svc = fb->r_service;
		r->r_service = fb->r_service->svc_name;
		r->r_env.ue_hash_key = edge_hash_key(r->r_svc, &r->r_head,
		    r->r_block, c->c_addr, r->r_hkey, sizeof(r->r_hkey));
		return 0;
	}
	if (route->r_fallback == RULE_FALLBACK_LUA) {
		switch (http_req_lua(c, r, route, LUAVM_PHASE_FALLBACK)) {
		case -1:
			return -1;
		case 0:
			return 0;
		default:
			break;
		}
	}
	if (route->r_fallback == RULE_FALLBACK_STATIC) {
		body = evbuffer_new();
		if (route->r_fb_json != NULL)
			evbuffer_add(body, route->r_fb_json,
			    strlen(route->r_fb_json));
		http_answer_body(c, r, route->r_fb_status > 0 ?
		    route->r_fb_status : 503, "application/json", body, -1,
		    NULL);
		evbuffer_free(body);
		http_req_end(r);
		return -1;
	}
	if (verdict == BREAKER_FULL)
		snprintf(detail, sizeof(detail), "service %s: too many "
		    "requests in flight", r->r_service);
	else
		snprintf(detail, sizeof(detail), "service %s is unavailable "
		    "(circuit breaker %s open)", r->r_service,
		    breaker_name(br));
	snprintf(extra, sizeof(extra), "Retry-After: %llu\r\n",
	    (unsigned long long)((retry_ms + 999) / 1000));
	stats_event(503, http_route_name(r), r->r_service, detail);
	http_answer_hdrs(c, r, 503, detail, -1, extra);
	http_req_end(r);
	return -1;
}

/*
 * A "redirect" listener answers every request with the same target on
 * the HTTPS side: 301 for GET and HEAD (what every client follows and
 * caches), 308 for the other methods, so that a POST stays a POST with
 * its body.  A URL without a host ("https://", "https://:8443") takes
 * the request's Host, without its port.  A body is not read: the
 * connection closes after the answer.
 */
static void
http_redirect(struct http_conn *c, struct http_req *r, const char *target)
{
	const char	*url = c->c_listen->l_redirect, *rest, *method, *host;
	const char	*p;
	struct evbuffer	*b;
	char		*loc, *hdr;
	size_t		 ulen;
	int		 status;

	for (p = target; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			http_answer(c, r, 400, "invalid request target", -1);
			http_req_end(r);
			return;
		}
	method = r->r_block + r->r_head.hh_method;
	status = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ?
	    301 : 308;
	rest = strstr(url, "://") + 3;	/* parse.y checked the scheme */
	ulen = strlen(url);
	if (ulen > 0 && url[ulen - 1] == '/')
		ulen--;
	if (*rest == '\0' || *rest == ':') {
		host = r->r_head.hh_host != -1 ? r->r_block +
		    r->r_head.hh_fields[r->r_head.hh_host].hf_value : NULL;
		http_server_name(r, host);
		if (r->r_host[0] == '\0')
			snprintf(r->r_host, sizeof(r->r_host), "%s",
			    c->c_thr->ht_srv->hs_addr[0] != '\0' ?
			    c->c_thr->ht_srv->hs_addr : "localhost");
		xasprintf(&loc, "%.*s%s%.*s%s", (int)(rest - url), url,
		    r->r_host, (int)(ulen - (rest - url)), rest, target);
	} else
		xasprintf(&loc, "%.*s%s", (int)ulen, url, target);
	xasprintf(&hdr, "Location: %s\r\n", loc);
	if (r->r_body != HB_NONE)
		r->r_close = 1;	/* its body stays unread */
	b = evbuffer_new();
	evbuffer_add_printf(b, "Redirecting to %s\n", loc);
	http_answer_body(c, r, status, "text/plain", b, -1, hdr);
	evbuffer_free(b);
	free(hdr);
	free(loc);
	http_req_end(r);
}

/* A complete head of blen bytes is at the start of c_in. */
static void
http_req_begin(struct http_conn *c, size_t blen)
{
	struct http_thread		*t = c->c_thr;
	struct http_server		*srv = t->ht_srv;
	struct gw_config		*conf = srv->hs_conf;
	const struct rule_route		*route;
	const struct rules		*rl;
	enum rules_result		 res;
	char				 allow[320];
	struct http_head		 h;
	struct http_req			*r;
	struct timeval			 now;
	const char			*errstr = NULL, *target, *q, *host;
	const char			*path;
	char				*b, detail[300];
	struct evbuffer			*first;
	size_t				 tlen, plen, n;
	int				 status, i;

	h.hh_fields = t->ht_fields;
	h.hh_maxfields = conf->conf_max_headers;
	status = http_parse_head((const char *)evbuffer_pullup(c->c_in,
	    blen), blen, &h, &errstr);
	if (status != 0) {
		log_debug("%s: %s: %d %s", __func__, c->c_addr, status,
		    errstr);
		evbuffer_drain(c->c_in, blen);
		http_answer(c, NULL, status, errstr, -1);
		http_conn_linger(c);
		return;
	}

	/* one allocation: the request, its fields, its head block */
	r = http_req_alloc(t, sizeof(*r) +
	    h.hh_nfields * sizeof(struct http_field) + blen + 1);
	r->r_head = h;
	r->r_head.hh_fields = (struct http_field *)(r + 1);
	memcpy(r->r_head.hh_fields, h.hh_fields,
	    h.hh_nfields * sizeof(struct http_field));
	r->r_head.hh_maxfields = h.hh_nfields;
	b = r->r_block = (char *)(r->r_head.hh_fields + h.hh_nfields);
	evbuffer_remove(c->c_in, b, blen);
	b[blen] = '\0';
	r->r_blen = blen;
	/* NUL-terminate every string in place: its delimiter is not needed */
	b[h.hh_method + h.hh_method_len] = '\0';
	b[h.hh_target + h.hh_target_len] = '\0';
	for (i = 0; i < h.hh_nfields; i++) {
		b[h.hh_fields[i].hf_name + h.hh_fields[i].hf_name_len] = '\0';
		b[h.hh_fields[i].hf_value + h.hh_fields[i].hf_value_len] =
		    '\0';
	}

	r->r_conn = c;
	c->c_req = r;
	c->c_first = 0;
	t->ht_inflight++;
	event_base_gettimeofday_cached(t->ht_base, &now);
	r->r_time = now.tv_sec;
	r->r_t0 = http_now_ns();
	r->r_status = 0;
	r->r_out_left = -1;
	r->r_body_done = 1;
	if (h.hh_rid != -1 && http_request_id_ok(b +
	    h.hh_fields[h.hh_rid].hf_value))
		snprintf(r->r_rid, sizeof(r->r_rid), "%s",
		    b + h.hh_fields[h.hh_rid].hf_value);
	else
		http_request_id(&t->ht_rng, r->r_rid);
	if (++c->c_nreq >= conf->conf_max_requests && conf->conf_max_requests)
		r->r_close = 1;
	if (h.hh_close || t->ht_draining)
		r->r_close = 1;
	r->r_nobody = strcmp(b + h.hh_method, "HEAD") == 0;

	/* the body's framing first: errors below depend on it */
	if (h.hh_chunked) {
		r->r_body = HB_CHUNKED;
		r->r_body_done = 0;
		http_chunked_init(&r->r_chunk);
	} else if (h.hh_content_length > 0) {
		r->r_body = HB_LENGTH;
		r->r_body_done = 0;
		r->r_left = h.hh_content_length;
	}
	if (h.hh_content_length > (int64_t)conf->conf_max_body) {
		http_answer(c, r, 413, "request body exceeds the limit", -1);
		http_req_end(r);
		return;
	}

	/* origin-form, or absolute-form reduced to its path */
	target = b + h.hh_target;
	tlen = h.hh_target_len;
	if (tlen > 7 && (strncasecmp(target, "http://", 7) == 0 ||
	    (tlen > 8 && strncasecmp(target, "https://", 8) == 0))) {
		q = strchr(target + 8, '/');
		target = q ? q : "/";
		tlen = strlen(target);
	}
	if (target[0] != '/') {
		http_answer(c, r, 400, "request target is not an absolute "
		    "path", -1);
		http_req_end(r);
		return;
	}
	if (c->c_listen->l_redirect != NULL) {
		http_redirect(c, r, target);
		return;
	}
	q = memchr(target, '?', tlen);
	plen = q ? (size_t)(q - target) : tlen;
	/* rules and PATH_INFO see the decoded, resolved path */
	path = target;
	if (!uri_path_plain(target, plen)) {
		r->r_dpath = xmalloc(plen + 1);
		if (uri_path_normalize(target, plen, r->r_dpath, &plen,
		    &errstr) == -1) {
			http_answer(c, r, 400, errstr, -1);
			http_req_end(r);
			return;
		}
		path = r->r_dpath;
	}
	/* this request runs on the generation current now, to its end */
	r->r_gen = generation_acquire();
	rl = r->r_gen != NULL ? r->r_gen->gen_conf->conf_rules : NULL;
	res = rl != NULL ? rules_lookup(rl, b + h.hh_method, path, plen,
	    &r->r_match) : RULES_NO_ROUTE;
	if (res == RULES_BAD_METHOD) {
		snprintf(detail, sizeof(detail), "method %s not allowed for "
		    "%.*s", b + h.hh_method, (int)(plen > 200 ? 200 : plen),
		    path);
		snprintf(allow, sizeof(allow), "Allow: %s\r\n",
		    r->r_match.m_allow_str);
		http_answer_hdrs(c, r, 405, detail, -1, allow);
		http_req_end(r);
		return;
	}
	route = res == RULES_MATCH ? r->r_match.m_route : NULL;
	r->r_route = route;
	if (route == NULL || route->r_service == NULL ||
	    (r->r_pool = generation_pool(r->r_gen, route->r_service)) ==
	    NULL) {
		snprintf(detail, sizeof(detail), "no route for %.*s",
		    (int)(plen > 256 ? 256 : plen), path);
		http_answer(c, r, 404, detail, -1);
		http_req_end(r);
		return;
	}
	r->r_svc = route->r_service;
	r->r_service = route->r_service->svc_name;
	/* without a jwt block tokens are not checked (config_check said) */
	if (route->r_auth == RULE_AUTH_JWT &&
	    r->r_gen->gen_conf->conf_jwt != NULL) {
		status = auth_check(r->r_gen->gen_conf->conf_jwt, route,
		    edge_header(&r->r_head, b, "Authorization"), now.tv_sec,
		    &r->r_claims, &errstr);
		if (status != 0) {
			auth_challenge(status, errstr, allow, sizeof(allow));
			r->r_service = NULL;
			http_answer_hdrs(c, r, status, errstr, -1, allow);
			http_req_end(r);
			return;
		}
		r->r_env.ue_params = r->r_params;
		r->r_env.ue_nparams = auth_params(r->r_claims, r->r_params,
		    r->r_roles, sizeof(r->r_roles));
	}
	if (route->r_limits.rn_n > 0) {
		char		 cbuf[INET6_ADDRSTRLEN];
		const char	*client, *refused;

		client = edge_client(r->r_gen->gen_conf, c->c_addr, &r->r_head,
		    b, cbuf, sizeof(cbuf));
		if (edge_ratelimit(r->r_gen->gen_conf, route,
		    http_route_name(r), &r->r_head, b, client,
		    r->r_claims != NULL ? r->r_claims->jc_sub : NULL,
		    r->r_t0, r->r_xhdrs, sizeof(r->r_xhdrs), &refused) != 0) {
			snprintf(detail, sizeof(detail), "rate limit \"%s\" "
			    "exceeded", refused);
			r->r_service = NULL;
			http_answer(c, r, 429, detail, -1);
			http_req_end(r);
			return;
		}
	}

	r->r_env.ue_method = b + h.hh_method;
	r->r_env.ue_uri = b + h.hh_target;
	r->r_env.ue_major = h.hh_major;
	r->r_env.ue_minor = h.hh_minor;
	r->r_env.ue_block = b;
	r->r_env.ue_head = &r->r_head;
	r->r_env.ue_content_length = h.hh_content_length;
	r->r_env.ue_script_name = route->r_strip;
	r->r_env.ue_script_name_len = route->r_strip_len;
	r->r_env.ue_path_info = path + route->r_strip_len;
	r->r_env.ue_path_info_len = plen - route->r_strip_len;
	r->r_env.ue_query = q ? q + 1 : "";
	if (srv->hs_addr[0] != '\0') {
		r->r_env.ue_server_addr = srv->hs_addr;
		r->r_env.ue_server_port = srv->hs_port;
	} else {
		r->r_env.ue_server_addr = c->c_saddr;
		r->r_env.ue_server_port = c->c_sport;
	}
	r->r_env.ue_remote_addr = c->c_addr;
	r->r_env.ue_remote_port = c->c_port;
	r->r_env.ue_request_id = r->r_rid;
	if (c->c_tls != NULL) {
		struct tls_info	 ti;

		tls_conn_info(c->c_tls, &ti);
		r->r_env.ue_https = 1;
		r->r_env.ue_ssl_protocol = ti.ti_protocol;
		r->r_env.ue_ssl_cipher = ti.ti_cipher;
		r->r_env.ue_ssl_client_verify = ti.ti_verify;
		r->r_env.ue_ssl_client_s_dn = ti.ti_dn;
	}
	if (h.hh_traceparent != -1)
		r->r_env.ue_traceparent = b +
		    h.hh_fields[h.hh_traceparent].hf_value;
	host = h.hh_host != -1 ? b + h.hh_fields[h.hh_host].hf_value : NULL;
	http_server_name(r, host);
	r->r_env.ue_hash_key = edge_hash_key(r->r_svc, &r->r_head, b,
	    c->c_addr, r->r_hkey, sizeof(r->r_hkey));
	r->r_env.ue_retries = edge_retries(route, r->r_svc, b + h.hh_method);
	r->r_env.ue_timeout_ms = route->r_timeout_ms;
	r->r_path = path;
	r->r_plen = plen;
	r->r_query = q;
	if (route->r_handler && http_req_lua(c, r, route,
	    LUAVM_PHASE_HANDLER) == -1)
		return;
	if (http_req_breaker(c, r, route) == -1)
		return;

	if (h.hh_continue && r->r_body != HB_NONE) {
		/* straight away: the checks above passed */
		evbuffer_add(c->c_out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		http_conn_flush(c);
		if (c->c_dead)
			return;
	}
	if (r->r_body == HB_CHUNKED) {
		r->r_cbody = evbuffer_new();
		c->c_state = HC_BODY;
		http_conn_timer(c, conf->conf_body_timeout);
		(void)http_req_body(c, r);
		return;
	}
	/*
	 * What body is here already goes with the head: one write, and a
	 * backend that answers before reading STDIN finds no stray record
	 * of this request in front of the next one.
	 */
	first = NULL;	/* no body: no buffer to make and free */
	if (r->r_body == HB_LENGTH) {
		first = evbuffer_new();
		n = evbuffer_get_length(c->c_in);
		if ((int64_t)n > r->r_left)
			n = r->r_left;
		evbuffer_remove_buffer(c->c_in, first, n);
		r->r_left -= n;
		if (r->r_left == 0)
			r->r_body_done = 1;
	}
	c->c_state = r->r_body_done ? HC_WAIT : HC_BODY;
	http_conn_timer(c, r->r_body_done ? 0 : conf->conf_body_timeout);
	r->r_upstream = 1;
	upstream_start(&r->r_up, t->ht_base, r->r_pool, r->r_svc, &r->r_env,
	    &http_upstream_ops, first, r->r_body_done, http_upstream_done, r);
	if (first != NULL)
		evbuffer_free(first);
	/* if r is still running, the process loop reads more body */
}

/* Reads requests from c_in while there is no request running. */
static void	http_conn_process_loop(struct http_conn *,
		    struct gw_config *);

static void
http_conn_process(struct http_conn *c)
{
	struct gw_config	*conf = c->c_thr->ht_srv->hs_conf;

	if (c->c_inproc)
		return;
	c->c_inproc = 1;
	http_conn_process_loop(c, conf);
	c->c_inproc = 0;
}

static void
http_conn_process_loop(struct http_conn *c, struct gw_config *conf)
{
	size_t			 len, n, end;
	const char		*p;

	while (!c->c_dead) {
		if (c->c_req != NULL) {
			if (c->c_state == HC_BODY &&
			    !c->c_req->r_body_done &&
			    !c->c_rpaused) {
				if (http_req_body(c, c->c_req) == -1)
					continue;
			}
			/* pipelined input waits, up to a bound */
			if (!c->c_dead && c->c_req != NULL &&
			    c->c_req->r_body_done &&
			    evbuffer_get_length(c->c_in) > HTTP_IN_MAX)
				http_conn_pause(c, 1);
			return;
		}
		if (c->c_state == HC_LINGER)
			return;
		if ((len = evbuffer_get_length(c->c_in)) == 0) {
			if (c->c_eof)
				http_conn_kill(c);
			return;
		}
		if (c->c_state == HC_IDLE) {
			c->c_state = HC_HEAD;
			if (!c->c_first)
				http_conn_timer(c, conf->conf_header_timeout);
		}
		n = len < conf->conf_max_header + 4 ? len :
		    conf->conf_max_header + 4;
		p = (const char *)evbuffer_pullup(c->c_in, n);
		if ((end = http_parse_end(p, n, &c->c_scan)) == 0) {
			if (n >= conf->conf_max_header + 4) {
				http_answer(c, NULL, 431, "request header "
				    "fields exceed the limit", -1);
				http_conn_linger(c);
			} else if (c->c_eof)
				http_conn_kill(c);
			return;
		}
		c->c_scan = 0;
		if (end > conf->conf_max_header + 4) {
			http_answer(c, NULL, 431, "request header fields "
			    "exceed the limit", -1);
			http_conn_linger(c);
			return;
		}
		http_req_begin(c, end);
	}
}

/* ---------------------------------------------------- upstream callbacks */

static int
http_no_body_status(int status)
{
	return (status >= 100 && status < 200) || status == 204 ||
	    status == 304;
}

static void
http_up_head(void *arg, int status, const char *reason,
    struct evkeyvalq *hdrs)
{
	struct http_req		*r = arg;
	struct http_conn	*c = r->r_conn;
	struct evkeyval		*kv;
	struct http_hbuf	 h;
	const char		*cl = NULL, *s;
	char			*end;
	size_t			 len;

	r->r_status = status;
	r->r_head_sent = 1;
	if (http_no_body_status(status))
		r->r_nobody = 1;
	http_hbuf_init(&h, c->c_out);
	http_head_start_hb(&h, c->c_thr, status, reason, r->r_rid);
	TAILQ_FOREACH(kv, hdrs, next) {
		if (strcasecmp(kv->key, "Content-Length") == 0) {
			cl = kv->value;
			r->r_out_left = strtoll(cl, &end, 10);
			if (*end != '\0' || end == cl || r->r_out_left < 0) {
				r->r_out_left = -1;
				continue;	/* garbage: we frame it */
			}
		}
		http_hbuf_str(&h, kv->key);
		http_hbuf_add(&h, ": ", 2);
		http_hbuf_str(&h, kv->value);
		http_hbuf_add(&h, "\r\n", 2);
	}
	if (r->r_out_left == -1 && !r->r_nobody) {
		if (r->r_head.hh_minor == 1) {
			http_hbuf_add(&h, "Transfer-Encoding: chunked\r\n", 28);
			r->r_chunked_out = 1;
		} else
			r->r_close = 1;	/* 1.0: the close ends the body */
	}
	if (c->c_thr->ht_draining)
		r->r_close = 1;
	if (r->r_xhdrs[0] != '\0')
		http_hbuf_str(&h, r->r_xhdrs);
	if ((s = http_head_connection_str(r, &len)) != NULL)
		http_hbuf_add(&h, s, len);
	http_hbuf_add(&h, "\r\n", 2);
	http_hbuf_flush(&h);
}

static int
http_up_body(void *arg, struct evbuffer *buf, int last)
{
	struct http_req		*r = arg;
	struct http_conn	*c = r->r_conn;
	size_t			 n = evbuffer_get_length(buf);

	if (r->r_nobody || c->c_dead) {
		evbuffer_drain(buf, n);
		return 0;
	}
	if (r->r_out_left >= 0) {
		/* never more than announced: it would break framing */
		if ((int64_t)n > r->r_out_left) {
			evbuffer_drain(buf, n - r->r_out_left);
			n = r->r_out_left;
		}
		r->r_out_left -= n;
		evbuffer_add_buffer(c->c_out, buf);
	} else if (r->r_chunked_out) {
		evbuffer_add_printf(c->c_out, "%zx\r\n", n);
		evbuffer_add_buffer(c->c_out, buf);
		evbuffer_add(c->c_out, "\r\n", 2);
	} else
		evbuffer_add_buffer(c->c_out, buf);
	r->r_bytes += n;
	if (last)
		return 0;	/* done follows and flushes */
	c->c_busy++;
	http_conn_flush(c);
	c->c_busy--;	/* a kill is deferred through c_tev */
	return evbuffer_get_length(c->c_out) > HTTP_OUT_HIWAT;
}

static void
http_up_more(void *arg)
{
	struct http_req		*r = arg;
	struct http_conn	*c = r->r_conn;

	if (c->c_state != HC_BODY || c->c_dead)
		return;
	http_conn_pause(c, 0);
	/* what is buffered already */
	if (evbuffer_get_length(c->c_in) > 0 && c->c_busy == 0) {
		c->c_busy++;
		event_active(&c->c_rev, EV_READ, 1);
		c->c_busy--;
	}
}

/* What the backend did, for the request's breaker ticket. */
static void
http_breaker_record(struct http_req *r, struct upstream *u,
    enum upstream_end end, double ut)
{
	enum breaker_outcome	 o;

	switch (end) {
	case UPSTREAM_END_OK:
		o = breaker_status(r->r_breaker, r->r_status);
		break;
	case UPSTREAM_END_ERROR:
		if (u->u_shed)
			o = BREAKER_IGNORE;	/* our queue's load shedding */
		else if (r->r_head_sent)
			o = BREAKER_FAILURE;	/* cut in the middle */
		else if (u->u_status == 504)
			o = BREAKER_TIMEOUT;
		else if (u->u_detail != NULL &&
		    strncmp(u->u_detail, "cannot connect", 14) == 0)
			o = BREAKER_CONNECT;
		else
			o = BREAKER_FAILURE;
		break;
	default:
		o = BREAKER_IGNORE;	/* the client left */
		break;
	}
	breaker_record(r->r_breaker, &r->r_ticket, o,
	    ut > 0 ? (uint64_t)(ut * 1e9) : 0, http_now_ns());
}

static void
http_upstream_done(struct upstream *u, enum upstream_end end, void *arg)
{
	struct http_req		*r = arg;
	struct http_conn	*c = r->r_conn;
	char			 detail[256];
	double			 ut = upstream_time(u);

	r->r_upstream = 0;
	r->r_upstream_addr = upstream_server_addr(u);
	r->r_connect_ns = (int64_t)(upstream_connect_time(u) * 1e9);
	c->c_busy++;
	if (r->r_breaker != NULL)
		http_breaker_record(r, u, end, ut);
	switch (end) {
	case UPSTREAM_END_OK:
		if (r->r_chunked_out)
			evbuffer_add(c->c_out, "0\r\n\r\n", 5);
		if (r->r_out_left > 0)
			r->r_close = 1;	/* short body: only a close says so */
		http_log(c, r, r->r_status, r->r_bytes, ut);
		break;
	case UPSTREAM_END_ERROR:
		if (r->r_head_sent) {
			/* the head is out: only cutting the connection
			 * tells the client the body is incomplete */
			http_log(c, r, r->r_status, r->r_bytes, ut);
			http_conn_kill(c);
			break;
		}
		snprintf(detail, sizeof(detail), "service %s: %s",
		    r->r_service, u->u_detail);
		http_answer(c, r, u->u_status, detail, ut);
		break;
	case UPSTREAM_END_GONE:
		if (r->r_timedout && !r->r_head_sent && !c->c_dead) {
			http_answer(c, r, 408, "request body not received "
			    "in time", ut);
			break;
		}
		/* 499: nginx's "client closed request" */
		http_log(c, r, 499, r->r_bytes, ut);
		http_conn_kill(c);
		break;
	}
	if (!c->c_dead)
		http_conn_flush(c);
	http_req_end(r);
	http_conn_leave(c);
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
	pthread_mutex_init(&srv->hs_clients_mtx, NULL);
	for (i = 0; i < srv->hs_nthreads; i++) {
		srv->hs_threads[i].ht_srv = srv;
		srv->hs_threads[i].ht_id = i;
		TAILQ_INIT(&srv->hs_threads[i].ht_conns);
	}
	TAILQ_FOREACH(l, &conf->conf_listens, l_entry)
		n++;
	l = TAILQ_FIRST(&conf->conf_listens);
	/* one fixed numeric address: no getsockname() per connection */
	if (n == 1 && http_numeric_host(l->l_addr) &&
	    strlen(l->l_port) < sizeof(srv->hs_port)) {
		strcpy(srv->hs_addr, l->l_addr);
		strcpy(srv->hs_port, l->l_port);
	}
	return srv;
}

static int
http_bind(struct http_thread *t, const struct gw_listen *l,
    const char **errstr)
{
	struct evconnlistener	*lev;
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
		if (t->ht_nlev >= HTTP_MAX_LISTENERS) {
			*errstr = "too many listeners";
			break;
		}
		t->ht_lsn[t->ht_nlev].hl_thr = t;
		t->ht_lsn[t->ht_nlev].hl_listen = l;
		lev = evconnlistener_new_bind(t->ht_base, http_accept_cb,
		    &t->ht_lsn[t->ht_nlev],
		    LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
		    HTTP_BACKLOG, ai->ai_addr, ai->ai_addrlen);
		if (lev == NULL) {
			*errstr = strerror(errno);
			break;
		}
		t->ht_lev[t->ht_nlev++] = lev;
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
	struct event_config	*cfg;
	int			 i;

	for (i = 0; i < srv->hs_nthreads; i++) {
		t = &srv->hs_threads[i];
		/*
		 * The changelist folds an event_del and event_add of one fd
		 * in one loop pass (a backend fd handed from one request to
		 * the next) into no epoll_ctl at all.  No fd here is dup()ed.
		 */
		if ((cfg = event_config_new()) == NULL)
			fatalx("%s: event_config_new", __func__);
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		t->ht_base = event_base_new_with_config(cfg);
		event_config_free(cfg);
		if (t->ht_base == NULL) {
			*errstr = "cannot create an event loop";
			return -1;
		}
		t->ht_fields = xcalloc(conf->conf_max_headers > 0 ?
		    conf->conf_max_headers : 1, sizeof(struct http_field));
		TAILQ_FOREACH(l, &conf->conf_listens, l_entry) {
			if (l->l_tls && l->l_tlsctx == NULL) {
				/* never plain HTTP where TLS was asked for */
				*errstr = "TLS listener without a context "
				    "(tls_config_load)";
				log_warnx("%s: listen on %s port %s: %s",
				    __func__, l->l_addr, l->l_port, *errstr);
				return -1;
			}
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
	struct http_conn	*c, *next;
	struct timeval		 now;

	accesslog_flush(t->ht_log);
	if (!t->ht_draining)
		return;
	/* keep-alive connections between requests go at once */
	for (c = TAILQ_FIRST(&t->ht_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_entry);
		if (c->c_req == NULL && c->c_state == HC_IDLE &&
		    evbuffer_get_length(c->c_in) == 0)
			http_conn_kill(c);
	}
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
	for (i = 0; i < t->ht_nlev; i++)
		evconnlistener_free(t->ht_lev[i]);
	t->ht_nlev = 0;
	event_base_gettimeofday_cached(t->ht_base, &now);
	tv.tv_sec = t->ht_srv->hs_drain_ms / 1000;
	tv.tv_usec = (t->ht_srv->hs_drain_ms % 1000) * 1000;
	timeradd(&now, &tv, &t->ht_deadline);
	/* from now on the tick checks often */
	tv.tv_sec = 0;
	tv.tv_usec = HTTP_DRAIN_TICK_MS * 1000;
	event_del(t->ht_tick);
	event_add(t->ht_tick, &tv);
	http_tick(-1, 0, t);
}

static void *
http_thread_main(void *arg)
{
	struct http_thread	*t = arg;
	struct http_conn	*c;
	int			 i;

	event_base_dispatch(t->ht_base);
	/* what is left ends as 499 */
	while ((c = TAILQ_FIRST(&t->ht_conns)) != NULL)
		http_conn_free(c);
	for (i = 0; i < t->ht_nlev; i++)
		evconnlistener_free(t->ht_lev[i]);
	t->ht_nlev = 0;
	accesslog_flush(t->ht_log);
	upstream_thread_free();
	luavm_free(t->ht_lvm);
	generation_release(t->ht_lvm_gen);
	t->ht_lvm = NULL;
	t->ht_lvm_gen = NULL;
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
	struct http_client	*cl, *next;
	int			 i;

	if (srv == NULL)
		return;
	for (i = 0; i < srv->hs_nthreads; i++) {
		t = &srv->hs_threads[i];
		if (t->ht_started)
			pthread_join(t->ht_tid, NULL);
		else
			while (!TAILQ_EMPTY(&t->ht_conns))
				http_conn_free(TAILQ_FIRST(&t->ht_conns));
		for (; t->ht_nlev > 0; t->ht_nlev--)
			evconnlistener_free(t->ht_lev[t->ht_nlev - 1]);
		if (t->ht_ctl != NULL)
			event_free(t->ht_ctl);
		if (t->ht_tick != NULL)
			event_free(t->ht_tick);
		accesslog_buf_free(t->ht_log);
		free(t->ht_fields);
		while (t->ht_nrspare > 0)
			free(t->ht_rspare[--t->ht_nrspare]);
		if (t->ht_base != NULL)
			event_base_free(t->ht_base);
	}
	for (i = 0; i < HTTP_CLIENT_BUCKETS; i++)
		for (cl = srv->hs_clients[i]; cl != NULL; cl = next) {
			next = cl->cl_next;
			free(cl);
		}
	pthread_mutex_destroy(&srv->hs_clients_mtx);
	free(srv->hs_threads);
	free(srv);
}
