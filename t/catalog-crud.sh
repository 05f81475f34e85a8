#!/bin/bash
# Catalog CRUD through the gateway: create, read, list with cursor paging,
# PUT, PATCH, DELETE, then 404.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_gateway_start
# catalog writes need the admin role: every request carries its token
t_admin_token
T_TOKEN=$T_ADMIN_TOKEN
P=$T_URL/api/products
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'

# --- the category the product goes in
t_http POST "$T_URL/api/categories" '{"slug": "kitchen", "name": "Kitchen"}'
t_is "category: 201" "$T_STATUS" 201

# --- create
t_http POST "$P" '{"sku": "MUG-001", "name": "Mug",
    "description": "A large mug", "price": {"amount": 1299,
    "currency": "EUR"}, "category": "kitchen"}'
t_is "create: 201" "$T_STATUS" 201
id=$(t_json 'j["id"]')
t_like "create: numeric id" "$id" '^[1-9][0-9]*$'
t_is "create: Location" "$(t_header Location)" "/api/products/$id"
t_like "create: Content-Type" "$(t_header Content-Type)" '^application/json'
t_like "create: X-Request-Id" "$(t_header X-Request-Id)" '.'
t_is "create: fields echoed" \
    "$(t_json '[j["sku"], j["name"], j["description"], j["price"], j["category"], j["version"]]')" \
    '["MUG-001","Mug","A large mug",{"amount":1299,"currency":"EUR"},"kitchen",1]'
t_like "create: created_at is UTC" "$(t_json 'j["created_at"]')" "$ts"
t_like "create: updated_at is UTC" "$(t_json 'j["updated_at"]')" "$ts"
created_at=$(t_json 'j["created_at"]')

# --- read
t_http GET "$P/$id"
t_is "get: 200" "$T_STATUS" 200
t_is "get: same product" \
    "$(t_json '[j["id"], j["sku"], j["name"], j["price"]["amount"], j["price"]["currency"], j["category"]]')" \
    "[$id,\"MUG-001\",\"Mug\",1299,\"EUR\",\"kitchen\"]"
t_is "get: ETag is the version" "$(t_header ETag)" '"1"'

# --- list: five more, then walk pages of two with next_cursor
ids=("$id")
for i in 1 2 3 4 5; do
	t_http POST "$P" "{\"sku\": \"PAGE-$i\", \"name\": \"Page $i\",
	    \"price\": {\"amount\": $((i * 100)), \"currency\": \"USD\"}}"
	[ "$T_STATUS" = 201 ] || t_fail "create PAGE-$i: status $T_STATUS"
	ids+=("$(t_json 'j["id"]')")
done
want=$(printf '%s\n' "${ids[@]}" | sort -n | tr '\n' ' ')

t_http GET "$P"
t_is "list: 200" "$T_STATUS" 200
t_is "list: default limit holds all 6" "$(t_json 'len(j["items"])')" 6
t_is "list: last page has next_cursor null" "$(t_json 'j["next_cursor"]')" null

cursor= pages=0 seen= sizes=
while [ "$pages" -lt 10 ]; do
	if [ -z "$cursor" ]; then
		t_http GET "$P?limit=2"
	else
		t_http GET "$P" -- -G --data-urlencode limit=2 \
		    --data-urlencode "cursor=$cursor"
	fi
	[ "$T_STATUS" = 200 ] || { t_fail "page $pages: status $T_STATUS"; break; }
	pages=$((pages + 1))
	sizes="$sizes$(t_json 'len(j["items"])') "
	seen="$seen$(t_json '" ".join(str(p["id"]) for p in j["items"])') "
	cursor=$(t_json 'j["next_cursor"]')
	[ "$cursor" = null ] && break
done
t_is "paging: 3 pages of 2" "$sizes" "2 2 2 "
t_is "paging: every product exactly once" \
    "$(printf '%s\n' $seen | sort -n | tr '\n' ' ')" "$want"

# --- PUT replaces the whole product
t_http PUT "$P/$id" '{"sku": "MUG-001", "name": "Big mug",
    "description": "Now bigger", "price": {"amount": 1599,
    "currency": "EUR"}, "category": "kitchen"}'
t_is "put: 200" "$T_STATUS" 200
t_is "put: new fields" \
    "$(t_json '[j["id"], j["name"], j["description"], j["price"]["amount"], j["version"]]')" \
    "[$id,\"Big mug\",\"Now bigger\",1599,2]"
