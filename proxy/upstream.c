/*
 * FastCGI upstream client.  Per request: BEGIN_REQUEST + PARAMS + STDIN
 * written in as few syscalls as the socket takes, then STDOUT streamed to
 * the client with backpressure, and the connection handed back to the
 * pool when END_REQUEST leaves it clean.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fcgi.h"
#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "http_parse.h"
#include "upstream.h"

#define UPSTREAM_REQUEST_ID	1
#define UPSTREAM_READ_MAX	65536
/* a CGI header block longer than this is garbage */
#define UPSTREAM_HEADER_MAX	65536
/* unsent request body beyond this: the front stops reading the client */
#define UPSTREAM_STDIN_HIWAT	(64 * 1024)
#define UPSTREAM_STDIN_LOWAT	(16 * 1024)
/* a request body up to this size is kept for one retry on a new
 * connection (the params are built again) */
#define UPSTREAM_REPLAY_MAX	(64 * 1024)
/* BEGIN_REQUEST and the first PARAMS header, before the params */
#define UPSTREAM_PRE		(2 * FCGI_HEADER_SIZE + 8)
/* spare evbuffers kept per thread: a request takes up to six */
#define UPSTREAM_SPARE		32

enum {
	UPR_HEADER,
	UPR_CONTENT,
	UPR_PAD
};

static void	upstream_acquire(struct upstream *);
static void	upstream_connect_failed(struct upstream *);
static void	upstream_pool_cb(struct pool_wait *, int, void *);
static void	upstream_connected(struct upstream *);
static void	upstream_read_cb(evutil_socket_t, short, void *);
static void	upstream_write_cb(evutil_socket_t, short, void *);
static int	upstream_write(struct upstream *);
static void	upstream_process(struct upstream *);
static void	upstream_end(struct upstream *);
static void	upstream_early(struct upstream *, const char *);
static void	upstream_error(struct upstream *, int, const char *, int);
static void	upstream_finish(struct upstream *, enum upstream_end, int);
static void	upstream_stderr(struct upstream *, int);

/* ---------------------------------------------------------------- params */

/* Makes room for need more bytes after upp_len. */
static void
upstream_params_room(struct upstream_params *p, size_t need)
{
	size_t	 cap;

	if (p->upp_cap - p->upp_len >= need)
		return;
	cap = p->upp_cap ? p->upp_cap : 1024;
	while (cap - p->upp_len < need)
		cap *= 2;
	p->upp_buf = xreallocarray(p->upp_buf, cap, 1);
	p->upp_cap = cap;
}

void
upstream_params_add(struct upstream_params *p, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
	uint8_t	*q;

	if (name_len >= 128 || value_len >= 128) {
		/* long lengths, and the ones fcgi refuses (too long) */
		upstream_params_room(p, fcgi_nv_size(name_len, value_len));
		p->upp_len += fcgi_nv_encode(p->upp_buf + p->upp_len,
		    p->upp_cap - p->upp_len, name, name_len, value,
		    value_len);
		return;
	}
	/* the common case by hand: two one-byte lengths (fcgi.h) */
	upstream_params_room(p, 2 + name_len + value_len);
	q = p->upp_buf + p->upp_len;
	q[0] = name_len;
	q[1] = value_len;
	memcpy(q + 2, name, name_len);
	memcpy(q + 2 + name_len, value, value_len);
	p->upp_len += 2 + name_len + value_len;
}

void
upstream_params_adds(struct upstream_params *p, const char *name,
    const char *value)
{
	upstream_params_add(p, name, strlen(name), value, strlen(value));
}

/* The uppercased name of a header, or names that are never passed. */
#define UPSTREAM_IS(b, n, s)	((n) == sizeof(s) - 1 && \
				    memcmp((b), (s), sizeof(s) - 1) == 0)

int
upstream_params_header(struct upstream_params *p, const char *name,
    const char *value)
{
	char			 buf[256], *d = buf + 5;
	size_t			 i;
	unsigned char		 c;

	/* ASCII by hand: ctype's locale lookups cost more than the copy */
	memcpy(buf, "HTTP_", 5);
	for (i = 0; (c = name[i]) != '\0'; i++) {
		if (i + 5 >= sizeof(buf) - 1)
			return -1;
		/* '_' is refused so "X-A" and "X_A" cannot both map here */
		if (c >= 'a' && c <= 'z')
			d[i] = c - 'a' + 'A';
		else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			d[i] = c;
		else if (c == '-')
			d[i] = '_';
		else
			return -1;
	}
	if (i == 0)
		return -1;
	d[i] = '\0';
	/* headers that have their own param, or must never reach one
	 * (Proxy: httpoxy), and anything like the gateway's auth params */
	if (UPSTREAM_IS(d, i, "CONTENT_LENGTH") ||
	    UPSTREAM_IS(d, i, "CONTENT_TYPE") || UPSTREAM_IS(d, i, "PROXY") ||
	    UPSTREAM_IS(d, i, "REMOTE_USER") ||
	    (i >= 5 && memcmp(d, "AUTH_", 5) == 0))
		return -1;
	upstream_params_add(p, buf, i + 5, value, strlen(value));
	return 0;
}

void
upstream_params_records(const struct upstream_params *p,
    struct evbuffer *out, uint16_t request_id)
{
	uint8_t	 hdr[FCGI_HEADER_SIZE];
	size_t	 off, n;

	/* the params stream may split a pair across records */
	for (off = 0; off < p->upp_len; off += n) {
		n = p->upp_len - off;
		if (n > FCGI_CONTENT_MAX)
			n = FCGI_CONTENT_MAX;
		fcgi_header_encode(hdr, FCGI_T_PARAMS, request_id, n, 0);
		evbuffer_add(out, hdr, sizeof(hdr));
		evbuffer_add(out, p->upp_buf + off, n);
	}
	fcgi_header_encode(hdr, FCGI_T_PARAMS, request_id, 0, 0);
	evbuffer_add(out, hdr, sizeof(hdr));
}

