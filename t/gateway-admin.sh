#!/bin/bash
# The admin listener (API.md "operations"): /metrics counts exactly the
# requests made, its histograms are consistent and promtool accepts it;
# /status.json describes the catalog's processes and pool; /status is the
# self-contained dashboard, which headless Chromium renders with live data
# (DOM and screenshot checked); /readyz follows the processes; unknown
# paths get 404 and other methods 405, as problem+json.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_plan 46
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
    "$(sample agora_supervisor_restarts_total 'service="catalog"')" 0
t_is "restarts and exits are counters" \
    "$(grep -E '^# TYPE agora_supervisor_(restarts|exits)_total ' \
    "$TMP/metrics" | cut -d' ' -f4 | tr '\n' ' ')" "counter counter "
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
# 11 requests reached the catalog, each timed on the monotonic clock
up=$(sample agora_upstream_duration_seconds_count 'service="catalog"')
t_is "upstream count of the catalog" "$up" 11
t_is "connect time observed for each of them" "$(sample \
    agora_upstream_connect_seconds_count 'service="catalog"')" 11

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

# The page in a real browser: headless Chromium (Debian chromium) loads
# /status, runs its script against the live /status.json (the CSP above
# applies), and the rendered DOM must show the live data; then a
# screenshot, which must be a real, non-blank 1200x900 picture.
CHROMIUM=$(t__find chromium chromium-browser)
# chrome OUT ARGS...: one headless run with its own profile, in its own
# session (setsid: its process group is its pid), its output in OUT (may
# be /dev/null).  Bounded: after 60 s the group gets TERM, then KILL, and
# whatever it forked is killed with it.  Fails if it timed out or left a
# process behind.
chrome()
{
	local out=$1 pid i rc=0
	shift
	setsid "$CHROMIUM" --headless=new --no-sandbox --disable-gpu \
	    --no-first-run --disable-dev-shm-usage --hide-scrollbars \
	    --user-data-dir="$TMP/chr" "$@" </dev/null >"$out" \
	    2>>"$TMP/chromium.log" &
	pid=$!
	t__pids+=("$pid")
	for ((i = 0; i < 600; i++)); do
		t__gone "$pid" && break
		sleep 0.1
	done
	if ! t__gone "$pid"; then
		t_diag "chromium $pid still running after 60 s: killed"
		kill -TERM -- "-$pid" 2>/dev/null
		sleep 1
		kill -KILL -- "-$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null || rc=1
	# its helpers (zygote, renderer, utility) are in its group
	for ((i = 0; i < 50; i++)); do
		[ -z "$(pgrep -g "$pid")" ] && break
		sleep 0.1
	done
	if [ -n "$(pgrep -g "$pid")" ]; then
		t_diag "chromium left processes behind: $(pgrep -g "$pid" |
		    tr '\n' ' ')"
		kill -KILL -- "-$pid" 2>/dev/null
		rc=1
	fi
	return "$rc"
}
if [ -n "$CHROMIUM" ]; then
	t_log_add "$TMP/chromium.log"
	# 2 s between polls: 5 s of virtual time sees several renders
	t_ok "chromium loads /status and exits by itself" chrome \
	    "$TMP/dom.html" --virtual-time-budget=5000 --dump-dom "$A/status"
	# the tables as lists of {header: cell}, and the two status lines
	"$PY" - "$TMP/dom.html" >"$TMP/dom.json" <<'EOF'
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.out, self.table, self.row, self.cell, self.id = {}, None, None, None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = self.out.setdefault(a.get("id", "?"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = [""]
            self.row.append(self.cell)
        elif a.get("id") in ("conn", "summary"):
            self.id = a["id"]
            self.out[self.id] = ""
    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None
        elif tag in ("td", "th"):
            self.cell = None
        elif tag == "p":
            self.id = None
    def handle_data(self, d):
        if self.cell is not None:
            self.cell[0] += d
        elif self.id is not None:
            self.out[self.id] += d
p = P()
p.feed(open(sys.argv[1]).read())
o = {}
for k, v in p.out.items():
    if isinstance(v, list):
        rows = [[c[0] for c in r] for r in v]
        v = [dict(zip(rows[0], r)) for r in rows[1:]] if rows else []
    o[k] = v
print(json.dumps(o))
EOF
	t_like "dashboard: live data, not the loading text" \
	    "$(t_json 'j["conn"]' "$TMP/dom.json")" '^live, updated '
	t_like "dashboard: ready, generation 1" \
	    "$(t_json 'j["summary"]' "$TMP/dom.json")" '^ready . generation 1,'
	t_is "dashboard: catalog row with its 4 processes, no restarts" \
	    "$(t_json '[[r["processes"], r["restarts"]] for r in j["services"]
	    if r["service"] == "catalog"]' "$TMP/dom.json")" '[["4/4","0"]]'
	t_is "dashboard: catalog breaker closed (services and breakers)" \
	    "$(t_json '[r["breaker"] for r in j["services"]
	    if r["service"] == "catalog"] + [r["state"] for r in j["breakers"]
	    if r["breaker"] == "catalog"]' "$TMP/dom.json")" \
	    '["closed","closed"]'
	t_is "dashboard: route rows with their counts" \
	    "$(t_json '[[r["route"], r["service"], r["requests"]]
	    for r in j["routes"] if r["route"] in ("products.list",
	    "products.get")]' "$TMP/dom.json")" \
	    '[["products.list","catalog","7"],["products.get","catalog","4"]]'
	t_like "dashboard: a p99 for products.list" \
	    "$(t_json '[r["p99"] for r in j["routes"]
	    if r["route"] == "products.list"][0]' "$TMP/dom.json")" \
	    '^[0-9.]+ ms$'
	t_ok "chromium takes a screenshot and exits by itself" chrome \
	    /dev/null --virtual-time-budget=5000 --screenshot="$TMP/s.png" \
	    --window-size=1200,900 "$A/status"
	png=$("$PY" - "$TMP/s.png" 2>&1 <<'EOF'
# IHDR's size, then the pixels (zlib and the five scanline filters, no
# PIL) for the number of distinct colours: a blank page has one.
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, ihdr = 8, b"", None
while pos < len(d):
    n, typ = struct.unpack("!I4s", d[pos:pos + 8])
    if typ == b"IHDR":
        ihdr = struct.unpack("!IIBBBBB", d[pos + 8:pos + 8 + n])
    elif typ == b"IDAT":
        idat += d[pos + 8:pos + 8 + n]
    pos += 12 + n
w, h, depth, ctype, _, _, inter = ihdr
bpp = {2: 3, 6: 4}.get(ctype)
assert depth == 8 and bpp and inter == 0, "format %r" % (ihdr,)
raw, stride = zlib.decompress(idat), w * bpp
prev, colours = bytearray(stride), set()
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride) if f else ():
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1:
            x = a
        elif f == 2:
            x = b
        elif f == 3:
            x = (a + b) >> 1
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            x = a if pa <= pb and pa <= pc else b if pb <= pc else c
        line[i] = (line[i] + x) & 255
    if y % 2 == 0:
        for x in range(0, stride, bpp):
            colours.add(bytes(line[x:x + 3]))
    prev = line
print("%dx%d %d" % (w, h, len(colours)))
EOF
)
	t_like "screenshot: a 1200x900 PNG" "$png" '^1200x900 [0-9]+$'
	t_ok "screenshot: not blank (${png#* } colours)" \
	    test "${png#* }" -ge 8
else
	t_fail "dashboard in headless chromium" \
	    "chromium not installed (tools/packages)"
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
    "$(sample agora_supervisor_exits_total 'service="broken"' \
    'how="exit 1"')" \
    '^[1-9][0-9]*$'
t_is "agora_ready 0" "$(sample agora_ready)" 0
t_done
