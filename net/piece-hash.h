/*
 * piece-hash: the SHA-1 of BitTorrent pieces (OpenSSL EVP), over a
 * whole file in parallel, or over one piece in memory.
 *
 * Owns: its worker threads and their read buffers, for the duration of
 * one call. Must not: hold a file in memory (each worker reads its
 * piece through a bounded buffer, so memory does not grow with the
 * file or the piece length), nor know anything of metainfo or bencode.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NET_PIECE_HASH_SIZE 20u

/* The number of pieces of @piece_length bytes (the last one possibly
 * shorter) that cover @length bytes: 0 for an empty file. */
guint64 net_piece_hash_count(guint64 length, guint32 piece_length);

/* Hashes the first @length bytes of @fd as pieces of @piece_length
 * bytes, spread over all cores; reads with pread, so the file offset
 * of @fd is left alone. Writes 20 bytes per piece to @hashes_out,
 * which must hold NET_PIECE_HASH_SIZE * net_piece_hash_count(...).
 * Fails (G_IO_ERROR) when a read fails or the file is shorter than
 * @length. */
gboolean net_piece_hash_file(int fd, guint64 length, guint32 piece_length,
			     guint8 *hashes_out, GError **error);

/* The SHA-1 of @len bytes at @data. */
void net_piece_hash_compute(const void *data, gsize len,
			    guint8 out[NET_PIECE_HASH_SIZE]);

/* TRUE when the SHA-1 of @len bytes at @data is @expected. */
gboolean net_piece_hash_verify(const void *data, gsize len,
			       const guint8 expected[NET_PIECE_HASH_SIZE]);

G_END_DECLS
