/* engine: the registry of files and the engine's life cycle; see
 * engine.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "engine-private.h"
#include "names.h"
#include "net-error.h"

/* How often verified pieces are made durable (net_store_sync). */
#define SYNC_INTERVAL_S 1
/* How often a seed copy is looked at for changes made by others. */
#define SEED_CHECK_INTERVAL_S 2

void net_engine_file_status_free(NetEngineFileStatus *status)
{
	if (status == NULL)
		return;
	g_free(status->group);
	g_free(status->path);
	g_free(status->info_hash);
	g_free(status);
}

/* ---- names -------------------------------------------------------- */

gboolean net_engine_check_name(const char *group, const char *path,
			       GError **error)
{
	if (!net_name_is_valid(group)) {
		g_set_error(
			error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"'%s' is not a group name: 1 to %u letters, digits, "
			"'.', '_' or '-', not starting with '.' or '-'",
			group, NET_NAME_MAX);
		return FALSE;
	}
	if (!net_path_is_valid(path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a file path in a group: relative, "
			    "'/'-separated, at most %u bytes, with no empty, "
			    "'.' or '..' component and no control characters",
			    path, NET_PATH_MAX);
		return FALSE;
	}
	return TRUE;
}

/* ---- files --------------------------------------------------------- */

EngineFile *engine_file_new(NetEngine *engine, const guint8 *info_hash,
			    const char *group, const char *path,
			    EngineRole role)
{
	EngineFile *file = g_new0(EngineFile, 1);

	file->ref_count = 1;
	file->engine = engine;
	memcpy(file->info_hash, info_hash, sizeof(file->info_hash));
	for (int i = 0; i < 20; i++)
		g_snprintf(file->hex + 2 * i, 3, "%02x", info_hash[i]);
	file->group = g_strdup(group);
	file->path = g_strdup(path);
	file->name = g_strconcat(group, "/", path, NULL);
	file->role = role;
	file->last_used = g_get_real_time() / G_USEC_PER_SEC;
	return file;
}

EngineFile *engine_file_ref(EngineFile *file)
{
	g_atomic_int_inc(&file->ref_count);
	return file;
}

void engine_file_unref(EngineFile *file)
{
	if (file == NULL || !g_atomic_int_dec_and_test(&file->ref_count))
		return;
	/* A seated file's metainfo and store went with its torrent. */
	g_assert(file->seat == NULL);
	g_clear_pointer(&file->store, net_store_free);
	g_clear_pointer(&file->mi, net_metainfo_free);
	g_clear_error(&file->disk_error);
	g_free(file->group);
	g_free(file->path);
	g_free(file->name);
	g_free(file);
}

const char *engine_file_dir(const EngineFile *file)
{
	return file->role == ENGINE_ROLE_SEED ? file->engine->data_dir
					      : file->engine->cache_dir;
}

EngineFile *engine_lookup_name(NetEngine *engine, const char *group,
			       const char *path)
{
	g_autofree char *name = g_strconcat(group, "/", path, NULL);

	return g_hash_table_lookup(engine->files_by_name, name);
}

EngineFile *engine_lookup_hash(NetEngine *engine, const guint8 *info_hash)
{
	char hex[41];

	for (int i = 0; i < 20; i++)
		g_snprintf(hex + 2 * i, 3, "%02x", info_hash[i]);
	return g_hash_table_lookup(engine->files_by_hash, hex);
}

void engine_register(NetEngine *engine, EngineFile *file)
{
	g_assert(engine_lookup_hash(engine, file->info_hash) == NULL);
	g_assert(g_hash_table_lookup(engine->files_by_name, file->name) ==
		 NULL);
	g_hash_table_insert(engine->files_by_hash, file->hex,
			    engine_file_ref(file));
	g_hash_table_insert(engine->files_by_name, file->name, file);
	engine_registry_save(engine);
}

/* The ctime of a store's data file in nanoseconds; 0 if it cannot be
 * known. An fstat of an open file reads no disk: the loop may call it. */
static gint64 data_ctime(NetStore *store)
{
	struct stat st;

	if (fstat(net_store_get_data_fd(store), &st) != 0)
		return 0;
	return st.st_ctim.tv_sec * G_GINT64_CONSTANT(1000000000) +
	       st.st_ctim.tv_nsec;
}

void engine_file_attach(EngineFile *file, NetStore *store)
{
	g_assert(file->store == NULL);
	file->store = store;
	if (file->role == ENGINE_ROLE_SEED)
		file->data_ctime = data_ctime(store);
	if (!file->removing && !file->engine->stopping)
		engine_swarm_add(file->engine->swarm, file);
}

