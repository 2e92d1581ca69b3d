/* tracker-api: see tracker-api.h. */
#include <string.h>

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "config.h"
#include "tracker-api.h"

/* Seconds without progress before a request fails. */
#define REQUEST_TIMEOUT 30
/* A CA certificate is a few KiB; an unverified peer gets no more. */
#define MAX_CA_REPLY (64u * 1024)
/* Deeper JSON than this is no reply of ours, and json-glib recurses. */
#define MAX_JSON_DEPTH 32

struct _NetTrackerApi {
	char *url; /* https://host[:port][/prefix], no trailing slash */
	SoupSession *session;
	char *token; /* NULL until set */
};

GQuark net_tracker_api_error_quark(void)
{
	return g_quark_from_static_string("net-tracker-api-error-quark");
}

static const struct {
	const char *code;
	NetTrackerApiErrorCode error;
} error_codes[] = {
	{"invalid_request", NET_TRACKER_API_ERROR_INVALID_REQUEST},
	{"unauthorized", NET_TRACKER_API_ERROR_UNAUTHORIZED},
	{"forbidden", NET_TRACKER_API_ERROR_FORBIDDEN},
	{"not_found", NET_TRACKER_API_ERROR_NOT_FOUND},
	{"conflict", NET_TRACKER_API_ERROR_CONFLICT},
	{"too_large", NET_TRACKER_API_ERROR_TOO_LARGE},
	{"rate_limited", NET_TRACKER_API_ERROR_RATE_LIMITED},
	{"internal", NET_TRACKER_API_ERROR_INTERNAL},
};

char *net_tracker_api_normalise_url(const char *url, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	gsize len;

	if (uri == NULL || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 ||
	    g_uri_get_host(uri) == NULL || *g_uri_get_host(uri) == '\0' ||
	    g_uri_get_userinfo(uri) != NULL || g_uri_get_query(uri) != NULL ||
	    g_uri_get_fragment(uri) != NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a tracker URL; expected "
			    "https://HOST:PORT",
			    url);
		return NULL;
	}
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	return g_strndup(url, len);
}

static NetTrackerApi *tracker_api_new(const char *url, GTlsDatabase *database,
				      GError **error)
{
	g_autoptr(NetTrackerApi) api = g_new0(NetTrackerApi, 1);

	api->url = net_tracker_api_normalise_url(url, error);
	if (api->url == NULL)
		return NULL;
	api->session = soup_session_new_with_options(
		"timeout", REQUEST_TIMEOUT, "user-agent",
		"groupfs/" GROUPFS_VERSION, "tls-database", database, NULL);
	/* Direct connections, as announce.c makes: the tracker is named by
	 * the user, and looking for a desktop proxy loads GIO's proxy
	 * modules on the first request, or aborts where GSettings schemas
	 * are missing. */
	soup_session_set_proxy_resolver(api->session, NULL);
	return g_steal_pointer(&api);
}

NetTrackerApi *net_tracker_api_new(const char *url, const char *ca_file,
				   GError **error)
{
	g_autoptr(GTlsDatabase) database = NULL;
	/* GTlsFileDatabase takes only absolute paths. */
	g_autofree char *absolute = NULL;

	g_return_val_if_fail(ca_file != NULL, NULL);
	absolute = g_canonicalize_filename(ca_file, NULL);
	database = g_tls_file_database_new(absolute, error);
	if (database == NULL) {
		g_prefix_error(error,
			       "cannot use the CA certificate %s: ", ca_file);
		return NULL;
	}
	return tracker_api_new(url, database, error);
}

void net_tracker_api_free(NetTrackerApi *api)
{
	if (api == NULL)
		return;
	g_clear_object(&api->session);
	g_free(api->url);
	if (api->token != NULL)
		memset(api->token, 0, strlen(api->token));
	g_free(api->token);
	g_free(api);
}

const char *net_tracker_api_get_url(const NetTrackerApi *api)
{
	return api->url;
}

static gboolean is_header_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!g_ascii_isgraph(*s))
			return FALSE;
	}
	return TRUE;
}

void net_tracker_api_set_token(NetTrackerApi *api, const char *token)
{
	g_return_if_fail(token == NULL || is_header_safe(token));
	if (api->token != NULL)
		memset(api->token, 0, strlen(api->token));
	g_free(api->token);
	api->token = g_strdup(token);
}

