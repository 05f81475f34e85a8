#!/bin/bash
# bench/policy.sh [BUILDDIR]: what the gateway's policy costs in CPU.
#
# Two agora-gateways side by side, each in front of its own pool of
# identical bench/hello FastCGI processes:
#   bare  the bench/proxy.sh gateway: one prefix route, no policy, access
#         log to /dev/null
#   full  a route compiled from Lua rules with a path capture
#         (/items/{id}), JWT verification (ES256, a token minted for the
#         run by /usr/bin/python3 with python3-jwt, sent by wrk through a
#         -s script), a rate-limit policy of two windows keyed on client
#         address and subject (high enough never to refuse), a route
#         breaker over the service's, the metrics it always keeps, and an
#         access log written to a file
# wrk drives them in alternating rounds; the gateway's CPU time (utime +
# stime from /proc/PID/stat) per request is measured for every run.  It
# prints every run, the medians, and last:
#     ratio cpu=R
# R = full median CPU per request / bare median CPU per request (the
# issue's target is <= 1.3).  Everything it starts is stopped by pid on
# exit; only 127.0.0.1 is used.  See bench/README.md.
set -u

usage() {
	cat >&2 <<'EOF'
usage: bench/policy.sh [BUILDDIR]
environment (defaults in brackets):
  BUILDDIR  build directory holding bench/hello, proxy/agora-gateway [.]
  GATEWAY   agora-gateway binary [$BUILDDIR/proxy/agora-gateway]
  HELLO     FastCGI responder [$BUILDDIR/bench/hello]
  WRK SPAWN_FCGI  programs [found on PATH or in /usr/sbin]
  THREADS   gateway workers [1]      POOL  hello processes per pool [4]
  ROUNDS [5]  DURATION seconds per run [5]  CONNS wrk connections [64]
  WARMUP    seconds of discarded warm-up per gateway [1]
  HANDLER   1 adds a (trivial) Lua handler function to the full route [0]
  JWT       0 leaves token verification out of the full route, to see
            what the rest of the policy costs [1]
  KEEP      1 keeps the temporary directory (configs, logs, wrk output)
EOF
	exit 2
}

[ $# -le 1 ] || usage
case "${1:-}" in -h|--help) usage ;; esac

srcdir=$(cd "$(dirname "$0")" && pwd)
BENCH=policy.sh
. "$srcdir/lib.sh"
bench_builddir "${1:-}"
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-1}
POOL=${POOL:-4}
HANDLER=${HANDLER:-0}
JWT=${JWT:-1}
PY=/usr/bin/python3

for v in THREADS ROUNDS DURATION CONNS WARMUP POOL HANDLER JWT; do
	case "${!v}" in
	''|*[!0-9]*) echo "policy.sh: $v must be a number" >&2; exit 2 ;;
	esac
done
if [ "$ROUNDS" -lt 1 ] || [ "$DURATION" -lt 1 ] || [ "$POOL" -lt 1 ] ||
    [ "$THREADS" -lt 1 ] || [ "$CONNS" -lt 1 ]; then
	usage
fi
WRK=$(findprog "${WRK:-wrk}") || { echo "policy.sh: wrk not found" >&2; exit 2; }
SPAWN_FCGI=$(findprog "${SPAWN_FCGI:-spawn-fcgi}") ||
	{ echo "policy.sh: spawn-fcgi not found" >&2; exit 2; }
CURL=$(findprog curl) || { echo "policy.sh: curl not found" >&2; exit 2; }
for f in "$GATEWAY" "$HELLO"; do
	[ -x "$f" ] || { echo "policy.sh: $f missing: run make in $BUILDDIR" >&2
		exit 2; }
done
"$PY" -c 'import jwt, cryptography' 2>/dev/null || {
	echo "policy.sh: $PY cannot import jwt and cryptography" \
	    "(Debian: python3-jwt python3-cryptography)" >&2
	exit 2
}
bench_tmp

declare -A PORT PID POOLPIDS MED
NAMES=(bare full)

# The ES256 key, its JWKS and a token valid for the whole run.
mkdir -p "$TMP/full" "$TMP/bare"
"$PY" - "$TMP/full" "$((ROUNDS * (DURATION + 2) * 2 + 3600))" <<'EOF' || exit 1
import json, sys, time
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

