/* db-groups: groups, their members in joining order, and join requests. */
#include "db-private.h"

static const char *const role_names[] = {
	[TRACKER_ROLE_NONE] = "none",
	[TRACKER_ROLE_PENDING] = "pending",
	[TRACKER_ROLE_MEMBER] = "member",
	[TRACKER_ROLE_OWNER] = "owner",
};

const char *tracker_role_to_string(TrackerRole role)
{
	g_return_val_if_fail(role < G_N_ELEMENTS(role_names), "none");
	return role_names[role];
}

static TrackerRole role_from_string(const char *name)
{
	for (gsize i = 0; name && i < G_N_ELEMENTS(role_names); i++)
		if (g_str_equal(name, role_names[i]))
			return (TrackerRole)i;
	return TRACKER_ROLE_NONE;
}

void tracker_db_group_free(TrackerDbGroup *group)
{
	g_free(group->name);
	g_free(group->owner);
	g_free(group);
}

void tracker_db_member_free(TrackerDbMember *member)
{
	g_free(member->user);
	g_free(member);
}

static gboolean insert_member(TrackerDb *db, gint64 group_id, gint64 user_id,
			      TrackerRole role, gint64 now, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db,
				  "INSERT INTO members (group_id, user_id,"
				  " role, joined) VALUES (?, ?, ?, ?)",
				  error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	sqlite3_bind_int64(stmt, 2, user_id);
	tracker_db_bind_text(stmt, 3, tracker_role_to_string(role));
	sqlite3_bind_int64(stmt, 4, now);
	return tracker_db_run(db, stmt, error);
}

static gint64 insert_group(TrackerDb *db, const char *name, gint64 now,
			   GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	g_autoptr(GError) local = NULL;

	stmt = tracker_db_prepare(
		db, "INSERT INTO groups (name, created) VALUES (?, ?)", error);
	if (!stmt)
		return 0;
	tracker_db_bind_text(stmt, 1, name);
	sqlite3_bind_int64(stmt, 2, now);
	if (tracker_db_run(db, stmt, &local))
		return sqlite3_last_insert_rowid(sqlite3_db_handle(stmt));
	if (g_error_matches(local, TRACKER_ERROR, TRACKER_ERROR_CONFLICT))
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT,
			    "A group named \"%s\" exists already; join it or "
			    "choose another name.",
			    name);
	else
		g_propagate_error(error, g_steal_pointer(&local));
	return 0;
}

gboolean tracker_db_group_create(TrackerDb *db, const char *name,
				 gint64 owner_id, gint64 now, GError **error)
{
	gint64 group_id;

	if (!tracker_db_begin(db, error))
		return FALSE;
	group_id = insert_group(db, name, now, error);
	return tracker_db_end(
		db,
		group_id != 0 && insert_member(db, group_id, owner_id,
					       TRACKER_ROLE_OWNER, now, error),
		error);
}

gint64 tracker_db_group_find(TrackerDb *db, const char *name, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	int rc;

	stmt = tracker_db_prepare(db, "SELECT id FROM groups WHERE name = ?",
				  error);
	if (!stmt)
		return 0;
	tracker_db_bind_text(stmt, 1, name);
	rc = tracker_db_step(db, stmt, error);
	if (rc == SQLITE_ROW)
		return sqlite3_column_int64(stmt, 0);
	if (rc == SQLITE_DONE)
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_NOT_FOUND,
			    "There is no group named \"%s\".", name);
	return 0;
}

