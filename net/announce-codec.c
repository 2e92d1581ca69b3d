/* The pure half of announce.h: the request URL and the reply parser.
 * No I/O and no state, so that every byte of it can be tested. */
#include "announce.h"

#include <string.h>

#include "bencode.h"
#include "net-error.h"

#define COMPACT_V4_LEN 6
#define COMPACT_V6_LEN 18
/* Longest tracker sentence we pass on, in characters. */
#define MAX_REASON_CHARS 300

/* A reply is a flat dict, perhaps with a list of small dicts: tight
 * limits keep a hostile tracker's body cheap to refuse. */
static const NetBencodeLimits reply_limits = {
	.max_depth = 4,
	.max_string = 64 * 1024,
	.max_size = NET_ANNOUNCE_MAX_REPLY,
	.max_items = 16384,
};

const char *net_announce_event_name(NetAnnounceEvent event)
{
	switch (event) {
	case NET_ANNOUNCE_EVENT_STARTED:
		return "started";
	case NET_ANNOUNCE_EVENT_COMPLETED:
		return "completed";
	case NET_ANNOUNCE_EVENT_STOPPED:
		return "stopped";
	case NET_ANNOUNCE_EVENT_NONE:
		break;
	}
	return NULL;
}

/* RFC 3986 unreserved characters stay; every other byte is %XX. Done by
 * hand because g_uri_escape_bytes keeps sub-delims that some trackers
 * (and our own) would read as separators. */
static void append_escaped(GString *out, const guint8 *data, gsize len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (gsize i = 0; i < len; i++) {
		guint8 c = data[i];

		if (g_ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			g_string_append_c(out, (char)c);
			continue;
		}
		g_string_append_c(out, '%');
		g_string_append_c(out, hex[c >> 4]);
		g_string_append_c(out, hex[c & 15]);
	}
}

char *net_announce_build_url(const char *base_url,
			     const NetAnnounceRequest *req)
{
	GString *url = g_string_new(base_url);
	const char *event = net_announce_event_name(req->event);

	g_string_append_c(url, strchr(base_url, '?') ? '&' : '?');
	g_string_append(url, "info_hash=");
	append_escaped(url, req->info_hash, NET_ANNOUNCE_HASH_LEN);
	g_string_append(url, "&peer_id=");
	append_escaped(url, req->peer_id, NET_ANNOUNCE_HASH_LEN);
	g_string_append_printf(
		url,
		"&port=%u&uploaded=%" G_GUINT64_FORMAT
		"&downloaded=%" G_GUINT64_FORMAT "&left=%" G_GUINT64_FORMAT,
		req->port, req->uploaded, req->downloaded, req->left);
	if (event)
		g_string_append_printf(url, "&event=%s", event);
	if (req->numwant)
		g_string_append_printf(url, "&numwant=%u", req->numwant);
	g_string_append(url, "&compact=1&passkey=");
	append_escaped(url, (const guint8 *)req->passkey, strlen(req->passkey));
	return g_string_free(url, FALSE);
}

void net_announce_reply_free(NetAnnounceReply *reply)
{
	if (!reply)
		return;
	g_clear_pointer(&reply->peers, g_array_unref);
	g_free(reply);
}

GSocketAddress *net_announce_peer_to_address(const NetAnnouncePeer *peer)
{
	g_autoptr(GInetAddress) ip =
		g_inet_address_new_from_bytes(peer->ip, peer->family);

	return g_inet_socket_address_new(ip, peer->port);
}

static gboolean fail(GError **error, const char *message)
{
	g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
		    "The tracker's reply is malformed: %s.", message);
	return FALSE;
}

/* The tracker's sentence, made safe to print on a terminal. */
static char *readable_reason(const NetBencode *value)
{
	g_autofree char *text = net_bencode_dup_utf8(value);
	GString *out;
	guint n = 0;

	if (!text)
		return g_strdup("The tracker refused the announce, and its "
				"reason is not readable text.");
	out = g_string_new(NULL);
	for (const char *p = text; *p && n < MAX_REASON_CHARS;
	     p = g_utf8_next_char(p), n++) {
		gunichar c = g_utf8_get_char(p);

		if (g_unichar_iscntrl(c))
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, c);
	}
	if (out->len == 0)
		g_string_append(out, "The tracker refused the announce "
				     "without saying why.");
	return g_string_free(out, FALSE);
}

/* Stores @key's integer in @out when it is present and within
 * [@min, @max]; leaves @out alone when the key is absent. */
static gboolean get_optional_int(const NetBencode *dict, const char *key,
				 gint64 min, gint64 max, gint64 *out,
				 GError **error)
{
	NetBencode *value = net_bencode_dict_lookup(dict, key);
	gint64 v;

	if (!value)
		return TRUE;
	if (!net_bencode_get_int(value, &v)) {
		g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
			    "The tracker's reply is malformed: \"%s\" is not "
			    "an integer.",
			    key);
		return FALSE;
	}
	if (v < min || v > max) {
		g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
			    "The tracker's reply is malformed: \"%s\" is "
			    "%" G_GINT64_FORMAT ", outside %" G_GINT64_FORMAT
			    "..%" G_GINT64_FORMAT ".",
			    key, v, min, max);
		return FALSE;
	}
	*out = v;
	return TRUE;
}

