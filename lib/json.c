/* JSON helpers on yajl: strict limited parsing, getters, problem+json. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "json.h"
#include "xmalloc.h"

struct json_check {
	int		 depth;
	int		 maxdepth;
	const char	*why;		/* set when a callback cancels */
};

static int
json_check_open(void *arg)
{
	struct json_check	*c = arg;

	if (++c->depth > c->maxdepth) {
		c->why = "nesting too deep";
		return 0;
	}
	return 1;
}

static int
json_check_close(void *arg)
{
	struct json_check	*c = arg;

	c->depth--;
	return 1;
}

static int
json_check_string(void *arg, const unsigned char *s, size_t len)
{
	struct json_check	*c = arg;

	/* yajl_tree keeps C strings: an escaped NUL would truncate. */
	if (memchr(s, '\0', len) != NULL) {
		c->why = "\\u0000 is not allowed in strings";
		return 0;
	}
	return 1;
}

static const yajl_callbacks json_check_callbacks = {
	.yajl_string = json_check_string,
	.yajl_start_map = json_check_open,
	.yajl_map_key = json_check_string,
	.yajl_end_map = json_check_close,
	.yajl_start_array = json_check_open,
	.yajl_end_array = json_check_close,
};

/* yajl's terse message without its trailing period and newline. */
static void
json_yajl_error(yajl_handle h, const char *buf, size_t len, size_t off,
    char *err, size_t errlen)
{
	unsigned char	*msg;
	size_t		 n;

	msg = yajl_get_error(h, 0, (const unsigned char *)buf, len);
	n = strcspn((char *)msg, "\n");
	while (n > 0 && msg[n - 1] == '.')
		n--;
	snprintf(err, errlen, "at byte %zu: %.*s", off, (int)n, (char *)msg);
	yajl_free_error(h, msg);
}

