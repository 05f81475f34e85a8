/* Access log lines, buffered per thread, written whole. */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"
#include "accesslog.h"

#define ACCESSLOG_BUFSZ		16384
#define ACCESSLOG_LINEMAX	4096

struct accesslog_buf {
	char	 ab_buf[ACCESSLOG_BUFSZ];
	size_t	 ab_len;
	time_t	 ab_when;		/* second the stamps were made for */
	char	 ab_stamp[40];		/* combined */
	char	 ab_stamp3339[32];	/* JSON */
};

static int	 accesslog_fd = STDERR_FILENO;
static int	 accesslog_is_json;
static char	*accesslog_path;

int
accesslog_open(const char *path)
{
	int	 fd;

	if (path == NULL) {
		accesslog_close();
		return 0;
	}
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1)
		return -1;
	if (accesslog_fd == STDERR_FILENO) {
		accesslog_fd = fd;
	} else {
		/* dup2 swaps the file under the same number atomically */
		if (dup2(fd, accesslog_fd) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	if (accesslog_path != path) {
		free(accesslog_path);
		accesslog_path = xstrdup(path);
	}
	return 0;
}

int
accesslog_reopen(void)
{
	if (accesslog_path == NULL)
		return 0;
	return accesslog_open(accesslog_path);
}

void
accesslog_close(void)
{
	if (accesslog_fd != STDERR_FILENO)
		close(accesslog_fd);
	accesslog_fd = STDERR_FILENO;
	free(accesslog_path);
	accesslog_path = NULL;
}

void
accesslog_json(int on)
{
	accesslog_is_json = on;
}

struct accesslog_buf *
accesslog_buf_new(void)
{
	struct accesslog_buf	*ab;

	ab = xmalloc(sizeof(*ab));
	ab->ab_len = 0;
	ab->ab_when = -1;
	return ab;
}

void
accesslog_buf_free(struct accesslog_buf *ab)
{
	if (ab == NULL)
		return;
	accesslog_flush(ab);
	free(ab);
}

void
accesslog_flush(struct accesslog_buf *ab)
{
	if (ab->ab_len == 0)
		return;
	/* whole lines only, so a short write on a full disk loses lines */
	(void)!write(accesslog_fd, ab->ab_buf, ab->ab_len);
	ab->ab_len = 0;
}

/* 1: a byte the combined format copies as it is (not NUL). */
static const unsigned char accesslog_plain[256] = {
	[0x20] = 1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,
	[0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* DEL */
};

/* Appends s (NULL: "-") escaped; returns the new offset. */
static size_t
accesslog_str(char *out, size_t off, size_t outlen, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 c;
	size_t			 lim;

	if (s == NULL || *s == '\0')
		s = "-";
	if (outlen <= 4)
		return off;
	lim = outlen - 4;	/* room for an escape */
	for (; off < lim; s++) {
		c = *s;
		if (accesslog_plain[c])
			out[off++] = c;
		else if (c == '\0')
			break;
		else {
			out[off++] = '\\';
			out[off++] = 'x';
			out[off++] = hex[c >> 4];
			out[off++] = hex[c & 0xf];
		}
	}
	return off;
}

static size_t
accesslog_printf(char *out, size_t off, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t
accesslog_printf(char *out, size_t off, size_t outlen, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	if (off >= outlen)
		return off;
	va_start(ap, fmt);
	r = vsnprintf(out + off, outlen - off, fmt, ap);
	va_end(ap);
	if (r < 0)
		return off;
	return (size_t)r < outlen - off ? off + r : outlen - 1;
}

/*
 * Appends len bytes of s, cut short where snprintf would cut them (one
 * byte kept for the NUL), so lines stay byte for byte what the printf
 * formatter made: a vsnprintf per field was a fifth of a request's
 * instructions.
 */
static size_t
accesslog_cat(char *out, size_t off, size_t outlen, const char *s,
    size_t len)
{
	if (off >= outlen)
		return off;
	if (len > outlen - off - 1)
		len = outlen - off - 1;
	memcpy(out + off, s, len);
	return off + len;
}

#define ACCESSLOG_LIT(out, off, outlen, lit)				\
	accesslog_cat((out), (off), (outlen), (lit), sizeof(lit) - 1)

static size_t
accesslog_cats(char *out, size_t off, size_t outlen, const char *s)
{
	return accesslog_cat(out, off, outlen, s, strlen(s));
}

/* Writes v in decimal to end just before end; returns its first digit. */
static char *
accesslog_ultoa(char *end, unsigned long long v)
{
	do {
		*--end = '0' + v % 10;
		v /= 10;
	} while (v != 0);
	return end;
}

static size_t
accesslog_ull(char *out, size_t off, size_t outlen, unsigned long long v)
{
	char	 buf[24], *p;

	p = accesslog_ultoa(buf + sizeof(buf), v);
	return accesslog_cat(out, off, outlen, p, buf + sizeof(buf) - p);
}

static size_t
accesslog_int(char *out, size_t off, size_t outlen, int v)
{
	char	 buf[24], *p;

	if (v >= 0)
		return accesslog_ull(out, off, outlen, v);
	p = accesslog_ultoa(buf + sizeof(buf), -(unsigned long long)v);
	*--p = '-';
	return accesslog_cat(out, off, outlen, p, buf + sizeof(buf) - p);
}

/*
 * Appends x as "%.3f" (digits 3) or "%.6f" (digits 6) would.  Scaled to
 * an integer, x rounds the way printf rounds the exact binary value
 * unless the scaled value lies within the product's rounding error of a
 * half; those few, and what is out of range, go to printf itself.
 */
static size_t
accesslog_fixed(char *out, size_t off, size_t outlen, double x, int digits)
{
	char			 buf[40], *p, *end;
	unsigned long long	 m, pow10;
	double			 t, f;
	int			 i;

	pow10 = digits == 3 ? 1000 : 1000000;
	/* below 1e6 the product's error is under 2^-14: 1e-3 is plenty */
	if (!(x >= 0 && x < 1e6) || signbit(x) || (digits != 3 && digits != 6))
		goto slow;
	t = x * (double)pow10;
	m = (unsigned long long)t;
	f = t - (double)m;
	if (f > 0.499 && f < 0.501)
		goto slow;
	if (f > 0.5)
		m++;
	end = buf + sizeof(buf);
	p = end;
	for (i = 0; i < digits; i++) {
		*--p = '0' + m % 10;
		m /= 10;
	}
	*--p = '.';
	p = accesslog_ultoa(p, m);
	return accesslog_cat(out, off, outlen, p, end - p);
slow:
	return accesslog_printf(out, off, outlen, "%.*f", digits, x);
}

size_t
accesslog_format(char *out, size_t outlen, const struct accesslog_entry *e,
    const char *when)
{
	size_t	 n = 0;

	n = accesslog_str(out, n, outlen, e->ae_remote);
	n = ACCESSLOG_LIT(out, n, outlen, " - - [");
	n = accesslog_cats(out, n, outlen, when);
	n = ACCESSLOG_LIT(out, n, outlen, "] \"");
	n = accesslog_cats(out, n, outlen, e->ae_method);
	n = ACCESSLOG_LIT(out, n, outlen, " ");
	n = accesslog_str(out, n, outlen, e->ae_uri);
	n = ACCESSLOG_LIT(out, n, outlen, " HTTP/");
	n = accesslog_int(out, n, outlen, e->ae_major);
	n = ACCESSLOG_LIT(out, n, outlen, ".");
	n = accesslog_int(out, n, outlen, e->ae_minor);
	n = ACCESSLOG_LIT(out, n, outlen, "\" ");
	n = accesslog_int(out, n, outlen, e->ae_status);
	n = ACCESSLOG_LIT(out, n, outlen, " ");
	n = accesslog_ull(out, n, outlen, e->ae_bytes);
	n = ACCESSLOG_LIT(out, n, outlen, " \"");
	n = accesslog_str(out, n, outlen, e->ae_referer);
	n = ACCESSLOG_LIT(out, n, outlen, "\" \"");
	n = accesslog_str(out, n, outlen, e->ae_agent);
	n = ACCESSLOG_LIT(out, n, outlen, "\" rid=");
	n = accesslog_cats(out, n, outlen, e->ae_rid);
	if (e->ae_ut >= 0) {
		n = ACCESSLOG_LIT(out, n, outlen, " ut=");
		n = accesslog_fixed(out, n, outlen, e->ae_ut, 3);
	} else
		n = ACCESSLOG_LIT(out, n, outlen, " ut=-");
	n = ACCESSLOG_LIT(out, n, outlen, " svc=");
	n = accesslog_cats(out, n, outlen,
	    e->ae_service ? e->ae_service : "-");
	n = ACCESSLOG_LIT(out, n, outlen, " up=");
	n = accesslog_str(out, n, outlen, e->ae_upstream);
	n = ACCESSLOG_LIT(out, n, outlen, " rt=");
	n = accesslog_fixed(out, n, outlen, e->ae_rt, 3);
	if (e->ae_tls != NULL) {
		n = ACCESSLOG_LIT(out, n, outlen, " tls=");
		n = accesslog_cats(out, n, outlen, e->ae_tls);
	}
	if (n >= outlen - 1)
		n = outlen - 2;
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

/*
 * Room kept after the strings a client chose (method, uri, referer,
 * agent, request id) for the members that follow them (service, upstream
 * address, times, TLS: a few hundred bytes at most), so the rest of a
 * line always fits.
 */
#define ACCESSLOG_JSON_TAIL	640

/*
 * Appends "name":"s" (s NULL: null), JSON-escaped, cut short so that at
 * least tail bytes of out stay free; the new offset.
 */
static size_t
accesslog_json_str(char *out, size_t off, size_t outlen, size_t tail,
    const char *name, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 c;

	off = ACCESSLOG_LIT(out, off, outlen, ",\"");
	off = accesslog_cats(out, off, outlen, name);
	off = ACCESSLOG_LIT(out, off, outlen, "\":");
	if (s == NULL)
		return ACCESSLOG_LIT(out, off, outlen, "null");
	if (tail > outlen / 2)
		tail = outlen / 2;	/* a small buffer: share it */
	if (off + 16 + tail >= outlen)
		return ACCESSLOG_LIT(out, off, outlen, "\"\"");
	out[off++] = '"';
	/* room for the longest escape and the closing quote */
	for (; (c = *s) != '\0' && off + 8 + tail < outlen; s++) {
		if (c < 0x20 || c >= 0x7f) {
			memcpy(out + off, "\\u00", 4);
			out[off + 4] = hex[c >> 4];
			out[off + 5] = hex[c & 0xf];
			off += 6;
		} else if (c == '"' || c == '\\') {
			out[off++] = '\\';
			out[off++] = c;
		} else
			out[off++] = c;
	}
	out[off++] = '"';
	return off;
}

size_t
accesslog_format_json(char *out, size_t outlen,
    const struct accesslog_entry *e, const char *when)
{
	char	 proto[16];
	size_t	 n;

	n = ACCESSLOG_LIT(proto, 0, sizeof(proto), "HTTP/");
	n = accesslog_int(proto, n, sizeof(proto), e->ae_major);
	n = ACCESSLOG_LIT(proto, n, sizeof(proto), ".");
	n = accesslog_int(proto, n, sizeof(proto), e->ae_minor);
	proto[n] = '\0';
	n = ACCESSLOG_LIT(out, 0, outlen, "{\"time\":\"");
	n = accesslog_cats(out, n, outlen, when);
	n = ACCESSLOG_LIT(out, n, outlen, "\"");
	n = accesslog_json_str(out, n, outlen, 0, "remote", e->ae_remote);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "method",
	    e->ae_method);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "uri",
	    e->ae_uri);
	n = accesslog_json_str(out, n, outlen, 0, "protocol", proto);
	n = ACCESSLOG_LIT(out, n, outlen, ",\"status\":");
	n = accesslog_int(out, n, outlen, e->ae_status);
	n = ACCESSLOG_LIT(out, n, outlen, ",\"bytes\":");
	n = accesslog_ull(out, n, outlen, e->ae_bytes);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "referer",
	    e->ae_referer);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "agent",
	    e->ae_agent);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL / 2, "rid",
	    e->ae_rid);
	n = accesslog_json_str(out, n, outlen, 0, "service", e->ae_service);
	n = accesslog_json_str(out, n, outlen, 0, "upstream", e->ae_upstream);
	if (e->ae_ut >= 0) {
		n = ACCESSLOG_LIT(out, n, outlen, ",\"ut\":");
		n = accesslog_fixed(out, n, outlen, e->ae_ut, 6);
	} else
		n = ACCESSLOG_LIT(out, n, outlen, ",\"ut\":null");
	n = ACCESSLOG_LIT(out, n, outlen, ",\"rt\":");
	n = accesslog_fixed(out, n, outlen, e->ae_rt, 6);
	if (e->ae_tls != NULL)
		n = accesslog_json_str(out, n, outlen, 0, "tls", e->ae_tls);
	/* only a buffer below ACCESSLOG_JSON_TAIL gets here cut short */
	if (n + 3 > outlen)
		n = outlen - 3;
	out[n++] = '}';
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

void
accesslog_log(struct accesslog_buf *ab, const struct accesslog_entry *e)
{
	struct tm	 tm;
	size_t		 n;

	if (e->ae_time != ab->ab_when) {
		gmtime_r(&e->ae_time, &tm);
		strftime(ab->ab_stamp, sizeof(ab->ab_stamp),
		    "%d/%b/%Y:%H:%M:%S +0000", &tm);
		strftime(ab->ab_stamp3339, sizeof(ab->ab_stamp3339),
		    "%Y-%m-%dT%H:%M:%SZ", &tm);
		ab->ab_when = e->ae_time;
	}
	if (sizeof(ab->ab_buf) - ab->ab_len < ACCESSLOG_LINEMAX)
		accesslog_flush(ab);
	if (accesslog_is_json)
		n = accesslog_format_json(ab->ab_buf + ab->ab_len,
		    ACCESSLOG_LINEMAX, e, ab->ab_stamp3339);
	else
		n = accesslog_format(ab->ab_buf + ab->ab_len,
		    ACCESSLOG_LINEMAX, e, ab->ab_stamp);
	ab->ab_len += n;
}
