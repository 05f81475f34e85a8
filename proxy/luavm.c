/*
 * The request-phase Lua runtime.  A runtime is one lua_State with the
 * rules sandbox, a memory cap (its allocator) and an instruction budget
 * per call (a count hook that raises, then raises on every instruction
 * so that nothing can go on).  The request is a fresh table per call;
 * its methods check that they are called during that call, so a request
 * kept in a global cannot reach a later one.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lualib.h>

#include "log.h"
#include "xmalloc.h"
#include "luavm.h"

#define LUAVM_KEY_HANDLERS	"agora.lua.handlers"
#define LUAVM_KEY_FALLBACKS	"agora.lua.fallbacks"
#define LUAVM_KEY_REQMT	"agora.lua.reqmt"
#define LUAVM_KEY_HDRMT	"agora.lua.hdrmt"
#define LUAVM_KEY_PARMT	"agora.lua.parmt"
#define LUAVM_LOAD_BUDGET	10000000L	/* loading the file again */
#define LUAVM_CLAIMS_DEPTH	16

/* The call under way, reachable from the request's methods. */
struct luavm_callctx {
	const struct luavm_request *c_req;
	struct luavm_result	*c_res;
	const void		*c_reqobj;
	const void		*c_hdrobj;
	const void		*c_parobj;
};

struct luavm {
	lua_State		*rt_L;
	const struct rules	*rt_rules;
	size_t			 rt_mem;
	size_t			 rt_memlimit;
	long			 rt_budget;
	int			 rt_memhit;
	int			 rt_runaway;
	struct luavm_callctx	*rt_call;
};

/* Parameters the gateway sets from a verified token, never a rule. */
static const char *const luavm_reserved[] = {
	"AUTH_ROLES", "AUTH_SCOPE", "AUTH_TYPE", "REMOTE_USER",
};

static void *
luavm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct luavm	*rt = ud;
	void			*p;

	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		rt->rt_mem -= osize;
		return NULL;
	}
	if (nsize > osize && rt->rt_mem + (nsize - osize) > rt->rt_memlimit) {
		rt->rt_memhit = 1;
		return NULL;
	}
	if ((p = realloc(ptr, nsize)) == NULL)
		return NULL;
	rt->rt_mem = rt->rt_mem - osize + nsize;
	return p;
}

static void
luavm_hook(lua_State *L, lua_Debug *ar)
{
	struct luavm	*rt;
	void			*ud;

	(void)ar;
	lua_getallocf(L, &ud);
	rt = ud;
	rt->rt_runaway = 1;
	/* every instruction from now on raises: the budget is spent */
	lua_sethook(L, luavm_hook, LUA_MASKCOUNT, 1);
	luaL_where(L, 0);
	lua_pushfstring(L, "%srule ran too long (more than %d instructions)",
	    lua_tostring(L, -1), (int)rt->rt_budget);
	lua_error(L);
}

static int
luavm_panic(lua_State *L)
{
	fatalx("lua: unprotected Lua error: %s", lua_tostring(L, -1));
}

static struct luavm *
luavm_get(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* The current call, when self (argument 1) is its object of kind. */
static struct luavm_callctx *
luavm_self(lua_State *L, int kind)
{
	struct luavm	*rt = luavm_get(L);
	struct luavm_callctx	*c = rt->rt_call;
	const void		*p = lua_topointer(L, 1);

	if (c == NULL || p == NULL || (kind == 0 && p != c->c_reqobj) ||
	    (kind == 1 && p != c->c_hdrobj) || (kind == 2 && p != c->c_parobj))
		luaL_error(L, "request object used outside its call (or "
		    "called with \".\" instead of \":\")");
	return c;
}

static int
luavm_token(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 256)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    strchr("!#$%&'*+-.^_`|~", s[i]) != NULL))
			return 0;
	return 1;
}

