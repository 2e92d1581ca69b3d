#include "peer.h"

#include <string.h>

#include "config.h"
#include "bencode.h"
#include "net-error.h"
#include "wire.h"

#define CLIENT_NAME "groupfs " GROUPFS_VERSION
/* A client name longer than this is ignored rather than shown. */
#define MAX_CLIENT_NAME 64
/* Control frames are small; a tail buffer rarely grows past this. */
#define TAIL_RESERVE 256

/* An extension handshake is a small dict; real clients send a few
 * dozen values. */
static const NetBencodeLimits ext_limits = {
	.max_depth = 8,
	.max_string = 4096,
	.max_size = NET_WIRE_MAX_EXTENDED,
	.max_items = 1024,
};

/* One request, ours or theirs; keyed by (index, begin). */
typedef struct {
	guint32 index;
	guint32 begin;
	guint32 length;
	gint64 sent_at; /* ours: the owner's time when we queued it */
	gboolean timed_out; /* ours: REQUEST_TIMEOUT already reported */
} Block;

/* A sealed stretch of the outbound queue. */
typedef struct {
	GBytes *bytes;
	gboolean payload; /* a piece's block: counts as payload out */
} OutChunk;

struct _NetPeer {
	NetPeerConfig config;
	gboolean incoming;
	NetPeerEventFunc on_event;
	gpointer user_data;

	/* The torrent: known from the start, or once lookup names it. */
	gboolean have_torrent;
	guint8 info_hash[20];
	guint32 piece_count;
	guint32 piece_length;
	guint64 length;
	NetBitfield *our_have; /* what we told them, or will in the bitfield */
	NetBitfield *peer_have;

	NetWireDecoder *decoder;
	gboolean ready; /* BEP 3 handshake done both ways */
	gboolean dead; /* after NET_PEER_EVENT_ERROR: nothing more happens */
	gboolean got_message; /* a core message arrived: no bitfield now */
	gboolean got_bitfield;

	guint8 peer_id[20];
	guint8 peer_reserved[8];
	char *peer_client;
	guint16 peer_port;
	guint32 peer_reqq;

	gboolean am_choking;
	gboolean am_interested;
	gboolean peer_choking;
	gboolean peer_interested;

	GHashTable *ours; /* set of Block: requests we sent, unanswered */
	GHashTable *theirs; /* set of Block: requests they sent, unanswered */

	/* Outbound bytes: sealed chunks, then the frames queued since. */
	GQueue out; /* of OutChunk */
	gsize out_head; /* bytes of the first chunk already consumed */
	gsize out_sealed; /* bytes in sealed chunks, minus out_head */
	GByteArray *tail;

	gint64 now; /* the last tick */
	gint64 created;
	gint64 last_recv;
	gint64 last_send;
	NetPeerStats stats;
};

/* Requests. */

static guint block_hash(gconstpointer p)
{
	const Block *b = p;

	return b->index * 2654435761u ^ b->begin;
}

static gboolean block_equal(gconstpointer a, gconstpointer b)
{
	const Block *x = a, *y = b;

	return x->index == y->index && x->begin == y->begin;
}

static GHashTable *block_set_new(void)
{
	return g_hash_table_new_full(block_hash, block_equal, g_free, NULL);
}

static Block *block_find(GHashTable *set, guint32 index, guint32 begin)
{
	Block key = {.index = index, .begin = begin};

	return g_hash_table_lookup(set, &key);
}

/* The request for exactly this block, or NULL. */
static Block *block_find_exact(GHashTable *set, guint32 index, guint32 begin,
			       guint32 length)
{
	Block *b = block_find(set, index, begin);

	return b && b->length == length ? b : NULL;
}

static Block *block_add(GHashTable *set, guint32 index, guint32 begin,
			guint32 length, gint64 now)
{
	Block *b = g_new0(Block, 1);

	b->index = index;
	b->begin = begin;
	b->length = length;
	b->sent_at = now;
	g_hash_table_add(set, b);
	return b;
}

/* Empties @set into an array of copies, for events whose handler may
 * change the set. */
static GArray *block_set_take_all(GHashTable *set)
{
	GArray *all = g_array_sized_new(FALSE, FALSE, sizeof(Block),
					g_hash_table_size(set));
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, set);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_array_append_vals(all, key, 1);
	g_hash_table_remove_all(set);
	return all;
}

/* Geometry. */

