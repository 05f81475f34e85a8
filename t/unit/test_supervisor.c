/*
 * proxy/supervisor.c: children get the socket as fd 0, /dev/null as
 * stdout, their args and env, default signals; a crashing child is
 * restarted with backoff; stop escalates to SIGKILL.  The children are
 * this very program, run again with SUPTEST_MODE set.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "runner.h"
#include "proxy/config.h"
#include "supervisor.h"

static char	 self[PATH_MAX];
static char	 tmpdir[64];

/* The child side: report what we were given on each connection. */
static int
child(const char *mode, int argc, char **argv)
{
	struct sigaction	 sa;
	struct stat		 st;
	sigset_t		 set;
	socklen_t		 len = sizeof(int);
	char			 line[512];
	int			 fd, acc = 0, blocked = 0, sig;

	if (strcmp(mode, "exit") == 0)
		return 3;
	if (strcmp(mode, "stubborn") == 0)
		signal(SIGTERM, SIG_IGN);

	getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
	sigprocmask(SIG_SETMASK, NULL, &set);
	for (sig = 1; sig < 32; sig++)
		if (sigismember(&set, sig))
			blocked++;
	sigaction(SIGTERM, NULL, &sa);
	snprintf(line, sizeof(line), "%s %s listen=%d stdout=%s term=%s "
	    "blocked=%d fds=%s\n", getenv("SUPTEST_WORD"),
	    argc > 1 ? argv[1] : "-", acc,
	    fstat(1, &st) == 0 && S_ISCHR(st.st_mode) ? "null" : "other",
	    sa.sa_handler == SIG_DFL ? "dfl" : "other", blocked,
	    fcntl(3, F_GETFD) == -1 ? "closed" : "open");
	for (;;) {
		if ((fd = accept(0, NULL, NULL)) == -1)
			continue;
		(void)!write(fd, line, strlen(line));
		close(fd);
	}
}

static struct gw_service *
service(const char *name, const char *socket, const char *mode, int procs)
{
	struct gw_service	*svc;
	struct gw_string	*s;
	const char		*env[] = { NULL, "SUPTEST_WORD=hello" };
	size_t			 i;

	svc = config_service_new(name);
	svc->svc_socket = strdup(socket);
	svc->svc_program = strdup(self);
	svc->svc_processes = procs;
	s = calloc(1, sizeof(*s));
	s->s_value = strdup("arg1");
	TAILQ_INSERT_TAIL(&svc->svc_args, s, s_entry);
	for (i = 0; i < 2; i++) {
		s = calloc(1, sizeof(*s));
		if (i == 0) {
			if (asprintf(&s->s_value, "SUPTEST_MODE=%s", mode) == -1)
				abort();
		} else
			s->s_value = strdup(env[i]);
		TAILQ_INSERT_TAIL(&svc->svc_env, s, s_entry);
	}
	return svc;
}

/* Frees a lone service through a throwaway config. */
static void
service_free(struct gw_service *svc)
{
	struct gw_config	*conf = config_new("-");

	TAILQ_INSERT_TAIL(&conf->conf_services, svc, svc_entry);
	config_free(conf);
}

