#include "fs-mount.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "fs-ops.h"

/* Worker threads: parked reads do not hold one, so this bounds only
 * requests being answered at once (see libfuse #1490 for too few). */
#define MAX_THREADS 64
#define READ_TIMEOUT_MAX_S 86400
/* The kernel's readahead for the mount, in KiB: without it buffered
 * reads stay at 128 KiB requests whatever max_pages allows. */
#define READ_AHEAD_KB "4096"
#define MAX_WRITE (1u << 20)
/* Small enough that a request and its header fit a 1 MiB pipe, the
 * default fs.pipe-max-size, so splice keeps working unprivileged. */
#define MAX_WRITE_UNPRIVILEGED (1008u << 10)

/* How often the stopper knocks until the loop has noticed. */
#define KNOCK_INTERVAL_US (50 * 1000)

struct _FsMount {
	FsOps *ops;
	struct fuse_session *session;
	char *mountpoint;
	gboolean mounted;
	pthread_t loop_thread; /* valid while running */
	gint running; /* atomic: fs_mount_run is in libfuse's loop */
	gint stopping; /* atomic */
	GThread *stopper; /* joined in free */
};

/* The signal that wakes libfuse's loop thread: a real-time one, which
 * nothing else in a GLib program uses. */
static int wake_signal(void)
{
	return SIGRTMIN + 3;
}

static void on_wake(int sig)
{
	/* Nothing: being interrupted is the point. */
}

/* Installs the handler once, without SA_RESTART, so that the signal
 * interrupts the sem_wait of libfuse's loop. */
static void install_wake_handler(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		struct sigaction action = {.sa_handler = on_wake};

		sigemptyset(&action.sa_mask);
		sigaction(wake_signal(), &action, NULL);
		g_once_init_leave(&done, 1);
	}
}

/* libfuse hands us its own printf-style formats. */
G_GNUC_PRINTF(2, 0)
static void log_to_glib(enum fuse_log_level level, const char *fmt, va_list ap)
{
	g_autofree char *text = g_strdup_vprintf(fmt, ap);

	g_strchomp(text);
	/* libfuse's errors are about one request or the device; none is a
	 * bug of ours, so none is a g_warning. */
	if (level <= FUSE_LOG_ERR)
		g_message("fuse: %s", text);
	else
		g_debug("fuse: %s", text);
}

static gboolean parse_timeout(const char *value, guint *seconds, GError **error)
{
	guint64 n;

	if (!g_ascii_string_to_unsigned(value, 10, 1, READ_TIMEOUT_MAX_S, &n,
					NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "read_timeout must be a number of seconds from 1 "
			    "to %u, not \"%s\".",
			    READ_TIMEOUT_MAX_S, value);
		return FALSE;
	}
	*seconds = (guint)n;
	return TRUE;
}

gboolean fs_mount_parse_options(const char *options, guint *read_timeout_s,
				char **fuse_options, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(options ? options : "", ",", -1);
	g_autoptr(GPtrArray) rest = g_ptr_array_new();

	*read_timeout_s = 0;
	for (guint i = 0; parts[i] != NULL; i++) {
		if (parts[i][0] == '\0')
			continue;
		if (g_str_has_prefix(parts[i], "read_timeout=")) {
			if (!parse_timeout(parts[i] + strlen("read_timeout="),
					   read_timeout_s, error))
				return FALSE;
			continue;
		}
		g_ptr_array_add(rest, parts[i]);
	}
	g_ptr_array_add(rest, NULL);
	*fuse_options =
		rest->len > 1 ? g_strjoinv(",", (char **)rest->pdata) : NULL;
	return TRUE;
}

/* Whether our pipes may grow past 1 MiB, as splice of a 1 MiB request
 * needs: as root (CAP_SYS_RESOURCE), or when the system allows it. */
static guint choose_max_write(void)
{
	g_autofree char *text = NULL;
	guint64 limit = 0;

	if (geteuid() == 0)
		return MAX_WRITE;
	if (g_file_get_contents("/proc/sys/fs/pipe-max-size", &text, NULL,
				NULL))
		limit = g_ascii_strtoull(text, NULL, 10);
	return limit >= MAX_WRITE + (64u << 10) ? MAX_WRITE
						: MAX_WRITE_UNPRIVILEGED;
}

/* "MAJ:MIN" of the mount at @mountpoint, from /proc/self/mountinfo (a
 * stat would ask the file system, which does not serve yet). */
static char *find_device(const char *mountpoint)
{
	g_autofree char *info = NULL;
	g_auto(GStrv) lines = NULL;
	char *found = NULL;

	if (!g_file_get_contents("/proc/self/mountinfo", &info, NULL, NULL))
		return NULL;
	lines = g_strsplit(info, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) fields = g_strsplit(lines[i], " ", 6);

		if (g_strv_length(fields) < 5)
			continue;
		if (g_strcmp0(fields[4], mountpoint) == 0) {
			g_free(found);
			found = g_strdup(fields[2]); /* the last mount wins */
		}
	}
	return found;
}

