/*
 * proxy/upstream.c without a network: CGI header blocks, params and
 * STDIN encoding (decoded back with lib/fcgi.h), and the record stream
 * parser fed in pieces.
 */

#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "runner.h"
#include "fcgi.h"
#include "upstream.h"

static int
nheaders(struct evkeyvalq *h)
{
	struct evkeyval	*kv;
	int		 n = 0;

	TAILQ_FOREACH(kv, h, next)
		n++;
	return n;
}

static ssize_t
cgi(const char *s, int *status, char *reason, struct evkeyvalq *h,
    const char **errstr)
{
	return upstream_cgi_parse(s, strlen(s), status, reason, 64, h,
	    errstr);
}

static void
t_cgi_status(void)
{
	const char	*s = "Status: 404 Not Found\r\n"
	    "Content-Type: text/plain\r\n\r\nbody";
	struct evkeyvalq h;
	const char	*errstr = NULL;
	char		 reason[64];
	int		 status = 0;

	TAILQ_INIT(&h);
	CU_ASSERT_EQUAL(cgi(s, &status, reason, &h, &errstr),
	    (ssize_t)(strlen(s) - 4));
	CU_ASSERT_EQUAL(status, 404);
	CU_ASSERT_STRING_EQUAL(reason, "Not Found");
	CU_ASSERT_STRING_EQUAL(evhttp_find_header(&h, "content-type"),
	    "text/plain");
	CU_ASSERT_PTR_NULL(evhttp_find_header(&h, "Status"));
	CU_ASSERT_EQUAL(nheaders(&h), 1);
	evhttp_clear_headers(&h);
}

static void
t_cgi_defaults(void)
{
	struct evkeyvalq h;
	const char	*errstr = NULL;
	char		 reason[64];
	int		 status = 0;

	TAILQ_INIT(&h);
	/* bare LF line ends, no Status: 200 */
	CU_ASSERT_EQUAL(cgi("Content-Type: application/json\n\n{}", &status,
	    reason, &h, &errstr), 32);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_STRING_EQUAL(reason, "");
	evhttp_clear_headers(&h);
	/* Location without Status is a redirect */
	CU_ASSERT(cgi("Location: /api/products/7\r\n\r\n", &status, reason,
	    &h, &errstr) > 0);
	CU_ASSERT_EQUAL(status, 302);
	CU_ASSERT_STRING_EQUAL(evhttp_find_header(&h, "Location"),
	    "/api/products/7");
	evhttp_clear_headers(&h);
	/* an explicit Status wins over Location; 201 with a Location */
	CU_ASSERT(cgi("Location: /x\r\nStatus: 201\r\n\r\n", &status,
	    reason, &h, &errstr) > 0);
	CU_ASSERT_EQUAL(status, 201);
	evhttp_clear_headers(&h);
	/* no Content-Type at all is fine (204) */
	CU_ASSERT(cgi("Status: 204 No Content\r\n\r\n", &status, reason, &h,
	    &errstr) > 0);
	CU_ASSERT_EQUAL(status, 204);
	CU_ASSERT_EQUAL(nheaders(&h), 0);
	evhttp_clear_headers(&h);
}

static void
t_cgi_incomplete(void)
{
	struct evkeyvalq h;
	const char	*errstr = NULL;
	char		 reason[64];
	int		 status = 0;

	TAILQ_INIT(&h);
	CU_ASSERT_EQUAL(cgi("Content-Type: text/plain\r\n", &status, reason,
	    &h, &errstr), 0);
	CU_ASSERT_EQUAL(cgi("Content-Type: text/pl", &status, reason, &h,
	    &errstr), 0);
	CU_ASSERT_EQUAL(cgi("", &status, reason, &h, &errstr), 0);
	/* nothing is added from a partial block */
	CU_ASSERT_EQUAL(nheaders(&h), 0);
}

static void
t_cgi_garbage(void)
{
	static const char *bad[] = {
		"no colon here\r\n\r\n",
		"Status: abc\r\n\r\n",
		"Status: 99\r\n\r\n",
		"Status: 1000\r\n\r\n",
		"Status: 700 Odd\r\n\r\n",
		"Status: 101 Switching\r\n\r\n",
		"\r\n",
		"Bad Name: x\r\n\r\n",
		": empty name\r\n\r\n",
		"X-Ok: 1\r\nX-Bad: a\rb\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
	};
	struct evkeyvalq h;
	const char	*errstr;
	char		 reason[64];
	size_t		 i;
	int		 status;

	TAILQ_INIT(&h);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errstr = NULL;
		CU_ASSERT_EQUAL(cgi(bad[i], &status, reason, &h, &errstr), -1);
		CU_ASSERT_PTR_NOT_NULL(errstr);
		/* a failed block leaves nothing behind */
		CU_ASSERT_EQUAL(nheaders(&h), 0);
	}
}

