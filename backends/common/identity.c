/*
 * The caller's identity from the gateway's params, role checks, and the
 * JWT verifier for services that run without the gateway.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "identity.h"
#include "jwt.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define IDENTITY_SEPARATORS	" ,\t"

static identity_verifier	identity_verify;

/* The JWT verifier's state: one per process, requests are sequential. */
static struct {
	char			*path;
	char			*iss;
	struct jwt_keyset	*keys;		/* NULL: none loaded yet */
	/* the file as last tried, loaded or not */
	int			 tried;
	dev_t			 dev;
	ino_t			 ino;
	off_t			 size;
	struct timespec		 mtime;
} identity_jwt;

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

/* Reads the whole JWKS file opened as fd; a new string, or NULL. */
static char *
identity_jwt_read(int fd, size_t size, size_t *lenp)
{
	char	*buf;
	size_t	 off = 0;
	ssize_t	 n;

	buf = xmalloc(size + 1);
	while (off < size) {
		if ((n = read(fd, buf + off, size - off)) == -1) {
			if (errno == EINTR)
				continue;
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		off += n;
	}
	buf[off] = '\0';
	*lenp = off;
	return buf;
}

/*
 * Loads the JWKS file when it changed since the last try.  A file that
 * cannot be read or parsed keeps the keys loaded before.
 */
static void
identity_jwt_refresh(void)
{
	struct jwt_keyset	*ks;
	struct stat		 st;
	const char		*errstr;
	char			*json;
	size_t			 len;
	int			 fd;

	if ((fd = open(identity_jwt.path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (identity_jwt.tried != -1)
			log_warn("%s: %s", __func__, identity_jwt.path);
		identity_jwt.tried = -1;	/* warn once until it works */
		return;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s: fstat %s", __func__, identity_jwt.path);
		close(fd);
		return;
	}
	if (identity_jwt.tried == 1 && st.st_dev == identity_jwt.dev &&
	    st.st_ino == identity_jwt.ino && st.st_size == identity_jwt.size &&
	    st.st_mtim.tv_sec == identity_jwt.mtime.tv_sec &&
	    st.st_mtim.tv_nsec == identity_jwt.mtime.tv_nsec) {
		close(fd);
		return;
	}
	identity_jwt.tried = 1;
	identity_jwt.dev = st.st_dev;
	identity_jwt.ino = st.st_ino;
	identity_jwt.size = st.st_size;
	identity_jwt.mtime = st.st_mtim;
	if (!S_ISREG(st.st_mode) || st.st_size > IDENTITY_JWT_MAXFILE) {
		log_warnx("%s: %s: not a regular file of at most %d bytes",
		    __func__, identity_jwt.path, IDENTITY_JWT_MAXFILE);
		close(fd);
		return;
	}
	json = identity_jwt_read(fd, st.st_size, &len);
	close(fd);
	if (json == NULL) {
		log_warn("%s: read %s", __func__, identity_jwt.path);
		return;
	}
	ks = jwt_keyset_from_jwks_flags(json, len, JWT_JWKS_SKIP_UNUSABLE,
	    &errstr);
	free(json);
	if (ks == NULL) {
		log_warnx("%s: %s: %s%s", __func__, identity_jwt.path, errstr,
		    identity_jwt.keys != NULL ? "; keeping the keys before" :
		    "");
		return;
	}
	jwt_keyset_free(identity_jwt.keys);
	identity_jwt.keys = ks;
	log_info("%s: %zu key(s) from %s", __func__, jwt_keyset_count(ks),
	    identity_jwt.path);
}

void
identity_jwt_reset(void)
{
	if (identity_verify == identity_jwt_verify)
		identity_verify = NULL;
	free(identity_jwt.path);
	free(identity_jwt.iss);
	jwt_keyset_free(identity_jwt.keys);
	memset(&identity_jwt, 0, sizeof identity_jwt);
}

int
identity_jwt_configure(const char *jwks_file, const char *iss,
    const char **errstr)
{
	if (jwks_file == NULL || *jwks_file == '\0') {
		*errstr = "no JWKS file";
		return -1;
	}
	if (iss == NULL || *iss == '\0') {
		*errstr = "no issuer";
		return -1;
	}
	identity_jwt_reset();
	identity_jwt.path = xstrdup(jwks_file);
	identity_jwt.iss = xstrdup(iss);
	identity_jwt_refresh();
	return 0;
}

int
identity_jwt_from_env(const char **errstr)
{
	const char	*file, *iss;

	if ((file = getenv("AGORA_JWKS_FILE")) == NULL || *file == '\0')
		return 0;
	if ((iss = getenv("AGORA_AUTH_ISSUER")) == NULL || *iss == '\0') {
		*errstr = "AGORA_JWKS_FILE is set but AGORA_AUTH_ISSUER is not";
		return -1;
	}
	if (identity_jwt_configure(file, iss, errstr) == -1)
		return -1;
	identity_set_verifier(identity_jwt_verify);
	return 1;
}

int
identity_jwt_verify(const char *token, struct identity *id,
    const char **errstr)
{
	struct jwt_expect	 ex;
	struct jwt_claims	*c;
	size_t			 i;

	memset(id, 0, sizeof *id);
	if (identity_jwt.path == NULL) {
		*errstr = "no JWT verifier configured";
		return -1;
	}
	identity_jwt_refresh();
	if (identity_jwt.keys == NULL) {
		*errstr = "no keys to verify tokens with";
		return -1;
	}
	memset(&ex, 0, sizeof ex);
	ex.iss = identity_jwt.iss;
	ex.aud = IDENTITY_JWT_AUDIENCE;
	ex.typ = IDENTITY_JWT_TYPE;
	ex.leeway = IDENTITY_JWT_LEEWAY;
	ex.require_exp = 1;
	if (jwt_verify(identity_jwt.keys, token, &ex, &c, errstr) == -1)
		return -1;
	if (c->jc_sub == NULL || *c->jc_sub == '\0') {
		jwt_claims_free(c);
		*errstr = "token without sub";
		return -1;
	}
	id->id_user = xstrdup(c->jc_sub);
	id->id_type = xstrdup("Bearer");
	for (i = 0; i < c->jc_nroles && id->id_nroles < IDENTITY_MAXLIST;
	    i++)
		if (*c->jc_roles[i] != '\0')
			id->id_roles[id->id_nroles++] =
			    xstrdup(c->jc_roles[i]);
	id->id_nscopes = identity_split(c->jc_scope, id->id_scopes);
	jwt_claims_free(c);
	return 0;
}
