/* engine-get: fetching a file the tracker lists, then writing a copy.
 *
 *   1. worker: ask the tracker for the file's record and info
 *              dictionary; the info must hash to the listed info-hash;
 *   2. loop:   reuse the registered file with that content, or open a
 *              store for it in the cache (worker) and register it,
 *              pinned, so that its torrent fetches every piece;
 *   3. loop:   wait for every piece (net_torrent_wait_range over the
 *              whole file), reporting progress on a timer;
 *   4. worker: copy the verified data file to a temporary file next to
 *              the destination (a reflink, or copy_file_range: the
 *              kernel moves the bytes) and rename it into place.
 *
 * The job is a GTask's data; every step checks whether the engine is
 * stopping, the caller cancelled, or the file was unshared meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "engine-private.h"
#include "net-error.h"
#include "torrent.h"

#define PROGRESS_INTERVAL_MS 250

typedef struct {
	NetEngine *engine; /* kept alive by engine_work_begin */
	char *group;
	char *path;
	char *dest;
	NetEngineProgressFunc progress;
	gpointer progress_data;
	NetMetainfo *mi; /* from step 1 until registered */
	NetStore *store; /* from step 2's worker until registered */
	EngineFile *file; /* a reference, once registered */
	guint wait_id; /* waiting for every piece, or 0 */
	guint tick;
	gboolean copying;
} GetJob;

static void get_job_free(GetJob *job)
{
	g_assert(job->tick == 0 && job->wait_id == 0);
	g_free(job->group);
	g_free(job->path);
	g_free(job->dest);
	g_clear_pointer(&job->mi, net_metainfo_free);
	g_clear_pointer(&job->store, net_store_free);
	g_clear_pointer(&job->file, engine_file_unref);
	engine_work_end(job->engine);
	g_free(job);
}

/* Ends the get: stops the timer and the wait. Takes @task's reference. */
static void get_return(GTask *task, char *dest, GError *error)
{
	GetJob *job = g_task_get_task_data(task);

	g_clear_handle_id(&job->tick, g_source_remove);
	if (job->wait_id != 0)
		engine_swarm_cancel_wait(job->file, job->wait_id);
	job->wait_id = 0;
	if (error != NULL && job->file != NULL && !job->file->removing &&
	    job->file->pinned) {
		/* Nobody wants the rest any more; what is verified stays. */
		job->file->pinned = FALSE;
		engine_swarm_set_pinned(job->engine->swarm, job->file, FALSE);
		engine_registry_save(job->engine);
	}
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, dest, g_free);
	g_object_unref(task);
}

/* ---- 1. the tracker's record --------------------------------------- */

static NetMetainfo *metainfo_from_record(JsonObject *record, GError **error)
{
	const char *listed =
		net_tracker_api_require_string(record, "info_hash", error);
	const char *b64 =
		listed ? net_tracker_api_require_string(record, "info", error)
		       : NULL;
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GBytes) info = NULL;
	g_autofree char *hex = NULL;
	gsize len = 0;
	guint8 *raw;

	if (b64 == NULL)
		return NULL;
	raw = g_base64_decode(b64, &len);
	info = g_bytes_new_take(raw, len);
	mi = net_metainfo_new_from_info(info, error);
	if (mi == NULL)
		return NULL;
	hex = net_metainfo_dup_info_hash_hex(mi);
	if (g_ascii_strcasecmp(hex, listed) != 0) {
		g_set_error(error, NET_ERROR, NET_ERROR_METAINFO,
			    "the tracker's metainfo does not hash to the "
			    "info-hash it lists; refusing it");
		return NULL;
	}
	return g_steal_pointer(&mi);
}

/* Blocking: a folder @dest names, or the folder that @dest goes in,
 * must exist before anything is fetched for it. */
static gboolean resolve_dest(GetJob *job, GError **error)
{
	g_autofree char *dir = NULL;

	if (g_file_test(job->dest, G_FILE_TEST_IS_DIR)) {
		g_autofree char *base = g_path_get_basename(job->path);
		char *inside = g_build_filename(job->dest, base, NULL);

		g_free(job->dest);
		job->dest = inside;
		return TRUE;
	}
	dir = g_path_get_dirname(job->dest);
	if (g_file_test(dir, G_FILE_TEST_IS_DIR))
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "the folder %s does not exist", dir);
	return FALSE;
}

NetMetainfo *engine_fetch_metainfo(NetEngine *engine, const char *group,
				   const char *path, GError **error)
{
	g_autofree char *base =
		net_tracker_api_path("groups", group, "files", "info", NULL);
	g_autofree char *query = g_uri_escape_string(path, NULL, FALSE);
	g_autofree char *api_path = g_strconcat(base, "?path=", query, NULL);
	g_autoptr(JsonObject) record =
		net_tracker_api_call(engine->api, "GET", api_path, NULL, error);

	return record != NULL ? metainfo_from_record(record, error) : NULL;
}

