/*
 * The configuration once parsed: defaults, the check pass that ties the
 * rules to the services, lookups and freeing.  The grammar is parse.y.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "rules.h"
#include "jwt.h"
#include "ratelimit.h"
#include "auth.h"
#include "tls.h"

/* Settings a service leaves unset (-1) get these. */
static const struct config_default {
	size_t		 d_off;
	int		 d_value;
} config_service_defaults[] = {
	{ offsetof(struct gw_service, svc_processes),		1 },
	{ offsetof(struct gw_service, svc_queue),		64 },
	{ offsetof(struct gw_service, svc_queue_timeout),	5000 },
	{ offsetof(struct gw_service, svc_connect_timeout),	1000 },
	{ offsetof(struct gw_service, svc_read_timeout),	30000 },
	{ offsetof(struct gw_service, svc_retries),		1 },
	{ offsetof(struct gw_service, svc_fail_max),		5 },
	{ offsetof(struct gw_service, svc_fail_window),		10000 },
	{ offsetof(struct gw_service, svc_fail_down),		10000 },
	{ offsetof(struct gw_service, svc_check_interval),	2000 },
	{ offsetof(struct gw_service, svc_check_rise),		2 },
	{ offsetof(struct gw_service, svc_check_fall),		3 },
	{ offsetof(struct gw_service, svc_balance),	GW_BALANCE_ROUNDROBIN },
};

/* Global settings left unset (-1) get these. */
static const struct config_default config_global_defaults[] = {
	{ offsetof(struct gw_config, conf_workers),		0 },
	{ offsetof(struct gw_config, conf_idle_timeout),	60000 },
	{ offsetof(struct gw_config, conf_max_headers),		100 },
	{ offsetof(struct gw_config, conf_header_timeout),	10000 },
	{ offsetof(struct gw_config, conf_body_timeout),	30000 },
	{ offsetof(struct gw_config, conf_send_timeout),	30000 },
	{ offsetof(struct gw_config, conf_max_requests),	1000 },
	{ offsetof(struct gw_config, conf_max_client_conns),	256 },
};

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Sets every int the table names to -1, "unset". */
static void
config_unset(void *base, const struct config_default *d, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		*(int *)((char *)base + d[i].d_off) = -1;
}

/* Gives every int still -1 its default. */
static void
config_merge(void *base, const struct config_default *d, size_t n)
{
	size_t	 i;
	int	*v;

	for (i = 0; i < n; i++) {
		v = (int *)((char *)base + d[i].d_off);
		if (*v == -1)
			*v = d[i].d_value;
	}
}

/* Every breaker setting "unset". */
static void
config_breaker_unset(struct gw_breaker *b)
{
	b->b_window = b->b_buckets = b->b_volume = b->b_error_pct = -1;
	b->b_sleep = b->b_probes = b->b_slow = -1;
}

#define CONFIG_MAX_BODY		(1024 * 1024)
#define CONFIG_MAX_HEADER	(8 * 1024)

struct gw_config *
config_new(const char *file)
{
	struct gw_config	*conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->conf_file = xstrdup(file);
	config_unset(conf, config_global_defaults,
	    nitems(config_global_defaults));
	TAILQ_INIT(&conf->conf_listens);
	TAILQ_INIT(&conf->conf_admin);
	TAILQ_INIT(&conf->conf_services);
	TAILQ_INIT(&conf->conf_ratelimits);
	config_breaker_unset(&conf->conf_breaker);
	return conf;
}

struct gw_service *
config_service_new(const char *name)
{
	struct gw_service	*svc;

	svc = xcalloc(1, sizeof(*svc));
	svc->svc_name = xstrdup(name);
	TAILQ_INIT(&svc->svc_args);
	TAILQ_INIT(&svc->svc_env);
	TAILQ_INIT(&svc->svc_params);
	TAILQ_INIT(&svc->svc_servers);
	config_unset(svc, config_service_defaults,
	    nitems(config_service_defaults));
	svc->svc_max_conns = -1;
	config_breaker_unset(&svc->svc_breaker);
	return svc;
}