yajl_val
json_parse(const char *buf, size_t len, size_t maxlen, int maxdepth,
    char *err, size_t errlen)
{
	struct json_check	 c;
	yajl_handle		 h;
	yajl_status		 st;
	yajl_val		 v;
	char			*copy, dummy[2];
	size_t			 off;

	if (errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	if (maxlen > 0 && len > maxlen) {
		snprintf(err, errlen, "document is %zu bytes, limit is %zu",
		    len, maxlen);
		return NULL;
	}
	for (off = 0; off < len && strchr(" \t\r\n", buf[off]) != NULL &&
	    buf[off] != '\0'; off++)
		;
	if (off == len) {
		snprintf(err, errlen, "empty document");
		return NULL;
	}
	memset(&c, 0, sizeof c);
	c.maxdepth = maxdepth > 0 ? maxdepth : JSON_MAX_DEPTH;
	if ((h = yajl_alloc(&json_check_callbacks, NULL, &c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st = yajl_parse(h, (const unsigned char *)buf, len);
	/* Consumed includes the offending byte: report its 0-based offset. */
	off = yajl_get_bytes_consumed(h);
	if (off > 0)
		off--;
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		off = len;
	}
	if (st == yajl_status_client_canceled)
		snprintf(err, errlen, "at byte %zu: %s", off,
		    c.why != NULL ? c.why : "rejected");
	else if (st != yajl_status_ok)
		json_yajl_error(h, buf, len, off, err, errlen);
	yajl_free(h);
	if (st != yajl_status_ok)
		return NULL;

	/* Valid and within limits: now build the tree. */
	copy = xstrndup(buf, len);
	v = yajl_tree_parse(copy, err, errlen);
	free(copy);
	return v;
}

void
json_free(yajl_val v)
{
	if (v != NULL)
		yajl_tree_free(v);
}

yajl_val
json_get(yajl_val obj, const char *key)
{
	size_t	 i;

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

const char *
json_get_string(yajl_val obj, const char *key)
{
	yajl_val	 v;

	if ((v = json_get(obj, key)) == NULL || !YAJL_IS_STRING(v))
		return NULL;
	return v->u.string;
}

int
json_get_int(yajl_val obj, const char *key, long long *out)
{
	yajl_val	 v;

	if ((v = json_get(obj, key)) == NULL || !YAJL_IS_INTEGER(v))
		return -1;
	*out = YAJL_GET_INTEGER(v);
	return 0;
}

const char *
json_type_name(yajl_val v)
{
	if (v == NULL)
		return "missing";
	switch (v->type) {
	case yajl_t_string:
		return "string";
	case yajl_t_number:
		return YAJL_IS_INTEGER(v) ? "integer" : "number";
	case yajl_t_object:
		return "object";
	case yajl_t_array:
		return "array";
	case yajl_t_true:
	case yajl_t_false:
		return "boolean";
	case yajl_t_null:
		return "null";
	default:
		return "unknown";
	}
}

yajl_gen
json_gen_new(void)
{
	yajl_gen	 g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	return g;
}

yajl_gen_status
json_gen_cstr(yajl_gen g, const char *s)
{
	if (s == NULL)
		return yajl_gen_null(g);
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

yajl_gen_status
json_gen_kv_str(yajl_gen g, const char *key, const char *s)
{
	yajl_gen_status	 st;

	if ((st = json_gen_cstr(g, key)) != yajl_gen_status_ok)
		return st;
	return json_gen_cstr(g, s);
}

yajl_gen_status
json_gen_kv_int(yajl_gen g, const char *key, long long i)
{
	yajl_gen_status	 st;

	if ((st = json_gen_cstr(g, key)) != yajl_gen_status_ok)
		return st;
	return yajl_gen_integer(g, i);
}

char *
json_gen_dup(yajl_gen g, size_t *lenp)
{
	const unsigned char	*buf;
	size_t			 len;
	char			*s;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
		buf = (const unsigned char *)"";
		len = 0;
	}
	s = xmalloc(len + 1);
	memcpy(s, buf, len);
	s[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return s;
}

static const struct {
	int		 status;
	const char	*title;
} json_titles[] = {
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 204, "No Content" }, { 304, "Not Modified" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
	{ 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
	{ 411, "Length Required" }, { 412, "Precondition Failed" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" }, { 422, "Unprocessable Content" },
	{ 428, "Precondition Required" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

const char *
json_status_title(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof json_titles / sizeof json_titles[0]; i++)
		if (json_titles[i].status == status)
			return json_titles[i].title;
	return "Unknown";
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
json_utf8_seq(const unsigned char *p, size_t left)
{
	unsigned int	 cp;
	size_t		 n, i;

	if (*p < 0x80)
		return 1;
	if ((*p & 0xe0) == 0xc0) {
		n = 1;
		cp = *p & 0x1f;
	} else if ((*p & 0xf0) == 0xe0) {
		n = 2;
		cp = *p & 0x0f;
	} else if ((*p & 0xf8) == 0xf0) {
		n = 3;
		cp = *p & 0x07;
	} else
		return 0;
	if (n >= left)
		return 0;
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
	    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

int
json_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n;

	while (len > 0) {
		if ((n = json_utf8_seq(p, len)) == 0)
			return 0;
		p += n;
		len -= n;
	}
	return 1;
}

/* Copy of s with every byte that is not part of valid UTF-8 made '?'. */
static char *
json_utf8_clean(const char *s)
{
	const unsigned char	*p;
	unsigned char		*out, *q;
	size_t			 left, n;

	out = (unsigned char *)xstrdup(s);
	left = strlen(s);
	for (p = (const unsigned char *)s, q = out; left > 0; ) {
		if ((n = json_utf8_seq(p, left)) == 0) {
			*q++ = '?';
			n = 1;
		} else {
			memcpy(q, p, n);
			q += n;
		}
		p += n;
		left -= n;
	}
	*q = '\0';
	return (char *)out;
}

static void
json_gen_clean(yajl_gen g, const char *key, const char *s)
{
	char	*c;

	if (key != NULL)
		json_gen_cstr(g, key);
	c = json_utf8_clean(s);
	json_gen_cstr(g, c);
	free(c);
}

char *
json_problem_ext(const struct json_problem *p, size_t *lenp)
{
	yajl_gen	 g;
	char		*s;
	size_t		 i;

	if ((g = json_gen_new()) == NULL)
		return xstrdup("{}");
	yajl_gen_map_open(g);
	json_gen_clean(g, "type", p->type != NULL ? p->type : "about:blank");
	json_gen_clean(g, "title",
	    p->title != NULL ? p->title : json_status_title(p->status));
	json_gen_kv_int(g, "status", p->status);
	if (p->detail != NULL)
		json_gen_clean(g, "detail", p->detail);
	if (p->instance != NULL)
		json_gen_clean(g, "instance", p->instance);
	if (p->errors != NULL) {
		json_gen_cstr(g, "errors");
		yajl_gen_array_open(g);
		for (i = 0; i < p->nerrors; i++) {
			yajl_gen_map_open(g);
			json_gen_clean(g, "field", p->errors[i].field);
			json_gen_clean(g, "message", p->errors[i].message);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	s = json_gen_dup(g, lenp);
	yajl_gen_free(g);
	return s;
}

char *
json_problem(int status, const char *detail, size_t *lenp)
{
	struct json_problem	 p;

	memset(&p, 0, sizeof p);
	p.status = status;
	p.detail = detail;
	return json_problem_ext(&p, lenp);
}
