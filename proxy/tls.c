/*
 * TLS termination on listeners: one SSL_CTX per "listen on ... tls",
 * certificates picked by SNI, client certificates, and the non-blocking
 * connection calls http.c drives from its own events.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "tls.h"

/*
 * TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's
 * "intermediate" list); TLS 1.3 keeps OpenSSL's suites, all good.
 */
#define TLS_CIPHERS_DEFAULT						\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
#define TLS_SESSION_CACHE	20480	/* sessions per listener */
#define TLS_SESSION_TIMEOUT	300	/* seconds */
#define TLS_SESSION_CTX		"agora-gateway"

/* One certificate of a listener, as loaded. */
struct tls_cert {
	char		*te_name;	/* "name HOST"; NULL: the default */
	X509		*te_x509;
	EVP_PKEY	*te_key;
	STACK_OF(X509)	*te_chain;
};

/*
 * Hangs off its SSL_CTX (ex_data) and goes with the context's last
 * reference: a handshake running on a loop thread still reads the table
 * after a reload freed the config that made it.
 */
struct tls_listener {
	SSL_CTX		*tl_ctx;
	struct tls_cert	*tl_certs;	/* [0]: the default */
	int		 tl_ncerts;
};

struct tls_conn {
	SSL		*tc_ssl;
	int		 tc_failed;	/* no close_notify after an error */
	int		 tc_shut;
	int		 tc_info;	/* the strings below are set */
	char		*tc_verify;
	char		*tc_dn;
};

static pthread_once_t	 tls_once = PTHREAD_ONCE_INIT;
static int		 tls_ex_index = -1;

int
tls_protocols_parse(const char *list)
{
	static const struct {
		const char	*name;
		int		 bit;
	} protos[] = {
		{ "tlsv1.2", TLS_PROTO_TLSV1_2 },
		{ "tlsv1.3", TLS_PROTO_TLSV1_3 },
	};
	const char	*p = list;
	size_t		 n, i;
	int		 mask = 0;

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		n = strcspn(p, " \t,");
		for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
			if (strlen(protos[i].name) == n &&
			    strncasecmp(p, protos[i].name, n) == 0)
				break;
		if (i == sizeof(protos) / sizeof(protos[0]))
			return (-1);
		mask |= protos[i].bit;
		p += n;
	}
	return (mask == 0 ? -1 : mask);
}