static void record_in_thread(GTask *task, gpointer source, gpointer data,
			     GCancellable *cancellable)
{
	GetJob *job = data;
	GError *error = NULL;

	if (!resolve_dest(job, &error)) {
		g_task_return_error(task, error);
		return;
	}
	job->mi = engine_fetch_metainfo(job->engine, job->group, job->path,
					&error);
	if (job->mi == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

/* ---- 4. the copy --------------------------------------------------- */

static gboolean fail_errno(GError **error, const char *what, const char *path)
{
	int err = errno;

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
		    "cannot %s %s: %s", what, path, g_strerror(err));
	return FALSE;
}

/* Blocking: the complete @store to @dest, atomically: a temporary file
 * renamed into place, so @dest appears whole or not at all. No fsync,
 * as cp does not: the cache keeps the durable, verified copy, and the
 * kernel writes this one back in its own time. */
static gboolean write_dest(NetStore *store, const char *dest, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(dest);
	g_autofree char *base = g_path_get_basename(dest);
	g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
	gboolean ok;

	if (fd < 0)
		return fail_errno(error, "create a file in", dir);
	ok = net_store_copy_to(store, fd, error);
	if (!ok)
		g_prefix_error(error, "cannot write %s: ", dest);
	if (close(fd) != 0 && ok)
		ok = fail_errno(error, "write", tmp);
	if (ok && rename(tmp, dest) != 0)
		ok = fail_errno(error, "write", dest);
	if (!ok)
		g_unlink(tmp);
	return ok;
}

static void copy_in_thread(GTask *task, gpointer source, gpointer data,
			   GCancellable *cancellable)
{
	GetJob *job = data;
	GError *error = NULL;

	if (!write_dest(job->file->store, job->dest, &error))
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static void copied(GObject *source, GAsyncResult *result, gpointer data)
{
	GTask *task = data;
	GetJob *job = g_task_get_task_data(task);
	GError *error = NULL;

	engine_io_end(job->file);
	if (!g_task_propagate_boolean(G_TASK(result), &error)) {
		get_return(task, NULL, error);
		return;
	}
	g_info("%s: written to %s", job->file->name, job->dest);
	job->file->pinned = FALSE;
	engine_registry_save(job->engine);
	get_return(task, g_strdup(job->dest), NULL);
}

static void start_copy(GTask *task)
{
	GetJob *job = g_task_get_task_data(task);
	g_autoptr(GTask) copy = g_task_new(NULL, NULL, copied, task);

	g_clear_handle_id(&job->tick, g_source_remove);
	job->copying = TRUE;
	job->file->last_used = g_get_real_time() / G_USEC_PER_SEC;
	engine_io_begin(job->file);
	g_task_set_task_data(copy, job, NULL);
	g_task_run_in_thread(copy, copy_in_thread);
}

/* ---- 3. the wait --------------------------------------------------- */

static void report_progress(GetJob *job)
{
	g_autoptr(NetEngineFileStatus) status = NULL;

	if (job->progress == NULL)
		return;
	status = engine_file_status(job->engine, job->file);
	job->progress(status, job->progress_data);
}

static void all_verified(NetTorrent *torrent, const GError *error,
			 gpointer data)
{
	GTask *task = data;
	GetJob *job = g_task_get_task_data(task);

	job->wait_id = 0;
	if (error != NULL) {
		get_return(task, NULL, g_error_copy(error));
		return;
	}
	report_progress(job);
	start_copy(task);
}

/* Why the get cannot go on, or NULL. */
static GError *get_interrupted(GTask *task)
{
	GetJob *job = g_task_get_task_data(task);
	GError *error = NULL;

	if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task),
						 &error) ||
	    !engine_check_running(job->engine, &error))
		return error;
	if (job->file != NULL && job->file->removing)
		return g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
				   "%s was unshared during the download",
				   job->file->name);
	if (job->file != NULL && job->file->disk_error != NULL) {
		error = g_error_copy(job->file->disk_error);
		g_prefix_error(&error, "%s: ", job->file->name);
	}
	return error;
}

static gboolean progress_tick(gpointer data)
{
	GTask *task = data;
	GetJob *job = g_task_get_task_data(task);
	GError *error = get_interrupted(task);

	if (error != NULL) {
		job->tick = 0;
		get_return(task, NULL, error);
		return G_SOURCE_REMOVE;
	}
	/* A file restored at start may still be opening its store. */
	if (job->wait_id == 0)
		job->wait_id =
			engine_swarm_wait_all(job->file, all_verified, task);
	report_progress(job);
	return G_SOURCE_CONTINUE;
}

