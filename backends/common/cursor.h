/*
 * Opaque, tamper-evident paging cursors for keyset pagination.
 *
 * A cursor is base64url (no padding) of: version byte 1, the 8-byte
 * big-endian key to continue after, and the first 16 bytes of an
 * HMAC-SHA256 over those 9 bytes and a scope string.  The scope names the
 * listing and its filters ("products", "products?category=mugs"), so a
 * cursor of one listing is refused by another.
 *
 * The key must be the same in every process of a service, or a cursor
 * handed out by one worker would be refused by the next: cursor_init()
 * reads AGORA_CURSOR_KEY_FILE (at least 16 bytes) when set, else derives
 * the key from the installation's secret (secret.h).  Rotating it merely
 * invalidates outstanding cursors (400, the client starts over).
 */
#ifndef AGORA_CURSOR_H
#define AGORA_CURSOR_H

#include <stddef.h>

/* 0, or -1 and *errstr (unreadable or too short key file). */
int	 cursor_init(const char **errstr);
/* Sets the key directly (tests). */
void	 cursor_set_key(const unsigned char *key, size_t len);
/* A new NUL-terminated cursor the caller frees. */
char	*cursor_encode(const char *scope, long long after);
/* 0 and *after, or -1 with *errstr when malformed, forged or foreign. */
int	 cursor_decode(const char *cursor, const char *scope,
	    long long *after, const char **errstr);

#endif
