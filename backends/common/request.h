/*
 * One FastCGI request as the handlers see it: the method and path to
 * route on, the decoded query, the body (read on demand, with a size
 * limit) and the params.  Strings returned point into the request and
 * live until request_free().
 */
#ifndef AGORA_REQUEST_H
#define AGORA_REQUEST_H

#include <stddef.h>

#include <fcgiapp.h>
#include <yajl/yajl_tree.h>

#include "router.h"

struct idempotency;
struct response;

struct query_param {
	char		*qp_name;
	char		*qp_value;
};

/* A decoded query string: application/x-www-form-urlencoded. */
struct query {
	struct query_param	*q_params;
	size_t			 q_n;
};

struct request {
	FCGX_Request		*rq_fcgx;	/* NULL in unit tests */
	const char		*rq_method;
	char			*rq_path;	/* route path, never NULL */
	const char		*rq_script;	/* SCRIPT_NAME, "" if unset */
	const char		*rq_id;		/* REQUEST_ID, "-" if unset */
	struct query		 rq_query;
	int			 rq_query_ok;	/* 0: rq_query_err says why */
	const char		*rq_query_err;
	char			*rq_body;	/* NUL-terminated, or NULL */
	size_t			 rq_bodylen;
	int			 rq_body_read;
	size_t			 rq_maxbody;
	struct router_match	 rq_match;
	struct idempotency	*rq_idem;	/* claimed Idempotency-Key */
};

/*
 * Fills r from the FastCGI request.  The route path is PATH_INFO, or the
 * path of REQUEST_URI without a leading SCRIPT_NAME when PATH_INFO is
 * unset or empty.
 */
void		 request_init(struct request *r, FCGX_Request *fcgx,
		    size_t maxbody);
void		 request_free(struct request *);	/* NULL is a no-op */

/* FastCGI param, or NULL. */
const char	*request_param(struct request *, const char *name);
/* Request header by its HTTP name ("If-Match"), or NULL. */
const char	*request_header(struct request *, const char *name);
/* Route capture ("id"), or NULL. */
const char	*request_capture(struct request *, const char *name);
/*
 * The ?limit= of a list (API.md: default 20, 1..100) into *limit: 0, or
 * -1 after answering 400.
 */
#define REQUEST_LIMIT_DEFAULT	20
#define REQUEST_LIMIT_MAX	100
struct response;
int		 request_limit(struct request *, struct response *,
		    long long *limit);
/* Route capture as a positive integer id ("42"), or 0 when it is not one. */
long long	 request_capture_id(struct request *, const char *name);

/*
 * Decodes a query string: '&'-separated name=value pairs, '+' is a space,
 * %XX escapes.  Returns 0, or -1 with *errstr set (a bad escape, or an
 * escape that decodes to NUL); q is then empty.  Free with query_free().
 */
int		 query_parse(struct query *q, const char *qs,
		    const char **errstr);
/* First value of name, or NULL. */
const char	*query_get(const struct query *, const char *name);
void		 query_free(struct query *);

/*
 * Reads the whole body, at most rq_maxbody bytes.  Returns 0, or the
 * HTTP status to answer with (413 too big, 400 short/unreadable) and
 * *errstr.
 */
int		 request_body(struct request *, const char **errstr);
/*
 * The body as a JSON value: checks Content-Type (415 unless
 * application/json or a +json type), size (413) and syntax (400).  On
 * failure it has already answered with a problem in rs and returns NULL.
 * The tree is the caller's to json_free().
 */
yajl_val	 request_json(struct request *, struct response *rs);
/*
 * 0 when every string and member name in v is valid UTF-8 (no
 * surrogates, no overlong forms) and no object has a member twice; else
 * -1 with why in err.  request_json() answers 400 for it.
 */
int		 request_json_check(yajl_val v, char *err, size_t errlen);
/* Discards what is left of FCGI_STDIN, so a kept connection stays sane. */
void		 request_drain(struct request *);

/*
 * Whether an If-Match / If-None-Match header value matches the entity tag
 * etag (with its quotes: "\"3\"").  weak: W/ prefixes are ignored (the
 * If-None-Match comparison).  "*" matches anything.
 */
int		 request_etag_match(const char *header, const char *etag,
		    int weak);

#endif