void
upstream_params_free(struct upstream_params *p)
{
	if (p == NULL)
		return;
	free(p->upp_buf);
	memset(p, 0, sizeof(*p));
}

void
upstream_stdin_records(struct evbuffer *body, struct evbuffer *out,
    uint16_t request_id)
{
	struct evbuffer_ptr	 pos;
	struct evbuffer_iovec	 v;
	uint8_t			 hdr[FCGI_HEADER_SIZE];
	size_t			 left, n;

	/* copied, not moved: a retry sends the body again */
	left = evbuffer_get_length(body);
	evbuffer_ptr_set(body, &pos, 0, EVBUFFER_PTR_SET);
	while (left > 0) {
		n = left > FCGI_CONTENT_MAX ? FCGI_CONTENT_MAX : left;
		fcgi_header_encode(hdr, FCGI_T_STDIN, request_id, n, 0);
		evbuffer_add(out, hdr, sizeof(hdr));
		if (evbuffer_reserve_space(out, n, &v, 1) < 1)
			fatalx("%s: evbuffer_reserve_space", __func__);
		evbuffer_copyout_from(body, &pos, v.iov_base, n);
		v.iov_len = n;
		evbuffer_commit_space(out, &v, 1);
		evbuffer_ptr_set(body, &pos, n, EVBUFFER_PTR_ADD);
		left -= n;
	}
	fcgi_header_encode(hdr, FCGI_T_STDIN, request_id, 0, 0);
	evbuffer_add(out, hdr, sizeof(hdr));
}

/* ---------------------------------------------------------- record stream */

void
upstream_parser_init(struct upstream_parser *r, uint16_t request_id)
{
	memset(r, 0, sizeof(*r));
	r->upr_state = UPR_HEADER;
	r->upr_request_id = request_id;
}

int
upstream_parse(struct upstream_parser *r, struct evbuffer *in,
    struct evbuffer *out, struct evbuffer *err, const char **errstr)
{
	struct fcgi_header	 h;
	uint8_t			 b[FCGI_HEADER_SIZE];
	size_t			 avail, n;

	for (;;) {
		avail = evbuffer_get_length(in);
		switch (r->upr_state) {
		case UPR_HEADER:
			if (avail < FCGI_HEADER_SIZE)
				return 0;
			evbuffer_copyout(in, b, sizeof(b));
			if (fcgi_header_decode(b, sizeof(b), &h, errstr) != 1)
				return -1;
			if (h.request_id != r->upr_request_id) {
				*errstr = "record for another request id";
				return -1;
			}
			if (h.type != FCGI_T_STDOUT &&
			    h.type != FCGI_T_STDERR &&
			    h.type != FCGI_T_END_REQUEST) {
				*errstr = "unexpected record type";
				return -1;
			}
			if (h.type == FCGI_T_END_REQUEST &&
			    h.content_length != 8) {
				*errstr = "END_REQUEST body is not 8 bytes";
				return -1;
			}
			evbuffer_drain(in, sizeof(b));
			r->upr_type = h.type;
			r->upr_left = h.content_length;
			r->upr_pad = h.padding_length;
			r->upr_state = UPR_CONTENT;
			break;
		case UPR_CONTENT:
			if (r->upr_type == FCGI_T_END_REQUEST) {
				if (avail < r->upr_left + r->upr_pad)
					return 0;
				evbuffer_copyout(in, b, sizeof(b));
				if (fcgi_end_request_decode(b, sizeof(b),
				    &r->upr_app_status,
				    &r->upr_protocol_status, errstr) == -1)
					return -1;
				evbuffer_drain(in, r->upr_left + r->upr_pad);
				r->upr_left = r->upr_pad = 0;
				r->upr_state = UPR_HEADER;
				return 1;
			}
			n = r->upr_left < avail ? r->upr_left : avail;
			if (n > 0)
				evbuffer_remove_buffer(in,
				    r->upr_type == FCGI_T_STDOUT ? out : err,
				    n);
			r->upr_left -= n;
			if (r->upr_left > 0)
				return 0;
			r->upr_state = UPR_PAD;
			break;
		case UPR_PAD:
			n = r->upr_pad < avail ? r->upr_pad : avail;
			evbuffer_drain(in, n);
			r->upr_pad -= n;
			if (r->upr_pad > 0)
				return 0;
			r->upr_state = UPR_HEADER;
			break;
		}
	}
}

/* ------------------------------------------------------ CGI header block */

static int
upstream_token(const char *p, size_t n)
{
	static const char	 tchar[] = "!#$%&'*+-.^_`|~";
	size_t			 i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) &&
		    strchr(tchar, p[i]) == NULL)
			return 0;
	return 1;
}

/* Headers a backend must not set on the client connection. */
static int
upstream_cgi_skip(const char *name, size_t n)
{
	static const char	*skip[] = {
		"Connection", "Keep-Alive", "Proxy-Connection",
		"Transfer-Encoding", "Upgrade", "X-Request-Id"
	};
	size_t			 i;

	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strlen(skip[i]) == n && strncasecmp(name, skip[i], n) == 0)
			return 1;
	return 0;
}