/* The one place where unset settings get their defaults. */
void
config_defaults(struct gw_config *conf)
{
	struct gw_service	*svc;

	config_merge(conf, config_global_defaults,
	    nitems(config_global_defaults));
	if (conf->conf_max_body == 0)
		conf->conf_max_body = CONFIG_MAX_BODY;
	if (conf->conf_max_header == 0)
		conf->conf_max_header = CONFIG_MAX_HEADER;
	if (conf->conf_ratelimit_keys == 0)
		conf->conf_ratelimit_keys = 100000;
	if (conf->conf_jwt != NULL) {
		if (conf->conf_jwt->jwt_refresh == -1)
			conf->conf_jwt->jwt_refresh = 300000;
		if (conf->conf_jwt->jwt_leeway == -1)
			conf->conf_jwt->jwt_leeway = 60000;
	}
	TAILQ_FOREACH(svc, &conf->conf_services, svc_entry) {
		config_merge(svc, config_service_defaults,
		    nitems(config_service_defaults));
		/* never more connections than processes to serve them */
		if (svc->svc_max_conns == -1)
			svc->svc_max_conns = svc->svc_processes;
	}
}

static int
config_wildcard(const char *addr)
{
	return strcmp(addr, "*") == 0 || strcmp(addr, "0.0.0.0") == 0 ||
	    strcmp(addr, "::") == 0;
}

/* Two listeners on one port clash when an address is equal or "*". */
static int
config_check_listens(struct gw_config *conf)
{
	struct gw_listens	*heads[] = { &conf->conf_listens,
				    &conf->conf_admin };
	struct gw_listen	*l, *m;
	size_t			 i, j;
	int			 bad = 0;

	for (i = 0; i < 2; i++) {
		TAILQ_FOREACH(l, heads[i], l_entry) {
			for (j = 0; j <= i; j++) {
				TAILQ_FOREACH(m, heads[j], l_entry) {
					if (m == l)
						break;
					if (strcmp(l->l_port, m->l_port) != 0)
						continue;
					if (strcmp(l->l_addr, m->l_addr) != 0 &&
					    !config_wildcard(l->l_addr) &&
					    !config_wildcard(m->l_addr))
						continue;
					log_warnx("%s:%d: listener %s port %s "
					    "clashes with %s port %s at "
					    "%s:%d", l->l_file, l->l_line,
					    l->l_addr, l->l_port, m->l_addr,
					    m->l_port, m->l_file, m->l_line);
					bad = 1;
					goto next;
				}
			}
 next:
			;
		}
	}
	return bad ? -1 : 0;
}

/* A file the gateway opens later (as root, before dropping privileges). */
static int
config_check_file(const struct gw_listen *l, const char *what,
    const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	log_warnx("%s:%d: listener %s port %s: %s \"%s\": %s", l->l_file,
	    l->l_line, l->l_addr, l->l_port, what, path, strerror(errno));
	return -1;
}

/* TLS listeners need a certificate; the files must be readable. */
static int
config_check_tls(struct gw_config *conf)
{
	struct gw_listen	*l;
	struct gw_tls_cert	*tc;
	int			 bad = 0;

	TAILQ_FOREACH(l, &conf->conf_listens, l_entry) {
		if (l->l_tls && TAILQ_EMPTY(&l->l_certs)) {
			log_warnx("%s:%d: listener %s port %s: tls without "
			    "a certificate", l->l_file, l->l_line, l->l_addr,
			    l->l_port);
			bad = 1;
		}
		TAILQ_FOREACH(tc, &l->l_certs, tc_entry) {
			if (config_check_file(l, "certificate",
			    tc->tc_cert) == -1)
				bad = 1;
			if (config_check_file(l, "key", tc->tc_key) == -1)
				bad = 1;
		}
		if (l->l_client_ca != NULL && config_check_file(l,
		    "client ca", l->l_client_ca) == -1)
			bad = 1;
	}
	return bad ? -1 : 0;
}