static gboolean torrent_is_valid(const NetPeerTorrent *t)
{
	guint64 full = (guint64)t->piece_count * t->piece_length;

	return t->piece_count > 0 && t->piece_length > 0 && t->length <= full &&
	       t->length > full - t->piece_length &&
	       (!t->have || net_bitfield_size(t->have) == t->piece_count);
}

static void set_torrent(NetPeer *peer, const NetPeerTorrent *t)
{
	peer->have_torrent = TRUE;
	memcpy(peer->info_hash, t->info_hash, sizeof(peer->info_hash));
	peer->piece_count = t->piece_count;
	peer->piece_length = t->piece_length;
	peer->length = t->length;
	peer->our_have = t->have ? net_bitfield_copy(t->have)
				 : net_bitfield_new(t->piece_count);
	peer->peer_have = net_bitfield_new(t->piece_count);
	net_wire_decoder_set_piece_count(peer->decoder, t->piece_count);
}

static guint32 piece_size(const NetPeer *peer, guint32 index)
{
	if (index + 1 < peer->piece_count)
		return peer->piece_length;
	return (guint32)(peer->length -
			 (guint64)(peer->piece_count - 1) * peer->piece_length);
}

static gboolean block_in_piece(const NetPeer *peer, guint32 index,
			       guint32 begin, guint64 length)
{
	return index < peer->piece_count &&
	       begin + length <= piece_size(peer, index);
}

/* Output. */

static void out_push(NetPeer *peer, GBytes *bytes, gboolean payload)
{
	OutChunk *chunk = g_new(OutChunk, 1);

	chunk->bytes = bytes; /* takes the reference */
	chunk->payload = payload;
	peer->out_sealed += g_bytes_get_size(bytes);
	g_queue_push_tail(&peer->out, chunk);
}

static void out_seal(NetPeer *peer)
{
	if (peer->tail->len == 0)
		return;
	out_push(peer, g_byte_array_free_to_bytes(peer->tail), FALSE);
	peer->tail = g_byte_array_sized_new(TAIL_RESERVE);
}

/* Where every outgoing frame is encoded, so that send silence is
 * measured from the last frame queued. */
static GByteArray *out_frame(NetPeer *peer)
{
	peer->last_send = peer->now;
	return peer->tail;
}

static void out_chunk_free(gpointer p)
{
	OutChunk *chunk = p;

	g_bytes_unref(chunk->bytes);
	g_free(chunk);
}

static void out_clear(NetPeer *peer)
{
	g_queue_clear_full(&peer->out, out_chunk_free);
	g_byte_array_set_size(peer->tail, 0);
	peer->out_head = 0;
	peer->out_sealed = 0;
}

/* Events and death. */

static void emit(NetPeer *peer, const NetPeerEvent *event)
{
	if (peer->on_event)
		peer->on_event(peer, event, peer->user_data);
}

static void emit_type(NetPeer *peer, NetPeerEventType type)
{
	NetPeerEvent event = {.type = type};

	emit(peer, &event);
}

static void emit_block(NetPeer *peer, NetPeerEventType type, const Block *b)
{
	NetPeerEvent event = {
		.type = type,
		.index = b->index,
		.begin = b->begin,
		.length = b->length,
	};

	emit(peer, &event);
}

/* Takes @error. The one way a peer dies: it forgets everything it
 * would still send or expect, then says why, once. */
static void die(NetPeer *peer, GError *error)
{
	NetPeerEvent event = {.type = NET_PEER_EVENT_ERROR, .error = error};

	peer->dead = TRUE;
	g_hash_table_remove_all(peer->ours);
	g_hash_table_remove_all(peer->theirs);
	out_clear(peer);
	emit(peer, &event);
	g_error_free(error);
}

G_GNUC_PRINTF(2, 3)
static gboolean fail(NetPeer *peer, const char *format, ...)
{
	va_list args;
	GError *error;

	va_start(args, format);
	error = g_error_new_valist(NET_ERROR, NET_ERROR_PROTOCOL, format, args);
	va_end(args);
	die(peer, error);
	return FALSE;
}

static void hex_hash(const guint8 hash[20], char out[41])
{
	for (int i = 0; i < 20; i++)
		g_snprintf(out + 2 * i, 3, "%02x", hash[i]);
}

/* Our handshake, extension handshake and bitfield. */

static void queue_handshake(NetPeer *peer)
{
	NetWireHandshake hs = {0};

	hs.reserved[NET_WIRE_RESERVED_EXTENSION_BYTE] =
		NET_WIRE_RESERVED_EXTENSION_BIT;
	memcpy(hs.info_hash, peer->info_hash, sizeof(hs.info_hash));
	memcpy(hs.peer_id, peer->config.peer_id, sizeof(hs.peer_id));
	net_wire_encode_handshake(out_frame(peer), &hs);
}

