/*
 * The process supervisor: one listening socket per service, handed to N
 * children as fd 0 (the FastCGI way), each restarted with exponential
 * backoff when it exits.  Everything a child needs (argv, environment,
 * credentials) is built before fork(), because the gateway has threads
 * and a child of a threaded process may only make async-signal-safe calls.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"
#include "config.h"
#include "supervisor.h"

#define SUP_BACKOFF_MIN		100	/* ms */
#define SUP_BACKOFF_MAX		30000
#define SUP_BACKOFF_RESET	10000	/* uptime that forgives the past */
#define SUP_BACKLOG		4096	/* the kernel caps it at somaxconn */
#define SUP_MAXGROUPS		256
#define SUP_HANDOVER_MS		500	/* new ones start before old go */
#define SUP_RETIRE_KILL_MS	60000	/* old ones finishing requests */
#define SUP_NSIG		65

extern char	**environ;

struct sup_service;

struct sup_proc {
	struct sup_service	*p_svc;
	int			 p_index;
	pid_t			 p_pid;		/* 0: not running */
	struct timespec		 p_started;
	int			 p_backoff;	/* next restart delay, ms */
	int			 p_logged;	/* backoff step last logged */
	struct event		*p_timer;	/* pending restart */
};

struct sup_service {
	struct supervisor	*ss_sv;
	char			*ss_name;
	int			 ss_fd;		/* the shared listening socket */
	char			*ss_unlink;	/* our unix socket, removed at free */
	dev_t			 ss_dev;
	ino_t			 ss_ino;
	char			*ss_program;
	char			**ss_argv;
	char			**ss_envp;
	char			*ss_chdir;
	int			 ss_setid;	/* switch credentials */
	uid_t			 ss_uid;
	gid_t			 ss_gid;
	gid_t			*ss_groups;
	int			 ss_ngroups;
	int			 ss_nprocs;
	struct sup_proc		*ss_procs;
	char			*ss_socket;	/* as configured; NULL: none */
	char			*ss_spec;	/* what a reload compares */
	int			 ss_retiring;	/* replaced or removed */
	struct event		*ss_retire_ev;
	int			 ss_retire_step;	/* 0 wait, 1 TERM'd */
	unsigned long		 ss_restarts;
	unsigned long		 ss_exits[256];	/* by exit status */
	unsigned long		 ss_signals[SUP_NSIG];	/* by signal */
	TAILQ_ENTRY(sup_service) ss_entry;
};

struct supervisor {
	struct event_base	*sv_base;
	struct event		*sv_sigchld;
	int			 sv_stopping;
	pid_t			 sv_pid;	/* the gateway, for children */
	char			 sv_err[512];	/* errstr of supervisor_add() */
	TAILQ_HEAD(, sup_service) sv_services;
};

static void	supervisor_sigchld(evutil_socket_t, short, void *);
static void	supervisor_restart(evutil_socket_t, short, void *);
static void	supervisor_retired(struct sup_service *);
static void	supervisor_service_free(struct sup_service *);
static struct sup_service *supervisor_service(struct supervisor *,
		    const char *);

static long
supervisor_ms_since(const struct timespec *t)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

struct supervisor *
supervisor_new(struct event_base *base)
{
	struct supervisor	*sv;

	sv = xcalloc(1, sizeof(*sv));
	sv->sv_base = base;
	sv->sv_pid = getpid();
	TAILQ_INIT(&sv->sv_services);
	if ((sv->sv_sigchld = evsignal_new(base, SIGCHLD, supervisor_sigchld,
	    sv)) == NULL || evsignal_add(sv->sv_sigchld, NULL) == -1)
		fatalx("%s: cannot watch SIGCHLD", __func__);
	return sv;
}

