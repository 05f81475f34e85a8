/*
 * The RFC 6749 plumbing the token, revocation and introspection endpoints
 * share: form bodies, client authentication and §5.2 error answers.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "problem.h"
#include "request.h"
#include "response.h"
#include "xmalloc.h"

#define OAUTH_CLIENT_ID_MAX	64
#define OAUTH_SECRET_MAX	256

static const char sql_client[] =
    "SELECT client_id, secret_hash, grant_types, scope, roles"
    " FROM clients WHERE client_id = ?";

void
oauth_nostore(struct response *rs)
{
	response_header(rs, "Cache-Control", "no-store");
	response_header(rs, "Pragma", "no-cache");
}

void
oauth_error(struct request *r, struct response *rs, int status,
    const char *error, const char *fmt, ...)
{
	va_list		 ap;
	yajl_gen	 g;
	char		*desc;

	va_start(ap, fmt);
	if (vasprintf(&desc, fmt, ap) == -1)
		desc = NULL;
	va_end(ap);
	response_reset(rs);
	response_status(rs, status);
	oauth_nostore(rs);
	if (status == 401)
		response_header(rs, "WWW-Authenticate",
		    "Basic realm=\"agora\", charset=\"UTF-8\"");
	g = response_json(rs);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "error", error);
	if (desc != NULL)
		json_gen_kv_str(g, "error_description", desc);
	yajl_gen_map_close(g);
	log_info("%s %s -> %d %s: %s rid=%s", r->rq_method, r->rq_path,
	    status, error, desc != NULL ? desc : "", r->rq_id);
	free(desc);
}

int
oauth_form(struct request *r, struct response *rs, struct query *q)
{
	const char	*ct, *errstr;
	size_t		 i, j, n;
	int		 st;

	memset(q, 0, sizeof *q);
	ct = request_param(r, "CONTENT_TYPE");
	n = strlen("application/x-www-form-urlencoded");
	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    n) != 0 || (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ')) {
		oauth_error(r, rs, 400, "invalid_request", "the body must be "
		    "application/x-www-form-urlencoded");
		return -1;
	}
	if ((st = request_body(r, &errstr)) != 0) {
		oauth_error(r, rs, st == 413 ? 413 : 400, "invalid_request",
		    "%s", errstr);
		return -1;
	}
	if (r->rq_body == NULL || strlen(r->rq_body) != r->rq_bodylen) {
		oauth_error(r, rs, 400, "invalid_request", "the body is empty "
		    "or holds a NUL byte");
		return -1;
	}
	if (query_parse(q, r->rq_body, &errstr) == -1) {
		oauth_error(r, rs, 400, "invalid_request", "%s", errstr);
		return -1;
	}
	for (i = 0; i < q->q_n; i++) {
		if (!json_utf8_valid(q->q_params[i].qp_value,
		    strlen(q->q_params[i].qp_value)) ||
		    !json_utf8_valid(q->q_params[i].qp_name,
		    strlen(q->q_params[i].qp_name))) {
			oauth_error(r, rs, 400, "invalid_request",
			    "a parameter is not valid UTF-8");
			goto fail;
		}
		/* RFC 6749 §3.2: no parameter more than once. */
		for (j = 0; j < i; j++)
			if (strcmp(q->q_params[i].qp_name,
			    q->q_params[j].qp_name) == 0) {
				oauth_error(r, rs, 400, "invalid_request",
				    "a parameter is repeated");
				goto fail;
			}
	}
	return 0;
 fail:
	query_free(q);
	return -1;
}

