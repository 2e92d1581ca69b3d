/* test-wire: byte vectors for every message, every refusal of a
 * hostile frame, fragmentation, and seeded random round trips. */
#include <glib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
/* From ASan's runtime; gcc does not install its header. */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "net-error.h"
#include "wire.h"

#define PIECES 10

/* A literal byte string and its length, without the trailing NUL. */
#define BYTES(s) (const guint8 *)(s), (sizeof(s) - 1)

typedef struct {
	const char *name;
	const guint8 *bytes;
	gsize len;
	NetWireMsg msg;
} Vector;

#define REQ_BYTES "\0\0\0\x0d\x06\0\0\0\x01\0\0\x40\0\0\0\x40\0"
#define CANCEL_BYTES "\0\0\0\x0d\x08\0\0\0\x01\0\0\x40\0\0\0\x40\0"
#define PIECE_BYTES "\0\0\0\x0c\x07\0\0\0\x02\0\0\x80\0abc"
#define EXT_BYTES            \
	"\0\0\0\x04\x14\x03" \
	"de"

static const Vector vectors[] = {
	{"keep-alive", BYTES("\0\0\0\0"), {.type = NET_WIRE_KEEPALIVE}},
	{"choke", BYTES("\0\0\0\x01\x00"), {.type = NET_WIRE_CHOKE}},
	{"unchoke", BYTES("\0\0\0\x01\x01"), {.type = NET_WIRE_UNCHOKE}},
	{"interested", BYTES("\0\0\0\x01\x02"), {.type = NET_WIRE_INTERESTED}},
	{"not-interested",
	 BYTES("\0\0\0\x01\x03"),
	 {.type = NET_WIRE_NOT_INTERESTED}},
	{"have",
	 BYTES("\0\0\0\x05\x04\0\0\0\x09"),
	 {.type = NET_WIRE_HAVE, .index = 9}},
	{"bitfield",
	 BYTES("\0\0\0\x03\x05\xa5\x40"),
	 {.type = NET_WIRE_BITFIELD,
	  .data = (const guint8 *)"\xa5\x40",
	  .data_len = 2}},
	{"request",
	 BYTES(REQ_BYTES),
	 {.type = NET_WIRE_REQUEST,
	  .index = 1,
	  .begin = 0x4000,
	  .length = 0x4000}},
	{"cancel",
	 BYTES(CANCEL_BYTES),
	 {.type = NET_WIRE_CANCEL,
	  .index = 1,
	  .begin = 0x4000,
	  .length = 0x4000}},
	{"piece",
	 BYTES(PIECE_BYTES),
	 {.type = NET_WIRE_PIECE,
	  .index = 2,
	  .begin = 0x8000,
	  .data = (const guint8 *)"abc",
	  .data_len = 3}},
	{"extended",
	 BYTES(EXT_BYTES),
	 {.type = NET_WIRE_EXTENDED,
	  .ext_id = 3,
	  .data = (const guint8 *)"de",
	  .data_len = 2}},
};

static void assert_msg_equal(const NetWireMsg *a, const NetWireMsg *b)
{
	g_assert_cmpint(a->type, ==, b->type);
	g_assert_cmpuint(a->index, ==, b->index);
	g_assert_cmpuint(a->begin, ==, b->begin);
	g_assert_cmpuint(a->length, ==, b->length);
	g_assert_cmpuint(a->ext_id, ==, b->ext_id);
	g_assert_cmpmem(a->data, a->data_len, b->data, b->data_len);
}

static NetWireDecoder *decoder_with(guint32 pieces, const guint8 *bytes,
				    gsize len)
{
	NetWireDecoder *dec = net_wire_decoder_new(pieces, FALSE);

	net_wire_decoder_feed(dec, bytes, len);
	return dec;
}

