/* db-accounts: users, their password records and passkeys, and tokens. */
#include "db-private.h"

gboolean tracker_db_user_create(TrackerDb *db, const char *name,
				const char *password_record,
				const char *passkey, gint64 now, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	g_autoptr(GError) local = NULL;

	stmt = tracker_db_prepare(db,
				  "INSERT INTO users (name, password, passkey,"
				  " created) VALUES (?, ?, ?, ?)",
				  error);
	if (!stmt)
		return FALSE;
	tracker_db_bind_text(stmt, 1, name);
	tracker_db_bind_text(stmt, 2, password_record);
	tracker_db_bind_text(stmt, 3, passkey);
	sqlite3_bind_int64(stmt, 4, now);
	if (tracker_db_run(db, stmt, &local))
		return TRUE;
	if (g_error_matches(local, TRACKER_ERROR, TRACKER_ERROR_CONFLICT))
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT,
			    "The user name \"%s\" is taken; choose another.",
			    name);
	else
		g_propagate_error(error, g_steal_pointer(&local));
	return FALSE;
}

gboolean tracker_db_user_exists(TrackerDb *db, const char *name, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db, "SELECT 1 FROM users WHERE name = ?",
				  error);
	if (!stmt)
		return FALSE;
	tracker_db_bind_text(stmt, 1, name);
	return tracker_db_step(db, stmt, error) == SQLITE_ROW;
}

char *tracker_db_user_get_password(TrackerDb *db, const char *name,
				   gint64 *user_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(
		db, "SELECT id, password FROM users WHERE name = ?", error);
	if (!stmt)
		return NULL;
	tracker_db_bind_text(stmt, 1, name);
	if (tracker_db_step(db, stmt, error) != SQLITE_ROW)
		return NULL;
	*user_id = sqlite3_column_int64(stmt, 0);
	return tracker_db_column_dup(stmt, 1);
}

gboolean tracker_db_user_set_password(TrackerDb *db, gint64 user_id,
				      const char *password_record,
				      GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(
		db, "UPDATE users SET password = ? WHERE id = ?", error);
	if (!stmt)
		return FALSE;
	tracker_db_bind_text(stmt, 1, password_record);
	sqlite3_bind_int64(stmt, 2, user_id);
	return tracker_db_run(db, stmt, error);
}

char *tracker_db_user_get_passkey(TrackerDb *db, gint64 user_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db, "SELECT passkey FROM users WHERE id = ?",
				  error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, user_id);
	if (tracker_db_step(db, stmt, error) != SQLITE_ROW) {
		if (error && !*error)
			g_set_error_literal(error, TRACKER_ERROR,
					    TRACKER_ERROR_NOT_FOUND,
					    "No such user.");
		return NULL;
	}
	return tracker_db_column_dup(stmt, 0);
}

gint64 tracker_db_user_find_by_passkey(TrackerDb *db, const char *passkey,
				       GError **error)
{
	TrackerDbCache *cache = tracker_db_get_cache(db);
	g_autoptr(TrackerDbStmt) stmt = NULL;
	gint64 user_id = tracker_db_cache_get_user(cache, passkey);

	if (user_id)
		return user_id;
	stmt = tracker_db_prepare(db, "SELECT id FROM users WHERE passkey = ?",
				  error);
	if (!stmt)
		return 0;
	tracker_db_bind_text(stmt, 1, passkey);
	if (tracker_db_step(db, stmt, error) != SQLITE_ROW)
		return 0;
	user_id = sqlite3_column_int64(stmt, 0);
	tracker_db_cache_put_user(cache, passkey, user_id);
	return user_id;
}

gboolean tracker_db_token_add(TrackerDb *db, const guint8 *hash, gint64 user_id,
			      gint64 expires, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db,
				  "INSERT INTO tokens (hash, user_id, expires)"
				  " VALUES (?, ?, ?)",
				  error);
	if (!stmt)
		return FALSE;
	tracker_db_bind_blob(stmt, 1, hash, 32);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_int64(stmt, 3, expires);
	return tracker_db_run(db, stmt, error);
}

gint64 tracker_db_token_lookup(TrackerDb *db, const guint8 *hash, gint64 now,
			       char **name, gint64 *expires, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db,
				  "SELECT u.id, u.name, t.expires FROM tokens t"
				  " JOIN users u ON u.id = t.user_id"
				  " WHERE t.hash = ? AND t.expires > ?",
				  error);
	if (!stmt)
		return 0;
	tracker_db_bind_blob(stmt, 1, hash, 32);
	sqlite3_bind_int64(stmt, 2, now);
	if (tracker_db_step(db, stmt, error) != SQLITE_ROW)
		return 0;
	*name = tracker_db_column_dup(stmt, 1);
	*expires = sqlite3_column_int64(stmt, 2);
	return sqlite3_column_int64(stmt, 0);
}

gboolean tracker_db_token_remove(TrackerDb *db, const guint8 *hash,
				 GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db, "DELETE FROM tokens WHERE hash = ?",
				  error);
	if (!stmt)
		return FALSE;
	tracker_db_bind_blob(stmt, 1, hash, 32);
	return tracker_db_run(db, stmt, error);
}

gint64 tracker_db_token_expire(TrackerDb *db, gint64 now, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db, "DELETE FROM tokens WHERE expires <= ?",
				  error);
	if (!stmt)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	if (!tracker_db_run(db, stmt, error))
		return -1;
	return sqlite3_changes64(sqlite3_db_handle(stmt));
}