/* BEP 10: no extension messages ("m" is empty), our listen port, how
 * many requests we queue, and who we are. Keys in sorted order. */
static void queue_extended_handshake(NetPeer *peer)
{
	g_autoptr(GByteArray) dict = g_byte_array_new();

	net_bencode_emit_dict_begin(dict);
	net_bencode_emit_str(dict, "m");
	net_bencode_emit_dict_begin(dict);
	net_bencode_emit_end(dict);
	if (peer->config.listen_port != 0) {
		net_bencode_emit_str(dict, "p");
		net_bencode_emit_int(dict, peer->config.listen_port);
	}
	net_bencode_emit_str(dict, "reqq");
	net_bencode_emit_int(dict, peer->config.max_requests);
	net_bencode_emit_str(dict, "v");
	net_bencode_emit_str(dict, CLIENT_NAME);
	net_bencode_emit_end(dict);
	net_wire_encode_extended(out_frame(peer), 0, dict->data, dict->len);
}

static void queue_bitfield(NetPeer *peer)
{
	if (net_bitfield_count(peer->our_have) == 0)
		return;
	net_wire_encode_bitfield(out_frame(peer),
				 net_bitfield_bytes(peer->our_have),
				 net_bitfield_byte_length(peer->our_have));
}

/* We always announce BEP 10, so their reserved bit decides. */
static gboolean extensions_on_both_sides(const NetPeer *peer)
{
	return net_peer_peer_supports_extensions(peer);
}

/* Their handshake. */

static gboolean lookup_torrent(NetPeer *peer, const guint8 info_hash[20])
{
	NetPeerTorrent torrent = {0};
	char hex[41];

	hex_hash(info_hash, hex);
	if (!peer->config.lookup ||
	    !peer->config.lookup(peer, info_hash, &torrent,
				 peer->config.lookup_data))
		return fail(peer,
			    "Peer asked for torrent %s, which we do not serve",
			    hex);
	if (!torrent_is_valid(&torrent)) {
		g_critical("The lookup gave torrent %s an impossible geometry",
			   hex);
		return fail(peer, "Torrent %s cannot be served", hex);
	}
	memcpy(torrent.info_hash, info_hash, sizeof(torrent.info_hash));
	set_torrent(peer, &torrent);
	return TRUE;
}

static gboolean check_handshake(NetPeer *peer, const NetWireHandshake *hs)
{
	char theirs[41], ours[41];

	if (!peer->have_torrent && !lookup_torrent(peer, hs->info_hash))
		return FALSE;
	if (memcmp(hs->info_hash, peer->info_hash, 20) != 0) {
		hex_hash(hs->info_hash, theirs);
		hex_hash(peer->info_hash, ours);
		return fail(peer,
			    "Peer's handshake names torrent %s; this "
			    "connection is for %s",
			    theirs, ours);
	}
	if (memcmp(hs->peer_id, peer->config.peer_id, 20) == 0)
		return fail(peer, "Peer's handshake has our own peer id: we "
				  "connected to ourselves");
	return TRUE;
}

/* Our side of the handshake goes out before the event, so that
 * whatever the handler sends follows the bitfield, as BEP 3 asks. */
static gboolean on_handshake(NetPeer *peer, const NetWireHandshake *hs)
{
	if (!check_handshake(peer, hs))
		return FALSE;
	memcpy(peer->peer_id, hs->peer_id, sizeof(peer->peer_id));
	memcpy(peer->peer_reserved, hs->reserved, sizeof(peer->peer_reserved));
	if (peer->incoming)
		queue_handshake(peer);
	if (extensions_on_both_sides(peer))
		queue_extended_handshake(peer);
	queue_bitfield(peer);
	peer->ready = TRUE;
	emit_type(peer, NET_PEER_EVENT_HANDSHAKE);
	return TRUE;
}

/* Their extension handshake. Values of a wrong type count as absent,
 * as BEP 10 lets clients add and vary keys. */

static gint64 dict_int(const NetBencode *dict, const char *key, gint64 absent)
{
	gint64 v;

	if (!net_bencode_get_int(net_bencode_dict_lookup(dict, key), &v))
		return absent;
	return v;
}