static void
t_cgi_hop_by_hop(void)
{
	struct evkeyvalq h;
	const char	*errstr = NULL;
	char		 reason[64];
	int		 status = 0;

	TAILQ_INIT(&h);
	CU_ASSERT(cgi("Connection: close\r\nTransfer-Encoding: chunked\r\n"
	    "X-Request-Id: forged\r\nKeep-Alive: 5\r\nX-A:  b c  \r\n"
	    "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", &status, reason,
	    &h, &errstr) > 0);
	CU_ASSERT_EQUAL(nheaders(&h), 3);
	CU_ASSERT_STRING_EQUAL(evhttp_find_header(&h, "X-A"), "b c");
	CU_ASSERT_PTR_NULL(evhttp_find_header(&h, "Connection"));
	CU_ASSERT_PTR_NULL(evhttp_find_header(&h, "X-Request-Id"));
	evhttp_clear_headers(&h);
}

/* Concatenated content of every record of type in b; checks the end. */
static uint8_t *
records_content(struct evbuffer *b, int type, size_t *len, int *nrec)
{
	struct fcgi_record	 rec;
	const uint8_t		*p;
	const char		*errstr;
	uint8_t			*out = NULL;
	size_t			 blen, off = 0;
	ssize_t			 n;

	*len = 0;
	*nrec = 0;
	blen = evbuffer_get_length(b);
	p = evbuffer_pullup(b, -1);
	while (off < blen) {
		n = fcgi_record_decode(p + off, blen - off, &rec, &errstr);
		CU_ASSERT_FATAL(n > 0);
		off += n;
		if (rec.hdr.type != type)
			continue;
		CU_ASSERT_EQUAL(rec.hdr.request_id, 1);
		(*nrec)++;
		if (rec.hdr.content_length == 0) {
			/* the empty record ends the stream */
			CU_ASSERT_EQUAL(off, blen);
			break;
		}
		out = realloc(out, *len + rec.hdr.content_length);
		memcpy(out + *len, rec.content, rec.hdr.content_length);
		*len += rec.hdr.content_length;
	}
	return out;
}

static void
t_params_roundtrip(void)
{
	struct upstream_params	 p = { 0 };
	struct evbuffer		*b;
	const uint8_t		*name, *value;
	const char		*errstr;
	char			*big;
	uint8_t			*c;
	size_t			 len, nl, vl, off = 0;
	ssize_t			 n;
	int			 nrec, i = 0;
	static const char	*want[][2] = {
		{ "REQUEST_METHOD", "GET" },
		{ "QUERY_STRING", "" },
		{ "HTTP_X_FORWARDED_FOR", "10.0.0.1" },
		{ "BIG", NULL },
	};

	big = malloc(70000);
	memset(big, 'v', 70000);
	upstream_params_adds(&p, "REQUEST_METHOD", "GET");
	upstream_params_adds(&p, "QUERY_STRING", "");
	CU_ASSERT_EQUAL(upstream_params_header(&p, "X-Forwarded-For",
	    "10.0.0.1"), 0);
	/* a 4-byte length, and a stream longer than one record */
	upstream_params_add(&p, "BIG", 3, big, 70000);
	b = evbuffer_new();
	upstream_params_records(&p, b, 1);
	c = records_content(b, FCGI_T_PARAMS, &len, &nrec);
	CU_ASSERT_EQUAL(nrec, 3);	/* 65535 + rest + empty */
	CU_ASSERT_EQUAL(len, p.upp_len);
	while (off < len) {
		n = fcgi_nv_decode(c + off, len - off, &name, &nl, &value,
		    &vl, &errstr);
		CU_ASSERT_FATAL(n > 0 && i < 4);
		CU_ASSERT_EQUAL(nl, strlen(want[i][0]));
		CU_ASSERT(memcmp(name, want[i][0], nl) == 0);
		if (want[i][1] != NULL) {
			CU_ASSERT_EQUAL(vl, strlen(want[i][1]));
			CU_ASSERT(memcmp(value, want[i][1], vl) == 0);
		} else {
			CU_ASSERT_EQUAL(vl, 70000);
			CU_ASSERT(memcmp(value, big, vl) == 0);
		}
		off += n;
		i++;
	}
	CU_ASSERT_EQUAL(i, 4);
	free(c);
	free(big);
	evbuffer_free(b);
	upstream_params_free(&p);
	upstream_params_free(NULL);
}

