/*
 * engine-backend: the FsBackend of `groupfs mount`, over the NetEngine
 * that `groupfs serve` runs too.
 *
 * The engine is the loop thread's alone, and FUSE requests come on
 * libfuse's threads, which must never wait for the loop. So:
 *
 *   - Queries (list_*, get_info, get_space, open, create, get_fd,
 *     range_ready) are answered from a snapshot under one short lock:
 *     the groups this member belongs to and each group's files (path,
 *     size, time, owner, info-hash), fetched from the tracker by a
 *     lister thread every few seconds, at once when a folder is opened
 *     and its listing is older than that, and patched right after our
 *     own publish, unlink, rename or mkdir; plus what the engine last
 *     said about the files it holds (progress, peers, pin), refreshed
 *     on the loop when a reader asks and it is a second old.
 *   - Operations (wait_range, publish, unlink, rename, create_group,
 *     set_pinned) are marshalled to the loop with g_main_context_invoke;
 *     tracker calls run in worker threads from there; every done runs
 *     on the loop.
 *
 * Reading: open answers at once with a handle whose fd is a placeholder
 * (/dev/null) and has the loop open the file in the engine (a download
 * that fetches only what is read, unless it is ours or known); once
 * open, the placeholder's descriptor number is made the data file's
 * with dup3, so that reads parked meanwhile answer from the right file.
 *
 * Writing: create gives a staging file in the data folder; publish runs
 * the engine's share flow on it, which hashes it, keeps a seed copy and
 * publishes the metainfo.
 *
 * Owns: the snapshot, the lister thread, its own tracker API client,
 * the staging files, and the handles. Must not: touch the engine off
 * the loop thread, or make a FUSE thread wait for the loop or the
 * network.
 */
#pragma once

#include "backend.h"
#include "engine.h"

G_BEGIN_DECLS

typedef struct {
	NetEngine *engine; /* borrowed: must outlive the backend */
	/* The session, for the backend's own calls to the tracker. */
	const char *tracker_url;
	const char *ca_file;
	const char *token;
	/* Staging files go in a folder of their own under it. */
	const char *data_dir;
	guint64 cache_size; /* for statfs; 0: no limit */
	guint refresh_s; /* how old a listing may get; 0: 5 seconds */
} FsEngineBackendConfig;

typedef struct _FsEngineBackend FsEngineBackend;

/* On the engine's loop thread, before it runs: fetches the listings
 * once (blocking), so that the mount shows them from the start, and
 * starts the lister thread. Fails when the tracker cannot be asked. */
FsEngineBackend *fs_engine_backend_new(const FsEngineBackendConfig *config,
				       GError **error);
/* On the loop thread, once nothing uses the FsBackend any more (the
 * mount is freed): waits for operations in flight, then frees. */
void fs_engine_backend_free(FsEngineBackend *backend);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsEngineBackend, fs_engine_backend_free)

const FsBackend *fs_engine_backend_get(FsEngineBackend *backend);

G_END_DECLS
