/*
 * test-tracker-api: the client against an HTTPS server that answers with
 * canned replies, good and hostile. The server is this same program run
 * with --serve DIR in a child process: the client's calls block, and a
 * separate process is what the client meets in real life.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "ca.h"
#include "tracker-api.h"

static char *tmp; /* removed at the end */
static const char *self; /* argv[0], to start the server */

typedef struct {
	char *dir; /* CA and server certificate */
	char *ca_file;
	char *other_ca_file; /* a CA that did not sign the server */
	GPid server;
	char *url;
} Fixture;

static void reply(SoupServerMessage *msg, guint status, const char *body)
{
	soup_server_message_set_status(msg, status, NULL);
	if (body != NULL)
		soup_server_message_set_response(msg, "application/json",
						 SOUP_MEMORY_COPY, body,
						 strlen(body));
}

static void reply_take(SoupServerMessage *msg, guint status, char *body)
{
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json",
					 SOUP_MEMORY_TAKE, body, strlen(body));
}

/* Answers with what the request carried: its token and its body. */
static void handle_echo(SoupServerMessage *msg)
{
	SoupMessageHeaders *headers =
		soup_server_message_get_request_headers(msg);
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
	g_autofree char *text = g_strndup(g_bytes_get_data(bytes, NULL),
					  g_bytes_get_size(bytes));
	const char *auth =
		soup_message_headers_get_one(headers, "Authorization");
	g_autoptr(JsonObject) object = json_object_new();
	g_autoptr(JsonNode) root = json_node_alloc();

	json_object_set_int_member(object, "n", 7);
	json_object_set_string_member(object, "body", text);
	if (auth != NULL)
		json_object_set_string_member(object, "authorization", auth);
	json_node_init_object(root, object);
	reply_take(msg, 200, json_to_string(root, FALSE));
}

static void handle_ca(const char *ca_file, SoupServerMessage *msg)
{
	g_autofree char *pem = NULL;
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	g_assert_true(g_file_get_contents(ca_file, &pem, NULL, NULL));
	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "certificate");
	json_builder_add_string_value(builder, pem);
	json_builder_end_object(builder);
	root = json_builder_get_root(builder);
	reply_take(msg, 200, json_to_string(root, FALSE));
}

static void handle(SoupServer *server, SoupServerMessage *msg, const char *path,
		   GHashTable *query, gpointer user_data)
{
	if (strcmp(path, "/api/v1/ca") == 0)
		handle_ca(user_data, msg);
	else if (strcmp(path, "/api/v1/echo") == 0)
		handle_echo(msg);
	else if (strcmp(path, "/api/v1/conflict") == 0)
		reply(msg, 409,
		      "{\"error\": \"conflict\", \"message\": "
		      "\"the group 'g' exists already\"}");
	else if (strcmp(path, "/api/v1/unauthorized") == 0)
		reply(msg, 401,
		      "{\"error\": \"unauthorized\", \"message\": "
		      "\"log in again\"}");
	else if (strcmp(path, "/api/v1/odd-code") == 0)
		reply(msg, 418,
		      "{\"error\": \"teapot\", \"message\": "
		      "\"short and stout\"}");
	else if (strcmp(path, "/api/v1/plain") == 0)
		reply(msg, 502, NULL);
	else if (strcmp(path, "/api/v1/empty") == 0)
		reply(msg, 204, NULL);
	else if (strcmp(path, "/api/v1/array") == 0)
		reply(msg, 200, "[1, 2]");
	else if (strcmp(path, "/api/v1/deep") == 0)
		reply_take(msg, 200, g_strnfill(200000, '['));
	else if (strcmp(path, "/api/v1/huge") == 0)
		reply_take(msg, 200,
			   g_strnfill(NET_TRACKER_API_MAX_REPLY + 1, ' '));
	else if (strcmp(path, "/api/v1/redirect") == 0)
		soup_server_message_set_redirect(msg, 302, "/api/v1/echo");
	else
		reply(msg, 404,
		      "{\"error\": \"not_found\", \"message\": "
		      "\"no such thing\"}");
}

/* The child: serves DIR/server.crt on an ephemeral loopback port,
 * prints the port, and runs until it is killed. */
