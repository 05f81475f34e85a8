/*
 * JWT at the edge (see auth.h).
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"
#include "fcgi_client.h"

#include "config.h"
#include "rules.h"
#include "jwt.h"
#include "upstream.h"
#include "auth.h"

#define AUTH_FETCH_TIMEOUT_MS	5000
#define AUTH_JWKS_MAX		(1024 * 1024)	/* bytes of a response */
#define AUTH_RETRY_MS		1000	/* until the first set */
#define AUTH_KID_REFRESH_MS	10000	/* unknown kid: at most this often */
#define AUTH_CACHE_WAYS		4	/* entries of a set, LRU among them */
#define AUTH_CACHE_SETS		(AUTH_CACHE_SIZE / AUTH_CACHE_WAYS)

struct auth_jwks {
	pthread_rwlock_t	 aj_rw;		/* aj_keys */
	struct jwt_keyset	*aj_keys;	/* NULL until fetched */
	pthread_mutex_t		 aj_mtx;	/* the rest */
	pthread_cond_t		 aj_cond;
	pthread_t		 aj_tid;
	int			 aj_stop;
	int			 aj_wake;
	uint64_t		 aj_last;	/* ms, last fetch started */
	char			*aj_addr;	/* service socket; NULL: url */
	char			*aj_host;	/* url: host, port, Host: */
	char			*aj_port;
	char			*aj_hosthdr;
	char			*aj_path;
	char			*aj_what;	/* "service NAME" or the URL */
	int			 aj_pipe[2];	/* url: stop wakes the GET */
	int			 aj_refresh;	/* ms */
	uint64_t		 aj_gen;	/* of aj_keys; atomic, see below */
	char			*aj_body;	/* the JWKS aj_keys came from */
	size_t			 aj_bodylen;
};

/*
 * The verified-token cache: per thread, so without locks.  An entry is a
 * token (its exact bytes) that jwt_verify() accepted and its claims;
 * a hit skips the signature and the JSON but still checks exp and nbf
 * (with the leeway) against now, and the route's roles and scopes.
 * Only verified tokens get in, so a colliding hash costs a memcmp, no
 * more.  The entries hold for one verification context: the gw_jwt, its
 * file's key set, issuer, audience and leeway, and the generation of its
 * fetched set; any change empties the cache.  auth_epoch changes
 * whenever a gw_jwt goes (auth_jwks_stop), so that a new one at the same
 * address is never taken for the old.
 */
struct auth_centry {
	uint64_t		 ce_hash;
	char			*ce_tok;	/* NULL: a free entry */
	size_t			 ce_len;
	struct jwt_claims	*ce_claims;	/* a reference of its own */
	uint64_t		 ce_used;	/* ac_tick of the last use */
};

struct auth_cache {
	const struct gw_jwt	*ac_jwt;
	const struct jwt_keyset	*ac_keys;
	const char		*ac_iss;
	const char		*ac_aud;
	int			 ac_leeway;
	uint64_t		 ac_epoch;
	uint64_t		 ac_gen;
	uint64_t		 ac_tick;
	size_t			 ac_n;
	struct auth_centry	 ac_e[AUTH_CACHE_SIZE];
};

static uint64_t			 auth_epoch;	/* atomic */
static uint64_t			 auth_gen;	/* atomic: the last aj_gen */
static __thread struct auth_cache *auth_tc;
static pthread_key_t		 auth_tc_key;	/* frees it at thread exit */
static pthread_once_t		 auth_tc_once = PTHREAD_ONCE_INIT;

