/*
 * proxy/tls.c: SNI names, RFC 2253 subjects, loading listeners from a
 * parsed config (with file:line errors), and whole handshakes over a
 * socketpair: the certificate SNI picks, the protocol, client
 * certificates and data both ways through tls_conn_read/write.
 * Certificates are made here with OpenSSL, in a temporary directory.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "config.h"
#include "tls.h"
#include "runner.h"

/* CU_ASSERT_*_FATAL leaves by longjmp, which gcc cannot see. */
#pragma GCC diagnostic ignored "-Wnull-dereference"

static char	 dir[] = "/tmp/test_tls.XXXXXX";
static int	 made;

/* dir/name.pem and dir/name.key: a self-signed P-256 cert for cn/san. */
static void
make_cert(const char *name, const char *o, const char *cn, const char *san)
{
	EVP_PKEY	*pk;
	X509		*x;
	X509_NAME	*n;
	X509_EXTENSION	*ext;
	X509V3_CTX	 v3;
	char		 path[PATH_MAX];
	FILE		*f;

	if (!made) {
		if (mkdtemp(dir) == NULL)
			abort();
		made = 1;
	}
	if ((pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (x = X509_new()) == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)o, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	if (san != NULL) {
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3,
		    NID_subject_alt_name, san)) == NULL)
			abort();
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, pk, EVP_sha256()) == 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_X509(f, x))
		abort();
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if ((f = fopen(path, "w")) == NULL ||
	    !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL))
		abort();
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void
setup(void)
{
	if (made)
		return;
	make_cert("a", "Agora", "a.test", "DNS:a.test");
	make_cert("b", "Agora", "b.test", "DNS:b.test");
	make_cert("c", "Agora", "c.test", "DNS:c.test,DNS:*.c.test");
}

/*
 * Parses text as dir/test.conf and loads its TLS listeners; the config
 * or NULL, with what was logged in out (messages only, one per line).
 */
static struct gw_config *
load(const char *text, char *out, size_t outlen)
{
	struct gw_config	*conf;
	char			 path[PATH_MAX], logpath[PATH_MAX], line[2048];
	char			*msg;
	FILE			*f;
	size_t			 n = 0;
	int			 fd;

	setup();
	snprintf(path, sizeof(path), "%s/test.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	snprintf(logpath, sizeof(logpath), "%s/log.XXXXXX", dir);
	if ((fd = mkstemp(logpath)) == -1 || log_open(logpath) == -1)
		abort();
	close(fd);
	if ((conf = config_parse(path)) != NULL &&
	    tls_config_load(conf) == -1) {
		config_free(conf);
		conf = NULL;
	}
	log_open("/dev/stderr");
	out[0] = '\0';
	if ((f = fopen(logpath, "r")) == NULL)
		abort();
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((msg = strstr(line, "]: ")) == NULL ||
		    (msg = strstr(msg + 3, ": ")) == NULL)
			continue;
		msg += 2;
		if (n + strlen(msg) < outlen) {
			memcpy(out + n, msg, strlen(msg) + 1);
			n += strlen(msg);
		}
	}
	fclose(f);
	unlink(logpath);
	return conf;
}

/* ------------------------------------------------------------- pure parts */

static void
t_sni_match(void)
{
	static const struct {
		const char	*pattern, *host;
		int		 want;
	} cases[] = {
		{ "shop.test", "shop.test", 1 },
		{ "shop.test", "SHOP.Test", 1 },
		{ "shop.test", "shop.test.evil", 0 },
		{ "shop.test", "xshop.test", 0 },
		{ "*.shop.test", "a.shop.test", 1 },
		{ "*.shop.test", "A.SHOP.TEST", 1 },
		{ "*.shop.test", "shop.test", 0 },	/* no label */
		{ "*.shop.test", "a.b.shop.test", 0 },	/* one label only */
		{ "*.shop.test", ".shop.test", 0 },
		{ "*.shop.test", "ashop.test", 0 },
		{ "a*.shop.test", "ab.shop.test", 0 },	/* whole labels */
		{ "*", "anything", 0 }
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (tls_sni_match(cases[i].pattern, cases[i].host) !=
		    cases[i].want)
			fprintf(stderr, "sni %s ~ %s\n", cases[i].pattern,
			    cases[i].host);
		CU_ASSERT_EQUAL(tls_sni_match(cases[i].pattern,
		    cases[i].host), cases[i].want);
	}
}

