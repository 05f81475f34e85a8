/*
 * The admin listener: /metrics, /status, /status.json, /healthz, /readyz
 * (admin.h).  Everything here runs on the main thread, as do the
 * supervisor and the probe it reads.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <yajl/yajl_gen.h>

#include "log.h"
#include "xmalloc.h"
#include "json.h"
#include "admin.h"
#include "config.h"
#include "generation.h"
#include "http.h"
#include "metrics.h"
#include "pool.h"
#include "probe.h"
#include "stats.h"
#include "supervisor.h"

#define ADMIN_TIMEOUT_S		10
#define ADMIN_NSIG		65	/* signals the supervisor counts */

struct admin {
	struct event_base	*ad_base;
	const struct gw_config	*ad_conf;
	struct supervisor	*ad_sup;
	struct probe		*ad_probe;
	struct evhttp		*ad_http;
	int			 ad_draining;
	char			 ad_err[256];
};

/* What the scrape-time gauges below read: the admin that is running. */
static pthread_mutex_t	 admin_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct admin	*admin_cur;
static int		 admin_registered;

static void	admin_metrics(struct evhttp_request *, struct admin *);
static void	admin_status(struct evhttp_request *, struct admin *);
static void	admin_status_json(struct evhttp_request *, struct admin *);
static void	admin_healthz(struct evhttp_request *, struct admin *);
static void	admin_readyz(struct evhttp_request *, struct admin *);

static const struct admin_route {
	const char	*ar_path;
	void		(*ar_fn)(struct evhttp_request *, struct admin *);
} admin_routes[] = {
	{ "/metrics",		admin_metrics },
	{ "/status",		admin_status },
	{ "/status.json",	admin_status_json },
	{ "/healthz",		admin_healthz },
	{ "/readyz",		admin_readyz },
};

/* --- readiness ---------------------------------------------------------- */

/*
 * 1 when ready; else 0 with what is not in why (one reason per call:
 * the first found).
 */
static int
admin_ready(struct admin *ad, char *why, size_t size)
{
	struct generation	*gen;
	struct gw_service	*svc;
	struct pool		*p;
	struct pool_stats	 ps;
	int			 ok = 1;

	if (ad->ad_draining) {
		snprintf(why, size, "shutting down");
		return 0;
	}
	if ((gen = generation_acquire()) == NULL) {
		snprintf(why, size, "no configuration loaded");
		return 0;
	}
	TAILQ_FOREACH(svc, &gen->gen_conf->conf_services, svc_entry) {
		if (svc->svc_program != NULL && ad->ad_sup != NULL &&
		    supervisor_running(ad->ad_sup, svc->svc_name) < 1) {
			snprintf(why, size, "service %s has no process "
			    "running", svc->svc_name);
			ok = 0;
			break;
		}
		if ((p = generation_pool(gen, svc)) == NULL)
			continue;
		pool_stats(p, &ps);
		if (ps.ps_up < 1) {
			snprintf(why, size, "service %s has no server up",
			    svc->svc_name);
			ok = 0;
			break;
		}
	}
	generation_release(gen);
	return ok;
}

/* --- scrape-time gauges of the supervisor, probe and configuration ----- */

static void
admin_collect_sup(struct metrics_emit *e, void *arg)
{
	const char		*which = arg;
	struct generation	*gen;
	struct gw_service	*svc;
	const char		*v[3] = { NULL, NULL, NULL };
	char			 how[32];
	unsigned long		 n;
	int			 i;

	pthread_mutex_lock(&admin_mtx);
	if (admin_cur == NULL || admin_cur->ad_sup == NULL ||
	    (gen = generation_acquire()) == NULL) {
		pthread_mutex_unlock(&admin_mtx);
		return;
	}
	TAILQ_FOREACH(svc, &gen->gen_conf->conf_services, svc_entry) {
		if (svc->svc_program == NULL)
			continue;
		v[0] = svc->svc_name;
		if (strcmp(which, "running") == 0)
			metrics_emit(e, v, supervisor_running(admin_cur->ad_sup,
			    svc->svc_name));
		else if (strcmp(which, "configured") == 0)
			metrics_emit(e, v, svc->svc_processes);
		else if (strcmp(which, "restarts") == 0)
			metrics_emit(e, v, supervisor_restarts(
			    admin_cur->ad_sup, svc->svc_name));
		else {
			/* exits: "exit N" or "signal N", only those seen */
			for (i = -(ADMIN_NSIG - 1); i < 256; i++) {
				if ((n = supervisor_exits(admin_cur->ad_sup,
				    svc->svc_name, i)) == 0)
					continue;
				if (i < 0)
					snprintf(how, sizeof(how), "signal %d",
					    -i);
				else
					snprintf(how, sizeof(how), "exit %d",
					    i);
				v[1] = how;
				metrics_emit(e, v, n);
			}
		}
	}
	generation_release(gen);
	pthread_mutex_unlock(&admin_mtx);
}

