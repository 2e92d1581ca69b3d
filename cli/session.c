/* session: see session.h. */
#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "session.h"

/* session.json is a few hundred bytes; anything far larger is not ours. */
#define MAX_SESSION_FILE (64 * 1024)

#define NOT_LOGGED_IN "not logged in; run 'groupfs login --tracker URL USER'"

static void secret_clear(char **secret)
{
	if (*secret != NULL)
		memset(*secret, 0, strlen(*secret));
	g_clear_pointer(secret, g_free);
}

void cli_session_clear_login(CliSession *session)
{
	secret_clear(&session->token);
	secret_clear(&session->passkey);
	session->expires = 0;
}

void cli_session_free(CliSession *session)
{
	if (session == NULL)
		return;
	cli_session_clear_login(session);
	g_free(session->tracker);
	g_free(session->user);
	g_free(session);
}

char *cli_session_dir(void)
{
	const char *home = g_getenv("GROUPFS_HOME");

	if (home != NULL && *home != '\0')
		return g_strdup(home);
	return g_build_filename(g_get_user_config_dir(), "groupfs", NULL);
}

char *cli_session_path(const char *name)
{
	g_autofree char *dir = cli_session_dir();

	return g_build_filename(dir, name, NULL);
}

gboolean cli_session_make_dir(GError **error)
{
	g_autofree char *dir = cli_session_dir();

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot create the session folder %s: %s", dir,
			    g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

gboolean cli_session_write_file(const char *name, const char *contents,
				GError **error)
{
	g_autofree char *path = cli_session_path(name);

	if (!cli_session_make_dir(error))
		return FALSE;
	return g_file_set_contents_full(path, contents, -1,
					G_FILE_SET_CONTENTS_CONSISTENT |
						G_FILE_SET_CONTENTS_DURABLE,
					0600, error);
}

/* Reads @member into @out when present; FALSE when it has another type. */
static gboolean load_string(JsonObject *object, const char *member, char **out)
{
	const char *value;

	if (!json_object_has_member(object, member))
		return TRUE;
	value = net_tracker_api_get_string(object, member);
	*out = g_strdup(value);
	return value != NULL;
}

static gboolean is_token_safe(const char *token)
{
	for (const char *p = token; *p != '\0'; p++) {
		if (!g_ascii_isgraph(*p))
			return FALSE;
	}
	return *token != '\0';
}

static gboolean session_from_object(CliSession *session, JsonObject *object)
{
	if (!load_string(object, "tracker", &session->tracker) ||
	    !load_string(object, "user", &session->user) ||
	    !load_string(object, "token", &session->token) ||
	    !load_string(object, "passkey", &session->passkey))
		return FALSE;
	if (json_object_has_member(object, "expires") &&
	    !net_tracker_api_get_int(object, "expires", &session->expires))
		return FALSE;
	/* The token goes into an HTTP header. */
	return session->token == NULL || is_token_safe(session->token);
}

static CliSession *session_parse(const char *path, const char *text, gsize len,
				 GError **error)
{
	g_autoptr(CliSession) session = g_new0(CliSession, 1);
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonNode *root;

	if (len > MAX_SESSION_FILE ||
	    !json_parser_load_from_data(parser, text, len, NULL) ||
	    (root = json_parser_get_root(parser)) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(root) ||
	    !session_from_object(session, json_node_get_object(root))) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the session file %s is damaged; log in again "
			    "with 'groupfs login --tracker URL USER'",
			    path);
		return NULL;
	}
	return g_steal_pointer(&session);
}

CliSession *cli_session_load(GError **error)
{
	g_autofree char *path = cli_session_path(CLI_SESSION_FILE);
	g_autofree char *text = NULL;
	g_autoptr(GError) local_error = NULL;
	gsize len;

	if (!g_file_get_contents(path, &text, &len, &local_error)) {
		if (g_error_matches(local_error, G_FILE_ERROR,
				    G_FILE_ERROR_NOENT))
			return g_new0(CliSession, 1);
		g_propagate_error(error, g_steal_pointer(&local_error));
		return NULL;
	}
	return session_parse(path, text, len, error);
}

static void add_string(JsonBuilder *builder, const char *member,
		       const char *value)
{
	if (value == NULL)
		return;
	json_builder_set_member_name(builder, member);
	json_builder_add_string_value(builder, value);
}

gboolean cli_session_save(const CliSession *session, GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;
	gboolean ok;

	json_builder_begin_object(builder);
	add_string(builder, "tracker", session->tracker);
	add_string(builder, "user", session->user);
	add_string(builder, "token", session->token);
	if (session->expires != 0) {
		json_builder_set_member_name(builder, "expires");
		json_builder_add_int_value(builder, session->expires);
	}
	add_string(builder, "passkey", session->passkey);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	text = json_to_string(root, TRUE);
	ok = cli_session_write_file(CLI_SESSION_FILE, text, error);
	memset(text, 0, strlen(text));
	return ok;
}

gboolean cli_session_is_logged_in(const CliSession *session, gint64 now)
{
	return session->tracker != NULL && session->user != NULL &&
	       session->token != NULL && session->expires > now;
}

NetTrackerApi *cli_session_connect(const CliSession *session, GError **error)
{
	g_autofree char *ca_path = NULL;
	NetTrackerApi *api;

	if (session->token == NULL || session->tracker == NULL ||
	    session->user == NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
				    NOT_LOGGED_IN);
		return NULL;
	}
	if (!cli_session_is_logged_in(session, g_get_real_time() / 1000000)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "the session of %s expired; run 'groupfs login "
			    "--tracker %s %s'",
			    session->user, session->tracker, session->user);
		return NULL;
	}
	ca_path = cli_session_path(CLI_SESSION_CA_FILE);
	api = net_tracker_api_new(session->tracker, ca_path, error);
	if (api != NULL)
		net_tracker_api_set_token(api, session->token);
	return api;
}

void cli_session_explain(const CliSession *session, GError *error)
{
	char *old;

	if (!g_error_matches(error, NET_TRACKER_API_ERROR,
			     NET_TRACKER_API_ERROR_UNAUTHORIZED))
		return;
	old = error->message;
	error->message = g_strdup_printf(
		"%s; log in again with 'groupfs login --tracker %s %s'", old,
		session->tracker, session->user);
	g_free(old);
}
