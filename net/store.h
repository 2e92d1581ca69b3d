/*
 * store: one torrent's bytes on disk, keyed by info-hash, in a folder
 * that the caller chooses (the cache for downloads, the data folder for
 * seed copies). Two files per torrent:
 *
 *   <hex>.data    the file's bytes, sparse, at full length from the start
 *   <hex>.bitmap  the pieces that passed SHA-1, in BEP 3 bit order, behind
 *                 a header (magic, version, geometry, info-hash, the data
 *                 file's mtime) and followed by a SHA-1 of all of it
 *
 * Owns: both files, which 16 KiB blocks of unfinished pieces have been
 * written, and which pieces are verified. Must not: decide what to fetch
 * or what to evict (picker and engine do), hold piece data in memory
 * (a piece is hashed by reading it back in small chunks, so memory stays
 * the same whatever the piece length), or let a byte of an unverified
 * piece out through net_store_read.
 *
 * Durability. A piece is verified in memory, and may be served, as soon
 * as its hash matches. It is claimed in the bitmap file only by
 * net_store_sync, which snapshots the verified set, fdatasyncs the data
 * file, and then writes the bitmap to a temporary file, fsyncs it,
 * renames it over the old one and fsyncs the folder. So the bitmap never
 * claims a piece whose data was not durable first. The engine calls
 * net_store_sync on a timer (say once a second) and before
 * net_store_free; the cost is one fdatasync and one small file write per
 * call instead of per piece, and a crash loses at most the pieces
 * verified since the last sync (they are fetched again).
 *
 * Trust on reopen. The bitmap is used only if its checksum, magic,
 * version, geometry and info-hash match and the data file's mtime is the
 * one recorded at the last sync. Otherwise (a torn or foreign bitmap,
 * a crash after blocks were written, a data file changed by someone
 * else) nothing is trusted: every piece that has data on disk is hashed
 * again (holes are skipped with SEEK_DATA) and only those that pass are
 * verified.
 *
 * Threads. Functions marked "blocking" do disk I/O or hashing: call them
 * from a worker thread, never from the engine's main loop. All functions
 * may be called from any thread at once; the queries take a short lock
 * and never touch the disk.
 */
#pragma once

#include <glib.h>

#include "bitfield.h"

G_BEGIN_DECLS

/* The unit of write_block: BEP 3's customary 16 KiB request. */
#define NET_STORE_BLOCK_SIZE (16u * 1024u)

typedef struct _NetStore NetStore;

/* What one net_store_write_block did. */
typedef enum {
	/* Written; the piece still lacks other blocks. */
	NET_STORE_WRITE_STORED,
	/* Ignored: the block was already written, is being written by
	 * another thread, or its piece is verified (end game duplicates). */
	NET_STORE_WRITE_DUPLICATE,
	/* The last block of a piece whose hash matched: announce it. */
	NET_STORE_WRITE_PIECE_VERIFIED,
} NetStoreWrite;

/* Blocking. Opens or creates the store of @info_hash in @dir (created
 * 0700 if missing). @piece_hashes holds 20 bytes per piece, in order;
 * the store keeps a reference. Loads the bitmap if it can be trusted
 * (see above), otherwise re-verifies what is on disk; the pieces found
 * that way are claimed on disk by the next net_store_sync. */
NetStore *net_store_open(const char *dir, const guint8 info_hash[20],
			 guint32 piece_length, guint64 length,
			 GBytes *piece_hashes, GError **error);

/* Blocking. Makes a complete seed copy of @source_path in @dir and opens
 * it. The copy is a reflink where the filesystem can (btrfs, XFS), a
 * kernel copy otherwise; it is what gets served, so a file changed
 * after publishing cannot change what peers receive. Every piece of the
 * copy is then hashed; a piece that does not match fails with
 * NET_ERROR_HASH_MISMATCH and leaves no files behind. */
NetStore *net_store_import(const char *dir, const guint8 info_hash[20],
			   guint32 piece_length, guint64 length,
			   GBytes *piece_hashes, const char *source_path,
			   GError **error);

/* Blocking. Makes the file at @source_path the data file of a complete
 * store in @dir without copying or hashing it: it is hard-linked in (so
 * it must be on @dir's filesystem, e.g. in a folder inside @dir; the
 * source's own name stays, for the caller to remove) and every piece
 * is taken as verified. The caller guarantees that @piece_hashes were
 * computed over exactly the bytes the file holds, and that nothing
 * writes it from now on: it is served as it is. The bitmap claims the
 * pieces at the next net_store_sync, as for pieces fetched from peers;
 * a crash before that only costs a rescan. Fails with
 * G_IO_ERROR_INVALID_DATA when the file is not @length bytes long. */
