/* Access log lines, buffered per thread, written whole. */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
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

/* Appends s (NULL: "-") escaped; returns the new offset. */
static size_t
accesslog_str(char *out, size_t off, size_t outlen, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 c;

	if (s == NULL || *s == '\0')
		s = "-";
	for (; (c = *s) != '\0' && off + 4 < outlen; s++) {
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			out[off++] = '\\';
			out[off++] = 'x';
			out[off++] = hex[c >> 4];
			out[off++] = hex[c & 0xf];
		} else
			out[off++] = c;
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

size_t
accesslog_format(char *out, size_t outlen, const struct accesslog_entry *e,
    const char *when)
{
	size_t	 n = 0;

	n = accesslog_str(out, n, outlen, e->ae_remote);
	n = accesslog_printf(out, n, outlen, " - - [%s] \"%s ", when,
	    e->ae_method);
	n = accesslog_str(out, n, outlen, e->ae_uri);
	n = accesslog_printf(out, n, outlen, " HTTP/%d.%d\" %d %zu \"",
	    e->ae_major, e->ae_minor, e->ae_status, e->ae_bytes);
	n = accesslog_str(out, n, outlen, e->ae_referer);
	n = accesslog_printf(out, n, outlen, "\" \"");
	n = accesslog_str(out, n, outlen, e->ae_agent);
	n = accesslog_printf(out, n, outlen, "\" rid=%s", e->ae_rid);
	if (e->ae_ut >= 0)
		n = accesslog_printf(out, n, outlen, " ut=%.3f", e->ae_ut);
	else
		n = accesslog_printf(out, n, outlen, " ut=-");
	n = accesslog_printf(out, n, outlen, " svc=%s",
	    e->ae_service ? e->ae_service : "-");
	n = accesslog_printf(out, n, outlen, " up=");
	n = accesslog_str(out, n, outlen, e->ae_upstream);
	n = accesslog_printf(out, n, outlen, " rt=%.3f", e->ae_rt);
	if (e->ae_tls != NULL)
		n = accesslog_printf(out, n, outlen, " tls=%s", e->ae_tls);
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

	off = accesslog_printf(out, off, outlen, ",\"%s\":", name);
	if (s == NULL)
		return accesslog_printf(out, off, outlen, "null");
	if (tail > outlen / 2)
		tail = outlen / 2;	/* a small buffer: share it */
	if (off + 16 + tail >= outlen)
		return accesslog_printf(out, off, outlen, "\"\"");
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

	snprintf(proto, sizeof(proto), "HTTP/%d.%d", e->ae_major,
	    e->ae_minor);
	n = accesslog_printf(out, 0, outlen, "{\"time\":\"%s\"", when);
	n = accesslog_json_str(out, n, outlen, 0, "remote", e->ae_remote);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "method",
	    e->ae_method);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "uri",
	    e->ae_uri);
	n = accesslog_json_str(out, n, outlen, 0, "protocol", proto);
	n = accesslog_printf(out, n, outlen, ",\"status\":%d,\"bytes\":%zu",
	    e->ae_status, e->ae_bytes);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "referer",
	    e->ae_referer);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL, "agent",
	    e->ae_agent);
	n = accesslog_json_str(out, n, outlen, ACCESSLOG_JSON_TAIL / 2, "rid",
	    e->ae_rid);
	n = accesslog_json_str(out, n, outlen, 0, "service", e->ae_service);
	n = accesslog_json_str(out, n, outlen, 0, "upstream", e->ae_upstream);
	if (e->ae_ut >= 0)
		n = accesslog_printf(out, n, outlen, ",\"ut\":%.6f", e->ae_ut);
	else
		n = accesslog_printf(out, n, outlen, ",\"ut\":null");
	n = accesslog_printf(out, n, outlen, ",\"rt\":%.6f", e->ae_rt);
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