/* Nobody uses the store of an unregistered file any more: close it and
 * delete its files (unless they are to be kept). */
static void file_retire(EngineFile *file)
{
	g_autoptr(GTask) task = g_steal_pointer(&file->remove_task);

	if (file->seat != NULL)
		engine_swarm_remove(file->engine->swarm, file);
	g_clear_pointer(&file->store, net_store_free);
	if (file->keep_files) {
		if (task != NULL)
			g_task_return_boolean(task, TRUE);
		return;
	}
	if (task == NULL)
		task = g_task_new(NULL, NULL, NULL, NULL);
	engine_registry_forget(file->engine, file, task);
}

void engine_unregister(NetEngine *engine, EngineFile *file)
{
	g_autoptr(EngineFile) held = engine_file_ref(file);

	file->removing = TRUE;
	g_hash_table_remove(engine->files_by_name, file->name);
	g_hash_table_remove(engine->files_by_hash, file->hex);
	engine_registry_save(engine);
	if (file->io_busy == 0)
		file_retire(file);
}

void engine_io_begin(EngineFile *file)
{
	file->io_busy++;
	file->engine->stop_pending += file->engine->stopping ? 1 : 0;
}

void engine_io_end(EngineFile *file)
{
	NetEngine *engine = file->engine;

	g_assert(file->io_busy > 0);
	file->io_busy--;
	if (file->removing && file->io_busy == 0)
		file_retire(file);
	if (engine->stopping)
		engine_stop_step_done(engine);
}

void engine_work_begin(NetEngine *engine)
{
	engine->work++;
	engine->stop_pending += engine->stopping ? 1 : 0;
}

void engine_work_end(NetEngine *engine)
{
	g_assert(engine->work > 0);
	engine->work--;
	if (engine->stopping)
		engine_stop_step_done(engine);
}

gboolean engine_check_running(NetEngine *engine, GError **error)
{
	if (!engine->stopping)
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
		    "the daemon is shutting down");
	return FALSE;
}

GBytes *engine_piece_hashes(const NetMetainfo *mi)
{
	guint32 count = net_metainfo_get_piece_count(mi);
	guint8 *hashes = g_malloc((gsize)count * 20);

	for (guint32 i = 0; i < count; i++)
		memcpy(hashes + (gsize)i * 20,
		       net_metainfo_get_piece_hash(mi, i), 20);
	return g_bytes_new_take(hashes, (gsize)count * 20);
}

gboolean engine_ensure_dir(const char *dir, GError **error)
{
	if (g_mkdir_with_parents(dir, 0700) == 0)
		return TRUE;
	int err = errno;

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
		    "cannot create the folder %s: %s", dir, g_strerror(err));
	return FALSE;
}

/* ---- periodic sync ------------------------------------------------- */

void engine_file_disk_error(EngineFile *file, const GError *error)
{
	/* Syncs and fetches retry every few seconds: one line per streak. */
	if (file->disk_error != NULL)
		return;
	g_message("%s: %s", file->name, error->message);
	file->disk_error = g_error_copy(error);
}

