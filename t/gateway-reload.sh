#!/bin/bash
# SIGHUP: a good new configuration is swapped in, a broken one (bad
# grammar, bad rules) is refused with a log line while the old one keeps
# serving, reloads under a request loop drop nothing, and a service whose
# settings changed gets new processes while a request in flight on an old
# one completes.  Also: -d, the pidfile written and removed.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

mkdir -p "$TMP/rules"

# A FastCGI responder that stops gracefully, as agora services do: SIGTERM
# ends it between requests, never in the middle of one.  ?sleep=SECS.
t_fcgi_proto
cat >"$TMP/graceful.py" <<'PYEOF'
import json, os, signal, socket, sys, time, urllib.parse
from fcgi_proto import *

busy, quit = False, False

def term(*a):
    global quit
    if not busy:
        os._exit(0)
    quit = True

signal.signal(signal.SIGTERM, term)

def serve(c):
    global busy
    params, keep = b"", 0
    while True:
        rec = read_record(c)
        if rec is None:
            return
        busy = True
        typ, rid, data = rec
        if typ == BEGIN:
            keep = data[2] & 1
            params = b""
        elif typ == PARAMS:
            params += data
        elif typ == STDIN and not data:
            p = nv_decode(params)
            q = urllib.parse.parse_qs(p.get("QUERY_STRING", ""))
            time.sleep(float(q.get("sleep", ["0"])[0]))
            body = json.dumps({"pid": os.getpid(),
                               "tag": os.environ.get("TAG", ""),
                               "path": p.get("PATH_INFO", "")}).encode()
            send_answer(c, rid,
                        b"Content-Type: application/json\r\n\r\n" + body)
            busy = False
            if quit:
                os._exit(0)
            if not keep:
                return
        elif typ == GET_VALUES:
            send(c, GET_VALUES_RESULT, 0, b"")

ls = socket.socket(fileno=0)
while True:
    c, _ = ls.accept()
    try:
        serve(c)
    except OSError:
        pass
    finally:
        busy = False
        c.close()
        if quit:
            os._exit(0)
PYEOF

# conf TAG [EXTRA]: the gateway config; TAG reaches the service's
# environment, so changing it changes the service.
conf()
{
	cat >"$TMP/gateway.conf" <<EOF
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "\${rulesdir}/agora.lua"
pidfile "$TMP/run/gateway.pid"
service catalog {
	socket "\${rundir}/graceful.sock"
	program "$PY"
	argument "$TMP/graceful.py"
	env TAG "$1"
	processes 2
	max conns 2
	queue 64
	queue timeout 5s
}
${2:-}
EOF
}
rules()
{
	printf '%s\n' "$@" >"$TMP/rules/agora.lua"
}

rules 'route { prefix = "/api/products", service = "catalog", strip = "/api" }'
conf one
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules" -d
P=$T_URL/api/products

t_is "pidfile holds the gateway's pid" "$(cat "$TMP/run/gateway.pid")" \
    "$T_GATEWAY_PID"
t_http GET "$P"
t_is "before: /api/products" "$T_STATUS" 200
t_is "before: tag one" "$(t_json 'j["tag"]')" one
t_http GET "$T_URL/api/other"
t_is "before: /api/other has no route" "$T_STATUS" 404


# --- a new route in the rules
rules 'route { prefix = "/api/products", service = "catalog", strip = "/api" }' \
    'route { prefix = "/api/other", service = "catalog", strip = "/api" }'
t_ok "reload with a new route" t_gateway_reload
t_like "reload logged" "$(tail -n 5 "$T_GATEWAY_LOG")" \
    'reloaded: generation 2 replaces 1'
t_http GET "$T_URL/api/other"
t_is "after: /api/other is routed" "$T_STATUS" 200
t_http GET "$P"
t_is "after: /api/products still served" "$T_STATUS" 200

