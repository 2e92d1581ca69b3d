/*
 * test-metainfo: the info dictionary byte for byte, the piece length
 * rule at its boundaries, and every rule by which a hand-made torrent
 * is rejected.
 */
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "metainfo.h"
#include "net-error.h"

#define KiB (G_GUINT64_CONSTANT(1) << 10)
#define MiB (G_GUINT64_CONSTANT(1) << 20)
#define GiB (G_GUINT64_CONSTANT(1) << 30)

/* A file in a fresh folder of its own; both removed by file_free. */
typedef struct {
	char *dir;
	char *path;
} TestFile;

static TestFile *file_new(const char *name, const void *data, gsize len)
{
	TestFile *f = g_new0(TestFile, 1);
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("test-metainfo-XXXXXX", &error);
	g_assert_no_error(error);
	f->path = g_build_filename(f->dir, name, NULL);
	g_file_set_contents(f->path, data, (gssize)len, &error);
	g_assert_no_error(error);
	return f;
}

static void file_free(TestFile *f)
{
	g_remove(f->path);
	g_assert_cmpint(g_rmdir(f->dir), ==, 0);
	g_free(f->path);
	g_free(f->dir);
	g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestFile, file_free)

static void sha1(const void *data, gsize len, guint8 out[20])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
	gsize out_len = 20;

	g_checksum_update(sum, data, (gssize)len);
	g_checksum_get_digest(sum, out, &out_len);
}

static GBytes *bytes_of(const char *text, gsize len)
{
	return g_bytes_new(text, len);
}

static void test_piece_length_rule(void)
{
	g_assert_cmpuint(net_metainfo_choose_piece_length(0), ==, 512 * KiB);
	g_assert_cmpuint(net_metainfo_choose_piece_length(1), ==, 512 * KiB);
	g_assert_cmpuint(net_metainfo_choose_piece_length(2 * GiB), ==,
			 512 * KiB);
	g_assert_cmpuint(net_metainfo_choose_piece_length(2 * GiB + 1), ==,
			 1 * MiB);
	g_assert_cmpuint(net_metainfo_choose_piece_length(4 * GiB), ==,
			 1 * MiB);
	g_assert_cmpuint(net_metainfo_choose_piece_length(4 * GiB + 1), ==,
			 2 * MiB);
	g_assert_cmpuint(net_metainfo_choose_piece_length(256 * GiB), ==,
			 64 * MiB);
	/* Beyond 256 GiB the piece length stays at its maximum. */
	g_assert_cmpuint(net_metainfo_choose_piece_length(256 * GiB + 1), ==,
			 64 * MiB);
	g_assert_cmpuint(
		net_metainfo_choose_piece_length(NET_METAINFO_MAX_LENGTH), ==,
		64 * MiB);
}

static void test_piece_length_valid(void)
{
	g_assert_true(net_metainfo_piece_length_is_valid(16 * KiB));
	g_assert_true(net_metainfo_piece_length_is_valid(512 * KiB));
	g_assert_true(net_metainfo_piece_length_is_valid(64 * MiB));
	g_assert_false(net_metainfo_piece_length_is_valid(0));
	g_assert_false(net_metainfo_piece_length_is_valid(8 * KiB));
	g_assert_false(net_metainfo_piece_length_is_valid(16 * KiB + 1));
	g_assert_false(net_metainfo_piece_length_is_valid(48 * KiB));
	g_assert_false(net_metainfo_piece_length_is_valid(128 * MiB));
	g_assert_false(net_metainfo_piece_length_is_valid(G_MAXUINT64));
}

static void test_name_is_safe(void)
{
	static const struct {
		const char *name;
		gsize len;
		gboolean safe;
	} cases[] = {
		{"a", 1, TRUE},		 {"movie.mkv", 9, TRUE},
		{"..hidden", 8, TRUE},	 {"caf\xc3\xa9", 5, TRUE},
		{"", 0, FALSE},		 {".", 1, FALSE},
		{"..", 2, FALSE},	 {"a/b", 3, FALSE},
		{"/", 1, FALSE},	 {"a\0b", 3, FALSE},
		{"a\nb", 3, FALSE},	 {"a\x7f", 2, FALSE},
		{"a\xc2\x85", 3, FALSE}, /* U+0085, a C1 control */
		{"\xff", 1, FALSE},	 {"caf\xc3", 4, FALSE},
	};
	char longest[256];

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_test_message("case %zu", i);
		g_assert_cmpint(
			net_metainfo_name_is_safe(cases[i].name, cases[i].len),
			==, cases[i].safe);
	}
	memset(longest, 'n', sizeof(longest));
	g_assert_true(net_metainfo_name_is_safe(longest, 255));
	g_assert_false(net_metainfo_name_is_safe(longest, 256));
}

