/*
 * Routing rules: a Lua file run once, at load, in a sandbox whose only
 * ways out are route{} and group{}.  route{} records a declaration, group{}
 * fills its defaults into the declarations it holds, and once the file
 * has run every declaration is compiled into struct rule_route: prefix
 * routes in an array sorted longest first, path patterns in a segment
 * trie.  A request never runs Lua unless its route names a function
 * (proxy/lua.c).
 */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "log.h"
#include "xmalloc.h"
#include "rules.h"

/*
 * A rules file only declares: 10 million VM instructions and 64 MiB are
 * far beyond any real policy and stop a runaway loop or a memory bomb.
 */
#define RULES_MAX_INSTRUCTIONS	10000000L
#define RULES_HOOK_COUNT	1000
#define RULES_MAX_MEMORY	(64 * 1024 * 1024)

#define RULES_KEY_DECLS		"agora.rules.decls"
#define RULES_KEY_ROUTEMT	"agora.rules.routemt"
#define RULES_KEY_GROUPMT	"agora.rules.groupmt"
#define RULES_KEY_DECLARE	"agora.rules.declare"
#define RULES_LINE		".line"	/* no route field can be named so */

/* Lives in the Lua state (a userdata), so closures never dangle. */
struct rules_declare {
	char			 d_path[1024];
	int			 d_quiet;
	int			 d_open;	/* route{}, group{} allowed */
	char			 d_err[512];	/* first "file:line: error" */
};

/* The load's allocator and hook state. */
struct rules_limits {
	size_t			 l_mem;
	long			 l_steps;
	int			 l_memhit;
	int			 l_runaway;
};

/* The compile step, after the file has run. */
struct rules_build {
	struct rules_declare	*b_d;
	struct rule_route	*b_routes;
	size_t			 b_nroutes;
	size_t			 b_cap;
};

struct rules_node {
	char			 *n_seg;
	size_t			  n_len;
	struct rules_node	**n_kids;	/* literal segments */
	size_t			  n_nkids;
	struct rules_node	 *n_cap;	/* {name} */
	struct rule_route	**n_end;	/* patterns ending here */
	size_t			  n_nend;
	struct rule_route	**n_rest;	/* {name...} after here */
	size_t			  n_nrest;
};

enum rules_type {
	RT_STRING, RT_LIST, RT_INT, RT_BOOL, RT_BREAKER, RT_FALLBACK, RT_FUNC,
};

/* Fields of route{}; group{} takes the same but the per-route ones. */
static const struct rules_field {
	const char	*f_name;
	enum rules_type	 f_type;
	int		 f_group;	/* allowed as a group default */
} rules_fields[] = {
	{ "prefix", RT_STRING, 0 },
	{ "path", RT_STRING, 0 },
	{ "name", RT_STRING, 0 },
	{ "service", RT_STRING, 1 },
	{ "strip", RT_STRING, 1 },
	{ "methods", RT_LIST, 1 },
	{ "auth", RT_STRING, 1 },
	{ "roles", RT_LIST, 1 },
	{ "scopes", RT_LIST, 1 },
	{ "limits", RT_LIST, 1 },
	{ "timeout", RT_STRING, 1 },
	{ "retries", RT_INT, 1 },
	{ "retry_non_idempotent", RT_BOOL, 1 },
	{ "breaker", RT_BREAKER, 1 },
	{ "fallback", RT_FALLBACK, 1 },
	{ "handler", RT_FUNC, 1 },
};
#define RULES_NFIELDS	(sizeof(rules_fields) / sizeof(rules_fields[0]))

static const char *const rules_type_names[] = {
	"a string", "a list of strings", "an integer", "a boolean",
	"a table { volume, error_pct, sleep, probes }",
	"a table { status, json }, a route name or a function",
	"a function",
};

static const struct {
	const char	*m_name;
	unsigned	 m_bit;
} rules_methods[] = {
	{ "GET", RULES_M_GET }, { "HEAD", RULES_M_HEAD },
	{ "POST", RULES_M_POST }, { "PUT", RULES_M_PUT },
	{ "PATCH", RULES_M_PATCH }, { "DELETE", RULES_M_DELETE },
	{ "OPTIONS", RULES_M_OPTIONS }, { "TRACE", RULES_M_TRACE },
};
#define RULES_NMETHODS	(sizeof(rules_methods) / sizeof(rules_methods[0]))

/* Base functions a declaration has no use for, or that reach outside. */
static const char *const rules_unsafe[] = {
	"collectgarbage", "dofile", "load", "loadfile", "loadstring",
	"pcall", "require", "xpcall",
};

static void	rules_node_free(struct rules_node *);

static void
rules_names_clear(struct rule_names *n)
{
	size_t	 i;

	for (i = 0; i < n->rn_n; i++)
		free(n->rn_v[i]);
	free(n->rn_v);
	memset(n, 0, sizeof(*n));
}

static void
rules_route_clear(struct rule_route *r)
{
	size_t	 i;

	free(r->r_prefix);
	free(r->r_strip);
	free(r->r_service_name);
	free(r->r_name);
	for (i = 0; i < r->r_ncaps; i++)
		free(r->r_capnames[i]);
	rules_names_clear(&r->r_roles);
	rules_names_clear(&r->r_scopes);
	rules_names_clear(&r->r_limits);
	free(r->r_fb_json);
	free(r->r_fb_route_name);
	memset(r, 0, sizeof(*r));
}