static void test_vectors_encode(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(vectors); i++) {
		g_autoptr(GByteArray) out = g_byte_array_new();

		g_test_message("vector %s", vectors[i].name);
		net_wire_encode_msg(out, &vectors[i].msg);
		g_assert_cmpmem(out->data, out->len, vectors[i].bytes,
				vectors[i].len);
	}
}

static void test_vectors_decode(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(vectors); i++) {
		g_autoptr(NetWireDecoder) dec =
			decoder_with(PIECES, vectors[i].bytes, vectors[i].len);
		g_autoptr(GError) error = NULL;
		NetWireMsg msg;

		g_test_message("vector %s", vectors[i].name);
		g_assert_cmpint(net_wire_decoder_next(dec, &msg, &error), ==,
				NET_WIRE_MESSAGE);
		g_assert_no_error(error);
		assert_msg_equal(&msg, &vectors[i].msg);
		g_assert_cmpuint(net_wire_decoder_pending(dec), ==, 0);
		g_assert_cmpint(net_wire_decoder_next(dec, &msg, &error), ==,
				NET_WIRE_NEED_MORE);
	}
}

/* The typed encoders, not only net_wire_encode_msg, give the vectors. */
static void test_typed_encoders(void)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	static const guint8 want[] =
		"\0\0\0\0"
		"\0\0\0\x01\x00\0\0\0\x01\x01\0\0\0\x01\x02\0\0\0\x01\x03"
		"\0\0\0\x05\x04\0\0\0\x09"
		"\0\0\0\x03\x05\xa5\x40" REQ_BYTES CANCEL_BYTES PIECE_BYTES
		"\0\0\0\x0c\x07\0\0\0\x02\0\0\x80\0" EXT_BYTES;

	net_wire_encode_keepalive(out);
	for (NetWireType t = NET_WIRE_CHOKE; t <= NET_WIRE_NOT_INTERESTED; t++)
		net_wire_encode_simple(out, t);
	net_wire_encode_have(out, 9);
	net_wire_encode_bitfield(out, (const guint8 *)"\xa5\x40", 2);
	net_wire_encode_request(out, 1, 0x4000, 0x4000);
	net_wire_encode_cancel(out, 1, 0x4000, 0x4000);
	net_wire_encode_piece(out, 2, 0x8000, (const guint8 *)"abc", 3);
	net_wire_encode_piece_header(out, 2, 0x8000, 3);
	net_wire_encode_extended(out, 3, (const guint8 *)"de", 2);
	g_assert_cmpmem(out->data, out->len, want, sizeof(want) - 1);
}

#define HANDSHAKE_BYTES                                                    \
	"\x13"                                                             \
	"BitTorrent protocol"                                              \
	"\0\0\0\0\0\x10\0\x05"                                             \
	"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10" \
	"\x11\x12\x13\x14"                                                 \
	"-GF0010-abcdefghijkl"

static void fill_handshake(NetWireHandshake *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->reserved[NET_WIRE_RESERVED_EXTENSION_BYTE] =
		NET_WIRE_RESERVED_EXTENSION_BIT;
	hs->reserved[7] = 0x05;
	for (guint i = 0; i < sizeof(hs->info_hash); i++)
		hs->info_hash[i] = (guint8)(i + 1);
	memcpy(hs->peer_id, "-GF0010-abcdefghijkl", sizeof(hs->peer_id));
}

static void test_handshake_encode(void)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	NetWireHandshake hs;

	fill_handshake(&hs);
	net_wire_encode_handshake(out, &hs);
	g_assert_cmpuint(out->len, ==, NET_WIRE_HANDSHAKE_LEN);
	g_assert_cmpmem(out->data, out->len, HANDSHAKE_BYTES,
			NET_WIRE_HANDSHAKE_LEN);
}

