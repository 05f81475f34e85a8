/*
 * Per-purpose keys derived from the installation's secret, so that every
 * process of a service (and every restart) derives the same key for the
 * same purpose, and a key for one purpose says nothing about another.
 *
 * The secret is, in order of preference:
 *   1. the contents of AGORA_SECRET_FILE (at least 16 bytes);
 *   2. the contents of AGORA_DB_PASSWORD_FILE, the installation's database
 *      password, never used directly but only as an HMAC key;
 *   3. else random bytes, with a warning: keys then hold only within one
 *      process.
 * A purpose key is HMAC-SHA256(secret, label).  Rotating the secret
 * invalidates what the keys protect (paging cursors, stored request
 * hashes), which fails safe: clients start over.
 */
#ifndef AGORA_SECRET_H
#define AGORA_SECRET_H

#include <stddef.h>

#define SECRET_KEYLEN	32

/* Reads a key file of at most 4 KiB, without a trailing newline: 0 or -1. */
int	secret_read_file(const char *path, unsigned char *buf, size_t size,
	    size_t *len);

/* The key for label ("agora cursor key v1"): 0, or -1 with *errstr. */
int	secret_derive(const char *label, unsigned char out[SECRET_KEYLEN],
	    const char **errstr);

/* Replaces the secret (tests). */
void	secret_set(const unsigned char *secret, size_t len);

#endif
