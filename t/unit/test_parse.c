/*
 * proxy/parse.y and proxy/config.c: every .conf in t/fixtures/conf/good
 * parses and checks; every bad one logs exactly the lines of its .err
 * file; values, defaults and macros come out as gateway.conf(5) says.
 */

#include <sys/queue.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "runner.h"
#include "tls.h"
#include "proxy/config.h"
#include "rules.h"

/* CU_ASSERT_*_FATAL leaves by longjmp, which gcc cannot see. */
#pragma GCC diagnostic ignored "-Wnull-dereference"

static char	 top[PATH_MAX];
static char	 fixtures[PATH_MAX];
static char	 logpath[PATH_MAX];

/*
 * Parses (and if that works, checks) <fixtures>/<sub>/<name> from inside
 * that folder, so messages carry the short name.  Returns the config if
 * both passed; *out gets what was logged, one message per line.
 */
static struct gw_config *
parse(const char *sub, const char *name, char *out, size_t outlen)
{
	struct gw_config	*conf;
	char			 dir[PATH_MAX], cwd[PATH_MAX], line[2048];
	char			*msg;
	FILE			*fp;
	int			 fd;
	size_t			 n = 0;

	if (snprintf(dir, sizeof(dir), "%s/%s", fixtures, sub) >=
	    (int)sizeof(dir) || getcwd(cwd, sizeof(cwd)) == NULL ||
	    chdir(dir) == -1)
		abort();
	snprintf(logpath, sizeof(logpath), "/tmp/test_parse.XXXXXX");
	if ((fd = mkstemp(logpath)) == -1 || log_open(logpath) == -1)
		abort();
	close(fd);
	if ((conf = config_parse(name)) != NULL && config_check(conf) == -1) {
		config_free(conf);
		conf = NULL;
	}
	log_open("/dev/stderr");
	if (chdir(cwd) == -1)
		abort();

	/* "<time> agora[pid]: warning: <message>" -> "<message>" */
	out[0] = '\0';
	if ((fp = fopen(logpath, "r")) == NULL)
		abort();
	while (fgets(line, sizeof(line), fp) != NULL) {
		if ((msg = strstr(line, "]: ")) == NULL ||
		    (msg = strstr(msg + 3, ": ")) == NULL)
			continue;
		msg += 2;
		if (n + strlen(msg) < outlen) {
			memcpy(out + n, msg, strlen(msg) + 1);
			n += strlen(msg);
		}
	}
	fclose(fp);
	unlink(logpath);
	return conf;
}

static struct gw_listen *
listen_nth(struct gw_listens *head, int n)
{
	struct gw_listen	*l;

	TAILQ_FOREACH(l, head, l_entry)
		if (n-- == 0)
			return l;
	return NULL;
}

static const char *
string_nth(struct gw_strings *head, int n)
{
	struct gw_string	*s;

	TAILQ_FOREACH(s, head, s_entry)
		if (n-- == 0)
			return s->s_value;
	return "(none)";
}

/* Runs fn on each .conf in <sub>; returns how many there were. */
static int
each_conf(const char *sub, void (*fn)(const char *, const char *))
{
	char		 dir[PATH_MAX];
	struct dirent	**list;
	size_t		 len;
	int		 i, n, count = 0;

	if (snprintf(dir, sizeof(dir), "%s/%s", fixtures, sub) >=
	    (int)sizeof(dir))
		return 0;
	if ((n = scandir(dir, &list, NULL, alphasort)) == -1)
		return 0;
	for (i = 0; i < n; i++) {
		len = strlen(list[i]->d_name);
		if (len > 5 && strcmp(list[i]->d_name + len - 5, ".conf") == 0) {
			fn(sub, list[i]->d_name);
			count++;
		}
		free(list[i]);
	}
	free(list);
	return count;
}

static void
good_one(const char *sub, const char *name)
{
	struct gw_config	*conf;
	char			 out[8192];

	config_symclear();
	conf = parse(sub, name, out, sizeof(out));
	if (conf == NULL) {
		printf("# %s failed:\n%s", name, out);
		CU_FAIL("good config refused");
	}
	config_free(conf);
}

static void
t_good(void)
{
	CU_ASSERT(each_conf("good", good_one) >= 5);
}

