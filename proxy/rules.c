/*
 * Routing rules: a Lua file run once, at load, in a sandbox whose only
 * way out is route{}.  The declarations become a C array sorted longest
 * prefix first, so a request never runs Lua unless a future route asks
 * for a function.
 */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Everything a load needs, reachable from the Lua callbacks. */
struct rules_build {
	const char		*b_path;
	struct rule_route	*b_routes;
	size_t			 b_nroutes;
	size_t			 b_cap;
	size_t			 b_mem;		/* bytes the state holds */
	long			 b_steps;	/* hook calls so far */
	int			 b_limit;	/* a limit was hit */
	char			 b_err[512];	/* first error, "file:line: ..." */
};

/* route{} fields: a table so that new keys are one line each. */
static const struct rules_field {
	const char	*f_name;
	int		 f_required;
	size_t		 f_off;		/* char * in struct rule_route */
	size_t		 f_lenoff;	/* its size_t length */
} rules_route_fields[] = {
	{ "prefix", 1, offsetof(struct rule_route, r_prefix),
	    offsetof(struct rule_route, r_prefix_len) },
	{ "service", 1, offsetof(struct rule_route, r_service_name), 0 },
	{ "strip", 0, offsetof(struct rule_route, r_strip),
	    offsetof(struct rule_route, r_strip_len) },
};
#define RULES_NFIELDS	(sizeof(rules_route_fields) / \
	sizeof(rules_route_fields[0]))

/* Base functions a declaration has no use for, or that reach outside. */
static const char *const rules_unsafe[] = {
	"collectgarbage", "dofile", "load", "loadfile", "loadstring",
	"pcall", "require", "xpcall",
};

static void
rules_route_clear(struct rule_route *r)
{
	free(r->r_prefix);
	free(r->r_strip);
	free(r->r_service_name);
	memset(r, 0, sizeof(*r));
}

static struct rules_build *
rules_getbuild(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* Raises "file:line: message" for the Lua line that called us. */
static int
rules_raise(lua_State *L, struct rules_build *b, int level,
    const char *fmt, ...)
{
	lua_Debug	 ar;
	va_list		 ap;
	char		 msg[400];
	int		 line = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar))
		line = ar.currentline;
	lua_pushfstring(L, "%s:%d: %s", b->b_path, line, msg);
	if (b->b_err[0] == '\0')
		snprintf(b->b_err, sizeof(b->b_err), "%s",
		    lua_tostring(L, -1));
	return lua_error(L);
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

