#!/bin/bash
# Issue 5's proof, end to end: the shipped etc/gateway.conf and
# rules/agora.lua, all four services, and every request over HTTP through
# agora-gateway with tokens from agora-auth, the way a shop's client
# works.  Registration, password grant, refresh rotation and reuse
# detection, profile and addresses (another customer's are 404), catalog
# writes by the admin only, search, paging and ETags, reservations that
# are all-or-nothing and add up, then the GDPR export (users and auth)
# and erasure, checked in the databases too.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
# shellcheck source=t/users-lib.sh
. "$top_srcdir/t/users-lib.sh"

t_mariadb_start
t_auth_bootstrap
t_gateway_start
t_admin_token
U=$T_URL/api/users
P=$T_URL/api/products
I=$T_URL/api/inventory

# === register two customers, a token for each =============================
# A registers as a client that retries would: with an Idempotency-Key.
T_TOKEN='' t_http POST "$U" '{"email": "ann@example.com",
    "password": "ann-secret-1", "name": "Annabel Plaintextname",
    "phone": "+33 6 12 34 56 78"}' -H 'Idempotency-Key: reg-ann-1'
t_is "register A: 201" "$T_STATUS" 201
t_is "register A: Location" "$(t_header Location)" /api/users/me
sub_a=$(t_json 'j["id"]')
t_is "register A: the answer holds no name or phone" \
    "$(t_json 'sorted(j)')" '["created_at","email","id"]'
gw_register bob@example.com 'bob-secret-1' 'Robert Otherperson' \
    '+44 20 7946 0000'
t_is "register B: 201" "$T_STATUS" 201
sub_b=$SUB
t_like "two subjects" "$sub_a/$sub_b" '^[1-9][0-9]*/[1-9][0-9]*$'
gw_register ann@example.com 'ann-secret-1' 'Ann Again'
t_problem "register A again" 409

gw_login ann@example.com 'ann-secret-1'
t_is "A: password grant 200" "$T_STATUS" 200
t_is "A: no-store" "$(t_header Cache-Control)" no-store
t_is "A: token is for A" "$(jwt_claim "$AT" 'c["sub"]')" "$sub_a"
t_like "A: a refresh token" "$RT" '^[A-Za-z0-9_-]{20,}$'
at_a=$AT rt_a=$RT
gw_login bob@example.com 'bob-secret-1'
t_is "B: password grant 200" "$T_STATUS" 200
at_b=$AT rt_b=$RT
gw_login bob@example.com 'wrong-password'
t_is "B: wrong password is invalid_grant" \
    "$T_STATUS $(t_json 'j["error"]')" "400 invalid_grant"

# === refresh rotation and reuse detection ================================
gw_refresh "$rt_b"
t_is "refresh: 200" "$T_STATUS" 200
rt_b2=$RT
t_ok "refresh: a new refresh token" test -n "$rt_b2" -a "$rt_b2" != "$rt_b"
t_is "refresh: new access token for B" "$(jwt_claim "$AT" 'c["sub"]')" \
    "$sub_b"
T_TOKEN=$AT t_http GET "$U/me"
t_is "refresh: the new access token works" "$T_STATUS" 200
gw_refresh "$rt_b"
t_is "reuse of the old one: invalid_grant" \
    "$T_STATUS $(t_json 'j["error"]')" "400 invalid_grant"
gw_refresh "$rt_b2"
t_is "the family is revoked: the new one fails too" \
    "$T_STATUS $(t_json 'j["error"]')" "400 invalid_grant"
t_is "db: no live refresh token left for B" "$(t_sql "SELECT COUNT(*)
    FROM refresh_tokens WHERE identity_id = $sub_b AND state = 'active'" \
    auth)" 0
gw_login bob@example.com 'bob-secret-1'
t_is "B logs in again" "$T_STATUS" 200
at_b=$AT

# === profile ==========================================================
T_TOKEN=$at_a t_http GET "$U/me"
t_is "A: GET me" "$T_STATUS $(t_json '[j["id"], j["email"], j["name"], j["phone"]]')" \
    "200 [\"$sub_a\",\"ann@example.com\",\"Annabel Plaintextname\",\"+33 6 12 34 56 78\"]"