static struct rules_declare *
rules_getdeclare(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* Raises "file:line: message"; line 0 takes the calling Lua line. */
static int
rules_raise(lua_State *L, struct rules_declare *d, int line,
    const char *fmt, ...)
{
	lua_Debug	 ar;
	va_list		 ap;
	char		 msg[400];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line == 0 && lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
		line = ar.currentline;
	lua_pushfstring(L, "%s:%d: %s", d->d_path, line, msg);
	if (d->d_err[0] == '\0')
		snprintf(d->d_err, sizeof(d->d_err), "%s",
		    lua_tostring(L, -1));
	return lua_error(L);
}

static int
rules_calling_line(lua_State *L)
{
	lua_Debug	 ar;

	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
		return ar.currentline;
	return 0;
}

static const struct rules_field *
rules_field(const char *name)
{
	size_t	 i;

	for (i = 0; i < RULES_NFIELDS; i++)
		if (strcmp(name, rules_fields[i].f_name) == 0)
			return &rules_fields[i];
	return NULL;
}

/* Is the value at idx of type t?  Value checks come at compile. */
static int
rules_type_ok(lua_State *L, int idx, enum rules_type t)
{
	int	 ok = 1;

	switch (t) {
	case RT_STRING:
		return lua_type(L, idx) == LUA_TSTRING;
	case RT_INT:
		return lua_isinteger(L, idx);
	case RT_BOOL:
		return lua_type(L, idx) == LUA_TBOOLEAN;
	case RT_FUNC:
		return lua_type(L, idx) == LUA_TFUNCTION;
	case RT_BREAKER:
		return lua_type(L, idx) == LUA_TTABLE;
	case RT_FALLBACK:
		return lua_type(L, idx) == LUA_TTABLE ||
		    lua_type(L, idx) == LUA_TSTRING ||
		    lua_type(L, idx) == LUA_TFUNCTION;
	case RT_LIST:
		if (lua_type(L, idx) != LUA_TTABLE)
			return 0;
		idx = lua_absindex(L, idx);
		lua_pushnil(L);
		while (lua_next(L, idx) != 0) {
			if (!lua_isinteger(L, -2) ||
			    lua_type(L, -1) != LUA_TSTRING)
				ok = 0;
			lua_pop(L, 1);
		}
		return ok && lua_rawlen(L, idx) >= 1;
	}
	return 0;
}

/*
 * Checks the named fields of the table at idx for route{} or group{}
 * and copies them into the table at dst.  Positional entries are left
 * to the caller.
 */
static void
rules_copy_fields(lua_State *L, struct rules_declare *d, int idx, int dst,
    const char *what, int group)
{
	const struct rules_field	*f;
	const char			*key;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			if (group && lua_isinteger(L, -2)) {
				lua_pop(L, 1);
				continue;
			}
			rules_raise(L, d, 0, "%s: fields must be named "
			    "(prefix = ..., service = ...)", what);
		}
		key = lua_tostring(L, -2);
		if ((f = rules_field(key)) == NULL || (group && !f->f_group))
			rules_raise(L, d, 0, "%s: unknown field \"%s\"", what,
			    key);
		if (!rules_type_ok(L, -1, f->f_type))
			rules_raise(L, d, 0, "%s: %s must be %s", what,
			    f->f_name, rules_type_names[f->f_type]);
		lua_pushvalue(L, -2);
		lua_pushvalue(L, -2);
		lua_rawset(L, dst);
		lua_pop(L, 1);
	}
}

/* route { ... }: records a declaration and returns it, for group{}. */
static int
rules_route(lua_State *L)
{
	struct rules_declare	*d = rules_getdeclare(L);
	int			 line;

	if (!d->d_open)
		return luaL_error(L, "route{} is only for loading rules");
	if (lua_gettop(L) != 1 || !lua_istable(L, 1))
		return rules_raise(L, d, 0, "route takes one table: "
		    "route { prefix = \"/x\", service = \"x\" }");
	line = rules_calling_line(L);
	lua_newtable(L);				/* 2: the copy */
	rules_copy_fields(L, d, 1, 2, "route", 0);
	lua_pushinteger(L, line);
	lua_setfield(L, 2, RULES_LINE);
	lua_getfield(L, LUA_REGISTRYINDEX, RULES_KEY_ROUTEMT);
	lua_setmetatable(L, 2);
	lua_getfield(L, LUA_REGISTRYINDEX, RULES_KEY_DECLS);
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
	return 1;
}

/* Is the value at idx a route{} or group{} result? */
static int
rules_is(lua_State *L, int idx, const char *mtkey)
{
	int	 yes;

	if (!lua_getmetatable(L, idx))
		return 0;
	lua_getfield(L, LUA_REGISTRYINDEX, mtkey);
	yes = lua_rawequal(L, -1, -2);
	lua_pop(L, 2);
	return yes;
}

/*
 * group { defaults..., route{...}, group{...} }: every route inside gets
 * the defaults it does not set itself; returns the list of its routes.
 */
