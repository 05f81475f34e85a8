/* A blocking FastCGI client: one request per connection, with a deadline. */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netdb.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "fcgi_client.h"
#include "xmalloc.h"

#define FCGI_CLIENT_RID		1
#define FCGI_CLIENT_MAXERR	(64 * 1024)	/* STDERR bytes kept */
#define FCGI_CLIENT_MAXHEADERS	64

/* A growing byte buffer. */
struct fcgi_client_buf {
	uint8_t		*b;
	size_t		 len;
	size_t		 size;
};

static void
fcgi_client_buf_add(struct fcgi_client_buf *buf, const void *p, size_t n)
{
	if (buf->len + n + 1 > buf->size) {
		buf->size = (buf->len + n + 1) * 2;
		buf->b = xreallocarray(buf->b, buf->size, 1);
	}
	if (n > 0)
		memcpy(buf->b + buf->len, p, n);
	buf->len += n;
	buf->b[buf->len] = '\0';
}

static long long
fcgi_client_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int
fcgi_client_wait(int fd, short events, long long deadline)
{
	struct pollfd	 pfd;
	long long	 left;
	int		 rc;

	for (;;) {
		if ((left = deadline - fcgi_client_now_ms()) <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1)
			return -1;
		if (rc > 0)
			return 1;
	}
}

/* A non-blocking connect to sa that finishes by deadline; fd or -1. */
static int
fcgi_client_connect_sa(const struct sockaddr *sa, socklen_t salen,
    long long deadline, const char **errstr)
{
	socklen_t	 len;
	int		 fd, err;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		*errstr = "socket failed";
		return -1;
	}
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN) {
		*errstr = "connect failed";
		close(fd);
		return -1;
	}
	switch (fcgi_client_wait(fd, POLLOUT, deadline)) {
	case 1:
		len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
		    err == 0)
			return fd;
		*errstr = "connect failed";
		break;
	case 0:
		*errstr = "connect timed out";
		break;
	default:
		*errstr = "poll failed";
		break;
	}
	close(fd);
	return -1;
}

/* Connects to a unix path (anything with '/') or host:port. */
static int
fcgi_client_connect(const char *addr, long long deadline,
    const char **errstr)
{
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *res, *ai;
	char			*host, *port;
	size_t			 hl;
	int			 fd = -1;

	if (strchr(addr, '/') != NULL) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(addr) >= sizeof sun.sun_path) {
			*errstr = "socket path too long";
			return -1;
		}
		memcpy(sun.sun_path, addr, strlen(addr));
		return fcgi_client_connect_sa((struct sockaddr *)&sun,
		    sizeof sun, deadline, errstr);
	}
	if ((port = strrchr(addr, ':')) == NULL || port[1] == '\0') {
		*errstr = "address is neither a path nor host:port";
		return -1;
	}
	hl = port - addr;
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']')
		host = xstrndup(addr + 1, hl - 2);	/* [::1]:9000 */
	else
		host = xstrndup(addr, hl);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, port + 1, &hints, &res) != 0) {
		free(host);
		*errstr = "cannot resolve the address";
		return -1;
	}
	free(host);
	*errstr = "no address to connect to";
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
		fd = fcgi_client_connect_sa(ai->ai_addr, ai->ai_addrlen,
		    deadline, errstr);
	freeaddrinfo(res);
	return fd;
}

/* Appends type records holding len bytes of p (and nothing for len 0). */
static void
fcgi_client_records(struct fcgi_client_buf *out, uint8_t type,
    const uint8_t *p, size_t len)
{
	uint8_t		 rec[FCGI_RECORD_MAX];
	size_t		 chunk, n;

	do {
		chunk = len > FCGI_CONTENT_MAX ? FCGI_CONTENT_MAX : len;
		n = fcgi_record_encode(rec, sizeof rec, type,
		    FCGI_CLIENT_RID, p, (uint16_t)chunk);
		fcgi_client_buf_add(out, rec, n);
		p += chunk;
		len -= chunk;
	} while (len > 0);
}