static uint64_t
auth_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
auth_url_parse(const char *url, char **host, char **port, char **hosthdr,
    char **path, const char **errstr)
{
	const char	*h, *e, *p, *c;
	char		*end;
	long		 n;

	if (strncasecmp(url, "http://", 7) != 0) {
		*errstr = "not an http:// URL";
		return -1;
	}
	h = url + 7;
	if ((p = strchr(h, '/')) == NULL)
		p = h + strlen(h);
	if (*h == '[') {			/* [v6]:port */
		if ((e = memchr(h, ']', p - h)) == NULL) {
			*errstr = "unterminated [address]";
			return -1;
		}
		c = e + 1;
		h++;
	} else {
		c = memchr(h, ':', p - h);
		e = c != NULL ? c : p;
	}
	if (e == h || memchr(h, '@', p - h) != NULL ||
	    memchr(h, '?', p - h) != NULL) {
		*errstr = "bad host";
		return -1;
	}
	if (c != NULL && c < p && *c == ':') {
		n = strtol(c + 1, &end, 10);
		if (end != p || c + 1 == p || n < 1 || n > 65535) {
			*errstr = "bad port";
			return -1;
		}
	} else if (c != p && c != NULL) {
		*errstr = "bad host";
		return -1;
	} else
		n = 80;
	if (strpbrk(p, " \t\r\n#") != NULL) {
		*errstr = "bad path";
		return -1;
	}
	if (host != NULL) {
		*host = xmalloc(e - h + 1);
		memcpy(*host, h, e - h);
		(*host)[e - h] = '\0';
		xasprintf(port, "%ld", n);
		*hosthdr = xmalloc(p - (url + 7) + 1);
		memcpy(*hosthdr, url + 7, p - (url + 7));
		(*hosthdr)[p - (url + 7)] = '\0';
		*path = xstrdup(*p == '\0' ? "/" : p);
	}
	return 0;
}

/* ms left until deadline, at least 0 */
static int
auth_left(uint64_t deadline)
{
	uint64_t	 now = auth_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/*
 * Waits for events on fd until deadline: 1 ready, 0 timed out, -1 the
 * thread is told to stop (so that auth_jwks_stop(), maybe on the very
 * event loop that would answer the GET, never waits for the timeout).
 */
static int
auth_wait(struct auth_jwks *aj, int fd, short events, uint64_t deadline)
{
	struct pollfd	 pfd[2];
	int		 rc;

	pfd[0].fd = fd;
	pfd[0].events = events;
	pfd[1].fd = aj->aj_pipe[0];
	pfd[1].events = POLLIN;
	do
		rc = poll(pfd, 2, auth_left(deadline));
	while (rc == -1 && errno == EINTR);
	if (rc == -1 || (rc > 0 && pfd[1].revents != 0))
		return -1;
	return rc > 0 && pfd[0].revents != 0;
}

/* A connected non-blocking socket to the url's host:port, or -1. */
static int
auth_connect(struct auth_jwks *aj, uint64_t deadline, const char **errstr)
{
	struct addrinfo	 hints, *res, *ai;
	socklen_t	 sl;
	int		 s = -1, err, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(aj->aj_host, aj->aj_port, &hints,
	    &res)) != 0) {
		*errstr = gai_strerror(rc);
		return -1;
	}
	*errstr = "no address";
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (s == -1) {
			*errstr = strerror(errno);
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			rc = auth_wait(aj, s, POLLOUT, deadline);
			sl = sizeof(err);
			if (rc == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR,
			    &err, &sl) == 0 && err == 0)
				break;
			*errstr = rc == 0 ? "connect timed out" : rc == -1 ?
			    "stopped" : strerror(err);
			if (rc == -1) {
				close(s);
				s = -1;
				break;
			}
		} else
			*errstr = strerror(errno);
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	return s;
}

/* Whether a Transfer-Encoding value (up to its CRLF) ends in chunked. */
static int
auth_chunked(const char *v)
{
	const char	*e = strstr(v, "\r\n");

	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return e - v >= 7 && strncasecmp(e - 7, "chunked", 7) == 0;
}

/* Decodes a chunked body in place; its length, or -1. */
static ssize_t
auth_dechunk(char *b, size_t len)
{
	size_t		 in = 0, out = 0, n;
	char		*end;

	for (;;) {
		if (in >= len || !isxdigit((unsigned char)b[in]))
			return -1;
		n = strtoul(b + in, &end, 16);
		if ((end = strstr(end, "\r\n")) == NULL)
			return -1;
		in = end + 2 - b;
		if (n == 0)
			return (ssize_t)out;
		if (n > len - in || len - in - n < 2)
			return -1;
		memmove(b + out, b + in, n);
		out += n;
		in += n + 2;
	}
}

