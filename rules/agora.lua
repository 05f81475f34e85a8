-- agora routing policy: the default rules shipped with agora-gateway.
-- See agora-rules(5).  Each route{} maps a path prefix (whole segments,
-- longest prefix wins) to a service of gateway.conf(5); strip becomes
-- SCRIPT_NAME and the rest of the path PATH_INFO, so the catalog sees
-- "/products/7" for a request to "/api/products/7".

-- catalog: products and categories
route { prefix = "/api/products", service = "catalog", strip = "/api" }
route { prefix = "/api/categories", service = "catalog", strip = "/api" }
