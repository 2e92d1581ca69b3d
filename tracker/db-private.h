/*
 * db-private: what db.c shares with db-accounts.c, db-groups.c and
 * db-files.c: cached prepared statements, stepping with errors, and
 * transactions. Not for use outside the db-*.c family.
 */
#pragma once

#include <sqlite3.h>

#include "db.h"
#include "tracker-error.h"

/*
 * A statement borrowed from the cache. g_autoptr(TrackerDbStmt) does
 * not free it: it resets it, so that no statement keeps a read
 * transaction open after the function that used it returns.
 */
typedef sqlite3_stmt TrackerDbStmt;
void tracker_db_stmt_release(TrackerDbStmt *stmt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerDbStmt, tracker_db_stmt_release)

/* Returns the cached statement for @sql (a string literal: the cache
 * is keyed by its address), reset and with no bindings. */
TrackerDbStmt *tracker_db_prepare(TrackerDb *db, const char *sql,
				  GError **error);

/* sqlite3_step: SQLITE_ROW or SQLITE_DONE, or -1 with @error set
 * (CONFLICT for a broken UNIQUE constraint, else INTERNAL). */
int tracker_db_step(TrackerDb *db, TrackerDbStmt *stmt, GError **error);
/* Steps a statement that returns no rows. */
gboolean tracker_db_run(TrackerDb *db, TrackerDbStmt *stmt, GError **error);

void tracker_db_bind_text(TrackerDbStmt *stmt, int index, const char *text);
void tracker_db_bind_blob(TrackerDbStmt *stmt, int index, const void *data,
			  gsize len);
char *tracker_db_column_dup(TrackerDbStmt *stmt, int column);

/* BEGIN IMMEDIATE ... COMMIT or ROLLBACK. tracker_db_end commits when
 * @ok, rolls back otherwise, and returns whether the change stands. */
gboolean tracker_db_begin(TrackerDb *db, GError **error);
gboolean tracker_db_end(TrackerDb *db, gboolean ok, GError **error);

/*
 * The memory of the announce path's reads (db-cache.c). Answers stay
 * valid while the database's generation stays the same, and for at most
 * TRACKER_DB_CACHE_MAX_AGE seconds (for changes made outside the tracker).
 */
#define TRACKER_DB_CACHE_MAX_AGE 10

typedef struct _TrackerDbCache TrackerDbCache;

TrackerDbCache *tracker_db_cache_new(void);
void tracker_db_cache_free(TrackerDbCache *cache);
/* Empties the cache unless @generation is the one it was filled at
 * and it is young enough. */
void tracker_db_cache_sync(TrackerDbCache *cache, gint64 generation);
/* The cache of @db, synced with the database's current generation. */
TrackerDbCache *tracker_db_get_cache(TrackerDb *db);

/* 0 when not cached. */
gint64 tracker_db_cache_get_user(TrackerDbCache *cache, const char *passkey);
void tracker_db_cache_put_user(TrackerDbCache *cache, const char *passkey,
			       gint64 user_id);
/* A new reference to the cached scope, or NULL. */
GHashTable *tracker_db_cache_get_scope(TrackerDbCache *cache,
				       const guint8 *info_hash, gint64 user_id);
/* Keeps a reference to @scope, which must not change afterwards. */
void tracker_db_cache_put_scope(TrackerDbCache *cache, const guint8 *info_hash,
				gint64 user_id, GHashTable *scope);
