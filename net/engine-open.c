/* engine-open: files held open for reading in place, as the mount reads
 * them: no copy is written anywhere, and nothing is fetched but what a
 * reader waits for or wants (or everything, once pinned).
 *
 *   1. loop:   the registered file with the listed content, if any
 *              (waiting for its store while a restart reopens it);
 *   2. worker: otherwise the tracker's record (its info must hash to
 *              the info-hash the listing showed) and a store for it in
 *              the cache;
 *   3. loop:   register it as a download, not pinned, unless the same
 *              content was registered meanwhile.
 *
 * An open file holds one of its EngineFile's io_busy, which keeps the
 * store (and so the data file and its verified set) open until the
 * close, and makes a stop wait for the close.
 */
#include <string.h>

#include "engine-private.h"
#include "net-error.h"
#include "names.h"
#include "torrent.h"

/* How often an open looks again for a store that a restart reopens. */
#define STORE_POLL_MS 20

struct _NetEngineFile {
	EngineFile *file; /* a reference, and one of its io_busy */
	NetStore *store; /* the file's, open until the close */
	guint64 length;
	guint32 piece_length;
	GHashTable *waits; /* id -> FileWait; loop thread only */
	guint next_id;
};

typedef struct {
	NetEngineFile *owner;
	guint id;
	guint torrent_id; /* 0 while answered from an idle */
	guint idle;
	NetEngineReadyFunc func;
	gpointer data;
} FileWait;

typedef struct {
	NetEngine *engine; /* kept alive by engine_work_begin */
	char *group;
	char *path;
	char hex[41];
	NetMetainfo *mi; /* from step 2 until registered */
	NetStore *store;
	guint poll;
} OpenJob;

static void open_job_free(OpenJob *job)
{
	g_assert(job->poll == 0);
	g_free(job->group);
	g_free(job->path);
	g_clear_pointer(&job->mi, net_metainfo_free);
	g_clear_pointer(&job->store, net_store_free);
	engine_work_end(job->engine);
	g_free(job);
}

static NetEngineFile *engine_file_open(EngineFile *file)
{
	NetEngineFile *open = g_new0(NetEngineFile, 1);

	engine_io_begin(file);
	open->file = engine_file_ref(file);
	open->store = file->store;
	open->length = net_store_get_length(file->store);
	open->piece_length = net_store_get_piece_length(file->store);
	open->waits = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	file->last_used = g_get_real_time() / G_USEC_PER_SEC;
	return open;
}

/* Ends the open with @file, or with @error. Takes @task's reference. */
static void open_return(GTask *task, EngineFile *file, GError *error)
{
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, engine_file_open(file),
				      (GDestroyNotify)net_engine_file_close);
	g_object_unref(task);
}

/* ---- 2. the tracker's record and a store ---------------------------- */

static void fetch_in_thread(GTask *task, gpointer source, gpointer data,
			    GCancellable *cancellable)
{
	OpenJob *job = data;
	g_autofree char *hex = NULL;
	GError *error = NULL;

	job->mi = engine_fetch_metainfo(job->engine, job->group, job->path,
					&error);
	if (job->mi == NULL) {
		g_task_return_error(task, error);
		return;
	}
	hex = net_metainfo_dup_info_hash_hex(job->mi);
	if (strcmp(hex, job->hex) != 0) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
					"%s/%s was replaced by a new version; "
					"open it again",
					job->group, job->path);
		return;
	}
	job->store = engine_store_open(job->engine->cache_dir, job->mi, &error);
	if (job->store == NULL ||
	    !engine_registry_write_torrent(job->engine, job->mi, &error))
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static gboolean try_known(GTask *task);

static void fetched(GObject *source, GAsyncResult *result, gpointer data)
{
	GTask *task = data;
	OpenJob *job = g_task_get_task_data(task);
	GError *error = NULL;
	EngineFile *file;

	if (!g_task_propagate_boolean(G_TASK(result), &error) ||
	    !engine_check_running(job->engine, &error)) {
		open_return(task, NULL, error);
		return;
	}
	/* 3. Another open or a get registered it meanwhile: use theirs. */
	if (try_known(task))
		return;
	file = engine_register_download(job->engine, g_steal_pointer(&job->mi),
					g_steal_pointer(&job->store),
					job->group, job->path, FALSE);
	open_return(task, file, NULL);
}

/* ---- 1. a registered file -------------------------------------------- */

static gboolean poll_known(gpointer data)
{
	GTask *task = data;
	OpenJob *job = g_task_get_task_data(task);
	g_autoptr(GTask) fetch = NULL;
	GError *error = NULL;

	job->poll = 0;
	if (!engine_check_running(job->engine, &error)) {
		open_return(task, NULL, error);
		return G_SOURCE_REMOVE;
	}
	if (try_known(task))
		return G_SOURCE_REMOVE;
	fetch = g_task_new(NULL, NULL, fetched, task);
	g_task_set_task_data(fetch, job, NULL);
	g_task_run_in_thread(fetch, fetch_in_thread);
	return G_SOURCE_REMOVE;
}

/* TRUE when @task was answered (or will be, once a restart has opened
 * the known file's store) with a registered file of this content. */
static gboolean try_known(GTask *task)
{
	OpenJob *job = g_task_get_task_data(task);
	EngineFile *known =
		g_hash_table_lookup(job->engine->files_by_hash, job->hex);

	if (known == NULL || known->removing)
		return FALSE;
	if (known->store == NULL || known->seat == NULL) {
		job->poll = g_timeout_add(STORE_POLL_MS, poll_known, task);
		return TRUE;
	}
	open_return(task, known, NULL);
	return TRUE;
}

