/* daemon: see daemon.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "control.h"
#include "daemon.h"

/* The longest message a child sends its waiting parent. */
#define REPORT_MAX 4096

/* The write end of the pipe to a parent waiting in fs_daemon_detach;
 * -1 once reported, or when not detached. Main thread only. */
static int report_fd = -1;

/* ---- folders ------------------------------------------------------- */

static char *home_dir(const char *sub)
{
	const char *home = g_getenv("GROUPFS_HOME");

	if (home != NULL && *home != '\0')
		return g_build_filename(home, sub, NULL);
	return NULL;
}

char *fs_daemon_cache_dir(void)
{
	char *dir = home_dir("cache");

	return dir ? dir
		   : g_build_filename(g_get_user_cache_dir(), "groupfs", NULL);
}

char *fs_daemon_data_dir(void)
{
	char *dir = home_dir("data");

	return dir ? dir
		   : g_build_filename(g_get_user_data_dir(), "groupfs", NULL);
}

char *fs_daemon_runtime_dir(void)
{
	char *dir = home_dir("run");

	return dir ? dir
		   : g_build_filename(g_get_user_runtime_dir(), "groupfs",
				      NULL);
}

char *fs_daemon_runtime_path(const char *name)
{
	g_autofree char *dir = fs_daemon_runtime_dir();

	return g_build_filename(dir, name, NULL);
}

char *fs_daemon_socket_path(GError **error)
{
	g_autofree char *path = fs_daemon_runtime_path(FS_DAEMON_SOCKET);
	struct sockaddr_un addr;

	if (strlen(path) < sizeof(addr.sun_path))
		return g_steal_pointer(&path);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
		    "the control socket path %s is %zu bytes long, more than "
		    "a Unix socket allows (%zu); set GROUPFS_HOME or "
		    "XDG_RUNTIME_DIR to a shorter folder",
		    path, strlen(path), sizeof(addr.sun_path) - 1);
	return NULL;
}

gboolean fs_daemon_make_runtime_dir(GError **error)
{
	g_autofree char *dir = fs_daemon_runtime_dir();
	struct stat st;
	int err;

	if (g_mkdir_with_parents(dir, 0700) != 0 || g_stat(dir, &st) != 0) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot create the runtime folder %s: %s", dir,
			    g_strerror(err));
		return FALSE;
	}
	if (st.st_uid != getuid()) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "the runtime folder %s belongs to another user",
			    dir);
		return FALSE;
	}
	if ((st.st_mode & 077) != 0 && g_chmod(dir, 0700) != 0) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot close the runtime folder %s to others: %s",
			    dir, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* ---- options ------------------------------------------------------ */

void fs_daemon_options_init(FsDaemonOptions *options)
{
	options->listen = g_strdup(FS_DAEMON_DEFAULT_LISTEN);
	options->cache_size = FS_DAEMON_DEFAULT_CACHE_SIZE;
}

void fs_daemon_options_clear(FsDaemonOptions *options)
{
	g_clear_pointer(&options->listen, g_free);
}

static gboolean parse_size(const char *text, guint64 *size)
{
	static const char units[] = "KMGT";
	guint64 value;
	char *end;
	const char *unit;
	guint shift = 0;

	if (!g_ascii_isdigit(*text))
		return FALSE;
	errno = 0;
	value = g_ascii_strtoull(text, &end, 10);
	if (errno != 0)
		return FALSE;
	if (*end != '\0') {
		unit = strchr(units, g_ascii_toupper(*end));
		if (unit == NULL ||
		    (end[1] != '\0' && g_ascii_strcasecmp(end + 1, "iB") != 0))
			return FALSE;
		shift = 10 * (guint)(unit - units + 1);
	}
	if (value > (G_MAXUINT64 >> shift))
		return FALSE;
	*size = value << shift;
	return TRUE;
}

/* "ADDR:PORT" with an IP literal ([v6] in brackets) and a port. */
static gboolean listen_is_valid(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	g_autofree char *host = NULL;
	g_autoptr(GInetAddress) address = NULL;
	guint64 port;

	if (colon == NULL || colon == listen ||
	    !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL))
		return FALSE;
	host = g_strndup(listen, colon - listen);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	address = g_inet_address_new_from_string(host);
	return address != NULL;
}

