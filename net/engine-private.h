/*
 * engine-private: what the engine's files share (engine.c: the registry
 * and the life cycle; engine-registry.c: persistence; engine-share.c and
 * engine-get.c: the two flows that add files; engine-swarm.c: peers,
 * announces and membership). Nothing outside net/engine*.c includes it.
 */
#pragma once

#include "engine.h"
#include "metainfo.h"
#include "store.h"
#include "tracker-api.h"

G_BEGIN_DECLS

typedef struct _NetTorrent NetTorrent;
typedef struct _EngineSwarm EngineSwarm;
typedef struct _EngineSeat EngineSeat;

typedef enum {
	ENGINE_ROLE_SEED, /* published here: the store is in the data folder */
	ENGINE_ROLE_DOWNLOAD, /* fetched: the store is in the cache folder */
} EngineRole;

/* One registered file. Refcounted so that a worker thread can hold one
 * while the loop forgets it; every field but the refcount belongs to
 * the loop thread. */
typedef struct {
	gint ref_count; /* atomic */
	NetEngine *engine; /* borrowed; outlives every file */
	guint8 info_hash[20];
	char hex[41];
	char *group;
	char *path;
	char *name; /* "group/path", the key of files_by_name */
	EngineRole role;
	gboolean pinned;
	gint64 last_used; /* wall clock seconds, for cache eviction */

	/* Always valid, except that the store is NULL while it is being
	 * opened. Owned by the file until it has a seat in the swarm, then
	 * by its NetTorrent (which frees them with itself). */
	NetMetainfo *mi;
	NetStore *store;
	EngineSeat *seat; /* the file's place in the swarm, or NULL */

	/* The store's last failure to write or sync (a full disk), until
	 * a get asks for the file again; a get waiting for it fails. */
	GError *disk_error;

	/* A seed copy's data file as the last check saw it (ctime in ns;
	 * 0 before the first), and when to look again. */
	gint64 data_ctime;
	gint64 next_check;

	/* Workers that use the store; it is freed only when none is. */
	guint io_busy;
	gboolean syncing;
	gboolean checking;
	gboolean removing; /* unregistered; freed when io_busy drops to 0 */
	gboolean keep_files; /* ... but its files stay on disk */
	GTask *remove_task; /* the unshare waiting for that, or NULL */
} EngineFile;

struct _NetEngine {
	GMainContext *context; /* the loop thread's */
	char *tracker_url;
	char *passkey;
	char *cache_dir;
	char *data_dir;
	guint64 cache_size;

	NetTrackerApi *api; /* thread-safe for sending (libsoup >= 3.2) */
	EngineSwarm *swarm;

	GHashTable *files_by_hash; /* hex -> EngineFile (owns a ref) */
	GHashTable *files_by_name; /* name -> EngineFile (borrowed) */

	gboolean save_running; /* a registry write is in flight */
	gboolean save_again; /* ... and the registry changed since */
	guint sync_source;
	gboolean stopping;
	GTask *stop_task;
	guint stop_pending; /* syncs and writes the stop waits for */
	guint work; /* shares and gets in flight */
};

/* engine.c */
EngineFile *engine_file_new(NetEngine *engine, const guint8 *info_hash,
			    const char *group, const char *path,
			    EngineRole role);
EngineFile *engine_file_ref(EngineFile *file);
void engine_file_unref(EngineFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EngineFile, engine_file_unref)
const char *engine_file_dir(const EngineFile *file);
EngineFile *engine_lookup_name(NetEngine *engine, const char *group,
			       const char *path);
EngineFile *engine_lookup_hash(NetEngine *engine, const guint8 *info_hash);
/* Takes a reference. */
void engine_register(NetEngine *engine, EngineFile *file);
/* The store of @file failed to write or sync: logged once, and any
 * get of the file fails with @error. */
void engine_file_disk_error(EngineFile *file, const GError *error);
/* The store is open: start serving it. Takes ownership of @store. */
void engine_file_attach(EngineFile *file, NetStore *store);
void engine_unregister(NetEngine *engine, EngineFile *file);
void engine_io_begin(EngineFile *file);
void engine_io_end(EngineFile *file);
/* Work in flight that uses the engine (a share, a get): a stop waits
 * for it, so the engine outlives it. */