/* route { prefix = "/api/products", service = "catalog", strip = "/api" } */
static int
rules_route(lua_State *L)
{
	struct rules_build		*b = rules_getbuild(L);
	const struct rules_field	*f;
	struct rule_route		 r, *rp;
	const char			*key, *why;
	size_t				 i, len;
	lua_Debug			 ar;

	memset(&r, 0, sizeof(r));
	if (lua_gettop(L) != 1 || !lua_istable(L, 1))
		return rules_raise(L, b, 1, "route takes one table: "
		    "route { prefix = \"/x\", service = \"x\" }");
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
		r.r_line = ar.currentline;

	/* Strings are copied out first, so a raise below leaks nothing. */
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			rules_route_clear(&r);
			return rules_raise(L, b, 1, "route: fields must be "
			    "named (prefix = ..., service = ...)");
		}
		key = lua_tostring(L, -2);
		for (i = 0; i < RULES_NFIELDS; i++)
			if (strcmp(key, rules_route_fields[i].f_name) == 0)
				break;
		if (i == RULES_NFIELDS) {
			lua_pushstring(L, key);
			rules_route_clear(&r);
			return rules_raise(L, b, 1, "route: unknown field "
			    "\"%s\"", lua_tostring(L, -1));
		}
		f = &rules_route_fields[i];
		if (lua_type(L, -1) != LUA_TSTRING) {
			rules_route_clear(&r);
			return rules_raise(L, b, 1, "route: %s must be a "
			    "string", f->f_name);
		}
		key = lua_tolstring(L, -1, &len);
		if (strlen(key) != len) {
			rules_route_clear(&r);
			return rules_raise(L, b, 1, "route: %s holds a NUL",
			    f->f_name);
		}
		*(char **)((char *)&r + f->f_off) = xstrdup(key);
		if (f->f_lenoff != 0)
			*(size_t *)((char *)&r + f->f_lenoff) = len;
		lua_pop(L, 1);
	}
	for (i = 0; i < RULES_NFIELDS; i++) {
		f = &rules_route_fields[i];
		if (f->f_required && *(char **)((char *)&r + f->f_off) ==
		    NULL) {
			rules_route_clear(&r);
			return rules_raise(L, b, 1, "route: %s is missing",
			    f->f_name);
		}
	}
	if (r.r_strip == NULL)
		r.r_strip = xstrdup("");

	if ((why = rules_path_invalid(r.r_prefix)) != NULL) {
		lua_pushfstring(L, "route: prefix \"%s\" %s", r.r_prefix, why);
		rules_route_clear(&r);
		return rules_raise(L, b, 1, "%s", lua_tostring(L, -1));
	}
	if (r.r_strip_len > 0 && ((why = rules_path_invalid(r.r_strip)) !=
	    NULL || strncmp(r.r_prefix, r.r_strip, r.r_strip_len) != 0 ||
	    (r.r_prefix[r.r_strip_len] != '\0' &&
	    r.r_prefix[r.r_strip_len] != '/') || r.r_strip_len == 1)) {
		lua_pushfstring(L, "route: strip \"%s\" is not a leading part "
		    "of prefix \"%s\" (whole segments)", r.r_strip,
		    r.r_prefix);
		rules_route_clear(&r);
		return rules_raise(L, b, 1, "%s", lua_tostring(L, -1));
	}
	if (r.r_service_name[0] == '\0') {
		rules_route_clear(&r);
		return rules_raise(L, b, 1, "route: service is empty");
	}
	for (i = 0; i < b->b_nroutes; i++) {
		if (strcmp(b->b_routes[i].r_prefix, r.r_prefix) == 0) {
			lua_pushfstring(L, "route: prefix \"%s\" already "
			    "routed at line %d", r.r_prefix,
			    b->b_routes[i].r_line);
			rules_route_clear(&r);
			return rules_raise(L, b, 1, "%s", lua_tostring(L, -1));
		}
	}

	if (b->b_nroutes == b->b_cap) {
		b->b_cap = b->b_cap == 0 ? 16 : b->b_cap * 2;
		b->b_routes = xreallocarray(b->b_routes, b->b_cap,
		    sizeof(*b->b_routes));
	}
	rp = &b->b_routes[b->b_nroutes++];
	*rp = r;
	return 0;
}

/* print() goes to the log, not to stdout. */
static int
rules_print(lua_State *L)
{
	struct rules_build	*b = rules_getbuild(L);
	luaL_Buffer		 buf;
	int			 i, n = lua_gettop(L);

	luaL_buffinit(L, &buf);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&buf, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&buf);
	}
	luaL_pushresult(&buf);
	log_info("%s: %s", b->b_path, lua_tostring(L, -1));
	return 0;
}

static void
rules_hook(lua_State *L, lua_Debug *ar)
{
	struct rules_build	*b;

	lua_getfield(L, LUA_REGISTRYINDEX, "agora.rules");
	b = lua_touserdata(L, -1);
	lua_pop(L, 1);
	if (++b->b_steps * RULES_HOOK_COUNT < RULES_MAX_INSTRUCTIONS &&
	    !b->b_limit)
		return;
	b->b_limit = 1;
	/* from now on every instruction raises, wherever it runs */
	lua_sethook(L, rules_hook, LUA_MASKCOUNT, 1);
	rules_raise(L, b, 0, "rules run too long (more than %ld "
	    "instructions)", RULES_MAX_INSTRUCTIONS);
}

