/*
 * Logging to stderr (or a file after log_open(), or syslog after
 * log_syslog()), one write(2) per line so lines from threads and child
 * processes never interleave.  Each line is
 * "<time> <ident>[pid]: <level>: <message>"; syslog gets the message with
 * its level as the priority (fatal: LOG_CRIT, warning: LOG_WARNING,
 * info: LOG_INFO, debug: LOG_DEBUG).  log_warn() appends
 * strerror(errno).  fatal()/fatalx() log and exit(1): use them only at
 * startup or when memory is exhausted.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

#include <stdarg.h>

#define LOG_PRINTF(a, b)	__attribute__((format(printf, a, b)))

void	log_init(const char *ident, int verbose);
int	log_open(const char *path);	/* 0 or -1; reopens on SIGUSR1 */
int	log_reopen(void);
/* From now on to syslog(3) with facility (LOG_DAEMON...), as ident. */
void	log_syslog(int facility);
/* "daemon", "local0".."local7", "user"...: the LOG_* value, or -1. */
int	log_facility(const char *name);
void	log_setverbose(int);
int	log_getverbose(void);

void	log_warn(const char *, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
void	vlog(const char *level, int with_errno, const char *, va_list)
	    LOG_PRINTF(3, 0);
__attribute__((noreturn))
void	fatal(const char *, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn))
void	fatalx(const char *, ...) LOG_PRINTF(1, 2);

#endif