static int
rules_group(lua_State *L)
{
	struct rules_declare	*d = rules_getdeclare(L);
	lua_Integer		 i, j, n, nr, out = 0;

	if (!d->d_open)
		return luaL_error(L, "group{} is only for loading rules");
	if (lua_gettop(L) != 1 || !lua_istable(L, 1))
		return rules_raise(L, d, 0, "group takes one table: "
		    "group { service = \"x\", route {...}, ... }");
	lua_newtable(L);				/* 2: defaults */
	rules_copy_fields(L, d, 1, 2, "group", 1);
	lua_newtable(L);				/* 3: the routes */
	n = (lua_Integer)lua_rawlen(L, 1);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 1, i);			/* 4 */
		if (rules_is(L, 4, RULES_KEY_ROUTEMT)) {
			lua_rawseti(L, 3, ++out);
			continue;
		}
		if (!rules_is(L, 4, RULES_KEY_GROUPMT))
			return rules_raise(L, d, 0, "group: entry %d is not "
			    "a route{} or a group{}", (int)i);
		nr = (lua_Integer)lua_rawlen(L, 4);
		for (j = 1; j <= nr; j++) {
			lua_rawgeti(L, 4, j);
			lua_rawseti(L, 3, ++out);
		}
		lua_pop(L, 1);
	}
	for (i = 1; i <= out; i++) {
		lua_rawgeti(L, 3, i);			/* 4: a route */
		lua_pushnil(L);
		while (lua_next(L, 2) != 0) {
			lua_pushvalue(L, -2);
			if (lua_rawget(L, 4) == LUA_TNIL) {
				lua_pop(L, 1);
				lua_pushvalue(L, -2);
				lua_pushvalue(L, -2);
				lua_rawset(L, 4);
			} else
				lua_pop(L, 1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_getfield(L, LUA_REGISTRYINDEX, RULES_KEY_GROUPMT);
	lua_setmetatable(L, 3);
	return 1;
}

/* print() goes to the log, not to stdout. */
static int
rules_print(lua_State *L)
{
	struct rules_declare	*d = rules_getdeclare(L);
	luaL_Buffer		 buf;
	int			 i, n = lua_gettop(L);

	if (d->d_quiet)
		return 0;
	luaL_buffinit(L, &buf);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&buf, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&buf);
	}
	luaL_pushresult(&buf);
	log_info("%s: %s", d->d_path, lua_tostring(L, -1));
	return 0;
}

/* Only base, string, table, math and utf8, minus what reaches outside. */
void
rules_sandbox(lua_State *L)
{
	static const luaL_Reg	 libs[] = {
		{ LUA_GNAME, luaopen_base },
		{ LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table },
		{ LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
		{ NULL, NULL }
	};
	const luaL_Reg		*lib;
	uint64_t		 seed[2];
	size_t			 i;

	for (lib = libs; lib->func != NULL; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	for (i = 0; i < sizeof(rules_unsafe) / sizeof(rules_unsafe[0]); i++) {
		lua_pushnil(L);
		lua_setglobal(L, rules_unsafe[i]);
	}
	/* string.dump hands out bytecode; nothing here needs it */
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	lua_pop(L, 1);

	/*
	 * Lua seeds from the time and an address, which two states made in
	 * the same second can share: percentage splits need better.
	 */
	if (getentropy(seed, sizeof(seed)) == 0) {
		lua_getglobal(L, LUA_MATHLIBNAME);
		lua_getfield(L, -1, "randomseed");
		lua_pushinteger(L, (lua_Integer)seed[0]);
		lua_pushinteger(L, (lua_Integer)seed[1]);
		lua_call(L, 2, 0);
		lua_pop(L, 1);
	}
}

int
rules_declare(lua_State *L, const char *path, int quiet, char *err,
    size_t errlen)
{
	struct rules_declare	*d;
	FILE			*fp;
	int			 ok;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	fclose(fp);
	rules_sandbox(L);

	d = lua_newuserdatauv(L, sizeof(*d), 0);
	memset(d, 0, sizeof(*d));
	snprintf(d->d_path, sizeof(d->d_path), "%s", path);
	d->d_quiet = quiet;
	d->d_open = 1;
	lua_setfield(L, LUA_REGISTRYINDEX, RULES_KEY_DECLARE);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, RULES_KEY_DECLS);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, RULES_KEY_ROUTEMT);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, RULES_KEY_GROUPMT);

	lua_pushlightuserdata(L, d);
	lua_pushcclosure(L, rules_route, 1);
	lua_setglobal(L, "route");
	lua_pushlightuserdata(L, d);
	lua_pushcclosure(L, rules_group, 1);
	lua_setglobal(L, "group");
	lua_pushlightuserdata(L, d);
	lua_pushcclosure(L, rules_print, 1);
	lua_setglobal(L, "print");

	/* text only: bytecode can break out of any sandbox */
	ok = luaL_loadfilex(L, path, "t") == LUA_OK &&
	    lua_pcall(L, 0, 0, 0) == LUA_OK;
	d->d_open = 0;
	if (!ok) {
		if (d->d_err[0] != '\0')
			snprintf(err, errlen, "%s", d->d_err);
		else if (lua_type(L, -1) == LUA_TSTRING)
			snprintf(err, errlen, "%s", lua_tostring(L, -1));
		else
			snprintf(err, errlen, "%s: error object is not a "
			    "string", path);
		lua_pop(L, 1);
		return -1;
	}
	lua_getfield(L, LUA_REGISTRYINDEX, RULES_KEY_DECLS);
	return 0;
}

/* A prefix or strip: "/", or "/seg/seg" without empty segments. */
static const char *
rules_path_invalid(const char *p)
{
	const char	*s;

	if (p[0] != '/')
		return "must start with \"/\"";
	if (p[1] == '\0')
		return NULL;
	for (s = p; *s != '\0'; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '?' ||
		    *s == '#' || *s == '%')
			return "holds a character that paths cannot have";
		if (s[0] == '/' && (s[1] == '/' || s[1] == '\0'))
			return "has an empty segment or ends with \"/\"";
	}
	return NULL;
}

