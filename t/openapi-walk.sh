#!/bin/bash
# Walks doc/openapi.yaml against the four services behind the gateway,
# with the shipped etc/gateway.conf and rules/agora.lua and real tokens:
#
#  - the route tables of catalog, inventory, auth and users (their
#    backends/*/<service>.c) and the document agree both ways;
#  - every path route of rules/agora.lua is documented (HEAD with GET),
#    and every documented operation is routed: by a path route, whose
#    auth = "jwt" and roles must match the operation's bearer
#    requirements, or by a prefix route.  An x-internal operation is
#    reached only through a prefix that verifies no token;
#  - every documented operation is sent once with its examples (path,
#    query, header, JSON or form body) and the token its security names
#    (admin, customer or the "service" client), POST/GET/PUT/PATCH in
#    document order, then the DELETEs in reverse order; a resource a POST
#    created (its Location) stands in for the path's example.  The status
#    must be documented (exactly or as its class), the Content-Type
#    documented for it, a JSON body must fit the schema ($ref, allOf,
#    oneOf, types, required, enum, const, pattern), and the example must
#    succeed (2xx); an x-internal one must answer 401;
#  - an operation that needs a token answers a documented 401 without
#    one, and one that needs a role a customer lacks a documented 403 to
#    a customer.
# Needs python3-yaml (tools/packages).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

"$PY" -c 'import yaml' 2>/dev/null ||
    t_skip_all "python3-yaml is not installed (apt-get install python3-yaml)"

t_mariadb_start --seed
t_sql "INSERT INTO stock (sku, on_hand, reserved, updated_at)
    VALUES ('MUG-001', 12, 0, UTC_TIMESTAMP(6))" inventory ||
    t_bail "seeding stock failed"
t_gateway_start
t_admin_token

EMAIL=walk-customer@example.com
PASSWORD='walking customer 1'
t_http POST "$T_URL/api/users" \
    "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Cus Tomer\"}"
[ "$T_STATUS" = 201 ] || t_bail "registration: $T_STATUS $(t_body)"
WALK_CUSTOMER_TOKEN=$(t_password_token "$EMAIL" "$PASSWORD")
[ -n "$WALK_CUSTOMER_TOKEN" ] || t_bail "customer token: $T_STATUS"
WALK_SERVICE_SECRET=$(. "$TMP/auth-bootstrap.env"
    echo "$AGORA_SERVICE_CLIENT_SECRET")
t_http POST "$T_URL/api/auth/token" 'grant_type=client_credentials' \
    -u "service:$WALK_SERVICE_SECRET" \
    -H 'Content-Type: application/x-www-form-urlencoded'
[ "$T_STATUS" = 200 ] || t_bail "service token: $T_STATUS $(t_body)"
WALK_SERVICE_TOKEN=$(t_json 'j["access_token"]')
export T_ADMIN_TOKEN WALK_CUSTOMER_TOKEN WALK_SERVICE_TOKEN WALK_SERVICE_SECRET

"$PY" - "$top_srcdir" "$T_URL" >"$TMP/walk.out" 2>"$TMP/walk.err" <<'PYEOF'
import json, os, re, sys, urllib.error, urllib.parse, urllib.request
import yaml

top, base = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(top + "/doc/openapi.yaml", encoding="utf-8"))
METHODS = ["post", "get", "put", "patch", "delete"]
TOKENS = {"admin": os.environ["T_ADMIN_TOKEN"],
          "customer": os.environ["WALK_CUSTOMER_TOKEN"],
          "service": os.environ["WALK_SERVICE_TOKEN"]}
SECRET = os.environ["WALK_SERVICE_SECRET"]
# Known gaps, reported as TODO (XFAIL) until they are fixed.
TODO = {
}

def result(ok, name, why="", todo=""):
    print("%s\t%s\t%s\t%s" % ("PASS" if ok else "FAIL", name,
                              str(why or "-").replace("\n", " ")[:400], todo))

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
        if "maxProperties" in s and len(v) > s["maxProperties"]:
            errs.append("%s: more than %d members" % (where, s["maxProperties"]))
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v):
            errs += check(x, s["items"], "%s[%d]" % (where, i))
    return errs

def norm(path):
    return re.sub(r"\{[^}]*\}", "{}", path)

# --- rules/agora.lua: the table constructors of route{} and group{}
def lua_rules(text):
    text = re.sub(r"--[^\n]*", "", text)
    toks = re.findall(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z_0-9]*|[{}=,]', text)
    pos = [0]
    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None
    def take():
        pos[0] += 1
        return toks[pos[0] - 1]
    def value():
        t = take()
        if t.startswith('"'):
            return json.loads(t)
        if t == "{":
            return table()
        if peek() == "{":		# a call: route { ... } / group { ... }
            take()
            return (t, table())
        return t
    def table():
        d, items = {}, []
        while peek() != "}":
            if pos[0] + 1 < len(toks) and toks[pos[0] + 1] == "=":
                k = take()
                take()
                d[k] = value()
            else:
                items.append(value())
            if peek() == ",":
                take()
        take()
        return d, items
    out = []
    def walk(call, inherited):
        kind, (attrs, items) = call
        mine = dict(inherited)
        for k, v in attrs.items():
            mine[k] = v[1] if isinstance(v, tuple) and k in ("methods", "roles") else v
        if kind == "route":
            out.append(mine)
        for it in items:
            if isinstance(it, tuple) and isinstance(it[0], str):
                walk(it, {k: v for k, v in mine.items()
                          if k not in ("name", "path", "prefix", "methods")})
    while pos[0] < len(toks):
        walk(value(), {})
    return out

