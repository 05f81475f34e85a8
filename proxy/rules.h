/*
 * Routing rules from the Lua files in rules/, compiled at load into a C
 * table so that matching a request costs no Lua call.
 *
 * The Lua file calls route{} once per route:
 *
 *	route { prefix = "/api/products", service = "catalog", strip = "/api" }
 *
 * prefix matches on whole path segments ("/api/products" matches
 * "/api/products" and "/api/products/7", not "/api/productsX"); the
 * longest prefix wins.  strip (optional, a prefix of prefix) becomes
 * SCRIPT_NAME, and the rest of the path PATH_INFO.
 */
#ifndef AGORA_PROXY_RULES_H
#define AGORA_PROXY_RULES_H

#include <stddef.h>

struct gw_service;

struct rule_route {
	char			*r_prefix;
	size_t			 r_prefix_len;
	char			*r_strip;	/* "" when none */
	size_t			 r_strip_len;
	char			*r_service_name;
	struct gw_service	*r_service;	/* resolved by config_check() */
	int			 r_line;	/* in the rules file */
};

struct rules {
	char			*rl_path;
	struct rule_route	*rl_routes;	/* longest prefix first */
	size_t			 rl_nroutes;
};

/*
 * Loads and compiles a rules file in a sandboxed Lua state that is closed
 * before returning.  Returns the rules (the caller frees them with
 * rules_free()), or NULL with a "file:line: message" in err.
 */
struct rules		*rules_load(const char *path, char *err, size_t errlen);

/* The route for path (no query string), or NULL. */
const struct rule_route	*rules_match(const struct rules *, const char *path,
			    size_t path_len);

void			 rules_free(struct rules *);

#endif
