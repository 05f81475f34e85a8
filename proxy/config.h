/*
 * The gateway's configuration, as parse.y builds it from gateway.conf.
 * One struct gw_config owns everything below it; config_free() releases
 * it all (config_free(NULL) is a no-op).  Times are in milliseconds,
 * sizes in bytes.
 */
#ifndef AGORA_PROXY_CONFIG_H
#define AGORA_PROXY_CONFIG_H

#include <sys/queue.h>
#include <stddef.h>

#include <stdint.h>

struct rules;
struct tls_listener;
struct jwt_keyset;
struct auth_jwks;
struct ratelimit_policy;

/* "ratelimit NAME { rate 20/s burst 40 ; rate 1000/h ; key ip ; dry run }" */
#define GW_RL_MAXWIN	4	/* = RATELIMIT_MAXWIN */
#define GW_RL_MAXKEYS	4
enum gw_rl_key {
	GW_RL_KEY_IP = 1,	/* the client (through trusted proxies) */
	GW_RL_KEY_SUB,		/* the JWT subject (else the client) */
	GW_RL_KEY_ROUTE,	/* the route: one bucket for everyone */
	GW_RL_KEY_HEADER	/* a header's value, e.g. X-Api-Key */
};
struct gw_rl_window {
	uint64_t		 w_limit;
	uint32_t		 w_period_s;
	uint64_t		 w_burst;	/* 0: = limit */
};
struct gw_ratelimit {
	char			*rl_name;
	struct gw_rl_window	 rl_win[GW_RL_MAXWIN];
	int			 rl_nwin;
	int			 rl_keys[GW_RL_MAXKEYS];	/* gw_rl_key */
	char			*rl_headers[GW_RL_MAXKEYS];	/* for HEADER */
	int			 rl_nkeys;	/* 0: ip */
	int			 rl_dry_run;
	struct ratelimit_policy	*rl_policy;	/* built by config_check */
	char			*rl_file;
	int			 rl_line;
	TAILQ_ENTRY(gw_ratelimit) rl_entry;
};
TAILQ_HEAD(gw_ratelimits, gw_ratelimit);

/*
 * "breaker { window 10s buckets 10 volume 20 errors 50% sleep 5s probes 1
 * slow 2s }", globally and per service; -1: unset (the global's, else
 * breaker.h's defaults).
 */
struct gw_breaker {
	int			 b_window;	/* ms */
	int			 b_buckets;
	int			 b_volume;
	int			 b_error_pct;
	int			 b_sleep;	/* ms */
	int			 b_probes;
	int			 b_slow;	/* ms; 0: off */
};

/* "trusted proxies ADDR[/BITS] ...": whose X-Forwarded-For counts */
struct gw_cidr {
	int			 c_family;	/* AF_INET, AF_INET6 */
	uint8_t			 c_addr[16];
	int			 c_bits;
};

/*
 * "jwt { jwks file PATH ; issuer S ; audience S ; leeway T }": bearer
 * tokens verified at the edge for routes with auth = "jwt".
 */
struct gw_jwt {
	char			*jwt_jwks_file;
	char			*jwt_jwks_service;	/* "jwks service NAME" */
	char			*jwt_jwks_path;		/* .. path "/.well-known.." */
	char			*jwt_jwks_url;		/* "jwks url URL" */
	int			 jwt_refresh;	/* ms; default 300000 */
	char			*jwt_issuer;	/* NULL: any */
	char			*jwt_audience;	/* NULL: any */
	int			 jwt_leeway;	/* ms; default 60000 */
	struct jwt_keyset	*jwt_keys;	/* the file's, by config_check */
	struct auth_jwks	*jwt_fetch;	/* service's or url's (auth.c) */
	char			*jwt_file;	/* where it was declared */
	int			 jwt_line;
};

/* "listen on ADDR port PORT" */
/* "tls certificate FILE key FILE [name HOST]": one per SNI name */
struct gw_tls_cert {
	char			*tc_name;	/* NULL: the default one */
	char			*tc_cert;	/* PEM chain */
	char			*tc_key;
	TAILQ_ENTRY(gw_tls_cert) tc_entry;
};
TAILQ_HEAD(gw_tls_certs, gw_tls_cert);

enum gw_client_verify {
	GW_VERIFY_NONE = 0,
	GW_VERIFY_OPTIONAL,
	GW_VERIFY_REQUIRED
};

struct gw_listen {
	char			*l_addr;	/* "127.0.0.1", "::1", "*" */
	char			*l_port;	/* "8080" */
	int			 l_tls;		/* "listen on ... tls" */
	struct gw_tls_certs	 l_certs;	/* first is the default */
	char			*l_client_ca;	/* NULL: no client certs */
	int			 l_client_verify;	/* enum gw_client_verify */
	/* not in the grammar yet (see tls.c): 1.2+1.3, tls.c's suites */
	int			 l_protocols;	/* TLS_PROTO_* bits; 0: both */
	char			*l_ciphers;	/* TLS 1.2 list; NULL: default */
	struct tls_listener	*l_tlsctx;	/* tls_config_load(); owned */
	char			*l_redirect;	/* "https://host:port": plain
						   listener that redirects */
	char			*l_file;	/* where it was declared */
	int			 l_line;
	TAILQ_ENTRY(gw_listen)	 l_entry;
};
TAILQ_HEAD(gw_listens, gw_listen);

/* "argument", "env": ordered string lists */
struct gw_string {
	char			*s_value;
	TAILQ_ENTRY(gw_string)	 s_entry;
};
TAILQ_HEAD(gw_strings, gw_string);

