/*
 * A tiny CUnit front end shared by every unit test binary.  A binary
 * declares a table of cases and calls unit_main(); each case runs as
 * "<suite>/<name>" and is reported as one TAP line, so automake counts
 * cases, not binaries.  An argument runs only the cases whose path starts
 * with it ("fcgi/nv").  The exit status is 0 or 1, never a count.
 */
#ifndef AGORA_T_RUNNER_H
#define AGORA_T_RUNNER_H

#include <CUnit/CUnit.h>

struct unit_case {
	const char	*name;
	void		(*fn)(void);
};

int	unit_main(int argc, char **argv, const char *suite,
	    const struct unit_case *cases);

#endif