char *net_tracker_api_path(const char *first_segment, ...)
{
	g_autoptr(GString) path = g_string_new(NULL);
	va_list ap;

	va_start(ap, first_segment);
	for (const char *s = first_segment; s != NULL;
	     s = va_arg(ap, const char *)) {
		if (path->len > 0)
			g_string_append_c(path, '/');
		/* A dot segment would be resolved away by URI parsing: a
		 * name ".." must not climb out of its place in the path. */
		if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
			g_string_append(path, s[1] ? "%2E%2E" : "%2E");
		else
			g_string_append_uri_escaped(path, s, NULL, FALSE);
	}
	va_end(ap);
	return g_string_free(g_steal_pointer(&path), FALSE);
}

/* Step 1: the request, with its body and headers. */
static SoupMessage *message_new(NetTrackerApi *api, const char *method,
				const char *path, JsonObject *body)
{
	g_autofree char *uri = g_strconcat(api->url, "/api/v1/", path, NULL);
	SoupMessage *msg = soup_message_new(method, uri);
	SoupMessageHeaders *headers;

	/* Escaped segments and a checked base make a valid URI. */
	g_return_val_if_fail(msg != NULL, NULL);
	soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
	headers = soup_message_get_request_headers(msg);
	soup_message_headers_replace(headers, "Accept", "application/json");
	if (api->token != NULL) {
		g_autofree char *auth =
			g_strconcat("Bearer ", api->token, NULL);

		soup_message_headers_replace(headers, "Authorization", auth);
	}
	if (body != NULL) {
		g_autoptr(JsonNode) node =
			json_node_init_object(json_node_alloc(), body);
		char *text = json_to_string(node, FALSE);
		g_autoptr(GBytes) bytes = g_bytes_new_take(text, strlen(text));

		soup_message_set_request_body_from_bytes(
			msg, "application/json", bytes);
	}
	return msg;
}

/* Step 2: the body, refused beyond @limit bytes. */
static GBytes *read_bounded(GInputStream *in, gsize limit,
			    GCancellable *cancellable, GError **error)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	guint8 chunk[16384];
	gssize n;

	while ((n = g_input_stream_read(in, chunk, sizeof(chunk), cancellable,
					error)) > 0) {
		if ((gsize)n > limit - buf->len) {
			g_set_error(error, NET_TRACKER_API_ERROR,
				    NET_TRACKER_API_ERROR_PROTOCOL,
				    "the tracker's reply is larger than %zu "
				    "bytes",
				    (size_t)limit);
			return NULL;
		}
		g_byte_array_append(buf, chunk, n);
	}
	if (n < 0)
		return NULL;
	return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

/* json-glib's parser recurses once per nesting level; a hostile reply
 * of a million '[' would exhaust the stack. */
static gboolean json_depth_ok(const char *data, gsize len, guint max)
{
	guint depth = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < len; i++) {
		char c = data[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
		} else if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return FALSE;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

static JsonObject *parse_object(GBytes *body, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	gsize len;
	const char *data = g_bytes_get_data(body, &len);
	JsonNode *root;

	if (!json_depth_ok(data, len, MAX_JSON_DEPTH) ||
	    !json_parser_load_from_data(parser, data, len, NULL) ||
	    (root = json_parser_get_root(parser)) == NULL ||
	    !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker's reply is not a JSON object");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

static NetTrackerApiErrorCode error_code_from(const char *code)
{
	for (gsize i = 0; i < G_N_ELEMENTS(error_codes); i++) {
		if (g_strcmp0(code, error_codes[i].code) == 0)
			return error_codes[i].error;
	}
	return NET_TRACKER_API_ERROR_FAILED;
}

/* Turns a failure reply into an error that carries the tracker's own
 * sentence, or says what arrived instead. */
static void set_reply_error(SoupMessage *msg, GBytes *body, GError **error)
{
	guint status = soup_message_get_status(msg);
	g_autoptr(JsonObject) object = NULL;
	const char *message = NULL;

	if (g_bytes_get_size(body) > 0)
		object = parse_object(body, NULL);
	if (object != NULL)
		message = net_tracker_api_get_string(object, "message");
	if (message == NULL || *message == '\0') {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    status >= 400 ? NET_TRACKER_API_ERROR_FAILED
					  : NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker answered HTTP %u %s", status,
			    soup_message_get_reason_phrase(msg));
		return;
	}
	g_set_error_literal(
		error, NET_TRACKER_API_ERROR,
		error_code_from(net_tracker_api_get_string(object, "error")),
		message);
}

/* Step 3: status and body to an object or an error. */
static JsonObject *reply_parse(SoupMessage *msg, GBytes *body, GError **error)
{
	guint status = soup_message_get_status(msg);

	if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
		set_reply_error(msg, body, error);
		return NULL;
	}
	if (g_bytes_get_size(body) == 0)
		return json_object_new();
	return parse_object(body, error);
}

/* Transport failures name the tracker, so that "connection refused"
 * says which server refused; a certificate the CA does not vouch for
 * gets a sentence that says what to check. */
static void explain_transport_error(NetTrackerApi *api, GError **error)
{
	if (error == NULL || *error == NULL)
		return;
	if (g_error_matches(*error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)) {
		g_autofree char *old = g_steal_pointer(&(*error)->message);

		(*error)->message = g_strdup_printf(
			"the tracker at %s presented a certificate that the "
			"trusted CA did not sign (%s); check the tracker URL "
			"and the CA file",
			api->url, old);
		return;
	}
	g_prefix_error(error, "cannot reach the tracker at %s: ", api->url);
}

static JsonObject *call_bounded(NetTrackerApi *api, const char *method,
				const char *path, JsonObject *body, gsize limit,
				GError **error)
{
	g_autoptr(SoupMessage) msg = message_new(api, method, path, body);
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GBytes) reply = NULL;

	in = soup_session_send(api->session, msg, NULL, error);
	if (in != NULL)
		reply = read_bounded(in, limit, NULL, error);
	if (reply == NULL) {
		explain_transport_error(api, error);
		return NULL;
	}
	g_debug("%s /api/v1/%s: HTTP %u", method, path,
		soup_message_get_status(msg));
	return reply_parse(msg, reply, error);
}

