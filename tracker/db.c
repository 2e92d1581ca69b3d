#include "db-private.h"

struct _TrackerDb {
	sqlite3 *handle;
	GHashTable *statements; /* SQL literal -> sqlite3_stmt */
	TrackerDbCache *cache;
};

/*
 * Migrations, in order: migrations[i] takes the schema from version i
 * to i + 1. Append; never edit one that has shipped.
 */
static const char *const migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  password TEXT NOT NULL,"
	"  passkey TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  hash BLOB PRIMARY KEY CHECK (length(hash) = 32),"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  expires INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX tokens_expires ON tokens(expires);"
	"CREATE TABLE groups ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL);"
	/* seq is the joining order, which decides the next owner. */
	"CREATE TABLE members ("
	"  seq INTEGER PRIMARY KEY,"
	"  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  role TEXT NOT NULL CHECK (role IN ('owner', 'member')),"
	"  joined INTEGER NOT NULL,"
	"  UNIQUE (group_id, user_id));"
	"CREATE UNIQUE INDEX members_one_owner ON members(group_id)"
	"  WHERE role = 'owner';"
	"CREATE INDEX members_user ON members(user_id);"
	"CREATE TABLE requests ("
	"  seq INTEGER PRIMARY KEY,"
	"  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  requested INTEGER NOT NULL,"
	"  UNIQUE (group_id, user_id));"
	"CREATE TABLE files ("
	"  id INTEGER PRIMARY KEY,"
	"  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	"  path TEXT NOT NULL,"
	"  info_hash BLOB NOT NULL CHECK (length(info_hash) = 20),"
	"  info BLOB NOT NULL,"
	"  length INTEGER NOT NULL,"
	"  piece_length INTEGER NOT NULL,"
	"  owner_id INTEGER NOT NULL REFERENCES users(id),"
	"  published INTEGER NOT NULL,"
	"  UNIQUE (group_id, path),"
	"  UNIQUE (group_id, info_hash));"
	"CREATE INDEX files_info_hash ON files(info_hash);",
};

guint tracker_db_schema_version(void)
{
	return G_N_ELEMENTS(migrations);
}

static gboolean fail(TrackerDb *db, const char *what, GError **error)
{
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INTERNAL,
		    "Database error while %s: %s.", what,
		    sqlite3_errmsg(db->handle));
	return FALSE;
}

static gboolean exec(TrackerDb *db, const char *sql, GError **error)
{
	if (sqlite3_exec(db->handle, sql, NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, "changing the schema or settings", error);
	return TRUE;
}

static gint64 query_int(TrackerDb *db, const char *sql, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	gint64 value = -1;

	if (sqlite3_prepare_v2(db->handle, sql, -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW)
		fail(db, "reading the schema version", error);
	else
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static gboolean set_pragmas(TrackerDb *db, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	gboolean wal;

	/* journal_mode answers with the mode it got; a read-only or
	 * unusual file system may refuse WAL, and then durability is
	 * not what the API promises. */
	if (sqlite3_prepare_v2(db->handle, "PRAGMA journal_mode = WAL", -1,
			       &stmt, NULL) != SQLITE_OK)
		return fail(db, "opening", error);
	wal = sqlite3_step(stmt) == SQLITE_ROW &&
	      g_ascii_strcasecmp((const char *)sqlite3_column_text(stmt, 0),
				 "wal") == 0;
	sqlite3_finalize(stmt);
	if (!wal)
		return fail(db, "switching to write-ahead logging", error);
	return exec(db,
		    "PRAGMA synchronous = FULL;"
		    "PRAGMA foreign_keys = ON;",
		    error);
}

static gboolean migrate(TrackerDb *db, GError **error)
{
	gint64 version = query_int(db, "PRAGMA user_version", error);

	if (version < 0)
		return FALSE;
	if (version > (gint64)G_N_ELEMENTS(migrations)) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INTERNAL,
			    "The database has schema version %" G_GINT64_FORMAT
			    ", newer than this tracker's %u; run a newer "
			    "groupfs-tracker.",
			    version, tracker_db_schema_version());
		return FALSE;
	}
	for (gsize v = version; v < G_N_ELEMENTS(migrations); v++) {
		g_autofree char *bump =
			g_strdup_printf("PRAGMA user_version = %zu", v + 1);

		if (!tracker_db_begin(db, error))
			return FALSE;
		if (!tracker_db_end(db,
				    exec(db, migrations[v], error) &&
					    exec(db, bump, error),
				    error))
			return FALSE;
	}
	return TRUE;
}

static void finalize_statement(gpointer stmt)
{
	sqlite3_finalize(stmt);
}

TrackerDb *tracker_db_open(const char *path, GError **error)
{
	g_autoptr(TrackerDb) db = g_new0(TrackerDb, 1);
	int rc;

	db->statements =
		g_hash_table_new_full(NULL, NULL, NULL, finalize_statement);
	db->cache = tracker_db_cache_new();
	rc = sqlite3_open_v2(path, &db->handle,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INTERNAL,
			    "Cannot open the database %s: %s.", path,
			    db->handle ? sqlite3_errmsg(db->handle)
				       : sqlite3_errstr(rc));
		return NULL;
	}
	sqlite3_extended_result_codes(db->handle, 1);
	if (!set_pragmas(db, error) || !migrate(db, error))
		return NULL;
	return g_steal_pointer(&db);
}

