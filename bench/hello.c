/*
 * The smallest useful FastCGI responder: the fixed answer every proxy is
 * benchmarked against, so that what wrk measures is the proxy and not the
 * backend.  The listening socket is fd 0, as spawn-fcgi and the gateway's
 * supervisor pass it.  Params and stdin are not read: libfcgi discards
 * what is left of a request when the next one is accepted.
 */

#include <stdio.h>
#include <string.h>

#include <fcgiapp.h>

static const char hello_response[] =
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, world\n";

int
main(void)
{
	FCGX_Request	 req;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "hello: cannot initialise libfcgi\n");
		return 1;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(hello_response, sizeof hello_response - 1,
		    req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