/*
 * "jwks url": a blocking HTTP/1.1 GET with Connection: close; the body
 * (NUL-terminated, *lenp bytes) of a 200, or NULL and *errstr.
 */
static char *
auth_get_url(struct auth_jwks *aj, size_t *lenp, const char **errstr)
{
	uint64_t	 deadline = auth_now_ms() + AUTH_FETCH_TIMEOUT_MS;
	char		*req, *buf = NULL, *hend, *body, *v;
	size_t		 len = 0, cap = 0, off = 0, reqlen, bodylen, hlen;
	long long	 clen = -1;
	ssize_t		 n;
	int		 s, rc, status, chunked = 0, ok = 0;

	if ((s = auth_connect(aj, deadline, errstr)) == -1)
		return NULL;
	reqlen = (size_t)xasprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: agora-gateway/" PACKAGE_VERSION "\r\n"
	    "Accept: application/json\r\nConnection: close\r\n\r\n",
	    aj->aj_path, aj->aj_hosthdr);
	while (off < reqlen) {
		if ((rc = auth_wait(aj, s, POLLOUT, deadline)) != 1) {
			*errstr = rc == 0 ? "timed out sending the request" :
			    "stopped";
			goto done;
		}
		if ((n = send(s, req + off, reqlen - off, MSG_NOSIGNAL)) ==
		    -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			*errstr = strerror(errno);
			goto done;
		}
		off += n;
	}
	/* read to close, or to the end Content-Length gives */
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= AUTH_JWKS_MAX + 8192) {
				*errstr = "response too large";
				goto done;
			}
			cap = cap == 0 ? 8192 : cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		buf[len] = '\0';
		if (clen >= 0 && (hend = strstr(buf, "\r\n\r\n")) != NULL &&
		    len - (hend + 4 - buf) >= (size_t)clen)
			break;
		if ((rc = auth_wait(aj, s, POLLIN, deadline)) != 1) {
			*errstr = rc == 0 ?
			    "timed out waiting for the response" : "stopped";
			goto done;
		}
		if ((n = recv(s, buf + len, cap - len - 1, 0)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			*errstr = strerror(errno);
			goto done;
		}
		if (n == 0)
			break;
		len += n;
		buf[len] = '\0';
		if (clen < 0 && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
			for (v = buf; v != NULL && v < hend;
			    v = strstr(v, "\r\n") != NULL ?
			    strstr(v, "\r\n") + 2 : NULL) {
				if (strncasecmp(v, "Content-Length:", 15) == 0)
					clen = strtoll(v + 15, NULL, 10);
				else if (strncasecmp(v,
				    "Transfer-Encoding:", 18) == 0)
					chunked = auth_chunked(v + 18);
			}
			if (clen > AUTH_JWKS_MAX) {
				*errstr = "response too large";
				goto done;
			}
			if (chunked)
				clen = -1;
		}
	}
	if (buf == NULL || (hend = strstr(buf, "\r\n\r\n")) == NULL) {
		*errstr = "no complete response header";
		goto done;
	}
	if (sscanf(buf, "HTTP/1.%*1[01] %3d", &status) != 1) {
		*errstr = "not an HTTP/1.x response";
		goto done;
	}
	if (status != 200) {
		*errstr = "status not 200";
		log_warnx("%s: jwks from %s: status %d", __func__, aj->aj_what,
		    status);
		goto done;
	}
	body = hend + 4;
	hlen = body - buf;
	bodylen = len - hlen;
	if (chunked) {
		if ((n = auth_dechunk(body, bodylen)) == -1) {
			*errstr = "bad chunked body";
			goto done;
		}
		bodylen = n;
	} else if (clen >= 0) {
		if (bodylen < (size_t)clen) {
			*errstr = "body shorter than its Content-Length";
			goto done;
		}
		bodylen = clen;
	}
	if (bodylen > AUTH_JWKS_MAX) {
		*errstr = "response too large";
		goto done;
	}
	memmove(buf, body, bodylen);
	buf[bodylen] = '\0';
	*lenp = bodylen;
	ok = 1;
 done:
	close(s);
	free(req);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* "jwks service": a FastCGI GET on a new connection to its socket. */
