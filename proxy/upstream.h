/*
 * The FastCGI upstream client: one request on one pooled connection.
 *
 * It sends BEGIN_REQUEST (responder, FCGI_KEEP_CONN), the CGI/1.1 params
 * and the request body as STDIN, then streams STDOUT back to the HTTP
 * client as it arrives: the CGI header block (Status:, Location:, ...)
 * becomes the response head, the rest goes out in chunks (or with the
 * backend's Content-Length).  STDERR lines are logged, tagged with the
 * service and request id.
 *
 * Failures: FCGI_OVERLOADED 503, FCGI_UNKNOWN_ROLE or FCGI_CANT_MPX_CONN
 * 502, early close or a malformed stream 502, no byte within read_timeout
 * 504 (the connection is dropped).  A kept-alive connection that fails
 * before the first response byte is retried once on another connection;
 * beyond that, ue_retries more tries (idempotent methods) go to another
 * server (the pool's `avoid`) on a connect failure, or, when the pool has
 * more than one server, when the backend closes without a byte.  Backend failures are reported to the pool's passive health.
 * Once the response head has gone out a failure can only cut the client
 * connection.
 *
 * The pieces below the request driver (params, record stream, CGI header
 * parsing) work on plain buffers so the unit tests can drive them.
 */
#ifndef AGORA_PROXY_UPSTREAM_H
#define AGORA_PROXY_UPSTREAM_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "pool.h"

struct evbuffer;
struct evkeyvalq;

/* ---- params: name-value pairs built into one growing buffer ---- */

struct upstream_params {
	uint8_t		*upp_buf;
	size_t		 upp_len;
	size_t		 upp_cap;
};

/* Appends one pair.  The buffer grows as needed (never fails). */
void	upstream_params_add(struct upstream_params *, const char *name,
	    size_t name_len, const char *value, size_t value_len);
void	upstream_params_adds(struct upstream_params *, const char *name,
	    const char *value);
/*
 * Appends a request header as HTTP_<NAME> (uppercased, '-' to '_').
 * Returns 0, or -1 when the header must not be passed: Content-Type and
 * Content-Length (they have their own params), Proxy (httpoxy), names
 * with characters other than letters, digits and '-', and names that
 * would collide with the gateway's auth params.
 */
int	upstream_params_header(struct upstream_params *, const char *name,
	    const char *value);
/*
 * Emits the pairs as PARAMS records of at most FCGI_CONTENT_MAX bytes
 * each, then the empty PARAMS record that ends the stream.
 */
void	upstream_params_records(const struct upstream_params *,
	    struct evbuffer *out, uint16_t request_id);
void	upstream_params_free(struct upstream_params *);

/* STDIN records for the bytes of body (not drained), then empty STDIN. */
void	upstream_stdin_records(struct evbuffer *body, struct evbuffer *out,
	    uint16_t request_id);

/* ---- the record stream coming back ---- */

struct upstream_parser {
	int		 upr_state;
	uint8_t		 upr_type;
	uint16_t	 upr_request_id;
	size_t		 upr_left;	/* content bytes of this record */
	size_t		 upr_pad;
	uint32_t	 upr_app_status;
	uint8_t		 upr_protocol_status;
};

void	upstream_parser_init(struct upstream_parser *, uint16_t request_id);
/*
 * Consumes what it can of in: STDOUT content is moved to out, STDERR
 * content to err (both without copying).  Returns 1 once END_REQUEST has
 * been read (upr_app_status and upr_protocol_status are set, bytes after
 * it stay in in), 0 when it needs more input, -1 on a malformed stream
 * with *errstr set.
 */
int	upstream_parse(struct upstream_parser *, struct evbuffer *in,
	    struct evbuffer *out, struct evbuffer *err, const char **errstr);

/*
 * Parses a CGI response header block at the start of p.  Returns its
 * length including the empty line that ends it, 0 when it is incomplete,
 * or -1 when malformed (*errstr).  *status is from Status: (else 302 when
 * there is a Location:, else 200); the reason phrase, if any, is copied to
 * reason.  Other headers are added to hdrs, except hop-by-hop ones and
 * X-Request-Id (the gateway sets its own).
 */
