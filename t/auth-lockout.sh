#!/bin/bash
# Lockout: after AGORA_AUTH_LOCK_THRESHOLD failed logins an identity is
# locked, even against the right password; each AGORA_AUTH_LOCK_DECAY
# seconds forgive one failure, and a good login clears the count.
#
# Nothing here sleeps for a fixed time and then judges: the service
# stamps each failure with its clock (failed_at, whole seconds of
# time(NULL)), and every step that depends on time is judged against
# those stamps.  Where a saturated machine made a step too slow for the
# decay period (a failure decayed before the next one came), the step is
# done again rather than judged.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib-fcgi.sh"
. "$top_srcdir/t/auth-lib.sh"

t_plan 17

D=2		# the decay period, seconds
TRIES=5		# a step too slow for D is done again, this many times at most
export AGORA_AUTH_LOCK_THRESHOLD=3 AGORA_AUTH_LOCK_DECAY=$D
auth_start 2

FCGI_USER=service FCGI_ROLES=service t_fcgi POST /auth/identities \
    '{"username": "carol", "password": "carol-secret"}'
t_is "setup: identity" "$T_STATUS" 201

failures() { t_sql "SELECT failures FROM identities WHERE username='carol'" auth; }
failed_at() { t_sql "SELECT failed_at FROM identities WHERE username='carol'" auth; }
forgive() { t_sql "UPDATE identities SET failures = 0, failed_at = 0
    WHERE username = 'carol'" auth; }
# again TRY WHAT: a step was too slow to judge; forgive and do it again,
# unless that was the last try (then judge it anyway).
again()
{
	t_diag "try $1: $2: too slow for a ${D} s decay"
	[ "$1" -lt "$TRIES" ] || return 1
	forgive
}
# The service's time(NULL) is a coarse clock, a tick behind the precise
# one at most: right now it reads NOW_HI or less, and NOW_LO or more.
clock()
{
	local us=${EPOCHREALTIME//[!0-9]/}
	NOW_HI=$((us / 1000000))
	NOW_LO=$(((us - 50000) / 1000000))
}

# --- three failures, then the right password: locked.  It counts only
# when the failures came less than D apart and the last try less than D
# after them, by the service's clock; on a slower run, forgive and again.
for ((try = 1; ; try++)); do
	for i in 1 2 3; do
		auth_login carol "wrong-$i"
		cp "$TMP/resp.body" "$TMP/fail$i.json"
		at[i]=$(failed_at)
	done
	auth_login carol carol-secret
	clock
	cp "$TMP/resp.body" "$TMP/locked.json"
	lock_status=$T_STATUS lock_at=$AT
	if [ $((at[2] - at[1])) -lt $D ] && [ $((at[3] - at[2])) -lt $D ] &&
	    [ $((NOW_HI - at[3])) -lt $D ]; then
		break
	fi
	again "$try" "failures at ${at[*]}, the last try by $NOW_HI" || break
done
for i in 1 2 3; do
	t_is "failure $i: invalid_grant" \
	    "$(t_json 'j["error"]' "$TMP/fail$i.json")" invalid_grant
done
t_is "three failures counted" "$(failures)" 3
t_is "locked: the right password is refused" "$lock_status" 400
t_like "locked: says so" \
    "$(t_json 'j["error_description"]' "$TMP/locked.json")" \
    'temporarily locked'
t_is "locked: no token" "$lock_at" ""
t_is "attempts while locked do not count" "$(failures)" 3
# The admin account is not affected by carol's lock.
auth_login admin "$AGORA_ADMIN_PASSWORD"
t_is "other accounts unaffected" "$T_STATUS" 200

# --- one failure decays D s after the last: 3 -> 2, below the threshold.
# Poll with the right password (refused attempts do not count) until it
# works, for D + 30 s at most.  No try may work before at[3] + D, and
# none that began after it may be refused.
late=0
while :; do
	clock
	start=$NOW_LO
	auth_login carol carol-secret
	clock
	[ "$T_STATUS" = 200 ] && break
	if [ $((start - at[3])) -ge $D ]; then
		late=$((late + 1))
		t_diag "refused though begun $((start - at[3])) s after" \
		    "the last failure"
	fi
	[ $((NOW_HI - at[3])) -gt $((D + 30)) ] && break
	sleep 0.2
done
t_is "after decay: the right password works" "$T_STATUS" 200
t_ok "the lock held at least $D s ($((NOW_HI - at[3])) s)" \
    test $((NOW_HI - at[3])) -ge $D
t_is "the lock held no longer than $D s" "$late" 0
t_is "a good login clears the count" "$(failures)" 0

# --- the count decays between failures too: two less than D apart, then
# one 2 D after the second -> 1.
for ((try = 1; ; try++)); do
	auth_login carol wrong-a
	at[1]=$(failed_at)
	auth_login carol wrong-b
	at[2]=$(failed_at)
	[ $((at[2] - at[1])) -lt $D ] && break
	again "$try" "failures at ${at[1]} and ${at[2]}" || break
done
t_is "two failures" "$(failures)" 2
clock
while [ $((NOW_LO - at[2])) -lt $((2 * D)) ]; do
	sleep 0.1
	clock
done
auth_login carol wrong-c
t_is "decayed, then one more" "$(failures)" 1
auth_login carol carol-secret
t_is "not locked" "$T_STATUS" 200

t_done
