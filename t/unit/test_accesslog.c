/*
 * proxy/accesslog.c: the combined and JSON line formats, escaping, and
 * lines cut short by a small buffer.
 */
#include <string.h>

#include "runner.h"
#include "accesslog.h"

static struct accesslog_entry
entry(void)
{
	struct accesslog_entry	 e;

	memset(&e, 0, sizeof(e));
	e.ae_remote = "127.0.0.1";
	e.ae_method = "GET";
	e.ae_uri = "/api/products?q=\"x\"";
	e.ae_major = e.ae_minor = 1;
	e.ae_status = 200;
	e.ae_bytes = 12;
	e.ae_agent = "a\tb\xff\\";
	e.ae_rid = "r1";
	e.ae_ut = 0.0025;
	e.ae_service = "catalog";
	e.ae_upstream = "/run/agora/catalog.sock";
	e.ae_rt = 0.003;
	return e;
}

static void
t_combined(void)
{
	struct accesslog_entry	 e = entry();
	char			 out[512];

	accesslog_format(out, sizeof(out), &e, "25/Nov/2026:12:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(out, "127.0.0.1 - - [25/Nov/2026:12:00:00 "
	    "+0000] \"GET /api/products?q=\\x22x\\x22 HTTP/1.1\" 200 12 \"-\" "
	    "\"a\\x09b\\xff\\x5c\" rid=r1 ut=0.003 svc=catalog "
	    "up=/run/agora/catalog.sock rt=0.003\n");
	e.ae_ut = -1;
	e.ae_service = e.ae_upstream = NULL;
	e.ae_tls = "TLSv1.3";
	accesslog_format(out, sizeof(out), &e, "x");
	CU_ASSERT_PTR_NOT_NULL(strstr(out,
	    " ut=- svc=- up=- rt=0.003 tls=TLSv1.3\n"));
}

static void
t_json(void)
{
	struct accesslog_entry	 e = entry();
	char			 out[512];

	accesslog_format_json(out, sizeof(out), &e, "2026-11-25T12:00:00Z");
	CU_ASSERT_STRING_EQUAL(out, "{\"time\":\"2026-11-25T12:00:00Z\","
	    "\"remote\":\"127.0.0.1\",\"method\":\"GET\","
	    "\"uri\":\"/api/products?q=\\\"x\\\"\",\"protocol\":\"HTTP/1.1\","
	    "\"status\":200,\"bytes\":12,\"referer\":null,"
	    "\"agent\":\"a\\u0009b\\u00ff\\\\\",\"rid\":\"r1\","
	    "\"service\":\"catalog\","
	    "\"upstream\":\"/run/agora/catalog.sock\",\"ut\":0.002500,"
	    "\"rt\":0.003000}\n");
}

/* A huge client string is cut, and the line still ends as an object. */
static void
t_json_long(void)
{
	struct accesslog_entry	 e = entry();
	static char		 uri[8192], out[4096];
	size_t			 n;

	memset(uri, '"', sizeof(uri) - 1);
	e.ae_uri = uri;
	e.ae_agent = uri;
	e.ae_tls = "TLSv1.2";
	n = accesslog_format_json(out, sizeof(out), &e, "t");
	CU_ASSERT(n < sizeof(out));
	CU_ASSERT_EQUAL(strlen(out), n);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ",\"tls\":\"TLSv1.2\"}\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ",\"rt\":0.003000,"));
	n = accesslog_format(out, sizeof(out), &e, "t");
	CU_ASSERT(n < sizeof(out));
	CU_ASSERT_EQUAL(out[n - 1], '\n');
}

static const struct unit_case cases[] = {
	{ "combined", t_combined },
	{ "json", t_json },
	{ "json_long", t_json_long },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return (unit_main(argc, argv, "accesslog", cases));
}
