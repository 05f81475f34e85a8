/*
 * The gateway.conf grammar, in the style of OpenBSD relayd and httpd: a
 * hand-written lexer with a sorted keyword table, macros, include files
 * and error recovery at statement level, so one run reports every error
 * in a file as "file:line: message".  Cross checks (rules, services,
 * duplicate listeners) are config_check()'s, in config.c.
 */

%{

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"
#include "tls.h"
#include "xmalloc.h"
#include "config.h"

/* Bison's yylval starts zeroed, which spares gcc a false warning. */
#define YY_INITIAL_VALUE(v)	v

#define PARSE_MAXINCLUDE	16	/* include nesting, stops loops */
#define PARSE_MAXPUSHBACK	128
#define PARSE_MAXTOKEN		8192

/* The file stack: include pushes, the end of an included file pops. */
struct file {
	TAILQ_ENTRY(file)	 f_entry;
	FILE			*f_stream;
	char			*f_name;
	int			 f_lineno;
	int			 f_atnl;	/* last token was a newline */
};
TAILQ_HEAD(files, file);

/* Macros: "name = value" in the file, or -D name=value (persist). */
struct sym {
	TAILQ_ENTRY(sym)	 sym_entry;
	char			*sym_name;
	char			*sym_value;
	int			 sym_used;
	int			 sym_persist;
};
TAILQ_HEAD(syms, sym);

static struct files	 files = TAILQ_HEAD_INITIALIZER(files);
static struct files	 donefiles = TAILQ_HEAD_INITIALIZER(donefiles);
static struct syms	 syms = TAILQ_HEAD_INITIALIZER(syms);
static struct file	*file, *topfile;
static int		 depth;
static int		 errors;

/* Where the last token started: every message points there. */
static struct file	*tokfile;
static int		 tokline;
static int		 lexerror;	/* the lexer reported this line */
static struct file	*stmtfile;	/* where the statement started */
static int		 stmtline;

/* Macro text being read back in, and characters pushed back. */
static const unsigned char	*parsebuf;
static int			 pushback[PARSE_MAXPUSHBACK];
static int			 npushback;

static struct gw_config		*conf;
static struct gw_service	*svc;
static struct gw_listen		*lst;	/* the listener tls {} applies to */
static int			 svc_nosocket;	/* "socket none" */
static int			 jwtdup;	/* a second "jwt" block */
static struct gw_ratelimit	*rl;	/* the ratelimit block being read */
static struct gw_breaker	*brk;	/* the breaker block being read */
static void		 brk_set(int *, int64_t, int64_t, int64_t,
			    const char *);
static void		 rl_rate(const char *, int64_t);
static void		 rl_key(int, char *);
static void		 conf_trusted_add(const char *);

static struct file	*pushfile(const char *);
static int		 popfile(void);
static int		 lgetc(int);
static void		 lungetc(int);
static int		 findeol(void);
static const char	*symget(const char *);
static char		*path_relative(const char *, const char *);
static int		 conferr(const char *, ...)
			    __attribute__((format(printf, 1, 2)));
static int		 conf_duplicate(int, const char *);
static struct gw_listen	*conf_listen(struct gw_listens *, char *, int64_t);
static int		 check_socket(const char *, const char *);
static int		 check_name(const char *, const char *, int);
static void		 tls_cert_add(char *, char *, char *);
static void		 balance_set(int, char *);
static int		 parse_scaled(const char *, int64_t *, const char *);
static void		 string_append(struct gw_strings *, char *);
static void		 service_abandoned(void);
%}

%define api.pure full
%define parse.error verbose

%union {
	int64_t		 number;
	char		*string;
}

%{
static int		 yylex(YYSTYPE *);
static void		 yyerror(const char *);
%}

%token	ACCESS "access" ADMIN "admin" ARGUMENT "argument" AUDIENCE "audience"
%token	AUTO "auto" FILE_ "file" ISSUER "issuer" JWKS "jwks" JWT "jwt"
%token	LEEWAY "leeway" REFRESH "refresh" RATELIMIT "ratelimit" RATE "rate"
%token	BURST "burst" KEYS "keys" DRY "dry" RUN "run" TRUSTED "trusted"
%token	PROXIES "proxies" IP "ip" SUB "sub" ROUTE "route" BREAKER "breaker"
%token	WINDOW "window" BUCKETS "buckets" VOLUME "volume" ERRORS "errors"
%token	SLEEP "sleep" PROBES "probes" SLOW "slow" CONCURRENT "concurrent"
%token	BALANCE "balance" BODY "body" CA "ca" CERTIFICATE "certificate"
%token	CHDIR "chdir" CHECK "check" CIPHERS "ciphers" CLIENT "client"
%token	FACILITY "facility" STDERR "stderr" SYSLOG "syslog"
%token	CONNECTIONS "connections" CONNECT "connect" CONNS "conns"
%token	COOKIE "cookie" DOWN "down" ENV "env" ERRLOG "error" FAILS "fails"
%token	FALL "fall" GROUP "group" HASH "hash" HEADER "header"
%token	HEADERS "headers" HEALTH "health" IDLE "idle" INCLUDE "include"
%token	INTERVAL "interval" JSON "json" KEY "key" LEASTCONN "leastconn"
%token	LISTEN "listen" LOG "log" MAX "max" NAME "name" NONE "none" ON "on"
%token	OPTIONAL "optional" PARAM "param" PASSIVE "passive" PATH "path"
%token	PIDFILE "pidfile" PORT "port" PROCESSES "processes" PROTOCOLS "protocols"
%token	PROGRAM "program" QUEUE "queue" READ "read" REDIRECT "redirect"
%token	REQUESTS "requests" REQUIRED "required" RETRIES "retries"
%token	RISE "rise" ROUNDROBIN "roundrobin" RULES "rules" SEND "send"
%token	SERVER "server" SERVICE "service" SOCKET "socket" SOURCE "source"
%token	TIMEOUT "timeout" TLS "tls" URL "url" USER "user" WITHIN "within"
%token	WORKERS "workers"
%token	NL "end of line"
%token	ERROR "invalid token"
%token	<string>	STRING "string"
%token	<number>	NUMBER "number"
%type	<string>	value
%type	<number>	size time count optverify optrefresh optburst
%type	<number>	optfacility
%type	<string>	optcertname

%destructor	{ free($$); } <string>

%%

grammar		: /* empty */
		| grammar NL
		| grammar include
		| grammar varset NL
		| grammar main NL
		| grammar service NL
		| grammar jwt NL
		| grammar ratelimit NL
		| grammar BREAKER		{ brk = &conf->conf_breaker; }
		    optnl '{' optnl brkopts '}' NL	{ brk = NULL; }
		| grammar error NL		{ yyerrok; }
		;

/* The include's own newline is read before the new file is pushed. */
include		: INCLUDE STRING NL		{
			char	*path;

			path = path_relative(tokfile->f_name, $2);
			free($2);
			if (depth >= PARSE_MAXINCLUDE)
				conferr("include \"%s\": nested too deep",
				    path);
			else if (pushfile(path) == NULL)
				conferr("include \"%s\": %s", path,
				    strerror(errno));
			free(path);
		}
		;

