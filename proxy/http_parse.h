/*
 * A pure HTTP/1.1 request parser (RFC 9112): no I/O, no allocation.
 *
 * The front accumulates bytes; http_parse_end() finds where the header
 * block ends (resuming its scan where it stopped), then http_parse_head()
 * parses the whole block in place.  Headers are kept as offsets into
 * the block, so the block can be copied or moved as one piece.
 *
 * Strictness is deliberate: every line must end in CRLF (a bare LF is
 * 400), obsolete line folding is 400, whitespace before a header colon is
 * 400, Content-Length must be one run of digits given once, and
 * Transfer-Encoding may only be "chunked" (501 otherwise) and never
 * together with Content-Length (400).  Empty lines before the request
 * line are skipped (RFC 9112 2.2).
 *
 * http_chunked_*() decodes a chunked body incrementally.
 */
#ifndef AGORA_PROXY_HTTP_PARSE_H
#define AGORA_PROXY_HTTP_PARSE_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

struct http_field {
	uint32_t	 hf_name;	/* offsets into the block */
	uint16_t	 hf_name_len;
	uint32_t	 hf_value;
	uint32_t	 hf_value_len;
};

/* The parsed head.  Strings are offsets into the block given. */
struct http_head {
	uint32_t	 hh_start;	/* request line (after empty lines) */
	uint32_t	 hh_method, hh_method_len;
	uint32_t	 hh_target, hh_target_len;
	int		 hh_major, hh_minor;
	struct http_field *hh_fields;	/* caller's array.. */
	int		 hh_maxfields;	/* ..of this many */
	int		 hh_nfields;
	int64_t		 hh_content_length;	/* -1: none */
	int		 hh_chunked;
	int		 hh_close;	/* Connection: close (or 1.0 default) */
	int		 hh_continue;	/* Expect: 100-continue */
	int		 hh_host;	/* field index of Host, -1 */
	int		 hh_rid;	/* X-Request-Id, -1 */
	int		 hh_traceparent;	/* -1 */
	int		 hh_ctype;	/* Content-Type, -1 */
	int		 hh_referer;	/* -1 */
	int		 hh_agent;	/* User-Agent, -1 */
};

/*
 * Looks for the end of the header block in p[0..len).  *scan is where the
 * previous call stopped (start at 0).  Returns the block's length
 * including its final CRLF CRLF, or 0 when it is not complete yet.  A
 * block ending in a bare LF is found too (http_parse_head refuses it).
 */
size_t	http_parse_end(const char *p, size_t len, size_t *scan);

/*
 * Parses the block p[0..len) (as found by http_parse_end) into h, whose
 * hh_fields/hh_maxfields the caller set.  Returns 0, or an HTTP status
 * (400, 431 too many fields, 501 unknown transfer coding, 505 version,
 * 417 expectation) with *errstr saying why.
 */
int	http_parse_head(const char *p, size_t len, struct http_head *h,
	    const char **errstr);

/* Case-insensitive compare of field i's name with name. */
int	http_field_is(const char *block, const struct http_field *,
	    const char *name);

/* ---- chunked request bodies ---- */

struct http_chunked {
	int		 hc_state;
	uint64_t	 hc_left;	/* data bytes left in this chunk */
	size_t		 hc_line;	/* bytes of the current control line */
	size_t		 hc_trailer;	/* trailer bytes so far */
	int		 hc_digits;
	int		 hc_done;	/* last chunk and trailers read */
};

void	http_chunked_init(struct http_chunked *);
/*
 * Consumes a piece of p[0..len): *used bytes, of which the first *data
 * are body data (then *data == *used).  Call again with the rest until
 * *used is 0 (needs more input) or hc_done.  Returns 0, or -1 with
 * *errstr on a malformed body.
 */
int	http_chunked_parse(struct http_chunked *, const char *p, size_t len,
	    size_t *used, size_t *data, const char **errstr);

#endif
