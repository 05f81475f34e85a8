/*
 * GET /.well-known/openid-configuration: the authorization server
 * metadata (RFC 8414 names) for the endpoints this service has.
 */

#include <stdlib.h>

#include "auth.h"
#include "json.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

static const char *const discovery_grants[] = {
	"password", "client_credentials", "refresh_token", NULL
};
/* Public clients ("none") may get and revoke tokens, not introspect. */
static const char *const discovery_auth_methods[] = {
	"client_secret_basic", "client_secret_post", "none", NULL
};
static const char *const discovery_auth_confidential[] = {
	"client_secret_basic", "client_secret_post", NULL
};

/* Endpoint names and their paths under the issuer. */
static const struct {
	const char	*name;
	const char	*path;
} discovery_endpoints[] = {
	{ "token_endpoint", "/api/auth/token" },
	{ "revocation_endpoint", "/api/auth/revoke" },
	{ "introspection_endpoint", "/api/auth/introspect" },
	{ "jwks_uri", "/.well-known/jwks.json" },
};

static void
discovery_list(yajl_gen g, const char *key, const char *const *list)
{
	json_gen_cstr(g, key);
	yajl_gen_array_open(g);
	for (; *list != NULL; list++)
		json_gen_cstr(g, *list);
	yajl_gen_array_close(g);
}

void
discovery_handler(struct request *r, struct response *rs)
{
	static const char *const algs[] = { "ES256", NULL };
	static const char *const none[] = { NULL };
	yajl_gen	 g;
	char		*url;
	size_t		 i;

	(void)r;
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "issuer", auth_conf.ac_issuer);
	for (i = 0; i < sizeof discovery_endpoints /
	    sizeof discovery_endpoints[0]; i++) {
		xasprintf(&url, "%s%s", auth_conf.ac_issuer,
		    discovery_endpoints[i].path);
		json_gen_kv_str(g, discovery_endpoints[i].name, url);
		free(url);
	}
	/* No authorization endpoint: no response types. */
	discovery_list(g, "response_types_supported", none);
	discovery_list(g, "grant_types_supported", discovery_grants);
	discovery_list(g, "token_endpoint_auth_methods_supported",
	    discovery_auth_methods);
	discovery_list(g, "revocation_endpoint_auth_methods_supported",
	    discovery_auth_methods);
	discovery_list(g, "introspection_endpoint_auth_methods_supported",
	    discovery_auth_confidential);
	/* Access tokens (RFC 9068) are signed with: */
	discovery_list(g, "access_token_signing_alg_values_supported", algs);
	yajl_gen_map_close(g);
	response_header(rs, "Cache-Control", "public, max-age=300");
}
