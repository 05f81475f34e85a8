/*
 * Routing rules from the Lua files in rules/, compiled at load into C
 * structures so that matching a request costs no Lua call.  See
 * agora-rules(5) for the language.
 *
 * The Lua file declares routes, alone or in groups with shared defaults:
 *
 *	route { prefix = "/api/categories", service = "catalog",
 *	    strip = "/api" }
 *	group { service = "catalog", strip = "/api",
 *		route { methods = {"GET","HEAD"}, path = "/api/products/{id}" },
 *		route { methods = {"PUT"}, path = "/api/products/{id}",
 *		    auth = "jwt", roles = {"admin"} },
 *	}
 *
 * prefix matches on whole path segments ("/api/products" matches
 * "/api/products" and "/api/products/7", not "/api/productsX").  path is a
 * pattern of whole segments: literals, {name} captures one segment and a
 * final {name...} captures the rest.  strip (optional, a leading literal
 * part of prefix or path) becomes SCRIPT_NAME, the rest of the path
 * PATH_INFO.
 *
 * Matching order: path patterns first (at each segment a literal beats a
 * {capture}, which beats a {rest...}), then prefixes, longest first.  The
 * first route whose path and method both match wins; when only paths
 * match, the answer is "405" with the union of their methods.
 */
#ifndef AGORA_PROXY_RULES_H
#define AGORA_PROXY_RULES_H

#include <stddef.h>

struct gw_service;
struct rules_node;

/* Method bits; RULES_M_ALL (the default) also takes unlisted methods. */
#define RULES_M_GET	0x0001u
#define RULES_M_HEAD	0x0002u
#define RULES_M_POST	0x0004u
#define RULES_M_PUT	0x0008u
#define RULES_M_PATCH	0x0010u
#define RULES_M_DELETE	0x0020u
#define RULES_M_OPTIONS	0x0040u
#define RULES_M_TRACE	0x0080u
#define RULES_M_OTHER	0x8000u		/* any method not listed above */
#define RULES_M_ALL	0xffffu

#define RULES_MAX_CAPTURES	8

enum rule_kind {
	RULE_PREFIX,		/* prefix = */
	RULE_PATH,		/* path = */
};

enum rule_auth {
	RULE_AUTH_NONE,
	RULE_AUTH_JWT,
};

enum rule_fallback {
	RULE_FALLBACK_NONE,
	RULE_FALLBACK_STATIC,	/* r_fb_status + r_fb_json */
	RULE_FALLBACK_ROUTE,	/* r_fb_route */
	RULE_FALLBACK_LUA,	/* a function (proxy/lua.h) */
};

/* A list of names (roles, scopes, rate-limit policies). */
struct rule_names {
	char			**rn_v;
	size_t			  rn_n;
};

/* breaker = { ... }: 0 in a field means "the service's value". */
struct rule_breaker {
	int			 rb_set;	/* the route has an override */
	int			 rb_volume;
	int			 rb_error_pct;
	long			 rb_sleep_ms;
	int			 rb_probes;
};

struct rule_route {
	enum rule_kind		 r_kind;
	char			*r_prefix;	/* prefix, or path pattern */
	size_t			 r_prefix_len;
	char			*r_strip;	/* "" when none */
	size_t			 r_strip_len;
	char			*r_service_name;
	struct gw_service	*r_service;	/* resolved by config_check() */
	int			 r_line;	/* in the rules file */
	int			 r_index;	/* 1-based, declaration order */

	char			*r_name;	/* NULL when unnamed */
	unsigned		 r_methods;	/* RULES_M_* bits */
	char			*r_capnames[RULES_MAX_CAPTURES];
	size_t			 r_ncaps;
	enum rule_auth		 r_auth;
	struct rule_names	 r_roles;
	struct rule_names	 r_scopes;
	struct rule_names	 r_limits;	/* rate-limit policy names */
	long			 r_timeout_ms;	/* 0: the service's */
	int			 r_retries;	/* -1: the service's */
	int			 r_retry_non_idempotent;
	struct rule_breaker	 r_breaker;
	enum rule_fallback	 r_fallback;
	int			 r_fb_status;
	char			*r_fb_json;
	char			*r_fb_route_name;
	const struct rule_route	*r_fb_route;
	int			 r_handler;	/* has a handler function */
};

struct rules {
	char			*rl_path;
	struct rule_route	*rl_routes;	/* longest r_prefix first */
	size_t			 rl_nroutes;
	struct rules_node	*rl_trie;	/* path patterns */
};

enum rules_result {
	RULES_NO_ROUTE,		/* 404 */
	RULES_MATCH,
	RULES_BAD_METHOD,	/* 405, m_allow says which would do */
};

struct rule_capture {
	const char		*c_name;	/* owned by the route */
	const char		*c_value;	/* points into the path */
	size_t			 c_len;
};

struct rule_match {
	const struct rule_route	*m_route;	/* RULES_MATCH only */
	struct rule_capture	 m_caps[RULES_MAX_CAPTURES];
	size_t			 m_ncaps;
	unsigned		 m_allow;	/* RULES_BAD_METHOD only */
	char			 m_allow_str[64];  /* "GET, HEAD" */
};

/*
 * Loads and compiles a rules file in a sandboxed Lua state that is closed
 * before returning.  Returns the rules (the caller frees them with
 * rules_free()), or NULL with a "file:line: message" in err.
 */
struct rules		*rules_load(const char *path, char *err, size_t errlen);

/*
 * The route for method and path (no query string).  method NULL matches
 * any route.  Fills out (captures point into path) and returns a
 * rules_result.
 */
enum rules_result	 rules_lookup(const struct rules *, const char *method,
			    const char *path, size_t path_len,
			    struct rule_match *out);

/* The route for path whatever the method, or NULL (rules_lookup above). */
const struct rule_route	*rules_match(const struct rules *, const char *path,
			    size_t path_len);

/* The route called name, or NULL. */
const struct rule_route	*rules_find(const struct rules *, const char *name);

/* RULES_M_* bit for a method name; RULES_M_OTHER when not one of ours. */
unsigned		 rules_method_bit(const char *method);

void			 rules_free(struct rules *);

/*
 * For proxy/lua.c: opens the safe libraries in L (base, string, table,
 * math, utf8 minus what reaches outside), defines route{} and group{},
 * runs the rules file and pushes the list of route declarations, in
 * declaration order (r_index), as Lua tables.  Returns 0, or -1 with err.
 * quiet: print() logs nothing (a reload of a file already loaded once).
 */
struct lua_State;
int			 rules_declare(struct lua_State *, const char *path,
			    int quiet, char *err, size_t errlen);
void			 rules_sandbox(struct lua_State *);

#endif
