/* test-db: the tracker's database: migrations, accounts, groups (with
 * ownership transfer and deletion), files and the swarm scope, and that
 * the announce path's cached answers follow every change at once. */
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "db.h"
#include "tracker-error.h"

typedef struct {
	char *dir;
	char *path;
	TrackerDb *db;
	gint64 alice, bob, carol;
} Fixture;

static gint64 add_user(TrackerDb *db, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *passkey = g_strdup_printf("%032x", g_str_hash(name));
	g_autofree char *record = NULL;
	gint64 id = 0;

	g_assert_true(
		tracker_db_user_create(db, name, "rec", passkey, 1, &error));
	g_assert_no_error(error);
	record = tracker_db_user_get_password(db, name, &id, &error);
	g_assert_cmpstr(record, ==, "rec");
	return id;
}

static void setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("test-db-XXXXXX", &error);
	g_assert_no_error(error);
	f->path = g_build_filename(f->dir, "tracker.db", NULL);
	f->db = tracker_db_open(f->path, &error);
	g_assert_no_error(error);
	f->alice = add_user(f->db, "alice");
	f->bob = add_user(f->db, "bob");
	f->carol = add_user(f->db, "carol");
}

static void teardown(Fixture *f, gconstpointer data)
{
	g_autofree char *wal = g_strconcat(f->path, "-wal", NULL);
	g_autofree char *shm = g_strconcat(f->path, "-shm", NULL);

	g_clear_pointer(&f->db, tracker_db_free);
	g_unlink(f->path);
	g_unlink(wal);
	g_unlink(shm);
	g_rmdir(f->dir);
	g_free(f->path);
	g_free(f->dir);
}

static gint64 user_version(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	gint64 version = -1;

	g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
	g_assert_cmpint(
		sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL),
		==, SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return version;
}

static void test_migrations(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	sqlite3 *raw;

	g_assert_cmpint(user_version(f->path), ==, tracker_db_schema_version());
	/* Reopening keeps the data and migrates nothing twice. */
	g_clear_pointer(&f->db, tracker_db_free);
	f->db = tracker_db_open(f->path, &error);
	g_assert_no_error(error);
	g_assert_true(tracker_db_user_exists(f->db, "alice", &error));
	/* A database from a newer tracker is refused, not damaged. */
	g_clear_pointer(&f->db, tracker_db_free);
	g_assert_cmpint(sqlite3_open(f->path, &raw), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(raw, "PRAGMA user_version = 999", NULL,
				     NULL, NULL),
			==, SQLITE_OK);
	sqlite3_close(raw);
	f->db = tracker_db_open(f->path, &error);
	g_assert_null(f->db);
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_INTERNAL);
	g_assert_nonnull(strstr(error->message, "newer"));
	g_assert_cmpint(user_version(f->path), ==, 999);
}

static void test_accounts(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint8 hash[32] = {1, 2, 3};
	g_autofree char *name = NULL;
	g_autofree char *passkey = NULL;
	gint64 expires = 0, id = 0;

	g_assert_false(tracker_db_user_create(f->db, "alice", "x", "other", 1,
					      &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_null(
		tracker_db_user_get_password(f->db, "nobody", &id, &error));
	g_assert_no_error(error);
	passkey = tracker_db_user_get_passkey(f->db, f->bob, &error);
	g_assert_cmpint(tracker_db_user_find_by_passkey(f->db, passkey, &error),
			==, f->bob);
	g_assert_cmpint(tracker_db_user_find_by_passkey(f->db, "x", &error), ==,
			0);

	g_assert_true(tracker_db_token_add(f->db, hash, f->alice, 100, &error));
	g_assert_cmpint(tracker_db_token_lookup(f->db, hash, 99, &name,
						&expires, &error),
			==, f->alice);
	g_assert_cmpstr(name, ==, "alice");
	g_assert_cmpint(expires, ==, 100);
	/* Expired at its expiry second, and then deleted. */
	g_assert_cmpint(tracker_db_token_lookup(f->db, hash, 100, &name,
						&expires, &error),
			==, 0);
	g_assert_cmpint(tracker_db_token_expire(f->db, 100, &error), ==, 1);
	g_assert_no_error(error);
}

static TrackerRole role_of(Fixture *f, gint64 group, gint64 user)
{
	g_autoptr(GError) error = NULL;
	TrackerRole role = TRACKER_ROLE_OWNER;

	g_assert_true(
		tracker_db_group_get_role(f->db, group, user, &role, &error));
	g_assert_no_error(error);
	return role;
}

static gint64 make_group(Fixture *f, const char *name)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(
		tracker_db_group_create(f->db, name, f->alice, 10, &error));
	g_assert_no_error(error);
	return tracker_db_group_find(f->db, name, &error);
}

static void join(Fixture *f, gint64 group, gint64 user, const char *name)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(tracker_db_group_request(f->db, group, user, 20, &error));
	g_assert_true(
		tracker_db_group_decide(f->db, group, name, TRUE, 30, &error));
	g_assert_no_error(error);
}

