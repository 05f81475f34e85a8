#!/bin/bash
# agora-users GDPR: the export holds everything users keeps and auth's
# part (and names the services that join later); erasure shreds the data key, deletes the
# identity at auth (no more logins), emits user.erased, and the export is
# gone.  When auth is down at erasure, the identity deletion is retried.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/users-lib.sh"

export AGORA_USERS_SWEEP_SECS=1
users_start

users_register alice@example.com 'alicepassword' 'Alice Liddell'
ALICE=$SUB
UID_A=$(t_sql "SELECT id FROM users WHERE subject = '$ALICE'" users)
as_user "$ALICE"
users PATCH /users/me '{"phone":"+44 20 7946 0000"}'
users POST /users/me/addresses '{"line1":"221B Baker Street","city":"London","postal_code":"NW1 6XE","country":"GB"}'
t_is "setup: address added" "$T_STATUS" 201
users_login alice@example.com alicepassword
t_like "setup: alice can log in" "$AT" '^ey'

# --- export -------------------------------------------------------------------------
users GET /users/me/export
t_is "export: 200" "$T_STATUS" 200
t_is "export: not cached" "$(t_header Cache-Control)" no-store
t_like "export: a download" "$(t_header Content-Disposition)" "^attachment; filename=\"agora-export-$ALICE.json\"$"
t_is "export: format and id" "$(t_json '[j["format"], j["id"]]')" "[\"agora-export/1\",\"$ALICE\"]"
t_is "export: the profile, decrypted" \
    "$(t_json '[j["users"]["profile"][k] for k in ("email", "name", "phone")]')" \
    '["alice@example.com","Alice Liddell","+44 20 7946 0000"]'
t_is "export: the addresses, decrypted" \
    "$(t_json '[a["line1"] for a in j["users"]["addresses"]]')" '["221B Baker Street"]'
t_is "export: users and auth are the sections included" \
    "$(t_json '[s["service"] for s in j["sections"] if s["included"]]')" '["users","auth"]'
t_is "export: the other services are listed as joining later" \
    "$(t_json 'sorted(s["service"] for s in j["sections"] if not s["included"])')" \
    '["catalog","inventory","notify","orders","payments","shipping"]'
t_is "export: auth's part, the identity" \
    "$(t_json '[j["auth"][k] for k in ("id", "username", "roles", "failed_logins", "active_sessions")]')" \
    "[\"$ALICE\",\"alice@example.com\",[\"customer\"],0,1]"
t_is "export: auth's part, the session" \
    "$(t_json '[s["client_id"] for s in j["auth"]["sessions"]]')" '["web"]'
t_like "export: auth's part, last login" "$(t_json 'j["auth"]["last_login_at"]')" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
t_ok "export: no hash, no token" eval '! t_body | grep -qi -e scrypt -e hash -e token'
as_user "$ALICE"
FCGI_USER='' FCGI_ROLES='' users GET /users/me/export
t_problem "export: anonymous 401" 401

# --- erase ---------------------------------------------------------------------------
as_user "$ALICE"
users DELETE /users/me
t_is "erase: 202" "$T_STATUS" 202
t_is "erase: identity deleted at auth" "$(t_json '[j["state"], j["identity_deleted"]]')" \
    '["erased",true]'
t_is "erase: the data key is gone" \
    "$(t_sql "SELECT COUNT(*) FROM data_keys WHERE user_id = $UID_A" users)" 0
t_is "erase: addresses gone" \
    "$(t_sql "SELECT COUNT(*) FROM addresses WHERE user_id = $UID_A" users)" 0
t_is "erase: a tombstone without personal data" \
    "$(t_sql "SELECT CONCAT_WS(',', state, email IS NULL, name_enc IS NULL,
	phone_enc IS NULL, erased_at IS NOT NULL) FROM users WHERE id = $UID_A" users)" \
    'erased,1,1,1,1'
t_is "erase: user.erased emitted" \
    "$(t_sql "SELECT data FROM outbox WHERE type = 'user.erased'
	AND aggregate_id = '$ALICE'" users)" "{\"id\":\"$ALICE\"}"
t_is "erase: user.registered keeps no email" \
    "$(t_sql "SELECT data FROM outbox WHERE type = 'user.registered'
	AND aggregate_id = '$ALICE'" users)" "{\"id\": \"$ALICE\"}"
t_is "erase: the identity is gone from auth" \
    "$(t_sql "SELECT COUNT(*) FROM identities WHERE id = $ALICE" auth)" 0
users_login alice@example.com alicepassword
t_is "erase: login fails" "$T_STATUS:$(t_json 'j["error"]')" 400:invalid_grant
as_user "$ALICE"
users GET /users/me/export
t_problem "erase: export is 404" 404
users GET /users/me
t_problem "erase: profile is 404" 404
users DELETE /users/me
t_problem "erase: again is 404" 404
users POST /users/me/addresses '{"line1":"x","city":"y","postal_code":"z","country":"GB"}'
t_problem "erase: no new address" 404

# The email is free again; the new account is a new subject.
users_register alice@example.com 'alicepassword2' 'Alice Again'
t_is "re-register: 201" "$T_STATUS" 201
t_like "re-register: a new subject" "$SUB" "^[0-9]+$"
t_ok "re-register: not the erased subject" test "$SUB" != "$ALICE"

# --- erase while auth is down ---------------------------------------------------------
users_register dave@example.com 'davepassword' 'Dave'
DAVE=$SUB
UID_D=$(t_sql "SELECT id FROM users WHERE subject = '$DAVE'" users)
users_auth_stop
as_user "$DAVE"
users GET /users/me/export
t_problem "auth down: no export without auth's part" 503
users DELETE /users/me
t_is "auth down: erase still 202" "$T_STATUS" 202
t_is "auth down: identity deletion pending" "$(t_json 'j["identity_deleted"]')" false
t_is "auth down: the data key is gone anyway" \
    "$(t_sql "SELECT COUNT(*) FROM data_keys WHERE user_id = $UID_D" users)" 0
t_is "auth down: recorded for retry" \
    "$(t_sql "SELECT identity_deleted FROM users WHERE id = $UID_D" users)" 0
users_auth_start
# Any registration (or admin list) runs the sweep, at most once a
# second here (AGORA_USERS_SWEEP_SECS): ask until it has run, 10 s at
# most, rather than sleep a guess.
as_user 1 admin
for _ in $(seq 40); do
	users GET /users
	deleted=$(t_sql "SELECT identity_deleted FROM users WHERE id = $UID_D" users)
	[ "$deleted" = 1 ] && break
	sleep 0.25
done
t_is "sweep: identity deleted once auth is back" "$deleted" 1
users_login dave@example.com davepassword
t_is "sweep: dave cannot log in" "$T_STATUS:$(t_json 'j["error"]')" 400:invalid_grant

t_done
