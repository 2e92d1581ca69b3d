/*
 * metainfo: every NetMetainfo, built or parsed, is made by one function,
 * metainfo_new_from_info_value, from a bencoded info dictionary; a
 * built one is encoded first and then parsed like anyone else's, so
 * there is a single place where a torrent is judged valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "config.h"
#include "bencode.h"
#include "metainfo.h"
#include "net-error.h"
#include "piece-hash.h"

struct _NetMetainfo {
	GBytes *info; /* the info dictionary, exactly as parsed */
	guint8 info_hash[NET_PIECE_HASH_SIZE];
	char *name;
	char *announce; /* or NULL */
	guint64 length;
	guint32 piece_length;
	guint32 piece_count;
	guint8 *pieces; /* NET_PIECE_HASH_SIZE * piece_count */
};

/* A .torrent holds the piece hashes of up to NET_METAINFO_MAX_PIECES
 * pieces in one string, and little else of size. */
static const NetBencodeLimits torrent_limits = {
	.max_depth = 32,
	.max_string = NET_PIECE_HASH_SIZE * NET_METAINFO_MAX_PIECES,
	.max_size = NET_METAINFO_MAX_TORRENT_SIZE,
	.max_items = 1u << 16,
};

static gboolean fail(GError **error, const char *format, ...)
	G_GNUC_PRINTF(2, 3);

/* Sets a NET_ERROR_METAINFO whose message starts "metainfo: ". */
static gboolean fail(GError **error, const char *format, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, format);
	msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_set_error(error, NET_ERROR, NET_ERROR_METAINFO, "metainfo: %s", msg);
	return FALSE;
}

static gboolean fail_piece_length(GError **error, gint64 piece_length)
{
	return fail(error,
		    "piece length %" G_GINT64_FORMAT
		    " is not a power of two from %u to %u",
		    piece_length, NET_METAINFO_MIN_PIECE_LENGTH,
		    NET_METAINFO_MAX_PIECE_LENGTH);
}

gboolean net_metainfo_piece_length_is_valid(guint64 piece_length)
{
	return piece_length >= NET_METAINFO_MIN_PIECE_LENGTH &&
	       piece_length <= NET_METAINFO_MAX_PIECE_LENGTH &&
	       (piece_length & (piece_length - 1)) == 0;
}

guint32 net_metainfo_choose_piece_length(guint64 length)
{
	guint32 piece_length = NET_METAINFO_DEFAULT_PIECE_LENGTH;

	while (piece_length < NET_METAINFO_MAX_PIECE_LENGTH &&
	       net_piece_hash_count(length, piece_length) >
		       NET_METAINFO_TARGET_PIECES)
		piece_length *= 2;
	return piece_length;
}

static gboolean has_control_character(const char *name, gsize len)
{
	for (const char *p = name; p < name + len; p = g_utf8_next_char(p)) {
		if (g_unichar_iscntrl(g_utf8_get_char(p)))
			return TRUE;
	}
	return FALSE;
}

gboolean net_metainfo_name_is_safe(const char *name, gsize len)
{
	if (len == 0 || len > NET_METAINFO_MAX_NAME)
		return FALSE;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return FALSE;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return FALSE;
	if (!g_utf8_validate_len(name, len, NULL))
		return FALSE;
	return !has_control_character(name, len);
}

void net_metainfo_free(NetMetainfo *mi)
{
	if (!mi)
		return;
	g_bytes_unref(mi->info);
	g_free(mi->name);
	g_free(mi->announce);
	g_free(mi->pieces);
	g_free(mi);
}

/*
 * Validation of the info dictionary, one field at a time. Each check
 * fills in @mi and names the field it rejects.
 */

static gboolean read_int(const NetBencode *dict, const char *key, gint64 *out,
			 GError **error)
{
	NetBencode *value = net_bencode_dict_lookup(dict, key);

	if (!value)
		return fail(error, "the info dictionary has no \"%s\"", key);
	if (!net_bencode_get_int(value, out))
		return fail(error, "\"%s\" is not an integer", key);
	return TRUE;
}

static gboolean check_length(NetMetainfo *mi, const NetBencode *info,
			     GError **error)
{
	gint64 length;

	if (!read_int(info, "length", &length, error))
		return FALSE;
	if (length < 0 || (guint64)length > NET_METAINFO_MAX_LENGTH)
		return fail(error,
			    "length %" G_GINT64_FORMAT
			    " is outside 0 to %" G_GUINT64_FORMAT,
			    length, NET_METAINFO_MAX_LENGTH);
	mi->length = (guint64)length;
	return TRUE;
}