void tracker_db_free(TrackerDb *db)
{
	if (!db)
		return;
	/* Statements first: sqlite3_close refuses while any is alive. */
	g_clear_pointer(&db->statements, g_hash_table_unref);
	g_clear_pointer(&db->cache, tracker_db_cache_free);
	if (db->handle)
		sqlite3_close(db->handle);
	g_free(db);
}

TrackerDbCache *tracker_db_get_cache(TrackerDb *db)
{
	/* Every INSERT, UPDATE or DELETE that this connection runs counts,
	 * cascades through a counted row, and the tracker is the only
	 * writer: a changed count is exactly "something may differ". */
	tracker_db_cache_sync(db->cache, sqlite3_total_changes64(db->handle));
	return db->cache;
}

void tracker_db_stmt_release(TrackerDbStmt *stmt)
{
	sqlite3_reset(stmt);
}

TrackerDbStmt *tracker_db_prepare(TrackerDb *db, const char *sql,
				  GError **error)
{
	sqlite3_stmt *stmt = g_hash_table_lookup(db->statements, sql);

	if (stmt) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		return stmt;
	}
	if (sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &stmt, NULL) != SQLITE_OK) {
		fail(db, "preparing a statement", error);
		return NULL;
	}
	g_hash_table_insert(db->statements, (gpointer)sql, stmt);
	return stmt;
}

int tracker_db_step(TrackerDb *db, TrackerDbStmt *stmt, GError **error)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	if (rc == SQLITE_CONSTRAINT_UNIQUE ||
	    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		g_set_error_literal(error, TRACKER_ERROR,
				    TRACKER_ERROR_CONFLICT,
				    "That name is already taken.");
	else
		fail(db, "running a statement", error);
	return -1;
}

gboolean tracker_db_run(TrackerDb *db, TrackerDbStmt *stmt, GError **error)
{
	return tracker_db_step(db, stmt, error) == SQLITE_DONE;
}

void tracker_db_bind_text(TrackerDbStmt *stmt, int index, const char *text)
{
	sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
}

void tracker_db_bind_blob(TrackerDbStmt *stmt, int index, const void *data,
			  gsize len)
{
	sqlite3_bind_blob64(stmt, index, data, len, SQLITE_TRANSIENT);
}

char *tracker_db_column_dup(TrackerDbStmt *stmt, int column)
{
	return g_strdup((const char *)sqlite3_column_text(stmt, column));
}

gboolean tracker_db_begin(TrackerDb *db, GError **error)
{
	return exec(db, "BEGIN IMMEDIATE", error);
}

gboolean tracker_db_end(TrackerDb *db, gboolean ok, GError **error)
{
	if (ok && exec(db, "COMMIT", error))
		return TRUE;
	/* After a failed COMMIT SQLite may already have rolled back. */
	if (!sqlite3_get_autocommit(db->handle))
		sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
	return FALSE;
}
