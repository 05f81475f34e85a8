#!/bin/bash
# agora-users registration against a real agora-auth: the identity and
# the profile are created together or not at all; bad input is refused
# with every field named; SQL metacharacters are kept verbatim.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/users-lib.sh"

users_start

# --- register, then log in at auth -------------------------------------------
users_register alice@example.com 'correct horse' 'Alice Liddell'
t_is "register: 201" "$T_STATUS" 201
t_is "register: Location" "$(t_header Location)" /api/users/me
t_like "register: id is auth's identity id" "$SUB" '^[1-9][0-9]*$'
t_is "register: email" "$(t_json 'j["email"]')" alice@example.com
t_is "register: answer holds no password" "$(t_body | grep -c 'correct')" 0
ALICE=$SUB

users_login alice@example.com 'correct%20horse'
t_like "login: password grant succeeds" "$AT" '^ey'
t_is "login: sub is the registered id" "$(jwt_claim "$AT" 'c["sub"]')" "$ALICE"

t_is "db: the profile is active under that subject" \
    "$(t_sql "SELECT state FROM users WHERE subject = '$ALICE'" users)" active
t_is "db: users never stores the password" \
    "$(t_sql "SELECT COUNT(*) FROM users u JOIN data_keys k ON k.user_id = u.id
	WHERE CONCAT_WS(' ', u.email, u.name_enc, u.phone_enc, k.wrapped)
	LIKE '%correct%'" users)" 0
t_is "event: one user.registered" \
    "$(t_sql "SELECT COUNT(*) FROM outbox WHERE type = 'user.registered'
	AND aggregate_id = '$ALICE'" users)" 1
