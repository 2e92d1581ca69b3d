/*
 * cmd-data: the data commands, `share`, `get`, `status` and `unshare`,
 * each one request to the running daemon over its control socket
 * (fs/control.h). They print nothing on success but what was asked
 * for: status lines, and get's progress bar when stderr is a terminal.
 *
 * G/PATH may also be given as two words, G PATH, which is how the
 * assignment's aliases (download_file G PATH DEST, stop_share G PATH)
 * reach these commands.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "tracker-api.h"

/* ---- talking to the daemon ----------------------------------------- */

typedef struct {
	GSocketConnection *conn;
	GDataInputStream *in;
} Daemon;

static void daemon_close(Daemon *d)
{
	g_clear_object(&d->in);
	g_clear_object(&d->conn);
}

/* Connects and sends @request; the replies are read from d->in. */
static gboolean daemon_ask(Daemon *d, JsonObject *request, GError **error)
{
	d->conn = fs_control_connect(error);
	if (d->conn == NULL || !fs_control_send(d->conn, request, error))
		return FALSE;
	d->in = g_data_input_stream_new(
		g_io_stream_get_input_stream(G_IO_STREAM(d->conn)));
	return TRUE;
}

/* One request, one reply. */
static JsonObject *daemon_call(JsonObject *request, GError **error)
{
	Daemon d = {0};
	JsonObject *reply = NULL;

	if (daemon_ask(&d, request, error))
		reply = fs_control_receive(d.in, error);
	daemon_close(&d);
	return reply;
}

/* Sends @request and waits for its one reply: the exit status. */
static int daemon_run(JsonObject *request)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) reply = daemon_call(request, &error);

	if (reply == NULL)
		return cli_fail("%s", error->message);
	return CLI_EXIT_OK;
}

static JsonObject *request_new(const char *op)
{
	JsonObject *request = json_object_new();

	json_object_set_string_member(request, "op", op);
	return request;
}

/* ---- names --------------------------------------------------------- */

/* "G/PATH" (one word) or "G" "PATH" (two) into @group and @path. */
static gboolean split_name(char **args, int nargs, char **group, char **path)
{
	const char *slash;

	if (nargs == 2) {
		*group = g_strdup(args[0]);
		*path = g_strdup(args[1]);
		return TRUE;
	}
	slash = strchr(args[0], '/');
	if (slash == NULL || slash == args[0] || slash[1] == '\0')
		return FALSE;
	*group = g_strndup(args[0], slash - args[0]);
	*path = g_strdup(slash + 1);
	return TRUE;
}

static char *absolute(const char *path)
{
	return g_canonicalize_filename(path, NULL);
}

/* ---- share --------------------------------------------------------- */

int cli_cmd_share(int argc, char **argv)
{
	g_autoptr(JsonObject) request = request_new("share");
	g_autofree char *file = NULL;
	g_autofree char *base = NULL;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	const char *slash;
	int status;

	if (!cli_parse_args(&argc, &argv, "share FILE GROUP[/PATH]", NULL, 2, 2,
			    &status))
		return status;
	file = absolute(argv[1]);
	base = g_path_get_basename(file);
	slash = strchr(argv[2], '/');
	group = slash ? g_strndup(argv[2], slash - argv[2]) : g_strdup(argv[2]);
	/* "G" and "G/dir/" keep the file's own name. */
	if (slash == NULL)
		path = g_strdup(base);
	else if (g_str_has_suffix(slash + 1, "/") || slash[1] == '\0')
		path = g_strconcat(slash + 1, base, NULL);
	else
		path = g_strdup(slash + 1);
	json_object_set_string_member(request, "file", file);
	json_object_set_string_member(request, "group", group);
	json_object_set_string_member(request, "path", path);
	return daemon_run(request);
}

/* ---- unshare ------------------------------------------------------- */

int cli_cmd_unshare(int argc, char **argv)
{
	g_autoptr(JsonObject) request = request_new("unshare");
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	int status;

	if (!cli_parse_args(&argc, &argv, "unshare GROUP/PATH", NULL, 1, 2,
			    &status))
		return status;
	if (!split_name(argv + 1, argc - 1, &group, &path))
		return cli_usage_error("'%s' is not GROUP/PATH", argv[1]);
	json_object_set_string_member(request, "group", group);
	json_object_set_string_member(request, "path", path);
	return daemon_run(request);
}

/* ---- status -------------------------------------------------------- */

/* "12.3 MB/s": decimal units, as network rates are counted. */
static char *format_rate(double rate)
{
	static const char *const units[] = {"B/s", "kB/s", "MB/s", "GB/s"};
	guint u = 0;

	while (rate >= 1000 && u + 1 < G_N_ELEMENTS(units)) {
		rate /= 1000;
		u++;
	}
	return g_strdup_printf(u == 0 ? "%.0f %s" : "%.1f %s", rate, units[u]);
}