varset		: STRING '=' value		{
			const char	*p;

			for (p = $1; *p != '\0'; p++)
				if (!isalnum((unsigned char)*p) && *p != '_')
					break;
			if (*$1 == '\0' || *p != '\0')
				conferr("invalid macro name \"%s\"", $1);
			else
				config_symset($1, $3, 0);
			free($1);
			free($3);
		}
		;

value		: STRING
		| NUMBER			{
			xasprintf(&$$, "%lld", (long long)$1);
		}
		;

main		: WORKERS NUMBER		{
			if (!conf_duplicate(conf->conf_workers != -1,
			    "workers")) {
				if ($2 < 1 || $2 > 256)
					conferr("workers must be 1 to 256 "
					    "or auto");
				else
					conf->conf_workers = (int)$2;
			}
		}
		| WORKERS AUTO			{
			if (!conf_duplicate(conf->conf_workers != -1,
			    "workers"))
				conf->conf_workers = 0;
		}
		| LISTEN ON STRING PORT NUMBER	{
			lst = conf_listen(&conf->conf_listens, $3, $5);
		} listenopt			{
			lst = NULL;
		}
		| ADMIN LISTEN ON STRING PORT NUMBER {
			conf_listen(&conf->conf_admin, $4, $6);
		}
		| RULES STRING			{
			if (conf_duplicate(conf->conf_rules_path != NULL,
			    "rules"))
				free($2);
			else {
				conf->conf_rules_path =
				    path_relative(tokfile->f_name, $2);
				free($2);
			}
		}
		| ACCESS LOG STRING optjson	{
			if (conf_duplicate(conf->conf_access_log != NULL,
			    "access log"))
				free($3);
			else
				conf->conf_access_log = $3;
		}
		| ACCESS LOG JSON		{
			/* JSON lines on stderr */
			if (!conf_duplicate(conf->conf_access_log_json,
			    "access log"))
				conf->conf_access_log_json = 1;
		}
		| ERRLOG LOG STRING		{
			if (conf_duplicate(conf->conf_error_log != NULL,
			    "error log"))
				free($3);
			else if (conf->conf_log_syslog) {
				conferr("\"error log\" and \"log syslog\": "
				    "choose one");
				free($3);
			} else
				conf->conf_error_log = $3;
		}
		| LOG SYSLOG optfacility	{
			if (conf_duplicate(conf->conf_log_syslog, "log"))
				;
			else if (conf->conf_error_log != NULL)
				conferr("\"error log\" and \"log syslog\": "
				    "choose one");
			else {
				conf->conf_log_syslog = 1;
				conf->conf_log_facility = (int)$3;
			}
		}
		| LOG STDERR			{
			/* the default, said out loud */
			(void)conf_duplicate(conf->conf_log_syslog, "log");
		}
		| PIDFILE STRING		{
			if (conf_duplicate(conf->conf_pidfile != NULL,
			    "pidfile"))
				free($2);
			else
				conf->conf_pidfile = $2;
		}
		| USER STRING			{
			if (conf_duplicate(conf->conf_user != NULL, "user"))
				free($2);
			else
				conf->conf_user = $2;
		}
		| MAX BODY size			{
			if (!conf_duplicate(conf->conf_max_body != 0,
			    "max body") && $3 != -1)
				conf->conf_max_body = (size_t)$3;
		}
		| MAX HEADER size		{
			if (conf_duplicate(conf->conf_max_header != 0,
			    "max header") || $3 == -1)
				;
			else if ($3 < 1024 || $3 > 1024 * 1024)
				conferr("max header must be 1K to 1M");
			else
				conf->conf_max_header = (size_t)$3;
		}
		| IDLE TIMEOUT time		{
			if (!conf_duplicate(conf->conf_idle_timeout != -1,
			    "idle timeout") && $3 != -1)
				conf->conf_idle_timeout = (int)$3;
		}
		| HEADER TIMEOUT time		{
			if (!conf_duplicate(conf->conf_header_timeout != -1,
			    "header timeout") && $3 != -1)
				conf->conf_header_timeout = (int)$3;
		}
		| BODY TIMEOUT time		{
			if (!conf_duplicate(conf->conf_body_timeout != -1,
			    "body timeout") && $3 != -1)
				conf->conf_body_timeout = (int)$3;
		}
		| SEND TIMEOUT time		{
			if (!conf_duplicate(conf->conf_send_timeout != -1,
			    "send timeout") && $3 != -1)
				conf->conf_send_timeout = (int)$3;
		}
		| MAX HEADERS count		{
			if (conf_duplicate(conf->conf_max_headers != -1,
			    "max headers") || $3 == -1)
				;
			else if ($3 < 1 || $3 > 10000)
				conferr("max headers must be 1 to 10000");
			else
				conf->conf_max_headers = (int)$3;
		}
		| MAX REQUESTS count		{
			if (conf_duplicate(conf->conf_max_requests != -1,
			    "max requests") || $3 == -1)
				;
			else if ($3 < 1 || $3 > 1000000000)
				conferr("max requests must be 1 to "
				    "1000000000");
			else
				conf->conf_max_requests = (int)$3;
		}
		| MAX CLIENT CONNECTIONS count	{
			if (conf_duplicate(conf->conf_max_client_conns != -1,
			    "max client connections") || $4 == -1)
				;
			else if ($4 < 1 || $4 > 1000000)
				conferr("max client connections must be 1 to "
				    "1000000");
			else
				conf->conf_max_client_conns = (int)$4;
		}
		;

/* syslog facility: daemon unless named */
optfacility	: /* empty */			{ $$ = LOG_DAEMON; }
		| FACILITY STRING		{
			if (($$ = log_facility($2)) == -1) {
				conferr("unknown syslog facility \"%s\"",
				    $2);
				$$ = LOG_DAEMON;
			}
			free($2);
		}
		;

optjson		: /* empty */
		| JSON				{
			conf->conf_access_log_json = 1;
		}
		;

/* After "listen on ADDR port N": nothing, "tls { ... }" or "redirect". */
listenopt	: /* empty */
		| TLS optnl '{' optnl tlsopts '}'	{
			if (lst != NULL)
				lst->l_tls = 1;
		}
		| REDIRECT STRING		{
			if (lst == NULL)
				free($2);
			else if (strncmp($2, "https://", 8) != 0 &&
			    strncmp($2, "http://", 7) != 0) {
				conferr("redirect \"%s\": not an http or "
				    "https URL", $2);
				free($2);
			} else
				lst->l_redirect = $2;
		}
		;

tlsopts		: /* empty */
		| tlsopts tlsopt optnl
		| tlsopts error NL		{ yyerrok; }
		;

