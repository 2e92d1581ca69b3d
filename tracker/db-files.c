/* db-files: the files published in each group, and the swarm scope that
 * announce needs from them. */
#include "db-private.h"

#include <string.h>

void tracker_db_file_free(TrackerDbFile *file)
{
	if (!file)
		return;
	g_free(file->path);
	g_free(file->owner);
	g_clear_pointer(&file->info, g_bytes_unref);
	g_free(file);
}

#define FILE_COLUMNS                                                          \
	"f.path, f.info_hash, f.length, f.piece_length, u.name, f.published," \
	" f.info"

static TrackerDbFile *read_file(TrackerDbStmt *stmt, gboolean with_info)
{
	TrackerDbFile *file = g_new0(TrackerDbFile, 1);
	const void *hash = sqlite3_column_blob(stmt, 1);

	file->path = tracker_db_column_dup(stmt, 0);
	if (hash && sqlite3_column_bytes(stmt, 1) == 20)
		memcpy(file->info_hash, hash, 20);
	file->length = sqlite3_column_int64(stmt, 2);
	file->piece_length = sqlite3_column_int(stmt, 3);
	file->owner = tracker_db_column_dup(stmt, 4);
	file->published = sqlite3_column_int64(stmt, 5);
	if (with_info)
		file->info = g_bytes_new(sqlite3_column_blob(stmt, 6),
					 sqlite3_column_bytes(stmt, 6));
	return file;
}

GPtrArray *tracker_db_file_list(TrackerDb *db, gint64 group_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	g_autoptr(GPtrArray) files = NULL;
	int rc;

	/* The info column stays unread: sqlite3 loads a blob lazily. */
	stmt = tracker_db_prepare(db,
				  "SELECT " FILE_COLUMNS " FROM files f"
				  " JOIN users u ON u.id = f.owner_id"
				  " WHERE f.group_id = ? ORDER BY f.path",
				  error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, group_id);
	files = g_ptr_array_new_with_free_func(
		(GDestroyNotify)tracker_db_file_free);
	while ((rc = tracker_db_step(db, stmt, error)) == SQLITE_ROW)
		g_ptr_array_add(files, read_file(stmt, FALSE));
	return rc == SQLITE_DONE ? g_steal_pointer(&files) : NULL;
}

static void set_no_file(const char *path, GError **error)
{
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_NOT_FOUND,
		    "There is no file \"%s\" in this group.", path);
}

TrackerDbFile *tracker_db_file_get(TrackerDb *db, gint64 group_id,
				   const char *path, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	int rc;

	stmt = tracker_db_prepare(db,
				  "SELECT " FILE_COLUMNS " FROM files f"
				  " JOIN users u ON u.id = f.owner_id"
				  " WHERE f.group_id = ? AND f.path = ?",
				  error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, group_id);
	tracker_db_bind_text(stmt, 2, path);
	rc = tracker_db_step(db, stmt, error);
	if (rc == SQLITE_ROW)
		return read_file(stmt, TRUE);
	if (rc == SQLITE_DONE)
		set_no_file(path, error);
	return NULL;
}

/* The id and owner of the file at @path, or 0 (no error) for none. */
static gint64 find_file(TrackerDb *db, gint64 group_id, const char *path,
			gint64 *owner_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db,
				  "SELECT id, owner_id FROM files"
				  " WHERE group_id = ? AND path = ?",
				  error);
	if (!stmt)
		return 0;
	sqlite3_bind_int64(stmt, 1, group_id);
	tracker_db_bind_text(stmt, 2, path);
	if (tracker_db_step(db, stmt, error) != SQLITE_ROW)
		return 0;
	*owner_id = sqlite3_column_int64(stmt, 1);
	return sqlite3_column_int64(stmt, 0);
}

/* CONFLICT when @hash is in the group under a path other than @path. */
static gboolean check_hash_unique(TrackerDb *db, gint64 group_id,
				  const guint8 *hash, const char *path,
				  GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	int rc;

	stmt = tracker_db_prepare(db,
				  "SELECT path FROM files WHERE group_id = ?"
				  " AND info_hash = ? AND path != ?",
				  error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	tracker_db_bind_blob(stmt, 2, hash, 20);
	tracker_db_bind_text(stmt, 3, path);
	rc = tracker_db_step(db, stmt, error);
	if (rc == SQLITE_ROW)
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT,
			    "This file is already published in the group as "
			    "\"%s\".",
			    (const char *)sqlite3_column_text(stmt, 0));
	return rc == SQLITE_DONE;
}

static gboolean write_file(TrackerDb *db, gint64 id, const TrackerDbActor *a,
			   const TrackerDbFile *file, gint64 now,
			   GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	gsize info_len;
	const void *info = g_bytes_get_data(file->info, &info_len);

	/* With @id set, REPLACE rewrites that row in place; with NULL it
	 * makes a new one. check_hash_unique ran first, so @id's own row
	 * is the only one that REPLACE can ever delete. */
	stmt = tracker_db_prepare(
		db,
		"INSERT OR REPLACE INTO files (id, group_id,"
		" path, info_hash, info, length, piece_length,"
		" owner_id, published)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		error);
	if (!stmt)
		return FALSE;
	if (id)
		sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, a->group_id);
	tracker_db_bind_text(stmt, 3, file->path);
	tracker_db_bind_blob(stmt, 4, file->info_hash, 20);
	tracker_db_bind_blob(stmt, 5, info, info_len);
	sqlite3_bind_int64(stmt, 6, (gint64)file->length);
	sqlite3_bind_int64(stmt, 7, file->piece_length);
	sqlite3_bind_int64(stmt, 8, a->user_id);
	sqlite3_bind_int64(stmt, 9, now);
	return tracker_db_run(db, stmt, error);
}

