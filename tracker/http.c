#include "http.h"

#include <string.h>

#include "json-check.h"
#include "tracker-error.h"

struct _TrackerRequest {
	gint refcount;
	TrackerApp *app;
	SoupServerMessage *msg;
	gulong finished_id; /* watched only while paused: see pause */
	gboolean finished; /* the reply went out, or the client went away */
	GPtrArray *args;
	char *address; /* made on demand (most requests never ask), or at
			* pause, while the connection surely still has it */
	gint64 user_id; /* 0 until authenticated */
	char *user;
	gint64 token_expires;
	guint8 token_hash[32];
	JsonParser *body; /* keeps TrackerField values alive */
	GHashTable *query; /* parsed once, on demand */
};

static void on_finished(SoupServerMessage *msg, TrackerRequest *req)
{
	req->finished = TRUE;
}

static char *dup_remote_address(SoupServerMessage *msg)
{
	GSocketAddress *addr = soup_server_message_get_remote_address(msg);
	GInetAddress *inet;

	if (!G_IS_INET_SOCKET_ADDRESS(addr))
		return g_strdup("unknown");
	inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr));
	return g_inet_address_to_string(inet);
}

TrackerRequest *tracker_request_new(TrackerApp *app, SoupServerMessage *msg,
				    GPtrArray *args)
{
	TrackerRequest *req = g_new0(TrackerRequest, 1);

	req->refcount = 1;
	req->app = app;
	req->msg = g_object_ref(msg);
	req->args = args;
	return req;
}

TrackerRequest *tracker_request_ref(TrackerRequest *req)
{
	g_atomic_int_inc(&req->refcount);
	return req;
}

void tracker_request_unref(TrackerRequest *req)
{
	if (!req || !g_atomic_int_dec_and_test(&req->refcount))
		return;
	if (req->finished_id)
		g_signal_handler_disconnect(req->msg, req->finished_id);
	g_object_unref(req->msg);
	g_clear_pointer(&req->args, g_ptr_array_unref);
	g_free(req->address);
	g_free(req->user);
	g_clear_object(&req->body);
	g_clear_pointer(&req->query, g_hash_table_unref);
	g_free(req);
}

TrackerApp *tracker_request_get_app(TrackerRequest *req)
{
	return req->app;
}

SoupServerMessage *tracker_request_get_message(TrackerRequest *req)
{
	return req->msg;
}

const char *tracker_request_get_arg(TrackerRequest *req, guint index)
{
	g_return_val_if_fail(req->args && index < req->args->len, NULL);
	return g_ptr_array_index(req->args, index);
}

const char *tracker_request_get_address(TrackerRequest *req)
{
	if (!req->address)
		req->address = dup_remote_address(req->msg);
	return req->address;
}

/* --- Authentication --- */

/* The token of "Authorization: Bearer TOKEN": 64 hex digits. */
static gboolean read_bearer_token(SoupServerMessage *msg, guint8 *hash)
{
	const char *value = soup_message_headers_get_one(
		soup_server_message_get_request_headers(msg), "Authorization");
	if (!value || g_ascii_strncasecmp(value, "Bearer ", 7) != 0)
		return FALSE;
	value += 7;
	if (strlen(value) != 64)
		return FALSE;
	for (const char *p = value; *p; p++)
		if (!g_ascii_isxdigit(*p))
			return FALSE;
	tracker_http_hash_token(value, hash);
	return TRUE;
}

void tracker_http_hash_token(const char *token, guint8 *hash)
{
	g_autoptr(GChecksum) sha = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = 32;

	g_checksum_update(sha, (const guchar *)token, strlen(token));
	g_checksum_get_digest(sha, hash, &len);
}

gboolean tracker_request_authenticate(TrackerRequest *req, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (read_bearer_token(req->msg, req->token_hash))
		req->user_id = tracker_db_token_lookup(
			req->app->db, req->token_hash, now, &req->user,
			&req->token_expires, &local);
	if (local) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	if (req->user_id == 0) {
		tracker_request_set_header(req, "WWW-Authenticate", "Bearer");
		g_set_error_literal(error, TRACKER_ERROR,
				    TRACKER_ERROR_UNAUTHORIZED,
				    "This needs a valid login token; log in "
				    "again.");
		return FALSE;
	}
	return TRUE;
}

gint64 tracker_request_get_user_id(TrackerRequest *req)
{
	return req->user_id;
}

const char *tracker_request_get_user(TrackerRequest *req)
{
	return req->user;
}