tlsopt		: CERTIFICATE STRING KEY STRING optcertname {
			tls_cert_add($2, $4, $5);
		}
		| CLIENT CA STRING optverify	{
			if (lst == NULL || conf_duplicate(lst->l_client_ca !=
			    NULL, "client ca"))
				free($3);
			else {
				lst->l_client_ca = path_relative(
				    tokfile->f_name, $3);
				lst->l_client_verify = (int)$4;
				free($3);
			}
		}
		| PROTOCOLS STRING		{
			int	 mask;

			if ((mask = tls_protocols_parse($2)) == -1)
				conferr("protocols \"%s\": a list of tlsv1.2 "
				    "and tlsv1.3", $2);
			else if (lst != NULL && !conf_duplicate(
			    lst->l_protocols != 0, "protocols"))
				lst->l_protocols = mask;
			free($2);
		}
		| CIPHERS STRING		{
			if (lst == NULL || conf_duplicate(lst->l_ciphers !=
			    NULL, "ciphers"))
				free($2);
			else
				lst->l_ciphers = $2;
		}
		;

optcertname	: /* empty */			{ $$ = NULL; }
		| NAME STRING			{ $$ = $2; }
		;

optverify	: /* empty */			{ $$ = GW_VERIFY_REQUIRED; }
		| OPTIONAL			{ $$ = GW_VERIFY_OPTIONAL; }
		| REQUIRED			{ $$ = GW_VERIFY_REQUIRED; }
		;

/* A plain count; -1 on error. */
count		: NUMBER			{
			$$ = $1;
			if ($1 < 0) {
				conferr("number must not be negative");
				$$ = -1;
			}
		}
		;

/* A size in bytes, with an optional K, M or G suffix; -1 on error. */
size		: NUMBER			{
			if (($$ = $1) < 1) {
				conferr("size must be positive");
				$$ = -1;
			}
		}
		| STRING			{
			if (parse_scaled($1, &$$, "size") == -1)
				$$ = -1;
			free($1);
		}
		;

/* A time in milliseconds: "500ms", "5s", "2m", "1h"; bare is seconds. */
time		: NUMBER			{
			if ($1 < 1 || $1 > INT_MAX / 1000) {
				conferr("time must be 1s to %ds",
				    INT_MAX / 1000);
				$$ = -1;
			} else
				$$ = $1 * 1000;
		}
		| STRING			{
			if (parse_scaled($1, &$$, "time") == -1)
				$$ = -1;
			free($1);
		}
		;

service		: SERVICE STRING		{
			const char	*p;

			for (p = $2; *p != '\0'; p++)
				if (!islower((unsigned char)*p) &&
				    !isdigit((unsigned char)*p) &&
				    *p != '-' && *p != '_')
					break;
			if (*$2 == '\0' || *p != '\0' || strlen($2) > 64)
				conferr("invalid service name \"%s\" (use "
				    "a-z, 0-9, - and _)", $2);
			service_abandoned();
			svc_nosocket = 0;
			svc = config_service_new($2);
			svc->svc_file = xstrdup(stmtfile->f_name);
			svc->svc_line = stmtline;
		} optnl '{' optnl servopts '}'	{
			if (svc->svc_socket == NULL && !svc_nosocket) {
				errors++;
				log_warnx("%s:%d: service \"%s\": no socket",
				    svc->svc_file, svc->svc_line,
				    svc->svc_name);
			} else if (svc_nosocket && svc->svc_program == NULL) {
				errors++;
				log_warnx("%s:%d: service \"%s\": \"socket "
				    "none\" needs a program", svc->svc_file,
				    svc->svc_line, svc->svc_name);
			} else if (svc_nosocket &&
			    !TAILQ_EMPTY(&svc->svc_servers)) {
				errors++;
				log_warnx("%s:%d: service \"%s\": \"socket "
				    "none\" with servers", svc->svc_file,
				    svc->svc_line, svc->svc_name);
			}
			TAILQ_INSERT_TAIL(&conf->conf_services, svc,
			    svc_entry);
			svc = NULL;
			free($2);
		}
		;

jwt		: JWT				{
			if (conf->conf_jwt != NULL) {
				conferr("duplicate \"jwt\" block");
				jwtdup = 1;
			} else {
				conf->conf_jwt = xcalloc(1,
				    sizeof(*conf->conf_jwt));
				conf->conf_jwt->jwt_refresh = -1;
				conf->conf_jwt->jwt_leeway = -1;
				conf->conf_jwt->jwt_file =
				    xstrdup(stmtfile->f_name);
				conf->conf_jwt->jwt_line = stmtline;
			}
		} optnl '{' optnl jwtopts '}'	{
			jwtdup = 0;
		}
		;

jwtopts		: /* empty */
		| jwtopts jwtopt optnl
		| jwtopts error NL		{ yyerrok; }
		;

/* A duplicate block's options are parsed and dropped. */
jwtopt		: JWKS FILE_ STRING		{
			if (jwtdup || conf_duplicate(
			    conf->conf_jwt->jwt_jwks_file != NULL,
			    "jwks file"))
				free($3);
			else {
				conf->conf_jwt->jwt_jwks_file =
				    path_relative(tokfile->f_name, $3);
				free($3);
			}
		}
		| JWKS SERVICE STRING PATH STRING optrefresh {
			if (jwtdup || conf_duplicate(
			    conf->conf_jwt->jwt_jwks_service != NULL,
			    "jwks service")) {
				free($3);
				free($5);
			} else {
				conf->conf_jwt->jwt_jwks_service = $3;
				conf->conf_jwt->jwt_jwks_path = $5;
				if ($6 > 0)
					conf->conf_jwt->jwt_refresh = (int)$6;
			}
		}
		| JWKS URL STRING optrefresh	{
			if (jwtdup || conf_duplicate(
			    conf->conf_jwt->jwt_jwks_url != NULL, "jwks url"))
				free($3);
			else {
				conf->conf_jwt->jwt_jwks_url = $3;
				if ($4 > 0)
					conf->conf_jwt->jwt_refresh = (int)$4;
			}
		}
		| ISSUER STRING			{
			if (jwtdup || conf_duplicate(
			    conf->conf_jwt->jwt_issuer != NULL, "issuer"))
				free($2);
			else
				conf->conf_jwt->jwt_issuer = $2;
		}
		| AUDIENCE STRING		{
			if (jwtdup || conf_duplicate(
			    conf->conf_jwt->jwt_audience != NULL, "audience"))
				free($2);
			else
				conf->conf_jwt->jwt_audience = $2;
		}
		| LEEWAY NUMBER			{
			/* seconds; 0 is fine here */
			if ($2 < 0 || $2 > 86400)
				conferr("leeway must be 0 to 86400 seconds");
			else if (!jwtdup && !conf_duplicate(
			    conf->conf_jwt->jwt_leeway != -1, "leeway"))
				conf->conf_jwt->jwt_leeway = (int)$2 * 1000;
		}
		| LEEWAY STRING			{
			int64_t	 ms = 0;

			if (strspn($2, "0") > 0 && ($2[strspn($2, "0")] ==
			    '\0' || strcmp($2 + strspn($2, "0"), "s") == 0 ||
			    strcmp($2 + strspn($2, "0"), "ms") == 0))
				ms = 0;		/* "0s": no leeway */
			else if (parse_scaled($2, &ms, "time") == -1)
				ms = -1;
			if (ms != -1 && !jwtdup && !conf_duplicate(
			    conf->conf_jwt->jwt_leeway != -1, "leeway"))
				conf->conf_jwt->jwt_leeway = (int)ms;
			free($2);
		}
		;