void net_engine_open_file_async(NetEngine *engine, const char *group,
				const char *path, const char *info_hash,
				GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, NULL, callback, data);
	OpenJob *job = g_new0(OpenJob, 1);
	GError *error = NULL;

	engine_work_begin(engine);
	job->engine = engine;
	job->group = g_strdup(group);
	job->path = g_strdup(path);
	g_task_set_task_data(task, job, (GDestroyNotify)open_job_free);
	if (!engine_check_running(engine, &error) ||
	    !net_engine_check_name(group, path, &error)) {
		open_return(task, NULL, error);
		return;
	}
	if (!net_info_hash_hex_is_valid(info_hash)) {
		open_return(task, NULL,
			    g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					"'%s' is not an info-hash of 40 "
					"lowercase hex digits",
					info_hash));
		return;
	}
	memcpy(job->hex, info_hash, sizeof(job->hex));
	poll_known(task);
}

NetEngineFile *net_engine_open_file_finish(NetEngine *engine,
					   GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- an open file ---------------------------------------------------- */

void net_engine_file_close(NetEngineFile *open)
{
	NetTorrent *torrent = engine_swarm_get_torrent(open->file);
	GHashTableIter iter;
	FileWait *wait;

	g_hash_table_iter_init(&iter, open->waits);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&wait)) {
		if (wait->torrent_id != 0 && torrent != NULL)
			net_torrent_cancel_wait(torrent, wait->torrent_id);
		g_clear_handle_id(&wait->idle, g_source_remove);
	}
	g_hash_table_unref(open->waits);
	engine_io_end(open->file);
	engine_file_unref(open->file);
	g_free(open);
}

int net_engine_file_get_fd(NetEngineFile *open)
{
	return net_store_get_data_fd(open->store);
}

guint64 net_engine_file_get_length(NetEngineFile *open)
{
	return open->length;
}

gboolean net_engine_file_range_ready(NetEngineFile *open, guint64 offset,
				     guint64 length)
{
	guint64 end = MIN(offset + length, open->length);

	if (offset >= end)
		return TRUE;
	for (guint64 piece = offset / open->piece_length;
	     piece <= (end - 1) / open->piece_length; piece++) {
		if (!net_store_has_piece(open->store, (guint32)piece))
			return FALSE;
	}
	return TRUE;
}

guint net_engine_file_get_progress(NetEngineFile *open)
{
	guint32 pieces = net_store_get_piece_count(open->store);
	guint32 verified = net_store_verified_count(open->store);

	return pieces ? (guint)((guint64)verified * 100 / pieces) : 100;
}

/* Answers @wait with @error (NULL: ready) and forgets it. */
static void wait_answer(FileWait *wait, const GError *error)
{
	NetEngineReadyFunc func = wait->func;
	gpointer data = wait->data;

	g_hash_table_remove(wait->owner->waits, GUINT_TO_POINTER(wait->id));
	func(error, data);
}

static void torrent_ready(NetTorrent *torrent, const GError *error,
			  gpointer data)
{
	wait_answer(data, error);
}

static gboolean swarm_gone(gpointer data)
{
	FileWait *wait = data;
	g_autoptr(GError) error =
		g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
			    "%s is no longer served", wait->owner->file->name);

	wait->idle = 0;
	wait_answer(wait, error);
	return G_SOURCE_REMOVE;
}

guint net_engine_file_wait_range(NetEngineFile *open, guint64 offset,
				 guint64 length, gint64 deadline_us,
				 NetEngineReadyFunc func, gpointer data)
{
	NetTorrent *torrent = engine_swarm_get_torrent(open->file);
	FileWait *wait = g_new0(FileWait, 1);

	wait->owner = open;
	wait->id = ++open->next_id ? open->next_id : ++open->next_id;
	wait->func = func;
	wait->data = data;
	g_hash_table_insert(open->waits, GUINT_TO_POINTER(wait->id), wait);
	open->file->last_used = g_get_real_time() / G_USEC_PER_SEC;
	if (torrent == NULL)
		wait->idle = g_idle_add(swarm_gone, wait);
	else
		wait->torrent_id = net_torrent_wait_range(torrent, offset,
							  length, deadline_us,
							  torrent_ready, wait);
	return wait->id;
}

void net_engine_file_cancel_wait(NetEngineFile *open, guint id)
{
	NetTorrent *torrent = engine_swarm_get_torrent(open->file);
	FileWait *wait = g_hash_table_lookup(open->waits, GUINT_TO_POINTER(id));

	if (wait == NULL)
		return;
	if (wait->torrent_id != 0 && torrent != NULL)
		net_torrent_cancel_wait(torrent, wait->torrent_id);
	g_clear_handle_id(&wait->idle, g_source_remove);
	g_hash_table_remove(open->waits, GUINT_TO_POINTER(id));
}

void net_engine_file_want_range(NetEngineFile *open, guint64 offset,
				guint64 length)
{
	NetTorrent *torrent = engine_swarm_get_torrent(open->file);

	if (torrent != NULL)
		net_torrent_want_range(torrent, offset, length);
}

void net_engine_file_set_pinned(NetEngineFile *open, gboolean pinned)
{
	EngineFile *file = open->file;

	if (file->role == ENGINE_ROLE_SEED || file->removing ||
	    file->pinned == pinned)
		return;
	file->pinned = pinned;
	engine_swarm_set_pinned(file->engine->swarm, file, pinned);
	engine_registry_save(file->engine);
}
