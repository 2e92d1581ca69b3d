/*
 * db: the tracker's durable state in SQLite: users, tokens, groups,
 * members, join requests and files.
 *
 * Owns: the connection, the schema and its migrations (PRAGMA
 * user_version), and every SQL statement, always prepared and bound,
 * never built from strings. Each change that takes more than one
 * statement runs in one transaction. With WAL and synchronous=FULL a
 * function that returned TRUE has its change on disk: a kill -9 after
 * a 2xx loses nothing.
 *
 * Must not: decide who may do what (the API handlers do, from the roles
 * that this module reports) or know about HTTP and JSON. Errors are
 * TRACKER_ERROR codes; a SQLite failure is TRACKER_ERROR_INTERNAL.
 *
 * Single-threaded: only the main loop touches it. The reads of the
 * announce path (a passkey's user, a swarm's scope) are answered from
 * memory while no write has happened since (db-cache.c); the tracker
 * must be the database's only writer for that to be exact, and a change
 * made by hand shows within 10 seconds.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _TrackerDb TrackerDb;

/* Opens or creates the database at @path and brings its schema up to
 * date. Refuses a database written by a newer tracker. */
TrackerDb *tracker_db_open(const char *path, GError **error);
void tracker_db_free(TrackerDb *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerDb, tracker_db_free)

/* The schema version this build writes (the number of migrations). */
guint tracker_db_schema_version(void);

/* --- Accounts (db-accounts.c) --- */

/* Creates a user; TRACKER_ERROR_CONFLICT when the name is taken. */
gboolean tracker_db_user_create(TrackerDb *db, const char *name,
				const char *password_record,
				const char *passkey, gint64 now,
				GError **error);
gboolean tracker_db_user_exists(TrackerDb *db, const char *name,
				GError **error);
/* The password record of @name, or NULL (no error) for an unknown
 * user. Stores the user's id in @user_id. */
char *tracker_db_user_get_password(TrackerDb *db, const char *name,
				   gint64 *user_id, GError **error);
gboolean tracker_db_user_set_password(TrackerDb *db, gint64 user_id,
				      const char *password_record,
				      GError **error);
char *tracker_db_user_get_passkey(TrackerDb *db, gint64 user_id,
				  GError **error);
/* The user id for @passkey, or 0 when no user has it. */
gint64 tracker_db_user_find_by_passkey(TrackerDb *db, const char *passkey,
				       GError **error);

/* Tokens are stored only as their SHA-256 (@hash, 32 bytes). */
gboolean tracker_db_token_add(TrackerDb *db, const guint8 *hash, gint64 user_id,
			      gint64 expires, GError **error);
/* The user of an unexpired token, or 0. Fills @name and @expires. */
gint64 tracker_db_token_lookup(TrackerDb *db, const guint8 *hash, gint64 now,
			       char **name, gint64 *expires, GError **error);
gboolean tracker_db_token_remove(TrackerDb *db, const guint8 *hash,
				 GError **error);
/* Deletes expired tokens; returns how many, or -1. */
gint64 tracker_db_token_expire(TrackerDb *db, gint64 now, GError **error);

/* --- Groups (db-groups.c) --- */

typedef enum {
	TRACKER_ROLE_NONE,
	TRACKER_ROLE_PENDING,
	TRACKER_ROLE_MEMBER,
	TRACKER_ROLE_OWNER,
} TrackerRole;

const char *tracker_role_to_string(TrackerRole role);

typedef struct {
	char *name;
	char *owner;
	guint members;
	TrackerRole role; /* the caller's */
} TrackerDbGroup;

/* One member, or one pending request (role PENDING, @since the time of
 * the request). */
typedef struct {
	char *user;
	TrackerRole role;
	gint64 since;
} TrackerDbMember;

/* Creates @name with @owner_id as owner; CONFLICT when it exists. */
gboolean tracker_db_group_create(TrackerDb *db, const char *name,
				 gint64 owner_id, gint64 now, GError **error);
