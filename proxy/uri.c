/*
 * Request path normalisation; see uri.h.
 */
#include <stddef.h>
#include <string.h>

#include "uri.h"

static int
uri_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Is seg[0..n) "." or ".."?  0, 1 or 2. */
static int
uri_dots(const char *seg, size_t n)
{
	if (n == 1 && seg[0] == '.')
		return (1);
	if (n == 2 && seg[0] == '.' && seg[1] == '.')
		return (2);
	return (0);
}

int
uri_path_plain(const char *path, size_t len)
{
	size_t	 i, n;

	if (memchr(path, '%', len) != NULL)
		return (0);
	for (i = 0; i < len; i++) {
		if (path[i] != '/')
			continue;
		/* the segment after this slash */
		n = 0;
		while (i + 1 + n < len && path[i + 1 + n] != '/')
			n++;
		if ((n == 0 && i + 1 < len) || uri_dots(path + i + 1, n))
			return (0);
	}
	return (1);
}

int
uri_path_normalize(const char *path, size_t len, char *out, size_t *outlen,
    const char **errstr)
{
	size_t	 i, o, seg;
	int	 hi, lo, c, d;

	/* decode into out, refusing what would change the path's shape */
	for (i = 0, o = 0; i < len; i++) {
		c = (unsigned char)path[i];
		if (c == '%') {
			if (i + 2 >= len ||
			    (hi = uri_hex(path[i + 1])) == -1 ||
			    (lo = uri_hex(path[i + 2])) == -1) {
				*errstr = "malformed percent-encoding in the "
				    "path";
				return (-1);
			}
			c = hi << 4 | lo;
			if (c == '\0') {
				*errstr = "encoded NUL byte in the path";
				return (-1);
			}
			if (c == '/') {
				*errstr = "encoded slash in the path";
				return (-1);
			}
			i += 2;
		}
		out[o++] = (char)c;
	}
	len = o;

	/* resolve segments in place: o writes, i reads, never ahead */
	o = 0;
	i = 0;
	while (i < len) {
		/* out[i] is '/': the segment is out[i + 1 .. seg) */
		seg = i + 1;
		while (seg < len && out[seg] != '/')
			seg++;
		d = uri_dots(out + i + 1, seg - i - 1);
		if (d == 2) {
			if (o == 0) {
				*errstr = "path goes above the root";
				return (-1);
			}
			while (o > 0 && out[--o] != '/')
				;
		} else if (d == 0 && seg > i + 1) {
			memmove(out + o, out + i, seg - i);
			o += seg - i;
		}
		/* a trailing slash, ".", ".." or empty last segment stays */
		if (seg == len && (d != 0 || seg == i + 1))
			out[o++] = '/';
		i = seg;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	*outlen = o;
	return (0);
}