static int
rules_ident(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 32 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/*
 * Checks a path pattern, records its capture names in r and writes its
 * shape ("/a/{}/{...}", the same for any capture names) into shape.
 */
static const char *
rules_pattern(struct rule_route *r, char *shape, size_t shapelen)
{
	const char	*s = r->r_prefix, *e, *why;
	size_t		 len, i, o = 0;
	int		 rest;

	if ((why = rules_path_invalid(s)) != NULL)
		return why;
	shape[0] = '\0';
	if (s[1] == '\0') {
		snprintf(shape, shapelen, "/");
		return NULL;
	}
	while (*s == '/') {
		s++;
		e = strchr(s, '/');
		len = e != NULL ? (size_t)(e - s) : strlen(s);
		if (s[0] != '{') {
			if (memchr(s, '{', len) || memchr(s, '}', len))
				return "has a \"{\" or \"}\" inside a segment";
			o += snprintf(shape + o, shapelen - o, "/%.*s",
			    (int)len, s);
		} else {
			if (s[len - 1] != '}')
				return "has a \"{\" or \"}\" inside a segment";
			rest = len > 5 && memcmp(s + len - 4, "...}", 4) == 0;
			if (!rules_ident(s + 1, len - 2 - (rest ? 3 : 0)))
				return "has a capture name that is not a Lua "
				    "identifier";
			if (rest && e != NULL)
				return "has a {name...} that is not last";
			if (r->r_ncaps == RULES_MAX_CAPTURES)
				return "has too many captures (8 at most)";
			for (i = 0; i < r->r_ncaps; i++)
				if (strlen(r->r_capnames[i]) ==
				    len - 2 - (rest ? 3 : 0) &&
				    memcmp(r->r_capnames[i], s + 1,
				    len - 2 - (rest ? 3 : 0)) == 0)
					return "has the same capture name "
					    "twice";
			r->r_capnames[r->r_ncaps++] = xstrndup(s + 1,
			    len - 2 - (rest ? 3 : 0));
			o += snprintf(shape + o, shapelen - o, "/%s",
			    rest ? "{...}" : "{}");
		}
		if (o >= shapelen)
			return "is too long";
		s += len;
	}
	return NULL;
}

/* "5s", "250ms", "2m" -> milliseconds, or -1. */
static long
rules_duration(const char *s)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno != 0 || v < 0 || v > 86400000L)
		return -1;
	if (strcmp(end, "ms") == 0)
		return v;
	if (strcmp(end, "s") == 0)
		return v * 1000;
	if (strcmp(end, "m") == 0 && v <= 1440)
		return v * 60000;
	return -1;
}

/* The string field name of the table at idx, or NULL when absent. */
static const char *
rules_getstr(lua_State *L, int idx, const char *name)
{
	const char	*s;

	lua_getfield(L, idx, name);
	s = lua_tostring(L, -1);
	lua_pop(L, 1);		/* still referenced by the table */
	return s;
}