/* Connects and reads the one line a child writes. */
static int
ask(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
	ssize_t	 n;
	int	 fd;

	if ((fd = socket(sa->sa_family, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, sa, salen) == -1) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int
ask_unix(const char *path, char *buf, size_t len)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	return ask((struct sockaddr *)&sun, sizeof(sun), buf, len);
}

static long
ms_since(const struct timespec *t)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void
t_spawn(void)
{
	struct event_base	*base = event_base_new();
	struct supervisor	*sv = supervisor_new(base);
	struct gw_service	*svc;
	struct stat		 st;
	struct timespec		 t0;
	sigset_t		 set, old;
	const char		*errstr = NULL;
	char			 path[128], buf[512];

	snprintf(path, sizeof(path), "%s/echo.sock", tmpdir);
	svc = service("echo", path, "echo", 2);
	/* what the gateway has, the children must not inherit */
	signal(SIGTERM, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	CU_ASSERT_EQUAL_FATAL(supervisor_add(sv, svc, &errstr), 0);
	signal(SIGTERM, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	CU_ASSERT_EQUAL(supervisor_running(sv, "echo"), 2);
	CU_ASSERT_EQUAL(supervisor_running(sv, "nope"), 0);
	CU_ASSERT_EQUAL(supervisor_restarts(sv, "echo"), 0);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0666);
	CU_ASSERT_EQUAL(ask_unix(path, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "hello arg1 listen=1 stdout=null "
	    "term=dfl blocked=0 fds=closed\n");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	supervisor_stop(sv, 5000);
	CU_ASSERT(ms_since(&t0) < 2000);
	CU_ASSERT_EQUAL(supervisor_running(sv, "echo"), 0);
	supervisor_free(sv);
	/* the socket we made is gone with us */
	CU_ASSERT_EQUAL(stat(path, &st), -1);
	event_base_free(base);
	service_free(svc);
}

static void
t_backoff(void)
{
	struct event_base	*base = event_base_new();
	struct supervisor	*sv = supervisor_new(base);
	struct gw_service	*svc;
	struct timeval		 tv = { 1, 0 };
	const char		*errstr = NULL;
	char			 path[128];
	unsigned long		 n;

	snprintf(path, sizeof(path), "%s/exit.sock", tmpdir);
	svc = service("exit", path, "exit", 1);
	CU_ASSERT_EQUAL_FATAL(supervisor_add(sv, svc, &errstr), 0);
	/* exits at once: restarts after 100, 200 and 400 ms, then 800 */
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	n = supervisor_restarts(sv, "exit");
	if (n < 2 || n > 3)
		printf("# %lu restarts in 1 s\n", n);
	CU_ASSERT(n >= 2 && n <= 3);
	supervisor_stop(sv, 1000);
	CU_ASSERT_EQUAL(supervisor_running(sv, "exit"), 0);
	supervisor_free(sv);
	event_base_free(base);
	service_free(svc);
}

static void
t_kill(void)
{
	struct event_base	*base = event_base_new();
	struct supervisor	*sv = supervisor_new(base);
	struct gw_service	*svc;
	struct timespec		 t0;
	const char		*errstr = NULL;
	char			 path[128], buf[512];
	long			 ms;

	snprintf(path, sizeof(path), "%s/stubborn.sock", tmpdir);
	svc = service("stubborn", path, "stubborn", 1);
	CU_ASSERT_EQUAL_FATAL(supervisor_add(sv, svc, &errstr), 0);
	/* it answers once SIGTERM is ignored */
	CU_ASSERT_EQUAL(ask_unix(path, buf, sizeof(buf)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	supervisor_stop(sv, 300);
	ms = ms_since(&t0);
	CU_ASSERT(ms >= 300 && ms < 3000);
	CU_ASSERT_EQUAL(supervisor_running(sv, "stubborn"), 0);
	supervisor_free(sv);
	event_base_free(base);
	service_free(svc);
}

static void
t_tcp(void)
{
	struct event_base	*base = event_base_new();
	struct supervisor	*sv = supervisor_new(base);
	struct gw_service	*svc;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	const char		*errstr = NULL;
	char			 sock[64], buf[512];
	int			 fd;

	/* a free port: bind to 0, look, let go */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	snprintf(sock, sizeof(sock), "127.0.0.1:%d", ntohs(sin.sin_port));

	svc = service("tcp", sock, "echo", 1);
	CU_ASSERT_EQUAL_FATAL(supervisor_add(sv, svc, &errstr), 0);
	CU_ASSERT_EQUAL(ask((struct sockaddr *)&sin, sizeof(sin), buf,
	    sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "hello arg1 listen=1 stdout=null "
	    "term=dfl blocked=0 fds=closed\n");
	supervisor_stop(sv, 2000);
	supervisor_free(sv);
	event_base_free(base);
	service_free(svc);
}

static void
t_errors(void)
{
	struct event_base	*base = event_base_new();
	struct supervisor	*sv = supervisor_new(base);
	struct gw_service	*svc;
	const char		*errstr = NULL;
	char			 path[128];
	FILE			*fp;

	snprintf(path, sizeof(path), "%s/nodir/x.sock", tmpdir);
	svc = service("nodir", path, "echo", 1);
	CU_ASSERT_EQUAL(supervisor_add(sv, svc, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(errstr);
	CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "bind"));
	service_free(svc);

	/* never unlink what is not a socket */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fclose(fp);
	svc = service("file", path, "echo", 1);
	errstr = NULL;
	CU_ASSERT_EQUAL(supervisor_add(sv, svc, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(errstr);
	CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "is not a socket"));
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	unlink(path);
	service_free(svc);

	snprintf(path, sizeof(path), "%s/x.sock", tmpdir);
	svc = service("noprog", path, "echo", 1);
	free(svc->svc_program);
	svc->svc_program = strdup("/nonexistent/agora-x");
	errstr = NULL;
	CU_ASSERT_EQUAL(supervisor_add(sv, svc, &errstr), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(errstr);
	CU_ASSERT_PTR_NOT_NULL(strstr(errstr, "/nonexistent/agora-x"));
	CU_ASSERT_EQUAL(access(path, F_OK), -1);

	/* no program: someone else runs it, nothing to do */
	free(svc->svc_program);
	svc->svc_program = NULL;
	CU_ASSERT_EQUAL(supervisor_add(sv, svc, &errstr), 0);
	CU_ASSERT_EQUAL(supervisor_running(sv, "noprog"), 0);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	service_free(svc);

	supervisor_stop(sv, 100);
	supervisor_free(sv);
	supervisor_free(NULL);
	event_base_free(base);
}

static const struct unit_case cases[] = {
	{ "spawn", t_spawn },
	{ "backoff", t_backoff },
	{ "kill", t_kill },
	{ "tcp", t_tcp },
	{ "errors", t_errors },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	const char	*mode;
	ssize_t		 n;
	int		 ret;

	if ((mode = getenv("SUPTEST_MODE")) != NULL)
		return child(mode, argc, argv);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return 1;
	self[n] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_supervisor.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	ret = unit_main(argc, argv, "supervisor", cases);
	rmdir(tmpdir);
	return ret;
}