static gboolean check_piece_length(NetMetainfo *mi, const NetBencode *info,
				   GError **error)
{
	gint64 piece_length;

	if (!read_int(info, "piece length", &piece_length, error))
		return FALSE;
	if (piece_length < 0 ||
	    !net_metainfo_piece_length_is_valid((guint64)piece_length))
		return fail_piece_length(error, piece_length);
	mi->piece_length = (guint32)piece_length;
	return TRUE;
}

static gboolean check_name(NetMetainfo *mi, const NetBencode *info,
			   GError **error)
{
	NetBencode *value = net_bencode_dict_lookup(info, "name");
	const guint8 *name;
	gsize len;

	if (!value)
		return fail(error, "the info dictionary has no \"name\"");
	name = net_bencode_get_string(value, &len);
	if (!name)
		return fail(error, "\"name\" is not a string");
	if (!net_metainfo_name_is_safe((const char *)name, len))
		return fail(
			error,
			"the name is not a safe file name (it must be one "
			"path component of valid UTF-8, without '/', "
			"control characters, \".\" or \"..\", at most %u bytes)",
			NET_METAINFO_MAX_NAME);
	mi->name = g_strndup((const char *)name, len);
	return TRUE;
}

/* Needs mi->length and mi->piece_length. */
static gboolean check_pieces(NetMetainfo *mi, const NetBencode *info,
			     GError **error)
{
	NetBencode *value = net_bencode_dict_lookup(info, "pieces");
	guint64 expected = net_piece_hash_count(mi->length, mi->piece_length);
	const guint8 *pieces;
	gsize len;

	if (!value)
		return fail(error, "the info dictionary has no \"pieces\"");
	pieces = net_bencode_get_string(value, &len);
	if (!pieces)
		return fail(error, "\"pieces\" is not a string");
	if (len % NET_PIECE_HASH_SIZE != 0)
		return fail(error,
			    "\"pieces\" is %zu bytes, not a multiple of 20",
			    len);
	if (len / NET_PIECE_HASH_SIZE != expected)
		return fail(
			error,
			"piece count %zu does not match length %" G_GUINT64_FORMAT
			" with piece length %u (expected %" G_GUINT64_FORMAT
			")",
			len / NET_PIECE_HASH_SIZE, mi->length, mi->piece_length,
			expected);
	if (expected > NET_METAINFO_MAX_PIECES)
		return fail(error,
			    "%" G_GUINT64_FORMAT " pieces are more than %u",
			    expected, NET_METAINFO_MAX_PIECES);
	mi->piece_count = (guint32)expected;
	mi->pieces = g_memdup2(pieces, len);
	return TRUE;
}

/* Takes a reference to @info_bytes, the bytes @info was parsed from. */
static NetMetainfo *metainfo_new_from_info_value(const NetBencode *info,
						 GBytes *info_bytes,
						 GError **error)
{
	g_autoptr(NetMetainfo) mi = g_new0(NetMetainfo, 1);
	gsize len;
	const guint8 *data = g_bytes_get_data(info_bytes, &len);

	if (net_bencode_get_type(info) != NET_BENCODE_DICT) {
		fail(error, "\"info\" is not a dictionary");
		return NULL;
	}
	if (net_bencode_dict_lookup(info, "files")) {
		fail(error, "multi-file torrents are not supported; a groupfs "
			    "torrent holds exactly one file");
		return NULL;
	}
	if (!check_name(mi, info, error) || !check_length(mi, info, error) ||
	    !check_piece_length(mi, info, error) ||
	    !check_pieces(mi, info, error))
		return NULL;
	mi->info = g_bytes_ref(info_bytes);
	net_piece_hash_compute(data, len, mi->info_hash);
	return g_steal_pointer(&mi);
}

NetMetainfo *net_metainfo_new_from_info(GBytes *info, GError **error)
{
	g_autoptr(NetBencode) root =
		net_bencode_parse(info, &torrent_limits, error);

	if (!root)
		return NULL;
	return metainfo_new_from_info_value(root, info, error);
}

static gboolean read_announce(NetMetainfo *mi, const NetBencode *root,
			      GError **error)
{
	NetBencode *value = net_bencode_dict_lookup(root, "announce");
	gsize len = 0;

	if (!value)
		return TRUE;
	if (!net_bencode_get_string(value, &len) ||
	    len > NET_METAINFO_MAX_ANNOUNCE)
		return fail(error,
			    "\"announce\" is not a string of at most %u bytes",
			    NET_METAINFO_MAX_ANNOUNCE);
	mi->announce = net_bencode_dup_utf8(value);
	if (!mi->announce)
		return fail(error, "\"announce\" is not valid UTF-8");
	return TRUE;
}

