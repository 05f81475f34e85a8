-- Maintenance mode: while MAINTENANCE is true, every request gets 503
-- with Retry-After and a problem+json body, except those from the
-- operators' addresses, which go through to test the new release.  Turn
-- it on and off by editing this file and sending SIGHUP to the gateway
-- (a bad file is refused and the old rules keep serving).
-- See agora-rules(5).

local MAINTENANCE = true
local RETRY_AFTER = "600"
local OPERATORS = { ["127.0.0.1"] = true, ["192.0.2.10"] = true }

local function maintenance(req)
	if not MAINTENANCE or OPERATORS[req.client] then
		return
	end
	return req:respond(503, {
		["Content-Type"] = "application/problem+json",
		["Retry-After"] = RETRY_AFTER,
	}, '{"type":"about:blank","title":"Service Unavailable",' ..
	    '"status":503,"detail":"agora is down for maintenance; ' ..
	    'back in a few minutes"}')
end

group { handler = maintenance, strip = "/api",
	route { prefix = "/api/products", service = "catalog" },
	route { prefix = "/api/categories", service = "catalog" },
	route { prefix = "/api/inventory", service = "inventory" },
}