static int serve(const char *dir)
{
	g_autofree char *crt = g_build_filename(dir, "server.crt", NULL);
	g_autofree char *key = g_build_filename(dir, "server.key", NULL);
	g_autofree char *ca_file = g_build_filename(dir, "ca.crt", NULL);
	g_autoptr(GTlsCertificate) cert = NULL;
	g_autoptr(SoupServer) server = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GError) error = NULL;
	GSList *uris;

	cert = g_tls_certificate_new_from_files(crt, key, &error);
	g_assert_no_error(error);
	server = soup_server_new("tls-certificate", cert, NULL);
	soup_server_add_handler(server, "/api/v1", handle, ca_file, NULL);
	g_assert_true(soup_server_listen_local(server, 0,
					       SOUP_SERVER_LISTEN_IPV4_ONLY |
						       SOUP_SERVER_LISTEN_HTTPS,
					       &error));
	g_assert_no_error(error);
	uris = soup_server_get_uris(server);
	printf("%d\n", g_uri_get_port(uris->data));
	fflush(stdout);
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
	g_main_loop_run(loop);
	return 0;
}

static char *make_ca(const char *dir, gboolean with_server)
{
	const char *const names[] = {"127.0.0.1", "localhost", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(TrackerCa) ca = NULL;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	ca = tracker_ca_open(dir, &error);
	g_assert_no_error(error);
	if (with_server)
		g_assert_true(tracker_ca_ensure_server_certificate(
			ca, dir, names, &error));
	g_assert_no_error(error);
	return g_build_filename(dir, "ca.crt", NULL);
}

static void start_server(Fixture *f)
{
	char *argv[] = {(char *)self, "--serve", f->dir, NULL};
	g_autoptr(GError) error = NULL;
	char line[32] = {0};
	int out;
	FILE *in;

	g_assert_true(g_spawn_async_with_pipes(
		NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
		&f->server, NULL, &out, NULL, &error));
	g_assert_no_error(error);
	in = fdopen(out, "r");
	g_assert_nonnull(fgets(line, sizeof(line), in));
	fclose(in);
	f->url = g_strdup_printf("https://127.0.0.1:%d", atoi(line));
}

static void set_up(Fixture *f, gconstpointer data)
{
	g_autofree char *other = NULL;

	f->dir = g_build_filename(tmp, g_test_get_path(), "tracker", NULL);
	other = g_build_filename(tmp, g_test_get_path(), "other", NULL);
	f->ca_file = make_ca(f->dir, TRUE);
	f->other_ca_file = make_ca(other, FALSE);
	start_server(f);
}

static void tear_down(Fixture *f, gconstpointer data)
{
	/* SIGKILL: the server has nothing to clean up or report. */
	kill(f->server, SIGKILL);
	waitpid(f->server, NULL, 0);
	g_spawn_close_pid(f->server);
	g_free(f->url);
	g_free(f->dir);
	g_free(f->ca_file);
	g_free(f->other_ca_file);
}

static NetTrackerApi *client(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	NetTrackerApi *api = net_tracker_api_new(f->url, f->ca_file, &error);

	g_assert_no_error(error);
	return api;
}

static void test_url(void)
{
	static const struct {
		const char *url;
		const char *normal; /* NULL: refused */
	} cases[] = {
		{"https://tracker.example:7070",
		 "https://tracker.example:7070"},
		{"https://127.0.0.1:7070/", "https://127.0.0.1:7070"},
		{"https://h/prefix//", "https://h/prefix"},
		{"http://tracker.example:7070", NULL},
		{"ftp://tracker.example", NULL},
		{"https://user@tracker.example", NULL},
		{"https://tracker.example/?q=1", NULL},
		{"https://tracker.example/#top", NULL},
		{"https://", NULL},
		{"tracker.example:7070", NULL},
		{"", NULL},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *normal =
			net_tracker_api_normalise_url(cases[i].url, &error);

		g_assert_cmpstr(normal, ==, cases[i].normal);
		if (cases[i].normal == NULL)
			g_assert_error(error, G_IO_ERROR,
				       G_IO_ERROR_INVALID_ARGUMENT);
	}
}

static void test_path(void)
{
	g_autofree char *plain = net_tracker_api_path("groups", NULL);
	g_autofree char *escaped =
		net_tracker_api_path("groups", "a b/c?d#e%", "join", NULL);
	g_autofree char *dots =
		net_tracker_api_path("groups", "..", ".", "x..y", NULL);

	g_assert_cmpstr(plain, ==, "groups");
	g_assert_cmpstr(escaped, ==, "groups/a%20b%2Fc%3Fd%23e%25/join");
	g_assert_cmpstr(dots, ==, "groups/%2E%2E/%2E/x..y");
}

/* Wrong types answer NULL or FALSE, and never a warning (the tests run
 * with fatal warnings). */
static void test_accessors(void)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *object;
	gint64 n = 0;
	gboolean b = FALSE;

	g_assert_true(json_parser_load_from_data(
		parser,
		"{\"s\": \"text\", \"n\": 42, \"b\": true, \"a\": [1], "
		"\"null\": null, \"f\": 1.5, \"o\": {}}",
		-1, NULL));
	object = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(net_tracker_api_get_string(object, "s"), ==, "text");
	g_assert_true(net_tracker_api_get_int(object, "n", &n));
	g_assert_cmpint(n, ==, 42);
	g_assert_true(net_tracker_api_get_bool(object, "b", &b));
	g_assert_true(b);
	g_assert_nonnull(net_tracker_api_get_array(object, "a"));
	g_assert_null(net_tracker_api_get_string(object, "n"));
	g_assert_null(net_tracker_api_get_string(object, "null"));
	g_assert_null(net_tracker_api_get_string(object, "o"));
	g_assert_null(net_tracker_api_get_string(object, "missing"));
	g_assert_false(net_tracker_api_get_int(object, "s", &n));
	g_assert_false(net_tracker_api_get_int(object, "f", &n));
	g_assert_false(net_tracker_api_get_bool(object, "n", &b));
	g_assert_null(net_tracker_api_get_array(object, "o"));
}

