#!/bin/bash
# bench/proxy.sh [BUILDDIR]: agora-gateway against nginx and HAProxy, each
# in front of its own pool of identical bench/hello FastCGI processes.
#
# wrk drives the proxies in turn, in alternating rounds, and the script
# prints requests/s, p50, p99, errors and the proxy's own CPU time per
# request for every run, then the medians, then one line:
#     ratio throughput=X p99=Y cpu=Z
# (gateway / best anchor, gateway / lowest anchor p99, gateway / HAProxy).
# See bench/README.md.  Everything it starts is stopped by pid on exit.
set -u

usage() {
	cat >&2 <<'EOF'
usage: bench/proxy.sh [BUILDDIR]
environment (defaults in brackets):
  BUILDDIR  build directory holding bench/hello, proxy/agora-gateway [.]
  GATEWAY   agora-gateway binary [$BUILDDIR/proxy/agora-gateway]
  HELLO     FastCGI responder [$BUILDDIR/bench/hello]
  NGINX HAPROXY WRK SPAWN_FCGI  programs [found on PATH or in /usr/sbin]
  PROXIES   which to run ["gateway nginx nginx-close haproxy"]
  THREADS   worker processes / threads of every proxy [1]
  ROUNDS [3]  DURATION seconds per run [5]  CONNS wrk connections [64]
            THREADS="1 2" and/or CONNS="64 256" run every combination
  WARMUP    seconds of discarded warm-up per proxy [1]
  POOL      hello processes per pool [4]
  ACCESS_LOG  null (every proxy logs to /dev/null) or file [null]
  KEEP      1 keeps the temporary directory (configs, logs, wrk output)
EOF
	exit 2
}

[ $# -le 1 ] || usage
case "${1:-}" in -h|--help) usage ;; esac

srcdir=$(cd "$(dirname "$0")" && pwd)
BENCH=proxy.sh
. "$srcdir/lib.sh"
bench_builddir "${1:-}"
PROXIES=${PROXIES:-gateway nginx nginx-close haproxy}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-1}
POOL=${POOL:-4}
ACCESS_LOG=${ACCESS_LOG:-null}
KEEP=${KEEP:-0}

# A sweep: THREADS and/or CONNS hold several values ("1 2", "64 256").
# Each combination is a whole run of this script; a table of their ratio
# lines follows, and the last line is the last combination's ratio line.
if [[ $THREADS == *[[:space:]]* || $CONNS == *[[:space:]]* ]]; then
	sweep=$(mktemp "${TMPDIR:-/tmp}/agora-sweep.XXXXXX") || exit 2
	trap 'rm -f "$sweep"' EXIT
	for t in $THREADS; do
		for c in $CONNS; do
			echo "### THREADS=$t CONNS=$c"
			THREADS=$t CONNS=$c "$0" "$BUILDDIR" | tee "$sweep.run"
			[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
			printf 'THREADS=%-3s CONNS=%-5s %s\n' "$t" "$c" \
			    "$(grep '^median' "$sweep.run" | tr -s ' ' |
			    cut -d' ' -f2,3,5,7 | tr ' \n' '= ' |
			    sed 's/ *$//')" >>"$sweep"
			tail -n 1 "$sweep.run" >>"$sweep.ratio"
		done
	done
	echo "### sweep: median req/s=p99_us=cpu_us per proxy"
	paste -d' ' "$sweep" "$sweep.ratio"
	last=$(tail -n 1 "$sweep.ratio")
	rm -f "$sweep.run" "$sweep.ratio"
	echo "$last"
	exit 0
fi

for v in THREADS ROUNDS DURATION CONNS WARMUP POOL; do
	case "${!v}" in
	''|*[!0-9]*) echo "proxy.sh: $v must be a number" >&2; exit 2 ;;
	esac
done
case "$ACCESS_LOG" in null|file) ;; *) usage ;; esac
if [ "$ROUNDS" -lt 1 ] || [ "$DURATION" -lt 1 ] || [ "$POOL" -lt 1 ]; then
	usage
fi

# Programs: the environment wins, then PATH, then sbin (not on a user's PATH).
WRK=$(findprog "${WRK:-wrk}") || { echo "proxy.sh: wrk not found" >&2; exit 2; }
SPAWN_FCGI=$(findprog "${SPAWN_FCGI:-spawn-fcgi}") ||
	{ echo "proxy.sh: spawn-fcgi not found" >&2; exit 2; }
CURL=$(findprog curl) || { echo "proxy.sh: curl not found" >&2; exit 2; }
[ -x "$HELLO" ] || {
	echo "proxy.sh: $HELLO missing: run make in $BUILDDIR" >&2; exit 2; }
bench_tmp

