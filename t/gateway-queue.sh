#!/bin/bash
# The per-service queue (HAProxy maxconn + queue): a pool of one process
# serves one request at a time; one more waits; beyond that the gateway
# answers 503 with Retry-After at once, and a wait longer than the queue
# timeout also ends in 503.  The backend is the slow FastCGI fixture.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_fixture_conf "$TMP/gateway.conf" '
	processes 1
	queue 1
	queue timeout 500ms
	read timeout 5s'
t_gateway_start "$TMP/gateway.conf"
P=$T_URL/api/products

t_http GET "$P"
t_is "fixture answers through the gateway" "$T_STATUS" 200
t_is "fixture sees PATH_INFO" "$(t_json 'j["path"]')" /products

# status FILE -> "<code>", secs FILE -> "<seconds>"
status() { cut -d' ' -f1 "$1"; }
secs() { cut -d' ' -f2 "$1"; }
within() { "$PY" -c 'import sys; sys.exit(not float(sys.argv[2]) <= float(sys.argv[1]) <= float(sys.argv[3]))' "$@"; }

# --- A holds the only process for 2 s; B queues and times out after
# 500 ms; C finds the queue full and is refused at once.
t_curl_bg "$TMP/a" "$P?sleep=2"
a=$T_LAST_PID
t_pool_is catalog 1 0
t_curl_bg "$TMP/b" "$P?n=b" -D "$TMP/b.headers"
b=$T_LAST_PID
t_pool_is catalog 1 1
t_http GET "$P?n=c"
c_status=$T_STATUS
c_retry=$(t_header Retry-After)
c_ctype=$(t_header Content-Type)
c_detail=$(t_json 'j["status"]')
wait "$a" "$b"

t_is "A (served): 200" "$(status "$TMP/a")" 200
t_ok "A took its 2 s ($(secs "$TMP/a"))" within "$(secs "$TMP/a")" 1.9 4
t_is "B (queue timeout): 503" "$(status "$TMP/b")" 503
t_ok "B waited about the queue timeout ($(secs "$TMP/b"))" \
    within "$(secs "$TMP/b")" 0.4 1.6
t_like "B: Retry-After" "$(tr -d '\r' <"$TMP/b.headers" | grep -i '^retry-after:')" \
    '^[Rr]etry-[Aa]fter: *1$'
t_is "C (queue full): 503" "$c_status" 503
t_is "C: Retry-After: 1" "$c_retry" 1
t_like "C: problem+json" "$c_ctype" '^application/problem\+json'
t_is "C: body status" "$c_detail" 503

# --- a short wait in the queue is served
t_curl_bg "$TMP/a2" "$P?sleep=0.4"
a=$T_LAST_PID
t_pool_is catalog 1 0
t_curl_bg "$TMP/b2" "$P?n=b2"
b=$T_LAST_PID
wait "$a" "$b"
t_is "A2: 200" "$(status "$TMP/a2")" 200
t_is "B2 waited less than the queue timeout: 200" "$(status "$TMP/b2")" 200
t_ok "B2 did wait for A2 ($(secs "$TMP/b2"))" within "$(secs "$TMP/b2")" 0.02 1.5

# --- a burst of 8: the pool serves one at a time, queues one, refuses the
# rest at once; nobody hangs.
for i in 0 1 2 3 4 5 6 7; do
	t_curl_bg "$TMP/burst$i" "$P?sleep=0.8"
	burst+=($T_LAST_PID)
done
wait "${burst[@]}"
codes=$(cat "$TMP"/burst* | cut -d' ' -f1 | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
t_like "burst: one or two served, the rest 503" "$codes" '^200:[12] 503:[67] $'

t_http GET "$P"
t_is "afterwards the service answers" "$T_STATUS" 200
t_done