etag_a=$(t_header ETag)
t_like "A: ETag" "$etag_a" '^"[0-9]+"$'
T_TOKEN=$at_a t_http GET "$U/me" -- -H "If-None-Match: $etag_a"
t_is "A: If-None-Match 304" "$T_STATUS" 304
T_TOKEN=$at_a t_http PATCH "$U/me" '{"name": "Annabel Q. Plaintextname"}' \
    -H "If-Match: $etag_a"
t_is "A: PATCH me" "$T_STATUS $(t_json 'j["name"]')" \
    "200 Annabel Q. Plaintextname"
t_ok "A: PATCH gives a new ETag" test "$(t_header ETag)" != "$etag_a"
T_TOKEN=$at_a t_http PATCH "$U/me" '{"phone": "+33 1 99 99 99 99"}' \
    -H "If-Match: $etag_a"
t_problem "A: PATCH with a stale If-Match" 412
T_TOKEN=$at_a t_http GET "$U/me"
t_is "A: the stale write changed nothing" \
    "$(t_json '[j["name"], j["phone"]]')" \
    '["Annabel Q. Plaintextname","+33 6 12 34 56 78"]'
T_TOKEN='' t_http GET "$U/me"
t_problem "me without a token" 401
T_TOKEN=$at_a t_http GET "$U"
t_problem "customer: admin list is 403" 403
T_TOKEN=$T_ADMIN_TOKEN t_http GET "$U?limit=1"
t_is "admin: list of one with a cursor" \
    "$T_STATUS $(t_json 'len(j["items"])') $(t_json 'j["next_cursor"] is not None')" \
    "200 1 true"

# auth's identity routes are for agora-users on its own socket: through
# the gateway no caller (and no forged header) reaches them.
T_TOKEN=$at_a t_http GET "$T_URL/api/auth/identities/$sub_b" -- \
    -H 'Remote-User: users-service' -H 'Auth-Roles: service'
t_problem "A reads B's identity at auth: refused" 401
T_TOKEN=$T_ADMIN_TOKEN t_http DELETE "$T_URL/api/auth/identities/$sub_b"
t_is "nobody deletes an identity through the gateway" "$T_STATUS" 401

# === addresses =======================================================
addr='{"line1": "12 Rue Secretline", "line2": "Bat. C", "city": "Lyonnaise",
    "postal_code": "69001", "country": "FR"}'
T_TOKEN=$at_a t_http POST "$U/me/addresses" "$addr" \
    -H 'Idempotency-Key: addr-a-1'
t_is "A: add address" "$T_STATUS $(t_json '[j["line1"], j["country"]]')" \
    '201 ["12 Rue Secretline","FR"]'
addr_a=$(t_json 'j["id"]')
t_is "A: address Location" "$(t_header Location)" \
    "/api/users/me/addresses/$addr_a"
T_TOKEN=$at_a t_http POST "$U/me/addresses" "$addr" \
    -H 'Idempotency-Key: addr-a-1'
t_is "A: retried add is replayed" \
    "$T_STATUS $(t_json 'j["id"]') $(t_header Idempotent-Replayed)" \
    "201 $addr_a true"
T_TOKEN=$at_b t_http POST "$U/me/addresses" '{"line1": "221B Hiddenstreet",
    "city": "Londonium", "postal_code": "NW1 6XE", "country": "GB"}'
t_is "B: add address" "$T_STATUS" 201
addr_b=$(t_json 'j["id"]')
T_TOKEN=$at_a t_http GET "$U/me/addresses"
t_is "A: list has only A's address" \
    "$T_STATUS $(t_json '[a["id"] for a in j["items"]]')" "200 [$addr_a]"
T_TOKEN=$at_a t_http GET "$U/me/addresses/$addr_a"
t_is "A: get own address" "$T_STATUS $(t_json 'j["city"]')" "200 Lyonnaise"
T_TOKEN=$at_a t_http PATCH "$U/me/addresses/$addr_a" \
    '{"line2": null, "city": "Lyon"}'
t_is "A: update own address" \
    "$T_STATUS $(t_json '[j["line1"], j["line2"], j["city"], j["postal_code"]]')" \
    '200 ["12 Rue Secretline",null,"Lyon","69001"]'