static void
t_params_headers(void)
{
	static const char	*refused[] = {
		"Content-Type", "content-length", "Proxy", "X_Under",
		"Remote-User", "Auth-Roles", "AUTH-TYPE", "Bad Space", ""
	};
	struct upstream_params	 p = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CU_ASSERT_EQUAL(upstream_params_header(&p, refused[i], "x"),
		    -1);
	CU_ASSERT_EQUAL(p.upp_len, 0);
	CU_ASSERT_EQUAL(upstream_params_header(&p, "Authorization",
	    "Bearer x"), 0);
	CU_ASSERT_EQUAL(p.upp_len, fcgi_nv_size(18, 8));
	CU_ASSERT(memcmp(p.upp_buf + 2, "HTTP_AUTHORIZATION", 18) == 0);
	upstream_params_free(&p);
}

static void
t_stdin_records(void)
{
	struct evbuffer	*body, *out;
	uint8_t		*c, *src;
	size_t		 len;
	int		 nrec;

	src = malloc(70000);
	for (len = 0; len < 70000; len++)
		src[len] = len * 7;
	body = evbuffer_new();
	out = evbuffer_new();
	evbuffer_add(body, src, 70000);
	upstream_stdin_records(body, out, 1);
	/* copied, not drained: a retry needs it again */
	CU_ASSERT_EQUAL(evbuffer_get_length(body), 70000);
	c = records_content(out, FCGI_T_STDIN, &len, &nrec);
	CU_ASSERT_EQUAL(nrec, 3);
	CU_ASSERT_EQUAL(len, 70000);
	CU_ASSERT(c != NULL && memcmp(c, src, 70000) == 0);
	free(c);
	evbuffer_drain(body, 70000);
	evbuffer_drain(out, evbuffer_get_length(out));
	/* no body: only the empty STDIN */
	upstream_stdin_records(body, out, 1);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), FCGI_HEADER_SIZE);
	free(src);
	evbuffer_free(body);
	evbuffer_free(out);
}

static size_t
add_record(uint8_t *buf, size_t off, int type, uint16_t id, const void *c,
    size_t n)
{
	return off + fcgi_record_encode(buf + off, 4096, type, id, c, n);
}

static size_t
add_end(uint8_t *buf, size_t off, uint16_t id, uint32_t app, uint8_t ps)
{
	uint8_t	 body[8];

	fcgi_end_request_encode(body, app, ps);
	return add_record(buf, off, FCGI_T_END_REQUEST, id, body, 8);
}

static void
t_parse_split(void)
{
	static const char	 head[] = "Content-Type: text/plain\r\n\r\nhel";
	struct upstream_parser	 r;
	struct evbuffer		*in, *out, *err;
	const char		*errstr = NULL;
	uint8_t			 buf[8192];
	size_t			 n = 0, i;
	int			 rv = 0, ends = 0;

	n = add_record(buf, n, FCGI_T_STDOUT, 1, head, sizeof(head) - 1);
	n = add_record(buf, n, FCGI_T_STDERR, 1, "oops\n", 5);
	n = add_record(buf, n, FCGI_T_STDOUT, 1, "lo", 2);
	n = add_record(buf, n, FCGI_T_STDOUT, 1, NULL, 0);
	n = add_end(buf, n, 1, 7, FCGI_S_REQUEST_COMPLETE);
	in = evbuffer_new();
	out = evbuffer_new();
	err = evbuffer_new();
	upstream_parser_init(&r, 1);
	/* one byte at a time: every split point of every record */
	for (i = 0; i < n; i++) {
		evbuffer_add(in, buf + i, 1);
		rv = upstream_parse(&r, in, out, err, &errstr);
		CU_ASSERT(rv == 0 || rv == 1);
		if (rv == 1) {
			ends++;
			CU_ASSERT_EQUAL(i, n - 1);
		}
	}
	CU_ASSERT_EQUAL(ends, 1);
	CU_ASSERT_EQUAL(r.upr_app_status, 7);
	CU_ASSERT_EQUAL(r.upr_protocol_status, FCGI_S_REQUEST_COMPLETE);
	CU_ASSERT_EQUAL(evbuffer_get_length(in), 0);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), sizeof(head) - 1 + 2);
	CU_ASSERT(memcmp(evbuffer_pullup(out, -1),
	    "Content-Type: text/plain\r\n\r\nhello", sizeof(head) + 1) == 0);
	CU_ASSERT_EQUAL(evbuffer_get_length(err), 5);

	/* all at once, with a stray byte after END_REQUEST left in place */
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_drain(err, evbuffer_get_length(err));
	evbuffer_add(in, buf, n);
	evbuffer_add(in, "x", 1);
	upstream_parser_init(&r, 1);
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), 1);
	CU_ASSERT_EQUAL(evbuffer_get_length(in), 1);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), sizeof(head) + 1);
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(err);
}

