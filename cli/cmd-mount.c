/*
 * cmd-mount: `groupfs mount [SOURCE] MOUNTPOINT [-f] [-o OPTIONS]`,
 * `groupfs umount MOUNTPOINT`, and `groupfs SOURCE MOUNTPOINT -o
 * OPTIONS`, the form libfuse's mount.fuse3 runs for `mount -t
 * fuse.groupfs` and /etc/fstab.
 *
 * The process is the daemon of `groupfs serve` (the engine and the
 * control socket, on the main thread's loop) plus the FUSE session,
 * whose loop runs on a thread of its own. It stops in this order, so
 * that nothing is lost: the FUSE session ends (a signal, `groupfs
 * umount`, fusermount3 -u), which closes every open file and finishes
 * publishes in flight; then the engine stops (announces "stopped",
 * syncs the stores); then the process exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "cli.h"
#include "engine-backend.h"
#include "fs-mount.h"
#include "serve.h"

/* The runtime file that names the mount point of the home's daemon, so
 * that `groupfs umount` knows which daemon to wait for. */
#define MOUNT_FILE "mountpoint"
/* How long `groupfs umount` waits for the daemon to finish stopping. */
#define UMOUNT_WAIT_US (30 * G_USEC_PER_SEC)
#define UMOUNT_POLL_US (20 * 1000)

typedef struct {
	GMainLoop *loop;
	NetEngine *engine;
	FsMount *mount;
	GThread *fuse_thread;
	gboolean fuse_failed;
	guint signals[3];
} Mounted;

/* ---- the running mount --------------------------------------------- */

static void engine_stopped(GObject *source, GAsyncResult *result, gpointer data)
{
	Mounted *m = data;

	net_engine_stop_finish(m->engine, result);
	g_message("stopped");
	g_main_loop_quit(m->loop);
}

/* On the loop, once the FUSE session is over and freed. */
static gboolean fuse_ended(gpointer data)
{
	Mounted *m = data;

	g_message("unmounted; stopping");
	net_engine_stop_async(m->engine, engine_stopped, m);
	return G_SOURCE_REMOVE;
}

/* The FUSE thread: serves until the session ends, then unmounts and
 * frees it here, off the loop, whose help the free needs (parked reads
 * are cancelled and publishes finish through it). */
static gpointer fuse_main(gpointer data)
{
	Mounted *m = data;
	g_autoptr(GError) error = NULL;

	if (!fs_mount_run(m->mount, &error)) {
		g_message("%s", error->message);
		m->fuse_failed = TRUE;
	}
	g_clear_pointer(&m->mount, fs_mount_free);
	g_idle_add(fuse_ended, m);
	return NULL;
}

static gboolean on_signal(gpointer data)
{
	Mounted *m = data;

	g_message("unmounting");
	fs_mount_stop(m->mount);
	return G_SOURCE_CONTINUE;
}

/* Serves until the mount ends; returns the exit status. */
static int run_mounted(Mounted *m)
{
	const int sigs[] = {SIGTERM, SIGINT, SIGHUP};

	/* A control client that hangs up must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	m->loop = g_main_loop_new(NULL, FALSE);
	for (guint i = 0; i < G_N_ELEMENTS(sigs); i++)
		m->signals[i] = g_unix_signal_add(sigs[i], on_signal, m);
	m->fuse_thread = g_thread_new("groupfs-fuse", fuse_main, m);
	g_main_loop_run(m->loop);
	g_thread_join(m->fuse_thread);
	for (guint i = 0; i < G_N_ELEMENTS(sigs); i++)
		g_source_remove(m->signals[i]);
	g_main_loop_unref(m->loop);
	return m->fuse_failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

/* ---- starting ------------------------------------------------------- */

typedef struct {
	char *source; /* NULL: the session's tracker */
	char *mountpoint; /* absolute */
	FsDaemonOptions daemon;
	char *fuse_options; /* read_timeout= and libfuse's, or NULL */
	gboolean foreground;
} MountArgs;

static void mount_args_clear(MountArgs *args)
{
	g_free(args->source);
	g_free(args->mountpoint);
	fs_daemon_options_clear(&args->daemon);
	g_free(args->fuse_options);
}

/* SOURCE, when given, must name the tracker we are logged in to. */
static gboolean check_source(const char *source, const CliIdentity *id,
			     GError **error)
{
	g_autofree char *ours = NULL;
	g_autofree char *theirs = NULL;

	if (source == NULL)
		return TRUE;
	theirs = net_tracker_api_normalise_url(source, error);
	if (theirs == NULL)
		return FALSE;
	ours = net_tracker_api_normalise_url(id->session->tracker, NULL);
	if (g_strcmp0(ours, theirs) == 0)
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "the mount names the tracker %s, but this user is logged "
		    "in to %s; run 'groupfs login --tracker %s USER' first",
		    theirs, ours ? ours : id->session->tracker, theirs);
	return FALSE;
}