static void read_extended_handshake(NetPeer *peer, const NetBencode *dict)
{
	gint64 reqq = dict_int(dict, "reqq", NET_PEER_DEFAULT_PEER_REQUESTS);
	gint64 port = dict_int(dict, "p", 0);
	char *client = net_bencode_dup_utf8(net_bencode_dict_lookup(dict, "v"));

	peer->peer_reqq = CLAMP(reqq, NET_PEER_MIN_PEER_REQUESTS,
				NET_PEER_MAX_PEER_REQUESTS);
	peer->peer_port = port > 0 && port <= G_MAXUINT16 ? port : 0;
	g_free(peer->peer_client);
	peer->peer_client =
		client && strlen(client) <= MAX_CLIENT_NAME ? client : NULL;
	if (!peer->peer_client)
		g_free(client);
}

static gboolean on_extended_handshake(NetPeer *peer, const NetWireMsg *msg)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) dict = NULL;

	dict = net_bencode_parse_data(msg->data, msg->data_len, &ext_limits,
				      &error);
	if (!dict)
		return fail(peer,
			    "Peer sent an extension handshake that is "
			    "not valid bencode (%s)",
			    error->message);
	if (net_bencode_get_type(dict) != NET_BENCODE_DICT)
		return fail(peer, "Peer sent an extension handshake that is "
				  "not a dictionary");
	read_extended_handshake(peer, dict);
	emit_type(peer, NET_PEER_EVENT_EXTENDED_HANDSHAKE);
	return TRUE;
}

static gboolean on_extended(NetPeer *peer, const NetWireMsg *msg)
{
	if (!extensions_on_both_sides(peer))
		return fail(peer, "Peer sent an extended message, but its "
				  "handshake did not announce BEP 10");
	if (msg->ext_id != 0)
		return fail(peer,
			    "Peer sent extended message %u, which we never "
			    "offered",
			    msg->ext_id);
	return on_extended_handshake(peer, msg);
}

/* Their pieces. */

static gboolean on_bitfield(NetPeer *peer, const NetWireMsg *msg)
{
	g_autoptr(GError) error = NULL;

	if (peer->got_bitfield)
		return fail(peer, "Peer sent a second bitfield");
	if (peer->got_message)
		return fail(peer, "Peer sent a bitfield after other messages; "
				  "it may only come first");
	peer->got_bitfield = TRUE;
	if (!net_bitfield_set_bytes(peer->peer_have, msg->data, msg->data_len,
				    &error))
		return fail(peer, "%s", error->message);
	emit_type(peer, NET_PEER_EVENT_BITFIELD);
	return TRUE;
}

static gboolean on_have(NetPeer *peer, guint32 index)
{
	NetPeerEvent event = {.type = NET_PEER_EVENT_HAVE, .index = index};

	/* The decoder refused an index out of range already. */
	if (net_bitfield_get(peer->peer_have, index))
		return TRUE;
	net_bitfield_set(peer->peer_have, index);
	emit(peer, &event);
	return TRUE;
}

/* Choke and interest. */

static gboolean set_flag(NetPeer *peer, gboolean *flag, gboolean value,
			 NetPeerEventType type)
{
	if (*flag != value) {
		*flag = value;
		emit_type(peer, type);
	}
	return TRUE;
}

/* BEP 3: a choke discards every request we sent, so each goes back to
 * the policy before it hears of the choke itself. */
static gboolean on_choke(NetPeer *peer)
{
	g_autoptr(GArray) dropped = NULL;

	if (peer->peer_choking)
		return TRUE;
	peer->peer_choking = TRUE;
	dropped = block_set_take_all(peer->ours);
	for (guint i = 0; i < dropped->len && !peer->dead; i++)
		emit_block(peer, NET_PEER_EVENT_REQUEST_DROPPED,
			   &g_array_index(dropped, Block, i));
	if (!peer->dead)
		emit_type(peer, NET_PEER_EVENT_CHOKE);
	return TRUE;
}

/* Blocks and requests. */

static gboolean check_in_piece(NetPeer *peer, const char *what,
			       const NetWireMsg *msg, guint64 length)
{
	if (block_in_piece(peer, msg->index, msg->begin, length))
		return TRUE;
	return fail(peer,
		    "Peer sent %s for %" G_GUINT64_FORMAT
		    " bytes at offset %u of piece %u, which has %u bytes",
		    what, length, msg->begin, msg->index,
		    piece_size(peer, msg->index));
}

