/*
 * HTTP/1.1 request head and chunked body parsing; see http_parse.h for
 * the strictness rules and why.
 */

#include <sys/types.h>

#include <string.h>
#include <strings.h>

#include "http_parse.h"

#define HTTP_CHUNK_LINE_MAX	4096	/* size line with extensions */
#define HTTP_TRAILER_MAX	8192

/* RFC 9110 tchar */
static const unsigned char http_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1
};

size_t
http_parse_end(const char *p, size_t len, size_t *scan)
{
	const char	*lf;
	size_t		 i = *scan;

	/* empty lines before the request line do not end the block */
	if (i == 0)
		while (i < len && (p[i] == '\r' || p[i] == '\n'))
			i++;
	while (i < len && (lf = memchr(p + i, '\n', len - i)) != NULL) {
		i = lf - p;
		if (i + 1 >= len)
			break;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r') {
			if (i + 2 >= len)
				break;
			if (p[i + 2] == '\n')
				return i + 3;
		}
		i++;
	}
	*scan = i < len ? i : len;
	return 0;
}

int
http_field_is(const char *block, const struct http_field *f,
    const char *name)
{
	return strlen(name) == f->hf_name_len &&
	    strncasecmp(block + f->hf_name, name, f->hf_name_len) == 0;
}

/* Is s[0..n) the token tok (case-insensitive)? */
static int
http_eq(const char *s, size_t n, const char *tok)
{
	return strlen(tok) == n && strncasecmp(s, tok, n) == 0;
}

/*
 * The end of the line starting at pos: the index of its CR (followed by
 * LF).  -1 for a bare LF or a stray CR.
 */
static ssize_t
http_line(const char *p, size_t len, size_t pos)
{
	const char	*lf;
	size_t		 i;

	if ((lf = memchr(p + pos, '\n', len - pos)) == NULL)
		return -1;
	i = lf - p;
	if (i == pos || p[i - 1] != '\r')
		return -1;
	return i - 1;
}

/* Walks a comma-separated list, calling fn on each trimmed member. */
static int
http_list(const char *v, size_t n, int (*fn)(const char *, size_t, void *),
    void *arg)
{
	size_t	 i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && fn(v + s, e - s, arg) == -1)
			return -1;
	}
	return 0;
}

static int
http_connection_token(const char *s, size_t n, void *arg)
{
	int	*opts = arg;

	if (http_eq(s, n, "close"))
		opts[0] = 1;
	else if (http_eq(s, n, "keep-alive"))
		opts[1] = 1;
	return 0;
}

static int
http_te_token(const char *s, size_t n, void *arg)
{
	int	*chunked = arg;

	/* chunked must be the only coding: we decode nothing else */
	if (!http_eq(s, n, "chunked") || *chunked)
		return -1;
	*chunked = 1;
	return 0;
}

/* One known field; 0 or a status. */
static int
http_field_meaning(const char *p, struct http_head *h, int idx, int *opts,
    int *nte, const char **errstr)
{
	struct http_field	*f = &h->hh_fields[idx];
	const char		*v = p + f->hf_value;
	size_t			 n = f->hf_value_len, i;
	int64_t			 cl = 0;

	switch (f->hf_name_len) {
	case 4:
		if (http_field_is(p, f, "Host")) {
			if (h->hh_host != -1) {
				*errstr = "more than one Host field";
				return 400;
			}
			h->hh_host = idx;
		}
		break;
	case 6:
		if (http_field_is(p, f, "Expect")) {
			if (!http_eq(v, n, "100-continue")) {
				*errstr = "unsupported expectation";
				return 417;
			}
			h->hh_continue = 1;
		}
		break;
	case 7:
		if (http_field_is(p, f, "Referer") && h->hh_referer == -1)
			h->hh_referer = idx;
		break;
	case 10:
		if (http_field_is(p, f, "Connection"))
			(void)http_list(v, n, http_connection_token, opts);
		else if (http_field_is(p, f, "User-Agent") &&
		    h->hh_agent == -1)
			h->hh_agent = idx;
		break;
	case 11:
		if (http_field_is(p, f, "traceparent") &&
		    h->hh_traceparent == -1)
			h->hh_traceparent = idx;
		break;
	case 12:
		if (http_field_is(p, f, "X-Request-Id") && h->hh_rid == -1)
			h->hh_rid = idx;
		else if (http_field_is(p, f, "Content-Type") &&
		    h->hh_ctype == -1)
			h->hh_ctype = idx;
		break;
	case 14:
		if (!http_field_is(p, f, "Content-Length"))
			break;
		if (h->hh_content_length != -1) {
			*errstr = "more than one Content-Length";
			return 400;
		}
		if (n == 0 || n > 18) {
			*errstr = "invalid Content-Length";
			return 400;
		}
		for (i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9') {
				*errstr = "invalid Content-Length";
				return 400;
			}
			cl = cl * 10 + (v[i] - '0');
		}
		h->hh_content_length = cl;
		break;
	case 17:
		if (!http_field_is(p, f, "Transfer-Encoding"))
			break;
		if (++*nte > 1) {
			*errstr = "more than one Transfer-Encoding field";
			return 400;
		}
		if (http_list(v, n, http_te_token, &h->hh_chunked) == -1 ||
		    !h->hh_chunked) {
			*errstr = "unsupported transfer coding";
			return 501;
		}
		break;
	}
	return 0;
}

