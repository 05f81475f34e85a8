#!/bin/bash
# Pools of several servers the gateway does not spawn: FastCGI fixtures
# we start ourselves, one per socket.  Round-robin spreads the requests;
# a server killed with SIGKILL is taken out by passive health (a couple
# of failures at most, then traffic continues on the others) and comes
# back after its "down" time; the active probe marks a server down with
# no traffic at all, and up again once it answers.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_fcgi_fixture
mkdir -p "$TMP/rules" "$TMP/sock"

# serve N: a fixture on $TMP/sock/sN.sock (the socket on fd 0, as the
# supervisor would pass it); its pid in srv_pid[N].
declare -a srv_pid
serve()
{
	rm -f "$TMP/sock/s$1.sock"
	t_spawn "fixture$1" "$TMP/log-s$1" "$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(64)
os.dup2(s.fileno(), 0)
sys.argv = sys.argv[1:]
exec(open(sys.argv[1]).read())' "$TMP/sock/s$1.sock" "$TMP/fcgi-fixture.py"
	srv_pid[$1]=$T_LAST_PID
	for ((i = 0; i < 50; i++)); do
		[ -S "$TMP/sock/s$1.sock" ] && return 0
		sleep 0.1
	done
	t_bail "fixture $1 did not start"
}
for n in 0 1 2 3 4; do serve "$n"; done

cat >"$TMP/rules/agora.lua" <<'EOF'
route { prefix = "/api/products", service = "catalog", strip = "/api" }
route { prefix = "/probed", service = "probed" }
EOF
cat >"$TMP/gateway.conf" <<EOF
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
service catalog {
	socket "$TMP/sock/s0.sock"
	server "$TMP/sock/s1.sock"
	server "$TMP/sock/s2.sock"
	balance roundrobin
	queue timeout 2s
	passive health fails 2 within 10s down 5s
}
service probed {
	socket "$TMP/sock/s3.sock"
	server "$TMP/sock/s4.sock"
	queue timeout 2s
	health check path "/health" interval 200ms rise 2 fall 2
}
EOF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
P=$T_URL/api/products

# spread N URL: N sequential requests; prints "<non-200 count> <pids>"
# with the pids that answered, sorted, with counts ("pid:n ...").
spread()
{
	local i bad=0 pids=()
	for ((i = 0; i < $1; i++)); do
		t_http GET "$2"
		if [ "$T_STATUS" = 200 ]; then
			pids+=("$(t_json 'j["pid"]')")
		else
			bad=$((bad + 1))
		fi
	done
	printf '%s ' "$bad"
	printf '%s\n' "${pids[@]}" | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}

# count PID SPREAD: how many answers PID gave in a spread's output.
count() { echo "$2" | tr ' ' '\n' | awk -F: -v p="$1" '$1 == p { print $2 }'; }

# --- round-robin: three servers, ten requests each
out=$(spread 30 "$P")
t_like "round-robin: all 200" "$out" '^0 '
for n in 0 1 2; do
	c=$(count "${srv_pid[n]}" "$out")
	t_ok "round-robin: server $n took about a third (${c:-0} of 30)" \
	    test "${c:-0}" -ge 8 -a "${c:-0}" -le 12
done

# --- passive health: server 1 dies; at most the 2 failures that take it
# out, then everything goes to servers 0 and 2
kill -KILL "${srv_pid[1]}"
wait "${srv_pid[1]}" 2>/dev/null
out=$(spread 20 "$P")
bad=${out%% *}
t_ok "server 1 killed: at most 2 failures ($bad)" test "$bad" -le 2
t_is "server 1 killed: it gets nothing" "$(count "${srv_pid[1]}" "$out")" ""
t_ok "server 1 killed: servers 0 and 2 serve" \
    test -n "$(count "${srv_pid[0]}" "$out")" -a \
    -n "$(count "${srv_pid[2]}" "$out")"
out=$(spread 10 "$P")
t_like "server 1 out: no more failures" "$out" '^0 '
t_like "the ejection is logged" "$(cat "$T_GATEWAY_LOG")" \
    "server $TMP/sock/s1.sock: 2 failures within 10000 ms"

# --- it comes back after its 5 s down time (long enough for the
# requests above, even in a sanitizer build)
serve 1
sleep 5.2
out=$(spread 30 "$P")
t_like "server 1 back: all 200" "$out" '^0 '
t_is "server 1 was ejected once" \
    "$(grep -c "s1.sock: 2 failures within" "$T_GATEWAY_LOG")" 1
c=$(count "${srv_pid[1]}" "$out")
t_ok "server 1 back: it takes its share again (${c:-0} of 30)" \
    test "${c:-0}" -ge 8

# --- active probe: server 4 dies with no traffic at all; the probe marks
# it down, and up once it answers again
t_http GET "$T_URL/probed"
t_is "probed service answers" "$T_STATUS" 200
kill -KILL "${srv_pid[4]}"
wait "${srv_pid[4]}" 2>/dev/null
for ((i = 0; i < 50; i++)); do
	grep -q "s4.sock: 2 health checks failed" "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "probe: server 4 marked down" "$(cat "$T_GATEWAY_LOG")" \
    "server $TMP/sock/s4.sock is down \\(health check\\)"
out=$(spread 10 "$T_URL/probed")
t_like "probe: server 4 down, all 200 from server 3" "$out" \
    "^0 ${srv_pid[3]}:10 \$"
serve 4
for ((i = 0; i < 50; i++)); do
	grep -q "s4.sock is up (health check)" "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "probe: server 4 marked up again" "$(cat "$T_GATEWAY_LOG")" \
    "server $TMP/sock/s4.sock is up \\(health check\\)"
out=$(spread 10 "$T_URL/probed")
t_ok "probe: server 4 serves again" test -n "$(count "${srv_pid[4]}" "$out")"

t_ok "gateway stops cleanly" t_gateway_stop
t_done