static void
rules_getnames(lua_State *L, struct rules_declare *d, int line, int idx,
    const char *name, struct rule_names *out)
{
	size_t	 i, n;

	if (lua_getfield(L, idx, name) == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	n = lua_rawlen(L, -1);
	out->rn_v = xcalloc(n, sizeof(*out->rn_v));
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
			rules_raise(L, d, line, "route: %s holds an empty name",
			    name);
		out->rn_v[out->rn_n++] = xstrdup(lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static int
rules_getint(lua_State *L, struct rules_declare *d, int line, int idx,
    const char *name, int lo, int hi, int dflt)
{
	lua_Integer	 v = 0;

	if (lua_getfield(L, idx, name) == LUA_TNIL) {
		lua_pop(L, 1);
		return dflt;
	}
	if (!lua_isinteger(L, -1) || (v = lua_tointeger(L, -1)) < lo ||
	    v > hi)
		rules_raise(L, d, line, "route: %s must be an integer "
		    "from %d to %d",
		    name, lo, hi);
	lua_pop(L, 1);
	return (int)v;
}

static void
rules_breaker(lua_State *L, struct rules_declare *d, int line, int idx,
    struct rule_breaker *rb)
{
	static const char *const keys[] = {
		"volume", "error_pct", "sleep", "probes",
	};
	const char	*s;
	size_t		 i;

	if (lua_getfield(L, idx, "breaker") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	idx = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (lua_type(L, -2) == LUA_TSTRING &&
			    strcmp(lua_tostring(L, -2), keys[i]) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			rules_raise(L, d, line, "route: breaker: unknown "
			    "field \"%s\"", lua_type(L, -2) == LUA_TSTRING ?
			    lua_tostring(L, -2) : "(not a name)");
		lua_pop(L, 1);
	}
	rb->rb_set = 1;
	rb->rb_volume = rules_getint(L, d, line, idx, "volume", 1, 1000000, 0);
	rb->rb_error_pct = rules_getint(L, d, line, idx, "error_pct", 1, 100,
	    0);
	rb->rb_probes = rules_getint(L, d, line, idx, "probes", 1, 1000, 0);
	if (lua_getfield(L, idx, "sleep") != LUA_TNIL) {
		if ((s = lua_tostring(L, -1)) == NULL ||
		    lua_type(L, -1) != LUA_TSTRING ||
		    (rb->rb_sleep_ms = rules_duration(s)) <= 0)
			rules_raise(L, d, line, "route: breaker: sleep must be "
			    "a duration such as \"5s\"");
	}
	lua_pop(L, 2);
}

static void
rules_fallback(lua_State *L, struct rules_declare *d, int line, int idx,
    struct rule_route *r)
{
	const char	*s;
	int		 fb;

	switch (lua_getfield(L, idx, "fallback")) {
	case LUA_TNIL:
		break;
	case LUA_TFUNCTION:
		r->r_fallback = RULE_FALLBACK_LUA;
		break;
	case LUA_TSTRING:
		r->r_fallback = RULE_FALLBACK_ROUTE;
		r->r_fb_route_name = xstrdup(lua_tostring(L, -1));
		break;
	default:
		fb = lua_gettop(L);
		lua_pushnil(L);
		while (lua_next(L, fb) != 0) {
			if (lua_type(L, -2) != LUA_TSTRING ||
			    (strcmp(lua_tostring(L, -2), "status") != 0 &&
			    strcmp(lua_tostring(L, -2), "json") != 0))
				rules_raise(L, d, line, "route: fallback: "
				    "unknown field \"%s\"",
				    lua_type(L, -2) == LUA_TSTRING ?
				    lua_tostring(L, -2) : "(not a name)");
			lua_pop(L, 1);
		}
		r->r_fallback = RULE_FALLBACK_STATIC;
		r->r_fb_status = rules_getint(L, d, line, fb, "status", 200,
		    599, 503);
		lua_getfield(L, fb, "json");
		if ((s = lua_tostring(L, -1)) == NULL ||
		    lua_type(L, -1) != LUA_TSTRING)
			rules_raise(L, d, line, "route: fallback: json must "
			    "be a string");
		r->r_fb_json = xstrdup(s);
		lua_pop(L, 1);
		break;
	}
	lua_pop(L, 1);
}

static void
rules_methods_get(lua_State *L, struct rules_declare *d, int line, int idx,
    struct rule_route *r)
{
	const char	*s;
	size_t		 i, j, n;

	r->r_methods = RULES_M_ALL;
	if (lua_getfield(L, idx, "methods") == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	r->r_methods = 0;
	n = lua_rawlen(L, -1);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i);
		s = lua_tostring(L, -1);
		for (j = 0; j < RULES_NMETHODS; j++)
			if (s != NULL &&
			    strcmp(s, rules_methods[j].m_name) == 0)
				break;
		if (j == RULES_NMETHODS)
			rules_raise(L, d, line, "route: unknown method \"%s\"",
			    s != NULL ? s : "?");
		r->r_methods |= rules_methods[j].m_bit;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* strip (optional) is a leading run of whole literal segments. */
static int
rules_strip_ok(const struct rule_route *r)
{
	if (r->r_strip_len == 0)
		return 1;
	return rules_path_invalid(r->r_strip) == NULL &&
	    strchr(r->r_strip, '{') == NULL && r->r_strip_len > 1 &&
	    strncmp(r->r_prefix, r->r_strip, r->r_strip_len) == 0 &&
	    (r->r_prefix[r->r_strip_len] == '\0' ||
	    r->r_prefix[r->r_strip_len] == '/');
}

/* Compiles the declaration at idx into a new route of b. */
static void
rules_compile_one(lua_State *L, struct rules_build *b, int idx,
    lua_Integer index, char *shape, size_t shapelen)
{
	struct rules_declare	*d = b->b_d;
	struct rule_route	*r;
	const char		*s, *p, *why, *kind;
	long			 ms;
	int			 line;

	lua_getfield(L, idx, RULES_LINE);
	line = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);

	if (b->b_nroutes == b->b_cap) {
		b->b_cap = b->b_cap == 0 ? 16 : b->b_cap * 2;
		b->b_routes = xreallocarray(b->b_routes, b->b_cap,
		    sizeof(*b->b_routes));
	}
	r = &b->b_routes[b->b_nroutes++];
	memset(r, 0, sizeof(*r));
	r->r_line = line;
	r->r_index = (int)index;

	p = rules_getstr(L, idx, "path");
	s = rules_getstr(L, idx, "prefix");
	if (p != NULL && s != NULL)
		rules_raise(L, d, line, "route: prefix and path exclude each "
		    "other");
	if (p == NULL && s == NULL)
		rules_raise(L, d, line, "route: prefix is missing");
	kind = p != NULL ? "path" : "prefix";
	r->r_kind = p != NULL ? RULE_PATH : RULE_PREFIX;
	r->r_prefix = xstrdup(p != NULL ? p : s);
	r->r_prefix_len = strlen(r->r_prefix);
	if ((s = rules_getstr(L, idx, "service")) == NULL)
		rules_raise(L, d, line, "route: service is missing");
	r->r_service_name = xstrdup(s);
	s = rules_getstr(L, idx, "strip");
	r->r_strip = xstrdup(s != NULL ? s : "");
	r->r_strip_len = strlen(r->r_strip);
	if ((s = rules_getstr(L, idx, "name")) != NULL)
		r->r_name = xstrdup(s);

	if (r->r_kind == RULE_PREFIX) {
		if ((why = rules_path_invalid(r->r_prefix)) != NULL)
			rules_raise(L, d, line, "route: prefix \"%s\" %s",
			    r->r_prefix, why);
		snprintf(shape, shapelen, "%s", r->r_prefix);
	} else if ((why = rules_pattern(r, shape, shapelen)) != NULL)
		rules_raise(L, d, line, "route: path \"%s\" %s", r->r_prefix,
		    why);
	if (!rules_strip_ok(r))
		rules_raise(L, d, line, "route: strip \"%s\" is not a leading "
		    "part of %s \"%s\" (whole segments)", r->r_strip, kind,
		    r->r_prefix);
	if (r->r_service_name[0] == '\0')
		rules_raise(L, d, line, "route: service is empty");
	if (r->r_name != NULL && !rules_ident(r->r_name, strlen(r->r_name)) &&
	    strspn(r->r_name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(r->r_name))
		rules_raise(L, d, line, "route: name \"%s\" may hold only "
		    "letters, digits, \"_\", \".\" and \"-\"", r->r_name);

	rules_methods_get(L, d, line, idx, r);
	if ((s = rules_getstr(L, idx, "auth")) == NULL ||
	    strcmp(s, "none") == 0)
		r->r_auth = RULE_AUTH_NONE;
	else if (strcmp(s, "jwt") == 0)
		r->r_auth = RULE_AUTH_JWT;
	else
		rules_raise(L, d, line, "route: auth must be \"none\" or "
		    "\"jwt\"");
	rules_getnames(L, d, line, idx, "roles", &r->r_roles);
	rules_getnames(L, d, line, idx, "scopes", &r->r_scopes);
	rules_getnames(L, d, line, idx, "limits", &r->r_limits);
	if ((r->r_roles.rn_n > 0 || r->r_scopes.rn_n > 0) &&
	    r->r_auth != RULE_AUTH_JWT)
		rules_raise(L, d, line, "route: roles and scopes need "
		    "auth = \"jwt\"");
	if ((s = rules_getstr(L, idx, "timeout")) != NULL) {
		if ((ms = rules_duration(s)) <= 0)
			rules_raise(L, d, line, "route: timeout must be a "
			    "duration such as \"5s\" or \"500ms\"");
		r->r_timeout_ms = ms;
	}
	r->r_retries = rules_getint(L, d, line, idx, "retries", 0, 10, -1);
	lua_getfield(L, idx, "retry_non_idempotent");
	r->r_retry_non_idempotent = lua_toboolean(L, -1);
	lua_pop(L, 1);
	rules_breaker(L, d, line, idx, &r->r_breaker);
	rules_fallback(L, d, line, idx, r);
	r->r_handler = lua_getfield(L, idx, "handler") == LUA_TFUNCTION;
	lua_pop(L, 1);
}

static int
rules_overlap(const struct rule_route *a, const struct rule_route *b)
{
	return (a->r_methods & b->r_methods) != 0;
}

/* lua_CFunction: (decls, build) -> compiles every declaration. */
static int
rules_compile(lua_State *L)
{
	struct rules_build	*b = lua_touserdata(L, 2);
	struct rules_declare	*d = b->b_d;
	struct rule_route	*r, *o;
	char			 shape[1024], **shapes;
	lua_Integer		 i, n;
	size_t			 j, k;
	int			 line;

	n = (lua_Integer)lua_rawlen(L, 1);
	/* shapes live in a userdata so that a raise frees them */
	shapes = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
	lua_newtable(L);			/* 4: shape strings, anchored */
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, 1, i);
		rules_compile_one(L, b, lua_gettop(L), i, shape,
		    sizeof(shape));
		lua_pop(L, 1);
		lua_pushstring(L, shape);
		shapes[i - 1] = (char *)(uintptr_t)lua_tostring(L, -1);
		lua_rawseti(L, 4, i);
		r = &b->b_routes[b->b_nroutes - 1];
		for (j = 0; j + 1 < b->b_nroutes; j++) {
			o = &b->b_routes[j];
			if (o->r_kind == r->r_kind &&
			    strcmp(shapes[j], shapes[i - 1]) == 0 &&
			    rules_overlap(o, r))
				rules_raise(L, d, r->r_line, "route: %s \"%s\" "
				    "already routed at line %d",
				    r->r_kind == RULE_PATH ? "path" : "prefix",
				    r->r_prefix, o->r_line);
			if (r->r_name != NULL && o->r_name != NULL &&
			    strcmp(r->r_name, o->r_name) == 0)
				rules_raise(L, d, r->r_line, "route: name "
				    "\"%s\" already used at line %d",
				    r->r_name, o->r_line);
		}
	}
	for (j = 0; j < b->b_nroutes; j++) {
		r = &b->b_routes[j];
		if (r->r_fallback != RULE_FALLBACK_ROUTE)
			continue;
		line = r->r_line;
		for (k = 0; k < b->b_nroutes; k++)
			if (b->b_routes[k].r_name != NULL && strcmp(
			    b->b_routes[k].r_name, r->r_fb_route_name) == 0)
				break;
		if (k == b->b_nroutes)
			rules_raise(L, d, line, "route: fallback \"%s\" names "
			    "no route", r->r_fb_route_name);
		if (k == j)
			rules_raise(L, d, line, "route: fallback \"%s\" is the "
			    "route itself", r->r_fb_route_name);
	}
	return 0;
}

static void
rules_hook(lua_State *L, lua_Debug *ar)
{
	struct rules_limits	*lim;
	struct rules_declare	*d;
	void			*ud;

	(void)ar;
	lua_getallocf(L, &ud);
	lim = ud;
	if (++lim->l_steps * RULES_HOOK_COUNT < RULES_MAX_INSTRUCTIONS &&
	    !lim->l_runaway)
		return;
	lim->l_runaway = 1;
	/* from now on every instruction raises, wherever it runs */
	lua_sethook(L, rules_hook, LUA_MASKCOUNT, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, RULES_KEY_DECLARE);
	d = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (d != NULL && lua_getstack(L, 0, ar) && lua_getinfo(L, "Sl", ar))
		rules_raise(L, d, ar->currentline > 0 ? ar->currentline : -1,
		    "rules run too long (more than %ld instructions)",
		    RULES_MAX_INSTRUCTIONS);
	luaL_error(L, "rules run too long");
}

static void *
rules_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct rules_limits	*lim = ud;
	void			*p;

	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		lim->l_mem -= osize;
		return NULL;
	}
	if (nsize > osize && lim->l_mem + (nsize - osize) > RULES_MAX_MEMORY) {
		lim->l_memhit = 1;
		return NULL;
	}
	if ((p = realloc(ptr, nsize)) == NULL)
		return NULL;
	lim->l_mem = lim->l_mem - osize + nsize;
	return p;
}

static int
rules_panic(lua_State *L)
{
	fatalx("rules: unprotected Lua error: %s", lua_tostring(L, -1));
}

/* Longest prefix first; equal lengths by text, then declaration. */
static int
rules_cmp(const void *a, const void *b)
{
	const struct rule_route	*ra = a, *rb = b;
	int			 c;

	if (ra->r_prefix_len != rb->r_prefix_len)
		return ra->r_prefix_len > rb->r_prefix_len ? -1 : 1;
	if ((c = strcmp(ra->r_prefix, rb->r_prefix)) != 0)
		return c;
	return ra->r_index < rb->r_index ? -1 : 1;
}

static void
rules_push(struct rule_route ***v, size_t *n, struct rule_route *r)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = r;
}

