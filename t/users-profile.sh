#!/bin/bash
# agora-users profiles and addresses: own data only (another user's
# address is a 404), ETag/If-Match, encryption at rest (the database
# never holds the plaintext; a ciphertext moved to another user does not
# open), the admin list with cursor paging, Idempotency-Key on POST.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/users-lib.sh"

users_start

users_register alice@example.com 'alicepassword' 'Alice Liddell'
ALICE=$SUB
users_register bob@example.com 'bobpassword' 'Bob Builder'
BOB=$SUB
users_register carol@example.com 'carolpassword' 'Carol Danvers'
CAROL=$SUB
t_like "three registered" "$ALICE:$BOB:$CAROL" '^[0-9]+:[0-9]+:[0-9]+$'

# --- profile --------------------------------------------------------------------
FCGI_USER='' FCGI_ROLES='' users GET /users/me
t_problem "anonymous: 401" 401
as_user "$ALICE"
users GET /users/me
t_is "me: 200" "$T_STATUS" 200
t_is "me: own profile" "$(t_json '[j["id"], j["email"], j["name"], j["phone"]]')" \
    "[\"$ALICE\",\"alice@example.com\",\"Alice Liddell\",null]"
t_is "me: ETag" "$(t_header ETag)" '"1"'
FCGI_EXTRA='HTTP_IF_NONE_MATCH="1"' users GET /users/me
t_is "me: If-None-Match 304" "$T_STATUS" 304

users PATCH /users/me '{"name":"Alice P. Liddell","phone":"+44 20 7946 0000"}'
t_is "patch: 200" "$T_STATUS" 200
t_is "patch: new values" "$(t_json '[j["name"], j["phone"], j["version"]]')" \
    '["Alice P. Liddell","+44 20 7946 0000",2]'
FCGI_EXTRA='HTTP_IF_MATCH="1"' users PATCH /users/me '{"name":"Stale"}'
t_problem "patch: stale If-Match" 412
FCGI_EXTRA='HTTP_IF_MATCH="2"' users PATCH /users/me '{"phone":null}'
t_is "patch: fresh If-Match, phone cleared" "$T_STATUS:$(t_json 'j["phone"]')" 200:null
users PATCH /users/me '{"name":"","phone":"letters","email":"x@y.z","admin":1}'
t_problem "patch: bad input" 422
t_is "patch: every field listed" "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["admin","email","name","phone"]'
users PATCH /users/me '{"id":"999","version":7,"created_at":"x"}'
t_is "patch: read-only members echoed back are ignored" \
    "$T_STATUS:$(t_json 'j["id"]')" "200:$ALICE"
t_is "event: user.updated names fields, not values" \
    "$(t_sql "SELECT COUNT(*) FROM outbox WHERE type = 'user.updated'
	AND data NOT LIKE '%Liddell%' AND data NOT LIKE '%7946%'" users)" 2
users PATCH /users/me '{"email":"ALICE@example.com"}'
t_is "patch: the same email echoed back is fine" "$T_STATUS" 200

