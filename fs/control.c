/* control: see control.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "control.h"
#include "daemon.h"
#include "tracker-api.h"

#define READ_CHUNK 16384
#define NO_DAEMON                                                       \
	"no groupfs daemon is running; start one with 'groupfs serve' " \
	"or 'groupfs mount'"

typedef struct _Client Client;

struct _FsControl {
	NetEngine *engine;
	char *socket_path;
	GSocketService *service;
	GList *clients; /* Client, each holding a reference */
	guint n_clients;
};

/* One connection. Refcounted: the read, the write and the request in
 * flight each hold a reference. @control is NULL once the connection is
 * closed, and nothing touches the engine after that. */
struct _Client {
	gint ref_count; /* loop thread only */
	FsControl *control;
	GSocketConnection *conn;
	GCancellable *cancellable; /* cancels the read and a get's wait */
	GByteArray *in;
	guint8 chunk[READ_CHUNK];
	GQueue out; /* GBytes lines waiting to be written */
	GBytes *writing; /* the line being written, or NULL */
	gboolean processing; /* in process_lines: do not recurse */
	gboolean busy; /* a request is being answered */
	gboolean close_after_write; /* a fatal error was queued */
};

static Client *client_ref(Client *client)
{
	client->ref_count++;
	return client;
}

static void client_unref(Client *client)
{
	if (--client->ref_count > 0)
		return;
	g_assert(client->control == NULL);
	g_object_unref(client->conn);
	g_object_unref(client->cancellable);
	g_byte_array_unref(client->in);
	g_queue_clear_full(&client->out, (GDestroyNotify)g_bytes_unref);
	g_clear_pointer(&client->writing, g_bytes_unref);
	g_free(client);
}

static void client_close(Client *client)
{
	FsControl *control = client->control;

	if (control == NULL)
		return;
	client->control = NULL;
	g_cancellable_cancel(client->cancellable);
	g_io_stream_close(G_IO_STREAM(client->conn), NULL, NULL);
	control->clients = g_list_remove(control->clients, client);
	control->n_clients--;
	client_unref(client);
}

/* ---- writing ------------------------------------------------------- */

static void write_next(Client *client);

static void written(GObject *source, GAsyncResult *result, gpointer data)
{
	Client *client = data;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&client->writing, g_bytes_unref);
	if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result,
					      NULL, &error))
		client_close(client);
	else
		write_next(client);
	client_unref(client);
}

static void write_next(Client *client)
{
	GOutputStream *out;

	if (client->writing != NULL || client->control == NULL)
		return;
	client->writing = g_queue_pop_head(&client->out);
	if (client->writing == NULL) {
		if (client->close_after_write)
			client_close(client);
		return;
	}
	out = g_io_stream_get_output_stream(G_IO_STREAM(client->conn));
	g_output_stream_write_all_async(
		out, g_bytes_get_data(client->writing, NULL),
		g_bytes_get_size(client->writing), G_PRIORITY_DEFAULT, NULL,
		written, client_ref(client));
}

static void send_node(Client *client, JsonNode *node)
{
	g_autofree char *text = json_to_string(node, FALSE);
	char *line = g_strconcat(text, "\n", NULL);

	g_queue_push_tail(&client->out, g_bytes_new_take(line, strlen(line)));
	write_next(client);
}

static void send_object(Client *client, JsonObject *object)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

	json_node_set_object(node, object);
	send_node(client, node);
}

static void send_error(Client *client, const char *code, const char *message)
{
	g_autoptr(JsonObject) o = json_object_new();

	json_object_set_string_member(o, "error", code);
	json_object_set_string_member(o, "message", message);
	send_object(client, o);
}

static const char *error_code(const GError *error)
{
	if (error->domain == G_IO_ERROR) {
		switch (error->code) {
		case G_IO_ERROR_NOT_FOUND:
			return "not_found";
		case G_IO_ERROR_EXISTS:
			return "exists";
		case G_IO_ERROR_INVALID_ARGUMENT:
			return "invalid_request";
		default:
			break;
		}
	}
	if (error->domain == NET_TRACKER_API_ERROR) {
		switch (error->code) {
		case NET_TRACKER_API_ERROR_NOT_FOUND:
			return "not_found";
		case NET_TRACKER_API_ERROR_CONFLICT:
			return "exists";
		default:
			break;
		}
	}
	return "failed";
}

static void process_lines(Client *client);

/* Ends the request in flight with @error or with @reply, and goes on
 * with the requests that arrived meanwhile. */
