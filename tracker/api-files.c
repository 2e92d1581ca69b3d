/* api-files: the files of a group: list, info, publish, unpublish and
 * rename. The tracker trusts no metainfo it is sent: it validates the
 * info dictionary and computes the info-hash itself. */
#include <string.h>

#include "api.h"
#include "metainfo.h"
#include "tracker-error.h"
#include "validate.h"

/* The members of one file record (docs/API.md, "Files"). */
static void add_file(TrackerRequest *req, JsonBuilder *b,
		     const TrackerDbFile *f)
{
	TrackerSwarm *swarm = tracker_request_get_app(req)->swarm;
	g_autofree char *info_hash = tracker_api_hex(f->info_hash, 20);

	tracker_api_add_string(b, "path", f->path);
	tracker_api_add_string(b, "info_hash", info_hash);
	tracker_api_add_int(b, "length", (gint64)f->length);
	tracker_api_add_int(b, "piece_length", f->piece_length);
	tracker_api_add_string(b, "owner", f->owner);
	tracker_api_add_int(b, "published", f->published);
	tracker_api_add_int(b, "seeders",
			    tracker_swarm_count_seeders(swarm, f->info_hash));
	if (f->info) {
		g_autofree char *info =
			g_base64_encode(g_bytes_get_data(f->info, NULL),
					g_bytes_get_size(f->info));

		tracker_api_add_string(b, "info", info);
	}
}

static void reply_file(TrackerRequest *req, guint status,
		       const TrackerDbFile *f)
{
	JsonBuilder *b = tracker_api_begin_object();

	add_file(req, b, f);
	tracker_api_reply_object(req, status, b);
}

void tracker_api_files_list(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(GPtrArray) files = NULL;
	TrackerRole role;
	GError *error = NULL;
	gint64 group_id = tracker_api_find_group(
		req, TRACKER_ROLE_MEMBER, "list its files", &role, &error);
	JsonBuilder *b;

	if (group_id)
		files = tracker_db_file_list(app->db, group_id, &error);
	if (!files) {
		tracker_api_fail(req, error);
		return;
	}
	b = tracker_api_begin_object();
	json_builder_set_member_name(b, "files");
	json_builder_begin_array(b);
	for (guint i = 0; i < files->len; i++) {
		json_builder_begin_object(b);
		add_file(req, b, g_ptr_array_index(files, i));
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	tracker_api_reply_object(req, 200, b);
}

/* The "path" query parameter, checked. */
static const char *query_path(TrackerRequest *req, GError **error)
{
	const char *path = tracker_request_get_query_string(req, "path", error);

	if (!path || !tracker_validate_path(path, error))
		return NULL;
	return path;
}

void tracker_api_files_info(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(TrackerDbFile) file = NULL;
	TrackerRole role;
	GError *error = NULL;
	const char *path = query_path(req, &error);
	gint64 group_id = 0;

	if (path)
		group_id =
			tracker_api_find_group(req, TRACKER_ROLE_MEMBER,
					       "see its files", &role, &error);
	if (group_id)
		file = tracker_db_file_get(app->db, group_id, path, &error);
	if (!file) {
		tracker_api_fail(req, error);
		return;
	}
	reply_file(req, 200, file);
}

/* Standard base64, strictly: g_base64_decode skips what it does not
 * know, which would let garbage through. */
static GBytes *decode_base64(const char *text, GError **error)
{
	gsize len = strlen(text);
	gsize padding = 0;
	gsize out_len;
	guchar *data;

	while (padding < 2 && padding < len && text[len - 1 - padding] == '=')
		padding++;
	if (len == 0 || len % 4 != 0 ||
	    strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789+/") != len - padding) {
		g_set_error_literal(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
				    "The field \"info\" must be standard "
				    "base64 of a bencoded info dictionary.");
		return NULL;
	}
	data = g_base64_decode(text, &out_len);
	return g_bytes_new_take(data, out_len);
}

/* The validated metainfo of a publish request as a file record. */
static TrackerDbFile *file_from_info(const char *path, const char *info64,
				     GError **error)
{
	g_autoptr(GBytes) info = decode_base64(info64, error);
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) local = NULL;
	TrackerDbFile *file;

	if (!info)
		return NULL;
	mi = net_metainfo_new_from_info(info, &local);
	if (!mi) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "The info dictionary is not a valid single-file "
			    "torrent: %s",
			    local->message);
		return NULL;
	}
	file = g_new0(TrackerDbFile, 1);
	file->path = g_strdup(path);
	memcpy(file->info_hash, net_metainfo_get_info_hash(mi), 20);
	file->length = net_metainfo_get_length(mi);
	file->piece_length = net_metainfo_get_piece_length(mi);
	file->info = g_bytes_ref(net_metainfo_get_info(mi));
	return file;
}