static void sync_in_thread(GTask *task, gpointer source, gpointer data,
			   GCancellable *cancellable)
{
	EngineFile *file = data;
	GError *error = NULL;

	if (!net_store_sync(file->store, &error))
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static void sync_done(GObject *source, GAsyncResult *result, gpointer data)
{
	EngineFile *file = g_task_get_task_data(G_TASK(result));
	g_autoptr(GError) error = NULL;

	if (!g_task_propagate_boolean(G_TASK(result), &error))
		engine_file_disk_error(file, error);
	file->syncing = FALSE;
	engine_io_end(file);
}

static void file_sync(EngineFile *file)
{
	g_autoptr(GTask) task = NULL;

	if (file->store == NULL || file->syncing || file->removing ||
	    !net_store_needs_sync(file->store))
		return;
	file->syncing = TRUE;
	engine_io_begin(file);
	task = g_task_new(NULL, NULL, sync_done, NULL);
	g_task_set_task_data(task, engine_file_ref(file),
			     (GDestroyNotify)engine_file_unref);
	g_task_run_in_thread(task, sync_in_thread);
}

/* ---- seed copies changed on disk ----------------------------------- */

/* Nothing of ours writes a seed copy after the share, so a new ctime on
 * its data file means that somebody else did (an mtime can be put back,
 * a ctime cannot). Then every piece is hashed again and those that no
 * longer match stop being verified: net_store_read refuses them, so
 * they are not served, and status counts them missing. The ctime to
 * compare with is noted when the store is attached, right after it was
 * hashed or reopened; changes made while the daemon was down are the
 * store's business (see "Trust on reopen" in store.h). */

typedef struct {
	EngineFile *file; /* a reference */
	gint64 seen; /* in: the ctime the last check saw, or 0 */
	gint64 ctime; /* out: the ctime now */
	guint32 dropped; /* out: pieces that no longer match */
	GError *error;
} SeedCheck;

static void seed_check_free(SeedCheck *job)
{
	engine_file_unref(job->file);
	g_clear_error(&job->error);
	g_free(job);
}

static void seed_check_in_thread(GTask *task, gpointer source, gpointer data,
				 GCancellable *cancellable)
{
	SeedCheck *job = data;
	NetStore *store = job->file->store;
	guint32 before = net_store_verified_count(store);

	job->ctime = data_ctime(store);
	if (job->seen != 0 && job->ctime != job->seen &&
	    net_store_verify_all(store, &job->error))
		job->dropped = before - net_store_verified_count(store);
	g_task_return_boolean(task, TRUE);
}

static void seed_checked(GObject *source, GAsyncResult *result, gpointer data)
{
	SeedCheck *job = g_task_get_task_data(G_TASK(result));
	EngineFile *file = job->file;

	file->checking = FALSE;
	file->data_ctime = job->ctime;
	if (job->error != NULL)
		g_message("%s: %s", file->name, job->error->message);
	else if (job->dropped > 0)
		g_message("%s: its seed copy was changed on disk; %u pieces "
			  "no longer match and are not served; share the file "
			  "again to publish the new version",
			  file->name, job->dropped);
	engine_io_end(file);
}

static void seed_check(EngineFile *file)
{
	gint64 now = g_get_monotonic_time();
	g_autoptr(GTask) task = NULL;
	SeedCheck *job;

	if (file->role != ENGINE_ROLE_SEED || file->store == NULL ||
	    file->checking || file->removing || now < file->next_check)
		return;
	file->next_check = now + SEED_CHECK_INTERVAL_S * G_USEC_PER_SEC;
	file->checking = TRUE;
	engine_io_begin(file);
	job = g_new0(SeedCheck, 1);
	job->file = engine_file_ref(file);
	job->seen = file->data_ctime;
	task = g_task_new(NULL, NULL, seed_checked, NULL);
	g_task_set_task_data(task, job, (GDestroyNotify)seed_check_free);
	g_task_run_in_thread(task, seed_check_in_thread);
}

static gboolean sync_tick(gpointer data)
{
	NetEngine *engine = data;
	GHashTableIter iter;
	EngineFile *file;

	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file)) {
		file_sync(file);
		seed_check(file);
	}
	return G_SOURCE_CONTINUE;
}

/* ---- life cycle ---------------------------------------------------- */

/* Every TLS connection that GIO makes here goes to the tracker (peers
 * use OpenSSL), so its CA is the only one the daemon needs. As GIO's
 * default it also spares each new connection a parse of the system CA
 * bundle (20 ms, on the loop for announces) before libsoup hands it the
 * session's own database. */
static void trust_tracker_ca_by_default(const char *ca_file)
{
	g_autofree char *absolute = g_canonicalize_filename(ca_file, NULL);
	g_autoptr(GTlsDatabase) ca = g_tls_file_database_new(absolute, NULL);

	if (ca != NULL)
		g_tls_backend_set_default_database(g_tls_backend_get_default(),
						   ca);
}

static gboolean engine_connect_tracker(NetEngine *engine,
				       const NetEngineConfig *config,
				       GError **error)
{
	engine->api = net_tracker_api_new(config->tracker_url, config->ca_file,
					  error);
	if (engine->api == NULL)
		return FALSE;
	trust_tracker_ca_by_default(config->ca_file);
	net_tracker_api_set_token(engine->api, config->token);
	return TRUE;
}

static void warm_up_in_thread(GTask *task, gpointer source, gpointer data,
			      GCancellable *cancellable)
{
	NetEngine *engine = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) reply = net_tracker_api_call(
		engine->api, "GET", "whoami", NULL, &error);

	if (reply == NULL)
		g_debug("warming up the tracker connection: %s",
			error->message);
}

static void warmed_up(GObject *source, GAsyncResult *result, gpointer data)
{
	engine_work_end(data);
}

/* One cheap request at start, so that the first get finds a connection
 * to the tracker open (TCP, TLS, certificate checked) in the session's
 * pool instead of paying for it on the way to its first byte. */
