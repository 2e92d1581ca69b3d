/*
 * announce: GET /announce, BEP 3 with compact peers (BEP 23), scoped by
 * group membership: the passkey names the user, the user must share a
 * group holding the info-hash, and the peers handed out are only those
 * of users who share such a group with the caller.
 *
 * Every answer is 200 with a bencoded body; a refusal is a
 * "failure reason", as BitTorrent clients expect.
 */
#include <string.h>

#include "api.h"
#include "bencode.h"
#include "tracker-error.h"

#define DEFAULT_NUMWANT 50
#define MAX_NUMWANT 200

typedef struct {
	gint64 user_id;
	const guint8 *info_hash;
	const guint8 *peer_id;
	guint16 port;
	guint64 left;
	TrackerSwarmEvent event;
	guint numwant;
	guint8 ipv4[4];
} Announce;

static gboolean refuse(GError **error, const char *message)
{
	g_set_error_literal(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    message);
	return FALSE;
}

/* The exactly-@len-byte value of @key, or NULL. */
static const guint8 *get_binary(GHashTable *query, const char *key, gsize len)
{
	GBytes *value = g_hash_table_lookup(query, key);

	if (!value || g_bytes_get_size(value) != len)
		return NULL;
	return g_bytes_get_data(value, NULL);
}

/* The text of @key (NUL-free), or NULL when absent. */
static const char *get_text(GHashTable *query, const char *key)
{
	GBytes *value = g_hash_table_lookup(query, key);
	gsize len;
	const char *text;

	if (!value)
		return NULL;
	text = g_bytes_get_data(value, &len);
	return memchr(text, 0, len) ? "" : text;
}

static gboolean get_number(GHashTable *query, const char *key, guint64 max,
			   guint64 *out)
{
	const char *text = get_text(query, key);

	return text && g_ascii_string_to_unsigned(text, 10, 0, max, out, NULL);
}

static gboolean parse_event(const char *text, TrackerSwarmEvent *event)
{
	static const char *const names[] = {
		[TRACKER_SWARM_EVENT_NONE] = "",
		[TRACKER_SWARM_EVENT_STARTED] = "started",
		[TRACKER_SWARM_EVENT_COMPLETED] = "completed",
		[TRACKER_SWARM_EVENT_STOPPED] = "stopped",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		if (g_str_equal(text ? text : "", names[i])) {
			*event = (TrackerSwarmEvent)i;
			return TRUE;
		}
	}
	return FALSE;
}

static gboolean parse_params(GHashTable *query, Announce *a, GError **error)
{
	guint64 port, uploaded, downloaded, numwant = DEFAULT_NUMWANT;

	a->info_hash = get_binary(query, "info_hash", 20);
	a->peer_id = get_binary(query, "peer_id", 20);
	if (!a->info_hash || !a->peer_id)
		return refuse(error, "info_hash and peer_id must be 20 bytes "
				     "each, percent-encoded.");
	if (!get_number(query, "port", 65535, &port) || port == 0 ||
	    !get_number(query, "uploaded", G_MAXINT64, &uploaded) ||
	    !get_number(query, "downloaded", G_MAXINT64, &downloaded) ||
	    !get_number(query, "left", G_MAXINT64, &a->left))
		return refuse(error, "port, uploaded, downloaded and left "
				     "must be decimal numbers.");
	if (g_hash_table_contains(query, "numwant") &&
	    !get_number(query, "numwant", G_MAXUINT32, &numwant))
		return refuse(error, "numwant must be a decimal number.");
	if (!parse_event(get_text(query, "event"), &a->event))
		return refuse(error, "event must be started, completed or "
				     "stopped.");
	a->port = (guint16)port;
	a->numwant = (guint)MIN(numwant, MAX_NUMWANT);
	return TRUE;
}

/* The caller's IPv4 address, also from a v4-mapped IPv6 socket. */
static gboolean remote_ipv4(SoupServerMessage *msg, guint8 *ipv4,
			    GError **error)
{
	GSocketAddress *addr = soup_server_message_get_remote_address(msg);
	GInetAddress *inet;
	const guint8 *bytes;

	if (!G_IS_INET_SOCKET_ADDRESS(addr))
		return refuse(error, "The tracker cannot tell your address.");
	inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr));
	bytes = g_inet_address_to_bytes(inet);
	if (g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV4) {
		memcpy(ipv4, bytes, 4);
		return TRUE;
	}
	if (memcmp(bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memcpy(ipv4, bytes + 12, 4);
		return TRUE;
	}
	return refuse(error, "This tracker hands out IPv4 peers only; "
			     "announce over IPv4.");
}

