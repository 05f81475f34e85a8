/*
 * The main program of every agora-<name> service:
 *
 *	agora-<name> [-v] [-s PATH|HOST:PORT]
 *
 * Without -s the listening socket is fd 0 (FCGI_LISTENSOCK_FILENO), as
 * handed over by the gateway's supervisor, spawn-fcgi or a systemd socket
 * unit.  Requests are served one at a time; several processes share the
 * listening socket.  SIGTERM or SIGINT: finish the request in progress,
 * then exit 0.  See db.h and cursor.h for the environment.
 */
#ifndef AGORA_SERVICE_H
#define AGORA_SERVICE_H

#include <stddef.h>

#include "router.h"

#define SERVICE_MAXBODY		(1024 * 1024)

struct service {
	const char		*sv_name;	/* "catalog" */
	const struct route	*sv_routes;	/* ends with a NULL method */
	size_t			 sv_maxbody;	/* 0: SERVICE_MAXBODY */
	int			 sv_idempotent;	/* Idempotency-Key on POST */
};

/* Runs the service; returns the exit status. */
int	service_main(int argc, char **argv, const struct service *);

#endif