NetStore *net_store_adopt(const char *dir, const guint8 info_hash[20],
			  guint32 piece_length, guint64 length,
			  GBytes *piece_hashes, const char *source_path,
			  GError **error);

/* Blocking. Copies the whole data file into @fd, a new empty file open
 * for writing: a reflink where the filesystem can, a kernel copy
 * otherwise. Does not sync @fd. For a complete store: holes of missing
 * pieces would be copied as zeros. */
gboolean net_store_copy_to(NetStore *store, int fd, GError **error);

/* Closes the files. Does no I/O: call net_store_sync first, or the
 * pieces verified since the last sync are fetched again next time.
 * No other call on @store may be in flight. */
void net_store_free(NetStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetStore, net_store_free)

/* Blocking. Deletes the files of @info_hash in @dir; missing files are
 * not an error. The store must not be open. */
gboolean net_store_unlink(const char *dir, const guint8 info_hash[20],
			  GError **error);

/* Blocking. Writes one block that a peer sent. @begin must be a
 * multiple of NET_STORE_BLOCK_SIZE and @len the block's exact size
 * (smaller only at the end of the last piece), else NET_ERROR_PROTOCOL.
 * When this block completes its piece, the piece is read back and
 * hashed: on a match *@outcome is NET_STORE_WRITE_PIECE_VERIFIED; on a
 * mismatch every block of the piece is discarded and the call fails
 * with NET_ERROR_HASH_MISMATCH, naming the piece, so the caller can
 * blame the peers that sent it and fetch it again. A write error (a full
 * disk: G_IO_ERROR_NO_SPACE) leaves the block missing and nothing
 * else changed. */
gboolean net_store_write_block(NetStore *store, guint32 piece, guint32 begin,
			       const guint8 *data, gsize len,
			       NetStoreWrite *outcome, GError **error);

/* Blocking. Makes the bitmap on disk claim every piece verified before
 * the call (see "Durability"). If the data file cannot be flushed, the
 * pieces verified since the last sync are forgotten (their pages may be
 * lost) and the error says so. */
gboolean net_store_sync(NetStore *store, GError **error);

/* Blocking. Copies @len bytes at @begin of verified @piece into @buf.
 * Fails with NET_ERROR_PROTOCOL if the piece is not verified or the
 * range is outside it. */
gboolean net_store_read(NetStore *store, guint32 piece, guint32 begin,
			guint8 *buf, gsize len, GError **error);

/* Blocking. Forgets @n_pieces pieces to make room in the cache: they
 * stop being verified, the bitmap is rewritten without them, and only
 * then are their bytes released (a hole is punched), so a crash in
 * between never leaves the bitmap claiming a hole. Pieces that are not
 * verified are skipped. The caller makes sure nobody is reading them. */
gboolean net_store_evict(NetStore *store, const guint32 *pieces, guint n_pieces,
			 GError **error);

/* Blocking. Hashes verified @piece again from disk; if it no longer
 * matches it is dropped (and the bitmap rewritten) and the call fails
 * with NET_ERROR_HASH_MISMATCH. For a caller that suspects the file was
 * changed under it. An unverified piece passes trivially. */
gboolean net_store_verify_piece(NetStore *store, guint32 piece, GError **error);

/* Blocking. Hashes every piece with data on disk again, keeps those that
 * match and drops the others, then syncs. No block writes may be in
 * flight. */
gboolean net_store_verify_all(NetStore *store, GError **error);

/* Cheap queries; safe from any thread. */
gboolean net_store_has_piece(NetStore *store, guint32 piece);
guint32 net_store_verified_count(NetStore *store);
gboolean net_store_is_complete(NetStore *store);
/* A copy of the verified set, e.g. for a bitfield message. */
NetBitfield *net_store_dup_verified(NetStore *store);
/* Bytes of verified pieces: what the store costs the cache. */
guint64 net_store_verified_bytes(NetStore *store);
/* Whether net_store_sync has anything to do. */
gboolean net_store_needs_sync(NetStore *store);
/* Pieces the bitmap file claims now: what a reopen will find verified
 * if it trusts the bitmap. */
guint32 net_store_durable_count(NetStore *store);

guint32 net_store_get_piece_count(const NetStore *store);
guint32 net_store_get_piece_length(const NetStore *store);
guint64 net_store_get_length(const NetStore *store);
/* Bytes in @piece: the piece length, or less for the last one. */
guint32 net_store_get_piece_size(const NetStore *store, guint32 piece);
/* The data file, open read-write, valid until net_store_free: for
 * splicing verified ranges straight to FUSE. Never write through it. */
int net_store_get_data_fd(const NetStore *store);

G_END_DECLS