static void
admin_collect_probe(struct metrics_emit *e, void *arg)
{
	unsigned long	 ok = 0, failed = 0;
	const char	*v[2] = { "ok", NULL };

	pthread_mutex_lock(&admin_mtx);
	if (admin_cur != NULL && admin_cur->ad_probe != NULL) {
		probe_counts(admin_cur->ad_probe, &ok, &failed);
		metrics_emit(e, v, ok);
		v[0] = "failed";
		metrics_emit(e, v, failed);
	}
	pthread_mutex_unlock(&admin_mtx);
}

static void
admin_collect_gen(struct metrics_emit *e, void *arg)
{
	struct generation	*gen;
	char			 why[256];
	int			 ready;

	if ((gen = generation_acquire()) == NULL)
		return;
	if (strcmp(arg, "generation") == 0)
		metrics_emit(e, NULL, gen->gen_id);
	generation_release(gen);
	if (strcmp(arg, "ready") == 0) {
		pthread_mutex_lock(&admin_mtx);
		ready = admin_cur != NULL && admin_ready(admin_cur, why,
		    sizeof(why));
		pthread_mutex_unlock(&admin_mtx);
		metrics_emit(e, NULL, ready);
	}
}

static const char *const admin_l_service[] = { "service", NULL };
static const char *const admin_l_exits[] = { "service", "how", NULL };
static const char *const admin_l_result[] = { "result", NULL };

static const struct admin_gauge {
	const char		*g_name;
	const char		*g_help;
	const char *const	*g_labels;
	metrics_collect_cb	 g_cb;
	const char		*g_arg;
	int			 g_counter;	/* a total, not a level */
} admin_gauges[] = {
	{ "agora_supervisor_processes_running", "Processes of the service "
	    "running now.", admin_l_service, admin_collect_sup, "running", 0 },
	{ "agora_supervisor_processes", "Processes the service is "
	    "configured to run.", admin_l_service, admin_collect_sup,
	    "configured", 0 },
	{ "agora_supervisor_restarts_total", "Processes of the service "
	    "restarted since the gateway started.", admin_l_service,
	    admin_collect_sup, "restarts", 1 },
	{ "agora_supervisor_exits_total", "Process exits since the gateway "
	    "started, by exit status or signal.", admin_l_exits,
	    admin_collect_sup, "exits", 1 },
	{ "agora_probe_checks_total", "Active health checks done, by "
	    "result.", admin_l_result, admin_collect_probe, NULL, 1 },
	{ "agora_config_generation", "Configuration generation serving now "
	    "(1 at start, one more per reload).", NULL, admin_collect_gen,
	    "generation", 0 },
	{ "agora_ready", "1 when /readyz answers 200.", NULL,
	    admin_collect_gen, "ready", 0 },
};

/* Once per process: the registry outlives any one admin. */
static void
admin_register(void)
{
	const struct admin_gauge	*g;
	const char			*errstr = NULL;
	size_t				 i;

	if (admin_registered)
		return;
	admin_registered = 1;
	for (i = 0; i < sizeof(admin_gauges) / sizeof(admin_gauges[0]); i++) {
		g = &admin_gauges[i];
		if ((g->g_counter ? metrics_counter_func : metrics_gauge_func)(
		    stats_metrics(), g->g_name, g->g_help, g->g_labels, g->g_cb,
		    (void *)(uintptr_t)g->g_arg, &errstr) == NULL)
			log_warnx("%s: %s: %s", __func__, g->g_name, errstr);
	}
}

/* --- handlers ----------------------------------------------------------- */

static void
admin_reply(struct evhttp_request *req, int status, const char *type,
    struct evbuffer *b)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, status, status == 200 ? "OK" :
	    json_status_title(status), b);
}