static gboolean in_scope(gint64 user_id, gpointer scope)
{
	return g_hash_table_contains(scope, &user_id);
}

/* Who the caller is and whether they may see this swarm; the users
 * whose peers they may get. */
static GHashTable *authorize(TrackerApp *app, GHashTable *query, Announce *a,
			     GError **error)
{
	const char *passkey = get_text(query, "passkey");
	GHashTable *scope;

	a->user_id = passkey && strlen(passkey) == 32
			     ? tracker_db_user_find_by_passkey(app->db, passkey,
							       error)
			     : 0;
	if (!a->user_id) {
		if (error && !*error)
			refuse(error, "Unknown passkey; log in again with "
				      "groupfs login.");
		return NULL;
	}
	scope = tracker_db_swarm_scope(app->db, a->info_hash, a->user_id,
				       error);
	if (scope && g_hash_table_size(scope) == 0) {
		g_hash_table_unref(scope);
		refuse(error, "This torrent is in no group that you are a "
			      "member of.");
		return NULL;
	}
	return scope;
}

static void reply_bencode(TrackerRequest *req, GByteArray *body)
{
	tracker_request_reply_bytes(req, 200, "text/plain",
				    g_byte_array_free_to_bytes(body));
}

static void reply_failure(TrackerRequest *req, const GError *error)
{
	GByteArray *body = g_byte_array_new();
	const char *reason = error->message;

	if (!g_error_matches(error, TRACKER_ERROR, TRACKER_ERROR_INVALID)) {
		g_warning("announce: %s", error->message);
		reason = "The tracker failed to handle this announce.";
	}
	net_bencode_emit_dict_begin(body);
	net_bencode_emit_str(body, "failure reason");
	net_bencode_emit_str(body, reason);
	net_bencode_emit_end(body);
	reply_bencode(req, body);
}

static void reply_peers(TrackerRequest *req, const Announce *a,
			GHashTable *scope)
{
	TrackerApp *app = tracker_request_get_app(req);
	guint interval = app->config->announce_interval;
	/* Sized once: 6 bytes a compact peer, and room for the keys. */
	g_autoptr(GByteArray) peers = g_byte_array_sized_new(6 * a->numwant);
	GByteArray *body = g_byte_array_sized_new(128 + 6 * a->numwant);
	guint complete = 0, incomplete = 0;

	tracker_swarm_get_peers(app->swarm, a->info_hash, a->peer_id,
				a->numwant, in_scope, scope, peers, &complete,
				&incomplete);
	/* Keys in sorted order, as bencode requires. */
	net_bencode_emit_dict_begin(body);
	net_bencode_emit_str(body, "complete");
	net_bencode_emit_int(body, complete);
	net_bencode_emit_str(body, "incomplete");
	net_bencode_emit_int(body, incomplete);
	net_bencode_emit_str(body, "interval");
	net_bencode_emit_int(body, interval);
	net_bencode_emit_str(body, "min interval");
	net_bencode_emit_int(body, MAX(interval / 2, 1u));
	net_bencode_emit_str(body, "peers");
	net_bencode_emit_string(body, peers->data, peers->len);
	net_bencode_emit_end(body);
	reply_bencode(req, body);
}

void tracker_announce_handle(TrackerRequest *req)
{
	TrackerApp *app = tracker_request_get_app(req);
	g_autoptr(GHashTable) scope = NULL;
	g_autoptr(GError) error = NULL;
	Announce a = {0};
	GHashTable *query = tracker_request_get_query(req, &error);
	TrackerSwarmAnnounce update;

	if (!query || !parse_params(query, &a, &error) ||
	    !remote_ipv4(tracker_request_get_message(req), a.ipv4, &error) ||
	    !(scope = authorize(app, query, &a, &error))) {
		reply_failure(req, error);
		return;
	}
	update = (TrackerSwarmAnnounce){
		.info_hash = a.info_hash,
		.peer_id = a.peer_id,
		.user_id = a.user_id,
		.port = a.port,
		.left = a.left,
		.event = a.event,
	};
	memcpy(update.ipv4, a.ipv4, 4);
	if (!tracker_swarm_update(app->swarm, &update, tracker_api_now())) {
		refuse(&error, "The tracker is full: it holds as many peers as "
			       "it may. Try again later.");
		reply_failure(req, error);
		return;
	}
	reply_peers(req, &a, scope);
}
