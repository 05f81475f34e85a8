/*
 * lib/fcgi.c against hand-built byte vectors from the FastCGI 1.0
 * specification: headers, fixed bodies, padding, partial input at every
 * byte boundary, malformed records and name-value pairs.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "fcgi.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
t_header_encode(void)
{
	static const uint8_t	 want[8] = {
		1, FCGI_T_STDOUT, 0x12, 0x34, 0x01, 0x02, 6, 0 };
	uint8_t			 out[8];

	memset(out, 0xaa, sizeof out);
	fcgi_header_encode(out, FCGI_T_STDOUT, 0x1234, 0x0102, 6);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
}

static void
t_header_decode(void)
{
	/* reserved byte is ignored on input */
	static const uint8_t	 in[8] = { 1, FCGI_T_PARAMS, 0xff, 0x01,
	    0xab, 0xcd, 0xfe, 0x77 };
	struct fcgi_header	 h;
	const char		*err = NULL;

	CU_ASSERT_EQUAL(fcgi_header_decode(in, sizeof in, &h, &err), 1);
	CU_ASSERT_EQUAL(h.version, 1);
	CU_ASSERT_EQUAL(h.type, FCGI_T_PARAMS);
	CU_ASSERT_EQUAL(h.request_id, 0xff01);
	CU_ASSERT_EQUAL(h.content_length, 0xabcd);
	CU_ASSERT_EQUAL(h.padding_length, 0xfe);
	CU_ASSERT_PTR_NULL(err);
}

static void
t_header_short(void)
{
	static const uint8_t	 in[8] = { 1, FCGI_T_STDIN, 0, 1, 0, 0, 0, 0 };
	struct fcgi_header	 h;
	const char		*err = NULL;
	size_t			 n;

	for (n = 0; n < sizeof in; n++)
		CU_ASSERT_EQUAL(fcgi_header_decode(in, n, &h, &err), 0);
	CU_ASSERT_PTR_NULL(err);
}