gboolean fs_daemon_options_parse(FsDaemonOptions *options, const char *option,
				 gboolean *known, GError **error)
{
	const char *value = strchr(option, '=');

	*known = g_str_has_prefix(option, "listen=") ||
		 g_str_has_prefix(option, "cache_size=");
	if (!*known)
		return FALSE;
	value++;
	if (g_str_has_prefix(option, "listen=")) {
		if (listen_is_valid(value)) {
			g_free(options->listen);
			options->listen = g_strdup(value);
			return TRUE;
		}
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "listen=%s: give an IP address and a port, e.g. "
			    "listen=0.0.0.0:6881 or listen=[::]:0",
			    value);
		return FALSE;
	}
	if (parse_size(value, &options->cache_size))
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "cache_size=%s: give a size in bytes, or with a K, M, G "
		    "or T suffix, e.g. cache_size=20G",
		    value);
	return FALSE;
}

/* ---- detaching ----------------------------------------------------- */

static void report(char status, const char *text)
{
	g_autofree char *msg = g_strdup_printf("%c%s", status, text);
	gsize len = MIN(strlen(msg), REPORT_MAX);
	gsize done = 0;

	if (report_fd < 0)
		return;
	while (done < len) {
		ssize_t n = write(report_fd, msg + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += n;
	}
	close(report_fd);
	report_fd = -1;
}

void fs_daemon_report_ready(const char *line)
{
	report('+', line);
}

void fs_daemon_report_failure(const char *message)
{
	report('-', message);
}

/* In the parent: what the child reported, as the exit status. */
static int await_child(int fd, pid_t child)
{
	char buf[REPORT_MAX + 1];
	gsize len = 0;
	ssize_t n;
	int status;

	while (len < REPORT_MAX &&
	       ((n = read(fd, buf + len, REPORT_MAX - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		len += n > 0 ? n : 0;
	buf[len] = '\0';
	if (len > 0 && buf[0] == '+') {
		if (buf[1] != '\0')
			printf("%s\n", buf + 1);
		return 0;
	}
	if (len > 0)
		fprintf(stderr, "groupfs: %s\n", buf + 1);
	else if (waitpid(child, &status, WNOHANG) == child &&
		 WIFSIGNALED(status))
		fprintf(stderr,
			"groupfs: the daemon died during its start (signal "
			"%d)\n",
			WTERMSIG(status));
	else
		fprintf(stderr, "groupfs: the daemon stopped during its "
				"start; see its log\n");
	return 1;
}

/* In the child: a session of its own, no terminal, output to the log. */
static gboolean become_daemon(GError **error)
{
	g_autofree char *log = fs_daemon_runtime_path(FS_DAEMON_LOG);
	int null_fd, log_fd, err;

	if (setsid() < 0) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot detach the daemon: %s", g_strerror(err));
		return FALSE;
	}
	if (!fs_daemon_make_runtime_dir(error))
		return FALSE;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot open the log %s: %s", log, g_strerror(err));
		return FALSE;
	}
	dup2(null_fd, STDIN_FILENO);
	dup2(log_fd, STDOUT_FILENO);
	dup2(log_fd, STDERR_FILENO);
	close(null_fd);
	close(log_fd);
	return TRUE;
}

gboolean fs_daemon_detach(GError **error)
{
	g_autoptr(GError) local_error = NULL;
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot start the daemon: %s", g_strerror(err));
		return FALSE;
	}
	if (pid > 0) {
		close(fds[1]);
		exit(await_child(fds[0], pid));
	}
	close(fds[0]);
	report_fd = fds[1];
	if (!become_daemon(&local_error)) {
		fs_daemon_report_failure(local_error->message);
		exit(1);
	}
	return TRUE;
}

/* ---- the daemon ---------------------------------------------------- */

struct _FsDaemon {
	int lock_fd;
	NetEngine *engine;
	FsControl *control;
	GMainLoop *loop;
	guint signal_sources[2];
	gboolean stopping;
};

/* The pid in a lock file held by another daemon, for the message. */
static long read_pid(int fd)
{
	char buf[32] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return strtol(buf, NULL, 10);
}

/* One daemon per home: an exclusive flock on the pid file, held for the
 * life of the process (the kernel drops it however the process ends). */
static int take_lock(GError **error)
{
	g_autofree char *path = fs_daemon_runtime_path(FS_DAEMON_LOCK);
	g_autofree char *pid = g_strdup_printf("%ld\n", (long)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int err;

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    ftruncate(fd, 0) == 0 &&
	    pwrite(fd, pid, strlen(pid), 0) == (ssize_t)strlen(pid))
		return fd;
	err = errno;
	if (fd >= 0 && err == EWOULDBLOCK)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
			    "a groupfs daemon (pid %ld) is already running "
			    "for this user; stop it first",
			    read_pid(fd));
	else
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot lock %s: %s", path, g_strerror(err));
	if (fd >= 0)
		close(fd);
	return -1;
}

static NetEngine *start_engine(const NetEngineConfig *config, GError **error)
{
	g_autofree char *cache = fs_daemon_cache_dir();
	g_autofree char *data = fs_daemon_data_dir();
	NetEngineConfig c = *config;

	if (c.cache_dir == NULL)
		c.cache_dir = cache;
	if (c.data_dir == NULL)
		c.data_dir = data;
	return net_engine_new(&c, error);
}

FsDaemon *fs_daemon_new(const NetEngineConfig *config, GError **error)
{
	g_autoptr(FsDaemon) daemon = g_new0(FsDaemon, 1);
	g_autofree char *socket_path = NULL;

	daemon->lock_fd = -1;
	if (!fs_daemon_make_runtime_dir(error) ||
	    (socket_path = fs_daemon_socket_path(error)) == NULL ||
	    (daemon->lock_fd = take_lock(error)) < 0)
		return NULL;
	daemon->engine = start_engine(config, error);
	if (daemon->engine == NULL)
		return NULL;
	daemon->control = fs_control_new(daemon->engine, socket_path, error);
	if (daemon->control == NULL)
		return NULL;
	return g_steal_pointer(&daemon);
}

void fs_daemon_free(FsDaemon *daemon)
{
	if (daemon == NULL)
		return;
	for (guint i = 0; i < G_N_ELEMENTS(daemon->signal_sources); i++)
		g_clear_handle_id(&daemon->signal_sources[i], g_source_remove);
	g_clear_pointer(&daemon->control, fs_control_free);
	g_clear_pointer(&daemon->engine, net_engine_free);
	g_clear_pointer(&daemon->loop, g_main_loop_unref);
	if (daemon->lock_fd >= 0)
		close(daemon->lock_fd);
	g_free(daemon);
}

NetEngine *fs_daemon_get_engine(FsDaemon *daemon)
{
	return daemon->engine;
}

static void engine_stopped(GObject *source, GAsyncResult *result, gpointer data)
{
	FsDaemon *daemon = data;

	net_engine_stop_finish(daemon->engine, result);
	g_message("stopped");
	g_main_loop_quit(daemon->loop);
}

static gboolean on_signal(gpointer data)
{
	FsDaemon *daemon = data;

	if (daemon->stopping) {
		g_message("already stopping; waiting for the tracker and the "
			  "disk");
		return G_SOURCE_CONTINUE;
	}
	daemon->stopping = TRUE;
	g_message("stopping");
	/* Nobody can ask for more work from here on. */
	g_clear_pointer(&daemon->control, fs_control_free);
	net_engine_stop_async(daemon->engine, engine_stopped, daemon);
	return G_SOURCE_CONTINUE;
}

int fs_daemon_run(FsDaemon *daemon)
{
	/* A client that hangs up must not kill us on the next write. */
	signal(SIGPIPE, SIG_IGN);
	daemon->loop = g_main_loop_new(NULL, FALSE);
	daemon->signal_sources[0] =
		g_unix_signal_add(SIGTERM, on_signal, daemon);
	daemon->signal_sources[1] =
		g_unix_signal_add(SIGINT, on_signal, daemon);
	g_main_loop_run(daemon->loop);
	return 0;
}