EV=$(t_sql "SELECT data FROM outbox WHERE type = 'user.registered'
    AND aggregate_id = '$ALICE'" users)
echo "$EV" >"$TMP/event.json"
t_is "event: id and email only" "$(t_json 'sorted(j.keys())' "$TMP/event.json")" \
    '["email","id"]'
t_is "event: no password, no name" "$(echo "$EV" | grep -c -e correct -e Liddell)" 0

# --- duplicates ----------------------------------------------------------------
users_register alice@example.com 'another pass' 'Alice Again'
t_problem "duplicate email" 409
users_register ALICE@Example.COM 'another pass' 'Alice Again'
t_problem "duplicate email, other case" 409
t_is "duplicate: still one profile" \
    "$(t_sql "SELECT COUNT(*) FROM users WHERE email = 'alice@example.com'" users)" 1

# --- Idempotency-Key -------------------------------------------------------------
BOB='{"email":"bob@example.com","password":"bobpassword","name":"Bob"}'
FCGI_KEY=reg-1 users POST /users "$BOB"
t_is "idempotent: first 201" "$T_STATUS" 201
BOBID=$(t_json 'j["id"]')
FCGI_KEY=reg-1 users POST /users "$BOB"
t_is "idempotent: retry replays 201" "$T_STATUS" 201
t_is "idempotent: replay header" "$(t_header Idempotent-Replayed)" true
t_is "idempotent: same id" "$(t_json 'j["id"]')" "$BOBID"
FCGI_KEY=reg-1 users POST /users '{"email":"bob2@example.com","password":"bobpassword","name":"Bob"}'
t_problem "idempotent: other body" 422
t_is "idempotent: one bob" \
    "$(t_sql "SELECT COUNT(*) FROM users WHERE email LIKE 'bob%'" users)" 1

# --- bad input ------------------------------------------------------------------------
users POST /users '{}'
t_problem "empty object" 422
t_is "empty object: every field listed" \
    "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["email","name","password"]'
users POST /users '{"email":1,"password":true,"name":[],"phone":{},"admin":true}'
t_problem "wrong types" 422
t_is "wrong types: every field listed" \
    "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["admin","email","name","password","phone"]'
LONG=$(head -c 300 /dev/zero | tr '\0' x)
users POST /users "{\"email\":\"no-at-sign\",\"password\":\"short\",\"name\":\"$LONG\",\"phone\":\"call me\"}"
t_problem "bad values" 422
t_is "bad values: every field listed" \
    "$(t_json 'sorted(e["field"] for e in j["errors"])')" \
    '["email","name","password","phone"]'
users POST /users '{"email":"a@b.c","password":"x'
t_problem "malformed JSON" 400
users POST /users '["a@b.c"]'
t_problem "not an object" 400
FCGI_CTYPE=text/plain users POST /users '{}'
t_problem "not JSON" 415
printf '{"email":"e\xff@example.com","password":"password1","name":"x"}' >"$TMP/bad-utf8"
users POST /users "@$TMP/bad-utf8"
t_like "invalid UTF-8: 4xx" "$T_STATUS" '^4[0-9][0-9]$'
users POST /users '{"email":"ctl@example.com","password":"pass\u0001word","name":"a\u0007b"}'
t_problem "control characters" 422
t_is "control characters: fields" \
    "$(t_json 'sorted(e["field"] for e in j["errors"])')" '["name","password"]'
t_is "bad input left no row" \
    "$(t_sql "SELECT COUNT(*) FROM users" users)" 2

# --- SQL metacharacters, verbatim ---------------------------------------------------
META="Rob'); DROP TABLE users;-- \"x\" \\ %_ \`"
users_register "o'brien+x@example.com" 'pass;word--' "$META"
t_is "meta: 201" "$T_STATUS" 201
META_ID=$SUB
t_is "meta: email verbatim" "$(t_json 'j["email"]')" "o'brien+x@example.com"
FCGI_USER=$META_ID FCGI_ROLES=customer users GET /users/me
t_is "meta: name read back verbatim" "$(t_json 'j["name"]')" "$META"
t_is "meta: tables intact" \
    "$(t_sql "SELECT COUNT(*) FROM users" users)" 3
users_login "o'brien%2Bx@example.com" 'pass%3Bword--'
t_like "meta: login works" "$AT" '^ey'

# --- activation fails after auth said yes: the identity is deleted again -------
# (state NOT NULL: setting it to NULL fails the UPDATE under strict mode.)
t_sql "CREATE TRIGGER t_fail_activation BEFORE UPDATE ON users FOR EACH ROW
    SET NEW.state = IF(NEW.state = 'active'
	AND NEW.email = 'frank@example.com', NULL, NEW.state)" users ||
    t_bail "cannot create the trigger"
users_register frank@example.com 'frankpassword' 'Frank'
t_problem "activation fails: 500" 500
t_is "activation fails: no profile left" \
    "$(t_sql "SELECT COUNT(*) FROM users WHERE email = 'frank@example.com'" users)" 0
t_is "activation fails: the identity was compensated" \
    "$(t_sql "SELECT COUNT(*) FROM identities WHERE username = 'frank@example.com'" auth)" 0
t_is "activation fails: no event" \
    "$(t_sql "SELECT COUNT(*) FROM outbox WHERE data LIKE '%frank%'" users)" 0
users_login frank@example.com frankpassword
t_is "activation fails: cannot log in" "$T_STATUS:$(t_json 'j["error"]')" 400:invalid_grant
t_sql "DROP TRIGGER t_fail_activation" users

# --- auth down: 503, and nothing left behind ----------------------------------------
users_auth_stop
users_register carol@example.com 'carolpassword' 'Carol'
t_problem "auth down: 503" 503
t_like "auth down: Retry-After" "$(t_header Retry-After)" '^[0-9]+$'
t_is "auth down: no profile row" \
    "$(t_sql "SELECT COUNT(*) FROM users WHERE email = 'carol@example.com'" users)" 0
t_is "auth down: no pending row, no key" \
    "$(t_sql "SELECT (SELECT COUNT(*) FROM users WHERE state = 'pending')
	+ (SELECT COUNT(*) FROM data_keys) - (SELECT COUNT(*) FROM users)" users)" 0
t_is "auth down: no event" \
    "$(t_sql "SELECT COUNT(*) FROM outbox WHERE data LIKE '%carol%'" users)" 0

# Back up: the same registration now works.
users_auth_start
users_register carol@example.com 'carolpassword' 'Carol'
t_is "auth back: 201" "$T_STATUS" 201

t_done
