/* engine-share: publishing a file. In order, so that the tracker never
 * lists a file that this member cannot serve:
 *
 *   1. worker: hash the file into a metainfo (or, for an adopted file
 *              whose caller hashed it, build it from those hashes);
 *   2. loop:   find whether this content is already registered;
 *   3. worker: copy it into the data folder as a seed copy (verified
 *              again: what is served is what was hashed) or, for an
 *              adopted file that nobody writes any more, link it in as
 *              it is; save its .torrent, then send the metainfo to the
 *              tracker; if the tracker refuses, the copy is deleted;
 *   4. loop:   register it and start seeding, replacing an older
 *              version published at the same path.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "bencode.h"
#include "engine-private.h"
#include "net-error.h"
#include "piece-hash.h"

typedef struct {
	NetEngine *engine; /* kept alive by engine_work_begin */
	char *file;
	char *group;
	char *path;
	NetMetainfo *mi;
	NetStore *store; /* the new seed copy, from step 3 */
	gboolean reuse; /* already registered: only publish again */
	gboolean adopt; /* @file itself becomes the seed copy */
	GBytes *hashes; /* the adopter's piece hashes, or NULL */
} ShareJob;

static void share_job_free(ShareJob *job)
{
	engine_work_end(job->engine);
	g_free(job->file);
	g_free(job->group);
	g_free(job->path);
	g_clear_pointer(&job->mi, net_metainfo_free);
	g_clear_pointer(&job->store, net_store_free);
	g_clear_pointer(&job->hashes, g_bytes_unref);
	g_free(job);
}

/* ---- 1. hash ------------------------------------------------------- */

/* The metainfo of a file of @length bytes whose pieces the adopter
 * hashed; NULL (no error) when @hashes do not fit that length. */
static NetMetainfo *metainfo_from_hashes(const char *name, guint64 length,
					 GBytes *hashes, GError **error)
{
	guint32 piece_length = net_metainfo_choose_piece_length(length);
	g_autoptr(NetBencode) dict = NULL;
	g_autoptr(GBytes) info = NULL;

	if (g_bytes_get_size(hashes) !=
	    net_piece_hash_count(length, piece_length) * NET_PIECE_HASH_SIZE)
		return NULL;
	dict = net_bencode_new_dict();
	net_bencode_dict_insert(dict, "length",
				net_bencode_new_int((gint64)length));
	net_bencode_dict_insert(dict, "name", net_bencode_new_str(name));
	net_bencode_dict_insert(dict, "piece length",
				net_bencode_new_int(piece_length));
	net_bencode_dict_insert(
		dict, "pieces",
		net_bencode_new_string(g_bytes_get_data(hashes, NULL),
				       g_bytes_get_size(hashes)));
	info = net_bencode_encode(dict);
	return net_metainfo_new_from_info(info, error);
}

static NetMetainfo *adopted_metainfo(ShareJob *job, const char *name,
				     GError **error)
{
	struct stat st;

	if (g_stat(job->file, &st) != 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot read %s: %s", job->file, g_strerror(err));
		return NULL;
	}
	return metainfo_from_hashes(name, (guint64)st.st_size, job->hashes,
				    error);
}

