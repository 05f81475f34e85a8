#!/bin/bash
# Bad input on every endpoint of catalog, inventory, auth and users,
# through the gateway with the shipped configuration and rules.  One
# table of endpoints (method, path, the token it needs, a valid body and
# the shape of its members) and one generator of cases per endpoint:
#
#  - tokens: none, garbage, a bad signature, a customer's signature over
#    changed claims, expired, not yet valid, another audience, another
#    issuer, alg none, HS256 keyed with public material, an empty bearer
#    (401); a customer on an admin endpoint (403).  The broken tokens
#    are forged with the real signing key (decrypted from the auth
#    database with the test's master key), and a well-formed forged one
#    is accepted (the control), so each refusal is about what was broken;
#  - the query: invalid UTF-8, NUL, bad escapes; on lists bad limits and
#    forged cursors; on products bad filters (400);
#  - path captures: negative, zero, overflowing, SQL, invalid UTF-8, NUL,
#    control characters, too long (404 or 400);
#  - JSON bodies: wrong Content-Type (415), truncated, trailing garbage,
#    not an object, empty, nested too deep, a raw NUL, a duplicate member
#    (400), over 1 MB (413), unknown members, every required member
#    missing and each one missing, each member of each wrong type, each
#    string one past its limit (in code points), invalid UTF-8 (bad bytes,
#    encoded surrogates, overlong forms), raw control characters, SQL
#    metacharacters in members with a syntax, integers below, above,
#    overflowing, 1e400 (422 naming the field, or 400);
#  - OAuth form bodies: bad escapes, invalid UTF-8, NUL, a parameter
#    twice, JSON instead of a form, over 1 MB, SQL, empty, garbage Basic
#    credentials (RFC 6749 §5.2 errors).
#
# Each answer must be one of the statuses the row expects, never a 5xx,
# an application/problem+json whose status agrees and whose detail says
# why (or an RFC 6749 error with error_description on the OAuth
# endpoints), and a 422 must name the fields.  A refused write must leave
# its service's database as it was (CHECKSUM TABLE of every table before
# and after), and the services' processes must be the same ones at the
# end (none crashed and was respawned).
#
# A row the code does not pass yet carries T_TODO (XFAIL) with the bug.
# By hand: BAD_ONLY=/api/users top_builddir=... bash t/services-badinput.sh
# Needs python3-jwt and python3-cryptography (tools/packages).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

"$PY" -c 'import jwt, cryptography' 2>/dev/null ||
    t_skip_all "python3-jwt or python3-cryptography is not installed"

t_mariadb_start --seed
t_gateway_start
t_admin_token

# The cast: a customer with an address, the service client, some stock
# and a reservation, so that the paths name things that exist.
EMAIL=bad-input@example.com
PASSWORD='bad input pass 1'
t_http POST "$T_URL/api/users" \
    "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Bea Dinput\"}"
[ "$T_STATUS" = 201 ] || t_bail "registration: $T_STATUS $(t_body)"
SUBJECT=$(t_json 'j["id"]')
CUSTOMER=$(t_password_token "$EMAIL" "$PASSWORD")
[ -n "$CUSTOMER" ] || t_bail "customer token: $T_STATUS $(t_body)"
SVC_SECRET=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_SERVICE_CLIENT_SECRET")
t_http POST "$T_URL/api/auth/token" 'grant_type=client_credentials' \
    -u "service:$SVC_SECRET" \
    -H 'Content-Type: application/x-www-form-urlencoded'
SERVICE=$(t_json 'j["access_token"]')
[ "$T_STATUS" = 200 ] || t_bail "service token: $T_STATUS $(t_body)"
T_TOKEN=$CUSTOMER t_http POST "$T_URL/api/users/me/addresses" \
    '{"line1":"1 Main St","city":"Lyon","postal_code":"69001","country":"FR"}'
[ "$T_STATUS" = 201 ] || t_bail "address: $T_STATUS $(t_body)"
ADDRESS=$(t_json 'j["id"]')
T_TOKEN=$T_ADMIN_TOKEN t_http POST "$T_URL/api/inventory/MUG-001/restock" \
    '{"qty":50}'