static char *
auth_get_fcgi(struct auth_jwks *aj, size_t *lenp, const char **errstr)
{
	struct fcgi_client_response	 resp;
	const struct fcgi_client_param	 p[] = {
		{ "GATEWAY_INTERFACE", "CGI/1.1" },
		{ "SERVER_PROTOCOL", "HTTP/1.1" },
		{ "SERVER_SOFTWARE", "agora-gateway/" PACKAGE_VERSION },
		{ "REQUEST_METHOD", "GET" },
		{ "REQUEST_URI", aj->aj_path },
		{ "SCRIPT_NAME", "" },
		{ "PATH_INFO", aj->aj_path },
		{ "QUERY_STRING", "" },
		{ "CONTENT_LENGTH", "" },
		{ "REMOTE_ADDR", "127.0.0.1" },
		{ "REQUEST_ID", "gateway-jwks" },
		{ "HTTP_ACCEPT", "application/json" },
	};
	char				*body;

	memset(&resp, 0, sizeof(resp));
	if (fcgi_client_request(aj->aj_addr, AUTH_FETCH_TIMEOUT_MS, p,
	    sizeof(p) / sizeof(p[0]), NULL, 0, &resp, errstr) == -1)
		return NULL;
	if (resp.status != 200) {
		log_warnx("%s: jwks from %s: status %d", __func__,
		    aj->aj_what, resp.status);
		*errstr = "status not 200";
		fcgi_client_response_free(&resp);
		return NULL;
	}
	body = xmalloc(resp.bodylen + 1);
	memcpy(body, resp.body, resp.bodylen);
	body[resp.bodylen] = '\0';
	*lenp = resp.bodylen;
	fcgi_client_response_free(&resp);
	return body;
}

/*
 * One GET of the JWKS; 0 and a new set in *ks, 1 when the body is the
 * one of the set in use (so the token cache stays), or -1 (logged).
 */
static int
auth_fetch(struct auth_jwks *aj, struct jwt_keyset **ks)
{
	const char	*errstr = NULL;
	char		*body;
	size_t		 len = 0;

	body = aj->aj_addr != NULL ? auth_get_fcgi(aj, &len, &errstr) :
	    auth_get_url(aj, &len, &errstr);
	if (body == NULL) {
		log_warnx("%s: jwks from %s: %s", __func__, aj->aj_what,
		    errstr);
		return -1;
	}
	if (aj->aj_body != NULL && len == aj->aj_bodylen &&
	    memcmp(body, aj->aj_body, len) == 0) {
		free(body);
		return 1;
	}
	*ks = jwt_keyset_from_jwks_flags(body, len, JWT_JWKS_SKIP_UNUSABLE,
	    &errstr);
	if (*ks == NULL) {
		log_warnx("%s: jwks from %s: %s", __func__, aj->aj_what,
		    errstr);
		free(body);
		return -1;
	}
	free(aj->aj_body);
	aj->aj_body = body;
	aj->aj_bodylen = len;
	return 0;
}