static void
admin_metrics(struct evhttp_request *req, struct admin *ad)
{
	struct evbuffer	*b;

	b = evbuffer_new();
	if (b == NULL || metrics_render_evbuffer(stats_metrics(), b) == -1) {
		if (b != NULL)
			evbuffer_free(b);
		http_problem(req, 500, "cannot render the metrics");
		return;
	}
	admin_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

static void
admin_healthz(struct evhttp_request *req, struct admin *ad)
{
	struct evbuffer	*b;

	b = evbuffer_new();
	evbuffer_add(b, "ok\n", 3);
	admin_reply(req, 200, "text/plain", b);
	evbuffer_free(b);
}

static void
admin_readyz(struct evhttp_request *req, struct admin *ad)
{
	char	why[256];

	if (!admin_ready(ad, why, sizeof(why))) {
		http_problem(req, 503, why);
		return;
	}
	admin_healthz(req, ad);
}

static void
admin_json_pool(yajl_gen g, struct pool *p)
{
	struct pool_stats		 ps;
	struct pool_server_stats	 ss;
	int				 i;

	pool_stats(p, &ps);
	json_gen_cstr(g, "pool");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "open", ps.ps_open);
	json_gen_kv_int(g, "busy", ps.ps_open - ps.ps_idle);
	json_gen_kv_int(g, "idle", ps.ps_idle);
	json_gen_kv_int(g, "queued", ps.ps_queued);
	json_gen_kv_int(g, "max_conns", ps.ps_max);
	json_gen_kv_int(g, "servers_up", ps.ps_up);
	json_gen_cstr(g, "servers");
	yajl_gen_array_open(g);
	for (i = 0; pool_server_stats(p, i, &ss) == 0; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "addr", ss.ss_addr);
		json_gen_cstr(g, "up");
		yajl_gen_bool(g, ss.ss_up);
		json_gen_kv_int(g, "open", ss.ss_open);
		json_gen_kv_int(g, "idle", ss.ss_idle);
		json_gen_kv_int(g, "max_conns", ss.ss_max);
		json_gen_kv_int(g, "connections", (long long)ss.ss_requests);
		json_gen_kv_int(g, "failures", (long long)ss.ss_failures);
		json_gen_kv_int(g, "ejections", (long long)ss.ss_ejections);
		json_gen_kv_str(g, "down", ss.ss_probe_down ? "probe" :
		    ss.ss_passive_down ? "passive" : NULL);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

static void
admin_json_processes(yajl_gen g, struct admin *ad,
    const struct gw_service *svc)
{
	unsigned long	n;
	char		how[32];
	int		i;

	json_gen_cstr(g, "processes");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "configured", svc->svc_processes);
	json_gen_kv_int(g, "running", supervisor_running(ad->ad_sup,
	    svc->svc_name));
	json_gen_kv_int(g, "restarts", (long long)supervisor_restarts(
	    ad->ad_sup, svc->svc_name));
	json_gen_cstr(g, "exits");
	yajl_gen_map_open(g);
	for (i = -(ADMIN_NSIG - 1); i < 256; i++) {
		if ((n = supervisor_exits(ad->ad_sup, svc->svc_name, i)) == 0)
			continue;
		if (i < 0)
			snprintf(how, sizeof(how), "signal %d", -i);
		else
			snprintf(how, sizeof(how), "exit %d", i);
		json_gen_kv_int(g, how, (long long)n);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

static void
admin_status_json(struct evhttp_request *req, struct admin *ad)
{
	struct generation	*gen;
	struct gw_service	*svc;
	struct pool		*p;
	struct evbuffer		*b;
	yajl_gen		 g;
	const unsigned char	*buf;
	size_t			 len;
	unsigned long		 ok = 0, failed = 0;
	char			 why[256];
	int			 ready;

	ready = admin_ready(ad, why, sizeof(why));
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "version", PACKAGE_VERSION);
	json_gen_cstr(g, "ready");
	yajl_gen_bool(g, ready);
	json_gen_kv_str(g, "not_ready", ready ? NULL : why);
	gen = generation_acquire();
	json_gen_kv_int(g, "generation", gen != NULL ?
	    (long long)gen->gen_id : 0);
	if (ad->ad_probe != NULL)
		probe_counts(ad->ad_probe, &ok, &failed);
	json_gen_cstr(g, "probes");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "ok", (long long)ok);
	json_gen_kv_int(g, "failed", (long long)failed);
	yajl_gen_map_close(g);
	json_gen_cstr(g, "services");
	yajl_gen_array_open(g);
	if (gen != NULL) {
		TAILQ_FOREACH(svc, &gen->gen_conf->conf_services, svc_entry) {
			yajl_gen_map_open(g);
			json_gen_kv_str(g, "name", svc->svc_name);
			json_gen_kv_str(g, "socket", svc->svc_socket);
			json_gen_cstr(g, "spawned");
			yajl_gen_bool(g, svc->svc_program != NULL);
			if (svc->svc_program != NULL && ad->ad_sup != NULL)
				admin_json_processes(g, ad, svc);
			if ((p = generation_pool(gen, svc)) != NULL)
				admin_json_pool(g, p);
			yajl_gen_map_close(g);
		}
		generation_release(gen);
	}
	yajl_gen_array_close(g);
	stats_json(g);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
		yajl_gen_free(g);
		http_problem(req, 500, "cannot generate the status");
		return;
	}
	b = evbuffer_new();
	evbuffer_add(b, buf, len);
	yajl_gen_free(g);
	admin_reply(req, 200, "application/json", b);
	evbuffer_free(b);
}