/* Routes at one node keep declaration order. */
static int
rules_index_cmp(const void *a, const void *b)
{
	const struct rule_route	*const *ra = a, *const *rb = b;

	return (*ra)->r_index - (*rb)->r_index;
}

static void
rules_trie_add(struct rules_node *root, struct rule_route *r)
{
	struct rules_node	*n = root, *k;
	const char		*s = r->r_prefix, *e;
	size_t			 len, i;

	if (s[1] == '\0') {
		rules_push(&n->n_end, &n->n_nend, r);
		return;
	}
	while (*s == '/') {
		s++;
		e = strchr(s, '/');
		len = e != NULL ? (size_t)(e - s) : strlen(s);
		if (s[0] == '{' && len > 5 && memcmp(s + len - 4, "...}", 4)
		    == 0) {
			rules_push(&n->n_rest, &n->n_nrest, r);
			return;
		}
		if (s[0] == '{') {
			if (n->n_cap == NULL)
				n->n_cap = xcalloc(1, sizeof(*n->n_cap));
			n = n->n_cap;
		} else {
			for (i = 0; i < n->n_nkids; i++)
				if (n->n_kids[i]->n_len == len &&
				    memcmp(n->n_kids[i]->n_seg, s, len) == 0)
					break;
			if (i == n->n_nkids) {
				k = xcalloc(1, sizeof(*k));
				k->n_seg = xstrndup(s, len);
				k->n_len = len;
				n->n_kids = xreallocarray(n->n_kids,
				    n->n_nkids + 1, sizeof(*n->n_kids));
				n->n_kids[n->n_nkids++] = k;
			}
			n = n->n_kids[i];
		}
		s += len;
	}
	rules_push(&n->n_end, &n->n_nend, r);
}

