/*
 * FastCGI 1.0 records (Open Market specification, 1996): headers, the
 * fixed-size bodies, whole records and name-value pairs.  Everything works
 * on caller-supplied byte arrays; nothing allocates.
 */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "fcgi.h"

#define FCGI_NV_LEN_MAX		0x7fffffffUL	/* 31 bits of a 4-byte length */
#define FCGI_NV_SHORT_MAX	127		/* longest 1-byte length */
#define FCGI_FIXED_BODY_SIZE	8

static const char *const fcgi_type_names[] = {
	[FCGI_T_BEGIN_REQUEST] = "BEGIN_REQUEST",
	[FCGI_T_ABORT_REQUEST] = "ABORT_REQUEST",
	[FCGI_T_END_REQUEST] = "END_REQUEST",
	[FCGI_T_PARAMS] = "PARAMS",
	[FCGI_T_STDIN] = "STDIN",
	[FCGI_T_STDOUT] = "STDOUT",
	[FCGI_T_STDERR] = "STDERR",
	[FCGI_T_DATA] = "DATA",
	[FCGI_T_GET_VALUES] = "GET_VALUES",
	[FCGI_T_GET_VALUES_RESULT] = "GET_VALUES_RESULT",
	[FCGI_T_UNKNOWN_TYPE] = "UNKNOWN_TYPE"
};

static void
fcgi_seterr(const char **errstr, const char *msg)
{
	if (errstr != NULL)
		*errstr = msg;
}

const char *
fcgi_type_name(int type)
{
	if (type < FCGI_T_BEGIN_REQUEST || type > FCGI_T_MAXTYPE)
		return "UNKNOWN";
	return fcgi_type_names[type];
}

uint8_t
fcgi_padding(uint16_t content_length)
{
	return (uint8_t)((8 - (content_length % 8)) % 8);
}

size_t
fcgi_record_size(uint16_t content_length)
{
	return FCGI_HEADER_SIZE + (size_t)content_length +
	    fcgi_padding(content_length);
}

void
fcgi_header_encode(uint8_t out[FCGI_HEADER_SIZE], uint8_t type,
    uint16_t request_id, uint16_t content_length, uint8_t padding_length)
{
	out[0] = FCGI_VERSION;
	out[1] = type;
	out[2] = request_id >> 8;
	out[3] = request_id & 0xff;
	out[4] = content_length >> 8;
	out[5] = content_length & 0xff;
	out[6] = padding_length;
	out[7] = 0;			/* reserved */
}

int
fcgi_header_decode(const uint8_t *p, size_t len, struct fcgi_header *h,
    const char **errstr)
{
	if (len < FCGI_HEADER_SIZE)
		return 0;
	if (p[0] != FCGI_VERSION) {
		fcgi_seterr(errstr, "unsupported FastCGI version");
		return -1;
	}
	/*
	 * Types above FCGI_T_MAXTYPE are legal on the wire: the peer must
	 * answer them with UNKNOWN_TYPE, so only 0 is rejected here.
	 */
	if (p[1] == 0) {
		fcgi_seterr(errstr, "record type 0");
		return -1;
	}
	h->version = p[0];
	h->type = p[1];
	h->request_id = (uint16_t)(p[2] << 8 | p[3]);
	h->content_length = (uint16_t)(p[4] << 8 | p[5]);
	h->padding_length = p[6];
	return 1;
}

size_t
fcgi_record_encode(uint8_t *out, size_t outlen, uint8_t type,
    uint16_t request_id, const void *content, uint16_t content_length)
{
	size_t	 size;
	uint8_t	 pad;

	size = fcgi_record_size(content_length);
	if (outlen < size)
		return 0;
	pad = fcgi_padding(content_length);
	fcgi_header_encode(out, type, request_id, content_length, pad);
	if (content_length > 0)
		memcpy(out + FCGI_HEADER_SIZE, content, content_length);
	memset(out + FCGI_HEADER_SIZE + content_length, 0, pad);
	return size;
}

/* Management records travel on request id 0 only (spec 3.3). */
static int
fcgi_type_is_management(uint8_t type)
{
	return type == FCGI_T_GET_VALUES || type == FCGI_T_GET_VALUES_RESULT ||
	    type == FCGI_T_UNKNOWN_TYPE;
}

static int
fcgi_type_is_fixed(uint8_t type)
{
	return type == FCGI_T_BEGIN_REQUEST || type == FCGI_T_END_REQUEST ||
	    type == FCGI_T_UNKNOWN_TYPE;
}

ssize_t
fcgi_record_decode(const uint8_t *p, size_t len, struct fcgi_record *rec,
    const char **errstr)
{
	struct fcgi_header	 h;
	size_t			 size;
	int			 rv;

	if ((rv = fcgi_header_decode(p, len, &h, errstr)) <= 0)
		return rv;
	/*
	 * Malformed headers are refused before waiting for the content, so
	 * a broken peer is detected after 8 bytes, not after 64K.
	 */
	if (fcgi_type_is_fixed(h.type) &&
	    h.content_length != FCGI_FIXED_BODY_SIZE) {
		fcgi_seterr(errstr, "fixed-size record body is not 8 bytes");
		return -1;
	}
	if (fcgi_type_is_management(h.type) &&
	    h.request_id != FCGI_NULL_REQUEST_ID) {
		fcgi_seterr(errstr, "management record with a request id");
		return -1;
	}
	size = FCGI_HEADER_SIZE + (size_t)h.content_length + h.padding_length;
	if (len < size)
		return 0;
	rec->hdr = h;
	rec->content = p + FCGI_HEADER_SIZE;
	return (ssize_t)size;
}

