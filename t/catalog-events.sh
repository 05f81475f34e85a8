#!/bin/bash
# Catalog writes and their side effects: the outbox events written in the
# transaction of each change (product.created, product.updated,
# product.price_changed, product.deleted), Idempotency-Key on
# POST /products, and If-Match guarding lost updates.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_gateway_start
# catalog writes need the admin role: every request carries its token
t_admin_token
T_TOKEN=$T_ADMIN_TOKEN
P=$T_URL/api/products

events()	# the outbox as "type:aggregate_id" in order
{
	t_sql "SELECT GROUP_CONCAT(CONCAT(type, ':', aggregate_id) ORDER BY id
	    SEPARATOR ' ') FROM outbox WHERE type LIKE 'product.%'" catalog
}
ev()		# JSON path of the newest event of TYPE
{
	t_sql "SELECT JSON_EXTRACT(data, '$2') FROM outbox WHERE type = '$1'
	    ORDER BY id DESC LIMIT 1" catalog
}

# --- created
body='{"sku": "EV-1", "name": "Event mug", "price": {"amount": 1000, "currency": "EUR"}}'
t_http POST "$P" "$body" -H 'Idempotency-Key: k-1'
t_is "create: 201" "$T_STATUS" 201
id=$(t_json 'j["id"]')
first=$(t_body)
t_is "product.created" "$(events)" "product.created:$id"
t_is "created: data is the product" "$(ev product.created '$.sku') $(ev product.created '$.price.amount')" \
    '"EV-1" 1000'
t_like "created: event_id is a uuid" \
    "$(t_sql "SELECT event_id FROM outbox ORDER BY id DESC LIMIT 1" catalog)" \
    '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

# --- Idempotency-Key: replay, no second product, no second event
t_http POST "$P" "$body" -H 'Idempotency-Key: k-1'
t_is "keyed retry: 201 replayed" "$T_STATUS $(t_header Idempotent-Replayed)" "201 true"
t_is "keyed retry: same body" "$(t_body)" "$first"
t_is "keyed retry: same Location" "$(t_header Location)" "/api/products/$id"
t_is "keyed retry: one product" \
    "$(t_sql "SELECT COUNT(*) FROM products WHERE sku = 'EV-1'" catalog)" 1
t_is "keyed retry: one event" "$(events)" "product.created:$id"
t_http POST "$P" '{"sku": "EV-9", "name": "x", "price": {"amount": 1, "currency": "EUR"}}' \
    -H 'Idempotency-Key: k-1'
t_problem "same key, different body" 422
t_http POST "$P" "$body" -H 'Idempotency-Key: k-2'
t_problem "new key, duplicate sku" 409
t_http POST "$P" "$body" -H 'Idempotency-Key: k-2'
t_is "the 409 is replayed too" "$T_STATUS $(t_header Idempotent-Replayed)" "409 true"
t_http POST "$P" '{"sku": "EV-2", "name": ""}' -H 'Idempotency-Key: k-3'
t_problem "422 with a key" 422
t_http POST "$P" '{"sku": "EV-2", "name": "ok", "price": {"amount": 5, "currency": "EUR"}}' \
    -H 'Idempotency-Key: k-3'
t_is "a 422 gives the key back: corrected retry runs" "$T_STATUS" 201
id2=$(t_json 'j["id"]')

# --- updated, without a price change: no price event
t_http PATCH "$P/$id" '{"name": "Renamed mug"}'
t_is "patch name: 200" "$T_STATUS" 200
t_is "product.updated only" "$(events)" \
    "product.created:$id product.created:$id2 product.updated:$id"
t_is "updated: data is the new product" \
    "$(ev product.updated '$.name') $(ev product.updated '$.version')" '"Renamed mug" 2'

# --- price change: updated + price_changed with old and new
t_http PATCH "$P/$id" '{"price": {"amount": 1500, "currency": "EUR"}}'
t_is "patch price: 200" "$T_STATUS" 200
t_is "price_changed follows updated" "$(events)" \
    "product.created:$id product.created:$id2 product.updated:$id product.updated:$id product.price_changed:$id"
t_is "price_changed: old and new" \
    "$(ev product.price_changed '$.old_price') $(ev product.price_changed '$.new_price')" \
    '{"amount": 1000, "currency": "EUR"} {"amount": 1500, "currency": "EUR"}'
t_http PUT "$P/$id" '{"sku": "EV-1", "name": "Renamed mug",
    "price": {"amount": 1500, "currency": "USD"}}'
t_is "put, currency changes: 200" "$T_STATUS" 200
t_is "a currency change is a price change" \
    "$(ev product.price_changed '$.old_price.currency') $(ev product.price_changed '$.new_price.currency')" \
    '"EUR" "USD"'

# --- If-Match: a stale ETag loses, nothing is written
t_http GET "$P/$id"
etag=$(t_header ETag)
t_is "ETag is the version" "$etag" '"4"'
t_http GET "$P/$id" -- -H "If-None-Match: $etag"
t_is "If-None-Match: 304" "$T_STATUS" 304
n=$(t_sql "SELECT COUNT(*) FROM outbox" catalog)
t_http PATCH "$P/$id" '{"name": "stale"}' -H 'If-Match: "1"'
t_problem "stale If-Match" 412
t_is "412: no event" "$(t_sql "SELECT COUNT(*) FROM outbox" catalog)" "$n"
t_http PATCH "$P/$id" '{"name": "fresh"}' -H "If-Match: $etag"
t_is "current If-Match: 200" "$T_STATUS $(t_json 'j["name"]')" "200 fresh"
t_http DELETE "$P/$id" -- -H "If-Match: $etag"
t_problem "DELETE with a stale If-Match" 412

# --- deleted
t_http DELETE "$P/$id"
t_is "delete: 204" "$T_STATUS" 204
t_is "product.deleted" "$(t_sql "SELECT aggregate_id FROM outbox ORDER BY id DESC LIMIT 1" catalog) $(ev product.deleted '$.sku')" \
    "$id \"EV-1\""
t_is "soft delete: the row stays" \
    "$(t_sql "SELECT deleted_at IS NOT NULL FROM products WHERE id = $id" catalog)" 1

# --- failed writes leave no event behind
n=$(t_sql "SELECT COUNT(*) FROM outbox" catalog)
t_http PATCH "$P/$id2" '{"sku": "EV-1", "category": "nowhere"}'
t_problem "bad category" 422
t_http PATCH "$P/999999" '{"name": "x"}'
t_problem "missing product" 404
t_is "no event from failed writes" "$(t_sql "SELECT COUNT(*) FROM outbox" catalog)" "$n"
t_is "every event data is JSON" \
    "$(t_sql "SELECT COUNT(*) FROM outbox WHERE NOT JSON_VALID(data)" catalog)" 0
t_done
