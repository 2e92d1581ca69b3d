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