brkopts		: /* empty */
		| brkopts brkopt optnl
		| brkopts error NL		{ yyerrok; }
		;

brkopt		: WINDOW time			{ brk_set(&brk->b_window, $2,
						    1, 3600000, "window"); }
		| BUCKETS NUMBER		{ brk_set(&brk->b_buckets, $2,
						    1, 1000, "buckets"); }
		| VOLUME NUMBER			{ brk_set(&brk->b_volume, $2,
						    1, 1000000, "volume"); }
		| ERRORS STRING			{
			char	*end;
			long	 n;

			n = strtol($2, &end, 10);
			if (end == $2 || strcmp(end, "%") != 0)
				conferr("errors \"%s\": not a percentage", $2);
			else
				brk_set(&brk->b_error_pct, n, 1, 100,
				    "errors");
			free($2);
		}
		| SLEEP time			{ brk_set(&brk->b_sleep, $2,
						    1, 3600000, "sleep"); }
		| PROBES NUMBER			{ brk_set(&brk->b_probes, $2,
						    1, 1000, "probes"); }
		| SLOW time			{ brk_set(&brk->b_slow, $2,
						    1, 3600000, "slow"); }
		;

ratelimit	: RATELIMIT KEYS NUMBER		{
			if (conf_duplicate(conf->conf_ratelimit_keys != 0,
			    "ratelimit keys"))
				;
			else if ($3 < 1 || $3 > 100000000)
				conferr("ratelimit keys must be 1 to "
				    "100000000");
			else
				conf->conf_ratelimit_keys = (size_t)$3;
		}
		| RATELIMIT STRING		{
			struct gw_ratelimit	*o;

			if (check_name("ratelimit", $2, 0) == 0 &&
			    strlen($2) > 63)
				conferr("ratelimit name \"%s\" too long", $2);
			TAILQ_FOREACH(o, &conf->conf_ratelimits, rl_entry)
				if (strcmp(o->rl_name, $2) == 0)
					conferr("duplicate ratelimit \"%s\"",
					    $2);
			rl = xcalloc(1, sizeof(*rl));
			rl->rl_name = $2;
			rl->rl_file = xstrdup(stmtfile->f_name);
			rl->rl_line = stmtline;
			TAILQ_INSERT_TAIL(&conf->conf_ratelimits, rl, rl_entry);
		} optnl '{' optnl rlopts '}'	{
			if (rl->rl_nwin == 0)
				conferr("ratelimit \"%s\": no rate",
				    rl->rl_name);
			rl = NULL;
		}
		| TRUSTED PROXIES cidrs
		;

cidrs		: cidr
		| cidrs cidr
		| cidrs ',' cidr
		;

cidr		: STRING			{
			conf_trusted_add($1);
			free($1);
		}
		;

rlopts		: /* empty */
		| rlopts rlopt optnl
		| rlopts error NL		{ yyerrok; }
		;

rlopt		: RATE STRING optburst		{
			rl_rate($2, $3);
			free($2);
		}
		| KEY rlkeys
		| DRY RUN			{ rl->rl_dry_run = 1; }
		;

optburst	: /* empty */			{ $$ = 0; }
		| BURST NUMBER			{
			if ($2 < 1 || $2 > 1000000000) {
				conferr("burst must be 1 to 1000000000");
				$$ = 0;
			} else
				$$ = $2;
		}
		;

rlkeys		: rlkey
		| rlkeys ',' rlkey
		;

rlkey		: IP				{ rl_key(GW_RL_KEY_IP, NULL); }
		| SUB				{ rl_key(GW_RL_KEY_SUB, NULL); }
		| ROUTE				{ rl_key(GW_RL_KEY_ROUTE, NULL); }
		| HEADER STRING			{
			if (check_name("header", $2, 0) == 0)
				rl_key(GW_RL_KEY_HEADER, $2);
			else
				free($2);
		}
		;

optrefresh	: /* empty */			{ $$ = 0; }
		| REFRESH time			{ $$ = $2; }
		;

/* Options are separated by newlines or blanks: "user a group b". */
servopts	: /* empty */
		| servopts servopt optnl
		| servopts error NL		{ yyerrok; }
		;

servopt		: SOCKET STRING			{
			if (conf_duplicate(svc->svc_socket != NULL ||
			    svc_nosocket, "socket")) {
				free($2);
				break;
			}
			svc->svc_socket = $2;
			check_socket("socket", $2);
		}
		| SOCKET NONE			{
			/* a helper program: supervised, never proxied to */
			if (!conf_duplicate(svc->svc_socket != NULL ||
			    svc_nosocket, "socket"))
				svc_nosocket = 1;
		}
		| SERVER STRING			{
			struct gw_string	*s;

			TAILQ_FOREACH(s, &svc->svc_servers, s_entry)
				if (strcmp(s->s_value, $2) == 0)
					break;
			if (s != NULL || (svc->svc_socket != NULL &&
			    strcmp(svc->svc_socket, $2) == 0)) {
				conferr("server \"%s\": listed twice", $2);
				free($2);
			} else if (check_socket("server", $2) == -1)
				free($2);
			else
				string_append(&svc->svc_servers, $2);
		}
		| BALANCE balance
		| RETRIES NUMBER		{
			if (conf_duplicate(svc->svc_retries != -1,
			    "retries"))
				break;
			if ($2 < 0 || $2 > 10)
				conferr("retries must be 0 to 10");
			else
				svc->svc_retries = (int)$2;
		}
		| PARAM STRING value		{
			char	*kv;

			if (check_name("FastCGI parameter", $2, 1) == 0) {
				xasprintf(&kv, "%s=%s", $2, $3);
				string_append(&svc->svc_params, kv);
			}
			free($2);
			free($3);
		}
		| PASSIVE HEALTH FAILS count WITHIN time DOWN time {
			if (conf_duplicate(svc->svc_fail_max != -1,
			    "passive health") || $4 == -1 || $6 == -1 ||
			    $8 == -1)
				break;
			if ($4 > 1000)
				conferr("fails must be 0 to 1000");
			else {
				svc->svc_fail_max = (int)$4;
				svc->svc_fail_window = (int)$6;
				svc->svc_fail_down = (int)$8;
			}
		}
		| HEALTH CHECK PATH STRING	{
			if (conf_duplicate(svc->svc_check_path != NULL,
			    "health check"))
				free($4);
			else if ($4[0] != '/') {
				conferr("health check path \"%s\": must "
				    "start with /", $4);
				free($4);
			} else
				svc->svc_check_path = $4;
		} checkopts
		| PROGRAM STRING		{
			if (conf_duplicate(svc->svc_program != NULL,
			    "program"))
				free($2);
			else if ($2[0] != '/') {
				conferr("program \"%s\": needs an absolute "
				    "path", $2);
				free($2);
			} else
				svc->svc_program = $2;
		}
		| ARGUMENT value		{
			string_append(&svc->svc_args, $2);
		}
		| ENV STRING value		{
			char	*kv;

			if (check_name("environment variable", $2, 1) == 0) {
				xasprintf(&kv, "%s=%s", $2, $3);
				string_append(&svc->svc_env, kv);
			}
			free($2);
			free($3);
		}
		| USER STRING			{
			if (conf_duplicate(svc->svc_user != NULL, "user"))
				free($2);
			else
				svc->svc_user = $2;
		}
		| GROUP STRING			{
			if (conf_duplicate(svc->svc_group != NULL, "group"))
				free($2);
			else
				svc->svc_group = $2;
		}
		| CHDIR STRING			{
			if (conf_duplicate(svc->svc_chdir != NULL, "chdir"))
				free($2);
			else
				svc->svc_chdir = $2;
		}
		| PROCESSES NUMBER		{
			if (conf_duplicate(svc->svc_processes != -1,
			    "processes"))
				break;
			if ($2 < 1 || $2 > 1024)
				conferr("processes must be 1 to 1024");
			else
				svc->svc_processes = (int)$2;
		}
		| MAX CONNS NUMBER		{
			if (conf_duplicate(svc->svc_max_conns != -1,
			    "max conns"))
				break;
			if ($3 < 1 || $3 > 65536)
				conferr("max conns must be 1 to 65536");
			else
				svc->svc_max_conns = (int)$3;
		}
		| QUEUE NUMBER			{
			if (conf_duplicate(svc->svc_queue != -1, "queue"))
				break;
			if ($2 < 0 || $2 > 1000000)
				conferr("queue must be 0 to 1000000");
			else
				svc->svc_queue = (int)$2;
		}
		| QUEUE TIMEOUT time		{
			if (!conf_duplicate(svc->svc_queue_timeout != -1,
			    "queue timeout") && $3 != -1)
				svc->svc_queue_timeout = (int)$3;
		}
		| CONNECT TIMEOUT time		{
			if (!conf_duplicate(svc->svc_connect_timeout != -1,
			    "connect timeout") && $3 != -1)
				svc->svc_connect_timeout = (int)$3;
		}
		| BREAKER			{ brk = &svc->svc_breaker; }
		    optnl '{' optnl brkopts '}'	{ brk = NULL; }
		| MAX CONCURRENT NUMBER		{
			if (conf_duplicate(svc->svc_max_concurrent != 0,
			    "max concurrent"))
				break;
			if ($3 < 1 || $3 > 1000000)
				conferr("max concurrent must be 1 to 1000000");
			else
				svc->svc_max_concurrent = (int)$3;
		}
		| READ TIMEOUT time		{
			if (!conf_duplicate(svc->svc_read_timeout != -1,
			    "read timeout") && $3 != -1)
				svc->svc_read_timeout = (int)$3;
		}
		;