void engine_work_begin(NetEngine *engine);
void engine_work_end(NetEngine *engine);
NetEngineFileStatus *engine_file_status(NetEngine *engine, EngineFile *file);
/* FALSE with an error when the engine is shutting down. */
gboolean engine_check_running(NetEngine *engine, GError **error);
/* One of the things a stop waits for is done. */
void engine_stop_step_done(NetEngine *engine);
/* 20 bytes per piece, for net_store_open. */
GBytes *engine_piece_hashes(const NetMetainfo *mi);
/* Both folders exist or are made 0700. */
gboolean engine_ensure_dir(const char *dir, GError **error);

/* engine-get.c */
/* Blocking: @group/@path's metainfo as the tracker lists it, checked
 * against the info-hash it lists. */
NetMetainfo *engine_fetch_metainfo(NetEngine *engine, const char *group,
				   const char *path, GError **error);
/* Registers a download of @mi whose @store is open (taking both),
 * replacing an older version registered at the same name. Returns the
 * file, borrowed: the registry holds it. */
EngineFile *engine_register_download(NetEngine *engine, NetMetainfo *mi,
				     NetStore *store, const char *group,
				     const char *path, gboolean pinned);

/* engine-registry.c */
/* Loads registry.json and the .torrent files; registers each file and
 * reopens its store in a worker. */
gboolean engine_registry_restore(NetEngine *engine, GError **error);
/* Writes the registry soon, in a worker; the last state always wins. */
void engine_registry_save(NetEngine *engine);
char *engine_registry_path(NetEngine *engine);
/* Blocking: @text to @path, durably (temporary file, fsync, rename). */
gboolean engine_registry_write(const char *path, const char *text,
			       GError **error);
/* The registry as registry.json holds it, for a caller that writes it. */
char *engine_registry_dump(NetEngine *engine);
/* data/<hex>.torrent */
char *engine_registry_torrent_path(const NetEngine *engine, const char *hex);
/* Blocking: writes data/<hex>.torrent. */
gboolean engine_registry_write_torrent(NetEngine *engine, const NetMetainfo *mi,
				       GError **error);
/* Deletes @file's store and .torrent in a worker that needs nothing of
 * the engine (it may be gone meanwhile), then completes @task. */
void engine_registry_forget(NetEngine *engine, const EngineFile *file,
			    GTask *task);
/* Blocking: opens the store of @mi in @dir; for a worker. */
NetStore *engine_store_open(const char *dir, const NetMetainfo *mi,
			    GError **error);

/* engine-swarm.c: the peers of every file. */
EngineSwarm *engine_swarm_new(NetEngine *engine, const NetEngineConfig *config,
			      GError **error);
void engine_swarm_free(EngineSwarm *swarm);
guint16 engine_swarm_get_port(const EngineSwarm *swarm);
const char *engine_swarm_get_user(const EngineSwarm *swarm);
/* Starts announcing and serving @file, whose store is open. */
void engine_swarm_add(EngineSwarm *swarm, EngineFile *file);
/* Stops announcing ("stopped") and closes the file's connections. */
void engine_swarm_remove(EngineSwarm *swarm, EngineFile *file);
void engine_swarm_set_pinned(EngineSwarm *swarm, EngineFile *file,
			     gboolean pinned);
/* The file's torrent, or NULL while it has no seat. */
NetTorrent *engine_swarm_get_torrent(EngineFile *file);
/* Calls @func (a NetTorrentReadyFunc) once every piece of @file is
 * verified, or with an error when its torrent goes. 0 (and no call)
 * while the file has no seat. */
typedef void (*EngineReadyFunc)(NetTorrent *torrent, const GError *error,
				gpointer data);
guint engine_swarm_wait_all(EngineFile *file, EngineReadyFunc func,
			    gpointer data);
void engine_swarm_cancel_wait(EngineFile *file, guint id);
/* Fills the swarm's part of @status (rates, peers). */
void engine_swarm_fill_status(EngineSwarm *swarm, EngineFile *file,
			      NetEngineFileStatus *status);
/* Announces "stopped" for every file, waiting at most a few seconds;
 * then calls @done on the loop. */
void engine_swarm_stop(EngineSwarm *swarm, GSourceFunc done, gpointer data);

G_END_DECLS
