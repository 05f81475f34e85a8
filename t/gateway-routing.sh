#!/bin/bash
# Gateway routing: unknown paths get the gateway's own 404 problem+json,
# X-Request-Id is generated or passed through, one connection carries
# several requests, and the access log records each with rid= and svc=.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_conf "$TMP/gateway.conf" "access log \"$TMP/log/access.log\""
t_gateway_start "$TMP/gateway.conf"
t_log_add "$TMP/log/access.log"

# --- no route
for path in /nope /api /api/nothing-here /; do
	t_http GET "$T_URL$path"
	t_problem "GET $path" 404
	t_like "GET $path: detail names the path" "$(t_json 'j["detail"]')" \
	    "$(printf '%s' "$path" | sed 's/[.[\*^$()+?{|]/\\&/g')"
	t_like "GET $path: request id" "$(t_header X-Request-Id)" '^[^ ]{8,}$'
done
t_http POST "$T_URL/nope" '{}'
t_problem "POST /nope" 404

# --- the routes of rules/agora.lua reach the catalog
t_http GET "$T_URL/api/products"
t_is "GET /api/products: 200" "$T_STATUS" 200
t_is "GET /api/products: a list" "$(t_json 'sorted(j.keys())')" \
    '["items","next_cursor"]'
t_http GET "$T_URL/api/categories"
detail=$(t_json 'j.get("detail", "") if isinstance(j, dict) else ""')
t_like "GET /api/categories reaches the catalog, not the gateway's 404" \
    "$T_STATUS $detail" '^(200 |404 ([^n]|n[^o]|no[^ ]|no [^r]|no r[^o]|no ro[^u]))'

# --- X-Request-Id
t_http GET "$T_URL/api/products"
rid1=$(t_header X-Request-Id)
t_http GET "$T_URL/api/products"
rid2=$(t_header X-Request-Id)
t_like "generated request id" "$rid1" '^[^ ]{8,}$'
t_ok "each request gets its own id" test "$rid1" != "$rid2"
t_http GET "$T_URL/api/products?limit=1" -- -H 'X-Request-Id: harness-rid-42' \
    -A 'agora-harness/1'
t_is "client's request id passed through" "$(t_header X-Request-Id)" \
    harness-rid-42

# --- keep-alive: one curl, four requests, one connection
out=$("$CURL" -s --max-time 10 -o /dev/null -o /dev/null -o /dev/null \
    -o /dev/null -w '%{http_code}:%{num_connects} ' \
    "$T_URL/api/products" "$T_URL/api/products?limit=1" \
    "$T_URL/nope" "$T_URL/api/products")
t_is "keep-alive: 4 answers on 1 connection" "$out" \
    "200:1 200:0 404:0 200:0 "

# --- access log (the gateway flushes it as it exits)
t_ok "gateway stops cleanly" t_gateway_stop
line=$(grep -a 'rid=harness-rid-42' "$TMP/log/access.log")
t_like "access log: combined format, rid, ut, svc, upstream, total time" \
    "$line" '^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} [+-][0-9]{4}\] "GET /api/products\?limit=1 HTTP/1\.1" 200 [0-9]+ "-" "agora-harness/1" rid=harness-rid-42 ut=[0-9]+\.[0-9]+ svc=catalog up=/[^ ]*/catalog\.sock rt=[0-9]+\.[0-9]{3}$'
t_like "access log: gateway 404 logged too, no upstream" \
    "$(grep -a '"GET /nope HTTP/1.1" 404' "$TMP/log/access.log" | head -n 1)" \
    ' rid=[^ ]+ ut=- svc=- up=- rt='
t_is "access log: one line per request" \
    "$(grep -c . "$TMP/log/access.log")" \
    "$(grep -c '^127\.0\.0\.1 .* rid=' "$TMP/log/access.log")"

# --- the same as JSON lines, each a valid object, whatever the client sent
t_conf "$TMP/gateway.conf" "access log \"$TMP/log/access.json\" json"
t_gateway_start "$TMP/gateway.conf"
t_log_add "$TMP/log/access.json"
t_http GET "$T_URL/api/products?limit=1" -- -H 'X-Request-Id: json-rid-1' \
    -A 'agent "quoted" \ back'
t_http GET "$T_URL/nope%22%5C%01%FF" -- -A "$(printf 'tab\tbyte\377')"
t_ok "gateway stops cleanly (JSON)" t_gateway_stop
t_is "JSON access log: every line parses, fields as sent" "$(t_json '
[[l["rid"] == "json-rid-1" and l["method"] == "GET" and
  l["uri"] == "/api/products?limit=1" and l["protocol"] == "HTTP/1.1" and
  l["status"] == 200 and l["service"] == "catalog" and
  l["upstream"].endswith("/catalog.sock") and l["ut"] > 0 and
  l["rt"] >= l["ut"] and l["agent"] == "agent \"quoted\" \\ back" and
  l["referer"] is None and l["time"].endswith("Z") and
  l["remote"] == "127.0.0.1"
  for l in j if l.get("rid") == "json-rid-1"],
 [[l["status"], l["upstream"], l["ut"], l["agent"] == "tab\tbyte\xff",
  l["uri"]] for l in j if l["uri"].startswith("/nope")]]' \
    <(/usr/bin/python3 -c 'import json, sys
print(json.dumps([json.loads(l) for l in open(sys.argv[1])]))' \
    "$TMP/log/access.json"))" \
    '[[true],[[404,null,null,true,"/nope%22%5C%01%FF"]]]'
t_done
