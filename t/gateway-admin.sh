#!/bin/bash
# The admin listener (API.md "operations"): /metrics counts exactly the
# requests made, its histograms are consistent and promtool accepts it;
# /status.json describes the catalog's processes and pool; /status is the
# self-contained dashboard; /readyz follows the processes; unknown paths
# get 404 and other methods 405, as problem+json.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_plan 35
t_mariadb_start --seed
t_conf "$TMP/gateway.conf" "" "	processes 4"
t_gateway_start "$TMP/gateway.conf"
A=$T_ADMIN_URL

t_http GET "$A/healthz"
t_is "healthz 200" "$T_STATUS" 200
t_is "healthz says ok" "$(t_body)" ok
t_http GET "$A/readyz"
t_is "readyz 200 once the catalog runs" "$T_STATUS" 200

# --- traffic: 7 + 4 + 2 requests with known answers --------------------
for i in 1 2 3 4 5 6 7; do
	"$CURL" -s -o /dev/null "$T_URL/api/products?limit=2"
done
for i in 1 2 3; do
	"$CURL" -s -o /dev/null "$T_URL/api/products/999999999"
done
for i in 1 2; do
	"$CURL" -s -o /dev/null "$T_URL/nowhere/at/all"
done
t_http GET "$T_URL/api/products/999999999"
t_is "a missing product is 404 (the catalog's answer)" "$T_STATUS" 404

# --- /metrics -----------------------------------------------------------
t_http GET "$A/metrics"
cp "$TMP/resp.body" "$TMP/metrics"
t_is "metrics 200" "$T_STATUS" 200
t_like "metrics content type" "$(t_header Content-Type)" \
    '^text/plain; version=0\.0\.4'

# sample NAME LABELS...: the sum of the samples of NAME whose labels
# include every one of LABELS (k="v"); empty when there is none.
sample()
{
	"$PY" - "$TMP/metrics" "$@" <<'EOF'
import re, sys
path, name, want = sys.argv[1], sys.argv[2], sys.argv[3:]
total, seen = 0.0, False
for line in open(path):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
    if not m or m.group(1) != name:
        continue
    labels = set(re.findall(r'[a-zA-Z_]+="(?:[^"\\]|\\.)*"', m.group(3) or ""))
    if all(w in labels for w in want):
        total += float(m.group(4))
        seen = True
print(("%g" % total) if seen else "")
EOF
}

t_like "gateway info" "$(sample agora_gateway_info)" '^1$'
t_is "catalog processes running" \
    "$(sample agora_supervisor_processes_running 'service="catalog"')" 4
t_is "catalog pool max connections" \
    "$(sample agora_pool_max_connections 'service="catalog"')" 4
t_is "catalog pool servers up" \
    "$(sample agora_pool_servers_up 'service="catalog"')" 1
t_is "no catalog restarts" \
    "$(sample agora_supervisor_restarts 'service="catalog"')" 0
t_is "config generation 1" "$(sample agora_config_generation)" 1
t_is "agora_ready 1" "$(sample agora_ready)" 1

t_is "200s of products.list" "$(sample \
    agora_http_requests_total 'route="products.list"' \
    'service="catalog"' 'code="200"')" 7
t_is "404s of products.get" "$(sample \
    agora_http_requests_total 'route="products.get"' \
    'service="catalog"' 'code="404"')" 4
t_is "404s without a route" "$(sample \
    agora_http_requests_total 'route="-"' 'code="404"')" 2
t_is "duration count of products.list" "$(sample \
    agora_http_request_duration_seconds_count 'route="products.list"')" 7
# 11 requests reached the catalog.  upstream.c times them with the
# loop's cached clock, and http.c passes 0 ("no backend") when that did
# not move: a known gap while it does.
up=$(sample agora_upstream_duration_seconds_count 'service="catalog"')
todo_up=
[ "${up:-0}" -lt 11 ] && todo_up="upstream time is 0 when the cached \
clock did not move (upstream.c)"
T_TODO=$todo_up t_is "upstream count of the catalog" "$up" 11

# Every histogram: cumulative buckets, +Inf == _count, all >= 0.
hist=$("$PY" - "$TMP/metrics" <<'EOF'
import re, sys
from collections import defaultdict
b = defaultdict(list); c = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(\w+)_(bucket|count)\{(.*)\} (\S+)$', line)
    if not m:
        continue
    name, kind, labels, v = m.groups()
    if kind == "bucket":
        le = re.search(r'le="([^"]*)"', labels).group(1)
        key = (name, re.sub(r',?le="[^"]*"', "", labels))
        b[key].append((float("inf") if le == "+Inf" else float(le), float(v)))
    else:
        c[(name, labels)] = float(v)
bad = []
for key, bs in b.items():
    les = [x[0] for x in bs]; vs = [x[1] for x in bs]
    if les != sorted(les) or les[-1] != float("inf"):
        bad.append("%s: bounds" % (key,))
    if any(x > y for x, y in zip(vs, vs[1:])):
        bad.append("%s: not cumulative" % (key,))
    if c.get(key) != vs[-1]:
        bad.append("%s: +Inf %s != count %s" % (key, vs[-1], c.get(key)))
print("%d series ok" % len(b) if not bad else "; ".join(bad))
EOF
)
t_like "histograms consistent" "$hist" '^[0-9]+ series ok$'

if command -v promtool >/dev/null 2>&1; then
	out=$(promtool check metrics <"$TMP/metrics" 2>&1)
	t_is "promtool check metrics" "$?:$out" "0:"