ssize_t	upstream_cgi_parse(const char *p, size_t len, int *status,
	    char *reason, size_t reasonlen, struct evkeyvalq *hdrs,
	    const char **errstr);

/* ---- the request driver ---- */

struct gw_service;
struct http_head;

/* What the HTTP front knows that FastCGI params need. */
struct upstream_env {
	const char	*ue_method;		/* NUL-terminated */
	const char	*ue_uri;		/* request target as received */
	int		 ue_major, ue_minor;
	const char	*ue_block;		/* the request head block.. */
	const struct http_head *ue_head;	/* ..and its fields */
	int64_t		 ue_content_length;	/* body length, -1: none */
	const char	*ue_script_name;	/* route's strip, "" */
	size_t		 ue_script_name_len;
	const char	*ue_path_info;		/* rest of the path */
	size_t		 ue_path_info_len;
	const char	*ue_query;		/* "" when none */
	const char	*ue_server_name;
	const char	*ue_server_addr;
	const char	*ue_server_port;
	const char	*ue_remote_addr;
	unsigned int	 ue_remote_port;
	const char	*ue_request_id;
	const char	*ue_traceparent;	/* NULL when absent */
	int		 ue_https;
	/* TLS (tls.h), NULL when plain: SSL_PROTOCOL.. SSL_CLIENT_S_DN */
	const char	*ue_ssl_protocol;
	const char	*ue_ssl_cipher;
	const char	*ue_ssl_client_verify;
	const char	*ue_ssl_client_s_dn;	/* NULL: no client cert */
	const char	*ue_hash_key;		/* balancing key, NULL: none */
	int		 ue_retries;		/* more tries on connect failure
						   or no byte back (idempotent) */
	long		 ue_timeout_ms;		/* the route's read timeout;
						   0: the service's */
	const struct upstream_param *ue_params;	/* added last (auth, Lua) */
	size_t		 ue_nparams;
};

/* A param the front adds (REMOTE_USER, AUTH_*, a Lua handler's). */
struct upstream_param {
	const char	*up_name;
	const char	*up_value;
	size_t		 up_value_len;
};

/* How a request ends; see upstream_done_cb. */
enum upstream_end {
	UPSTREAM_END_OK,	/* response complete: send the last chunk */
	UPSTREAM_END_ERROR,	/* u_status/u_detail: answer or cut */
	UPSTREAM_END_GONE	/* upstream_abort() was called */
};

struct upstream;
/*
 * Called once per request, after the backend connection has been given
 * back; the HTTP front logs the request and ends the response (or
 * answers the error).  Nothing touches the upstream after it returns, so
 * the front may free it there.
 */
typedef void	(*upstream_done_cb)(struct upstream *, enum upstream_end,
		    void *arg);

/*
 * The front's side of the response.  None of these may call back into
 * the upstream (defer with an event instead).
 */
struct upstream_ops {
	/* The response head: the CGI status, reason (NULL: standard) and
	 * headers (the front may take them out of hdrs). */
	void	(*uo_head)(void *arg, int status, const char *reason,
		    struct evkeyvalq *hdrs);
	/* Body bytes, all to be taken out of buf; last: END_REQUEST
	 * follows at once.  Returns 1 when the client's buffer is full:
	 * the upstream stops reading the backend until upstream_resume(). */
	int	(*uo_body)(void *arg, struct evbuffer *buf, int last);
	/* The upstream has room for more request body again. */
	void	(*uo_more)(void *arg);
};

/* One request; embedded in the front's per-request struct. */
struct upstream_rev;

struct upstream {
	struct event_base	*u_base;
	struct pool		*u_pool;
	const struct gw_service	*u_svc;
	const char		*u_service;
	const struct upstream_env *u_env;
	const struct upstream_ops *u_ops;
	upstream_done_cb	 u_done;
	void			*u_arg;
	struct timeval		 u_read_tv;

