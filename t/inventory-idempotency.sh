#!/bin/bash
# Idempotency-Key on agora-inventory's POSTs: a retry replays the stored
# response (and does nothing again), another body with the same key gets
# 422, a request still running gets 409, keys are per caller, requests
# that did nothing give the key back, and old keys are pruned.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"

t_mariadb_start
# Keys older than 24 h, planted before the first keyed request; a single
# process prunes on its first one.
t_sql "INSERT INTO idempotency_keys (scope, idem_key, request_hash, state,
    status, created_at) VALUES ('orders', 'ancient', REPEAT('0', 64),
    'done', 201, UTC_TIMESTAMP(6) - INTERVAL 25 HOUR)" inventory
t_service_start inventory 1

admin() { FCGI_USER=root FCGI_ROLES=admin t_fcgi "$@"; }
svc() { FCGI_USER=orders FCGI_ROLES=service t_fcgi "$@"; }
stock_is()	# NAME SKU ON_HAND RESERVED
{
	t_fcgi GET "/inventory/$2"
	t_is "$1" "$(t_json '[j["on_hand"], j["reserved"]]')" "[$3,$4]"
}
keys()	# WHERE -> count of idempotency_keys rows
{
	t_sql "SELECT COUNT(*) FROM idempotency_keys WHERE $1" inventory
}
hmac()	# KEYOPT -> hex HMAC-SHA256 of stdin
{
	openssl dgst -sha256 -mac HMAC -macopt "$1" | sed 's/^.*= //'
}
hash()	# PATH BODY -> the request hash the service computes: an HMAC keyed
{	# by HMAC(install secret, label); the secret is the DB password here
	local key
	key=$(printf '%s' 'agora idempotency key v1' | hmac "key:$T_DBPASS")
	printf 'POST\n%s\n%s' "$1" "$2" | hmac "hexkey:$key"
}

admin POST /inventory/CUP/restock '{"qty": 10}'
t_is "restock without a key: 200" "$T_STATUS" 200
t_is "unkeyed requests leave old keys alone" \
    "$(keys "idem_key = 'ancient'")" 1

# --- replay ----------------------------------------------------------------------
body='{"order_id": "A1", "lines": [{"sku": "CUP", "qty": 3}]}'
FCGI_KEY=k-one svc POST /inventory/reservations "$body"
t_is "first: 201" "$T_STATUS" 201
id=$(t_json 'j["id"]')
first=$(t_body)
t_is "first: not a replay" "$(t_header Idempotent-Replayed)" ""
t_is "pruned: keys older than 24 h are gone" \
    "$(keys "idem_key = 'ancient'")" 0
t_is "stored in the reservation's transaction: done, 201" \
    "$(t_sql "SELECT state, status, request_hash = '$(hash \
    /inventory/reservations "$body")' FROM idempotency_keys
    WHERE scope = 'orders' AND idem_key = 'k-one'" inventory)" "done	201	1"

FCGI_KEY=k-one svc POST /inventory/reservations "$body"
t_is "retry: 201 again" "$T_STATUS" 201
t_is "retry: marked as a replay" "$(t_header Idempotent-Replayed)" true
t_is "retry: the same body" "$(t_body)" "$first"
t_is "retry: the same Location" "$(t_header Location)" \
    "/api/inventory/reservations/$id"
t_like "retry: Content-Type kept" "$(t_header Content-Type)" \
    '^application/json'
stock_is "retry: reserved once" CUP 10 3
t_is "retry: one reservation" \
    "$(t_sql "SELECT COUNT(*) FROM reservations" inventory)" 1
t_is "retry: one event" "$(t_sql "SELECT COUNT(*) FROM outbox
    WHERE type = 'inventory.reserved'" inventory)" 1

# --- another body, same key: 422 ------------------------------------------------------
FCGI_KEY=k-one svc POST /inventory/reservations \
    '{"order_id": "A1", "lines": [{"sku": "CUP", "qty": 4}]}'
t_problem "same key, other body" 422
t_like "422 names the key" "$(t_json 'j["detail"]')" 'k-one'
FCGI_KEY=k-one svc POST "/inventory/reservations/$id/commit"
t_problem "same key, other path" 422
stock_is "422: nothing happened" CUP 10 3

# --- keys belong to their caller ----------------------------------------------------------
FCGI_KEY=k-one FCGI_USER=billing FCGI_ROLES=service t_fcgi POST \
    /inventory/reservations "$body"
t_is "another caller's same key runs anew" "$T_STATUS" 201
t_like "with its own reservation" "$(t_json 'j["id"]')" "^[0-9]+$"
[ "$(t_json 'j["id"]')" != "$id" ] && t_pass "a different id" ||
    t_fail "a different id"