static void warm_up_tracker(NetEngine *engine)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, warmed_up, engine);

	engine_work_begin(engine);
	g_task_set_task_data(task, engine, NULL);
	g_task_run_in_thread(task, warm_up_in_thread);
}

NetEngine *net_engine_new(const NetEngineConfig *config, GError **error)
{
	g_autoptr(NetEngine) engine = g_new0(NetEngine, 1);

	engine->context = g_main_context_ref_thread_default();
	engine->tracker_url = g_strdup(config->tracker_url);
	engine->passkey = g_strdup(config->passkey);
	engine->cache_dir = g_strdup(config->cache_dir);
	engine->data_dir = g_strdup(config->data_dir);
	engine->cache_size = config->cache_size;
	engine->files_by_hash =
		g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
				      (GDestroyNotify)engine_file_unref);
	engine->files_by_name = g_hash_table_new(g_str_hash, g_str_equal);
	if (!engine_ensure_dir(engine->cache_dir, error) ||
	    !engine_ensure_dir(engine->data_dir, error) ||
	    !engine_connect_tracker(engine, config, error))
		return NULL;
	engine->swarm = engine_swarm_new(engine, config, error);
	if (engine->swarm == NULL || !engine_registry_restore(engine, error))
		return NULL;
	engine->sync_source =
		g_timeout_add_seconds(SYNC_INTERVAL_S, sync_tick, engine);
	warm_up_tracker(engine);
	return g_steal_pointer(&engine);
}

/* Drops every file; with no store I/O in flight (after a stop, or at a
 * failed start before any was started). */
static void drop_files(NetEngine *engine)
{
	GHashTableIter iter;
	EngineFile *file;

	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file)) {
		if (file->seat != NULL)
			engine_swarm_remove(engine->swarm, file);
	}
	g_hash_table_remove_all(engine->files_by_name);
	g_hash_table_remove_all(engine->files_by_hash);
}

void net_engine_free(NetEngine *engine)
{
	if (engine == NULL)
		return;
	g_clear_handle_id(&engine->sync_source, g_source_remove);
	if (engine->files_by_hash != NULL)
		drop_files(engine);
	g_clear_pointer(&engine->swarm, engine_swarm_free);
	g_clear_pointer(&engine->files_by_hash, g_hash_table_unref);
	g_clear_pointer(&engine->files_by_name, g_hash_table_unref);
	g_clear_pointer(&engine->api, net_tracker_api_free);
	g_clear_pointer(&engine->context, g_main_context_unref);
	g_free(engine->tracker_url);
	if (engine->passkey != NULL)
		memset(engine->passkey, 0, strlen(engine->passkey));
	g_free(engine->passkey);
	g_free(engine->cache_dir);
	g_free(engine->data_dir);
	g_free(engine);
}

guint16 net_engine_get_port(const NetEngine *engine)
{
	return engine_swarm_get_port(engine->swarm);
}

const char *net_engine_get_user(const NetEngine *engine)
{
	return engine_swarm_get_user(engine->swarm);
}

/* ---- stop ---------------------------------------------------------- */

typedef struct {
	GPtrArray *files; /* of EngineFile, with a store */
	char *registry_path;
	char *registry;
} FinalSync;

static void final_sync_free(FinalSync *job)
{
	g_ptr_array_unref(job->files);
	g_free(job->registry_path);
	g_free(job->registry);
	g_free(job);
}

/* Blocking: the last sync of every store, so that a restart finds every
 * verified piece claimed, and the last registry. */
static void final_sync_in_thread(GTask *task, gpointer source, gpointer data,
				 GCancellable *cancellable)
{
	FinalSync *job = data;
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < job->files->len; i++) {
		EngineFile *file = job->files->pdata[i];

		if (!net_store_sync(file->store, &error)) {
			g_message("%s: %s", file->name, error->message);
			g_clear_error(&error);
		}
	}
	if (!engine_registry_write(job->registry_path, job->registry, &error))
		g_message("cannot save the list of shared files: %s",
			  error->message);
	g_task_return_boolean(task, TRUE);
}

static void final_sync_done(GObject *source, GAsyncResult *result,
			    gpointer data)
{
	NetEngine *engine = data;

	engine_stop_step_done(engine);
}