static void
t_dn_format(void)
{
	X509_NAME	*n;
	char		 out[256], tiny[8];

	n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)"Agora Test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8,
	    (const unsigned char *)"Shop, Inc.", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)"Zo\xc3\xab+1", -1, -1, 0);
	/* most specific first, RFC 2253 escapes, UTF-8 kept */
	CU_ASSERT(tls_dn_format(n, out, sizeof(out)) > 0);
	CU_ASSERT_STRING_EQUAL(out,
	    "CN=Zo\xc3\xab\\+1,OU=Shop\\, Inc.,O=Agora Test");
	CU_ASSERT_EQUAL(tls_dn_format(n, tiny, sizeof(tiny)), 7);
	CU_ASSERT_STRING_EQUAL(tiny, "CN=Zo\xc3\xab");
	CU_ASSERT_EQUAL(tls_dn_format(n, tiny, 0), -1);
	X509_NAME_free(n);
}

/* ------------------------------------------------------------- loading */

static void
t_load_ok(void)
{
	struct gw_config	*conf;
	char			 text[2048], out[2048];

	snprintf(text, sizeof(text),
	    "listen on 127.0.0.1 port 8080\n"
	    "listen on 127.0.0.1 port 8443 tls {\n"
	    "\tcertificate \"a.pem\" key \"a.key\"\n"
	    "\tcertificate \"b.pem\" key \"b.key\" name \"b.test\"\n"
	    "}\n");
	conf = load(text, out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_STRING_EQUAL(out, "");
	/* the plain one has none */
	CU_ASSERT_PTR_NULL(TAILQ_FIRST(&conf->conf_listens)->l_tlsctx);
	CU_ASSERT_PTR_NOT_NULL(TAILQ_LAST(&conf->conf_listens,
	    gw_listens)->l_tlsctx);
	config_free(conf);
}

static void
t_load_errors(void)
{
	struct gw_config	*conf;
	char			 text[2048], out[4096], want[1024];

	snprintf(text, sizeof(text),
	    "listen on 127.0.0.1 port 8443 tls {\n"
	    "\tcertificate \"a.pem\" key \"b.key\"\n"
	    "}\n"
	    "listen on 127.0.0.1 port 8444 tls {\n"
	    "\tcertificate \"a.key\" key \"a.key\"\n"
	    "}\n"
	    "listen on 127.0.0.1 port 8445 tls {\n"
	    "\tcertificate \"a.pem\" key \"a.pem\"\n"
	    "}\n"
	    "listen on 127.0.0.1 port 8446 tls {\n"
	    "\tcertificate \"a.pem\" key \"a.key\"\n"
	    "\tclient ca \"a.key\" optional\n"
	    "}\n");
	conf = load(text, out, sizeof(out));
	CU_ASSERT_PTR_NULL(conf);
	/* every one reported, each at its listener's line */
	snprintf(want, sizeof(want), "%s/test.conf:1: listener 127.0.0.1 "
	    "port 8443: key \"%s/b.key\": does not match the certificate\n",
	    dir, dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	snprintf(want, sizeof(want), "%s/test.conf:4: listener 127.0.0.1 "
	    "port 8444: certificate \"%s/a.key\": ", dir, dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	snprintf(want, sizeof(want), "%s/test.conf:7: listener 127.0.0.1 "
	    "port 8445: key \"%s/a.pem\": ", dir, dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	snprintf(want, sizeof(want), "%s/test.conf:10: listener 127.0.0.1 "
	    "port 8446: client ca \"%s/a.key\": ", dir, dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
}

/* ----------------------------------------------------------- handshakes */

struct pair {
	struct tls_conn	*server;
	SSL_CTX		*cctx;
	SSL		*client;
	int		 fd[2];
};

/*
 * A client (SNI sni, certificate cert or none) against listener l over
 * a socketpair, both ends non-blocking, stepped until both are done.
 * Returns 1 when the handshake worked.
 */
static int
pair_connect(struct pair *p, struct gw_listen *l, const char *sni,
    const char *cert, int maxver)
{
	char	 path[PATH_MAX];
	int	 i, s = 0, c = 0, r;

	memset(p, 0, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd) == -1)
		abort();
	fcntl(p->fd[0], F_SETFL, O_NONBLOCK);
	fcntl(p->fd[1], F_SETFL, O_NONBLOCK);
	p->server = tls_conn_new(l->l_tlsctx, p->fd[0]);
	p->cctx = SSL_CTX_new(TLS_client_method());
	if (maxver)
		SSL_CTX_set_max_proto_version(p->cctx, maxver);
	if (cert != NULL) {
		snprintf(path, sizeof(path), "%s/%s.pem", dir, cert);
		SSL_CTX_use_certificate_file(p->cctx, path, SSL_FILETYPE_PEM);
		snprintf(path, sizeof(path), "%s/%s.key", dir, cert);
		SSL_CTX_use_PrivateKey_file(p->cctx, path, SSL_FILETYPE_PEM);
	}
	p->client = SSL_new(p->cctx);
	SSL_set_fd(p->client, p->fd[1]);
	SSL_set_connect_state(p->client);
	if (sni != NULL)
		SSL_set_tlsext_host_name(p->client, sni);
	for (i = 0; i < 100 && (!s || !c); i++) {
		if (!s) {
			const char *errstr;

			r = tls_conn_handshake(p->server, &errstr);
			if (r == TLS_IO_ERROR)
				return 0;
			s = r == 1;
		}
		if (!c) {
			r = SSL_do_handshake(p->client);
			if (r == 1)
				c = 1;
			else if (SSL_get_error(p->client, r) !=
			    SSL_ERROR_WANT_READ &&
			    SSL_get_error(p->client, r) !=
			    SSL_ERROR_WANT_WRITE)
				return 0;
		}
	}
	ERR_clear_error();
	return s && c;
}

static void
pair_close(struct pair *p)
{
	tls_conn_free(p->server);
	SSL_free(p->client);
	SSL_CTX_free(p->cctx);
	close(p->fd[0]);
	close(p->fd[1]);
}

/* The CN of the certificate the client got. */
static void
peer_cn(SSL *ssl, char *out, size_t len)
{
	X509	*x = SSL_get0_peer_certificate(ssl);

	out[0] = '\0';
	if (x != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, out, (int)len);
}

static void
t_handshake_sni(void)
{
	struct gw_config	*conf;
	struct gw_listen	*l;
	struct pair		 p;
	struct tls_info		 ti;
	char			 out[2048], cn[64];
	static const struct {
		const char	*sni, *want;
	} cases[] = {
		{ NULL, "a.test" },
		{ "a.test", "a.test" },
		{ "b.test", "b.test" },		/* "name" */
		{ "B.TEST", "b.test" },
		{ "x.c.test", "c.test" },	/* "*.c.test" */
		{ "c.test", "a.test" },		/* not by "*.c.test" */
		{ "nobody.test", "a.test" }	/* the default */
	};
	size_t			 i;

	/* the default (no name) need not come first */
	conf = load("listen on 127.0.0.1 port 8443 tls {\n"
	    "\tcertificate \"b.pem\" key \"b.key\" name \"b.test\"\n"
	    "\tcertificate \"a.pem\" key \"a.key\"\n"
	    "\tcertificate \"c.pem\" key \"c.key\" name \"*.c.test\"\n"
	    "}\n", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	l = TAILQ_FIRST(&conf->conf_listens);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_FATAL(pair_connect(&p, l, cases[i].sni, NULL, 0));
		peer_cn(p.client, cn, sizeof(cn));
		CU_ASSERT_STRING_EQUAL(cn, cases[i].want);
		pair_close(&p);
	}

	/* TLS 1.2, and data both ways */
	CU_ASSERT_FATAL(pair_connect(&p, l, "b.test", NULL, TLS1_2_VERSION));
	tls_conn_info(p.server, &ti);
	CU_ASSERT_STRING_EQUAL(ti.ti_protocol, "TLSv1.2");
	CU_ASSERT_STRING_EQUAL(ti.ti_verify, "NONE");
	CU_ASSERT_PTR_NULL(ti.ti_dn);
	{
		struct evbuffer	*in = evbuffer_new(), *o = evbuffer_new();
		char		 buf[64];
		int		 n;

		CU_ASSERT_EQUAL(tls_conn_read(p.server, in, 100),
		    TLS_IO_WANT_READ);
		CU_ASSERT_EQUAL(SSL_write(p.client, "GET / HTTP/1.1\r\n\r\n",
		    18), 18);
		/* asked for less than is there: the rest is pending */
		CU_ASSERT_EQUAL(tls_conn_read(p.server, in, 4), 4);
		CU_ASSERT(tls_conn_pending(p.server));
		CU_ASSERT_EQUAL(tls_conn_read(p.server, in, 100), 14);
		CU_ASSERT_FALSE(tls_conn_pending(p.server));
		CU_ASSERT_EQUAL(evbuffer_get_length(in), 18);
		evbuffer_add(o, "HTTP/1.1 200 OK\r\n", 17);
		evbuffer_add(o, "\r\n", 2);
		CU_ASSERT_EQUAL(tls_conn_write(p.server, o), 19);
		CU_ASSERT_EQUAL(evbuffer_get_length(o), 0);
		n = SSL_read(p.client, buf, sizeof(buf));
		CU_ASSERT_EQUAL(n, 19);
		/* close_notify reaches the client */
		tls_conn_shutdown(p.server);
		n = SSL_read(p.client, buf, sizeof(buf));
		CU_ASSERT_EQUAL(n, 0);
		CU_ASSERT_EQUAL(SSL_get_error(p.client, n),
		    SSL_ERROR_ZERO_RETURN);
		evbuffer_free(in);
		evbuffer_free(o);
	}
	pair_close(&p);
	config_free(conf);
}

static void
t_handshake_client_cert(void)
{
	struct gw_config	*conf;
	struct gw_listen	*opt, *req;
	struct pair		 p;
	struct tls_info		 ti;
	char			 out[2048];

	/* a.pem is its own CA: trusted; b.pem is not */
	conf = load("listen on 127.0.0.1 port 8443 tls {\n"
	    "\tcertificate \"c.pem\" key \"c.key\"\n"
	    "\tclient ca \"a.pem\" optional\n"
	    "}\n"
	    "listen on 127.0.0.1 port 8444 tls {\n"
	    "\tcertificate \"c.pem\" key \"c.key\"\n"
	    "\tclient ca \"a.pem\"\n"
	    "}\n", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	opt = TAILQ_FIRST(&conf->conf_listens);
	req = TAILQ_NEXT(opt, l_entry);

	CU_ASSERT_FATAL(pair_connect(&p, opt, NULL, NULL, 0));
	tls_conn_info(p.server, &ti);
	CU_ASSERT_STRING_EQUAL(ti.ti_protocol, "TLSv1.3");
	CU_ASSERT_STRING_EQUAL(ti.ti_verify, "NONE");
	CU_ASSERT_PTR_NULL(ti.ti_dn);
	pair_close(&p);

	CU_ASSERT_FATAL(pair_connect(&p, opt, NULL, "a", 0));
	tls_conn_info(p.server, &ti);
	CU_ASSERT_STRING_EQUAL(ti.ti_verify, "SUCCESS");
	CU_ASSERT_STRING_EQUAL(ti.ti_dn, "CN=a.test,O=Agora");
	pair_close(&p);

	CU_ASSERT_FATAL(pair_connect(&p, opt, NULL, "b", 0));
	tls_conn_info(p.server, &ti);
	CU_ASSERT_EQUAL(strncmp(ti.ti_verify, "FAILED:", 7), 0);
	CU_ASSERT(strlen(ti.ti_verify) > 7);
	CU_ASSERT_STRING_EQUAL(ti.ti_dn, "CN=b.test,O=Agora");
	pair_close(&p);

	/* required: no certificate, or an untrusted one, fails */
	CU_ASSERT_FALSE(pair_connect(&p, req, NULL, NULL, 0));
	pair_close(&p);
	CU_ASSERT_FALSE(pair_connect(&p, req, NULL, "b", 0));
	pair_close(&p);
	CU_ASSERT_TRUE(pair_connect(&p, req, NULL, "a", TLS1_2_VERSION));
	pair_close(&p);
	config_free(conf);
}

static void
t_protocols_parse(void)
{
	static const struct {
		const char	*list;
		int		 want;
	} cases[] = {
		{ "tlsv1.2", TLS_PROTO_TLSV1_2 },
		{ "TLSv1.3", TLS_PROTO_TLSV1_3 },
		{ "tlsv1.2 tlsv1.3", TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3 },
		{ " tlsv1.3,tlsv1.2 ", TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3 },
		{ "", -1 },
		{ " , ", -1 },
		{ "tlsv1.1", -1 },
		{ "tlsv1.2 sslv3", -1 },
		{ "tlsv1.20", -1 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(tls_protocols_parse(cases[i].list),
		    cases[i].want);
}

static const struct unit_case cases[] = {
	{ "protocols_parse", t_protocols_parse },
	{ "sni_match", t_sni_match },
	{ "dn_format", t_dn_format },
	{ "load_ok", t_load_ok },
	{ "load_errors", t_load_errors },
	{ "handshake_sni", t_handshake_sni },
	{ "handshake_client_cert", t_handshake_client_cert },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	char	 cmd[PATH_MAX + 16];
	int	 r;

	r = unit_main(argc, argv, "tls", cases);
	if (made) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	return r;
}
