/* Request params, query decoding and the body. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define REQUEST_DRAIN_MAX	(16 * 1024 * 1024)

const char *
request_param(struct request *r, const char *name)
{
	if (r->rq_fcgx == NULL)
		return NULL;
	return FCGX_GetParam(name, r->rq_fcgx->envp);
}

const char *
request_header(struct request *r, const char *name)
{
	char	 param[128];
	size_t	 i;

	if (strcasecmp(name, "Content-Type") == 0)
		return request_param(r, "CONTENT_TYPE");
	if (strcasecmp(name, "Content-Length") == 0)
		return request_param(r, "CONTENT_LENGTH");
	if (strlen(name) + 6 > sizeof param)
		return NULL;
	memcpy(param, "HTTP_", 5);
	for (i = 0; name[i] != '\0'; i++)
		param[5 + i] = name[i] == '-' ? '_' :
		    toupper((unsigned char)name[i]);
	param[5 + i] = '\0';
	return request_param(r, param);
}

const char *
request_capture(struct request *r, const char *name)
{
	return router_capture(&r->rq_match, name);
}

int
request_limit(struct request *r, struct response *rs, long long *limit)
{
	const char	*s;
	char		*end;

	*limit = REQUEST_LIMIT_DEFAULT;
	if ((s = query_get(&r->rq_query, "limit")) == NULL)
		return 0;
	errno = 0;
	*limit = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    *limit < 1 || *limit > REQUEST_LIMIT_MAX) {
		problem_send(r, rs, 400, "limit must be an integer from 1 "
		    "to %d", REQUEST_LIMIT_MAX);
		return -1;
	}
	return 0;
}

long long
request_capture_id(struct request *r, const char *name)
{
	const char	*s = request_capture(r, name);
	char		*end;
	long long	 id;

	/* digits only, no sign or leading zero, and it fits */
	if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 18)
		return 0;
	errno = 0;
	id = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0)
		return 0;
	return id;
}

void
request_init(struct request *r, FCGX_Request *fcgx, size_t maxbody)
{
	const char	*p, *uri, *qs;
	size_t		 n;

	memset(r, 0, sizeof *r);
	r->rq_fcgx = fcgx;
	r->rq_maxbody = maxbody;
	if ((r->rq_method = request_param(r, "REQUEST_METHOD")) == NULL)
		r->rq_method = "GET";
	if ((r->rq_script = request_param(r, "SCRIPT_NAME")) == NULL)
		r->rq_script = "";
	if ((r->rq_id = request_param(r, "REQUEST_ID")) == NULL ||
	    *r->rq_id == '\0')
		r->rq_id = "-";

	if ((p = request_param(r, "PATH_INFO")) != NULL && *p != '\0')
		r->rq_path = xstrdup(p);
	else if ((uri = request_param(r, "REQUEST_URI")) != NULL) {
		n = strcspn(uri, "?#");
		if (*r->rq_script != '\0' &&
		    strncmp(uri, r->rq_script, strlen(r->rq_script)) == 0 &&
		    (uri[strlen(r->rq_script)] == '/' ||
		    strlen(r->rq_script) == n)) {
			uri += strlen(r->rq_script);
			n -= strlen(r->rq_script);
		}
		r->rq_path = xstrndup(uri, n);
	}
	if (r->rq_path == NULL || r->rq_path[0] == '\0') {
		free(r->rq_path);
		r->rq_path = xstrdup("/");
	}

	if ((qs = request_param(r, "QUERY_STRING")) == NULL)
		qs = "";
	r->rq_query_ok = query_parse(&r->rq_query, qs, &r->rq_query_err) == 0;
}

void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	free(r->rq_path);
	free(r->rq_body);
	query_free(&r->rq_query);
	router_match_free(&r->rq_match);
	memset(r, 0, sizeof *r);
}

static int
request_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes len bytes of s; NULL and *errstr on a bad escape or NUL. */
static char *
request_urldecode(const char *s, size_t len, const char **errstr)
{
	char	*out, *q;
	size_t	 i;
	int	 hi, lo;

	q = out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			*q++ = ' ';
		else if (s[i] != '%')
			*q++ = s[i];
		else {
			if (i + 2 >= len ||
			    (hi = request_hex((unsigned char)s[i + 1])) < 0 ||
			    (lo = request_hex((unsigned char)s[i + 2])) < 0) {
				*errstr = "bad percent-escape in query string";
				free(out);
				return NULL;
			}
			if ((*q++ = (char)(hi << 4 | lo)) == '\0') {
				*errstr = "%00 is not allowed in query string";
				free(out);
				return NULL;
			}
			i += 2;
		}
	}
	*q = '\0';
	if (!json_utf8_valid(out, q - out)) {
		*errstr = "query string is not valid UTF-8";
		free(out);
		return NULL;
	}
	return out;
}

