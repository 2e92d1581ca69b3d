/* test-peer: the peer state machine without sockets. Two NetPeers talk
 * back to back through their byte queues, cut at random; a scripted
 * remote feeds hand-made frames to check every refusal; fake time
 * drives the timers. */
#include <gio/gio.h>
#include <string.h>

#include "config.h"
#include "net-error.h"
#include "peer.h"
#include "wire.h"

#define PIECE_LEN 32768u
#define PIECES 20u
#define LAST_PIECE 20000u /* 16384 + 3616: a short last block */
#define LENGTH ((guint64)(PIECES - 1) * PIECE_LEN + LAST_PIECE)
#define BLOCK NET_WIRE_BLOCK_SIZE
#define SEC G_USEC_PER_SEC
#define T0 (1000 * SEC)

static const guint8 info_hash[20] = "0123456789abcdefghij";
static const guint8 other_hash[20] = "ABCDEFGHIJKLMNOPQRST";
static const guint8 id_local[20] = "-GF0100-localpeer-01";
static const guint8 id_remote[20] = "-GF0100-remotepeer-2";

/* Recorded copy of one event. */
typedef struct {
	NetPeerEventType type;
	guint32 index;
	guint32 begin;
	guint32 length;
	gboolean requested;
	GError *error;
} Recorded;

typedef struct Side Side;
struct Side {
	NetPeer *peer;
	GArray *events; /* Recorded */
	void (*hook)(Side *side, const NetPeerEvent *event);
	/* the transfer test's leecher */
	guint32 next_block;
	guint32 blocks_got;
	gboolean corrupt;
};

static void recorded_clear(gpointer p)
{
	Recorded *r = p;

	g_clear_error(&r->error);
}

static void on_event(NetPeer *peer, const NetPeerEvent *event, gpointer data)
{
	Side *side = data;
	Recorded r = {
		.type = event->type,
		.index = event->index,
		.begin = event->begin,
		.length = event->length,
		.requested = event->requested,
	};

	g_assert_true(peer == side->peer);
	if (event->error)
		r.error = g_error_copy(event->error);
	g_array_append_val(side->events, r);
	if (side->hook)
		side->hook(side, event);
}

static NetPeerConfig config_for(const guint8 id[20])
{
	NetPeerConfig config = {.listen_port = 6881};

	memcpy(config.peer_id, id, 20);
	return config;
}

/* Owned by the caller: the torrent's have bitfield. */
static NetPeerTorrent torrent_with(gboolean complete)
{
	NetPeerTorrent t = {
		.piece_count = PIECES,
		.piece_length = PIECE_LEN,
		.length = LENGTH,
		.have = net_bitfield_new(PIECES),
	};

	memcpy(t.info_hash, info_hash, 20);
	if (complete)
		net_bitfield_set_all((NetBitfield *)t.have);
	return t;
}

static void torrent_clear(NetPeerTorrent *t)
{
	net_bitfield_free((NetBitfield *)t->have);
}

static Side *side_new(void)
{
	Side *side = g_new0(Side, 1);

	side->events = g_array_new(FALSE, FALSE, sizeof(Recorded));
	g_array_set_clear_func(side->events, recorded_clear);
	return side;
}

static Side *side_outgoing(const NetPeerConfig *config, gboolean complete)
{
	Side *side = side_new();
	NetPeerTorrent t = torrent_with(complete);

	side->peer = net_peer_new_outgoing(config, &t, on_event, side, T0);
	torrent_clear(&t);
	return side;
}

static Side *side_incoming(const NetPeerConfig *config, gboolean complete)
{
	Side *side = side_new();
	NetPeerTorrent t = torrent_with(complete);

	side->peer = net_peer_new_incoming(config, &t, on_event, side, T0);
	torrent_clear(&t);
	return side;
}

static void side_free(Side *side)
{
	net_peer_free(side->peer);
	g_array_unref(side->events);
	g_free(side);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Side, side_free)

static guint count_events(const Side *side, NetPeerEventType type)
{
	guint n = 0;

	for (guint i = 0; i < side->events->len; i++)
		n += g_array_index(side->events, Recorded, i).type == type;
	return n;
}

static const Recorded *last_event(const Side *side)
{
	g_assert_cmpuint(side->events->len, >, 0);
	return &g_array_index(side->events, Recorded, side->events->len - 1);
}

/* The peer died of a protocol error whose message holds @words. */
static void assert_died(const Side *side, const char *words)
{
	const Recorded *r = last_event(side);

	g_assert_cmpint(r->type, ==, NET_PEER_EVENT_ERROR);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_ERROR), ==, 1);
	g_assert_true(net_peer_is_dead(side->peer));
	g_test_message("error: %s", r->error->message);
	g_assert_nonnull(strstr(r->error->message, words));
	g_assert_cmpuint(net_peer_out_pending(side->peer), ==, 0);
}

/* Takes everything queued, as a transport that writes it all would. */
static GByteArray *drain(NetPeer *peer)
{
	GByteArray *out = g_byte_array_new();
	GOutputVector vecs[8];
	guint n;

	while ((n = net_peer_out_peek(peer, vecs, G_N_ELEMENTS(vecs))) > 0) {
		gsize total = 0;

		for (guint i = 0; i < n; i++) {
			g_byte_array_append(out, vecs[i].buffer, vecs[i].size);
			total += vecs[i].size;
		}
		net_peer_out_consume(peer, total);
	}
	g_assert_cmpuint(net_peer_out_pending(peer), ==, 0);
	return out;
}

static gboolean feed_bytes(Side *side, const guint8 *data, gsize len)
{
	return net_peer_feed(side->peer, data, len);
}

static gboolean feed_array(Side *side, GByteArray *bytes)
{
	return feed_bytes(side, bytes->data, bytes->len);
}

/* Remote bytes. */