/* Fed a byte at a time, then followed by a message in the same read. */
static void test_handshake_decode(void)
{
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(PIECES, TRUE);
	const guint8 *bytes = (const guint8 *)HANDSHAKE_BYTES "\0\0\0\x01\x01";
	NetWireHandshake hs, want;
	NetWireMsg msg;
	GError *error = NULL;

	fill_handshake(&want);
	for (gsize i = 0; i < NET_WIRE_HANDSHAKE_LEN - 1; i++) {
		net_wire_decoder_feed(dec, bytes + i, 1);
		g_assert_cmpint(
			net_wire_decoder_next_handshake(dec, &hs, &error), ==,
			NET_WIRE_NEED_MORE);
	}
	net_wire_decoder_feed(dec, bytes + NET_WIRE_HANDSHAKE_LEN - 1, 6);
	g_assert_cmpint(net_wire_decoder_next_handshake(dec, &hs, &error), ==,
			NET_WIRE_MESSAGE);
	g_assert_no_error(error);
	g_assert_cmpmem(&hs, sizeof(hs), &want, sizeof(want));
	g_assert_true(hs.reserved[NET_WIRE_RESERVED_EXTENSION_BYTE] &
		      NET_WIRE_RESERVED_EXTENSION_BIT);
	g_assert_cmpint(net_wire_decoder_next(dec, &msg, &error), ==,
			NET_WIRE_MESSAGE);
	g_assert_cmpint(msg.type, ==, NET_WIRE_UNCHOKE);
}

/* Feeds @len bytes and expects the first call to fail with a message
 * naming @needle, then every later call to fail the same way. */
static void assert_rejected_as(NetWireDecoder *dec, gboolean handshake,
			       const guint8 *bytes, gsize len,
			       const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) again = NULL;
	NetWireHandshake hs;
	NetWireMsg msg;

	net_wire_decoder_feed(dec, bytes, len);
	if (handshake)
		g_assert_cmpint(
			net_wire_decoder_next_handshake(dec, &hs, &error), ==,
			NET_WIRE_ERROR);
	else
		g_assert_cmpint(net_wire_decoder_next(dec, &msg, &error), ==,
				NET_WIRE_ERROR);
	g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_test_message("refused: %s", error->message);
	g_assert_nonnull(strstr(error->message, needle));
	net_wire_decoder_feed(dec, (const guint8 *)"\0\0\0\x01\x01", 5);
	g_assert_cmpint(net_wire_decoder_next(dec, &msg, &again), ==,
			NET_WIRE_ERROR);
	g_assert_cmpstr(again->message, ==, error->message);
}

static void assert_rejected(guint32 pieces, const guint8 *bytes, gsize len,
			    const char *needle)
{
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(pieces, FALSE);

	assert_rejected_as(dec, FALSE, bytes, len, needle);
}

static void assert_handshake_rejected(const guint8 *bytes, gsize len,
				      const char *needle)
{
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(PIECES, TRUE);

	assert_rejected_as(dec, TRUE, bytes, len, needle);
}

static void test_handshake_refusals(void)
{
	/* One byte is enough to refuse a wrong name length. */
	assert_handshake_rejected(BYTES("\x12"), "of 18 bytes");
	assert_handshake_rejected(BYTES("GET / HTTP/1.1\r\n"), "of 71 bytes");
	assert_handshake_rejected(BYTES("\x13"
					"BitTorrent protocoX"),
				  "another protocol");
	assert_handshake_rejected(BYTES("\x13"
					"Bit"
					"\0"),
				  "another protocol");
}

static void test_handshake_truncated(void)
{
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(PIECES, TRUE);
	NetWireHandshake hs;

	net_wire_decoder_feed(dec, (const guint8 *)HANDSHAKE_BYTES,
			      NET_WIRE_HANDSHAKE_LEN - 1);
	g_assert_cmpint(net_wire_decoder_next_handshake(dec, &hs, NULL), ==,
			NET_WIRE_NEED_MORE);
	g_assert_cmpuint(net_wire_decoder_pending(dec), ==,
			 NET_WIRE_HANDSHAKE_LEN - 1);
}