ssize_t
upstream_cgi_parse(const char *p, size_t len, int *status, char *reason,
    size_t reasonlen, struct evkeyvalq *hdrs, const char **errstr)
{
	struct evkeyvalq	 tmp;
	const char		*line, *eol, *end = NULL, *colon, *v, *ve;
	char			 sbuf[1024], *nv;
	size_t			 nlen, vlen, total;
	int			 have_status = 0, have_location = 0, nhdr = 0;

	/* find the empty line first: nothing is added for a partial block */
	for (line = p; line < p + len; line = eol + 1) {
		if ((eol = memchr(line, '\n', p + len - line)) == NULL)
			return 0;
		if (eol == line || (eol == line + 1 && line[0] == '\r')) {
			end = eol + 1;
			break;
		}
	}
	if (end == NULL)
		return 0;
	total = end - p;

	TAILQ_INIT(&tmp);
	*status = 200;
	if (reasonlen > 0)
		reason[0] = '\0';
	for (line = p; ; line = eol + 1) {
		eol = memchr(line, '\n', end - line);
		ve = eol;
		if (ve > line && ve[-1] == '\r')
			ve--;
		if (ve == line)
			break;	/* the empty line */
		if ((colon = memchr(line, ':', ve - line)) == NULL ||
		    !upstream_token(line, colon - line)) {
			*errstr = "malformed CGI header line";
			goto fail;
		}
		nlen = colon - line;
		for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
			;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		vlen = ve - v;
		nhdr++;
		if (nlen == 6 && strncasecmp(line, "Status", 6) == 0) {
			if (vlen < 3 || !isdigit((unsigned char)v[0]) ||
			    !isdigit((unsigned char)v[1]) ||
			    !isdigit((unsigned char)v[2]) ||
			    (vlen > 3 && v[3] != ' ')) {
				*errstr = "malformed CGI Status";
				goto fail;
			}
			*status = (v[0] - '0') * 100 + (v[1] - '0') * 10 +
			    (v[2] - '0');
			if (*status < 200 || *status > 599) {
				*errstr = "CGI Status out of range";
				goto fail;
			}
			if (vlen > 4 && reasonlen > 0) {
				size_t r = vlen - 4 < reasonlen - 1 ?
				    vlen - 4 : reasonlen - 1;

				memcpy(reason, v + 4, r);
				reason[r] = '\0';
			}
			have_status = 1;
			continue;
		}
		if (upstream_cgi_skip(line, nlen))
			continue;
		if (nlen == 8 && strncasecmp(line, "Location", 8) == 0)
			have_location = 1;
		nv = nlen + vlen + 2 <= sizeof(sbuf) ? sbuf :
		    xmalloc(nlen + vlen + 2);
		memcpy(nv, line, nlen);
		nv[nlen] = '\0';
		memcpy(nv + nlen + 1, v, vlen);
		nv[nlen + 1 + vlen] = '\0';
		if (evhttp_add_header(&tmp, nv, nv + nlen + 1) == -1) {
			if (nv != sbuf)
				free(nv);
			*errstr = "invalid CGI header value";
			goto fail;
		}
		if (nv != sbuf)
			free(nv);
	}
	if (nhdr == 0) {
		*errstr = "empty CGI header block";
		goto fail;
	}
	if (!have_status && have_location)
		*status = 302;
	TAILQ_CONCAT(hdrs, &tmp, next);
	return total;
 fail:
	evhttp_clear_headers(&tmp);
	return -1;
}

/* ---------------------------------------------------------- the request */

/* Params are built here, then copied into records: no malloc per request. */
static __thread struct upstream_params	 upstream_scratch;
/* Empty evbuffers for the next requests of this thread. */
static __thread struct evbuffer		*upstream_spare[UPSTREAM_SPARE];
static __thread int			 upstream_nspare;

/*
 * A backend fd's read event, one per fd and thread.  It outlives the
 * request: when the connection goes straight to the next request of the
 * same thread (pool_release_report() says so), it stays registered and
 * changes owner, which saves an epoll_ctl per request.
 */
struct upstream_rev {
	struct event	 rv_ev;
	struct upstream	*rv_owner;	/* NULL: between two requests */
	int		 rv_kept;	/* registered for the next owner */
};
static __thread struct upstream_rev	**upstream_revs;
static __thread int			  upstream_nrevs;

void
upstream_thread_free(void)
{
	int	 fd;

	upstream_params_free(&upstream_scratch);
	while (upstream_nspare > 0)
		evbuffer_free(upstream_spare[--upstream_nspare]);
	for (fd = 0; fd < upstream_nrevs; fd++) {
		if (upstream_revs[fd] != NULL)
			event_del(&upstream_revs[fd]->rv_ev);
		free(upstream_revs[fd]);
	}
	free(upstream_revs);
	upstream_revs = NULL;
	upstream_nrevs = 0;
}

static void
upstream_rev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_rev	*rv = arg;

	/* between two owners only the old answer can be there: not ours */
	if (rv->rv_owner != NULL)
		upstream_read_cb(fd, what, rv->rv_owner);
}

/* u's read event on u_fd: the one left registered for it, or a new one. */
static void
upstream_rev_take(struct upstream *u)
{
	struct upstream_rev	*rv;
	int			 n;

	if (u->u_fd >= upstream_nrevs) {
		n = u->u_fd + 64;
		upstream_revs = xreallocarray(upstream_revs, n,
		    sizeof(*upstream_revs));
		memset(upstream_revs + upstream_nrevs, 0,
		    (size_t)(n - upstream_nrevs) * sizeof(*upstream_revs));
		upstream_nrevs = n;
	}
	if ((rv = upstream_revs[u->u_fd]) == NULL)
		rv = upstream_revs[u->u_fd] = xcalloc(1, sizeof(*rv));
	if (!rv->rv_kept)
		event_assign(&rv->rv_ev, u->u_base, u->u_fd,
		    EV_READ | EV_PERSIST, upstream_rev_cb, rv);
	rv->rv_kept = 0;
	rv->rv_owner = u;
	u->u_rev = rv;
	event_add(&rv->rv_ev, &u->u_read_tv);
}