static gboolean on_piece(NetPeer *peer, const NetWireMsg *msg)
{
	NetPeerEvent event = {
		.type = NET_PEER_EVENT_BLOCK,
		.index = msg->index,
		.begin = msg->begin,
		.length = msg->data_len,
		.data = msg->data,
	};
	Block *req;

	if (!check_in_piece(peer, "a block", msg, msg->data_len))
		return FALSE;
	req = block_find(peer->ours, msg->index, msg->begin);
	if (req && req->length != msg->data_len)
		return fail(peer,
			    "Peer sent %" G_GSIZE_FORMAT
			    " bytes at offset %u of piece %u; we "
			    "asked for %u",
			    msg->data_len, msg->begin, msg->index, req->length);
	if (req) {
		event.requested = TRUE;
		g_hash_table_remove(peer->ours, req);
	}
	peer->stats.payload_in += msg->data_len;
	emit(peer, &event);
	return TRUE;
}

/* Their requests we queue: reqq, and as much again for requests that
 * crossed our choke or their cancel on the wire (see the header). */
static guint32 their_request_limit(const NetPeer *peer)
{
	return 2 * peer->config.max_requests;
}

static gboolean on_request(NetPeer *peer, const NetWireMsg *msg)
{
	Block *b;

	if (!check_in_piece(peer, "a request", msg, msg->length))
		return FALSE;
	if (!net_bitfield_get(peer->our_have, msg->index))
		return fail(peer,
			    "Peer requested piece %u, which we never said we "
			    "have",
			    msg->index);
	/* BEP 3: requests to a choked peer are discarded; duplicates are
	 * already queued. */
	if (peer->am_choking ||
	    block_find(peer->theirs, msg->index, msg->begin))
		return TRUE;
	if (g_hash_table_size(peer->theirs) >= their_request_limit(peer))
		return fail(peer,
			    "Peer queued more than %u requests, twice the %u "
			    "we said we accept: a request flood",
			    their_request_limit(peer),
			    peer->config.max_requests);
	b = block_add(peer->theirs, msg->index, msg->begin, msg->length,
		      peer->now);
	emit_block(peer, NET_PEER_EVENT_REQUEST, b);
	return TRUE;
}

static gboolean on_cancel(NetPeer *peer, const NetWireMsg *msg)
{
	Block copy;
	Block *b;

	if (!check_in_piece(peer, "a cancel", msg, msg->length))
		return FALSE;
	/* Already answered or dropped: nothing to do. */
	b = block_find_exact(peer->theirs, msg->index, msg->begin, msg->length);
	if (!b)
		return TRUE;
	copy = *b;
	g_hash_table_remove(peer->theirs, b);
	emit_block(peer, NET_PEER_EVENT_CANCEL, &copy);
	return TRUE;
}

/* Messages after the handshake. Keep-alives and extended messages may
 * come before the bitfield (BEP 10 sends its handshake first); any
 * other message means the bitfield's turn is over. */
static gboolean on_message(NetPeer *peer, const NetWireMsg *msg)
{
	switch (msg->type) {
	case NET_WIRE_KEEPALIVE:
		return TRUE;
	case NET_WIRE_EXTENDED:
		return on_extended(peer, msg);
	case NET_WIRE_BITFIELD:
		return on_bitfield(peer, msg);
	default:
		break;
	}
	peer->got_message = TRUE;
	switch (msg->type) {
	case NET_WIRE_CHOKE:
		return on_choke(peer);
	case NET_WIRE_UNCHOKE:
		return set_flag(peer, &peer->peer_choking, FALSE,
				NET_PEER_EVENT_UNCHOKE);
	case NET_WIRE_INTERESTED:
		return set_flag(peer, &peer->peer_interested, TRUE,
				NET_PEER_EVENT_INTERESTED);
	case NET_WIRE_NOT_INTERESTED:
		return set_flag(peer, &peer->peer_interested, FALSE,
				NET_PEER_EVENT_NOT_INTERESTED);
	case NET_WIRE_HAVE:
		return on_have(peer, msg->index);
	case NET_WIRE_REQUEST:
		return on_request(peer, msg);
	case NET_WIRE_PIECE:
		return on_piece(peer, msg);
	case NET_WIRE_CANCEL:
		return on_cancel(peer, msg);
	default:
		return TRUE; /* the decoder skips unknown ids */
	}
}

/* Handles one handshake or message. FALSE when the input is used up or
 * the peer died. */