out, life = sys.argv[1], int(sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
alg = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)
j = json.loads(alg.to_jwk(key.public_key()))
j.update(kid="bench1", use="sig", alg="ES256")
open(out + "/jwks.json", "w").write(json.dumps({"keys": [j]}))
now = int(time.time())
tok = jwt.encode({"sub": "bench-user", "iss": "https://bench.test",
    "aud": "agora", "iat": now, "exp": now + life, "roles": ["buyer"],
    "scope": "read"}, key, "ES256", headers={"kid": "bench1"})
open(out + "/token", "w").write(tok)
EOF
TOKEN=$(cat "$TMP/full/token")
# wrk sends the token and spreads the requests over captured ids
cat >"$TMP/full/wrk.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $TOKEN"
local n = 0
request = function()
	n = n % 1000 + 1
	return wrk.format("GET", "/items/" .. n)
end
EOF

start_bare() {
	local dir=$TMP/bare
	free_port; PORT[bare]=$REPLY
	free_port
	subst "$srcdir/gateway.conf.in" "$dir/gateway.conf" \
	    THREADS="$THREADS" PORT="${PORT[bare]}" ADMIN_PORT="$REPLY" \
	    DIR="$dir" ACCESS_LOG=/dev/null SOCK="$dir/hello.sock" \
	    POOL="$POOL" QUEUE="$((CONNS + 16))"
	subst "$srcdir/rules.lua.in" "$dir/rules.lua"
}

start_full() {
	local dir=$TMP/full handler= auth='auth = "jwt", roles = { "buyer" },'
	free_port; PORT[full]=$REPLY
	free_port
	cat >"$dir/gateway.conf" <<EOF
workers $THREADS
listen on 127.0.0.1 port ${PORT[full]}
admin listen on 127.0.0.1 port $REPLY
rules "$dir/rules.lua"
access log "$dir/access.log"
error log "$dir/error.log"

jwt {
	jwks file "$dir/jwks.json"
	issuer "https://bench.test"
	audience "agora"
}

# two windows, never reached: every request is counted, none refused
ratelimit keys 10000
ratelimit bench {
	rate 1000000/s burst 1000000 ; rate 1000000000/h
	key ip, sub
}

service hello {
	socket "$dir/hello.sock"
	max conns $POOL
	queue $((CONNS + 16))
	breaker { volume 20 ; errors 50% ; sleep 5s }
}
EOF
	[ "$JWT" = 0 ] && auth=
	[ "$HANDLER" = 1 ] && handler=',
    handler = function(req) req.params:set("ITEM_ID", req.captures.id) end'
	cat >"$dir/rules.lua" <<EOF
route { name = "item", methods = { "GET", "HEAD" }, path = "/items/{id}",
    service = "hello", $auth
    limits = { "bench" }, breaker = { volume = 20, sleep = "5s" }$handler }
EOF
}

start() {		# name
	local dir=$TMP/$1
	spawn_pool "$dir" "$POOL" "$HELLO" || exit 1
	POOLPIDS[$1]=$REPLY
	"start_$1"
	if ! "$GATEWAY" -n -f "$dir/gateway.conf" >"$dir/check.log" 2>&1; then
		echo "policy.sh: agora-gateway -n refused the $1 config:" >&2
		sed 's/^/    /' "$dir/check.log" >&2
		exit 1
	fi
	"$GATEWAY" -f "$dir/gateway.conf" >"$dir/stderr.log" 2>&1 &
	PID[$1]=$!
	PIDS+=("$!")
}