/* The info dictionary of a small file is exactly the bencode that
 * BEP 3 prescribes, keys in order, and its hash is the info-hash. */
static void test_info_vector(void)
{
	static const char content[] = "hello, groupfs\n";
	g_autoptr(TestFile) f =
		file_new("hello.txt", content, sizeof(content) - 1);
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GByteArray) expected = g_byte_array_new();
	static const char head[] = "d6:lengthi15e4:name9:hello.txt"
				   "12:piece lengthi16384e6:pieces20:";
	guint8 piece[20], info_hash[20];
	g_autofree char *hex = NULL;
	g_autofree char *expected_hex = NULL;
	gsize len;
	const guint8 *info;

	mi = net_metainfo_new_from_file(f->path, NULL, 16384, &error);
	g_assert_no_error(error);
	sha1(content, sizeof(content) - 1, piece);
	g_byte_array_append(expected, (const guint8 *)head, sizeof(head) - 1);
	g_byte_array_append(expected, piece, 20);
	g_byte_array_append(expected, (const guint8 *)"e", 1);
	info = g_bytes_get_data(net_metainfo_get_info(mi), &len);
	g_assert_cmpmem(info, len, expected->data, expected->len);

	sha1(expected->data, expected->len, info_hash);
	g_assert_cmpmem(net_metainfo_get_info_hash(mi), 20, info_hash, 20);
	hex = net_metainfo_dup_info_hash_hex(mi);
	g_assert_cmpuint(strlen(hex), ==, 40);
	expected_hex = g_compute_checksum_for_data(
		G_CHECKSUM_SHA1, expected->data, expected->len);
	g_assert_cmpstr(hex, ==, expected_hex);
}

static void test_file_fields(void)
{
	gsize size = 2 * 16384 + 8192;
	g_autofree guint8 *data = g_malloc(size);
	g_autoptr(TestFile) f = NULL;
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) error = NULL;
	guint8 piece[20];

	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)(i * 7 + 3);
	f = file_new("data.bin", data, size);
	mi = net_metainfo_new_from_file(f->path, "other name", 16384, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(net_metainfo_get_name(mi), ==, "other name");
	g_assert_null(net_metainfo_get_announce(mi));
	g_assert_cmpuint(net_metainfo_get_length(mi), ==, size);
	g_assert_cmpuint(net_metainfo_get_piece_length(mi), ==, 16384);
	g_assert_cmpuint(net_metainfo_get_piece_count(mi), ==, 3);
	g_assert_cmpuint(net_metainfo_get_piece_size(mi, 0), ==, 16384);
	g_assert_cmpuint(net_metainfo_get_piece_size(mi, 1), ==, 16384);
	g_assert_cmpuint(net_metainfo_get_piece_size(mi, 2), ==, 8192);
	for (guint32 i = 0; i < 3; i++) {
		sha1(data + i * 16384, net_metainfo_get_piece_size(mi, i),
		     piece);
		g_assert_cmpmem(net_metainfo_get_piece_hash(mi, i), 20, piece,
				20);
	}
}

static void test_empty_file(void)
{
	g_autoptr(TestFile) f = file_new("empty", "", 0);
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) error = NULL;
	static const char expected[] = "d6:lengthi0e4:name5:empty"
				       "12:piece lengthi524288e6:pieces0:e";
	gsize len;
	const char *info;

	mi = net_metainfo_new_from_file(f->path, NULL, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(net_metainfo_get_length(mi), ==, 0);
	g_assert_cmpuint(net_metainfo_get_piece_count(mi), ==, 0);
	g_assert_cmpuint(net_metainfo_get_piece_length(mi), ==, 512 * KiB);
	info = g_bytes_get_data(net_metainfo_get_info(mi), &len);
	g_assert_cmpmem(info, len, expected, sizeof(expected) - 1);
}