static GByteArray *remote_handshake(const guint8 hash[20], const guint8 id[20],
				    gboolean extensions)
{
	GByteArray *out = g_byte_array_new();
	NetWireHandshake hs = {0};

	if (extensions)
		hs.reserved[NET_WIRE_RESERVED_EXTENSION_BYTE] =
			NET_WIRE_RESERVED_EXTENSION_BIT;
	memcpy(hs.info_hash, hash, 20);
	memcpy(hs.peer_id, id, 20);
	net_wire_encode_handshake(out, &hs);
	return out;
}

static GByteArray *remote_extended(const char *dict)
{
	GByteArray *out = g_byte_array_new();

	net_wire_encode_extended(out, 0, (const guint8 *)dict, strlen(dict));
	return out;
}

/* An outgoing peer whose handshake a scripted remote answered; its
 * output so far is drained. */
static Side *ready_outgoing(const NetPeerConfig *config, gboolean complete)
{
	Side *side = side_outgoing(config, complete);
	g_autoptr(GByteArray) hs = remote_handshake(info_hash, id_remote, TRUE);
	g_autoptr(GByteArray) sent = NULL;

	g_assert_true(feed_array(side, hs));
	g_assert_true(net_peer_is_ready(side->peer));
	sent = drain(side->peer);
	return side;
}

static Side *ready_default(gboolean complete)
{
	NetPeerConfig config = config_for(id_local);

	return ready_outgoing(&config, complete);
}

static void feed_frame(Side *side, void (*encode)(GByteArray *, guint32),
		       guint32 index)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	encode(out, index);
	feed_array(side, out);
}

static void feed_keepalive(Side *side)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	net_wire_encode_keepalive(out);
	feed_array(side, out);
}

static void feed_simple(Side *side, NetWireType type)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	net_wire_encode_simple(out, type);
	feed_array(side, out);
}

static void feed_request(Side *side, NetWireType type, guint32 index,
			 guint32 begin, guint32 length)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	if (type == NET_WIRE_REQUEST)
		net_wire_encode_request(out, index, begin, length);
	else
		net_wire_encode_cancel(out, index, begin, length);
	feed_array(side, out);
}

static void feed_block(Side *side, guint32 index, guint32 begin, gsize len)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree guint8 *data = g_malloc0(len);

	net_wire_encode_piece(out, index, begin, data, len);
	feed_array(side, out);
}

/* The handshake and extension handshake, byte for byte. */

static GByteArray *expected_handshake(const guint8 id[20])
{
	GByteArray *want = g_byte_array_new();

	g_byte_array_append(want, (const guint8 *)"\x13" NET_WIRE_PROTOCOL, 20);
	g_byte_array_append(want, (const guint8 *)"\0\0\0\0\0\x10\0\0", 8);
	g_byte_array_append(want, info_hash, 20);
	g_byte_array_append(want, id, 20);
	return want;
}

static GByteArray *expected_extended(guint32 reqq)
{
	g_autofree char *dict = g_strdup_printf(
		"d1:mde1:pi6881e4:reqqi%ue1:v%zu:groupfs %se", reqq,
		strlen("groupfs " GROUPFS_VERSION), GROUPFS_VERSION);

	return remote_extended(dict);
}

static void test_outgoing_bytes(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = side_outgoing(&config, FALSE);
	g_autoptr(GByteArray) want_hs = expected_handshake(id_local);
	g_autoptr(GByteArray) want_ext = expected_extended(512);
	g_autoptr(GByteArray) hs = remote_handshake(info_hash, id_remote, TRUE);
	g_autoptr(GByteArray) sent = drain(side->peer);
	g_autoptr(GByteArray) after = NULL;
	guint8 bits[3] = {0};

	/* Only our handshake until theirs arrives. */
	g_assert_cmpmem(sent->data, sent->len, want_hs->data, want_hs->len);
	g_assert_false(net_peer_is_ready(side->peer));
	g_assert_null(net_peer_get_peer_id(side->peer));
	net_peer_send_have(side->peer, 3);
	net_peer_send_have(side->peer, 17);
	g_assert_true(feed_array(side, hs));
	g_assert_cmpint(last_event(side)->type, ==, NET_PEER_EVENT_HANDSHAKE);
	g_assert_cmpmem(net_peer_get_peer_id(side->peer), 20, id_remote, 20);
	g_assert_true(net_peer_peer_supports_extensions(side->peer));

	/* Then the extension handshake, and the bitfield right after it,
	 * holding the haves recorded before the handshake. */
	after = drain(side->peer);
	g_assert_cmpuint(after->len, ==, want_ext->len + 5 + 3);
	g_assert_cmpmem(after->data, want_ext->len, want_ext->data,
			want_ext->len);
	bits[0] = 0x10; /* piece 3 */
	bits[2] = 0x40; /* piece 17 */
	g_assert_cmpmem(after->data + want_ext->len, 5, "\0\0\0\x04\x05", 5);
	g_assert_cmpmem(after->data + want_ext->len + 5, 3, bits, 3);

	/* A have after the handshake goes out as a have, once. */
	net_peer_send_have(side->peer, 5);
	net_peer_send_have(side->peer, 5);
	g_clear_pointer(&after, g_byte_array_unref);
	after = drain(side->peer);
	g_assert_cmpmem(after->data, after->len, "\0\0\0\x05\x04\0\0\0\x05", 9);
}

/* No pieces: no bitfield; a peer without BEP 10: no extension
 * handshake. */
static void test_nothing_to_announce(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = side_outgoing(&config, FALSE);
	g_autoptr(GByteArray) hs =
		remote_handshake(info_hash, id_remote, FALSE);
	g_autoptr(GByteArray) after = NULL;

	/* What we sent before their handshake is not under test here. */
	g_byte_array_unref(drain(side->peer));
	g_assert_true(feed_array(side, hs));
	g_assert_false(net_peer_peer_supports_extensions(side->peer));
	after = drain(side->peer);
	g_assert_cmpuint(after->len, ==, 0);
	g_assert_cmpuint(net_peer_get_peer_max_requests(side->peer), ==,
			 NET_PEER_DEFAULT_PEER_REQUESTS);
}

