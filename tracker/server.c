#include "server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "tracker-config.h"
#include "api.h"
#include "clients.h"
#include "tracker-error.h"

typedef struct {
	const char *method;
	const char *path; /* "*" matches one segment */
	gboolean authenticated;
	TrackerHandler handler;
} TrackerRoute;

static const TrackerRoute routes[] = {
	{"GET", "/api/v1/ca", FALSE, tracker_api_ca},
	{"POST", "/api/v1/register", FALSE, tracker_api_register},
	{"POST", "/api/v1/login", FALSE, tracker_api_login},
	{"POST", "/api/v1/logout", TRUE, tracker_api_logout},
	{"GET", "/api/v1/whoami", TRUE, tracker_api_whoami},
	{"POST", "/api/v1/certificate", TRUE, tracker_api_certificate},
	{"GET", "/api/v1/groups", TRUE, tracker_api_groups_list},
	{"POST", "/api/v1/groups", TRUE, tracker_api_groups_create},
	{"GET", "/api/v1/groups/*/members", TRUE, tracker_api_group_members},
	{"POST", "/api/v1/groups/*/join", TRUE, tracker_api_group_join},
	{"POST", "/api/v1/groups/*/leave", TRUE, tracker_api_group_leave},
	{"GET", "/api/v1/groups/*/requests", TRUE, tracker_api_group_requests},
	{"POST", "/api/v1/groups/*/requests/*/accept", TRUE,
	 tracker_api_group_accept},
	{"POST", "/api/v1/groups/*/requests/*/reject", TRUE,
	 tracker_api_group_reject},
	{"GET", "/api/v1/groups/*/files", TRUE, tracker_api_files_list},
	{"POST", "/api/v1/groups/*/files", TRUE, tracker_api_files_publish},
	{"DELETE", "/api/v1/groups/*/files", TRUE, tracker_api_files_remove},
	{"GET", "/api/v1/groups/*/files/info", TRUE, tracker_api_files_info},
	{"POST", "/api/v1/groups/*/files/rename", TRUE,
	 tracker_api_files_rename},
	{"GET", "/announce", FALSE, tracker_announce_handle},
};

struct _TrackerServer {
	TrackerApp *app;
	SoupServer *soup;
	TrackerClients *clients;
	GSocket *socket;
	guint16 port;
	guint in_flight; /* requests between headers and reply */
	gboolean stopping;
	GSourceFunc done;
	gpointer done_data;
	guint done_timeout;
	guint done_idle;
};

/* --- Routing --- */

/* Matches @path against @pattern segment by segment, in place (this
 * runs for every route of every request); the "*" segments go to @args,
 * percent-decoded, or NULL when one does not decode (a bad escape or an
 * escaped NUL): the request then has a route, and is refused. */
static gboolean match_path(const char *pattern, const char *path,
			   GPtrArray *args)
{
	g_ptr_array_set_size(args, 0);
	for (;;) {
		gsize want = strcspn(pattern, "/"), len = strcspn(path, "/");

		if (want == 1 && *pattern == '*' && len > 0)
			g_ptr_array_add(args, g_uri_unescape_segment(
						      path, path + len, NULL));
		else if (want != len || memcmp(pattern, path, len) != 0)
			return FALSE;
		pattern += want;
		path += len;
		if (!*pattern || !*path)
			return !*pattern && !*path;
		pattern++;
		path++;
	}
}

static gboolean args_decoded(GPtrArray *args)
{
	for (guint i = 0; i < args->len; i++)
		if (!g_ptr_array_index(args, i))
			return FALSE;
	return TRUE;
}

/* The route for @msg; NULL with @path_known when only the method
 * differs. */
static const TrackerRoute *find_route(const char *method, const char *path,
				      GPtrArray *args, gboolean *path_known)
{
	*path_known = FALSE;
	for (gsize i = 0; i < G_N_ELEMENTS(routes); i++) {
		if (!match_path(routes[i].path, path, args))
			continue;
		if (g_str_equal(routes[i].method, method))
			return &routes[i];
		*path_known = TRUE;
	}
	return NULL;
}

static void fail_literal(TrackerRequest *req, TrackerErrorCode code,
			 const char *message)
{
	g_autoptr(GError) error =
		g_error_new_literal(TRACKER_ERROR, code, message);

	tracker_request_fail(req, error);
}

