/* Building and sending CGI-style responses over FastCGI. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "response.h"
#include "xmalloc.h"

void
response_init(struct response *rs)
{
	memset(rs, 0, sizeof *rs);
	rs->rs_status = 200;
}

void
response_reset(struct response *rs)
{
	free(rs->rs_headers);
	free(rs->rs_ctype);
	free(rs->rs_body);
	if (rs->rs_gen != NULL)
		yajl_gen_free(rs->rs_gen);
	response_init(rs);
}

void
response_free(struct response *rs)
{
	if (rs == NULL)
		return;
	response_reset(rs);
}

void
response_status(struct response *rs, int status)
{
	rs->rs_status = status;
}

int
response_header(struct response *rs, const char *name, const char *fmt, ...)
{
	va_list	 ap;
	char	*value, *line;
	int	 len;

	va_start(ap, fmt);
	if (vasprintf(&value, fmt, ap) == -1)
		fatal("%s: vasprintf", __func__);
	va_end(ap);
	if (strpbrk(value, "\r\n") != NULL) {
		log_warnx("%s: %s: refusing a value with CR or LF", __func__,
		    name);
		free(value);
		return -1;
	}
	len = xasprintf(&line, "%s: %s\r\n", name, value);
	rs->rs_headers = xreallocarray(rs->rs_headers, rs->rs_hlen + len + 1,
	    1);
	memcpy(rs->rs_headers + rs->rs_hlen, line, len + 1);
	rs->rs_hlen += len;
	free(line);
	free(value);
	return 0;
}

static void
response_ctype(struct response *rs, const char *ctype)
{
	free(rs->rs_ctype);
	rs->rs_ctype = xstrdup(ctype);
}

yajl_gen
response_json(struct response *rs)
{
	if (rs->rs_gen == NULL) {
		if ((rs->rs_gen = json_gen_new()) == NULL)
			fatalx("%s: out of memory", __func__);
		response_ctype(rs, "application/json; charset=utf-8");
	}
	return rs->rs_gen;
}

void
response_body(struct response *rs, const char *ctype, const char *body,
    size_t len)
{
	free(rs->rs_body);
	rs->rs_body = xmalloc(len + 1);
	memcpy(rs->rs_body, body, len);
	rs->rs_body[len] = '\0';
	rs->rs_bodylen = len;
	response_ctype(rs, ctype);
}

int
response_send(struct response *rs, FCGX_Stream *out, int head)
{
	const unsigned char	*buf = NULL;
	size_t			 len = 0;
	int			 rc = 0;

	if (rs->rs_gen != NULL) {
		if (yajl_gen_get_buf(rs->rs_gen, &buf, &len) !=
		    yajl_gen_status_ok) {
			/* An unbalanced or invalid document: a bug of ours. */
			log_warnx("%s: JSON body generation failed", __func__);
			response_reset(rs);
			rs->rs_status = 500;
			rs->rs_body = json_problem(500,
			    "the response could not be generated",
			    &rs->rs_bodylen);
			rs->rs_ctype = xstrdup("application/problem+json");
			rc = -1;
		}
	}
	if (rs->rs_gen == NULL && rs->rs_body != NULL) {
		buf = (const unsigned char *)rs->rs_body;
		len = rs->rs_bodylen;
	}
	if (rs->rs_status == 204 || rs->rs_status == 304)
		len = 0;

	if (FCGX_FPrintF(out, "Status: %d %s\r\n", rs->rs_status,
	    json_status_title(rs->rs_status)) < 0)
		return -1;
	if (rs->rs_ctype != NULL && len > 0)
		FCGX_FPrintF(out, "Content-Type: %s\r\n", rs->rs_ctype);
	if (rs->rs_status != 204 && rs->rs_status != 304)
		FCGX_FPrintF(out, "Content-Length: %lu\r\n",
		    (unsigned long)len);
	if (rs->rs_hlen > 0)
		FCGX_PutStr(rs->rs_headers, (int)rs->rs_hlen, out);
	if (FCGX_PutS("\r\n", out) < 0)
		return -1;
	if (!head && len > 0 && FCGX_PutStr((const char *)buf, (int)len,
	    out) < 0)
		return -1;
	return rc;
}