/* The id of group @name; TRACKER_ERROR_NOT_FOUND when there is none. */
gint64 tracker_db_group_find(TrackerDb *db, const char *name, GError **error);
/* Stores @user_id's role in @group_id in @role. */
gboolean tracker_db_group_get_role(TrackerDb *db, gint64 group_id,
				   gint64 user_id, TrackerRole *role,
				   GError **error);
/* All groups, by name, with @user_id's role: TrackerDbGroup items. */
GPtrArray *tracker_db_group_list(TrackerDb *db, gint64 user_id, GError **error);
/* Members in joining order: TrackerDbMember items. */
GPtrArray *tracker_db_group_members(TrackerDb *db, gint64 group_id,
				    GError **error);
/* Pending requests, oldest first: TrackerDbMember items. */
GPtrArray *tracker_db_group_requests(TrackerDb *db, gint64 group_id,
				     GError **error);
/* Records a join request; CONFLICT when already member or pending. */
gboolean tracker_db_group_request(TrackerDb *db, gint64 group_id,
				  gint64 user_id, gint64 now, GError **error);
/* Accepts (makes a member) or rejects (deletes) @user's request;
 * NOT_FOUND when @user has none. */
gboolean tracker_db_group_decide(TrackerDb *db, gint64 group_id,
				 const char *user, gboolean accept, gint64 now,
				 GError **error);
/* Removes @user_id's membership or request. When the owner leaves, the
 * earliest member becomes owner (@new_owner: their name, or NULL); when
 * no member is left the group and its files go (@deleted). NOT_FOUND
 * when @user_id is neither member nor pending. */
gboolean tracker_db_group_leave(TrackerDb *db, gint64 group_id, gint64 user_id,
				char **new_owner, gboolean *deleted,
				GError **error);

void tracker_db_group_free(TrackerDbGroup *group);
void tracker_db_member_free(TrackerDbMember *member);

/* --- Files (db-files.c) --- */

typedef struct {
	char *path;
	guint8 info_hash[20];
	guint64 length;
	guint32 piece_length;
	char *owner;
	gint64 published;
	GBytes *info; /* only from tracker_db_file_get */
} TrackerDbFile;

void tracker_db_file_free(TrackerDbFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerDbFile, tracker_db_file_free)

/* The files of @group_id by path: TrackerDbFile items without info. */
GPtrArray *tracker_db_file_list(TrackerDb *db, gint64 group_id, GError **error);
/* One file with its info; NOT_FOUND when there is none at @path. */
TrackerDbFile *tracker_db_file_get(TrackerDb *db, gint64 group_id,
				   const char *path, GError **error);

/* What the API needs to know about a file before changing it. */
typedef struct {
	gint64 group_id;
	gint64 user_id;
	gboolean is_group_owner; /* may change anyone's file */
} TrackerDbActor;

/* Publishes @file (its path, hash, lengths and info) as @actor's.
 * Replaces the file at the same path when @actor owns it (@replaced);
 * CONFLICT when another member owns that path or the info-hash is
 * already in the group under another path. */
gboolean tracker_db_file_publish(TrackerDb *db, const TrackerDbActor *actor,
				 const TrackerDbFile *file, gint64 now,
				 gboolean *replaced, GError **error);
/* NOT_FOUND when no file is at @path; FORBIDDEN unless @actor owns the
 * file or the group. */
gboolean tracker_db_file_remove(TrackerDb *db, const TrackerDbActor *actor,
				const char *path, GError **error);
/* As remove, plus CONFLICT when @to is taken. */
gboolean tracker_db_file_rename(TrackerDb *db, const TrackerDbActor *actor,
				const char *from, const char *to,
				GError **error);

/* The users whose peers @user_id may see in the swarm of @info_hash:
 * the members of every group that holds it and that @user_id belongs
 * to (@user_id included). Empty when @user_id is in no such group.
 * A set of gint64 user ids (g_int64_hash), shared with the cache:
 * read it, unref it, never change it. */
GHashTable *tracker_db_swarm_scope(TrackerDb *db, const guint8 *info_hash,
				   gint64 user_id, GError **error);

G_END_DECLS
