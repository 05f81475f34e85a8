/*
 * The request-phase Lua runtime: the functions a route names (handler =,
 * fallback = function) run here, one runtime (one lua_State) per loop
 * thread.  Each runtime loads the rules file again, in the same sandbox
 * as rules_load(), and keeps the functions of each route.
 *
 * Independent of the HTTP front: the caller describes the request in a
 * struct lua_request and gets back a struct lua_result saying whether to
 * continue (with edits to the request), to answer directly, or that the
 * function failed (answer 500 and log lres_error).
 *
 * This file shadows Lua's own <lua.h> on the proxy/ include path, so it
 * includes Lua's headers itself: either way a file gets the Lua API.
 */
#ifndef AGORA_PROXY_LUA_H
#define AGORA_PROXY_LUA_H

#include <stddef.h>

#include <lauxlib.h>
#include <yajl/yajl_tree.h>

#include "rules.h"

/* Defaults; lua_runtime_limits() changes them. */
#define LUA_RT_INSTRUCTIONS	1000000L	/* per call */
#define LUA_RT_MEMORY		(32L * 1024 * 1024)	/* per runtime */

/* A header as received: spans, not necessarily NUL-terminated. */
struct lua_header {
	const char		*h_name;
	size_t			 h_name_len;
	const char		*h_value;
	size_t			 h_value_len;
};

/* What the caller knows about the request; nothing here is copied. */
struct lua_request {
	const char		*lr_method;
	const char		*lr_path;	/* no query string */
	size_t			 lr_path_len;
	const char		*lr_query;	/* NULL: none */
	size_t			 lr_query_len;
	const struct lua_header	*lr_headers;
	size_t			 lr_nheaders;
	const struct rule_match	*lr_match;	/* route and captures */
	const char		*lr_client_addr;	/* "192.0.2.1" */
	int			 lr_client_port;
	yajl_val		 lr_claims;	/* JWT payload object, or NULL */
};

enum lua_outcome {
	LUA_OUT_CONTINUE,	/* forward, with the edits below */
	LUA_OUT_RESPOND,	/* answer lres_status/headers/body */
	LUA_OUT_ERROR,		/* 500; lres_error says why */
};

enum lua_hdr_op {
	LUA_HDR_SET,		/* replaces every header of that name */
	LUA_HDR_REMOVE,
};

struct lua_hdr_edit {
	enum lua_hdr_op		 he_op;
	char			*he_name;
	char			*he_value;	/* NULL for LUA_HDR_REMOVE */
};

struct lua_kv {
	char			*kv_name;
	char			*kv_value;
	size_t			 kv_value_len;
};

/* Filled by lua_runtime_call(); owned by it until lua_result_clear(). */
struct lua_result {
	enum lua_outcome	 lres_outcome;
	struct lua_hdr_edit	*lres_edits;	/* request headers, in order */
	size_t			 lres_nedits;
	struct lua_kv		*lres_params;	/* FastCGI params to add */
	size_t			 lres_nparams;
	char			*lres_service;	/* NULL: the route's */
	int			 lres_status;	/* LUA_OUT_RESPOND */
	struct lua_kv		*lres_headers;	/* response headers */
	size_t			 lres_nheaders;
	char			*lres_body;
	size_t			 lres_body_len;
	char			 lres_error[512];	/* "file:line: ..." */
};

enum lua_phase {
	LUA_PHASE_HANDLER,	/* handler = function */
	LUA_PHASE_FALLBACK,	/* fallback = function */
};

struct lua_runtime;

/*
 * A runtime for the rules rl (which must outlive it), or NULL with a
 * reason in err.  One per thread: a runtime is not thread-safe.
 */
struct lua_runtime	*lua_runtime_new(const struct rules *rl, char *err,
			    size_t errlen);
void			 lua_runtime_free(struct lua_runtime *);

/* Instruction budget per call and memory cap of the whole state. */
void			 lua_runtime_limits(struct lua_runtime *,
			    long instructions, size_t memory);

/* Does the route have a function for phase? */
int			 lua_runtime_has(const struct lua_runtime *,
			    const struct rule_route *, enum lua_phase);

/*
 * Runs the route's function for phase on req.  res is always filled:
 * clear it with lua_result_clear() when done.  Returns res->lres_outcome.
 */
enum lua_outcome	 lua_runtime_call(struct lua_runtime *,
			    enum lua_phase, const struct lua_request *req,
			    struct lua_result *res);

/* Frees what a result holds and zeroes it; NULL is a no-op. */
void			 lua_result_clear(struct lua_result *);

#endif