static void raise_read_ahead(const char *mountpoint)
{
	g_autofree char *device = find_device(mountpoint);
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;

	if (device == NULL)
		return;
	path = g_strdup_printf("/sys/class/bdi/%s/read_ahead_kb", device);
	/* Only root may; others keep the kernel's 128 KiB. */
	if (!g_file_set_contents(path, READ_AHEAD_KB, -1, &error))
		g_debug("Could not raise the readahead: %s", error->message);
}

static struct fuse_session *new_session(FsOps *ops, const char *source,
					const char *fuse_options,
					GError **error)
{
	g_autofree char *base = g_strdup_printf("fsname=%s,subtype=groupfs",
						source ? source : "groupfs");
	char *argv[] = {"groupfs", "-o", base, "-o", (char *)fuse_options,
			NULL};
	struct fuse_args args = FUSE_ARGS_INIT(fuse_options ? 5 : 3, argv);
	struct fuse_session *session;

	session = fuse_session_new(&args, fs_ops_get_table(),
				   sizeof(struct fuse_lowlevel_ops), ops);
	fuse_opt_free_args(&args);
	if (session == NULL)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "libfuse refused the mount options \"%s\".",
			    fuse_options ? fuse_options : "");
	return session;
}

FsMount *fs_mount_new(const FsBackend *backend, const char *source,
		      const char *mountpoint, const char *options,
		      GError **error)
{
	g_autofree char *fuse_options = NULL;
	FsOpsConfig config = {0};
	FsMount *mount;

	if (!fs_mount_parse_options(options, &config.read_timeout_s,
				    &fuse_options, error))
		return NULL;
	config.max_write = choose_max_write();
	fuse_set_log_func(log_to_glib);
	mount = g_new0(FsMount, 1);
	mount->mountpoint = g_canonicalize_filename(mountpoint, NULL);
	mount->ops = fs_ops_new(backend, &config);
	mount->session = new_session(mount->ops, source, fuse_options, error);
	if (mount->session == NULL) {
		fs_mount_free(mount);
		return NULL;
	}
	if (fuse_session_mount(mount->session, mount->mountpoint) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "Could not mount on %s: is it an empty folder "
			    "of yours, and is /dev/fuse there?",
			    mount->mountpoint);
		fs_mount_free(mount);
		return NULL;
	}
	mount->mounted = TRUE;
	install_wake_handler();
	raise_read_ahead(mount->mountpoint);
	fs_ops_set_session(mount->ops, mount->session);
	return mount;
}

gboolean fs_mount_run(FsMount *mount, GError **error)
{
	struct fuse_loop_config *config = fuse_loop_cfg_create();
	sigset_t wake;
	int status;

	/* The program may block signals in every thread; not this one. */
	sigemptyset(&wake);
	sigaddset(&wake, wake_signal());
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	mount->loop_thread = pthread_self();
	g_atomic_int_set(&mount->running, 1);
	fuse_loop_cfg_set_max_threads(config, MAX_THREADS);
	fuse_loop_cfg_set_clone_fd(config, 0);
	status = fuse_session_loop_mt(mount->session, config);
	g_atomic_int_set(&mount->running, 0);
	fuse_loop_cfg_destroy(config);
	/* Negative errno on a failure; positive when a signal handler of
	 * libfuse stopped it, which is a normal stop. */
	if (status < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-status),
			    "The FUSE session failed: %s.",
			    g_strerror(-status));
		return FALSE;
	}
	return TRUE;
}

/* libfuse's loop thread sleeps in sem_wait until a worker ends, and
 * workers end only when the kernel says so: the exit flag alone is not
 * seen. A signal interrupts the sem_wait; it is sent again until the
 * loop is over, as it may come just before the thread goes to sleep.
 * (A request to our own mount would wake a worker too, but could hang
 * for ever in the kernel if this process died meanwhile.) */
static gpointer knock(gpointer data)
{
	FsMount *mount = data;

	while (g_atomic_int_get(&mount->running)) {
		pthread_kill(mount->loop_thread, wake_signal());
		g_usleep(KNOCK_INTERVAL_US);
	}
	return NULL;
}

void fs_mount_stop(FsMount *mount)
{
	if (!g_atomic_int_compare_and_exchange(&mount->stopping, 0, 1))
		return;
	fuse_session_exit(mount->session);
	mount->stopper = g_thread_new("groupfs-stop", knock, mount);
}

void fs_mount_free(FsMount *mount)
{
	if (mount == NULL)
		return;
	if (mount->stopper != NULL)
		g_thread_join(mount->stopper);
	if (mount->ops != NULL)
		fs_ops_set_session(mount->ops, NULL);
	/* Parked reads are answered (cancelled) while the channel is open. */
	g_clear_pointer(&mount->ops, fs_ops_free);
	if (mount->mounted)
		fuse_session_unmount(mount->session);
	g_clear_pointer(&mount->session, fuse_session_destroy);
	g_free(mount->mountpoint);
	g_free(mount);
}