/* libsoup writes a reply's head and body with two writes, which TLS
 * turns into two records and TCP into two segments, each one a wakeup
 * for both ends. Corked while the reply is written, they leave as one
 * segment when the request finishes (or after 200 ms, the kernel's
 * bound, should that never come). */
static void set_cork(TrackerServer *server, SoupServerMessage *msg,
		     gboolean cork)
{
	GSocket *socket = tracker_clients_get_socket(server->clients, msg);

	if (socket)
		g_socket_set_option(socket, IPPROTO_TCP, TCP_CORK, cork, NULL);
}

static void handle(SoupServer *soup, SoupServerMessage *msg, const char *path,
		   GHashTable *query, gpointer data)
{
	TrackerServer *server = data;
	GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
	gboolean path_known;
	const TrackerRoute *route = find_route(
		soup_server_message_get_method(msg), path, args, &path_known);
	g_autoptr(TrackerRequest) req =
		tracker_request_new(server->app, msg, args);
	g_autoptr(GError) error = NULL;

	set_cork(server, msg, TRUE);
	if (!route && path_known) {
		tracker_request_set_header(req, "Allow", "GET, POST, DELETE");
		fail_literal(req, TRACKER_ERROR_INVALID,
			     "This method is not allowed here; see "
			     "docs/API.md.");
		soup_server_message_set_status(msg, 405, NULL);
	} else if (!route) {
		fail_literal(req, TRACKER_ERROR_NOT_FOUND,
			     "There is no such endpoint; see docs/API.md.");
	} else if (!args_decoded(args)) {
		fail_literal(req, TRACKER_ERROR_INVALID,
			     "A name in the URL has a bad percent-escape or "
			     "an escaped NUL.");
	} else if (route->authenticated &&
		   !tracker_request_authenticate(req, &error)) {
		tracker_request_fail(req, error);
	} else {
		route->handler(req);
	}
}

/* --- Limits, before the body is read --- */

static gsize headers_size(SoupMessageHeaders *headers)
{
	SoupMessageHeadersIter iter;
	const char *name, *value;
	gsize size = 0;

	soup_message_headers_iter_init(&iter, headers);
	while (soup_message_headers_iter_next(&iter, &name, &value))
		size += strlen(name) + strlen(value) + 4;
	return size;
}

/* Answers now and drops whatever body follows, unread into memory. */
static void refuse(SoupServerMessage *msg, guint status, const char *message)
{
	g_autofree char *body = g_strdup_printf(
		"{\"error\":\"too_large\",\"message\":\"%s\"}", message);

	soup_message_body_set_accumulate(
		soup_server_message_get_request_body(msg), FALSE);
	soup_message_body_truncate(soup_server_message_get_request_body(msg));
	soup_message_headers_replace(
		soup_server_message_get_response_headers(msg), "Connection",
		"close");
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json",
					 SOUP_MEMORY_COPY, body, strlen(body));
}

static void refuse_large_body(SoupServerMessage *msg)
{
	refuse(msg, 413,
	       "The request body is over 4 MiB, the most the tracker "
	       "accepts.");
}

static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);

	if (body->length > TRACKER_HTTP_MAX_BODY &&
	    soup_server_message_get_status(msg) == 0)
		refuse_large_body(msg);
}

static void check_limits(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers =
		soup_server_message_get_request_headers(msg);

	if (headers_size(headers) > TRACKER_HTTP_MAX_HEADERS) {
		refuse(msg, 431,
		       "The request headers are over 16 KiB, the most the "
		       "tracker accepts.");
		return;
	}
	if (soup_message_headers_get_encoding(headers) ==
		    SOUP_ENCODING_CONTENT_LENGTH &&
	    soup_message_headers_get_content_length(headers) >
		    TRACKER_HTTP_MAX_BODY) {
		refuse_large_body(msg);
		return;
	}
	/* Chunked bodies announce no length: count as they arrive. */
	g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), NULL);
}

static gboolean finish_stop(gpointer data)
{
	TrackerServer *server = data;

	g_clear_handle_id(&server->done_timeout, g_source_remove);
	g_clear_handle_id(&server->done_idle, g_source_remove);
	if (server->done) {
		GSourceFunc done = g_steal_pointer(&server->done);

		done(server->done_data);
	}
	return G_SOURCE_REMOVE;
}