static void
bad_one(const char *sub, const char *name)
{
	struct gw_config	*conf;
	char			 out[8192], want[8192], path[PATH_MAX];
	FILE			*fp;
	size_t			 n = 0;

	if (snprintf(path, sizeof(path), "%s/%s/%.*s.err", fixtures, sub,
	    (int)(strlen(name) - 5), name) >= (int)sizeof(path))
		abort();
	if ((fp = fopen(path, "r")) != NULL) {
		n = fread(want, 1, sizeof(want) - 1, fp);
		fclose(fp);
	}
	want[n] = '\0';
	config_symclear();
	conf = parse(sub, name, out, sizeof(out));
	if (conf != NULL || n == 0 || strcmp(out, want) != 0) {
		printf("# %s\n# want:\n%s# got:\n%s", name, want,
		    conf != NULL ? "(accepted)\n" : out);
		CU_FAIL("bad config: not the expected errors");
	}
	config_free(conf);
}

static void
t_bad(void)
{
	CU_ASSERT(each_conf("bad", bad_one) >= 10);
}

static void
t_defaults(void)
{
	struct gw_config	*conf;
	struct gw_service	*svc;
	char			 out[4096];

	config_symclear();
	conf = parse("good", "minimal.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_STRING_EQUAL(conf->conf_file, "minimal.conf");
	CU_ASSERT_EQUAL(conf->conf_workers, 0);
	CU_ASSERT_EQUAL(conf->conf_max_body, 1024 * 1024);
	CU_ASSERT_EQUAL(conf->conf_max_header, 8 * 1024);
	CU_ASSERT_EQUAL(conf->conf_idle_timeout, 60000);
	CU_ASSERT_PTR_NULL(conf->conf_access_log);
	CU_ASSERT_PTR_NULL(conf->conf_error_log);
	CU_ASSERT_PTR_NULL(conf->conf_pidfile);
	CU_ASSERT_PTR_NULL(conf->conf_user);
	CU_ASSERT(TAILQ_EMPTY(&conf->conf_admin));
	CU_ASSERT_STRING_EQUAL(conf->conf_rules_path,
	    "../../rules/good/catalog.lua");

	svc = config_service(conf, "catalog");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_PTR_NULL(config_service(conf, "orders"));
	CU_ASSERT_STRING_EQUAL(svc->svc_socket, "/run/agora/catalog.sock");
	CU_ASSERT_PTR_NULL(svc->svc_program);
	CU_ASSERT(TAILQ_EMPTY(&svc->svc_args));
	CU_ASSERT(TAILQ_EMPTY(&svc->svc_env));
	CU_ASSERT_EQUAL(svc->svc_processes, 1);
	CU_ASSERT_EQUAL(svc->svc_max_conns, 1);
	CU_ASSERT_EQUAL(svc->svc_queue, 64);
	CU_ASSERT_EQUAL(svc->svc_queue_timeout, 5000);
	CU_ASSERT_EQUAL(svc->svc_connect_timeout, 1000);
	CU_ASSERT_EQUAL(svc->svc_read_timeout, 30000);
	CU_ASSERT_EQUAL(svc->svc_used, 1);
	CU_ASSERT_STRING_EQUAL(svc->svc_file, "minimal.conf");
	CU_ASSERT_EQUAL(svc->svc_line, 4);

	/* the check pass resolved the routes to this service */
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf->conf_rules);
	CU_ASSERT_EQUAL_FATAL(conf->conf_rules->rl_nroutes, 2);
	CU_ASSERT_PTR_EQUAL(conf->conf_rules->rl_routes[0].r_service, svc);
	CU_ASSERT_PTR_EQUAL(conf->conf_rules->rl_routes[1].r_service, svc);
	config_free(conf);
}

