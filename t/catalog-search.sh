#!/bin/bash
# Catalog search and filters through the gateway: ?q= full-text (boolean
# mode, every word required, as a prefix), min_price, max_price,
# currency, cursor paging scoped to the query, and user input full of
# boolean-mode operators that must never become a syntax error.
. "${top_srcdir:-$(dirname "$0")/..}/t/lib.sh"

t_mariadb_start
t_gateway_start
# catalog writes need the admin role: every request carries its token
t_admin_token
T_TOKEN=$T_ADMIN_TOKEN
P=$T_URL/api/products

mk()	# sku name description amount currency
{
	t_http POST "$P" "{\"sku\": \"$1\", \"name\": \"$2\",
	    \"description\": \"$3\", \"price\": {\"amount\": $4,
	    \"currency\": \"$5\"}}"
	[ "$T_STATUS" = 201 ] || t_fail "create $1: $T_STATUS $(t_body)"
}
mk MUG-1 "Red mug" "A big stoneware mug for the tea" 1299 EUR
mk MUG-2 "Blue mug" "Enamel camping mug" 899 EUR
mk MUG-3 "Mugshot poster" "Framed print" 2500 USD
mk BK-1 "The C Programming Language" "Kernighan and Ritchie" 4999 EUR
mk BK-2 "Go in practice" "About the Go language" 3999 USD
mk TEA-1 "Teapot" "Cast iron, 800 ml" 4500 EUR
mk GRU-1 "Grüße aus Köln" "Postkarte mit Umlauten" 150 EUR

skus()
{
	t_json '" ".join(p["sku"] for p in j["items"])'
}
q()	# query-string pairs... -> GET with them url-encoded
{
	local args=() a
	for a in "$@"; do
		args+=(--data-urlencode "$a")
	done
	t_http GET "$P" -- -G "${args[@]}"
}

# --- full-text search
q q=mug
t_is "q=mug: whole words and prefixes (mugshot)" "$(skus)" "MUG-1 MUG-2 MUG-3"
q "q=red mug"
t_is "q=red mug: every word is required" "$(skus)" "MUG-1"
q q=MUG
t_is "search ignores case" "$(skus)" "MUG-1 MUG-2 MUG-3"
q q=stonew
t_is "a word matches as a prefix" "$(skus)" "MUG-1"
q q=kernighan
t_is "description is searched" "$(skus)" "BK-1"
q "q=the"
t_is "no stopwords: the" "$(skus)" "MUG-1 BK-1 BK-2"
q "q=grüße"
t_is "non-ASCII words" "$(skus)" "GRU-1"
q q=nothing-like-this
t_is "no match: empty list" "$T_STATUS $(skus) $(t_json 'j["next_cursor"]')" "200  null"

# --- boolean operators and SQL in q: never a syntax error, never 5xx
for bad in '+' '-' '*' '"' '"mug' 'mug"' '(mug' 'mug)' '>mug <tea' '~mug' \
    '@8 mug' '+-*' '"" ()' "mug' OR 1=1 --" 'mug; DROP TABLE products' \
    '\\' '%_' 'mug*' '-mug' '+mug -red' '((((' 'a@b.c' '+' "$(printf 'x%.0s' $(seq 100))"; do
	q "q=$bad"
	case $T_STATUS in
	200)	t_pass "q=$bad: 200" ;;
	*)	t_fail "q=$bad: status $T_STATUS" "$(t_body | head -c 200)" ;;
	esac
done
q "q=-mug"
t_is "a leading '-' does not exclude" "$(skus)" "MUG-1 MUG-2 MUG-3"
q 'q="red mug"'
t_is "quotes are separators" "$(skus)" "MUG-1"
q "q=$(printf 'x%.0s' $(seq 201))"
t_problem "q over 200 bytes" 400
t_http GET "$P?q=%ff%fe"
t_problem "q not UTF-8" 400

# --- filters
q min_price=1000 max_price=4500
t_is "price range (inclusive)" "$(skus)" "MUG-1 MUG-3 BK-2 TEA-1"
q currency=USD
t_is "currency" "$(skus)" "MUG-3 BK-2"
q q=mug currency=EUR max_price=1000
t_is "search with filters" "$(skus)" "MUG-2"
q min_price=5000
t_is "nothing that dear" "$(skus)" ""
for bad in min_price=-1 min_price=abc max_price=1.5 "max_price=1 OR 1=1" \
    currency=eur currency=EURO "currency=E'R"; do
	q "$bad"
	t_problem "$bad" 400
done

# --- paging through a search: cursors belong to their query
q q=mug limit=2
t_is "search page 1" "$(skus)" "MUG-1 MUG-2"
cursor=$(t_json 'j["next_cursor"]')
q q=mug limit=2 "cursor=$cursor"
t_is "search page 2" "$(skus) $(t_json 'j["next_cursor"]')" "MUG-3 null"
q q=tea limit=2 "cursor=$cursor"
t_problem "the cursor of another search" 400
q q=mug limit=2 currency=EUR "cursor=$cursor"
t_problem "the cursor with another filter" 400
q limit=2 "cursor=$cursor"
t_problem "a search cursor on the plain list" 400
q min_price=100 limit=3
t_is "filtered page 1" "$(skus)" "MUG-1 MUG-2 MUG-3"
cursor=$(t_json 'j["next_cursor"]')
q min_price=100 limit=3 "cursor=$cursor"
t_is "filtered page 2" "$(skus)" "BK-1 BK-2 TEA-1"
cursor=$(t_json 'j["next_cursor"]')
q min_price=100 limit=3 "cursor=$cursor"
t_is "filtered page 3" "$(skus) $(t_json 'j["next_cursor"]')" "GRU-1 null"

# --- a change is searchable at once; a deleted product is not
id=$(q q=teapot; t_json 'j["items"][0]["id"]')
t_http PATCH "$P/$id" '{"name": "Kettle"}'
q q=teapot
t_is "renamed: the old name is gone" "$(skus)" ""
q q=kettle
t_is "renamed: the new name is found" "$(skus)" "TEA-1"
t_http DELETE "$P/$id"
q q=kettle
t_is "deleted: not found" "$(skus)" ""
t_done