static void final_sync(NetEngine *engine)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, final_sync_done, engine);
	FinalSync *job = g_new0(FinalSync, 1);
	GHashTableIter iter;
	EngineFile *file;

	job->files = g_ptr_array_new_with_free_func(
		(GDestroyNotify)engine_file_unref);
	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file)) {
		if (file->store != NULL)
			g_ptr_array_add(job->files, engine_file_ref(file));
	}
	job->registry_path = engine_registry_path(engine);
	job->registry = engine_registry_dump(engine);
	g_task_set_task_data(task, job, (GDestroyNotify)final_sync_free);
	engine->stop_pending++;
	g_task_run_in_thread(task, final_sync_in_thread);
}

/* The stop runs in steps, each counted in stop_pending: the announces,
 * every worker that still uses a store or writes the registry, then one
 * last sync. */
void engine_stop_step_done(NetEngine *engine)
{
	g_autoptr(GTask) task = NULL;

	g_assert(engine->stop_pending > 0);
	if (--engine->stop_pending > 0)
		return;
	if (engine->sync_source != 0) {
		g_clear_handle_id(&engine->sync_source, g_source_remove);
		final_sync(engine);
		return;
	}
	task = g_steal_pointer(&engine->stop_task);
	g_task_return_boolean(task, TRUE);
}

static gboolean announces_stopped(gpointer data)
{
	engine_stop_step_done(data);
	return G_SOURCE_REMOVE;
}

void net_engine_stop_async(NetEngine *engine, GAsyncReadyCallback callback,
			   gpointer data)
{
	GHashTableIter iter;
	EngineFile *file;

	g_return_if_fail(!engine->stopping);
	engine->stopping = TRUE;
	engine->stop_task = g_task_new(NULL, NULL, callback, data);
	/* One step for the announces, one for each worker in flight. */
	engine->stop_pending =
		1 + (engine->save_running ? 1 : 0) + engine->work;
	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file))
		engine->stop_pending += file->io_busy;
	engine_swarm_stop(engine->swarm, announces_stopped, engine);
}

void net_engine_stop_finish(NetEngine *engine, GAsyncResult *result)
{
	g_task_propagate_boolean(G_TASK(result), NULL);
}

/* ---- status -------------------------------------------------------- */

NetEngineFileStatus *engine_file_status(NetEngine *engine, EngineFile *file)
{
	NetEngineFileStatus *status = g_new0(NetEngineFileStatus, 1);

	status->group = g_strdup(file->group);
	status->path = g_strdup(file->path);
	status->info_hash = g_strdup(file->hex);
	status->length = net_metainfo_get_length(file->mi);
	status->pinned = file->pinned;
	status->pieces = net_metainfo_get_piece_count(file->mi);
	if (file->store != NULL)
		status->verified = net_store_verified_count(file->store);
	if (file->role == ENGINE_ROLE_SEED)
		status->state = NET_ENGINE_SEEDING;
	else if (status->verified == status->pieces)
		status->state = NET_ENGINE_COMPLETE;
	else
		status->state = NET_ENGINE_DOWNLOADING;
	if (file->seat != NULL)
		engine_swarm_fill_status(engine->swarm, file, status);
	return status;
}

static gint compare_status(gconstpointer a, gconstpointer b)
{
	const NetEngineFileStatus *x = *(NetEngineFileStatus *const *)a;
	const NetEngineFileStatus *y = *(NetEngineFileStatus *const *)b;
	int c = strcmp(x->group, y->group);

	return c != 0 ? c : strcmp(x->path, y->path);
}

GPtrArray *net_engine_list(NetEngine *engine)
{
	GPtrArray *list = g_ptr_array_new_with_free_func(
		(GDestroyNotify)net_engine_file_status_free);
	GHashTableIter iter;
	EngineFile *file;

	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file))
		g_ptr_array_add(list, engine_file_status(engine, file));
	g_ptr_array_sort(list, compare_status);
	return list;
}

/* ---- unshare ------------------------------------------------------- */

void net_engine_unshare_async(NetEngine *engine, const char *group,
			      const char *path, GAsyncReadyCallback callback,
			      gpointer data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, data);
	GError *error = NULL;
	EngineFile *file;

	if (!engine_check_running(engine, &error)) {
		g_task_return_error(task, error);
		return;
	}
	file = engine_lookup_name(engine, group, path);
	if (file == NULL) {
		g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
					"%s/%s is not shared by this daemon",
					group, path);
		return;
	}
	g_info("unsharing %s", file->name);
	/* Completed by file_retire's worker once the store is closed. */
	file->remove_task = g_steal_pointer(&task);
	engine_unregister(engine, file);
}

gboolean net_engine_unshare_finish(NetEngine *engine, GAsyncResult *result,
				   GError **error)
{
	return g_task_propagate_boolean(G_TASK(result), error);
}
