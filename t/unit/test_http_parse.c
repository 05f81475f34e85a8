/*
 * proxy/http_parse.c: the request head parser and the chunked decoder,
 * byte by byte where it matters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "http_parse.h"

static struct http_field	 fields[16];

/* Parses s whole (after finding its end); the status. */
static int
head(const char *s, struct http_head *h)
{
	size_t		 scan = 0, end;
	const char	*errstr = NULL;

	h->hh_fields = fields;
	h->hh_maxfields = 16;
	end = http_parse_end(s, strlen(s), &scan);
	if (end == 0)
		return -1;
	return http_parse_head(s, end, h, &errstr);
}

static int
status_of(const char *s)
{
	struct http_head	 h;

	return head(s, &h);
}

static char *
field(const char *s, const struct http_head *h, int i, int value)
{
	static char	 buf[256];
	const struct http_field *f = &h->hh_fields[i];

	if (value)
		snprintf(buf, sizeof(buf), "%.*s", (int)f->hf_value_len,
		    s + f->hf_value);
	else
		snprintf(buf, sizeof(buf), "%.*s", (int)f->hf_name_len,
		    s + f->hf_name);
	return buf;
}

static void
t_simple(void)
{
	const char	*s = "GET /api/products?limit=1 HTTP/1.1\r\n"
	    "Host: example.org:8080\r\nX-Request-Id:  abc \r\n"
	    "User-Agent: t/1\r\n\r\n";
	struct http_head h;

	CU_ASSERT_EQUAL(head(s, &h), 0);
	CU_ASSERT_EQUAL(h.hh_method_len, 3);
	CU_ASSERT_EQUAL(strncmp(s + h.hh_method, "GET", 3), 0);
	CU_ASSERT_EQUAL(h.hh_target_len, strlen("/api/products?limit=1"));
	CU_ASSERT_EQUAL(strncmp(s + h.hh_target, "/api/products?limit=1",
	    h.hh_target_len), 0);
	CU_ASSERT_EQUAL(h.hh_major, 1);
	CU_ASSERT_EQUAL(h.hh_minor, 1);
	CU_ASSERT_EQUAL(h.hh_nfields, 3);
	CU_ASSERT_STRING_EQUAL(field(s, &h, 1, 0), "X-Request-Id");
	/* OWS around the value is not part of it */
	CU_ASSERT_STRING_EQUAL(field(s, &h, 1, 1), "abc");
	CU_ASSERT_EQUAL(h.hh_host, 0);
	CU_ASSERT_EQUAL(h.hh_rid, 1);
	CU_ASSERT_EQUAL(h.hh_agent, 2);
	CU_ASSERT_EQUAL(h.hh_ctype, -1);
	CU_ASSERT_EQUAL(h.hh_content_length, -1);
	CU_ASSERT_EQUAL(h.hh_chunked, 0);
	CU_ASSERT_EQUAL(h.hh_close, 0);
	CU_ASSERT_TRUE(http_field_is(s, &h.hh_fields[0], "host"));
	CU_ASSERT_FALSE(http_field_is(s, &h.hh_fields[0], "hos"));
}

static void
t_end_incremental(void)
{
	const char	*s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
	size_t		 scan = 0, i, end = 0, want;

	want = strstr(s, "\r\n\r\n") - s + 4;
	/* fed one byte more each time, resuming where it stopped */
	for (i = 1; i <= strlen(s) && end == 0; i++) {
		end = http_parse_end(s, i, &scan);
		CU_ASSERT_TRUE(end == 0 || i >= want);
	}
	CU_ASSERT_EQUAL(end, want);
	/* empty lines before the request line do not end anything */
	scan = 0;
	CU_ASSERT_EQUAL(http_parse_end("\r\n\r\nGET", 7, &scan), 0);
	scan = 0;
	CU_ASSERT_EQUAL(http_parse_end("\r\nGET / HTTP/1.0\r\n\r\n", 20,
	    &scan), 20);
	CU_ASSERT_EQUAL(status_of("\r\nGET / HTTP/1.0\r\n\r\n"), 0);
	/* a block ended by bare LFs is found, and then refused */
	scan = 0;
	CU_ASSERT_EQUAL(http_parse_end("GET / HTTP/1.1\nHost: a\n\n", 24,
	    &scan), 24);
}

