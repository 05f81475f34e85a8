/*
 * base64url (RFC 4648 §5) without padding, as JOSE (RFC 7515 §2) uses it.
 * Decoding is strict: padding, whitespace, characters outside the
 * alphabet, a length of 4n+1 and non-zero trailing bits are refused, so a
 * token has exactly one encoding.
 */
#ifndef AGORA_BASE64URL_H
#define AGORA_BASE64URL_H

#include <stddef.h>

/* Length of the encoding of n bytes, without the NUL. */
size_t	 base64url_enclen(size_t n);
/* Upper bound of the decoded length of n characters. */
size_t	 base64url_declen(size_t n);

/*
 * Encodes n bytes of in into out, which holds base64url_enclen(n) + 1
 * bytes; NUL-terminates and returns the length.
 */
size_t	 base64url_encode(const void *in, size_t n, char *out);
/* The same into a new NUL-terminated string the caller frees. */
char	*base64url_encode_dup(const void *in, size_t n);

/*
 * Decodes n characters of in into out (base64url_declen(n) bytes).
 * Returns 0 and *outlen, or -1 when in is not strict base64url.
 */
int	 base64url_decode(const char *in, size_t n, unsigned char *out,
	    size_t *outlen);
/*
 * The same into new memory the caller frees; one extra NUL byte follows
 * the data, so decoded text can be used as a C string.  NULL on error.
 */
unsigned char
	*base64url_decode_dup(const char *in, size_t n, size_t *outlen);

#endif