static void
t_full(void)
{
	struct gw_config	*conf;
	struct gw_service	*svc;
	struct gw_listen	*l;
	struct gw_tls_cert	*tc;
	char			 out[4096];

	config_symclear();
	conf = parse("good", "full.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_EQUAL(conf->conf_workers, 4);
	l = listen_nth(&conf->conf_listens, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l->l_addr, "::1");
	CU_ASSERT_STRING_EQUAL(l->l_port, "8080");
	CU_ASSERT_EQUAL(l->l_line, 4);
	CU_ASSERT_EQUAL(l->l_tls, 0);
	CU_ASSERT(TAILQ_EMPTY(&l->l_certs));
	CU_ASSERT_PTR_NULL(l->l_redirect);
	l = listen_nth(&conf->conf_listens, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l->l_port, "8443");
	CU_ASSERT_EQUAL(l->l_tls, 1);
	tc = TAILQ_FIRST(&l->l_certs);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tc);
	CU_ASSERT_PTR_NULL(tc->tc_name);
	CU_ASSERT_STRING_EQUAL(tc->tc_cert, "tls/server.pem");
	CU_ASSERT_STRING_EQUAL(tc->tc_key, "tls/server.key");
	tc = TAILQ_NEXT(tc, tc_entry);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tc);
	CU_ASSERT_STRING_EQUAL(tc->tc_name, "shop.example");
	CU_ASSERT_STRING_EQUAL(tc->tc_cert, "tls/shop.pem");
	CU_ASSERT_PTR_NULL(TAILQ_NEXT(tc, tc_entry));
	CU_ASSERT_STRING_EQUAL(l->l_client_ca, "tls/ca.pem");
	CU_ASSERT_EQUAL(l->l_client_verify, GW_VERIFY_OPTIONAL);
	CU_ASSERT_EQUAL(l->l_protocols, TLS_PROTO_TLSV1_3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l->l_ciphers);
	CU_ASSERT_STRING_EQUAL(l->l_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
	l = listen_nth(&conf->conf_listens, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(l->l_tls, 0);
	CU_ASSERT_STRING_EQUAL(l->l_redirect, "https://localhost:8443");
	CU_ASSERT_PTR_NULL(listen_nth(&conf->conf_listens, 4));
	CU_ASSERT_EQUAL(conf->conf_access_log_json, 1);
	CU_ASSERT_EQUAL(conf->conf_max_headers, 50);
	CU_ASSERT_EQUAL(conf->conf_header_timeout, 5000);
	CU_ASSERT_EQUAL(conf->conf_body_timeout, 20000);
	CU_ASSERT_EQUAL(conf->conf_send_timeout, 15000);
	CU_ASSERT_EQUAL(conf->conf_max_requests, 500);
	CU_ASSERT_EQUAL(conf->conf_max_client_conns, 64);
	l = listen_nth(&conf->conf_admin, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l->l_port, "8081");
	CU_ASSERT_STRING_EQUAL(conf->conf_access_log,
	    "/var/log/agora/access.log");
	CU_ASSERT_STRING_EQUAL(conf->conf_error_log,
	    "/var/log/agora/error.log");
	CU_ASSERT_STRING_EQUAL(conf->conf_pidfile, "/run/agora/gateway.pid");
	CU_ASSERT_STRING_EQUAL(conf->conf_user, "agora");
	CU_ASSERT_EQUAL(conf->conf_max_body, 2 * 1024 * 1024);
	CU_ASSERT_EQUAL(conf->conf_max_header, 16 * 1024);
	CU_ASSERT_EQUAL(conf->conf_idle_timeout, 90000);

	svc = config_service(conf, "catalog");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_STRING_EQUAL(svc->svc_program, "/usr/sbin/agora-catalog");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_args, 0), "-v");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_args, 1), "2");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_env, 0),
	    "AGORA_DB_SOCKET=/run/mysqld/mysqld.sock");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_env, 1),
	    "AGORA_DB_NAME=catalog");
	CU_ASSERT_STRING_EQUAL(svc->svc_user, "agora");
	CU_ASSERT_STRING_EQUAL(svc->svc_group, "agora");
	CU_ASSERT_STRING_EQUAL(svc->svc_chdir, "/");
	CU_ASSERT_EQUAL(svc->svc_processes, 4);
	CU_ASSERT_EQUAL(svc->svc_max_conns, 3);
	CU_ASSERT_EQUAL(svc->svc_queue, 128);
	CU_ASSERT_EQUAL(svc->svc_queue_timeout, 2500);
	CU_ASSERT_EQUAL(svc->svc_connect_timeout, 1000);
	CU_ASSERT_EQUAL(svc->svc_read_timeout, 120000);
	CU_ASSERT_EQUAL(svc->svc_balance, GW_BALANCE_ROUNDROBIN);

	svc = config_service(conf, "pricing");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_STRING_EQUAL(svc->svc_socket, "127.0.0.1:9101");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_servers, 0),
	    "127.0.0.1:9102");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_servers, 1),
	    "/run/agora/pricing.sock");
	CU_ASSERT_EQUAL(svc->svc_balance, GW_BALANCE_HASH_HEADER);
	CU_ASSERT_STRING_EQUAL(svc->svc_hash_key, "X-Cart-Id");
	CU_ASSERT_EQUAL(svc->svc_retries, 2);
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_params, 0),
	    "APP_ENV=production");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_params, 1),
	    "SCRIPT_FILENAME=/srv/pricing.php");
	CU_ASSERT_EQUAL(svc->svc_fail_max, 3);
	CU_ASSERT_EQUAL(svc->svc_fail_window, 5000);
	CU_ASSERT_EQUAL(svc->svc_fail_down, 30000);
	CU_ASSERT_STRING_EQUAL(svc->svc_check_path, "/healthz");
	CU_ASSERT_EQUAL(svc->svc_check_interval, 500);
	CU_ASSERT_EQUAL(svc->svc_check_rise, 3);
	CU_ASSERT_EQUAL(svc->svc_check_fall, 2);
	CU_ASSERT_EQUAL(svc->svc_max_conns, 8);

	/* a helper: supervised, no socket, no pool */
	svc = config_service(conf, "relay");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_PTR_NULL(svc->svc_socket);
	CU_ASSERT_STRING_EQUAL(svc->svc_program, "/usr/sbin/agora-relay");
	config_free(conf);
}