static void
t_versions(void)
{
	struct http_head h;

	CU_ASSERT_EQUAL(head("GET / HTTP/1.0\r\n\r\n", &h), 0);
	CU_ASSERT_EQUAL(h.hh_minor, 0);
	CU_ASSERT_EQUAL(h.hh_close, 1);		/* 1.0 default */
	CU_ASSERT_EQUAL(head("GET / HTTP/1.0\r\nConnection: Keep-Alive"
	    "\r\n\r\n", &h), 0);
	CU_ASSERT_EQUAL(h.hh_close, 0);
	CU_ASSERT_EQUAL(head("GET / HTTP/1.1\r\nHost: a\r\nConnection: "
	    "foo, close\r\n\r\n", &h), 0);
	CU_ASSERT_EQUAL(h.hh_close, 1);
	CU_ASSERT_EQUAL(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
	CU_ASSERT_EQUAL(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
	CU_ASSERT_EQUAL(head("GET / HTTP/1.7\r\nHost: a\r\n\r\n", &h), 0);
	CU_ASSERT_EQUAL(h.hh_minor, 1);
	CU_ASSERT_EQUAL(status_of("GET / HTTP/1.1\r\n\r\n"), 400); /* Host */
	CU_ASSERT_EQUAL(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b"
	    "\r\n\r\n"), 400);
}

/* The request line and field syntax: each must be 400. */
static void
t_malformed(void)
{
	static const char *bad[] = {
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /\r\nHost: a\r\n\r\n",
		" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / http/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",	/* space before : */
		"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\001b\r\n\r\n",
		"GET /a\177 HTTP/1.1\r\nHost: a\r\n\r\n",
		/* obs-fold */
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
		/* bare LF in the request line, a field, the end */
		"GET / HTTP/1.1\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (status_of(bad[i]) != 400)
			fprintf(stderr, "case %zu: %d\n", i,
			    status_of(bad[i]));
		CU_ASSERT_EQUAL(status_of(bad[i]), 400);
	}
	/* a value may be empty, and may hold obs-text */
	CU_ASSERT_EQUAL(status_of("GET / HTTP/1.1\r\nHost: a\r\nX:\r\n"
	    "Y: caf\xc3\xa9\r\n\r\n"), 0);
}

/* Framing: the request-smuggling cases. */
static void
t_framing(void)
{
	static const struct {
		const char	*fields;
		int		 status;
		int64_t		 cl;
		int		 chunked;
	} cases[] = {
		{ "Content-Length: 42\r\n", 0, 42, 0 },
		{ "Content-Length: 0\r\n", 0, 0, 0 },
		{ "Content-Length: 007\r\n", 0, 7, 0 },
		{ "Transfer-Encoding: chunked\r\n", 0, -1, 1 },
		{ "Transfer-Encoding: Chunked\r\n", 0, -1, 1 },
		{ "Content-Length: 5\r\nContent-Length: 5\r\n", 400, 0, 0 },
		{ "Content-Length: 5\r\nContent-Length: 6\r\n", 400, 0, 0 },
		{ "Content-Length: 5, 5\r\n", 400, 0, 0 },
		{ "Content-Length: -1\r\n", 400, 0, 0 },
		{ "Content-Length: +1\r\n", 400, 0, 0 },
		{ "Content-Length: 1x\r\n", 400, 0, 0 },
		{ "Content-Length: 0x10\r\n", 400, 0, 0 },
		{ "Content-Length: \r\n", 400, 0, 0 },
		{ "Content-Length: 9999999999999999999\r\n", 400, 0, 0 },
		{ "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400,
		    0, 0 },
		{ "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400,
		    0, 0 },
		{ "Transfer-Encoding: gzip\r\n", 501, 0, 0 },
		{ "Transfer-Encoding: gzip, chunked\r\n", 501, 0, 0 },
		{ "Transfer-Encoding: chunked, chunked\r\n", 501, 0, 0 },
		{ "Transfer-Encoding: identity\r\n", 501, 0, 0 },
		{ "Transfer-Encoding: \r\n", 501, 0, 0 },
		{ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
		    "\r\n", 400, 0, 0 },
		{ "Expect: 100-continue\r\n", 0, -1, 0 },
		{ "Expect: 200-ok\r\n", 417, -1, 0 },
	};
	struct http_head h;
	char		 buf[512];
	size_t		 i;
	int		 st;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "POST /x HTTP/1.1\r\nHost: a\r\n"
		    "%s\r\n", cases[i].fields);
		st = head(buf, &h);
		if (st != cases[i].status)
			fprintf(stderr, "case %zu: %d\n", i, st);
		CU_ASSERT_EQUAL(st, cases[i].status);
		if (st == 0 && cases[i].status == 0) {
			CU_ASSERT_EQUAL(h.hh_content_length, cases[i].cl);
			CU_ASSERT_EQUAL(h.hh_chunked, cases[i].chunked);
		}
	}
	CU_ASSERT_EQUAL(head("POST / HTTP/1.1\r\nHost: a\r\nExpect: "
	    "100-Continue\r\n\r\n", &h), 0);
	CU_ASSERT_EQUAL(h.hh_continue, 1);
	/* HTTP/1.0 has no chunked: faulty framing */
	CU_ASSERT_EQUAL(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n"), 400);
}