/* The fd leaves u: its read event goes, or stays for the next owner. */
static void
upstream_rev_drop(struct upstream *u, int keep)
{
	struct upstream_rev	*rv = u->u_rev;

	if (rv == NULL)
		return;
	rv->rv_owner = NULL;
	if (keep && event_pending(&rv->rv_ev, EV_READ, NULL)) {
		event_remove_timer(&rv->rv_ev);
		rv->rv_kept = 1;
	} else
		event_del(&rv->rv_ev);
	u->u_rev = NULL;
}

/* A handed fd went back to the pool unused: forget what was kept for it. */
static void
upstream_rev_forget(int fd)
{
	struct upstream_rev	*rv;

	if (fd < 0 || fd >= upstream_nrevs ||
	    (rv = upstream_revs[fd]) == NULL || !rv->rv_kept)
		return;
	event_del(&rv->rv_ev);
	rv->rv_kept = 0;
}

static struct evbuffer *
upstream_buf_get(void)
{
	struct evbuffer	*b;

	if (upstream_nspare > 0)
		return upstream_spare[--upstream_nspare];
	if ((b = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	return b;
}

/* Gives b back emptied; NULL is a no-op. */
static void
upstream_buf_put(struct evbuffer *b)
{
	size_t	 n;

	if (b == NULL)
		return;
	if ((n = evbuffer_get_length(b)) > 0)
		evbuffer_drain(b, n);
	if (upstream_nspare < UPSTREAM_SPARE)
		upstream_spare[upstream_nspare++] = b;
	else
		evbuffer_free(b);
}

static uint64_t
upstream_now_ns(void)
{
	struct timespec	 ts;

	/* CLOCK_MONOTONIC is a vDSO call: no syscall */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Decimal digits of v and a NUL at buf; returns their count. */
static size_t
upstream_utoa(char *buf, unsigned long long v)
{
	char	 tmp[24];
	size_t	 n = 0, i;

	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

/* Is name overridden by one of the service's `param` directives? */
static int
upstream_overridden(const struct gw_service *svc, const char *name,
    size_t n)
{
	struct gw_string	*s;

	TAILQ_FOREACH(s, &svc->svc_params, s_entry)
		if (strncmp(s->s_value, name, n) == 0 &&
		    s->s_value[n] == '=')
			return 1;
	return 0;
}

/* BEGIN_REQUEST, PARAMS for the request, into u_out. */
static void
upstream_build(struct upstream *u)
{
	struct upstream_params		*pp = &upstream_scratch;
	const struct upstream_env	*e = u->u_env;
	const struct http_head		*h = e->ue_head;
	const struct http_field		*f;
	const struct gw_string		*s;
	const char			*eq;
	char				 num[32], proto[32];
	size_t				 k, n, plen;
	int				 i, over;

	over = !TAILQ_EMPTY(&u->u_svc->svc_params);
	/* BEGIN_REQUEST and the PARAMS header go in front, once the
	 * length is known: the whole of it is one evbuffer_add */
	pp->upp_len = 0;
	upstream_params_room(pp, UPSTREAM_PRE);
	pp->upp_len = UPSTREAM_PRE;
	memcpy(proto, "HTTP/", 5);
	n = 5 + upstream_utoa(proto + 5, e->ue_major > 0 ? e->ue_major : 0);
	proto[n++] = '.';
	upstream_utoa(proto + n, e->ue_minor > 0 ? e->ue_minor : 0);
	upstream_utoa(num, e->ue_remote_port);
	{
		/* the gateway's own params, unless a `param` replaces one */
		const char *std[][2] = {
			{ "GATEWAY_INTERFACE", "CGI/1.1" },
			{ "SERVER_SOFTWARE", "agora-gateway/" PACKAGE_VERSION },
			{ "SERVER_PROTOCOL", proto },
			{ "SERVER_NAME", e->ue_server_name },
			{ "SERVER_ADDR", e->ue_server_addr },
			{ "SERVER_PORT", e->ue_server_port },
			{ "REQUEST_METHOD", e->ue_method },
			{ "REQUEST_URI", e->ue_uri },
			{ "QUERY_STRING", e->ue_query },
			{ "DOCUMENT_ROOT", "" },
			{ "REMOTE_ADDR", e->ue_remote_addr },
			{ "REMOTE_PORT", num },
			{ "REQUEST_ID", e->ue_request_id },
			{ "CONTENT_TYPE", h->hh_ctype == -1 ? "" :
			    e->ue_block + h->hh_fields[h->hh_ctype].hf_value },
			{ "HTTPS", e->ue_https ? "on" : NULL },
			{ "SSL_PROTOCOL", e->ue_ssl_protocol },
			{ "SSL_CIPHER", e->ue_ssl_cipher },
			{ "SSL_CLIENT_VERIFY", e->ue_ssl_client_verify },
			{ "SSL_CLIENT_S_DN", e->ue_ssl_client_s_dn },
			{ "TRACEPARENT", e->ue_traceparent }
		};

		for (k = 0; k < sizeof(std) / sizeof(std[0]); k++) {
			if (std[k][1] == NULL || (over && upstream_overridden(
			    u->u_svc, std[k][0], strlen(std[k][0]))))
				continue;
			upstream_params_adds(pp, std[k][0], std[k][1]);
		}
	}
	if (!over || !upstream_overridden(u->u_svc, "SCRIPT_NAME", 11))
		upstream_params_add(pp, "SCRIPT_NAME", 11, e->ue_script_name,
		    e->ue_script_name_len);
	if (!over || !upstream_overridden(u->u_svc, "PATH_INFO", 9))
		upstream_params_add(pp, "PATH_INFO", 9, e->ue_path_info,
		    e->ue_path_info_len);
	if (e->ue_content_length >= 0)
		upstream_utoa(num, (unsigned long long)e->ue_content_length);
	else
		num[0] = '\0';
	if (!over || !upstream_overridden(u->u_svc, "CONTENT_LENGTH", 14))
		upstream_params_adds(pp, "CONTENT_LENGTH", num);
	/* fields are NUL-terminated in the block */
	for (i = 0; i < h->hh_nfields; i++) {
		f = &h->hh_fields[i];
		(void)upstream_params_header(pp, e->ue_block + f->hf_name,
		    e->ue_block + f->hf_value);
	}
	TAILQ_FOREACH(s, &u->u_svc->svc_params, s_entry) {
		if ((eq = strchr(s->s_value, '=')) == NULL)
			continue;
		upstream_params_add(pp, s->s_value, eq - s->s_value, eq + 1,
		    strlen(eq + 1));
	}
	/* the front's own last: the auth params win over everything */
	for (k = 0; k < e->ue_nparams; k++)
		upstream_params_add(pp, e->ue_params[k].up_name,
		    strlen(e->ue_params[k].up_name), e->ue_params[k].up_value,
		    e->ue_params[k].up_value_len);

	plen = pp->upp_len - UPSTREAM_PRE;
	fcgi_header_encode(pp->upp_buf, FCGI_T_BEGIN_REQUEST,
	    UPSTREAM_REQUEST_ID, 8, 0);
	fcgi_begin_request_encode(pp->upp_buf + FCGI_HEADER_SIZE,
	    FCGI_R_RESPONDER, FCGI_KEEP_CONN);
	if (plen <= FCGI_CONTENT_MAX) {
		/* one PARAMS record and the empty one that ends them */
		fcgi_header_encode(pp->upp_buf + 2 * FCGI_HEADER_SIZE,
		    FCGI_T_PARAMS, UPSTREAM_REQUEST_ID, plen, 0);
		upstream_params_room(pp, FCGI_HEADER_SIZE);
		fcgi_header_encode(pp->upp_buf + pp->upp_len, FCGI_T_PARAMS,
		    UPSTREAM_REQUEST_ID, 0, 0);
		evbuffer_add(u->u_out, pp->upp_buf,
		    pp->upp_len + FCGI_HEADER_SIZE);
	} else {
		struct upstream_params	 rest;

		rest.upp_buf = pp->upp_buf + UPSTREAM_PRE;
		rest.upp_len = rest.upp_cap = plen;
		evbuffer_add(u->u_out, pp->upp_buf, 2 * FCGI_HEADER_SIZE);
		upstream_params_records(&rest, u->u_out, UPSTREAM_REQUEST_ID);
	}
}

void
upstream_start(struct upstream *u, struct event_base *base,
    struct pool *pool, const struct gw_service *svc,
    const struct upstream_env *env, const struct upstream_ops *ops,
    struct evbuffer *body, int eof, upstream_done_cb done, void *arg)
{
	long	 timeout;

	memset(u, 0, sizeof(*u));
	u->u_base = base;
	u->u_pool = pool;
	u->u_svc = svc;
	u->u_service = svc->svc_name;
	u->u_env = env;
	u->u_ops = ops;
	u->u_done = done;
	u->u_arg = arg;
	u->u_fd = -1;
	u->u_avoid = -1;
	u->u_tries = env->ue_retries > 0 ? env->ue_retries : 0;
	timeout = env->ue_timeout_ms > 0 ? env->ue_timeout_ms :
	    svc->svc_read_timeout;
	u->u_read_tv.tv_sec = timeout / 1000;
	u->u_read_tv.tv_usec = (timeout % 1000) * 1000;
	u->u_out = upstream_buf_get();
	u->u_stdin = upstream_buf_get();
	u->u_in = upstream_buf_get();
	u->u_body = upstream_buf_get();
	u->u_err = upstream_buf_get();
	u->u_hdrs = &u->u_hdrq;
	TAILQ_INIT(u->u_hdrs);
	if (body != NULL)
		evbuffer_add_buffer(u->u_stdin, body);
	u->u_body_eof = eof;
	u->u_t0 = upstream_now_ns();
	upstream_acquire(u);
}

static double
upstream_since(const struct upstream *u, uint64_t t)
{
	return t > u->u_t0 ? (double)(t - u->u_t0) / 1e9 : 0;
}

double
upstream_time(const struct upstream *u)
{
	/* refused by the pool at once: no backend was involved */
	if (u->u_tconn == 0 && !u->u_pended)
		return 0;
	/* a finished exchange took time, even below the clock's grain */
	if (u->u_finished && u->u_t1 <= u->u_t0)
		return 1e-9;
	return upstream_since(u, u->u_t1);
}

const char *
upstream_server_addr(const struct upstream *u)
{
	/* the server of the last connection, once there was one */
	if (u->u_tconn == 0)
		return NULL;
	return pool_server_addr(u->u_pool, u->u_wait.pw_server);
}

double
upstream_connect_time(const struct upstream *u)
{
	return upstream_since(u, u->u_tconn);
}

double
upstream_first_byte_time(const struct upstream *u)
{
	return upstream_since(u, u->u_tfirst);
}

/* A connect failure: another try on another server, or 502. */
static void
upstream_connect_failed(struct upstream *u)
{
	if (u->u_tries > 0 && !u->u_noreplay) {
		u->u_tries--;
		u->u_avoid = u->u_wait.pw_server;
		log_debug("%s: %s: connect failed, retrying elsewhere "
		    "(rid %s)", __func__, u->u_service,
		    u->u_env->ue_request_id);
		upstream_acquire(u);
		return;
	}
	upstream_error(u, 502, "cannot connect to the service", 0);
}

static void
upstream_acquire(struct upstream *u)
{
	switch (pool_acquire_key(u->u_pool, u->u_base, &u->u_wait,
	    upstream_pool_cb, u, u->u_env->ue_hash_key, u->u_avoid,
	    POOL_HANDOVER)) {
	case POOL_READY:
		upstream_connected(u);
		break;
	case POOL_PENDING:
		u->u_waiting = u->u_pended = 1;
		break;
	case POOL_EFULL:
		u->u_shed = 1;
		upstream_error(u, 503, "service queue is full", 0);
		break;
	default:
		upstream_connect_failed(u);
		break;
	}
}

static void
upstream_pool_cb(struct pool_wait *w, int status, void *arg)
{
	struct upstream	*u = arg;

	u->u_waiting = 0;
	switch (status) {
	case POOL_READY:
		upstream_connected(u);
		break;
	case POOL_ETIMEOUT:
		u->u_shed = 1;
		upstream_error(u, 503, "timed out waiting in the service "
		    "queue", 0);
		break;
	default:
		upstream_connect_failed(u);
		break;
	}
}

static size_t	upstream_pending(struct upstream *);

/* Unsent request body, framed or not. */
static size_t
upstream_pending(struct upstream *u)
{
	return evbuffer_get_length(u->u_stdin) +
	    evbuffer_get_length(u->u_out);
}

/*
 * Keeps a copy of the STDIN records in u_out from start on, for one retry
 * while they are small.  The params are not kept: they are built again.
 */
static void
upstream_keep(struct upstream *u, size_t start)
{
	struct evbuffer_ptr	 pos;
	struct evbuffer_iovec	 v;
	size_t			 n;

	if (u->u_noreplay)
		return;
	n = evbuffer_get_length(u->u_out) - start;
	if (n == 0)
		return;
	if (u->u_replay == NULL)
		u->u_replay = upstream_buf_get();
	if (evbuffer_get_length(u->u_replay) + n > UPSTREAM_REPLAY_MAX) {
		u->u_noreplay = 1;
		evbuffer_drain(u->u_replay, evbuffer_get_length(u->u_replay));
		return;
	}
	evbuffer_ptr_set(u->u_out, &pos, start, EVBUFFER_PTR_SET);
	if (evbuffer_reserve_space(u->u_replay, n, &v, 1) < 1)
		fatalx("%s: evbuffer_reserve_space", __func__);
	evbuffer_copyout_from(u->u_out, &pos, v.iov_base, n);
	v.iov_len = n;
	evbuffer_commit_space(u->u_replay, &v, 1);
}

/* The empty STDIN record: all of the body has been framed. */
static void
upstream_stdin_end(struct upstream *u)
{
	uint8_t	 hdr[FCGI_HEADER_SIZE];

	fcgi_header_encode(hdr, FCGI_T_STDIN, UPSTREAM_REQUEST_ID, 0, 0);
	evbuffer_add(u->u_out, hdr, sizeof(hdr));
	u->u_stdin_end = 1;
}

/* Frames what body there is as STDIN records, while u_out has room. */
static void
upstream_frame(struct upstream *u)
{
	uint8_t	 hdr[FCGI_HEADER_SIZE];
	size_t	 n, start;

	if (u->u_fd == -1 || u->u_stdin_end || u->u_wfailed)
		return;
	start = evbuffer_get_length(u->u_out);
	while ((n = evbuffer_get_length(u->u_stdin)) > 0 &&
	    evbuffer_get_length(u->u_out) < UPSTREAM_STDIN_HIWAT) {
		if (n > FCGI_CONTENT_MAX)
			n = FCGI_CONTENT_MAX;
		fcgi_header_encode(hdr, FCGI_T_STDIN, UPSTREAM_REQUEST_ID, n,
		    0);
		evbuffer_add(u->u_out, hdr, sizeof(hdr));
		evbuffer_remove_buffer(u->u_stdin, u->u_out, n);
	}
	/* the empty STDIN is not kept: u_stdin_end says to send it again */
	upstream_keep(u, start);
	if (u->u_body_eof && evbuffer_get_length(u->u_stdin) == 0)
		upstream_stdin_end(u);
}

int
upstream_body(struct upstream *u, struct evbuffer *data, int eof)
{
	if (u->u_finished)
		return 0;
	if (data != NULL)
		evbuffer_add_buffer(u->u_stdin, data);
	if (eof)
		u->u_body_eof = 1;
	if (u->u_fd != -1) {
		upstream_frame(u);
		if (upstream_write(u) == -1) {
			/* the read side sees the EOF and decides */
			u->u_wfailed = 1;
			evbuffer_drain(u->u_out, evbuffer_get_length(u->u_out));
		}
	}
	if (upstream_pending(u) >= UPSTREAM_STDIN_HIWAT) {
		u->u_want = 1;
		return 1;
	}
	return 0;
}

static void
upstream_connected(struct upstream *u)
{
	u->u_fd = u->u_wait.pw_fd;
	u->u_reused = u->u_wait.pw_reused;
	upstream_parser_init(&u->u_parser, UPSTREAM_REQUEST_ID);
	event_assign(&u->u_wev, u->u_base, u->u_fd, EV_WRITE | EV_PERSIST,
	    upstream_write_cb, u);
	u->u_tconn = upstream_now_ns();
	/* a retry sends the same params and the body framed so far again */
	u->u_wfailed = 0;
	upstream_build(u);
	if (u->u_replay != NULL && evbuffer_get_length(u->u_replay) > 0)
		evbuffer_add(u->u_out, evbuffer_pullup(u->u_replay, -1),
		    evbuffer_get_length(u->u_replay));
	if (u->u_stdin_end) {
		u->u_stdin_end = 0;
		upstream_stdin_end(u);
	} else
		upstream_frame(u);
	upstream_rev_take(u);
	/* the last answer, left for us to read away once the backend has
	 * our request (pool_release_report()) */
	if (upstream_write(u) == -1)
		upstream_early(u, "cannot write to the service");
	else if (u->u_wait.pw_unread > 0 &&
	    pool_discard(u->u_fd, u->u_wait.pw_unread) == -1)
		upstream_early(u, "the service closed the connection early");
}

/* 0: all written or waiting for EV_WRITE; -1: the backend is gone. */
static int
upstream_write(struct upstream *u)
{
	int	 n;

	while (evbuffer_get_length(u->u_out) > 0) {
		n = evbuffer_write(u->u_out, u->u_fd);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!event_pending(&u->u_wev, EV_WRITE, NULL))
					event_add(&u->u_wev, NULL);
				return 0;
			}
			if (errno == EINTR)
				continue;
			return -1;
		}
		/* more body fits now */
		upstream_frame(u);
	}
	if (event_initialized(&u->u_wev) &&
	    event_pending(&u->u_wev, EV_WRITE, NULL))
		event_del(&u->u_wev);
	if (u->u_want && upstream_pending(u) < UPSTREAM_STDIN_LOWAT) {
		u->u_want = 0;
		u->u_ops->uo_more(u->u_arg);
	}
	return 0;
}

static void
upstream_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream	*u = arg;

	if (upstream_write(u) == 0)
		return;
	if (!u->u_got) {
		upstream_early(u, "cannot write to the service");
		return;
	}
	/* it answered without reading all of the body: not reusable */
	u->u_wfailed = 1;
	evbuffer_drain(u->u_out, evbuffer_get_length(u->u_out));
	evbuffer_drain(u->u_stdin, evbuffer_get_length(u->u_stdin));
	event_del(&u->u_wev);
}