def listval(v):
    return list(v[1]) if isinstance(v, tuple) else list(v or [])

rules = lua_rules(open(top + "/rules/agora.lua", encoding="utf-8").read())
path_routes = {}
prefixes = []
for r in rules:
    if "path" in r:
        for m in listval(r.get("methods")):
            path_routes[(m, norm(r["path"]))] = r
    elif "prefix" in r:
        prefixes.append(r)
result(len(path_routes) > 20 and prefixes, "rules/agora.lua parsed",
       "%d path routes, %d prefixes" % (len(path_routes), len(prefixes)))

# --- the document's operations
ops = []
for path, item in doc["paths"].items():
    for m in METHODS:
        if m in item:
            ops.append((path, m, item, item[m]))
documented = {(m.upper(), norm(p)) for p, m, _, _ in ops}

def roles_of(op):
    """None: public; else the set of roles any of which will do (empty:
    any authenticated caller)."""
    sec = op.get("security") or []
    if not any("bearer" in req for req in sec):
        return None	# public, or OAuth client authentication
    rs = set()
    for req in sec:
        if "bearer" in req:
            rs |= set(req["bearer"])
    return rs

# --- the services' route tables against the document
routes = set()
for svc in ("catalog", "inventory", "auth", "users"):
    src = open("%s/backends/%s/%s.c" % (top, svc, svc), encoding="utf-8").read()
    for m, p in re.findall(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)"', src):
        routes.add((m, norm(p if p.startswith("/.well-known") else "/api" + p)))
for m, p in sorted(routes):
    result((m, p) in documented, "service route %s %s is documented" % (m, p))
for m, p in sorted(documented):
    result((m, p) in routes, "documented %s %s has a service route" % (m, p))

# --- the rules against the document
for (m, p), r in sorted(path_routes.items()):
    want = "GET" if m == "HEAD" else m
    result((want, p) in documented, "rules route %s %s (%s) is documented" %
           (m, p, r.get("name", "?")))
for path, m, item, op in ops:
    key = (m.upper(), norm(path))
    name = "%s %s" % key
    r = path_routes.get(key)
    roles = roles_of(op)
    todo = TODO.get(key, "")
    if r is not None:
        jwt = r.get("auth") == "jwt"
        result(jwt == (roles is not None), "%s: the rules verify a token "
               "exactly when the document asks for one" % name,
               "rules auth %s, document roles %s" % (r.get("auth"), roles))
        rr = set(listval(r.get("roles")))
        if jwt and rr:
            result(rr == roles, "%s: the rules' roles are the document's" % name,
                   "rules %s, document %s" % (sorted(rr), sorted(roles or [])))
        continue
    under = [x for x in prefixes if norm(path).startswith(x["prefix"])]
    result(bool(under), "%s is routed by the rules" % name)
    if not under:
        continue
    px = max(under, key=lambda x: len(x["prefix"]))
    if op.get("x-internal"):
        result(px.get("auth") != "jwt", "%s (internal) reaches its service "
               "only through prefix %s" % (name, px["prefix"]))
    elif roles is not None:
        result(px.get("auth") == "jwt", "%s: prefix %s verifies the token "
               "the document asks for" % (name, px["prefix"]), "", todo)

# --- the walk
created = {}	# normalized path template -> {param: value} from a Location

def template_params(loc):
    loc = urllib.parse.urlsplit(loc).path
    for p in doc["paths"]:
        rx = "^" + re.sub(r"\\\{([^}]*)\\\}", r"(?P<\1>[^/]+)", re.escape(p)) + "$"
        mm = re.match(rx, loc)
        if mm and mm.groupdict():
            return norm(p), {k: urllib.parse.unquote(v)
                             for k, v in mm.groupdict().items()}
    return None, None

def params(item, op):
    out = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = deref(p)
        out[(p["in"], p["name"])] = p
    return out

def token_for(op):
    roles = roles_of(op)
    if roles is None:
        return None, None
    if not roles:
        return "customer", TOKENS["customer"]
    who = "service" if "service" in roles else "admin"
    return who, TOKENS[who]

