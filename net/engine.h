/*
 * engine: one member's client runtime, shared by `groupfs serve` and
 * `groupfs mount`. It ties the parts of net/ together for every file the
 * member shares or fetches: the metainfo, the piece store, the swarm
 * (NetTorrent), the tracker's API and announces, incoming connections
 * and the membership of each group.
 *
 * Owns: the registry of the files this member serves, persisted in the
 * data folder as <hex>.torrent files and one registry.json, so that a
 * restart resumes sharing from the stores without fetching or hashing
 * anything again; the stores (seed copies in the data folder, downloads
 * in the cache folder) and their periodic sync; the cache's size limit;
 * the membership cache that answers NetTorrentConfig.is_member.
 * Must not: know about processes, sockets to the user, or FUSE (fs/
 * drives it), print anything (it logs once per event and reports errors
 * to its caller), or block its loop: hashing, store I/O and calls to the
 * tracker's API run in worker threads.
 *
 * Threads: every function runs on the loop thread, the thread-default
 * GMainContext when net_engine_new was called; callbacks come back
 * there too.
 *
 * Files are named "GROUP/PATH" in messages; a (group, path) pair names
 * at most one registered file, and so does an info-hash.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _NetEngine NetEngine;

typedef struct {
	/* The session: the tracker, the member's bearer token for its API
	 * and passkey for /announce, and the PEM files of the identity. */
	const char *tracker_url;
	const char *token;
	const char *passkey;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	/* Downloads go to @cache_dir, seed copies and the registry to
	 * @data_dir; both are created 0700. */
	const char *cache_dir;
	const char *data_dir;
	/* "ADDR:PORT" for peers; port 0 picks a free one. */
	const char *listen;
	/* Bytes of verified pieces the cache may hold; 0: no limit. */
	guint64 cache_size;
} NetEngineConfig;

typedef enum {
	NET_ENGINE_SEEDING, /* published by this member */
	NET_ENGINE_DOWNLOADING,
	NET_ENGINE_COMPLETE, /* downloaded, every piece verified */
} NetEngineState;

/* One registered file, as `status` shows it. */
typedef struct {
	char *group;
	char *path;
	char *info_hash; /* 40 hex digits */
	NetEngineState state;
	guint64 length;
	guint32 pieces;
	guint32 verified;
	double download_rate; /* bytes per second */
	double upload_rate;
	/* Payload bytes received from and sent to peers since the daemon
	 * started: which peers served a download shows in their uploaded. */
	guint64 downloaded;
	guint64 uploaded;
	guint peers;
	gboolean pinned; /* every piece is fetched in the background */
} NetEngineFileStatus;

void net_engine_file_status_free(NetEngineFileStatus *status);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetEngineFileStatus, net_engine_file_status_free)

/* The tracker's rules for a group name and a file path in it (see
 * docs/API.md): checked before anything is sent or registered. */
gboolean net_engine_check_name(const char *group, const char *path,
			       GError **error);

/* Loads the identity, listens for peers and restores the registry (the
 * stores are reopened in worker threads; until then their files show
 * with what the last run verified). Fails, with nothing left behind,
 * on unusable identity files, an address that cannot be bound, or a
 * damaged registry. */
NetEngine *net_engine_new(const NetEngineConfig *config, GError **error);

typedef void (*NetEngineRestoredFunc)(gpointer data);

/* Whether the stores net_engine_new began reopening are not all open
 * yet. If so, and @func is not NULL, @func is called once on the loop
 * when the last one is open (or failed), from when every file's status
 * is live. A later call replaces @func; NULL cancels it. */
gboolean net_engine_watch_restore(NetEngine *engine, NetEngineRestoredFunc func,
				  gpointer data);

/* Frees everything at once, without announcing or syncing: call
 * net_engine_stop_async first. */
void net_engine_free(NetEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetEngine, net_engine_free)

/* The port peers reach us on (the one bound when listen said 0). */
guint16 net_engine_get_port(const NetEngine *engine);
/* Our user name, from our certificate. */
const char *net_engine_get_user(const NetEngine *engine);

/* Stops serving: tells the tracker "stopped" for every file (waiting at
 * most a few seconds for it), syncs every store and refuses new work.
 * Completes once; the engine may then be freed. */
void net_engine_stop_async(NetEngine *engine, GAsyncReadyCallback callback,
			   gpointer data);
void net_engine_stop_finish(NetEngine *engine, GAsyncResult *result);

/* Publishes the file at @file (an absolute path) as @path in @group:
 * hashes it, keeps a seed copy in the data folder, sends the metainfo
 * to the tracker and starts seeding. A new version of a path this
 * member published replaces the old one locally too. */
void net_engine_share_async(NetEngine *engine, const char *file,
			    const char *group, const char *path,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback, gpointer data);
/* Publishes @file like net_engine_share_async, for a caller that wrote
 * it on the data folder's filesystem (in a folder inside it) and will
 * never write it again: it becomes the seed copy itself, hard-linked in
 * rather than copied, and is not hashed again. @piece_hashes, unless
 * NULL, hold 20 bytes per piece of net_metainfo_choose_piece_length()
 * of the file's length, which the caller computed over exactly the
 * bytes the file holds; hashes that do not fit its length are ignored
 * and the file is hashed here. @file keeps its own name too: the caller
 * removes it. Finish with net_engine_share_finish. */
