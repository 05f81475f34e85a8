/*
 * A response being built: status, headers and a body, sent in one piece
 * as a CGI-style FastCGI response ("Status: 201 Created\r\n...").  JSON
 * bodies are generated through the yajl_gen that response_json() returns.
 */
#ifndef AGORA_RESPONSE_H
#define AGORA_RESPONSE_H

#include <stddef.h>

#include <fcgiapp.h>
#include <yajl/yajl_gen.h>

struct response {
	int		 rs_status;
	char		*rs_headers;	/* "Name: value\r\n"... */
	size_t		 rs_hlen;
	char		*rs_ctype;
	yajl_gen	 rs_gen;	/* JSON body, or NULL */
	char		*rs_body;	/* raw body, or NULL */
	size_t		 rs_bodylen;
	int		 rs_problem;	/* body is a problem: logged already */
};

void		 response_init(struct response *);
void		 response_free(struct response *);	/* NULL is a no-op */
/* Drops headers and body, keeps nothing: for replacing with an error. */
void		 response_reset(struct response *);
void		 response_status(struct response *, int status);
/*
 * Adds a header.  A value holding CR or LF is refused (logged, -1) so that
 * nothing can split the response.
 */
int		 response_header(struct response *, const char *name,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Starts (or returns the already started) JSON body and sets
 * Content-Type to application/json.  The gen belongs to the response.
 */
yajl_gen	 response_json(struct response *);
/* Raw body, copied. */
void		 response_body(struct response *, const char *ctype,
		    const char *body, size_t len);
/*
 * Writes the response to out.  head: headers only (HEAD requests).
 * Returns 0, or -1 when the body could not be generated (a 500 was sent
 * instead) or writing failed.
 */
int		 response_send(struct response *, FCGX_Stream *out, int head);

#endif