static void test_success(Fixture *f, gconstpointer data)
{
	g_autoptr(NetTrackerApi) api = client(f);
	g_autoptr(JsonObject) body = json_object_new();
	g_autoptr(JsonObject) reply = NULL;
	g_autoptr(GError) error = NULL;
	gint64 n = 0;

	json_object_set_string_member(body, "name", "g\"1");
	net_tracker_api_set_token(api, "tok-123");
	reply = net_tracker_api_call(api, "POST", "echo", body, &error);
	g_assert_no_error(error);
	g_assert_true(net_tracker_api_get_int(reply, "n", &n));
	g_assert_cmpint(n, ==, 7);
	g_assert_cmpstr(net_tracker_api_get_string(reply, "authorization"), ==,
			"Bearer tok-123");
	g_assert_cmpstr(net_tracker_api_get_string(reply, "body"), ==,
			"{\"name\":\"g\\\"1\"}");
}

static void test_no_token_no_header(Fixture *f, gconstpointer data)
{
	g_autoptr(NetTrackerApi) api = client(f);
	g_autoptr(JsonObject) reply = NULL;

	net_tracker_api_set_token(api, "tok");
	net_tracker_api_set_token(api, NULL);
	reply = net_tracker_api_call(api, "GET", "echo", NULL, NULL);
	g_assert_nonnull(reply);
	g_assert_null(net_tracker_api_get_string(reply, "authorization"));
	g_assert_cmpstr(net_tracker_api_get_string(reply, "body"), ==, "");
}

static void test_empty_reply(Fixture *f, gconstpointer data)
{
	g_autoptr(NetTrackerApi) api = client(f);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) reply =
		net_tracker_api_call(api, "POST", "empty", NULL, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(json_object_get_size(reply), ==, 0);
}

static void test_errors(Fixture *f, gconstpointer data)
{
	static const struct {
		const char *path;
		int code; /* a NetTrackerApiErrorCode */
		const char *message; /* a part of it */
	} cases[] = {
		{"conflict", NET_TRACKER_API_ERROR_CONFLICT,
		 "the group 'g' exists already"},
		{"unauthorized", NET_TRACKER_API_ERROR_UNAUTHORIZED,
		 "log in again"},
		{"nowhere", NET_TRACKER_API_ERROR_NOT_FOUND, "no such thing"},
		{"odd-code", NET_TRACKER_API_ERROR_FAILED, "short and stout"},
		{"plain", NET_TRACKER_API_ERROR_FAILED, "HTTP 502"},
		{"array", NET_TRACKER_API_ERROR_PROTOCOL, "not a JSON object"},
		{"deep", NET_TRACKER_API_ERROR_PROTOCOL, "not a JSON object"},
		{"huge", NET_TRACKER_API_ERROR_PROTOCOL, "larger than"},
		{"redirect", NET_TRACKER_API_ERROR_PROTOCOL, "HTTP 302"},
	};
	g_autoptr(NetTrackerApi) api = client(f);

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonObject) reply = net_tracker_api_call(
			api, "GET", cases[i].path, NULL, &error);

		g_assert_null(reply);
		g_assert_error(error, NET_TRACKER_API_ERROR, cases[i].code);
		g_assert_nonnull(strstr(error->message, cases[i].message));
	}
}

