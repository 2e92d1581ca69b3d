/*
 * cmd-group: `groupfs group SUBCOMMAND` and `groupfs ls GROUP`.
 *
 * Each subcommand is one request to the tracker on behalf of the
 * logged-in session, and prints either a sentence (for a change) or one
 * line per item (for a list: tab-separated, name first, no header, so
 * that scripts can read it).
 */
#include <stdio.h>

#include "cli.h"
#include "session.h"
#include "tracker-api.h"

typedef enum {
	COLUMN_STRING,
	COLUMN_INT,
	COLUMN_TIME,
} ColumnKind;

typedef struct {
	const char *member;
	ColumnKind kind;
} Column;

typedef struct {
	const char *name;
	const char *usage;
	int nargs;
	/* @args are the positional arguments, @nargs of them. */
	int (*run)(char **args);
} GroupCommand;

/* Sends one request for the logged-in session. On failure prints why,
 * stores the exit status in @status and returns NULL. */
static JsonObject *call(const char *method, const char *path, JsonObject *body,
			int *status)
{
	g_autoptr(CliSession) session = NULL;
	g_autoptr(NetTrackerApi) api = NULL;
	g_autoptr(GError) error = NULL;
	JsonObject *reply = NULL;

	session = cli_session_load(&error);
	if (session != NULL)
		api = cli_session_connect(session, &error);
	if (api != NULL)
		reply = net_tracker_api_call(api, method, path, body, &error);
	if (reply == NULL) {
		if (session != NULL)
			cli_session_explain(session, error);
		*status = cli_fail("%s", error->message);
	}
	return reply;
}

static char *column_text(JsonObject *item, const Column *column)
{
	const char *text = net_tracker_api_get_string(item, column->member);
	g_autoptr(GDateTime) time = NULL;
	gint64 value;

	if (column->kind == COLUMN_STRING)
		return g_strdup(text ? text : "-");
	if (!net_tracker_api_get_int(item, column->member, &value))
		return g_strdup("-");
	if (column->kind == COLUMN_INT)
		return g_strdup_printf("%" G_GINT64_FORMAT, value);
	time = g_date_time_new_from_unix_utc(value);
	return time ? g_date_time_format_iso8601(time) : g_strdup("-");
}

static void print_item(JsonObject *item, const Column *columns, guint ncolumns)
{
	g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(g_free);

	for (guint c = 0; c < ncolumns; c++)
		g_ptr_array_add(fields, column_text(item, &columns[c]));
	g_ptr_array_add(fields, NULL);
	cli_print_row((const char *const *)fields->pdata);
}

/* Prints the objects of @reply's array @member, one line each. */
static int print_list(JsonObject *reply, const char *member,
		      const Column *columns, guint ncolumns)
{
	JsonArray *items = net_tracker_api_get_array(reply, member);

	if (items == NULL)
		return cli_fail("the tracker's reply has no \"%s\" list",
				member);
	for (guint i = 0; i < json_array_get_length(items); i++) {
		JsonNode *node = json_array_get_element(items, i);

		if (JSON_NODE_HOLDS_OBJECT(node))
			print_item(json_node_get_object(node), columns,
				   ncolumns);
	}
	return CLI_EXIT_OK;
}

/* GETs @path and prints its reply's list @member. */
static int fetch_list(const char *path, const char *member,
		      const Column *columns, guint ncolumns)
{
	g_autoptr(JsonObject) reply = NULL;
	int status;

	reply = call("GET", path, NULL, &status);
	if (reply == NULL)
		return status;
	return print_list(reply, member, columns, ncolumns);
}

static int group_create(char **args)
{
	g_autoptr(JsonObject) body = json_object_new();
	g_autoptr(JsonObject) reply = NULL;
	int status;

	json_object_set_string_member(body, "name", args[0]);
	reply = call("POST", "groups", body, &status);
	if (reply == NULL)
		return status;
	printf("created group %s; you are its owner\n", args[0]);
	return CLI_EXIT_OK;
}

static int group_join(char **args)
{
	g_autofree char *path =
		net_tracker_api_path("groups", args[0], "join", NULL);
	g_autoptr(JsonObject) reply = NULL;
	int status;

	reply = call("POST", path, NULL, &status);
	if (reply == NULL)
		return status;
	printf("asked to join %s; its owner must accept the request\n",
	       args[0]);
	return CLI_EXIT_OK;
}