/* Only the five header bytes are fed: a wrong length must be refused
 * before the body is awaited. */
static void test_fixed_length_refusals(void)
{
	assert_rejected(PIECES, BYTES("\0\0\0\x02\x00"), "choke message of 2");
	assert_rejected(PIECES, BYTES("\0\0\0\x02\x01"), "unchoke message");
	assert_rejected(PIECES, BYTES("\0\0\0\x05\x02"), "interested message");
	assert_rejected(PIECES, BYTES("\0\0\0\x03\x03"), "not interested");
	assert_rejected(PIECES, BYTES("\0\0\0\x04\x04"), "have message of 4");
	assert_rejected(PIECES, BYTES("\0\0\0\x06\x04"), "must be 5");
	assert_rejected(PIECES, BYTES("\0\0\0\x0c\x06"), "request message");
	assert_rejected(PIECES, BYTES("\0\0\0\x0e\x06"), "must be 13");
	assert_rejected(PIECES, BYTES("\0\0\0\x0e\x08"), "cancel message");
}

static void test_block_length_refusals(void)
{
	assert_rejected(PIECES,
			BYTES("\0\0\0\x0d\x06\0\0\0\0\0\0\0\0\0\0\x80\0"),
			"request for 32768 bytes");
	assert_rejected(PIECES,
			BYTES("\0\0\0\x0d\x06\0\0\0\0\0\0\0\0\0\0\x40\x01"),
			"request for 16385 bytes");
	assert_rejected(PIECES, BYTES("\0\0\0\x0d\x06\0\0\0\0\0\0\0\0\0\0\0\0"),
			"request for 0 bytes");
	assert_rejected(PIECES, BYTES("\0\0\0\x0d\x08\0\0\0\0\0\0\0\0\0\0\0\0"),
			"cancel for 0 bytes");
	assert_rejected(PIECES,
			BYTES("\0\0\0\x0d\x08\0\0\0\0\0\0\0\0\xff\0\0\0"),
			"cancel for 4278190080 bytes");
	/* Piece headers: a block of 16385 bytes, an empty one, a short one. */
	assert_rejected(PIECES, BYTES("\0\0\x40\x0a\x07"), "block of 16385");
	assert_rejected(PIECES, BYTES("\0\0\0\x09\x07"), "holds no block");
	assert_rejected(PIECES, BYTES("\0\0\0\x05\x07"), "holds no block");
}

static void test_index_refusals(void)
{
	assert_rejected(PIECES, BYTES("\0\0\0\x05\x04\0\0\0\x0a"),
			"have message for piece 10; the torrent has 10 pieces");
	assert_rejected(PIECES,
			BYTES("\0\0\0\x0d\x06\0\0\0\x0a\0\0\0\0\0\0\x40\0"),
			"request message for piece 10");
	assert_rejected(
		PIECES,
		BYTES("\0\0\0\x0d\x08\xff\xff\xff\xff\0\0\0\0\0\0\x40\0"),
		"cancel message for piece 4294967295");
	assert_rejected(PIECES, BYTES("\0\0\0\x0a\x07\0\0\0\x0b\0\0\0\0x"),
			"piece message for piece 11");
}

/* With the piece count unknown, indices cannot be checked and pass. */
static void test_index_unknown_count(void)
{
	g_autoptr(NetWireDecoder) dec =
		decoder_with(0, BYTES("\0\0\0\x05\x04\xff\xff\xff\xfe"));
	NetWireMsg msg;

	g_assert_cmpint(net_wire_decoder_next(dec, &msg, NULL), ==,
			NET_WIRE_MESSAGE);
	g_assert_cmpuint(msg.index, ==, 0xfffffffe);
	net_wire_decoder_set_piece_count(dec, PIECES);
	assert_rejected_as(dec, FALSE, BYTES("\0\0\0\x05\x04\0\0\0\x0a"),
			   "piece 10");
}