static void
rules_trie_sort(struct rules_node *n)
{
	size_t	 i;

	if (n == NULL)
		return;
	if (n->n_nend > 1)
		qsort(n->n_end, n->n_nend, sizeof(*n->n_end), rules_index_cmp);
	if (n->n_nrest > 1)
		qsort(n->n_rest, n->n_nrest, sizeof(*n->n_rest),
		    rules_index_cmp);
	for (i = 0; i < n->n_nkids; i++)
		rules_trie_sort(n->n_kids[i]);
	rules_trie_sort(n->n_cap);
}

static void
rules_node_free(struct rules_node *n)
{
	size_t	 i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_nkids; i++)
		rules_node_free(n->n_kids[i]);
	rules_node_free(n->n_cap);
	free(n->n_kids);
	free(n->n_end);
	free(n->n_rest);
	free(n->n_seg);
	free(n);
}

struct rules *
rules_load(const char *path, char *err, size_t errlen)
{
	struct rules_limits	 lim;
	struct rules_build	 b;
	struct rules		*rl = NULL;
	lua_State		*L;
	size_t			 i;

	memset(&lim, 0, sizeof(lim));
	memset(&b, 0, sizeof(b));
	if ((L = lua_newstate(rules_alloc, &lim)) == NULL) {
		snprintf(err, errlen, "%s: cannot create a Lua state", path);
		return NULL;
	}
	lua_atpanic(L, rules_panic);
	lua_sethook(L, rules_hook, LUA_MASKCOUNT, RULES_HOOK_COUNT);
	if (rules_declare(L, path, 0, err, errlen) == -1) {
		if (lim.l_memhit && !lim.l_runaway)
			snprintf(err, errlen, "%s: rules use more than %d MiB",
			    path, RULES_MAX_MEMORY / 1024 / 1024);
		goto done;
	}
	lua_getfield(L, LUA_REGISTRYINDEX, RULES_KEY_DECLARE);
	b.b_d = lua_touserdata(L, -1);
	lua_pop(L, 1);
	lua_pushcfunction(L, rules_compile);
	lua_insert(L, -2);
	lua_pushlightuserdata(L, &b);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		if (b.b_d->d_err[0] != '\0')
			snprintf(err, errlen, "%s", b.b_d->d_err);
		else if (lim.l_memhit)
			snprintf(err, errlen, "%s: rules use more than %d MiB",
			    path, RULES_MAX_MEMORY / 1024 / 1024);
		else
			snprintf(err, errlen, "%s: %s", path,
			    lua_tostring(L, -1) != NULL ?
			    lua_tostring(L, -1) : "error");
		goto done;
	}

	rl = xcalloc(1, sizeof(*rl));
	rl->rl_path = xstrdup(path);
	rl->rl_routes = b.b_routes;
	rl->rl_nroutes = b.b_nroutes;
	b.b_routes = NULL;
	b.b_nroutes = 0;
	if (rl->rl_nroutes > 0)
		qsort(rl->rl_routes, rl->rl_nroutes, sizeof(*rl->rl_routes),
		    rules_cmp);
	rl->rl_trie = xcalloc(1, sizeof(*rl->rl_trie));
	for (i = 0; i < rl->rl_nroutes; i++) {
		if (rl->rl_routes[i].r_kind == RULE_PATH)
			rules_trie_add(rl->rl_trie, &rl->rl_routes[i]);
		if (rl->rl_routes[i].r_fallback == RULE_FALLBACK_ROUTE)
			rl->rl_routes[i].r_fb_route = rules_find(rl,
			    rl->rl_routes[i].r_fb_route_name);
	}
	rules_trie_sort(rl->rl_trie);
 done:
	lua_close(L);
	for (i = 0; i < b.b_nroutes; i++)
		rules_route_clear(&b.b_routes[i]);
	free(b.b_routes);
	return rl;
}

unsigned
rules_method_bit(const char *method)
{
	size_t	 i;

	for (i = 0; i < RULES_NMETHODS; i++)
		if (strcmp(method, rules_methods[i].m_name) == 0)
			return rules_methods[i].m_bit;
	return RULES_M_OTHER;
}