int
tls_sni_match(const char *pattern, const char *host)
{
	const char	*dot;
	size_t		 plen, hlen;

	if (strcasecmp(pattern, host) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	/* "*.example" matches "a.example", not "example" nor "a.b.example" */
	if ((dot = strchr(host, '.')) == NULL || dot == host)
		return 0;
	plen = strlen(pattern + 1);
	hlen = strlen(dot);
	return plen == hlen && strcasecmp(pattern + 1, dot) == 0;
}

int
tls_dn_format(const X509_NAME *name, char *out, size_t len)
{
	BIO	*bio;
	char	*p;
	long	 n;
	int	 r = -1;

	if (len == 0 || (bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	/* UTF-8 stays UTF-8 (as nginx's $ssl_client_s_dn) */
	if (X509_NAME_print_ex(bio, name, 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(bio, &p);
		if (n < 0)
			n = 0;
		if ((size_t)n >= len)
			n = len - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		r = (int)n;
	}
	BIO_free(bio);
	return r;
}

/* ------------------------------------------------------------ contexts */

static void
tls_listener_destroy(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct tls_listener	*tl = ptr;
	int			 i;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (tl == NULL)
		return;
	for (i = 0; i < tl->tl_ncerts; i++) {
		free(tl->tl_certs[i].te_name);
		X509_free(tl->tl_certs[i].te_x509);
		EVP_PKEY_free(tl->tl_certs[i].te_key);
		sk_X509_pop_free(tl->tl_certs[i].te_chain, X509_free);
	}
	free(tl->tl_certs);
	free(tl);
}

static void
tls_init(void)
{
	tls_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_listener_destroy);
}

void
tls_listener_free(struct tls_listener *tl)
{
	if (tl == NULL)
		return;
	/* the table goes with the context's last reference */
	SSL_CTX_free(tl->tl_ctx);
}

/* The last OpenSSL error as a sentence, clearing the queue. */
static const char *
tls_error(const char *fallback)
{
	unsigned long	 e;
	const char	*s = NULL;

	if ((e = ERR_peek_last_error()) != 0)
		s = ERR_reason_error_string(e);
	ERR_clear_error();
	return s != NULL ? s : fallback;
}

/* Encrypted keys would prompt on the terminal: refuse them instead. */
static int
tls_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A PEM chain (leaf first) and its key into te; 0 or -1 and *errstr. */
static int
tls_cert_load(struct tls_cert *te, const struct gw_tls_cert *tc,
    const char **what, const char **errstr)
{
	BIO	*bio;
	X509	*x;

	*what = "certificate";
	if ((bio = BIO_new_file(tc->tc_cert, "r")) == NULL) {
		*errstr = strerror(errno);
		ERR_clear_error();
		return -1;
	}
	te->te_x509 = PEM_read_bio_X509(bio, NULL, tls_no_password, NULL);
	if (te->te_x509 == NULL) {
		*errstr = tls_error("no PEM certificate");
		BIO_free(bio);
		return -1;
	}
	te->te_chain = sk_X509_new_null();
	while ((x = PEM_read_bio_X509(bio, NULL, tls_no_password, NULL)) !=
	    NULL)
		sk_X509_push(te->te_chain, x);
	ERR_clear_error();	/* the end of the file */
	BIO_free(bio);

	*what = "key";
	if ((bio = BIO_new_file(tc->tc_key, "r")) == NULL) {
		*errstr = strerror(errno);
		ERR_clear_error();
		return -1;
	}
	te->te_key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_password,
	    NULL);
	BIO_free(bio);
	if (te->te_key == NULL) {
		*errstr = tls_error("no PEM private key (or an encrypted "
		    "one)");
		return -1;
	}
	if (X509_check_private_key(te->te_x509, te->te_key) != 1) {
		*errstr = "does not match the certificate";
		ERR_clear_error();
		return -1;
	}
	te->te_name = tc->tc_name != NULL ? xstrdup(tc->tc_name) : NULL;
	return 0;
}

static void
tls_listen_err(const struct gw_listen *l, const char *what, const char *path,
    const char *errstr)
{
	if (path != NULL)
		log_warnx("%s:%d: listener %s port %s: %s \"%s\": %s",
		    l->l_file, l->l_line, l->l_addr, l->l_port, what, path,
		    errstr);
	else
		log_warnx("%s:%d: listener %s port %s: %s: %s", l->l_file,
		    l->l_line, l->l_addr, l->l_port, what, errstr);
}

/* Loads tc as the next certificate of tl; 0, or -1 with file:line. */
static int
tls_cert_add(struct tls_listener *tl, const struct gw_listen *l,
    const struct gw_tls_cert *tc)
{
	const char	*what, *errstr;

	if (tls_cert_load(&tl->tl_certs[tl->tl_ncerts++], tc, &what,
	    &errstr) == 0)
		return 0;
	tls_listen_err(l, what, strcmp(what, "key") == 0 ? tc->tc_key :
	    tc->tc_cert, errstr);
	return -1;
}

/*
 * SNI: runs after the ClientHello is read, before the certificate is
 * chosen.  A "name" matches as written (one "*." label allowed), in
 * the order of the config.  No match, or no SNI at all: the default,
 * already the context's.
 */
static int
tls_cert_cb(SSL *ssl, void *arg)
{
	struct tls_listener	*tl = arg;
	struct tls_cert		*te;
	const char		*host;
	int			 i;

	host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (host == NULL || tl->tl_ncerts < 2)
		return 1;
	for (i = 1; i < tl->tl_ncerts; i++) {
		te = &tl->tl_certs[i];
		if (te->te_name != NULL && tls_sni_match(te->te_name, host))
			break;
	}
	if (i == tl->tl_ncerts)
		return 1;
	return SSL_use_cert_and_key(ssl, te->te_x509, te->te_key,
	    te->te_chain, 1) == 1;
}

/* "client ca F optional": the handshake goes on; the result is a param. */
static int
tls_verify_optional(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

/* The context of one listener; NULL with the problems logged. */
static struct tls_listener *
tls_listener_new(const struct gw_listen *l)
{
	struct tls_listener		*tl;
	const struct gw_tls_cert	*tc, *def;
	struct tls_cert			*te;
	STACK_OF(X509_NAME)		*cas;
	int				 n = 0, bad = 0, mask;
	long				 opts;

	pthread_once(&tls_once, tls_init);
	tl = xcalloc(1, sizeof(*tl));
	if ((tl->tl_ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_listen_err(l, "tls", NULL, tls_error("SSL_CTX_new"));
		free(tl);
		return NULL;
	}
	/* from here the context owns tl */
	SSL_CTX_set_ex_data(tl->tl_ctx, tls_ex_index, tl);

	/*
	 * The default is the one without a name (parse.y allows one), else
	 * the first; it goes to [0], the named ones follow in order.
	 */
	def = NULL;
	TAILQ_FOREACH(tc, &l->l_certs, tc_entry) {
		if (tc->tc_name == NULL && def == NULL)
			def = tc;
		n++;
	}
	if (def == NULL)
		def = TAILQ_FIRST(&l->l_certs);
	if (def == NULL) {
		tls_listen_err(l, "tls", NULL, "no certificate");
		goto fail;
	}
	tl->tl_certs = xcalloc(n, sizeof(*tl->tl_certs));
	if (tls_cert_add(tl, l, def) == -1)
		bad = 1;
	TAILQ_FOREACH(tc, &l->l_certs, tc_entry)
		if (tc != def && tls_cert_add(tl, l, tc) == -1)
			bad = 1;
	if (bad)
		goto fail;
	te = &tl->tl_certs[0];
	if (SSL_CTX_use_cert_and_key(tl->tl_ctx, te->te_x509, te->te_key,
	    te->te_chain, 1) != 1) {
		tls_listen_err(l, "certificate", def->tc_cert,
		    tls_error("unusable"));
		goto fail;
	}
	SSL_CTX_set_cert_cb(tl->tl_ctx, tls_cert_cb, tl);

	mask = l->l_protocols != 0 ? l->l_protocols :
	    TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3;
	SSL_CTX_set_min_proto_version(tl->tl_ctx,
	    (mask & TLS_PROTO_TLSV1_2) ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(tl->tl_ctx,
	    (mask & TLS_PROTO_TLSV1_3) ? TLS1_3_VERSION : TLS1_2_VERSION);
	if (SSL_CTX_set_cipher_list(tl->tl_ctx, l->l_ciphers != NULL ?
	    l->l_ciphers : TLS_CIPHERS_DEFAULT) != 1) {
		tls_listen_err(l, "ciphers", l->l_ciphers,
		    tls_error("no usable cipher"));
		goto fail;
	}
	SSL_CTX_set_dh_auto(tl->tl_ctx, 1);
	opts = SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* a client that closes without close_notify is at its end */
	opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
	SSL_CTX_set_options(tl->tl_ctx, opts);
	/*
	 * Partial writes: http.c drains what went out.  Idle keep-alive
	 * connections give their 2 x 16 KB record buffers back.  The chain
	 * is the file's: without NO_AUTO_CHAIN OpenSSL would build one from
	 * the trust store on every handshake (nginx turns it off too).
	 */
	SSL_CTX_set_mode(tl->tl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_NO_AUTO_CHAIN);

	/* resumption: a server-side cache (1.2) and tickets (both) */
	SSL_CTX_set_session_cache_mode(tl->tl_ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(tl->tl_ctx, TLS_SESSION_CACHE);
	SSL_CTX_set_timeout(tl->tl_ctx, TLS_SESSION_TIMEOUT);
	SSL_CTX_set_num_tickets(tl->tl_ctx, 1);
	SSL_CTX_set_session_id_context(tl->tl_ctx,
	    (const unsigned char *)TLS_SESSION_CTX,
	    sizeof(TLS_SESSION_CTX) - 1);

	if (l->l_client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(tl->tl_ctx, l->l_client_ca,
		    NULL) != 1 ||
		    (cas = SSL_load_client_CA_file(l->l_client_ca)) == NULL) {
			tls_listen_err(l, "client ca", l->l_client_ca,
			    tls_error("no PEM certificate"));
			goto fail;
		}
		SSL_CTX_set_client_CA_list(tl->tl_ctx, cas);
		if (l->l_client_verify == GW_VERIFY_OPTIONAL)
			SSL_CTX_set_verify(tl->tl_ctx, SSL_VERIFY_PEER,
			    tls_verify_optional);
		else if (l->l_client_verify == GW_VERIFY_REQUIRED)
			SSL_CTX_set_verify(tl->tl_ctx, SSL_VERIFY_PEER |
			    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return tl;
 fail:
	ERR_clear_error();
	SSL_CTX_free(tl->tl_ctx);	/* frees tl */
	return NULL;
}

int
tls_config_load(struct gw_config *conf)
{
	struct gw_listen	*l;
	int			 bad = 0;

	TAILQ_FOREACH(l, &conf->conf_listens, l_entry) {
		if (!l->l_tls || l->l_tlsctx != NULL)
			continue;
		if ((l->l_tlsctx = tls_listener_new(l)) == NULL)
			bad = 1;
	}
	return bad ? -1 : 0;
}

/* ---------------------------------------------------------- connections */

struct tls_conn *
tls_conn_new(struct tls_listener *tl, int fd)
{
	struct tls_conn	*tc;
	SSL		*ssl;

	if ((ssl = SSL_new(tl->tl_ctx)) == NULL) {
		log_warnx("%s: %s", __func__, tls_error("SSL_new failed"));
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		log_warnx("%s: %s", __func__, tls_error("SSL_set_fd failed"));
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	tc = xcalloc(1, sizeof(*tc));
	tc->tc_ssl = ssl;
	return tc;
}

/* The result of an SSL call that returned n <= 0, as TLS_IO_* or 0. */
static int
tls_conn_result(struct tls_conn *tc, int n)
{
	switch (SSL_get_error(tc->tc_ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;	/* close_notify (or EOF, ignored above) */
	case SSL_ERROR_SYSCALL:
		tc->tc_failed = 1;
		if (errno == 0)
			errno = ECONNRESET;
		return TLS_IO_ERROR;
	default:
		tc->tc_failed = 1;
		errno = EPROTO;
		return TLS_IO_ERROR;
	}
}

int
tls_conn_handshake(struct tls_conn *tc, const char **errstr)
{
	int	 n, r;

	ERR_clear_error();
	if ((n = SSL_do_handshake(tc->tc_ssl)) == 1)
		return 1;
	r = tls_conn_result(tc, n);
	if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE)
		return r;
	tc->tc_failed = 1;
	*errstr = r == 0 ? "closed during the handshake" :
	    tls_error("handshake failed");
	ERR_clear_error();
	return TLS_IO_ERROR;
}

ssize_t
tls_conn_read(struct tls_conn *tc, struct evbuffer *buf, size_t max)
{
	struct evbuffer_iovec	 v;
	int			 n;

	if (max > INT_MAX)
		max = INT_MAX;
	if (evbuffer_reserve_space(buf, max, &v, 1) < 1) {
		errno = ENOMEM;
		return TLS_IO_ERROR;
	}
	ERR_clear_error();
	if ((n = SSL_read(tc->tc_ssl, v.iov_base, (int)max)) > 0) {
		v.iov_len = n;
		evbuffer_commit_space(buf, &v, 1);
		return n;
	}
	return tls_conn_result(tc, n);
}

ssize_t
tls_conn_write(struct tls_conn *tc, struct evbuffer *buf)
{
	struct evbuffer_iovec	 v;
	size_t			 len;
	void			*p;
	int			 n;

	if ((len = evbuffer_get_length(buf)) == 0)
		return 0;
	/*
	 * One full record per call: a response head and body often sit in
	 * small chunks, and a record each would cost 22 bytes and an AEAD
	 * pass apiece.  The pullup copies at most 16 KB.
	 */
	if (len > 16384)
		len = 16384;
	if (evbuffer_peek(buf, len, NULL, &v, 1) >= 1 && v.iov_len >= len)
		p = v.iov_base;
	else if ((p = evbuffer_pullup(buf, len)) == NULL) {
		errno = ENOMEM;
		return TLS_IO_ERROR;
	}
	ERR_clear_error();
	if ((n = SSL_write(tc->tc_ssl, p, (int)len)) > 0) {
		evbuffer_drain(buf, n);
		return n;
	}
	n = tls_conn_result(tc, n);
	return n == 0 ? TLS_IO_ERROR : n;
}

int
tls_conn_pending(const struct tls_conn *tc)
{
	return SSL_pending(tc->tc_ssl) > 0;
}

void
tls_conn_shutdown(struct tls_conn *tc)
{
	if (tc == NULL || tc->tc_shut || tc->tc_failed ||
	    !SSL_is_init_finished(tc->tc_ssl))
		return;
	tc->tc_shut = 1;
	ERR_clear_error();
	/* sends our close_notify; the peer's is not waited for */
	(void)SSL_shutdown(tc->tc_ssl);
	ERR_clear_error();
}

void
tls_conn_free(struct tls_conn *tc)
{
	if (tc == NULL)
		return;
	tls_conn_shutdown(tc);
	SSL_free(tc->tc_ssl);
	free(tc->tc_verify);
	free(tc->tc_dn);
	free(tc);
}

void
tls_conn_info(struct tls_conn *tc, struct tls_info *ti)
{
	X509		*peer;
	long		 res;
	char		 dn[1024];

	if (!tc->tc_info) {
		tc->tc_info = 1;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		peer = SSL_get0_peer_certificate(tc->tc_ssl);
#else
		peer = SSL_get_peer_certificate(tc->tc_ssl);
		X509_free(peer);	/* the session holds it */
#endif
		if (peer == NULL)
			tc->tc_verify = xstrdup("NONE");
		else {
			res = SSL_get_verify_result(tc->tc_ssl);
			if (res == X509_V_OK)
				tc->tc_verify = xstrdup("SUCCESS");
			else
				xasprintf(&tc->tc_verify, "FAILED:%s",
				    X509_verify_cert_error_string(res));
			if (tls_dn_format(X509_get_subject_name(peer), dn,
			    sizeof(dn)) >= 0)
				tc->tc_dn = xstrdup(dn);
		}
	}
	ti->ti_protocol = SSL_get_version(tc->tc_ssl);
	ti->ti_cipher = SSL_get_cipher_name(tc->tc_ssl);
	ti->ti_verify = tc->tc_verify;
	ti->ti_dn = tc->tc_dn;
}