static void
t_header_bad_version(void)
{
	static const uint8_t	 v0[8] = { 0, FCGI_T_STDOUT, 0, 1, 0, 0, 0, 0 };
	static const uint8_t	 v2[8] = { 2, FCGI_T_STDOUT, 0, 1, 0, 0, 0, 0 };
	struct fcgi_record	 rec;
	struct fcgi_header	 h;
	const char		*err = NULL;

	CU_ASSERT_EQUAL(fcgi_header_decode(v2, sizeof v2, &h, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
	err = NULL;
	CU_ASSERT_EQUAL(fcgi_record_decode(v0, sizeof v0, &rec, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
	/* HTTP on a FastCGI socket fails on the first byte, not later */
	err = NULL;
	CU_ASSERT_EQUAL(fcgi_record_decode((const uint8_t *)"GET / HT", 8,
	    &rec, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
}

static void
t_header_type0(void)
{
	static const uint8_t	 in[8] = { 1, 0, 0, 1, 0, 0, 0, 0 };
	struct fcgi_record	 rec;
	struct fcgi_header	 h;
	const char		*err = NULL;

	CU_ASSERT_EQUAL(fcgi_header_decode(in, sizeof in, &h, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
	err = NULL;
	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
}

/* Types past FCGI_T_MAXTYPE must decode so they can be answered. */
static void
t_header_type_unknown(void)
{
	static const uint8_t	 in[8] = { 1, 12, 0, 0, 0, 0, 0, 0 };
	struct fcgi_record	 rec;
	const char		*err = NULL;

	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), 8);
	CU_ASSERT_EQUAL(rec.hdr.type, 12);
	CU_ASSERT_STRING_EQUAL(fcgi_type_name(12), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(fcgi_type_name(0), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(fcgi_type_name(-1), "UNKNOWN");
}

static void
t_type_names(void)
{
	static const struct {
		int		 type;
		const char	*name;
	} names[] = {
		{ FCGI_T_BEGIN_REQUEST, "BEGIN_REQUEST" },
		{ FCGI_T_ABORT_REQUEST, "ABORT_REQUEST" },
		{ FCGI_T_END_REQUEST, "END_REQUEST" },
		{ FCGI_T_PARAMS, "PARAMS" },
		{ FCGI_T_STDIN, "STDIN" },
		{ FCGI_T_STDOUT, "STDOUT" },
		{ FCGI_T_STDERR, "STDERR" },
		{ FCGI_T_DATA, "DATA" },
		{ FCGI_T_GET_VALUES, "GET_VALUES" },
		{ FCGI_T_GET_VALUES_RESULT, "GET_VALUES_RESULT" },
		{ FCGI_T_UNKNOWN_TYPE, "UNKNOWN_TYPE" },
	};
	size_t	 i;

	for (i = 0; i < NITEMS(names); i++)
		CU_ASSERT_STRING_EQUAL(fcgi_type_name(names[i].type),
		    names[i].name);
}

static void
t_padding(void)
{
	static const struct {
		uint16_t	 len;
		uint8_t		 pad;
	} pads[] = {
		{ 0, 0 }, { 1, 7 }, { 7, 1 }, { 8, 0 }, { 9, 7 }, { 13, 3 },
		{ 16, 0 }, { 65528, 0 }, { 65535, 1 },
	};
	size_t	 i;

	for (i = 0; i < NITEMS(pads); i++) {
		CU_ASSERT_EQUAL(fcgi_padding(pads[i].len), pads[i].pad);
		CU_ASSERT_EQUAL(fcgi_record_size(pads[i].len),
		    8 + (size_t)pads[i].len + pads[i].pad);
	}
	CU_ASSERT_EQUAL(fcgi_record_size(65535), 65544);
	CU_ASSERT(fcgi_record_size(65535) <= FCGI_RECORD_MAX);
}

static void
t_record_encode(void)
{
	static const uint8_t	 want[16] = { 1, FCGI_T_STDOUT, 0, 7, 0, 5, 3, 0,
	    'H', 'e', 'l', 'l', 'o', 0, 0, 0 };
	uint8_t			 out[32];

	memset(out, 0xaa, sizeof out);
	CU_ASSERT_EQUAL(fcgi_record_encode(out, sizeof out, FCGI_T_STDOUT, 7,
	    "Hello", 5), 16);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
	CU_ASSERT_EQUAL(out[16], 0xaa);		/* nothing past the record */
}

/* The empty record that ends a stream (STDIN, PARAMS). */
static void
t_record_encode_empty(void)
{
	static const uint8_t	 want[8] = { 1, FCGI_T_STDIN, 0x01, 0x00,
	    0, 0, 0, 0 };
	struct fcgi_record	 rec;
	uint8_t			 out[8];

	CU_ASSERT_EQUAL(fcgi_record_encode(out, sizeof out, FCGI_T_STDIN, 256,
	    NULL, 0), 8);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
	CU_ASSERT_EQUAL(fcgi_record_decode(out, sizeof out, &rec, NULL), 8);
	CU_ASSERT_EQUAL(rec.hdr.content_length, 0);
	CU_ASSERT_EQUAL(rec.hdr.request_id, 256);
}

static void
t_record_encode_small(void)
{
	uint8_t		 out[16];
	size_t		 i;

	memset(out, 0xaa, sizeof out);
	/* 5 bytes of content need 16 with padding: 15 is one short */
	CU_ASSERT_EQUAL(fcgi_record_encode(out, 15, FCGI_T_STDOUT, 1,
	    "Hello", 5), 0);
	CU_ASSERT_EQUAL(fcgi_record_encode(out, 7, FCGI_T_STDIN, 1,
	    NULL, 0), 0);
	for (i = 0; i < sizeof out; i++)
		CU_ASSERT_EQUAL(out[i], 0xaa);
	CU_ASSERT_EQUAL(fcgi_record_encode(out, 16, FCGI_T_STDOUT, 1,
	    "Hello", 5), 16);
}

/*
 * A response as a backend writes it: STDOUT with padding, STDERR without,
 * END_REQUEST.  Every prefix must decode as "incomplete" until the record
 * is whole, and whole records must decode to their exact size.
 */
static const uint8_t stream[] = {
	1, FCGI_T_STDOUT, 0, 1, 0, 3, 5, 0,	'a', 'b', 'c', 0, 0, 0, 0, 0,
	1, FCGI_T_STDERR, 0, 1, 0, 8, 0, 0,	'w', 'a', 'r', 'n', 'i', 'n',
	    'g', '\n',
	1, FCGI_T_END_REQUEST, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
static const size_t stream_sizes[] = { 16, 16, 16 };

static void
t_record_split(void)
{
	struct fcgi_record	 rec;
	const char		*err;
	size_t			 off = 0, i, n;
	ssize_t			 rv;

	for (i = 0; i < NITEMS(stream_sizes); i++) {
		for (n = 0; n < stream_sizes[i]; n++) {
			err = NULL;
			rv = fcgi_record_decode(stream + off, n, &rec, &err);
			CU_ASSERT_EQUAL(rv, 0);
			CU_ASSERT_PTR_NULL(err);
		}
		/* extra bytes of the next record do not change the result */
		rv = fcgi_record_decode(stream + off, sizeof stream - off,
		    &rec, &err);
		CU_ASSERT_EQUAL(rv, (ssize_t)stream_sizes[i]);
		CU_ASSERT_PTR_EQUAL(rec.content, stream + off + 8);
		off += stream_sizes[i];
	}
	CU_ASSERT_EQUAL(off, sizeof stream);
	CU_ASSERT_EQUAL(fcgi_record_decode(stream, 16, &rec, NULL), 16);
	CU_ASSERT_EQUAL(rec.hdr.type, FCGI_T_STDOUT);
	CU_ASSERT_EQUAL(rec.hdr.content_length, 3);
	CU_ASSERT_EQUAL(rec.hdr.padding_length, 5);
	CU_ASSERT_EQUAL(memcmp(rec.content, "abc", 3), 0);
}

/* Content present but padding missing, and content cut short. */
static void
t_record_truncated(void)
{
	struct fcgi_record	 rec;
	const char		*err = NULL;

	CU_ASSERT_EQUAL(fcgi_record_decode(stream, 11, &rec, &err), 0);
	CU_ASSERT_EQUAL(fcgi_record_decode(stream, 15, &rec, &err), 0);
	CU_ASSERT_PTR_NULL(err);
}

static void
t_record_past_buffer(void)
{
	uint8_t			 in[100];
	struct fcgi_record	 rec;
	const char		*err = NULL;

	memset(in, 'x', sizeof in);
	fcgi_header_encode(in, FCGI_T_STDOUT, 1, 0xffff, 255);
	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), 0);
	fcgi_header_encode(in, FCGI_T_STDOUT, 1, 92, 1);
	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), 0);
	fcgi_header_encode(in, FCGI_T_STDOUT, 1, 92, 0);
	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), 100);
	CU_ASSERT_PTR_NULL(err);
}

static void
t_begin_request(void)
{
	static const uint8_t	 want[8] = { 0, 1, FCGI_KEEP_CONN, 0, 0, 0, 0,
	    0 };
	static const uint8_t	 filter[8] = { 0, 3, 0, 9, 9, 9, 9, 9 };
	static const uint8_t	 bigrole[8] = { 0x12, 0x34, 0xff, 0, 0, 0, 0,
	    0 };
	uint8_t			 out[8], flags;
	uint16_t		 role;
	const char		*err = NULL;

	memset(out, 0xaa, sizeof out);
	fcgi_begin_request_encode(out, FCGI_R_RESPONDER, FCGI_KEEP_CONN);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
	CU_ASSERT_EQUAL(fcgi_begin_request_decode(out, 8, &role, &flags,
	    &err), 0);
	CU_ASSERT_EQUAL(role, FCGI_R_RESPONDER);
	CU_ASSERT_EQUAL(flags, FCGI_KEEP_CONN);
	CU_ASSERT_EQUAL(fcgi_begin_request_decode(filter, 8, &role, &flags,
	    &err), 0);
	CU_ASSERT_EQUAL(role, FCGI_R_FILTER);
	CU_ASSERT_EQUAL(flags, 0);
	/* an unknown role decodes; answering UNKNOWN_ROLE is the caller's */
	CU_ASSERT_EQUAL(fcgi_begin_request_decode(bigrole, 8, &role, &flags,
	    &err), 0);
	CU_ASSERT_EQUAL(role, 0x1234);
	CU_ASSERT_EQUAL(flags, 0xff);
	CU_ASSERT_PTR_NULL(err);
	CU_ASSERT_EQUAL(fcgi_begin_request_decode(want, 7, &role, &flags,
	    &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
}

static void
t_end_request(void)
{
	static const uint8_t	 want[8] = { 0x01, 0x02, 0x03, 0x04,
	    FCGI_S_OVERLOADED, 0, 0, 0 };
	static const uint8_t	 neg[8] = { 0xff, 0xff, 0xff, 0xff,
	    FCGI_S_UNKNOWN_ROLE, 0, 0, 0 };
	uint8_t			 out[8], ps;
	uint32_t		 status;
	const char		*err = NULL;

	memset(out, 0xaa, sizeof out);
	fcgi_end_request_encode(out, 0x01020304, FCGI_S_OVERLOADED);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
	CU_ASSERT_EQUAL(fcgi_end_request_decode(out, 8, &status, &ps, &err), 0);
	CU_ASSERT_EQUAL(status, 0x01020304);
	CU_ASSERT_EQUAL(ps, FCGI_S_OVERLOADED);
	CU_ASSERT_EQUAL(fcgi_end_request_decode(neg, 8, &status, &ps, &err), 0);
	CU_ASSERT_EQUAL(status, 0xffffffffU);
	CU_ASSERT_EQUAL(ps, FCGI_S_UNKNOWN_ROLE);
	CU_ASSERT_PTR_NULL(err);
	CU_ASSERT_EQUAL(fcgi_end_request_decode(want, 9, &status, &ps, &err),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(err);
}

static void
t_unknown_type(void)
{
	static const uint8_t	 want[16] = { 1, FCGI_T_UNKNOWN_TYPE, 0, 0,
	    0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t			 body[8], rec_out[16], type;
	struct fcgi_record	 rec;
	const char		*err = NULL;

	fcgi_unknown_type_encode(body, 42);
	CU_ASSERT_EQUAL(fcgi_record_encode(rec_out, sizeof rec_out,
	    FCGI_T_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, body, 8), 16);
	CU_ASSERT_EQUAL(memcmp(rec_out, want, sizeof want), 0);
	CU_ASSERT_EQUAL(fcgi_record_decode(want, sizeof want, &rec, &err), 16);
	CU_ASSERT_EQUAL(fcgi_unknown_type_decode(rec.content,
	    rec.hdr.content_length, &type, &err), 0);
	CU_ASSERT_EQUAL(type, 42);
	CU_ASSERT_PTR_NULL(err);
	CU_ASSERT_EQUAL(fcgi_unknown_type_decode(body, 0, &type, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
}

/* BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE with a body other than 8. */
static void
t_record_fixed_size(void)
{
	static const uint8_t	 types[] = { FCGI_T_BEGIN_REQUEST,
	    FCGI_T_END_REQUEST, FCGI_T_UNKNOWN_TYPE };
	static const uint16_t	 lens[] = { 0, 7, 9, 16 };
	uint8_t			 in[32];
	struct fcgi_record	 rec;
	const char		*err;
	size_t			 i, j;
	uint16_t		 id;

	memset(in, 0, sizeof in);
	for (i = 0; i < NITEMS(types); i++) {
		id = types[i] == FCGI_T_UNKNOWN_TYPE ? 0 : 1;
		for (j = 0; j < NITEMS(lens); j++) {
			err = NULL;
			/* only the header is present: refused early */
			fcgi_header_encode(in, types[i], id, lens[j], 0);
			CU_ASSERT_EQUAL(fcgi_record_decode(in, 8, &rec, &err),
			    -1);
			CU_ASSERT_PTR_NOT_NULL(err);
		}
		fcgi_header_encode(in, types[i], id, 8, 0);
		CU_ASSERT_EQUAL(fcgi_record_decode(in, 16, &rec, NULL), 16);
	}
}

static void
t_record_management_id(void)
{
	uint8_t			 in[8];
	struct fcgi_record	 rec;
	const char		*err = NULL;

	fcgi_header_encode(in, FCGI_T_GET_VALUES, 1, 0, 0);
	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
	fcgi_header_encode(in, FCGI_T_GET_VALUES, 0, 0, 0);
	CU_ASSERT_EQUAL(fcgi_record_decode(in, sizeof in, &rec, &err), 8);
}

static void
t_nv_short(void)
{
	static const uint8_t	 want[] = { 4, 3, 'H', 'T', 'T', 'P', 'G', 'E',
	    'T' };
	static const uint8_t	 empty[] = { 0, 0 };
	const uint8_t		*n, *v;
	uint8_t			 out[16];
	size_t			 nl, vl;

	CU_ASSERT_EQUAL(fcgi_nv_size(4, 3), sizeof want);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, sizeof out, "HTTP", 4, "GET", 3),
	    sizeof want);
	CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
	CU_ASSERT_EQUAL(fcgi_nv_decode(want, sizeof want, &n, &nl, &v, &vl,
	    NULL), (ssize_t)sizeof want);
	CU_ASSERT_EQUAL(nl, 4);
	CU_ASSERT_EQUAL(vl, 3);
	CU_ASSERT_PTR_EQUAL(n, want + 2);
	CU_ASSERT_PTR_EQUAL(v, want + 6);
	CU_ASSERT_EQUAL(fcgi_nv_decode(empty, sizeof empty, &n, &nl, &v, &vl,
	    NULL), 2);
	CU_ASSERT_EQUAL(nl, 0);
	CU_ASSERT_EQUAL(vl, 0);
}

/* 127 is the last length in one byte, 128 the first in four. */
static void
t_nv_boundary(void)
{
	char		 name[128], value[128];
	uint8_t		 out[300];
	const uint8_t	*n, *v;
	size_t		 nl, vl;

	memset(name, 'n', sizeof name);
	memset(value, 'v', sizeof value);

	CU_ASSERT_EQUAL(fcgi_nv_size(127, 127), 1 + 1 + 254);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, sizeof out, name, 127, value, 127),
	    256);
	CU_ASSERT_EQUAL(out[0], 127);
	CU_ASSERT_EQUAL(out[1], 127);
	CU_ASSERT_EQUAL(out[2], 'n');
	CU_ASSERT_EQUAL(out[2 + 127], 'v');

	CU_ASSERT_EQUAL(fcgi_nv_size(128, 127), 4 + 1 + 255);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, sizeof out, name, 128, value, 127),
	    260);
	CU_ASSERT_EQUAL(out[0], 0x80);
	CU_ASSERT_EQUAL(out[1], 0);
	CU_ASSERT_EQUAL(out[2], 0);
	CU_ASSERT_EQUAL(out[3], 128);
	CU_ASSERT_EQUAL(out[4], 127);
	CU_ASSERT_EQUAL(fcgi_nv_decode(out, 260, &n, &nl, &v, &vl, NULL), 260);
	CU_ASSERT_EQUAL(nl, 128);
	CU_ASSERT_EQUAL(vl, 127);
	CU_ASSERT_PTR_EQUAL(v, out + 5 + 128);

	CU_ASSERT_EQUAL(fcgi_nv_encode(out, sizeof out, name, 1, value, 128),
	    1 + 4 + 129);
	CU_ASSERT_EQUAL(memcmp(out, "\x01\x80\x00\x00\x80n", 6), 0);
}

/* 4-byte lengths as another implementation may send them. */
static void
t_nv_long_vector(void)
{
	uint8_t		 in[4 + 4 + 300 + 2];
	static const uint8_t	 nonmin[] = { 0x80, 0, 0, 2, 0x80, 0, 0, 1,
	    'a', 'b', 'c' };
	const uint8_t	*n, *v;
	size_t		 nl, vl;

	/* name 0x12c = 300 bytes, value 2 bytes, both 4-byte lengths */
	memset(in, 'x', sizeof in);
	memcpy(in, "\x80\x00\x01\x2c\x80\x00\x00\x02", 8);
	CU_ASSERT_EQUAL(fcgi_nv_decode(in, sizeof in, &n, &nl, &v, &vl, NULL),
	    (ssize_t)sizeof in);
	CU_ASSERT_EQUAL(nl, 300);
	CU_ASSERT_EQUAL(vl, 2);
	CU_ASSERT_PTR_EQUAL(n, in + 8);
	CU_ASSERT_PTR_EQUAL(v, in + 308);

	/* the high bit is a marker, not part of the length */
	CU_ASSERT_EQUAL(fcgi_nv_decode(nonmin, sizeof nonmin, &n, &nl, &v, &vl,
	    NULL), 11);
	CU_ASSERT_EQUAL(nl, 2);
	CU_ASSERT_EQUAL(vl, 1);
	CU_ASSERT_EQUAL(memcmp(n, "ab", 2), 0);
	CU_ASSERT_EQUAL(*v, 'c');

	/* 2^31-1 announced, 8 bytes present: incomplete, not an error */
	CU_ASSERT_EQUAL(fcgi_nv_decode((const uint8_t *)"\xff\xff\xff\xff\x00"
	    "abc", 8, &n, &nl, &v, &vl, NULL), 0);
}

static void
t_nv_too_large(void)
{
	uint8_t		 out[16];
	static const char	 dummy[1] = { 'x' };

	CU_ASSERT_EQUAL(fcgi_nv_size(0x7fffffffUL, 0), 4 + 1 + 0x7fffffffUL);
	CU_ASSERT_EQUAL(fcgi_nv_size(0x80000000UL, 0), 0);
	CU_ASSERT_EQUAL(fcgi_nv_size(1, 0x80000000UL), 0);
	/* refused before any byte is read from name or value */
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, sizeof out, dummy, 0x80000000UL,
	    dummy, 1), 0);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, sizeof out, dummy, 1, dummy,
	    0x80000000UL), 0);
}