static void test_torrent_roundtrip(void)
{
	g_autoptr(TestFile) f = file_new("song.ogg", "la la la", 8);
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(NetMetainfo) back = NULL;
	g_autoptr(GBytes) torrent = NULL;
	g_autoptr(GError) error = NULL;

	mi = net_metainfo_new_from_file(f->path, NULL, 0, &error);
	g_assert_no_error(error);
	torrent = net_metainfo_to_torrent(mi, "http://127.0.0.1:1/announce");
	back = net_metainfo_new_from_torrent(torrent, &error);
	g_assert_no_error(error);
	g_assert_true(g_bytes_equal(net_metainfo_get_info(mi),
				    net_metainfo_get_info(back)));
	g_assert_cmpmem(net_metainfo_get_info_hash(mi), 20,
			net_metainfo_get_info_hash(back), 20);
	g_assert_cmpstr(net_metainfo_get_announce(back), ==,
			"http://127.0.0.1:1/announce");
	g_assert_cmpstr(net_metainfo_get_name(back), ==, "song.ogg");
	g_assert_cmpuint(net_metainfo_get_length(back), ==, 8);
}

static void test_save_load(void)
{
	g_autoptr(TestFile) f = file_new("notes.txt", "some notes", 10);
	g_autofree char *out = g_strconcat(f->path, ".torrent", NULL);
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(NetMetainfo) back = NULL;
	g_autoptr(GError) error = NULL;

	mi = net_metainfo_new_from_file(f->path, NULL, 0, &error);
	g_assert_no_error(error);
	g_assert_true(net_metainfo_save(mi, out, NULL, &error));
	g_assert_no_error(error);
	back = net_metainfo_load(out, &error);
	g_assert_no_error(error);
	g_remove(out);
	g_assert_cmpmem(net_metainfo_get_info_hash(mi), 20,
			net_metainfo_get_info_hash(back), 20);
	g_assert_null(net_metainfo_get_announce(back));
}

/* Keys that groupfs never writes (private, source) are part of the
 * info-hash as received, and keys outside info do not change it. */
static void test_hash_covers_info_as_received(void)
{
	g_autofree char *pieces = g_strnfill(20, 'p');
	g_autofree char *info = g_strdup_printf(
		"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:%s"
		"7:privatei1e6:source3:xyze",
		pieces);
	g_autofree char *torrent =
		g_strdup_printf("d7:comment2:hi4:info%s8:url-listl1:uee", info);
	g_autoptr(GBytes) bytes = bytes_of(torrent, strlen(torrent));
	g_autoptr(GBytes) info_bytes = bytes_of(info, strlen(info));
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) error = NULL;
	guint8 expected[20];

	mi = net_metainfo_new_from_torrent(bytes, &error);
	g_assert_no_error(error);
	sha1(info, strlen(info), expected);
	g_assert_cmpmem(net_metainfo_get_info_hash(mi), 20, expected, 20);
	g_assert_true(g_bytes_equal(net_metainfo_get_info(mi), info_bytes));
}

static void test_create_errors(void)
{
	g_autoptr(TestFile) f = file_new("x", "x", 1);
	g_autofree char *missing = g_build_filename(f->dir, "nope", NULL);
	NetMetainfo *mi;
	GError *error = NULL;

	mi = net_metainfo_new_from_file(missing, NULL, 0, &error);
	g_assert_null(mi);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);

	mi = net_metainfo_new_from_file(f->dir, NULL, 0, &error);
	g_assert_null(mi);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
	g_clear_error(&error);

	mi = net_metainfo_new_from_file(f->path, NULL, 3 * 16384, &error);
	g_assert_null(mi);
	g_assert_error(error, NET_ERROR, NET_ERROR_METAINFO);
	g_clear_error(&error);

	mi = net_metainfo_new_from_file(f->path, "a/b", 0, &error);
	g_assert_null(mi);
	g_assert_error(error, NET_ERROR, NET_ERROR_METAINFO);
	g_clear_error(&error);
}