static void
t_balance(void)
{
	static const struct {
		const char	*name;
		int		 balance;
		const char	*key;
	} want[] = {
		{ "catalog",	GW_BALANCE_LEASTCONN,	NULL },
		{ "rr",		GW_BALANCE_ROUNDROBIN,	NULL },
		{ "src",	GW_BALANCE_HASH_SOURCE,	NULL },
		{ "by-cookie",	GW_BALANCE_HASH_COOKIE,	"SESSION" },
		{ "off",	GW_BALANCE_ROUNDROBIN,	NULL },
	};
	struct gw_config	*conf;
	struct gw_service	*svc;
	char			 out[4096];
	size_t			 i;

	config_symclear();
	conf = parse("good", "balance.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		svc = config_service(conf, want[i].name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
		CU_ASSERT_EQUAL(svc->svc_balance, want[i].balance);
		if (want[i].key == NULL) {
			CU_ASSERT_PTR_NULL(svc->svc_hash_key);
		} else {
			CU_ASSERT_STRING_EQUAL(svc->svc_hash_key,
			    want[i].key);
		}
	}
	svc = config_service(conf, "off");
	CU_ASSERT_EQUAL(svc->svc_fail_max, 0);
	CU_ASSERT_EQUAL(svc->svc_retries, 0);
	CU_ASSERT_STRING_EQUAL(svc->svc_check_path, "/ping");
	CU_ASSERT_EQUAL(svc->svc_check_interval, 2000);
	CU_ASSERT_EQUAL(svc->svc_check_rise, 2);
	CU_ASSERT_EQUAL(svc->svc_check_fall, 3);
	/* defaults of what the catalog leaves unset */
	svc = config_service(conf, "catalog");
	CU_ASSERT_EQUAL(svc->svc_retries, 1);
	CU_ASSERT_EQUAL(svc->svc_fail_max, 5);
	CU_ASSERT_EQUAL(svc->svc_fail_window, 10000);
	CU_ASSERT_EQUAL(svc->svc_fail_down, 10000);
	CU_ASSERT_PTR_NULL(svc->svc_check_path);
	CU_ASSERT_EQUAL(conf->conf_max_headers, 100);
	CU_ASSERT_EQUAL(conf->conf_header_timeout, 10000);
	CU_ASSERT_EQUAL(conf->conf_max_requests, 1000);
	CU_ASSERT_EQUAL(conf->conf_max_client_conns, 256);
	/* "access log json": JSON lines to stderr */
	CU_ASSERT_PTR_NULL(conf->conf_access_log);
	CU_ASSERT_EQUAL(conf->conf_access_log_json, 1);
	/* helpers are not "unused": no route can use them */
	CU_ASSERT_PTR_NULL(strstr(out, "\"relay\""));
	config_free(conf);
}