static gboolean lookup_known(NetPeer *peer, const guint8 hash[20],
			     NetPeerTorrent *torrent, gpointer data)
{
	if (memcmp(hash, info_hash, 20) != 0)
		return FALSE;
	*torrent = torrent_with(TRUE);
	/* The peer copies it after we return: the test frees it. */
	*(NetBitfield **)data = (NetBitfield *)torrent->have;
	return TRUE;
}

static Side *side_lookup(NetBitfield **have_slot)
{
	NetPeerConfig config = config_for(id_remote);
	Side *side = side_new();

	config.lookup = lookup_known;
	config.lookup_data = have_slot;
	side->peer = net_peer_new_incoming(&config, NULL, on_event, side, T0);
	return side;
}

/* An incoming peer says nothing until a handshake for a torrent we
 * serve arrives, then answers with handshake, extension handshake and
 * bitfield. */
static void test_incoming_lookup(void)
{
	g_autoptr(NetBitfield) have = NULL;
	g_autoptr(Side) side = side_lookup(&have);
	g_autoptr(GByteArray) hs = remote_handshake(info_hash, id_local, TRUE);
	g_autoptr(GByteArray) want_hs = expected_handshake(id_remote);
	g_autoptr(GByteArray) want_ext = expected_extended(512);
	g_autoptr(GByteArray) sent = NULL;

	g_assert_null(net_peer_get_info_hash(side->peer));
	g_assert_null(net_peer_get_peer_have(side->peer));
	g_assert_cmpuint(net_peer_out_pending(side->peer), ==, 0);
	/* In two halves: nothing happens before the 68th byte. */
	g_assert_true(feed_bytes(side, hs->data, 40));
	g_assert_cmpuint(side->events->len, ==, 0);
	g_assert_true(feed_bytes(side, hs->data + 40, hs->len - 40));
	g_assert_true(net_peer_is_incoming(side->peer));
	g_assert_cmpmem(net_peer_get_info_hash(side->peer), 20, info_hash, 20);
	sent = drain(side->peer);
	g_assert_cmpuint(sent->len, ==, want_hs->len + want_ext->len + 5 + 3);
	g_assert_cmpmem(sent->data, want_hs->len, want_hs->data, want_hs->len);
	g_assert_cmpmem(sent->data + want_hs->len, want_ext->len,
			want_ext->data, want_ext->len);
	g_assert_cmpmem(sent->data + want_hs->len + want_ext->len, 8,
			"\0\0\0\x04\x05\xff\xff\xf0", 8);
}

static void test_incoming_unknown_torrent(void)
{
	g_autoptr(NetBitfield) have = NULL;
	g_autoptr(Side) side = side_lookup(&have);
	g_autoptr(GByteArray) hs = remote_handshake(other_hash, id_local, TRUE);

	g_assert_false(feed_array(side, hs));
	assert_died(side, "which we do not serve");
}

/* Handshake refusals. */

static void test_wrong_info_hash(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) out = side_outgoing(&config, FALSE);
	g_autoptr(Side) in = side_incoming(&config, FALSE);
	g_autoptr(GByteArray) hs =
		remote_handshake(other_hash, id_remote, TRUE);

	g_assert_false(feed_array(out, hs));
	assert_died(out, "this connection is for");
	g_assert_false(feed_array(in, hs));
	assert_died(in, "this connection is for");
	/* The incoming side never answered. */
	g_assert_cmpuint(count_events(in, NET_PEER_EVENT_HANDSHAKE), ==, 0);
}

static void test_self_connection(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = side_outgoing(&config, FALSE);
	g_autoptr(GByteArray) hs = remote_handshake(info_hash, id_local, TRUE);

	g_assert_false(feed_array(side, hs));
	assert_died(side, "connected to ourselves");
}

static void test_wrong_protocol(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = side_incoming(&config, FALSE);
	static const char http[] = "GET / HTTP/1.1\r\n";

	g_assert_false(feed_bytes(side, (const guint8 *)http, strlen(http)));
	assert_died(side, "protocol");
}

/* After the handshake, bytes that are no frame kill the peer, and
 * nothing fed afterwards is even looked at. */
static void test_garbage(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	static const guint8 garbage[] = {0xff, 0xff, 0xff, 0xff};
	guint before;

	g_assert_false(feed_bytes(side, garbage, sizeof(garbage)));
	assert_died(side, "no message we accept is longer");
	before = side->events->len;
	feed_simple(side, NET_WIRE_UNCHOKE);
	g_assert_false(net_peer_tick(side->peer, T0 + 1000 * SEC));
	g_assert_cmpuint(side->events->len, ==, before);
	g_assert_false(net_peer_request(side->peer, 0, 0, BLOCK, T0));
}

/* Random bytes after a handshake: a clean protocol error each time. */
static void test_random_garbage(void)
{
	for (guint32 seed = 1; seed <= 200; seed++) {
		g_autoptr(Side) side = ready_default(TRUE);
		g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
		guint8 junk[512];

		net_peer_set_choking(side->peer, FALSE);
		for (gsize i = 0; i < sizeof(junk); i++)
			junk[i] = g_rand_int(rand);
		g_assert_false(feed_bytes(side, junk, sizeof(junk)));
		g_assert_error(last_event(side)->error, NET_ERROR,
			       NET_ERROR_PROTOCOL);
	}
}

/* Bitfield rules. */

static void test_bitfield_and_haves(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) bf = g_byte_array_new();
	static const guint8 bits[3] = {0x80, 0x00, 0x10};

	/* BEP 10 puts the extension handshake first; that is fine. */
	g_autoptr(GByteArray) ext = remote_extended("d1:md1:v3:abcee");
	g_assert_true(feed_array(side, ext));
	net_wire_encode_bitfield(bf, bits, sizeof(bits));
	g_assert_true(feed_array(side, bf));
	g_assert_cmpint(last_event(side)->type, ==, NET_PEER_EVENT_BITFIELD);
	g_assert_cmpuint(net_bitfield_count(net_peer_get_peer_have(side->peer)),
			 ==, 2);
	g_assert_true(net_bitfield_get(net_peer_get_peer_have(side->peer), 19));
	feed_frame(side, net_wire_encode_have, 7);
	g_assert_cmpint(last_event(side)->type, ==, NET_PEER_EVENT_HAVE);
	g_assert_cmpuint(last_event(side)->index, ==, 7);
	/* A have for a piece they already have says nothing new. */
	feed_frame(side, net_wire_encode_have, 0);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_HAVE), ==, 1);
	g_assert_true(net_bitfield_get(net_peer_get_peer_have(side->peer), 7));
}