NetMetainfo *net_metainfo_new_from_torrent(GBytes *torrent, GError **error)
{
	g_autoptr(NetBencode) root =
		net_bencode_parse(torrent, &torrent_limits, error);
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GBytes) info_bytes = NULL;
	const guint8 *raw;
	gsize raw_len;
	NetBencode *info;

	if (!root)
		return NULL;
	if (net_bencode_get_type(root) != NET_BENCODE_DICT) {
		fail(error, "a .torrent must be a dictionary");
		return NULL;
	}
	info = net_bencode_dict_lookup(root, "info");
	if (!info) {
		fail(error, "the torrent has no \"info\" dictionary");
		return NULL;
	}
	raw = net_bencode_get_raw(info, &raw_len);
	info_bytes = g_bytes_new_from_bytes(
		torrent,
		(gsize)(raw - (const guint8 *)g_bytes_get_data(torrent, NULL)),
		raw_len);
	mi = metainfo_new_from_info_value(info, info_bytes, error);
	if (!mi || !read_announce(mi, root, error))
		return NULL;
	return g_steal_pointer(&mi);
}

/* The bencoded info dictionary of a file of @length bytes. */
static GBytes *encode_info(const char *name, guint64 length,
			   guint32 piece_length, const guint8 *pieces,
			   gsize pieces_len)
{
	g_autoptr(NetBencode) dict = net_bencode_new_dict();

	net_bencode_dict_insert(dict, "length",
				net_bencode_new_int((gint64)length));
	net_bencode_dict_insert(dict, "name", net_bencode_new_str(name));
	net_bencode_dict_insert(dict, "piece length",
				net_bencode_new_int(piece_length));
	net_bencode_dict_insert(dict, "pieces",
				net_bencode_new_string(pieces, pieces_len));
	return net_bencode_encode(dict);
}

static int open_regular_file(const char *path, guint64 *length, GError **error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		int saved = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Could not open '%s': %s", path, g_strerror(saved));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
			    "'%s' is not a regular file", path);
		close(fd);
		return -1;
	}
	*length = (guint64)st.st_size;
	return fd;
}

/* Checks what the caller chose before the (long) hashing starts. */
static gboolean check_creation(const char *name, guint64 length,
			       guint32 piece_length, GError **error)
{
	if (!net_metainfo_name_is_safe(name, strlen(name)))
		return fail(error, "'%s' is not a safe file name for a torrent",
			    name);
	if (!net_metainfo_piece_length_is_valid(piece_length))
		return fail_piece_length(error, piece_length);
	if (length > NET_METAINFO_MAX_LENGTH ||
	    net_piece_hash_count(length, piece_length) >
		    NET_METAINFO_MAX_PIECES)
		return fail(error,
			    "a file of %" G_GUINT64_FORMAT
			    " bytes needs more than %u pieces of %u bytes",
			    length, NET_METAINFO_MAX_PIECES, piece_length);
	return TRUE;
}

NetMetainfo *net_metainfo_new_from_file(const char *path, const char *name,
					guint32 piece_length, GError **error)
{
	g_autofree char *base = g_path_get_basename(path);
	g_autofree guint8 *pieces = NULL;
	g_autoptr(GBytes) info = NULL;
	guint64 length, count;
	gboolean hashed;
	int fd;

	g_return_val_if_fail(path != NULL, NULL);
	fd = open_regular_file(path, &length, error);
	if (fd < 0)
		return NULL;
	if (!name)
		name = base;
	if (piece_length == 0)
		piece_length = net_metainfo_choose_piece_length(length);
	if (!check_creation(name, length, piece_length, error)) {
		close(fd);
		return NULL;
	}
	count = net_piece_hash_count(length, piece_length);
	pieces = g_malloc(count * NET_PIECE_HASH_SIZE + 1);
	hashed = net_piece_hash_file(fd, length, piece_length, pieces, error);
	close(fd);
	if (!hashed) {
		g_prefix_error(error, "'%s': ", path);
		return NULL;
	}
	info = encode_info(name, length, piece_length, pieces,
			   count * NET_PIECE_HASH_SIZE);
	return net_metainfo_new_from_info(info, error);
}

/* Reads all of @path, but never more than @max bytes of it: a .torrent
 * that is larger is refused, whatever the file is. */