static void test_span_refusals(void)
{
	g_autoptr(NetWireDecoder) dec = decoder_with(
		PIECES,
		BYTES("\0\0\0\x0d\x06\0\0\0\0\xff\xff\xc0\0\0\0\x40\0"));
	NetWireMsg msg;

	/* Ending exactly at 4 GiB is still addressable. */
	g_assert_cmpint(net_wire_decoder_next(dec, &msg, NULL), ==,
			NET_WIRE_MESSAGE);
	assert_rejected(
		PIECES,
		BYTES("\0\0\0\x0d\x06\0\0\0\0\xff\xff\xc0\x01\0\0\x40\0"),
		"past 4 GiB");
	assert_rejected(PIECES,
			BYTES("\0\0\0\x0b\x07\0\0\0\0\xff\xff\xff\xffxy"),
			"past 4 GiB");
}

static void test_bitfield_refusals(void)
{
	g_autoptr(NetWireDecoder) exact =
		decoder_with(16, BYTES("\0\0\0\x03\x05\xff\xff"));
	NetWireMsg msg;

	g_assert_cmpint(net_wire_decoder_next(exact, &msg, NULL), ==,
			NET_WIRE_MESSAGE);
	g_assert_cmpuint(msg.data_len, ==, 2);
	assert_rejected(PIECES, BYTES("\0\0\0\x02\x05"), "must be 3");
	assert_rejected(PIECES, BYTES("\0\0\0\x04\x05"), "must be 3");
	assert_rejected(PIECES, BYTES("\0\0\0\x03\x05\xff\xe0"),
			"past its last piece");
	assert_rejected(PIECES, BYTES("\0\0\0\x03\x05\0\x01"),
			"past its last piece");
	assert_rejected(0, BYTES("\0\0\0\x01\x05"), "number of pieces");
}

static void test_extended_refusals(void)
{
	g_autoptr(GByteArray) max = g_byte_array_new();
	g_autofree guint8 *payload = g_malloc0(NET_WIRE_MAX_EXTENDED);
	g_autoptr(NetWireDecoder) dec = NULL;
	NetWireMsg msg;

	net_wire_encode_extended(max, 0, payload, NET_WIRE_MAX_EXTENDED);
	dec = decoder_with(PIECES, max->data, max->len);
	g_assert_cmpint(net_wire_decoder_next(dec, &msg, NULL), ==,
			NET_WIRE_MESSAGE);
	g_assert_cmpuint(msg.data_len, ==, NET_WIRE_MAX_EXTENDED);
	/* 0x5002 = 2 + NET_WIRE_MAX_EXTENDED + 1 */
	assert_rejected(PIECES, BYTES("\0\0\x50\x03\x14"),
			"extended message of 20481 bytes");
	assert_rejected(PIECES, BYTES("\0\0\0\x01\x14"),
			"without an extension id");
}

/* BEP 6 "have all" (14) and BEP 5 "port" (9) are skipped, an unknown
 * frame of up to 256 bytes too, and the next message comes out. */
static void test_unknown_skipped(void)
{
	g_autoptr(GByteArray) in = g_byte_array_new();
	g_autofree guint8 *junk = g_malloc0(NET_WIRE_MAX_UNKNOWN);
	g_autoptr(NetWireDecoder) dec = NULL;
	NetWireMsg msg;

	g_byte_array_append(in, BYTES("\0\0\0\x01\x0e\0\0\0\x03\x09\x1a\xe1"));
	g_byte_array_append(in, BYTES("\0\0\x01\x00\x63"));
	g_byte_array_append(in, junk, NET_WIRE_MAX_UNKNOWN - 1);
	net_wire_encode_simple(in, NET_WIRE_INTERESTED);
	dec = decoder_with(PIECES, in->data, in->len);
	g_assert_cmpint(net_wire_decoder_next(dec, &msg, NULL), ==,
			NET_WIRE_MESSAGE);
	g_assert_cmpint(msg.type, ==, NET_WIRE_INTERESTED);
	g_assert_cmpuint(net_wire_decoder_pending(dec), ==, 0);
	assert_rejected(PIECES, BYTES("\0\0\x01\x01\x63"),
			"unknown id 99 and 257 bytes");
}

