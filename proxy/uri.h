/*
 * The request path as the rules and the services see it: percent-decoded
 * (RFC 3875 4.1.5 gives PATH_INFO decoded, as nginx does) with "." and
 * ".." segments resolved and repeated slashes merged (RFC 3986 5.2.4), so
 * a rule cannot be dodged by spelling its path another way.
 */
#ifndef AGORA_URI_H
#define AGORA_URI_H

#include <stddef.h>

/*
 * 1 when path[0..len) is already in normal form (no '%', no empty, "."
 * or ".." segment): the common case, which needs no copy.
 */
int	uri_path_plain(const char *path, size_t len);

/*
 * Writes the normal form of path[0..len) (which starts with '/') into
 * out, which has room for len + 1 bytes (it never grows), NUL-terminated,
 * and its length into *outlen.  Returns 0, or -1 with *errstr for a
 * malformed escape, an escaped NUL or slash, or ".." above the root.
 */
int	uri_path_normalize(const char *path, size_t len, char *out,
	    size_t *outlen, const char **errstr);

#endif
