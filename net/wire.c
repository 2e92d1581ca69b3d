#include "wire.h"

#include <string.h>

#include "net-error.h"

/* length prefix + message id */
#define FRAME_HEADER_LEN 5
/* index + begin, ahead of a piece's block */
#define PIECE_PREFIX_LEN 8
/* pstrlen byte + "BitTorrent protocol" */
#define PROTOCOL_PREFIX_LEN 20

struct _NetWireDecoder {
	/* Undecoded input is buf[start, end); the bytes before start were
	 * decoded and may still be lent out in the last NetWireMsg. */
	guint8 *buf;
	gsize cap;
	gsize start;
	gsize end;
	guint32 piece_count; /* 0: unknown */
	gboolean want_handshake;
	GError *poison; /* the peer's first violation; every call repeats it */
};

static guint32 read_u32(const guint8 *p)
{
	return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 |
	       (guint32)p[3];
}

static void append_u32(GByteArray *out, guint32 v)
{
	guint8 be[4] = {v >> 24, v >> 16, v >> 8, v};

	g_byte_array_append(out, be, sizeof(be));
}

static void append_frame_header(GByteArray *out, gsize body_len, guint8 id)
{
	g_return_if_fail(body_len < G_MAXUINT32);
	append_u32(out, (guint32)body_len + 1);
	g_byte_array_append(out, &id, 1);
}

/* Encoders. */

void net_wire_encode_handshake(GByteArray *out, const NetWireHandshake *hs)
{
	guint8 pstrlen = sizeof(NET_WIRE_PROTOCOL) - 1;

	g_byte_array_append(out, &pstrlen, 1);
	g_byte_array_append(out, (const guint8 *)NET_WIRE_PROTOCOL, pstrlen);
	g_byte_array_append(out, hs->reserved, sizeof(hs->reserved));
	g_byte_array_append(out, hs->info_hash, sizeof(hs->info_hash));
	g_byte_array_append(out, hs->peer_id, sizeof(hs->peer_id));
}

void net_wire_encode_keepalive(GByteArray *out)
{
	append_u32(out, 0);
}

void net_wire_encode_simple(GByteArray *out, NetWireType type)
{
	g_return_if_fail(type <= NET_WIRE_NOT_INTERESTED);
	append_frame_header(out, 0, type);
}

void net_wire_encode_have(GByteArray *out, guint32 index)
{
	append_frame_header(out, 4, NET_WIRE_HAVE);
	append_u32(out, index);
}

void net_wire_encode_bitfield(GByteArray *out, const guint8 *bits, gsize len)
{
	append_frame_header(out, len, NET_WIRE_BITFIELD);
	g_byte_array_append(out, bits, len);
}

static void encode_block_address(GByteArray *out, NetWireType type,
				 guint32 index, guint32 begin, guint32 length)
{
	append_frame_header(out, 12, type);
	append_u32(out, index);
	append_u32(out, begin);
	append_u32(out, length);
}

void net_wire_encode_request(GByteArray *out, guint32 index, guint32 begin,
			     guint32 length)
{
	encode_block_address(out, NET_WIRE_REQUEST, index, begin, length);
}

void net_wire_encode_cancel(GByteArray *out, guint32 index, guint32 begin,
			    guint32 length)
{
	encode_block_address(out, NET_WIRE_CANCEL, index, begin, length);
}

void net_wire_encode_piece_header(GByteArray *out, guint32 index, guint32 begin,
				  gsize len)
{
	g_return_if_fail(len <= G_MAXUINT32 - PIECE_PREFIX_LEN - 1);
	append_frame_header(out, PIECE_PREFIX_LEN + len, NET_WIRE_PIECE);
	append_u32(out, index);
	append_u32(out, begin);
}

void net_wire_encode_piece(GByteArray *out, guint32 index, guint32 begin,
			   const guint8 *block, gsize len)
{
	net_wire_encode_piece_header(out, index, begin, len);
	g_byte_array_append(out, block, len);
}

void net_wire_encode_extended(GByteArray *out, guint8 ext_id,
			      const guint8 *payload, gsize len)
{
	g_return_if_fail(len < G_MAXUINT32 - 1);
	append_frame_header(out, 1 + len, NET_WIRE_EXTENDED);
	g_byte_array_append(out, &ext_id, 1);
	g_byte_array_append(out, payload, len);
}

