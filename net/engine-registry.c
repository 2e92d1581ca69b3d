/* engine-registry: the engine's files on disk, so that a restart serves
 * what the last run served. In the data folder:
 *
 *   registry.json   {"version": 1, "files": [{"info_hash", "group",
 *                   "path", "role": "seed"|"download", "pinned",
 *                   "last_used", "verified"}]}
 *   <hex>.torrent   each file's metainfo
 *
 * The registry is rewritten whole (temporary file, fsync, rename) after
 * every change, from a worker; it is small. It is our own file, but a
 * person or a crash may have damaged it: each entry is validated like
 * input from the network, and a bad one is skipped with a log line.
 */
#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "engine-private.h"
#include "net-error.h"
#include "names.h"

#define REGISTRY_FILE "registry.json"
#define REGISTRY_VERSION 1
/* A registry of a million files is about 200 MB; refuse anything near. */
#define REGISTRY_MAX (256u * 1024 * 1024)

char *engine_registry_torrent_path(const NetEngine *engine, const char *hex)
{
	g_autofree char *name = g_strconcat(hex, ".torrent", NULL);

	return g_build_filename(engine->data_dir, name, NULL);
}

/* ---- saving -------------------------------------------------------- */

static JsonNode *file_to_json(const EngineFile *file)
{
	g_autoptr(JsonBuilder) b = json_builder_new_immutable();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "info_hash");
	json_builder_add_string_value(b, file->hex);
	json_builder_set_member_name(b, "group");
	json_builder_add_string_value(b, file->group);
	json_builder_set_member_name(b, "path");
	json_builder_add_string_value(b, file->path);
	json_builder_set_member_name(b, "role");
	json_builder_add_string_value(
		b, file->role == ENGINE_ROLE_SEED ? "seed" : "download");
	json_builder_set_member_name(b, "pinned");
	json_builder_add_boolean_value(b, file->pinned);
	json_builder_set_member_name(b, "last_used");
	json_builder_add_int_value(b, file->last_used);
	json_builder_set_member_name(b, "verified");
	json_builder_add_int_value(b, file->synced_verified);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static char *registry_to_json(NetEngine *engine)
{
	g_autoptr(JsonObject) root = json_object_new();
	JsonArray *files = json_array_new();
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	GHashTableIter iter;
	EngineFile *file;

	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file))
		json_array_add_element(files, file_to_json(file));
	json_object_set_int_member(root, "version", REGISTRY_VERSION);
	json_object_set_array_member(root, "files", files);
	json_node_set_object(node, root);
	return json_to_string(node, TRUE);
}

typedef struct {
	char *path;
	char *text;
} SaveJob;

static void save_job_free(SaveJob *job)
{
	g_free(job->path);
	g_free(job->text);
	g_free(job);
}

static void save_in_thread(GTask *task, gpointer source, gpointer data,
			   GCancellable *cancellable)
{
	SaveJob *job = data;
	GError *error = NULL;

	if (!engine_registry_write(job->path, job->text, &error))
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

gboolean engine_registry_write(const char *path, const char *text,
			       GError **error)
{
	return g_file_set_contents_full(path, text, -1,
					G_FILE_SET_CONTENTS_CONSISTENT |
						G_FILE_SET_CONTENTS_DURABLE,
					0600, error);
}

static void save_start(NetEngine *engine);

static void save_done(GObject *source, GAsyncResult *result, gpointer data)
{
	NetEngine *engine = data;
	g_autoptr(GError) error = NULL;

	if (!g_task_propagate_boolean(G_TASK(result), &error))
		g_message("cannot save the list of shared files: %s",
			  error->message);
	engine->save_running = FALSE;
	/* A stop writes the registry itself, last. */
	if (engine->stopping)
		engine_stop_step_done(engine);
	else if (engine->save_again)
		save_start(engine);
}

static void save_start(NetEngine *engine)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, save_done, engine);
	SaveJob *job = g_new0(SaveJob, 1);

	job->path = engine_registry_path(engine);
	job->text = registry_to_json(engine);
	g_task_set_task_data(task, job, (GDestroyNotify)save_job_free);
	engine->save_running = TRUE;
	engine->save_again = FALSE;
	g_task_run_in_thread(task, save_in_thread);
}

void engine_registry_save(NetEngine *engine)
{
	if (engine->stopping)
		return;
	if (engine->save_running)
		engine->save_again = TRUE;
	else
		save_start(engine);
}

char *engine_registry_path(NetEngine *engine)
{
	return g_build_filename(engine->data_dir, REGISTRY_FILE, NULL);
}

char *engine_registry_dump(NetEngine *engine)
{
	return registry_to_json(engine);
}

