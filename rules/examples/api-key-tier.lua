-- API-key tiers: partners send "X-Api-Key".  A key picks a tier; "gold"
-- partners get their own pool ("catalog-gold", a service{} in
-- gateway.conf with more processes) and a larger rate limit policy.
-- The key itself never reaches the backend: it is removed, and the
-- backend gets the partner and tier as FastCGI params.  An unknown key
-- gets 401.  See agora-rules(5).
--
-- Keys live here only for the example: in production, generate this
-- table from the partner database and reload the gateway (SIGHUP).

local KEYS = {
	["k-3f9a1c7e2b"] = { partner = "acme", tier = "gold" },
	["k-77d0e4a915"] = { partner = "globex", tier = "silver" },
}

local function tier(req)
	local key = req.headers:get("X-Api-Key")
	if key == nil then
		return			-- anonymous: the public limits apply
	end
	local who = KEYS[key]
	if who == nil then
		return req:respond(401, {
			["Content-Type"] = "application/problem+json",
			["WWW-Authenticate"] = 'ApiKey realm="agora"',
		}, '{"type":"about:blank","title":"Unauthorized",' ..
		    '"status":401,"detail":"unknown API key"}')
	end
	req.headers:remove("X-Api-Key")
	req.params:set("AGORA_PARTNER", who.partner)
	req.params:set("AGORA_TIER", who.tier)
	if who.tier == "gold" then
		req:set_service("catalog-gold")
	end
end

-- "per_key" and "per_ip" are rate-limit policies of gateway.conf(5).
group { service = "catalog", strip = "/api", handler = tier,
	limits = { "per_key", "per_ip" },
	route { methods = { "GET", "HEAD" }, path = "/api/products" },
	route { methods = { "GET", "HEAD" }, path = "/api/products/{id}" },
	route { methods = { "GET", "HEAD" }, path = "/api/categories" },
}
