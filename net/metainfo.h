/*
 * metainfo: BitTorrent v1 single-file metainfo (BEP 3): building the
 * info dictionary of a file, the info-hash, .torrent files, and the
 * validation of metainfo that came from elsewhere.
 *
 * Owns: a parsed or built torrent's fields and its info bytes. Must
 * not: trust its input. Every name, length and count from a .torrent,
 * a tracker or a peer is checked here before anyone else sees it; a
 * NetMetainfo that exists is valid.
 *
 * Only single-file torrents: a groupfs file is one torrent.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NET_METAINFO_DEFAULT_PIECE_LENGTH (512u * 1024u)
#define NET_METAINFO_TARGET_PIECES 4096u
#define NET_METAINFO_MIN_PIECE_LENGTH (16u * 1024u)
#define NET_METAINFO_MAX_PIECE_LENGTH (64u * 1024u * 1024u)
#define NET_METAINFO_MAX_NAME 255u
#define NET_METAINFO_MAX_LENGTH (G_GUINT64_CONSTANT(1) << 50)
/* Bounds what a hostile .torrent can make us hold: 20 MiB of piece
 * hashes, a 64 TiB file at the largest piece length. */
#define NET_METAINFO_MAX_PIECES (1u << 20)
#define NET_METAINFO_MAX_TORRENT_SIZE (24u * 1024u * 1024u)
#define NET_METAINFO_MAX_ANNOUNCE 4096u

typedef struct _NetMetainfo NetMetainfo;

/* 512 KiB, doubled while @length would need more than 4096 pieces. */
guint32 net_metainfo_choose_piece_length(guint64 length);

/* A power of two from NET_METAINFO_MIN_PIECE_LENGTH to _MAX_. */
gboolean net_metainfo_piece_length_is_valid(guint64 piece_length);

/* A single safe path component: not empty, not "." or "..", no "/",
 * no NUL, no control characters, valid UTF-8, at most 255 bytes. */
gboolean net_metainfo_name_is_safe(const char *name, gsize len);

/* Hashes the file at @path (pieces spread over all cores). @name
 * defaults to the basename; @piece_length 0 means the default rule.
 * Fails with G_IO_ERROR when the file cannot be read, NET_ERROR_METAINFO
 * when the name, piece length or size cannot make a valid torrent. */
NetMetainfo *net_metainfo_new_from_file(const char *path, const char *name,
					guint32 piece_length, GError **error);

/* Validates untrusted input: a bencoded info dictionary, or a whole
 * .torrent (whose "announce" is kept). Keeps a reference to the info
 * bytes. Fails with NET_ERROR_METAINFO, or the parser's error for
 * bytes that are not bencode; _load also with G_IO_ERROR. */
NetMetainfo *net_metainfo_new_from_info(GBytes *info, GError **error);
NetMetainfo *net_metainfo_new_from_torrent(GBytes *torrent, GError **error);
NetMetainfo *net_metainfo_load(const char *path, GError **error);

void net_metainfo_free(NetMetainfo *mi);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetMetainfo, net_metainfo_free)

/* A .torrent: announce (when not NULL; at most
 * NET_METAINFO_MAX_ANNOUNCE bytes of UTF-8), creation date, info. */
GBytes *net_metainfo_to_torrent(const NetMetainfo *mi, const char *announce);
gboolean net_metainfo_save(const NetMetainfo *mi, const char *path,
			   const char *announce, GError **error);

/* The info dictionary exactly as parsed or built; borrowed from @mi. */
GBytes *net_metainfo_get_info(const NetMetainfo *mi);
const guint8 *net_metainfo_get_info_hash(const NetMetainfo *mi); /* 20 */
char *net_metainfo_dup_info_hash_hex(const NetMetainfo *mi); /* 40 */
const char *net_metainfo_get_name(const NetMetainfo *mi);
const char *net_metainfo_get_announce(const NetMetainfo *mi); /* or NULL */
guint64 net_metainfo_get_length(const NetMetainfo *mi);
guint32 net_metainfo_get_piece_length(const NetMetainfo *mi);
guint32 net_metainfo_get_piece_count(const NetMetainfo *mi);
/* Bytes in piece @index: the piece length, or less for the last. */
guint32 net_metainfo_get_piece_size(const NetMetainfo *mi, guint32 index);
const guint8 *net_metainfo_get_piece_hash(const NetMetainfo *mi,
					  guint32 index); /* 20 bytes */

G_END_DECLS
