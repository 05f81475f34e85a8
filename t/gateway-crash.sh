#!/bin/bash
# A catalog process killed with SIGKILL under load: in-flight requests get
# 502 or 503, nothing hangs, the supervisor restarts it, and the service
# answers again.  Then the same with every process killed at once.  The
# catalog answers in a millisecond, so few requests are in flight when it
# dies; the last part kills slow FastCGI fixture processes in the middle
# of their requests to make sure those get 502 at once.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
# the catalog as shipped (processes 4), without the other services' pools
t_conf "$TMP/gateway.conf" "" "	processes 4"
t_gateway_start "$TMP/gateway.conf"
P=$T_URL/api/products
nproc_want=4

# count_children: the gateway's live children (zombies excluded).
children()
{
	local p
	for p in $(t_gateway_children); do
		case $(ps -o stat= -p "$p" 2>/dev/null) in Z*|"") ;; *) echo "$p" ;; esac
	done
}

# wait_children N [SECS]: until the gateway has N live children.
wait_children()
{
	local i
	for ((i = 0; i < ${2:-15} * 10; i++)); do
		[ "$(children | wc -l)" -eq "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# load N SECS OUT: N clients in a loop for SECS seconds; OUT gets one
# status per request.  Every request is bounded by --max-time 5.
load()
{
	local n=$1 secs=$2 out=$3 c
	for ((c = 0; c < n; c++)); do
		(
			end=$((SECONDS + secs))
			while [ "$SECONDS" -lt "$end" ]; do
				"$CURL" -s -o /dev/null --max-time 5 \
				    -w '%{http_code}\n' "$P?limit=5" 2>/dev/null ||
				    true
			done
		) >>"$out.$c" &
		load_pids+=($!)
	done
}

load_wait()	# -> all statuses in $1
{
	local p
	for p in "${load_pids[@]}"; do
		wait "$p"
	done
	load_pids=()
	cat "$1".* >"$1"
}

# verdict NAME FILE [served]: statuses are only 200/502/503, none timed
# out (000); with "served", some requests got 200.
verdict()
{
	local name=$1 f=$2 bad n200 n5xx
	bad=$(grep -v -x -E '200|502|503' "$f" | sort | uniq -c | tr '\n' ' ')
	t_is "$name: only 200, 502 or 503, nothing timed out" "$bad" ""
	n200=$(grep -c -x 200 "$f")
	n5xx=$(grep -c -x -E '50[23]' "$f")
	t_diag "$name: $n200 x 200, $n5xx x 502/503"
	[ "${3:-}" = served ] &&
	    t_ok "$name: the other processes kept serving" test "$n200" -gt 0
	return 0
}

t_http GET "$P"
t_is "catalog answers" "$T_STATUS" 200
t_ok "supervisor runs $nproc_want catalog processes" wait_children "$nproc_want" 5

# --- one process killed under load
load_pids=()
load 4 4 "$TMP/load1"
sleep 1
victim=$(children | head -n 1)
t_like "a catalog pid to kill" "$victim" '^[0-9]+$'
kill -KILL "$victim"
load_wait "$TMP/load1"
verdict "one killed" "$TMP/load1" served
t_ok "restarted: $nproc_want processes again" wait_children "$nproc_want" 15
t_ok "the victim is gone from the pool" \
    test -z "$(children | grep -x "$victim")"
t_ok "gateway survived" t_alive "$T_GATEWAY_PID"
ok=0
for i in $(seq 20); do
	t_http GET "$P"
	[ "$T_STATUS" = 200 ] && ok=$((ok + 1))
done
t_is "after restart: 20 of 20 requests succeed" "$ok" 20

# --- every process killed at once
load 2 5 "$TMP/load2"
sleep 1
all=$(children)
kill -KILL $all
load_wait "$TMP/load2"
verdict "all killed" "$TMP/load2"
t_ok "restarted: $nproc_want processes again" wait_children "$nproc_want" 20
t_ok "readyz back to 200" t_wait_http "$T_ADMIN_URL/readyz" 200 10
ok=0
for i in $(seq 20); do
	t_http GET "$P"
	[ "$T_STATUS" = 200 ] && ok=$((ok + 1))
done
t_is "after restart: 20 of 20 requests succeed" "$ok" 20
t_is "none of the killed pids remain" \
    "$(children | grep -x -F "$all")" ""

# --- processes killed in the middle of a request
t_ok "SIGTERM: gateway exits 0 and stops its children" t_gateway_stop
t_fixture_conf "$TMP/fixture.conf" '
	processes 2
	read timeout 10s'
t_gateway_start "$TMP/fixture.conf"
P=$T_URL/api/products
t_ok "fixture pool: 2 processes" wait_children 2 5
t_curl_bg "$TMP/slow1" "$P?sleep=5"
s1=$T_LAST_PID
t_curl_bg "$TMP/slow2" "$P?sleep=5"
s2=$T_LAST_PID
t_pool_is catalog 2
all=$(children)
kill -KILL $all
wait "$s1" "$s2"
t_is "in-flight requests: 502" "$(cut -d' ' -f1 "$TMP/slow1" "$TMP/slow2")" \
    "502
502"
t_ok "in-flight requests: answered at once, not at the timeout" \
    "$PY" -c 'import sys; sys.exit(not all(float(open(f).read().split()[1]) < 2.5 for f in sys.argv[1:]))' \
    "$TMP/slow1" "$TMP/slow2"
t_ok "fixture pool: 2 new processes" wait_children 2 15
t_is "none of the killed fixture pids remain" \
    "$(children | grep -x -F "$all")" ""
t_ok "fixture answers again" t_wait_http "$P" 200 10
t_done