static void test_second_bitfield(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) bf = g_byte_array_new();
	static const guint8 bits[3] = {0x80, 0x00, 0x00};

	net_wire_encode_bitfield(bf, bits, sizeof(bits));
	g_assert_true(feed_array(side, bf));
	g_assert_false(feed_array(side, bf));
	assert_died(side, "second bitfield");
}

static void test_late_bitfield(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) bf = g_byte_array_new();
	static const guint8 bits[3] = {0x80, 0x00, 0x00};

	feed_simple(side, NET_WIRE_INTERESTED);
	net_wire_encode_bitfield(bf, bits, sizeof(bits));
	g_assert_false(feed_array(side, bf));
	assert_died(side, "after other messages");
}

static void test_have_out_of_range(void)
{
	g_autoptr(Side) side = ready_default(FALSE);

	feed_frame(side, net_wire_encode_have, PIECES);
	assert_died(side, "the torrent has 20 pieces");
}

/* The extension handshake. */

static void check_reqq(const char *dict, guint32 want)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) ext = remote_extended(dict);

	g_assert_true(feed_array(side, ext));
	g_assert_cmpint(last_event(side)->type, ==,
			NET_PEER_EVENT_EXTENDED_HANDSHAKE);
	g_assert_cmpuint(net_peer_get_peer_max_requests(side->peer), ==, want);
}

static void test_extended_handshake(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) ext =
		remote_extended("d1:md6:ut_pexi1ee1:pi51413e4:reqqi300e"
				"1:v16:Transmission 4.0e");

	g_assert_true(feed_array(side, ext));
	g_assert_cmpstr(net_peer_get_peer_client(side->peer), ==,
			"Transmission 4.0");
	g_assert_cmpuint(net_peer_get_peer_listen_port(side->peer), ==, 51413);
	g_assert_cmpuint(net_peer_get_peer_max_requests(side->peer), ==, 300);
	check_reqq("de", NET_PEER_DEFAULT_PEER_REQUESTS);
	check_reqq("d4:reqqi3ee", NET_PEER_MIN_PEER_REQUESTS);
	check_reqq("d4:reqqi99999999999ee", NET_PEER_MAX_PEER_REQUESTS);
	check_reqq("d4:reqq3:abce", NET_PEER_DEFAULT_PEER_REQUESTS);
}

static void check_bad_extended(guint8 ext_id, const char *payload,
			       const char *words)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) out = g_byte_array_new();

	net_wire_encode_extended(out, ext_id, (const guint8 *)payload,
				 strlen(payload));
	g_assert_false(feed_array(side, out));
	assert_died(side, words);
}

static void test_bad_extended(void)
{
	check_bad_extended(0, "d1:pi1e", "not valid bencode");
	check_bad_extended(0, "li1ee", "not a dictionary");
	check_bad_extended(3, "de", "which we never offered");
}

static void test_extended_without_bep10(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = side_outgoing(&config, FALSE);
	g_autoptr(GByteArray) hs =
		remote_handshake(info_hash, id_remote, FALSE);
	g_autoptr(GByteArray) ext = remote_extended("de");

	g_assert_true(feed_array(side, hs));
	g_assert_false(feed_array(side, ext));
	assert_died(side, "did not announce BEP 10");
}

/* Choke and interest both ways. */

static void test_choke_interest_state(void)
{
	g_autoptr(Side) side = ready_default(TRUE);
	g_autoptr(GByteArray) sent = NULL;

	g_assert_true(net_peer_am_choking(side->peer));
	g_assert_false(net_peer_am_interested(side->peer));
	g_assert_true(net_peer_peer_choking(side->peer));
	g_assert_false(net_peer_peer_interested(side->peer));
	feed_simple(side, NET_WIRE_INTERESTED);
	feed_simple(side, NET_WIRE_INTERESTED);
	feed_simple(side, NET_WIRE_UNCHOKE);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_INTERESTED), ==, 1);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_UNCHOKE), ==, 1);
	g_assert_true(net_peer_peer_interested(side->peer));
	g_assert_false(net_peer_peer_choking(side->peer));
	feed_simple(side, NET_WIRE_NOT_INTERESTED);
	g_assert_false(net_peer_peer_interested(side->peer));

	net_peer_set_interested(side->peer, TRUE);
	net_peer_set_interested(side->peer, TRUE);
	net_peer_set_choking(side->peer, FALSE);
	net_peer_set_choking(side->peer, TRUE);
	sent = drain(side->peer);
	g_assert_cmpmem(sent->data, sent->len,
			"\0\0\0\x01\x02"
			"\0\0\0\x01\x01"
			"\0\0\0\x01\x00",
			15);
	g_assert_true(net_peer_am_interested(side->peer));
	g_assert_true(net_peer_am_choking(side->peer));
}

/* Requests they send us. */

static void test_request_while_choked_dropped(void)
{
	g_autoptr(Side) side = ready_default(TRUE);
	g_autoptr(GBytes) block = g_bytes_new_take(g_malloc0(BLOCK), BLOCK);

	feed_request(side, NET_WIRE_REQUEST, 0, 0, BLOCK);
	g_assert_false(net_peer_is_dead(side->peer));
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST), ==, 0);
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 0);
	g_assert_false(net_peer_send_piece(side->peer, 0, 0, block));
}