/*
 * The dashboard: one page, no external assets.  Data only ever reaches
 * the DOM through textContent, never as markup.
 */
static const char admin_status_html[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width\">\n"
"<title>agora-gateway status</title>\n"
"<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}\n"
"h1{font-size:1.3em}h2{font-size:1.05em;margin:1.2em 0 .3em}\n"
"table{border-collapse:collapse;min-width:30em}\n"
"th,td{border-bottom:1px solid #ddd;padding:2px 10px;text-align:right}\n"
"th:first-child,td:first-child{text-align:left}\n"
"th{background:#f4f4f4}.ok{color:#070}.bad{color:#b00;font-weight:bold}\n"
".warn{color:#a60}#conn{font-size:.9em;color:#666}\n"
"</style></head><body>\n"
"<h1>agora-gateway <span id=\"version\"></span></h1>\n"
"<p id=\"summary\"></p><p id=\"conn\">loading&hellip;</p>\n"
"<h2>Services</h2><table id=\"services\"></table>\n"
"<h2>Servers</h2><table id=\"servers\"></table>\n"
"<h2>Routes</h2><table id=\"routes\"></table>\n"
"<h2>Breakers</h2><table id=\"breakers\"></table>\n"
"<h2>Rate limits</h2><table id=\"ratelimits\"></table>\n"
"<h2>Recent errors</h2><table id=\"events\"></table>\n"
"<script>\n"
"\"use strict\";\n"
"var prev = null, prevT = 0;\n"
"function el(tag, text, cls) {\n"
"  var e = document.createElement(tag);\n"
"  if (text !== undefined && text !== null) e.textContent = String(text);\n"
"  if (cls) e.className = cls;\n"
"  return e;\n"
"}\n"
"function fill(id, head, rows) {\n"
"  var t = document.getElementById(id), tr = el(\"tr\");\n"
"  t.replaceChildren();\n"
"  head.forEach(function (h) { tr.appendChild(el(\"th\", h)); });\n"
"  t.appendChild(tr);\n"
"  rows.forEach(function (r) {\n"
"    var tr = el(\"tr\");\n"
"    r.forEach(function (c) {\n"
"      if (c !== null && typeof c === \"object\")\n"
"        tr.appendChild(el(\"td\", c.t, c.c));\n"
"      else tr.appendChild(el(\"td\", c === null || c === undefined ?\n"
"        \"-\" : c));\n"
"    });\n"
"    t.appendChild(tr);\n"
"  });\n"
"  if (rows.length === 0) {\n"
"    tr = el(\"tr\"); var td = el(\"td\", \"none\");\n"
"    td.colSpan = head.length; tr.appendChild(td); t.appendChild(tr);\n"
"  }\n"
"}\n"
"function ms(s) { return s === null || s === undefined ? \"-\" :\n"
"  (s * 1000).toFixed(s < 0.01 ? 2 : 1) + \" ms\"; }\n"
"function pct(n, d) { return d > 0 ? (100 * n / d).toFixed(1) + \"%\" :\n"
"  \"-\"; }\n"
"function rate(key, n, dt) {\n"
"  if (prev === null || !(key in prev) || dt <= 0) return \"-\";\n"
"  return ((n - prev[key]) / dt).toFixed(1);\n"
"}\n"
"function brk(s) { return { t: s || \"-\", c: s === \"closed\" ? \"ok\" :\n"
"  s === \"open\" ? \"bad\" : s ? \"warn\" : \"\" }; }\n"
"function render(j) {\n"
"  var now = Date.now() / 1000, dt = now - prevT, cur = {}, svc = {};\n"
"  document.getElementById(\"version\").textContent = j.version;\n"
"  document.getElementById(\"summary\").textContent = (j.ready ?\n"
"    \"ready\" : \"NOT READY: \" + j.not_ready) + \" \\u2014 generation \" +\n"
"    j.generation + \", up \" + j.uptime + \" s, probes \" + j.probes.ok +\n"
"    \" ok / \" + j.probes.failed + \" failed\";\n"
"  document.getElementById(\"summary\").className =\n"
"    j.ready ? \"ok\" : \"bad\";\n"
"  var brs = {};\n"
"  j.breakers.forEach(function (b) { brs[b.name] = b; });\n"
"  j.routes.forEach(function (r) {\n"
"    var s = svc[r.service] || (svc[r.service] = { n: 0, e: 0, p50: null,\n"
"      p99: null });\n"
"    s.n += r.requests; s.e += r.errors;\n"
"    if (r.p99 !== null && (s.p99 === null || r.p99 > s.p99)) s.p99 = r.p99;\n"
"    if (r.p50 !== null && (s.p50 === null || r.p50 > s.p50)) s.p50 = r.p50;\n"
"    cur[\"r \" + r.route + \" \" + r.service] = r.requests;\n"
"  });\n"
"  Object.keys(svc).forEach(function (k) { cur[\"s \" + k] = svc[k].n; });\n"
"  fill(\"services\", [\"service\", \"processes\", \"restarts\", \"req/s\",\n"
"    \"p50 (worst route)\", \"p99 (worst route)\", \"errors\", \"breaker\",\n"
"    \"queue\", \"busy\", \"idle\", \"max conns\", \"servers up\"],\n"
"    j.services.map(function (s) {\n"
"      var p = s.pool || {}, pr = s.processes, t = svc[s.name] ||\n"
"        { n: 0, e: 0 }, b = brs[s.name];\n"
"      return [s.name, pr ? { t: pr.running + \"/\" + pr.configured,\n"
"        c: pr.running < 1 ? \"bad\" : pr.running < pr.configured ?\n"
"        \"warn\" : \"ok\" } : \"external\", pr ? pr.restarts : null,\n"
"        rate(\"s \" + s.name, t.n, dt), ms(t.p50), ms(t.p99),\n"
"        pct(t.e, t.n), brk(b ? b.state : null), p.queued, p.busy,\n"
"        p.idle, p.max_conns, s.pool ? { t: p.servers_up + \"/\" +\n"
"        p.servers.length, c: p.servers_up < 1 ? \"bad\" : \"ok\" } :\n"
"        null];\n"
"    }));\n"
"  var sv = [];\n"
"  j.services.forEach(function (s) {\n"
"    if (s.pool) s.pool.servers.forEach(function (x) {\n"
"      sv.push([s.name, x.addr, { t: x.up ? \"up\" : \"down\" +\n"
"        (x.down ? \" (\" + x.down + \")\" : \"\"),\n"
"        c: x.up ? \"ok\" : \"bad\" },\n"
"        x.open, x.idle, x.max_conns, x.connections, x.failures,\n"
"        x.ejections]);\n"
"    });\n"
"  });\n"
"  fill(\"servers\", [\"service\", \"server\", \"state\", \"open\", \"idle\",\n"
"    \"max conns\", \"connections\", \"failures\", \"ejections\"], sv);\n"
"  fill(\"routes\", [\"route\", \"service\", \"req/s\", \"requests\",\n"
"    \"errors\", \"p50\", \"p99\", \"mean\"], j.routes.map(function (r) {\n"
"      return [r.route, r.service, rate(\"r \" + r.route + \" \" + r.service,\n"
"        r.requests, dt), r.requests, pct(r.errors, r.requests), ms(r.p50),\n"
"        ms(r.p99), ms(r.mean)];\n"
"    }));\n"
"  fill(\"breakers\", [\"breaker\", \"state\", \"window requests\",\n"
"    \"window errors\", \"in flight\", \"opened\", \"rejected (open)\",\n"
"    \"rejected (bulkhead)\"], j.breakers.map(function (b) {\n"
"      return [b.name, brk(b.state), b.window_requests, b.window_errors,\n"
"        b.inflight, b.opened, b.rejected_open, b.rejected_bulkhead];\n"
"    }));\n"
"  fill(\"ratelimits\", [\"policy\", \"rejected\", \"dry run\"],\n"
"    j.ratelimits.map(function (p) {\n"
"      return [p.policy, p.rejected, p.dry_run];\n"
"    }));\n"
"  fill(\"events\", [\"time\", \"status\", \"route\", \"service\",\n"
"    \"detail\"],\n"
"    j.events.map(function (e) {\n"
"      return [e.time, { t: e.status, c: e.status >= 500 ? \"bad\" : \"\" },\n"
"        e.route, e.service, e.detail];\n"
"    }));\n"
"  prev = cur; prevT = now;\n"
"}\n"
"function poll() {\n"
"  var c = document.getElementById(\"conn\");\n"
"  fetch(\"status.json\", { cache: \"no-store\" }).then(function (r) {\n"
"    if (!r.ok) throw new Error(\"HTTP \" + r.status);\n"
"    return r.json();\n"
"  }).then(function (j) {\n"
"    render(j);\n"
"    c.textContent = \"live, updated \" + new Date().toLocaleTimeString();\n"
"    c.className = \"\";\n"
"  }).catch(function (e) {\n"
"    c.textContent = \"no data: \" + e.message; c.className = \"bad\";\n"
"  }).finally(function () { setTimeout(poll, 2000); });\n"
"}\n"
"poll();\n"
"</script></body></html>\n";

static void
admin_status(struct evhttp_request *req, struct admin *ad)
{
	struct evbuffer	*b;

	b = evbuffer_new();
	evbuffer_add(b, admin_status_html, sizeof(admin_status_html) - 1);
	/* the page may only talk to us, and only run its own script */
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Security-Policy", "default-src 'none'; "
	    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	    "connect-src 'self'");
	admin_reply(req, 200, "text/html; charset=utf-8", b);
	evbuffer_free(b);
}

