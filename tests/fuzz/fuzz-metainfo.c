/*
 * fuzz-metainfo: arbitrary bytes as a .torrent. Nothing may crash or
 * leak; a failure must say why; and whatever is accepted must hold the
 * invariants that the rest of groupfs relies on without checking.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "metainfo.h"
#include "piece-hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pieces(const NetMetainfo *mi)
{
	guint64 length = net_metainfo_get_length(mi);
	guint32 piece_length = net_metainfo_get_piece_length(mi);
	guint32 count = net_metainfo_get_piece_count(mi);
	guint64 covered = 0;

	g_assert_true(net_metainfo_piece_length_is_valid(piece_length));
	g_assert_cmpuint(count, ==, net_piece_hash_count(length, piece_length));
	g_assert_cmpuint(count, <=, NET_METAINFO_MAX_PIECES);
	if (count == 0)
		return;
	covered = (guint64)(count - 1) * piece_length +
		  net_metainfo_get_piece_size(mi, count - 1);
	g_assert_cmpuint(covered, ==, length);
	g_assert_nonnull(net_metainfo_get_piece_hash(mi, count - 1));
}

static void check_hash(const NetMetainfo *mi)
{
	g_autofree char *hex = net_metainfo_dup_info_hash_hex(mi);
	gsize len;
	const guint8 *info = g_bytes_get_data(net_metainfo_get_info(mi), &len);
	guint8 expected[NET_PIECE_HASH_SIZE];

	g_assert_cmpuint(strlen(hex), ==, 40);
	g_assert_cmpuint(strspn(hex, "0123456789abcdef"), ==, 40);
	net_piece_hash_compute(info, len, expected);
	g_assert_cmpmem(net_metainfo_get_info_hash(mi), 20, expected, 20);
}

/* A torrent written from what was accepted reads back the same. */
static void check_roundtrip(const NetMetainfo *mi)
{
	g_autoptr(GBytes) torrent =
		net_metainfo_to_torrent(mi, net_metainfo_get_announce(mi));
	g_autoptr(NetMetainfo) back = NULL;
	g_autoptr(GError) error = NULL;

	back = net_metainfo_new_from_torrent(torrent, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(net_metainfo_get_info_hash(mi), 20,
			net_metainfo_get_info_hash(back), 20);
	g_assert_cmpstr(net_metainfo_get_name(mi), ==,
			net_metainfo_get_name(back));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) bytes = g_bytes_new(data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(NetMetainfo) mi =
		net_metainfo_new_from_torrent(bytes, &error);
	const char *name;

	if (!mi) {
		g_assert_nonnull(error);
		g_assert_cmpuint(strlen(error->message), >, 0);
		return 0;
	}
	g_assert_no_error(error);
	name = net_metainfo_get_name(mi);
	g_assert_true(net_metainfo_name_is_safe(name, strlen(name)));
	check_pieces(mi);
	check_hash(mi);
	check_roundtrip(mi);
	return 0;
}