static ssize_t
upstream_recv_flags(struct evbuffer *buf, int fd, size_t max, int flags)
{
	struct evbuffer_iovec	 v;
	ssize_t			 n;

	if (evbuffer_reserve_space(buf, max, &v, 1) < 1)
		fatalx("%s: evbuffer_reserve_space", __func__);
	n = recv(fd, v.iov_base, max, flags);
	v.iov_len = n > 0 ? (size_t)n : 0;
	evbuffer_commit_space(buf, &v, 1);
	return n;
}

ssize_t
upstream_recv(struct evbuffer *buf, int fd, size_t max)
{
	return upstream_recv_flags(buf, fd, max, 0);
}

/* Whether p holds whole records, the last of them END_REQUEST. */
static int
upstream_whole_answer(const uint8_t *p, size_t len)
{
	struct fcgi_record	 rec;
	const char		*errstr;
	ssize_t			 n;
	size_t			 off = 0;

	while ((n = fcgi_record_decode(p + off, len - off, &rec, &errstr)) >
	    0) {
		off += n;
		if (rec.hdr.type == FCGI_T_END_REQUEST)
			return off == len;
	}
	return 0;
}

/*
 * The first read of an answer only peeks.  An answer that is all there
 * stays in the socket, and the next user of the connection reads it away
 * after writing its own request (pool_release_report()).  Anything else
 * is read away now.
 */