/* A walk through the trie, backtracking from literals to captures. */
struct rules_walk {
	const char		*w_path;
	size_t			 w_len;
	unsigned		 w_bit;		/* 0: any method */
	unsigned		 w_allow;
	struct rule_capture	 w_caps[RULES_MAX_CAPTURES];
	size_t			 w_ncaps;
	struct rule_match	*w_out;
};

static int
rules_take(struct rules_walk *w, struct rule_route *const *v, size_t n)
{
	const struct rule_route	*r;
	size_t			 i, j;

	for (i = 0; i < n; i++) {
		r = v[i];
		if (w->w_bit != 0 && (r->r_methods & w->w_bit) == 0) {
			w->w_allow |= r->r_methods;
			continue;
		}
		w->w_out->m_route = r;
		w->w_out->m_ncaps = r->r_ncaps;
		for (j = 0; j < r->r_ncaps && j < w->w_ncaps; j++) {
			w->w_out->m_caps[j] = w->w_caps[j];
			w->w_out->m_caps[j].c_name = r->r_capnames[j];
		}
		return 1;
	}
	return 0;
}

/* pos is at the "/" before the next segment, or at the end. */
static int
rules_walk(struct rules_walk *w, const struct rules_node *n, size_t pos)
{
	const char	*seg;
	size_t		 end, i, len;
	int		 at_end;

	at_end = pos >= w->w_len || (pos == 0 && w->w_len == 1);
	if (at_end) {
		if (rules_take(w, n->n_end, n->n_nend))
			return 1;
	} else {
		seg = w->w_path + pos + 1;
		for (end = pos + 1; end < w->w_len && w->w_path[end] != '/';
		    end++)
			;
		len = end - pos - 1;
		for (i = 0; len > 0 && i < n->n_nkids; i++)
			if (n->n_kids[i]->n_len == len &&
			    memcmp(n->n_kids[i]->n_seg, seg, len) == 0) {
				if (rules_walk(w, n->n_kids[i], end))
					return 1;
				break;
			}
		if (len > 0 && n->n_cap != NULL &&
		    w->w_ncaps < RULES_MAX_CAPTURES) {
			w->w_caps[w->w_ncaps].c_value = seg;
			w->w_caps[w->w_ncaps].c_len = len;
			w->w_ncaps++;
			if (rules_walk(w, n->n_cap, end))
				return 1;
			w->w_ncaps--;
		}
	}
	if (n->n_nrest > 0 && w->w_ncaps < RULES_MAX_CAPTURES) {
		w->w_caps[w->w_ncaps].c_value = at_end ? w->w_path + w->w_len :
		    w->w_path + pos + 1;
		w->w_caps[w->w_ncaps].c_len = at_end ? 0 : w->w_len - pos - 1;
		w->w_ncaps++;
		if (rules_take(w, n->n_rest, n->n_nrest))
			return 1;
		w->w_ncaps--;
	}
	return 0;
}

enum rules_result
rules_lookup(const struct rules *rl, const char *method, const char *path,
    size_t path_len, struct rule_match *out)
{
	struct rules_walk	 w;
	const struct rule_route	*r;
	struct rule_route	*rp;
	size_t			 i, o;

	memset(out, 0, sizeof(*out));
	if (rl == NULL)
		return RULES_NO_ROUTE;
	memset(&w, 0, sizeof(w));
	w.w_path = path;
	w.w_len = path_len;
	w.w_bit = method != NULL ? rules_method_bit(method) : 0;
	w.w_out = out;
	if (path_len > 0 && path[0] == '/' && rl->rl_trie != NULL &&
	    rules_walk(&w, rl->rl_trie, 0))
		return RULES_MATCH;

	/* prefixes: a linear scan, longest first, beats pointer chasing */
	for (i = 0; i < rl->rl_nroutes; i++) {
		r = &rl->rl_routes[i];
		if (r->r_kind != RULE_PREFIX || path_len < r->r_prefix_len ||
		    memcmp(path, r->r_prefix, r->r_prefix_len) != 0)
			continue;
		if (path_len != r->r_prefix_len && r->r_prefix_len != 1 &&
		    path[r->r_prefix_len] != '/')
			continue;
		rp = (struct rule_route *)(uintptr_t)r;
		if (rules_take(&w, &rp, 1))
			return RULES_MATCH;
	}
	if (w.w_allow == 0)
		return RULES_NO_ROUTE;
	out->m_allow = w.w_allow;
	for (i = 0, o = 0; i < RULES_NMETHODS; i++)
		if (w.w_allow & rules_methods[i].m_bit)
			o += snprintf(out->m_allow_str + o,
			    sizeof(out->m_allow_str) - o, "%s%s",
			    o > 0 ? ", " : "", rules_methods[i].m_name);
	return RULES_BAD_METHOD;
}

const struct rule_route *
rules_match(const struct rules *rl, const char *path, size_t path_len)
{
	struct rule_match	 m;

	if (rules_lookup(rl, NULL, path, path_len, &m) != RULES_MATCH)
		return NULL;
	return m.m_route;
}

const struct rule_route *
rules_find(const struct rules *rl, const char *name)
{
	size_t	 i;

	if (rl == NULL || name == NULL)
		return NULL;
	for (i = 0; i < rl->rl_nroutes; i++)
		if (rl->rl_routes[i].r_name != NULL &&
		    strcmp(rl->rl_routes[i].r_name, name) == 0)
			return &rl->rl_routes[i];
	return NULL;
}

void
rules_free(struct rules *rl)
{
	size_t	 i;

	if (rl == NULL)
		return;
	for (i = 0; i < rl->rl_nroutes; i++)
		rules_route_clear(&rl->rl_routes[i]);
	free(rl->rl_routes);
	rules_node_free(rl->rl_trie);
	free(rl->rl_path);
	free(rl);
}