/* %XX and '+' decoding of a Basic credential part (RFC 6749 §2.3.1). */
static char *
oauth_unescape(const char *s, size_t len)
{
	char	*out, *o;
	size_t	 i;
	int	 hi, lo;

	out = o = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			*o++ = ' ';
		else if (s[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			hi = isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0' :
			    (tolower((unsigned char)s[i + 1]) - 'a' + 10);
			lo = isdigit((unsigned char)s[i + 2]) ? s[i + 2] - '0' :
			    (tolower((unsigned char)s[i + 2]) - 'a' + 10);
			if (hi * 16 + lo == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '%') {
			free(out);
			return NULL;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

/* Splits "Basic base64(id:secret)" into new strings; -1 when malformed. */
static int
oauth_basic(const char *hdr, char **id, char **secret)
{
	unsigned char	*raw;
	const char	*b64, *colon;
	size_t		 len, pad = 0;
	int		 n;

	if (strncasecmp(hdr, "Basic ", 6) != 0)
		return -1;
	for (b64 = hdr + 6; *b64 == ' '; b64++)
		;
	len = strlen(b64);
	if (len == 0 || len % 4 != 0 || len > 4 * OAUTH_SECRET_MAX)
		return -1;
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	raw = xmalloc(len / 4 * 3 + 1);
	if ((n = EVP_DecodeBlock(raw, (const unsigned char *)b64,
	    (int)len)) < 0) {
		free(raw);
		return -1;
	}
	n -= (int)pad;
	raw[n] = '\0';
	if (memchr(raw, '\0', n) != NULL ||
	    (colon = strchr((char *)raw, ':')) == NULL) {
		free(raw);
		return -1;
	}
	*id = oauth_unescape((char *)raw, colon - (char *)raw);
	*secret = oauth_unescape(colon + 1, strlen(colon + 1));
	free(raw);
	if (*id == NULL || *secret == NULL) {
		free(*id);
		free(*secret);
		return -1;
	}
	return 0;
}

void
oauth_client_free(struct oauth_client *c)
{
	if (c == NULL)
		return;
	free(c->oc_id);
	free(c->oc_grants);
	free(c->oc_scope);
	free(c->oc_roles);
	memset(c, 0, sizeof *c);
}

int
oauth_client_auth(struct request *r, struct response *rs,
    const struct query *q, int allow_public, struct oauth_client *c)
{
	struct db_result	*res = NULL;
	struct db_param		 p[1];
	const struct db_value	*hash;
	const char		*hdr, *pid, *psecret;
	char			*id = NULL, *secret = NULL, want[65];
	int			 basic = 0, ok, rc = -1;

	memset(c, 0, sizeof *c);
	hdr = request_header(r, "Authorization");
	pid = query_get(q, "client_id");
	psecret = query_get(q, "client_secret");
	if (hdr != NULL) {
		basic = 1;
		if (psecret != NULL) {
			oauth_error(r, rs, 400, "invalid_request", "more than "
			    "one client authentication method");
			return -1;
		}
		if (oauth_basic(hdr, &id, &secret) == -1) {
			oauth_error(r, rs, 401, "invalid_client", "malformed "
			    "Basic credentials");
			return -1;
		}
		if (pid != NULL && strcmp(pid, id) != 0) {
			oauth_error(r, rs, 400, "invalid_request", "client_id "
			    "differs from the authenticated client");
			goto done;
		}
	} else if (pid != NULL) {
		id = xstrdup(pid);
		secret = psecret != NULL ? xstrdup(psecret) : NULL;
	} else {
		oauth_error(r, rs, 401, "invalid_client", "client "
		    "authentication is required");
		return -1;
	}
	if (*id == '\0' || strlen(id) > OAUTH_CLIENT_ID_MAX ||
	    (secret != NULL && strlen(secret) > OAUTH_SECRET_MAX)) {
		oauth_error(r, rs, 401, "invalid_client", "client "
		    "authentication failed");
		goto done;
	}
	p[0] = (struct db_param)DB_STR(id);
	if (db_query(sql_client, p, 1, &res) == -1) {
		problem_db(r, rs, "client lookup");
		goto done;
	}
	if (res->nrows == 0) {
		/* Same work as a known client: no timing hint. */
		auth_sha256_hex(secret != NULL ? secret : "", want);
		ok = 0;
	} else {
		hash = db_value(res, 0, 1);
		if (hash->isnull)
			ok = allow_public && secret == NULL && !basic;
		else if (secret == NULL)
			ok = 0;
		else {
			auth_sha256_hex(secret, want);
			ok = hash->len == 64 &&
			    CRYPTO_memcmp(want, hash->s, 64) == 0;
		}
	}
	if (!ok) {
		oauth_error(r, rs, 401, "invalid_client", "client "
		    "authentication failed");
		goto done;
	}
	c->oc_id = xstrdup(db_value(res, 0, 0)->s);
	c->oc_public = db_value(res, 0, 1)->isnull;
	c->oc_grants = xstrdup(db_value(res, 0, 2)->s);
	c->oc_scope = xstrdup(db_value(res, 0, 3)->s);
	c->oc_roles = xstrdup(db_value(res, 0, 4)->s);
	rc = 0;
 done:
	db_result_free(res);
	if (secret != NULL) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	free(id);
	return rc;
}