static ssize_t
upstream_recv_first(struct upstream *u, int fd)
{
	ssize_t	 n;

	n = upstream_recv_flags(u->u_in, fd, UPSTREAM_READ_MAX, MSG_PEEK);
	if (n <= 0)
		return n;
	/* u_in was empty: it holds just these bytes, in one piece */
	if (upstream_whole_answer(evbuffer_pullup(u->u_in, -1), n))
		u->u_unread = n;
	else if (pool_discard(fd, n) == -1)
		return 0;	/* it went away under us */
	return n;
}

static void
upstream_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream	*u = arg;
	ssize_t		 n;

	if (what & EV_TIMEOUT) {
		upstream_error(u, 504, "the service did not answer in time",
		    0);
		return;
	}
	if (u->u_got)
		n = upstream_recv(u->u_in, fd, UPSTREAM_READ_MAX);
	else
		n = upstream_recv_first(u, fd);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		upstream_early(u, "the service closed the connection early");
		return;
	}
	if (!u->u_got) {
		u->u_got = 1;
		u->u_tfirst = upstream_now_ns();
	}
	upstream_process(u);
}

/*
 * The backend failed before END_REQUEST.  A kept-alive connection that
 * never gave a byte was most likely closed under us: one retry, when
 * what was sent can be sent again.
 */