static int
config_check_services(struct gw_config *conf)
{
	struct gw_service	*svc, *s;
	int			 bad = 0;

	TAILQ_FOREACH(svc, &conf->conf_services, svc_entry) {
		for (s = TAILQ_FIRST(&conf->conf_services); s != svc;
		    s = TAILQ_NEXT(s, svc_entry)) {
			if (strcmp(s->svc_name, svc->svc_name) == 0) {
				log_warnx("%s:%d: duplicate service \"%s\" "
				    "(first at %s:%d)", svc->svc_file,
				    svc->svc_line, svc->svc_name,
				    s->svc_file, s->svc_line);
				bad = 1;
				break;
			}
			if (s->svc_socket != NULL && svc->svc_socket != NULL &&
			    strcmp(s->svc_socket, svc->svc_socket) == 0) {
				log_warnx("%s:%d: service \"%s\": socket "
				    "\"%s\" is already service \"%s\"'s",
				    svc->svc_file, svc->svc_line,
				    svc->svc_name, svc->svc_socket,
				    s->svc_name);
				bad = 1;
				break;
			}
		}
	}
	return bad ? -1 : 0;
}

/*
 * Every route's service must exist; a service no route uses is odd, but
 * only worth a word when nothing worse was found.
 */
static int
config_check_routes(struct gw_config *conf, int quiet)
{
	struct rules		*rl = conf->conf_rules;
	struct rule_route	*r;
	struct gw_service	*svc;
	size_t			 i;
	int			 bad = 0;

	TAILQ_FOREACH(svc, &conf->conf_services, svc_entry)
		svc->svc_used = 0;
	for (i = 0; i < rl->rl_nroutes; i++) {
		r = &rl->rl_routes[i];
		if ((svc = config_service(conf, r->r_service_name)) == NULL) {
			log_warnx("%s:%d: unknown service \"%s\"",
			    rl->rl_path, r->r_line, r->r_service_name);
			bad = 1;
			continue;
		}
		if (svc->svc_socket == NULL) {
			log_warnx("%s:%d: service \"%s\" has no socket "
			    "(socket none)", rl->rl_path, r->r_line,
			    r->r_service_name);
			bad = 1;
			continue;
		}
		r->r_service = svc;
		svc->svc_used = 1;
	}
	if (bad || quiet)
		return bad ? -1 : 0;
	TAILQ_FOREACH(svc, &conf->conf_services, svc_entry)
		if (!svc->svc_used && svc->svc_socket != NULL)
			log_warnx("%s:%d: service \"%s\" is not used by any "
			    "route", svc->svc_file, svc->svc_line,
			    svc->svc_name);
	return 0;
}

/* Reads a whole small file into a new NUL-terminated string. */
static char *
config_slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 n = 0, cap = 0, r;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = xreallocarray(buf, cap, 1);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0 && n < 1024 * 1024);
	if (ferror(f) || n >= 1024 * 1024) {
		fclose(f);
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*lenp = n;
	return buf;
}

/*
 * The jwt block: its JWKS file loads now, so that a bad one fails -n and
 * a reload; a "jwks service" must name a service with a socket, a
 * "jwks url" be http:// (auth.c); not both.
 */