access_log() {		# $1 = proxy name
	if [ "$ACCESS_LOG" = file ]; then
		echo "$TMP/$1/access.log"
	else
		echo /dev/null
	fi
}

# A pool of $POOL hello processes on $TMP/$1/hello.sock.
start_pool() {
	spawn_pool "$TMP/$1" "$POOL" "$HELLO" || return 1
	POOLPIDS[$1]=$REPLY
}

# A result is worth nothing if the backends died under it: say so.
check_pool() {
	local dead
	dead=$(pool_dead "${POOLPIDS[$1]}")
	[ "$dead" -eq 0 ] ||
		echo "warning: $dead of $POOL hello processes of $1 are gone"
}

declare -A PORT PID POOLPIDS

start_gateway() {
	local dir=$TMP/gateway
	free_port; PORT[gateway]=$REPLY
	free_port
	subst "$srcdir/gateway.conf.in" "$dir/gateway.conf" \
	    THREADS="$THREADS" PORT="${PORT[gateway]}" ADMIN_PORT="$REPLY" \
	    DIR="$dir" ACCESS_LOG="$(access_log gateway)" \
	    SOCK="$dir/hello.sock" POOL="$POOL" QUEUE="$((CONNS + 16))"
	subst "$srcdir/rules.lua.in" "$dir/rules.lua"
	if ! "$GATEWAY" -n -f "$dir/gateway.conf" >"$dir/check.log" 2>&1; then
		echo "skip gateway: agora-gateway -n refused the config:"
		sed 's/^/    /' "$dir/check.log"
		return 1
	fi
	"$GATEWAY" -f "$dir/gateway.conf" >"$dir/stderr.log" 2>&1 &
	PID[gateway]=$!
	PIDS+=("$!")
}

start_nginx() {		# nginx or nginx-close
	local name=$1 dir=$TMP/$1 user='' ka='' kc=
	free_port; PORT[$name]=$REPLY
	[ "$(id -u)" = 0 ] && user="user root;"
	if [ "$name" = nginx ]; then
		ka="keepalive $POOL;"
		kc="fastcgi_keep_conn on;"
	fi
	subst "$srcdir/nginx.conf.in" "$dir/nginx.conf" \
	    USER="$user" THREADS="$THREADS" DIR="$dir" PORT="${PORT[$name]}" \
	    ACCESS_LOG="$(access_log "$name")" SOCK="$dir/hello.sock" \
	    UPSTREAM_KEEPALIVE="$ka" KEEP_CONN="$kc"
	"$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
	    >"$dir/stderr.log" 2>&1 &
	PID[$name]=$!
	PIDS+=("$!")
}

start_haproxy() {
	local dir=$TMP/haproxy
	free_port; PORT[haproxy]=$REPLY
	subst "$srcdir/haproxy.cfg.in" "$dir/haproxy.cfg" \
	    THREADS="$THREADS" PORT="${PORT[haproxy]}" SOCK="$dir/hello.sock" \
	    POOL="$POOL"
	# -db: foreground, one process; its stdout is the access log
	"$HAPROXY" -db -f "$dir/haproxy.cfg" >"$(access_log haproxy)" \
	    2>"$dir/stderr.log" &
	PID[haproxy]=$!
	PIDS+=("$!")
}

# Says why a proxy cannot run here, before its pool is spawned.
available() {
	case "$1" in
	gateway)
		[ -x "$GATEWAY" ] && return 0
		echo "skip gateway: $GATEWAY not built (make in the build dir, or set GATEWAY)" ;;
	nginx|nginx-close)
		[ -n "$NGINX" ] && return 0
		echo "skip $1: nginx not installed (or set NGINX)" ;;
	haproxy)
		[ -n "$HAPROXY" ] && return 0
		echo "skip haproxy: haproxy not installed (or set HAPROXY)" ;;
	*)
		echo "proxy.sh: unknown proxy $1" >&2
		exit 2 ;;
	esac
	return 1
}

# One wrk run against $1; appends a result line to $TMP/results.
run_wrk() {		# name round seconds
	local name=$1 round=$2 secs=$3 out t0 t1 r cpu
	out=$TMP/$name/wrk.$round
	t0=$(proc_ticks "${PID[$name]}")
	timeout -k 5 $((secs + 30)) "$WRK" -t1 -c"$CONNS" -d"${secs}s" \
	    --latency "http://127.0.0.1:${PORT[$name]}/" >"$out" 2>&1
	t1=$(proc_ticks "${PID[$name]}")
	check_pool "$name"
	[ "$round" = warmup ] && return 0
	r=($(parse_wrk "$out"))
	if [ "${r[4]}" -le 0 ]; then
		# not a zero in the medians: the run says nothing
		printf '%-6s %-12s %10s   (no response; left out of the medians)\n' \
		    "$round" "$name" failed
		sed 's/^/    /' "$out"
		return 0
	fi
	cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="${r[4]}" \
	    'BEGIN { printf "%.1f", t * 1000000 / hz / n }')
	printf '%-6s %-12s %10s %9s %9s %7s %8s\n' "$round" "$name" \
	    "${r[0]}" "${r[1]}" "${r[2]}" "${r[3]}" "$cpu"
	echo "$name ${r[0]} ${r[1]} ${r[2]} ${r[3]} $cpu" >>"$TMP/results"
}