void tracker_api_files_publish(TrackerRequest *req)
{
	TrackerField fields[] = {{"path"}, {"info"}};
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(TrackerDbFile) file = NULL;
	g_autoptr(TrackerDbFile) stored = NULL;
	TrackerDbActor actor = {.user_id = tracker_request_get_user_id(req)};
	gboolean replaced = FALSE;
	TrackerRole role;
	GError *error = NULL;

	if (tracker_request_read_fields(req, fields, G_N_ELEMENTS(fields),
					&error) &&
	    tracker_validate_path(fields[0].value, &error))
		actor.group_id =
			tracker_api_find_group(req, TRACKER_ROLE_MEMBER,
					       "publish files", &role, &error);
	if (actor.group_id)
		file = file_from_info(fields[0].value, fields[1].value, &error);
	if (!file ||
	    !tracker_db_file_publish(app->db, &actor, file, tracker_api_now(),
				     &replaced, &error) ||
	    !(stored = tracker_db_file_get(app->db, actor.group_id, file->path,
					   &error))) {
		tracker_api_fail(req, error);
		return;
	}
	g_clear_pointer(&stored->info, g_bytes_unref);
	reply_file(req, replaced ? 200 : 201, stored);
}

/* The group of the request and the caller's rights over its files. */
static gboolean find_actor(TrackerRequest *req, TrackerDbActor *actor,
			   GError **error)
{
	TrackerRole role = TRACKER_ROLE_NONE;

	actor->user_id = tracker_request_get_user_id(req);
	actor->group_id = tracker_api_find_group(
		req, TRACKER_ROLE_MEMBER, "change its files", &role, error);
	actor->is_group_owner = role == TRACKER_ROLE_OWNER;
	return actor->group_id != 0;
}

void tracker_api_files_remove(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	TrackerDbActor actor;
	GError *error = NULL;
	const char *path = query_path(req, &error);

	if (!path || !find_actor(req, &actor, &error) ||
	    !tracker_db_file_remove(app->db, &actor, path, &error)) {
		tracker_api_fail(req, error);
		return;
	}
	tracker_request_reply_empty(req, 204);
}

void tracker_api_files_rename(TrackerRequest *req)
{
	TrackerField fields[] = {{"from"}, {"to"}};
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(TrackerDbFile) file = NULL;
	TrackerDbActor actor;
	GError *error = NULL;

	if (!tracker_request_read_fields(req, fields, G_N_ELEMENTS(fields),
					 &error) ||
	    !tracker_validate_path(fields[0].value, &error) ||
	    !tracker_validate_path(fields[1].value, &error) ||
	    !find_actor(req, &actor, &error) ||
	    !tracker_db_file_rename(app->db, &actor, fields[0].value,
				    fields[1].value, &error) ||
	    !(file = tracker_db_file_get(app->db, actor.group_id,
					 fields[1].value, &error))) {
		tracker_api_fail(req, error);
		return;
	}
	g_clear_pointer(&file->info, g_bytes_unref);
	reply_file(req, 200, file);
}
