/*
 * fs-ops: the FUSE low-level operations of the mount, and the only
 * place that replies to the kernel. It turns requests into calls on the
 * inode table, the reader, the writer and the backend, and the
 * backend's listing changes into cache invalidations for the kernel.
 *
 * Owns: the FsOps state (the inode table, reader and writer), the open
 * file and directory handles, and the thread that applies listing
 * changes. Must not: block a FUSE thread on the network (every backend
 * call it makes from a request is a query or an operation whose
 * callback replies), or call fuse_lowlevel_notify_* from a request.
 *
 * Threads: requests on libfuse's worker threads; replies from those
 * and from backend callbacks; invalidations from the refresh thread.
 */
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "backend.h"

G_BEGIN_DECLS

typedef struct {
	guint read_timeout_s; /* 0: the reader's default */
	guint max_write; /* 0: 1 MiB */
	guint max_background; /* 0: 128 */
} FsOpsConfig;

typedef struct _FsOps FsOps;

/* Reads the backend's groups and listings once, so the mount shows
 * them from the first request. @backend must outlive the FsOps. */
FsOps *fs_ops_new(const FsBackend *backend, const FsOpsConfig *config);
/* After the session stopped: stops listening to the backend, cancels
 * parked reads, waits for publishes, frees. */
void fs_ops_free(FsOps *ops);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsOps, fs_ops_free)

/* The operations table for fuse_session_new, with the FsOps as its
 * userdata. */
const struct fuse_lowlevel_ops *fs_ops_get_table(void);

/* The session, once mounted: from then on listing changes invalidate
 * the kernel's caches. NULL before the session goes. */
void fs_ops_set_session(FsOps *ops, struct fuse_session *session);

G_END_DECLS