static void request_done(Client *client, const GError *error, JsonObject *reply)
{
	client->busy = FALSE;
	if (client->control == NULL)
		return;
	if (error != NULL) {
		send_error(client, error_code(error), error->message);
	} else {
		json_object_set_boolean_member(reply, "ok", TRUE);
		send_object(client, reply);
	}
	process_lines(client);
}

/* ---- requests ------------------------------------------------------ */

typedef struct {
	const char *name;
	gboolean absolute_path; /* a path on this machine */
} Field;

/* Checks that @request has exactly the fields of @fields (plus "op"),
 * each a string, and stores them in @values in order. */
static gboolean read_fields(JsonObject *request, const Field *fields,
			    guint n_fields, const char **values, GError **error)
{
	if (json_object_get_size(request) != n_fields + 1) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the request has unknown or missing fields");
		return FALSE;
	}
	for (guint i = 0; i < n_fields; i++) {
		const char *value =
			net_tracker_api_get_string(request, fields[i].name);

		if (value == NULL || *value == '\0' ||
		    !g_utf8_validate(value, -1, NULL) ||
		    strlen(value) > FS_CONTROL_MAX_LINE ||
		    (fields[i].absolute_path && !g_path_is_absolute(value))) {
			g_set_error(
				error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				"the field \"%s\" is missing or not %s",
				fields[i].name,
				fields[i].absolute_path ? "an absolute path"
							: "a non-empty string");
			return FALSE;
		}
		values[i] = value;
	}
	return TRUE;
}

/* Reads the fields of @request (group and path first, when there are
 * any, checked by the tracker's rules); on failure answers it. */
static gboolean take_request(Client *client, JsonObject *request,
			     const Field *fields, guint n_fields,
			     const char **values)
{
	g_autoptr(GError) error = NULL;

	if (read_fields(request, fields, n_fields, values, &error) &&
	    (n_fields < 2 ||
	     net_engine_check_name(values[0], values[1], &error)))
		return TRUE;
	request_done(client, error, NULL);
	return FALSE;
}

/* Answers the request in flight, with @member set to @value (which may
 * be NULL) on success, and drops the operation's reference. */
static void finish(Client *client, const GError *error, const char *member,
		   const char *value)
{
	g_autoptr(JsonObject) reply = json_object_new();

	if (value != NULL)
		json_object_set_string_member(reply, member, value);
	request_done(client, error, reply);
	client_unref(client);
}

static const char *state_letter(NetEngineState state)
{
	switch (state) {
	case NET_ENGINE_SEEDING:
		return "S";
	case NET_ENGINE_COMPLETE:
		return "C";
	case NET_ENGINE_DOWNLOADING:
		break;
	}
	return "D";
}

static JsonObject *status_to_json(const NetEngineFileStatus *s)
{
	JsonObject *o = json_object_new();

	json_object_set_string_member(o, "group", s->group);
	json_object_set_string_member(o, "path", s->path);
	json_object_set_string_member(o, "info_hash", s->info_hash);
	json_object_set_string_member(o, "state", state_letter(s->state));
	json_object_set_int_member(o, "length", s->length);
	json_object_set_int_member(o, "pieces", s->pieces);
	json_object_set_int_member(o, "verified", s->verified);
	json_object_set_double_member(o, "download_rate", s->download_rate);
	json_object_set_double_member(o, "upload_rate", s->upload_rate);
	json_object_set_int_member(o, "downloaded", s->downloaded);
	json_object_set_int_member(o, "uploaded", s->uploaded);
	json_object_set_int_member(o, "peers", s->peers);
	return o;
}

static void handle_status(Client *client, JsonObject *request)
{
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(JsonObject) reply = NULL;
	JsonArray *files;

	if (!take_request(client, request, NULL, 0, NULL))
		return;
	reply = json_object_new();
	files = json_array_new();
	list = net_engine_list(client->control->engine);
	for (guint i = 0; i < list->len; i++)
		json_array_add_object_element(files,
					      status_to_json(list->pdata[i]));
	json_object_set_array_member(reply, "files", files);
	request_done(client, NULL, reply);
}

static void shared(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *hex = net_engine_share_finish(NULL, result, &error);

	finish(data, error, "info_hash", hex);
}

static void handle_share(Client *client, JsonObject *request)
{
	static const Field fields[] = {
		{"group", FALSE}, {"path", FALSE}, {"file", TRUE}};
	const char *v[G_N_ELEMENTS(fields)];

	if (!take_request(client, request, fields, G_N_ELEMENTS(fields), v))
		return;
	net_engine_share_async(client->control->engine, v[2], v[0], v[1],
			       client->cancellable, shared, client_ref(client));
}