T_TOKEN=$at_a t_http PATCH "$U/me/addresses/$addr_a" \
    '{"line1": null, "country": "fr", "city": 7, "floor": 2}'
t_problem "A: bad address update" 422
t_is "A: every bad field named" \
    "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["city","country","floor","line1"]'
T_TOKEN=$at_a t_http PATCH "$U/me/addresses/$addr_a" '["line1"]'
t_problem "A: address update that is not an object" 400
T_TOKEN=$at_a t_http GET "$U/me/addresses/$addr_b"
t_problem "A reads B's address: 404, not 403" 404
t_ok "the 404 tells nothing of B" eval '! t_body | grep -q Hiddenstreet'
T_TOKEN=$at_a t_http PATCH "$U/me/addresses/$addr_b" '{"city": "Hacked"}'
t_problem "A updates B's address: 404" 404
T_TOKEN=$at_a t_http DELETE "$U/me/addresses/$addr_b"
t_problem "A deletes B's address: 404" 404
T_TOKEN=$at_b t_http GET "$U/me/addresses/$addr_b"
t_is "B's address untouched" "$T_STATUS $(t_json '[j["line1"], j["city"]]')" \
    '200 ["221B Hiddenstreet","Londonium"]'
T_TOKEN=$at_a t_http POST "$U/me/addresses" '{"line1": "Tmp", "city": "X",
    "postal_code": "1", "country": "FR"}'
tmp_addr=$(t_json 'j["id"]')
T_TOKEN=$at_a t_http DELETE "$U/me/addresses/$tmp_addr"
t_is "A: delete own address" "$T_STATUS" 204
T_TOKEN=$at_a t_http GET "$U/me/addresses/$tmp_addr"
t_is "A: deleted address is gone" "$T_STATUS" 404

# === catalog: admin writes, customers read ===============================
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$T_URL/api/categories" \
    '{"slug": "kitchen", "name": "Kitchen"}'
t_is "admin: category" "$T_STATUS" 201
pids=()
for i in 1 2 3 4 5; do
	T_TOKEN=$T_ADMIN_TOKEN t_http POST "$P" "{\"sku\": \"FLOW-$i\",
	    \"name\": \"Flowmug $i\", \"description\": \"A stoneware mug\",
	    \"price\": {\"amount\": $((i * 100)), \"currency\": \"EUR\"},
	    \"category\": \"kitchen\"}"
	[ "$T_STATUS" = 201 ] || t_diag "create FLOW-$i: $T_STATUS $(t_body)"
	pids+=("$(t_json 'j["id"]')")
done
t_is "admin creates 5 products" "${#pids[@]} $T_STATUS" "5 201"
T_TOKEN=$at_a t_http POST "$P" '{"sku": "EVIL-1", "name": "Nope",
    "price": {"amount": 1, "currency": "EUR"}}'
t_problem "customer creates a product: 403" 403
T_TOKEN=$at_a t_http PATCH "$P/${pids[0]}" '{"name": "Mine now"}'
t_problem "customer patches a product: 403" 403
t_is "db: no EVIL-1" "$(t_sql "SELECT COUNT(*) FROM products
    WHERE sku = 'EVIL-1'" catalog)" 0

T_TOKEN=$at_a t_http GET "$P?q=flowmug&limit=2"
t_is "search ?q=: a page of 2" "$T_STATUS $(t_json 'len(j["items"])')" "200 2"
cursor=$(t_json 'j["next_cursor"]') seen=$(t_json '[p["sku"] for p in j["items"]]')
pages=1
while [ "$cursor" != null ] && [ "$pages" -lt 10 ]; do
	T_TOKEN=$at_a t_http GET "$P" -- -G --data-urlencode q=flowmug \
	    --data-urlencode limit=2 --data-urlencode "cursor=$cursor"
	[ "$T_STATUS" = 200 ] || break
	seen="$seen $(t_json '[p["sku"] for p in j["items"]]')"
	cursor=$(t_json 'j["next_cursor"]')
	pages=$((pages + 1))
done
t_is "search paging: 3 pages" "$pages" 3
t_is "search paging: each product once" \
    "$(echo "$seen" | tr -c 'A-Z0-9-\n' ' ' | tr ' ' '\n' | grep . | sort | tr '\n' ' ')" \
    "FLOW-1 FLOW-2 FLOW-3 FLOW-4 FLOW-5 "
