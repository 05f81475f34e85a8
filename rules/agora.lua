-- agora routing policy: the default rules shipped with agora-gateway.
-- See agora-rules(5).
--
-- Each route{} maps a method and a path pattern to a service of
-- gateway.conf(5); strip becomes SCRIPT_NAME and the rest of the path
-- PATH_INFO, so the catalog sees "/products/7" for "/api/products/7".
-- Path patterns are tried first (a literal segment before a {capture}),
-- then prefixes, longest first.
--
-- auth/roles follow API.md.  The gateway verifies the bearer token of
-- auth = "jwt" routes (the jwt block of gateway.conf), and each service
-- still checks the identity the gateway passes it (REMOTE_USER,
-- AUTH_ROLES), never client headers.
-- roles = any one of them; scopes = all of them.

-- catalog: products and categories
group { service = "catalog", strip = "/api",
	route { name = "products.list", methods = { "GET", "HEAD" },
		path = "/api/products" },
	route { name = "products.get", methods = { "GET", "HEAD" },
		path = "/api/products/{id}" },
	route { name = "categories.list", methods = { "GET", "HEAD" },
		path = "/api/categories" },
	route { name = "categories.get", methods = { "GET", "HEAD" },
		path = "/api/categories/{slug}" },

	group { auth = "jwt", roles = { "admin" },
		route { name = "products.create", methods = { "POST" },
			path = "/api/products" },
		route { name = "products.write",
			methods = { "PUT", "PATCH", "DELETE" },
			path = "/api/products/{id}" },
		route { name = "categories.create", methods = { "POST" },
			path = "/api/categories" },
	},

	-- Anything else under these prefixes still reaches the catalog,
	-- which answers 404 or 405 itself (as before path patterns).
	route { prefix = "/api/products" },
	route { prefix = "/api/categories" },
}

-- inventory: stock and reservations (the service checks the roles too)
group { service = "inventory", strip = "/api",
	route { name = "inventory.get", methods = { "GET", "HEAD" },
		path = "/api/inventory/{sku}" },
	group { auth = "jwt",
		route { name = "inventory.restock", methods = { "POST" },
			path = "/api/inventory/{sku}/restock",
			roles = { "admin" } },
		route { name = "reservations.create", methods = { "POST" },
			path = "/api/inventory/reservations",
			roles = { "service", "admin" } },
		route { name = "reservations.commit", methods = { "POST" },
			path = "/api/inventory/reservations/{id}/commit",
			roles = { "service" } },
		route { name = "reservations.get", methods = { "GET", "HEAD" },
			path = "/api/inventory/reservations/{id}",
			roles = { "service", "admin" } },
		route { name = "reservations.release", methods = { "DELETE" },
			path = "/api/inventory/reservations/{id}",
			roles = { "service" } },
	},
	route { prefix = "/api/inventory" },
}

-- auth: tokens and keys (/api/auth/* strips /api; /.well-known/* as is)
group { service = "auth",
	group { strip = "/api",
		route { name = "auth.token", methods = { "POST" },
			path = "/api/auth/token" },
		route { name = "auth.revoke", methods = { "POST" },
			path = "/api/auth/revoke" },
		route { name = "auth.introspect", methods = { "POST" },
			path = "/api/auth/introspect" },
		route { name = "auth.rotate", methods = { "POST" },
			path = "/api/auth/keys/rotate",
			auth = "jwt", roles = { "admin" } },
		route { prefix = "/api/auth" },
	},
	route { name = "auth.jwks", methods = { "GET", "HEAD" },
		path = "/.well-known/jwks.json" },
	route { name = "auth.discovery", methods = { "GET", "HEAD" },
		path = "/.well-known/openid-configuration" },
}

-- users: profiles and addresses (registration is public)
group { service = "users", strip = "/api",
	route { name = "users.register", methods = { "POST" },
		path = "/api/users" },
	group { auth = "jwt",
		route { name = "users.list", methods = { "GET", "HEAD" },
			path = "/api/users", roles = { "admin" } },
		route { prefix = "/api/users/me" },
	},
	route { prefix = "/api/users" },
}
