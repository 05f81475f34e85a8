/* Line-atomic logging shared by the gateway, the relay and the services. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char	*log_ident = "agora";
static int		 log_verbose;
static int		 log_fd = STDERR_FILENO;
static char		*log_path;
static int		 log_to_syslog;

static const struct {
	const char	*name;
	int		 value;
} log_facilities[] = {
	{ "auth",	LOG_AUTH },
	{ "authpriv",	LOG_AUTHPRIV },
	{ "daemon",	LOG_DAEMON },
	{ "local0",	LOG_LOCAL0 },
	{ "local1",	LOG_LOCAL1 },
	{ "local2",	LOG_LOCAL2 },
	{ "local3",	LOG_LOCAL3 },
	{ "local4",	LOG_LOCAL4 },
	{ "local5",	LOG_LOCAL5 },
	{ "local6",	LOG_LOCAL6 },
	{ "local7",	LOG_LOCAL7 },
	{ "user",	LOG_USER }
};

/* vlog()'s level names, as syslog priorities */
static const struct {
	const char	*level;
	int		 prio;
} log_priorities[] = {
	{ "fatal",	LOG_CRIT },
	{ "warning",	LOG_WARNING },
	{ "info",	LOG_INFO },
	{ "debug",	LOG_DEBUG }
};

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

int
log_facility(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]);
	    i++)
		if (strcasecmp(name, log_facilities[i].name) == 0)
			return log_facilities[i].value;
	return -1;
}

void
log_syslog(int facility)
{
	/* LOG_NDELAY: the socket is open before a chroot or privdrop */
	openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
	log_to_syslog = 1;
}

static void
vlog_syslog(const char *level, int with_errno, int saved, const char *fmt,
    va_list ap)
{
	char	 msg[2048];
	size_t	 i;
	int	 prio = LOG_NOTICE;

	for (i = 0; i < sizeof(log_priorities) / sizeof(log_priorities[0]);
	    i++)
		if (strcmp(level, log_priorities[i].level) == 0)
			prio = log_priorities[i].prio;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno)
		syslog(prio, "%s: %s", msg, strerror(saved));
	else
		syslog(prio, "%s", msg);
}

void
vlog(const char *level, int with_errno, const char *fmt, va_list ap)
{
	char		 line[2048];
	struct tm	 tm;
	time_t		 now;
	size_t		 n;
	int		 saved = errno, r;

	if (log_to_syslog) {
		vlog_syslog(level, with_errno, saved, fmt, ap);
		errno = saved;
		return;
	}
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
