/*
 * fs-mount: one FUSE session of the mount: its options, the mount
 * itself, libfuse's multithreaded loop, and the unmount.
 *
 * Owns: the fuse_session and the FsOps behind it. Must not: handle
 * signals (the program does, and calls fs_mount_stop), daemonize, or
 * know what backend it serves.
 *
 * Options (the text after -o): read_timeout=SECONDS is ours; anything
 * else goes to libfuse (allow_other, debug, max_threads is not one:
 * see fs_mount_run). A program that has options of its own (listen=,
 * cache_size=) takes them out first.
 *
 * Threads: fs_mount_run blocks the calling thread until the session
 * ends; fs_mount_stop may be called from any thread meanwhile.
 */
#pragma once

#include "backend.h"

G_BEGIN_DECLS

typedef struct _FsMount FsMount;

/* Splits comma-separated @options into read_timeout (0 when absent)
 * and the rest for libfuse (NULL when nothing is left). */
gboolean fs_mount_parse_options(const char *options, guint *read_timeout_s,
				char **fuse_options, GError **error);

/* Mounts @backend at @mountpoint, which must be an empty folder we may
 * write. @source names the mount in /proc/mounts (the tracker URL);
 * NULL for "groupfs". Nothing is served until fs_mount_run. */
FsMount *fs_mount_new(const FsBackend *backend, const char *source,
		      const char *mountpoint, const char *options,
		      GError **error);

/* Serves requests until fs_mount_stop, or until the file system is
 * unmounted from outside (fusermount3 -u, umount). Returns FALSE with
 * @error when the loop failed. */
gboolean fs_mount_run(FsMount *mount, GError **error);

/* Makes fs_mount_run return soon. Any thread; idempotent. */
void fs_mount_stop(FsMount *mount);

/* Unmounts (lazily, so that a busy mount point cannot keep us), stops
 * the reader and writer (parked reads cancelled, publishes finished)
 * and frees. Call after fs_mount_run returned, or instead of it. */
void fs_mount_free(FsMount *mount);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsMount, fs_mount_free)

G_END_DECLS