static void
t_nv_truncated(void)
{
	uint8_t		 pair[200];
	char		 value[150];
	const uint8_t	*n, *v;
	size_t		 nl, vl, size, i;
	const char	*err = NULL;

	memset(value, 'v', sizeof value);
	size = fcgi_nv_encode(pair, sizeof pair, "QUERY_STRING", 12, value,
	    sizeof value);
	CU_ASSERT_EQUAL(size, 1 + 4 + 12 + 150);
	/* covers a cut inside the 4-byte value length and in the data */
	for (i = 0; i < size; i++)
		CU_ASSERT_EQUAL(fcgi_nv_decode(pair, i, &n, &nl, &v, &vl,
		    &err), 0);
	CU_ASSERT_PTR_NULL(err);
	CU_ASSERT_EQUAL(fcgi_nv_decode(pair, size, &n, &nl, &v, &vl, &err),
	    (ssize_t)size);
}

static void
t_nv_encode_small(void)
{
	uint8_t		 out[16];
	size_t		 i;

	memset(out, 0xaa, sizeof out);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, 8, "HTTP", 4, "GET", 3), 0);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, 0, "", 0, "", 0), 0);
	for (i = 0; i < sizeof out; i++)
		CU_ASSERT_EQUAL(out[i], 0xaa);
	CU_ASSERT_EQUAL(fcgi_nv_encode(out, 9, "HTTP", 4, "GET", 3), 9);
}