else
	T_TODO="promtool not installed (Debian package prometheus)" \
	    t_fail "promtool check metrics"
fi

# --- /status.json -------------------------------------------------------
t_http GET "$A/status.json"
t_is "status.json 200" "$T_STATUS" 200
t_like "status.json type" "$(t_header Content-Type)" '^application/json'
cat='[s for s in j["services"] if s["name"] == "catalog"][0]'
pr="$cat[\"processes\"]"
t_is "catalog processes" \
    "$(t_json "$pr[\"running\"], $pr[\"configured\"]")" "[4,4]"
t_is "catalog pool max conns" "$(t_json "$cat[\"pool\"][\"max_conns\"]")" 4
t_is "catalog server up" \
    "$(t_json "[x[\"up\"] for x in $cat[\"pool\"][\"servers\"]]")" "[true]"
t_is "ready, generation 1" "$(t_json '[j["ready"], j["generation"]]')" \
    "[true,1]"
t_is "products.list requests in status.json" "$(t_json \
    '[r["requests"] for r in j["routes"] if r["route"] == "products.list"]')" \
    "[7]"

# --- /status ------------------------------------------------------------
t_http GET "$A/status"
t_is "status 200" "$T_STATUS" 200
body=$(t_body)
t_ok "status is the dashboard (HTML polling status.json, no external \
assets)" bash -c '[[ $1 == "<!DOCTYPE html>"* &&
    $1 == *"fetch(\"status.json\""* && $1 == *"textContent"* &&
    $1 != *innerHTML* && $1 != *"src=\""* && $1 != *"href=\""* ]]' _ "$body"

# The page's own script, run by node against the status.json above in a
# small DOM stand-in (innerHTML throws there): what it would show.
if command -v node >/dev/null 2>&1; then
	t_http GET "$A/status.json"
	cp "$TMP/resp.body" "$TMP/status.json"
	printf '%s' "$body" >"$TMP/status.html"
	cat >"$TMP/dom.js" <<'EOF_JS'
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
const data = fs.readFileSync(process.argv[3], "utf8");
const later = setTimeout;
function El(tag) { this.tag = tag; this.children = []; this.textContent = "";
	this.className = ""; }
El.prototype.appendChild = function (c) { this.children.push(c); return c; };
El.prototype.replaceChildren = function () { this.children = []; };
Object.defineProperty(El.prototype, "innerHTML",
    { set() { throw new Error("innerHTML"); } });
const els = {};
global.document = {
	getElementById(id) { return els[id] || (els[id] = new El("#" + id)); },
	createElement(t) { return new El(t); },
};
global.fetch = function (url) {
	if (url !== "status.json")
		return Promise.reject(new Error("fetched " + url));
	return Promise.resolve({ ok: true, status: 200,
	    json() { return Promise.resolve(JSON.parse(data)); } });
};
global.setTimeout = function () {};
(0, eval)(html.match(/<script>([\s\S]*?)<\/script>/)[1]);
later(function () {
	const out = {};
	for (const id in els) {
		const e = els[id];
		out[id] = e.children.length === 0 ? e.textContent :
		    e.children.map(function (tr) { return tr.children.map(
			function (td) { return td.textContent; }); });
	}
	console.log(JSON.stringify(out));
}, 100);
EOF_JS
	node "$TMP/dom.js" "$TMP/status.html" "$TMP/status.json" \
	    >"$TMP/dom.json" 2>"$TMP/dom.err"
	t_is "dashboard renders: live, ready, catalog 4/4, products.list 7" \
	    "$(t_json '[j["conn"][:4], j["summary"][:5],
	    [r[1] for r in j["services"] if r[0] == "catalog"],
	    [r[3] for r in j["routes"] if r[0] == "products.list"]]' \
	    "$TMP/dom.json")" '["live","ready",["4/4"],["7"]]'
else
	t_pass "dashboard renders # SKIP node not installed"
fi

# --- errors -------------------------------------------------------------
t_http GET "$A/nope"
t_is "unknown admin path 404 problem+json" \
    "$T_STATUS $(t_header Content-Type)" "404 application/problem+json"
t_http POST "$A/metrics" '{}'
t_is "POST 405 problem+json with Allow" \
    "$T_STATUS $(t_header Content-Type) $(t_header Allow)" \
    "405 application/problem+json GET, HEAD"

# --- readiness follows the processes ----------------------------------
# A reload adds a helper that always exits 1: it never stays running, so
# /readyz turns 503 naming it, and its exits are counted by status.
t_conf "$TMP/gateway.conf" 'service broken {
	socket none
	program "/bin/false"
}' "	processes 4"
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 100; i++)); do
	t_http GET "$A/readyz"
	[ "$T_STATUS" = 503 ] && break
	sleep 0.05
done
t_is "readyz 503 naming the broken service" \
    "$T_STATUS $(t_json 'j["detail"]')" \
    "503 service broken has no process running"
# (it runs for a moment after each restart: a scrape may catch that)
for ((i = 0; i < 100; i++)); do
	t_http GET "$A/metrics"
	cp "$TMP/resp.body" "$TMP/metrics"
	[ "$(sample agora_ready)" = 0 ] && break
	sleep 0.05
done
t_like "its exits are counted" \
    "$(sample agora_supervisor_exits 'service="broken"' 'how="exit 1"')" \
    '^[1-9][0-9]*$'
t_is "agora_ready 0" "$(sample agora_ready)" 0
t_done
