#!/bin/bash
# Lockout: after AGORA_AUTH_LOCK_THRESHOLD failed logins an identity is
# locked, even against the right password; each AGORA_AUTH_LOCK_DECAY
# seconds forgive one failure, and a good login clears the count.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/auth-lib.sh"

t_plan 15

export AGORA_AUTH_LOCK_THRESHOLD=3 AGORA_AUTH_LOCK_DECAY=2
auth_start 2

FCGI_USER=service FCGI_ROLES=service t_fcgi POST /auth/identities \
    '{"username": "carol", "password": "carol-secret"}'
t_is "setup: identity" "$T_STATUS" 201

failures() { t_sql "SELECT failures FROM identities WHERE username='carol'" auth; }

for i in 1 2 3; do
	auth_login carol "wrong-$i"
	t_is "failure $i: invalid_grant" "$(t_json 'j["error"]')" invalid_grant
done
t_is "three failures counted" "$(failures)" 3
auth_login carol carol-secret
t_is "locked: the right password is refused" "$T_STATUS" 400
t_like "locked: says so" "$(t_json 'j["error_description"]')" 'temporarily locked'
t_is "locked: no token" "$AT" ""
t_is "attempts while locked do not count" "$(failures)" 3
# The admin account is not affected by carol's lock.
auth_login admin "$AGORA_ADMIN_PASSWORD"
t_is "other accounts unaffected" "$T_STATUS" 200

# One failure decays after 2 s: 3 -> 2, below the threshold.
sleep 2.2
auth_login carol carol-secret
t_is "after decay: the right password works" "$T_STATUS" 200
t_is "a good login clears the count" "$(failures)" 0

# The count decays between failures too: two now, two after 4 s -> 1.
auth_login carol wrong-a
auth_login carol wrong-b
t_is "two failures" "$(failures)" 2
sleep 4.2
auth_login carol wrong-c
t_is "decayed, then one more" "$(failures)" 1
auth_login carol carol-secret
t_is "not locked" "$T_STATUS" 200

t_done