def send(method, url, data=None, headers=None):
    req = urllib.request.Request(base + url, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

def documented_response(op, status):
    rs = op.get("responses", {})
    return rs.get(str(status)) or rs.get("%dXX" % (status // 100)) or \
        rs.get("default")

def build(path, item, op):
    """url, body bytes, headers from the examples; None when one is missing."""
    url, query, headers = path, {}, {}
    for (where, pname), p in params(item, op).items():
        ex = p.get("example")
        if where == "path":
            ex = created.get(norm(path), {}).get(pname, ex)
            if ex is None:
                result(False, "%s %s: path parameter %s has an example" %
                       (op["_m"], path, pname))
                return None
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
        ctype, media = next(iter(rb["content"].items()))
        if "example" not in media:
            result(False, "%s %s: the request body has an example" % (op["_m"], path))
            return None
        ex = dict(media["example"])
        bad = check(ex, media.get("schema", {}))
        result(not bad, "%s %s: the example body fits its schema" % (op["_m"], path),
               "; ".join(bad))
        if ctype == "application/x-www-form-urlencoded":
            if ex.get("client_id") == "service" and "client_secret" in ex:
                ex["client_secret"] = SECRET	# the real one, not the doc's words
            data = urllib.parse.urlencode(ex).encode()
        else:
            data = json.dumps(ex).encode()
        headers["Content-Type"] = ctype
    return url, data, headers

def walk(path, item, m, op):
    op["_m"] = m.upper()
    name = "%s %s" % (m.upper(), path)
    key = (m.upper(), norm(path))
    todo = TODO.get(key, "")
    if m == "delete" and re.search(r"/\{[^}]*\}$", path):
        # a fresh resource to delete when the collection can make one
        coll = re.sub(r"/\{[^}]*\}$", "", path)
        citem = doc["paths"].get(coll, {})
        if "post" in citem:
            cop = citem["post"]
            cop["_m"] = "POST"
            b = build(coll, citem, cop)
            if b:
                who, tok = token_for(cop)
                h = dict(b[2], **({"Authorization": "Bearer " + tok} if tok else {}))
                st, rh, _ = send("POST", b[0], b[1], h)
                if st == 201 and rh.get("Location"):
                    t, ps = template_params(rh["Location"])
                    if t:
                        created[t] = ps
    b = build(path, item, op)
    if b is None:
        return
    url, data, headers = b
    who, tok = token_for(op)
    # without a token first: an operation that needs one must refuse it
    if tok is not None:
        st, rh, body = send(m.upper(), url, data, headers)
        result(st == 401 and documented_response(op, 401) is not None,
               "%s: without a token, a documented 401" % name,
               "status %d: %s" % (st, body[:200]))
        if who in ("admin", "service") and "customer" not in roles_of(op):
            st, rh, body = send(m.upper(), url, data, dict(headers,
                Authorization="Bearer " + TOKENS["customer"]))
            want = 401 if op.get("x-internal") or todo else 403
            result(st == want and documented_response(op, want) is not None,
                   "%s: a customer gets a documented %d" % (name, want),
                   "status %d: %s" % (st, body[:200]), todo if want == 403 else "")
        headers["Authorization"] = "Bearer " + tok
    st, rh, body = send(m.upper(), url, data, headers)
    if st == 201 and rh.get("Location"):
        t, ps = template_params(rh["Location"])
        if t:
            created[t] = ps
    doc_resp = documented_response(op, st)
    result(doc_resp is not None, "%s%s: %d is documented" %
           (name, " as " + who if who else "", st),
           "documented: %s; body: %s" % (sorted(op.get("responses", {})), body[:200]))
    if op.get("x-internal"):
        result(st == 401, "%s (internal): 401 through the gateway" % name,
               "status %d: %s" % (st, body[:200]))
    else:
        result(200 <= st < 300, "%s: the example succeeds" % name,
               "status %d: %s" % (st, body[:200]), todo)
    if doc_resp is None:
        return
    doc_resp = deref(doc_resp)
    ctype = (rh.get("Content-Type") or "").split(";")[0].strip()
    content = doc_resp.get("content", {})
    if not body:
        result(not content or st in (204, 304),
               "%s: an empty body is documented" % name)
        return
    result(ctype in content, "%s: Content-Type %s is documented" % (name, ctype),
           "documented: %s" % sorted(content))
    if ctype in content and ctype.endswith("json"):
        try:
            j = json.loads(body)
        except ValueError as e:
            result(False, "%s: JSON body" % name, str(e))
            return
        bad = check(j, content[ctype].get("schema", {}))
        result(not bad, "%s: the body fits the documented schema" % name,
               "; ".join(bad))

for path, m, item, op in ops:
    if m != "delete":
        walk(path, item, m, op)
for path, m, item, op in reversed(ops):
    if m == "delete":
        walk(path, item, m, op)
PYEOF
rc=$?
[ -s "$TMP/walk.err" ] && t_diag "$(cat "$TMP/walk.err")"
[ "$rc" -eq 0 ] || t_fail "the walker ran" "exit $rc"
t_results "$TMP/walk.out"
n=$T_RESULTS
[ "$n" -gt 150 ] || t_fail "the walk checked enough ($n checks)"
t_done
