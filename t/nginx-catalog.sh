#!/bin/bash
# agora-catalog behind the real nginx, without the gateway: the shipped
# etc/examples/nginx.conf with only its socket path and listen port
# changed, the service under spawn-fcgi.  First a FastCGI fixture on the
# socket shows the params nginx sends: SCRIPT_NAME/PATH_INFO as the
# gateway sends them, and identity params (REMOTE_USER, AUTH_*) a client
# cannot set with headers or Basic credentials.  Then the catalog itself
# on the same socket: CRUD through nginx, with an admin token the catalog
# verifies itself.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

NGINX=$(t__find nginx) ||
    t_skip_all "nginx not found (apt-get install nginx)"
SPAWN_FCGI=$(t__find spawn-fcgi) ||
    t_skip_all "spawn-fcgi not found (apt-get install spawn-fcgi)"
[ -f /etc/nginx/fastcgi_params ] ||
    t_skip_all "/etc/nginx/fastcgi_params not found (nginx-common)"
EXAMPLE=$top_srcdir/etc/examples/nginx.conf
CATALOG=$top_builddir/backends/catalog/agora-catalog
[ -x "$CATALOG" ] || t_bail "$CATALOG not built"

t_mariadb_start

# --- nginx: the example, adapted by path and port only -----------------------
N=$TMP/nginx
mkdir -p "$N/tmp" "$TMP/run"
SOCK=$TMP/run/catalog.sock
PORT=$(t_free_port)
URL=http://127.0.0.1:$PORT
grep -q 'unix:/run/agora/catalog.sock;' "$EXAMPLE" &&
    grep -q 'listen 127.0.0.1:8090;' "$EXAMPLE" ||
    t_bail "the example no longer has the socket and port this test replaces"
sed -e "s|unix:/run/agora/catalog.sock;|unix:$SOCK;|" \
    -e "s|listen 127.0.0.1:8090;|listen 127.0.0.1:$PORT;|" \
    "$EXAMPLE" >"$N/agora.conf"
# Relative includes resolve against the main config's folder.
cp /etc/nginx/fastcgi_params "$N/fastcgi_params"
user=
# root's workers would run as nobody, who cannot enter $TMP
[ "$(id -u)" -eq 0 ] && user="user root;"
cat >"$N/nginx.conf" <<EOF
$user
daemon off;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log info;
events { worker_connections 64; }
http {
	access_log $N/access.log;
	client_body_temp_path $N/tmp/body;
	fastcgi_temp_path $N/tmp/fastcgi;
	proxy_temp_path $N/tmp/proxy;
	uwsgi_temp_path $N/tmp/uwsgi;
	scgi_temp_path $N/tmp/scgi;
	include $N/agora.conf;
}
EOF
t_log_add "$N/error.log"
out=$("$NGINX" -t -p "$N" -e "$N/error.log" -c "$N/nginx.conf" 2>&1) ||
    { t_diag "$out"; t_bail "nginx -t refused the example"; }
t_spawn nginx "$N/nginx.out" "$NGINX" -p "$N" -e "$N/error.log" \
    -c "$N/nginx.conf"
NGINX_PID=$T_LAST_PID

# spawn_on_socket LOG CMD...: CMD under spawn-fcgi on $SOCK (mode 0666),
# in the foreground (-n), so its pid is the service's.
spawn_on_socket()
{
	local log=$1
	shift
	rm -f "$SOCK"
	t_spawn spawn-fcgi "$log" "$SPAWN_FCGI" -n -s "$SOCK" -M 0666 -- "$@"
	SERVICE_PID=$T_LAST_PID
	for ((i = 0; i < 100; i++)); do
		[ -S "$SOCK" ] && return 0
		sleep 0.05
	done
	t_bail "spawn-fcgi did not create $SOCK"
}

# --- the params nginx sends, seen by the fixture -----------------------------
t_fcgi_fixture
spawn_on_socket "$TMP/fixture.log" "$PY" "$TMP/fcgi-fixture.py"
t_wait_http "$URL/api/products" 200 10 || t_bail "nginx does not answer"

# params_of NAME: every value NAME was sent with, in order, as JSON.
params_of()
{
	t_json "[v for k, v in j[\"param_list\"] if k == \"$1\"]"
}

t_http GET "$URL/api/products/7?x=1"
t_is "fixture: 200" "$T_STATUS" 200
t_is "SCRIPT_NAME is /api" "$(params_of SCRIPT_NAME)" '["/api"]'
t_is "PATH_INFO is the rest" "$(params_of PATH_INFO)" '["/products/7"]'
t_is "QUERY_STRING" "$(params_of QUERY_STRING)" '["x=1"]'
t_like "REQUEST_ID is set" "$(t_json 'j["params"]["REQUEST_ID"]')" '^[0-9a-f]{32}$'
t_is "categories reach the service too" \
    "$(t_http GET "$URL/api/categories/kitchen"; params_of PATH_INFO)" \
    '["/categories/kitchen"]'
t_http GET "$URL/api/other"
t_is "other paths do not reach the service" "$T_STATUS" 404

# A client tries every way of passing itself off as the admin.  libfcgi
# (FCGX_GetParam) takes the first of two same-named params, PHP the last:
# each identity param must be sent once, empty.
t_http GET "$URL/api/products" -- \
    -u admin:secret \
    -H 'Remote-User: admin' -H 'Auth-Roles: admin' -H 'Auth-Scope: all' \
    -H 'Auth-Type: Bearer' -H 'X-Remote-User: admin'
