/*
 * Health probes and FCGI_GET_VALUES discovery (see probe.h).  Each target
 * is one server of one pool; it runs one exchange at a time:
 *
 *	timer -> pool_acquire_server() -> write request -> read records
 *	      -> verdict -> pool_release() -> timer
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"
#include "fcgi.h"
#include "config.h"
#include "pool.h"
#include "generation.h"
#include "probe.h"

#define PROBE_DISCOVER_MS	2000	/* GET_VALUES answer wait */
#define PROBE_REQUEST_ID	1

enum probe_kind {
	PROBE_CHECK,
	PROBE_DISCOVER
};

struct probe_target {
	struct probe		*pt_probe;
	struct pool		*pt_pool;
	const struct gw_service	*pt_svc;	/* in the held generation */
	int			 pt_server;
	int			 pt_kind;
	int			 pt_interval;	/* ms */
	int			 pt_ok;		/* successes in a row */
	int			 pt_failed;	/* failures in a row */
	int			 pt_up;
	int			 pt_busy;	/* an exchange is running */
	struct pool_wait	 pt_wait;
	int			 pt_fd;
	struct event		*pt_timer;
	struct event		*pt_io;
	struct evbuffer		*pt_out;
	struct evbuffer		*pt_in;
	int			 pt_status;	/* HTTP status seen */
	int			 pt_headers_done;
	TAILQ_ENTRY(probe_target) pt_entry;
};

struct probe {
	struct event_base	*pr_base;
	struct generation	*pr_gen;
	TAILQ_HEAD(, probe_target) pr_targets;
	unsigned long		 pr_ok;
	unsigned long		 pr_failed;
};

static void	probe_tick(evutil_socket_t, short, void *);
static void	probe_pool_cb(struct pool_wait *, int, void *);
static void	probe_io(evutil_socket_t, short, void *);

struct probe *
probe_new(struct event_base *base)
{
	struct probe	*pr;

	pr = xcalloc(1, sizeof(*pr));
	pr->pr_base = base;
	TAILQ_INIT(&pr->pr_targets);
	return pr;
}

void
probe_counts(struct probe *pr, unsigned long *ok, unsigned long *failed)
{
	*ok = pr->pr_ok;
	*failed = pr->pr_failed;
}

static void
probe_arm(struct probe_target *pt, int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(pt->pt_timer, &tv);
}