gint64 tracker_request_get_token_expires(TrackerRequest *req)
{
	return req->token_expires;
}

const guint8 *tracker_request_get_token_hash(TrackerRequest *req)
{
	return req->user_id ? req->token_hash : NULL;
}

/* --- JSON bodies --- */

static gboolean set_invalid(GError **error, const char *message)
{
	g_set_error_literal(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    message);
	return FALSE;
}

static JsonObject *parse_object(TrackerRequest *req, GError **error)
{
	SoupMessageBody *body = soup_server_message_get_request_body(req->msg);
	g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
	gsize len;
	const char *text = g_bytes_get_data(bytes, &len);
	g_autoptr(GError) local = NULL;
	JsonNode *root;

	if (len == 0)
		return json_object_new();
	/* json-glib alone would take more than JSON; see json-check.h. */
	if (!tracker_json_check(text, len, error))
		return NULL;
	req->body = json_parser_new_immutable();
	if (!json_parser_load_from_data(req->body, text, len, &local)) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "The request body is not valid JSON: %s.",
			    local->message);
		return NULL;
	}
	root = json_parser_get_root(req->body);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		set_invalid(error, "The request body must be a JSON object.");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

static gchar *list_fields(const TrackerField *fields, guint n_fields)
{
	GString *names = g_string_new(NULL);

	for (guint i = 0; i < n_fields; i++)
		g_string_append_printf(names, "%s\"%s\"", i ? ", " : "",
				       fields[i].name);
	if (n_fields == 0)
		g_string_append(names, "none");
	return g_string_free(names, FALSE);
}

static gboolean check_known(JsonObject *obj, const TrackerField *fields,
			    guint n_fields, GError **error)
{
	g_autoptr(GList) members = json_object_get_members(obj);

	for (GList *l = members; l; l = l->next) {
		guint i = 0;

		while (i < n_fields && !g_str_equal(fields[i].name, l->data))
			i++;
		if (i == n_fields) {
			g_autofree char *known = list_fields(fields, n_fields);

			g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
				    "The request has an unknown field; this "
				    "endpoint takes only: %s.",
				    known);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean tracker_request_read_fields(TrackerRequest *req, TrackerField *fields,
				     guint n_fields, GError **error)
{
	g_autoptr(JsonObject) obj = parse_object(req, error);

	if (!obj || !check_known(obj, fields, n_fields, error))
		return FALSE;
	for (guint i = 0; i < n_fields; i++) {
		JsonNode *node = json_object_get_member(obj, fields[i].name);

		fields[i].value = NULL;
		if (!node && fields[i].optional)
			continue;
		if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
		    json_node_get_value_type(node) != G_TYPE_STRING) {
			g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
				    node ? "The field \"%s\" must be a string."
					 : "The field \"%s\" is missing.",
				    fields[i].name);
			return FALSE;
		}
		fields[i].value = json_node_get_string(node);
	}
	return TRUE;
}

/* --- Queries --- */

static int hex_value(char c)
{
	return g_ascii_isxdigit(c) ? g_ascii_xdigit_value(c) : -1;
}

/* Form-decodes @len bytes at @s: "%XX" and "+" for space. The result
 * is NUL-terminated beyond its length, so text can be read in place. */