static int group_leave(char **args)
{
	g_autofree char *path =
		net_tracker_api_path("groups", args[0], "leave", NULL);
	g_autoptr(JsonObject) reply = NULL;
	g_autofree char *printable = NULL;
	gboolean deleted = FALSE;
	const char *owner;
	int status;

	reply = call("POST", path, NULL, &status);
	if (reply == NULL)
		return status;
	net_tracker_api_get_bool(reply, "deleted", &deleted);
	owner = net_tracker_api_get_string(reply, "owner");
	if (deleted)
		printf("left %s; it had no other member and is deleted\n",
		       args[0]);
	else if (owner != NULL)
		printf("left %s; its owner is %s\n", args[0],
		       printable = cli_printable(owner));
	else
		printf("left %s\n", args[0]);
	return CLI_EXIT_OK;
}

static int group_list(char **args)
{
	static const Column columns[] = {
		{"name", COLUMN_STRING},
		{"role", COLUMN_STRING},
		{"owner", COLUMN_STRING},
		{"members", COLUMN_INT},
	};

	return fetch_list("groups", "groups", columns, G_N_ELEMENTS(columns));
}

static int group_members(char **args)
{
	static const Column columns[] = {
		{"user", COLUMN_STRING},
		{"role", COLUMN_STRING},
		{"joined", COLUMN_TIME},
	};
	g_autofree char *path =
		net_tracker_api_path("groups", args[0], "members", NULL);

	return fetch_list(path, "members", columns, G_N_ELEMENTS(columns));
}

static int group_requests(char **args)
{
	static const Column columns[] = {
		{"user", COLUMN_STRING},
		{"requested", COLUMN_TIME},
	};
	g_autofree char *path =
		net_tracker_api_path("groups", args[0], "requests", NULL);

	return fetch_list(path, "requests", columns, G_N_ELEMENTS(columns));
}

/* accept and reject: @verb is the last path segment. */
static int answer_request(char **args, const char *verb)
{
	g_autofree char *path = net_tracker_api_path(
		"groups", args[0], "requests", args[1], verb, NULL);
	g_autoptr(JsonObject) reply = NULL;
	int status;

	reply = call("POST", path, NULL, &status);
	if (reply == NULL)
		return status;
	printf("%sed the request of %s to join %s\n", verb, args[1], args[0]);
	return CLI_EXIT_OK;
}

static int group_accept(char **args)
{
	return answer_request(args, "accept");
}

static int group_reject(char **args)
{
	return answer_request(args, "reject");
}

static const GroupCommand group_commands[] = {
	{"create", "group create GROUP", 1, group_create},
	{"join", "group join GROUP", 1, group_join},
	{"leave", "group leave GROUP", 1, group_leave},
	{"list", "group list", 0, group_list},
	{"members", "group members GROUP", 1, group_members},
	{"requests", "group requests GROUP", 1, group_requests},
	{"accept", "group accept GROUP USER", 2, group_accept},
	{"reject", "group reject GROUP USER", 2, group_reject},
};

static int run_group_command(const GroupCommand *command, int argc, char **argv)
{
	int status;

	if (!cli_parse_args(&argc, &argv, command->usage, NULL, command->nargs,
			    command->nargs, &status))
		return status;
	return command->run(argv + 1);
}

int cli_cmd_group(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("missing group command: create, join, "
				       "leave, list, members, requests, "
				       "accept or reject");
	for (gsize i = 0; i < G_N_ELEMENTS(group_commands); i++) {
		if (g_strcmp0(group_commands[i].name, argv[1]) == 0)
			return run_group_command(&group_commands[i], argc - 1,
						 argv + 1);
	}
	return cli_usage_error("unknown group command '%s'", argv[1]);
}

int cli_cmd_ls(int argc, char **argv)
{
	static const Column columns[] = {
		{"path", COLUMN_STRING},
		{"length", COLUMN_INT},
		{"owner", COLUMN_STRING},
		{"info_hash", COLUMN_STRING},
	};
	g_autofree char *path = NULL;
	int status;

	if (!cli_parse_args(&argc, &argv, "ls GROUP", NULL, 1, 1, &status))
		return status;
	path = net_tracker_api_path("groups", argv[1], "files", NULL);
	return fetch_list(path, "files", columns, G_N_ELEMENTS(columns));
}