# --- a broken config is refused; the old one keeps serving
cp "$TMP/gateway.conf" "$TMP/gateway.conf.good"
echo 'this is not a directive' >>"$TMP/gateway.conf"
t_ok "reload with a syntax error" t_gateway_reload
t_like "refusal logged with file:line" "$(tail -n 5 "$T_GATEWAY_LOG")" \
    'gateway.conf:[0-9]+: syntax error'
t_like "refusal says the old one stays" "$(tail -n 5 "$T_GATEWAY_LOG")" \
    'has errors; keeping the running configuration'
t_http GET "$P"
t_is "broken config: still serving" "$T_STATUS" 200
cp "$TMP/gateway.conf.good" "$TMP/gateway.conf"

rules 'route { prefix = "/api/products", service = "nosuch" }'
t_ok "reload with rules naming an unknown service" t_gateway_reload
t_like "rules refusal logged" "$(tail -n 5 "$T_GATEWAY_LOG")" \
    'unknown service "nosuch"'
t_like "check refusal says the old one stays" \
    "$(tail -n 5 "$T_GATEWAY_LOG")" 'failed the check; keeping'
t_http GET "$P"
t_is "broken rules: still serving" "$T_STATUS" 200
t_ok "gateway still alive" t_alive "$T_GATEWAY_PID"
rules 'route { prefix = "/api/products", service = "catalog", strip = "/api" }'

# --- reloads under a request loop: nothing dropped
loop()
{
	local end=$((SECONDS + $2))
	while [ "$SECONDS" -lt "$end" ]; do
		"$CURL" -s -o /dev/null --max-time 5 -w '%{http_code}\n' "$P"
	done >"$1"
}
for n in 1 2 3 4; do
	loop "$TMP/loop$n" 4 &
	loops+=($!)
done
for n in 1 2 3 4 5 6; do
	sleep 0.5
	t_gateway_reload || t_diag "reload $n did not finish"
done
wait "${loops[@]}"
total=$(cat "$TMP"/loop? | wc -l)
bad=$(cat "$TMP"/loop? | grep -vc '^200$')
t_ok "reloads under load: requests ran ($total)" test "$total" -gt 40
t_is "reloads under load: none failed" "$bad" 0
t_is "reloads under load: every reload applied" \
    "$(grep -c 'reloaded: generation' "$T_GATEWAY_LOG")" 7

# --- a changed service: new processes; a request in flight on an old one
# completes
old_pids=$(t_gateway_children | sort)
t_curl_bg "$TMP/slow" "$P?sleep=1.5"
slow=$T_LAST_PID
sleep 0.3
conf two
t_ok "reload with a changed service" t_gateway_reload
wait "$slow"
t_is "in-flight request on an old process completes" \
    "$(cut -d' ' -f1 "$TMP/slow")" 200
for ((i = 0; i < 50; i++)); do
	grep -q 'service catalog: old processes gone' "$T_GATEWAY_LOG" && break
	sleep 0.1
done
t_like "old processes retired" "$(cat "$T_GATEWAY_LOG")" \
    'service catalog: old processes gone'
t_http GET "$P"
t_is "after the change: served" "$T_STATUS" 200
t_is "after the change: by a new process (tag two)" "$(t_json 'j["tag"]')" \
    two
new_pids=$(t_gateway_children | sort)
t_is "two new processes, none of the old" \
    "$(comm -12 <(echo "$old_pids") <(echo "$new_pids") | wc -l) $(echo "$new_pids" | wc -l)" \
    "0 2"

# --- a helper without a socket is supervised too
conf two 'service helper {
	socket none
	program "/bin/sleep"
	argument 300
}'
t_ok "reload adding a helper" t_gateway_reload
for ((i = 0; i < 30; i++)); do
	[ "$(t_gateway_children | wc -l)" -eq 3 ] && break
	sleep 0.1
done
t_is "helper running beside the service" "$(t_gateway_children | wc -l)" 3

t_ok "gateway stops cleanly" t_gateway_stop
t_ok "pidfile removed at exit" test ! -e "$TMP/run/gateway.pid"
t_done