static int
supervisor_error(struct supervisor *sv, const char **errstr,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
supervisor_error(struct supervisor *sv, const char **errstr,
    const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vsnprintf(sv->sv_err, sizeof(sv->sv_err), fmt, ap);
	va_end(ap);
	if (errstr != NULL)
		*errstr = sv->sv_err;
	errno = saved;
	return -1;
}

/* A unix socket: a stale one is replaced, anything else is refused. */
static int
supervisor_bind_unix(struct supervisor *sv, struct sup_service *ss,
    const char *path, const char **errstr)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return supervisor_error(sv, errstr, "%s: path too long", path);
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return supervisor_error(sv, errstr, "%s: exists and "
			    "is not a socket", path);
		if (unlink(path) == -1)
			return supervisor_error(sv, errstr, "unlink %s: %s",
			    path, strerror(errno));
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return supervisor_error(sv, errstr, "socket: %s",
		    strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		supervisor_error(sv, errstr, "bind %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	/* services may run as another user than the gateway connecting */
	if (chmod(path, 0666) == -1 || stat(path, &st) == -1 ||
	    listen(fd, SUP_BACKLOG) == -1) {
		supervisor_error(sv, errstr, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	ss->ss_unlink = xstrdup(path);
	ss->ss_dev = st.st_dev;
	ss->ss_ino = st.st_ino;
	return fd;
}

static int
supervisor_bind_tcp(struct supervisor *sv, const char *sock,
    const char **errstr)
{
	struct addrinfo	 hints, *res, *ai;
	char		 host[NI_MAXHOST], port[NI_MAXSERV];
	int		 fd = -1, on = 1, e, saved = 0;

	if (config_socket_hostport(sock, host, sizeof(host), port,
	    sizeof(port)) == -1)
		return supervisor_error(sv, errstr, "%s: not host:port", sock);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((e = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port,
	    &hints, &res)) != 0)
		return supervisor_error(sv, errstr, "%s: %s", sock,
		    gai_strerror(e));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SUP_BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		return supervisor_error(sv, errstr, "bind %s: %s", sock,
		    strerror(saved));
	return fd;
}

/* Credentials are looked up now: the child must not read /etc files. */
static int
supervisor_credentials(struct supervisor *sv, struct sup_service *ss,
    const struct gw_service *svc, const char **errstr)
{
	struct passwd	*pw = NULL;
	struct group	*gr;
	int		 n;

	if (svc->svc_user == NULL && svc->svc_group == NULL)
		return 0;
	ss->ss_setid = 1;
	ss->ss_uid = geteuid();
	ss->ss_gid = getegid();
	if (svc->svc_user != NULL) {
		if ((pw = getpwnam(svc->svc_user)) == NULL)
			return supervisor_error(sv, errstr, "unknown user %s",
			    svc->svc_user);
		ss->ss_uid = pw->pw_uid;
		ss->ss_gid = pw->pw_gid;
	}
	if (svc->svc_group != NULL) {
		if ((gr = getgrnam(svc->svc_group)) == NULL)
			return supervisor_error(sv, errstr, "unknown group %s",
			    svc->svc_group);
		ss->ss_gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (ss->ss_uid != geteuid() || ss->ss_gid != getegid())
			return supervisor_error(sv, errstr, "cannot run as "
			    "%s:%s without root", svc->svc_user ?
			    svc->svc_user : "-", svc->svc_group ?
			    svc->svc_group : "-");
		ss->ss_setid = 0;	/* already who we should be */
		return 0;
	}
	ss->ss_groups = xcalloc(SUP_MAXGROUPS, sizeof(gid_t));
	n = SUP_MAXGROUPS;
	if (pw != NULL) {
		if (getgrouplist(pw->pw_name, ss->ss_gid, ss->ss_groups,
		    &n) == -1)
			n = SUP_MAXGROUPS;	/* truncated: keep what fits */
	} else {
		ss->ss_groups[0] = ss->ss_gid;
		n = 1;
	}
	ss->ss_ngroups = n;
	return 0;
}

/* The gateway's environment with the service's env entries on top. */
static char **
supervisor_envp(const struct gw_service *svc)
{
	const struct gw_string	*s;
	char			**envp, **e;
	size_t			 n = 0, len;
	int			 shadowed;

	for (e = environ; *e != NULL; e++)
		n++;
	TAILQ_FOREACH(s, &svc->svc_env, s_entry)
		n++;
	envp = xcalloc(n + 1, sizeof(*envp));
	n = 0;
	for (e = environ; *e != NULL; e++) {
		len = strcspn(*e, "=");
		shadowed = 0;
		TAILQ_FOREACH(s, &svc->svc_env, s_entry)
			if (strncmp(s->s_value, *e, len + 1) == 0)
				shadowed = 1;
		if (!shadowed)
			envp[n++] = xstrdup(*e);
	}
	TAILQ_FOREACH(s, &svc->svc_env, s_entry)
		envp[n++] = xstrdup(s->s_value);
	return envp;
}

static char **
supervisor_argv(const struct gw_service *svc)
{
	const struct gw_string	*s;
	char			**argv;
	size_t			 n = 1;

	TAILQ_FOREACH(s, &svc->svc_args, s_entry)
		n++;
	argv = xcalloc(n + 1, sizeof(*argv));
	argv[0] = xstrdup(svc->svc_program);
	n = 1;
	TAILQ_FOREACH(s, &svc->svc_args, s_entry)
		argv[n++] = xstrdup(s->s_value);
	return argv;
}

/* In the child: only async-signal-safe calls until execve(). */
static void __attribute__((noreturn))
supervisor_child(struct sup_service *ss)
{
	struct sigaction	 sa;
	sigset_t		 set;
	int			 fd, sig;
	const char		*what;

	/* its own process group: a terminal's ^C is for the gateway */
	setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	what = "dup2";
	if (ss->ss_fd == STDIN_FILENO) {
		if (fcntl(STDIN_FILENO, F_SETFD, 0) == -1)
			goto fail;
	} else if (dup2(ss->ss_fd, STDIN_FILENO) == -1)
		goto fail;
	what = "/dev/null";
	if ((fd = open("/dev/null", O_WRONLY)) == -1)
		goto fail;
	if (fd != STDOUT_FILENO) {
		if (dup2(fd, STDOUT_FILENO) == -1)
			goto fail;
		close(fd);
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || \
    (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	if (close_range(STDERR_FILENO + 1, ~0U, 0) == -1)
#endif
		for (fd = STDERR_FILENO + 1; fd < 65536; fd++)
			close(fd);

	/* after the gateway dropped privileges, children run as it does */
	if (ss->ss_setid && geteuid() == 0) {
		what = "setgroups";
		if (setgroups((size_t)ss->ss_ngroups, ss->ss_groups) == -1)
			goto fail;
		what = "setgid";
		if (setresgid(ss->ss_gid, ss->ss_gid, ss->ss_gid) == -1)
			goto fail;
		what = "setuid";
		if (setresuid(ss->ss_uid, ss->ss_uid, ss->ss_uid) == -1)
			goto fail;
	}
#ifdef __linux__
	/* after the setuid, which clears it; the gateway may already be gone */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != ss->ss_sv->sv_pid)
		_exit(1);
#endif
	what = ss->ss_chdir;
	if (ss->ss_chdir != NULL && chdir(ss->ss_chdir) == -1)
		goto fail;
	what = ss->ss_program;
	execve(ss->ss_program, ss->ss_argv, ss->ss_envp);
 fail:
	log_warn("service %s: %s", ss->ss_name, what);
	_exit(127);
}

static int
supervisor_spawn(struct sup_proc *p)
{
	struct sup_service	*ss = p->p_svc;
	sigset_t		 all, old;
	pid_t			 pid;

	/*
	 * Block every signal across fork(): a SIGTERM from supervisor_stop()
	 * that lands before the child has reset its dispositions stays
	 * pending instead of being lost, and kills the child on unblock.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((pid = fork()) == -1) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		log_warn("%s: service %s: fork", __func__, ss->ss_name);
		return -1;
	}
	if (pid == 0)
		supervisor_child(ss);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	p->p_pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &p->p_started);
	log_debug("service %s: process %d started, pid %d", ss->ss_name,
	    p->p_index, (int)pid);
	return 0;
}

/* Backs off, logs the step, and arms the restart. */
static void
supervisor_schedule(struct sup_proc *p, const char *why)
{
	struct sup_service	*ss = p->p_svc;
	struct timeval		 tv;
	int			 delay = p->p_backoff;

	p->p_backoff = delay >= SUP_BACKOFF_MAX / 2 ? SUP_BACKOFF_MAX :
	    delay * 2;
	/* a crash loop says so once per backoff step, not once per crash */
	if (p->p_logged != delay) {
		log_warnx("service %s: process %d %s; restarting in "
		    "%d.%03d s", ss->ss_name, p->p_index, why, delay / 1000,
		    delay % 1000);
		p->p_logged = delay;
	} else
		log_debug("service %s: process %d %s; restarting in "
		    "%d.%03d s", ss->ss_name, p->p_index, why, delay / 1000,
		    delay % 1000);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(p->p_timer, &tv);
}

static void
supervisor_restart(evutil_socket_t fd, short ev, void *arg)
{
	struct sup_proc	*p = arg;

	if (p->p_svc->ss_sv->sv_stopping)
		return;
	p->p_svc->ss_restarts++;
	if (supervisor_spawn(p) == -1)
		supervisor_schedule(p, "could not fork");
}

static struct sup_proc *
supervisor_find(struct supervisor *sv, pid_t pid)
{
	struct sup_service	*ss;
	int			 i;

	TAILQ_FOREACH(ss, &sv->sv_services, ss_entry)
		for (i = 0; i < ss->ss_nprocs; i++)
			if (ss->ss_procs[i].p_pid == pid)
				return &ss->ss_procs[i];
	return NULL;
}

static void
supervisor_sigchld(evutil_socket_t sig, short ev, void *arg)
{
	struct supervisor	*sv = arg;
	struct sup_proc		*p;
	char			 why[160];
	pid_t			 pid;
	int			 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((p = supervisor_find(sv, pid)) == NULL) {
			log_debug("%s: reaped pid %d, not ours", __func__,
			    (int)pid);
			continue;
		}
		p->p_pid = 0;
		if (WIFSIGNALED(status) && WTERMSIG(status) < SUP_NSIG)
			p->p_svc->ss_signals[WTERMSIG(status)]++;
		else if (WIFEXITED(status))
			p->p_svc->ss_exits[WEXITSTATUS(status) & 0xff]++;
		if (sv->sv_stopping)
			continue;
		if (p->p_svc->ss_retiring) {
			supervisor_retired(p->p_svc);
			continue;
		}
		if (supervisor_ms_since(&p->p_started) >= SUP_BACKOFF_RESET) {
			p->p_backoff = SUP_BACKOFF_MIN;
			p->p_logged = 0;
		}
		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "(pid %d) killed by "
			    "signal %d (%s)", (int)pid, WTERMSIG(status),
			    strsignal(WTERMSIG(status)));
		else
			snprintf(why, sizeof(why), "(pid %d) exited with "
			    "status %d", (int)pid, WEXITSTATUS(status));
		supervisor_schedule(p, why);
	}
}

static void
supervisor_service_free(struct sup_service *ss)
{
	struct stat	 st;
	char		**s;
	int		 i;

	for (i = 0; i < ss->ss_nprocs; i++)
		if (ss->ss_procs[i].p_timer != NULL)
			event_free(ss->ss_procs[i].p_timer);
	free(ss->ss_procs);
	if (ss->ss_retire_ev != NULL)
		event_free(ss->ss_retire_ev);
	free(ss->ss_socket);
	free(ss->ss_spec);
	if (ss->ss_fd != -1)
		close(ss->ss_fd);
	/* only our own socket: a newer gateway may have replaced it */
	if (ss->ss_unlink != NULL && lstat(ss->ss_unlink, &st) == 0 &&
	    st.st_dev == ss->ss_dev && st.st_ino == ss->ss_ino)
		unlink(ss->ss_unlink);
	free(ss->ss_unlink);
	for (s = ss->ss_argv; s != NULL && *s != NULL; s++)
		free(*s);
	free(ss->ss_argv);
	for (s = ss->ss_envp; s != NULL && *s != NULL; s++)
		free(*s);
	free(ss->ss_envp);
	free(ss->ss_groups);
	free(ss->ss_chdir);
	free(ss->ss_program);
	free(ss->ss_name);
	free(ss);
}

/*
 * What a reload compares: a process whose spec did not change keeps
 * running.  The fields are joined with newlines, which config values
 * cannot contain.
 */
static char *
supervisor_spec(const struct gw_service *svc)
{
	const struct gw_string	*s;
	char			*spec, *t;

	xasprintf(&spec, "%s\n%s\n%s\n%s\n%s\n%d", svc->svc_program,
	    svc->svc_socket ? svc->svc_socket : "-",
	    svc->svc_user ? svc->svc_user : "-",
	    svc->svc_group ? svc->svc_group : "-",
	    svc->svc_chdir ? svc->svc_chdir : "-", svc->svc_processes);
	TAILQ_FOREACH(s, &svc->svc_args, s_entry) {
		xasprintf(&t, "%s\na:%s", spec, s->s_value);
		free(spec);
		spec = t;
	}
	TAILQ_FOREACH(s, &svc->svc_env, s_entry) {
		xasprintf(&t, "%s\ne:%s", spec, s->s_value);
		free(spec);
		spec = t;
	}
	return spec;
}

/*
 * A new supervised service.  from: the one it replaces on the same
 * socket, whose listening socket it shares (the kernel's queue of
 * connections carries over, nothing is refused in between).
 */
static struct sup_service *
supervisor_make(struct supervisor *sv, const struct gw_service *svc,
    struct sup_service *from, const char **errstr)
{
	struct sup_service	*ss;
	struct sup_proc		*p;
	int			 i;

	if (sv->sv_stopping) {
		supervisor_error(sv, errstr, "supervisor stopped");
		return NULL;
	}
	if (access(svc->svc_program, X_OK) == -1) {
		supervisor_error(sv, errstr, "service %s: %s: %s",
		    svc->svc_name, svc->svc_program, strerror(errno));
		return NULL;
	}

	ss = xcalloc(1, sizeof(*ss));
	ss->ss_sv = sv;
	ss->ss_fd = -1;
	ss->ss_name = xstrdup(svc->svc_name);
	if (supervisor_credentials(sv, ss, svc, errstr) == -1)
		goto fail;
	if (svc->svc_socket == NULL) {
		/* a helper: stdin is /dev/null */
		if ((ss->ss_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) ==
		    -1) {
			supervisor_error(sv, errstr, "/dev/null: %s",
			    strerror(errno));
			goto fail;
		}
	} else if (from != NULL) {
		if ((ss->ss_fd = fcntl(from->ss_fd, F_DUPFD_CLOEXEC, 3)) ==
		    -1) {
			supervisor_error(sv, errstr, "dup: %s",
			    strerror(errno));
			goto fail;
		}
		/* the socket file is the new one's to remove now */
		ss->ss_unlink = from->ss_unlink;
		ss->ss_dev = from->ss_dev;
		ss->ss_ino = from->ss_ino;
		from->ss_unlink = NULL;
	} else if (config_socket_unix(svc->svc_socket))
		ss->ss_fd = supervisor_bind_unix(sv, ss, svc->svc_socket,
		    errstr);
	else
		ss->ss_fd = supervisor_bind_tcp(sv, svc->svc_socket, errstr);
	if (ss->ss_fd == -1)
		goto fail;
	ss->ss_socket = svc->svc_socket ? xstrdup(svc->svc_socket) : NULL;
	ss->ss_spec = supervisor_spec(svc);
	ss->ss_program = xstrdup(svc->svc_program);
	ss->ss_argv = supervisor_argv(svc);
	ss->ss_envp = supervisor_envp(svc);
	if (svc->svc_chdir != NULL)
		ss->ss_chdir = xstrdup(svc->svc_chdir);
	ss->ss_nprocs = svc->svc_processes > 0 ? svc->svc_processes : 1;
	ss->ss_procs = xcalloc((size_t)ss->ss_nprocs, sizeof(*ss->ss_procs));
	for (i = 0; i < ss->ss_nprocs; i++) {
		p = &ss->ss_procs[i];
		p->p_svc = ss;
		p->p_index = i;
		p->p_backoff = SUP_BACKOFF_MIN;
		if ((p->p_timer = evtimer_new(sv->sv_base, supervisor_restart,
		    p)) == NULL)
			fatalx("%s: evtimer_new", __func__);
	}
	TAILQ_INSERT_TAIL(&sv->sv_services, ss, ss_entry);

	/* a failed fork is retried like a crash */
	for (i = 0; i < ss->ss_nprocs; i++)
		if (supervisor_spawn(&ss->ss_procs[i]) == -1)
			supervisor_schedule(&ss->ss_procs[i], "could not fork");
	log_info("service %s: %d process%s on %s", ss->ss_name, ss->ss_nprocs,
	    ss->ss_nprocs == 1 ? "" : "es", svc->svc_socket ?
	    svc->svc_socket : "no socket");
	return ss;
 fail:
	supervisor_service_free(ss);
	return NULL;
}

int
supervisor_add(struct supervisor *sv, const struct gw_service *svc,
    const char **errstr)
{
	/* not ours to spawn: spawn-fcgi, systemd or another host runs it */
	if (svc->svc_program == NULL)
		return 0;
	return supervisor_make(sv, svc, NULL, errstr) == NULL ? -1 : 0;
}

/* A retiring service whose last process is gone is forgotten. */
static void
supervisor_retired(struct sup_service *ss)
{
	int	 i;

	for (i = 0; i < ss->ss_nprocs; i++)
		if (ss->ss_procs[i].p_pid > 0)
			return;
	log_info("service %s: old processes gone", ss->ss_name);
	TAILQ_REMOVE(&ss->ss_sv->sv_services, ss, ss_entry);
	supervisor_service_free(ss);
}

static void
supervisor_kill_all(struct sup_service *ss, int sig)
{
	int	 i;

	for (i = 0; i < ss->ss_nprocs; i++)
		/* a pid of 0 or less would reach a whole group */
		if (ss->ss_procs[i].p_pid > 0)
			kill(ss->ss_procs[i].p_pid, sig);
}

/*
 * Retirement: after the handover delay (the new processes accept by
 * then) SIGTERM, which a service handles after the request it is
 * answering; SIGKILL for what still runs long after.
 */
static void
supervisor_retire_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sup_service	*ss = arg;
	struct timeval		 tv = { SUP_RETIRE_KILL_MS / 1000, 0 };

	if (ss->ss_retire_step++ == 0) {
		log_info("service %s: stopping the old processes",
		    ss->ss_name);
		supervisor_kill_all(ss, SIGTERM);
		evtimer_add(ss->ss_retire_ev, &tv);
	} else {
		log_warnx("service %s: old processes did not stop, killing "
		    "them", ss->ss_name);
		supervisor_kill_all(ss, SIGKILL);
	}
	supervisor_retired(ss);	/* may free ss */
}

static void
supervisor_retire(struct sup_service *ss, int delay_ms)
{
	struct timeval	 tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	int		 i;

	ss->ss_retiring = 1;
	for (i = 0; i < ss->ss_nprocs; i++)
		evtimer_del(ss->ss_procs[i].p_timer);
	if ((ss->ss_retire_ev = evtimer_new(ss->ss_sv->sv_base,
	    supervisor_retire_cb, ss)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(ss->ss_retire_ev, &tv);
}

int
supervisor_update(struct supervisor *sv, const struct gw_service *svc,
    const char **errstr)
{
	struct sup_service	*old, *ss;
	char			*spec;
	int			 same;

	if (svc->svc_program == NULL)
		return 0;
	if ((old = supervisor_service(sv, svc->svc_name)) == NULL)
		return supervisor_add(sv, svc, errstr);
	spec = supervisor_spec(svc);
	same = strcmp(spec, old->ss_spec) == 0;
	free(spec);
	if (same)
		return 0;
	if ((ss = supervisor_make(sv, svc, old->ss_socket != NULL &&
	    svc->svc_socket != NULL && strcmp(old->ss_socket,
	    svc->svc_socket) == 0 ? old : NULL, errstr)) == NULL)
		return -1;
	/* the counters are the service's, not one generation's */
	ss->ss_restarts = old->ss_restarts;
	memcpy(ss->ss_exits, old->ss_exits, sizeof(ss->ss_exits));
	memcpy(ss->ss_signals, old->ss_signals, sizeof(ss->ss_signals));
	log_info("service %s: changed; replacing its processes",
	    svc->svc_name);
	supervisor_retire(old, SUP_HANDOVER_MS);
	return 0;
}

void
supervisor_prune(struct supervisor *sv, const struct gw_config *conf)
{
	struct sup_service	*ss, *next;
	const struct gw_service	*svc;

	for (ss = TAILQ_FIRST(&sv->sv_services); ss != NULL; ss = next) {
		next = TAILQ_NEXT(ss, ss_entry);
		if (ss->ss_retiring)
			continue;
		TAILQ_FOREACH(svc, &conf->conf_services, svc_entry)
			if (svc->svc_program != NULL &&
			    strcmp(svc->svc_name, ss->ss_name) == 0)
				break;
		if (svc == NULL) {
			log_info("service %s: removed from the "
			    "configuration", ss->ss_name);
			supervisor_retire(ss, 0);
		}
	}
}

static struct sup_service *
supervisor_service(struct supervisor *sv, const char *name)
{
	struct sup_service	*ss;

	TAILQ_FOREACH(ss, &sv->sv_services, ss_entry)
		if (!ss->ss_retiring && strcmp(ss->ss_name, name) == 0)
			return ss;
	return NULL;
}

int
supervisor_running(struct supervisor *sv, const char *service)
{
	struct sup_service	*ss;
	int			 i, n = 0;

	if ((ss = supervisor_service(sv, service)) == NULL)
		return 0;
	for (i = 0; i < ss->ss_nprocs; i++)
		if (ss->ss_procs[i].p_pid > 0)
			n++;
	return n;
}

unsigned long
supervisor_restarts(struct supervisor *sv, const char *service)
{
	struct sup_service	*ss;

	if ((ss = supervisor_service(sv, service)) == NULL)
		return 0;
	return ss->ss_restarts;
}

unsigned long
supervisor_exits(struct supervisor *sv, const char *service, int how)
{
	struct sup_service	*ss;

	if ((ss = supervisor_service(sv, service)) == NULL)
		return 0;
	if (how >= 0 && how < 256)
		return ss->ss_exits[how];
	if (how < 0 && -how < SUP_NSIG)
		return ss->ss_signals[-how];
	return 0;
}

/* Reaps our children that are gone; returns how many still run. */
static int
supervisor_reap(struct supervisor *sv, int hang)
{
	struct sup_service	*ss;
	struct sup_proc		*p;
	pid_t			 r;
	int			 i, status, left = 0;

	TAILQ_FOREACH(ss, &sv->sv_services, ss_entry) {
		for (i = 0; i < ss->ss_nprocs; i++) {
			p = &ss->ss_procs[i];
			if (p->p_pid <= 0)
				continue;
			r = waitpid(p->p_pid, &status, hang ? 0 : WNOHANG);
			if (r == p->p_pid || (r == -1 && errno == ECHILD))
				p->p_pid = 0;
			else
				left++;
		}
	}
	return left;
}

static void
supervisor_signal(struct supervisor *sv, int sig)
{
	struct sup_service	*ss;
	int			 i;

	TAILQ_FOREACH(ss, &sv->sv_services, ss_entry)
		for (i = 0; i < ss->ss_nprocs; i++)
			/* a pid of 0 or less would reach a whole group */
			if (ss->ss_procs[i].p_pid > 0) {
				if (sig == SIGKILL)
					log_warnx("service %s: process %d "
					    "(pid %d) did not stop, killing "
					    "it", ss->ss_name, i,
					    (int)ss->ss_procs[i].p_pid);
				kill(ss->ss_procs[i].p_pid, sig);
			}
}

void
supervisor_stop(struct supervisor *sv, int timeout_ms)
{
	struct sup_service	*ss;
	struct timespec		 start, tick = { 0, 10 * 1000 * 1000 };
	int			 i;

	sv->sv_stopping = 1;
	TAILQ_FOREACH(ss, &sv->sv_services, ss_entry) {
		for (i = 0; i < ss->ss_nprocs; i++)
			evtimer_del(ss->ss_procs[i].p_timer);
		if (ss->ss_retire_ev != NULL)
			evtimer_del(ss->ss_retire_ev);
	}
	supervisor_signal(sv, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (supervisor_reap(sv, 0) > 0 &&
	    supervisor_ms_since(&start) < timeout_ms)
		nanosleep(&tick, NULL);
	if (supervisor_reap(sv, 0) > 0) {
		supervisor_signal(sv, SIGKILL);
		supervisor_reap(sv, 1);
	}
}

/* Stops what still runs (no grace: call supervisor_stop() first). */
void
supervisor_free(struct supervisor *sv)
{
	struct sup_service	*ss;

	if (sv == NULL)
		return;
	if (supervisor_reap(sv, 0) > 0)
		supervisor_stop(sv, 0);
	while ((ss = TAILQ_FIRST(&sv->sv_services)) != NULL) {
		TAILQ_REMOVE(&sv->sv_services, ss, ss_entry);
		supervisor_service_free(ss);
	}
	if (sv->sv_sigchld != NULL)
		event_free(sv->sv_sigchld);
	free(sv);
}
