/*
 * FastCGI 1.0 records: encoding and decoding of every record type of the
 * specification, and of name-value pairs with 1- and 4-byte lengths.
 *
 * These functions work on plain byte arrays so that both the gateway's
 * upstream client and the relay can use them, and so that unit tests can
 * feed hand-built vectors.  Nothing here allocates: decoded records point
 * into the caller's input.
 *
 * Names use FCGI_T_ / FCGI_S_ prefixes so this header can coexist with
 * libfcgi's <fastcgi.h>, which defines FCGI_STDIN and friends as macros.
 */
#ifndef AGORA_FCGI_H
#define AGORA_FCGI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FCGI_VERSION		1
#define FCGI_HEADER_SIZE	8
#define FCGI_CONTENT_MAX	65535	/* content bytes in one record */
#define FCGI_RECORD_MAX		(FCGI_HEADER_SIZE + FCGI_CONTENT_MAX + 255)
#define FCGI_NULL_REQUEST_ID	0
#define FCGI_KEEP_CONN		1	/* flag of FCGI_BeginRequestBody */

enum fcgi_type {
	FCGI_T_BEGIN_REQUEST = 1,
	FCGI_T_ABORT_REQUEST = 2,
	FCGI_T_END_REQUEST = 3,
	FCGI_T_PARAMS = 4,
	FCGI_T_STDIN = 5,
	FCGI_T_STDOUT = 6,
	FCGI_T_STDERR = 7,
	FCGI_T_DATA = 8,
	FCGI_T_GET_VALUES = 9,
	FCGI_T_GET_VALUES_RESULT = 10,
	FCGI_T_UNKNOWN_TYPE = 11
};
#define FCGI_T_MAXTYPE		FCGI_T_UNKNOWN_TYPE

enum fcgi_role {
	FCGI_R_RESPONDER = 1,
	FCGI_R_AUTHORIZER = 2,
	FCGI_R_FILTER = 3
};

enum fcgi_protocol_status {
	FCGI_S_REQUEST_COMPLETE = 0,
	FCGI_S_CANT_MPX_CONN = 1,
	FCGI_S_OVERLOADED = 2,
	FCGI_S_UNKNOWN_ROLE = 3
};

struct fcgi_header {
	uint8_t		 version;
	uint8_t		 type;
	uint16_t	 request_id;
	uint16_t	 content_length;
	uint8_t		 padding_length;
};

struct fcgi_record {
	struct fcgi_header	 hdr;
	const uint8_t		*content;	/* into the decoded input */
};

/* Type name for logs ("STDOUT"), or "UNKNOWN" for values out of range. */
const char	*fcgi_type_name(int type);

/* Padding that aligns content_length to 8 bytes, as the spec recommends. */
uint8_t		 fcgi_padding(uint16_t content_length);

/* Bytes a whole record takes: header, content and padding. */
size_t		 fcgi_record_size(uint16_t content_length);

/* Writes an 8-byte header into out. */
void		 fcgi_header_encode(uint8_t out[FCGI_HEADER_SIZE], uint8_t type,
		    uint16_t request_id, uint16_t content_length,
		    uint8_t padding_length);

/*
 * Decodes a header.  Returns 1 when decoded, 0 when fewer than 8 bytes are
 * available, -1 when malformed (bad version, type 0) with *errstr set.
 */
int		 fcgi_header_decode(const uint8_t *p, size_t len,
		    struct fcgi_header *h, const char **errstr);

/*
 * Writes a whole record (header, content, padding of zeros) into out.
 * Returns the bytes written, or 0 when outlen is too small.
 */
size_t		 fcgi_record_encode(uint8_t *out, size_t outlen, uint8_t type,
		    uint16_t request_id, const void *content,
		    uint16_t content_length);

/*
 * Decodes one record from the start of p.  Returns the bytes it takes
 * (header + content + padding), 0 when the input is incomplete, or -1
 * when it is malformed (*errstr says why).  Body checks for fixed-size
 * record types (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE need 8 bytes)
 * are done here too.
 */
ssize_t		 fcgi_record_decode(const uint8_t *p, size_t len,
		    struct fcgi_record *rec, const char **errstr);

/* Fixed 8-byte bodies. */
void		 fcgi_begin_request_encode(uint8_t out[8], uint16_t role,
		    uint8_t flags);
int		 fcgi_begin_request_decode(const uint8_t *p, size_t len,
		    uint16_t *role, uint8_t *flags, const char **errstr);
void		 fcgi_end_request_encode(uint8_t out[8], uint32_t app_status,
		    uint8_t protocol_status);
int		 fcgi_end_request_decode(const uint8_t *p, size_t len,
		    uint32_t *app_status, uint8_t *protocol_status,
		    const char **errstr);
void		 fcgi_unknown_type_encode(uint8_t out[8], uint8_t type);
int		 fcgi_unknown_type_decode(const uint8_t *p, size_t len,
		    uint8_t *type, const char **errstr);

/*
 * Name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT).  Lengths under
 * 128 take one byte, others four with the high bit set; the maximum is
 * 2^31 - 1.  fcgi_nv_size() is what fcgi_nv_encode() writes; encode
 * returns 0 when outlen is too small or a length is too large.
 */
size_t		 fcgi_nv_size(size_t name_len, size_t value_len);
size_t		 fcgi_nv_encode(uint8_t *out, size_t outlen, const char *name,
		    size_t name_len, const char *value, size_t value_len);

/*
 * Decodes one pair from p.  Returns the bytes it takes, 0 when incomplete,
 * -1 when malformed.  name and value point into p and are not terminated.
 */
ssize_t		 fcgi_nv_decode(const uint8_t *p, size_t len,
		    const uint8_t **name, size_t *name_len,
		    const uint8_t **value, size_t *value_len,
		    const char **errstr);

#endif