balance		: ROUNDROBIN			{ balance_set(GW_BALANCE_ROUNDROBIN,
						    NULL); }
		| LEASTCONN			{ balance_set(GW_BALANCE_LEASTCONN,
						    NULL); }
		| HASH SOURCE			{ balance_set(GW_BALANCE_HASH_SOURCE,
						    NULL); }
		| HASH HEADER STRING		{
			if (check_name("header", $3, 0) == 0)
				balance_set(GW_BALANCE_HASH_HEADER, $3);
			else
				free($3);
		}
		| HASH COOKIE STRING		{
			if (check_name("cookie", $3, 0) == 0)
				balance_set(GW_BALANCE_HASH_COOKIE, $3);
			else
				free($3);
		}
		;

/* "interval T rise N fall N", each optional, any order. */
checkopts	: /* empty */
		| checkopts checkopt
		;

checkopt	: INTERVAL time			{
			if ($2 != -1)
				svc->svc_check_interval = (int)$2;
		}
		| RISE NUMBER			{
			if ($2 < 1 || $2 > 100)
				conferr("rise must be 1 to 100");
			else
				svc->svc_check_rise = (int)$2;
		}
		| FALL NUMBER			{
			if ($2 < 1 || $2 > 100)
				conferr("fall must be 1 to 100");
			else
				svc->svc_check_fall = (int)$2;
		}
		;

optnl		: /* empty */
		| optnl NL
		;

%%

/* Sorted: searched with bsearch(). */
static const struct keyword {
	const char	*k_name;
	int		 k_token;
} keywords[] = {
	{ "access",	ACCESS },
	{ "admin",	ADMIN },
	{ "argument",	ARGUMENT },
	{ "audience",	AUDIENCE },
	{ "auto",		AUTO },
	{ "balance",	BALANCE },
	{ "body",		BODY },
	{ "breaker",	BREAKER },
	{ "buckets",	BUCKETS },
	{ "burst",	BURST },
	{ "ca",		CA },
	{ "certificate",	CERTIFICATE },
	{ "chdir",	CHDIR },
	{ "check",	CHECK },
	{ "ciphers",	CIPHERS },
	{ "client",	CLIENT },
	{ "concurrent",	CONCURRENT },
	{ "connect",	CONNECT },
	{ "connections",	CONNECTIONS },
	{ "conns",	CONNS },
	{ "cookie",	COOKIE },
	{ "down",		DOWN },
	{ "dry",		DRY },
	{ "env",		ENV },
	{ "error",	ERRLOG },
	{ "errors",	ERRORS },
	{ "facility",	FACILITY },
	{ "fails",	FAILS },
	{ "fall",		FALL },
	{ "file",		FILE_ },
	{ "group",	GROUP },
	{ "hash",		HASH },
	{ "header",	HEADER },
	{ "headers",	HEADERS },
	{ "health",	HEALTH },
	{ "idle",		IDLE },
	{ "include",	INCLUDE },
	{ "interval",	INTERVAL },
	{ "ip",		IP },
	{ "issuer",	ISSUER },
	{ "json",		JSON },
	{ "jwks",		JWKS },
	{ "jwt",		JWT },
	{ "key",		KEY },
	{ "keys",		KEYS },
	{ "leastconn",	LEASTCONN },
	{ "leeway",	LEEWAY },
	{ "listen",	LISTEN },
	{ "log",		LOG },
	{ "max",		MAX },
	{ "name",		NAME },
	{ "none",		NONE },
	{ "number",	NUMBER },
	{ "on",		ON },
	{ "optional",	OPTIONAL },
	{ "param",	PARAM },
	{ "passive",	PASSIVE },
	{ "path",		PATH },
	{ "pidfile",	PIDFILE },
	{ "port",		PORT },
	{ "probes",	PROBES },
	{ "processes",	PROCESSES },
	{ "program",	PROGRAM },
	{ "protocols",	PROTOCOLS },
	{ "proxies",	PROXIES },
	{ "queue",	QUEUE },
	{ "rate",		RATE },
	{ "ratelimit",	RATELIMIT },
	{ "read",		READ },
	{ "redirect",	REDIRECT },
	{ "refresh",	REFRESH },
	{ "requests",	REQUESTS },
	{ "required",	REQUIRED },
	{ "retries",	RETRIES },
	{ "rise",		RISE },
	{ "roundrobin",	ROUNDROBIN },
	{ "route",	ROUTE },
	{ "rules",	RULES },
	{ "run",		RUN },
	{ "send",		SEND },
	{ "server",	SERVER },
	{ "service",	SERVICE },
	{ "sleep",	SLEEP },
	{ "slow",		SLOW },
	{ "socket",	SOCKET },
	{ "source",	SOURCE },
	{ "stderr",	STDERR },
	{ "string",	STRING },
	{ "sub",		SUB },
	{ "syslog",	SYSLOG },
	{ "timeout",	TIMEOUT },
	{ "tls",		TLS },
	{ "trusted",	TRUSTED },
	{ "url",		URL },
	{ "user",		USER },
	{ "volume",	VOLUME },
	{ "window",	WINDOW },
	{ "within",	WITHIN },
	{ "workers",	WORKERS },
};

