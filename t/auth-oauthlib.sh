#!/bin/bash
# A real OAuth 2.0 client against agora-auth through the gateway: the
# requests are prepared by python3-oauthlib (LegacyApplicationClient for
# the password grant, BackendApplicationClient for client_credentials,
# its refresh-token and RFC 7009 revocation request preparation), sent
# with urllib, and every answer is parsed by oauthlib's
# parse_request_body_response, which insists on RFC 6749 §5.1 (an
# access_token, token_type, an integer expires_in) and turns §5.2 errors
# into its exception classes (InvalidGrantError, InvalidClientError...).
#
#  - password grant of a registered customer with the public client "web";
#  - refresh: rotated, the old one reused is invalid_grant and revokes
#    the family (its successor is refused too);
#  - client_credentials of the confidential client "service" with
#    client_secret_basic and client_secret_post (no refresh token);
#  - errors: wrong secret (basic and post: 401 invalid_client with
#    WWW-Authenticate), unknown client, wrong password, unknown user,
#    scope, a grant the client may not use, an unsupported grant, no
#    grant_type, an unknown refresh token, a revoked one;
#  - every answer has Cache-Control: no-store and a JSON Content-Type.
# Needs python3-oauthlib (tools/packages).
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

"$PY" -c 'import oauthlib.oauth2' 2>/dev/null ||
    t_skip_all "python3-oauthlib is not installed" \
    "(apt-get install python3-oauthlib)"

t_mariadb_start
t_gateway_start
t_admin_token

# A customer of our own, so that a wrong password cannot lock the admin.
EMAIL=oauthlib@example.com
PASSWORD='correct horse 7'
t_http POST "$T_URL/api/users" \
    "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"O. Authlib\"}"
[ "$T_STATUS" = 201 ] || t_bail "registration failed: $T_STATUS $(t_body)"
SVC_ID=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_SERVICE_CLIENT_ID")
SVC_SECRET=$(. "$TMP/auth-bootstrap.env"; echo "$AGORA_SERVICE_CLIENT_SECRET")
[ -n "$SVC_SECRET" ] || t_bail "no service client secret from agora-auth -B"

"$PY" - "$T_URL" "$EMAIL" "$PASSWORD" "$SVC_ID" "$SVC_SECRET" \
    >"$TMP/oauthlib.out" 2>"$TMP/oauthlib.err" <<'PYEOF'
import base64, json, os, sys, urllib.error, urllib.parse, urllib.request
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"	# the test gateway is plain http on 127.0.0.1
from oauthlib.oauth2 import (BackendApplicationClient, LegacyApplicationClient,
    WebApplicationClient)
from oauthlib.oauth2.rfc6749 import errors

base, user, password, cid, secret = sys.argv[1:6]
TOKEN = base + "/api/auth/token"
REVOKE = base + "/api/auth/revoke"

def result(ok, name, why=""):
    print("%s\t%s\t%s" % ("PASS" if ok else "FAIL", name,
                          str(why).replace("\n", " ")[:400]), flush=True)