static gsize allocated_bytes(void)
{
#ifdef HAVE_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 info = mallinfo2();

	return info.uordblks + info.hblkhd;
#endif
}

/* A 4 GiB length fails on its four bytes, with nothing allocated for
 * it, and later input is not even buffered. */
static void test_huge_length(void)
{
	g_autofree guint8 *more = g_malloc0(1 << 20);
	gsize before = allocated_bytes();
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(PIECES, FALSE);

	assert_rejected_as(dec, FALSE, BYTES("\xff\xff\xff\xff"),
			   "frame of 4294967295 bytes");
	net_wire_decoder_feed(dec, more, 1 << 20);
	g_assert_cmpuint(net_wire_decoder_pending(dec), ==, 4);
	g_assert_cmpuint(allocated_bytes(), <, before + 64 * 1024);
	assert_rejected(PIECES, BYTES("\x7f\xff\xff\xff\x07"),
			"block of 2147483638 bytes");
}

/* Streaming 16 MiB of blocks through the decoder in reads that split
 * frames keeps its buffer near one read plus one frame: decoded bytes
 * are reclaimed. */
static void test_buffer_stays_small(void)
{
	g_autoptr(GByteArray) in = g_byte_array_new();
	g_autofree guint8 *block = g_malloc0(NET_WIRE_BLOCK_SIZE);
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(PIECES, FALSE);
	gsize before, peak = 0;
	NetWireMsg msg;
	guint count = 0;

	for (guint i = 0; i < 64; i++)
		net_wire_encode_piece(in, 0, i * NET_WIRE_BLOCK_SIZE, block,
				      NET_WIRE_BLOCK_SIZE);
	before = allocated_bytes();
	for (guint round = 0; round < 16; round++) {
		for (gsize off = 0; off < in->len; off += 3000) {
			net_wire_decoder_feed(dec, in->data + off,
					      MIN(3000, in->len - off));
			while (net_wire_decoder_next(dec, &msg, NULL) ==
			       NET_WIRE_MESSAGE)
				count++;
			peak = MAX(peak, allocated_bytes());
		}
	}
	g_assert_cmpuint(count, ==, 16 * 64);
	g_assert_cmpuint(peak - before, <, 4 * NET_WIRE_BLOCK_SIZE);
}

/* Mostly short, sometimes anything up to @max. */
static gsize random_len(GRand *rand, gsize min, gsize max)
{
	if (g_rand_boolean(rand))
		max = MIN(max, min + 40);
	return (gsize)g_rand_int_range(rand, (gint32)min, (gint32)max + 1);
}

static guint32 random_begin(GRand *rand, guint32 length)
{
	guint32 begin = g_rand_int(rand);

	return begin > G_MAXUINT32 - length ? begin - length : begin;
}

static void random_bytes(GRand *rand, guint8 *out, gsize len)
{
	for (gsize i = 0; i < len; i++)
		out[i] = (guint8)g_rand_int(rand);
}

/* A random valid message for a torrent of @pieces pieces; its data
 * lives in @scratch, of at least NET_WIRE_MAX_EXTENDED bytes. */
