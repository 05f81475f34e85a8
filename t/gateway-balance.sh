#!/bin/bash
# Pools of several servers the gateway does not spawn: FastCGI fixtures
# we start ourselves, one per socket.  Round-robin spreads the requests;
# a server killed with SIGKILL is taken out by passive health (a couple
# of failures at most, then traffic continues on the others) and comes
# back after its "down" time; the active probe marks a server down with
# no traffic at all, and up again once it answers.  Consistent hashing by
# header, cookie and client address: a key always reaches the same
# process, keys spread over every server, and a server that goes down
# moves only its own keys.
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
sys.path.insert(0, os.path.dirname(sys.argv[2]))	# fcgi_proto
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

# --- consistent hashing: three services of three servers each (a socket
# belongs to one service) hash a header (servers 5-7), a cookie (8-10)
# and the client address (11-13).  The
# same key always lands on the same process, different keys spread over
# all three, and a server taken down moves only its own keys.
for n in 5 6 7 8 9 10 11 12 13; do serve "$n"; done
cat >"$TMP/rules/agora.lua" <<'EOF'
route { prefix = "/byheader", service = "byheader" }
route { prefix = "/bycookie", service = "bycookie" }
route { prefix = "/bysource", service = "bysource" }
EOF
hashconf()	# NAME FIRST BALANCE
{
	cat <<EOF
service $1 {
	socket "$TMP/sock/s$2.sock"
	server "$TMP/sock/s$(($2 + 1)).sock"
	server "$TMP/sock/s$(($2 + 2)).sock"
	balance $3
	queue timeout 2s
	passive health fails 1 within 10s down 60s
}
EOF
}
{
	cat <<EOF
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
EOF
	hashconf byheader 5 'hash header "X-User"'
	hashconf bycookie 8 'hash cookie "sid"'
	hashconf bysource 11 'hash source'
} >"$TMP/hash.conf"
t_gateway_start "$TMP/hash.conf" -D "rulesdir=$TMP/rules"

# who KIND KEY: the pid that answered one request with that key (the
# header value, the cookie value, or the 127.0.0.x to connect from);
# "-" and the status when not 200
who()
{
	case $1 in
	header) t_http GET "$T_URL/byheader/x" -- -H "X-User: $2" ;;
	cookie) t_http GET "$T_URL/bycookie/x" -- \
	    -H "Cookie: theme=dark; sid=$2; lang=en" ;;
	source) t_http GET "$T_URL/bysource/x" -- --interface "$2" ;;
	esac
	if [ "$T_STATUS" = 200 ]; then t_json 'j["pid"]'; else echo "- $T_STATUS"; fi
}
# map KIND KEY...: "key=pid" per key, each asked three times; a key
# whose three answers differ shows them all
map()
{
	local kind=$1 k a b c
	shift
	for k in "$@"; do
		a=$(who "$kind" "$k")
		b=$(who "$kind" "$k")
		c=$(who "$kind" "$k")
		if [ "$a" = "$b" ] && [ "$b" = "$c" ]; then
			echo "$k=$a"
		else
			echo "$k=$a,$b,$c"
		fi
	done
}
declare -A first=([header]=5 [cookie]=8 [source]=11)
pidname()	# pid -> sN
{
	local n
	for n in 5 6 7 8 9 10 11 12 13; do
		[ "${srv_pid[n]}" = "$1" ] && echo "s$n" && return
	done
	echo "?$1"
}
keys_header=(); keys_cookie=(); keys_source=()
for i in $(seq 1 24); do
	keys_header+=("user-$i")
	keys_cookie+=("$(printf 'sess%04x' $((i * 7919)))")
	keys_source+=("127.0.0.$((i + 10))")
done
for kind in header cookie source; do
	eval "keys=(\"\${keys_$kind[@]}\")"
	map "$kind" "${keys[@]}" >"$TMP/map-$kind"
	t_is "hash $kind: each key lands on one process, every time" \
	    "$(grep -c -E '^[^=]+=[0-9]+$' "$TMP/map-$kind")" 24
	spread=$(cut -d= -f2 "$TMP/map-$kind" | sort -u | while read -r p; do
		pidname "$p"; done | sort | tr '\n' ' ')
	f=${first[$kind]}
	t_is "hash $kind: 24 keys spread over all three servers" "$spread" \
	    "$(printf 's%s\n' $f $((f + 1)) $((f + 2)) | sort | tr '\n' ' ')"
done
t_is "hash header: the same mapping a while later" \
    "$(cut -d= -f2 "$TMP/map-header" | md5sum)" \
    "$(map header "${keys_header[@]}" | cut -d= -f2 | md5sum)"

# each service's middle server goes down: its keys move to the other
# two, no other key moves (the failure that takes it out may cost one
# request)
for kind in header cookie source; do
	down=$((${first[$kind]} + 1))
	kill -KILL "${srv_pid[down]}"
	wait "${srv_pid[down]}" 2>/dev/null
	eval "keys=(\"\${keys_$kind[@]}\")"
	for k in "${keys[@]}"; do who "$kind" "$k" >/dev/null; done
	map "$kind" "${keys[@]}" >"$TMP/after-$kind"
	moved=$("$PY" - "$TMP/map-$kind" "$TMP/after-$kind" \
	    "${srv_pid[down]}" <<'EOF'
import sys
before = dict(l.strip().split("=", 1) for l in open(sys.argv[1]))
after = dict(l.strip().split("=", 1) for l in open(sys.argv[2]))
down, bad, moved = sys.argv[3], [], 0
for k, p in before.items():
    if p == down:
        moved += 1
        if after[k] in (down,) or not after[k].isdigit():
            bad.append("%s: %s -> %s" % (k, p, after[k]))
    elif after[k] != p:
        bad.append("%s: %s -> %s" % (k, p, after[k]))
print("%d moved" % moved if not bad else "; ".join(bad))
EOF
)
	t_like "s$down down, hash $kind: only its keys moved, to live servers" \
	    "$moved" '^[1-9][0-9]* moved$'
done

t_ok "hash gateway stops cleanly" t_gateway_stop
t_done
