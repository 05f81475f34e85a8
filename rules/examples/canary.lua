-- Canary split by percentage: 5% of the product reads go to a second
-- pool, "catalog-canary" (a service{} block in gateway.conf running the
-- new build).  The split is sticky: req:bucket() hashes a string to
-- 0..99, so the same user (or, without a token, the same client
-- address) always lands on the same side.  See agora-rules(5).

local CANARY_PERCENT = 5

local function canary(req)
	local who = req.claims and req.claims.sub or req.client
	if req:bucket(who) < CANARY_PERCENT then
		req:set_service("catalog-canary")
		-- lets the backend and its logs tell the two apart
		req.params:set("AGORA_CANARY", "1")
	end
end

group { service = "catalog", strip = "/api", handler = canary,
	route { methods = { "GET", "HEAD" }, path = "/api/products" },
	route { methods = { "GET", "HEAD" }, path = "/api/products/{id}" },
}

-- Writes are never split.
route { prefix = "/api/products", service = "catalog", strip = "/api" }

-- Not sticky: a plain random share of the requests, e.g. to warm up a
-- cache.  math.random is seeded per loop thread.
route { methods = { "GET" }, path = "/api/categories", service = "catalog",
	strip = "/api",
	handler = function(req)
		if math.random(100) <= 20 then
			req:set_service("catalog-canary")
		end
	end }