static GBytes *read_bounded(const char *path, gsize max, GError **error)
{
	g_autoptr(GFile) file = g_file_new_for_path(path);
	g_autoptr(GFileInputStream) in = g_file_read(file, NULL, error);
	g_autoptr(GByteArray) buf = g_byte_array_new();
	guint8 chunk[16384];
	gssize got;

	if (!in)
		return NULL;
	while ((got = g_input_stream_read(G_INPUT_STREAM(in), chunk,
					  sizeof(chunk), NULL, error)) > 0) {
		if (buf->len + (gsize)got > max) {
			fail(error,
			     "'%s' is larger than a .torrent may be (%zu bytes)",
			     path, max);
			return NULL;
		}
		g_byte_array_append(buf, chunk, (guint)got);
	}
	if (got < 0)
		return NULL;
	return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

NetMetainfo *net_metainfo_load(const char *path, GError **error)
{
	g_autoptr(GBytes) torrent =
		read_bounded(path, NET_METAINFO_MAX_TORRENT_SIZE, error);
	NetMetainfo *mi;

	if (!torrent)
		return NULL;
	mi = net_metainfo_new_from_torrent(torrent, error);
	if (!mi)
		g_prefix_error(error, "%s: ", path);
	return mi;
}

GBytes *net_metainfo_to_torrent(const NetMetainfo *mi, const char *announce)
{
	gsize info_len;
	const guint8 *info = g_bytes_get_data(mi->info, &info_len);
	GByteArray *out;

	g_return_val_if_fail(announce == NULL ||
				     strlen(announce) <=
					     NET_METAINFO_MAX_ANNOUNCE,
			     NULL);
	out = g_byte_array_sized_new((guint)info_len + 128);
	/* Keys in byte order; "info" goes in raw, so that the info-hash
	 * of the file is the one computed here. */
	net_bencode_emit_dict_begin(out);
	if (announce) {
		net_bencode_emit_str(out, "announce");
		net_bencode_emit_str(out, announce);
	}
	net_bencode_emit_str(out, "created by");
	net_bencode_emit_str(out, "groupfs " GROUPFS_VERSION);
	net_bencode_emit_str(out, "creation date");
	net_bencode_emit_int(out, g_get_real_time() / G_USEC_PER_SEC);
	net_bencode_emit_str(out, "info");
	g_byte_array_append(out, info, (guint)info_len);
	net_bencode_emit_end(out);
	return g_byte_array_free_to_bytes(out);
}

gboolean net_metainfo_save(const NetMetainfo *mi, const char *path,
			   const char *announce, GError **error)
{
	g_autoptr(GBytes) torrent = net_metainfo_to_torrent(mi, announce);
	gsize len;
	const char *data = g_bytes_get_data(torrent, &len);

	return g_file_set_contents(path, data, (gssize)len, error);
}

GBytes *net_metainfo_get_info(const NetMetainfo *mi)
{
	return mi->info;
}

const guint8 *net_metainfo_get_info_hash(const NetMetainfo *mi)
{
	return mi->info_hash;
}

char *net_metainfo_dup_info_hash_hex(const NetMetainfo *mi)
{
	GString *hex = g_string_sized_new(2 * NET_PIECE_HASH_SIZE);

	for (gsize i = 0; i < NET_PIECE_HASH_SIZE; i++)
		g_string_append_printf(hex, "%02x", mi->info_hash[i]);
	return g_string_free(hex, FALSE);
}

const char *net_metainfo_get_name(const NetMetainfo *mi)
{
	return mi->name;
}

const char *net_metainfo_get_announce(const NetMetainfo *mi)
{
	return mi->announce;
}

guint64 net_metainfo_get_length(const NetMetainfo *mi)
{
	return mi->length;
}

guint32 net_metainfo_get_piece_length(const NetMetainfo *mi)
{
	return mi->piece_length;
}

guint32 net_metainfo_get_piece_count(const NetMetainfo *mi)
{
	return mi->piece_count;
}

guint32 net_metainfo_get_piece_size(const NetMetainfo *mi, guint32 index)
{
	guint64 offset = (guint64)index * mi->piece_length;

	g_return_val_if_fail(index < mi->piece_count, 0);
	return (guint32)MIN((guint64)mi->piece_length, mi->length - offset);
}

const guint8 *net_metainfo_get_piece_hash(const NetMetainfo *mi, guint32 index)
{
	g_return_val_if_fail(index < mi->piece_count, NULL);
	return mi->pieces + (gsize)index * NET_PIECE_HASH_SIZE;
}