static int
luavm_value_ok(const char *s, size_t len)
{
	return memchr(s, '\r', len) == NULL && memchr(s, '\n', len) == NULL &&
	    memchr(s, '\0', len) == NULL;
}

static const char *
luavm_hdrname(lua_State *L, int idx)
{
	size_t		 len;
	const char	*s = luaL_checklstring(L, idx, &len);

	if (!luavm_token(s, len))
		luaL_error(L, "bad header name \"%s\"", s);
	return s;
}

static const char *
luavm_hdrvalue(lua_State *L, int idx)
{
	size_t		 len;
	const char	*s;

	if (lua_type(L, idx) == LUA_TNUMBER)
		lua_tostring(L, idx);	/* converts in place */
	s = luaL_checklstring(L, idx, &len);
	if (!luavm_value_ok(s, len))
		luaL_error(L, "header value holds CR, LF or NUL");
	return s;
}

/* headers:get(name): the edits of this call first, then the request. */
static int
luavm_hdr_get(lua_State *L)
{
	struct luavm_callctx		*c = luavm_self(L, 1);
	const struct luavm_request	*rq = c->c_req;
	const struct luavm_hdr_edit	*e;
	const struct luavm_header		*h;
	const char			*name;
	luaL_Buffer			 b;
	size_t				 i, len;
	int				 n = 0;

	name = luaL_checklstring(L, 2, &len);
	for (i = c->c_res->lres_nedits; i > 0; i--) {
		e = &c->c_res->lres_edits[i - 1];
		if (strcasecmp(e->he_name, name) != 0)
			continue;
		if (e->he_op == LUAVM_HDR_REMOVE)
			lua_pushnil(L);
		else
			lua_pushstring(L, e->he_value);
		return 1;
	}
	luaL_buffinit(L, &b);
	for (i = 0; i < rq->lr_nheaders; i++) {
		h = &rq->lr_headers[i];
		if (h->h_name_len != len || strncasecmp(h->h_name, name, len))
			continue;
		if (n++ > 0)
			luaL_addstring(&b, ", ");
		luaL_addlstring(&b, h->h_value, h->h_value_len);
	}
	luaL_pushresult(&b);
	if (n == 0)
		lua_pushnil(L);
	return 1;
}

static void
luavm_edit(struct luavm_result *res, enum luavm_hdr_op op, const char *name,
    const char *value)
{
	struct luavm_hdr_edit	*e;

	res->lres_edits = xreallocarray(res->lres_edits, res->lres_nedits + 1,
	    sizeof(*res->lres_edits));
	e = &res->lres_edits[res->lres_nedits++];
	e->he_op = op;
	e->he_name = xstrdup(name);
	e->he_value = value != NULL ? xstrdup(value) : NULL;
}

static int
luavm_hdr_set(lua_State *L)
{
	struct luavm_callctx	*c = luavm_self(L, 1);
	const char		*name, *value;

	name = luavm_hdrname(L, 2);
	value = luavm_hdrvalue(L, 3);
	luavm_edit(c->c_res, LUAVM_HDR_SET, name, value);
	return 0;
}

static int
luavm_hdr_remove(lua_State *L)
{
	struct luavm_callctx	*c = luavm_self(L, 1);

	luavm_edit(c->c_res, LUAVM_HDR_REMOVE, luavm_hdrname(L, 2), NULL);
	return 0;
}

/* Adds or replaces name in a list of name/value pairs. */
static void
luavm_kv_put(struct luavm_kv **v, size_t *n, const char *name,
    const char *value, size_t vlen, int nocase)
{
	struct luavm_kv	*kv;
	size_t		 i;

	for (i = 0; i < *n; i++)
		if ((nocase ? strcasecmp((*v)[i].kv_name, name) :
		    strcmp((*v)[i].kv_name, name)) == 0)
			break;
	if (i == *n) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		kv = &(*v)[(*n)++];
		kv->kv_name = xstrdup(name);
	} else {
		kv = &(*v)[i];
		free(kv->kv_value);
	}
	kv->kv_value = xmalloc(vlen + 1);
	memcpy(kv->kv_value, value, vlen);
	kv->kv_value[vlen] = '\0';
	kv->kv_value_len = vlen;
}