static void test_request_queue_and_cancel(void)
{
	g_autoptr(Side) side = ready_default(TRUE);
	g_autoptr(GBytes) block = g_bytes_new_take(g_malloc0(BLOCK), BLOCK);

	net_peer_set_choking(side->peer, FALSE);
	feed_request(side, NET_WIRE_REQUEST, 2, BLOCK, BLOCK);
	feed_request(side, NET_WIRE_REQUEST, 2, BLOCK, BLOCK); /* again */
	feed_request(side, NET_WIRE_REQUEST, 3, 0, BLOCK);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST), ==, 2);
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 2);
	feed_request(side, NET_WIRE_CANCEL, 2, BLOCK, BLOCK);
	g_assert_cmpint(last_event(side)->type, ==, NET_PEER_EVENT_CANCEL);
	g_assert_cmpuint(last_event(side)->index, ==, 2);
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 1);
	/* A cancel of what is not queued is no news. */
	feed_request(side, NET_WIRE_CANCEL, 2, BLOCK, BLOCK);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_CANCEL), ==, 1);
	g_assert_false(net_peer_send_piece(side->peer, 2, BLOCK, block));
	g_assert_true(net_peer_send_piece(side->peer, 3, 0, block));
	g_assert_false(net_peer_send_piece(side->peer, 3, 0, block));
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 0);
}

/* BEP 3: our choke discards the requests they sent. */
static void test_our_choke_discards_their_requests(void)
{
	g_autoptr(Side) side = ready_default(TRUE);
	g_autoptr(GBytes) block = g_bytes_new_take(g_malloc0(BLOCK), BLOCK);

	net_peer_set_choking(side->peer, FALSE);
	feed_request(side, NET_WIRE_REQUEST, 1, 0, BLOCK);
	feed_request(side, NET_WIRE_REQUEST, 1, BLOCK, BLOCK);
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 2);
	net_peer_set_choking(side->peer, TRUE);
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 0);
	g_assert_false(net_peer_send_piece(side->peer, 1, 0, block));
}

/* A seeder whose reqq is 16, unchoking. */
static Side *ready_reqq_16(void)
{
	NetPeerConfig config = config_for(id_local);
	Side *side;

	config.max_requests = 16;
	side = ready_outgoing(&config, TRUE);
	net_peer_set_choking(side->peer, FALSE);
	return side;
}

/* Feeds requests for blocks @first..@first+@count-1, two a piece. */
static void feed_requests(Side *side, guint32 first, guint32 count)
{
	for (guint32 i = first; i < first + count; i++)
		feed_request(side, NET_WIRE_REQUEST, i / 2, i % 2 * BLOCK,
			     BLOCK);
}

/* Twice reqq is served (see the crossings below); one more is a flood. */
static void test_request_flood(void)
{
	g_autoptr(Side) side = ready_reqq_16();

	feed_requests(side, 0, 32);
	g_assert_false(net_peer_is_dead(side->peer));
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 32);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST), ==, 32);
	feed_request(side, NET_WIRE_REQUEST, PIECES - 1, 0, BLOCK);
	assert_died(side, "more than 32 requests");
}

/* They cancel a block that we had already sent and ask for it again:
 * the stale copy answers the new request in their count, so they ask
 * for one more while we still hold that request. Both are served. */
static void test_request_crossing_cancel(void)
{
	g_autoptr(Side) side = ready_reqq_16();
	g_autoptr(GBytes) block = g_bytes_new_take(g_malloc0(BLOCK), BLOCK);

	feed_requests(side, 0, 16);
	g_assert_true(net_peer_send_piece(side->peer, 0, 0, block));
	feed_request(side, NET_WIRE_CANCEL, 0, 0, BLOCK);
	feed_request(side, NET_WIRE_REQUEST, 0, 0, BLOCK);
	feed_requests(side, 16, 1);
	g_assert_false(net_peer_is_dead(side->peer));
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 17);
	g_assert_true(net_peer_send_piece(side->peer, 0, 0, block));
	g_assert_true(net_peer_send_piece(side->peer, 8, 0, block));
}

/* We choke and at once unchoke: the requests they sent before they
 * saw the choke arrive after the unchoke, and once they see it they
 * fill their reqq again, with other blocks if other peers took those.
 * Their whole reqq twice over is served. */
static void test_request_crossing_choke(void)
{
	g_autoptr(Side) side = ready_reqq_16();

	net_peer_set_choking(side->peer, TRUE);
	net_peer_set_choking(side->peer, FALSE);
	feed_requests(side, 0, 16);
	feed_requests(side, 16, 16);
	g_assert_false(net_peer_is_dead(side->peer));
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 32);
}

static void test_request_beyond_piece(void)
{
	g_autoptr(Side) side = ready_default(TRUE);

	net_peer_set_choking(side->peer, FALSE);
	/* The last piece has 20000 bytes: its second block is short. */
	feed_request(side, NET_WIRE_REQUEST, PIECES - 1, BLOCK,
		     LAST_PIECE - BLOCK);
	g_assert_cmpuint(net_peer_requests_queued(side->peer), ==, 1);
	feed_request(side, NET_WIRE_REQUEST, PIECES - 1, BLOCK, BLOCK);
	assert_died(side, "which has 20000 bytes");
}

static void test_request_unannounced_piece(void)
{
	g_autoptr(Side) side = ready_default(FALSE);

	net_peer_set_choking(side->peer, FALSE);
	feed_request(side, NET_WIRE_REQUEST, 4, 0, BLOCK);
	assert_died(side, "never said we have");
}

/* Blocks they send us. */

