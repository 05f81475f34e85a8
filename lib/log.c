/* Line-atomic logging shared by the gateway, the relay and the services. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char	*log_ident = "agora";
static int		 log_verbose;
static int		 log_fd = STDERR_FILENO;
static char		*log_path;

void
log_init(const char *ident, int verbose)
{
	log_ident = ident;
	log_verbose = verbose;
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return log_verbose;
}

int
log_open(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1)
		return -1;
	/*
	 * Other threads may be writing to log_fd right now: swap the new
	 * file in under the same descriptor number instead of closing it.
	 */
	if (log_fd == STDERR_FILENO)
		log_fd = fd;
	else {
		if (dup3(fd, log_fd, O_CLOEXEC) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	return 0;
}

int
log_reopen(void)
{
	if (log_path == NULL)
		return 0;
	return log_open(log_path);
}

void
vlog(const char *level, int with_errno, const char *fmt, va_list ap)
{
	char		 line[2048];
	struct tm	 tm;
	time_t		 now;
	size_t		 n;
	int		 saved = errno, r;

	now = time(NULL);
	gmtime_r(&now, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	r = snprintf(line + n, sizeof line - n, "%s[%d]: %s: ", log_ident,
	    (int)getpid(), level);
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	r = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof line - n ? (size_t)r : sizeof line - n - 1;
	if (with_errno && n < sizeof line - 1) {
		r = snprintf(line + n, sizeof line - n, ": %s",
		    strerror(saved));
		if (r > 0)
			n += (size_t)r < sizeof line - n ? (size_t)r :
			    sizeof line - n - 1;
	}
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)!write(log_fd, line, n);
	errno = saved;
}

#define LOG_FN(name, level, with_errno, gate)			\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	if (!(gate))						\
		return;						\
	va_start(ap, fmt);					\
	vlog(level, with_errno, fmt, ap);			\
	va_end(ap);						\
}

LOG_FN(log_warn, "warning", 1, 1)
LOG_FN(log_warnx, "warning", 0, 1)
LOG_FN(log_info, "info", 0, 1)
LOG_FN(log_debug, "debug", 0, log_verbose > 0)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("fatal", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