static void
admin_dispatch(struct evhttp_request *req, void *arg)
{
	struct admin	*ad = arg;
	const char	*path;
	size_t		 i;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	for (i = 0; path != NULL &&
	    i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		if (strcmp(path, admin_routes[i].ar_path) != 0)
			continue;
		switch (evhttp_request_get_command(req)) {
		case EVHTTP_REQ_GET:
		case EVHTTP_REQ_HEAD:
			admin_routes[i].ar_fn(req, ad);
			break;
		default:
			evhttp_add_header(evhttp_request_get_output_headers(
			    req), "Allow", "GET, HEAD");
			http_problem(req, 405, "the admin listener is "
			    "read-only");
			break;
		}
		return;
	}
	http_problem(req, 404, "no such admin resource");
}

/* --- life --------------------------------------------------------------- */

struct admin *
admin_new(struct event_base *base, const struct gw_config *conf,
    struct supervisor *sup, struct probe *probe)
{
	struct admin	*ad;

	ad = xcalloc(1, sizeof(*ad));
	ad->ad_base = base;
	ad->ad_conf = conf;
	ad->ad_sup = sup;
	ad->ad_probe = probe;
	stats_init();
	admin_register();
	pthread_mutex_lock(&admin_mtx);
	admin_cur = ad;
	pthread_mutex_unlock(&admin_mtx);
	return ad;
}

