/* test-store: the piece store on real files, including a full disk. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "net-error.h"
#include "store.h"

#define KiB 1024u
#define BLOCK NET_STORE_BLOCK_SIZE

/* A torrent made up for a test: content, hashes computed here with
 * GLib's SHA-1 (not the store's code), and a folder to keep it in. */
typedef struct {
	char *dir;
	guint8 info_hash[20];
	guint32 piece_length;
	guint32 piece_count;
	guint64 length;
	guint8 *content;
	GBytes *hashes;
} Torrent;

static void fill_random(GRand *rand, guint8 *buf, gsize len)
{
	for (gsize i = 0; i < len; i++)
		buf[i] = (guint8)g_rand_int(rand);
}

static guint32 piece_size(const Torrent *t, guint32 piece)
{
	return (guint32)MIN((guint64)t->piece_length,
			    t->length - (guint64)piece * t->piece_length);
}

static GBytes *hash_pieces(const Torrent *t)
{
	GByteArray *out = g_byte_array_new();

	for (guint32 i = 0; i < t->piece_count; i++) {
		g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
		guint8 md[20];
		gsize md_len = sizeof(md);
		g_checksum_update(sum, t->content + (gsize)i * t->piece_length,
				  piece_size(t, i));
		g_checksum_get_digest(sum, md, &md_len);
		g_byte_array_append(out, md, 20);
	}
	return g_byte_array_free_to_bytes(out);
}

/* @zero_piece: a piece made of zeros, or G_MAXUINT32 for none. */
static Torrent *torrent_new_in(const char *dir, guint32 piece_length,
			       guint64 length, guint32 zero_piece)
{
	Torrent *t = g_new0(Torrent, 1);
	g_autoptr(GRand) rand = g_rand_new_with_seed(g_test_rand_int());

	t->dir = g_strdup(dir);
	t->piece_length = piece_length;
	t->length = length;
	t->piece_count = (guint32)((length + piece_length - 1) / piece_length);
	t->content = g_malloc(length + 1);
	fill_random(rand, t->info_hash, sizeof(t->info_hash));
	fill_random(rand, t->content, length);
	if (zero_piece < t->piece_count)
		memset(t->content + (gsize)zero_piece * piece_length, 0,
		       piece_size(t, zero_piece));
	t->hashes = hash_pieces(t);
	return t;
}

static char *make_tmp_dir(void)
{
	GError *error = NULL;
	char *dir = g_dir_make_tmp("test-store-XXXXXX", &error);
	g_assert_no_error(error);
	return dir;
}

/* Five full pieces of 64 KiB (4 blocks) and a last one of 20000 bytes
 * (a full block and a short one). */
static Torrent *torrent_new(void)
{
	g_autofree char *dir = make_tmp_dir();
	return torrent_new_in(dir, 64 * KiB, 5 * 64 * KiB + 20000, G_MAXUINT32);
}

static void remove_tree(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		g_assert_cmpint(g_unlink(path), ==, 0);
	}
	g_rmdir(dir);
}

static void torrent_free(Torrent *t)
{
	remove_tree(t->dir);
	g_free(t->dir);
	g_free(t->content);
	g_bytes_unref(t->hashes);
	g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Torrent, torrent_free)

static NetStore *store_open(const Torrent *t)
{
	GError *error = NULL;
	NetStore *store = net_store_open(t->dir, t->info_hash, t->piece_length,
					 t->length, t->hashes, &error);
	g_assert_no_error(error);
	g_assert_nonnull(store);
	return store;
}

static char *file_path(const Torrent *t, const char *suffix)
{
	g_autofree char *hex = g_malloc(41);
	for (int i = 0; i < 20; i++)
		g_snprintf(hex + 2 * i, 3, "%02x", t->info_hash[i]);
	g_autofree char *name = g_strconcat(hex, suffix, NULL);
	return g_build_filename(t->dir, name, NULL);
}

static guint32 blocks_in(const Torrent *t, guint32 piece)
{
	return (piece_size(t, piece) + BLOCK - 1) / BLOCK;
}

