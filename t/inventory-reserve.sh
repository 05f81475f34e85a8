#!/bin/bash
# Inventory reservations never oversell: 100 concurrent reservations for
# the last 10 units give exactly 10 successes and 90 x 409, and afterwards
# on_hand, reserved and available add up.  Also all-or-nothing across
# lines, and the outbox events of both.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"

t_mariadb_start
t_service_start inventory 4

admin() { FCGI_USER=root FCGI_ROLES=admin t_fcgi "$@"; }
svc() { FCGI_USER=orders FCGI_ROLES=service t_fcgi "$@"; }
stock_is()	# NAME SKU ON_HAND RESERVED AVAILABLE
{
	t_fcgi GET "/inventory/$2"
	t_is "$1" "$T_STATUS $(t_json '[j["on_hand"], j["reserved"], j["available"]]')" \
	    "200 [$3,$4,$5]"
}
events()	# TYPE -> count of outbox rows of that type
{
	t_sql "SELECT COUNT(*) FROM outbox WHERE type = '$1'" inventory
}

# --- the last 10 units of a sku that had 50 ----------------------------------
admin POST /inventory/LAST-10/restock '{"qty": 50, "low_stock_threshold": 3}'
t_is "restock: 200" "$T_STATUS" 200
svc POST /inventory/reservations '{"order_id": "warmup",
    "lines": [{"sku": "LAST-10", "qty": 40}]}'
t_is "reserve 40 of 50: 201" "$T_STATUS" 201
stock_is "10 left" LAST-10 50 40 10

# 100 reservations of one unit each, all at once, over 4 processes.
mkdir -p "$TMP/race"
pids=()
for i in $(seq 1 100); do
	FCGI_USER=orders FCGI_ROLES=service t_fcgi_bg "$TMP/race/$i" \
	    POST /inventory/reservations \
	    "{\"order_id\": \"race-$i\", \"lines\": [{\"sku\": \"LAST-10\", \"qty\": 1}]}"
	pids+=("$T_LAST_PID")
done
for p in "${pids[@]}"; do
	wait "$p"
done
statuses=$(for i in $(seq 1 100); do t_fcgi_status "$TMP/race/$i"; done |
    sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
t_is "100 concurrent: exactly 10 x 201 and 90 x 409" "$statuses" \
    "201:10 409:90 "
stock_is "sold out, nothing oversold" LAST-10 50 50 0
t_is "db: reserved equals the sum of active lines" \
    "$(t_sql "SELECT s.reserved - (SELECT COALESCE(SUM(l.qty), 0)
        FROM reservation_lines l JOIN reservations r
        ON r.id = l.reservation_id
        WHERE l.sku = s.sku AND r.state = 'active')
        FROM stock s WHERE s.sku = 'LAST-10'" inventory)" 0
t_is "db: 11 active reservations" \
    "$(t_sql "SELECT COUNT(*) FROM reservations WHERE state = 'active'" \
    inventory)" 11
t_is "events: 11 inventory.reserved" "$(events inventory.reserved)" 11
t_is "events: one inventory.low_stock (the crossing below 3)" \
    "$(events inventory.low_stock)" 1
t_is "events: low_stock data" "$(t_sql "SELECT JSON_VALUE(data, '$.sku'),
    JSON_VALUE(data, '$.available') < 3 FROM outbox
    WHERE type = 'inventory.low_stock'" inventory)" "LAST-10	1"

# a loser's answer names the sku and what was left
for i in $(seq 1 100); do
	[ "$(t_fcgi_status "$TMP/race/$i")" = 409 ] && break
done
sed -n '/^\r\{0,1\}$/,$p' "$TMP/race/$i" | tail -n +2 >"$TMP/loser.json"
t_is "409 names the short sku" \
    "$(t_json '[j["status"], j["short"][0]["sku"], j["short"][0]["requested"]]' "$TMP/loser.json")" \
    '[409,"LAST-10",1]'
t_like "409 is problem+json" "$(grep -i '^Content-Type:' "$TMP/race/$i")" \
    'application/problem\+json'

# --- two-line reservations racing, lines in either order ------------------------
admin POST /inventory/PAIR-A/restock '{"qty": 20}'
admin POST /inventory/PAIR-B/restock '{"qty": 25}'
pids=()
for i in $(seq 1 60); do
	if [ $((i % 2)) -eq 0 ]; then
		lines='{"sku": "PAIR-A", "qty": 1}, {"sku": "PAIR-B", "qty": 1}'
	else
		lines='{"sku": "PAIR-B", "qty": 1}, {"sku": "PAIR-A", "qty": 1}'
	fi
	FCGI_USER=orders FCGI_ROLES=service t_fcgi_bg "$TMP/race/pair-$i" \
	    POST /inventory/reservations "{\"lines\": [$lines]}"
	pids+=("$T_LAST_PID")
done
for p in "${pids[@]}"; do
	wait "$p"
done
statuses=$(for i in $(seq 1 60); do t_fcgi_status "$TMP/race/pair-$i"; done |
    sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
t_is "60 concurrent pairs: 20 x 201, 40 x 409" "$statuses" "201:20 409:40 "
stock_is "PAIR-A sold out" PAIR-A 20 20 0
stock_is "PAIR-B: exactly as many held as PAIR-A" PAIR-B 25 20 5

# --- all or nothing across lines -----------------------------------------------
admin POST /inventory/A-ONE/restock '{"qty": 5}'
admin POST /inventory/B-TWO/restock '{"qty": 2}'
svc POST /inventory/reservations '{"lines": [{"sku": "A-ONE", "qty": 3},
    {"sku": "B-TWO", "qty": 3}, {"sku": "NO-SUCH", "qty": 1}]}'