static void test_group_requests(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) requests = NULL;
	gint64 g = make_group(f, "g");

	g_assert_false(tracker_db_group_create(f->db, "g", f->bob, 1, &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_cmpint(role_of(f, g, f->alice), ==, TRACKER_ROLE_OWNER);
	g_assert_true(tracker_db_group_request(f->db, g, f->bob, 5, &error));
	g_assert_true(tracker_db_group_request(f->db, g, f->carol, 6, &error));
	g_assert_false(tracker_db_group_request(f->db, g, f->bob, 7, &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_cmpint(role_of(f, g, f->bob), ==, TRACKER_ROLE_PENDING);

	requests = tracker_db_group_requests(f->db, g, &error);
	g_assert_cmpuint(requests->len, ==, 2);
	g_assert_cmpstr(((TrackerDbMember *)requests->pdata[0])->user, ==,
			"bob");
	g_assert_true(
		tracker_db_group_decide(f->db, g, "bob", TRUE, 8, &error));
	g_assert_true(
		tracker_db_group_decide(f->db, g, "carol", FALSE, 8, &error));
	g_assert_false(
		tracker_db_group_decide(f->db, g, "carol", TRUE, 9, &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_NOT_FOUND);
	g_assert_cmpint(role_of(f, g, f->bob), ==, TRACKER_ROLE_MEMBER);
	g_assert_cmpint(role_of(f, g, f->carol), ==, TRACKER_ROLE_NONE);
}

static void test_group_leave(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *owner = NULL;
	g_autoptr(GPtrArray) members = NULL;
	gboolean deleted = TRUE;
	gint64 g = make_group(f, "g");

	join(f, g, f->carol, "carol");
	join(f, g, f->bob, "bob");
	/* The owner leaves: carol joined first, so she takes over. */
	g_assert_true(tracker_db_group_leave(f->db, g, f->alice, &owner,
					     &deleted, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(owner, ==, "carol");
	g_assert_false(deleted);
	members = tracker_db_group_members(f->db, g, &error);
	g_assert_cmpuint(members->len, ==, 2);
	g_assert_cmpint(((TrackerDbMember *)members->pdata[0])->role, ==,
			TRACKER_ROLE_OWNER);
	g_clear_pointer(&owner, g_free);
	g_assert_false(tracker_db_group_leave(f->db, g, f->alice, &owner,
					      &deleted, &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_NOT_FOUND);
	g_clear_error(&error);

	g_assert_true(tracker_db_group_leave(f->db, g, f->bob, &owner, &deleted,
					     &error));
	g_assert_cmpstr(owner, ==, "carol");
	g_clear_pointer(&owner, g_free);
	g_assert_true(tracker_db_group_leave(f->db, g, f->carol, &owner,
					     &deleted, &error));
	g_assert_null(owner);
	g_assert_true(deleted);
	g_assert_cmpint(tracker_db_group_find(f->db, "g", &error), ==, 0);
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_NOT_FOUND);
}

static TrackerDbFile *file_at(const char *path, guint8 hash_byte)
{
	TrackerDbFile *file = g_new0(TrackerDbFile, 1);

	file->path = g_strdup(path);
	memset(file->info_hash, hash_byte, 20);
	file->length = 100;
	file->piece_length = 16384;
	file->info = g_bytes_new_static("d4:name1:xe", 11);
	return file;
}

static void test_files(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	gint64 g = make_group(f, "g");
	TrackerDbActor alice = {g, f->alice, TRUE};
	TrackerDbActor bob = {g, f->bob, FALSE};
	g_autoptr(TrackerDbFile) one = file_at("a/one", 1);
	g_autoptr(TrackerDbFile) two = file_at("two", 2);
	g_autoptr(TrackerDbFile) dup = file_at("three", 1);
	g_autoptr(GPtrArray) files = NULL;
	g_autoptr(GHashTable) scope = NULL;
	gboolean replaced = TRUE;

	join(f, g, f->bob, "bob");
	g_assert_true(tracker_db_file_publish(f->db, &bob, one, 1, &replaced,
					      &error));
	g_assert_false(replaced);
	g_assert_true(tracker_db_file_publish(f->db, &bob, one, 2, &replaced,
					      &error));
	g_assert_true(replaced);
	g_assert_false(tracker_db_file_publish(f->db, &alice, one, 3, &replaced,
					       &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_false(tracker_db_file_publish(f->db, &bob, dup, 3, &replaced,
					       &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_true(tracker_db_file_publish(f->db, &alice, two, 4, &replaced,
					      &error));

	g_assert_false(tracker_db_file_remove(f->db, &bob, "two", &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_FORBIDDEN);
	g_clear_error(&error);
	g_assert_false(
		tracker_db_file_rename(f->db, &bob, "a/one", "two", &error));
	g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT);
	g_clear_error(&error);
	g_assert_true(tracker_db_file_rename(f->db, &alice, "a/one", "b/one",
					     &error));
	files = tracker_db_file_list(f->db, g, &error);
	g_assert_cmpuint(files->len, ==, 2);
	g_assert_cmpstr(((TrackerDbFile *)files->pdata[0])->path, ==, "b/one");
	g_assert_cmpstr(((TrackerDbFile *)files->pdata[0])->owner, ==, "bob");

	scope = tracker_db_swarm_scope(f->db, one->info_hash, f->bob, &error);
	g_assert_cmpuint(g_hash_table_size(scope), ==, 2);
	g_assert_true(g_hash_table_contains(scope, &f->alice));
	g_clear_pointer(&scope, g_hash_table_unref);
	scope = tracker_db_swarm_scope(f->db, one->info_hash, f->carol, &error);
	g_assert_cmpuint(g_hash_table_size(scope), ==, 0);
	g_assert_true(tracker_db_file_remove(f->db, &alice, "b/one", &error));
	g_assert_no_error(error);
}

/* The size of @user's scope in the swarm of @file, asked twice so that
 * the second answer comes from the cache. */
static guint scope_size(Fixture *f, const TrackerDbFile *file, gint64 user)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) first = NULL;
	g_autoptr(GHashTable) second = NULL;

	first = tracker_db_swarm_scope(f->db, file->info_hash, user, &error);
	g_assert_no_error(error);
	second = tracker_db_swarm_scope(f->db, file->info_hash, user, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(first), ==,
			 g_hash_table_size(second));
	return g_hash_table_size(second);
}

static void test_cache_follows_changes(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *passkey = NULL;
	g_autofree char *owner = NULL;
	gint64 g = make_group(f, "g");
	TrackerDbActor alice = {g, f->alice, TRUE};
	g_autoptr(TrackerDbFile) one = file_at("one", 7);
	gboolean replaced, deleted;

	passkey = tracker_db_user_get_passkey(f->db, f->bob, &error);
	g_assert_cmpint(tracker_db_user_find_by_passkey(f->db, passkey, &error),
			==, f->bob);
	g_assert_cmpint(tracker_db_user_find_by_passkey(f->db, passkey, &error),
			==, f->bob);
	/* Not yet published, then published: the cached "no" goes. */
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 0);
	g_assert_true(tracker_db_file_publish(f->db, &alice, one, 1, &replaced,
					      &error));
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 1);
	/* A pending request is no membership; accepting it is. */
	g_assert_cmpuint(scope_size(f, one, f->bob), ==, 0);
	g_assert_true(tracker_db_group_request(f->db, g, f->bob, 2, &error));
	g_assert_cmpuint(scope_size(f, one, f->bob), ==, 0);
	g_assert_true(
		tracker_db_group_decide(f->db, g, "bob", TRUE, 3, &error));
	g_assert_cmpuint(scope_size(f, one, f->bob), ==, 2);
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 2);
	/* Leaving, unpublishing and deleting the group each take it away. */
	g_assert_true(tracker_db_group_leave(f->db, g, f->bob, &owner, &deleted,
					     &error));
	g_clear_pointer(&owner, g_free);
	g_assert_cmpuint(scope_size(f, one, f->bob), ==, 0);
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 1);
	g_assert_true(tracker_db_file_remove(f->db, &alice, "one", &error));
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 0);
	g_assert_true(tracker_db_file_publish(f->db, &alice, one, 4, &replaced,
					      &error));
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 1);
	g_assert_true(tracker_db_group_leave(f->db, g, f->alice, &owner,
					     &deleted, &error));
	g_assert_true(deleted);
	g_assert_cmpuint(scope_size(f, one, f->alice), ==, 0);
	g_assert_no_error(error);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, func) g_test_add(path, Fixture, NULL, setup, func, teardown)
	ADD("/tracker/db/migrations", test_migrations);
	ADD("/tracker/db/accounts", test_accounts);
	ADD("/tracker/db/group-requests", test_group_requests);
	ADD("/tracker/db/group-leave", test_group_leave);
	ADD("/tracker/db/files", test_files);
	ADD("/tracker/db/cache-follows-changes", test_cache_follows_changes);
	return g_test_run();
}