start bare
start full
wait_ready "${PORT[bare]}" "${PID[bare]}" || {
	echo "policy.sh: bare gateway: no 200 \"Hello, world\" within 5 s" >&2
	tail -n 5 "$TMP/bare/stderr.log" "$TMP/bare/error.log" >&2 2>/dev/null
	exit 1
}
wait_ready "${PORT[full]}" "${PID[full]}" /items/1 \
    -H "Authorization: Bearer $TOKEN" || {
	echo "policy.sh: full gateway: no 200 \"Hello, world\" with the" \
	    "token within 5 s" >&2
	tail -n 5 "$TMP/full/stderr.log" "$TMP/full/error.log" >&2 2>/dev/null
	exit 1
}
# the policy must really be in the way: no token, no answer
code=$("$CURL" -s -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:${PORT[full]}/items/1")
if [ "$JWT" = 1 ] && [ "$code" != 401 ]; then
	echo "policy.sh: full gateway answered $code without a token, not 401" >&2
	exit 1
fi

# One wrk run; appends "name rps p99 errors cpu_us" to $TMP/results.
run_wrk() {		# name round seconds
	local name=$1 round=$2 secs=$3 out t0 t1 r cpu dead script=()
	out=$TMP/$name/wrk.$round
	[ "$name" = full ] && script=(-s "$TMP/full/wrk.lua")
	t0=$(proc_ticks "${PID[$name]}")
	timeout -k 5 $((secs + 30)) "$WRK" -t1 -c"$CONNS" -d"${secs}s" \
	    --latency "${script[@]}" "http://127.0.0.1:${PORT[$name]}/" \
	    >"$out" 2>&1
	t1=$(proc_ticks "${PID[$name]}")
	dead=$(pool_dead "${POOLPIDS[$name]}")
	[ "$dead" -eq 0 ] ||
		echo "warning: $dead of $POOL hello processes of $name are gone"
	[ "$round" = warmup ] && return 0
	r=($(parse_wrk "$out"))
	if [ "${r[4]}" -le 0 ]; then
		printf '%-6s %-6s %10s   (no response; left out of the medians)\n' \
		    "$round" "$name" failed
		sed 's/^/    /' "$out"
		return 0
	fi
	cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="${r[4]}" \
	    'BEGIN { printf "%.2f", t * 1000000 / hz / n }')
	printf '%-6s %-6s %10s %9s %9s %7s %8s\n' "$round" "$name" \
	    "${r[0]}" "${r[1]}" "${r[2]}" "${r[3]}" "$cpu"
	echo "$name ${r[0]} ${r[2]} ${r[3]} $cpu" >>"$TMP/results"
}

echo "# agora policy benchmark: $(date -u '+%Y-%m-%d %H:%M:%S') UTC, $(nproc) cpus"
echo "# THREADS=$THREADS POOL=$POOL CONNS=$CONNS DURATION=${DURATION}s" \
    "ROUNDS=$ROUNDS HANDLER=$HANDLER JWT=$JWT"
echo "# $("$WRK" -v 2>&1 | head -1)"
if [ "$WARMUP" -gt 0 ]; then
	for name in "${NAMES[@]}"; do
		run_wrk "$name" warmup "$WARMUP"
	done
fi
printf '%-6s %-6s %10s %9s %9s %7s %8s\n' round proxy req/s p50_us p99_us \
    errors cpu_us
: >"$TMP/results"
for ((round = 1; round <= ROUNDS; round++)); do
	# alternate which one goes first
	if ((round % 2)); then order=(bare full); else order=(full bare); fi
	for name in "${order[@]}"; do
		run_wrk "$name" "$round" "$DURATION"
		sleep 1
	done
done

for name in "${NAMES[@]}"; do
	rps=$(median $(awk -v n="$name" '$1 == n { print $2 }' "$TMP/results")) ||
		{ echo "policy.sh: no result for $name" >&2; exit 1; }
	p99=$(median $(awk -v n="$name" '$1 == n { print $3 }' "$TMP/results"))
	err=$(median $(awk -v n="$name" '$1 == n { print $4 }' "$TMP/results"))
	cpu=$(median $(awk -v n="$name" '$1 == n { print $5 }' "$TMP/results"))
	printf '%-6s %-6s %10.0f %9s %9.0f %7.0f %8.2f\n' median "$name" \
	    "$rps" - "$p99" "$err" "$cpu"
	MED[$name]=$cpu
done
awk -v f="${MED[full]}" -v b="${MED[bare]}" \
    'BEGIN { if (b > 0) printf "ratio cpu=%.2f\n", f / b;
	else print "ratio cpu=n/a" }'
