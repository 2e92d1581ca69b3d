/* api-common: what every api-*.c handler file needs. */
#include "api.h"
#include "tracker-error.h"
#include "validate.h"

char *tracker_api_hex(const guint8 *bytes, gsize len)
{
	GString *s = g_string_sized_new(2 * len);

	for (gsize i = 0; i < len; i++)
		g_string_append_printf(s, "%02x", bytes[i]);
	return g_string_free(s, FALSE);
}

gint64 tracker_api_now(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

gint64 tracker_api_find_group(TrackerRequest *req, TrackerRole min_role,
			      const char *action, TrackerRole *role,
			      GError **error)
{
	TrackerApp *app = tracker_request_get_app(req);
	const char *name = tracker_request_get_arg(req, 0);
	gint64 group_id;

	if (!tracker_validate_name("group name", name, error))
		return 0;
	group_id = tracker_db_group_find(app->db, name, error);
	if (!group_id || !tracker_db_group_get_role(
				 app->db, group_id,
				 tracker_request_get_user_id(req), role, error))
		return 0;
	if (*role < min_role) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_FORBIDDEN,
			    "Only %s of \"%s\" may %s.",
			    min_role == TRACKER_ROLE_OWNER ? "the owner"
							   : "members",
			    name, action);
		return 0;
	}
	return group_id;
}

JsonBuilder *tracker_api_begin_object(void)
{
	JsonBuilder *b = json_builder_new();

	json_builder_begin_object(b);
	return b;
}

void tracker_api_add_string(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_string_value(b, value);
}

void tracker_api_add_int(JsonBuilder *b, const char *name, gint64 value)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, value);
}

void tracker_api_reply_object(TrackerRequest *req, guint status, JsonBuilder *b)
{
	json_builder_end_object(b);
	tracker_request_reply_json(req, status, json_builder_get_root(b));
	g_object_unref(b);
}

void tracker_api_fail(TrackerRequest *req, GError *error)
{
	tracker_request_fail(req, error);
	g_error_free(error);
}
