#!/bin/bash
# The FastCGI upstream against the fixture responder: the CGI/1.1 params
# the contract lists arrive, and a backend that closes, talks garbage or
# stays silent maps to 502, 502 and 504 problem+json.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_fixture_conf "$TMP/gateway.conf" '
	processes 1
	read timeout 1s'
t_gateway_start "$TMP/gateway.conf"
P=$T_URL/api/products

# --- params
t_http POST "$T_URL/api/products/7?x=1&y=%20" 'hello' \
    -H 'Content-Type: text/plain' -H 'X-Request-Id: up-rid-1' \
    -H 'X-Custom-Thing: yes' -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
t_is "params: 200" "$T_STATUS" 200
param() { t_json "j['params'].get('$1', '<unset>')"; }
while read -r name want; do
	[ "$want" = '""' ] && want=
	t_is "param $name" "$(param "$name")" "$want"
done <<'TABLE'
GATEWAY_INTERFACE CGI/1.1
SERVER_PROTOCOL HTTP/1.1
REQUEST_METHOD POST
REQUEST_URI /api/products/7?x=1&y=%20
QUERY_STRING x=1&y=%20
SCRIPT_NAME /api
PATH_INFO /products/7
REMOTE_ADDR 127.0.0.1
SERVER_ADDR 127.0.0.1
CONTENT_TYPE text/plain
CONTENT_LENGTH 5
REQUEST_ID up-rid-1
TRACEPARENT 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
HTTP_X_CUSTOM_THING yes
HTTP_CONTENT_TYPE <unset>
HTTP_CONTENT_LENGTH <unset>
HTTPS <unset>
DOCUMENT_ROOT ""
TABLE
t_is "param SERVER_PORT" "$(param SERVER_PORT)" "$T_HTTP_PORT"
t_like "param REMOTE_PORT" "$(param REMOTE_PORT)" '^[1-9][0-9]*$'
t_like "param SERVER_SOFTWARE" "$(param SERVER_SOFTWARE)" '^agora-gateway/'
t_is "body reaches stdin" "$(t_json 'j["stdin"]')" 5

# client headers cannot forge the auth params
t_http GET "$P" -- -H 'Remote-User: root' -H 'Auth-Roles: admin' \
    -H 'Auth-Type: Bearer'
t_is "forged auth headers: 200" "$T_STATUS" 200
t_is "no REMOTE_USER/AUTH_* from client headers" \
    "$(t_json 'sorted(k for k in j["params"] if k in ("REMOTE_USER","AUTH_TYPE","AUTH_ROLES","AUTH_SCOPE","HTTP_REMOTE_USER","HTTP_AUTH_ROLES","HTTP_AUTH_TYPE"))')" \
    '[]'

# --- one kept connection, many clients
# max conns 1: every request waits for the connection and gets it from
# the one before, whose answer it reads away after sending its own (a
# small answer is peeked, a large one read as it comes).  Each client
# checks that every answer is its own, whole.
"$PY" - "$T_HTTP_PORT" >"$TMP/shared.out" 2>&1 <<'PYEOF'
import http.client, json, sys, threading
port, bad, done = int(sys.argv[1]), [], []
def client(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    for i in range(30):
        rid, pad = "c%d-%d" % (n, i), (i % 3 == 0) * 200000
        c.request("GET", "/api/products?pad=%d" % pad,
                  headers={"X-Request-Id": rid})
        r = c.getresponse()
        body = r.read()
        try:
            j = json.loads(body)
            ok = r.status == 200 and j["rid"] == rid and len(j["pad"]) == pad
        except ValueError:
            ok = False
        (done if ok else bad).append("%s:%d:%s" % (rid, r.status, body[:80]) if not ok else rid)
ts = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("%d whole, own answers; %d not: %s" % (len(done), len(bad), bad[:5]))
PYEOF
t_is "8 clients x 30 requests on one kept connection: each gets its own" \
    "$(cat "$TMP/shared.out")" "240 whole, own answers; 0 not: []"

# --- broken backends
t_http GET "$P?close=1"
t_problem "backend closes without answering" 502
t_http GET "$P?garbage=1"
t_problem "backend answers garbage" 502
t_http GET "$P?sleep=3"
t_problem "backend silent past read timeout" 504
t_like "504 carries a request id" "$(t_header X-Request-Id)" '.'

# the fixture is single-threaded and still asleep for a moment
t_ok "service answers again" t_wait_http "$P" 200 10
t_done