static void hash_in_thread(GTask *task, gpointer source, gpointer data,
			   GCancellable *cancellable)
{
	ShareJob *job = data;
	g_autofree char *name = g_path_get_basename(job->path);
	GError *error = NULL;

	if (job->hashes != NULL)
		job->mi = adopted_metainfo(job, name, &error);
	if (job->mi == NULL && error == NULL)
		job->mi =
			net_metainfo_new_from_file(job->file, name, 0, &error);
	if (job->mi == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

/* ---- 3. copy and publish ------------------------------------------- */

static gboolean publish(NetEngine *engine, ShareJob *job, GError **error)
{
	g_autofree char *api_path =
		net_tracker_api_path("groups", job->group, "files", NULL);
	GBytes *info = net_metainfo_get_info(job->mi);
	gsize len;
	const guint8 *bytes = g_bytes_get_data(info, &len);
	g_autofree char *b64 = g_base64_encode(bytes, len);
	g_autoptr(JsonObject) body = json_object_new();
	g_autoptr(JsonObject) reply = NULL;

	json_object_set_string_member(body, "path", job->path);
	json_object_set_string_member(body, "info", b64);
	reply = net_tracker_api_call(engine->api, "POST", api_path, body,
				     error);
	return reply != NULL;
}

static NetStore *import_copy(NetEngine *engine, ShareJob *job, GError **error)
{
	g_autoptr(GBytes) hashes = engine_piece_hashes(job->mi);

	if (job->adopt)
		return net_store_adopt(engine->data_dir,
				       net_metainfo_get_info_hash(job->mi),
				       net_metainfo_get_piece_length(job->mi),
				       net_metainfo_get_length(job->mi), hashes,
				       job->file, error);
	return net_store_import(
		engine->data_dir, net_metainfo_get_info_hash(job->mi),
		net_metainfo_get_piece_length(job->mi),
		net_metainfo_get_length(job->mi), hashes, job->file, error);
}

/* Blocking: the tracker refused; nothing of the copy may stay. */
static void forget_copy(NetEngine *engine, ShareJob *job)
{
	g_autofree char *hex = net_metainfo_dup_info_hash_hex(job->mi);
	g_autofree char *torrent = engine_registry_torrent_path(engine, hex);

	g_clear_pointer(&job->store, net_store_free);
	net_store_unlink(engine->data_dir, net_metainfo_get_info_hash(job->mi),
			 NULL);
	g_unlink(torrent);
}

static void publish_in_thread(GTask *task, gpointer source, gpointer data,
			      GCancellable *cancellable)
{
	ShareJob *job = data;
	NetEngine *engine = job->engine;
	GError *error = NULL;

	if (!job->reuse) {
		job->store = import_copy(engine, job, &error);
		if (job->store == NULL) {
			g_task_return_error(task, error);
			return;
		}
	}
	if ((job->reuse ||
	     engine_registry_write_torrent(engine, job->mi, &error)) &&
	    publish(engine, job, &error)) {
		g_task_return_boolean(task, TRUE);
		return;
	}
	if (job->store != NULL)
		forget_copy(engine, job);
	g_task_return_error(task, error);
}

/* ---- 4. register --------------------------------------------------- */

static void register_seed(NetEngine *engine, ShareJob *job)
{
	EngineFile *old = engine_lookup_name(engine, job->group, job->path);
	g_autoptr(EngineFile) file = NULL;

	/* The tracker replaced the older version at this path. */
	if (old != NULL)
		engine_unregister(engine, old);
	file = engine_file_new(engine, net_metainfo_get_info_hash(job->mi),
			       job->group, job->path, ENGINE_ROLE_SEED);
	file->mi = g_steal_pointer(&job->mi);
	engine_register(engine, file);
	engine_file_attach(file, g_steal_pointer(&job->store));
	g_info("sharing %s (%s)", file->name, file->hex);
}

static void published(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(GTask) task = data;
	ShareJob *job = g_task_get_task_data(task);
	NetEngine *engine = job->engine;
	char *hex = net_metainfo_dup_info_hash_hex(job->mi);
	GError *error = NULL;

	if (!g_task_propagate_boolean(G_TASK(result), &error) ||
	    !engine_check_running(engine, &error)) {
		g_task_return_error(task, error);
		g_free(hex);
		return;
	}
	if (!job->reuse)
		register_seed(engine, job);
	g_task_return_pointer(task, hex, g_free);
}

/* ---- 2. look up ---------------------------------------------------- */

/* FALSE when the content is registered under another name: one
 * info-hash is one file of one group for the tracker too. */
static gboolean check_known(NetEngine *engine, ShareJob *job, GError **error)
{
	EngineFile *known =
		engine_lookup_hash(engine, net_metainfo_get_info_hash(job->mi));

	if (known == NULL)
		return TRUE;
	if (strcmp(known->group, job->group) != 0 ||
	    strcmp(known->path, job->path) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "the same content is already shared as %s; "
			    "unshare it first",
			    known->name);
		return FALSE;
	}
	job->reuse = TRUE;
	return TRUE;
}

static void hashed(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(GTask) task = data;
	ShareJob *job = g_task_get_task_data(task);
	NetEngine *engine = job->engine;
	GCancellable *cancellable = g_task_get_cancellable(task);
	GError *error = NULL;
	GTask *next;

	if (!g_task_propagate_boolean(G_TASK(result), &error) ||
	    !engine_check_running(engine, &error) ||
	    !check_known(engine, job, &error) ||
	    g_task_return_error_if_cancelled(task)) {
		if (error != NULL)
			g_task_return_error(task, error);
		return;
	}
	next = g_task_new(NULL, cancellable, published, g_steal_pointer(&task));
	g_task_set_task_data(next, job, NULL);
	g_task_run_in_thread(next, publish_in_thread);
	g_object_unref(next);
}

static void share_start(NetEngine *engine, ShareJob *job,
			GCancellable *cancellable, GAsyncReadyCallback callback,
			gpointer data)
{
	GTask *task = g_task_new(NULL, cancellable, callback, data);
	g_autoptr(GTask) hash = NULL;
	GError *error = NULL;

	engine_work_begin(engine);
	job->engine = engine;
	g_task_set_task_data(task, job, (GDestroyNotify)share_job_free);
	if (!engine_check_running(engine, &error) ||
	    !net_engine_check_name(job->group, job->path, &error)) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	if (!g_path_is_absolute(job->file)) {
		g_task_return_new_error(
			task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			"'%s' is not an absolute path", job->file);
		g_object_unref(task);
		return;
	}
	hash = g_task_new(NULL, cancellable, hashed, task);
	g_task_set_task_data(hash, job, NULL);
	g_task_run_in_thread(hash, hash_in_thread);
}

static ShareJob *share_job_new(const char *file, const char *group,
			       const char *path)
{
	ShareJob *job = g_new0(ShareJob, 1);

	job->file = g_strdup(file);
	job->group = g_strdup(group);
	job->path = g_strdup(path);
	return job;
}

void net_engine_share_async(NetEngine *engine, const char *file,
			    const char *group, const char *path,
			    GCancellable *cancellable,
			    GAsyncReadyCallback callback, gpointer data)
{
	share_start(engine, share_job_new(file, group, path), cancellable,
		    callback, data);
}

void net_engine_share_adopt_async(NetEngine *engine, const char *file,
				  const char *group, const char *path,
				  GBytes *piece_hashes,
				  GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer data)
{
	ShareJob *job = share_job_new(file, group, path);

	job->adopt = TRUE;
	job->hashes = piece_hashes ? g_bytes_ref(piece_hashes) : NULL;
	share_start(engine, job, cancellable, callback, data);
}

char *net_engine_share_finish(NetEngine *engine, GAsyncResult *result,
			      GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}