static void random_msg(GRand *rand, guint32 pieces, guint8 *scratch,
		       NetWireMsg *msg)
{
	static const NetWireType types[] = {
		NET_WIRE_KEEPALIVE,	 NET_WIRE_CHOKE,    NET_WIRE_UNCHOKE,
		NET_WIRE_INTERESTED,	 NET_WIRE_HAVE,	    NET_WIRE_BITFIELD,
		NET_WIRE_NOT_INTERESTED, NET_WIRE_REQUEST,  NET_WIRE_PIECE,
		NET_WIRE_CANCEL,	 NET_WIRE_EXTENDED,
	};

	memset(msg, 0, sizeof(*msg));
	msg->type = types[g_rand_int_range(rand, 0, G_N_ELEMENTS(types))];
	msg->data = scratch;
	if (msg->type == NET_WIRE_HAVE || msg->type == NET_WIRE_REQUEST ||
	    msg->type == NET_WIRE_CANCEL || msg->type == NET_WIRE_PIECE)
		msg->index = (guint32)g_rand_int_range(rand, 0, (gint32)pieces);
	switch (msg->type) {
	case NET_WIRE_BITFIELD:
		msg->data_len = (pieces + 7) / 8;
		random_bytes(rand, scratch, msg->data_len);
		/* Keep only the bits of real pieces in the last byte. */
		scratch[msg->data_len - 1] &=
			(guint8)(0xff00 >> (1 + (pieces - 1) % 8));
		break;
	case NET_WIRE_REQUEST:
	case NET_WIRE_CANCEL:
		msg->length = (guint32)random_len(rand, 1, NET_WIRE_BLOCK_SIZE);
		msg->begin = random_begin(rand, msg->length);
		break;
	case NET_WIRE_PIECE:
		msg->data_len = random_len(rand, 1, NET_WIRE_BLOCK_SIZE);
		msg->begin = random_begin(rand, (guint32)msg->data_len);
		random_bytes(rand, scratch, msg->data_len);
		break;
	case NET_WIRE_EXTENDED:
		msg->ext_id = (guint8)g_rand_int(rand);
		msg->data_len = random_len(rand, 0, NET_WIRE_MAX_EXTENDED);
		random_bytes(rand, scratch, msg->data_len);
		break;
	default:
		break;
	}
}

static void test_random_round_trips(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(0x5eed);
	g_autofree guint8 *scratch = g_malloc(NET_WIRE_MAX_EXTENDED);

	for (guint round = 0; round < 5000; round++) {
		guint32 pieces = (guint32)g_rand_int_range(rand, 1, 5000);
		g_autoptr(GByteArray) out = g_byte_array_new();
		g_autoptr(NetWireDecoder) dec = NULL;
		g_autoptr(GError) error = NULL;
		NetWireMsg want, got;

		random_msg(rand, pieces, scratch, &want);
		net_wire_encode_msg(out, &want);
		dec = decoder_with(pieces, out->data, out->len);
		g_assert_cmpint(net_wire_decoder_next(dec, &got, &error), ==,
				NET_WIRE_MESSAGE);
		g_assert_no_error(error);
		assert_msg_equal(&got, &want);
		g_assert_cmpuint(net_wire_decoder_pending(dec), ==, 0);
	}
}

/* Decodes everything buffered so far, the handshake first while
 * *@handshake, re-encoding each message into @out so that whole
 * decodes can be compared. */
static void drain(NetWireDecoder *dec, gboolean *handshake, GByteArray *out,
		  guint *count)
{
	NetWireHandshake hs;
	NetWireMsg msg;
	NetWireResult r;
	g_autoptr(GError) error = NULL;

	if (*handshake) {
		r = net_wire_decoder_next_handshake(dec, &hs, &error);
		g_assert_no_error(error);
		if (r == NET_WIRE_NEED_MORE)
			return;
		net_wire_encode_handshake(out, &hs);
		*handshake = FALSE;
	}
	while ((r = net_wire_decoder_next(dec, &msg, &error)) ==
	       NET_WIRE_MESSAGE) {
		net_wire_encode_msg(out, &msg);
		(*count)++;
	}
	g_assert_no_error(error);
	g_assert_cmpint(r, ==, NET_WIRE_NEED_MORE);
}