NGINX=$(findprog "${NGINX:-nginx}") || NGINX=
HAPROXY=$(findprog "${HAPROXY:-haproxy}") || HAPROXY=

echo "# agora proxy benchmark: $(date -u '+%Y-%m-%d %H:%M:%S') UTC, $(nproc) cpus"
echo "# THREADS=$THREADS POOL=$POOL CONNS=$CONNS DURATION=${DURATION}s ROUNDS=$ROUNDS ACCESS_LOG=$ACCESS_LOG"
[ -n "$NGINX" ] && echo "# $("$NGINX" -v 2>&1)"
[ -n "$HAPROXY" ] && echo "# $("$HAPROXY" -v 2>&1 | head -1)"
echo "# $("$WRK" -v 2>&1 | head -1)"

RUN=()
for name in $PROXIES; do
	available "$name" || continue
	mkdir -p "$TMP/$name"
	start_pool "$name" || exit 1
	case "$name" in
	gateway) start_gateway || continue ;;
	nginx|nginx-close) start_nginx "$name" || continue ;;
	haproxy) start_haproxy || continue ;;
	esac
	if ! wait_ready "${PORT[$name]}" "${PID[$name]}"; then
		echo "skip $name: no 200 \"Hello, world\" on port ${PORT[$name]} within 5 s"
		for f in "$TMP/$name"/stderr.log "$TMP/$name"/error.log; do
			[ -s "$f" ] && tail -n 5 "$f" | sed 's/^/    /'
		done
		continue
	fi
	RUN+=("$name")
done
[ ${#RUN[@]} -gt 0 ] || { echo "proxy.sh: nothing to measure" >&2; exit 1; }

if [ "$WARMUP" -gt 0 ]; then
	for name in "${RUN[@]}"; do
		run_wrk "$name" warmup "$WARMUP"
	done
fi

printf '%-6s %-12s %10s %9s %9s %7s %8s\n' round proxy req/s p50_us p99_us \
    errors cpu_us
: >"$TMP/results"
for ((round = 1; round <= ROUNDS; round++)); do
	# rotate the order so no proxy always runs first (or on a warm cache)
	n=${#RUN[@]}
	for ((i = 0; i < n; i++)); do
		run_wrk "${RUN[(i + round - 1) % n]}" "$round" "$DURATION"
		sleep 1
	done
done

# Medians per proxy and column, then the ratios against the anchors.
awk -v order="${RUN[*]}" '
function median(name, col,   n, i, j, t, a) {
	n = cnt[name]
	for (i = 1; i <= n; i++)
		a[i] = val[name, i, col]
	for (i = 2; i <= n; i++)	# insertion sort: a few rounds
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# two decimals, more when that would print 0.00
function ratio(a, b) {
	return sprintf(a / b < 0.1 ? "%.2g" : "%.2f", a / b)
}
{
	i = ++cnt[$1]
	for (c = 2; c <= 6; c++)
		val[$1, i, c] = $c
}
END {
	k = split(order, names, " ")
	for (i = 1; i <= k; i++) {
		p = names[i]
		if (!cnt[p])
			continue
		for (c = 2; c <= 6; c++)
			med[p, c] = median(p, c)
		printf "%-6s %-12s %10.0f %9.0f %9.0f %7.0f %8.1f\n", "median",
		    p, med[p, 2], med[p, 3], med[p, 4], med[p, 5], med[p, 6]
		if (p != "gateway") {
			if (best == "" || med[p, 2] > best)
				best = med[p, 2]
			if (lowp99 == "" || med[p, 4] < lowp99)
				lowp99 = med[p, 4]
		}
	}
	x = y = z = "n/a"
	if (cnt["gateway"]) {
		if (best != "" && best > 0)
			x = ratio(med["gateway", 2], best)
		if (lowp99 != "" && lowp99 > 0)
			y = ratio(med["gateway", 4], lowp99)
		if (cnt["haproxy"] && med["haproxy", 6] > 0)
			z = ratio(med["gateway", 6], med["haproxy", 6])
	}
	printf "ratio throughput=%s p99=%s cpu=%s\n", x, y, z
}' "$TMP/results"