/*
 * The pool sizing exchange: the gateway asks, a libfcgi backend answers.
 * Built with the encoders, walked with the decoders, compared to bytes.
 */
static void
t_get_values(void)
{
	static const char *const names[] = { "FCGI_MAX_CONNS",
	    "FCGI_MAX_REQS", "FCGI_MPXS_CONNS" };
	static const char *const values[] = { "4", "4", "0" };
	static const uint8_t	 want_req[] = { 1, FCGI_T_GET_VALUES, 0, 0,
	    0, 48, 0, 0,
	    14, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'C', 'O', 'N',
	    'N', 'S',
	    13, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'R', 'E', 'Q',
	    'S',
	    15, 0, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C', 'O',
	    'N', 'N', 'S' };
	uint8_t			 body[128], req[128], res[128], *p;
	struct fcgi_record	 rec;
	const uint8_t		*n, *v, *c;
	size_t			 i, nl, vl, left;
	ssize_t			 rv;
	const char		*err = NULL;

	/* request: names with empty values */
	for (p = body, i = 0; i < NITEMS(names); i++)
		p += fcgi_nv_encode(p, body + sizeof body - p, names[i],
		    strlen(names[i]), "", 0);
	CU_ASSERT_EQUAL(p - body, 48);
	CU_ASSERT_EQUAL(fcgi_record_encode(req, sizeof req, FCGI_T_GET_VALUES,
	    FCGI_NULL_REQUEST_ID, body, p - body), sizeof want_req);
	CU_ASSERT_EQUAL(memcmp(req, want_req, sizeof want_req), 0);

	/* the backend side: decode the names, answer each */
	CU_ASSERT_EQUAL(fcgi_record_decode(req, sizeof want_req, &rec, &err),
	    (ssize_t)sizeof want_req);
	CU_ASSERT_EQUAL(rec.hdr.type, FCGI_T_GET_VALUES);
	p = body;
	for (c = rec.content, left = rec.hdr.content_length, i = 0; left > 0;
	    i++) {
		rv = fcgi_nv_decode(c, left, &n, &nl, &v, &vl, &err);
		CU_ASSERT_FATAL(rv > 0 && i < NITEMS(names));
		CU_ASSERT_EQUAL(nl, strlen(names[i]));
		CU_ASSERT_EQUAL(memcmp(n, names[i], nl), 0);
		CU_ASSERT_EQUAL(vl, 0);
		p += fcgi_nv_encode(p, body + sizeof body - p, (const char *)n,
		    nl, values[i], 1);
		c += rv;
		left -= rv;
	}
	CU_ASSERT_EQUAL(i, NITEMS(names));
	CU_ASSERT_EQUAL(p - body, 51);
	CU_ASSERT_EQUAL(fcgi_record_encode(res, sizeof res,
	    FCGI_T_GET_VALUES_RESULT, 0, body, p - body), 64);
	CU_ASSERT_EQUAL(res[6], 5);		/* 51 + 5 = 56 */
	CU_ASSERT_EQUAL(memcmp(res + 8, "\x0e\x01" "FCGI_MAX_CONNS" "4", 17),
	    0);

	/* the gateway side: read the answer back */
	CU_ASSERT_EQUAL(fcgi_record_decode(res, 64, &rec, &err), 64);
	CU_ASSERT_EQUAL(rec.hdr.type, FCGI_T_GET_VALUES_RESULT);
	for (c = rec.content, left = rec.hdr.content_length, i = 0; left > 0;
	    i++) {
		rv = fcgi_nv_decode(c, left, &n, &nl, &v, &vl, &err);
		CU_ASSERT_FATAL(rv > 0 && i < NITEMS(names));
		CU_ASSERT_EQUAL(memcmp(n, names[i], nl), 0);
		CU_ASSERT_EQUAL(vl, 1);
		CU_ASSERT_EQUAL(*v, values[i][0]);
		c += rv;
		left -= rv;
	}
	CU_ASSERT_EQUAL(i, NITEMS(names));
	CU_ASSERT_PTR_NULL(err);
}