	struct pool_wait	 u_wait;
	int			 u_fd;
	int			 u_reused;
	int			 u_retried;	/* replaying on another conn */
	int			 u_stale;	/* kept-alive conn retry used */
	int			 u_tries;	/* retries left */
	int			 u_avoid;	/* server that failed, or -1 */
	int			 u_failed;	/* the backend failed (health) */
	int			 u_waiting;	/* pool_acquire pending */
	int			 u_pended;	/* it ever was */
	int			 u_shed;	/* refused by the pool's queue
						   (full, or waited too long):
						   no server saw it */
	int			 u_paused;	/* client output is full */
	int			 u_got;		/* any byte from backend */
	size_t			 u_unread;	/* the answer, peeked: still
						   in the socket */
	int			 u_started;	/* response head sent */
	int			 u_wfailed;	/* backend stopped reading */
	int			 u_body_eof;	/* all of the body given */
	int			 u_stdin_end;	/* empty STDIN queued */
	int			 u_want;	/* the front waits for room */
	int			 u_noreplay;	/* sent too much to retry */
	int			 u_finished;	/* done has been called */
	struct upstream_rev	*u_rev;		/* read + read timeout */
	struct event		 u_wev;		/* write, while u_out has data */
	struct evbuffer		*u_out;		/* records to the backend */
	struct evbuffer		*u_replay;	/* copy of them, for a retry */
	struct evbuffer		*u_stdin;	/* body not yet in records */
	struct evbuffer		*u_in;		/* records from it */
	struct evbuffer		*u_body;	/* STDOUT content */
	struct evbuffer		*u_err;		/* STDERR content */
	struct evkeyvalq	*u_hdrs;	/* CGI response headers.. */
	struct evkeyvalq	 u_hdrq;	/* ..kept here */
	struct upstream_parser	 u_parser;
	/* CLOCK_MONOTONIC ns: start, connection ready, first byte, end */
	uint64_t		 u_t0;
	uint64_t		 u_tconn;
	uint64_t		 u_tfirst;
	uint64_t		 u_t1;

	int			 u_status;	/* response status */
	const char		*u_detail;	/* error detail (static) */
	size_t			 u_bytes;	/* body bytes to client */
};

/*
 * Starts a request on a connection from pool; svc gives the name, the
 * read timeout and the extra params.  body (NULL: none) holds the request
 * body bytes there are so far (moved out), eof says it is all of it;
 * more comes with upstream_body().  env must stay valid until done is
 * called.  done may be called before this returns.
 */
void	upstream_start(struct upstream *, struct event_base *,
	    struct pool *, const struct gw_service *svc,
	    const struct upstream_env *, const struct upstream_ops *,
	    struct evbuffer *body, int eof, upstream_done_cb, void *arg);
/*
 * Request body bytes (moved out of data; data may be NULL), eof when it
 * is all there.  Returns 1 when the upstream holds enough unsent body:
 * the front should stop reading until uo_more is called.
 */
int	upstream_body(struct upstream *, struct evbuffer *data, int eof);
/* The client's output drained after uo_body returned 1. */
void	upstream_resume(struct upstream *);
/*
 * Stop: give the backend connection back (closed), and call done with
 * UPSTREAM_END_GONE.  A no-op once done has been called.
 */
void	upstream_abort(struct upstream *);
/*
 * Reads at most max bytes from fd into buf with one recv() (evbuffer_read
 * asks FIONREAD first: a syscall per read).  As read(2).
 */
ssize_t	upstream_recv(struct evbuffer *buf, int fd, size_t max);
/* Frees the calling thread's scratch buffers (at thread exit). */
void	upstream_thread_free(void);
/*
 * Times from upstream_start(), in seconds, on the monotonic clock (never
 * the loop's cached one): to the end of the exchange (once done has been
 * called: > 0, unless the pool refused at once, without a connection or
 * a wait: then 0, "no backend"), to a connection from the pool (queue
 * wait and connect included), to the first byte back.  The last two are
 * 0 when the request never got that far.
 */
double	upstream_time(const struct upstream *);
double	upstream_connect_time(const struct upstream *);
/* The address of the server that answered (or last failed); NULL: none. */
const char	*upstream_server_addr(const struct upstream *);
double	upstream_first_byte_time(const struct upstream *);

#endif