/* The whole request as bytes: begin, params, empty params, stdin. */
static void
fcgi_client_encode(struct fcgi_client_buf *out,
    const struct fcgi_client_param *params, size_t n, const char *body,
    size_t bodylen)
{
	struct fcgi_client_buf	 nv;
	uint8_t			 begin[8], *pair;
	size_t			 i, nl, vl, sz;

	memset(&nv, 0, sizeof nv);
	fcgi_begin_request_encode(begin, FCGI_R_RESPONDER, 0);
	fcgi_client_records(out, FCGI_T_BEGIN_REQUEST, begin, sizeof begin);
	for (i = 0; i < n; i++) {
		nl = strlen(params[i].name);
		vl = params[i].value != NULL ? strlen(params[i].value) : 0;
		sz = fcgi_nv_size(nl, vl);
		pair = xmalloc(sz);
		if (fcgi_nv_encode(pair, sz, params[i].name, nl,
		    params[i].value != NULL ? params[i].value : "", vl) == sz)
			fcgi_client_buf_add(&nv, pair, sz);
		free(pair);
	}
	if (nv.len > 0)
		fcgi_client_records(out, FCGI_T_PARAMS, nv.b, nv.len);
	fcgi_client_records(out, FCGI_T_PARAMS, NULL, 0);
	if (bodylen > 0)
		fcgi_client_records(out, FCGI_T_STDIN,
		    (const uint8_t *)body, bodylen);
	fcgi_client_records(out, FCGI_T_STDIN, NULL, 0);
	free(nv.b);
}

static int
fcgi_client_send(int fd, const struct fcgi_client_buf *out,
    long long deadline, const char **errstr)
{
	size_t		 off = 0;
	ssize_t		 n;
	int		 rc;

	while (off < out->len) {
		n = send(fd, out->b + off, out->len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = fcgi_client_wait(fd, POLLOUT, deadline)) ==
			    1)
				continue;
			*errstr = rc == 0 ? "timed out sending the request" :
			    "poll failed";
			return -1;
		}
		*errstr = "sending the request failed";
		return -1;
	}
	return 0;
}

/*
 * Reads records until END_REQUEST: STDOUT into out, STDERR into err.
 * 0, or -1 with *errstr.
 */
static int
fcgi_client_receive(int fd, long long deadline, struct fcgi_client_buf *out,
    struct fcgi_client_buf *err, uint32_t *app_status, const char **errstr)
{
	struct fcgi_client_buf	 in;
	struct fcgi_record	 rec;
	uint8_t			 buf[16384], pstatus;
	size_t			 off = 0;
	ssize_t			 n, used;
	int			 rc, ret = -1;

	memset(&in, 0, sizeof in);
	for (;;) {
		/* Every whole record buffered so far. */
		used = 0;
		while (in.len > off && (used = fcgi_record_decode(in.b + off,
		    in.len - off, &rec, errstr)) > 0) {
			off += used;
			if (rec.hdr.request_id != FCGI_CLIENT_RID) {
				*errstr = "record of another request";
				goto done;
			}
			switch (rec.hdr.type) {
			case FCGI_T_STDOUT:
				if (out->len + rec.hdr.content_length >
				    FCGI_CLIENT_MAXRESPONSE) {
					*errstr = "response too large";
					goto done;
				}
				fcgi_client_buf_add(out, rec.content,
				    rec.hdr.content_length);
				break;
			case FCGI_T_STDERR:
				if (err->len + rec.hdr.content_length <=
				    FCGI_CLIENT_MAXERR)
					fcgi_client_buf_add(err, rec.content,
					    rec.hdr.content_length);
				break;
			case FCGI_T_END_REQUEST:
				if (fcgi_end_request_decode(rec.content,
				    rec.hdr.content_length, app_status,
				    &pstatus, errstr) == -1)
					goto done;
				if (pstatus != FCGI_S_REQUEST_COMPLETE) {
					*errstr = "the application refused "
					    "the request";
					goto done;
				}
				ret = 0;
				goto done;
			default:
				*errstr = "unexpected record type";
				goto done;
			}
		}
		if (used == -1)
			goto done;
		/* Keep only the incomplete tail. */
		if (off > 0) {
			memmove(in.b, in.b + off, in.len - off);
			in.len -= off;
			off = 0;
		}
		n = recv(fd, buf, sizeof buf, 0);
		if (n > 0) {
			fcgi_client_buf_add(&in, buf, n);
			continue;
		}
		if (n == 0) {
			*errstr = "the application closed the connection "
			    "before ending the request";
			goto done;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			*errstr = "reading the response failed";
			goto done;
		}
		if ((rc = fcgi_client_wait(fd, POLLIN, deadline)) != 1) {
			*errstr = rc == 0 ? "timed out waiting for the "
			    "response" : "poll failed";
			goto done;
		}
	}
done:
	free(in.b);
	return ret;
}

