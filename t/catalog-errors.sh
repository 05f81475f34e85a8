#!/bin/bash
# Catalog errors through the gateway: every client mistake is a 4xx
# application/problem+json that says what was wrong.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_gateway_start
# catalog writes need the admin role: every request carries its token
t_admin_token
T_TOKEN=$T_ADMIN_TOKEN
P=$T_URL/api/products

# fields FILE: the sorted, distinct "field" members of a 422's errors.
fields()
{
	t_json '" ".join(sorted(set(e["field"] for e in j["errors"])))'
}
messages_ok()
{
	[ "$(t_json 'all(isinstance(e.get("message"), str) and e["message"] for e in j["errors"])')" = true ]
}

# --- malformed JSON
for body in '{"sku": "X", ' '{sku: 1}' 'not json' '{"sku": "A" "name": "B"}'; do
	t_http POST "$P" "$body"
	t_problem "malformed '$body'" 400
done

# --- validation: each bad field is listed
t_http POST "$P" '{"sku": "", "name": "", "price": {"amount": -5,
    "currency": "eur"}}'
t_problem "invalid fields" 422
t_is "422 lists each bad field" "$(fields)" \
    "name price.amount price.currency sku"
t_ok "422 errors have messages" messages_ok

t_http POST "$P" '{}'
t_problem "empty object" 422
t_like "422 for {} names sku, name and price" "$(fields)" \
    '^name price[^ ]* (price[^ ]* )?sku$'

long=$(printf 'x%.0s' $(seq 65))
t_http POST "$P" "{\"sku\": \"$long\", \"name\": \"ok\",
    \"price\": {\"amount\": 1, \"currency\": \"EUR\"}}"
t_problem "sku of 65 chars" 422
t_is "sku of 65 chars: field" "$(fields)" sku

t_http POST "$P" '{"sku": "OK-1", "name": "ok",
    "price": {"amount": 12.5, "currency": "EUR"}}'
t_problem "fractional amount" 422
t_is "fractional amount: field" "$(fields)" price.amount

t_http POST "$P" '{"sku": "OK-1", "name": "ok",
    "price": {"amount": "12", "currency": "EUR"}}'
t_problem "amount as a string" 422
t_is "amount as a string: field" "$(fields)" price.amount

t_http POST "$P" '{"sku": "OK-1", "name": 7,
    "price": {"amount": 1, "currency": "EURO"}}'
t_problem "name not a string, 4-letter currency" 422
t_is "both fields listed" "$(fields)" "name price.currency"

t_http GET "$P" -- -G --data-urlencode limit=0
t_problem "limit=0" 400
t_http GET "$P" -- -G --data-urlencode limit=abc
t_problem "limit=abc" 400
t_http GET "$P" -- -G --data-urlencode 'cursor=!!not-a-cursor!!'
t_problem "garbage cursor" 400

# --- missing product
for m in GET DELETE; do
	t_http "$m" "$P/999999"
	t_problem "$m missing product" 404
done
t_http PATCH "$P/999999" '{"name": "x"}'
t_problem "PATCH missing product" 404
t_http PUT "$P/999999" '{"sku": "GONE-1", "name": "x",
    "price": {"amount": 1, "currency": "EUR"}}'
t_problem "PUT missing product" 404

# --- duplicate sku
body='{"sku": "DUP-1", "name": "first", "price": {"amount": 1, "currency": "EUR"}}'
t_http POST "$P" "$body"
t_is "first DUP-1: 201" "$T_STATUS" 201
DUP_ID=$(t_json 'j["id"]')
t_http POST "$P" "$body"
t_problem "duplicate sku" 409
t_http GET "$P"
t_is "duplicate not stored" \
    "$(t_json 'len([p for p in j["items"] if p["sku"] == "DUP-1"])')" 1

# --- a price is whole Money in a PATCH too, and the product is unchanged
t_http PATCH "$P/$DUP_ID" '{"price": {"amount": 5}}'
t_problem "PATCH half a price" 422
t_is "PATCH half a price: field" "$(fields)" price.currency
t_http PATCH "$P/$DUP_ID" '{"price": {"amount": null, "currency": "USD"}}'
t_problem "PATCH a null amount" 422
t_is "PATCH a null amount: field" "$(fields)" price.amount
t_http GET "$P/$DUP_ID"
t_is "the price did not change" "$(t_json 'j["price"]')" \
    '{"amount":1,"currency":"EUR"}'

# --- what yajl lets through: a member twice (which one would count?),
# UTF-8 encoding a surrogate or an overlong form
t_http PATCH "$P/$DUP_ID" '{"name": "one", "name": "two"}'
t_problem "a member twice" 400
t_like "a member twice: detail" "$(t_json 'j["detail"]')" '"name" appears twice'
printf '{"name": "\xed\xa0\x80"}' >"$TMP/surrogate.json"
t_http PATCH "$P/$DUP_ID" "@$TMP/surrogate.json"
t_problem "an encoded surrogate" 400
printf '{"name": "\xc0\xaf"}' >"$TMP/overlong.json"
t_http PATCH "$P/$DUP_ID" "@$TMP/overlong.json"
t_problem "an overlong encoding" 400
t_http GET "$P/$DUP_ID"
t_is "the name did not change" "$(t_json 'j["name"]')" first

# --- oversized body: the shipped config says "max body 1M"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$TMP/big"
t_http POST "$P" "@$TMP/big" -H 'Expect: 100-continue'
t_is "2 MiB body: 413" "$T_STATUS" 413
t_like "2 MiB body: Content-Type" "$(t_header Content-Type)" \
    '^application/problem\+json'
t_is "2 MiB body: body status" "$(t_json 'j["status"]')" 413
t_like "413 carries a request id" "$(t_header X-Request-Id)" '.'

# the gateway and the catalog still answer
t_http GET "$P"
t_is "still serving after all that" "$T_STATUS" 200
t_done