int
http_parse_head(const char *p, size_t len, struct http_head *h,
    const char **errstr)
{
	struct http_field	*f;
	ssize_t			 eol;
	size_t			 pos = 0, i, s, e;
	int			 opts[2] = { 0, 0 }, nte = 0, status;

	h->hh_nfields = 0;
	h->hh_content_length = -1;
	h->hh_chunked = h->hh_close = h->hh_continue = 0;
	h->hh_host = h->hh_rid = h->hh_traceparent = h->hh_ctype = -1;
	h->hh_referer = h->hh_agent = -1;

	while (pos + 1 < len && p[pos] == '\r' && p[pos + 1] == '\n')
		pos += 2;
	h->hh_start = pos;
	if ((eol = http_line(p, len, pos)) == -1) {
		*errstr = "request line does not end in CRLF";
		return 400;
	}
	/* method SP request-target SP HTTP-version */
	for (i = pos; i < (size_t)eol && http_tchar[(unsigned char)p[i]]; i++)
		;
	if (i == pos || i >= (size_t)eol || p[i] != ' ') {
		*errstr = "malformed request line";
		return 400;
	}
	h->hh_method = pos;
	h->hh_method_len = i - pos;
	s = ++i;
	for (; i < (size_t)eol && (unsigned char)p[i] > ' ' &&
	    p[i] != 0x7f; i++)
		;
	if (i == s || i >= (size_t)eol || p[i] != ' ') {
		*errstr = "malformed request line";
		return 400;
	}
	h->hh_target = s;
	h->hh_target_len = i - s;
	i++;
	if ((size_t)eol - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 ||
	    p[i + 5] < '0' || p[i + 5] > '9' || p[i + 6] != '.' ||
	    p[i + 7] < '0' || p[i + 7] > '9') {
		*errstr = "malformed HTTP version";
		return 400;
	}
	h->hh_major = p[i + 5] - '0';
	h->hh_minor = p[i + 7] - '0';
	if (h->hh_major != 1) {
		*errstr = "HTTP version not supported";
		return 505;
	}
	if (h->hh_minor > 1)
		h->hh_minor = 1;	/* answered as the highest we speak */
	pos = eol + 2;

	for (;;) {
		if (pos >= len) {
			*errstr = "header block not terminated";
			return 400;
		}
		if ((eol = http_line(p, len, pos)) == -1) {
			*errstr = "header line does not end in CRLF";
			return 400;
		}
		if ((size_t)eol == pos)
			break;
		if (p[pos] == ' ' || p[pos] == '\t') {
			*errstr = "obsolete line folding";
			return 400;
		}
		for (i = pos; i < (size_t)eol &&
		    http_tchar[(unsigned char)p[i]]; i++)
			;
		if (i == pos || i >= (size_t)eol || p[i] != ':') {
			*errstr = "malformed header field name";
			return 400;
		}
		if (h->hh_nfields >= h->hh_maxfields) {
			*errstr = "too many header fields";
			return 431;
		}
		f = &h->hh_fields[h->hh_nfields];
		f->hf_name = pos;
		f->hf_name_len = i - pos;
		for (s = i + 1; s < (size_t)eol &&
		    (p[s] == ' ' || p[s] == '\t'); s++)
			;
		for (e = eol; e > s && (p[e - 1] == ' ' || p[e - 1] == '\t');
		    e--)
			;
		for (i = s; i < e; i++) {
			unsigned char c = p[i];

			if ((c < ' ' && c != '\t') || c == 0x7f) {
				*errstr = "control character in a field value";
				return 400;
			}
		}
		f->hf_value = s;
		f->hf_value_len = e - s;
		if ((status = http_field_meaning(p, h, h->hh_nfields, opts,
		    &nte, errstr)) != 0)
			return status;
		h->hh_nfields++;
		pos = eol + 2;
	}

	if (h->hh_chunked && h->hh_content_length != -1) {
		*errstr = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if (nte > 0 && h->hh_minor == 0) {
		*errstr = "Transfer-Encoding in an HTTP/1.0 request";
		return 400;
	}
	if (h->hh_minor == 1 && h->hh_host == -1) {
		*errstr = "HTTP/1.1 request without Host";
		return 400;
	}
	if (h->hh_minor == 0)
		h->hh_continue = 0;
	h->hh_close = opts[0] || (h->hh_minor == 0 && !opts[1]);
	return 0;
}

/* ------------------------------------------------------------- chunked */

enum {
	CS_SIZE,
	CS_EXT,
	CS_SIZE_LF,
	CS_DATA,
	CS_DATA_CR,
	CS_DATA_LF,
	CS_TRAILER_START,
	CS_TRAILER_LINE,
	CS_TRAILER_LF,
	CS_END_LF
};

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->hc_state = CS_SIZE;
}