/* "service NAME { ... }" */
struct gw_service {
	char			*svc_name;
	char			*svc_socket;	/* "/path.sock" or "host:port" */
	char			*svc_program;	/* NULL: not spawned by us */
	struct gw_strings	 svc_args;	/* argv[1..] */
	struct gw_strings	 svc_env;	/* "NAME=value" */
	struct gw_strings	 svc_params;	/* "NAME=value": FastCGI params
						   added or overridden */
	struct gw_strings	 svc_servers;	/* more addresses of the pool
						   beside svc_socket */
	int			 svc_balance;	/* enum gw_balance */
	char			*svc_hash_key;	/* header or cookie name */
	int			 svc_retries;	/* default 1 */
	int			 svc_fail_max;	/* passive health: failures.. */
	int			 svc_fail_window;	/* ..within this (ms).. */
	int			 svc_fail_down;	/* ..take it out this long */
	char			*svc_check_path;	/* active probe; NULL: off */
	int			 svc_check_interval;
	int			 svc_check_rise;
	int			 svc_check_fall;
	char			*svc_user;	/* NULL: keep */
	char			*svc_group;
	char			*svc_chdir;
	int			 svc_processes;	/* spawned; default 1 */
	int			 svc_max_conns;	/* 0: svc_processes */
	int			 svc_queue;	/* waiting requests; default 64 */
	int			 svc_queue_timeout;	/* default 5000 */
	int			 svc_connect_timeout;	/* default 1000 */
	int			 svc_read_timeout;	/* default 30000 */
	struct gw_breaker	 svc_breaker;
	int			 svc_max_concurrent;	/* bulkhead; 0: none */
	int			 svc_used;	/* set by the check pass */
	char			*svc_file;	/* where it was declared */
	int			 svc_line;
	TAILQ_ENTRY(gw_service)	 svc_entry;
};
TAILQ_HEAD(gw_services, gw_service);

enum gw_balance {
	GW_BALANCE_ROUNDROBIN = 0,
	GW_BALANCE_LEASTCONN,
	GW_BALANCE_HASH_SOURCE,
	GW_BALANCE_HASH_HEADER,		/* svc_hash_key names it */
	GW_BALANCE_HASH_COOKIE
};

struct gw_config {
	char			*conf_file;	/* top-level path */
	int			 conf_workers;	/* event-loop threads; 0: auto */
	struct gw_listens	 conf_listens;	/* public HTTP */
	struct gw_listens	 conf_admin;	/* admin listener */
	char			*conf_rules_path;
	char			*conf_access_log;	/* NULL: stderr */
	char			*conf_error_log;	/* NULL: stderr */
	int			 conf_log_syslog;	/* "log syslog" */
	int			 conf_log_facility;	/* LOG_DAEMON.. */
	char			*conf_pidfile;
	char			*conf_user;	/* drop privileges to */
	size_t			 conf_max_body;	/* default 1 MiB */
	size_t			 conf_max_header;	/* default 8 KiB */
	int			 conf_idle_timeout;	/* default 60000 */
	int			 conf_max_headers;	/* count; default 100 */
	int			 conf_header_timeout;	/* 408; default 10000 */
	int			 conf_body_timeout;	/* default 30000 */
	int			 conf_send_timeout;	/* default 30000 */
	int			 conf_max_requests;	/* per connection; 1000 */
	int			 conf_max_client_conns;	/* per address; 256 */
	int			 conf_access_log_json;	/* JSON lines, not combined */
	struct gw_services	 conf_services;
	struct rules		*conf_rules;	/* loaded by the check pass */
	struct gw_jwt		*conf_jwt;	/* NULL: no "jwt" block */
	struct gw_ratelimits	 conf_ratelimits;
	size_t			 conf_ratelimit_keys;	/* 0: 100000 */
	struct gw_cidr		*conf_trusted;
	int			 conf_ntrusted;
	struct gw_breaker	 conf_breaker;
};

/* The policy called name, or NULL. */
struct gw_ratelimit	*config_ratelimit(struct gw_config *, const char *);
/* Is the numeric address addr one of the trusted proxies? */
int			 config_trusted(const struct gw_config *,
			    const char *addr);

/*
 * Parses file into a new config (parse.y).  Errors are reported as
 * "file:line: message" through log_warnx(), every one of them in one run;
 * the result is NULL if there was any.  Macros given with -D name=value are
 * set with config_symset() before parsing, and win over the file's own.
 */
struct gw_config	*config_parse(const char *file);
int			 config_symset(const char *name, const char *value,
			    int persist);
int			 config_cmdline_symset(const char *nameval);

/*
 * After parsing: loads the rules, checks that every service the rules name
 * exists, warns about unused services, refuses duplicate listeners.
 * Returns 0, or -1 with every problem logged.
 */
int			 config_check(struct gw_config *);

struct gw_service	*config_service(struct gw_config *, const char *name);
void			 config_free(struct gw_config *);

/* Forgets every macro, -D ones included (tests, a fresh command line). */
void			 config_symclear(void);

/*
 * For parse.y: a config or service with every setting "unset", and the
 * one place where unset settings get their defaults.
 */
struct gw_config	*config_new(const char *file);
struct gw_service	*config_service_new(const char *name);
void			 config_defaults(struct gw_config *);

/*
 * A service socket is a unix path when it contains a "/", else
 * "host:port" ("[::1]:9000" for IPv6, "*:9000" for any address).
 * config_socket_hostport() splits the latter into the two buffers;
 * it returns 0, or -1 when the string is no valid host:port.
 */
int			 config_socket_unix(const char *);
int			 config_socket_hostport(const char *, char *host,
			    size_t hostlen, char *port, size_t portlen);

#endif