t_http GET "$P" -- -G --data-urlencode limit=2 \
    --data-urlencode "cursor=${cursor}x"
t_is "a forged cursor: 400" "$T_STATUS" 400

t_http GET "$P/${pids[0]}"
etag=$(t_header ETag)
t_is "product: ETag" "$T_STATUS $etag" '200 "1"'
t_http GET "$P/${pids[0]}" -- -H "If-None-Match: $etag"
t_is "product: If-None-Match 304" "$T_STATUS" 304
T_TOKEN=$T_ADMIN_TOKEN t_http PATCH "$P/${pids[0]}" '{"name": "Flowmug one"}' \
    -H "If-Match: $etag"
t_is "admin: PATCH with the current ETag" "$T_STATUS $(t_header ETag)" \
    '200 "2"'
T_TOKEN=$T_ADMIN_TOKEN t_http PATCH "$P/${pids[0]}" '{"name": "Lost update"}' \
    -H "If-Match: $etag"
t_problem "admin: stale If-Match" 412
t_http GET "$P/${pids[0]}"
t_is "the stale write changed nothing" "$(t_json 'j["name"]')" "Flowmug one"

# === inventory: stock, reserve, commit, release ============================
gw_service_token
# stock_is SKU: "on_hand reserved available" by GET, then by the db
stock_get()
{
	t_http GET "$I/$1"
	t_json '"%d %d %d" % (j["on_hand"], j["reserved"], j["available"])'
}
stock_db()
{
	t_sql "SELECT CONCAT(on_hand, ' ', reserved, ' ', on_hand - reserved)
	    FROM stock WHERE sku = '$1'" inventory
}
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$I/FLOW-1/restock" '{"qty": 10}'
t_is "admin: stock FLOW-1" "$T_STATUS" 200
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$I/FLOW-2/restock" '{"qty": 3}'
t_is "admin: stock FLOW-2" "$T_STATUS" 200
T_TOKEN=$at_a t_http POST "$I/FLOW-1/restock" '{"qty": 1000}'
t_problem "customer: restock 403" 403
t_is "stock by GET" "$(stock_get FLOW-1)/$(stock_get FLOW-2)" "10 0 10/3 0 3"

T_TOKEN=$at_a t_http POST "$I/reservations" \
    '{"lines": [{"sku": "FLOW-1", "qty": 1}]}'
t_problem "customer: reserve 403" 403
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$I/reservations" \
    '{"order_id": "o-1", "lines": [{"sku": "FLOW-1", "qty": 4},
    {"sku": "FLOW-2", "qty": 2}]}'
t_is "reserve two lines: 201" "$T_STATUS" 201
res1=$(t_json 'j["id"]')
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$I/reservations" \
    '{"order_id": "o-2", "lines": [{"sku": "FLOW-1", "qty": 1},
    {"sku": "FLOW-2", "qty": 2}]}'
t_problem "a line over stock fails the whole reservation" 409
t_is "nothing held by the failed one (GET)" \
    "$(stock_get FLOW-1)/$(stock_get FLOW-2)" "10 4 6/3 2 1"
t_is "nothing held by the failed one (db)" \
    "$(stock_db FLOW-1)/$(stock_db FLOW-2)" "10 4 6/3 2 1"
T_TOKEN=$T_SERVICE_TOKEN t_http POST "$I/reservations" \
    '{"order_id": "o-3", "lines": [{"sku": "FLOW-1", "qty": 5}]}'
t_is "service: reserve 201" "$T_STATUS" 201
res2=$(t_json 'j["id"]')
t_is "two reservations held" "$(stock_get FLOW-1)" "10 9 1"

T_TOKEN=$at_a t_http POST "$I/reservations/$res1/commit"
t_problem "customer: commit 403" 403
T_TOKEN=$T_SERVICE_TOKEN t_http POST "$I/reservations/$res1/commit"
t_is "service: commit" "$T_STATUS" 200
t_is "commit: stock left the warehouse" \
    "$(stock_get FLOW-1)/$(stock_get FLOW-2)" "6 5 1/1 0 1"