static void test_unrequested_block(void)
{
	g_autoptr(Side) side = ready_default(FALSE);

	feed_simple(side, NET_WIRE_UNCHOKE);
	feed_block(side, 1, 0, BLOCK);
	g_assert_false(net_peer_is_dead(side->peer));
	g_assert_cmpint(last_event(side)->type, ==, NET_PEER_EVENT_BLOCK);
	g_assert_false(last_event(side)->requested);
	/* So is one we cancelled. */
	g_assert_true(net_peer_request(side->peer, 1, BLOCK, BLOCK, T0));
	g_assert_true(net_peer_cancel(side->peer, 1, BLOCK, BLOCK));
	g_assert_false(net_peer_cancel(side->peer, 1, BLOCK, BLOCK));
	feed_block(side, 1, BLOCK, BLOCK);
	g_assert_false(last_event(side)->requested);
	/* And one we asked for is recognised and forgotten. */
	g_assert_true(net_peer_request(side->peer, 2, 0, BLOCK, T0));
	feed_block(side, 2, 0, BLOCK);
	g_assert_true(last_event(side)->requested);
	g_assert_cmpuint(net_peer_requests_outstanding(side->peer), ==, 0);
}

static void test_wrong_length_block(void)
{
	g_autoptr(Side) side = ready_default(FALSE);

	feed_simple(side, NET_WIRE_UNCHOKE);
	g_assert_true(net_peer_request(side->peer, 1, 0, BLOCK, T0));
	feed_block(side, 1, 0, 100);
	assert_died(side, "we asked for 16384");
}

static void test_block_beyond_piece(void)
{
	g_autoptr(Side) side = ready_default(FALSE);

	feed_block(side, PIECES - 1, BLOCK, BLOCK);
	assert_died(side, "which has 20000 bytes");
}

/* Their choke drops our requests: each is reported, then the choke. */
static void test_their_choke_drops_our_requests(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) sent = NULL;
	guint n;

	g_assert_false(net_peer_request(side->peer, 0, 0, BLOCK, T0));
	feed_simple(side, NET_WIRE_UNCHOKE);
	g_assert_cmpuint(net_peer_request_room(side->peer), ==,
			 NET_PEER_DEFAULT_PEER_REQUESTS);
	g_assert_true(net_peer_request(side->peer, 0, 0, BLOCK, T0));
	g_assert_true(net_peer_request(side->peer, 0, BLOCK, BLOCK, T0));
	g_assert_true(net_peer_request(side->peer, PIECES - 1, BLOCK,
				       LAST_PIECE - BLOCK, T0));
	g_assert_false(net_peer_request(side->peer, 0, 0, BLOCK, T0));
	g_assert_cmpuint(net_peer_request_room(side->peer), ==,
			 NET_PEER_DEFAULT_PEER_REQUESTS - 3);
	sent = drain(side->peer);
	g_assert_cmpuint(sent->len, ==, 3 * 17);
	g_assert_cmpmem(sent->data, 17,
			"\0\0\0\x0d\x06\0\0\0\0\0\0\0\0\0\0\x40\0", 17);
	n = side->events->len;
	feed_simple(side, NET_WIRE_CHOKE);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST_DROPPED), ==,
			 3);
	g_assert_cmpint(last_event(side)->type, ==, NET_PEER_EVENT_CHOKE);
	g_assert_cmpuint(side->events->len, ==, n + 4);
	g_assert_cmpuint(net_peer_requests_outstanding(side->peer), ==, 0);
	g_assert_cmpuint(net_peer_request_room(side->peer), ==, 0);
	/* A block that was already on its way is reported as unasked. */
	feed_block(side, 0, 0, BLOCK);
	g_assert_false(last_event(side)->requested);
}

/* Timers, on fake time. */

static void test_keepalive(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_autoptr(GByteArray) sent = NULL;

	g_assert_true(net_peer_tick(side->peer, T0 + 89 * SEC));
	g_assert_cmpuint(net_peer_out_pending(side->peer), ==, 0);
	feed_keepalive(side);
	g_assert_true(net_peer_tick(side->peer, T0 + 90 * SEC));
	sent = drain(side->peer);
	g_assert_cmpmem(sent->data, sent->len, "\0\0\0\0", 4);
	/* Sending anything restarts the count. */
	g_assert_true(net_peer_tick(side->peer, T0 + 100 * SEC));
	net_peer_set_interested(side->peer, TRUE);
	g_assert_true(net_peer_tick(side->peer, T0 + 189 * SEC));
	g_assert_cmpuint(net_peer_out_pending(side->peer), ==, 5);
}

static void test_receive_timeout(void)
{
	g_autoptr(Side) side = ready_default(FALSE);
	g_assert_true(net_peer_tick(side->peer, T0 + 100 * SEC));
	feed_keepalive(side);
	g_assert_false(net_peer_is_dead(side->peer));
	g_assert_true(net_peer_tick(side->peer, T0 + 279 * SEC));
	g_assert_false(net_peer_tick(side->peer, T0 + 280 * SEC));
	g_assert_error(last_event(side)->error, G_IO_ERROR,
		       G_IO_ERROR_TIMED_OUT);
	g_assert_true(net_peer_is_dead(side->peer));
}

static void test_handshake_timeout(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = side_incoming(&config, FALSE);

	g_assert_true(net_peer_tick(side->peer, T0 + 29 * SEC));
	g_assert_false(net_peer_tick(side->peer, T0 + 30 * SEC));
	g_assert_error(last_event(side)->error, G_IO_ERROR,
		       G_IO_ERROR_TIMED_OUT);
}