JsonObject *net_tracker_api_call(NetTrackerApi *api, const char *method,
				 const char *path, JsonObject *body,
				 GError **error)
{
	return call_bounded(api, method, path, body, NET_TRACKER_API_MAX_REPLY,
			    error);
}

static gboolean accept_any_certificate(SoupMessage *msg,
				       GTlsCertificate *certificate,
				       GTlsCertificateFlags errors,
				       gpointer user_data)
{
	return TRUE;
}

char *net_tracker_api_fetch_ca(const char *url, GError **error)
{
	g_autoptr(NetTrackerApi) api = tracker_api_new(url, NULL, error);
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autoptr(JsonObject) object = NULL;
	g_autoptr(GTlsCertificate) certificate = NULL;
	const char *pem;

	if (api == NULL)
		return NULL;
	msg = message_new(api, "GET", "ca", NULL);
	g_signal_connect(msg, "accept-certificate",
			 G_CALLBACK(accept_any_certificate), NULL);
	in = soup_session_send(api->session, msg, NULL, error);
	if (in != NULL)
		reply = read_bounded(in, MAX_CA_REPLY, NULL, error);
	if (reply == NULL) {
		explain_transport_error(api, error);
		return NULL;
	}
	object = reply_parse(msg, reply, error);
	pem = object ? net_tracker_api_require_string(object, "certificate",
						      error)
		     : NULL;
	if (pem == NULL)
		return NULL;
	certificate = g_tls_certificate_new_from_pem(pem, -1, error);
	if (certificate == NULL) {
		g_prefix_error(error, "the tracker's CA certificate is "
				      "unusable: ");
		return NULL;
	}
	return g_strdup(pem);
}

static JsonNode *get_value(JsonObject *object, const char *member, GType type)
{
	JsonNode *node = json_object_get_member(object, member);

	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != type)
		return NULL;
	return node;
}

const char *net_tracker_api_get_string(JsonObject *object, const char *member)
{
	JsonNode *node = get_value(object, member, G_TYPE_STRING);

	return node ? json_node_get_string(node) : NULL;
}

gboolean net_tracker_api_get_int(JsonObject *object, const char *member,
				 gint64 *value)
{
	JsonNode *node = get_value(object, member, G_TYPE_INT64);

	if (node == NULL)
		return FALSE;
	*value = json_node_get_int(node);
	return TRUE;
}

gboolean net_tracker_api_get_bool(JsonObject *object, const char *member,
				  gboolean *value)
{
	JsonNode *node = get_value(object, member, G_TYPE_BOOLEAN);

	if (node == NULL)
		return FALSE;
	*value = json_node_get_boolean(node);
	return TRUE;
}

JsonArray *net_tracker_api_get_array(JsonObject *object, const char *member)
{
	JsonNode *node = json_object_get_member(object, member);

	return node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node)
						   : NULL;
}

const char *net_tracker_api_require_string(JsonObject *object,
					   const char *member, GError **error)
{
	const char *value = net_tracker_api_get_string(object, member);

	if (value == NULL)
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker's reply has no \"%s\" string", member);
	return value;
}