T_TOKEN=$T_SERVICE_TOKEN t_http DELETE "$I/reservations/$res2"
t_is "service: release" "$T_STATUS" 204
t_is "release: the units are available again" \
    "$(stock_get FLOW-1)/$(stock_db FLOW-1)" "6 0 6/6 0 6"
T_TOKEN=$T_SERVICE_TOKEN t_http DELETE "$I/reservations/$res1"
t_is "a committed reservation cannot be released" "$T_STATUS" 409
t_is "db: the reservations' lines add up" "$(t_sql "SELECT
    (SELECT COALESCE(SUM(on_hand), 0) FROM stock) + (SELECT
    COALESCE(SUM(l.qty), 0) FROM reservation_lines l JOIN reservations r
    ON r.id = l.reservation_id WHERE r.state = 'committed')" inventory)" 13

# 100 concurrent reservations for the last 10 units, through the gateway:
# exactly 10 succeed.  The shipped pool (2 processes, queue 64) may refuse
# part of a burst of 100 at once with 503; none of those may hold stock.
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$I/LAST-10/restock" '{"qty": 10}'
t_is "admin: 10 units of LAST-10" "$T_STATUS" 200
urls=()
for ((i = 0; i < 100; i++)); do
	urls+=(-o /dev/null "$I/reservations")
done
"$CURL" -s --parallel --parallel-immediate --parallel-max 100 \
    --max-time 30 -w '%{http_code}\n' \
    -H "Authorization: Bearer $T_SERVICE_TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"order_id": "burst", "lines": [{"sku": "LAST-10", "qty": 1}]}' \
    "${urls[@]}" >"$TMP/burst.codes"
count() { grep -c "^$1\$" "$TMP/burst.codes"; }
t_diag "burst: $(sort "$TMP/burst.codes" | uniq -c | tr -s ' \n' ' ')"
t_is "100 concurrent reservations: exactly 10 x 201" "$(count 201)" 10
t_is "the other 90: 409 (or 503 from the full queue), nothing else" \
    "$(( $(count 409) + $(count 503) ))" 90
t_http GET "$T_ADMIN_URL/status.json"
t_is "the burst did not open inventory's breaker (queue refusals are load \
shedding, not failures)" "$(t_json '[b["state"] for b in j["breakers"]
    if b["name"] == "inventory"]')" '["closed"]'

t_is "LAST-10 after the burst (GET, db)" \
    "$(stock_get LAST-10)/$(stock_db LAST-10)" "10 10 0/10 10 0"
t_is "db: 10 reservations held for LAST-10, one unit each" \
    "$(t_sql "SELECT CONCAT(COUNT(*), ' ', SUM(l.qty)) FROM reservation_lines l
    JOIN reservations r ON r.id = l.reservation_id
    WHERE l.sku = 'LAST-10' AND r.state = 'active'" inventory)" "10 10"

# === GDPR: export, then erase ============================================
T_TOKEN=$at_a t_http GET "$U/me/export"
t_is "A: export 200" "$T_STATUS" 200
t_is "export: no-store" "$(t_header Cache-Control)" no-store
cp "$TMP/resp.body" "$TMP/export-a.json"
t_is "export: the profile" \
    "$(t_json '[j["users"]["profile"]["id"], j["users"]["profile"]["name"], j["users"]["profile"]["phone"]]')" \
    "[\"$sub_a\",\"Annabel Q. Plaintextname\",\"+33 6 12 34 56 78\"]"
t_is "export: the addresses" \
    "$(t_json '[[a["id"], a["line1"], a["city"]] for a in j["users"]["addresses"]]')" \
    "[[$addr_a,\"12 Rue Secretline\",\"Lyon\"]]"
t_is "export: auth's part" \
    "$(t_json '[j["auth"]["id"], j["auth"]["username"], j["auth"]["roles"]]')" \
    "[\"$sub_a\",\"ann@example.com\",[\"customer\"]]"
t_is "export: sessions and last login" \
    "$(t_json '[j["auth"]["active_sessions"], isinstance(j["auth"]["last_login_at"], str), isinstance(j["auth"]["created_at"], str)]')" \
    "[1,true,true]"
t_is "export: sections users and auth included" \
    "$(t_json '[s["service"] for s in j["sections"] if s["included"]]')" \
    '["users","auth"]'