static FsEngineBackend *start_backend(const CliIdentity *id, NetEngine *engine,
				      const MountArgs *args, GError **error)
{
	g_autofree char *data_dir = fs_daemon_data_dir();
	FsEngineBackendConfig config = {
		.engine = engine,
		.tracker_url = id->session->tracker,
		.ca_file = id->ca_file,
		.token = id->session->token,
		.data_dir = data_dir,
		.cache_size = args->daemon.cache_size,
	};

	return fs_engine_backend_new(&config, error);
}

static void report_mounted(NetEngine *engine, const MountArgs *args)
{
	g_autofree char *file = fs_daemon_runtime_path(MOUNT_FILE);
	g_autofree char *line = g_strdup_printf(
		"mounted the groups of %s at %s: peers connect on port %u "
		"(pid %d)",
		net_engine_get_user(engine), args->mountpoint,
		net_engine_get_port(engine), (int)getpid());

	g_file_set_contents(file, args->mountpoint, -1, NULL);
	g_message("%s", line);
	fs_daemon_report_ready(line);
}

static int serve_mount(const MountArgs *args)
{
	CliIdentity id = {0};
	g_autoptr(FsDaemon) daemon = NULL;
	g_autoptr(FsEngineBackend) backend = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *file = fs_daemon_runtime_path(MOUNT_FILE);
	NetEngineConfig config;
	Mounted m = {0};
	int status;

	if (!cli_identity_load(&id, &error) ||
	    !check_source(args->source, &id, &error)) {
		cli_identity_clear(&id);
		return cli_daemon_start_failed(error);
	}
	cli_identity_engine_config(&id, &args->daemon, &config);
	daemon = fs_daemon_new(&config, &error);
	m.engine = daemon ? fs_daemon_get_engine(daemon) : NULL;
	if (m.engine != NULL)
		backend = start_backend(&id, m.engine, args, &error);
	if (backend != NULL)
		m.mount = fs_mount_new(fs_engine_backend_get(backend),
				       id.session->tracker, args->mountpoint,
				       args->fuse_options, &error);
	cli_identity_clear(&id);
	if (m.mount == NULL)
		return cli_daemon_start_failed(error);
	report_mounted(m.engine, args);
	status = run_mounted(&m);
	g_unlink(file);
	return status;
}

/* fstab's options for mount(8) and systemd, which may reach us. */
static gboolean is_fstab_only(const char *option)
{
	return g_str_has_prefix(option, "x-") ||
	       strcmp(option, "defaults") == 0 || strcmp(option, "auto") == 0;
}

/* Splits -o into the daemon's options and the mount's. */
static gboolean split_options(char **raw, MountArgs *args, int *status)
{
	g_autoptr(GPtrArray) rest = g_ptr_array_new_with_free_func(g_free);

	for (char **o = raw; o != NULL && *o != NULL; o++) {
		g_auto(GStrv) parts = g_strsplit(*o, ",", -1);

		for (char **p = parts; *p != NULL; p++) {
			g_autoptr(GError) error = NULL;
			gboolean known = FALSE;

			if (**p == '\0' || is_fstab_only(*p) ||
			    fs_daemon_options_parse(&args->daemon, *p, &known,
						    &error))
				continue;
			if (known) {
				*status = cli_usage_error("%s", error->message);
				return FALSE;
			}
			g_ptr_array_add(rest, g_strdup(*p));
		}
	}
	g_ptr_array_add(rest, NULL);
	if (rest->len > 1)
		args->fuse_options = g_strjoinv(",", (char **)rest->pdata);
	return TRUE;
}

/* The mount point must be a folder; checked before detaching, so that
 * the error is plain. */
