/*
 * A small blocking FastCGI client for service-to-service calls (users
 * calling auth): one request per connection, as a responder.  It connects
 * to a unix socket ("/run/agora/auth.sock": anything with a '/') or to
 * "host:port", sends BEGIN_REQUEST, the params, the body on STDIN, then
 * reads STDOUT, STDERR and END_REQUEST.  The CGI response on STDOUT is
 * split into its Status, headers and body.
 *
 * The whole exchange (connect included) must finish within timeout_ms;
 * a service that is down, slow or answers garbage is an error, never a
 * hang.  Nothing here logs: the caller decides what a failure means.
 */
#ifndef AGORA_FCGI_CLIENT_H
#define AGORA_FCGI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define FCGI_CLIENT_MAXRESPONSE	(8 * 1024 * 1024)	/* STDOUT bytes */

struct fcgi_client_param {
	const char	*name;
	const char	*value;
};

struct fcgi_client_header {
	char		*name;
	char		*value;
};

/* Everything is owned by the response; fcgi_client_response_free(). */
struct fcgi_client_response {
	int				 status;	/* 200 without Status: */
	struct fcgi_client_header	*headers;
	size_t				 nheaders;
	char				*body;		/* NUL-terminated */
	size_t				 bodylen;
	char				*errtext;	/* STDERR, NUL-terminated */
	size_t				 errlen;
	uint32_t			 app_status;	/* of END_REQUEST */
};

/*
 * Runs one request against addr.  params (n of them) are sent as given;
 * CONTENT_LENGTH is the caller's to include when there is a body.
 * Returns 0 with resp filled, or -1 with *errstr (connect failed, timed
 * out, the peer closed early, a malformed record or CGI response).
 */
int		 fcgi_client_request(const char *addr, int timeout_ms,
		    const struct fcgi_client_param *params, size_t n,
		    const char *body, size_t bodylen,
		    struct fcgi_client_response *resp, const char **errstr);
/* Value of header name (case-insensitive), or NULL. */
const char	*fcgi_client_header(const struct fcgi_client_response *,
		    const char *name);
void		 fcgi_client_response_free(struct fcgi_client_response *);

#endif