int
admin_listen(struct admin *ad, const char **errstr)
{
	struct gw_listen	*l;

	TAILQ_FOREACH(l, &ad->ad_conf->conf_admin, l_entry) {
		if (ad->ad_http == NULL) {
			if ((ad->ad_http = evhttp_new(ad->ad_base)) == NULL) {
				*errstr = "evhttp_new failed";
				return -1;
			}
			evhttp_set_gencb(ad->ad_http, admin_dispatch, ad);
			evhttp_set_timeout(ad->ad_http, ADMIN_TIMEOUT_S);
			evhttp_set_allowed_methods(ad->ad_http,
			    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
			    EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
			    EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
			    EVHTTP_REQ_OPTIONS);
		}
		if (evhttp_bind_socket(ad->ad_http,
		    strcmp(l->l_addr, "*") == 0 ? "0.0.0.0" : l->l_addr,
		    (ev_uint16_t)atoi(l->l_port)) == -1) {
			snprintf(ad->ad_err, sizeof(ad->ad_err), "admin listen "
			    "on %s port %s: cannot bind", l->l_addr,
			    l->l_port);
			*errstr = ad->ad_err;
			return -1;
		}
	}
	return 0;
}

void
admin_draining(struct admin *ad)
{
	if (ad != NULL)
		ad->ad_draining = 1;
}

void
admin_free(struct admin *ad)
{
	if (ad == NULL)
		return;
	pthread_mutex_lock(&admin_mtx);
	if (admin_cur == ad)
		admin_cur = NULL;
	pthread_mutex_unlock(&admin_mtx);
	if (ad->ad_http != NULL)
		evhttp_free(ad->ad_http);
	free(ad);
}