static int
kw_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct keyword *)e)->k_name);
}

static int
lookup(const char *s)
{
	const struct keyword	*p;

	p = bsearch(s, keywords, sizeof(keywords) / sizeof(keywords[0]),
	    sizeof(keywords[0]), kw_cmp);
	return p != NULL ? p->k_token : STRING;
}

/* Logs "file:line: message" for the current token and counts it. */
static int
conferr(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	errors++;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	log_warnx("%s:%d: %s", tokfile != NULL ? tokfile->f_name : "?",
	    tokline, msg);
	free(msg);
	return -1;
}

/* Bison's syntax errors; one message per line when the lexer spoke. */
static void
yyerror(const char *msg)
{
	if (lexerror) {
		errors++;
		return;
	}
	conferr("%s", msg);
}

static int
conf_duplicate(int isset, const char *what)
{
	if (!isset)
		return 0;
	conferr("duplicate \"%s\"", what);
	return 1;
}

static struct gw_listen *
conf_listen(struct gw_listens *head, char *addr, int64_t port)
{
	struct gw_listen	*l;
	struct addrinfo		 hints, *res;

	if (port < 1 || port > 65535) {
		conferr("invalid port %lld", (long long)port);
		free(addr);
		return NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST;
	if (strcmp(addr, "*") != 0 && strcmp(addr, "localhost") != 0) {
		if (getaddrinfo(addr, NULL, &hints, &res) != 0) {
			conferr("invalid listen address \"%s\" (use an IP "
			    "address, localhost or *)", addr);
			free(addr);
			return NULL;
		}
		freeaddrinfo(res);
	}
	l = xcalloc(1, sizeof(*l));
	TAILQ_INIT(&l->l_certs);
	l->l_addr = addr;
	xasprintf(&l->l_port, "%lld", (long long)port);
	l->l_file = xstrdup(stmtfile->f_name);
	l->l_line = stmtline;
	TAILQ_INSERT_TAIL(head, l, l_entry);
	return l;
}

/* A service socket or server address; 0, or -1 with the error logged. */
static int
check_socket(const char *what, const char *sock)
{
	if (config_socket_unix(sock)) {
		if (sock[0] != '/')
			return conferr("%s \"%s\": a unix socket needs an "
			    "absolute path", what, sock);
		if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return conferr("%s \"%s\": path too long", what,
			    sock);
	} else if (config_socket_hostport(sock, NULL, 0, NULL, 0) == -1)
		return conferr("%s \"%s\": not a path or host:port", what,
		    sock);
	return 0;
}

/*
 * An environment variable or FastCGI parameter name (upper: [A-Za-z_]
 * then [A-Za-z0-9_]), or an HTTP header or cookie name (an RFC 9110
 * token).  0, or -1 with the error logged.
 */
static int
check_name(const char *what, const char *name, int upper)
{
	const char	*p;

	for (p = name; *p != '\0'; p++) {
		if (upper ? !isalnum((unsigned char)*p) && *p != '_' :
		    !isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			break;
	}
	if (*name == '\0' || *p != '\0' ||
	    (upper && isdigit((unsigned char)*name)))
		return conferr("invalid %s name \"%s\"", what, name);
	return 0;
}

static void
balance_set(int mode, char *key)
{
	if (conf_duplicate(svc->svc_balance != -1, "balance")) {
		free(key);
		return;
	}
	svc->svc_balance = mode;
	svc->svc_hash_key = key;
}

/* "certificate F key F [name H]" in a listener's tls block. */
static void
tls_cert_add(char *cert, char *key, char *name)
{
	struct gw_tls_cert	*tc;

	if (lst == NULL)
		goto done;
	TAILQ_FOREACH(tc, &lst->l_certs, tc_entry) {
		if ((name == NULL && tc->tc_name == NULL) ||
		    (name != NULL && tc->tc_name != NULL &&
		    strcasecmp(name, tc->tc_name) == 0)) {
			conferr("certificate for %s%s%s: listed twice",
			    name ? "\"" : "", name ? name : "the default name",
			    name ? "\"" : "");
			goto done;
		}
	}
	tc = xcalloc(1, sizeof(*tc));
	tc->tc_cert = path_relative(tokfile->f_name, cert);
	tc->tc_key = path_relative(tokfile->f_name, key);
	tc->tc_name = name;
	name = NULL;
	TAILQ_INSERT_TAIL(&lst->l_certs, tc, tc_entry);
 done:
	free(cert);
	free(key);
	free(name);
}

/*
 * Error recovery can leave a service block half read; the config owns it
 * so that it is freed (there was an error, the config is not used).
 */
static void
service_abandoned(void)
{
	if (svc == NULL)
		return;
	TAILQ_INSERT_TAIL(&conf->conf_services, svc, svc_entry);
	svc = NULL;
}

static void
string_append(struct gw_strings *head, char *value)
{
	struct gw_string	*s;

	s = xcalloc(1, sizeof(*s));
	s->s_value = value;
	TAILQ_INSERT_TAIL(head, s, s_entry);
}

/*
 * "1M" (size, bytes) or "1500ms" (time, milliseconds) into *v.  The unit
 * tables are the grammar of both; a bare number never reaches here.
 */
static int
parse_scaled(const char *s, int64_t *v, const char *kind)
{
	static const struct unit {
		const char	*u_suffix;
		int64_t		 u_factor;
	} sizes[] = {
		{ "K", 1024 }, { "k", 1024 },
		{ "M", 1024 * 1024 }, { "m", 1024 * 1024 },
		{ "G", 1024 * 1024 * 1024 }, { "g", 1024 * 1024 * 1024 },
		{ NULL, 0 }
	}, times[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 },
		{ NULL, 0 }
	};
	const struct unit	*u;
	const char		*p;
	int64_t			 n = 0, max;

	u = strcmp(kind, "size") == 0 ? sizes : times;
	max = u == sizes ? (int64_t)1 << 40 : INT_MAX;
	for (p = s; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > max)
			break;
	}
	if (p != s && n <= max)
		for (; u->u_suffix != NULL; u++)
			if (strcmp(p, u->u_suffix) == 0)
				break;
	if (p == s || n > max || u->u_suffix == NULL) {
		conferr("invalid %s \"%s\" (%s)", kind, s, strcmp(kind,
		    "size") == 0 ? "a number with K, M or G" :
		    "a number with ms, s, m or h");
		return -1;
	}
	if (n == 0 || n > max / u->u_factor) {
		conferr("%s \"%s\" out of range", kind, s);
		return -1;
	}
	*v = n * u->u_factor;
	return 0;
}