static void test_load_errors(void)
{
	gsize big = NET_METAINFO_MAX_TORRENT_SIZE + 1;
	g_autofree char *zeros = g_malloc0(big);
	g_autoptr(TestFile) f = file_new("big.torrent", zeros, big);
	g_autofree char *missing = g_build_filename(f->dir, "nope", NULL);
	GError *error = NULL;

	g_assert_null(net_metainfo_load(f->path, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_METAINFO);
	g_assert_nonnull(strstr(error->message, "larger than a .torrent"));
	g_clear_error(&error);

	g_assert_null(net_metainfo_load(missing, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_clear_error(&error);
}

/*
 * Rejections. Each case is a whole .torrent; %P in it stands for the
 * "pieces" entry of the right size for the case's length and piece
 * length, so that only the rule under test is broken.
 */
typedef struct {
	const char *name;
	const char *torrent;
	int code;
	const char *message;
} RejectCase;

static const RejectCase reject_cases[] = {
	{"not-bencode", "d4:info", NET_ERROR_TRUNCATED, NULL},
	{"trailing",
	 "de"
	 "x",
	 NET_ERROR_BENCODE, NULL},
	{"not-dict", "i1e", NET_ERROR_METAINFO, "must be a dictionary"},
	{"no-info", "d8:announce1:ue", NET_ERROR_METAINFO, "no \"info\""},
	{"info-not-dict", "d4:infoi1ee", NET_ERROR_METAINFO,
	 "\"info\" is not a dictionary"},
	{"multi-file",
	 "d4:infod5:filesld6:lengthi1e4:pathl1:aeee4:name1:d"
	 "12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "multi-file torrents are not supported"},
	{"no-name", "d4:infod6:lengthi0e12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "no \"name\""},
	{"name-not-string",
	 "d4:infod6:lengthi0e4:namei1e12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "\"name\" is not a string"},
	{"name-empty",
	 "d4:infod6:lengthi0e4:name0:12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "not a safe file name"},
	{"name-dotdot",
	 "d4:infod6:lengthi0e4:name2:..12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "not a safe file name"},
	{"name-slash",
	 "d4:infod6:lengthi0e4:name6:../etc12:piece lengthi16384e"
	 "6:pieces0:ee",
	 NET_ERROR_METAINFO, "not a safe file name"},
	{"name-control",
	 "d4:infod6:lengthi0e4:name2:a\x1b"
	 "12:piece lengthi16384e"
	 "6:pieces0:ee",
	 NET_ERROR_METAINFO, "not a safe file name"},
	{"name-not-utf8",
	 "d4:infod6:lengthi0e4:name2:a\xfe"
	 "12:piece lengthi16384e"
	 "6:pieces0:ee",
	 NET_ERROR_METAINFO, "not a safe file name"},
	{"no-length", "d4:infod4:name1:a12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "no \"length\""},
	{"length-not-int",
	 "d4:infod6:length1:14:name1:a12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "\"length\" is not an integer"},
	{"length-negative",
	 "d4:infod6:lengthi-1e4:name1:a12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "length -1 is outside 0 to 1125899906842624"},
	{"length-too-large",
	 "d4:infod6:lengthi1125899906842625e4:name1:a"
	 "12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "length 1125899906842625 is outside"},
	{"no-piece-length", "d4:infod6:lengthi0e4:name1:a6:pieces0:ee",
	 NET_ERROR_METAINFO, "no \"piece length\""},
	{"piece-length-not-power-of-two",
	 "d4:infod6:lengthi0e4:name1:a12:piece lengthi16385e6:pieces0:ee",
	 NET_ERROR_METAINFO, "piece length 16385 is not a power of two"},
	{"piece-length-too-small",
	 "d4:infod6:lengthi0e4:name1:a12:piece lengthi8192e6:pieces0:ee",
	 NET_ERROR_METAINFO, "piece length 8192 is not"},
	{"piece-length-too-large",
	 "d4:infod6:lengthi0e4:name1:a12:piece lengthi134217728e"
	 "6:pieces0:ee",
	 NET_ERROR_METAINFO, "piece length 134217728 is not"},
	{"piece-length-negative",
	 "d4:infod6:lengthi0e4:name1:a12:piece lengthi-16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "piece length -16384 is not"},
	{"no-pieces", "d4:infod6:lengthi0e4:name1:a12:piece lengthi16384eee",
	 NET_ERROR_METAINFO, "no \"pieces\""},
	{"pieces-not-string",
	 "d4:infod6:lengthi0e4:name1:a12:piece lengthi16384e6:piecesi0eee",
	 NET_ERROR_METAINFO, "\"pieces\" is not a string"},
	{"pieces-not-multiple-of-20",
	 "d4:infod6:lengthi1e4:name1:a12:piece lengthi16384e"
	 "6:pieces19:0123456789abcdefghiee",
	 NET_ERROR_METAINFO, "\"pieces\" is 19 bytes, not a multiple of 20"},
	{"pieces-too-few",
	 "d4:infod6:lengthi2000000e4:name1:a12:piece lengthi524288e%3ee",
	 NET_ERROR_METAINFO,
	 "metainfo: piece count 3 does not match length 2000000 with piece "
	 "length 524288 (expected 4)"},
	{"pieces-too-many",
	 "d4:infod6:lengthi16384e4:name1:a12:piece lengthi16384e%2ee",
	 NET_ERROR_METAINFO,
	 "piece count 2 does not match length 16384 with piece length 16384 "
	 "(expected 1)"},
	{"pieces-for-empty-file",
	 "d4:infod6:lengthi0e4:name1:a12:piece lengthi16384e%1ee",
	 NET_ERROR_METAINFO, "(expected 0)"},
	{"announce-not-string",
	 "d8:announcei1e4:infod6:lengthi0e4:name1:a12:piece lengthi16384e"
	 "6:pieces0:ee",
	 NET_ERROR_METAINFO, "\"announce\" is not a string"},
	{"announce-not-utf8",
	 "d8:announce1:\xff"
	 "4:infod6:lengthi0e4:name1:a"
	 "12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_METAINFO, "\"announce\" is not valid UTF-8"},
	{"unsorted-keys",
	 "d4:infod4:name1:a6:lengthi0e12:piece lengthi16384e6:pieces0:ee",
	 NET_ERROR_BENCODE, NULL},
};

/* Replaces "%N" (one digit) with a "pieces" entry of N hashes. */
static GString *expand_pieces(const char *text)
{
	GString *out = g_string_new(NULL);

	for (const char *p = text; *p; p++) {
		if (p[0] == '%' && g_ascii_isdigit(p[1])) {
			guint n = (guint)(p[1] - '0');

			g_string_append_printf(out, "6:pieces%u:", n * 20);
			for (guint i = 0; i < n * 20; i++)
				g_string_append_c(out, 'h');
			p++;
		} else {
			g_string_append_c(out, *p);
		}
	}
	return out;
}

static void test_reject(gconstpointer data)
{
	const RejectCase *c = data;
	g_autoptr(GString) text = expand_pieces(c->torrent);
	g_autoptr(GBytes) bytes = bytes_of(text->str, text->len);
	g_autoptr(GError) error = NULL;
	NetMetainfo *mi = net_metainfo_new_from_torrent(bytes, &error);

	g_assert_null(mi);
	g_assert_error(error, NET_ERROR, c->code);
	if (c->message)
		g_assert_nonnull(strstr(error->message, c->message));
	if (c->code == NET_ERROR_METAINFO)
		g_assert_true(g_str_has_prefix(error->message, "metainfo: "));
}

/* The same rules hold for an info dictionary alone (as the tracker
 * and peers send it). */
static void test_reject_info_alone(void)
{
	static const char info[] = "d5:filesle4:name1:a12:piece lengthi16384e"
				   "6:pieces0:e";
	g_autoptr(GBytes) bytes = bytes_of(info, sizeof(info) - 1);
	g_autoptr(GError) error = NULL;

	g_assert_null(net_metainfo_new_from_info(bytes, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_METAINFO);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/metainfo/piece-length-rule",
			test_piece_length_rule);
	g_test_add_func("/net/metainfo/piece-length-valid",
			test_piece_length_valid);
	g_test_add_func("/net/metainfo/name-is-safe", test_name_is_safe);
	g_test_add_func("/net/metainfo/info-vector", test_info_vector);
	g_test_add_func("/net/metainfo/file-fields", test_file_fields);
	g_test_add_func("/net/metainfo/empty-file", test_empty_file);
	g_test_add_func("/net/metainfo/torrent-roundtrip",
			test_torrent_roundtrip);
	g_test_add_func("/net/metainfo/save-load", test_save_load);
	g_test_add_func("/net/metainfo/hash-covers-info-as-received",
			test_hash_covers_info_as_received);
	g_test_add_func("/net/metainfo/create-errors", test_create_errors);
	g_test_add_func("/net/metainfo/load-errors", test_load_errors);
	g_test_add_func("/net/metainfo/reject-info-alone",
			test_reject_info_alone);
	for (gsize i = 0; i < G_N_ELEMENTS(reject_cases); i++) {
		g_autofree char *path = g_strconcat("/net/metainfo/reject/",
						    reject_cases[i].name, NULL);

		g_test_add_data_func(path, &reject_cases[i], test_reject);
	}
	return g_test_run();
}
