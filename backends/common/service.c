/* The FastCGI accept loop shared by every service program. */

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <fastcgi.h>

#include "cursor.h"
#include "db.h"
#include "idempotency.h"
#include "identity.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "router.h"
#include "service.h"
#include "xmalloc.h"

static volatile sig_atomic_t	service_quit;

static void
service_sighandler(int sig)
{
	service_quit = sig;
}

static void __attribute__((noreturn))
service_usage(const char *name)
{
	fprintf(stderr, "usage: agora-%s [-v] [-s path|host:port]\n", name);
	exit(1);
}

/* Runs the handler, inside the Idempotency-Key protocol for a POST. */
static void
service_route(const struct service *sv, const struct route *route,
    struct request *r, struct response *rs)
{
	struct idempotency	 ik;

	if (!sv->sv_idempotent || strcmp(r->rq_method, "POST") != 0) {
		route->handler(r, rs);
		return;
	}
	if (idempotency_begin(r, rs, &ik) != 0)
		return;
	route->handler(r, rs);
	idempotency_end(r, rs);
}

/* Answers one request that FCGX_Accept_r() returned. */
static void
service_handle(const struct service *sv, FCGX_Request *fcgx)
{
	struct request		 r;
	struct response		 rs;
	const struct route	*route;
	char			 allow[128];

	request_init(&r, fcgx, sv->sv_maxbody);
	response_init(&rs);
	if (!r.rq_query_ok)
		problem_send(&r, &rs, 400, "%s", r.rq_query_err);
	else {
		switch (router_match(sv->sv_routes, r.rq_method, r.rq_path,
		    &route, &r.rq_match, allow, sizeof allow)) {
		case ROUTER_FOUND:
			service_route(sv, route, &r, &rs);
			break;
		case ROUTER_BAD_METHOD:
			problem_send(&r, &rs, 405, "%s is not allowed on %s",
			    r.rq_method, r.rq_path);
			response_header(&rs, "Allow", "%s", allow);
			break;
		default:
			problem_send(&r, &rs, 404, "no resource at %s",
			    r.rq_path);
			break;
		}
	}
	if (response_send(&rs, fcgx->out, strcmp(r.rq_method, "HEAD") == 0)
	    == -1)
		log_warnx("%s: %s %s: sending the response failed rid=%s",
		    __func__, r.rq_method, r.rq_path, r.rq_id);
	log_debug("%s %s -> %d rid=%s", r.rq_method, r.rq_path,
	    rs.rs_status, r.rq_id);
	request_drain(&r);
	response_free(&rs);
	request_free(&r);
}

/* fd 0 must be a listening socket when no -s was given. */
static int
service_listen_fd(const char *sockpath)
{
	int		 fd, type;
	socklen_t	 len = sizeof type;

	if (sockpath != NULL) {
		if ((fd = FCGX_OpenSocket(sockpath, 128)) == -1)
			fatal("cannot listen on %s", sockpath);
	} else {
		fd = FCGI_LISTENSOCK_FILENO;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
			fatalx("fd 0 is not a socket: use -s, or run under "
			    "the gateway, spawn-fcgi or a socket unit");
	}
	/*
	 * Non-blocking, so that a process woken for a connection another
	 * process took goes back to waiting (and can see SIGTERM) instead of
	 * blocking in accept().
	 */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("%s: fcntl", __func__);
	return fd;
}

int
service_main(int argc, char **argv, const struct service *sv)
{
	struct service		 def = *sv;
	struct sigaction	 sa;
	struct pollfd		 pfd;
	FCGX_Request		 fcgx;
	sigset_t		 block, waitmask;
	const char		*sockpath = NULL, *errstr;
	char			*ident;
	int			 ch, verbose = 0, fd, rc;

	while ((ch = getopt(argc, argv, "s:v")) != -1) {
		switch (ch) {
		case 's':
			sockpath = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			service_usage(sv->sv_name);
		}
	}
	if (optind != argc)
		service_usage(sv->sv_name);
	if (def.sv_maxbody == 0)
		def.sv_maxbody = SERVICE_MAXBODY;

	xasprintf(&ident, "agora-%s", sv->sv_name);
	log_init(ident, verbose);
	if (db_configure(sv->sv_name, &errstr) == -1)
		fatalx("%s", errstr);
	if (cursor_init(&errstr) == -1)
		fatalx("cursor key: %s", errstr);
	/* Bearer JWTs verified here when no gateway passes the identity. */
	if (identity_jwt_from_env(&errstr) == -1)
		fatalx("%s", errstr);
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	fd = service_listen_fd(sockpath);
	if (FCGX_InitRequest(&fcgx, fd, 0) != 0)
		fatalx("FCGX_InitRequest failed");

	/*
	 * SIGTERM and SIGINT stay blocked except inside ppoll(), so they
	 * can only end the wait for a request, never one being answered.
	 */
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = service_sighandler;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	log_info("serving %s", sockpath != NULL ? sockpath : "fd 0");
	while (!service_quit) {
		/* A kept connection's next request, or a new connection. */
		pfd.fd = fcgx.ipcFd >= 0 ? fcgx.ipcFd : fd;
		pfd.events = POLLIN;
		rc = ppoll(&pfd, 1, NULL, &waitmask);
		if (service_quit)
			break;
		if (rc == -1) {
			if (errno != EINTR)
				fatal("ppoll");
			continue;
		}
		if (FCGX_Accept_r(&fcgx) < 0) {
			/* Another process took it, or the peer left. */
			continue;
		}
		service_handle(&def, &fcgx);
		FCGX_Finish_r(&fcgx);
	}
	log_info("exiting on signal %d", (int)service_quit);
	FCGX_Free(&fcgx, 1);
	db_close();
	free(ident);
	return 0;
}