/* A relative include or rules path is taken from the including file. */
static char *
path_relative(const char *base, const char *path)
{
	const char	*slash;
	char		*p;

	if (path[0] == '/' || (slash = strrchr(base, '/')) == NULL)
		return xstrdup(path);
	xasprintf(&p, "%.*s/%s", (int)(slash - base), base, path);
	return p;
}

/*
 * The characters.  Macro text comes first, then pushed back characters,
 * then the file, where a backslash-newline joins lines outside quotes.
 */
static int
lgetc(int quotec)
{
	int	 c, next;

	if (parsebuf != NULL) {
		if ((c = *parsebuf++) != '\0')
			return c;
		parsebuf = NULL;
	}
	if (npushback > 0)
		return pushback[--npushback];
	if (quotec)
		return getc(file->f_stream);
	while ((c = getc(file->f_stream)) == '\\') {
		next = getc(file->f_stream);
		if (next != '\n') {
			ungetc(next, file->f_stream);
			break;
		}
		file->f_lineno++;
	}
	return c;
}

static void
lungetc(int c)
{
	if (c == EOF)
		return;
	if (parsebuf != NULL) {
		parsebuf--;
		return;
	}
	if (npushback < PARSE_MAXPUSHBACK)
		pushback[npushback++] = c;
}

/* After a lexer error: skip to the end of the line. */
static int
findeol(void)
{
	int	 c;

	lexerror = 1;
	parsebuf = NULL;
	while ((c = lgetc(0)) != '\n' && c != EOF)
		;
	lungetc(c);
	return ERROR;
}

#define allowed_in_string(x) \
	(isalnum(x) || (ispunct(x) && x != '(' && x != ')' && \
	x != '{' && x != '}' && x != '<' && x != '>' && \
	x != '!' && x != '=' && x != '#' && x != ',' && x != '"' && \
	x != '\'' && x != ';'))

static int
yylex(YYSTYPE *lval)
{
	char		 buf[PARSE_MAXTOKEN], name[128];
	const char	*val;
	char		*p;
	int		 quotec, c, token;
	size_t		 n;

top:
	p = buf;
	while ((c = lgetc(0)) == ' ' || c == '\t')
		;
	tokfile = file;
	tokline = file->f_lineno;
	if (c == '#')
		while ((c = lgetc(0)) != '\n' && c != EOF)
			;

	/* ";" ends a statement as a newline does: "rate 20/s ; rate 1/h" */
	if (c == ';' && parsebuf == NULL)
		return NL;

	if (c == EOF) {
		/* A last line without its newline still ends a statement. */
		if (!file->f_atnl) {
			file->f_atnl = 1;
			return NL;
		}
		if (popfile() == EOF)
			return 0;
		goto top;
	}
	if (file->f_atnl && c != '\n') {
		stmtfile = file;
		stmtline = tokline;
	}
	file->f_atnl = 0;

	/* $name outside quotes: the macro's text is read as input. */
	if (c == '$' && parsebuf == NULL) {
		n = 0;
		while ((c = lgetc(0)) != EOF &&
		    (isalnum(c) || c == '_')) {
			if (n + 1 >= sizeof(name)) {
				conferr("macro name too long");
				return findeol();
			}
			name[n++] = (char)c;
		}
		name[n] = '\0';
		lungetc(c);
		if (n == 0) {
			conferr("\"$\" without a macro name");
			return findeol();
		}
		if ((val = symget(name)) == NULL) {
			conferr("undefined macro \"%s\"", name);
			return findeol();
		}
		parsebuf = (const unsigned char *)val;
		goto top;
	}

	switch (c) {
	case '\'':
	case '"':
		quotec = c;
		for (;;) {
			if ((c = lgetc(quotec)) == EOF || c == '\n') {
				conferr("unterminated quoted string");
				lungetc(c);
				return findeol();
			}
			if (c == quotec)
				break;
			if (c == '\\') {
				if ((c = lgetc(quotec)) == '\n') {
					file->f_lineno++;
					continue;
				}
				if (c != quotec && c != '\\' && c != '$') {
					lungetc(c);
					c = '\\';
				}
			} else if (c == '$' && quotec == '"') {
				/* ${name} inside double quotes */
				if ((c = lgetc(quotec)) != '{') {
					lungetc(c);
					c = '$';
				} else {
					n = 0;
					while ((c = lgetc(quotec)) != '}') {
						if (c == EOF || c == '\n' ||
						    c == quotec ||
						    n + 1 >= sizeof(name)) {
							conferr("unterminated "
							    "\"${\"");
							lungetc(c);
							return findeol();
						}
						name[n++] = (char)c;
					}
					name[n] = '\0';
					if ((val = symget(name)) == NULL) {
						conferr("undefined macro "
						    "\"%s\"", name);
						return findeol();
					}
					n = strlen(val);
					if (p + n >= buf + sizeof(buf) - 1) {
						conferr("string too long");
						return findeol();
					}
					memcpy(p, val, n);
					p += n;
					continue;
				}
			}
			if (p + 1 >= buf + sizeof(buf) - 1) {
				conferr("string too long");
				return findeol();
			}
			*p++ = (char)c;
		}
		*p = '\0';
		lval->string = xstrdup(buf);
		return STRING;
	}

	if (allowed_in_string(c)) {
		do {
			*p++ = (char)c;
			if ((size_t)(p - buf) >= sizeof(buf)) {
				conferr("string too long");
				return findeol();
			}
		} while ((c = lgetc(0)) != EOF && allowed_in_string(c));
		lungetc(c);
		*p = '\0';

		/* Digits, with an optional sign, are a number. */
		p = buf + (buf[0] == '-' || buf[0] == '+');
		if (*p != '\0' && strspn(p, "0123456789") == strlen(p)) {
			errno = 0;
			lval->number = strtoll(buf, NULL, 10);
			if (errno == ERANGE) {
				conferr("number \"%s\" too large", buf);
				return findeol();
			}
			return NUMBER;
		}

		/* A word before "=" names a macro, even a keyword. */
		while ((c = lgetc(0)) == ' ' || c == '\t')
			;
		lungetc(c);
		if (c == '=' || (token = lookup(buf)) == STRING) {
			lval->string = xstrdup(buf);
			return STRING;
		}
		return token;
	}

	if (c == '\n') {
		file->f_lineno++;
		file->f_atnl = 1;
		lexerror = 0;
		return NL;
	}
	return c;
}

static struct file *
pushfile(const char *name)
{
	struct file	*nfile;
	FILE		*stream;

	if ((stream = fopen(name, "r")) == NULL)
		return NULL;
	nfile = xcalloc(1, sizeof(*nfile));
	nfile->f_stream = stream;
	nfile->f_name = xstrdup(name);
	nfile->f_lineno = 1;
	nfile->f_atnl = 1;
	TAILQ_INSERT_TAIL(&files, nfile, f_entry);
	file = nfile;
	depth++;
	return nfile;
}