static void got_progress(const NetEngineFileStatus *status, gpointer data)
{
	Client *client = data;
	g_autoptr(JsonObject) event = NULL;

	if (client->control == NULL)
		return;
	/* A reader that falls behind misses progress, never the result. */
	if (g_queue_get_length(&client->out) > 4)
		return;
	event = status_to_json(status);
	json_object_set_string_member(event, "event", "progress");
	send_object(client, event);
}

static void got(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dest = net_engine_get_finish(NULL, result, &error);

	finish(data, error, "dest", dest);
}

static void handle_get(Client *client, JsonObject *request)
{
	static const Field fields[] = {
		{"group", FALSE}, {"path", FALSE}, {"dest", TRUE}};
	const char *v[G_N_ELEMENTS(fields)];

	if (!take_request(client, request, fields, G_N_ELEMENTS(fields), v))
		return;
	net_engine_get_async(client->control->engine, v[0], v[1], v[2],
			     got_progress, client, client->cancellable, got,
			     client_ref(client));
}

static void unshared(GObject *source, GAsyncResult *result, gpointer data)
{
	g_autoptr(GError) error = NULL;

	net_engine_unshare_finish(NULL, result, &error);
	finish(data, error, NULL, NULL);
}

static void handle_unshare(Client *client, JsonObject *request)
{
	static const Field fields[] = {{"group", FALSE}, {"path", FALSE}};
	const char *v[G_N_ELEMENTS(fields)];

	if (!take_request(client, request, fields, G_N_ELEMENTS(fields), v))
		return;
	net_engine_unshare_async(client->control->engine, v[0], v[1], unshared,
				 client_ref(client));
}

typedef struct {
	const char *op;
	void (*handle)(Client *client, JsonObject *request);
} Operation;

static const Operation operations[] = {
	{"status", handle_status},
	{"share", handle_share},
	{"get", handle_get},
	{"unshare", handle_unshare},
};

static void handle_line(Client *client, const char *line, gsize len)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonNode *root;
	JsonObject *request;
	const char *op;

	if (!g_utf8_validate(line, len, NULL) ||
	    !json_parser_load_from_data(parser, line, len, NULL) ||
	    (root = json_parser_get_root(parser)) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(root)) {
		send_error(client, "invalid_request",
			   "a request is one JSON object on one line");
		return;
	}
	request = json_node_get_object(root);
	op = net_tracker_api_get_string(request, "op");
	for (guint i = 0; op != NULL && i < G_N_ELEMENTS(operations); i++) {
		if (strcmp(op, operations[i].op) == 0) {
			client->busy = TRUE;
			operations[i].handle(client, request);
			return;
		}
	}
	send_error(client, "invalid_request",
		   "the request's \"op\" must be share, get, status or "
		   "unshare");
}

/* ---- reading ------------------------------------------------------- */

/* Answers the complete lines in the buffer, one request at a time. */
static void process_lines(Client *client)
{
	guint8 *nl;

	if (client->processing)
		return;
	client->processing = TRUE;
	while (client->control != NULL && !client->busy &&
	       (nl = memchr(client->in->data, '\n', client->in->len))) {
		gsize len = nl - client->in->data;
		g_autofree char *line =
			g_strndup((char *)client->in->data, len);

		g_byte_array_remove_range(client->in, 0, len + 1);
		/* A NUL inside the line would hide the rest of it. */
		if (strlen(line) != len)
			send_error(client, "invalid_request",
				   "a request may not contain NUL bytes");
		else if (len > 0)
			handle_line(client, line, len);
	}
	client->processing = FALSE;
	if (client->control != NULL && client->in->len > FS_CONTROL_MAX_LINE) {
		send_error(client, "too_large",
			   "a request line is limited to 64 KiB");
		client->close_after_write = TRUE;
		g_byte_array_set_size(client->in, 0);
		write_next(client);
	}
}

static void read_next(Client *client);

static void got_bytes(GObject *source, GAsyncResult *result, gpointer data)
{
	Client *client = data;
	g_autoptr(GError) error = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result,
					      &error);

	if (n <= 0 || client->control == NULL) {
		/* Hung up (or we closed): the get in flight stops waiting. */
		client_close(client);
	} else {
		g_byte_array_append(client->in, client->chunk, n);
		process_lines(client);
		if (!client->close_after_write)
			read_next(client);
	}
	client_unref(client);
}