static gboolean next_message(NetPeer *peer)
{
	g_autoptr(GError) error = NULL;
	NetWireResult result;

	if (!peer->ready) {
		NetWireHandshake hs;

		result = net_wire_decoder_next_handshake(peer->decoder, &hs,
							 &error);
		if (result == NET_WIRE_MESSAGE)
			return on_handshake(peer, &hs);
	} else {
		NetWireMsg msg;

		result = net_wire_decoder_next(peer->decoder, &msg, &error);
		if (result == NET_WIRE_MESSAGE)
			return on_message(peer, &msg);
	}
	if (result == NET_WIRE_ERROR)
		die(peer, g_steal_pointer(&error));
	return FALSE;
}

/* Construction. */

static gint64 or_default(gint64 value, gint64 fallback)
{
	return value > 0 ? value : fallback;
}

static NetPeer *peer_new(const NetPeerConfig *config, gboolean incoming,
			 NetPeerEventFunc on_event, gpointer user_data,
			 gint64 now_us)
{
	NetPeer *peer = g_new0(NetPeer, 1);
	NetPeerConfig *c = &peer->config;

	*c = *config;
	c->max_requests =
		MIN(or_default(c->max_requests, NET_PEER_DEFAULT_MAX_REQUESTS),
		    NET_PEER_MAX_PEER_REQUESTS);
	c->keepalive_us =
		or_default(c->keepalive_us, NET_PEER_DEFAULT_KEEPALIVE);
	c->idle_timeout_us =
		or_default(c->idle_timeout_us, NET_PEER_DEFAULT_IDLE_TIMEOUT);
	c->handshake_timeout_us = or_default(
		c->handshake_timeout_us, NET_PEER_DEFAULT_HANDSHAKE_TIMEOUT);
	c->request_timeout_us = or_default(c->request_timeout_us,
					   NET_PEER_DEFAULT_REQUEST_TIMEOUT);
	peer->incoming = incoming;
	peer->on_event = on_event;
	peer->user_data = user_data;
	peer->decoder = net_wire_decoder_new(0, TRUE);
	peer->peer_reqq = NET_PEER_DEFAULT_PEER_REQUESTS;
	peer->am_choking = peer->peer_choking = TRUE;
	peer->ours = block_set_new();
	peer->theirs = block_set_new();
	g_queue_init(&peer->out);
	peer->tail = g_byte_array_sized_new(TAIL_RESERVE);
	peer->now = peer->created = peer->last_recv = peer->last_send = now_us;
	return peer;
}

NetPeer *net_peer_new_outgoing(const NetPeerConfig *config,
			       const NetPeerTorrent *torrent,
			       NetPeerEventFunc on_event, gpointer user_data,
			       gint64 now_us)
{
	NetPeer *peer;

	g_return_val_if_fail(torrent && torrent_is_valid(torrent), NULL);
	peer = peer_new(config, FALSE, on_event, user_data, now_us);
	set_torrent(peer, torrent);
	queue_handshake(peer);
	return peer;
}

NetPeer *net_peer_new_incoming(const NetPeerConfig *config,
			       const NetPeerTorrent *expected,
			       NetPeerEventFunc on_event, gpointer user_data,
			       gint64 now_us)
{
	NetPeer *peer;

	g_return_val_if_fail(!expected || torrent_is_valid(expected), NULL);
	g_return_val_if_fail(expected || config->lookup, NULL);
	peer = peer_new(config, TRUE, on_event, user_data, now_us);
	if (expected)
		set_torrent(peer, expected);
	return peer;
}

void net_peer_free(NetPeer *peer)
{
	if (!peer)
		return;
	out_clear(peer);
	g_byte_array_unref(peer->tail);
	g_hash_table_unref(peer->ours);
	g_hash_table_unref(peer->theirs);
	net_wire_decoder_free(peer->decoder);
	net_bitfield_free(peer->our_have);
	net_bitfield_free(peer->peer_have);
	g_free(peer->peer_client);
	g_free(peer);
}

void net_peer_set_event_func(NetPeer *peer, NetPeerEventFunc on_event,
			     gpointer user_data)
{
	peer->on_event = on_event;
	peer->user_data = user_data;
}

/* Input and time. */

gboolean net_peer_feed(NetPeer *peer, const guint8 *data, gsize len)
{
	if (peer->dead)
		return FALSE;
	if (len > 0)
		peer->last_recv = peer->now;
	peer->stats.bytes_in += len;
	net_wire_decoder_feed(peer->decoder, data, len);
	while (!peer->dead && next_message(peer))
		;
	return !peer->dead;
}

static gboolean timed_out(NetPeer *peer, const char *message)
{
	die(peer,
	    g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, message));
	return FALSE;
}