static void
probe_target_add(struct probe *pr, struct pool *pool,
    const struct gw_service *svc, int server, int kind)
{
	struct probe_target	*pt;

	pt = xcalloc(1, sizeof(*pt));
	pt->pt_probe = pr;
	pt->pt_pool = pool;
	pt->pt_svc = svc;
	pt->pt_server = server;
	pt->pt_kind = kind;
	pt->pt_interval = kind == PROBE_CHECK ? svc->svc_check_interval :
	    PROBE_DISCOVER_MS;
	pt->pt_up = 1;
	pt->pt_fd = -1;
	if ((pt->pt_timer = evtimer_new(pr->pr_base, probe_tick, pt)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	pt->pt_out = evbuffer_new();
	pt->pt_in = evbuffer_new();
	TAILQ_INSERT_TAIL(&pr->pr_targets, pt, pt_entry);
	/* discovery at once; the first check after a short settle */
	probe_arm(pt, kind == PROBE_DISCOVER ? 0 : 100);
}

void
probe_start(struct probe *pr, struct generation *gen)
{
	const struct gw_service	*svc;
	struct pool		*pool;
	int			 i, j;

	probe_stop(pr);
	pr->pr_gen = generation_ref(gen);
	for (i = 0; i < gen->gen_npools; i++) {
		svc = gen->gen_pools[i].gp_svc;
		pool = gen->gen_pools[i].gp_pool;
		for (j = 0; j < pool_servers(pool); j++) {
			if (svc->svc_program == NULL)
				probe_target_add(pr, pool, svc, j,
				    PROBE_DISCOVER);
			if (svc->svc_check_path != NULL)
				probe_target_add(pr, pool, svc, j,
				    PROBE_CHECK);
		}
	}
}

/* Ends the exchange: the connection goes back (or is closed). */
static void
probe_done(struct probe_target *pt, int reusable)
{
	if (pt->pt_io != NULL) {
		event_free(pt->pt_io);
		pt->pt_io = NULL;
	}
	if (pt->pt_fd != -1) {
		pool_release(pt->pt_pool, pt->pt_fd, reusable);
		pt->pt_fd = -1;
	}
	evbuffer_drain(pt->pt_out, evbuffer_get_length(pt->pt_out));
	evbuffer_drain(pt->pt_in, evbuffer_get_length(pt->pt_in));
	pt->pt_busy = 0;
}

static void
probe_target_free(struct probe_target *pt)
{
	if (pt->pt_busy) {
		pool_cancel(&pt->pt_wait);
		probe_done(pt, 0);
	}
	event_free(pt->pt_timer);
	evbuffer_free(pt->pt_out);
	evbuffer_free(pt->pt_in);
	free(pt);
}

void
probe_stop(struct probe *pr)
{
	struct probe_target	*pt;

	while ((pt = TAILQ_FIRST(&pr->pr_targets)) != NULL) {
		TAILQ_REMOVE(&pr->pr_targets, pt, pt_entry);
		probe_target_free(pt);
	}
	generation_release(pr->pr_gen);
	pr->pr_gen = NULL;
}

void
probe_free(struct probe *pr)
{
	if (pr == NULL)
		return;
	probe_stop(pr);
	free(pr);
}

/* A check's verdict: rise/fall counting, then the next one. */
static void
probe_verdict(struct probe_target *pt, int ok, const char *why)
{
	struct probe	*pr = pt->pt_probe;
	const char	*addr = pool_server_addr(pt->pt_pool, pt->pt_server);

	if (pt->pt_kind == PROBE_DISCOVER) {
		/* once: it answered or it does not speak GET_VALUES */
		if (!ok && strcmp(why, "cannot connect") == 0)
			probe_arm(pt, 5 * PROBE_DISCOVER_MS);
		else if (!ok)
			log_debug("service %s: server %s: no FCGI_GET_VALUES "
			    "answer (%s)", pt->pt_svc->svc_name, addr, why);
		return;
	}
	if (ok) {
		pr->pr_ok++;
		pt->pt_failed = 0;
		if (!pt->pt_up && ++pt->pt_ok >= pt->pt_svc->svc_check_rise) {
			pt->pt_up = 1;
			pool_server_set_probe(pt->pt_pool, pt->pt_server, 1);
		}
	} else {
		pr->pr_failed++;
		pt->pt_ok = 0;
		log_debug("service %s: server %s: health check failed: %s",
		    pt->pt_svc->svc_name, addr, why);
		if (pt->pt_up &&
		    ++pt->pt_failed >= pt->pt_svc->svc_check_fall) {
			pt->pt_up = 0;
			log_warnx("service %s: server %s: %d health checks "
			    "failed (last: %s)", pt->pt_svc->svc_name, addr,
			    pt->pt_failed, why);
			pool_server_set_probe(pt->pt_pool, pt->pt_server, 0);
		}
	}
	probe_arm(pt, pt->pt_interval);
}

static void
probe_record(struct evbuffer *out, uint8_t type, const void *data,
    size_t len)
{
	uint8_t	 hdr[FCGI_HEADER_SIZE], pad[8] = { 0 };
	uint8_t	 padding = fcgi_padding((uint16_t)len);

	fcgi_header_encode(hdr, type, type == FCGI_T_GET_VALUES ?
	    FCGI_NULL_REQUEST_ID : PROBE_REQUEST_ID, (uint16_t)len, padding);
	evbuffer_add(out, hdr, sizeof(hdr));
	evbuffer_add(out, data, len);
	evbuffer_add(out, pad, padding);
}

static void
probe_nv(uint8_t *buf, size_t buflen, size_t *n, const char *name,
    const char *value)
{
	*n += fcgi_nv_encode(buf + *n, buflen - *n, name, strlen(name),
	    value, strlen(value));
}

/* The request: a GET of the check path, or GET_VALUES. */
static void
probe_request(struct probe_target *pt)
{
	static const char	*names[] = { "FCGI_MAX_CONNS",
				    "FCGI_MAX_REQS", "FCGI_MPXS_CONNS" };
	const struct gw_service	*svc = pt->pt_svc;
	const struct gw_string	*s;
	uint8_t			 begin[8], params[4096];
	char			 name[256];
	size_t			 i, n = 0, len;

	if (pt->pt_kind == PROBE_DISCOVER) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			probe_nv(params, sizeof(params), &n, names[i], "");
		probe_record(pt->pt_out, FCGI_T_GET_VALUES, params, n);
		return;
	}
	fcgi_begin_request_encode(begin, FCGI_R_RESPONDER, FCGI_KEEP_CONN);
	probe_record(pt->pt_out, FCGI_T_BEGIN_REQUEST, begin, sizeof(begin));
	probe_nv(params, sizeof(params), &n, "GATEWAY_INTERFACE", "CGI/1.1");
	probe_nv(params, sizeof(params), &n, "SERVER_SOFTWARE",
	    "agora-gateway/" VERSION);
	probe_nv(params, sizeof(params), &n, "SERVER_PROTOCOL", "HTTP/1.1");
	probe_nv(params, sizeof(params), &n, "SERVER_NAME", "localhost");
	probe_nv(params, sizeof(params), &n, "SERVER_PORT", "0");
	probe_nv(params, sizeof(params), &n, "REQUEST_METHOD", "GET");
	probe_nv(params, sizeof(params), &n, "REQUEST_URI",
	    svc->svc_check_path);
	probe_nv(params, sizeof(params), &n, "SCRIPT_NAME", "");
	probe_nv(params, sizeof(params), &n, "PATH_INFO", svc->svc_check_path);
	probe_nv(params, sizeof(params), &n, "QUERY_STRING", "");
	probe_nv(params, sizeof(params), &n, "REMOTE_ADDR", "127.0.0.1");
	probe_nv(params, sizeof(params), &n, "CONTENT_LENGTH", "0");
	probe_nv(params, sizeof(params), &n, "HTTP_USER_AGENT",
	    "agora-gateway health check");
	/* the service's own params (php-fpm's SCRIPT_FILENAME) */
	TAILQ_FOREACH(s, &svc->svc_params, s_entry) {
		len = strcspn(s->s_value, "=");
		if (len >= sizeof(name))
			continue;
		memcpy(name, s->s_value, len);
		name[len] = '\0';
		probe_nv(params, sizeof(params), &n, name,
		    s->s_value + len + 1);
	}
	probe_record(pt->pt_out, FCGI_T_PARAMS, params, n);
	probe_record(pt->pt_out, FCGI_T_PARAMS, NULL, 0);
	probe_record(pt->pt_out, FCGI_T_STDIN, NULL, 0);
}

/* "Status: 503 ..." among the CGI headers; no Status line is 200. */
static void
probe_stdout(struct probe_target *pt, const uint8_t *p, size_t len)
{
	const char	*line, *end, *stop;

	if (pt->pt_headers_done)
		return;
	stop = (const char *)p + len;
	for (line = (const char *)p; line < stop; line = end + 1) {
		if ((end = memchr(line, '\n', (size_t)(stop - line))) == NULL)
			break;
		if (end == line || (end == line + 1 && *line == '\r')) {
			pt->pt_headers_done = 1;
			break;
		}
		if (end - line > 8 && strncasecmp(line, "Status:", 7) == 0)
			pt->pt_status = atoi(line + 7);
	}
}

/*
 * The records read so far: 1 when the exchange is complete (verdict
 * given), 0 for more, -1 on garbage.
 */
static int
probe_parse(struct probe_target *pt, const char **why)
{
	struct fcgi_record	 rec;
	const uint8_t		*p, *name, *value;
	const char		*errstr;
	uint32_t		 app;
	uint8_t			 proto;
	size_t			 nlen, vlen, off;
	ssize_t			 r, k;
	int			 maxconns = 0, maxreqs = 0, v;
	char			 num[16];

	for (;;) {
		p = evbuffer_pullup(pt->pt_in, -1);
		r = fcgi_record_decode(p, evbuffer_get_length(pt->pt_in),
		    &rec, &errstr);
		if (r == 0)
			return 0;
		if (r < 0) {
			*why = errstr;
			return -1;
		}
		switch (rec.hdr.type) {
		case FCGI_T_STDOUT:
			probe_stdout(pt, rec.content, rec.hdr.content_length);
			break;
		case FCGI_T_END_REQUEST:
			if (fcgi_end_request_decode(rec.content,
			    rec.hdr.content_length, &app, &proto,
			    &errstr) == -1 || proto != FCGI_S_REQUEST_COMPLETE) {
				*why = "request not complete";
				return -1;
			}
			evbuffer_drain(pt->pt_in, (size_t)r);
			if (pt->pt_status == 0)
				pt->pt_status = 200;
			if (pt->pt_status >= 400) {
				*why = "error status";
				return 2;
			}
			return 1;
		case FCGI_T_GET_VALUES_RESULT:
			for (off = 0; off < rec.hdr.content_length;
			    off += (size_t)k) {
				k = fcgi_nv_decode(rec.content + off,
				    rec.hdr.content_length - off, &name,
				    &nlen, &value, &vlen, &errstr);
				if (k <= 0)
					break;
				if (vlen == 0 || vlen >= sizeof(num))
					continue;
				memcpy(num, value, vlen);
				num[vlen] = '\0';
				v = atoi(num);
				if (nlen == 14 && memcmp(name,
				    "FCGI_MAX_CONNS", 14) == 0)
					maxconns = v;
				else if (nlen == 13 && memcmp(name,
				    "FCGI_MAX_REQS", 13) == 0)
					maxreqs = v;
			}
			if (maxreqs > 0 && (maxconns == 0 || maxreqs <
			    maxconns))
				maxconns = maxreqs;
			if (maxconns > 0)
				pool_server_discovered(pt->pt_pool,
				    pt->pt_server, maxconns);
			evbuffer_drain(pt->pt_in, (size_t)r);
			return 1;
		default:
			break;	/* STDERR and the like */
		}
		evbuffer_drain(pt->pt_in, (size_t)r);
	}
}

/* (Re)arms the exchange's event for what, bounded by the interval. */
static void
probe_io_arm(struct probe_target *pt, short what)
{
	struct timeval	 tv;
	int		 ms = pt->pt_interval;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_del(pt->pt_io);
	event_assign(pt->pt_io, pt->pt_probe->pr_base, pt->pt_fd,
	    what | EV_PERSIST, probe_io, pt);
	event_add(pt->pt_io, &tv);
}

static void
probe_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe_target	*pt = arg;
	const char		*why = "no answer in time";
	int			 n, rv;

	if (what & EV_TIMEOUT)
		goto fail;
	if (evbuffer_get_length(pt->pt_out) > 0) {
		if (evbuffer_write(pt->pt_out, fd) == -1 && errno != EAGAIN) {
			why = strerror(errno);
			goto fail;
		}
		/* all sent: a socket is nearly always writable, so from now
		 * on wait for the answer only, or this would spin */
		if (evbuffer_get_length(pt->pt_out) == 0)
			probe_io_arm(pt, EV_READ);
		return;
	}
	n = evbuffer_read(pt->pt_in, fd, 4096);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		why = n == 0 ? "closed the connection" : strerror(errno);
		goto fail;
	}
	if ((rv = probe_parse(pt, &why)) == 0)
		return;
	if (rv == -1)
		goto fail;
	/* a clean end: the connection can serve a request next */
	probe_done(pt, evbuffer_get_length(pt->pt_in) == 0);
	probe_verdict(pt, rv == 1, why);
	return;
 fail:
	probe_done(pt, 0);
	probe_verdict(pt, 0, why);
}

