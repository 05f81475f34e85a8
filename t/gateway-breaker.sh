#!/bin/bash
# Circuit breakers and the bulkhead: a failing backend (the fixture's
# ?close=1) opens the service's breaker after exactly `volume` requests;
# while open the answer is 503 naming the service with Retry-After, or
# the route's fallback (a static body, another route, a Lua function);
# after `sleep` a probe goes through and its success closes the breaker;
# state changes are logged once.  max concurrent refuses what is beyond
# it at once.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

mkdir -p "$TMP/rules"
cat >"$TMP/rules/agora.lua" <<'EOF'
route { name = "flaky", prefix = "/api/flaky", service = "catalog",
    strip = "/api" }
route { name = "open", prefix = "/api/open", service = "catalog",
    strip = "/api" }
route { name = "cached", prefix = "/api/cached", service = "catalog",
    strip = "/api", breaker = { volume = 2, sleep = "30s" },
    fallback = { status = 200, json = '{"stale":true}' } }
route { name = "viaroute", prefix = "/api/viaroute", service = "catalog",
    strip = "/api", breaker = { volume = 2, sleep = "30s" },
    fallback = "open" }
route { name = "luafb", prefix = "/api/luafb", service = "catalog",
    strip = "/api", breaker = { volume = 2, sleep = "30s" },
    fallback = function(req)
	return req:respond(200, { ["Content-Type"] = "application/json" },
	    '{"fallback":"lua","path":"' .. req.path .. '"}')
    end }
EOF
t_fixture_conf "$TMP/gateway.conf" "	processes 3
	max concurrent 2
	breaker { sleep 1s }"
cat >>"$TMP/gateway.conf" <<'EOF'
breaker {
	window 10s buckets 10
	volume 4 ; errors 50%
	sleep 5s ; probes 1
}
EOF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"
F=$T_URL/api/flaky

codes=
for i in 1 2 3 4; do
	t_http GET "$F/x?close=1"
	codes="$codes $T_STATUS"
done
t_is "4 failures reach the failing backend" "$codes" " 502 502 502 502"
t_http GET "$F/x"
t_problem "after exactly volume failures: open" 503
t_like "503 names the service" "$(t_json 'j["detail"]')" \
    'service catalog is unavailable'
t_like "503: Retry-After within the sleep" "$(t_header Retry-After)" '^1$'
t_is "opening logged once" \
    "$(grep -c 'breaker catalog: closed -> open' "$T_GATEWAY_LOG")" 1
t_http GET "$T_URL/api/open/x"
t_is "another route of the service: open too" "$T_STATUS" 503

sleep 1.1
t_http GET "$F/x"
t_is "after sleep: the probe goes through" "$T_STATUS" 200
t_like "half-open, then closed, logged" "$(cat "$T_GATEWAY_LOG")" \
    'breaker catalog: half_open -> closed'
t_http GET "$F/x"
t_is "closed again: served" "$T_STATUS" 200

# a failing probe opens it again with a fresh sleep
for i in 1 2 3 4; do t_http GET "$F/x?close=1"; done
sleep 1.1
t_http GET "$F/x?close=1"
t_is "failing probe: the backend's 502" "$T_STATUS" 502
t_http GET "$F/x"
t_is "failing probe: open again" "$T_STATUS" 503
t_like "re-opened logged" "$(cat "$T_GATEWAY_LOG")" \
    'breaker catalog: half_open -> open'
sleep 1.1
t_http GET "$F/x"
t_is "then a good probe closes it" "$T_STATUS" 200

# a route's own breaker with a static fallback
t_http GET "$T_URL/api/cached/x?close=1"
t_http GET "$T_URL/api/cached/x?close=1"
t_http GET "$T_URL/api/cached/x"
t_is "static fallback: its status" "$T_STATUS" 200
t_is "static fallback: its body" "$(t_json 'j["stale"]')" true
t_like "static fallback: JSON" "$(t_header Content-Type)" '^application/json'
t_like "route breaker logged under service/route" "$(cat "$T_GATEWAY_LOG")" \
    'breaker catalog/cached: closed -> open'
t_http GET "$T_URL/api/flaky/x"
t_is "the service's breaker is not the route's" "$T_STATUS" 200

# a fallback route serves the request
t_http GET "$T_URL/api/viaroute/x?close=1"
t_http GET "$T_URL/api/viaroute/x?close=1"
t_http GET "$T_URL/api/viaroute/x"
t_is "fallback route: served" "$T_STATUS" 200
t_is "fallback route: the other route's PATH_INFO rules" \
    "$(t_json 'j["path"]')" /viaroute/x

# a Lua fallback function answers
t_http GET "$T_URL/api/luafb/x?close=1"
t_http GET "$T_URL/api/luafb/x?close=1"
t_http GET "$T_URL/api/luafb/x"
t_is "Lua fallback: its status" "$T_STATUS" 200
t_is "Lua fallback: its body" "$(t_json 'j["fallback"] + " " + j["path"]')" \
    "lua /api/luafb/x"

# bulkhead: max concurrent 2, a third in flight is refused at once
t_curl_bg "$TMP/b1" "$F/x?sleep=1.5"
b1=$T_LAST_PID
t_curl_bg "$TMP/b2" "$F/x?sleep=1.5"
b2=$T_LAST_PID
sleep 0.4
t_http GET "$F/x"
t_problem "bulkhead full" 503
t_like "bulkhead: says so" "$(t_json 'j["detail"]')" 'too many requests in flight'
wait "$b1" "$b2"
t_is "bulkhead: the two in flight complete" \
    "$(cut -d' ' -f1 "$TMP/b1" "$TMP/b2" | tr '\n' ' ')" "200 200 "
t_http GET "$F/x"
t_is "bulkhead: room again" "$T_STATUS" 200

t_ok "gateway stops cleanly" t_gateway_stop
t_done
