#!/bin/bash
# SQL metacharacters, backslashes, LIKE wildcards, unicode and emoji in
# every free-text field are stored and returned byte for byte, and the
# table survives.  Each case is sent twice: raw UTF-8 and \u-escaped JSON.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_gateway_start
# catalog writes need the admin role: every request carries its token
t_admin_token
T_TOKEN=$T_ADMIN_TOKEN
P=$T_URL/api/products

# The cases, as JSON files: case-N.json (raw UTF-8), case-N-esc.json
# (ASCII only, \uXXXX with surrogate pairs), case-N.hex (the UTF-8 hex of
# sku, name, description).
"$PY" - "$TMP" <<'PYEOF'
import json, sys
out = sys.argv[1]
metas = [
    "'\"\\;--",
    "'); DROP TABLE products; --",
    "\\ \\\\ \\' \\\" \\n \\0 \\x00 C:\\new\\table\\",
    "100% _pure_ %_% LIKE '%' ESCAPE '\\'",
    "Gr\u00fc\u00dfe \u2013 \u65e5\u672c\u8a9e \u2013 \u0645\u0631\u062d\u0628\u0627",
    "emoji \U0001F389\u2615\ufe0f\U0001F469\u200d\U0001F4BB \U0001F1EA\U0001F1FA",
    "`backtick` /* comment */ # hash \u0000".replace("\u0000", "nul?"),
    "tab\there\nnewline\r\ncrlf \u2028 sep",
]
for i, m in enumerate(metas):
    for esc in (False, True):
        p = {
            "sku": ("E" if esc else "R") + str(i) + "-" + m[:40],
            "name": m,
            "description": m + " | " + m[::-1],
            "price": {"amount": 100 + i, "currency": "EUR"},
        }
        base = "%s/case-%d%s" % (out, i, "-esc" if esc else "")
        with open(base + ".json", "wb") as f:
            f.write(json.dumps(p, ensure_ascii=esc).encode("utf-8"))
        with open(base + ".hex", "w") as f:
            f.write(" ".join(p[k].encode("utf-8").hex().upper()
                             for k in ("sku", "name", "description")))
print(len(metas))
PYEOF

# same FILE: the response's sku, name, description equal the request's.
same()
{
	"$PY" - "$1" "$TMP/resp.body" <<'PYEOF'
import json, sys
want = json.load(open(sys.argv[1], encoding="utf-8"))
got = json.load(open(sys.argv[2], encoding="utf-8"))
bad = [k for k in ("sku", "name", "description") if got.get(k) != want[k]]
for k in bad:
    print("# %s: sent %r got %r" % (k, want[k], got.get(k)))
sys.exit(1 if bad else 0)
PYEOF
}

n=0
for f in "$TMP"/case-*.json; do
	c=${f##*/}
	c=${c%.json}
	t_http POST "$P" "@$f"
	t_is "$c: created" "$T_STATUS" 201 ||
	    { t_diag "$(t_body | head -c 300)"; continue; }
	n=$((n + 1))
	id=$(t_json 'j["id"]')
	t_ok "$c: POST answer is verbatim" same "$f"
	t_http GET "$P/$id"
	t_ok "$c: GET answer is verbatim" same "$f"
	t_is "$c: stored bytes are verbatim" \
	    "$(t_sql "SELECT CONCAT_WS(' ', HEX(sku), HEX(name), HEX(description))
	    FROM products WHERE id = $id" catalog)" "$(cat "${f%.json}.hex")"
done

t_is "table products still there" \
    "$(t_sql "SHOW TABLES LIKE 'products'" catalog)" products
t_is "every product stored" "$(t_sql 'SELECT COUNT(*) FROM products' catalog)" "$n"
t_http GET "$P?limit=100"
t_is "list still works" "$T_STATUS" 200
t_is "list holds them all" "$(t_json 'len(j["items"])')" "$n"

# Metacharacters where an id or a cursor goes are refused, never run.
t_http GET "$T_URL/api/products/1%27%20OR%201=1%20--"
t_like "quote in the id: 400 or 404" "$T_STATUS" '^40[04]$'
t_http GET "$P" -- -G --data-urlencode "cursor=' OR 1=1 --"
t_is "quote in the cursor: 400" "$T_STATUS" 400
t_http GET "$P" -- -G --data-urlencode "limit=1; DROP TABLE products"
t_is "statement in the limit: 400" "$T_STATUS" 400

# A category is a slug: odd characters are refused with 422 naming it, or
# stored verbatim; never a 5xx.
t_http POST "$P" '{"sku": "CAT-1", "name": "c", "category": "k'"'"'; DROP TABLE products; --",
    "price": {"amount": 1, "currency": "EUR"}}'
case $T_STATUS in
422)	t_is "odd category: 422 names category" \
	    "$(t_json '[e["field"] for e in j["errors"]]')" '["category"]' ;;
201)	t_is "odd category: stored verbatim" "$(t_json 'j["category"]')" \
	    "k'; DROP TABLE products; --" ;;
*)	t_fail "odd category: status $T_STATUS, want 422 or 201" ;;
esac
t_http POST "$P" '{"sku": "CUR-1", "name": "c", "price": {"amount": 1, "currency": "E'"'"'R"}}'
t_problem "quote in the currency" 422
t_is "table products survived it all" \
    "$(t_sql "SHOW TABLES LIKE 'products'" catalog)" products
t_done