static gboolean publish_steps(TrackerDb *db, const TrackerDbActor *actor,
			      const TrackerDbFile *file, gint64 now,
			      gboolean *replaced, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint64 owner_id = 0;
	gint64 id;

	id = find_file(db, actor->group_id, file->path, &owner_id, &local);
	if (local) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	if (id && owner_id != actor->user_id) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT,
			    "\"%s\" was published by another member; publish "
			    "under another path.",
			    file->path);
		return FALSE;
	}
	*replaced = id != 0;
	return check_hash_unique(db, actor->group_id, file->info_hash,
				 file->path, error) &&
	       write_file(db, id, actor, file, now, error);
}

gboolean tracker_db_file_publish(TrackerDb *db, const TrackerDbActor *actor,
				 const TrackerDbFile *file, gint64 now,
				 gboolean *replaced, GError **error)
{
	if (!tracker_db_begin(db, error))
		return FALSE;
	return tracker_db_end(
		db, publish_steps(db, actor, file, now, replaced, error),
		error);
}

/* The id of the file at @path when @actor may change it. */
static gint64 find_changeable(TrackerDb *db, const TrackerDbActor *actor,
			      const char *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint64 owner_id = 0;
	gint64 id = find_file(db, actor->group_id, path, &owner_id, &local);

	if (local) {
		g_propagate_error(error, g_steal_pointer(&local));
		return 0;
	}
	if (!id) {
		set_no_file(path, error);
		return 0;
	}
	if (owner_id != actor->user_id && !actor->is_group_owner) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_FORBIDDEN,
			    "Only the member who published \"%s\" or the "
			    "group's owner may change it.",
			    path);
		return 0;
	}
	return id;
}

gboolean tracker_db_file_remove(TrackerDb *db, const TrackerDbActor *actor,
				const char *path, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	gint64 id = find_changeable(db, actor, path, error);

	if (!id)
		return FALSE;
	stmt = tracker_db_prepare(db, "DELETE FROM files WHERE id = ?", error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, id);
	return tracker_db_run(db, stmt, error);
}

static gboolean rename_steps(TrackerDb *db, const TrackerDbActor *actor,
			     const char *from, const char *to, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	g_autoptr(GError) local = NULL;
	gint64 owner_id;
	gint64 id = find_changeable(db, actor, from, error);

	if (!id)
		return FALSE;
	if (find_file(db, actor->group_id, to, &owner_id, &local) || local) {
		if (!local)
			g_set_error(&local, TRACKER_ERROR,
				    TRACKER_ERROR_CONFLICT,
				    "There is already a file \"%s\" in this "
				    "group.",
				    to);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	stmt = tracker_db_prepare(db, "UPDATE files SET path = ? WHERE id = ?",
				  error);
	if (!stmt)
		return FALSE;
	tracker_db_bind_text(stmt, 1, to);
	sqlite3_bind_int64(stmt, 2, id);
	return tracker_db_run(db, stmt, error);
}

gboolean tracker_db_file_rename(TrackerDb *db, const TrackerDbActor *actor,
				const char *from, const char *to,
				GError **error)
{
	if (!tracker_db_begin(db, error))
		return FALSE;
	return tracker_db_end(db, rename_steps(db, actor, from, to, error),
			      error);
}

static GHashTable *query_swarm_scope(TrackerDb *db, const guint8 *info_hash,
				     gint64 user_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	g_autoptr(GHashTable) users = NULL;
	int rc;

	stmt = tracker_db_prepare(
		db,
		"SELECT DISTINCT peer.user_id FROM files f"
		" JOIN members me ON me.group_id = f.group_id"
		"  AND me.user_id = ?2"
		" JOIN members peer ON peer.group_id = f.group_id"
		" WHERE f.info_hash = ?1",
		error);
	if (!stmt)
		return NULL;
	tracker_db_bind_blob(stmt, 1, info_hash, 20);
	sqlite3_bind_int64(stmt, 2, user_id);
	users = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
				      NULL);
	while ((rc = tracker_db_step(db, stmt, error)) == SQLITE_ROW) {
		gint64 *id = g_new(gint64, 1);

		*id = sqlite3_column_int64(stmt, 0);
		g_hash_table_add(users, id);
	}
	return rc == SQLITE_DONE ? g_steal_pointer(&users) : NULL;
}

GHashTable *tracker_db_swarm_scope(TrackerDb *db, const guint8 *info_hash,
				   gint64 user_id, GError **error)
{
	TrackerDbCache *cache = tracker_db_get_cache(db);
	GHashTable *scope =
		tracker_db_cache_get_scope(cache, info_hash, user_id);

	if (scope)
		return scope;
	scope = query_swarm_scope(db, info_hash, user_id, error);
	if (scope)
		tracker_db_cache_put_scope(cache, info_hash, user_id, scope);
	return scope;
}
