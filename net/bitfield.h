/*
 * bitfield: a fixed-size set of piece indices in BEP 3's byte order
 * (the high bit of the first byte is piece 0).
 *
 * Owns: its bits. Must not: know what the bits mean (have, want,
 * requested); that is the caller's policy. Bytes from a peer go through
 * net_bitfield_set_bytes, which refuses a wrong length or spare bits.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NetBitfield NetBitfield;

NetBitfield *net_bitfield_new(guint32 nbits);
NetBitfield *net_bitfield_copy(const NetBitfield *bf);
void net_bitfield_free(NetBitfield *bf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetBitfield, net_bitfield_free)

guint32 net_bitfield_size(const NetBitfield *bf);
gboolean net_bitfield_get(const NetBitfield *bf, guint32 i);
void net_bitfield_set(NetBitfield *bf, guint32 i);
void net_bitfield_clear(NetBitfield *bf, guint32 i);
void net_bitfield_set_all(NetBitfield *bf);
void net_bitfield_clear_all(NetBitfield *bf);
/* Number of bits set; kept up to date, so O(1). */
guint32 net_bitfield_count(const NetBitfield *bf);
gboolean net_bitfield_is_complete(const NetBitfield *bf);

/* ceil(nbits / 8) bytes, spare bits zero. */
gsize net_bitfield_byte_length(const NetBitfield *bf);
const guint8 *net_bitfield_bytes(const NetBitfield *bf);
/* Replaces all bits from a peer's or a file's bytes. Fails with
 * NET_ERROR_PROTOCOL and leaves @bf as it was when @len is not
 * net_bitfield_byte_length() or a spare bit is set. */
gboolean net_bitfield_set_bytes(NetBitfield *bf, const guint8 *bytes, gsize len,
				GError **error);

G_END_DECLS