gboolean engine_registry_write_torrent(NetEngine *engine, const NetMetainfo *mi,
				       GError **error)
{
	g_autofree char *hex = net_metainfo_dup_info_hash_hex(mi);
	g_autofree char *path = engine_registry_torrent_path(engine, hex);

	return net_metainfo_save(mi, path, engine->tracker_url, error);
}

typedef struct {
	char *dir;
	guint8 info_hash[20];
	char *torrent;
} ForgetJob;

static void forget_job_free(ForgetJob *job)
{
	g_free(job->dir);
	g_free(job->torrent);
	g_free(job);
}

static ForgetJob *engine_registry_forget_job(NetEngine *engine,
					     const EngineFile *file)
{
	ForgetJob *job = g_new0(ForgetJob, 1);

	job->dir = g_strdup(engine_file_dir(file));
	memcpy(job->info_hash, file->info_hash, sizeof(job->info_hash));
	job->torrent = engine_registry_torrent_path(engine, file->hex);
	return job;
}

static void forget_in_thread(GTask *task, gpointer source, gpointer data,
			     GCancellable *cancellable)
{
	ForgetJob *job = data;
	GError *error = NULL;

	if (!net_store_unlink(job->dir, job->info_hash, &error)) {
		g_task_return_error(task, error);
		return;
	}
	if (g_unlink(job->torrent) != 0 && errno != ENOENT) {
		int err = errno;

		g_task_return_new_error(
			task, G_IO_ERROR, g_io_error_from_errno(err),
			"cannot delete %s: %s", job->torrent, g_strerror(err));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

void engine_registry_forget(NetEngine *engine, const EngineFile *file,
			    GTask *task)
{
	g_task_set_task_data(task, engine_registry_forget_job(engine, file),
			     (GDestroyNotify)forget_job_free);
	g_task_run_in_thread(task, forget_in_thread);
}

/* ---- renaming ------------------------------------------------------ */

gboolean net_engine_rename(NetEngine *engine, const char *group,
			   const char *from, const char *to, GError **error)
{
	EngineFile *file = engine_lookup_name(engine, group, from);
	EngineFile *replaced;

	if (!net_engine_check_name(group, to, error))
		return FALSE;
	if (file == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "%s/%s is not shared or fetched here", group, from);
		return FALSE;
	}
	if (strcmp(from, to) == 0)
		return TRUE;
	replaced = engine_lookup_name(engine, group, to);
	if (replaced != NULL)
		engine_unregister(engine, replaced);
	/* files_by_name's key is the file's own name: out, then in again. */
	g_hash_table_remove(engine->files_by_name, file->name);
	g_free(file->path);
	g_free(file->name);
	file->path = g_strdup(to);
	file->name = g_strconcat(group, "/", to, NULL);
	g_hash_table_insert(engine->files_by_name, file->name, file);
	engine_registry_save(engine);
	g_info("%s/%s is now %s", group, from, file->name);
	return TRUE;
}

/* ---- restoring ----------------------------------------------------- */

NetStore *engine_store_open(const char *dir, const NetMetainfo *mi,
			    GError **error)
{
	g_autoptr(GBytes) hashes = engine_piece_hashes(mi);

	return net_store_open(dir, net_metainfo_get_info_hash(mi),
			      net_metainfo_get_piece_length(mi),
			      net_metainfo_get_length(mi), hashes, error);
}

static void open_in_thread(GTask *task, gpointer source, gpointer data,
			   GCancellable *cancellable)
{
	EngineFile *file = data;
	g_autofree char *dir = g_strdup(engine_file_dir(file));
	GError *error = NULL;
	NetStore *store = engine_store_open(dir, file->mi, &error);

	if (store == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, store,
				      (GDestroyNotify)net_store_free);
}

static void open_done(GObject *source, GAsyncResult *result, gpointer data)
{
	EngineFile *file = g_task_get_task_data(G_TASK(result));
	g_autoptr(GError) error = NULL;
	NetStore *store = g_task_propagate_pointer(G_TASK(result), &error);

	if (store == NULL) {
		g_message("%s: cannot open its store: %s; it is not served",
			  file->name, error->message);
		/* Kept on disk and in the registry: the next start tries
		 * again. */
		file->keep_files = TRUE;
		engine_unregister(file->engine, file);
		engine_restore_step_done(file->engine);
		engine_io_end(file);
		return;
	}
	g_info("%s: %u of %u pieces verified", file->name,
	       net_store_verified_count(store),
	       net_metainfo_get_piece_count(file->mi));
	engine_file_attach(file, store);
	engine_restore_step_done(file->engine);
	engine_io_end(file);
}

static void reopen_store(EngineFile *file)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, open_done, NULL);

	engine_io_begin(file);
	file->engine->restoring++;
	g_task_set_task_data(task, engine_file_ref(file),
			     (GDestroyNotify)engine_file_unref);
	g_task_run_in_thread(task, open_in_thread);
}