static void test_request_timeout(void)
{
	NetPeerConfig config = config_for(id_local);
	g_autoptr(Side) side = NULL;

	config.request_timeout_us = 10 * SEC;
	side = ready_outgoing(&config, FALSE);
	feed_simple(side, NET_WIRE_UNCHOKE);
	g_assert_true(net_peer_request(side->peer, 0, 0, BLOCK, T0));
	net_peer_tick(side->peer, T0 + 5 * SEC);
	/* Between ticks: the age counts from the caller's time, not the
	 * last tick's. */
	g_assert_true(
		net_peer_request(side->peer, 0, BLOCK, BLOCK, T0 + 5700000));
	g_assert_cmpint(net_peer_request_age(side->peer, 0, 0, T0 + 6 * SEC),
			==, 6 * SEC);
	g_assert_cmpint(
		net_peer_request_age(side->peer, 0, BLOCK, T0 + 6 * SEC), ==,
		300000);
	g_assert_cmpint(net_peer_request_age(side->peer, 1, 0, T0 + 6 * SEC),
			==, -1);
	net_peer_tick(side->peer, T0 + 10 * SEC);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST_TIMEOUT), ==,
			 1);
	g_assert_cmpuint(last_event(side)->begin, ==, 0);
	/* Never early: not a microsecond before its deadline. Once per
	 * request, and it stays outstanding. */
	net_peer_tick(side->peer, T0 + 15700000 - 1);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST_TIMEOUT), ==,
			 1);
	net_peer_tick(side->peer, T0 + 15700000);
	g_assert_cmpuint(count_events(side, NET_PEER_EVENT_REQUEST_TIMEOUT), ==,
			 2);
	g_assert_cmpuint(last_event(side)->begin, ==, BLOCK);
	g_assert_cmpuint(net_peer_requests_outstanding(side->peer), ==, 2);
}

/* Output is zero-copy: the block a policy sends is the very memory
 * the transport is handed. */
static void test_piece_zero_copy(void)
{
	g_autoptr(Side) side = ready_default(TRUE);
	g_autoptr(GBytes) block = g_bytes_new_take(g_malloc(BLOCK), BLOCK);
	g_autoptr(GByteArray) sent = NULL;
	GOutputVector vecs[4];
	NetPeerStats stats;
	guint n;

	net_peer_set_choking(side->peer, FALSE);
	feed_request(side, NET_WIRE_REQUEST, 6, BLOCK, BLOCK);
	g_byte_array_unref(drain(side->peer));
	g_assert_true(net_peer_send_piece(side->peer, 6, BLOCK, block));
	net_peer_send_have(side->peer, 0); /* already had: nothing */
	net_peer_set_interested(side->peer, TRUE);
	g_assert_cmpuint(net_peer_out_pending(side->peer), ==, 13 + BLOCK + 5);
	n = net_peer_out_peek(side->peer, vecs, G_N_ELEMENTS(vecs));
	g_assert_cmpuint(n, ==, 3);
	g_assert_cmpmem(vecs[0].buffer, vecs[0].size,
			"\0\0\x40\x09\x07\0\0\0\x06\0\0\x40\0", 13);
	g_assert_true(vecs[1].buffer == g_bytes_get_data(block, NULL));
	g_assert_cmpuint(vecs[1].size, ==, BLOCK);
	/* A partial write resumes mid-chunk. */
	net_peer_out_consume(side->peer, 13 + 100);
	n = net_peer_out_peek(side->peer, vecs, 1);
	g_assert_cmpuint(n, ==, 1);
	g_assert_true(vecs[0].buffer ==
		      (const guint8 *)g_bytes_get_data(block, NULL) + 100);
	net_peer_get_stats(side->peer, &stats);
	g_assert_cmpuint(stats.payload_out, ==, 100);
	sent = drain(side->peer);
	net_peer_get_stats(side->peer, &stats);
	g_assert_cmpuint(stats.payload_out, ==, BLOCK);
	g_assert_cmpmem(sent->data + sent->len - 5, 5, "\0\0\0\x01\x02", 5);
}

/* Two peers back to back: a seeder and a leecher run a whole transfer
 * through their queues, cut into random pieces, while a toy policy
 * requests every block and checks every byte. */

static guint8 pattern(guint64 offset)
{
	return (guint8)(offset * 31 + offset / 4099);
}

static GBytes *pattern_block(guint32 index, guint32 begin, guint32 length)
{
	guint8 *data = g_malloc(length);
	guint64 base = (guint64)index * PIECE_LEN + begin;

	for (guint32 i = 0; i < length; i++)
		data[i] = pattern(base + i);
	return g_bytes_new_take(data, length);
}

static guint32 block_count(void)
{
	return (guint32)((LENGTH + BLOCK - 1) / BLOCK);
}

static void request_more(Side *side)
{
	while (side->next_block < block_count() &&
	       net_peer_request_room(side->peer) > 0) {
		guint64 offset = (guint64)side->next_block * BLOCK;
		guint32 index = offset / PIECE_LEN;
		guint32 begin = offset % PIECE_LEN;
		guint32 length = MIN(BLOCK, LENGTH - offset);

		g_assert_true(
			net_peer_request(side->peer, index, begin, length, T0));
		side->next_block++;
	}
}

static void check_block(Side *side, const NetPeerEvent *event)
{
	g_autoptr(GBytes) want =
		pattern_block(event->index, event->begin, event->length);

	g_assert_true(event->requested);
	g_assert_cmpmem(event->data, event->length,
			g_bytes_get_data(want, NULL), g_bytes_get_size(want));
	side->blocks_got++;
}

static void leecher_hook(Side *side, const NetPeerEvent *event)
{
	switch (event->type) {
	case NET_PEER_EVENT_BITFIELD:
		net_peer_set_interested(side->peer, TRUE);
		break;
	case NET_PEER_EVENT_UNCHOKE:
		request_more(side);
		break;
	case NET_PEER_EVENT_BLOCK:
		check_block(side, event);
		request_more(side);
		break;
	default:
		break;
	}
}

static void seeder_hook(Side *side, const NetPeerEvent *event)
{
	g_autoptr(GBytes) block = NULL;

	switch (event->type) {
	case NET_PEER_EVENT_INTERESTED:
		net_peer_set_choking(side->peer, FALSE);
		break;
	case NET_PEER_EVENT_REQUEST:
		block = pattern_block(event->index, event->begin,
				      event->length);
		g_assert_true(net_peer_send_piece(side->peer, event->index,
						  event->begin, block));
		break;
	default:
		break;
	}
}

/* Moves a random prefix of @from's queue to @to in random fragments;
 * returns how many bytes moved. */