static const struct unit_case cases[] = {
	{ "header/encode", t_header_encode },
	{ "header/decode", t_header_decode },
	{ "header/short", t_header_short },
	{ "header/bad_version", t_header_bad_version },
	{ "header/type0", t_header_type0 },
	{ "header/type_unknown", t_header_type_unknown },
	{ "type_names", t_type_names },
	{ "padding", t_padding },
	{ "record/encode", t_record_encode },
	{ "record/encode_empty", t_record_encode_empty },
	{ "record/encode_small", t_record_encode_small },
	{ "record/split", t_record_split },
	{ "record/truncated", t_record_truncated },
	{ "record/past_buffer", t_record_past_buffer },
	{ "record/fixed_size", t_record_fixed_size },
	{ "record/management_id", t_record_management_id },
	{ "body/begin_request", t_begin_request },
	{ "body/end_request", t_end_request },
	{ "body/unknown_type", t_unknown_type },
	{ "nv/short", t_nv_short },
	{ "nv/boundary", t_nv_boundary },
	{ "nv/long_vector", t_nv_long_vector },
	{ "nv/too_large", t_nv_too_large },
	{ "nv/truncated", t_nv_truncated },
	{ "nv/encode_small", t_nv_encode_small },
	{ "get_values", t_get_values },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return unit_main(argc, argv, "fcgi", cases);
}