void net_wire_encode_msg(GByteArray *out, const NetWireMsg *msg)
{
	switch (msg->type) {
	case NET_WIRE_KEEPALIVE:
		net_wire_encode_keepalive(out);
		break;
	case NET_WIRE_CHOKE:
	case NET_WIRE_UNCHOKE:
	case NET_WIRE_INTERESTED:
	case NET_WIRE_NOT_INTERESTED:
		net_wire_encode_simple(out, msg->type);
		break;
	case NET_WIRE_HAVE:
		net_wire_encode_have(out, msg->index);
		break;
	case NET_WIRE_BITFIELD:
		net_wire_encode_bitfield(out, msg->data, msg->data_len);
		break;
	case NET_WIRE_REQUEST:
	case NET_WIRE_CANCEL:
		encode_block_address(out, msg->type, msg->index, msg->begin,
				     msg->length);
		break;
	case NET_WIRE_PIECE:
		net_wire_encode_piece(out, msg->index, msg->begin, msg->data,
				      msg->data_len);
		break;
	case NET_WIRE_EXTENDED:
		net_wire_encode_extended(out, msg->ext_id, msg->data,
					 msg->data_len);
		break;
	default:
		g_return_if_reached();
	}
}

/* Decoder: buffer management. */

NetWireDecoder *net_wire_decoder_new(guint32 piece_count,
				     gboolean expect_handshake)
{
	NetWireDecoder *dec = g_new0(NetWireDecoder, 1);

	dec->piece_count = piece_count;
	dec->want_handshake = expect_handshake;
	return dec;
}

void net_wire_decoder_free(NetWireDecoder *dec)
{
	if (!dec)
		return;
	g_free(dec->buf);
	g_clear_error(&dec->poison);
	g_free(dec);
}

/* For when the piece count becomes known after the decoder was made
 * (0 makes it unknown again). */
void net_wire_decoder_set_piece_count(NetWireDecoder *dec, guint32 piece_count)
{
	dec->piece_count = piece_count;
}

gsize net_wire_decoder_pending(const NetWireDecoder *dec)
{
	return dec->end - dec->start;
}

static void compact(NetWireDecoder *dec)
{
	memmove(dec->buf, dec->buf + dec->start, dec->end - dec->start);
	dec->end -= dec->start;
	dec->start = 0;
}

/* Called where no message is lent out. Moving the undecoded tail only
 * once the decoded head passes half the buffer keeps the cost of
 * compaction linear in the bytes fed, however many messages a read
 * holds. */
static void reclaim(NetWireDecoder *dec)
{
	if (dec->start == dec->end)
		dec->start = dec->end = 0;
	else if (dec->start > dec->cap / 2)
		compact(dec);
}

/* Buffers @len bytes of input. Data fed after a protocol error is
 * dropped: the connection is done. */
void net_wire_decoder_feed(NetWireDecoder *dec, const guint8 *data, gsize len)
{
	if (dec->poison || len == 0)
		return;
	reclaim(dec);
	if (dec->cap - dec->end < len && dec->start > 0)
		compact(dec);
	if (dec->cap - dec->end < len) {
		gsize need = dec->end + len;

		dec->cap = MAX(need, MAX(dec->cap * 2, 4096));
		dec->buf = g_realloc(dec->buf, dec->cap);
	}
	memcpy(dec->buf + dec->end, data, len);
	dec->end += len;
}

/* Decoder: errors. Every message names what the peer sent, so the log
 * line is enough to tell which side is wrong. */

G_GNUC_PRINTF(3, 4)
static NetWireResult fail(NetWireDecoder *dec, GError **error,
			  const char *format, ...)
{
	va_list args;

	va_start(args, format);
	dec->poison =
		g_error_new_valist(NET_ERROR, NET_ERROR_PROTOCOL, format, args);
	va_end(args);
	g_propagate_error(error, g_error_copy(dec->poison));
	return NET_WIRE_ERROR;
}

static NetWireResult repeat_poison(NetWireDecoder *dec, GError **error)
{
	g_propagate_error(error, g_error_copy(dec->poison));
	return NET_WIRE_ERROR;
}