static void *
auth_jwks_main(void *arg)
{
	struct auth_jwks	*aj = arg;
	struct jwt_keyset	*ks, *old;
	struct timespec		 ts;
	uint64_t		 wait;
	int			 have = 0, n, rc;

	pthread_mutex_lock(&aj->aj_mtx);
	while (!aj->aj_stop) {
		aj->aj_last = auth_now_ms();
		aj->aj_wake = 0;
		pthread_mutex_unlock(&aj->aj_mtx);
		if ((rc = auth_fetch(aj, &ks)) == 0) {
			n = (int)jwt_keyset_count(ks);
			pthread_rwlock_wrlock(&aj->aj_rw);
			old = aj->aj_keys;
			aj->aj_keys = ks;
			/* under the lock: who sees the gen sees the set */
			__atomic_store_n(&aj->aj_gen, __atomic_add_fetch(
			    &auth_gen, 1, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
			pthread_rwlock_unlock(&aj->aj_rw);
			jwt_keyset_free(old);
			if (!have)
				log_info("jwks: %d key%s from %s", n,
				    n == 1 ? "" : "s", aj->aj_what);
		}
		if (rc != -1)
			have = 1;
		pthread_mutex_lock(&aj->aj_mtx);
		wait = have ? (uint64_t)aj->aj_refresh : AUTH_RETRY_MS;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!aj->aj_stop && !aj->aj_wake &&
		    pthread_cond_timedwait(&aj->aj_cond, &aj->aj_mtx, &ts) !=
		    ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&aj->aj_mtx);
	return NULL;
}

static void
auth_jwks_free(struct auth_jwks *aj)
{
	free(aj->aj_addr);
	free(aj->aj_host);
	free(aj->aj_port);
	free(aj->aj_hosthdr);
	free(aj->aj_path);
	free(aj->aj_what);
	free(aj->aj_body);
	if (aj->aj_pipe[0] != -1) {
		close(aj->aj_pipe[0]);
		close(aj->aj_pipe[1]);
	}
	free(aj);
}

int
auth_jwks_start(struct gw_jwt *j, const char *addr)
{
	struct auth_jwks	*aj;
	const char		*errstr;

	if (j == NULL || j->jwt_fetch != NULL ||
	    (j->jwt_jwks_url == NULL && (j->jwt_jwks_service == NULL ||
	    addr == NULL)))
		return 0;
	aj = xcalloc(1, sizeof(*aj));
	aj->aj_pipe[0] = aj->aj_pipe[1] = -1;
	if (j->jwt_jwks_url != NULL) {
		if (auth_url_parse(j->jwt_jwks_url, &aj->aj_host,
		    &aj->aj_port, &aj->aj_hosthdr, &aj->aj_path,
		    &errstr) == -1) {
			log_warnx("%s: jwks url %s: %s", __func__,
			    j->jwt_jwks_url, errstr);
			auth_jwks_free(aj);
			return -1;
		}
		if (pipe2(aj->aj_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
			log_warn("%s: pipe2", __func__);
			aj->aj_pipe[0] = aj->aj_pipe[1] = -1;
			auth_jwks_free(aj);
			return -1;
		}
		aj->aj_what = xstrdup(j->jwt_jwks_url);
	} else {
		aj->aj_addr = xstrdup(addr);
		aj->aj_path = xstrdup(j->jwt_jwks_path);
		xasprintf(&aj->aj_what, "service %s", j->jwt_jwks_service);
	}
	pthread_rwlock_init(&aj->aj_rw, NULL);
	pthread_mutex_init(&aj->aj_mtx, NULL);
	pthread_cond_init(&aj->aj_cond, NULL);
	aj->aj_refresh = j->jwt_refresh > 0 ? j->jwt_refresh : 300000;
	aj->aj_gen = __atomic_add_fetch(&auth_gen, 1, __ATOMIC_RELAXED);
	if ((errno = pthread_create(&aj->aj_tid, NULL, auth_jwks_main,
	    aj)) != 0) {
		log_warn("%s: pthread_create", __func__);
		pthread_rwlock_destroy(&aj->aj_rw);
		pthread_mutex_destroy(&aj->aj_mtx);
		pthread_cond_destroy(&aj->aj_cond);
		auth_jwks_free(aj);
		return -1;
	}
	j->jwt_fetch = aj;
	return 0;
}

void
auth_jwks_stop(struct gw_jwt *j)
{
	struct auth_jwks	*aj;

	/* j goes: no thread's cache may take a new one for it */
	__atomic_add_fetch(&auth_epoch, 1, __ATOMIC_SEQ_CST);
	if (j == NULL || (aj = j->jwt_fetch) == NULL)
		return;
	pthread_mutex_lock(&aj->aj_mtx);
	aj->aj_stop = 1;
	pthread_cond_signal(&aj->aj_cond);
	pthread_mutex_unlock(&aj->aj_mtx);
	if (aj->aj_pipe[1] != -1)
		(void)write(aj->aj_pipe[1], "x", 1);
	pthread_join(aj->aj_tid, NULL);
	jwt_keyset_free(aj->aj_keys);
	pthread_rwlock_destroy(&aj->aj_rw);
	pthread_mutex_destroy(&aj->aj_mtx);
	pthread_cond_destroy(&aj->aj_cond);
	auth_jwks_free(aj);
	j->jwt_fetch = NULL;
}

/* An unknown kid: fetch again now, unless that was done lately. */
static void
auth_jwks_poke(struct auth_jwks *aj)
{
	pthread_mutex_lock(&aj->aj_mtx);
	if (auth_now_ms() - aj->aj_last >= AUTH_KID_REFRESH_MS) {
		aj->aj_last = auth_now_ms();
		aj->aj_wake = 1;
		pthread_cond_signal(&aj->aj_cond);
	}
	pthread_mutex_unlock(&aj->aj_mtx);
}

/* jwt_verify() against the fetched set, then the file's. */
static int
auth_verify(const struct gw_jwt *j, const char *tok,
    const struct jwt_expect *ex, struct jwt_claims **c, const char **errstr)
{
	struct auth_jwks	*aj = j->jwt_fetch;
	int			 rc = -1, unknown = 0;

	*errstr = "no keys to verify tokens with";
	if (aj != NULL) {
		pthread_rwlock_rdlock(&aj->aj_rw);
		if (aj->aj_keys != NULL)
			rc = jwt_verify(aj->aj_keys, tok, ex, c, errstr);
		else
			unknown = 1;
		pthread_rwlock_unlock(&aj->aj_rw);
		if (rc == 0)
			return 0;
		if (unknown || strcmp(*errstr, "unknown key id") == 0)
			auth_jwks_poke(aj);
	}
	/* the file's keys, unless the fetched set judged the token */
	if (j->jwt_keys != NULL && (aj == NULL || unknown ||
	    strcmp(*errstr, "unknown key id") == 0))
		rc = jwt_verify(j->jwt_keys, tok, ex, c, errstr);
	return rc;
}

/* The token of "Bearer <token>" (RFC 6750 2.1), or NULL. */
static const char *
auth_bearer(const char *h)
{
	const char	*t;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	for (t = h + 7; *t == ' '; t++)
		;
	return *t != '\0' ? t : NULL;
}

static int
auth_has_role(const struct jwt_claims *c, const char *role)
{
	size_t	 i;

	for (i = 0; i < c->jc_nroles; i++)
		if (strcmp(c->jc_roles[i], role) == 0)
			return 1;
	return 0;
}

/* Is scope one of the space-separated words of list? */
static int
auth_has_scope(const char *list, const char *scope)
{
	size_t		 n = strlen(scope);
	const char	*p;

	if (list == NULL)
		return 0;
	for (p = list; (p = strstr(p, scope)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return 1;
	return 0;
}

/* Empties entry e of ac. */
static void
auth_cache_drop(struct auth_cache *ac, struct auth_centry *e)
{
	free(e->ce_tok);
	jwt_claims_free(e->ce_claims);
	e->ce_tok = NULL;
	e->ce_claims = NULL;
	ac->ac_n--;
}

static void
auth_cache_empty(struct auth_cache *ac)
{
	struct auth_centry	*e;
	size_t			 i;

	for (i = 0; i < AUTH_CACHE_SIZE && ac->ac_n > 0; i++) {
		e = &ac->ac_e[i];
		if (e->ce_tok != NULL)
			auth_cache_drop(ac, e);
	}
}

static void
auth_cache_destroy(void *arg)
{
	struct auth_cache	*ac = arg;

	if (ac == NULL)
		return;
	auth_cache_empty(ac);
	free(ac);
}

static void
auth_cache_once(void)
{
	if (pthread_key_create(&auth_tc_key, auth_cache_destroy) != 0)
		fatalx("%s: pthread_key_create", __func__);
}

void
auth_cache_clear(void)
{
	pthread_once(&auth_tc_once, auth_cache_once);
	auth_cache_destroy(auth_tc);
	auth_tc = NULL;
	(void)pthread_setspecific(auth_tc_key, NULL);
}

size_t
auth_cache_count(void)
{
	return auth_tc != NULL ? auth_tc->ac_n : 0;
}

/*
 * The calling thread's cache, emptied unless its entries were verified
 * in the context of j as it is now.
 */
static struct auth_cache *
auth_cache_get(const struct gw_jwt *j)
{
	struct auth_cache	*ac = auth_tc;
	uint64_t		 epoch, gen;

	if (ac == NULL) {
		pthread_once(&auth_tc_once, auth_cache_once);
		ac = auth_tc = xcalloc(1, sizeof(*ac));
		(void)pthread_setspecific(auth_tc_key, ac);
	}
	epoch = __atomic_load_n(&auth_epoch, __ATOMIC_SEQ_CST);
	/* read before verifying: a newer set only empties it once more */
	gen = j->jwt_fetch != NULL ?
	    __atomic_load_n(&j->jwt_fetch->aj_gen, __ATOMIC_ACQUIRE) : 0;
	if (ac->ac_jwt != j || ac->ac_epoch != epoch || ac->ac_gen != gen ||
	    ac->ac_keys != j->jwt_keys || ac->ac_iss != j->jwt_issuer ||
	    ac->ac_aud != j->jwt_audience || ac->ac_leeway != j->jwt_leeway) {
		auth_cache_empty(ac);
		ac->ac_jwt = j;
		ac->ac_epoch = epoch;
		ac->ac_gen = gen;
		ac->ac_keys = j->jwt_keys;
		ac->ac_iss = j->jwt_issuer;
		ac->ac_aud = j->jwt_audience;
		ac->ac_leeway = j->jwt_leeway;
	}
	return ac;
}

/*
 * A multiply-xorshift hash of 8-byte words (a byte-wise FNV cost 1.5K
 * instructions a request); only verified tokens get in, so flooding the
 * sets gains an attacker nothing.
 */
static uint64_t
auth_hash(const char *p, size_t len)
{
	uint64_t	 h = 0xcbf29ce484222325ULL ^ len, w;
	size_t		 i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p + i, len - i);
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ h >> 32;
}

static struct auth_centry *
auth_cache_find(struct auth_cache *ac, uint64_t h, const char *tok,
    size_t len)
{
	struct auth_centry	*e;
	size_t			 i;

	e = &ac->ac_e[(h % AUTH_CACHE_SETS) * AUTH_CACHE_WAYS];
	for (i = 0; i < AUTH_CACHE_WAYS; i++, e++)
		if (e->ce_tok != NULL && e->ce_hash == h &&
		    e->ce_len == len && memcmp(e->ce_tok, tok, len) == 0) {
			e->ce_used = ++ac->ac_tick;
			return e;
		}
	return NULL;
}

/* Enters tok with a reference to c, in place of its set's LRU entry. */
static void
auth_cache_add(struct auth_cache *ac, uint64_t h, const char *tok,
    size_t len, struct jwt_claims *c)
{
	struct auth_centry	*set, *e;
	size_t			 i;

	set = &ac->ac_e[(h % AUTH_CACHE_SETS) * AUTH_CACHE_WAYS];
	for (e = set, i = 1; i < AUTH_CACHE_WAYS && e->ce_tok != NULL; i++)
		if (set[i].ce_tok == NULL || set[i].ce_used < e->ce_used)
			e = &set[i];
	if (e->ce_tok != NULL)
		auth_cache_drop(ac, e);
	e->ce_hash = h;
	e->ce_tok = xmalloc(len);
	memcpy(e->ce_tok, tok, len);
	e->ce_len = len;
	e->ce_claims = jwt_claims_ref(c);
	e->ce_used = ++ac->ac_tick;
	ac->ac_n++;
}

int
auth_check(const struct gw_jwt *j, const struct rule_route *route,
    const char *authorization, time_t now, struct jwt_claims **claims,
    const char **errstr)
{
	struct jwt_expect	 ex;
	struct jwt_claims	*c = NULL;
	struct auth_cache	*ac;
	struct auth_centry	*e;
	const char		*tok;
	size_t			 i, len;
	uint64_t		 h;
	long long		 t;

	*claims = NULL;
	if (j == NULL || (j->jwt_keys == NULL && j->jwt_fetch == NULL)) {
		*errstr = "no keys to verify tokens with";
		return 401;
	}
	if ((tok = auth_bearer(authorization)) == NULL) {
		*errstr = "missing bearer token";
		return 401;
	}
	memset(&ex, 0, sizeof(ex));
	ex.iss = j->jwt_issuer;
	ex.aud = j->jwt_audience;
	ex.leeway = j->jwt_leeway / 1000;
	ex.now = now;
	ex.require_exp = 1;
	ac = auth_cache_get(j);
	len = strlen(tok);
	h = auth_hash(tok, len);
	if ((e = auth_cache_find(ac, h, tok, len)) != NULL) {
		/* as jwt_verify() would; a cached token always has exp */
		t = now != 0 ? now : time(NULL);
		if (t >= e->ce_claims->jc_exp + ex.leeway) {
			auth_cache_drop(ac, e);
			*errstr = "token expired";
			return 401;
		}
		if (e->ce_claims->jc_nbf != 0 &&
		    t + ex.leeway < e->ce_claims->jc_nbf) {
			*errstr = "token not yet valid";
			return 401;
		}
		c = jwt_claims_ref(e->ce_claims);
	} else {
		if (auth_verify(j, tok, &ex, &c, errstr) == -1)
			return 401;
		auth_cache_add(ac, h, tok, len, c);
	}
	if (route->r_roles.rn_n > 0) {
		for (i = 0; i < route->r_roles.rn_n; i++)
			if (auth_has_role(c, route->r_roles.rn_v[i]))
				break;
		if (i == route->r_roles.rn_n) {
			jwt_claims_free(c);
			*errstr = "the token lacks a required role";
			return 403;
		}
	}
	for (i = 0; i < route->r_scopes.rn_n; i++) {
		if (!auth_has_scope(c->jc_scope, route->r_scopes.rn_v[i])) {
			jwt_claims_free(c);
			*errstr = "the token lacks a required scope";
			return 403;
		}
	}
	*claims = c;
	return 0;
}

void
auth_challenge(int status, const char *errstr, char *buf, size_t len)
{
	char	 desc[200];
	size_t	 i;

	/* a quoted-string: no quote, backslash or control character */
	for (i = 0; errstr[i] != '\0' && i < sizeof(desc) - 1; i++)
		desc[i] = errstr[i] == '"' || errstr[i] == '\\' ||
		    (unsigned char)errstr[i] < 0x20 ? '\'' : errstr[i];
	desc[i] = '\0';
	snprintf(buf, len, "WWW-Authenticate: Bearer realm=\"agora\", "
	    "error=\"%s\", error_description=\"%s\"\r\n",
	    status == 403 ? "insufficient_scope" : "invalid_token", desc);
}

size_t
auth_params(const struct jwt_claims *c, struct upstream_param *p,
    char *rolesbuf, size_t rolesbuflen)
{
	size_t	 i, n = 0, off = 0, l;

	rolesbuf[0] = '\0';
	for (i = 0; i < c->jc_nroles; i++) {
		l = strlen(c->jc_roles[i]);
		if (off + l + 2 > rolesbuflen)
			break;
		if (off > 0)
			rolesbuf[off++] = ' ';
		memcpy(rolesbuf + off, c->jc_roles[i], l + 1);
		off += l;
	}
	p[n].up_name = "REMOTE_USER";
	p[n].up_value = c->jc_sub != NULL ? c->jc_sub : "";
	p[n].up_value_len = strlen(p[n].up_value);
	n++;
	p[n].up_name = "AUTH_TYPE";
	p[n].up_value = "Bearer";
	p[n].up_value_len = 6;
	n++;
	p[n].up_name = "AUTH_ROLES";
	p[n].up_value = rolesbuf;
	p[n].up_value_len = off;
	n++;
	p[n].up_name = "AUTH_SCOPE";
	p[n].up_value = c->jc_scope != NULL ? c->jc_scope : "";
	p[n].up_value_len = strlen(p[n].up_value);
	n++;
	return n;
}
