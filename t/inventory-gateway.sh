#!/bin/bash
# agora-inventory behind agora-gateway: stock levels through /api, and a
# client cannot forge the identity params with headers of its own (the
# gateway passes Remote-User as HTTP_REMOTE_USER, never REMOTE_USER), so
# reservations through the gateway without a verified token get 401.
# The shipped config does not route /api/inventory yet, so the test
# writes its own config and rules.
. "$top_srcdir/t/lib.sh"

t_mariadb_start
t_sql "INSERT INTO stock (sku, on_hand, reserved, updated_at)
    VALUES ('MUG-001', 12, 2, UTC_TIMESTAMP(6))" inventory ||
    t_bail "seeding stock failed"

cat >"$TMP/rules.lua" <<'EOF'
route { prefix = "/api/inventory", service = "inventory", strip = "/api" }
EOF
cat >"$TMP/gateway.conf" <<EOF
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "$TMP/rules.lua"
service inventory {
	socket "\${rundir}/inventory.sock"
	program "\${sbindir}/agora-inventory"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
	processes 2
}
EOF
t_gateway_start "$TMP/gateway.conf"
I=$T_URL/api/inventory

t_http GET "$I/MUG-001"
t_is "stock through the gateway" \
    "$T_STATUS $(t_json '[j["sku"], j["on_hand"], j["reserved"], j["available"]]')" \
    '200 ["MUG-001",12,2,10]'
t_like "ETag" "$(t_header ETag)" '^"[0-9]+"$'
t_http GET "$I/NOPE"
t_problem "unknown sku through the gateway" 404

body='{"lines": [{"sku": "MUG-001", "qty": 1}]}'
t_http POST "$I/reservations" "$body"
t_problem "reserve without identity" 401
t_http POST "$I/reservations" "$body" -H 'Remote-User: mallory' \
    -H 'Auth-Roles: admin service' -H 'Auth-Type: Bearer'
t_problem "identity headers from the client are not identity" 401
t_http POST "$I/MUG-001/restock" '{"qty": 100}' -H 'Remote-User: mallory' \
    -H 'Auth-Roles: admin'
t_problem "restock with forged headers" 401
t_http GET "$I/MUG-001"
t_is "nothing changed" "$(t_json '[j["on_hand"], j["reserved"]]')" '[12,2]'

t_done