static void
probe_go(struct probe_target *pt)
{
	pt->pt_fd = pt->pt_wait.pw_fd;
	pt->pt_status = 0;
	pt->pt_headers_done = 0;
	probe_request(pt);
	pt->pt_io = event_new(pt->pt_probe->pr_base, pt->pt_fd,
	    EV_WRITE | EV_PERSIST, probe_io, pt);
	probe_io_arm(pt, EV_WRITE);
}

static void
probe_pool_cb(struct pool_wait *w, int status, void *arg)
{
	struct probe_target	*pt = arg;

	switch (status) {
	case POOL_READY:
		probe_go(pt);
		break;
	case POOL_ECONNECT:
		pt->pt_busy = 0;
		probe_verdict(pt, 0, "cannot connect");
		break;
	default:
		/* busy, not sick: try again next time */
		pt->pt_busy = 0;
		if (pt->pt_kind == PROBE_CHECK)
			probe_arm(pt, pt->pt_interval);
		break;
	}
}

static void
probe_tick(evutil_socket_t fd, short what, void *arg)
{
	struct probe_target	*pt = arg;

	if (pt->pt_busy)
		return;
	pt->pt_busy = 1;
	switch (pool_acquire_server(pt->pt_pool, pt->pt_probe->pr_base,
	    &pt->pt_wait, probe_pool_cb, pt, pt->pt_server)) {
	case POOL_READY:
		probe_go(pt);
		break;
	case POOL_PENDING:
		break;
	default:
		probe_pool_cb(&pt->pt_wait, POOL_ECONNECT, pt);
		break;
	}
}