t_is "forged: 200" "$T_STATUS" 200
for p in REMOTE_USER AUTH_ROLES AUTH_SCOPE AUTH_TYPE; do
	t_is "forged: $p is sent once, empty" "$(params_of "$p")" '[""]'
done
t_is "forged: the headers arrive as HTTP_*, which nothing trusts" \
    "$(t_json '[j["params"].get(k) for k in ("HTTP_REMOTE_USER", "HTTP_AUTH_ROLES")]')" \
    '["admin","admin"]'
# A bearer token does reach the service, which verifies it itself
# (AGORA_JWKS_FILE, see identity.h).
t_http GET "$URL/api/products" -- -H 'Authorization: Bearer a.b.c'
t_is "bearer: Authorization reaches the service" \
    "$(params_of HTTP_AUTHORIZATION)" '["Bearer a.b.c"]'
t_is "bearer: REMOTE_USER still empty" "$(params_of REMOTE_USER)" '[""]'
t_stop "$SERVICE_PID" 5

# --- an admin token: agora-auth under spawn-fcgi, asked directly -----------
# Catalog writes need the admin role; without the gateway the catalog
# verifies the bearer token itself against a JWKS file (AGORA_JWKS_FILE).
. "$top_srcdir/t/lib-fcgi.sh"
ISSUER=http://127.0.0.1:8080
t_auth_bootstrap
AGORA_MASTER_KEY_FILE=$T_SECRETS/master-key AGORA_AUTH_ISSUER=$ISSUER \
    t_service_start auth
t_fcgi GET /.well-known/jwks.json
t_is "auth: JWKS" "$T_STATUS" 200
t_body >"$TMP/jwks.json"
pass=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_ADMIN_PASSWORD")
pass=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$pass")
FCGI_CTYPE=application/x-www-form-urlencoded t_fcgi POST /auth/token \
    "grant_type=password&client_id=web&username=admin&password=$pass"
ADMIN_TOKEN=$(t_json 'j["access_token"]')
t_like "auth: admin token" "$ADMIN_TOKEN" '^ey'

# --- the catalog on the same socket: CRUD -------------------------------------
AGORA_DB_SOCKET=$T_DBSOCK AGORA_DB_PASSWORD_FILE=$T_SECRETS/db-password \
    AGORA_JWKS_FILE=$TMP/jwks.json AGORA_AUTH_ISSUER=$ISSUER \
    spawn_on_socket "$TMP/catalog.log" "$CATALOG"
t_wait_http "$URL/api/products" 200 10 || t_bail "the catalog does not answer"
P=$URL/api/products

t_http POST "$URL/api/categories" '{"slug": "kitchen", "name": "Kitchen"}'
t_is "category without a token: 401" "$T_STATUS" 401
T_TOKEN=$ADMIN_TOKEN

t_http POST "$URL/api/categories" '{"slug": "kitchen", "name": "Kitchen"}'
t_is "category: 201" "$T_STATUS" 201
t_http POST "$P" '{"sku": "MUG-001", "name": "Mug", "price": {"amount": 1299,
    "currency": "EUR"}, "category": "kitchen"}'
t_is "create: 201" "$T_STATUS" 201
id=$(t_json 'j["id"]')
t_like "create: id" "$id" '^[1-9][0-9]*$'
t_is "create: Location is SCRIPT_NAME + path" "$(t_header Location)" \
    "/api/products/$id"
t_http POST "$P" '{"sku": "MUG-001", "name": "Mug again", "price":
    {"amount": 1, "currency": "EUR"}}'
t_problem "duplicate sku" 409

t_http GET "$P/$id"
t_is "get: 200" "$T_STATUS" 200
t_is "get: the product" "$(t_json '[j["sku"], j["price"]["amount"], j["category"]]')" \
    '["MUG-001",1299,"kitchen"]'
t_is "get: ETag" "$(t_header ETag)" '"1"'
t_http GET "$P?limit=10"
t_is "list: the product" "$(t_json '[p["id"] for p in j["items"]]')" "[$id]"

t_http PUT "$P/$id" '{"sku": "MUG-001", "name": "Big mug", "price":
    {"amount": 1499, "currency": "EUR"}, "category": "kitchen"}'
t_is "put: 200" "$T_STATUS" 200
t_is "put: replaced" "$(t_json '[j["name"], j["price"]["amount"], j["version"]]')" \
    '["Big mug",1499,2]'
t_http PATCH "$P/$id" '{"description": "Holds 500 ml"}'
t_is "patch: 200" "$T_STATUS" 200
t_is "patch: merged" "$(t_json '[j["name"], j["description"]]')" \
    '["Big mug","Holds 500 ml"]'

t_http POST "$P" '{"sku": ""}'
t_problem "validation" 422
t_http POST "$P" '{"sku": '
t_problem "malformed JSON" 400

t_http DELETE "$P/$id"
t_is "delete: 204" "$T_STATUS" 204
t_http GET "$P/$id"
t_problem "get after delete" 404

t_ok "nginx still runs" t_alive "$NGINX_PID"
t_stop "$SERVICE_PID" 5
t_stop "$NGINX_PID" 10
t_done