int
query_parse(struct query *q, const char *qs, const char **errstr)
{
	const char		*p, *end, *eq;
	struct query_param	*qp;
	char			*name, *value;

	memset(q, 0, sizeof *q);
	for (p = qs; *p != '\0'; p = *end == '&' ? end + 1 : end) {
		end = p + strcspn(p, "&");
		if (end == p)
			continue;
		if ((eq = memchr(p, '=', end - p)) == NULL)
			eq = end;
		if ((name = request_urldecode(p, eq - p, errstr)) == NULL)
			goto fail;
		value = request_urldecode(eq == end ? end : eq + 1,
		    eq == end ? 0 : (size_t)(end - eq - 1), errstr);
		if (value == NULL) {
			free(name);
			goto fail;
		}
		q->q_params = xreallocarray(q->q_params, q->q_n + 1,
		    sizeof *q->q_params);
		qp = &q->q_params[q->q_n++];
		qp->qp_name = name;
		qp->qp_value = value;
	}
	return 0;
fail:
	query_free(q);
	return -1;
}

const char *
query_get(const struct query *q, const char *name)
{
	size_t	 i;

	for (i = 0; i < q->q_n; i++)
		if (strcmp(q->q_params[i].qp_name, name) == 0)
			return q->q_params[i].qp_value;
	return NULL;
}

void
query_free(struct query *q)
{
	size_t	 i;

	if (q == NULL)
		return;
	for (i = 0; i < q->q_n; i++) {
		free(q->q_params[i].qp_name);
		free(q->q_params[i].qp_value);
	}
	free(q->q_params);
	memset(q, 0, sizeof *q);
}

int
request_body(struct request *r, const char **errstr)
{
	const char		*cl;
	char			*end;
	unsigned long long	 want = 0;
	size_t			 cap, len = 0;
	int			 n, known = 0;

	if (r->rq_body_read)
		return 0;
	if ((cl = request_param(r, "CONTENT_LENGTH")) != NULL && *cl != '\0') {
		errno = 0;
		want = strtoull(cl, &end, 10);
		if (*end != '\0' || errno != 0 || *cl == '-') {
			*errstr = "bad Content-Length";
			return 400;
		}
		if (want > r->rq_maxbody) {
			*errstr = "request body too large";
			return 413;
		}
		known = 1;
	}
	cap = known ? want : r->rq_maxbody + 1;
	r->rq_body = xmalloc(cap + 1);
	while (len < cap && r->rq_fcgx != NULL && r->rq_fcgx->in != NULL) {
		n = FCGX_GetStr(r->rq_body + len, (int)(cap - len),
		    r->rq_fcgx->in);
		if (n <= 0)
			break;
		len += n;
	}
	r->rq_body[len] = '\0';
	r->rq_bodylen = len;
	r->rq_body_read = 1;
	if (len > r->rq_maxbody) {
		*errstr = "request body too large";
		return 413;
	}
	if (known && len < want) {
		*errstr = "request body shorter than Content-Length";
		return 400;
	}
	return 0;
}

/* application/json, or any type/subtype+json, parameters ignored. */
static int
request_is_json(const char *ctype)
{
	size_t	 n;

	if (ctype == NULL)
		return 0;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	n = strcspn(ctype, "; \t");
	if (n == 16 && strncasecmp(ctype, "application/json", n) == 0)
		return 1;
	return n > 17 && strncasecmp(ctype, "application/", 12) == 0 &&
	    strncasecmp(ctype + n - 5, "+json", 5) == 0;
}

static int
request_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * yajl lets through what a parser-differential attack needs: duplicate
 * members (json_get() sees the first, another parser the last) and
 * UTF-8 that decodes to surrogates or overlong forms.  Sorting the keys
 * keeps the duplicate check O(n log n) for a body of many members.
 */
