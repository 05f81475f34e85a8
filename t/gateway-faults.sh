#!/bin/bash
# Faults under load, on loopback, bounded in time (about 40 s):
#  (b) SIGHUP every 2 s during 10 s of wrk: no failed request at all;
#  (a) one of the 4 supervised backend processes SIGKILLed every second
#      during 20 s of wrk -c16 GETs plus a loop of curl POSTs: no client
#      hangs (no wrk timeout, every curl bounded), errors only for requests
#      in flight (at most kills x pool size; GETs are retried, POSTs not),
#      and the gateway's fd count back where it was afterwards;
#  (c) SIGTERM with a 2 s request in flight: it completes with 200, then
#      the gateway exits 0.
# The backends are the fixture responder of t/lib.sh (t_fcgi_fixture).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

WRK=$(t__find wrk) || t_skip_all "wrk not found (install wrk)"
POOL=4

# its own rules: one prefix route, no auth, whatever the shipped rules do
mkdir -p "$TMP/rules"
echo 'route { prefix = "/api/products", service = "catalog", strip = "/api" }' \
    >"$TMP/rules/agora.lua"
t_fixture_conf "$TMP/gateway.conf" "
	processes $POOL
	queue 256
	queue timeout 5s
	read timeout 5s"
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
P=$T_URL/api/products

fds() { ls "/proc/$T_GATEWAY_PID/fd" | wc -l; }

# wrk counts the statuses it sees: "status NNN COUNT" lines at the end.
# Each connection pauses 10 ms between requests: a steady load of about
# a thousand requests a second, not one that starves the tests running
# beside this one (make -j2 check) of CPU.
cat >"$TMP/status.lua" <<'LUA'
local threads = {}
function delay()
	return 10
end
function setup(thread)
	table.insert(threads, thread)
end
function init(args)
	counts = {}
end
function response(status, headers, body)
	counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		for s, n in pairs(t:get("counts")) do
			total[s] = (total[s] or 0) + n
		end
	end
	for s, n in pairs(total) do
		io.write(string.format("status %d %d\n", s, n))
	end
end
LUA

# wrkrun OUT SECS: wrk -t1 -c16 against $P in the background, bounded.
wrkrun()
{
	timeout -k 5 $(($2 + 20)) "$WRK" -t1 -c16 -d"$2s" --timeout 4s \
	    --latency -s "$TMP/status.lua" "$P" >"$1" 2>&1 &
	T_LAST_PID=$!
}
# wrkstat OUT: "requests non2xx socketerrors timeouts" from a wrk output.
wrkstat()
{
	awk '
	/ requests in / { req = $1 }
	/Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8; to = $10 }
	/Non-2xx or 3xx responses:/ { bad = $NF }
	END { printf "%d %d %d %d\n", req, bad, err, to }' "$1"
}

# warm the pool: every backend connection open, the fd count settled
"$WRK" -t1 -c16 -d1s "$P" >/dev/null 2>&1
sleep 0.5
fd0=$(fds)

# --- (b) SIGHUP every 2 s during wrk: nothing fails
wrkrun "$TMP/wrk.hup" 10
wpid=$T_LAST_PID
hups=0
for ((i = 0; i < 5; i++)); do
	sleep 2
	kill -HUP "$T_GATEWAY_PID" && hups=$((hups + 1))
done
wait "$wpid"
read -r req bad err to <<<"$(wrkstat "$TMP/wrk.hup")"
t_diag "SIGHUP x$hups: $req requests, $bad non-2xx, $err socket errors," \
    "$to timeouts; $(grep '^status' "$TMP/wrk.hup" | tr '\n' ' ')"
t_ok "SIGHUP under load: requests ran ($req)" test "$req" -gt 1000
t_is "SIGHUP under load: every reload applied" \
    "$(grep -c 'reloaded: generation' "$T_GATEWAY_LOG")" "$hups"
t_is "SIGHUP under load: zero failed requests" "$bad $err $to" "0 0 0"

# --- (a) a backend process SIGKILLed every second for 20 s during wrk
wrkrun "$TMP/wrk.kill" 20
wpid=$T_LAST_PID
# a bounded curl loop of POSTs beside wrk's GETs: no single request may
# hang, and a POST is never retried, so one in flight on a killed process
# gets an error
(
	end=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$end" ]; do
		"$CURL" -s -o /dev/null --max-time 5 -d 'fault=1' \
		    -w '%{http_code} %{time_total}\n' "$P/x/y"
		sleep 0.02
	done
) >"$TMP/curl.kill" 2>/dev/null &
cpid=$!
kills=0
for ((i = 0; i < 20; i++)); do
	sleep 1
	victims=($(t_gateway_children))
	[ ${#victims[@]} -gt 0 ] || continue
	kill -KILL "${victims[RANDOM % ${#victims[@]}]}" 2>/dev/null &&
	    kills=$((kills + 1))
done
wait "$wpid" "$cpid"
read -r req bad err to <<<"$(wrkstat "$TMP/wrk.kill")"
cbad=$(grep -vc '^200 ' "$TMP/curl.kill")
cslow=$(awk '$2 >= 4.5' "$TMP/curl.kill" | wc -l)
t_diag "SIGKILL x$kills: wrk $req requests, $bad non-2xx, $err socket" \
    "errors, $to timeouts; $(grep '^status' "$TMP/wrk.kill" | tr '\n' ' ')"
t_diag "SIGKILL: curl $(wc -l <"$TMP/curl.kill") requests, $cbad not 200," \
    "$cslow near the 5 s bound; $(grep -E '^ +(50|99)%' "$TMP/wrk.kill" |
    tr -s ' ' | tr '\n' ' ')"
t_ok "SIGKILL under load: kills happened ($kills)" test "$kills" -ge 15
t_ok "SIGKILL under load: requests ran ($req)" test "$req" -gt 1000
! grep -q 'Socket errors' "$TMP/wrk.kill" ||
    t_diag "$(grep 'Socket errors' "$TMP/wrk.kill")"
t_is "SIGKILL under load: no wrk timeout (4 s)" "$to" 0
t_is "SIGKILL under load: no curl hung" "$cslow" 0
errs=$((bad + err + cbad))
t_ok "SIGKILL under load: errors ($errs) <= kills x pool ($((kills * POOL)))" \
    test "$errs" -le $((kills * POOL))
t_ok "service answers again after the kills" t_wait_http "$P" 200 10
# let the supervisor restart the last victims and the pool settle
for ((i = 0; i < 50; i++)); do
	[ "$(t_gateway_children | wc -l)" -eq "$POOL" ] && break
	sleep 0.1
done
"$WRK" -t1 -c16 -d1s "$P" >/dev/null 2>&1
sleep 0.5
fd1=$(fds)
t_diag "gateway fds: $fd0 before the load, $fd1 after"
t_ok "SIGKILL under load: no fd leaked ($fd0 -> $fd1)" \
    test "$fd1" -le $((fd0 + 4))

# --- (c) SIGTERM drains a request in flight, then exits 0
t_curl_bg "$TMP/slow" "$P?sleep=2"
slow=$T_LAST_PID
t_pool_is catalog 1
t_ok "SIGTERM: gateway exits 0 and leaves no child" t_gateway_stop
wait "$slow"
t_is "SIGTERM: the request in flight completed with 200" \
    "$(cut -d' ' -f1 "$TMP/slow")" 200
t_done
