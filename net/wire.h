/*
 * wire: the BitTorrent v1 peer protocol (BEP 3 messages, BEP 10's
 * extended message) as a pure codec over byte buffers.
 *
 * Owns: the decoder's input buffer. Must not: touch sockets, keep
 * per-peer state beyond framing, or decide anything (choking,
 * requesting, banning): it reports what arrived, the caller decides.
 *
 * The decoder accepts input in fragments of any size and never
 * allocates what a peer merely claims: a frame header is checked
 * against the limits below before its body is buffered.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NET_WIRE_PROTOCOL "BitTorrent protocol"
#define NET_WIRE_HANDSHAKE_LEN 68
#define NET_WIRE_BLOCK_SIZE 16384
/* Payload bytes (after the extension id) of an extended message we
 * accept: BEP 9 metadata blocks are 16 KiB plus a small dict. */
#define NET_WIRE_MAX_EXTENDED (NET_WIRE_BLOCK_SIZE + 4096)
/* BEP 3 says to ignore messages of unknown id. Those of the extensions
 * we do not speak (BEP 5 port, BEP 6 fast) are a few bytes long, so we
 * skip a frame of unknown id up to this length and refuse a longer one
 * rather than read megabytes we would throw away. */
#define NET_WIRE_MAX_UNKNOWN 256
/* reserved[5] bit that announces BEP 10 support. */
#define NET_WIRE_RESERVED_EXTENSION_BYTE 5
#define NET_WIRE_RESERVED_EXTENSION_BIT 0x10

typedef enum {
	NET_WIRE_CHOKE = 0,
	NET_WIRE_UNCHOKE = 1,
	NET_WIRE_INTERESTED = 2,
	NET_WIRE_NOT_INTERESTED = 3,
	NET_WIRE_HAVE = 4,
	NET_WIRE_BITFIELD = 5,
	NET_WIRE_REQUEST = 6,
	NET_WIRE_PIECE = 7,
	NET_WIRE_CANCEL = 8,
	NET_WIRE_EXTENDED = 20,
	/* Not an id on the wire: a zero-length frame. */
	NET_WIRE_KEEPALIVE = 256,
} NetWireType;

typedef struct {
	guint8 reserved[8];
	guint8 info_hash[20];
	guint8 peer_id[20];
} NetWireHandshake;

typedef struct {
	NetWireType type;
	guint32 index; /* have, request, piece, cancel */
	guint32 begin; /* request, piece, cancel */
	guint32 length; /* request, cancel */
	guint8 ext_id; /* extended */
	/* bitfield bytes, piece block, or extended payload after ext_id.
	 * Borrowed from the decoder: valid until its next call. Fields a
	 * type does not use are zero. */
	const guint8 *data;
	gsize data_len;
} NetWireMsg;

typedef enum {
	NET_WIRE_NEED_MORE,
	NET_WIRE_MESSAGE,
	NET_WIRE_ERROR,
} NetWireResult;

/* Encoders append one complete frame to @out. */
void net_wire_encode_handshake(GByteArray *out, const NetWireHandshake *hs);
void net_wire_encode_keepalive(GByteArray *out);
/* choke, unchoke, interested, not interested */
void net_wire_encode_simple(GByteArray *out, NetWireType type);
void net_wire_encode_have(GByteArray *out, guint32 index);
void net_wire_encode_bitfield(GByteArray *out, const guint8 *bits, gsize len);
void net_wire_encode_request(GByteArray *out, guint32 index, guint32 begin,
			     guint32 length);
void net_wire_encode_cancel(GByteArray *out, guint32 index, guint32 begin,
			    guint32 length);
void net_wire_encode_piece(GByteArray *out, guint32 index, guint32 begin,
			   const guint8 *block, gsize len);
/* Only the 13-byte header of a piece message whose @len block bytes the
 * caller sends itself (from the page cache, without a copy). */
void net_wire_encode_piece_header(GByteArray *out, guint32 index, guint32 begin,
				  gsize len);
void net_wire_encode_extended(GByteArray *out, guint8 ext_id,
			      const guint8 *payload, gsize len);
/* The frame that decodes to @msg, whatever its type. */
void net_wire_encode_msg(GByteArray *out, const NetWireMsg *msg);

typedef struct _NetWireDecoder NetWireDecoder;

/* @piece_count bounds have/request/piece/cancel indices and fixes the
 * bitfield length; 0 means unknown (indices are then not checked and
 * bitfields are refused). When @expect_handshake, the first 68 bytes
 * must be read with net_wire_decoder_next_handshake. */
NetWireDecoder *net_wire_decoder_new(guint32 piece_count,
				     gboolean expect_handshake);
void net_wire_decoder_free(NetWireDecoder *dec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetWireDecoder, net_wire_decoder_free)

void net_wire_decoder_set_piece_count(NetWireDecoder *dec, guint32 piece_count);
void net_wire_decoder_feed(NetWireDecoder *dec, const guint8 *data, gsize len);
/* Bytes buffered but not yet decoded. */
gsize net_wire_decoder_pending(const NetWireDecoder *dec);

NetWireResult net_wire_decoder_next_handshake(NetWireDecoder *dec,
					      NetWireHandshake *hs,
					      GError **error);
/* Decodes the next message. Frames of unknown id up to
 * NET_WIRE_MAX_UNKNOWN bytes are skipped, as BEP 3 asks; the block a
 * request, cancel or piece names must be 1 to NET_WIRE_BLOCK_SIZE
 * bytes and end within 4 GiB.
 * After NET_WIRE_ERROR (NET_ERROR_PROTOCOL) the decoder is poisoned:
 * every later call fails too, input fed to it is dropped, and the
 * caller closes the connection. */
NetWireResult net_wire_decoder_next(NetWireDecoder *dec, NetWireMsg *msg,
				    GError **error);

G_END_DECLS