gboolean tracker_db_group_get_role(TrackerDb *db, gint64 group_id,
				   gint64 user_id, TrackerRole *role,
				   GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	int rc;

	stmt = tracker_db_prepare(
		db,
		"SELECT role FROM members WHERE group_id = ?1 AND user_id = ?2"
		" UNION ALL SELECT 'pending' FROM requests"
		" WHERE group_id = ?1 AND user_id = ?2",
		error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	sqlite3_bind_int64(stmt, 2, user_id);
	rc = tracker_db_step(db, stmt, error);
	*role = rc == SQLITE_ROW
			? role_from_string(
				  (const char *)sqlite3_column_text(stmt, 0))
			: TRACKER_ROLE_NONE;
	return rc != -1;
}

GPtrArray *tracker_db_group_list(TrackerDb *db, gint64 user_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	g_autoptr(GPtrArray) groups = NULL;
	int rc;

	stmt = tracker_db_prepare(
		db,
		"SELECT g.name, o.name,"
		" (SELECT count(*) FROM members WHERE group_id = g.id),"
		" coalesce(m.role, CASE WHEN r.user_id IS NOT NULL"
		"   THEN 'pending' END, 'none')"
		" FROM groups g"
		" JOIN members om ON om.group_id = g.id AND om.role = 'owner'"
		" JOIN users o ON o.id = om.user_id"
		" LEFT JOIN members m ON m.group_id = g.id AND m.user_id = ?1"
		" LEFT JOIN requests r ON r.group_id = g.id AND r.user_id = ?1"
		" ORDER BY g.name",
		error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, user_id);
	groups = g_ptr_array_new_with_free_func(
		(GDestroyNotify)tracker_db_group_free);
	while ((rc = tracker_db_step(db, stmt, error)) == SQLITE_ROW) {
		TrackerDbGroup *g = g_new0(TrackerDbGroup, 1);

		g->name = tracker_db_column_dup(stmt, 0);
		g->owner = tracker_db_column_dup(stmt, 1);
		g->members = sqlite3_column_int(stmt, 2);
		g->role = role_from_string(
			(const char *)sqlite3_column_text(stmt, 3));
		g_ptr_array_add(groups, g);
	}
	return rc == SQLITE_DONE ? g_steal_pointer(&groups) : NULL;
}

/* Rows of (user name, role, time) as TrackerDbMember items. */
static GPtrArray *collect_members(TrackerDb *db, TrackerDbStmt *stmt,
				  GError **error)
{
	g_autoptr(GPtrArray) members = g_ptr_array_new_with_free_func(
		(GDestroyNotify)tracker_db_member_free);
	int rc;

	while ((rc = tracker_db_step(db, stmt, error)) == SQLITE_ROW) {
		TrackerDbMember *m = g_new0(TrackerDbMember, 1);

		m->user = tracker_db_column_dup(stmt, 0);
		m->role = role_from_string(
			(const char *)sqlite3_column_text(stmt, 1));
		m->since = sqlite3_column_int64(stmt, 2);
		g_ptr_array_add(members, m);
	}
	return rc == SQLITE_DONE ? g_steal_pointer(&members) : NULL;
}

GPtrArray *tracker_db_group_members(TrackerDb *db, gint64 group_id,
				    GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(
		db,
		"SELECT u.name, m.role, m.joined FROM members m"
		" JOIN users u ON u.id = m.user_id"
		" WHERE m.group_id = ? ORDER BY m.seq",
		error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, group_id);
	return collect_members(db, stmt, error);
}

GPtrArray *tracker_db_group_requests(TrackerDb *db, gint64 group_id,
				     GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db,
				  "SELECT u.name, 'pending', r.requested"
				  " FROM requests r"
				  " JOIN users u ON u.id = r.user_id"
				  " WHERE r.group_id = ? ORDER BY r.seq",
				  error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, group_id);
	return collect_members(db, stmt, error);
}

gboolean tracker_db_group_request(TrackerDb *db, gint64 group_id,
				  gint64 user_id, gint64 now, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	TrackerRole role;

	if (!tracker_db_group_get_role(db, group_id, user_id, &role, error))
		return FALSE;
	if (role != TRACKER_ROLE_NONE) {
		g_set_error_literal(
			error, TRACKER_ERROR, TRACKER_ERROR_CONFLICT,
			role == TRACKER_ROLE_PENDING
				? "Your request to join this group is already "
				  "pending; its owner has to accept it."
				: "You are already a member of this group.");
		return FALSE;
	}
	stmt = tracker_db_prepare(db,
				  "INSERT INTO requests (group_id, user_id,"
				  " requested) VALUES (?, ?, ?)",
				  error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_int64(stmt, 3, now);
	return tracker_db_run(db, stmt, error);
}

/* The id of @user when they have a request pending for @group_id. */
static gint64 find_request(TrackerDb *db, gint64 group_id, const char *user,
			   GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;
	int rc;

	stmt = tracker_db_prepare(db,
				  "SELECT r.user_id FROM requests r"
				  " JOIN users u ON u.id = r.user_id"
				  " WHERE r.group_id = ? AND u.name = ?",
				  error);
	if (!stmt)
		return 0;
	sqlite3_bind_int64(stmt, 1, group_id);
	tracker_db_bind_text(stmt, 2, user);
	rc = tracker_db_step(db, stmt, error);
	if (rc == SQLITE_ROW)
		return sqlite3_column_int64(stmt, 0);
	if (rc == SQLITE_DONE)
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_NOT_FOUND,
			    "\"%s\" has no pending request to join this "
			    "group.",
			    user);
	return 0;
}