static int
http_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
http_chunked_parse(struct http_chunked *c, const char *p, size_t len,
    size_t *used, size_t *data, const char **errstr)
{
	size_t		 i;
	unsigned char	 ch;
	int		 d;

	*used = *data = 0;
	if (c->hc_done)
		return 0;
	if (c->hc_state == CS_DATA) {
		i = c->hc_left < len ? c->hc_left : len;
		c->hc_left -= i;
		if (c->hc_left == 0)
			c->hc_state = CS_DATA_CR;
		*used = *data = i;
		return 0;
	}
	for (i = 0; i < len && c->hc_state != CS_DATA && !c->hc_done; i++) {
		ch = p[i];
		switch (c->hc_state) {
		case CS_SIZE:
			if ((d = http_hex(ch)) != -1) {
				if (++c->hc_digits > 15) {
					*errstr = "chunk size too large";
					return -1;
				}
				c->hc_left = c->hc_left * 16 + d;
				break;
			}
			if (c->hc_digits == 0) {
				*errstr = "malformed chunk size";
				return -1;
			}
			if (ch == ';' || ch == ' ' || ch == '\t')
				c->hc_state = CS_EXT;
			else if (ch == '\r')
				c->hc_state = CS_SIZE_LF;
			else {
				*errstr = "malformed chunk size";
				return -1;
			}
			break;
		case CS_EXT:
			if (ch == '\r')
				c->hc_state = CS_SIZE_LF;
			else if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
				*errstr = "malformed chunk extension";
				return -1;
			} else if (++c->hc_line > HTTP_CHUNK_LINE_MAX) {
				*errstr = "chunk extension too long";
				return -1;
			}
			break;
		case CS_SIZE_LF:
			if (ch != '\n') {
				*errstr = "chunk size line not ended by CRLF";
				return -1;
			}
			c->hc_state = c->hc_left == 0 ? CS_TRAILER_START :
			    CS_DATA;
			break;
		case CS_DATA_CR:
			if (ch != '\r') {
				*errstr = "chunk data not followed by CRLF";
				return -1;
			}
			c->hc_state = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (ch != '\n') {
				*errstr = "chunk data not followed by CRLF";
				return -1;
			}
			c->hc_state = CS_SIZE;
			c->hc_digits = 0;
			c->hc_line = 0;
			c->hc_left = 0;
			break;
		case CS_TRAILER_START:
			if (ch == '\r')
				c->hc_state = CS_END_LF;
			else if (ch == ' ' || ch == '\t' || ch == '\n') {
				*errstr = "malformed trailer";
				return -1;
			} else
				c->hc_state = CS_TRAILER_LINE;
			break;
		case CS_TRAILER_LINE:
			if (ch == '\r')
				c->hc_state = CS_TRAILER_LF;
			else if (ch == '\n') {
				*errstr = "trailer line not ended by CRLF";
				return -1;
			}
			break;
		case CS_TRAILER_LF:
			if (ch != '\n') {
				*errstr = "trailer line not ended by CRLF";
				return -1;
			}
			c->hc_state = CS_TRAILER_START;
			break;
		case CS_END_LF:
			if (ch != '\n') {
				*errstr = "last chunk not ended by CRLF";
				return -1;
			}
			c->hc_done = 1;
			break;
		}
		if (c->hc_state >= CS_TRAILER_START &&
		    ++c->hc_trailer > HTTP_TRAILER_MAX) {
			*errstr = "trailers too long";
			return -1;
		}
	}
	*used = i;
	return 0;
}