static void wait_complete(GTask *task)
{
	GetJob *job = g_task_get_task_data(task);

	/* Asked again: maybe there is room now. */
	g_clear_error(&job->file->disk_error);
	job->tick = g_timeout_add(PROGRESS_INTERVAL_MS, progress_tick, task);
	progress_tick(task);
}

/* ---- 2. registering ------------------------------------------------ */

EngineFile *engine_register_download(NetEngine *engine, NetMetainfo *mi,
				     NetStore *store, const char *group,
				     const char *path, gboolean pinned)
{
	EngineFile *old = engine_lookup_name(engine, group, path);
	g_autoptr(EngineFile) file = NULL;

	/* The tracker now lists another version at this path. */
	if (old != NULL)
		engine_unregister(engine, old);
	file = engine_file_new(engine, net_metainfo_get_info_hash(mi), group,
			       path, ENGINE_ROLE_DOWNLOAD);
	file->mi = mi;
	file->pinned = pinned;
	engine_register(engine, file);
	engine_file_attach(file, store);
	g_info("fetching %s (%s)", file->name, file->hex);
	return file;
}

static void register_download(GetJob *job)
{
	job->file = engine_file_ref(engine_register_download(
		job->engine, g_steal_pointer(&job->mi),
		g_steal_pointer(&job->store), job->group, job->path, TRUE));
}

static void open_in_thread(GTask *task, gpointer source, gpointer data,
			   GCancellable *cancellable)
{
	GetJob *job = data;
	GError *error = NULL;

	job->store = engine_store_open(job->engine->cache_dir, job->mi, &error);
	if (job->store == NULL ||
	    !engine_registry_write_torrent(job->engine, job->mi, &error))
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

/* Another get or the registry may have registered the content while
 * the store was opening; then that file serves this get too. */
static gboolean adopt_known(GetJob *job)
{
	EngineFile *known = engine_lookup_hash(
		job->engine, net_metainfo_get_info_hash(job->mi));

	if (known == NULL)
		return FALSE;
	job->file = engine_file_ref(known);
	if (known->role == ENGINE_ROLE_DOWNLOAD && !known->pinned &&
	    (known->store == NULL || !net_store_is_complete(known->store))) {
		known->pinned = TRUE;
		engine_swarm_set_pinned(job->engine->swarm, known, TRUE);
		engine_registry_save(job->engine);
	}
	return TRUE;
}

static void opened(GObject *source, GAsyncResult *result, gpointer data)
{
	GTask *task = data;
	GetJob *job = g_task_get_task_data(task);
	GError *error = NULL;

	if (!g_task_propagate_boolean(G_TASK(result), &error) ||
	    !engine_check_running(job->engine, &error)) {
		get_return(task, NULL, error);
		return;
	}
	if (adopt_known(job))
		g_clear_pointer(&job->store, net_store_free);
	else
		register_download(job);
	wait_complete(task);
}

static void recorded(GObject *source, GAsyncResult *result, gpointer data)
{
	GTask *task = data;
	GetJob *job = g_task_get_task_data(task);
	g_autoptr(GTask) open = NULL;
	GError *error = NULL;

	if (!g_task_propagate_boolean(G_TASK(result), &error) ||
	    (error = get_interrupted(task)) != NULL) {
		get_return(task, NULL, error);
		return;
	}
	if (adopt_known(job)) {
		wait_complete(task);
		return;
	}
	open = g_task_new(NULL, NULL, opened, task);
	g_task_set_task_data(open, job, NULL);
	g_task_run_in_thread(open, open_in_thread);
}

void net_engine_get_async(NetEngine *engine, const char *group,
			  const char *path, const char *dest,
			  NetEngineProgressFunc progress,
			  gpointer progress_data, GCancellable *cancellable,
			  GAsyncReadyCallback callback, gpointer data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, data);
	g_autoptr(GTask) record = NULL;
	GetJob *job = g_new0(GetJob, 1);
	GError *error = NULL;

	engine_work_begin(engine);
	job->engine = engine;
	job->group = g_strdup(group);
	job->path = g_strdup(path);
	job->dest = g_strdup(dest);
	job->progress = progress;
	job->progress_data = progress_data;
	g_task_set_task_data(task, job, (GDestroyNotify)get_job_free);
	if (!engine_check_running(engine, &error) ||
	    !net_engine_check_name(group, path, &error)) {
		get_return(task, NULL, error);
		return;
	}
	if (!g_path_is_absolute(dest)) {
		get_return(task, NULL,
			   g_error_new(G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				       "'%s' is not an absolute path", dest));
		return;
	}
	record = g_task_new(NULL, NULL, recorded, task);
	g_task_set_task_data(record, job, NULL);
	g_task_run_in_thread(record, record_in_thread);
}

char *net_engine_get_finish(NetEngine *engine, GAsyncResult *result,
			    GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}
