/*
 * test-piece-hash: the parallel hasher against a single-threaded
 * reference (GLib's own SHA-1, not OpenSSL), at every size where a
 * piece boundary could be got wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "piece-hash.h"

typedef struct {
	char *dir;
} Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("test-piece-hash-XXXXXX", &error);
	g_assert_no_error(error);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *path = g_build_filename(f->dir, name, NULL);

		g_assert_cmpint(g_unlink(path), ==, 0);
	}
	g_assert_cmpint(g_rmdir(f->dir), ==, 0);
	g_free(f->dir);
}

static GBytes *random_bytes(gsize len)
{
	guint8 *data = g_malloc(len);

	for (gsize i = 0; i < len; i++)
		data[i] = (guint8)g_test_rand_int_range(0, 256);
	return g_bytes_new_take(data, len);
}

/* Writes @content to a new file in @f's folder; returns it open. */
static int write_file(Fixture *f, const char *name, GBytes *content)
{
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	g_autoptr(GError) error = NULL;
	gsize len;
	const char *data = g_bytes_get_data(content, &len);
	int fd;

	g_file_set_contents(path, data ? data : "", (gssize)len, &error);
	g_assert_no_error(error);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	return fd;
}

static void reference_hash(const guint8 *data, gsize len, guint8 out[20])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
	gsize out_len = 20;

	g_checksum_update(sum, data, (gssize)len);
	g_checksum_get_digest(sum, out, &out_len);
	g_assert_cmpuint(out_len, ==, 20);
}

static void check_file_against_reference(Fixture *f, gsize size,
					 guint32 piece_length)
{
	g_autoptr(GBytes) content = random_bytes(size);
	g_autoptr(GError) error = NULL;
	guint64 count = net_piece_hash_count(size, piece_length);
	g_autofree guint8 *hashes = g_malloc0(count * 20 + 1);
	const guint8 *data = g_bytes_get_data(content, NULL);
	int fd = write_file(f, "data", content);

	g_test_message("size %zu, piece length %u", size, piece_length);
	g_assert_true(
		net_piece_hash_file(fd, size, piece_length, hashes, &error));
	g_assert_no_error(error);
	for (guint64 i = 0; i < count; i++) {
		gsize off = i * piece_length;
		guint8 expected[20];

		reference_hash(data + off, MIN(piece_length, size - off),
			       expected);
		g_assert_cmpmem(hashes + i * 20, 20, expected, 20);
	}
	close(fd);
}

static void test_count(void)
{
	g_assert_cmpuint(net_piece_hash_count(0, 16384), ==, 0);
	g_assert_cmpuint(net_piece_hash_count(1, 16384), ==, 1);
	g_assert_cmpuint(net_piece_hash_count(16383, 16384), ==, 1);
	g_assert_cmpuint(net_piece_hash_count(16384, 16384), ==, 1);
	g_assert_cmpuint(net_piece_hash_count(16385, 16384), ==, 2);
	g_assert_cmpuint(
		net_piece_hash_count(G_GUINT64_CONSTANT(1) << 50, 1u << 26), ==,
		1u << 24);
	g_assert_cmpuint(net_piece_hash_count((G_GUINT64_CONSTANT(1) << 50) + 1,
					      1u << 26),
			 ==, (1u << 24) + 1);
}

/* FIPS 180-2's "abc" example: checks that the digest is SHA-1 at all,
 * which the reference comparison alone would not. */
static void test_compute_vector(void)
{
	static const guint8 abc[20] = {
		0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
		0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
	};
	guint8 out[20];

	net_piece_hash_compute("abc", 3, out);
	g_assert_cmpmem(out, 20, abc, 20);
}

static void test_verify(void)
{
	g_autoptr(GBytes) piece = random_bytes(16384);
	gsize len;
	const guint8 *data = g_bytes_get_data(piece, &len);
	guint8 hash[20];

	reference_hash(data, len, hash);
	g_assert_true(net_piece_hash_verify(data, len, hash));
	g_assert_false(net_piece_hash_verify(data, len - 1, hash));
	hash[19] ^= 1;
	g_assert_false(net_piece_hash_verify(data, len, hash));
}

static void test_file_sizes(Fixture *f, gconstpointer data)
{
	const guint32 pl = 16384;
	const gsize sizes[] = {0, 1, pl - 1, pl, pl + 1, 2 * pl, 37 * pl + 123};

	for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++)
		check_file_against_reference(f, sizes[i], pl);
}

/* Pieces longer than a worker's read buffer are hashed in several
 * reads; the boundary between reads must not show in the digest. */
static void test_file_large_pieces(Fixture *f, gconstpointer data)
{
	const guint32 pl = 4u << 20;

	check_file_against_reference(f, pl + (1u << 20) + 7, pl);
	check_file_against_reference(f, 3 * pl - 1, pl);
}

/* Many small pieces: enough that every worker claims some, and a
 * mistake in claiming (a skipped or doubled piece) shows. */
static void test_file_many_pieces(Fixture *f, gconstpointer data)
{
	check_file_against_reference(f, 4000 * 16384 + 5, 16384);
}

static void test_file_offset_untouched(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) content = random_bytes(100000);
	guint8 hashes[7 * 20];
	int fd = write_file(f, "data", content);

	g_assert_cmpint(lseek(fd, 1234, SEEK_SET), ==, 1234);
	g_assert_true(net_piece_hash_file(fd, 100000, 16384, hashes, NULL));
	g_assert_cmpint(lseek(fd, 0, SEEK_CUR), ==, 1234);
	close(fd);
}

static void test_file_shorter_than_length(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) content = random_bytes(50000);
	g_autoptr(GError) error = NULL;
	guint8 hashes[4 * 20];
	int fd = write_file(f, "data", content);

	g_assert_false(net_piece_hash_file(fd, 50001, 16384, hashes, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "byte 50000"));
	close(fd);
}

static void test_file_read_error(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	guint8 hashes[20];
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_false(net_piece_hash_file(fd, 10, 16384, hashes, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
	close(fd);
}

static void add_file_test(const char *path,
			  void (*func)(Fixture *, gconstpointer))
{
	g_test_add(path, Fixture, NULL, fixture_set_up, func,
		   fixture_tear_down);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/piece-hash/count", test_count);
	g_test_add_func("/net/piece-hash/compute-vector", test_compute_vector);
	g_test_add_func("/net/piece-hash/verify", test_verify);
	add_file_test("/net/piece-hash/file-sizes", test_file_sizes);
	add_file_test("/net/piece-hash/file-large-pieces",
		      test_file_large_pieces);
	add_file_test("/net/piece-hash/file-many-pieces",
		      test_file_many_pieces);
	add_file_test("/net/piece-hash/file-offset-untouched",
		      test_file_offset_untouched);
	add_file_test("/net/piece-hash/file-shorter-than-length",
		      test_file_shorter_than_length);
	add_file_test("/net/piece-hash/file-read-error", test_file_read_error);
	return g_test_run();
}