[ "$T_STATUS" = 200 ] || t_bail "restock: $T_STATUS $(t_body)"
T_TOKEN=$SERVICE t_http POST "$T_URL/api/inventory/reservations" \
    '{"lines":[{"sku":"MUG-001","qty":1}]}'
[ "$T_STATUS" = 201 ] || t_bail "reservation: $T_STATUS $(t_body)"
RESERVATION=$(t_json 'j["id"]')
PRODUCT=$(t_sql "SELECT id FROM products WHERE sku = 'MUG-001'" catalog)
KEY=$(t_sql "SELECT kid, private_enc FROM signing_keys
    WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1" auth)
[ -n "$KEY" ] || t_bail "no signing key"

PIDS_BEFORE=$(t_gateway_children | sort -n | tr '\n' ' ')
t_like "the services run" "$PIDS_BEFORE" '^[0-9]+ [0-9]+ '

"$PY" - "$T_URL" "$T_DBSOCK" "$T_SECRETS/master-key" "${KEY%%$'\t'*}" \
    "${KEY#*$'\t'}" "$T_ADMIN_TOKEN" "$CUSTOMER" "$SERVICE" \
    "{\"product\":$PRODUCT,\"reservation\":$RESERVATION,\"address\":$ADDRESS,\"identity\":$SUBJECT}" \
    "$T_MARIADB" "$top_srcdir" >"$TMP/badinput.out" 2>"$TMP/badinput.err" <<'PYEOF'
import base64, copy, hashlib, hmac, json, os, subprocess, sys, time
import urllib.parse
import http.client
import jwt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

(base, dbsock, masterkey, kid, sealed, admin, customer, service,
 ids_json, mariadb, top) = sys.argv[1:12]
IDS = json.loads(ids_json)
U = urllib.parse.urlsplit(base)

def out(ok, name, why="", todo=""):
    print("%s\t%s\t%s\t%s" % ("PASS" if ok else "FAIL", name,
                              str(why or "-").replace("\n", " ").replace("\t", " ")[:400],
                              todo), flush=True)

# --- tokens: forged with the real signing key (decrypted the way
# agora-auth does: AES-256-GCM under HMAC-SHA256(master key file, label),
# the kid as AAD), and broken in every way a verifier must notice.
mk = open(masterkey, "rb").read().rstrip(b"\r\n")
wrap = hmac.new(mk, b"agora auth signing keys v1", hashlib.sha256).digest()
raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
pem = AESGCM(wrap).decrypt(raw[:12], raw[12:], kid.encode())

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

claims = jwt.decode(admin, options={"verify_signature": False})
now = int(time.time())

def forge(alg="ES256", key=pem, typ="at+jwt", **over):
    c = dict(claims, iat=now, nbf=now, exp=now + 600, jti="forged-%d" % len(over))
    c.update(over)
    return jwt.encode(c, key, algorithm=alg, headers={"typ": typ, "kid": kid})

def unsigned(**over):
    c = dict(claims, iat=now, nbf=now, exp=now + 600)
    c.update(over)
    h = {"alg": "none", "typ": "at+jwt", "kid": kid}
    return "%s.%s." % (b64(json.dumps(h).encode()), b64(json.dumps(c).encode()))

hp, pl, sig = admin.split(".")
mid = len(sig) // 2
badsig = "%s.%s.%s" % (hp, pl, sig[:mid] + ("A" if sig[mid] != "A" else "B") + sig[mid + 1:])
# the same signature over claims that say something else
escalated = "%s.%s.%s" % (hp, b64(json.dumps(dict(
    jwt.decode(customer, options={"verify_signature": False}),
    roles=["admin", "service"])).encode()), customer.split(".")[2])

GOOD_FORGED = forge()
BAD_TOKENS = [
    ("garbage token", "not-a-jwt"),
    ("bad signature", badsig),
    ("claims changed under a customer's signature", escalated),
    ("expired token", forge(exp=now - 3600, iat=now - 7200, nbf=now - 7200)),
    ("token not yet valid", forge(nbf=now + 3600, iat=now + 3600, exp=now + 7200)),
    ("token for another audience", forge(aud="billing")),
    ("token of another issuer", forge(iss="http://evil.example")),
    ("alg none", unsigned()),
    ("alg HS256 keyed with the public key", forge(alg="HS256",
        key=pem.split(b"-----BEGIN")[0] + b"public")),
    ("empty bearer", ""),
]
TOKENS = {"admin": admin, "customer": customer, "service": service}

# --- the database, to prove rejected writes change nothing
def checksum(db):
    tabs = subprocess.run(
        [mariadb, "--no-defaults", "--socket=" + dbsock, "-uroot", "-N", "-B",
         "-e", "SELECT table_name FROM information_schema.tables WHERE "
         "table_schema = '%s' ORDER BY 1" % db],
        capture_output=True, text=True).stdout.split()
    return subprocess.run(
        [mariadb, "--no-defaults", "--socket=" + dbsock, "-uroot", "-N", "-B",
         db, "-e", "CHECKSUM TABLE " + ", ".join(tabs) + " EXTENDED"],
        capture_output=True, text=True).stdout

# --- one request, raw (paths and bodies may hold any bytes)
def send(method, path, body=None, ctype="application/json", token=None,
         headers=None):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
    h = dict(headers or {})
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if ctype:
            h["Content-Type"] = ctype
    if token is not None:
        h["Authorization"] = "Bearer " + token
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read()
    except Exception as e:
        return 0, "", str(e).encode()
    finally:
        c.close()

# --- the endpoints.  body: a valid body (never sent whole); strings: its
# string members with their length limit; ints: integer members with
# [min, max]; required: members a 422 must name when absent; strict:
# members whose syntax excludes SQL metacharacters.
PRODUCT = {"sku": "BAD-001", "name": "Bad", "description": "d",
           "price": {"amount": 100, "currency": "EUR"}, "category": "kitchen"}
E = []
def ep(svc, m, path, auth=None, body=None, form=None, strings=(), ints=(),
       required=(), strict=(), todo=None, paths=(), list_=False, oauth=False,
       anon=False):
    E.append(dict(svc=svc, m=m, path=path, auth=auth, body=body, form=form,
                  strings=dict(strings), ints=dict(ints), required=required,
                  strict=strict, todo=todo or (), paths=paths, list=list_,
                  oauth=oauth, anon=anon))

P, R, A = IDS["product"], IDS["reservation"], IDS["address"]
ep("catalog", "GET", "/api/products", list_=True)
ep("catalog", "POST", "/api/products", "admin", PRODUCT,
   strings={"sku": 64, "name": 200, "description": 4000, "category": 64},
   ints={"price.amount": (0, 2**63 - 1)}, required=("sku", "name", "price"),
   strict=("category", "price.currency"))
ep("catalog", "GET", "/api/products/{id}", paths=[("id", P)])
ep("catalog", "PUT", "/api/products/{id}", "admin", dict(PRODUCT, sku="MUG-001"),
   strings={"name": 200, "description": 4000},
   ints={"price.amount": (0, 2**63 - 1)}, required=("sku", "name", "price"),
   strict=("category", "price.currency"), paths=[("id", P)])
ep("catalog", "PATCH", "/api/products/{id}", "admin",
   {"name": "Patched", "price": {"amount": 1, "currency": "EUR"}},
   strings={"name": 200, "description": 4000}, ints={"price.amount": (0, 2**63 - 1)},
   strict=("category",), paths=[("id", P)])
ep("catalog", "DELETE", "/api/products/{id}", "admin", paths=[("id", P)])
ep("catalog", "GET", "/api/categories", list_=True)
ep("catalog", "POST", "/api/categories", "admin",
   {"slug": "bad-cat", "name": "Bad", "parent": "home"},
   strings={"name": 200}, required=("slug", "name"), strict=("slug", "parent"))
ep("catalog", "GET", "/api/categories/{slug}", paths=[("slug", "kitchen")])
ep("inventory", "GET", "/api/inventory/{sku}", paths=[("sku", "MUG-001")])
ep("inventory", "POST", "/api/inventory/{sku}/restock", "admin", {"qty": 5},
   ints={"qty": (1, 10**9), "low_stock_threshold": (0, 10**9)},
   required=("qty",), paths=[("sku", "MUG-001")])
ep("inventory", "POST", "/api/inventory/reservations", "service",
   {"order_id": "o-1", "lines": [{"sku": "MUG-001", "qty": 1}]},
   strings={"lines[0].sku": 64}, ints={"lines[0].qty": (1, 10**6),
   "ttl_seconds": (1, 86400)}, required=("lines",))
ep("inventory", "GET", "/api/inventory/reservations/{id}", "service",
   paths=[("id", R)])
ep("inventory", "POST", "/api/inventory/reservations/{id}/commit", "service",
   paths=[("id", R)])
ep("inventory", "DELETE", "/api/inventory/reservations/{id}", "service",
   paths=[("id", R)])
ep("auth", "POST", "/api/auth/token", form={"grant_type": "password",
   "client_id": "web", "username": "nobody@example.com", "password": "x" * 9},
   oauth=True)
ep("auth", "POST", "/api/auth/revoke", form={"token": "x", "client_id": "web"},
   oauth=True)
ep("auth", "POST", "/api/auth/introspect", form={"token": "x",
   "client_id": "service", "client_secret": "wrong"}, oauth=True)
ep("auth", "POST", "/api/auth/keys/rotate", "admin")
ep("auth", "POST", "/api/auth/identities", "service", anon=True, body=
   {"username": "bad@example.com", "password": "x" * 10},
   strings={"username": 191, "password": 1024}, required=("username", "password"))
ep("auth", "GET", "/api/auth/identities/{id}", "service", anon=True,
   paths=[("id", IDS["identity"])])
ep("auth", "DELETE", "/api/auth/identities/{id}", "service", anon=True,
   paths=[("id", IDS["identity"])])
ep("auth", "GET", "/.well-known/jwks.json")
ep("auth", "GET", "/.well-known/openid-configuration")
ep("users", "POST", "/api/users", None,
   {"email": "bad@example.com", "password": "x" * 10, "name": "Bad"},
   strings={"email": 191, "password": 1024, "name": 200, "phone": 32},
   required=("email", "password", "name"), strict=("email", "phone"))
ep("users", "GET", "/api/users", "admin", list_=True)
ep("users", "GET", "/api/users/me", "customer")
ep("users", "PATCH", "/api/users/me", "customer", {"name": "Patched"},
   strings={"name": 200, "phone": 32}, strict=("phone",))
ep("users", "DELETE", "/api/users/me", "customer")
ep("users", "GET", "/api/users/me/export", "customer")
ep("users", "GET", "/api/users/me/addresses", "customer", list_=True)
ep("users", "POST", "/api/users/me/addresses", "customer",
   {"line1": "1 Road", "city": "Town", "postal_code": "12345", "country": "FR"},
   strings={"line1": 200, "line2": 200, "city": 100, "postal_code": 20},
   required=("line1", "city", "postal_code", "country"), strict=("country",))
ep("users", "GET", "/api/users/me/addresses/{id}", "customer", paths=[("id", A)])
ep("users", "PATCH", "/api/users/me/addresses/{id}", "customer",
   {"line1": "2 Road", "line2": "Flat 1", "city": "Town", "postal_code": "1",
    "country": "FR"},
   strings={"line1": 200, "line2": 200, "city": 100, "postal_code": 20},
   strict=("country",), paths=[("id", A)])
ep("users", "DELETE", "/api/users/me/addresses/{id}", "customer",
   paths=[("id", A)])

# --- the cases
def setp(obj, dotted, value):
    """obj with member dotted ("price.amount", "lines[0].qty") set."""
    o = copy.deepcopy(obj)
    cur, parts = o, dotted.replace("[", ".[").split(".")
    for i, k in enumerate(parts):
        last = i == len(parts) - 1
        if k.startswith("["):
            k = int(k[1:-1])
        if last:
            if value is DELETE:
                del cur[k]
            else:
                cur[k] = value
        else:
            cur = cur[k]
    return o

DELETE = object()
SQLMETA = "x' OR '1'='1'; DROP TABLE users; -- \\\" `"
WRONG = [("a number", 7), ("true", True), ("an array", ["x"]),
         ("an object", {"x": 1})]
WRONG_INT = [("a string", "5"), ("a float", 1.5), ("true", True),
             ("null", None)]

def cases(e):
    """(name, request kwargs, allowed statuses, fields a 422 must name)"""
    tok = TOKENS.get(e["auth"]) if e["auth"] else None
    path = e["path"]
    for cap, val in e["paths"]:
        path = path.replace("{%s}" % cap, urllib.parse.quote(str(val), safe=""))
    body = e["body"]
    jb = json.dumps(body) if body is not None else None
    # forged and broken tokens: the valid body, so only the token refuses it
    if e["auth"]:
        for n, t in BAD_TOKENS + [("no token", None)]:
            yield n, dict(method=e["m"], path=path, body=jb, token=t), {401}, ()
        if e["auth"] == "admin":
            yield "customer token on an admin endpoint", dict(method=e["m"],
                path=path, body=jb, token=customer), {403}, ()
    # query: invalid UTF-8, NUL, a bad escape
    for n, q in (("invalid UTF-8 in the query", "x=%ff%fe"),
                 ("NUL in the query", "x=a%00b"),
                 ("a bad escape in the query", "x=%zz")):
        if e["oauth"]:
            continue
        yield n, dict(method=e["m"], path=path + "?" + q, body="{}" if body
                      is not None else None, token=tok), {400}, ()
    if e["list"]:
        for n, q in (("negative limit", "limit=-1"), ("zero limit", "limit=0"),
                     ("overflowing limit", "limit=99999999999999999999"),
                     ("limit not a number", "limit=ten"),
                     ("limit with SQL", "limit=1%20OR%201=1"),
                     ("forged cursor", "cursor=eyJpZCI6MX0"),
                     ("cursor with SQL", "cursor=%27%20OR%201=1--")):
            yield n, dict(method=e["m"], path=path + "?" + q, token=tok), {400}, ()
    if e["path"] == "/api/products" and e["m"] == "GET":
        for n, q in (("category with SQL", "category=%27%20OR%201=1--"),
                     ("q over 200 bytes", "q=" + "a" * 201),
                     ("negative min_price", "min_price=-1"),
                     ("overflowing max_price", "max_price=99999999999999999999"),
                     ("currency with SQL", "currency=E%27R")):
            yield n, dict(method=e["m"], path=path + "?" + q), {400}, ()
    # path captures
    for cap, val in e["paths"]:
        for n, bad in (("negative", "-1"), ("zero", "0"),
                       ("overflowing", "99999999999999999999"),
                       ("SQL", "1' OR '1'='1"), ("SQL comment", "1;--"),
                       ("invalid UTF-8", b"\xff\xfe"), ("NUL", "1\x00"),
                       ("control character", "a\x01b"), ("too long", "a" * 300)):
            if cap in ("sku", "slug") and n in ("negative", "zero", "overflowing",
                                                "SQL comment"):
                continue	# harmless strings for a sku or slug: a plain 404
            if cap == "sku" and e["m"] == "POST" and n == "SQL":
                continue	# restock may create any printable sku
            p = e["path"].replace("{%s}" % cap, urllib.parse.quote(bad, safe=""))
            for c2, v2 in e["paths"]:
                p = p.replace("{%s}" % c2, urllib.parse.quote(str(v2), safe=""))
            yield "%s %s in the path" % (n, cap), dict(method=e["m"], path=p,
                body=jb, token=tok), {400, 404}, ()
    # form bodies (the OAuth endpoints answer RFC 6749 errors)
    if e["form"] is not None:
        f = e["form"]
        enc = urllib.parse.urlencode
        FORM = "application/x-www-form-urlencoded"
        for n, b, want in (
                ("a bad escape in the form", enc(f) + "&x=%zz", {400}),
                ("invalid UTF-8 in the form", enc(f) + "&username=%ff%fe", {400}),
                ("NUL in the form", enc(dict(f, token="a\x00b")) + "&x=a%00b", {400}),
                ("a parameter twice", enc(f) + "&" + enc(f), {400}),
                ("a JSON body", json.dumps(f), {400, 415}),
                ("a body over 1 MB", enc(dict(f, token="x" * (1 << 20))), {413}),
                ("SQL in the form", enc(dict(f, username=SQLMETA, token=SQLMETA,
                                             client_id=SQLMETA)), {400, 401}),
                ("an empty body", "", {400, 401})) + ((
                ("grant_type missing", enc({k: v for k, v in f.items()
                 if k != "grant_type"}), {400}),
                ("a 10 KB username", enc(dict(f, username="x" * 10000)), {400}),
                ("a scope with control characters", enc(dict(f, scope="a\x01b")),
                 {400}),
                ("a refresh token with SQL", enc({"grant_type": "refresh_token",
                 "client_id": "web", "refresh_token": SQLMETA}), {400}),
                ("client_credentials for a public client", enc({"grant_type":
                 "client_credentials", "client_id": "web"}), {400, 401}),
                ("an unknown grant_type", enc(dict(f, grant_type="x' OR 1=1")),
                 {400})) if "grant_type" in f else ()):
            ct = "application/json" if n == "a JSON body" else FORM
            yield n, dict(method=e["m"], path=path, body=b, ctype=ct), want, ()
        yield "garbage Basic credentials", dict(method=e["m"], path=path,
            body=enc(f), ctype=FORM, headers={"Authorization": "Basic !!!"}), \
            {400, 401}, ()
        return
    if body is None:
        return
    # JSON bodies
    B = lambda n, b, want, fields=(), **kw: (n, dict(method=e["m"], path=path,
        body=b, token=tok, **kw), want, fields)
    yield B("text/plain body", jb, {415}, ctype="text/plain")
    yield B("no Content-Type", jb, {415}, ctype=None)
    yield B("truncated JSON", jb[:len(jb) // 2], {400})
    yield B("trailing garbage", jb + "}", {400})
    yield B("an array, not an object", "[" + jb + "]", {400})
    yield B("a bare string", '"x"', {400})
    yield B("an empty body", "", {400})
    yield B("nesting 64 deep", json.dumps(dict(body, extra=None))[:-1].replace(
        "null", "[" * 64 + "]" * 64) + "}", {400})
    yield B("nesting 300000 deep", "[" * 300000 + "]" * 300000, {400, 413})
    yield B("a body over 1 MB", json.dumps(dict(body, pad="x" * (1 << 20))), {413})
    yield B("a raw NUL in a string", jb[:-1] + ', "x": "a\x00b"}', {400})
    yield B("a lone surrogate escape", jb[:-1] + ', "x": "\\ud800"}', {400, 422})
    yield B("a duplicate member", jb[:-1] + ", " + jb[1:], {400})
    yield B("an unknown member", json.dumps(dict(body, bogus=1)), {422}, ("bogus",))
    if e["required"]:
        yield B("every required member missing", "{}", {422}, e["required"])
        for k in e["required"]:
            yield B("%s missing" % k, json.dumps(setp(body, k, DELETE)), {422}, (k,))
    for k, mx in e["strings"].items():
        for n, v in WRONG:
            yield B("%s is %s" % (k, n), json.dumps(setp(body, k, v)), {422}, (k,))
        yield B("%s one past its limit" % k, json.dumps(setp(body, k, "é" * (mx + 1))),
                {422}, (k,))
        yield B("%s of 1 MB" % k, json.dumps(setp(body, k, "x" * (1 << 20))), {413})
        yield B("%s holds an escaped NUL" % k, json.dumps(setp(body, k, "ab\x00cd")),
                {400, 422}, (k,))
        for n, raw in (("invalid UTF-8", b"\xff\xfe"),
                       ("a UTF-8 encoded surrogate", b"\xed\xa0\x80"),
                       ("an overlong UTF-8 '/'", b"\xc0\xaf"),
                       ("a raw control character", b"a\x01b")):
            yield B("%s holds %s" % (k, n), json.dumps(setp(body, k, "@RAW@")
                    ).encode().replace(b"@RAW@", raw), {400})
    for k in e["strict"]:
        yield B("%s with SQL metacharacters" % k, json.dumps(setp(body, k, SQLMETA)),
                {422}, (k,))
    for k, (lo, hi) in e["ints"].items():
        for n, v in WRONG_INT:
            if v is None and k not in e["required"] and "." not in k:
                continue	# null means absent for an optional member
            yield B("%s is %s" % (k, n), json.dumps(setp(body, k, v)), {422}, (k,))
        yield B("%s below its minimum" % k, json.dumps(setp(body, k, lo - 1)), {422}, (k,))
        yield B("%s above its maximum" % k, json.dumps(setp(body, k, hi + 1)), {422}, (k,))
        yield B("%s overflowing 64 bits" % k, json.dumps(setp(body, k,
                123456789)).replace("123456789", "99999999999999999999999"),
                {400, 422}, (k,))
        yield B("%s of 1e400" % k, json.dumps(setp(body, k, 123456789)).replace(
                "123456789", "1e400"), {400, 422}, (k,))

# every operation doc/openapi.yaml documents has a row, and no row is
# for an operation it does not document
doc = None
try:
    import yaml
    doc = yaml.safe_load(open(top + "/doc/openapi.yaml", encoding="utf-8"))
    docops = {(m.upper(), p) for p, item in doc["paths"].items()
              for m in ("get", "post", "put", "patch", "delete") if m in item}
    rows = {(e["m"], e["path"]) for e in E}
    out(docops == rows, "the table has a row for every documented operation",
        "undocumented rows %s; documented without a row %s" %
        (sorted(rows - docops), sorted(docops - rows)))
except ImportError:
    out(False, "the table has a row for every documented operation",
        "python3-yaml is not installed")

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
ONLY = os.environ.get("BAD_ONLY", "")
for e in E:
    if ONLY and ONLY not in e["path"]:
        continue
    for n, kw, want, fields in cases(e):
        name = "%s %s: %s" % (e["m"], e["path"], n)
        todo = next((why for sub, why in e["todo"] if sub in n), "")
        if e["anon"]:
            # no identity through the gateway: 401 unless refused sooner
            want, fields = {401} | (want & {400, 413}), ()
        write = kw["method"] in WRITES
        before = checksum(e["svc"]) if write else None
        st, ct, body = send(**kw)
        why = "%d %s %s" % (st, ct, body[:300].decode("utf-8", "replace"))
        bad = []
        if st not in want:
            bad.append("status %d, want %s" % (st, sorted(want)))
        if not 400 <= st < 500:
            bad.append("not a 4xx")
        try:
            j = json.loads(body)
        except ValueError:
            j = None
        oauth_err = e["oauth"] and ct.startswith("application/json") and \
            isinstance(j, dict) and isinstance(j.get("error"), str) and \
            isinstance(j.get("error_description"), str) and j["error_description"]
        if oauth_err:
            pass
        elif not ct.startswith("application/problem+json"):
            bad.append("Content-Type %r" % ct)
        elif not isinstance(j, dict) or j.get("status") != st or \
                not isinstance(j.get("detail"), str) or not j["detail"] or \
                not isinstance(j.get("title"), str):
            bad.append("not a problem with status and detail")
        elif st == 422:
            named = {x.get("field") for x in j.get("errors", [])
                     if isinstance(x, dict)}
            missing = [f for f in fields if f not in named]
            if missing or not named:
                bad.append("errors do not name %s (named %s)" %
                           (missing, sorted(x for x in named if x)))
        if doc is not None and 400 <= st < 500:
            # the document lists it (405 is global, in its description)
            rs = doc["paths"].get(e["path"], {}).get(e["m"].lower(), {}
                ).get("responses", {})
            if str(st) not in rs and "4XX" not in rs and st != 405:
                bad.append("%d is not documented for the operation" % st)
        if write and checksum(e["svc"]) != before:
            bad.append("the %s database changed" % e["svc"])
        out(not bad, name, "; ".join(bad) + " <- " + why if bad else "", todo)

# the forged-token control: a well-formed token with the real key passes,
# so the refusals above are about what was broken in each.
st, ct, body = send("GET", "/api/users", token=GOOD_FORGED)
out(st == 200, "control: a token forged with the real key is accepted",
    "%d %s" % (st, body[:200]))
PYEOF
rc=$?
[ -s "$TMP/badinput.err" ] && t_diag "$(cat "$TMP/badinput.err")"
[ "$rc" -eq 0 ] || t_fail "the table ran" "exit $rc"
t_results "$TMP/badinput.out"
n=$T_RESULTS
[ "$n" -ge 700 ] || t_fail "the table checked enough ($n cases)"

t_is "no service process died or was replaced" \
    "$(t_gateway_children | sort -n | tr '\n' ' ')" "$PIDS_BEFORE"
t_ok "the gateway is alive" t_alive "$T_GATEWAY_PID"
t_http GET "$T_ADMIN_URL/readyz"
t_is "the gateway is ready" "$T_STATUS" 200
t_done