/* One entry of registry.json, checked; its metainfo must hash to it. */
static EngineFile *file_from_json(NetEngine *engine, JsonObject *o,
				  GError **error)
{
	const char *hex = net_tracker_api_get_string(o, "info_hash");
	const char *group = net_tracker_api_get_string(o, "group");
	const char *path = net_tracker_api_get_string(o, "path");
	const char *role = net_tracker_api_get_string(o, "role");
	g_autofree char *tpath = NULL;
	g_autoptr(NetMetainfo) mi = NULL;
	g_autofree char *mi_hex = NULL;
	EngineFile *file;
	gboolean pinned = FALSE;
	gint64 last_used = 0;
	gint64 verified = 0;

	if (!net_info_hash_hex_is_valid(hex) || role == NULL ||
	    (strcmp(role, "seed") != 0 && strcmp(role, "download") != 0) ||
	    group == NULL || path == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "an entry lacks a field or has a wrong one");
		return NULL;
	}
	if (!net_engine_check_name(group, path, error))
		return NULL;
	tpath = engine_registry_torrent_path(engine, hex);
	mi = net_metainfo_load(tpath, error);
	if (mi == NULL)
		return NULL;
	mi_hex = net_metainfo_dup_info_hash_hex(mi);
	if (strcmp(mi_hex, hex) != 0) {
		g_set_error(error, NET_ERROR, NET_ERROR_METAINFO,
			    "%s does not hash to its name", tpath);
		return NULL;
	}
	net_tracker_api_get_bool(o, "pinned", &pinned);
	net_tracker_api_get_int(o, "last_used", &last_used);
	/* A hint for status until the store is open; absent before. */
	net_tracker_api_get_int(o, "verified", &verified);
	file = engine_file_new(
		engine, net_metainfo_get_info_hash(mi), group, path,
		strcmp(role, "seed") == 0 ? ENGINE_ROLE_SEED
					  : ENGINE_ROLE_DOWNLOAD);
	file->mi = g_steal_pointer(&mi);
	file->pinned = pinned;
	file->last_used = last_used;
	if (verified > 0 && verified <= net_metainfo_get_piece_count(file->mi))
		file->synced_verified = (guint32)verified;
	return file;
}

static void restore_entry(NetEngine *engine, JsonNode *node)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(EngineFile) file = NULL;

	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_message("the list of shared files has a malformed entry");
		return;
	}
	file = file_from_json(engine, json_node_get_object(node), &error);
	if (file == NULL) {
		g_message("the list of shared files: %s; skipped",
			  error->message);
		return;
	}
	if (engine_lookup_hash(engine, file->info_hash) != NULL ||
	    g_hash_table_contains(engine->files_by_name, file->name)) {
		g_message("the list of shared files names %s twice; skipped",
			  file->name);
		return;
	}
	g_hash_table_insert(engine->files_by_hash, file->hex,
			    engine_file_ref(file));
	g_hash_table_insert(engine->files_by_name, file->name, file);
	reopen_store(file);
}

static JsonArray *registry_files(JsonParser *parser, const char *path,
				 GError **error)
{
	JsonNode *root = json_parser_get_root(parser);
	JsonObject *object;
	gint64 version = 0;
	JsonArray *files;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		goto damaged;
	object = json_node_get_object(root);
	if (!net_tracker_api_get_int(object, "version", &version) ||
	    version != REGISTRY_VERSION)
		goto damaged;
	files = net_tracker_api_get_array(object, "files");
	if (files != NULL)
		return files;
damaged:
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
		    "the list of shared files %s is damaged or from another "
		    "version; move it away to start without it",
		    path);
	return NULL;
}

gboolean engine_registry_restore(NetEngine *engine, GError **error)
{
	g_autofree char *path = engine_registry_path(engine);
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autofree char *text = NULL;
	g_autoptr(GError) local_error = NULL;
	gsize len = 0;
	JsonArray *files;

	if (!g_file_get_contents(path, &text, &len, &local_error)) {
		if (g_error_matches(local_error, G_FILE_ERROR,
				    G_FILE_ERROR_NOENT))
			return TRUE;
		g_propagate_error(error, g_steal_pointer(&local_error));
		return FALSE;
	}
	if (len > REGISTRY_MAX ||
	    !json_parser_load_from_data(parser, text, len, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the list of shared files %s is damaged; move it "
			    "away to start without it",
			    path);
		return FALSE;
	}
	files = registry_files(parser, path, error);
	if (files == NULL)
		return FALSE;
	for (guint i = 0; i < json_array_get_length(files); i++)
		restore_entry(engine, json_array_get_element(files, i));
	return TRUE;
}