static gboolean set_mountpoint(MountArgs *args, const char *path, int *status)
{
	if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
		*status = cli_fail("%s is not a folder; create it first", path);
		return FALSE;
	}
	args->mountpoint = g_canonicalize_filename(path, NULL);
	return TRUE;
}

static gboolean parse_mount_args(int *argc, char ***argv, MountArgs *args,
				 int *status)
{
	g_auto(GStrv) raw = NULL;
	const GOptionEntry entries[] = {
		{"foreground", 'f', 0, G_OPTION_ARG_NONE, &args->foreground,
		 "stay in the foreground and log to stderr", NULL},
		{"options", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &raw,
		 "listen=ADDR:PORT, cache_size=SIZE, read_timeout=SECONDS, "
		 "allow_other, and libfuse's options",
		 "OPTIONS"},
		{NULL},
	};

	if (!cli_parse_args(argc, argv,
			    "mount [SOURCE] MOUNTPOINT [-f] [-o OPTIONS]",
			    entries, 1, 2, status))
		return FALSE;
	if (*argc == 3)
		args->source = g_strdup((*argv)[1]);
	return split_options(raw, args, status) &&
	       set_mountpoint(args, (*argv)[*argc - 1], status);
}

int cli_cmd_mount(int argc, char **argv)
{
	MountArgs args = {0};
	g_autoptr(GError) error = NULL;
	int status = CLI_EXIT_OK;

	fs_daemon_options_init(&args.daemon);
	if (parse_mount_args(&argc, &argv, &args, &status)) {
		if (args.foreground || fs_daemon_detach(&error))
			status = serve_mount(&args);
		else
			status = cli_fail("%s", error->message);
	}
	mount_args_clear(&args);
	return status;
}

gboolean cli_is_mount_source(const char *word)
{
	return g_str_has_prefix(word, "https://");
}

/* ---- umount -------------------------------------------------------- */

/* Whether the daemon of this home serves @mountpoint. */
static gboolean is_our_mount(const char *mountpoint)
{
	g_autofree char *file = fs_daemon_runtime_path(MOUNT_FILE);
	g_autofree char *text = NULL;

	return g_file_get_contents(file, &text, NULL, NULL) &&
	       strcmp(text, mountpoint) == 0;
}

static gboolean unmount(const char *mountpoint, GError **error)
{
	const char *argv[] = {"fusermount3", "-u", mountpoint, NULL};
	g_autofree char *err = NULL;
	int wait_status = 0;

	/* root may do it directly; others need the setuid helper. */
	if (geteuid() == 0 && umount2(mountpoint, 0) == 0)
		return TRUE;
	if (!g_spawn_sync(NULL, (char **)argv, NULL,
			  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
			  NULL, NULL, NULL, &err, &wait_status, error))
		return FALSE;
	if (g_spawn_check_wait_status(wait_status, NULL))
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
		    "cannot unmount %s: %s", mountpoint,
		    err && *err ? g_strchomp(err) : "fusermount3 failed");
	return FALSE;
}

/* Waits until the daemon lets go of its lock, i.e. has exited. */
static gboolean wait_daemon_exit(void)
{
	g_autofree char *path = fs_daemon_runtime_path(FS_DAEMON_LOCK);
	gint64 deadline = g_get_monotonic_time() + UMOUNT_WAIT_US;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	gboolean released = FALSE;

	if (fd < 0)
		return TRUE;
	while (!(released = flock(fd, LOCK_EX | LOCK_NB) == 0) &&
	       g_get_monotonic_time() < deadline)
		g_usleep(UMOUNT_POLL_US);
	close(fd);
	return released;
}

int cli_cmd_umount(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *mountpoint = NULL;
	int status = CLI_EXIT_OK;
	gboolean ours;

	if (!cli_parse_args(&argc, &argv, "umount MOUNTPOINT", NULL, 1, 1,
			    &status))
		return status;
	mountpoint = g_canonicalize_filename(argv[1], NULL);
	ours = is_our_mount(mountpoint);
	if (!unmount(mountpoint, &error))
		return cli_fail("%s", error->message);
	if (ours && !wait_daemon_exit())
		return cli_fail("%s is unmounted, but the daemon is still "
				"stopping; see its log",
				mountpoint);
	return CLI_EXIT_OK;
}