static void
upstream_early(struct upstream *u, const char *detail)
{
	int	 stale;

	/*
	 * A kept-alive connection closed under us is not a failure.  A
	 * backend that took the request and died goes to another server
	 * only: the same one would most likely die again (or is down).
	 */
	stale = u->u_reused && !u->u_stale;
	if (!u->u_got && !u->u_noreplay && (stale || (u->u_tries > 0 &&
	    pool_servers(u->u_pool) > 1))) {
		log_debug("%s: %s: retrying on another connection (rid %s)",
		    __func__, u->u_service, u->u_env->ue_request_id);
		upstream_rev_drop(u, 0);
		event_del(&u->u_wev);
		if (stale)
			u->u_stale = 1;
		else {
			u->u_tries--;
			u->u_avoid = u->u_wait.pw_server;
		}
		pool_release_report(u->u_pool, u->u_fd, 0, stale, 0);
		u->u_fd = -1;
		u->u_retried = 1;
		evbuffer_drain(u->u_out, evbuffer_get_length(u->u_out));
		evbuffer_drain(u->u_in, evbuffer_get_length(u->u_in));
		upstream_acquire(u);
		return;
	}
	upstream_error(u, 502, detail, 0);
}

static void
upstream_process(struct upstream *u)
{
	const char	*errstr = NULL;
	char		 reason[64];
	ssize_t		 hlen;
	size_t		 len;
	int		 r, status;

	r = upstream_parse(&u->u_parser, u->u_in, u->u_body, u->u_err,
	    &errstr);
	if (evbuffer_get_length(u->u_err) > 0)
		upstream_stderr(u, 0);
	if (r == -1) {
		log_warnx("%s: %s: %s (rid %s)", __func__, u->u_service,
		    errstr, u->u_env->ue_request_id);
		upstream_error(u, 502, "the service sent a malformed "
		    "FastCGI stream", 0);
		return;
	}
	if (!u->u_started && (len = evbuffer_get_length(u->u_body)) > 0) {
		hlen = upstream_cgi_parse((const char *)evbuffer_pullup(
		    u->u_body, -1), len, &status, reason, sizeof(reason),
		    u->u_hdrs, &errstr);
		if (hlen == 0 && len > UPSTREAM_HEADER_MAX) {
			hlen = -1;
			errstr = "CGI header block too long";
		}
		if (hlen == -1) {
			log_warnx("%s: %s: %s (rid %s)", __func__,
			    u->u_service, errstr, u->u_env->ue_request_id);
			upstream_error(u, 502, "the service sent malformed "
			    "CGI headers", 0);
			return;
		}
		if (hlen > 0) {
			evbuffer_drain(u->u_body, hlen);
			u->u_status = status;
			u->u_started = 1;
			u->u_ops->uo_head(u->u_arg, status,
			    reason[0] != '\0' ? reason : NULL, u->u_hdrs);
		}
	}
	if (u->u_started && (len = evbuffer_get_length(u->u_body)) > 0) {
		u->u_bytes += len;
		if (u->u_ops->uo_body(u->u_arg, u->u_body, r == 1) &&
		    r == 0) {
			u->u_paused = 1;
			event_del(&u->u_rev->rv_ev);
		}
	}
	if (r == 1)
		upstream_end(u);
}

