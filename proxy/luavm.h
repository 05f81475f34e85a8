/*
 * The request-phase Lua runtime: the functions a route names (handler =,
 * fallback = function) run here, one runtime (one lua_State) per loop
 * thread.  Each runtime loads the rules file again, in the same sandbox
 * as rules_load(), and keeps the functions of each route.
 *
 * Independent of the HTTP front: the caller describes the request in a
 * struct luavm_request and gets back a struct luavm_result saying whether to
 * continue (with edits to the request), to answer directly, or that the
 * function failed (answer 500 and log lres_error).
 */
#ifndef AGORA_PROXY_LUAVM_H
#define AGORA_PROXY_LUAVM_H

#include <stddef.h>

#include <lauxlib.h>
#include <yajl/yajl_tree.h>

#include "rules.h"

/* Defaults; luavm_limits() changes them. */
#define LUAVM_INSTRUCTIONS	1000000L	/* per call */
#define LUAVM_MEMORY		(32L * 1024 * 1024)	/* per runtime */

/* A header as received: spans, not necessarily NUL-terminated. */
struct luavm_header {
	const char		*h_name;
	size_t			 h_name_len;
	const char		*h_value;
	size_t			 h_value_len;
};

/* What the caller knows about the request; nothing here is copied. */
struct luavm_request {
	const char		*lr_method;
	const char		*lr_path;	/* no query string */
	size_t			 lr_path_len;
	const char		*lr_query;	/* NULL: none */
	size_t			 lr_query_len;
	const struct luavm_header	*lr_headers;
	size_t			 lr_nheaders;
	const struct rule_match	*lr_match;	/* route and captures */
	const char		*lr_client_addr;	/* "192.0.2.1" */
	int			 lr_client_port;
	yajl_val		 lr_claims;	/* JWT payload, or NULL */
};

enum luavm_outcome {
	LUAVM_OUT_CONTINUE,	/* forward, with the edits below */
	LUAVM_OUT_RESPOND,	/* answer lres_status/headers/body */
	LUAVM_OUT_ERROR,		/* 500; lres_error says why */
};

enum luavm_hdr_op {
	LUAVM_HDR_SET,		/* replaces every header of that name */
	LUAVM_HDR_REMOVE,
};

struct luavm_hdr_edit {
	enum luavm_hdr_op		 he_op;
	char			*he_name;
	char			*he_value;	/* NULL for LUAVM_HDR_REMOVE */
};

struct luavm_kv {
	char			*kv_name;
	char			*kv_value;
	size_t			 kv_value_len;
};

/* Filled by luavm_call(); owned by it until luavm_result_clear(). */
struct luavm_result {
	enum luavm_outcome	 lres_outcome;
	struct luavm_hdr_edit	*lres_edits;	/* request headers, in order */
	size_t			 lres_nedits;
	struct luavm_kv		*lres_params;	/* FastCGI params to add */
	size_t			 lres_nparams;
	char			*lres_service;	/* NULL: the route's */
	int			 lres_status;	/* LUAVM_OUT_RESPOND */
	struct luavm_kv		*lres_headers;	/* response headers */
	size_t			 lres_nheaders;
	char			*lres_body;
	size_t			 lres_body_len;
	char			 lres_error[512];	/* "file:line: ..." */
};

enum luavm_phase {
	LUAVM_PHASE_HANDLER,	/* handler = function */
	LUAVM_PHASE_FALLBACK,	/* fallback = function */
};

struct luavm;

/*
 * A runtime for the rules rl (which must outlive it), or NULL with a
 * reason in err.  One per thread: a runtime is not thread-safe.
 */
struct luavm	*luavm_new(const struct rules *rl, char *err,
			    size_t errlen);
void			 luavm_free(struct luavm *);

/* Instruction budget per call and memory cap of the whole state. */
void			 luavm_limits(struct luavm *,
			    long instructions, size_t memory);

/* Does the route have a function for phase? */
int			 luavm_has(const struct luavm *,
			    const struct rule_route *, enum luavm_phase);

/*
 * Runs the route's function for phase on req.  res is always filled:
 * clear it with luavm_result_clear() when done.  Returns res->lres_outcome.
 */
enum luavm_outcome	 luavm_call(struct luavm *,
			    enum luavm_phase, const struct luavm_request *req,
			    struct luavm_result *res);

/* Frees what a result holds and zeroes it; NULL is a no-op. */
void			 luavm_result_clear(struct luavm_result *);

#endif