static gsize move_some(Side *from, Side *to, GRand *rand)
{
	gsize pending = net_peer_out_pending(from->peer);
	gsize want, got = 0;
	g_autofree guint8 *buf = NULL;
	GOutputVector vecs[16];
	guint n;

	if (pending == 0)
		return 0;
	want = g_rand_int_range(rand, 1, (gint32)MIN(pending, 70000) + 1);
	buf = g_malloc(want);
	n = net_peer_out_peek(from->peer, vecs, G_N_ELEMENTS(vecs));
	for (guint i = 0; i < n && got < want; i++) {
		gsize take = MIN(vecs[i].size, want - got);

		memcpy(buf + got, vecs[i].buffer, take);
		got += take;
	}
	net_peer_out_consume(from->peer, got);
	for (gsize off = 0; off < got;) {
		/* Not inside MIN(), which would draw twice. */
		gsize frag = g_rand_int_range(rand, 1, 3000);

		frag = MIN(frag, got - off);
		g_assert_true(feed_bytes(to, buf + off, frag));
		off += frag;
	}
	return got;
}

static void test_transfer(void)
{
	for (guint32 seed = 1; seed <= 8; seed++) {
		g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
		NetPeerConfig lc = config_for(id_local);
		NetPeerConfig sc = config_for(id_remote);
		g_autoptr(Side) leecher = NULL;
		g_autoptr(Side) seeder = NULL;
		NetPeerStats ls, ss;
		guint rounds = 0;

		sc.max_requests = 16; /* the leecher must pipeline in turns */
		sc.listen_port = 7000;
		leecher = side_outgoing(&lc, FALSE);
		seeder = side_incoming(&sc, TRUE);
		leecher->hook = leecher_hook;
		seeder->hook = seeder_hook;
		while (move_some(leecher, seeder, rand) +
			       move_some(seeder, leecher, rand) >
		       0)
			g_assert_cmpuint(++rounds, <, 100000);

		g_assert_cmpuint(leecher->blocks_got, ==, block_count());
		g_assert_cmpuint(net_peer_get_peer_max_requests(leecher->peer),
				 ==, 16);
		g_assert_cmpuint(net_peer_get_peer_listen_port(leecher->peer),
				 ==, 7000);
		g_assert_cmpstr(net_peer_get_peer_client(seeder->peer), ==,
				"groupfs " GROUPFS_VERSION);
		g_assert_true(net_bitfield_is_complete(
			net_peer_get_peer_have(leecher->peer)));
		net_peer_get_stats(leecher->peer, &ls);
		net_peer_get_stats(seeder->peer, &ss);
		g_assert_cmpuint(ls.payload_in, ==, LENGTH);
		g_assert_cmpuint(ss.payload_out, ==, LENGTH);
		g_assert_cmpuint(ls.bytes_out, ==, ss.bytes_in);
		g_assert_cmpuint(ss.bytes_out, ==, ls.bytes_in);
		g_assert_cmpuint(count_events(leecher, NET_PEER_EVENT_ERROR),
				 ==, 0);
		g_assert_cmpuint(count_events(seeder, NET_PEER_EVENT_ERROR), ==,
				 0);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/peer/outgoing-bytes", test_outgoing_bytes);
	g_test_add_func("/net/peer/nothing-to-announce",
			test_nothing_to_announce);
	g_test_add_func("/net/peer/incoming-lookup", test_incoming_lookup);
	g_test_add_func("/net/peer/incoming-unknown-torrent",
			test_incoming_unknown_torrent);
	g_test_add_func("/net/peer/wrong-info-hash", test_wrong_info_hash);
	g_test_add_func("/net/peer/self-connection", test_self_connection);
	g_test_add_func("/net/peer/wrong-protocol", test_wrong_protocol);
	g_test_add_func("/net/peer/garbage", test_garbage);
	g_test_add_func("/net/peer/random-garbage", test_random_garbage);
	g_test_add_func("/net/peer/bitfield-and-haves",
			test_bitfield_and_haves);
	g_test_add_func("/net/peer/second-bitfield", test_second_bitfield);
	g_test_add_func("/net/peer/late-bitfield", test_late_bitfield);
	g_test_add_func("/net/peer/have-out-of-range", test_have_out_of_range);
	g_test_add_func("/net/peer/extended-handshake",
			test_extended_handshake);
	g_test_add_func("/net/peer/bad-extended", test_bad_extended);
	g_test_add_func("/net/peer/extended-without-bep10",
			test_extended_without_bep10);
	g_test_add_func("/net/peer/choke-interest-state",
			test_choke_interest_state);
	g_test_add_func("/net/peer/request-while-choked-dropped",
			test_request_while_choked_dropped);
	g_test_add_func("/net/peer/request-queue-and-cancel",
			test_request_queue_and_cancel);
	g_test_add_func("/net/peer/our-choke-discards-their-requests",
			test_our_choke_discards_their_requests);
	g_test_add_func("/net/peer/request-flood", test_request_flood);
	g_test_add_func("/net/peer/request-crossing-cancel",
			test_request_crossing_cancel);
	g_test_add_func("/net/peer/request-crossing-choke",
			test_request_crossing_choke);
	g_test_add_func("/net/peer/request-beyond-piece",
			test_request_beyond_piece);
	g_test_add_func("/net/peer/request-unannounced-piece",
			test_request_unannounced_piece);
	g_test_add_func("/net/peer/unrequested-block", test_unrequested_block);
	g_test_add_func("/net/peer/wrong-length-block",
			test_wrong_length_block);
	g_test_add_func("/net/peer/block-beyond-piece",
			test_block_beyond_piece);
	g_test_add_func("/net/peer/their-choke-drops-our-requests",
			test_their_choke_drops_our_requests);
	g_test_add_func("/net/peer/keepalive", test_keepalive);
	g_test_add_func("/net/peer/receive-timeout", test_receive_timeout);
	g_test_add_func("/net/peer/handshake-timeout", test_handshake_timeout);
	g_test_add_func("/net/peer/request-timeout", test_request_timeout);
	g_test_add_func("/net/peer/piece-zero-copy", test_piece_zero_copy);
	g_test_add_func("/net/peer/transfer", test_transfer);
	return g_test_run();
}