void
upstream_resume(struct upstream *u)
{
	if (u->u_paused && u->u_fd != -1 && !u->u_finished) {
		u->u_paused = 0;
		event_add(&u->u_rev->rv_ev, &u->u_read_tv);
	}
}

static void
upstream_end(struct upstream *u)
{
	int	 reusable;

	/* leftovers either way would corrupt the next request */
	reusable = evbuffer_get_length(u->u_in) == 0 &&
	    evbuffer_get_length(u->u_out) == 0 && u->u_stdin_end &&
	    !u->u_wfailed;
	switch (u->u_parser.upr_protocol_status) {
	case FCGI_S_REQUEST_COMPLETE:
		if (!u->u_started) {
			log_warnx("%s: %s: no CGI header block before "
			    "END_REQUEST (rid %s)", __func__, u->u_service,
			    u->u_env->ue_request_id);
			upstream_error(u, 502, "the service sent no response",
			    reusable);
			return;
		}
		upstream_finish(u, UPSTREAM_END_OK, reusable);
		break;
	case FCGI_S_OVERLOADED:
		upstream_error(u, 503, "the service is overloaded", reusable);
		break;
	case FCGI_S_UNKNOWN_ROLE:
		upstream_error(u, 502, "the service refused the responder "
		    "role", reusable);
		break;
	default:
		upstream_error(u, 502, "the service refused the request",
		    reusable);
		break;
	}
}

static void
upstream_error(struct upstream *u, int status, const char *detail,
    int reusable)
{
	if (status != 503 || u->u_started)
		log_warnx("%s: %s: %s (rid %s)", __func__, u->u_service,
		    detail, u->u_env->ue_request_id);
	if (!u->u_started)
		u->u_status = status;
	/* 503 (overloaded, queue) is an answer, not a broken backend */
	if (status == 502 || status == 504)
		u->u_failed = 1;
	u->u_detail = detail;
	upstream_finish(u, UPSTREAM_END_ERROR, reusable);
}

void
upstream_abort(struct upstream *u)
{
	if (u->u_finished)
		return;
	upstream_finish(u, UPSTREAM_END_GONE, 0);
}

static void
upstream_finish(struct upstream *u, enum upstream_end end, int reusable)
{
	int	 kept;

	u->u_finished = 1;
	if (u->u_waiting) {
		upstream_rev_forget(pool_cancel(&u->u_wait));
		u->u_waiting = 0;
	}
	if (u->u_fd != -1) {
		event_del(&u->u_wev);
		kept = pool_release_report(u->u_pool, u->u_fd, reusable,
		    !u->u_failed, u->u_unread);
		upstream_rev_drop(u, kept);
		u->u_fd = -1;
	}
	if (evbuffer_get_length(u->u_err) > 0)
		upstream_stderr(u, 1);
	upstream_buf_put(u->u_out);
	upstream_buf_put(u->u_stdin);
	upstream_buf_put(u->u_in);
	upstream_buf_put(u->u_body);
	upstream_buf_put(u->u_err);
	upstream_buf_put(u->u_replay);
	u->u_out = u->u_stdin = u->u_in = u->u_body = u->u_err = NULL;
	u->u_replay = NULL;
	evhttp_clear_headers(u->u_hdrs);
	u->u_hdrs = NULL;
	u->u_t1 = upstream_now_ns();
	u->u_done(u, end, u->u_arg);
}

/* Logs whole lines of FastCGI stderr (all of it when flush is set). */
static void
upstream_stderr(struct upstream *u, int flush)
{
	char	*line;
	size_t	 n;

	while ((line = evbuffer_readln(u->u_err, &n, EVBUFFER_EOL_CRLF))
	    != NULL) {
		log_warnx("%s[%s]: %s", u->u_service,
		    u->u_env->ue_request_id, line);
		free(line);
	}
	n = evbuffer_get_length(u->u_err);
	if (n > 0 && (flush || n > 4096)) {
		log_warnx("%s[%s]: %.*s", u->u_service,
		    u->u_env->ue_request_id, (int)n,
		    (const char *)evbuffer_pullup(u->u_err, -1));
		evbuffer_drain(u->u_err, n);
	}
}
