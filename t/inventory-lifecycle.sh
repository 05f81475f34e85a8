#!/bin/bash
# Inventory lifecycle over FastCGI: restock, reserve, commit (stock
# leaves), release, expiry by the sweeper (ttl 1 s), the state rules
# between them, and the outbox events each writes.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"

t_mariadb_start
t_service_start inventory 2

admin() { FCGI_USER=root FCGI_ROLES=admin t_fcgi "$@"; }
svc() { FCGI_USER=orders FCGI_ROLES=service t_fcgi "$@"; }
stock_is()	# NAME SKU ON_HAND RESERVED AVAILABLE
{
	t_fcgi GET "/inventory/$2"
	t_is "$1" "$T_STATUS $(t_json '[j["on_hand"], j["reserved"], j["available"]]')" \
	    "200 [$3,$4,$5]"
}
events()	# TYPE [AGGREGATE] -> count of outbox rows
{
	t_sql "SELECT COUNT(*) FROM outbox WHERE type = '$1'
	    ${2:+AND aggregate_id = '$2'}" inventory
}
reserve()	# QTY [TTL] -> $rid
{
	svc POST /inventory/reservations "{\"order_id\": \"o-$RANDOM\",
	    ${2:+\"ttl_seconds\": $2,} \"lines\": [{\"sku\": \"MUG\", \"qty\": $1}]}"
	rid=$(t_json 'j["id"]')
}

# --- restock ---------------------------------------------------------------------
t_fcgi GET /inventory/MUG
t_problem "unknown sku" 404
admin POST /inventory/MUG/restock '{"qty": 20}'
t_is "restock creates the row" "$T_STATUS $(t_json '[j["sku"], j["on_hand"], j["reserved"], j["available"], j["low_stock_threshold"]]')" \
    '200 ["MUG",20,0,20,5]'
admin POST /inventory/MUG/restock '{"qty": 5, "low_stock_threshold": 2}'
t_is "restock adds" "$(t_json '[j["on_hand"], j["low_stock_threshold"]]')" \
    '[25,2]'
t_is "two inventory.restocked events" "$(events inventory.restocked MUG)" 2
t_is "restocked data" "$(t_sql "SELECT JSON_VALUE(data, '$.qty'),
    JSON_VALUE(data, '$.on_hand') FROM outbox WHERE type =
    'inventory.restocked' ORDER BY id DESC LIMIT 1" inventory)" "5	25"
t_fcgi GET /inventory/MUG
etag=$(t_header ETag)
t_like "GET has an ETag" "$etag" '^"[0-9]+"$'
FCGI_EXTRA="HTTP_IF_NONE_MATCH=$etag" t_fcgi GET /inventory/MUG
t_is "If-None-Match: 304" "$T_STATUS" 304

# --- commit: the goods leave ---------------------------------------------------------
reserve 4
t_is "reserve 4: 201" "$T_STATUS" 201
c=$rid
stock_is "4 reserved" MUG 25 4 21
svc GET "/inventory/reservations/$c"
t_is "GET reservation" "$T_STATUS $(t_json '[j["id"], j["state"], j["lines"][0]["qty"]]')" \
    "200 [$c,\"active\",4]"
svc POST "/inventory/reservations/$c/commit"
t_is "commit: 200, committed" "$T_STATUS $(t_json 'j["state"]')" \
    '200 committed'
stock_is "commit: on_hand and reserved drop" MUG 21 0 21
svc POST "/inventory/reservations/$c/commit"
t_is "commit again: same answer, no change" \
    "$T_STATUS $(t_json 'j["state"]')" '200 committed'
stock_is "commit again: stock unchanged" MUG 21 0 21
t_is "one inventory.committed event" "$(events inventory.committed "$c")" 1
svc DELETE "/inventory/reservations/$c"
t_problem "release a committed one" 409

# --- release ---------------------------------------------------------------------------
reserve 6
r=$rid
stock_is "6 reserved" MUG 21 6 15
svc DELETE "/inventory/reservations/$r"
t_is "release: 204" "$T_STATUS" 204
t_is "release: empty body" "$(t_body)" ""
stock_is "release gives the stock back" MUG 21 0 21
svc DELETE "/inventory/reservations/$r"
t_is "release again: 204" "$T_STATUS" 204
stock_is "release again: stock unchanged" MUG 21 0 21
t_is "one inventory.released event" "$(events inventory.released "$r")" 1
t_is "released event: reason and state" "$(t_sql "SELECT
    JSON_VALUE(data, '$.reason'), JSON_VALUE(data, '$.state') FROM outbox
    WHERE type = 'inventory.released' AND aggregate_id = '$r'" inventory)" \
    "released	released"
svc POST "/inventory/reservations/$r/commit"
t_problem "commit a released one" 409
t_like "409 says why" "$(t_json 'j["detail"]')" 'is released'
svc GET "/inventory/reservations/$r"
t_is "GET shows released" "$(t_json 'j["state"]')" released

# --- expiry: the sweeper gives stock back after the TTL -----------------------------
reserve 7 1
e=$rid
t_is "reserve with ttl 1 s: 201" "$T_STATUS" 201
stock_is "7 reserved" MUG 21 7 14
sleep 2.2
svc POST "/inventory/reservations/$e/commit"
t_problem "commit after expiry" 409
stock_is "expired stock is available again" MUG 21 0 21
svc GET "/inventory/reservations/$e"
t_is "state expired" "$(t_json 'j["state"]')" expired
t_is "expiry writes inventory.released, reason expired" \
    "$(t_sql "SELECT JSON_VALUE(data, '$.reason') FROM outbox
    WHERE type = 'inventory.released' AND aggregate_id = '$e'" inventory)" \
    expired
svc DELETE "/inventory/reservations/$e"
t_is "release an expired one: 204, nothing to do" "$T_STATUS" 204
stock_is "still 21 available" MUG 21 0 21

# An expired hold is swept before a new reservation needs its units.
# The TTL leaves room for a loaded machine between the two requests.
reserve 21 4
t_is "reserve all 21 for 4 s" "$T_STATUS" 201
reserve 1
t_problem "nothing left meanwhile" 409
sleep 4.5
reserve 21
t_is "after expiry all 21 can be reserved again" "$T_STATUS" 201
stock_is "21 reserved" MUG 21 21 0
t_is "db: nothing oversold" "$(t_sql "SELECT COUNT(*) FROM stock
    WHERE reserved > on_hand OR on_hand < 0" inventory)" 0

# --- not found ---------------------------------------------------------------------------
for p in 999999 0 abc -1 12345678901234567890; do
	svc POST "/inventory/reservations/$p/commit"
	t_problem "commit $p" 404
done
svc DELETE /inventory/reservations/424242
t_problem "release unknown" 404
svc GET /inventory/reservations/424242
t_problem "get unknown" 404

t_done