static int
config_check_jwt(struct gw_config *conf)
{
	struct gw_jwt		*j = conf->conf_jwt;
	struct gw_service	*svc;
	const char		*errstr = NULL;
	char			*buf;
	size_t			 len;

	if (j == NULL)
		return 0;
	jwt_keyset_free(j->jwt_keys);
	j->jwt_keys = NULL;
	if (j->jwt_jwks_file == NULL && j->jwt_jwks_service == NULL &&
	    j->jwt_jwks_url == NULL) {
		log_warnx("%s:%d: jwt: no \"jwks file\", \"jwks url\" nor "
		    "\"jwks service\"", j->jwt_file, j->jwt_line);
		return -1;
	}
	if (j->jwt_jwks_service != NULL && j->jwt_jwks_url != NULL) {
		log_warnx("%s:%d: jwt: \"jwks url\" and \"jwks service\": "
		    "choose one", j->jwt_file, j->jwt_line);
		return -1;
	}
	if (j->jwt_jwks_url != NULL) {
		if (auth_url_parse(j->jwt_jwks_url, NULL, NULL, NULL, NULL,
		    &errstr) == -1) {
			log_warnx("%s:%d: jwt: jwks url \"%s\": %s",
			    j->jwt_file, j->jwt_line, j->jwt_jwks_url, errstr);
			return -1;
		}
		if (j->jwt_jwks_file == NULL)
			return 0;
	}
	if (j->jwt_jwks_service != NULL) {
		svc = config_service(conf, j->jwt_jwks_service);
		if (svc == NULL || svc->svc_socket == NULL) {
			log_warnx("%s:%d: jwt: jwks service \"%s\": %s",
			    j->jwt_file, j->jwt_line, j->jwt_jwks_service,
			    svc == NULL ? "unknown service" : "no socket");
			return -1;
		}
		if (j->jwt_jwks_path == NULL || j->jwt_jwks_path[0] != '/') {
			log_warnx("%s:%d: jwt: jwks service path must start "
			    "with /", j->jwt_file, j->jwt_line);
			return -1;
		}
		if (j->jwt_jwks_file == NULL)
			return 0;
	}
	if ((buf = config_slurp(j->jwt_jwks_file, &len)) == NULL) {
		log_warnx("%s:%d: jwt: jwks file \"%s\": %s", j->jwt_file,
		    j->jwt_line, j->jwt_jwks_file, strerror(errno));
		return -1;
	}
	j->jwt_keys = jwt_keyset_from_jwks_flags(buf, len,
	    JWT_JWKS_SKIP_UNUSABLE, &errstr);
	free(buf);
	if (j->jwt_keys == NULL) {
		log_warnx("%s:%d: jwt: jwks file \"%s\": %s", j->jwt_file,
		    j->jwt_line, j->jwt_jwks_file, errstr);
		return -1;
	}
	return 0;
}

/*
 * Routes that want a token without a jwt block: the tokens are not
 * checked at the edge (the services still see no AUTH_* params).  Said
 * once, not refused: a config may add the block later.
 */
static void
config_check_auth(struct gw_config *conf, int quiet)
{
	struct rules	*rl = conf->conf_rules;
	size_t		 i, n = 0, first = 0;

	if (conf->conf_jwt != NULL || quiet)
		return;
	for (i = 0; i < rl->rl_nroutes; i++)
		if (rl->rl_routes[i].r_auth == RULE_AUTH_JWT && n++ == 0)
			first = i;
	if (n > 0)
		log_warnx("%s:%d: %zu route%s with auth = \"jwt\" but %s has "
		    "no \"jwt\" block: tokens are not checked at the edge",
		    rl->rl_path, rl->rl_routes[first].r_line, n,
		    n == 1 ? "" : "s", conf->conf_file);
}