static void
t_too_many(void)
{
	char	 buf[4096];
	size_t	 n;
	int	 i;

	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 15; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "X-%d: y\r\n", i);
	strcpy(buf + n, "\r\n");
	CU_ASSERT_EQUAL(status_of(buf), 0);	/* 16 fields */
	strcpy(buf + n, "X-last: y\r\n\r\n");
	CU_ASSERT_EQUAL(status_of(buf), 431);	/* 17 */
}

/* Feeds s to a decoder in pieces of step bytes; the decoded body. */
static int
chunked(const char *s, size_t len, size_t step, char *out, size_t *outlen,
    int *done)
{
	struct http_chunked	 c;
	const char		*errstr;
	size_t			 off = 0, avail = 0, used = 0, data;

	http_chunked_init(&c);
	*outlen = 0;
	while (!c.hc_done) {
		if (avail == off || used == 0) {
			/* it needs more: one more piece arrives */
			if (avail == len)
				break;
			avail = avail + step > len ? len : avail + step;
		}
		if (http_chunked_parse(&c, s + off, avail - off, &used, &data,
		    &errstr) == -1)
			return -1;
		if (data > 0) {
			memcpy(out + *outlen, s + off, data);
			*outlen += data;
		}
		off += used;
	}
	*done = c.hc_done;
	/* nothing after the last chunk is eaten */
	return (int)off;
}

static void
t_chunked(void)
{
	const char	*s = "5\r\nhello\r\n1;ext=1;x\r\n \r\n10\r\n"
	    "0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\nNEXT";
	char		 out[128];
	size_t		 outlen, step;
	int		 done, used;

	for (step = 1; step <= strlen(s); step++) {
		used = chunked(s, strlen(s), step, out, &outlen, &done);
		CU_ASSERT_EQUAL(used, (int)(strlen(s) - 4));
		CU_ASSERT_EQUAL(done, 1);
		CU_ASSERT_EQUAL(outlen, 22);
		CU_ASSERT_EQUAL(memcmp(out, "hello 0123456789abcdef", 22), 0);
	}
	/* incomplete: not done, no error */
	CU_ASSERT_EQUAL(chunked("5\r\nhel", 6, 3, out, &outlen, &done), 6);
	CU_ASSERT_EQUAL(done, 0);
	CU_ASSERT_EQUAL(outlen, 3);
	CU_ASSERT_EQUAL(chunked("0\r\n\r\n", 5, 1, out, &outlen, &done), 5);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(outlen, 0);
}

static void
t_chunked_bad(void)
{
	static const char *bad[] = {
		"x\r\n",			/* no hex */
		"\r\n",				/* no size */
		"-5\r\nhello\r\n0\r\n\r\n",
		"5\nhello\r\n0\r\n\r\n",	/* bare LF */
		"5\r\nhello\n0\r\n\r\n",
		"5\r\nhelloX\r\n0\r\n\r\n",	/* data longer than size */
		"5\r\nhello\r\n0\r\n\n",
		"5\r\nhello\r\n0\r\nT: x\n\r\n",
		"5\r\nhello\r\n0\r\n folded\r\n\r\n",
		"1000000000000000\r\n",		/* 16 hex digits */
		"5;a\001\r\nhello\r\n0\r\n\r\n",
	};
	char	 out[128];
	size_t	 i, outlen;
	int	 done;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (chunked(bad[i], strlen(bad[i]), 1, out, &outlen, &done)
		    != -1)
			fprintf(stderr, "chunked case %zu passed\n", i);
		CU_ASSERT_EQUAL(chunked(bad[i], strlen(bad[i]), 64, out,
		    &outlen, &done), -1);
	}
	/* a large but valid size is no error by itself */
	CU_ASSERT_EQUAL(chunked("fffffff\r\nab", 11, 11, out, &outlen,
	    &done), 11);
	CU_ASSERT_EQUAL(outlen, 2);
}

static const struct unit_case cases[] = {
	{ "simple", t_simple },
	{ "end_incremental", t_end_incremental },
	{ "versions", t_versions },
	{ "malformed", t_malformed },
	{ "framing", t_framing },
	{ "too_many_fields", t_too_many },
	{ "chunked", t_chunked },
	{ "chunked_bad", t_chunked_bad },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "http_parse", cases);
}
