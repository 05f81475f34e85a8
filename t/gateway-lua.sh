#!/bin/bash
# Route handler functions (Lua) before dispatch: header edits, FastCGI
# params, a canary chosen by header, a direct answer, captures; a
# failing or runaway function gets 500 and one log line; a reload brings
# the new functions.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

mkdir -p "$TMP/rules"
rules()
{
	cat >"$TMP/rules/agora.lua" <<EOF
route { name = "edit", path = "/api/items/{id}", service = "catalog",
    strip = "/api",
    handler = function(req)
	req.headers:set("X-Item", req.captures.id)
	req.headers:remove("X-Drop")
	req.params:set("ITEM_ID", req.captures.id)
	if req.headers:get("X-Canary") == "yes" then
		req:set_service("canary")
	end
    end }
route { name = "direct", prefix = "/api/direct", service = "catalog",
    handler = function(req)
	return req:respond($1, { ["Content-Type"] = "application/json",
	    ["X-Answer"] = "lua" }, '{"from":"lua","path":"' .. req.path .. '"}')
    end }
route { name = "boom", prefix = "/api/boom", service = "catalog",
    handler = function(req) error("kaboom") end }
route { name = "spin", prefix = "/api/spin", service = "catalog",
    handler = function(req) while true do end end }
route { name = "nosvc", prefix = "/api/nosvc", service = "catalog",
    handler = function(req) req:set_service("nosuch") end }
EOF
}
rules 200
t_fixture_conf "$TMP/gateway.conf" "	processes 1"
# the canary: the same fixture program on another socket
cat >>"$TMP/gateway.conf" <<EOF
service canary {
	socket "\${rundir}/canary.sock"
	program "$PY"
	argument "$TMP/fcgi-fixture.py"
}
EOF
t_gateway_start "$TMP/gateway.conf" -D "rulesdir=$TMP/rules"

t_http GET "$T_URL/api/items/42" -- -H "X-Drop: secret" -H "X-Keep: 1"
t_is "handler: request forwarded" "$T_STATUS" 200
t_is "handler: header set from a capture" \
    "$(t_json 'j["params"].get("HTTP_X_ITEM")')" 42
t_is "handler: header removed" \
    "$(t_json 'j["params"].get("HTTP_X_DROP")')" null
t_is "handler: other headers kept" \
    "$(t_json 'j["params"].get("HTTP_X_KEEP")')" 1
t_is "handler: FastCGI param set" "$(t_json 'j["params"].get("ITEM_ID")')" 42
main_pid=$(t_json 'j["pid"]')

t_http GET "$T_URL/api/items/7" -- -H "X-Canary: yes"
t_is "canary by header: served" "$T_STATUS" 200
canary_pid=$(t_json 'j["pid"]')
t_ok "canary by header: another service's process ($canary_pid)" \
    test "$canary_pid" != "$main_pid"
t_http GET "$T_URL/api/items/8"
t_is "no canary header: the route's service" "$(t_json 'j["pid"]')" \
    "$main_pid"

t_http GET "$T_URL/api/direct/x"
t_is "direct answer: status" "$T_STATUS" 200
t_is "direct answer: body" "$(t_json 'j["from"] + " " + j["path"]')" \
    "lua /api/direct/x"
t_is "direct answer: header" "$(t_header X-Answer)" lua
t_like "direct answer: Content-Type" "$(t_header Content-Type)" \
    '^application/json'
t_like "direct answer: X-Request-Id" "$(t_header X-Request-Id)" '.'

t_http GET "$T_URL/api/boom"
t_problem "error() in a handler" 500
t_is "error: one log line" "$(grep -c 'kaboom' "$T_GATEWAY_LOG")" 1
t_http GET "$T_URL/api/spin"
t_problem "runaway handler: stopped by the budget" 500
t_http GET "$T_URL/api/nosvc"
t_problem "set_service to an unknown service" 502

# a reload brings the new functions
rules 201
n=$(grep -c 'reloaded: generation' "$T_GATEWAY_LOG")
kill -HUP "$T_GATEWAY_PID"
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c 'reloaded: generation' "$T_GATEWAY_LOG")" -gt "$n" ] &&
	    break
	sleep 0.05
done
for i in 1 2 3 4; do
	t_http GET "$T_URL/api/direct/x"
	[ "$T_STATUS" = 201 ] || break
done
t_is "after reload: every thread runs the new function" "$T_STATUS" 201

t_ok "gateway stops cleanly" t_gateway_stop
t_done