static GBytes *form_decode(const char *s, gsize len, GError **error)
{
	g_autofree guint8 *out = g_malloc(len + 1);
	gsize size = 0;

	for (gsize i = 0; i < len; i++) {
		guint8 c = s[i];

		if (c == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;

			if (lo < 0) {
				set_invalid(error, "The query has a bad "
						   "percent-escape.");
				return NULL;
			}
			c = (guint8)(hi << 4 | lo);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		out[size++] = c;
	}
	out[size] = '\0';
	return g_bytes_new_take(g_steal_pointer(&out), size);
}

static gboolean add_pair(GHashTable *query, const char *pair, gsize len,
			 GError **error)
{
	const char *eq = memchr(pair, '=', len);
	gsize key_len = eq ? (gsize)(eq - pair) : len;
	g_autoptr(GBytes) key = form_decode(pair, key_len, error);
	g_autoptr(GBytes) value = NULL;
	gsize decoded_len;
	const char *name;

	if (!key)
		return FALSE;
	value = eq ? form_decode(eq + 1, len - key_len - 1, error)
		   : g_bytes_new_static("", 0);
	if (!value)
		return FALSE;
	name = g_bytes_get_data(key, &decoded_len);
	if (memchr(name, 0, decoded_len) || g_hash_table_contains(query, name))
		return set_invalid(error, "The query repeats a parameter or "
					  "has a NUL in a name.");
	g_hash_table_insert(query, g_strdup(name), g_steal_pointer(&value));
	return TRUE;
}

GHashTable *tracker_http_parse_query(const char *query, GError **error)
{
	g_autoptr(GHashTable) table = g_hash_table_new_full(
		g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
	const char *p = query ? query : "";

	while (*p) {
		const char *amp = strchr(p, '&');
		gsize len = amp ? (gsize)(amp - p) : strlen(p);

		if (len > 0 && !add_pair(table, p, len, error))
			return NULL;
		p += len + (amp ? 1 : 0);
	}
	return g_steal_pointer(&table);
}

GHashTable *tracker_request_get_query(TrackerRequest *req, GError **error)
{
	GUri *uri = soup_server_message_get_uri(req->msg);

	if (!req->query)
		req->query =
			tracker_http_parse_query(g_uri_get_query(uri), error);
	return req->query;
}

const char *tracker_request_get_query_string(TrackerRequest *req,
					     const char *key, GError **error)
{
	GHashTable *query = tracker_request_get_query(req, error);
	GBytes *value;
	const char *text;
	gsize len;

	if (!query)
		return NULL;
	value = g_hash_table_lookup(query, key);
	if (!value || g_hash_table_size(query) != 1) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "This request takes exactly one query parameter, "
			    "\"%s\".",
			    key);
		return NULL;
	}
	text = g_bytes_get_data(value, &len);
	if (memchr(text, 0, len) || !g_utf8_validate(text, len, NULL)) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "The query parameter \"%s\" must be UTF-8 text "
			    "without NUL.",
			    key);
		return NULL;
	}
	return text;
}

/* --- Replies --- */

void tracker_request_set_header(TrackerRequest *req, const char *name,
				const char *value)
{
	soup_message_headers_replace(
		soup_server_message_get_response_headers(req->msg), name,
		value);
}

void tracker_request_reply_bytes(TrackerRequest *req, guint status,
				 const char *content_type, GBytes *data)
{
	g_autoptr(GBytes) owned = data;
	SoupMessageBody *body;

	if (req->finished)
		return;
	soup_server_message_set_status(req->msg, status, NULL);
	soup_message_headers_replace(
		soup_server_message_get_response_headers(req->msg),
		"Content-Type", content_type);
	/* The body keeps a reference to @data instead of a copy. */
	body = soup_server_message_get_response_body(req->msg);
	soup_message_body_truncate(body);
	soup_message_body_append_bytes(body, owned);
}

void tracker_request_reply_json(TrackerRequest *req, guint status,
				JsonNode *body)
{
	g_autoptr(JsonNode) owned = body;
	gsize len;
	char *text = json_to_string(owned, FALSE);

	len = strlen(text);
	tracker_request_reply_bytes(req, status, "application/json",
				    g_bytes_new_take(text, len));
}

void tracker_request_reply_empty(TrackerRequest *req, guint status)
{
	if (req->finished)
		return;
	soup_server_message_set_status(req->msg, status, NULL);
}

void tracker_request_fail(TrackerRequest *req, const GError *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	TrackerErrorCode code = TRACKER_ERROR_INTERNAL;
	const char *message = error->message;

	if (error->domain == TRACKER_ERROR)
		code = error->code;
	if (code == TRACKER_ERROR_INTERNAL) {
		g_warning("%s %s: %s", soup_server_message_get_method(req->msg),
			  g_uri_get_path(soup_server_message_get_uri(req->msg)),
			  error->message);
		message = "The tracker failed to handle this request; its log "
			  "has the details.";
	}
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "error");
	json_builder_add_string_value(b, tracker_error_get_name(code));
	json_builder_set_member_name(b, "message");
	json_builder_add_string_value(b, message);
	json_builder_end_object(b);
	tracker_request_reply_json(req, tracker_error_get_status(code),
				   json_builder_get_root(b));
}

void tracker_request_pause(TrackerRequest *req)
{
	/* Until its handler returns, a request cannot finish: the main
	 * loop is busy with it. Only a paused one can outlive its client. */
	if (!req->finished_id)
		req->finished_id = g_signal_connect(
			req->msg, "finished", G_CALLBACK(on_finished), req);
	tracker_request_get_address(req);
	tracker_request_ref(req);
	soup_server_message_pause(req->msg);
}

void tracker_request_resume(TrackerRequest *req)
{
	if (!req->finished)
		soup_server_message_unpause(req->msg);
	tracker_request_unref(req);
}