static gboolean check_silence(NetPeer *peer)
{
	const NetPeerConfig *c = &peer->config;

	if (!peer->ready &&
	    peer->now - peer->created >= c->handshake_timeout_us)
		return timed_out(peer, "Peer did not complete its handshake "
				       "in time");
	if (peer->now - peer->last_recv >= c->idle_timeout_us)
		return timed_out(peer, "Peer sent nothing for too long; the "
				       "connection seems dead");
	return TRUE;
}

/* Reported from copies: the handler may cancel any of them. */
static void report_request_timeouts(NetPeer *peer)
{
	g_autoptr(GArray) late = g_array_new(FALSE, FALSE, sizeof(Block));
	GHashTableIter iter;
	gpointer key;

	g_hash_table_iter_init(&iter, peer->ours);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		Block *b = key;

		if (b->timed_out ||
		    peer->now - b->sent_at < peer->config.request_timeout_us)
			continue;
		b->timed_out = TRUE;
		g_array_append_vals(late, b, 1);
	}
	for (guint i = 0; i < late->len && !peer->dead; i++)
		emit_block(peer, NET_PEER_EVENT_REQUEST_TIMEOUT,
			   &g_array_index(late, Block, i));
}

gboolean net_peer_tick(NetPeer *peer, gint64 now_us)
{
	if (peer->dead)
		return FALSE;
	peer->now = MAX(peer->now, now_us);
	if (!check_silence(peer))
		return FALSE;
	if (!peer->ready)
		return TRUE;
	if (peer->now - peer->last_send >= peer->config.keepalive_us)
		net_wire_encode_keepalive(out_frame(peer));
	report_request_timeouts(peer);
	return !peer->dead;
}

/* Output. */

gsize net_peer_out_pending(const NetPeer *peer)
{
	return peer->out_sealed + peer->tail->len;
}

guint net_peer_out_peek(NetPeer *peer, GOutputVector *vecs, guint max)
{
	guint n = 0;
	gsize skip = peer->out_head;

	out_seal(peer);
	for (GList *l = peer->out.head; l && n < max; l = l->next, n++) {
		OutChunk *chunk = l->data;
		gsize size;
		const guint8 *data = g_bytes_get_data(chunk->bytes, &size);

		vecs[n].buffer = data + skip;
		vecs[n].size = size - skip;
		skip = 0;
	}
	return n;
}

void net_peer_out_consume(NetPeer *peer, gsize n)
{
	out_seal(peer);
	g_return_if_fail(n <= peer->out_sealed);
	peer->out_sealed -= n;
	peer->stats.bytes_out += n;
	while (n > 0) {
		OutChunk *chunk = g_queue_peek_head(&peer->out);
		gsize size = g_bytes_get_size(chunk->bytes);
		gsize take = MIN(n, size - peer->out_head);

		if (chunk->payload)
			peer->stats.payload_out += take;
		peer->out_head += take;
		n -= take;
		if (peer->out_head == size) {
			out_chunk_free(g_queue_pop_head(&peer->out));
			peer->out_head = 0;
		}
	}
}

/* Policy actions. */

void net_peer_set_choking(NetPeer *peer, gboolean choking)
{
	g_return_if_fail(peer->ready);
	if (peer->dead || peer->am_choking == !!choking)
		return;
	peer->am_choking = !!choking;
	/* BEP 3: a choke discards the requests they sent. */
	if (choking)
		g_hash_table_remove_all(peer->theirs);
	net_wire_encode_simple(out_frame(peer),
			       choking ? NET_WIRE_CHOKE : NET_WIRE_UNCHOKE);
}

void net_peer_set_interested(NetPeer *peer, gboolean interested)
{
	g_return_if_fail(peer->ready);
	if (peer->dead || peer->am_interested == !!interested)
		return;
	peer->am_interested = !!interested;
	net_wire_encode_simple(out_frame(peer),
			       interested ? NET_WIRE_INTERESTED
					  : NET_WIRE_NOT_INTERESTED);
}

void net_peer_send_have(NetPeer *peer, guint32 index)
{
	g_return_if_fail(peer->have_torrent && index < peer->piece_count);
	if (peer->dead || net_bitfield_get(peer->our_have, index))
		return;
	net_bitfield_set(peer->our_have, index);
	/* Before the handshake, the bitfield will carry it. */
	if (peer->ready)
		net_wire_encode_have(out_frame(peer), index);
}

