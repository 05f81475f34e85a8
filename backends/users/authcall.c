/*
 * Calls to agora-auth over FastCGI (backends/common/fcgi_client.h),
 * directly on its socket.  The params are those the gateway would pass
 * for a service caller: REMOTE_USER "users-service", AUTH_ROLES
 * "service"; the request id travels along so the logs line up.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "fcgi_client.h"
#include "json.h"
#include "log.h"
#include "users.h"
#include "xmalloc.h"

#define AUTHCALL_TIMEOUT	5000	/* ms; a scrypt hash takes ~0.1 s */
#define AUTHCALL_CALLER		"users-service"
#define AUTHCALL_NPARAMS	12

static const char *
authcall_socket(void)
{
	const char	*s = getenv("AGORA_AUTH_SOCKET");

	return s != NULL && *s != '\0' ? s : NULL;
}

static int
authcall_timeout(void)
{
	const char	*s = getenv("AGORA_AUTH_TIMEOUT");
	char		*end;
	long		 v;

	if (s == NULL || *s == '\0')
		return AUTHCALL_TIMEOUT;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < 1 || v > 600000)
		return AUTHCALL_TIMEOUT;
	return (int)v;
}

/* One request; 0 and resp, or -1 (logged). */
static int
authcall_run(const char *rid, const char *method, const char *path,
    const char *body, size_t bodylen, struct fcgi_client_response *resp)
{
	struct fcgi_client_param	 p[AUTHCALL_NPARAMS];
	const char			*sock, *errstr = NULL;
	char				 clen[32];
	size_t				 n = 0;

	if ((sock = authcall_socket()) == NULL) {
		log_warnx("%s: AGORA_AUTH_SOCKET is not set rid=%s",
		    __func__, rid);
		return -1;
	}
	p[n++] = (struct fcgi_client_param){ "GATEWAY_INTERFACE", "CGI/1.1" };
	p[n++] = (struct fcgi_client_param){ "SERVER_PROTOCOL", "HTTP/1.1" };
	p[n++] = (struct fcgi_client_param){ "REQUEST_METHOD", method };
	p[n++] = (struct fcgi_client_param){ "SCRIPT_NAME", "/api" };
	p[n++] = (struct fcgi_client_param){ "PATH_INFO", path };
	p[n++] = (struct fcgi_client_param){ "REQUEST_ID", rid };
	p[n++] = (struct fcgi_client_param){ "REMOTE_USER", AUTHCALL_CALLER };
	p[n++] = (struct fcgi_client_param){ "AUTH_TYPE", "Bearer" };
	p[n++] = (struct fcgi_client_param){ "AUTH_ROLES", "service" };
	if (body != NULL) {
		snprintf(clen, sizeof clen, "%zu", bodylen);
		p[n++] = (struct fcgi_client_param){ "CONTENT_TYPE",
		    "application/json" };
		p[n++] = (struct fcgi_client_param){ "CONTENT_LENGTH", clen };
	}
	if (fcgi_client_request(sock, authcall_timeout(), p, n, body, bodylen,
	    resp, &errstr) == -1) {
		log_warnx("%s: %s %s on %s: %s rid=%s", __func__, method, path,
		    sock, errstr, rid);
		return -1;
	}
	return 0;
}

enum authcall_result
authcall_create(const char *rid, const char *email, const char *password,
    long long *id, struct authcall_answer *ans)
{
	struct fcgi_client_response	 resp;
	yajl_gen			 g;
	yajl_val			 tree;
	char				*body, err[128];
	const char			*ctype;
	size_t				 len;
	enum authcall_result		 rc = AUTHCALL_UNAVAILABLE;

	memset(ans, 0, sizeof *ans);
	g = json_gen_new();
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "username", email);
	json_gen_kv_str(g, "password", password);
	yajl_gen_map_close(g);
	body = json_gen_dup(g, &len);
	yajl_gen_clear(g);
	yajl_gen_free(g);
	if (authcall_run(rid, "POST", "/auth/identities", body, len,
	    &resp) == -1)
		goto out;
	ans->status = resp.status;
	switch (resp.status) {
	case 201:
		tree = json_parse(resp.body, resp.bodylen, resp.bodylen + 1,
		    4, err, sizeof err);
		if (tree != NULL && json_get_int(tree, "id", id) == 0 &&
		    *id > 0)
			rc = AUTHCALL_OK;
		else
			log_warnx("%s: auth answered 201 without an id rid=%s",
			    __func__, rid);
		json_free(tree);
		break;
	case 409:
		rc = AUTHCALL_CONFLICT;
		break;
	default:
		if (resp.status >= 400 && resp.status < 500 &&
		    resp.status != 401 && resp.status != 403) {
			rc = AUTHCALL_REFUSED;
			ctype = fcgi_client_header(&resp, "Content-Type");
			ans->ctype = xstrdup(ctype != NULL ? ctype :
			    "application/problem+json");
			ans->body = xstrndup(resp.body, resp.bodylen);
			ans->bodylen = resp.bodylen;
		} else
			/* 401/403: our own credentials are wrong. */
			log_warnx("%s: auth answered %d rid=%s", __func__,
			    resp.status, rid);
		break;
	}
	fcgi_client_response_free(&resp);
out:
	OPENSSL_cleanse(body, len);
	free(body);
	return rc;
}

enum authcall_result
authcall_delete(const char *rid, const char *subject)
{
	struct fcgi_client_response	 resp;
	enum authcall_result		 rc = AUTHCALL_UNAVAILABLE;
	char				*path;

	xasprintf(&path, "/auth/identities/%s", subject);
	if (authcall_run(rid, "DELETE", path, NULL, 0, &resp) == 0) {
		/* 404: deleted already (a retry), which is the goal. */
		if (resp.status == 204 || resp.status == 404)
			rc = AUTHCALL_OK;
		else
			log_warnx("%s: auth answered %d to DELETE %s rid=%s",
			    __func__, resp.status, path, rid);
		fcgi_client_response_free(&resp);
	}
	free(path);
	return rc;
}

enum authcall_result
authcall_export(const char *rid, const char *subject,
    struct authcall_answer *ans)
{
	struct fcgi_client_response	 resp;
	enum authcall_result		 rc = AUTHCALL_UNAVAILABLE;
	char				*path;

	memset(ans, 0, sizeof *ans);
	xasprintf(&path, "/auth/identities/%s", subject);
	if (authcall_run(rid, "GET", path, NULL, 0, &resp) == 0) {
		ans->status = resp.status;
		if (resp.status == 200) {
			rc = AUTHCALL_OK;
			ans->body = xstrndup(resp.body, resp.bodylen);
			ans->bodylen = resp.bodylen;
		} else if (resp.status == 404)
			rc = AUTHCALL_REFUSED;
		else
			log_warnx("%s: auth answered %d to GET %s rid=%s",
			    __func__, resp.status, path, rid);
		fcgi_client_response_free(&resp);
	}
	free(path);
	return rc;
}

void
authcall_answer_free(struct authcall_answer *ans)
{
	if (ans == NULL)
		return;
	free(ans->ctype);
	free(ans->body);
	memset(ans, 0, sizeof *ans);
}