static gboolean write_block(NetStore *store, const Torrent *t, guint32 piece,
			    guint32 block, NetStoreWrite *outcome,
			    GError **error)
{
	guint32 begin = block * BLOCK;
	guint32 len = MIN(BLOCK, piece_size(t, piece) - begin);
	const guint8 *data =
		t->content + (gsize)piece * t->piece_length + begin;
	return net_store_write_block(store, piece, begin, data, len, outcome,
				     error);
}

static void write_piece(NetStore *store, const Torrent *t, guint32 piece)
{
	NetStoreWrite outcome = NET_STORE_WRITE_DUPLICATE;
	GError *error = NULL;

	for (guint32 b = 0; b < blocks_in(t, piece); b++) {
		g_assert_true(
			write_block(store, t, piece, b, &outcome, &error));
		g_assert_no_error(error);
	}
	g_assert_cmpint(outcome, ==, NET_STORE_WRITE_PIECE_VERIFIED);
}

static void sync_store(NetStore *store)
{
	GError *error = NULL;
	g_assert_true(net_store_sync(store, &error));
	g_assert_no_error(error);
}

static void assert_file_equals(const Torrent *t)
{
	g_autofree char *path = file_path(t, ".data");
	g_autofree char *contents = NULL;
	gsize len = 0;
	GError *error = NULL;

	g_assert_true(g_file_get_contents(path, &contents, &len, &error));
	g_assert_no_error(error);
	g_assert_cmpmem(contents, len, t->content, t->length);
}

static void assert_verified_exactly(NetStore *store, const Torrent *t,
				    const gboolean *expected)
{
	guint64 bytes = 0;

	for (guint32 i = 0; i < t->piece_count; i++) {
		g_assert_cmpint(net_store_has_piece(store, i), ==, expected[i]);
		bytes += expected[i] ? piece_size(t, i) : 0;
	}
	g_assert_cmpuint(net_store_verified_bytes(store), ==, bytes);
}

/* Inverts @len bytes of @fd at @off. Fixed junk would leave a byte
 * that the random content already held (1 in 256 for one byte), and the
 * damage would go unseen. */
static void invert_bytes(int fd, guint64 off, gsize len)
{
	g_autofree guint8 *buf = g_malloc(len);

	g_assert_cmpint(pread(fd, buf, len, (off_t)off), ==, (ssize_t)len);
	for (gsize i = 0; i < len; i++)
		buf[i] ^= 0xff;
	g_assert_cmpint(pwrite(fd, buf, len, (off_t)off), ==, (ssize_t)len);
}

/* Damages @len bytes of the data file, keeping its mtime, so that only
 * the bitmap's soundness decides what the store trusts. */
static void scribble_keep_mtime(const Torrent *t, guint64 off, gsize len)
{
	g_autofree char *path = file_path(t, ".data");
	struct stat st;
	int fd = open(path, O_RDWR);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	invert_bytes(fd, off, len);
	struct timespec times[2] = {st.st_atim, st.st_mtim};
	g_assert_cmpint(futimens(fd, times), ==, 0);
	close(fd);
}

/* ---- tests ----------------------------------------------------------- */

static void shuffle(guint32 *v, guint n)
{
	for (guint i = n; i > 1; i--) {
		guint j = (guint)g_test_rand_int_range(0, (gint32)i);
		guint32 tmp = v[i - 1];
		v[i - 1] = v[j];
		v[j] = tmp;
	}
}

/* Every block of @t as piece << 16 | block, in random order. */
static guint32 *all_blocks(const Torrent *t, guint *n)
{
	GArray *v = g_array_new(FALSE, FALSE, sizeof(guint32));

	for (guint32 p = 0; p < t->piece_count; p++)
		for (guint32 b = 0; b < blocks_in(t, p); b++) {
			guint32 id = p << 16 | b;
			g_array_append_val(v, id);
		}
	*n = v->len;
	shuffle((guint32 *)(void *)v->data, v->len);
	return (guint32 *)(void *)g_array_free(v, FALSE);
}