stock_is "two reservations now" CUP 10 6

# --- still running: 409 ---------------------------------------------------------------------
body2='{"lines": [{"sku": "CUP", "qty": 1}]}'
t_sql "INSERT INTO idempotency_keys (scope, idem_key, request_hash, state,
    created_at) VALUES ('orders', 'k-busy',
    '$(hash /inventory/reservations "$body2")', 'running',
    UTC_TIMESTAMP(6))" inventory
FCGI_KEY=k-busy svc POST /inventory/reservations "$body2"
t_problem "concurrent duplicate" 409
t_is "409 has Retry-After" "$(t_header Retry-After)" 1
FCGI_KEY=k-busy svc POST /inventory/reservations \
    '{"lines": [{"sku": "CUP", "qty": 2}]}'
t_problem "running, other body" 422
stock_is "409: nothing happened" CUP 10 6

# a claim left running by a crashed worker is taken over after a while
t_sql "UPDATE idempotency_keys SET created_at = UTC_TIMESTAMP(6) -
    INTERVAL 10 MINUTE WHERE idem_key = 'k-busy'" inventory
FCGI_KEY=k-busy svc POST /inventory/reservations "$body2"
t_is "stale claim taken over: 201" "$T_STATUS" 201
stock_is "and it ran" CUP 10 7

# a key from yesterday is free again
t_sql "UPDATE idempotency_keys SET created_at = UTC_TIMESTAMP(6) -
    INTERVAL 25 HOUR WHERE idem_key = 'k-one' AND scope = 'orders'" inventory
FCGI_KEY=k-one svc POST /inventory/reservations "$body"
t_is "expired key: runs again" "$T_STATUS $(t_header Idempotent-Replayed)" \
    "201 "
stock_is "expired key: reserved again" CUP 10 10

# --- outcomes that are kept, outcomes that give the key back ----------------------------
FCGI_KEY=k-short svc POST /inventory/reservations "$body2"
t_problem "sold out" 409
admin POST /inventory/CUP/restock '{"qty": 5}'
FCGI_KEY=k-short svc POST /inventory/reservations "$body2"
t_is "a 409 that ran is replayed, even after a restock" \
    "$T_STATUS $(t_header Idempotent-Replayed)" "409 true"
t_is "replayed 409 keeps its short list" "$(t_json 'j["short"][0]["sku"]')" CUP

FCGI_KEY=k-fix svc POST /inventory/reservations '{"lines": [{"sku": "CUP"}]}'
t_problem "invalid body" 422
t_is "422 gives the key back" "$(keys "idem_key = 'k-fix'")" 0
FCGI_KEY=k-fix svc POST /inventory/reservations "$body2"
t_is "the corrected request runs with the same key" "$T_STATUS" 201

FCGI_KEY=k-anon t_fcgi POST /inventory/reservations "$body2"
t_problem "no identity" 401
FCGI_KEY=k-cust FCGI_USER=eve FCGI_ROLES=customer t_fcgi POST \
    /inventory/reservations "$body2"
t_problem "wrong role" 403
t_is "401/403 keep no key" \
    "$(keys "idem_key IN ('k-anon', 'k-cust')")" 0

FCGI_KEY=$(printf 'x%.0s' $(seq 1 300)) svc POST /inventory/reservations \
    "$body2"
t_problem "key of 300 characters" 400
FCGI_KEY=$'tab\there' svc POST /inventory/reservations "$body2"
t_problem "key with a control character" 400

# --- restock and commit honour keys too -------------------------------------------------------
FCGI_KEY=r-1 admin POST /inventory/CUP/restock '{"qty": 100}'
t_is "keyed restock: 200" "$T_STATUS" 200
FCGI_KEY=r-1 admin POST /inventory/CUP/restock '{"qty": 100}'
t_is "keyed restock retry: replayed" \
    "$T_STATUS $(t_header Idempotent-Replayed)" "200 true"
stock_is "restocked once" CUP 115 11

FCGI_KEY=c-1 svc POST "/inventory/reservations/$id/commit"
t_is "keyed commit" "$T_STATUS $(t_json 'j["state"]')" "200 committed"
FCGI_KEY=c-1 svc POST "/inventory/reservations/$id/commit"
t_is "keyed commit retry: replayed" \
    "$T_STATUS $(t_header Idempotent-Replayed)" "200 true"
stock_is "committed once" CUP 112 8
t_is "one inventory.committed event" "$(t_sql "SELECT COUNT(*) FROM outbox
    WHERE type = 'inventory.committed'" inventory)" 1

t_done