gboolean net_peer_request(NetPeer *peer, guint32 index, guint32 begin,
			  guint32 length, gint64 now_us)
{
	g_return_val_if_fail(peer->ready, FALSE);
	g_return_val_if_fail(length > 0 && length <= NET_WIRE_BLOCK_SIZE,
			     FALSE);
	g_return_val_if_fail(block_in_piece(peer, index, begin, length), FALSE);
	if (net_peer_request_room(peer) == 0 ||
	    block_find(peer->ours, index, begin))
		return FALSE;
	peer->now = MAX(peer->now, now_us);
	block_add(peer->ours, index, begin, length, now_us);
	net_wire_encode_request(out_frame(peer), index, begin, length);
	return TRUE;
}

gboolean net_peer_cancel(NetPeer *peer, guint32 index, guint32 begin,
			 guint32 length)
{
	Block *b = block_find_exact(peer->ours, index, begin, length);

	if (!b)
		return FALSE;
	g_hash_table_remove(peer->ours, b);
	net_wire_encode_cancel(out_frame(peer), index, begin, length);
	return TRUE;
}

gboolean net_peer_send_piece(NetPeer *peer, guint32 index, guint32 begin,
			     GBytes *block)
{
	gsize len = g_bytes_get_size(block);

	if (!net_peer_drop_request(peer, index, begin, len))
		return FALSE;
	net_wire_encode_piece_header(out_frame(peer), index, begin, len);
	out_seal(peer);
	out_push(peer, g_bytes_ref(block), TRUE);
	return TRUE;
}

gboolean net_peer_drop_request(NetPeer *peer, guint32 index, guint32 begin,
			       guint32 length)
{
	Block *b = block_find_exact(peer->theirs, index, begin, length);

	if (!b)
		return FALSE;
	g_hash_table_remove(peer->theirs, b);
	return TRUE;
}

/* State. */

gboolean net_peer_is_dead(const NetPeer *peer)
{
	return peer->dead;
}

gboolean net_peer_is_ready(const NetPeer *peer)
{
	return peer->ready;
}

gboolean net_peer_is_incoming(const NetPeer *peer)
{
	return peer->incoming;
}

gboolean net_peer_am_choking(const NetPeer *peer)
{
	return peer->am_choking;
}

gboolean net_peer_am_interested(const NetPeer *peer)
{
	return peer->am_interested;
}

gboolean net_peer_peer_choking(const NetPeer *peer)
{
	return peer->peer_choking;
}

gboolean net_peer_peer_interested(const NetPeer *peer)
{
	return peer->peer_interested;
}

const guint8 *net_peer_get_info_hash(const NetPeer *peer)
{
	return peer->have_torrent ? peer->info_hash : NULL;
}

const guint8 *net_peer_get_peer_id(const NetPeer *peer)
{
	return peer->ready ? peer->peer_id : NULL;
}

const guint8 *net_peer_get_peer_reserved(const NetPeer *peer)
{
	return peer->ready ? peer->peer_reserved : NULL;
}

gboolean net_peer_peer_supports_extensions(const NetPeer *peer)
{
	return (peer->peer_reserved[NET_WIRE_RESERVED_EXTENSION_BYTE] &
		NET_WIRE_RESERVED_EXTENSION_BIT) != 0;
}

const char *net_peer_get_peer_client(const NetPeer *peer)
{
	return peer->peer_client;
}

guint16 net_peer_get_peer_listen_port(const NetPeer *peer)
{
	return peer->peer_port;
}

guint32 net_peer_get_peer_max_requests(const NetPeer *peer)
{
	return peer->peer_reqq;
}

const NetBitfield *net_peer_get_peer_have(const NetPeer *peer)
{
	return peer->peer_have;
}

guint32 net_peer_request_room(const NetPeer *peer)
{
	guint32 outstanding = g_hash_table_size(peer->ours);

	if (peer->dead || !peer->ready || peer->peer_choking ||
	    outstanding >= peer->peer_reqq)
		return 0;
	return peer->peer_reqq - outstanding;
}

guint32 net_peer_requests_outstanding(const NetPeer *peer)
{
	return g_hash_table_size(peer->ours);
}

guint32 net_peer_requests_queued(const NetPeer *peer)
{
	return g_hash_table_size(peer->theirs);
}

gint64 net_peer_request_age(const NetPeer *peer, guint32 index, guint32 begin,
			    gint64 now_us)
{
	const Block *b = block_find(peer->ours, index, begin);

	return b ? MAX(now_us - b->sent_at, 0) : -1;
}

void net_peer_get_stats(const NetPeer *peer, NetPeerStats *stats)
{
	*stats = peer->stats;
}