static void test_random_order(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	guint n;
	g_autofree guint32 *order = all_blocks(t, &n);
	guint verified = 0;
	GError *error = NULL;

	g_assert_cmpuint(net_store_verified_count(store), ==, 0);
	for (guint i = 0; i < n; i++) {
		NetStoreWrite outcome;
		g_assert_true(write_block(store, t, order[i] >> 16,
					  order[i] & 0xffff, &outcome, &error));
		g_assert_no_error(error);
		g_assert_cmpint(outcome, !=, NET_STORE_WRITE_DUPLICATE);
		verified += outcome == NET_STORE_WRITE_PIECE_VERIFIED;
		g_assert_cmpuint(net_store_verified_count(store), ==, verified);
	}
	g_assert_cmpuint(verified, ==, t->piece_count);
	g_assert_true(net_store_is_complete(store));
	g_assert_cmpuint(net_store_verified_bytes(store), ==, t->length);
	assert_file_equals(t);

	/* A block that arrives again (end game) changes nothing. */
	NetStoreWrite outcome;
	g_assert_true(write_block(store, t, 2, 1, &outcome, &error));
	g_assert_cmpint(outcome, ==, NET_STORE_WRITE_DUPLICATE);

	g_assert_true(net_store_needs_sync(store));
	sync_store(store);
	g_assert_false(net_store_needs_sync(store));
	g_autofree char *bitmap = file_path(t, ".bitmap");
	g_assert_true(g_file_test(bitmap, G_FILE_TEST_IS_REGULAR));
}