# --- encryption at rest ---------------------------------------------------------
users PATCH /users/me '{"phone":"+44 20 7946 0000"}'
ROW=$(t_sql "SELECT CONCAT_WS(' ', HEX(name_enc), HEX(phone_enc), HEX(email))
    FROM users WHERE subject = '$ALICE'" users)
t_is "at rest: HEX(name_enc) does not hold the name" \
    "$(grep -c "$(hex Liddell)" <<<"$ROW")" 0
t_is "at rest: HEX(phone_enc) does not hold the phone" \
    "$(grep -c "$(hex 7946)" <<<"$ROW")" 0
t_like "at rest: the email is kept in clear (it is the login)" "$ROW" "$(hex alice@example.com)"
DUMP=$(t_sql "SELECT * FROM users" users; t_sql "SELECT * FROM data_keys" users;
    t_sql "SELECT * FROM outbox" users)
t_is "at rest: no name or phone anywhere in users, keys, outbox" \
    "$(grep -c -e Liddell -e Builder -e Danvers -e 7946 <<<"$DUMP")" 0
t_is "at rest: two fresh nonces give two ciphertexts" \
    "$(t_sql "SELECT name_enc = (SELECT name_enc FROM users WHERE subject = '$BOB')
	FROM users WHERE subject = '$ALICE'" users)" 0

# --- addresses ------------------------------------------------------------------
ADDR='{"line1":"221B Baker Street","line2":"Flat 2","city":"London","postal_code":"NW1 6XE","country":"GB"}'
FCGI_KEY=addr-1 users POST /users/me/addresses "$ADDR"
t_is "address: 201" "$T_STATUS" 201
AID=$(t_json 'j["id"]')
t_is "address: Location" "$(t_header Location)" "/api/users/me/addresses/$AID"
t_is "address: body" "$(t_json '[j["line1"], j["city"], j["country"]]')" \
    '["221B Baker Street","London","GB"]'
FCGI_KEY=addr-1 users POST /users/me/addresses "$ADDR"
t_is "address: idempotent replay" "$T_STATUS:$(t_header Idempotent-Replayed):$(t_json 'j["id"]')" \
    "201:true:$AID"
t_is "address: one row" "$(t_sql "SELECT COUNT(*) FROM addresses" users)" 1
users POST /users/me/addresses '{"line1":"Rue de Rivoli 1","city":"Paris","postal_code":"75001","country":"FR"}'
AID2=$(t_json 'j["id"]')
t_is "address: line2 optional" "$T_STATUS:$(t_json 'j["line2"]')" 201:null
users GET /users/me/addresses
t_is "addresses: list" "$(t_json '[a["id"] for a in j["items"]]'):$(t_json 'j["next_cursor"]')" \
    "[$AID,$AID2]:null"
FCGI_QUERY=limit=1 users GET /users/me/addresses
CUR=$(t_json 'j["next_cursor"]')
t_is "addresses: limit 1" "$(t_json 'len(j["items"])')" 1
FCGI_QUERY="limit=1&cursor=$CUR" users GET /users/me/addresses
t_is "addresses: next page" "$(t_json '[a["id"] for a in j["items"]]')" "[$AID2]"
users GET "/users/me/addresses/$AID"
t_is "address: get" "$T_STATUS:$(t_json 'j["postal_code"]')" "200:NW1 6XE"
ROW=$(t_sql "SELECT CONCAT_WS(' ', HEX(line1_enc), HEX(line2_enc), HEX(city_enc),
    HEX(postal_code_enc)) FROM addresses WHERE id = $AID" users)
t_is "address at rest: no plaintext in HEX()" \
    "$(grep -c -e "$(hex Baker)" -e "$(hex London)" -e "$(hex 'NW1 6XE')" <<<"$ROW")" 0

users POST /users/me/addresses '{"line1":5,"city":"","country":"france","zip":"x"}'
t_problem "address: bad input" 422
t_is "address: every field listed" "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["city","country","line1","postal_code","zip"]'

# --- another customer's data: 404, never 403 ---------------------------------------
as_user "$BOB"
users GET "/users/me/addresses/$AID"
t_problem "bob reads alice's address" 404
users DELETE "/users/me/addresses/$AID"
t_problem "bob deletes alice's address" 404
users GET /users/me/addresses
t_is "bob's list is his own (empty)" "$(t_json 'j["items"]')" '[]'
FCGI_QUERY="cursor=$CUR" users GET /users/me/addresses
t_problem "bob cannot use alice's cursor" 400
users GET /users/me
t_is "bob sees bob" "$(t_json 'j["name"]')" "Bob Builder"
as_user "$ALICE"
users GET "/users/me/addresses/99999"
t_problem "unknown address" 404
users GET "/users/me/addresses/abc"
t_problem "non-numeric address id" 404
users DELETE "/users/me/addresses/$AID2"
t_is "address: delete 204" "$T_STATUS" 204
users DELETE "/users/me/addresses/$AID2"
t_problem "address: delete again" 404
as_user 424242
users GET /users/me
t_problem "a subject without a profile" 404

# --- ciphertext bound to its user and field ------------------------------------------
t_sql "UPDATE users SET name_enc = (SELECT n FROM (SELECT name_enc AS n FROM users
    WHERE subject = '$BOB') x) WHERE subject = '$CAROL'" users
as_user "$CAROL"
users GET /users/me
t_problem "bob's ciphertext in carol's row does not open" 500
N_ENC=$(t_sql "SELECT name_enc FROM users WHERE subject = '$ALICE'" users)
P_ENC=$(t_sql "SELECT phone_enc FROM users WHERE subject = '$ALICE'" users)
t_sql "UPDATE users SET name_enc = '$P_ENC', phone_enc = '$N_ENC'
    WHERE subject = '$ALICE'" users
as_user "$ALICE"
users GET /users/me
t_problem "name and phone swapped do not open" 500
t_sql "UPDATE users SET name_enc = '$N_ENC', phone_enc = '$P_ENC'
    WHERE subject = '$ALICE'" users
users GET /users/me
t_is "swapped back: readable again" "$T_STATUS:$(t_json 'j["name"]')" "200:Alice P. Liddell"

# --- admin list ----------------------------------------------------------------------
as_user "$ALICE" customer
users GET /users
t_problem "list: customer 403" 403
as_user 1 admin
FCGI_QUERY=limit=1 users GET /users
t_is "list: admin, one per page" "$T_STATUS:$(t_json 'len(j["items"])')" 200:1
t_is "list: first is alice" "$(t_json 'j["items"][0]["email"]')" alice@example.com
CUR=$(t_json 'j["next_cursor"]')
FCGI_QUERY="limit=5&cursor=$CUR" users GET /users
t_is "list: the rest (carol's unreadable row left out)" \
    "$(t_json '[i["email"] for i in j["items"]]'):$(t_json 'j["next_cursor"]')" \
    '["bob@example.com"]:null'
# One character changed in the middle (the key it protects, or the MAC).
MID=${CUR:5:1}
if [ "$MID" = A ]; then NEW=B; else NEW=A; fi
FCGI_QUERY="cursor=${CUR:0:5}$NEW${CUR:6}" users GET /users
t_problem "list: forged cursor" 400
FCGI_QUERY=limit=1000 users GET /users
t_problem "list: limit too large" 400

t_done
