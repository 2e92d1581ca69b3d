#include "bitfield.h"

#include <string.h>

#include "net-error.h"

struct _NetBitfield {
	guint32 nbits;
	guint32 count; /* bits set, kept in step with every change */
	guint8 bytes[]; /* ceil(nbits / 8), spare bits always zero */
};

static gsize byte_length(guint32 nbits)
{
	return ((gsize)nbits + 7) / 8;
}

static guint8 bit_mask(guint32 i)
{
	return (guint8)(0x80u >> (i % 8));
}

/* The bits of the last byte that lie past @nbits; 0 when it is full. */
static guint8 spare_mask(guint32 nbits)
{
	return nbits % 8 ? (guint8)(0xffu >> (nbits % 8)) : 0;
}

static guint32 popcount(const guint8 *bytes, gsize len)
{
	guint32 n = 0;
	gsize i = 0;

	for (; i + 8 <= len; i += 8) {
		guint64 word;

		memcpy(&word, bytes + i, sizeof(word));
		n += (guint32)__builtin_popcountll(word);
	}
	for (; i < len; i++)
		n += (guint32)__builtin_popcount(bytes[i]);
	return n;
}

/* A bitfield of @nbits bits, all clear. */
NetBitfield *net_bitfield_new(guint32 nbits)
{
	NetBitfield *bf = g_malloc0(sizeof(*bf) + byte_length(nbits));

	bf->nbits = nbits;
	return bf;
}

/* An independent copy of @bf. */
NetBitfield *net_bitfield_copy(const NetBitfield *bf)
{
	return g_memdup2(bf, sizeof(*bf) + byte_length(bf->nbits));
}

/* Frees @bf; NULL is allowed. */
void net_bitfield_free(NetBitfield *bf)
{
	g_free(bf);
}

/* The number of bits, as given to net_bitfield_new. */
guint32 net_bitfield_size(const NetBitfield *bf)
{
	return bf->nbits;
}

/* Whether bit @i is set; @i must be below the size. */
gboolean net_bitfield_get(const NetBitfield *bf, guint32 i)
{
	g_return_val_if_fail(i < bf->nbits, FALSE);
	return (bf->bytes[i / 8] & bit_mask(i)) != 0;
}

/* Sets bit @i (below the size); setting a set bit changes nothing. */
void net_bitfield_set(NetBitfield *bf, guint32 i)
{
	guint8 *byte;

	g_return_if_fail(i < bf->nbits);
	byte = &bf->bytes[i / 8];
	if (!(*byte & bit_mask(i))) {
		*byte |= bit_mask(i);
		bf->count++;
	}
}

/* Clears bit @i (below the size); clearing a clear bit changes nothing. */
void net_bitfield_clear(NetBitfield *bf, guint32 i)
{
	guint8 *byte;

	g_return_if_fail(i < bf->nbits);
	byte = &bf->bytes[i / 8];
	if (*byte & bit_mask(i)) {
		*byte &= (guint8)~bit_mask(i);
		bf->count--;
	}
}

/* Sets every bit, leaving the spare bits clear. */
void net_bitfield_set_all(NetBitfield *bf)
{
	gsize len = byte_length(bf->nbits);

	memset(bf->bytes, 0xff, len);
	if (len > 0)
		bf->bytes[len - 1] &= (guint8)~spare_mask(bf->nbits);
	bf->count = bf->nbits;
}

/* Clears every bit. */
void net_bitfield_clear_all(NetBitfield *bf)
{
	memset(bf->bytes, 0, byte_length(bf->nbits));
	bf->count = 0;
}

guint32 net_bitfield_count(const NetBitfield *bf)
{
	return bf->count;
}

/* Whether every bit is set (true for an empty bitfield). */
gboolean net_bitfield_is_complete(const NetBitfield *bf)
{
	return bf->count == bf->nbits;
}

gsize net_bitfield_byte_length(const NetBitfield *bf)
{
	return byte_length(bf->nbits);
}

/* The bits in BEP 3 order, borrowed: valid until @bf changes or is freed. */
const guint8 *net_bitfield_bytes(const NetBitfield *bf)
{
	return bf->bytes;
}

gboolean net_bitfield_set_bytes(NetBitfield *bf, const guint8 *bytes, gsize len,
				GError **error)
{
	gsize want = byte_length(bf->nbits);

	if (len != want) {
		g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
			    "A bitfield of %u pieces takes %" G_GSIZE_FORMAT
			    " bytes, not %" G_GSIZE_FORMAT,
			    bf->nbits, want, len);
		return FALSE;
	}
	if (len > 0 && (bytes[len - 1] & spare_mask(bf->nbits))) {
		g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
			    "A bitfield of %u pieces has bits set past its "
			    "last piece",
			    bf->nbits);
		return FALSE;
	}
	if (len > 0) /* @bytes may be NULL then */
		memcpy(bf->bytes, bytes, len);
	bf->count = popcount(bytes, len);
	return TRUE;
}