void
fcgi_begin_request_encode(uint8_t out[8], uint16_t role, uint8_t flags)
{
	memset(out, 0, FCGI_FIXED_BODY_SIZE);
	out[0] = role >> 8;
	out[1] = role & 0xff;
	out[2] = flags;
}

int
fcgi_begin_request_decode(const uint8_t *p, size_t len, uint16_t *role,
    uint8_t *flags, const char **errstr)
{
	if (len != FCGI_FIXED_BODY_SIZE) {
		fcgi_seterr(errstr, "BEGIN_REQUEST body is not 8 bytes");
		return -1;
	}
	/* An unknown role is the application's to answer (UNKNOWN_ROLE). */
	*role = (uint16_t)(p[0] << 8 | p[1]);
	*flags = p[2];
	return 0;
}

void
fcgi_end_request_encode(uint8_t out[8], uint32_t app_status,
    uint8_t protocol_status)
{
	memset(out, 0, FCGI_FIXED_BODY_SIZE);
	out[0] = app_status >> 24;
	out[1] = (app_status >> 16) & 0xff;
	out[2] = (app_status >> 8) & 0xff;
	out[3] = app_status & 0xff;
	out[4] = protocol_status;
}

int
fcgi_end_request_decode(const uint8_t *p, size_t len, uint32_t *app_status,
    uint8_t *protocol_status, const char **errstr)
{
	if (len != FCGI_FIXED_BODY_SIZE) {
		fcgi_seterr(errstr, "END_REQUEST body is not 8 bytes");
		return -1;
	}
	*app_status = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	*protocol_status = p[4];
	return 0;
}

void
fcgi_unknown_type_encode(uint8_t out[8], uint8_t type)
{
	memset(out, 0, FCGI_FIXED_BODY_SIZE);
	out[0] = type;
}

int
fcgi_unknown_type_decode(const uint8_t *p, size_t len, uint8_t *type,
    const char **errstr)
{
	if (len != FCGI_FIXED_BODY_SIZE) {
		fcgi_seterr(errstr, "UNKNOWN_TYPE body is not 8 bytes");
		return -1;
	}
	*type = p[0];
	return 0;
}

static size_t
fcgi_nv_lensize(size_t len)
{
	return len > FCGI_NV_SHORT_MAX ? 4 : 1;
}

static uint8_t *
fcgi_nv_putlen(uint8_t *out, size_t len)
{
	if (len <= FCGI_NV_SHORT_MAX) {
		*out++ = (uint8_t)len;
		return out;
	}
	*out++ = (uint8_t)(0x80 | (len >> 24));
	*out++ = (len >> 16) & 0xff;
	*out++ = (len >> 8) & 0xff;
	*out++ = len & 0xff;
	return out;
}

size_t
fcgi_nv_size(size_t name_len, size_t value_len)
{
	if (name_len > FCGI_NV_LEN_MAX || value_len > FCGI_NV_LEN_MAX)
		return 0;
	return fcgi_nv_lensize(name_len) + fcgi_nv_lensize(value_len) +
	    name_len + value_len;
}

size_t
fcgi_nv_encode(uint8_t *out, size_t outlen, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
	size_t	 size;
	uint8_t	*q;

	if ((size = fcgi_nv_size(name_len, value_len)) == 0 || outlen < size)
		return 0;
	q = fcgi_nv_putlen(out, name_len);
	q = fcgi_nv_putlen(q, value_len);
	if (name_len > 0)
		memcpy(q, name, name_len);
	if (value_len > 0)
		memcpy(q + name_len, value, value_len);
	return size;
}

/* Reads one length at p[*off]: 1 when read, 0 when incomplete. */
static int
fcgi_nv_getlen(const uint8_t *p, size_t len, size_t *off, size_t *out)
{
	const uint8_t	*q = p + *off;

	if (*off >= len)
		return 0;
	if ((q[0] & 0x80) == 0) {
		*out = q[0];
		*off += 1;
		return 1;
	}
	if (len - *off < 4)
		return 0;
	*out = (size_t)(q[0] & 0x7f) << 24 | (size_t)q[1] << 16 |
	    (size_t)q[2] << 8 | q[3];
	*off += 4;
	return 1;
}

ssize_t
fcgi_nv_decode(const uint8_t *p, size_t len, const uint8_t **name,
    size_t *name_len, const uint8_t **value, size_t *value_len,
    const char **errstr)
{
	size_t	 off = 0, nlen, vlen;

	if (!fcgi_nv_getlen(p, len, &off, &nlen) ||
	    !fcgi_nv_getlen(p, len, &off, &vlen))
		return 0;
	/* Only reachable where size_t or ssize_t cannot hold 2^32 + 8. */
	if (nlen > (size_t)SSIZE_MAX - off ||
	    vlen > (size_t)SSIZE_MAX - off - nlen) {
		fcgi_seterr(errstr, "name-value pair too long");
		return -1;
	}
	if (len - off < nlen + vlen)
		return 0;
	*name = p + off;
	*name_len = nlen;
	*value = p + off + nlen;
	*value_len = vlen;
	return (ssize_t)(off + nlen + vlen);
}
