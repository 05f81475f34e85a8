#!/bin/bash
# agora-inventory refuses what it must: role checks (401 without an
# identity, 403 without the role), malformed bodies (400, 413, 415),
# invalid fields (422 listing every one), unknown paths and methods, and
# SQL metacharacters that must stay data.  Never a 500, never a crash.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"

t_mariadb_start
t_service_start inventory 2

admin() { FCGI_USER=root FCGI_ROLES=admin t_fcgi "$@"; }
svc() { FCGI_USER=orders FCGI_ROLES=service t_fcgi "$@"; }
cust() { FCGI_USER=alice FCGI_ROLES=customer t_fcgi "$@"; }

admin POST /inventory/PEN/restock '{"qty": 10}'
t_is "setup: restock" "$T_STATUS" 200
svc POST /inventory/reservations '{"lines": [{"sku": "PEN", "qty": 1}]}'
rid=$(t_json 'j["id"]')
t_like "setup: a reservation" "$rid" '^[0-9]+$'
svc POST /inventory/reservations '{"lines": [{"sku": "PEN", "qty": 1}]}'
rid2=$(t_json 'j["id"]')
good='{"lines": [{"sku": "PEN", "qty": 1}]}'

# --- roles: METHOD PATH BODY ALLOWED-ROLE ------------------------------------------------
while read -r method path body role; do
	[ "$body" = - ] && body=
	path=${path//RID2/$rid2}
	path=${path//RID/$rid}
	t_fcgi "$method" "$path" "$body"
	t_problem "$method $path without identity" 401
	t_is "$method $path 401: WWW-Authenticate" \
	    "$(t_header WWW-Authenticate)" Bearer
	FCGI_ROLES=admin t_fcgi "$method" "$path" "$body"
	t_is "$method $path roles without a user: 401" "$T_STATUS" 401
	cust "$method" "$path" "$body"
	t_problem "$method $path as customer" 403
	FCGI_USER=x FCGI_ROLES="customer,$role" t_fcgi "$method" "$path" "$body"
	t_like "$method $path with $role in a comma list" "$T_STATUS" '^2'
done <<'EOF'
POST /inventory/PEN/restock {"qty":1} admin
POST /inventory/reservations {"lines":[{"sku":"PEN","qty":1}]} service
POST /inventory/reservations {"lines":[{"sku":"PEN","qty":1}]} admin
GET /inventory/reservations/RID - service
POST /inventory/reservations/RID/commit - service
DELETE /inventory/reservations/RID2 - service
EOF
svc POST /inventory/PEN/restock '{"qty": 1}'
t_problem "service cannot restock" 403
t_fcgi GET /inventory/PEN
t_is "stock levels are public" "$T_STATUS" 200

# --- malformed requests ------------------------------------------------------------------
svc POST /inventory/reservations '{"lines": [}'
t_problem "malformed JSON" 400
svc POST /inventory/reservations '[1, 2]'
t_problem "not an object" 400
svc POST /inventory/reservations ''
t_problem "no body" 415
FCGI_CTYPE=text/plain svc POST /inventory/reservations "$good"
t_problem "wrong Content-Type" 415
head -c 70000 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
svc POST /inventory/reservations "@$TMP/big.json"
t_problem "64 KiB body limit" 413
printf '{"lines": [{"sku": "P\xffN", "qty": 1}]}' >"$TMP/utf8.json"
svc POST /inventory/reservations "@$TMP/utf8.json"
t_problem "invalid UTF-8" 400

# --- validation: every error at once --------------------------------------------------------
svc POST /inventory/reservations '{"lines": [{"sku": "", "qty": 0},
    {"sku": 5, "qty": "two"}, "x", {"sku": "PEN", "qty": 1, "color": "red"},
    {"sku": "PEN", "qty": 1.5}], "ttl_seconds": 0, "order_id": true,
    "extra": 1}'
t_problem "many invalid fields" 422
t_is "422 lists every field" "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["extra","lines[0].qty","lines[0].sku","lines[1].qty","lines[1].sku","lines[2]","lines[3].color","lines[4].qty","lines[4].sku","order_id","ttl_seconds"]'
svc POST /inventory/reservations '{}'
t_problem "no lines" 422
t_is "lines is required" "$(t_json 'j["errors"][0]["field"]')" lines
svc POST /inventory/reservations '{"lines": []}'
t_problem "empty lines" 422
svc POST /inventory/reservations '{"lines": {"sku": "PEN"}}'
t_problem "lines not an array" 422
lines=$(for i in $(seq 1 101); do printf '{"sku":"S%d","qty":1},' "$i"; done)
svc POST /inventory/reservations "{\"lines\": [${lines%,}]}"
t_problem "101 lines" 422
svc POST /inventory/reservations "{\"lines\": [{\"sku\": \"$(printf 'k%.0s' $(seq 1 65))\", \"qty\": 1}]}"
t_problem "sku of 65 characters" 422
svc POST /inventory/reservations '{"lines": [{"sku": "PEN", "qty": 1000001}]}'
t_problem "qty too large" 422
svc POST /inventory/reservations '{"lines": [{"sku": "PEN", "qty": 99999999999999999999999}]}'
t_like "qty beyond 64 bits: 4xx" "$T_STATUS" '^4'
svc POST /inventory/reservations '{"ttl_seconds": 86401, "lines": [{"sku": "PEN", "qty": 1}]}'
t_problem "ttl over a day" 422
admin POST /inventory/PEN/restock '{"qty": -3, "low_stock_threshold": "low"}'
t_problem "restock: bad qty and threshold" 422
t_is "restock: both named" "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["low_stock_threshold","qty"]'
admin POST /inventory/PEN/restock '{}'
t_problem "restock: qty required" 422

# --- paths and methods -----------------------------------------------------------------------
t_fcgi GET /inventory
t_problem "no such path" 404
t_fcgi PUT /inventory/PEN
t_problem "PUT on stock" 405
t_like "405 Allow" "$(t_header Allow)" 'GET'
long=$(printf 'k%.0s' $(seq 1 65))
t_fcgi GET "/inventory/$long"
t_problem "sku too long" 404

# --- SQL metacharacters stay data ----------------------------------------------------------------
sku="x' OR '1'='1"
admin POST "/inventory/$sku/restock" '{"qty": 2}'
t_is "odd sku restocked" "$T_STATUS $(t_json 'j["sku"]')" "200 $sku"
t_fcgi GET "/inventory/$sku"
t_is "odd sku read back" "$(t_json '[j["sku"], j["on_hand"]]')" "[\"$sku\",2]"
t_fcgi GET "/inventory/x'"
t_problem "prefix of the odd sku" 404
svc POST /inventory/reservations \
    '{"order_id": "1; DROP TABLE stock; --", "lines": [{"sku": "PEN\\\" OR 1=1 -- ", "qty": 1}]}'
t_problem "injected sku is just unknown" 409
t_is "tables intact" "$(t_sql "SELECT COUNT(*) FROM stock" inventory)" 2

# --- nothing crashed ------------------------------------------------------------------------------
alive=0
for p in "${T_FCGI_PIDS[@]}"; do
	t_alive "$p" && alive=$((alive + 1))
done
t_is "both processes still running" "$alive" 2
t_is "no 5xx in the log" "$(grep -c ': 5[0-9][0-9] ' "$T_FCGI_LOG")" 0

t_done