/* Files are freed after the parse: tokfile may still point at one. */
static int
popfile(void)
{
	struct file	*prev;

	if (file == topfile)
		return EOF;
	prev = TAILQ_PREV(file, files, f_entry);
	TAILQ_REMOVE(&files, file, f_entry);
	fclose(file->f_stream);
	file->f_stream = NULL;
	TAILQ_INSERT_TAIL(&donefiles, file, f_entry);
	file = prev;
	depth--;
	return 0;
}

static void
files_free(void)
{
	struct file	*f;

	TAILQ_CONCAT(&files, &donefiles, f_entry);
	while ((f = TAILQ_FIRST(&files)) != NULL) {
		TAILQ_REMOVE(&files, f, f_entry);
		if (f->f_stream != NULL)
			fclose(f->f_stream);
		free(f->f_name);
		free(f);
	}
	file = topfile = tokfile = stmtfile = NULL;
	depth = 0;
}

struct gw_config *
config_parse(const char *filename)
{
	struct sym	*sym, *next;

	conf = config_new(filename);
	errors = 0;
	lexerror = 0;
	npushback = 0;
	parsebuf = NULL;
	if (pushfile(filename) == NULL) {
		log_warn("%s", filename);
		config_free(conf);
		conf = NULL;
		return NULL;
	}
	topfile = file;
	yyparse();
	service_abandoned();
	files_free();

	/* File macros last one parse; -D ones live on for reloads. */
	for (sym = TAILQ_FIRST(&syms); sym != NULL; sym = next) {
		next = TAILQ_NEXT(sym, sym_entry);
		if (!sym->sym_used)
			log_debug("%s: macro \"%s\" not used", filename,
			    sym->sym_name);
		if (sym->sym_persist)
			continue;
		TAILQ_REMOVE(&syms, sym, sym_entry);
		free(sym->sym_name);
		free(sym->sym_value);
		free(sym);
	}

	if (errors > 0) {
		config_free(conf);
		conf = NULL;
		return NULL;
	}
	config_defaults(conf);
	return conf;
}

int
config_symset(const char *name, const char *value, int persist)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &syms, sym_entry)
		if (strcmp(name, sym->sym_name) == 0)
			break;
	if (sym != NULL) {
		/* -D wins over the file */
		if (sym->sym_persist && !persist)
			return 0;
		TAILQ_REMOVE(&syms, sym, sym_entry);
		free(sym->sym_name);
		free(sym->sym_value);
		free(sym);
	}
	sym = xcalloc(1, sizeof(*sym));
	sym->sym_name = xstrdup(name);
	sym->sym_value = xstrdup(value);
	sym->sym_persist = persist;
	TAILQ_INSERT_TAIL(&syms, sym, sym_entry);
	return 0;
}

/* "name=value" from -D; returns -1 when there is no "=" or no name. */
int
config_cmdline_symset(const char *nameval)
{
	const char	*eq;
	char		*name;
	int		 ret;

	if ((eq = strchr(nameval, '=')) == NULL || eq == nameval)
		return -1;
	name = xstrndup(nameval, (size_t)(eq - nameval));
	ret = config_symset(name, eq + 1, 1);
	free(name);
	return ret;
}

void
config_symclear(void)
{
	struct sym	*sym;

	while ((sym = TAILQ_FIRST(&syms)) != NULL) {
		TAILQ_REMOVE(&syms, sym, sym_entry);
		free(sym->sym_name);
		free(sym->sym_value);
		free(sym);
	}
}

static const char *
symget(const char *name)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &syms, sym_entry)
		if (strcmp(name, sym->sym_name) == 0) {
			sym->sym_used = 1;
			return sym->sym_value;
		}
	return NULL;
}

/* "rate N/s|m|h|d [burst B]" of the ratelimit block being read. */
static void
rl_rate(const char *spec, int64_t burst)
{
	static const struct {
		const char	*u;
		uint32_t	 s;
	} units[] = { { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 } };
	struct gw_rl_window	*w;
	const char		*slash;
	char			*end;
	long long		 n;
	size_t			 i;

	if ((slash = strchr(spec, '/')) == NULL) {
		conferr("rate \"%s\": not N/s, N/m, N/h or N/d", spec);
		return;
	}
	errno = 0;
	n = strtoll(spec, &end, 10);
	if (end != slash || errno != 0 || n < 1 || n > 1000000000) {
		conferr("rate \"%s\": the count must be 1 to 1000000000",
		    spec);
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(slash + 1, units[i].u) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0])) {
		conferr("rate \"%s\": not N/s, N/m, N/h or N/d", spec);
		return;
	}
	if (rl->rl_nwin >= GW_RL_MAXWIN) {
		conferr("ratelimit \"%s\": at most %d rates", rl->rl_name,
		    GW_RL_MAXWIN);
		return;
	}
	w = &rl->rl_win[rl->rl_nwin++];
	w->w_limit = (uint64_t)n;
	w->w_period_s = units[i].s;
	w->w_burst = (uint64_t)burst;
}

/* One part of "key ip, header "X-Api-Key"" (name is taken). */
static void
rl_key(int type, char *name)
{
	if (rl->rl_nkeys >= GW_RL_MAXKEYS) {
		conferr("ratelimit \"%s\": at most %d key parts", rl->rl_name,
		    GW_RL_MAXKEYS);
		free(name);
		return;
	}
	rl->rl_keys[rl->rl_nkeys] = type;
	rl->rl_headers[rl->rl_nkeys] = name;
	rl->rl_nkeys++;
}

/* "trusted proxies" entry: an address, with /bits or without. */
static void
conf_trusted_add(const char *spec)
{
	struct gw_cidr	 c;
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long		 bits;

	memset(&c, 0, sizeof(c));
	if ((size_t)snprintf(buf, sizeof(buf), "%s", spec) >= sizeof(buf))
		goto bad;
	bits = -1;
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || slash[1] == '\0' || errno != 0)
			goto bad;
	}
	if (inet_pton(AF_INET, buf, c.c_addr) == 1) {
		c.c_family = AF_INET;
		if (bits == -1)
			bits = 32;
		if (bits < 0 || bits > 32)
			goto bad;
	} else if (inet_pton(AF_INET6, buf, c.c_addr) == 1) {
		c.c_family = AF_INET6;
		if (bits == -1)
			bits = 128;
		if (bits < 0 || bits > 128)
			goto bad;
	} else
		goto bad;
	c.c_bits = (int)bits;
	conf->conf_trusted = xreallocarray(conf->conf_trusted,
	    conf->conf_ntrusted + 1, sizeof(*conf->conf_trusted));
	conf->conf_trusted[conf->conf_ntrusted++] = c;
	return;
 bad:
	conferr("trusted proxies: \"%s\" is not an address or address/bits",
	    spec);
}

/* One breaker setting, once, within [lo, hi]; v -1 was refused already. */
static void
brk_set(int *field, int64_t v, int64_t lo, int64_t hi, const char *what)
{
	if (v == -1)
		return;
	if (*field != -1) {
		conferr("duplicate \"%s\"", what);
		return;
	}
	if (v < lo || v > hi) {
		conferr("%s must be %lld to %lld", what, (long long)lo,
		    (long long)hi);
		return;
	}
	*field = (int)v;
}
