/*
 * daemon: the process around the engine, for `groupfs serve` now and
 * `groupfs mount` later: where its files live, one daemon per home (a
 * lock), detaching from the terminal with a report of how the start
 * went, signals, and an orderly stop.
 *
 * Owns: the runtime folder (the control socket, the lock, the log), the
 * FsDaemon's engine and control socket, and the process's signal
 * handlers. Must not: know what the engine does with files, or what the
 * control protocol says (fs/control does); print anything but the one
 * line that tells a user why a detached start failed.
 *
 * Folders: with $GROUPFS_HOME, its cache/, data/ and run/; otherwise
 * $XDG_CACHE_HOME/groupfs, $XDG_DATA_HOME/groupfs and
 * $XDG_RUNTIME_DIR/groupfs. The runtime folder is made 0700 and must be
 * ours: the socket in it is the key to the daemon.
 *
 * Threads: the main thread, which runs the engine's loop.
 */
#pragma once

#include <gio/gio.h>

#include "engine.h"

G_BEGIN_DECLS

#define FS_DAEMON_SOCKET "control.sock"
#define FS_DAEMON_LOCK "daemon.pid"
#define FS_DAEMON_LOG "daemon.log"

char *fs_daemon_cache_dir(void);
char *fs_daemon_data_dir(void);
char *fs_daemon_runtime_dir(void);
/* @name in the runtime folder. */
char *fs_daemon_runtime_path(const char *name);

/* The control socket's path; fails when it is too long for a Unix
 * socket address, saying which variable to shorten. */
char *fs_daemon_socket_path(GError **error);

/* Makes the runtime folder (0700) unless it exists, and checks that it
 * is ours and closed to others. */
gboolean fs_daemon_make_runtime_dir(GError **error);

/* Detaches from the terminal before any thread exists: forks; the
 * parent waits until the child calls fs_daemon_report_ready or
 * fs_daemon_report_failure (or dies), prints the failure, and exits 0
 * or 1 without returning. In the child, which returns TRUE, stdin is
 * /dev/null and stdout and stderr go to the log file in the runtime
 * folder. FALSE with @error when it could not fork at all. */
gboolean fs_daemon_detach(GError **error);

/* Tells the waiting parent, if any, that the daemon serves; @line is
 * printed by the parent on stdout. Harmless when not detached. */
void fs_daemon_report_ready(const char *line);
/* Tells the waiting parent, if any, why the start failed. */
void fs_daemon_report_failure(const char *message);

/* The -o options that every daemon takes. */
typedef struct {
	char *listen; /* "ADDR:PORT" */
	guint64 cache_size; /* bytes */
} FsDaemonOptions;

#define FS_DAEMON_DEFAULT_LISTEN "0.0.0.0:0"
#define FS_DAEMON_DEFAULT_CACHE_SIZE (G_GUINT64_CONSTANT(10) << 30)

/* The defaults: listen on every IPv4 address, any port; a 10 GiB cache. */
void fs_daemon_options_init(FsDaemonOptions *options);
void fs_daemon_options_clear(FsDaemonOptions *options);

/* Takes one "key=value" of -o if it is the daemon's: "listen=ADDR:PORT"
 * or "cache_size=SIZE" (bytes, or with a K, M, G or T suffix, powers of
 * 1024). *@known says whether it was; FALSE with @error when it was but
 * its value is wrong. */
gboolean fs_daemon_options_parse(FsDaemonOptions *options, const char *option,
				 gboolean *known, GError **error);

typedef struct _FsDaemon FsDaemon;

/* Takes the home's lock (failing if another daemon holds it), starts
 * the engine with @config (whose folders may be NULL: the daemon's are
 * used) and opens the control socket. */
FsDaemon *fs_daemon_new(const NetEngineConfig *config, GError **error);
/* Frees at once; fs_daemon_run stops politely first. */
void fs_daemon_free(FsDaemon *daemon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsDaemon, fs_daemon_free)

NetEngine *fs_daemon_get_engine(FsDaemon *daemon);

/* Runs the loop until SIGTERM or SIGINT, then stops: the control
 * socket closes, the engine says "stopped" to the tracker and syncs
 * its stores, the socket file goes. Returns the exit status. */
int fs_daemon_run(FsDaemon *daemon);

G_END_DECLS