static void *
rules_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct rules_build	*b = ud;
	void			*p;

	if (ptr == NULL)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		b->b_mem -= osize;
		return NULL;
	}
	if (nsize > osize && b->b_mem + (nsize - osize) > RULES_MAX_MEMORY) {
		b->b_limit = 1;
		return NULL;
	}
	if ((p = realloc(ptr, nsize)) == NULL)
		return NULL;
	b->b_mem = b->b_mem - osize + nsize;
	return p;
}

static int
rules_panic(lua_State *L)
{
	fatalx("rules: unprotected Lua error: %s", lua_tostring(L, -1));
}

/* Only base, string, table, math and utf8, minus what reaches outside. */
static void
rules_sandbox(lua_State *L, struct rules_build *b)
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

	lua_pushlightuserdata(L, b);
	lua_setfield(L, LUA_REGISTRYINDEX, "agora.rules");
	lua_pushlightuserdata(L, b);
	lua_pushcclosure(L, rules_route, 1);
	lua_setglobal(L, "route");
	lua_pushlightuserdata(L, b);
	lua_pushcclosure(L, rules_print, 1);
	lua_setglobal(L, "print");
}

/* Longest prefix first; equal lengths by name, for a stable order. */
static int
rules_cmp(const void *a, const void *b)
{
	const struct rule_route	*ra = a, *rb = b;

	if (ra->r_prefix_len != rb->r_prefix_len)
		return ra->r_prefix_len > rb->r_prefix_len ? -1 : 1;
	return strcmp(ra->r_prefix, rb->r_prefix);
}

struct rules *
rules_load(const char *path, char *err, size_t errlen)
{
	struct rules_build	 b;
	struct rules		*rl = NULL;
	lua_State		*L;
	FILE			*fp;
	size_t			 i;

	memset(&b, 0, sizeof(b));
	b.b_path = path;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	fclose(fp);
	if ((L = lua_newstate(rules_alloc, &b)) == NULL) {
		snprintf(err, errlen, "%s: cannot create a Lua state", path);
		return NULL;
	}
	lua_atpanic(L, rules_panic);
	rules_sandbox(L, &b);
	lua_sethook(L, rules_hook, LUA_MASKCOUNT, RULES_HOOK_COUNT);

	/* text only: bytecode can break out of any sandbox */
	if (luaL_loadfilex(L, path, "t") != LUA_OK ||
	    lua_pcall(L, 0, 0, 0) != LUA_OK) {
		if (b.b_err[0] != '\0')
			snprintf(err, errlen, "%s", b.b_err);
		else if (b.b_limit)
			snprintf(err, errlen, "%s: rules use more than %d MiB",
			    path, RULES_MAX_MEMORY / 1024 / 1024);
		else if (lua_type(L, -1) == LUA_TSTRING)
			snprintf(err, errlen, "%s", lua_tostring(L, -1));
		else
			snprintf(err, errlen, "%s: error object is not a "
			    "string", path);
		goto done;
	}
	if (b.b_err[0] != '\0' || b.b_limit) {
		if (b.b_err[0] != '\0')
			snprintf(err, errlen, "%s", b.b_err);
		else
			snprintf(err, errlen, "%s: rules use more than %d MiB",
			    path, RULES_MAX_MEMORY / 1024 / 1024);
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
 done:
	lua_close(L);
	for (i = 0; i < b.b_nroutes; i++)
		rules_route_clear(&b.b_routes[i]);
	free(b.b_routes);
	return rl;
}

/*
 * Whole-segment prefix match, longest first.  A linear scan: a few dozen
 * routes cost less than a trie's pointer chasing.
 */
const struct rule_route *
rules_match(const struct rules *rl, const char *path, size_t path_len)
{
	const struct rule_route	*r;
	size_t			 i;

	if (rl == NULL)
		return NULL;
	for (i = 0; i < rl->rl_nroutes; i++) {
		r = &rl->rl_routes[i];
		if (path_len < r->r_prefix_len ||
		    memcmp(path, r->r_prefix, r->r_prefix_len) != 0)
			continue;
		if (path_len == r->r_prefix_len || r->r_prefix_len == 1 ||
		    path[r->r_prefix_len] == '/')
			return r;
	}
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
	free(rl->rl_path);
	free(rl);
}