static void read_next(Client *client)
{
	GInputStream *in;

	if (client->control == NULL)
		return;
	in = g_io_stream_get_input_stream(G_IO_STREAM(client->conn));
	g_input_stream_read_async(in, client->chunk, sizeof(client->chunk),
				  G_PRIORITY_DEFAULT, client->cancellable,
				  got_bytes, client_ref(client));
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn,
			    GObject *source, gpointer data)
{
	FsControl *control = data;
	Client *client = g_new0(Client, 1);

	client->ref_count = 1; /* the control's */
	client->control = control;
	client->conn = g_object_ref(conn);
	client->cancellable = g_cancellable_new();
	client->in = g_byte_array_new();
	g_queue_init(&client->out);
	control->clients = g_list_prepend(control->clients, client);
	control->n_clients++;
	if (control->n_clients > FS_CONTROL_MAX_CLIENTS) {
		send_error(client, "busy", "too many connections; try again");
		client->close_after_write = TRUE;
		write_next(client);
		return TRUE;
	}
	read_next(client);
	return TRUE;
}

/* ---- the server ---------------------------------------------------- */

FsControl *fs_control_new(NetEngine *engine, const char *socket_path,
			  GError **error)
{
	g_autoptr(GSocketAddress) address =
		g_unix_socket_address_new(socket_path);
	FsControl *control = g_new0(FsControl, 1);
	int err;

	control->engine = engine;
	control->socket_path = g_strdup(socket_path);
	control->service = g_socket_service_new();
	if (g_unlink(socket_path) != 0 && errno != ENOENT) {
		err = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot remove the old socket %s: %s", socket_path,
			    g_strerror(err));
		fs_control_free(control);
		return NULL;
	}
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(control->service),
					   address, G_SOCKET_TYPE_STREAM,
					   G_SOCKET_PROTOCOL_DEFAULT, NULL,
					   NULL, error) ||
	    g_chmod(socket_path, 0600) != 0) {
		g_prefix_error(error, "cannot listen on %s: ", socket_path);
		fs_control_free(control);
		return NULL;
	}
	g_signal_connect(control->service, "incoming", G_CALLBACK(on_incoming),
			 control);
	g_socket_service_start(control->service);
	return control;
}

void fs_control_free(FsControl *control)
{
	if (control == NULL)
		return;
	g_socket_service_stop(control->service);
	g_socket_listener_close(G_SOCKET_LISTENER(control->service));
	g_object_unref(control->service);
	while (control->clients != NULL)
		client_close(control->clients->data);
	g_unlink(control->socket_path);
	g_free(control->socket_path);
	g_free(control);
}

/* ---- the client end ------------------------------------------------ */

GSocketConnection *fs_control_connect(GError **error)
{
	g_autofree char *path = fs_daemon_socket_path(error);
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) address = NULL;
	g_autoptr(GError) local_error = NULL;
	GSocketConnection *conn;

	if (path == NULL)
		return NULL;
	address = g_unix_socket_address_new(path);
	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address),
				       NULL, &local_error);
	if (conn != NULL)
		return conn;
	if (g_error_matches(local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
	    g_error_matches(local_error, G_IO_ERROR,
			    G_IO_ERROR_CONNECTION_REFUSED))
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
				    NO_DAEMON);
	else
		g_set_error(error, local_error->domain, local_error->code,
			    "cannot reach the groupfs daemon at %s: %s", path,
			    local_error->message);
	return NULL;
}

gboolean fs_control_send(GSocketConnection *conn, JsonObject *request,
			 GError **error)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
	g_autofree char *text = NULL;
	g_autofree char *line = NULL;
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));

	json_node_set_object(node, request);
	text = json_to_string(node, FALSE);
	line = g_strconcat(text, "\n", NULL);
	return g_output_stream_write_all(out, line, strlen(line), NULL, NULL,
					 error);
}

JsonObject *fs_control_receive(GDataInputStream *in, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autofree char *line = NULL;
	gsize len = 0;
	JsonNode *root;
	JsonObject *reply;
	const char *message;

	line = g_data_input_stream_read_line(in, &len, NULL, error);
	if (line == NULL) {
		if (error != NULL && *error == NULL)
			g_set_error_literal(error, G_IO_ERROR,
					    G_IO_ERROR_CONNECTION_CLOSED,
					    "the daemon closed the connection");
		return NULL;
	}
	if (!json_parser_load_from_data(parser, line, len, NULL) ||
	    (root = json_parser_get_root(parser)) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "the daemon sent something that is not "
				    "JSON");
		return NULL;
	}
	reply = json_node_get_object(root);
	message = net_tracker_api_get_string(reply, "message");
	if (net_tracker_api_get_string(reply, "error") != NULL) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    message ? message : "the daemon failed");
		return NULL;
	}
	return json_object_ref(reply);
}