int
request_json_check(yajl_val v, char *err, size_t errlen)
{
	const char	**keys;
	size_t		  i, n;
	int		  rc = 0;

	if (YAJL_IS_STRING(v)) {
		if (!json_utf8_valid(v->u.string, strlen(v->u.string))) {
			snprintf(err, errlen, "a string is not valid UTF-8");
			return -1;
		}
	} else if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++)
			if (request_json_check(v->u.array.values[i], err,
			    errlen) == -1)
				return -1;
	} else if (YAJL_IS_OBJECT(v)) {
		n = v->u.object.len;
		for (i = 0; i < n; i++) {
			if (!json_utf8_valid(v->u.object.keys[i],
			    strlen(v->u.object.keys[i]))) {
				snprintf(err, errlen, "a member name is not "
				    "valid UTF-8");
				return -1;
			}
			if (request_json_check(v->u.object.values[i], err,
			    errlen) == -1)
				return -1;
		}
		if (n < 2)
			return 0;
		keys = xcalloc(n, sizeof *keys);
		memcpy(keys, v->u.object.keys, n * sizeof *keys);
		qsort(keys, n, sizeof *keys, request_key_cmp);
		for (i = 1; i < n; i++)
			if (strcmp(keys[i - 1], keys[i]) == 0) {
				/* At most 64 bytes, cut between characters. */
				size_t	 len = strlen(keys[i]);

				if (len > 64)
					for (len = 64; len > 0 &&
					    (keys[i][len] & 0xc0) == 0x80; len--)
						;
				snprintf(err, errlen, "member \"%.*s\" "
				    "appears twice", (int)len, keys[i]);
				rc = -1;
				break;
			}
		free(keys);
	}
	return rc;
}

yajl_val
request_json(struct request *r, struct response *rs)
{
	const char	*errstr = NULL;
	char		 err[256];
	yajl_val	 v;
	int		 status;

	if (!request_is_json(request_param(r, "CONTENT_TYPE"))) {
		problem_send(r, rs, 415, "Content-Type must be "
		    "application/json");
		return NULL;
	}
	if ((status = request_body(r, &errstr)) != 0) {
		if (status == 413)
			problem_send(r, rs, 413, "request body is larger than "
			    "%zu bytes", r->rq_maxbody);
		else
			problem_send(r, rs, status, "%s", errstr);
		return NULL;
	}
	if ((v = json_parse(r->rq_body, r->rq_bodylen, r->rq_maxbody, 0,
	    err, sizeof err)) == NULL) {
		problem_send(r, rs, 400, "malformed JSON: %s", err);
		return NULL;
	}
	if (request_json_check(v, err, sizeof err) == -1) {
		problem_send(r, rs, 400, "malformed JSON: %s", err);
		json_free(v);
		return NULL;
	}
	if (!YAJL_IS_OBJECT(v)) {
		problem_send(r, rs, 400, "the body must be a JSON object, "
		    "not %s", json_type_name(v));
		json_free(v);
		return NULL;
	}
	return v;
}

void
request_drain(struct request *r)
{
	char	 buf[8192];
	size_t	 total = 0;
	int	 n;

	if (r->rq_fcgx == NULL || r->rq_fcgx->in == NULL)
		return;
	while ((n = FCGX_GetStr(buf, sizeof buf, r->rq_fcgx->in)) > 0)
		if ((total += n) > REQUEST_DRAIN_MAX) {
			/* Not worth reading: drop the connection instead. */
			r->rq_fcgx->keepConnection = 0;
			break;
		}
}

/* Next entity tag of a comma-separated list, or NULL at the end. */
static const char *
request_etag_next(const char *p, size_t *len, int *isweak)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (*p == '\0')
		return NULL;
	*isweak = 0;
	if (p[0] == 'W' && p[1] == '/') {
		*isweak = 1;
		p += 2;
	}
	if (*p == '"') {
		const char *q = strchr(p + 1, '"');
		*len = q != NULL ? (size_t)(q - p + 1) : strlen(p);
	} else
		*len = strcspn(p, ", \t");
	return p;
}

int
request_etag_match(const char *header, const char *etag, int weak)
{
	const char	*p;
	size_t		 len, elen;
	int		 isweak;

	if (header == NULL)
		return 0;
	elen = strlen(etag);
	for (p = header; (p = request_etag_next(p, &len, &isweak)) != NULL;
	    p += len) {
		if (len == 1 && *p == '*')
			return 1;
		if (isweak && !weak)
			continue;
		if (len == elen && memcmp(p, etag, len) == 0)
			return 1;
	}
	return 0;
}