void net_engine_share_adopt_async(NetEngine *engine, const char *file,
				  const char *group, const char *path,
				  GBytes *piece_hashes,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer data);
/* Returns the info-hash (40 hex digits) of what was published. */
char *net_engine_share_finish(NetEngine *engine, GAsyncResult *result,
			      GError **error);

/* Called on the loop while a get runs, at most a few times a second. */
typedef void (*NetEngineProgressFunc)(const NetEngineFileStatus *status,
				      gpointer data);

/* Fetches @group/@path as the tracker lists it (the metainfo must hash
 * to the listed info-hash), from every member who has its pieces, into
 * the cache, then writes it to @dest (an absolute path; an existing
 * folder gets the file's base name inside) by a temporary file renamed
 * into place. From then on the file is seeded as complete. Cancelling
 * stops waiting and writing @dest; the pieces already verified stay in
 * the cache. */
void net_engine_get_async(NetEngine *engine, const char *group,
			  const char *path, const char *dest,
			  NetEngineProgressFunc progress,
			  gpointer progress_data, GCancellable *cancellable,
			  GAsyncReadyCallback callback, gpointer data);
/* Returns the path written. */
char *net_engine_get_finish(NetEngine *engine, GAsyncResult *result,
			    GError **error);

/* Every registered file, sorted by group and path: an array of
 * NetEngineFileStatus with a free function. */
GPtrArray *net_engine_list(NetEngine *engine);

/* Stops serving @group/@path and forgets it locally: the swarm, the
 * announces, the store's files and the registry entry. The tracker's
 * listing stays. Fails with G_IO_ERROR_NOT_FOUND for a file that is
 * not registered. */
void net_engine_unshare_async(NetEngine *engine, const char *group,
			      const char *path, GAsyncReadyCallback callback,
			      gpointer data);
gboolean net_engine_unshare_finish(NetEngine *engine, GAsyncResult *result,
				   GError **error);

/* Follows a rename that the tracker made: registered @group/@from is
 * called @group/@to from now on, in the registry and registry.json; its
 * swarm goes on (the content, so the info-hash, is the same). A file
 * registered as @to is unshared, as the tracker replaced it. Fails with
 * G_IO_ERROR_NOT_FOUND when @from is not registered (nothing to follow),
 * or G_IO_ERROR_INVALID_ARGUMENT for a name the tracker would refuse. */
gboolean net_engine_rename(NetEngine *engine, const char *group,
			   const char *from, const char *to, GError **error);

/* ---- reading in place, for the mount ------------------------------ */

/* A registered file held open for reading. While it is open its store
 * stays open, even if the file is unshared or replaced meanwhile (its
 * files go at the close then), and a stop waits for the close. */
typedef struct _NetEngineFile NetEngineFile;

/* Opens @group/@path as the listing showed it, with @info_hash (40 hex
 * digits): the registered file with that content, or else a new
 * download registered from the tracker's record, not pinned, so that
 * nothing is fetched but what is waited for or wanted. Fails with
 * G_IO_ERROR_NOT_FOUND when the tracker lists no such file or another
 * version of it now. */
void net_engine_open_file_async(NetEngine *engine, const char *group,
				const char *path, const char *info_hash,
				GAsyncReadyCallback callback, gpointer data);
NetEngineFile *net_engine_open_file_finish(NetEngine *engine,
					   GAsyncResult *result,
					   GError **error);
/* Lets the file go; waits still pending are dropped without a call. */
void net_engine_file_close(NetEngineFile *file);

/* The data file (sparse, at full length), open until the close: only
 * its verified ranges may be read, and nothing may write it. Any
 * thread. */
int net_engine_file_get_fd(NetEngineFile *file);
guint64 net_engine_file_get_length(NetEngineFile *file);
/* TRUE when every piece of the range is verified. Any thread. */
gboolean net_engine_file_range_ready(NetEngineFile *file, guint64 offset,
				     guint64 length);

/* Percent of the file's pieces verified here, 0 to 100 (100 only when
 * all are). Any thread. */
guint net_engine_file_get_progress(NetEngineFile *file);

/* @error NULL when the range is verified, G_IO_ERROR_TIMED_OUT at the
 * deadline, G_IO_ERROR_CANCELLED when the swarm of the file goes. */
typedef void (*NetEngineReadyFunc)(const GError *error, gpointer data);
/* Makes the range's pieces critical and calls @func once when they are
 * verified (from an idle if they already are). @deadline_us is
 * g_get_monotonic_time() based, 0 for none. Returns an id, never 0. */
guint net_engine_file_wait_range(NetEngineFile *file, guint64 offset,
				 guint64 length, gint64 deadline_us,
				 NetEngineReadyFunc func, gpointer data);
/* @func of wait @id will not be called after this. */
void net_engine_file_cancel_wait(NetEngineFile *file, guint id);
/* Read-ahead: fetch the range soon; nobody waits for it. */
void net_engine_file_want_range(NetEngineFile *file, guint64 offset,
				guint64 length);
/* Pinned: every piece is fetched in the background, and stays pinned
 * across restarts. Our own published files are complete anyway. */
void net_engine_file_set_pinned(NetEngineFile *file, gboolean pinned);

G_END_DECLS