/* Builds each ratelimit block's policy (ratelimit.h checks the values). */
static int
config_check_ratelimits(struct gw_config *conf)
{
	struct gw_ratelimit	*rl;
	struct ratelimit_window	 w[GW_RL_MAXWIN];
	const char		*errstr = NULL;
	int			 i, bad = 0;

	TAILQ_FOREACH(rl, &conf->conf_ratelimits, rl_entry) {
		ratelimit_policy_free(rl->rl_policy);
		rl->rl_policy = NULL;
		memset(w, 0, sizeof(w));
		for (i = 0; i < rl->rl_nwin; i++) {
			w[i].limit = rl->rl_win[i].w_limit;
			w[i].period_s = rl->rl_win[i].w_period_s;
			w[i].burst = rl->rl_win[i].w_burst;
		}
		if ((rl->rl_policy = ratelimit_policy_new(rl->rl_name, w,
		    rl->rl_nwin, rl->rl_dry_run, &errstr)) == NULL) {
			log_warnx("%s:%d: ratelimit \"%s\": %s", rl->rl_file,
			    rl->rl_line, rl->rl_name, errstr);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* Every policy a route names in limits = {...} must exist. */
static int
config_check_limits(struct gw_config *conf)
{
	struct rules		*rls = conf->conf_rules;
	struct rule_route	*r;
	size_t			 i, j;
	int			 bad = 0;

	for (i = 0; i < rls->rl_nroutes; i++) {
		r = &rls->rl_routes[i];
		for (j = 0; j < r->r_limits.rn_n; j++) {
			if (config_ratelimit(conf, r->r_limits.rn_v[j]) !=
			    NULL)
				continue;
			log_warnx("%s:%d: unknown ratelimit \"%s\"",
			    rls->rl_path, r->r_line, r->r_limits.rn_v[j]);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

struct gw_ratelimit *
config_ratelimit(struct gw_config *conf, const char *name)
{
	struct gw_ratelimit	*rl;

	TAILQ_FOREACH(rl, &conf->conf_ratelimits, rl_entry)
		if (strcmp(rl->rl_name, name) == 0)
			return rl;
	return NULL;
}

int
config_trusted(const struct gw_config *conf, const char *addr)
{
	const struct gw_cidr	*c;
	uint8_t			 a[16];
	int			 i, family, n;

	if (conf->conf_ntrusted == 0)
		return 0;
	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		family = AF_INET6;
	else
		return 0;
	for (i = 0; i < conf->conf_ntrusted; i++) {
		c = &conf->conf_trusted[i];
		if (c->c_family != family)
			continue;
		n = c->c_bits;
		if (memcmp(a, c->c_addr, n / 8) != 0)
			continue;
		if (n % 8 != 0 && ((a[n / 8] ^ c->c_addr[n / 8]) &
		    (0xff << (8 - n % 8)) & 0xff) != 0)
			continue;
		return 1;
	}
	return 0;
}

int
config_check(struct gw_config *conf)
{
	char	 err[1024];
	int	 bad = 0;

	if (TAILQ_EMPTY(&conf->conf_listens)) {
		log_warnx("%s: no \"listen on\"", conf->conf_file);
		bad = 1;
	}
	if (config_check_listens(conf) == -1)
		bad = 1;
	if (config_check_services(conf) == -1)
		bad = 1;
	if (config_check_tls(conf) == -1)
		bad = 1;
	if (config_check_jwt(conf) == -1)
		bad = 1;
	if (config_check_ratelimits(conf) == -1)
		bad = 1;

	rules_free(conf->conf_rules);
	conf->conf_rules = NULL;
	if (conf->conf_rules_path == NULL) {
		log_warnx("%s: no \"rules\"", conf->conf_file);
		bad = 1;
	} else if ((conf->conf_rules = rules_load(conf->conf_rules_path, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		bad = 1;
	} else if (config_check_routes(conf, bad) == -1 ||
	    config_check_limits(conf) == -1)
		bad = 1;
	else
		config_check_auth(conf, bad);
	return bad ? -1 : 0;
}

struct gw_service *
config_service(struct gw_config *conf, const char *name)
{
	struct gw_service	*svc;

	TAILQ_FOREACH(svc, &conf->conf_services, svc_entry)
		if (strcmp(svc->svc_name, name) == 0)
			return svc;
	return NULL;
}

int
config_socket_unix(const char *sock)
{
	return strchr(sock, '/') != NULL;
}

int
config_socket_hostport(const char *sock, char *host, size_t hostlen,
    char *port, size_t portlen)
{
	const char	*colon, *h, *p;
	size_t		 hlen;
	char		*end;
	long		 n;

	if (sock[0] == '[') {
		if ((colon = strstr(sock, "]:")) == NULL)
			return -1;
		h = sock + 1;
		hlen = (size_t)(colon - h);
		p = colon + 2;
	} else {
		if ((colon = strrchr(sock, ':')) == NULL ||
		    memchr(sock, ':', (size_t)(colon - sock)) != NULL)
			return -1;
		h = sock;
		hlen = (size_t)(colon - sock);
		p = colon + 1;
	}
	n = strtol(p, &end, 10);
	if (hlen == 0 || *p == '\0' || *end != '\0' || n < 1 || n > 65535)
		return -1;
	if (host != NULL) {
		if (hlen >= hostlen)
			return -1;
		memcpy(host, h, hlen);
		host[hlen] = '\0';
	}
	if (port != NULL) {
		if (strlen(p) >= portlen)
			return -1;
		strcpy(port, p);
	}
	return 0;
}

static void
config_listens_free(struct gw_listens *head)
{
	struct gw_listen	*l;
	struct gw_tls_cert	*tc;

	while ((l = TAILQ_FIRST(head)) != NULL) {
		TAILQ_REMOVE(head, l, l_entry);
		while ((tc = TAILQ_FIRST(&l->l_certs)) != NULL) {
			TAILQ_REMOVE(&l->l_certs, tc, tc_entry);
			free(tc->tc_name);
			free(tc->tc_cert);
			free(tc->tc_key);
			free(tc);
		}
		free(l->l_addr);
		free(l->l_port);
		free(l->l_client_ca);
		free(l->l_redirect);
		free(l->l_ciphers);
		tls_listener_free(l->l_tlsctx);
		free(l->l_file);
		free(l);
	}
}

static void
config_strings_free(struct gw_strings *head)
{
	struct gw_string	*s;

	while ((s = TAILQ_FIRST(head)) != NULL) {
		TAILQ_REMOVE(head, s, s_entry);
		free(s->s_value);
		free(s);
	}
}

void
config_free(struct gw_config *conf)
{
	struct gw_service	*svc;
	struct gw_ratelimit	*rl;
	int			 i;

	if (conf == NULL)
		return;
	while ((svc = TAILQ_FIRST(&conf->conf_services)) != NULL) {
		TAILQ_REMOVE(&conf->conf_services, svc, svc_entry);
		free(svc->svc_name);
		free(svc->svc_socket);
		free(svc->svc_program);
		config_strings_free(&svc->svc_args);
		config_strings_free(&svc->svc_env);
		config_strings_free(&svc->svc_params);
		config_strings_free(&svc->svc_servers);
		free(svc->svc_hash_key);
		free(svc->svc_check_path);
		free(svc->svc_user);
		free(svc->svc_group);
		free(svc->svc_chdir);
		free(svc->svc_file);
		free(svc);
	}
	config_listens_free(&conf->conf_listens);
	config_listens_free(&conf->conf_admin);
	free(conf->conf_file);
	free(conf->conf_rules_path);
	free(conf->conf_access_log);
	free(conf->conf_error_log);
	free(conf->conf_pidfile);
	free(conf->conf_user);
	rules_free(conf->conf_rules);
	while ((rl = TAILQ_FIRST(&conf->conf_ratelimits)) != NULL) {
		TAILQ_REMOVE(&conf->conf_ratelimits, rl, rl_entry);
		free(rl->rl_name);
		for (i = 0; i < rl->rl_nkeys; i++)
			free(rl->rl_headers[i]);
		ratelimit_policy_free(rl->rl_policy);
		free(rl->rl_file);
		free(rl);
	}
	free(conf->conf_trusted);
	if (conf->conf_jwt != NULL) {
		free(conf->conf_jwt->jwt_jwks_file);
		free(conf->conf_jwt->jwt_jwks_service);
		free(conf->conf_jwt->jwt_jwks_path);
		free(conf->conf_jwt->jwt_jwks_url);
		free(conf->conf_jwt->jwt_issuer);
		free(conf->conf_jwt->jwt_audience);
		free(conf->conf_jwt->jwt_file);
		auth_jwks_stop(conf->conf_jwt);
		jwt_keyset_free(conf->conf_jwt->jwt_keys);
		free(conf->conf_jwt);
	}
	free(conf);
}