static void add_peer(GArray *peers, GSocketFamily family, const guint8 *ip,
		     gsize ip_len, guint16 port)
{
	NetAnnouncePeer peer = {.family = family, .port = port};

	if (port == 0)
		return;
	memcpy(peer.ip, ip, ip_len);
	g_array_append_val(peers, peer);
}

/* BEP 23 (@entry 6) and BEP 7 (@entry 18): address, then port, each in
 * network order. */
static gboolean parse_compact(const NetBencode *value, gsize entry,
			      GArray *peers, GError **error)
{
	GSocketFamily family = entry == COMPACT_V4_LEN ? G_SOCKET_FAMILY_IPV4
						       : G_SOCKET_FAMILY_IPV6;
	gsize len;
	const guint8 *p = net_bencode_get_string(value, &len);

	if (len % entry != 0) {
		g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
			    "The tracker's reply is malformed: compact peers "
			    "take %zu bytes, not a multiple of %zu.",
			    len, entry);
		return FALSE;
	}
	for (gsize off = 0; off < len; off += entry) {
		const guint8 *port = p + off + entry - 2;

		add_peer(peers, family, p + off, entry - 2,
			 (guint16)(port[0] << 8 | port[1]));
	}
	return TRUE;
}

/* One {"ip": literal address, "port": 0..65535} of BEP 3's long form.
 * Host names are refused: resolving them would let a tracker point us
 * anywhere through DNS, and ours never sends them. */
static gboolean parse_peer_dict(const NetBencode *item, GArray *peers,
				GError **error)
{
	g_autofree char *ip_text = NULL;
	g_autoptr(GInetAddress) ip = NULL;
	gint64 port = -1;

	if (net_bencode_get_type(item) != NET_BENCODE_DICT)
		return fail(error, "a peer is not a dictionary");
	ip_text = net_bencode_dup_utf8(net_bencode_dict_lookup(item, "ip"));
	if (ip_text)
		ip = g_inet_address_new_from_string(ip_text);
	if (!ip)
		return fail(error, "a peer's \"ip\" is not an IP address");
	if (!get_optional_int(item, "port", 0, G_MAXUINT16, &port, error))
		return FALSE;
	if (port < 0)
		return fail(error, "a peer has no \"port\"");
	add_peer(peers, g_inet_address_get_family(ip),
		 g_inet_address_to_bytes(ip),
		 g_inet_address_get_native_size(ip), (guint16)port);
	return TRUE;
}

static gboolean parse_peers(const NetBencode *dict, GArray *peers,
			    GError **error)
{
	NetBencode *v4 = net_bencode_dict_lookup(dict, "peers");
	NetBencode *v6 = net_bencode_dict_lookup(dict, "peers6");

	if (!v4)
		return fail(error, "it has no \"peers\"");
	switch (net_bencode_get_type(v4)) {
	case NET_BENCODE_STRING:
		if (!parse_compact(v4, COMPACT_V4_LEN, peers, error))
			return FALSE;
		break;
	case NET_BENCODE_LIST:
		for (gsize i = 0; i < net_bencode_list_length(v4); i++)
			if (!parse_peer_dict(net_bencode_list_nth(v4, i), peers,
					     error))
				return FALSE;
		break;
	default:
		return fail(error, "\"peers\" is neither a string nor a list");
	}
	if (!v6)
		return TRUE;
	if (net_bencode_get_type(v6) != NET_BENCODE_STRING)
		return fail(error, "\"peers6\" is not a string");
	return parse_compact(v6, COMPACT_V6_LEN, peers, error);
}

static gboolean parse_success(const NetBencode *dict, NetAnnounceReply *reply,
			      GError **error)
{
	gint64 interval = -1, min_interval = 0;

	if (!get_optional_int(dict, "interval", 1, NET_ANNOUNCE_MAX_INTERVAL,
			      &interval, error) ||
	    !get_optional_int(dict, "min interval", 0,
			      NET_ANNOUNCE_MAX_INTERVAL, &min_interval,
			      error) ||
	    !get_optional_int(dict, "complete", 0, G_MAXINT64, &reply->complete,
			      error) ||
	    !get_optional_int(dict, "incomplete", 0, G_MAXINT64,
			      &reply->incomplete, error))
		return FALSE;
	if (interval < 0)
		return fail(error, "it has no \"interval\"");
	reply->interval = (guint)interval;
	reply->min_interval = (guint)min_interval;
	return parse_peers(dict, reply->peers, error);
}

NetAnnounceReply *net_announce_reply_parse(const guint8 *data, gsize len,
					   GError **error)
{
	g_autoptr(NetAnnounceReply) reply = g_new0(NetAnnounceReply, 1);
	g_autoptr(NetBencode) dict = NULL;
	NetBencode *reason;

	dict = net_bencode_parse_data(data, len, &reply_limits, error);
	if (!dict)
		return NULL;
	if (net_bencode_get_type(dict) != NET_BENCODE_DICT) {
		fail(error, "it is not a dictionary");
		return NULL;
	}
	reason = net_bencode_dict_lookup(dict, "failure reason");
	if (reason) {
		g_autofree char *text = readable_reason(reason);

		g_set_error_literal(error, NET_ERROR, NET_ERROR_TRACKER, text);
		return NULL;
	}
	reply->complete = reply->incomplete = -1;
	reply->peers = g_array_new(FALSE, FALSE, sizeof(NetAnnouncePeer));
	if (!parse_success(dict, reply, error))
		return NULL;
	return g_steal_pointer(&reply);
}