/* "a have", "an extended": for messages that name what was sent. */
static const char *type_name(guint8 id)
{
	static const char *const names[] = {
		"a choke",	    "an unchoke", "an interested",
		"a not interested", "a have",	  "a bitfield",
		"a request",	    "a piece",	  "a cancel",
	};

	if (id < G_N_ELEMENTS(names))
		return names[id];
	return id == NET_WIRE_EXTENDED ? "an extended" : "an unknown";
}

/* Decoder: the handshake. */

static NetWireResult check_protocol(NetWireDecoder *dec, const guint8 *p,
				    gsize avail, GError **error)
{
	static const guint8 want[PROTOCOL_PREFIX_LEN] =
		"\x13" NET_WIRE_PROTOCOL;

	if (p[0] != want[0])
		return fail(dec, error,
			    "Peer sent a handshake with a protocol name of %u "
			    "bytes; BitTorrent's is %u",
			    p[0], want[0]);
	if (memcmp(p, want, MIN(avail, sizeof(want))) != 0)
		return fail(dec, error,
			    "Peer sent a handshake for another protocol than "
			    "\"" NET_WIRE_PROTOCOL "\"");
	return NET_WIRE_NEED_MORE;
}

/* Reads the 68-byte handshake. A wrong protocol name fails as soon as
 * its first wrong byte arrives, not after 68 bytes. */
NetWireResult net_wire_decoder_next_handshake(NetWireDecoder *dec,
					      NetWireHandshake *hs,
					      GError **error)
{
	const guint8 *p = dec->buf + dec->start;
	gsize avail = dec->end - dec->start;

	if (dec->poison)
		return repeat_poison(dec, error);
	g_return_val_if_fail(dec->want_handshake, NET_WIRE_ERROR);
	if (avail == 0)
		return NET_WIRE_NEED_MORE;
	if (check_protocol(dec, p, avail, error) == NET_WIRE_ERROR)
		return NET_WIRE_ERROR;
	if (avail < NET_WIRE_HANDSHAKE_LEN)
		return NET_WIRE_NEED_MORE;
	p += PROTOCOL_PREFIX_LEN;
	memcpy(hs->reserved, p, sizeof(hs->reserved));
	p += sizeof(hs->reserved);
	memcpy(hs->info_hash, p, sizeof(hs->info_hash));
	p += sizeof(hs->info_hash);
	memcpy(hs->peer_id, p, sizeof(hs->peer_id));
	dec->start += NET_WIRE_HANDSHAKE_LEN;
	dec->want_handshake = FALSE;
	return NET_WIRE_MESSAGE;
}

/* Decoder: frame headers, checked before a body is waited for. */

static guint32 bitfield_frame_len(const NetWireDecoder *dec)
{
	/* Not (count + 7) / 8: that wraps for counts near 2^32. */
	return 1 + dec->piece_count / 8 + (dec->piece_count % 8 != 0);
}

/* No frame we accept is longer: lets a 4 GiB length prefix fail
 * before even its id byte arrives. */
static guint32 max_frame_len(const NetWireDecoder *dec)
{
	guint32 max = 1 + PIECE_PREFIX_LEN + NET_WIRE_BLOCK_SIZE;

	max = MAX(max, 2 + NET_WIRE_MAX_EXTENDED);
	max = MAX(max, NET_WIRE_MAX_UNKNOWN);
	if (dec->piece_count > 0)
		max = MAX(max, bitfield_frame_len(dec));
	return max;
}

/* Before the id byte arrives; check_header gives a more precise
 * error once it has. */
static NetWireResult check_frame_len(NetWireDecoder *dec, guint32 len,
				     GError **error)
{
	if (len <= max_frame_len(dec))
		return NET_WIRE_NEED_MORE;
	return fail(dec, error,
		    "Peer sent a frame of %u bytes; no message we accept is "
		    "longer than %u",
		    len, max_frame_len(dec));
}

static NetWireResult check_exact_len(NetWireDecoder *dec, guint8 id,
				     guint32 len, guint32 want, GError **error)
{
	if (len == want)
		return NET_WIRE_MESSAGE;
	return fail(dec, error,
		    "Peer sent %s message of %u bytes; it must be %u",
		    type_name(id), len, want);
}

