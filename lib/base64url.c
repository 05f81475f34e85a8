/* Strict, unpadded base64url. */

#include <stdlib.h>

#include "base64url.h"
#include "xmalloc.h"

static const char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of character c, or -1. */
static int
base64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t
base64url_enclen(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t
base64url_declen(size_t n)
{
	return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1) + 1;
}

size_t
base64url_encode(const void *in, size_t n, char *out)
{
	const unsigned char	*p = in;
	size_t			 i, o = 0;
	unsigned long		 v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		out[o++] = base64url_alphabet[v >> 18 & 63];
		out[o++] = base64url_alphabet[v >> 12 & 63];
		out[o++] = base64url_alphabet[v >> 6 & 63];
		out[o++] = base64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)p[i] << 16;
		out[o++] = base64url_alphabet[v >> 18 & 63];
		out[o++] = base64url_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		out[o++] = base64url_alphabet[v >> 18 & 63];
		out[o++] = base64url_alphabet[v >> 12 & 63];
		out[o++] = base64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

char *
base64url_encode_dup(const void *in, size_t n)
{
	char	*out;

	out = xmalloc(base64url_enclen(n) + 1);
	base64url_encode(in, n, out);
	return out;
}

int
base64url_decode(const char *in, size_t n, unsigned char *out,
    size_t *outlen)
{
	unsigned long	 v = 0;
	size_t		 i, o = 0, bits = 0;
	int		 c;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((c = base64url_value((unsigned char)in[i])) == -1)
			return -1;
		v = (v << 6 | (unsigned long)c) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = v >> bits & 0xff;
		}
	}
	/* Leftover bits must be zero: one encoding per byte string. */
	if (bits > 0 && (v & ((1UL << bits) - 1)) != 0)
		return -1;
	*outlen = o;
	return 0;
}

unsigned char *
base64url_decode_dup(const char *in, size_t n, size_t *outlen)
{
	unsigned char	*out;
	size_t		 len;

	out = xmalloc(base64url_declen(n) + 1);
	if (base64url_decode(in, n, out, &len) == -1) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	if (outlen != NULL)
		*outlen = len;
	return out;
}