def post(url, body, headers=None):
    h = {"Content-Type": "application/x-www-form-urlencoded",
         "Accept": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()

def basic(i, s):
    # RFC 6749 §2.3.1: form-urlencode id and secret, then Basic.
    raw = "%s:%s" % (urllib.parse.quote_plus(i), urllib.parse.quote_plus(s))
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

def no_store(name, status, h):
    result("no-store" in (h.get("Cache-Control") or ""),
           "%s: %d with Cache-Control: no-store" % (name, status),
           h.get("Cache-Control"))
    result((h.get("Content-Type") or "").startswith("application/json"),
           "%s: Content-Type application/json" % name, h.get("Content-Type"))

def success(name, client, status, h, body, refresh):
    no_store(name, status, h)
    result(status == 200, "%s: 200" % name, "%d %s" % (status, body[:200]))
    try:
        tok = client.parse_request_body_response(body)
    except Exception as e:
        result(False, "%s: oauthlib accepts the answer" % name,
               "%s: %s" % (type(e).__name__, e))
        return None
    result(True, "%s: oauthlib accepts the answer" % name)
    result(tok.get("token_type") == "Bearer" and client.token_type == "Bearer",
           "%s: token_type Bearer" % name, tok.get("token_type"))
    result(isinstance(tok.get("expires_in"), int) and tok["expires_in"] > 0
           and abs(tok["expires_at"] - client._expires_at) < 1,
           "%s: expires_in a positive integer, expires_at set" % name,
           tok.get("expires_in"))
    result(client.access_token == tok["access_token"]
           and tok["access_token"].count(".") == 2,
           "%s: a JWT access token, kept by the client" % name)
    result(("refresh_token" in tok) == refresh,
           "%s: refresh token %s" % (name, "issued" if refresh else "absent"),
           sorted(tok))
    return tok

def failure(name, client, status, h, body, want_status, exc, code=None):
    """An RFC 6749 §5.2 answer that oauthlib turns into exc (and, as
    oauthlib maps invalid_request to several classes, error code)."""
    no_store(name, status, h)
    result(status == want_status, "%s: %d" % (name, want_status),
           "%d %s" % (status, body[:200]))
    try:
        client.parse_request_body_response(body)
    except exc as e:
        result(code is None or e.error == code,
               "%s: oauthlib raises %s" % (name, code or exc.__name__),
               "error %s" % e.error)
        result(bool(e.description), "%s: error_description given" % name)
        return e
    except Exception as e:
        result(False, "%s: oauthlib raises %s" % (name, exc.__name__),
               "raised %s: %s" % (type(e).__name__, e))
        return None
    result(False, "%s: oauthlib raises %s" % (name, exc.__name__),
           "nothing raised")
    return None

# --- password grant, public client "web"
web = LegacyApplicationClient("web")
st, h, b = post(TOKEN, web.prepare_request_body(username=user,
    password=password, include_client_id=True))
tok = success("password grant", web, st, h, b, True)
rt1 = tok and tok["refresh_token"]

# --- refresh, through the client's own request preparation
if rt1:
    url, hd, body = web.prepare_refresh_token_request(TOKEN, refresh_token=rt1,
                                                      client_id="web")
    result(url == TOKEN and "grant_type=refresh_token" in body,
           "refresh request prepared by oauthlib", body)
    st, h, b = post(url, body, hd)
    tok2 = success("refresh grant", web, st, h, b, True)
    rt2 = tok2 and tok2["refresh_token"]
    result(rt2 and rt2 != rt1, "refresh token rotated")
    # reusing the first one: invalid_grant, and the family is revoked
    url, hd, body = web.prepare_refresh_token_request(TOKEN, refresh_token=rt1,
                                                      client_id="web")
    st, h, b = post(url, body, hd)
    failure("reused refresh token", web, st, h, b, 400, errors.InvalidGrantError)
    if rt2:
        url, hd, body = web.prepare_refresh_token_request(TOKEN,
            refresh_token=rt2, client_id="web")
        st, h, b = post(url, body, hd)
        failure("successor after reuse (family revoked)", web, st, h, b, 400,
                errors.InvalidGrantError)

# --- client_credentials, confidential client "service"
for how in ("client_secret_basic", "client_secret_post"):
    svc = BackendApplicationClient(cid)
    if how == "client_secret_basic":
        body, hd = svc.prepare_request_body(), basic(cid, secret)
    else:
        body, hd = svc.prepare_request_body(include_client_id=True,
                                            client_secret=secret), {}
    st, h, b = post(TOKEN, body, hd)
    success("client_credentials, %s" % how, svc, st, h, b, False)

# --- errors (RFC 6749 §5.2), each parsed by oauthlib
svc = BackendApplicationClient(cid)
st, h, b = post(TOKEN, svc.prepare_request_body(), basic(cid, secret + "x"))
failure("wrong secret, client_secret_basic", svc, st, h, b, 401,
        errors.InvalidClientError)
result("Basic" in (h.get("WWW-Authenticate") or ""),
       "wrong secret, client_secret_basic: WWW-Authenticate Basic",
       h.get("WWW-Authenticate"))
st, h, b = post(TOKEN, svc.prepare_request_body(include_client_id=True,
                client_secret=secret + "x"))
failure("wrong secret, client_secret_post", svc, st, h, b, 401,
        errors.InvalidClientError)
nobody = BackendApplicationClient("no-such-client")
st, h, b = post(TOKEN, nobody.prepare_request_body(include_client_id=True,
                client_secret="whatever"))
failure("unknown client", nobody, st, h, b, 401, errors.InvalidClientError)
st, h, b = post(TOKEN, web.prepare_request_body(username=user,
    password=password + "x", include_client_id=True))
failure("wrong password", web, st, h, b, 400, errors.InvalidGrantError)
st, h, b = post(TOKEN, web.prepare_request_body(username="nobody@example.com",
    password=password, include_client_id=True))
failure("unknown user", web, st, h, b, 400, errors.InvalidGrantError)
st, h, b = post(TOKEN, web.prepare_request_body(username=user,
    password=password, scope=["no-such-scope"], include_client_id=True))
failure("scope beyond the client's", web, st, h, b, 400,
        errors.InvalidScopeError)
svcpw = LegacyApplicationClient(cid)
st, h, b = post(TOKEN, svcpw.prepare_request_body(username=user,
    password=password), basic(cid, secret))
failure("password grant for a client without it", svcpw, st, h, b, 400,
        errors.UnauthorizedClientError)
st, h, b = post(TOKEN, "grant_type=authorization_code&code=x&client_id=web")
failure("unsupported grant_type", web, st, h, b, 400,
        errors.UnsupportedGrantTypeError)
st, h, b = post(TOKEN, "client_id=web&username=x")
failure("no grant_type", web, st, h, b, 400, errors.OAuth2Error,
        "invalid_request")
st, h, b = post(TOKEN, web.prepare_refresh_body(refresh_token="forged-token",
                client_id="web"))
failure("unknown refresh token", web, st, h, b, 400, errors.InvalidGrantError)

# --- revocation (RFC 7009), prepared by oauthlib: the revoked refresh
# token no longer refreshes.
web2 = LegacyApplicationClient("web")
st, h, b = post(TOKEN, web2.prepare_request_body(username=user,
    password=password, include_client_id=True))
tok = success("second login", web2, st, h, b, True)
if tok:
    url, hd, body = web2.prepare_token_revocation_request(REVOKE,
        tok["refresh_token"], token_type_hint="refresh_token", client_id="web")
    st, h, b = post(url, body, hd)
    result(st == 200, "revocation prepared by oauthlib: 200", "%d %s" % (st, b[:200]))
    st, h, b = post(TOKEN, web2.prepare_refresh_body(
        refresh_token=tok["refresh_token"], client_id="web"))
    failure("revoked refresh token", web2, st, h, b, 400,
            errors.InvalidGrantError)
PYEOF
rc=$?
[ -s "$TMP/oauthlib.err" ] && t_diag "$(cat "$TMP/oauthlib.err")"
[ "$rc" -eq 0 ] || t_fail "the oauthlib client ran" "exit $rc"
n=0
while IFS=$'\t' read -r verdict name why; do
	n=$((n + 1))
	if [ "$verdict" = PASS ]; then
		t_pass "$name"
	else
		t_fail "$name" "$why"
	fi
done <"$TMP/oauthlib.out"
[ "$n" -ge 100 ] || t_fail "the client checked enough ($n checks)"
t_done