static NetWireResult check_bitfield_len(NetWireDecoder *dec, guint32 len,
					GError **error)
{
	if (dec->piece_count == 0)
		return fail(dec, error,
			    "Peer sent a bitfield before the number of pieces "
			    "was known");
	if (len != bitfield_frame_len(dec))
		return fail(dec, error,
			    "Peer sent a bitfield message of %u bytes; for %u "
			    "pieces it must be %u",
			    len, dec->piece_count, bitfield_frame_len(dec));
	return NET_WIRE_MESSAGE;
}

static NetWireResult check_piece_len(NetWireDecoder *dec, guint32 len,
				     GError **error)
{
	if (len <= 1 + PIECE_PREFIX_LEN)
		return fail(dec, error,
			    "Peer sent a piece message of %u bytes, which "
			    "holds no block",
			    len);
	if (len - 1 - PIECE_PREFIX_LEN > NET_WIRE_BLOCK_SIZE)
		return fail(dec, error,
			    "Peer sent a block of %u bytes; the limit is %u",
			    len - 1 - PIECE_PREFIX_LEN, NET_WIRE_BLOCK_SIZE);
	return NET_WIRE_MESSAGE;
}

static NetWireResult check_extended_len(NetWireDecoder *dec, guint32 len,
					GError **error)
{
	if (len < 2)
		return fail(dec, error,
			    "Peer sent an extended message without an "
			    "extension id");
	if (len - 2 > NET_WIRE_MAX_EXTENDED)
		return fail(dec, error,
			    "Peer sent an extended message of %u bytes; the "
			    "limit is %u",
			    len - 2, NET_WIRE_MAX_EXTENDED);
	return NET_WIRE_MESSAGE;
}

static NetWireResult check_unknown_len(NetWireDecoder *dec, guint8 id,
				       guint32 len, GError **error)
{
	if (len <= NET_WIRE_MAX_UNKNOWN)
		return NET_WIRE_MESSAGE;
	return fail(dec, error,
		    "Peer sent a message of unknown id %u and %u bytes; "
		    "unknown messages are skipped only up to %u bytes",
		    id, len, NET_WIRE_MAX_UNKNOWN);
}

/* @len counts the id byte, as the length prefix does. */
static NetWireResult check_header(NetWireDecoder *dec, guint8 id, guint32 len,
				  GError **error)
{
	switch (id) {
	case NET_WIRE_CHOKE:
	case NET_WIRE_UNCHOKE:
	case NET_WIRE_INTERESTED:
	case NET_WIRE_NOT_INTERESTED:
		return check_exact_len(dec, id, len, 1, error);
	case NET_WIRE_HAVE:
		return check_exact_len(dec, id, len, 5, error);
	case NET_WIRE_REQUEST:
	case NET_WIRE_CANCEL:
		return check_exact_len(dec, id, len, 13, error);
	case NET_WIRE_BITFIELD:
		return check_bitfield_len(dec, len, error);
	case NET_WIRE_PIECE:
		return check_piece_len(dec, len, error);
	case NET_WIRE_EXTENDED:
		return check_extended_len(dec, len, error);
	default:
		return check_unknown_len(dec, id, len, error);
	}
}

/* Decoder: bodies, whole and at most a few KiB by now. */

static NetWireResult check_index(NetWireDecoder *dec, guint8 id, guint32 index,
				 GError **error)
{
	if (dec->piece_count == 0 || index < dec->piece_count)
		return NET_WIRE_MESSAGE;
	return fail(dec, error,
		    "Peer sent %s message for piece %u; the torrent has %u "
		    "pieces",
		    type_name(id), index, dec->piece_count);
}

static NetWireResult check_span(NetWireDecoder *dec, guint8 id, guint32 begin,
				guint64 length, GError **error)
{
	if (begin + length <= (guint64)G_MAXUINT32 + 1)
		return NET_WIRE_MESSAGE;
	return fail(dec, error,
		    "Peer sent %s message for %" G_GUINT64_FORMAT
		    " bytes at offset %u, which ends past 4 GiB",
		    type_name(id), length, begin);
}

/* The block of @length bytes that a request, cancel or piece names
 * must lie in a piece that exists and below 4 GiB. */
static NetWireResult check_block(NetWireDecoder *dec, const NetWireMsg *msg,
				 guint64 length, GError **error)
{
	if (check_index(dec, msg->type, msg->index, error) == NET_WIRE_ERROR)
		return NET_WIRE_ERROR;
	return check_span(dec, msg->type, msg->begin, length, error);
}