static void test_wrong_ca(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetTrackerApi) api =
		net_tracker_api_new(f->url, f->other_ca_file, &error);
	g_autoptr(JsonObject) reply = NULL;

	g_assert_no_error(error);
	reply = net_tracker_api_call(api, "GET", "echo", NULL, &error);
	g_assert_null(reply);
	g_assert_error(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
	g_assert_nonnull(strstr(error->message, f->url));
	g_assert_nonnull(strstr(error->message, "CA"));
}

static void test_unreachable(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetTrackerApi) api =
		net_tracker_api_new("https://127.0.0.1:1", f->ca_file, &error);
	g_autoptr(JsonObject) reply = NULL;

	reply = net_tracker_api_call(api, "GET", "echo", NULL, &error);
	g_assert_null(reply);
	g_assert_nonnull(error);
	g_assert_true(g_str_has_prefix(
		error->message,
		"cannot reach the tracker at https://127.0.0.1:1"));
}

static void test_fetch_ca(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *expected = NULL;
	g_autofree char *pem = net_tracker_api_fetch_ca(f->url, &error);

	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(f->ca_file, &expected, NULL, NULL));
	g_assert_cmpstr(pem, ==, expected);
}

static void test_bad_ca_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(tmp, "junk.crt", NULL);
	g_autoptr(NetTrackerApi) api = NULL;

	g_assert_true(g_file_set_contents(path, "not a certificate", -1, NULL));
	api = net_tracker_api_new("https://127.0.0.1:7070", path, &error);
	g_assert_null(api);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, path));
}

typedef void (*FixtureTest)(Fixture *f, gconstpointer data);

/*
 * Every test that makes a TLS connection runs in a child process that
 * leaves with _exit. LeakSanitizer (GCC 12, glibc 2.36) crashes in its
 * tracer ("Tracer caught signal 11") on a stale dynamic-TLS slot of
 * GLib's pool thread in this binary once GnuTLS has run. The same client
 * code is leak-checked in tests/integration, where groupfs exits cleanly.
 */
static void run_isolated(gconstpointer data)
{
	FixtureTest test = (FixtureTest)data;
	Fixture f = {0};

	if (g_test_subprocess()) {
		set_up(&f, NULL);
		test(&f, NULL);
		tear_down(&f, NULL);
		fflush(stdout);
		_exit(0);
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

#define ADD(name, func)                                                     \
	g_test_add_data_func("/net/tracker-api/" name, (gconstpointer)func, \
			     run_isolated)

int main(int argc, char **argv)
{
	int status;

	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	self = argv[0];
	g_test_init(&argc, &argv, NULL);
	tmp = g_dir_make_tmp("test-tracker-api-XXXXXX", NULL);
	g_assert_nonnull(tmp);
	g_test_add_func("/net/tracker-api/url", test_url);
	g_test_add_func("/net/tracker-api/path", test_path);
	g_test_add_func("/net/tracker-api/accessors", test_accessors);
	g_test_add_func("/net/tracker-api/bad-ca-file", test_bad_ca_file);
	ADD("success", test_success);
	ADD("no-token-no-header", test_no_token_no_header);
	ADD("empty-reply", test_empty_reply);
	ADD("errors", test_errors);
	ADD("wrong-ca", test_wrong_ca);
	ADD("unreachable", test_unreachable);
	ADD("fetch-ca", test_fetch_ca);
	status = g_test_run();
	g_assert_true(g_spawn_sync(NULL, (char *[]){"rm", "-rf", tmp, NULL},
				   NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
				   NULL, NULL, NULL));
	g_free(tmp);
	return status;
}