/* Splits a CGI response into status, headers and body. */
static int
fcgi_client_parse(struct fcgi_client_buf *out,
    struct fcgi_client_response *resp, const char **errstr)
{
	char		*p, *end, *eol, *colon, *v, *hend;
	long		 st;
	size_t		 seplen;

	resp->status = 200;
	p = out->b != NULL ? (char *)out->b : "";
	end = p + out->len;
	if ((hend = strstr(p, "\r\n\r\n")) != NULL)
		seplen = 4;
	else if ((hend = strstr(p, "\n\n")) != NULL)
		seplen = 2;
	else {
		*errstr = "the response has no end of headers";
		return -1;
	}
	while (p < hend) {
		if ((eol = memchr(p, '\n', hend - p)) == NULL)
			eol = hend;
		*eol = '\0';
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		if ((colon = strchr(p, ':')) == NULL || colon == p) {
			*errstr = "malformed header line in the response";
			return -1;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(p, "Status") == 0) {
			st = strtol(v, &colon, 10);
			if (colon == v || st < 100 || st > 999) {
				*errstr = "malformed Status in the response";
				return -1;
			}
			resp->status = (int)st;
		} else if (resp->nheaders < FCGI_CLIENT_MAXHEADERS) {
			resp->headers = xreallocarray(resp->headers,
			    resp->nheaders + 1, sizeof *resp->headers);
			resp->headers[resp->nheaders].name = xstrdup(p);
			resp->headers[resp->nheaders].value = xstrdup(v);
			resp->nheaders++;
		}
		p = eol + 1;
	}
	p = hend + seplen;
	resp->bodylen = end > p ? (size_t)(end - p) : 0;
	resp->body = xmalloc(resp->bodylen + 1);
	memcpy(resp->body, p, resp->bodylen);
	resp->body[resp->bodylen] = '\0';
	return 0;
}

int
fcgi_client_request(const char *addr, int timeout_ms,
    const struct fcgi_client_param *params, size_t n, const char *body,
    size_t bodylen, struct fcgi_client_response *resp, const char **errstr)
{
	struct fcgi_client_buf	 req, out, err;
	long long		 deadline;
	int			 fd, rc = -1;

	memset(resp, 0, sizeof *resp);
	memset(&req, 0, sizeof req);
	memset(&out, 0, sizeof out);
	memset(&err, 0, sizeof err);
	deadline = fcgi_client_now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	if ((fd = fcgi_client_connect(addr, deadline, errstr)) == -1)
		return -1;
	fcgi_client_encode(&req, params, n, body, bodylen);
	if (fcgi_client_send(fd, &req, deadline, errstr) == 0 &&
	    fcgi_client_receive(fd, deadline, &out, &err, &resp->app_status,
	    errstr) == 0 &&
	    fcgi_client_parse(&out, resp, errstr) == 0)
		rc = 0;
	close(fd);
	if (rc == 0 && err.len > 0) {
		resp->errtext = (char *)err.b;
		resp->errlen = err.len;
		err.b = NULL;
	}
	/* The request may carry secrets (a password). */
	if (req.b != NULL)
		explicit_bzero(req.b, req.len);
	free(req.b);
	free(out.b);
	free(err.b);
	if (rc == -1)
		fcgi_client_response_free(resp);
	return rc;
}

const char *
fcgi_client_header(const struct fcgi_client_response *resp, const char *name)
{
	size_t	 i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

void
fcgi_client_response_free(struct fcgi_client_response *resp)
{
	size_t	 i;

	if (resp == NULL)
		return;
	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	free(resp->body);
	free(resp->errtext);
	memset(resp, 0, sizeof *resp);
}