static double member_double(JsonObject *o, const char *name)
{
	JsonNode *node = json_object_get_member(o, name);

	if (node == NULL || json_node_get_value_type(node) != G_TYPE_DOUBLE)
		return 0;
	return json_node_get_double(node);
}

static gint64 member_int(JsonObject *o, const char *name)
{
	gint64 value = 0;

	net_tracker_api_get_int(o, name, &value);
	return value;
}

static int percent(JsonObject *file)
{
	gint64 pieces = member_int(file, "pieces");
	gint64 verified = member_int(file, "verified");

	if (pieces <= 0)
		return 100;
	/* Never "100%" before the last piece. */
	return (int)(verified * 100 / pieces);
}

static void print_status_line(JsonObject *file)
{
	const char *state = net_tracker_api_get_string(file, "state");
	const char *group = net_tracker_api_get_string(file, "group");
	const char *path = net_tracker_api_get_string(file, "path");
	g_autofree char *name = NULL;
	g_autofree char *rate = NULL;
	gint64 peers = member_int(file, "peers");

	if (state == NULL || group == NULL || path == NULL)
		return;
	{
		g_autofree char *joined = g_strconcat(group, "/", path, NULL);

		name = cli_printable(joined);
	}
	if (strcmp(state, "D") != 0) {
		printf("[%c] %s\n", state[0], name);
		return;
	}
	rate = format_rate(member_double(file, "download_rate"));
	printf("[D] %s %d%% %s %" G_GINT64_FORMAT " peer%s\n", name,
	       percent(file), rate, peers, peers == 1 ? "" : "s");
}

int cli_cmd_status(int argc, char **argv)
{
	g_autoptr(JsonObject) request = request_new("status");
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;
	JsonArray *files;
	int status;

	if (!cli_parse_args(&argc, &argv, "status", NULL, 0, 0, &status))
		return status;
	reply = daemon_call(request, &error);
	if (reply == NULL)
		return cli_fail("%s", error->message);
	files = net_tracker_api_get_array(reply, "files");
	for (guint i = 0; files != NULL && i < json_array_get_length(files);
	     i++) {
		JsonNode *node = json_array_get_element(files, i);

		if (JSON_NODE_HOLDS_OBJECT(node))
			print_status_line(json_node_get_object(node));
	}
	return CLI_EXIT_OK;
}

/* ---- get ----------------------------------------------------------- */

/* One line that redraws itself: bar, percent, rate, peers, ETA. */
static void draw_progress(JsonObject *event)
{
	const int width = 30;
	int pct = percent(event);
	double rate = member_double(event, "download_rate");
	gint64 length = member_int(event, "length");
	gint64 peers = member_int(event, "peers");
	g_autofree char *rate_text = format_rate(rate);
	char bar[64];
	char eta[32] = "--:--";
	int filled = pct * width / 100;

	memset(bar, '#', filled);
	memset(bar + filled, '-', width - filled);
	bar[width] = '\0';
	if (rate > 0) {
		double left = length * (100 - pct) / 100.0 / rate;
		guint64 s = (guint64)ceil(left);

		g_snprintf(eta, sizeof(eta), "%" G_GUINT64_FORMAT ":%02u",
			   s / 60, (guint)(s % 60));
	}
	fprintf(stderr, "\r[%s] %3d%% %10s %3" G_GINT64_FORMAT " peer%s ETA %s",
		bar, pct, rate_text, peers, peers == 1 ? " " : "s", eta);
	fflush(stderr);
}

static int follow_get(Daemon *d, gboolean tty)
{
	g_autoptr(GError) error = NULL;

	for (;;) {
		g_autoptr(JsonObject) reply = fs_control_receive(d->in, &error);
		const char *event;

		if (reply == NULL)
			break;
		event = net_tracker_api_get_string(reply, "event");
		if (event == NULL) {
			if (tty)
				fputc('\n', stderr);
			return CLI_EXIT_OK;
		}
		if (tty && strcmp(event, "progress") == 0)
			draw_progress(reply);
	}
	if (tty)
		fputc('\n', stderr);
	return cli_fail("%s", error->message);
}

int cli_cmd_get(int argc, char **argv)
{
	g_autoptr(JsonObject) request = request_new("get");
	g_autoptr(GError) error = NULL;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	g_autofree char *dest = NULL;
	Daemon d = {0};
	int status;

	if (!cli_parse_args(&argc, &argv, "get GROUP/PATH DEST", NULL, 2, 3,
			    &status))
		return status;
	if (!split_name(argv + 1, argc - 2, &group, &path))
		return cli_usage_error("'%s' is not GROUP/PATH", argv[1]);
	dest = absolute(argv[argc - 1]);
	json_object_set_string_member(request, "group", group);
	json_object_set_string_member(request, "path", path);
	json_object_set_string_member(request, "dest", dest);
	if (!daemon_ask(&d, request, &error))
		status = cli_fail("%s", error->message);
	else
		status = follow_get(&d, isatty(STDERR_FILENO));
	daemon_close(&d);
	return status;
}
