/* The caller's identity from the gateway's params, and role checks. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identity.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define IDENTITY_SEPARATORS	" ,\t"

static identity_verifier	identity_verify;

void
identity_set_verifier(identity_verifier fn)
{
	identity_verify = fn;
}

/* Splits a space/comma separated list into at most IDENTITY_MAXLIST. */
static size_t
identity_split(const char *s, char **out)
{
	size_t	 n = 0, len;

	if (s == NULL)
		return 0;
	while (*s != '\0' && n < IDENTITY_MAXLIST) {
		s += strspn(s, IDENTITY_SEPARATORS);
		if ((len = strcspn(s, IDENTITY_SEPARATORS)) == 0)
			break;
		out[n++] = xstrndup(s, len);
		s += len;
	}
	if (*s != '\0' && s[strspn(s, IDENTITY_SEPARATORS)] != '\0')
		log_info("%s: more than %d entries, the rest ignored",
		    __func__, IDENTITY_MAXLIST);
	return n;
}

void
identity_parse(struct identity *id, const char *user, const char *type,
    const char *roles, const char *scope)
{
	memset(id, 0, sizeof *id);
	if (user == NULL || *user == '\0')
		return;
	id->id_source = IDENTITY_PARAMS;
	id->id_user = xstrdup(user);
	if (type != NULL && *type != '\0')
		id->id_type = xstrdup(type);
	id->id_nroles = identity_split(roles, id->id_roles);
	id->id_nscopes = identity_split(scope, id->id_scopes);
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *
identity_bearer(struct request *r)
{
	const char	*h;

	if ((h = request_header(r, "Authorization")) == NULL)
		return NULL;
	h += strspn(h, " \t");
	if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return NULL;
	h += 6;
	h += strspn(h, " \t");
	return *h != '\0' ? h : NULL;
}

void
identity_get(struct request *r, struct identity *id)
{
	const char	*token, *errstr = "invalid token";

	identity_parse(id, request_param(r, "REMOTE_USER"),
	    request_param(r, "AUTH_TYPE"), request_param(r, "AUTH_ROLES"),
	    request_param(r, "AUTH_SCOPE"));
	if (id->id_source != IDENTITY_NONE)
		return;
	/* No gateway in front: the hook for self-verified JWTs. */
	if (identity_verify == NULL || (token = identity_bearer(r)) == NULL)
		return;
	if (identity_verify(token, id, &errstr) == -1 ||
	    id->id_user == NULL) {
		identity_free(id);
		memset(id, 0, sizeof *id);
		id->id_bad_token = 1;
		log_info("%s: bearer token refused: %s rid=%s", __func__,
		    errstr, r->rq_id);
		return;
	}
	id->id_source = IDENTITY_TOKEN;
	if (id->id_type == NULL)
		id->id_type = xstrdup("Bearer");
}

void
identity_free(struct identity *id)
{
	size_t	 i;

	if (id == NULL)
		return;
	free(id->id_user);
	free(id->id_type);
	for (i = 0; i < id->id_nroles; i++)
		free(id->id_roles[i]);
	for (i = 0; i < id->id_nscopes; i++)
		free(id->id_scopes[i]);
	memset(id, 0, sizeof *id);
}

int
identity_authenticated(const struct identity *id)
{
	return id->id_user != NULL;
}

static int
identity_in(char *const *list, size_t n, const char *what)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], what) == 0)
			return 1;
	return 0;
}

int
identity_has_role(const struct identity *id, const char *role)
{
	return identity_authenticated(id) &&
	    identity_in(id->id_roles, id->id_nroles, role);
}

int
identity_has_scope(const struct identity *id, const char *scope)
{
	return identity_authenticated(id) &&
	    identity_in(id->id_scopes, id->id_nscopes, scope);
}

int
identity_require_roles(struct request *r, struct response *rs, ...)
{
	struct identity	 id;
	va_list		 ap;
	const char	*role;
	char		*want = NULL, *tmp;
	int		 ok = 0, any = 0;

	identity_get(r, &id);
	if (!identity_authenticated(&id)) {
		problem_send(r, rs, 401, "%s", id.id_bad_token ?
		    "the bearer token is not valid" :
		    "authentication is required");
		response_header(rs, "WWW-Authenticate", "Bearer%s",
		    id.id_bad_token ? " error=\"invalid_token\"" : "");
		identity_free(&id);
		return 0;
	}
	va_start(ap, rs);
	while ((role = va_arg(ap, const char *)) != NULL) {
		any = 1;
		if (identity_has_role(&id, role))
			ok = 1;
		xasprintf(&tmp, "%s%s%s", want != NULL ? want : "",
		    want != NULL ? " or " : "", role);
		free(want);
		want = tmp;
	}
	va_end(ap);
	if (!any)
		ok = 1;
	if (!ok)
		problem_send(r, rs, 403, "this needs the %s role", want);
	free(want);
	identity_free(&id);
	return ok;
}

char *
identity_caller(struct request *r)
{
	struct identity	 id;
	char		*caller;

	identity_get(r, &id);
	caller = xstrdup(id.id_user != NULL ? id.id_user : "");
	identity_free(&id);
	return caller;
}
