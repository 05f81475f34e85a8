#!/bin/bash
# agora-users behind agora-gateway, with agora-auth, as the shipped
# etc/gateway.conf and rules/agora.lua run them: the gateway spawns both
# (and the auth-internal process users calls), and a registration made
# through /api/users logs in through /api/auth/token.  The identity
# params cannot be forged with client headers, so /users/me without a
# verified token is 401.  (t/platform-flow.sh walks the whole platform.)
. "$top_srcdir/t/lib.sh"

t_mariadb_start
t_auth_bootstrap
t_gateway_start
U=$T_URL/api/users

t_http POST "$U" '{"email":"gw@example.com","password":"gatewaypass","name":"Gina Way"}'
t_is "register through the gateway: 201" "$T_STATUS" 201
t_is "register: Location" "$(t_header Location)" /api/users/me
SUB=$(t_json 'j["id"]')
t_like "register: an id" "$SUB" '^[1-9][0-9]*$'
t_like "register: X-Request-Id" "$(t_header X-Request-Id)" '.'

t_http POST "$T_URL/api/auth/token" \
    'grant_type=password&client_id=web&username=gw%40example.com&password=gatewaypass' \
    -H 'Content-Type: application/x-www-form-urlencoded'
t_is "login through the gateway: 200" "$T_STATUS" 200
t_like "login: an access token" "$(t_json 'j["access_token"]')" '^ey'

t_http POST "$U" '{"email":"gw@example.com","password":"gatewaypass","name":"Gina"}'
t_problem "register again: 409" 409
t_http POST "$U" '{"email":"nope"}'
t_problem "bad input through the gateway: 422" 422

t_http GET "$U/me"
t_problem "me without identity: 401" 401
t_http GET "$U/me" -- -H "Remote-User: $SUB" -H 'Auth-Roles: customer' \
    -H 'Auth-Type: Bearer'
t_problem "identity headers from the client are not identity" 401
t_http DELETE "$U/me" -- -H "Remote-User: $SUB"
t_problem "erase with forged headers: 401" 401
t_is "nothing erased" \
    "$(t_sql "SELECT state FROM users WHERE subject = '$SUB'" users)" active

t_done