static NetWireResult decode_request(NetWireDecoder *dec, const guint8 *body,
				    NetWireMsg *msg, GError **error)
{
	msg->index = read_u32(body);
	msg->begin = read_u32(body + 4);
	msg->length = read_u32(body + 8);
	if (msg->length == 0 || msg->length > NET_WIRE_BLOCK_SIZE)
		return fail(dec, error,
			    "Peer sent %s for %u bytes; blocks are 1 to %u "
			    "bytes",
			    type_name(msg->type), msg->length,
			    NET_WIRE_BLOCK_SIZE);
	return check_block(dec, msg, msg->length, error);
}

static NetWireResult decode_piece(NetWireDecoder *dec, const guint8 *body,
				  gsize body_len, NetWireMsg *msg,
				  GError **error)
{
	msg->index = read_u32(body);
	msg->begin = read_u32(body + 4);
	msg->data = body + PIECE_PREFIX_LEN;
	msg->data_len = body_len - PIECE_PREFIX_LEN;
	return check_block(dec, msg, msg->data_len, error);
}

static NetWireResult decode_bitfield(NetWireDecoder *dec, const guint8 *body,
				     gsize body_len, NetWireMsg *msg,
				     GError **error)
{
	guint spare = (8 - dec->piece_count % 8) % 8;

	msg->data = body;
	msg->data_len = body_len;
	if ((body[body_len - 1] & ((1u << spare) - 1)) == 0)
		return NET_WIRE_MESSAGE;
	return fail(dec, error,
		    "Peer sent a bitfield with bits set past its last piece "
		    "(%u)",
		    dec->piece_count - 1);
}

/* Fills @msg from a whole frame whose header check_header accepted. */
static NetWireResult decode_body(NetWireDecoder *dec, guint8 id,
				 const guint8 *body, gsize body_len,
				 NetWireMsg *msg, GError **error)
{
	memset(msg, 0, sizeof(*msg));
	msg->type = id;
	switch (id) {
	case NET_WIRE_HAVE:
		msg->index = read_u32(body);
		return check_index(dec, id, msg->index, error);
	case NET_WIRE_BITFIELD:
		return decode_bitfield(dec, body, body_len, msg, error);
	case NET_WIRE_REQUEST:
	case NET_WIRE_CANCEL:
		return decode_request(dec, body, msg, error);
	case NET_WIRE_PIECE:
		return decode_piece(dec, body, body_len, msg, error);
	case NET_WIRE_EXTENDED:
		msg->ext_id = body[0];
		msg->data = body + 1;
		msg->data_len = body_len - 1;
		return NET_WIRE_MESSAGE;
	default:
		return NET_WIRE_MESSAGE; /* choke .. not interested */
	}
}

static gboolean is_known(guint8 id)
{
	return id <= NET_WIRE_CANCEL || id == NET_WIRE_EXTENDED;
}

static NetWireResult keepalive(NetWireDecoder *dec, NetWireMsg *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->type = NET_WIRE_KEEPALIVE;
	dec->start += 4;
	return NET_WIRE_MESSAGE;
}

/* Decodes the next message, skipping those of unknown id. The header
 * of each frame is checked as soon as it arrives, so a frame we would
 * refuse is never waited for, let alone buffered whole. */
NetWireResult net_wire_decoder_next(NetWireDecoder *dec, NetWireMsg *msg,
				    GError **error)
{
	if (dec->poison)
		return repeat_poison(dec, error);
	g_return_val_if_fail(!dec->want_handshake, NET_WIRE_ERROR);
	reclaim(dec);
	for (;;) {
		const guint8 *p = dec->buf + dec->start;
		gsize avail = dec->end - dec->start;
		guint32 len;

		if (avail < 4)
			return NET_WIRE_NEED_MORE;
		len = read_u32(p);
		if (len == 0)
			return keepalive(dec, msg);
		if (avail < FRAME_HEADER_LEN)
			return check_frame_len(dec, len, error);
		if (check_header(dec, p[4], len, error) == NET_WIRE_ERROR)
			return NET_WIRE_ERROR;
		if (avail - 4 < len)
			return NET_WIRE_NEED_MORE;
		dec->start += 4 + (gsize)len;
		if (is_known(p[4]))
			return decode_body(dec, p[4], p + FRAME_HEADER_LEN,
					   len - 1, msg, error);
	}
}