t_ok "export: no password hash" eval '! grep -qi -e scrypt -e hash "$TMP/export-a.json"'
t_ok "export: nothing of B" \
    eval '! grep -q -e Robert -e Hiddenstreet -e bob@ "$TMP/export-a.json"'

T_TOKEN=$at_a t_http DELETE "$U/me"
t_is "A: erase 202" "$T_STATUS $(t_json '[j["state"], j["identity_deleted"]]')" \
    '202 ["erased",true]'
gw_login ann@example.com 'ann-secret-1'
t_is "after erase: password grant fails" \
    "$T_STATUS $(t_json 'j["error"]')" "400 invalid_grant"
gw_refresh "$rt_a"
t_is "after erase: refresh fails" "$T_STATUS $(t_json 'j["error"]')" \
    "400 invalid_grant"
T_TOKEN=$at_a t_http GET "$U/me"
t_like "after erase: the old token reads nothing" "$T_STATUS" '^(401|404)$'
T_TOKEN=$at_a t_http GET "$U/me/export"
t_like "after erase: the export is gone" "$T_STATUS" '^(401|404)$'
T_TOKEN=$at_a t_http GET "$U/me/addresses/$addr_a"
t_like "after erase: the address is gone" "$T_STATUS" '^(401|404)$'
T_TOKEN=$T_ADMIN_TOKEN t_http GET "$U?limit=100"
t_is "after erase: the admin list holds B, not A" \
    "$T_STATUS $(t_json "sorted(u['id'] for u in j['items'])")" \
    "200 [\"$sub_b\"]"
T_TOKEN=$at_b t_http GET "$U/me"
t_is "B is untouched" "$T_STATUS $(t_json 'j["name"]')" \
    "200 Robert Otherperson"

uid_a=$(t_sql "SELECT id FROM users WHERE subject = '$sub_a'" users)
t_is "db: A is a tombstone" "$(t_sql "SELECT CONCAT(state, ' ',
    email IS NULL, name_enc IS NULL, phone_enc IS NULL) FROM users
    WHERE id = $uid_a" users)" "erased 111"
t_is "db: A's wrapped data key is gone" "$(t_sql "SELECT COUNT(*)
    FROM data_keys WHERE user_id = $uid_a" users)" 0
t_is "db: A's addresses are gone" "$(t_sql "SELECT COUNT(*)
    FROM addresses WHERE user_id = $uid_a" users)" 0
t_is "db: no stored answer of A's left" "$(t_sql "SELECT COUNT(*)
    FROM idempotency_keys WHERE scope = '$sub_a'
    OR idem_key = 'reg-ann-1'" users)" 0
t_is "db: A's identity is gone" "$(t_sql "SELECT COUNT(*)
    FROM identities WHERE id = $sub_a" auth)" 0
# Every value of every table of the users database, as hex: none of A's
# personal values may be in it, in clear or in hex.
dump=$TMP/users-dump.txt
"$T_MARIADB" --no-defaults --socket="$T_DBSOCK" -uroot -N -B -r users -e "
    SELECT HEX(CONCAT_WS('|', id, subject, email, name_enc, phone_enc))
    FROM users;
    SELECT HEX(CONCAT_WS('|', id, line1_enc, line2_enc, city_enc,
    postal_code_enc)) FROM addresses;
    SELECT HEX(wrapped) FROM data_keys;
    SELECT HEX(data) FROM outbox;
    SELECT HEX(CONCAT_WS('|', scope, idem_key, headers, body))
    FROM idempotency_keys" >"$dump" 2>>"$TMP/db/client.log"
t_ok "db: the dump has rows" test -s "$dump"
leak=
for v in 'Plaintextname' '+33 6 12 34 56 78' 'Secretline' 'Lyon' \
    ann@example.com; do
	grep -qi "$(hex "$v")" "$dump" && leak="$leak [$v]"
done
t_is "db: none of A's personal values, in any table" "$leak" ""
leak=
for v in 'Robert Otherperson' 'Hiddenstreet'; do
	grep -qi "$(hex "$v")" "$dump" && leak="$leak [$v]"
done
t_is "db: B's values are sealed too" "$leak" ""
gw_register ann@example.com 'ann-secret-2' 'Ann Returns'
t_is "the email can register again" "$T_STATUS" 201

t_done