static gboolean delete_pair(TrackerDb *db, const char *sql, gint64 group_id,
			    gint64 user_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = tracker_db_prepare(db, sql, error);

	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	sqlite3_bind_int64(stmt, 2, user_id);
	return tracker_db_run(db, stmt, error);
}

static const char delete_request_sql[] =
	"DELETE FROM requests WHERE group_id = ? AND user_id = ?";
static const char delete_member_sql[] =
	"DELETE FROM members WHERE group_id = ? AND user_id = ?";

gboolean tracker_db_group_decide(TrackerDb *db, gint64 group_id,
				 const char *user, gboolean accept, gint64 now,
				 GError **error)
{
	gint64 user_id;
	gboolean ok;

	if (!tracker_db_begin(db, error))
		return FALSE;
	user_id = find_request(db, group_id, user, error);
	ok = user_id != 0 &&
	     delete_pair(db, delete_request_sql, group_id, user_id, error) &&
	     (!accept || insert_member(db, group_id, user_id,
				       TRACKER_ROLE_MEMBER, now, error));
	return tracker_db_end(db, ok, error);
}

/* The owner's name after a change; NULL (no error) when no member is
 * left. */
static char *current_owner(TrackerDb *db, gint64 group_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db,
				  "SELECT u.name FROM members m"
				  " JOIN users u ON u.id = m.user_id"
				  " WHERE m.group_id = ? AND m.role = 'owner'",
				  error);
	if (!stmt)
		return NULL;
	sqlite3_bind_int64(stmt, 1, group_id);
	if (tracker_db_step(db, stmt, error) != SQLITE_ROW)
		return NULL;
	return tracker_db_column_dup(stmt, 0);
}

/* Makes the earliest remaining member the owner; FALSE on error only. */
static gboolean promote_earliest(TrackerDb *db, gint64 group_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(
		db,
		"UPDATE members SET role = 'owner' WHERE seq = (SELECT seq"
		" FROM members WHERE group_id = ? ORDER BY seq LIMIT 1)",
		error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	return tracker_db_run(db, stmt, error);
}

static gboolean delete_group(TrackerDb *db, gint64 group_id, GError **error)
{
	g_autoptr(TrackerDbStmt) stmt = NULL;

	stmt = tracker_db_prepare(db, "DELETE FROM groups WHERE id = ?", error);
	if (!stmt)
		return FALSE;
	sqlite3_bind_int64(stmt, 1, group_id);
	return tracker_db_run(db, stmt, error);
}

static gboolean leave_steps(TrackerDb *db, gint64 group_id, gint64 user_id,
			    char **new_owner, gboolean *deleted, GError **error)
{
	g_autoptr(GError) local = NULL;
	TrackerRole role;

	if (!tracker_db_group_get_role(db, group_id, user_id, &role, error))
		return FALSE;
	if (role == TRACKER_ROLE_NONE) {
		g_set_error_literal(error, TRACKER_ERROR,
				    TRACKER_ERROR_NOT_FOUND,
				    "You are not a member of this group and "
				    "have no pending request to withdraw.");
		return FALSE;
	}
	if (role == TRACKER_ROLE_PENDING) {
		if (!delete_pair(db, delete_request_sql, group_id, user_id,
				 error))
			return FALSE;
	} else if (!delete_pair(db, delete_member_sql, group_id, user_id,
				error) ||
		   (role == TRACKER_ROLE_OWNER &&
		    !promote_earliest(db, group_id, error))) {
		return FALSE;
	}
	*new_owner = current_owner(db, group_id, &local);
	if (local) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	*deleted = *new_owner == NULL;
	return !*deleted || delete_group(db, group_id, error);
}

gboolean tracker_db_group_leave(TrackerDb *db, gint64 group_id, gint64 user_id,
				char **new_owner, gboolean *deleted,
				GError **error)
{
	g_autofree char *owner = NULL;

	*new_owner = NULL;
	*deleted = FALSE;
	if (!tracker_db_begin(db, error))
		return FALSE;
	if (!tracker_db_end(
		    db,
		    leave_steps(db, group_id, user_id, &owner, deleted, error),
		    error)) {
		*deleted = FALSE;
		return FALSE;
	}
	*new_owner = g_steal_pointer(&owner);
	return TRUE;
}