/* params:set(name, value): a FastCGI param for the backend. */
static int
luavm_par_set(lua_State *L)
{
	struct luavm_callctx	*c = luavm_self(L, 2);
	const char		*name, *value;
	size_t			 len, vlen, i;

	name = luaL_checklstring(L, 2, &len);
	if (len == 0 || len > 128 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return luaL_error(L, "bad param name \"%s\" (letters, digits "
		    "and \"_\")", name);
	for (i = 0; i < sizeof(luavm_reserved) / sizeof(*luavm_reserved);
	    i++)
		if (strcmp(name, luavm_reserved[i]) == 0)
			return luaL_error(L, "param %s is set by the gateway "
			    "from the token only", name);
	if (lua_type(L, 3) == LUA_TNUMBER)
		lua_tostring(L, 3);
	value = luaL_checklstring(L, 3, &vlen);
	luavm_kv_put(&c->c_res->lres_params, &c->c_res->lres_nparams, name,
	    value, vlen, 0);
	return 0;
}

static int
luavm_par_get(lua_State *L)
{
	struct luavm_callctx	*c = luavm_self(L, 2);
	const char		*name = luaL_checkstring(L, 2);
	size_t			 i;

	for (i = 0; i < c->c_res->lres_nparams; i++)
		if (strcmp(c->c_res->lres_params[i].kv_name, name) == 0) {
			lua_pushlstring(L, c->c_res->lres_params[i].kv_value,
			    c->c_res->lres_params[i].kv_value_len);
			return 1;
		}
	lua_pushnil(L);
	return 1;
}

/* req:set_service(name): the caller checks that it exists. */
static int
luavm_set_service(lua_State *L)
{
	struct luavm_callctx	*c = luavm_self(L, 0);
	const char		*name;
	size_t			 len;

	name = luaL_checklstring(L, 2, &len);
	if (len == 0 || len > 64 || !luavm_token(name, len))
		return luaL_error(L, "bad service name \"%s\"", name);
	free(c->c_res->lres_service);
	c->c_res->lres_service = xstrdup(name);
	lua_pushvalue(L, 2);
	lua_setfield(L, 1, "service");
	return 0;
}

/* req:respond(status [, headers [, body]]): answer without a backend. */
static int
luavm_respond(lua_State *L)
{
	struct luavm_callctx	*c = luavm_self(L, 0);
	struct luavm_result	*res = c->c_res;
	lua_Integer		 status;
	const char		*body = NULL, *v;
	size_t			 blen = 0, vlen, i;

	status = luaL_checkinteger(L, 2);
	if (status < 100 || status > 599)
		return luaL_error(L, "respond: status %d is not from 100 to "
		    "599", (int)status);
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	if (!lua_isnoneornil(L, 4))
		body = luaL_checklstring(L, 4, &blen);
	/* check everything before recording anything */
	if (!lua_isnoneornil(L, 3)) {
		lua_pushnil(L);
		while (lua_next(L, 3) != 0) {
			if (lua_type(L, -2) != LUA_TSTRING)
				return luaL_error(L, "respond: header names "
				    "must be strings");
			lua_pushvalue(L, -2);
			luavm_hdrname(L, -1);
			lua_pop(L, 1);
			luavm_hdrvalue(L, -1);
			lua_pop(L, 1);
		}
	}
	for (i = 0; i < res->lres_nheaders; i++) {
		free(res->lres_headers[i].kv_name);
		free(res->lres_headers[i].kv_value);
	}
	free(res->lres_headers);
	res->lres_headers = NULL;
	res->lres_nheaders = 0;
	free(res->lres_body);
	res->lres_body = NULL;
	res->lres_body_len = 0;
	if (!lua_isnoneornil(L, 3)) {
		lua_pushnil(L);
		while (lua_next(L, 3) != 0) {
			v = lua_tolstring(L, -1, &vlen);
			luavm_kv_put(&res->lres_headers, &res->lres_nheaders,
			    lua_tostring(L, -2), v, vlen, 1);
			lua_pop(L, 1);
		}
	}
	if (body != NULL) {
		res->lres_body = xmalloc(blen + 1);
		memcpy(res->lres_body, body, blen);
		res->lres_body[blen] = '\0';
		res->lres_body_len = blen;
	}
	res->lres_status = (int)status;
	return 0;
}

/* req:bucket(s): 0..99 from a hash of s, for sticky percentage splits. */
static int
luavm_bucket(lua_State *L)
{
	const unsigned char	*s;
	size_t			 len, i;
	unsigned int		 h = 2166136261u;	/* FNV-1a */

	(void)luavm_self(L, 0);
	s = (const unsigned char *)luaL_checklstring(L, 2, &len);
	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	lua_pushinteger(L, (lua_Integer)(h % 100));
	return 1;
}

static void
luavm_claims(lua_State *L, yajl_val v, int depth)
{
	size_t	 i;

	if (depth > LUAVM_CLAIMS_DEPTH)
		luaL_error(L, "claims nest too deep");
	luaL_checkstack(L, 4, "claims");
	if (v == NULL || YAJL_IS_NULL(v))
		lua_pushnil(L);
	else if (YAJL_IS_STRING(v))
		lua_pushstring(L, YAJL_GET_STRING(v));
	else if (YAJL_IS_INTEGER(v))
		lua_pushinteger(L, YAJL_GET_INTEGER(v));
	else if (YAJL_IS_NUMBER(v))
		lua_pushnumber(L, YAJL_GET_DOUBLE(v));
	else if (YAJL_IS_TRUE(v))
		lua_pushboolean(L, 1);
	else if (YAJL_IS_FALSE(v))
		lua_pushboolean(L, 0);
	else if (YAJL_IS_ARRAY(v)) {
		lua_createtable(L, (int)v->u.array.len, 0);
		for (i = 0; i < v->u.array.len; i++) {
			luavm_claims(L, v->u.array.values[i], depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
	} else if (YAJL_IS_OBJECT(v)) {
		lua_createtable(L, 0, (int)v->u.object.len);
		for (i = 0; i < v->u.object.len; i++) {
			luavm_claims(L, v->u.object.values[i], depth + 1);
			lua_setfield(L, -2, v->u.object.keys[i]);
		}
	} else
		lua_pushnil(L);
}

static void
luavm_setstr(lua_State *L, const char *key, const char *s, size_t len)
{
	if (s == NULL)
		lua_pushnil(L);
	else
		lua_pushlstring(L, s, len);
	lua_setfield(L, -2, key);
}

/* An object of the given metatable, its pointer noted in *obj. */
static void
luavm_object(lua_State *L, const char *mtkey, const void **obj)
{
	lua_newtable(L);
	lua_getfield(L, LUA_REGISTRYINDEX, mtkey);
	lua_setmetatable(L, -2);
	*obj = lua_topointer(L, -1);
}

/* Protected (fn, call): builds the request and calls fn with it. */
static int
luavm_run(lua_State *L)
{
	struct luavm_callctx		*c = lua_touserdata(L, 2);
	const struct luavm_request	*rq = c->c_req;
	const struct rule_match		*m = rq->lr_match;
	const struct rule_route		*r = m->m_route;
	size_t				 i;

	lua_pushvalue(L, 1);
	luavm_object(L, LUAVM_KEY_REQMT, &c->c_reqobj);
	luavm_setstr(L, "method", rq->lr_method, rq->lr_method != NULL ?
	    strlen(rq->lr_method) : 0);
	luavm_setstr(L, "path", rq->lr_path, rq->lr_path_len);
	luavm_setstr(L, "query", rq->lr_query != NULL ? rq->lr_query : "",
	    rq->lr_query != NULL ? rq->lr_query_len : 0);
	luavm_setstr(L, "client", rq->lr_client_addr,
	    rq->lr_client_addr != NULL ? strlen(rq->lr_client_addr) : 0);
	lua_pushinteger(L, rq->lr_client_port);
	lua_setfield(L, -2, "port");
	luavm_setstr(L, "route", r->r_name, r->r_name != NULL ?
	    strlen(r->r_name) : 0);
	luavm_setstr(L, "service", r->r_service_name,
	    strlen(r->r_service_name));
	lua_createtable(L, 0, (int)m->m_ncaps);
	for (i = 0; i < m->m_ncaps; i++)
		luavm_setstr(L, m->m_caps[i].c_name, m->m_caps[i].c_value,
		    m->m_caps[i].c_len);
	lua_setfield(L, -2, "captures");
	if (rq->lr_claims != NULL) {
		luavm_claims(L, rq->lr_claims, 0);
		lua_setfield(L, -2, "claims");
	}
	luavm_object(L, LUAVM_KEY_HDRMT, &c->c_hdrobj);
	lua_setfield(L, -2, "headers");
	luavm_object(L, LUAVM_KEY_PARMT, &c->c_parobj);
	lua_setfield(L, -2, "params");
	lua_call(L, 1, 0);
	return 0;
}

void
luavm_result_clear(struct luavm_result *res)
{
	size_t	 i;

	if (res == NULL)
		return;
	for (i = 0; i < res->lres_nedits; i++) {
		free(res->lres_edits[i].he_name);
		free(res->lres_edits[i].he_value);
	}
	free(res->lres_edits);
	for (i = 0; i < res->lres_nparams; i++) {
		free(res->lres_params[i].kv_name);
		free(res->lres_params[i].kv_value);
	}
	free(res->lres_params);
	for (i = 0; i < res->lres_nheaders; i++) {
		free(res->lres_headers[i].kv_name);
		free(res->lres_headers[i].kv_value);
	}
	free(res->lres_headers);
	free(res->lres_service);
	free(res->lres_body);
	memset(res, 0, sizeof(*res));
}

static void
luavm_fail(struct luavm_result *res, const char *fmt, ...)
{
	va_list	 ap;

	luavm_result_clear(res);
	res->lres_outcome = LUAVM_OUT_ERROR;
	va_start(ap, fmt);
	vsnprintf(res->lres_error, sizeof(res->lres_error), fmt, ap);
	va_end(ap);
}

static const char *
luavm_phase_key(enum luavm_phase phase)
{
	return phase == LUAVM_PHASE_HANDLER ? LUAVM_KEY_HANDLERS :
	    LUAVM_KEY_FALLBACKS;
}

int
luavm_has(const struct luavm *crt, const struct rule_route *r,
    enum luavm_phase phase)
{
	lua_State	*L = crt->rt_L;
	int		 yes;

	lua_getfield(L, LUA_REGISTRYINDEX, luavm_phase_key(phase));
	yes = lua_rawgeti(L, -1, r->r_index) == LUA_TFUNCTION;
	lua_pop(L, 2);
	return yes;
}

enum luavm_outcome
luavm_call(struct luavm *rt, enum luavm_phase phase,
    const struct luavm_request *req, struct luavm_result *res)
{
	lua_State		*L = rt->rt_L;
	struct luavm_callctx	 c;
	const struct rule_route	*r;
	int			 rc;

	memset(res, 0, sizeof(*res));
	if (req->lr_match == NULL || (r = req->lr_match->m_route) == NULL) {
		luavm_fail(res, "%s: no route", __func__);
		return res->lres_outcome;
	}
	lua_settop(L, 0);
	lua_getfield(L, LUA_REGISTRYINDEX, luavm_phase_key(phase));
	if (lua_rawgeti(L, -1, r->r_index) != LUA_TFUNCTION) {
		lua_settop(L, 0);
		luavm_fail(res, "%s:%d: route has no %s function",
		    rt->rt_rules->rl_path, r->r_line,
		    phase == LUAVM_PHASE_HANDLER ? "handler" : "fallback");
		return res->lres_outcome;
	}
	memset(&c, 0, sizeof(c));
	c.c_req = req;
	c.c_res = res;
	rt->rt_call = &c;
	rt->rt_runaway = 0;
	rt->rt_memhit = 0;

	lua_pushcfunction(L, luavm_run);
	lua_insert(L, -2);
	lua_pushlightuserdata(L, &c);
	lua_sethook(L, luavm_hook, LUA_MASKCOUNT, (int)rt->rt_budget);
	rc = lua_pcall(L, 2, 0, 0);
	lua_sethook(L, NULL, 0, 0);
	rt->rt_call = NULL;

	if (rc == LUA_OK)
		res->lres_outcome = res->lres_status != 0 ? LUAVM_OUT_RESPOND :
		    LUAVM_OUT_CONTINUE;
	else if (rt->rt_memhit && !rt->rt_runaway)
		luavm_fail(res, "%s:%d: rule uses more than %zu bytes of "
		    "memory", rt->rt_rules->rl_path, r->r_line,
		    rt->rt_memlimit);
	else
		luavm_fail(res, "%s", lua_type(L, -1) == LUA_TSTRING ?
		    lua_tostring(L, -1) : "error object is not a string");
	lua_settop(L, 0);
	if (rc != LUA_OK)
		lua_gc(L, LUA_GCCOLLECT);
	return res->lres_outcome;
}

void
luavm_limits(struct luavm *rt, long instructions, size_t memory)
{
	if (instructions > 0)
		rt->rt_budget = instructions > 1000000000L ? 1000000000L :
		    instructions;
	if (memory > 0)
		rt->rt_memlimit = memory;
}

/* Metatable at key: __index is a table of methods with rt as upvalue. */
static void
luavm_methods(lua_State *L, struct luavm *rt, const char *key,
    const luaL_Reg *fns)
{
	lua_newtable(L);
	lua_newtable(L);
	lua_pushlightuserdata(L, rt);
	luaL_setfuncs(L, fns, 1);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setfield(L, LUA_REGISTRYINDEX, key);
}

/* The methods of the declaration at idx, as rules_load() saw them. */
static unsigned
luavm_decl_methods(lua_State *L, int idx)
{
	unsigned	 bits = 0;
	size_t		 i, n;

	if (lua_getfield(L, idx, "methods") != LUA_TTABLE) {
		lua_pop(L, 1);
		return RULES_M_ALL;
	}
	n = lua_rawlen(L, -1);
	for (i = 1; i <= n; i++) {
		if (lua_rawgeti(L, -1, (lua_Integer)i) == LUA_TSTRING)
			bits |= rules_method_bit(lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return bits;
}

/*
 * Keeps the functions of each route, found by pattern and methods (so
 * that the order of pairs() does not matter).  The file must declare the
 * same routes as when rl was loaded.
 */
static int
luavm_collect(struct luavm *rt, int decls, char *err, size_t errlen)
{
	lua_State		*L = rt->rt_L;
	const struct rules	*rl = rt->rt_rules;
	const struct rule_route	*r;
	const char		*p;
	size_t			 i, j, n;
	int			 tops, d;

	n = lua_rawlen(L, decls);
	if (n != rl->rl_nroutes)
		goto changed;
	lua_newtable(L);			/* handlers */
	lua_newtable(L);			/* fallbacks */
	tops = lua_gettop(L);
	for (i = 0; i < rl->rl_nroutes; i++) {
		r = &rl->rl_routes[i];
		for (j = 1; j <= n; j++) {
			lua_rawgeti(L, decls, (lua_Integer)j);
			d = lua_gettop(L);
			lua_getfield(L, d, r->r_kind == RULE_PATH ? "path" :
			    "prefix");
			p = lua_tostring(L, -1);
			if (p != NULL && strcmp(p, r->r_prefix) == 0 &&
			    luavm_decl_methods(L, d) == r->r_methods) {
				lua_pop(L, 1);
				break;
			}
			lua_pop(L, 2);
		}
		if (j > n)
			goto changed;
		if (lua_getfield(L, d, "handler") == LUA_TFUNCTION)
			lua_rawseti(L, tops - 1, r->r_index);
		else if (r->r_handler)
			goto changed;
		else
			lua_pop(L, 1);
		if (lua_getfield(L, d, "fallback") == LUA_TFUNCTION)
			lua_rawseti(L, tops, r->r_index);
		else
			lua_pop(L, 1);
		lua_pop(L, 1);
	}
	lua_setfield(L, LUA_REGISTRYINDEX, LUAVM_KEY_FALLBACKS);
	lua_setfield(L, LUA_REGISTRYINDEX, LUAVM_KEY_HANDLERS);
	return 0;
 changed:
	snprintf(err, errlen, "%s: the rules declared other routes than at "
	    "load (do they depend on time or chance?)", rl->rl_path);
	return -1;
}

struct luavm *
luavm_new(const struct rules *rl, char *err, size_t errlen)
{
	static const luaL_Reg	 req_fns[] = {
		{ "respond", luavm_respond },
		{ "set_service", luavm_set_service },
		{ "bucket", luavm_bucket },
		{ NULL, NULL }
	};
	static const luaL_Reg	 hdr_fns[] = {
		{ "get", luavm_hdr_get },
		{ "set", luavm_hdr_set },
		{ "remove", luavm_hdr_remove },
		{ NULL, NULL }
	};
	static const luaL_Reg	 par_fns[] = {
		{ "get", luavm_par_get },
		{ "set", luavm_par_set },
		{ NULL, NULL }
	};
	struct luavm	*rt;
	lua_State		*L;

	if (rl == NULL) {
		snprintf(err, errlen, "%s: no rules", __func__);
		return NULL;
	}
	rt = xcalloc(1, sizeof(*rt));
	rt->rt_rules = rl;
	rt->rt_memlimit = LUAVM_MEMORY;
	rt->rt_budget = LUAVM_LOAD_BUDGET;
	if ((L = rt->rt_L = lua_newstate(luavm_alloc, rt)) == NULL) {
		snprintf(err, errlen, "%s: cannot create a Lua state",
		    rl->rl_path);
		free(rt);
		return NULL;
	}
	lua_atpanic(L, luavm_panic);
	lua_sethook(L, luavm_hook, LUA_MASKCOUNT, (int)rt->rt_budget);
	if (rules_declare(L, rl->rl_path, 1, err, errlen) == -1 ||
	    luavm_collect(rt, lua_gettop(L), err, errlen) == -1) {
		luavm_free(rt);
		return NULL;
	}
	lua_sethook(L, NULL, 0, 0);
	lua_settop(L, 0);
	luavm_methods(L, rt, LUAVM_KEY_REQMT, req_fns);
	luavm_methods(L, rt, LUAVM_KEY_HDRMT, hdr_fns);
	luavm_methods(L, rt, LUAVM_KEY_PARMT, par_fns);
	lua_gc(L, LUA_GCCOLLECT);
	rt->rt_budget = LUAVM_INSTRUCTIONS;
	return rt;
}

void
luavm_free(struct luavm *rt)
{
	if (rt == NULL)
		return;
	if (rt->rt_L != NULL)
		lua_close(rt->rt_L);
	free(rt);
}