static void on_request_finished(SoupServerMessage *msg, gpointer data)
{
	TrackerServer *server = data;

	set_cork(server, msg, FALSE);
	server->in_flight--;
	if (server->stopping && server->in_flight == 0 && server->done &&
	    !server->done_idle)
		server->done_idle = g_idle_add(finish_stop, server);
}

/* Runs once a request's headers are in, before its body: after
 * libsoup's own got-headers handler, which may already have answered. */
static void on_got_headers(SoupServerMessage *msg, gpointer data)
{
	TrackerServer *server = data;

	tracker_clients_got_headers(server->clients, msg);
	server->in_flight++;
	g_signal_connect(msg, "finished", G_CALLBACK(on_request_finished),
			 server);
	if (server->stopping)
		soup_message_headers_replace(
			soup_server_message_get_response_headers(msg),
			"Connection", "close");
	if (soup_server_message_get_status(msg) == 0)
		check_limits(msg);
}

/* Not an early handler: libsoup would decode every request's query
 * into a table for it, only for the table to be thrown away. */
static void on_request_started(SoupServer *soup, SoupServerMessage *msg,
			       gpointer data)
{
	g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), data);
}

/* --- Life cycle --- */

static GSocket *listen_on(const TrackerConfig *config, GError **error)
{
	g_autoptr(GInetAddress) inet =
		g_inet_address_new_from_string(config->listen_host);
	g_autoptr(GSocketAddress) addr =
		g_inet_socket_address_new(inet, config->listen_port);
	g_autoptr(GSocket) sock = g_socket_new(g_inet_address_get_family(inet),
					       G_SOCKET_TYPE_STREAM,
					       G_SOCKET_PROTOCOL_TCP, error);

	if (!sock)
		return NULL;
	/* Bursts of clients (100 at once in the tests) must not meet a
	 * full accept queue. */
	g_socket_set_listen_backlog(sock, 1024);
	if (!g_socket_bind(sock, addr, TRUE, error) ||
	    !g_socket_listen(sock, error))
		return NULL;
	return g_steal_pointer(&sock);
}

static guint16 bound_port(GSocket *sock)
{
	g_autoptr(GSocketAddress) local =
		g_socket_get_local_address(sock, NULL);

	if (!local)
		return 0;
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
}

TrackerServer *tracker_server_new(TrackerApp *app, GTlsCertificate *certificate,
				  GError **error)
{
	g_autoptr(TrackerServer) server = g_new0(TrackerServer, 1);

	server->app = app;
	/* raw-paths: a "%2F" in a group name must stay inside its
	 * segment; match_path decodes each segment itself. TLS is
	 * clients.c's: libsoup gets connections already encrypted. */
	server->soup = soup_server_new("raw-paths", TRUE, "server-header",
				       "groupfs-tracker", NULL);
	g_signal_connect(server->soup, "request-started",
			 G_CALLBACK(on_request_started), server);
	soup_server_add_handler(server->soup, NULL, handle, server, NULL);
	server->socket = listen_on(app->config, error);
	if (!server->socket)
		return NULL;
	server->clients = tracker_clients_new(
		server->soup, server->socket, certificate,
		app->config->max_connections, app->config->idle_timeout, error);
	if (!server->clients)
		return NULL;
	server->port = bound_port(server->socket);
	return g_steal_pointer(&server);
}

void tracker_server_free(TrackerServer *server)
{
	if (!server)
		return;
	g_clear_handle_id(&server->done_timeout, g_source_remove);
	g_clear_handle_id(&server->done_idle, g_source_remove);
	if (server->soup)
		soup_server_disconnect(server->soup);
	g_clear_pointer(&server->clients, tracker_clients_free);
	g_clear_object(&server->soup);
	g_clear_object(&server->socket);
	g_free(server);
}

guint16 tracker_server_get_port(TrackerServer *server)
{
	return server->port;
}

void tracker_server_stop(TrackerServer *server, guint timeout_seconds,
			 GSourceFunc done, gpointer data)
{
	if (server->stopping)
		return;
	server->stopping = TRUE;
	server->done = done;
	server->done_data = data;
	/* A listening socket that is shut down refuses new connections
	 * at once. */
	tracker_clients_stop_accepting(server->clients);
	g_socket_shutdown(server->socket, TRUE, FALSE, NULL);
	server->done_timeout =
		g_timeout_add_seconds(timeout_seconds, finish_stop, server);
	if (server->in_flight == 0)
		server->done_idle = g_idle_add(finish_stop, server);
}
