#!/bin/bash
# Walks doc/openapi.yaml against the real services behind the gateway:
#  - every route in the catalog's and inventory's route tables is
#    documented, and every documented operation has a route;
#  - every documented operation under /api/products, /api/categories and
#    /api/inventory is sent once, with the documented examples (path and
#    query parameters, request body), in the order POST, GET, PUT, PATCH,
#    DELETE per path; the status must be one the document lists for it,
#    its Content-Type one the document lists for that status, and a JSON
#    body must fit the documented schema (types, required members, enums;
#    $ref, allOf and oneOf resolved);
#  - catalog operations (sent with an admin token, as catalog writes
#    need the admin role) and the unauthenticated inventory GET must
#    succeed (2xx) with their examples; the other inventory operations
#    are sent without a token, so only their status is checked against
#    the document.
# Needs python3-yaml (tools/packages).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

"$PY" -c 'import yaml' 2>/dev/null ||
    t_skip_all "python3-yaml is not installed (apt-get install python3-yaml)"

t_mariadb_start --seed
t_sql "INSERT INTO stock (sku, on_hand, reserved, updated_at)
    VALUES ('MUG-001', 12, 0, UTC_TIMESTAMP(6))" inventory ||
    t_bail "seeding stock failed"

# The shipped rules, plus inventory until they route it themselves.
cp "$top_srcdir/rules/agora.lua" "$TMP/rules.lua"
grep -q '"/api/inventory"' "$TMP/rules.lua" ||
    echo 'route { prefix = "/api/inventory", service = "inventory", strip = "/api" }' \
    >>"$TMP/rules.lua"
cat >"$TMP/gateway.conf" <<CONF
issuer = "http://127.0.0.1:8080"
workers \$workers
listen on 127.0.0.1 port \$http_port
admin listen on 127.0.0.1 port \$admin_port
rules "$TMP/rules.lua"
service catalog {
	socket "\${rundir}/catalog.sock"
	program "\${sbindir}/agora-catalog"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
	processes 2
}
service inventory {
	socket "\${rundir}/inventory.sock"
	program "\${sbindir}/agora-inventory"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
	processes 1
}
# auth mints the admin token and publishes the keys the gateway checks
service auth {
	socket "\${rundir}/auth.sock"
	program "\${sbindir}/agora-auth"
	env AGORA_DB_SOCKET "\${dbsock}"
	env AGORA_DB_PASSWORD_FILE "\${secrets}/db-password"
	env AGORA_MASTER_KEY_FILE "\${secrets}/master-key"
	env AGORA_AUTH_ISSUER "\${issuer}"
	processes 2
	read timeout 30s
}
# the shipped rules route users too; not walked, so not spawned
service users {
	socket "\${rundir}/users.sock"
}
jwt {
	jwks url "http://127.0.0.1:\${http_port}/.well-known/jwks.json" refresh 60s
	issuer "\${issuer}"
	audience "agora"
}
CONF
t_auth_bootstrap
t_gateway_start "$TMP/gateway.conf"
t_admin_token
export T_ADMIN_TOKEN

"$PY" - "$top_srcdir" "$T_URL" >"$TMP/walk.out" 2>"$TMP/walk.err" <<'PYEOF'
import json, os, re, sys, urllib.error, urllib.parse, urllib.request
import yaml

top, base = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(top + "/doc/openapi.yaml", encoding="utf-8"))
METHODS = ["post", "get", "put", "patch", "delete"]
WALKED = ("/api/products", "/api/categories", "/api/inventory")
MUST_SUCCEED = ("/api/products", "/api/categories")

def result(ok, name, why=""):
    print("%s\t%s\t%s" % ("PASS" if ok else "FAIL", name,
                          why.replace("\n", " ")[:400]))

def deref(o):
    while isinstance(o, dict) and "$ref" in o:
        node = doc
        for part in o["$ref"].lstrip("#/").split("/"):
            node = node[part]
        o = node
    return o

TYPES = {"object": dict, "array": list, "string": str, "null": type(None),
         "boolean": bool}

def type_ok(v, t):
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, TYPES[t])

def check(v, s, where="$"):
    """Errors of v against schema s (a practical subset of JSON Schema)."""
    s = deref(s)
    errs = []
    for sub in s.get("allOf", []):
        errs += check(v, sub, where)
    if "oneOf" in s or "anyOf" in s:
        alts = s.get("oneOf", []) + s.get("anyOf", [])
        if all(check(v, a, where) for a in alts):
            errs.append("%s: fits none of the alternatives" % where)
    t = s.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not any(type_ok(v, x) for x in ts):
            return errs + ["%s: %r is not %s" % (where, v, t)]
    if "enum" in s and v not in s["enum"]:
        errs.append("%s: %r not in %r" % (where, v, s["enum"]))
    if "const" in s and v != s["const"]:
        errs.append("%s: %r is not %r" % (where, v, s["const"]))
    if isinstance(v, str) and "pattern" in s and not re.search(s["pattern"], v):
        errs.append("%s: %r does not match %s" % (where, v, s["pattern"]))
    if isinstance(v, dict):
        for k in s.get("required", []):
            if k not in v:
                errs.append("%s: missing %s" % (where, k))
        for k, sub in s.get("properties", {}).items():
            if k in v:
                errs += check(v[k], sub, where + "." + k)
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v):
            errs += check(x, s["items"], "%s[%d]" % (where, i))
    return errs

def norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)

# --- the route tables against the document
documented = set()
for path, item in doc["paths"].items():
    for m in METHODS:
        if m in item:
            documented.add((m.upper(), norm(path)))
routes = set()
for f in ("backends/catalog/catalog.c", "backends/inventory/inventory.c"):
    src = open(top + "/" + f, encoding="utf-8").read()
    for m, p in re.findall(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)"', src):
        routes.add((m, norm("/api" + p)))
for m, p in sorted(routes):
    result((m, p) in documented, "route %s %s is documented" % (m, p))
for m, p in sorted(documented):
    if p.startswith(WALKED):
        result((m, p) in routes, "documented %s %s has a route" % (m, p))

# --- walk
def params(item, op):
    out = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = deref(p)
        out[(p["in"], p["name"])] = p
    return out

for path, item in doc["paths"].items():
    if not path.startswith(WALKED):
        continue
    for m in METHODS:
        if m not in item:
            continue
        op = item[m]
        name = "%s %s" % (m.upper(), path)
        url, query, headers = path, {}, {}
        for (where, pname), p in params(item, op).items():
            ex = p.get("example")
            if where == "path":
                if ex is None:
                    result(False, name, "path parameter %s has no example" % pname)
                url = url.replace("{%s}" % pname, urllib.parse.quote(str(ex), safe=""))
            elif where == "query" and ex is not None:
                query[pname] = str(ex)
            elif where == "header" and ex is not None:
                headers[pname] = str(ex)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        rb = deref(op.get("requestBody", {}))
        if rb:
            media = rb["content"].get("application/json", {})
            if "example" not in media:
                result(False, name, "request body has no example")
                continue
            bad = check(media["example"], media.get("schema", {}))
            result(not bad, name + ": the example body fits its schema",
                   "; ".join(bad))
            data = json.dumps(media["example"]).encode()
            headers["Content-Type"] = "application/json"
        if path.startswith(MUST_SUCCEED):
            headers["Authorization"] = "Bearer " + os.environ["T_ADMIN_TOKEN"]
        req = urllib.request.Request(base + url, data=data, method=m.upper(),
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, rh, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, rh, body = e.code, e.headers, e.read()
        except Exception as e:
            result(False, name, "no answer: %s" % e)
            continue
        responses = op.get("responses", {})
        doc_resp = responses.get(str(status)) or \
            responses.get("%dXX" % (status // 100)) or responses.get("default")
        result(doc_resp is not None, "%s: %d is documented" % (name, status),
               "documented: %s; body: %s" % (sorted(responses), body[:200]))
        if path.startswith(MUST_SUCCEED) or (path.startswith("/api/inventory")
                                             and m == "get" and "{sku}" in path
                                             and not path.endswith("restock")):
            result(200 <= status < 300, "%s: the example succeeds" % name,
                   "status %d: %s" % (status, body[:200]))
        if doc_resp is None:
            continue
        doc_resp = deref(doc_resp)
        ctype = (rh.get("Content-Type") or "").split(";")[0].strip()
        content = doc_resp.get("content", {})
        if not body:
            result(not content or status in (204, 304),
                   "%s: an empty body is documented" % name)
            continue
        result(ctype in content, "%s: Content-Type %s is documented" % (name, ctype),
               "documented: %s" % sorted(content))
        if ctype in content and ctype.endswith("json"):
            try:
                j = json.loads(body)
            except ValueError as e:
                result(False, "%s: JSON body" % name, str(e))
                continue
            bad = check(j, content[ctype].get("schema", {}))
            result(not bad, "%s: the body fits the documented schema" % name,
                   "; ".join(bad))
PYEOF
rc=$?
[ -s "$TMP/walk.err" ] && t_diag "$(cat "$TMP/walk.err")"
[ "$rc" -eq 0 ] || t_fail "the walker ran" "exit $rc"
n=0
while IFS=$'\t' read -r verdict name why; do
	n=$((n + 1))
	if [ "$verdict" = PASS ]; then
		t_pass "$name"
	else
		t_fail "$name" "$why"
	fi
done <"$TMP/walk.out"
[ "$n" -gt 40 ] || t_fail "the walk checked enough ($n checks)"
t_done
