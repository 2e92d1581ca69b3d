/* api-groups: creating, listing, joining and leaving groups, and the
 * owner's decisions on join requests. */
#include "api.h"
#include "tracker-error.h"
#include "validate.h"

void tracker_api_groups_list(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	GError *error = NULL;
	g_autoptr(GPtrArray) groups = tracker_db_group_list(
		app->db, tracker_request_get_user_id(req), &error);
	JsonBuilder *b;

	if (!groups) {
		tracker_api_fail(req, error);
		return;
	}
	b = tracker_api_begin_object();
	json_builder_set_member_name(b, "groups");
	json_builder_begin_array(b);
	for (guint i = 0; i < groups->len; i++) {
		TrackerDbGroup *g = g_ptr_array_index(groups, i);

		json_builder_begin_object(b);
		tracker_api_add_string(b, "name", g->name);
		tracker_api_add_string(b, "owner", g->owner);
		tracker_api_add_int(b, "members", g->members);
		tracker_api_add_string(b, "role",
				       tracker_role_to_string(g->role));
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	tracker_api_reply_object(req, 200, b);
}

static void reply_role(TrackerRequest *req, guint status, const char *group,
		       const char *user, TrackerRole role)
{
	JsonBuilder *b = tracker_api_begin_object();

	tracker_api_add_string(b, "name", group);
	if (user)
		tracker_api_add_string(b, "user", user);
	tracker_api_add_string(b, "role", tracker_role_to_string(role));
	tracker_api_reply_object(req, status, b);
}

void tracker_api_groups_create(TrackerRequest *req)
{
	TrackerField fields[] = {{"name"}};
	TrackerApp *app = tracker_request_get_app(req);
	GError *error = NULL;

	if (!tracker_request_read_fields(req, fields, G_N_ELEMENTS(fields),
					 &error) ||
	    !tracker_validate_name("group name", fields[0].value, &error) ||
	    !tracker_db_group_create(app->db, fields[0].value,
				     tracker_request_get_user_id(req),
				     tracker_api_now(), &error)) {
		tracker_api_fail(req, error);
		return;
	}
	g_message("%s created group %s", tracker_request_get_user(req),
		  fields[0].value);
	reply_role(req, 201, fields[0].value, NULL, TRACKER_ROLE_OWNER);
}

/* Members or requests as {"KEY": [{"user", "role"?, TIME_KEY}]}. */
static void reply_people(TrackerRequest *req, const char *key,
			 const char *time_key, GPtrArray *people)
{
	JsonBuilder *b = tracker_api_begin_object();

	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; i < people->len; i++) {
		TrackerDbMember *m = g_ptr_array_index(people, i);

		json_builder_begin_object(b);
		tracker_api_add_string(b, "user", m->user);
		if (m->role != TRACKER_ROLE_PENDING)
			tracker_api_add_string(b, "role",
					       tracker_role_to_string(m->role));
		tracker_api_add_int(b, time_key, m->since);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	tracker_api_reply_object(req, 200, b);
}

typedef GPtrArray *(*PeopleFunc)(TrackerDb *db, gint64 group_id,
				 GError **error);

/* The members or the requests of the group, for callers of at least
 * @min_role. */
static void list_people(TrackerRequest *req, TrackerRole min_role,
			const char *action, PeopleFunc fetch, const char *key,
			const char *time_key)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(GPtrArray) people = NULL;
	TrackerRole role;
	GError *error = NULL;
	gint64 group_id =
		tracker_api_find_group(req, min_role, action, &role, &error);

	if (group_id)
		people = fetch(app->db, group_id, &error);
	if (!people) {
		tracker_api_fail(req, error);
		return;
	}
	reply_people(req, key, time_key, people);
}

void tracker_api_group_members(TrackerRequest *req)
{
	list_people(req, TRACKER_ROLE_MEMBER, "see its members",
		    tracker_db_group_members, "members", "joined");
}

void tracker_api_group_requests(TrackerRequest *req)
{
	list_people(req, TRACKER_ROLE_OWNER, "see its join requests",
		    tracker_db_group_requests, "requests", "requested");
}

void tracker_api_group_join(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	TrackerRole role;
	GError *error = NULL;
	gint64 group_id = 0;

	if (tracker_request_read_fields(req, NULL, 0, &error))
		group_id = tracker_api_find_group(req, TRACKER_ROLE_NONE, "",
						  &role, &error);
	if (!group_id ||
	    !tracker_db_group_request(app->db, group_id,
				      tracker_request_get_user_id(req),
				      tracker_api_now(), &error)) {
		tracker_api_fail(req, error);
		return;
	}
	reply_role(req, 202, tracker_request_get_arg(req, 0), NULL,
		   TRACKER_ROLE_PENDING);
}

static void decide(TrackerRequest *req, gboolean accept)
{
	TrackerApp *app = tracker_request_get_app(req);
	const char *user = tracker_request_get_arg(req, 1);
	TrackerRole role;
	GError *error = NULL;
	gint64 group_id = 0;

	if (tracker_request_read_fields(req, NULL, 0, &error) &&
	    tracker_validate_name("user name", user, &error))
		group_id = tracker_api_find_group(req, TRACKER_ROLE_OWNER,
						  "decide on join requests",
						  &role, &error);
	if (!group_id ||
	    !tracker_db_group_decide(app->db, group_id, user, accept,
				     tracker_api_now(), &error)) {
		tracker_api_fail(req, error);
		return;
	}
	g_message("%s %s %s into group %s", tracker_request_get_user(req),
		  accept ? "accepted" : "did not accept", user,
		  tracker_request_get_arg(req, 0));
	reply_role(req, 200, tracker_request_get_arg(req, 0), user,
		   accept ? TRACKER_ROLE_MEMBER : TRACKER_ROLE_NONE);
}

void tracker_api_group_accept(TrackerRequest *req)
{
	decide(req, TRUE);
}

void tracker_api_group_reject(TrackerRequest *req)
{
	decide(req, FALSE);
}

void tracker_api_group_leave(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autofree char *owner = NULL;
	gboolean deleted = FALSE;
	TrackerRole role;
	GError *error = NULL;
	gint64 group_id = 0;
	JsonBuilder *b;

	if (tracker_request_read_fields(req, NULL, 0, &error))
		group_id = tracker_api_find_group(req, TRACKER_ROLE_NONE, "",
						  &role, &error);
	if (!group_id ||
	    !tracker_db_group_leave(app->db, group_id,
				    tracker_request_get_user_id(req), &owner,
				    &deleted, &error)) {
		tracker_api_fail(req, error);
		return;
	}
	b = tracker_api_begin_object();
	tracker_api_add_string(b, "name", tracker_request_get_arg(req, 0));
	json_builder_set_member_name(b, "owner");
	if (owner)
		json_builder_add_string_value(b, owner);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "deleted");
	json_builder_add_boolean_value(b, deleted);
	tracker_api_reply_object(req, 200, b);
}