t_problem "one short line" 409
t_is "409 lists every short line, none of the good one" \
    "$(t_json 'sorted((s["sku"], s["requested"], s["available"]) for s in j["short"])')" \
    '[["B-TWO",3,2],["NO-SUCH",1,0]]'
t_is "unknown sku says so" \
    "$(t_json '[s.get("reason") for s in j["short"] if s["sku"] == "NO-SUCH"]')" \
    '["unknown sku"]'
stock_is "A-ONE untouched" A-ONE 5 0 5
stock_is "B-TWO untouched" B-TWO 2 0 2
t_is "no reservation row left behind" \
    "$(t_sql "SELECT COUNT(*) FROM reservations r WHERE NOT EXISTS
        (SELECT 1 FROM reservation_lines l WHERE l.reservation_id = r.id)" \
    inventory)" 0

svc POST /inventory/reservations '{"order_id": 77, "ttl_seconds": 600,
    "lines": [{"sku": "B-TWO", "qty": 2}, {"sku": "A-ONE", "qty": 3}]}'
t_is "both lines fit: 201" "$T_STATUS" 201
id=$(t_json 'j["id"]')
t_is "Location" "$(t_header Location)" "/api/inventory/reservations/$id"
t_is "body" "$(t_json '[j["order_id"], j["state"], j["lines"]]')" \
    '["77","active",[{"sku":"A-ONE","qty":3},{"sku":"B-TWO","qty":2}]]'
t_like "expires_at is UTC" "$(t_json 'j["expires_at"]')" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
stock_is "A-ONE reserved" A-ONE 5 3 2
stock_is "B-TWO reserved" B-TWO 2 2 0
t_is "reserved event carries the reservation" \
    "$(t_sql "SELECT aggregate_id, JSON_VALUE(data, '$.order_id'),
        JSON_LENGTH(data, '$.lines') FROM outbox
        WHERE type = 'inventory.reserved' ORDER BY id DESC LIMIT 1" inventory)" \
    "$id	77	2"
t_like "event ids are uuid v4" \
    "$(t_sql "SELECT event_id FROM outbox ORDER BY id DESC LIMIT 1" inventory)" \
    '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

t_done
