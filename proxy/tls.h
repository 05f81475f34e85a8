/*
 * TLS termination on listeners (OpenSSL).
 *
 * tls_config_load() gives every "listen on ... tls { }" of a config one
 * SSL_CTX (struct tls_listener): TLS 1.2 and 1.3 only, its certificates
 * for SNI (the first is the default), client certificates, a session
 * cache and tickets.  It runs after config_check() at startup, for -n and
 * on SIGHUP, so a missing or mismatched certificate or key is reported
 * with the listener's file:line and a reload that brings one is refused.
 * The context belongs to the gw_listen (config_free() frees it); an SSL
 * made from it holds its own reference, so a connection outlives the
 * generation it was accepted under.
 *
 * A struct tls_conn is one server-side connection on a non-blocking fd.
 * The caller owns the fd and the events; the functions below never block
 * and say what they wait for (TLS_IO_WANT_READ, TLS_IO_WANT_WRITE).
 */
#ifndef AGORA_PROXY_TLS_H
#define AGORA_PROXY_TLS_H

#include <sys/types.h>
#include <stddef.h>

#include <openssl/x509.h>

struct evbuffer;
struct gw_config;
struct gw_listen;
struct tls_listener;
struct tls_conn;

/* l_protocols bits; 0 in a gw_listen means both. */
#define TLS_PROTO_TLSV1_2	0x1
#define TLS_PROTO_TLSV1_3	0x2

/* Results of the I/O functions besides a byte count. */
#define TLS_IO_ERROR		(-1)
#define TLS_IO_WANT_READ	(-2)
#define TLS_IO_WANT_WRITE	(-3)

/* The first byte of a TLS handshake record: anything else is not TLS. */
#define TLS_RECORD_HANDSHAKE	0x16

/*
 * Builds the context of every TLS listener of conf (l_tlsctx).  Returns
 * 0, or -1 with every problem logged as "file:line: listener ...: ...".
 */
int		 tls_config_load(struct gw_config *conf);
void		 tls_listener_free(struct tls_listener *);

/* A connection on fd (not taken: the caller closes it), or NULL. */
struct tls_conn	*tls_conn_new(struct tls_listener *, int fd);
/*
 * Sends close_notify once, when the handshake finished and nothing
 * failed; never waits for the peer's.  Then tls_conn_free() frees.
 */
void		 tls_conn_shutdown(struct tls_conn *);
void		 tls_conn_free(struct tls_conn *);

/* 1: done; TLS_IO_WANT_READ/WRITE: call again then; TLS_IO_ERROR. */
int		 tls_conn_handshake(struct tls_conn *, const char **errstr);
/*
 * Reads at most max decrypted bytes into buf: the count, 0 at the end
 * (close_notify or EOF), or TLS_IO_*.
 */
ssize_t		 tls_conn_read(struct tls_conn *, struct evbuffer *,
		    size_t max);
/* Writes from buf (drained by what went out): the count or TLS_IO_*. */
ssize_t		 tls_conn_write(struct tls_conn *, struct evbuffer *);
/* Decrypted bytes OpenSSL holds that no socket event will announce. */
int		 tls_conn_pending(const struct tls_conn *);

/*
 * What the backend learns (SSL_PROTOCOL, SSL_CIPHER, SSL_CLIENT_VERIFY,
 * SSL_CLIENT_S_DN).  The strings belong to the connection; ti_dn is NULL
 * when the client sent no certificate.
 */
struct tls_info {
	const char	*ti_protocol;	/* "TLSv1.3" */
	const char	*ti_cipher;	/* "TLS_AES_256_GCM_SHA384" */
	const char	*ti_verify;	/* SUCCESS, NONE, FAILED:reason */
	const char	*ti_dn;		/* RFC 2253 subject, or NULL */
};
void		 tls_conn_info(struct tls_conn *, struct tls_info *);

/* Pure helpers (unit tests). */
/*
 * Does host (an SNI name) match pattern ("shop.example" or
 * "*.example": one whole leftmost label)?  Case-insensitive.
 */
int		 tls_sni_match(const char *pattern, const char *host);
/*
 * name in RFC 2253 form ("CN=client,O=Agora"), escaped as that RFC
 * says, into out (NUL-terminated, truncated); its length or -1.
 */
int		 tls_dn_format(const X509_NAME *name, char *out, size_t len);
/*
 * "tlsv1.2 tlsv1.3" (spaces or commas, any case) as TLS_PROTO_* bits;
 * -1 for an unknown word or an empty list.
 */
int		 tls_protocols_parse(const char *);

#endif