static void
t_parse_garbage(void)
{
	struct upstream_parser	 r;
	struct evbuffer		*in, *out, *err;
	const char		*errstr;
	uint8_t			 buf[256];
	size_t			 n;

	in = evbuffer_new();
	out = evbuffer_new();
	err = evbuffer_new();

	/* not FastCGI at all */
	upstream_parser_init(&r, 1);
	evbuffer_add(in, "HTTP/1.1 200 OK\r\n", 17);
	errstr = NULL;
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr);
	evbuffer_drain(in, evbuffer_get_length(in));

	/* another request id */
	n = add_record(buf, 0, FCGI_T_STDOUT, 2, "x", 1);
	evbuffer_add(in, buf, n);
	upstream_parser_init(&r, 1);
	errstr = NULL;
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL(errstr);
	evbuffer_drain(in, evbuffer_get_length(in));

	/* a type a responder never sends us */
	n = add_record(buf, 0, FCGI_T_PARAMS, 1, "x", 1);
	evbuffer_add(in, buf, n);
	upstream_parser_init(&r, 1);
	errstr = NULL;
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), -1);
	evbuffer_drain(in, evbuffer_get_length(in));

	/* END_REQUEST with a short body */
	n = add_record(buf, 0, FCGI_T_END_REQUEST, 1, "abc", 3);
	evbuffer_add(in, buf, n);
	upstream_parser_init(&r, 1);
	errstr = NULL;
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), -1);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), 0);
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(err);
}

static void
t_parse_overloaded(void)
{
	struct upstream_parser	 r;
	struct evbuffer		*in, *out, *err;
	const char		*errstr = NULL;
	uint8_t			 buf[64];
	size_t			 n;

	in = evbuffer_new();
	out = evbuffer_new();
	err = evbuffer_new();
	n = add_end(buf, 0, 1, 0, FCGI_S_OVERLOADED);
	evbuffer_add(in, buf, n - 1);
	upstream_parser_init(&r, 1);
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), 0);
	evbuffer_add(in, buf + n - 1, 1);
	CU_ASSERT_EQUAL(upstream_parse(&r, in, out, err, &errstr), 1);
	CU_ASSERT_EQUAL(r.upr_protocol_status, FCGI_S_OVERLOADED);
	CU_ASSERT_EQUAL(evbuffer_get_length(out), 0);
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(err);
}

/* upstream_recv(): one recv into the buffer, read(2)'s results. */
static void
t_recv(void)
{
	struct evbuffer	*b = evbuffer_new();
	int		 sv[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	evbuffer_add(b, "ab", 2);
	CU_ASSERT_EQUAL(upstream_recv(b, sv[0], 16), -1);	/* nothing */
	CU_ASSERT_EQUAL(errno, EAGAIN);
	CU_ASSERT_EQUAL(evbuffer_get_length(b), 2);
	CU_ASSERT_EQUAL(write(sv[1], "hello, world", 12), 12);
	/* at most max bytes, appended */
	CU_ASSERT_EQUAL(upstream_recv(b, sv[0], 5), 5);
	CU_ASSERT_EQUAL(upstream_recv(b, sv[0], 64), 7);
	CU_ASSERT_EQUAL(evbuffer_get_length(b), 14);
	CU_ASSERT_EQUAL(memcmp(evbuffer_pullup(b, -1), "abhello, world",
	    14), 0);
	close(sv[1]);
	CU_ASSERT_EQUAL(upstream_recv(b, sv[0], 64), 0);	/* EOF */
	CU_ASSERT_EQUAL(evbuffer_get_length(b), 14);
	close(sv[0]);
	evbuffer_free(b);
}

static const struct unit_case cases[] = {
	{ "cgi/status", t_cgi_status },
	{ "cgi/defaults", t_cgi_defaults },
	{ "cgi/incomplete", t_cgi_incomplete },
	{ "cgi/garbage", t_cgi_garbage },
	{ "cgi/hop_by_hop", t_cgi_hop_by_hop },
	{ "params/roundtrip", t_params_roundtrip },
	{ "params/headers", t_params_headers },
	{ "params/stdin", t_stdin_records },
	{ "records/split", t_parse_split },
	{ "records/garbage", t_parse_garbage },
	{ "records/overloaded", t_parse_overloaded },
	{ "recv", t_recv },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "upstream", cases);
}