static void
t_macros(void)
{
	struct gw_config	*conf;
	struct gw_service	*svc;
	struct gw_listen	*l;
	char			 out[4096];

	config_symclear();
	conf = parse("good", "macros.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_EQUAL(conf->conf_workers, 0);
	CU_ASSERT_EQUAL(conf->conf_idle_timeout, 45000);
	l = listen_nth(&conf->conf_listens, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l->l_addr, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(l->l_port, "8080");
	l = listen_nth(&conf->conf_listens, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l->l_port, "8090");
	l = listen_nth(&conf->conf_admin, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_STRING_EQUAL(l->l_port, "8081");
	svc = config_service(conf, "catalog");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_STRING_EQUAL(svc->svc_socket, "/run/agora/catalog.sock");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_env, 0),
	    "LITERAL=${rundir} stays");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_env, 1),
	    "ESCAPED=${rundir} \"quoted\" \\");
	CU_ASSERT_STRING_EQUAL(string_nth(&svc->svc_env, 2),
	    "JOINED=/run/agora/run/agora");
	config_free(conf);

	/* -D wins over the file, and lives on from one parse to the next */
	CU_ASSERT_EQUAL(config_cmdline_symset("port=9090"), 0);
	CU_ASSERT_EQUAL(config_cmdline_symset("rundir=/tmp/x"), 0);
	CU_ASSERT_EQUAL(config_cmdline_symset("noequals"), -1);
	CU_ASSERT_EQUAL(config_cmdline_symset("=value"), -1);
	conf = parse("good", "macros.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_STRING_EQUAL(listen_nth(&conf->conf_listens, 0)->l_port,
	    "9090");
	CU_ASSERT_STRING_EQUAL(config_service(conf, "catalog")->svc_socket,
	    "/tmp/x/catalog.sock");
	config_free(conf);
	conf = parse("good", "macros.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_STRING_EQUAL(listen_nth(&conf->conf_listens, 0)->l_port,
	    "9090");
	config_free(conf);
	config_symclear();
}