static void test_hash_mismatch(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	guint8 bad[BLOCK];
	NetStoreWrite outcome;
	GError *error = NULL;

	memcpy(bad, t->content + 2 * t->piece_length + BLOCK, BLOCK);
	bad[100] ^= 1;
	g_assert_true(write_block(store, t, 2, 0, &outcome, &error));
	g_assert_true(net_store_write_block(store, 2, BLOCK, bad, BLOCK,
					    &outcome, &error));
	g_assert_true(write_block(store, t, 2, 2, &outcome, &error));
	g_assert_false(write_block(store, t, 2, 3, &outcome, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_HASH_MISMATCH);
	g_assert_nonnull(strstr(error->message, "Piece 2 "));
	g_clear_error(&error);
	g_assert_false(net_store_has_piece(store, 2));

	/* Every block was discarded: one good block is not enough, all
	 * four are needed again. */
	g_assert_true(write_block(store, t, 2, 1, &outcome, &error));
	g_assert_cmpint(outcome, ==, NET_STORE_WRITE_STORED);
	g_assert_false(net_store_has_piece(store, 2));
	write_piece(store, t, 2);
	g_assert_true(net_store_has_piece(store, 2));
	g_assert_cmpuint(net_store_verified_count(store), ==, 1);
}

static void test_bad_blocks(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	guint8 buf[BLOCK + 1] = {0};
	guint32 last = t->piece_count - 1;
	struct {
		guint32 piece, begin;
		gsize len;
	} cases[] = {
		{t->piece_count, 0, BLOCK}, /* no such piece */
		{G_MAXUINT32, 0, BLOCK},
		{0, 1, BLOCK}, /* not on a block boundary */
		{0, 0, BLOCK - 1}, /* short */
		{0, 0, BLOCK + 1}, /* long */
		{0, 4 * BLOCK, BLOCK}, /* past the piece */
		{last, BLOCK, BLOCK}, /* the last block is short */
		{last, G_MAXUINT32 - BLOCK + 1, BLOCK},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		NetStoreWrite outcome;
		GError *error = NULL;
		g_assert_false(net_store_write_block(
			store, cases[i].piece, cases[i].begin, buf,
			cases[i].len, &outcome, &error));
		g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
		g_error_free(error);
	}
	g_assert_cmpuint(net_store_verified_count(store), ==, 0);
	g_assert_false(net_store_needs_sync(store));
}

static void test_restart(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	gboolean expected[6] = {TRUE, FALSE, TRUE, FALSE, FALSE, TRUE};
	NetStoreWrite outcome;
	GError *error = NULL;

	write_piece(store, t, 0);
	write_piece(store, t, 2);
	write_piece(store, t, 5);
	g_assert_true(write_block(store, t, 1, 0, &outcome, &error));
	g_assert_true(write_block(store, t, 1, 3, &outcome, &error));
	sync_store(store);
	g_clear_pointer(&store, net_store_free);

	store = store_open(t);
	assert_verified_exactly(store, t, expected);
	/* The half-written piece starts over: its two blocks are asked
	 * for again, not taken as present. */
	g_assert_true(write_block(store, t, 1, 0, &outcome, &error));
	g_assert_cmpint(outcome, ==, NET_STORE_WRITE_STORED);
	g_assert_true(net_store_needs_sync(store));
}

/* A crash after pieces were verified but before the next sync: the
 * bitmap does not vouch for them, the rescan finds the ones whose data
 * reached the file, and a half-written piece is still not claimed. */
static void test_restart_without_sync(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	gboolean expected[6] = {TRUE, FALSE, FALSE, TRUE, FALSE, FALSE};
	NetStoreWrite outcome;
	GError *error = NULL;

	write_piece(store, t, 0);
	sync_store(store);
	write_piece(store, t, 3);
	g_assert_true(write_block(store, t, 4, 0, &outcome, &error));
	g_clear_pointer(&store, net_store_free);
	/* On disk, the bitmap claims piece 0 only (bits follow a 60-byte
	 * header, piece 0 in the high bit). */
	g_autofree char *path = file_path(t, ".bitmap");
	g_autofree char *bitmap = NULL;
	gsize len;
	g_assert_true(g_file_get_contents(path, &bitmap, &len, NULL));
	g_assert_cmpuint(len, ==, 60 + 1 + 20);
	g_assert_cmphex((guint8)bitmap[60], ==, 0x80);

	store = store_open(t);
	assert_verified_exactly(store, t, expected);
	g_assert_true(net_store_needs_sync(store));
}

/* Pieces 0-2 verified and synced, then the data of piece 1 destroyed
 * with the mtime kept: a sound bitmap would vouch for piece 1, so each
 * of these damaged bitmaps must be refused and the data re-verified. */
static void prepare_damaged(Torrent *t)
{
	g_autoptr(NetStore) store = store_open(t);

	for (guint32 i = 0; i < 3; i++)
		write_piece(store, t, i);
	sync_store(store);
	g_clear_pointer(&store, net_store_free);
	scribble_keep_mtime(t, t->piece_length + 5, 100);
}

static void reopen_expect_rescan(Torrent *t)
{
	gboolean expected[6] = {TRUE, FALSE, TRUE, FALSE, FALSE, FALSE};
	g_autoptr(NetStore) store = store_open(t);

	assert_verified_exactly(store, t, expected);
	g_assert_true(net_store_needs_sync(store));
	sync_store(store);
	g_clear_pointer(&store, net_store_free);
	/* Synced, the rescan's result is a sound bitmap that says the same. */
	store = store_open(t);
	assert_verified_exactly(store, t, expected);
}

static void test_bitmap_flipped_bit(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autofree char *path = file_path(t, ".bitmap");
	g_autofree char *buf = NULL;
	gsize len;

	prepare_damaged(t);
	g_assert_true(g_file_get_contents(path, &buf, &len, NULL));
	buf[60] |= 0x04; /* claim piece 5 too, checksum left as it was */
	g_assert_true(g_file_set_contents(path, buf, (gssize)len, NULL));
	reopen_expect_rescan(t);
}

static void test_bitmap_torn(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autofree char *path = file_path(t, ".bitmap");

	prepare_damaged(t);
	g_assert_cmpint(truncate(path, 40), ==, 0);
	reopen_expect_rescan(t);
}

static void test_bitmap_other_torrent(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(Torrent) other =
		torrent_new_in(t->dir, t->piece_length, t->length, G_MAXUINT32);
	g_autofree char *path = file_path(t, ".bitmap");
	g_autofree char *other_path = file_path(other, ".bitmap");
	g_autoptr(NetStore) store = NULL;

	prepare_damaged(t);
	/* A sound bitmap of a torrent with the same geometry that claims
	 * everything. */
	store = store_open(other);
	for (guint32 i = 0; i < other->piece_count; i++)
		write_piece(store, other, i);
	sync_store(store);
	g_clear_pointer(&store, net_store_free);
	g_assert_cmpint(g_rename(other_path, path), ==, 0);
	reopen_expect_rescan(t);
}

static void test_data_changed(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	g_autofree char *path = file_path(t, ".data");
	gboolean expected[6] = {TRUE, TRUE, TRUE, TRUE, FALSE, TRUE};
	GError *error = NULL;

	for (guint32 i = 0; i < t->piece_count; i++)
		write_piece(store, t, i);
	sync_store(store);
	g_clear_pointer(&store, net_store_free);

	/* Someone else edits the file while the daemon is down. The clock
	 * may not have ticked since the sync, so set an mtime that
	 * differs. */
	int fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	invert_bytes(fd, 4 * t->piece_length + 7, 3);
	struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
	g_assert_cmpint(futimens(fd, times), ==, 0);
	close(fd);

	store = store_open(t);
	assert_verified_exactly(store, t, expected);
	g_assert_true(net_store_verify_all(store, &error));
	g_assert_no_error(error);
	assert_verified_exactly(store, t, expected);
}

static void test_read(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	guint32 last = t->piece_count - 1;
	guint8 buf[64 * KiB];
	NetStoreWrite outcome;
	GError *error = NULL;

	/* Written but not verified is not servable either. */
	g_assert_true(write_block(store, t, 1, 0, &outcome, &error));
	g_assert_false(net_store_read(store, 1, 0, buf, 100, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_clear_error(&error);

	write_piece(store, t, last);
	g_assert_true(net_store_read(store, last, 3, buf, 19997, &error));
	g_assert_no_error(error);
	g_assert_cmpmem(buf, 19997,
			t->content + (gsize)last * t->piece_length + 3, 19997);

	/* Ranges that leave the piece, with and without overflow. */
	g_assert_false(net_store_read(store, last, 3, buf, 19998, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_false(
		net_store_read(store, last, G_MAXUINT32, buf, 2, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_clear_error(&error);
	g_assert_false(net_store_read(store, G_MAXUINT32, 0, buf, 1, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_clear_error(&error);
}

static blkcnt_t data_blocks(const Torrent *t)
{
	g_autofree char *path = file_path(t, ".data");
	struct stat st;
	g_assert_cmpint(stat(path, &st), ==, 0);
	return st.st_blocks;
}

static void test_evict(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	gboolean expected[6] = {TRUE, FALSE, TRUE, FALSE, TRUE, TRUE};
	guint32 evict[] = {1, 3, 3, 99};
	guint8 buf[100];
	GError *error = NULL;

	for (guint32 i = 0; i < t->piece_count; i++)
		write_piece(store, t, i);
	sync_store(store);
	blkcnt_t before = data_blocks(t);

	g_assert_true(
		net_store_evict(store, evict, G_N_ELEMENTS(evict), &error));
	g_assert_no_error(error);
	assert_verified_exactly(store, t, expected);
	/* Two pieces of 64 KiB, in 512-byte units. */
	g_assert_cmpint(data_blocks(t), <=, before - 2 * 128);
	g_assert_false(net_store_read(store, 1, 0, buf, 1, &error));
	g_clear_error(&error);
	g_assert_false(net_store_needs_sync(store));

	/* The bitmap on disk agrees, and is trusted without a rescan:
	 * damage to a kept piece with the mtime unchanged goes unseen. */
	g_clear_pointer(&store, net_store_free);
	scribble_keep_mtime(t, 0, 10);
	store = store_open(t);
	assert_verified_exactly(store, t, expected);

	/* An evicted piece can be fetched again. */
	write_piece(store, t, 3);
	g_assert_true(net_store_has_piece(store, 3));
}

static void test_verify_piece(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	gboolean expected[6] = {TRUE, TRUE, TRUE, FALSE, TRUE, TRUE};
	GError *error = NULL;

	for (guint32 i = 0; i < t->piece_count; i++)
		write_piece(store, t, i);
	sync_store(store);
	g_assert_true(net_store_verify_piece(store, 3, &error));
	g_assert_no_error(error);

	scribble_keep_mtime(t, 3 * t->piece_length + 1000, 1);
	g_assert_false(net_store_verify_piece(store, 3, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_HASH_MISMATCH);
	g_assert_nonnull(strstr(error->message, "Piece 3 "));
	g_clear_error(&error);
	assert_verified_exactly(store, t, expected);

	g_clear_pointer(&store, net_store_free);
	store = store_open(t);
	assert_verified_exactly(store, t, expected);
}

/* A full re-verify drops a piece damaged behind the store's back (mtime
 * kept), and the bitmap stops claiming it. */
static void test_verify_all(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	gboolean expected[6] = {TRUE, TRUE, TRUE, TRUE, FALSE, TRUE};
	GError *error = NULL;

	for (guint32 i = 0; i < t->piece_count; i++)
		write_piece(store, t, i);
	sync_store(store);
	scribble_keep_mtime(t, 4 * t->piece_length, 1);
	g_assert_true(net_store_verify_all(store, &error));
	g_assert_no_error(error);
	assert_verified_exactly(store, t, expected);
	g_clear_pointer(&store, net_store_free);
	store = store_open(t);
	assert_verified_exactly(store, t, expected);
}

static void test_zero_piece(void)
{
	g_autofree char *dir = make_tmp_dir();
	g_autoptr(Torrent) t = torrent_new_in(dir, 64 * KiB, 3 * 64 * KiB, 1);
	g_autoptr(NetStore) store = store_open(t);
	gboolean expected[3] = {FALSE, TRUE, FALSE};
	NetStoreWrite outcome;
	GError *error = NULL;

	/* A hole reads as zeros, and zeros are what piece 1 is. */
	assert_verified_exactly(store, t, expected);
	g_assert_true(write_block(store, t, 1, 0, &outcome, &error));
	g_assert_cmpint(outcome, ==, NET_STORE_WRITE_DUPLICATE);
	write_piece(store, t, 0);
	write_piece(store, t, 2);
	assert_file_equals(t);
}

static void test_import(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autofree char *src_dir = make_tmp_dir();
	g_autofree char *src = g_build_filename(src_dir, "file", NULL);
	g_autoptr(NetStore) store = NULL;
	GError *error = NULL;

	g_assert_true(g_file_set_contents(src, (char *)t->content,
					  (gssize)t->length, NULL));
	store = net_store_import(t->dir, t->info_hash, t->piece_length,
				 t->length, t->hashes, src, &error);
	g_assert_no_error(error);
	g_assert_true(net_store_is_complete(store));
	g_assert_false(net_store_needs_sync(store));
	assert_file_equals(t);

	/* The copy is what is served: changing the original later does
	 * not change it. */
	g_assert_true(g_file_set_contents(src, "x", 1, NULL));
	assert_file_equals(t);
	g_clear_pointer(&store, net_store_free);
	store = store_open(t);
	g_assert_true(net_store_is_complete(store));
	g_clear_pointer(&store, net_store_free);

	/* Wrong length, then one byte changed: refused, nothing left. */
	store = net_store_import(t->dir, t->info_hash, t->piece_length,
				 t->length, t->hashes, src, &error);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	g_assert_null(store);
	g_clear_error(&error);
	t->content[4 * t->piece_length + 9] ^= 0x10;
	g_assert_true(g_file_set_contents(src, (char *)t->content,
					  (gssize)t->length, NULL));
	store = net_store_import(t->dir, t->info_hash, t->piece_length,
				 t->length, t->hashes, src, &error);
	g_assert_error(error, NET_ERROR, NET_ERROR_HASH_MISMATCH);
	g_assert_nonnull(strstr(error->message, "Piece 4 "));
	g_assert_null(store);
	g_clear_error(&error);
	g_autofree char *data = file_path(t, ".data");
	g_assert_false(g_file_test(data, G_FILE_TEST_EXISTS));

	g_unlink(src);
	g_rmdir(src_dir);
}

static void test_copy_to(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(NetStore) store = store_open(t);
	g_autofree char *path = file_path(t, ".copy");
	g_autofree char *copy = NULL;
	gsize len = 0;
	GError *error = NULL;
	int fd;

	for (guint32 i = 0; i < t->piece_count; i++)
		write_piece(store, t, i);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(net_store_copy_to(store, fd, &error));
	g_assert_no_error(error);
	g_assert_cmpint(close(fd), ==, 0);
	g_assert_true(g_file_get_contents(path, &copy, &len, &error));
	g_assert_cmpmem(copy, len, t->content, t->length);

	/* A file that cannot be written: the error names the store. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	g_assert_false(net_store_copy_to(store, fd, &error));
	g_assert_nonnull(error);
	g_assert_true(error->domain == G_IO_ERROR);
	g_assert_nonnull(strstr(error->message, ".data"));
	g_clear_error(&error);
	close(fd);
}

static void test_geometry(void)
{
	g_autoptr(Torrent) t = torrent_new();
	g_autoptr(GBytes) short_hashes =
		g_bytes_new_from_bytes(t->hashes, 0, 20 * 5);
	GError *error = NULL;

	g_assert_null(net_store_open(t->dir, t->info_hash, t->piece_length,
				     t->length, short_hashes, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_METAINFO);
	g_clear_error(&error);
	g_assert_null(net_store_open(t->dir, t->info_hash, 0, t->length,
				     t->hashes, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_METAINFO);
	g_clear_error(&error);
}

static void test_empty_file(void)
{
	g_autofree char *dir = make_tmp_dir();
	g_autoptr(Torrent) t = torrent_new_in(dir, 64 * KiB, 0, G_MAXUINT32);
	g_autoptr(NetStore) store = store_open(t);

	g_assert_cmpuint(net_store_get_piece_count(store), ==, 0);
	g_assert_true(net_store_is_complete(store));
	sync_store(store);
	g_clear_pointer(&store, net_store_free);
	store = store_open(t);
	g_assert_true(net_store_is_complete(store));
}

/* ---- many writers at once -------------------------------------------- */

typedef struct {
	NetStore *store;
	Torrent *t;
	gint verified;
	gint errors;
} Shared;

static void write_job(gpointer data, gpointer user_data)
{
	guint32 id = GPOINTER_TO_UINT(data) - 1;
	Shared *shared = user_data;
	NetStoreWrite outcome;
	GError *error = NULL;

	if (!write_block(shared->store, shared->t, id >> 16, id & 0xffff,
			 &outcome, &error)) {
		g_atomic_int_inc(&shared->errors);
		g_clear_error(&error);
	} else if (outcome == NET_STORE_WRITE_PIECE_VERIFIED) {
		g_atomic_int_inc(&shared->verified);
	}
}

/* Four workers, every block sent twice (end game): each piece is
 * verified exactly once and the file comes out right. */
static void test_concurrent_writers(void)
{
	g_autofree char *dir = make_tmp_dir();
	g_autoptr(Torrent) t =
		torrent_new_in(dir, 128 * KiB, 40 * 128 * KiB - 1, G_MAXUINT32);
	g_autoptr(NetStore) store = store_open(t);
	Shared shared = {store, t, 0, 0};
	GThreadPool *pool =
		g_thread_pool_new(write_job, &shared, 4, TRUE, NULL);
	guint n;
	g_autofree guint32 *order = all_blocks(t, &n);

	for (guint round = 0; round < 2; round++) {
		shuffle(order, n);
		for (guint i = 0; i < n; i++)
			g_thread_pool_push(pool, GUINT_TO_POINTER(order[i] + 1),
					   NULL);
	}
	g_thread_pool_free(pool, FALSE, TRUE);
	g_assert_cmpint(shared.errors, ==, 0);
	g_assert_cmpint(shared.verified, ==, (gint)t->piece_count);
	g_assert_true(net_store_is_complete(store));
	assert_file_equals(t);
}

/* ---- a full disk ------------------------------------------------------ */

/* A real ENOSPC: a 256 KiB tmpfs in a mount namespace of our own, so
 * it disappears with this subprocess whatever happens. */
static gboolean mount_small_tmpfs(const char *dir)
{
	return unshare(CLONE_NEWNS) == 0 &&
	       mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	       mount("tmpfs", dir, "tmpfs", 0, "size=256k") == 0;
}

/* Without the privilege for a mount, writes past 256 KiB fail through
 * RLIMIT_FSIZE instead (EFBIG rather than ENOSPC, same code path). */
static void limit_file_size(void)
{
	struct rlimit lim = {256 * KiB, 256 * KiB};

	signal(SIGXFSZ, SIG_IGN);
	g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &lim), ==, 0);
}

/* Fills the store piece by piece until a write fails; returns the
 * piece that could not be completed. */
static guint32 fill_until_full(NetStore *store, Torrent *t, gboolean real)
{
	for (guint32 p = 0; p < t->piece_count; p++) {
		for (guint32 b = 0; b < blocks_in(t, p); b++) {
			NetStoreWrite outcome;
			GError *error = NULL;
			if (write_block(store, t, p, b, &outcome, &error))
				continue;
			if (real)
				g_assert_error(error, G_IO_ERROR,
					       G_IO_ERROR_NO_SPACE);
			else
				g_assert_nonnull(error);
			g_assert_nonnull(strstr(error->message, "piece"));
			g_test_message("%s", error->message);
			g_error_free(error);
			return p;
		}
		if (p % 2 == 1)
			sync_store(store);
	}
	g_assert_not_reached();
}

static void disk_full_child(void)
{
	g_autofree char *dir = make_tmp_dir();
	gboolean real = mount_small_tmpfs(dir);
	g_autoptr(Torrent) t =
		torrent_new_in(dir, 32 * KiB, 1024 * KiB, G_MAXUINT32);
	g_autoptr(NetStore) store = store_open(t);
	guint32 full;
	GError *error = NULL;

	g_test_message("full disk: %s", real ? "tmpfs" : "RLIMIT_FSIZE");
	if (!real)
		limit_file_size();
	full = fill_until_full(store, t, real);

	g_assert_cmpuint(full, >, 1);
	g_assert_false(net_store_has_piece(store, full));
	g_assert_cmpuint(net_store_verified_count(store), ==, full);
	/* Whether or not the last bitmap fits, nothing it claims is
	 * wrong: reopen and check every claimed piece against the data. */
	if (!net_store_sync(store, &error))
		g_clear_error(&error);
	g_clear_pointer(&store, net_store_free);
	store = store_open(t);
	g_assert_cmpuint(net_store_verified_count(store), ==, full);
	g_assert_false(net_store_has_piece(store, full));
	for (guint32 p = 0; p < t->piece_count; p++) {
		guint8 buf[32 * KiB];
		if (!net_store_has_piece(store, p))
			continue;
		g_assert_true(
			net_store_read(store, p, 0, buf, sizeof(buf), &error));
		g_assert_cmpmem(buf, sizeof(buf),
				t->content + (gsize)p * t->piece_length,
				sizeof(buf));
	}
	g_clear_pointer(&store, net_store_free);
	if (real)
		g_assert_cmpint(umount(dir), ==, 0);
}

static void test_disk_full(void)
{
	if (g_test_subprocess()) {
		disk_full_child();
		return;
	}
	g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, 0);
	g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/store/random-order", test_random_order);
	g_test_add_func("/net/store/hash-mismatch", test_hash_mismatch);
	g_test_add_func("/net/store/bad-blocks", test_bad_blocks);
	g_test_add_func("/net/store/restart", test_restart);
	g_test_add_func("/net/store/restart-without-sync",
			test_restart_without_sync);
	g_test_add_func("/net/store/bitmap-flipped-bit",
			test_bitmap_flipped_bit);
	g_test_add_func("/net/store/bitmap-torn", test_bitmap_torn);
	g_test_add_func("/net/store/bitmap-other-torrent",
			test_bitmap_other_torrent);
	g_test_add_func("/net/store/data-changed", test_data_changed);
	g_test_add_func("/net/store/read", test_read);
	g_test_add_func("/net/store/evict", test_evict);
	g_test_add_func("/net/store/verify-piece", test_verify_piece);
	g_test_add_func("/net/store/verify-all", test_verify_all);
	g_test_add_func("/net/store/zero-piece", test_zero_piece);
	g_test_add_func("/net/store/import", test_import);
	g_test_add_func("/net/store/copy-to", test_copy_to);
	g_test_add_func("/net/store/geometry", test_geometry);
	g_test_add_func("/net/store/empty-file", test_empty_file);
	g_test_add_func("/net/store/concurrent-writers",
			test_concurrent_writers);
	g_test_add_func("/net/store/disk-full", test_disk_full);
	return g_test_run();
}
