/*
 * proxy/accesslog.c: the combined and JSON line formats, escaping, and
 * lines cut short by a small buffer.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* The text of field name (" ut=", ",\"rt\":") up to the next stop. */
static void
field(const char *line, const char *name, char stop, char *out, size_t len)
{
	const char	*p, *q;

	out[0] = '\0';
	if ((p = strstr(line, name)) == NULL)
		return;
	p += strlen(name);
	if ((q = strchr(p, stop)) == NULL || (size_t)(q - p) >= len)
		return;
	memcpy(out, p, q - p);
	out[q - p] = '\0';
}

/*
 * Times and numbers are formatted by hand: the same text as printf's
 * "%.3f", "%.6f", "%d" and "%zu", also for halves, huge values and -0.
 */
static void
t_numbers(void)
{
	static const double	 special[] = { 0, -0.0, 0.0005, 0.0015,
	    0.0025, 0.0045, 0.0625, 0.9995, 0.9999995, 1.0005, 2.5e-7,
	    999999.9995, 1e6, 123456789.123456, 1e300, 4.4e-3, 1.0 / 3 };
	struct accesslog_entry	 e = entry();
	char			 out[1024], got[400], want[400];
	unsigned long long	 seed = 1;
	size_t			 i, bad = 0;
	double			 x;

	for (i = 0; i < 300000; i++) {
		if (i < sizeof(special) / sizeof(special[0]))
			x = special[i];
		else if (i < 100000)
			x = i / 1e6;		/* whole microseconds */
		else if (i < 200000)
			x = (i - 100000) / 1e9 * 7;	/* nanoseconds */
		else {
			seed = seed * 6364136223846793005ULL +
			    1442695040888963407ULL;
			x = (seed >> 11) / (double)(1ULL << 53) *
			    (i % 2 ? 10.0 : 2000.0);
		}
		e.ae_ut = x;
		e.ae_rt = x;
		e.ae_status = (int)(seed >> 40) - (1 << 23);
		e.ae_bytes = (size_t)(seed >> 3);
		accesslog_format(out, sizeof(out), &e, "t");
		snprintf(want, sizeof(want), "%.3f", x);
		field(out, " ut=", ' ', got, sizeof(got));
		bad += strcmp(got, want) != 0;
		field(out, " rt=", '\n', got, sizeof(got));
		bad += strcmp(got, want) != 0;
		snprintf(want, sizeof(want), "%d %zu", e.ae_status, e.ae_bytes);
		bad += strstr(out, want) == NULL;
		accesslog_format_json(out, sizeof(out), &e, "t");
		snprintf(want, sizeof(want), "%.6f", x);
		field(out, ",\"ut\":", ',', got, sizeof(got));
		bad += strcmp(got, want) != 0;
		field(out, ",\"rt\":", '}', got, sizeof(got));
		bad += strcmp(got, want) != 0;
		snprintf(want, sizeof(want), "\"status\":%d,\"bytes\":%zu",
		    e.ae_status, e.ae_bytes);
		bad += strstr(out, want) == NULL;
		if (bad != 0) {
			fprintf(stderr, "%zu: %.17g: %s", i, x, out);
			break;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* Cut short anywhere, a line stays one line inside the buffer. */
static void
t_short(void)
{
	struct accesslog_entry	 e = entry();
	char			 full[512], out[512];
	size_t			 len, n, r;

	e.ae_tls = "TLSv1.3";
	len = accesslog_format(full, sizeof(full), &e, "when");
	for (n = 2; n <= len + 1; n++) {
		memset(out, 'X', sizeof(out));
		r = accesslog_format(out, n, &e, "when");
		CU_ASSERT(r < n);
		CU_ASSERT_EQUAL(strlen(out), r);
		CU_ASSERT_EQUAL(out[r - 1], '\n');
		CU_ASSERT_EQUAL(out[n], 'X');
	}
	CU_ASSERT_STRING_EQUAL(out, full);
}

static const struct unit_case cases[] = {
	{ "combined", t_combined },
	{ "json", t_json },
	{ "json_long", t_json_long },
	{ "numbers", t_numbers },
	{ "short", t_short },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return (unit_main(argc, argv, "accesslog", cases));
}
