/* problem+json error answers, logged once each. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "db.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "validate.h"
#include "xmalloc.h"

#define PROBLEM_CTYPE	"application/problem+json"

static void
problem_log(struct request *r, int status, const char *detail)
{
	void	(*logfn)(const char *, ...) = status >= 500 ? log_warnx :
	    log_info;

	logfn("%s %s: %d %s: %s rid=%s", r->rq_method, r->rq_path, status,
	    json_status_title(status), detail, r->rq_id);
}

static void
problem_set(struct response *rs, const struct json_problem *p)
{
	char	*body;
	size_t	 len;

	body = json_problem_ext(p, &len);
	response_reset(rs);
	response_status(rs, p->status);
	response_body(rs, PROBLEM_CTYPE, body, len);
	rs->rs_problem = 1;
	free(body);
}

void
problem_send(struct request *r, struct response *rs, int status,
    const char *fmt, ...)
{
	struct json_problem	 p;
	va_list			 ap;
	char			*detail;

	va_start(ap, fmt);
	if (vasprintf(&detail, fmt, ap) == -1)
		fatal("%s: vasprintf", __func__);
	va_end(ap);
	memset(&p, 0, sizeof p);
	p.status = status;
	p.detail = detail;
	problem_set(rs, &p);
	problem_log(r, status, detail);
	free(detail);
}

void
problem_internal(struct request *r, struct response *rs, int status,
    const char *cause)
{
	struct json_problem	 p;

	memset(&p, 0, sizeof p);
	p.status = status;
	p.detail = status == 503 ?
	    "the service is temporarily unavailable, retry later" :
	    "the request could not be completed";
	problem_set(rs, &p);
	if (status == 503)
		response_header(rs, "Retry-After", "1");
	problem_log(r, status, cause);
}

void
problem_validation(struct request *r, struct response *rs,
    const struct validate *v)
{
	struct json_problem	 p;
	char			*detail, *fields = NULL, *tmp;
	size_t			 i;

	memset(&p, 0, sizeof p);
	p.status = 422;
	xasprintf(&detail, "%zu invalid field%s", v->v_n,
	    v->v_n == 1 ? "" : "s");
	p.detail = detail;
	p.errors = v->v_errs;
	p.nerrors = v->v_n;
	problem_set(rs, &p);
	for (i = 0; i < v->v_n; i++) {
		xasprintf(&tmp, "%s%s%s", fields != NULL ? fields : "",
		    fields != NULL ? ", " : "", v->v_errs[i].field);
		free(fields);
		fields = tmp;
	}
	xasprintf(&tmp, "%s (%s)", detail, fields != NULL ? fields : "");
	problem_log(r, 422, tmp);
	free(tmp);
	free(fields);
	free(detail);
}

void
problem_db(struct request *r, struct response *rs, const char *what)
{
	char	*cause;

	xasprintf(&cause, "%s: database error %u: %s", what, db_errno(),
	    db_error());
	problem_internal(r, rs, db_temporary() ? 503 : 500, cause);
	free(cause);
}