static void
t_include(void)
{
	struct gw_config	*conf;
	struct gw_service	*svc;
	char			 out[4096];

	config_symclear();
	conf = parse("good", "include.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	svc = config_service(conf, "catalog");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_STRING_EQUAL(svc->svc_socket, "127.0.0.1:9001");
	CU_ASSERT_STRING_EQUAL(svc->svc_file, "inc/catalog.inc");
	CU_ASSERT_EQUAL(svc->svc_line, 2);
	CU_ASSERT_EQUAL(conf->conf_max_body, 512 * 1024);
	/* the included file's last line has no newline */
	CU_ASSERT_EQUAL(conf->conf_idle_timeout, 5 * 60 * 1000);
	config_free(conf);
}

static void
t_layout(void)
{
	struct gw_config	*conf;
	struct gw_service	*svc;
	char			 out[4096];

	config_symclear();
	conf = parse("good", "layout.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_STRING_EQUAL(out, "layout.conf:13: service \"spare\" is "
	    "not used by any route\n");
	CU_ASSERT_STRING_EQUAL(listen_nth(&conf->conf_listens, 0)->l_port,
	    "8080");
	CU_ASSERT_EQUAL(listen_nth(&conf->conf_listens, 0)->l_line, 3);
	CU_ASSERT_STRING_EQUAL(listen_nth(&conf->conf_listens, 1)->l_addr,
	    "*");
	svc = config_service(conf, "catalog");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_EQUAL(svc->svc_processes, 2);
	CU_ASSERT_EQUAL(svc->svc_max_conns, 2);
	CU_ASSERT_EQUAL(svc->svc_read_timeout, 3600 * 1000);
	CU_ASSERT_EQUAL(config_service(conf, "spare")->svc_used, 0);
	CU_ASSERT_EQUAL(conf->conf_max_header, 4096);
	config_free(conf);
}

/* The shipped etc/gateway.conf with the shipped rules/agora.lua. */
static void
t_shipped(void)
{
	struct gw_config	*conf;
	struct gw_service	*svc;
	char			 path[PATH_MAX * 2];

	config_symclear();
	snprintf(path, sizeof(path), "rulesdir=%s/rules", top);
	CU_ASSERT_EQUAL(config_cmdline_symset(path), 0);
	snprintf(path, sizeof(path), "%s/etc/gateway.conf", top);
	conf = config_parse(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_EQUAL(config_check(conf), 0);
	svc = config_service(conf, "catalog");
	CU_ASSERT_PTR_NOT_NULL_FATAL(svc);
	CU_ASSERT_STRING_EQUAL(svc->svc_socket, "/run/agora/catalog.sock");
	CU_ASSERT_STRING_EQUAL(svc->svc_program, "/usr/sbin/agora-catalog");
	CU_ASSERT_EQUAL(svc->svc_processes, 4);
	CU_ASSERT_STRING_EQUAL(listen_nth(&conf->conf_listens, 0)->l_port,
	    "8080");
	CU_ASSERT_STRING_EQUAL(listen_nth(&conf->conf_admin, 0)->l_port,
	    "8081");
	CU_ASSERT_EQUAL(conf->conf_workers, 0);
	CU_ASSERT_PTR_NOT_NULL(rules_match(conf->conf_rules,
	    "/api/products/7", 15));
	config_free(conf);
	config_symclear();
}

static void
t_missing(void)
{
	char	 out[4096];

	config_symclear();
	CU_ASSERT_PTR_NULL(parse("good", "nonexistent.conf", out,
	    sizeof(out)));
	CU_ASSERT_STRING_EQUAL(out,
	    "nonexistent.conf: No such file or directory\n");
	config_free(NULL);
}

static void
t_socket(void)
{
	char	 host[64], port[8];

	CU_ASSERT(config_socket_unix("/run/agora/catalog.sock"));
	CU_ASSERT(!config_socket_unix("127.0.0.1:9000"));
	CU_ASSERT_EQUAL(config_socket_hostport("127.0.0.1:9000", host,
	    sizeof(host), port, sizeof(port)), 0);
	CU_ASSERT_STRING_EQUAL(host, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(port, "9000");
	CU_ASSERT_EQUAL(config_socket_hostport("[::1]:9001", host,
	    sizeof(host), port, sizeof(port)), 0);
	CU_ASSERT_STRING_EQUAL(host, "::1");
	CU_ASSERT_STRING_EQUAL(port, "9001");
	CU_ASSERT_EQUAL(config_socket_hostport("*:80", host, sizeof(host),
	    port, sizeof(port)), 0);
	CU_ASSERT_STRING_EQUAL(host, "*");
	CU_ASSERT_EQUAL(config_socket_hostport("::1:9000", NULL, 0, NULL, 0),
	    -1);
	CU_ASSERT_EQUAL(config_socket_hostport("host", NULL, 0, NULL, 0), -1);
	CU_ASSERT_EQUAL(config_socket_hostport("host:", NULL, 0, NULL, 0),
	    -1);
	CU_ASSERT_EQUAL(config_socket_hostport(":80", NULL, 0, NULL, 0), -1);
	CU_ASSERT_EQUAL(config_socket_hostport("h:70000", NULL, 0, NULL, 0),
	    -1);
	CU_ASSERT_EQUAL(config_socket_hostport("h:8x", NULL, 0, NULL, 0), -1);
}

/* The jwt block: its fields, its defaults, its keys loaded by the check. */
static void
t_jwt(void)
{
	struct gw_config	*conf;
	char			 out[4096];

	config_symclear();
	conf = parse("good", "jwt.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf->conf_jwt);
	/* relative to jwt.conf, parsed from its folder */
	CU_ASSERT_STRING_EQUAL(conf->conf_jwt->jwt_jwks_file, "jwks.json");
	CU_ASSERT_STRING_EQUAL(conf->conf_jwt->jwt_issuer,
	    "https://auth.example");
	CU_ASSERT_STRING_EQUAL(conf->conf_jwt->jwt_audience, "agora");
	CU_ASSERT_EQUAL(conf->conf_jwt->jwt_leeway, 0);
	CU_ASSERT_EQUAL(conf->conf_jwt->jwt_refresh, 300000);
	CU_ASSERT_PTR_NOT_NULL(conf->conf_jwt->jwt_keys);
	config_free(conf);

	conf = parse("good", "minimal.conf", out, sizeof(out));
	CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
	CU_ASSERT_PTR_NULL(conf->conf_jwt);
	config_free(conf);
}

static const struct unit_case cases[] = {
	{ "jwt", t_jwt },
	{ "good", t_good },
	{ "bad", t_bad },
	{ "defaults", t_defaults },
	{ "full", t_full },
	{ "balance", t_balance },
	{ "macros", t_macros },
	{ "include", t_include },
	{ "layout", t_layout },
	{ "shipped", t_shipped },
	{ "missing", t_missing },
	{ "socket", t_socket },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	const char	*t;

	if ((t = getenv("top_srcdir")) == NULL)
		t = ".";
	if (realpath(t, top) == NULL)
		return 1;
	if (snprintf(fixtures, sizeof(fixtures), "%s/t/fixtures/conf", top) >=
	    (int)sizeof(fixtures))
		return 1;
	return unit_main(argc, argv, "parse", cases);
}
