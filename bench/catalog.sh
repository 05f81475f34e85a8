#!/bin/bash
# bench/catalog.sh [BUILDDIR]: wrk through agora-gateway against
# agora-catalog and a private MariaDB seeded with PRODUCTS products, on
#   get     GET /api/products/{id}, ids spread over the whole catalog
#   search  GET /api/products?q=..., a rotation of one- and two-word
#           full-text searches (first page of 20)
# and prints requests/s, p50, p99 and errors for each.  Everything runs
# on 127.0.0.1 and is stopped by pid on exit (t/lib.sh); every wrk run is
# bounded by DURATION (plus a hard timeout).
set -u

usage() {
	cat >&2 <<'USAGE'
usage: bench/catalog.sh [BUILDDIR]
environment (defaults in brackets):
  BUILDDIR  build directory holding proxy/agora-gateway and
            backends/catalog/agora-catalog [.]
  PRODUCTS  products to seed [5000]
  DURATION  seconds per run [10]   WARMUP seconds before each [2]
  CONNS     wrk connections [32]   THREADS wrk threads [2]
  PROCESSES agora-catalog processes [4]   WORKERS gateway workers [1]
  WRK       the wrk program [wrk]
USAGE
	exit 2
}

[ $# -le 1 ] || usage
case "${1:-}" in -h|--help) usage ;; esac

srcdir=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${1:-${BUILDDIR:-$PWD}}
BUILDDIR=$(cd "$BUILDDIR" 2>/dev/null && pwd) || {
	echo "catalog.sh: no build directory ${1:-${BUILDDIR:-}}" >&2; exit 2; }
PRODUCTS=${PRODUCTS:-5000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
PROCESSES=${PROCESSES:-4}
WORKERS=${WORKERS:-1}
WRK=${WRK:-wrk}
for v in PRODUCTS DURATION WARMUP CONNS THREADS PROCESSES WORKERS; do
	case "${!v}" in
	''|*[!0-9]*) echo "catalog.sh: $v must be a number" >&2; exit 2 ;;
	esac
done
[ "$PRODUCTS" -ge 1 ] && [ "$DURATION" -ge 1 ] || usage
command -v "$WRK" >/dev/null || { echo "catalog.sh: $WRK not found" >&2; exit 2; }
for f in proxy/agora-gateway backends/catalog/agora-catalog; do
	[ -x "$BUILDDIR/$f" ] || {
		echo "catalog.sh: $BUILDDIR/$f not built" >&2; exit 2; }
done

# The test harness brings up MariaDB and the gateway and stops them by
# pid on exit; its TMP is private and removed afterwards.
top_srcdir=$srcdir top_builddir=$BUILDDIR
. "$srcdir/t/lib.sh"
# parse_wrk only: processes and files are t/lib.sh's here
BENCH=catalog.sh
. "$srcdir/bench/lib.sh"

echo "# seeding $PRODUCTS products" >&2
t_mariadb_start --seed
"$PY" - "$PRODUCTS" >"$TMP/products.sql" <<'PYEOF'
import random, sys
n = int(sys.argv[1])
rng = random.Random(42)
adj = ["red", "blue", "green", "steel", "oak", "linen", "wool", "cast",
       "enamel", "glass", "copper", "bamboo", "leather", "ceramic", "cotton"]
noun = ["mug", "teapot", "knife", "shirt", "hoodie", "socks", "notebook",
        "pen", "lamp", "bowl", "plate", "kettle", "scarf", "chair", "book"]
cats = ["kitchen", "home", "clothing", "books", "stationery"]
words = ("sturdy light handmade classic modern durable soft warm small "
         "large everyday travel gift premium simple").split()
print("USE catalog;")
rows = []
for i in range(n):
    name = "%s %s %d" % (rng.choice(adj).capitalize(), rng.choice(noun), i)
    desc = " ".join(rng.choice(words) for _ in range(12))
    rows.append("('BENCH-%06d', '%s', '%s', %d, 'EUR', '%s', "
                "UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
                % (i, name, desc, rng.randint(100, 20000), rng.choice(cats)))
for k in range(0, n, 500):
    print("INSERT INTO products (sku, name, description, price_amount,"
          " currency, category, created_at, updated_at) VALUES")
    print(",\n".join(rows[k:k + 500]) + ";")
PYEOF
t_sql_file "$TMP/products.sql" || t_bail "seeding failed"
max=$(t_sql "SELECT MAX(id) FROM products" catalog)
min=$(t_sql "SELECT MIN(id) FROM products" catalog)

t_conf "$TMP/gateway.conf" 'access log "/dev/null"' \
    "	processes $PROCESSES
	queue 1024"
t_gateway_start "$TMP/gateway.conf" -D "workers=$WORKERS"
P=$T_URL/api/products
t_http GET "$P/$max"
[ "$T_STATUS" = 200 ] || t_bail "GET $P/$max: $T_STATUS"
t_http GET "$P?q=steel+knife"
[ "$T_STATUS" = 200 ] && [ "$(t_json 'len(j["items"])')" -gt 0 ] ||
    t_bail "search: $T_STATUS $(t_body | head -c 200)"

cat >"$TMP/get.lua" <<LUA
math.randomseed(os.time())
request = function()
	return wrk.format("GET", "/api/products/" .. math.random($min, $max))
end
LUA
cat >"$TMP/search.lua" <<'LUA'
local qs = { "mug", "steel+knife", "red", "wool+socks", "handmade",
    "ceramic+bowl", "gift", "cotton+shirt", "lamp", "durable+travel" }
local i = 0
request = function()
	i = i % #qs + 1
	return wrk.format("GET", "/api/products?q=" .. qs[i])
end
LUA

run() {		# name script seconds -> wrk output in $TMP/name.wrk
	timeout -k 5 $(($3 + 30)) "$WRK" -t "$THREADS" -c "$CONNS" -d "${3}s" \
	    --latency -s "$TMP/$2.lua" "$T_URL/" >"$TMP/$1.wrk" 2>&1
}

printf '# %d products, %d catalog processes, %d gateway worker(s), ' \
    "$((max - min + 1))" "$PROCESSES" "$WORKERS"
printf 'wrk -t%d -c%d, %ds per run\n' "$THREADS" "$CONNS" "$DURATION"
printf '%-8s %10s %9s %9s %7s %9s\n' bench req/s p50_us p99_us errors requests
for b in get search; do
	[ "$WARMUP" -gt 0 ] && run "$b-warmup" "$b" "$WARMUP"
	run "$b" "$b" "$DURATION"
	read -r rps p50 p99 err req < <(parse_wrk "$TMP/$b.wrk")
	printf '%-8s %10s %9s %9s %7s %9s\n' "$b" "$rps" "$p50" "$p99" \
	    "$err" "$req"
done