t_is "put: created_at kept" "$(t_json 'j["created_at"]')" "$created_at"

# --- PATCH changes only what it names
t_http PATCH "$P/$id" '{"price": {"amount": 999, "currency": "EUR"}}'
t_is "patch: 200" "$T_STATUS" 200
t_is "patch: price changed, the rest kept" \
    "$(t_json '[j["sku"], j["name"], j["description"], j["price"], j["category"], j["version"]]')" \
    '["MUG-001","Big mug","Now bigger",{"amount":999,"currency":"EUR"},"kitchen",3]'
t_http GET "$P/$id"
t_is "patch: stored" "$(t_json '[j["name"], j["price"]["amount"]]')" \
    '["Big mug",999]'
t_is "patch: ETag follows the version" "$(t_header ETag)" '"3"'

# --- DELETE, then it is gone
t_http DELETE "$P/$id"
t_is "delete: 204" "$T_STATUS" 204
t_is "delete: no body" "$(t_body)" ""
t_http GET "$P/$id"
t_problem "get after delete" 404
t_http DELETE "$P/$id"
t_is "delete again: 404" "$T_STATUS" 404
t_http GET "$P"
t_is "list after delete: 5 left" "$(t_json 'len(j["items"])')" 5
t_is "list after delete: deleted one absent" \
    "$(t_json "[p for p in j['items'] if p['id'] == $id]")" "[]"

# --- identity end to end (the shipped gateway.conf checks tokens): no
# token is 401, a customer is 403, the admin 201; a customer sees only
# their own profile.
new='{"sku": "PEN-001", "name": "Pen", "price": {"amount": 150,
    "currency": "EUR"}, "category": "kitchen"}'
T_TOKEN= t_http POST "$P" "$new"
t_problem "no token: 401" 401
t_like "no token: WWW-Authenticate" "$(t_header WWW-Authenticate)" \
    '^Bearer realm="agora"'
T_TOKEN=not.a.token t_http POST "$P" "$new"
t_is "bad token: 401" "$T_STATUS" 401
t_like "bad token: invalid_token" "$(t_header WWW-Authenticate)" \
    'error="invalid_token"'

# customer_register EMAIL PASSWORD NAME: through POST /api/users; prints
# the new subject.
customer_register()
{
	T_TOKEN= t_http POST "$T_URL/api/users" \
	    "{\"email\":\"$1\",\"password\":\"$2\",\"name\":\"$3\"}"
	[ "$T_STATUS" = 201 ] && t_json 'j["id"]'
}
sub_a=$(customer_register ann@example.com annpassword 'Ann Customer')
t_like "customer A registered" "$sub_a" '^[1-9][0-9]*$'
sub_b=$(customer_register bob@example.com bobpassword 'Bob Customer')
t_like "customer B registered" "$sub_b" '^[1-9][0-9]*$'
tok_a=$(t_password_token ann@example.com annpassword)
t_like "customer A: password grant" "$tok_a" '^ey'
tok_b=$(t_password_token bob@example.com bobpassword)
t_like "customer B: password grant" "$tok_b" '^ey'

T_TOKEN=$tok_a t_http POST "$P" "$new"
t_problem "customer token: 403" 403
t_like "customer token: insufficient_scope" \
    "$(t_header WWW-Authenticate)" 'error="insufficient_scope"'
T_TOKEN=$tok_a t_http DELETE "$P/$id"
t_is "customer token cannot delete either: 403" "$T_STATUS" 403
t_http GET "$P?limit=100"
t_is "customer writes left nothing" \
    "$(t_json "[p['sku'] for p in j['items'] if p['sku'] == 'PEN-001']")" "[]"
t_http POST "$P" "$new"
t_is "admin token: 201" "$T_STATUS" 201

T_TOKEN=$tok_a t_http GET "$T_URL/api/users/me"
t_is "customer A: own profile" \
    "$(t_json '[str(j["id"]), j["email"]]')" "[\"$sub_a\",\"ann@example.com\"]"
T_TOKEN=$tok_b t_http GET "$T_URL/api/users/me"
t_is "customer B: own profile, not A's" \
    "$(t_json '[str(j["id"]), j["email"]]')" "[\"$sub_b\",\"bob@example.com\"]"
T_TOKEN= t_http GET "$T_URL/api/users/me"
t_is "no token: no profile (401)" "$T_STATUS" 401
T_TOKEN=$tok_a t_http GET "$T_URL/api/users"
t_is "customer: the user list is admin only (403)" "$T_STATUS" 403
t_done