/* Random messages with unknown frames mixed in, as one stream. */
static GByteArray *random_stream(GRand *rand, guint32 pieces, guint n)
{
	GByteArray *in = g_byte_array_new();
	g_autofree guint8 *scratch = g_malloc(NET_WIRE_MAX_EXTENDED);
	NetWireMsg msg;

	g_byte_array_append(in, BYTES(HANDSHAKE_BYTES));

	for (guint i = 0; i < n; i++) {
		random_msg(rand, pieces, scratch, &msg);
		net_wire_encode_msg(in, &msg);
		if (i % 50 == 0)
			g_byte_array_append(in,
					    BYTES("\0\0\0\x03\x09\x1a\xe1"));
	}
	return in;
}

static void test_fragmentation(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(7);
	const guint32 pieces = 1001;
	g_autoptr(GByteArray) in = random_stream(rand, pieces, 3000);
	g_autoptr(GByteArray) whole = g_byte_array_new();
	g_autoptr(NetWireDecoder) whole_dec =
		net_wire_decoder_new(pieces, TRUE);
	gboolean handshake = TRUE;
	guint whole_count = 0;

	net_wire_decoder_feed(whole_dec, in->data, in->len);
	drain(whole_dec, &handshake, whole, &whole_count);
	g_assert_false(handshake);
	g_assert_cmpuint(whole_count, ==, 3000);
	for (guint run = 0; run < 8; run++) {
		g_autoptr(NetWireDecoder) dec =
			net_wire_decoder_new(pieces, TRUE);
		g_autoptr(GByteArray) pieces_out = g_byte_array_new();
		guint count = 0;
		/* Run 0 feeds one byte at a time; later runs up to 64 KiB. */
		gint32 max = run == 0 ? 1 : 1 << (2 * run);

		handshake = TRUE;

		for (gsize off = 0; off < in->len;) {
			/* Drawn outside MIN, which would draw twice. */
			gsize n = (gsize)g_rand_int_range(rand, 1, max + 1);

			n = MIN(n, in->len - off);

			net_wire_decoder_feed(dec, in->data + off, n);
			off += n;
			drain(dec, &handshake, pieces_out, &count);
		}
		g_assert_cmpuint(count, ==, whole_count);
		g_assert_cmpmem(pieces_out->data, pieces_out->len, whole->data,
				whole->len);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/wire/vectors-encode", test_vectors_encode);
	g_test_add_func("/net/wire/vectors-decode", test_vectors_decode);
	g_test_add_func("/net/wire/typed-encoders", test_typed_encoders);
	g_test_add_func("/net/wire/handshake-encode", test_handshake_encode);
	g_test_add_func("/net/wire/handshake-decode", test_handshake_decode);
	g_test_add_func("/net/wire/handshake-refusals",
			test_handshake_refusals);
	g_test_add_func("/net/wire/handshake-truncated",
			test_handshake_truncated);
	g_test_add_func("/net/wire/fixed-length-refusals",
			test_fixed_length_refusals);
	g_test_add_func("/net/wire/block-length-refusals",
			test_block_length_refusals);
	g_test_add_func("/net/wire/index-refusals", test_index_refusals);
	g_test_add_func("/net/wire/index-unknown-count",
			test_index_unknown_count);
	g_test_add_func("/net/wire/span-refusals", test_span_refusals);
	g_test_add_func("/net/wire/bitfield-refusals", test_bitfield_refusals);
	g_test_add_func("/net/wire/extended-refusals", test_extended_refusals);
	g_test_add_func("/net/wire/unknown-skipped", test_unknown_skipped);
	g_test_add_func("/net/wire/huge-length", test_huge_length);
	g_test_add_func("/net/wire/buffer-stays-small",
			test_buffer_stays_small);
	g_test_add_func("/net/wire/random-round-trips",
			test_random_round_trips);
	g_test_add_func("/net/wire/fragmentation", test_fragmentation);
	return g_test_run();
}
