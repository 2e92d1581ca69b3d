#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/evp.h>

#include "net-error.h"

#define SHA1_LEN 20
/* Hashing reads a piece back in chunks of this size, whatever the piece
 * length, so memory stays bounded and the data comes from page cache. */
#define HASH_CHUNK (256u * 1024u)

/* The bitmap file, all integers little-endian. */
#define BITMAP_MAGIC "GFSBMAP\n"
#define BITMAP_VERSION 1u
enum {
	BM_MAGIC = 0, /* 8 bytes */
	BM_VERSION = 8, /* u32 */
	BM_PIECE_COUNT = 12, /* u32 */
	BM_PIECE_LENGTH = 16, /* u32 */
	BM_RESERVED = 20, /* u32, zero */
	BM_LENGTH = 24, /* u64 */
	BM_DATA_MTIME = 32, /* u64, ns: the data file when it was synced */
	BM_INFO_HASH = 40, /* 20 bytes */
	BM_BITS = 60, /* then the bits, then a SHA-1 of all before it */
};

/* A piece with blocks written or being written. */
typedef struct {
	guint32 n_blocks;
	guint32 n_written; /* pwrite finished */
	gboolean hashing; /* all written; the writer of the last one hashes */
	guint8 claimed[]; /* bit per block: written or being written */
} Partial;

struct _NetStore {
	/* Immutable after open. */
	guint8 info_hash[SHA1_LEN];
	char *hex;
	char *dir;
	guint32 piece_length;
	guint32 piece_count;
	guint64 length;
	GBytes *piece_hashes;
	int dir_fd;
	int data_fd;

	/* Serialises the writers of the bitmap file: sync, evict, verify. */
	GMutex io_lock;

	GMutex lock; /* protects everything below */
	NetBitfield *verified; /* hash matched: may be served */
	NetBitfield *durable; /* claimed by the bitmap file; within verified */
	GHashTable *partials; /* piece -> Partial */
	guint64 verified_bytes;
	/* The bitmap file no longer says everything: data was written, or
	 * a piece it claims was found bad. */
	gboolean bitmap_stale;
};

/* ---- small helpers ------------------------------------------------- */

#define HEX_LEN (2 * SHA1_LEN + 1)

static void format_hex(const guint8 info_hash[SHA1_LEN], char hex[HEX_LEN])
{
	for (int i = 0; i < SHA1_LEN; i++)
		g_snprintf(hex + 2 * i, 3, "%02x", info_hash[i]);
}

static char *data_name(const char *hex)
{
	return g_strconcat(hex, ".data", NULL);
}

static char *bitmap_name(const char *hex)
{
	return g_strconcat(hex, ".bitmap", NULL);
}

static guint64 piece_offset(const NetStore *store, guint32 piece)
{
	return (guint64)piece * store->piece_length;
}

guint32 net_store_get_piece_size(const NetStore *store, guint32 piece)
{
	g_return_val_if_fail(piece < store->piece_count, 0);
	return (guint32)MIN((guint64)store->piece_length,
			    store->length - piece_offset(store, piece));
}

static const guint8 *piece_hash(const NetStore *store, guint32 piece)
{
	gsize len;
	const guint8 *hashes = g_bytes_get_data(store->piece_hashes, &len);
	return hashes + (gsize)piece * SHA1_LEN;
}

static gboolean set_io_error(GError **error, int errsv, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* Converts errno once, at the syscall edge, with a sentence of context. */
static gboolean set_io_error(GError **error, int errsv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errsv), "%s: %s.",
		    what, g_strerror(errsv));
	return FALSE;
}

static int pwrite_full(int fd, const guint8 *buf, gsize len, guint64 off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		buf += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return 0;
}

/* Reads past the end of the file are errors: the data file always has
 * its full length, so a short read means someone truncated it. */
static int pread_full(int fd, guint8 *buf, gsize len, guint64 off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;
		buf += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return 0;
}

static guint64 mtime_ns(const struct stat *st)
{
	return (guint64)st->st_mtim.tv_sec * G_GUINT64_CONSTANT(1000000000) +
	       (guint64)st->st_mtim.tv_nsec;
}

/* ---- hashing --------------------------------------------------------- */

/* SHA-1 of @len bytes of @fd at @off, read back in chunks. */
static int hash_range(int fd, guint64 off, guint32 len, guint8 md[SHA1_LEN])
{
	g_autofree guint8 *buf = g_malloc(MIN(len, HASH_CHUNK) + 1);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int err = 0;

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL))
		err = ENOMEM;
	while (err == 0 && len > 0) {
		guint32 n = MIN(len, HASH_CHUNK);
		err = pread_full(fd, buf, n, off);
		if (err == 0 && !EVP_DigestUpdate(ctx, buf, n))
			err = ENOMEM;
		off += n;
		len -= n;
	}
	if (err == 0 && !EVP_DigestFinal_ex(ctx, md, NULL))
		err = ENOMEM;
	EVP_MD_CTX_free(ctx);
	return err;
}

/* TRUE with *@match set, or FALSE on a read error. */
static gboolean piece_matches(NetStore *store, guint32 piece, gboolean *match,
			      GError **error)
{
	guint8 md[SHA1_LEN];
	int err = hash_range(store->data_fd, piece_offset(store, piece),
			     net_store_get_piece_size(store, piece), md);
	if (err != 0)
		return set_io_error(
			error, err,
			"Could not read piece %u of %s back to check it", piece,
			store->hex);
	*match = memcmp(md, piece_hash(store, piece), SHA1_LEN) == 0;
	return TRUE;
}

static gboolean hash_mismatch(NetStore *store, guint32 piece, GError **error)
{
	g_set_error(
		error, NET_ERROR, NET_ERROR_HASH_MISMATCH,
		"Piece %u of %s does not match its SHA-1; it was discarded and must be fetched again.",
		piece, store->hex);
	return FALSE;
}

/* ---- verified set (call with store->lock held) ----------------------- */

static void mark_verified(NetStore *store, guint32 piece)
{
	if (net_bitfield_get(store->verified, piece))
		return;
	net_bitfield_set(store->verified, piece);
	store->verified_bytes += net_store_get_piece_size(store, piece);
}

static void unmark_verified(NetStore *store, guint32 piece)
{
	if (!net_bitfield_get(store->verified, piece))
		return;
	net_bitfield_clear(store->verified, piece);
	net_bitfield_clear(store->durable, piece);
	store->verified_bytes -= net_store_get_piece_size(store, piece);
}

/* ---- the bitmap file ------------------------------------------------- */

static gsize bitmap_file_size(const NetStore *store)
{
	return BM_BITS + (store->piece_count + 7u) / 8u + SHA1_LEN;
}

static GByteArray *bitmap_encode(const NetStore *store, const NetBitfield *bits,
				 guint64 data_mtime)
{
	gsize size = bitmap_file_size(store);
	GByteArray *out = g_byte_array_sized_new((guint)size);
	guint32 u32[4] = {GUINT32_TO_LE(BITMAP_VERSION),
			  GUINT32_TO_LE(store->piece_count),
			  GUINT32_TO_LE(store->piece_length), 0};
	guint64 u64[2] = {GUINT64_TO_LE(store->length),
			  GUINT64_TO_LE(data_mtime)};

	g_byte_array_set_size(out, (guint)size);
	memcpy(out->data + BM_MAGIC, BITMAP_MAGIC, 8);
	memcpy(out->data + BM_VERSION, u32, sizeof(u32));
	memcpy(out->data + BM_LENGTH, u64, sizeof(u64));
	memcpy(out->data + BM_INFO_HASH, store->info_hash, SHA1_LEN);
	memcpy(out->data + BM_BITS, net_bitfield_bytes(bits),
	       net_bitfield_byte_length(bits));
	EVP_Digest(out->data, size - SHA1_LEN, out->data + size - SHA1_LEN,
		   NULL, EVP_sha1(), NULL);
	return out;
}

static guint32 get_u32(const guint8 *p)
{
	guint32 v;
	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_LE(v);
}

static guint64 get_u64(const guint8 *p)
{
	guint64 v;
	memcpy(&v, p, sizeof(v));
	return GUINT64_FROM_LE(v);
}

/* Whether @buf is a sound bitmap of this very torrent; fills @bits and
 * @data_mtime if so. Anything else (torn, foreign, older version) is
 * simply not trusted. */
static gboolean bitmap_decode(const NetStore *store, const guint8 *buf,
			      gsize len, NetBitfield *bits, guint64 *data_mtime)
{
	guint8 md[SHA1_LEN];

	if (len != bitmap_file_size(store))
		return FALSE;
	EVP_Digest(buf, len - SHA1_LEN, md, NULL, EVP_sha1(), NULL);
	if (memcmp(md, buf + len - SHA1_LEN, SHA1_LEN) != 0 ||
	    memcmp(buf + BM_MAGIC, BITMAP_MAGIC, 8) != 0 ||
	    get_u32(buf + BM_VERSION) != BITMAP_VERSION ||
	    get_u32(buf + BM_PIECE_COUNT) != store->piece_count ||
	    get_u32(buf + BM_PIECE_LENGTH) != store->piece_length ||
	    get_u32(buf + BM_RESERVED) != 0 ||
	    get_u64(buf + BM_LENGTH) != store->length ||
	    memcmp(buf + BM_INFO_HASH, store->info_hash, SHA1_LEN) != 0)
		return FALSE;
	*data_mtime = get_u64(buf + BM_DATA_MTIME);
	return net_bitfield_set_bytes(bits, buf + BM_BITS,
				      len - BM_BITS - SHA1_LEN, NULL);
}

static int write_file_durably(int dir_fd, const char *name,
			      const GByteArray *bytes)
{
	g_autofree char *tmp = g_strconcat(name, ".tmp", NULL);
	int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);
	int err;

	if (fd < 0)
		return errno;
	err = pwrite_full(fd, bytes->data, bytes->len, 0);
	if (err == 0 && fsync(fd) < 0)
		err = errno;
	if (close(fd) < 0 && err == 0)
		err = errno;
	if (err == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
		err = errno;
	if (err != 0) {
		unlinkat(dir_fd, tmp, 0);
		return err;
	}
	return fsync(dir_fd) < 0 ? errno : 0;
}

/* Replaces the bitmap file with @bits, recording the data file's
 * current mtime. Call with io_lock held and the data of @bits durable. */
static gboolean bitmap_store(NetStore *store, const NetBitfield *bits,
			     GError **error)
{
	g_autofree char *name = bitmap_name(store->hex);
	g_autoptr(GByteArray) bytes = NULL;
	struct stat st;
	int err;

	if (fstat(store->data_fd, &st) < 0)
		return set_io_error(error, errno, "Could not stat %s/%s.data",
				    store->dir, store->hex);
	bytes = bitmap_encode(store, bits, mtime_ns(&st));
	err = write_file_durably(store->dir_fd, name, bytes);
	if (err != 0)
		return set_io_error(error, err, "Could not save %s/%s",
				    store->dir, name);
	return TRUE;
}

/* Loads the bitmap into verified and durable if it can be trusted. */
static gboolean bitmap_load(NetStore *store)
{
	g_autofree char *name = bitmap_name(store->hex);
	g_autofree guint8 *buf = NULL;
	gsize size = bitmap_file_size(store);
	guint64 recorded_mtime = 0;
	struct stat st;
	int fd = openat(store->dir_fd, name, O_RDONLY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0)
		return FALSE;
	buf = g_malloc(size);
	ok = fstat(fd, &st) == 0 && (guint64)st.st_size == size &&
	     pread_full(fd, buf, size, 0) == 0;
	close(fd);
	ok = ok &&
	     bitmap_decode(store, buf, size, store->durable, &recorded_mtime);
	ok = ok && fstat(store->data_fd, &st) == 0 &&
	     mtime_ns(&st) == recorded_mtime;
	if (!ok) {
		net_bitfield_clear_all(store->durable);
		return FALSE;
	}
	for (guint32 i = 0; i < store->piece_count; i++)
		if (net_bitfield_get(store->durable, i))
			mark_verified(store, i);
	return TRUE;
}

/* ---- verification of what is on disk ------------------------------- */

typedef struct {
	guint64 next_data; /* offset of the next data extent, or G_MAXUINT64 */
	guint8 zero_md[2][SHA1_LEN]; /* full piece, last piece */
} Scan;

/* The SHA-1 of a piece that is a hole: a sparse download stores an
 * all-zero piece that way, and it must still count. */
static void zero_hashes(const NetStore *store, Scan *scan)
{
	g_autofree guint8 *zeros = g_malloc0(HASH_CHUNK);
	guint32 sizes[2] = {
		store->piece_length,
		net_store_get_piece_size(store, store->piece_count - 1)};

	for (int k = 0; k < 2; k++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
		for (guint32 left = sizes[k]; left > 0;) {
			guint32 n = MIN(left, HASH_CHUNK);
			EVP_DigestUpdate(ctx, zeros, n);
			left -= n;
		}
		EVP_DigestFinal_ex(ctx, scan->zero_md[k], NULL);
		EVP_MD_CTX_free(ctx);
	}
}

static gboolean piece_has_data(NetStore *store, Scan *scan, guint32 piece)
{
	guint64 off = piece_offset(store, piece);

	if (scan->next_data < off) {
		off_t d = lseek(store->data_fd, (off_t)off, SEEK_DATA);
		/* ENXIO: no data after @off. Any other error: assume data,
		 * which only costs a read. */
		if (d < 0)
			scan->next_data = errno == ENXIO ? G_MAXUINT64 : off;
		else
			scan->next_data = (guint64)d;
	}
	return scan->next_data < off + net_store_get_piece_size(store, piece);
}

static gboolean scan_piece(NetStore *store, Scan *scan, guint32 piece,
			   gboolean *match, GError **error)
{
	gboolean last = piece == store->piece_count - 1;

	if (piece_has_data(store, scan, piece))
		return piece_matches(store, piece, match, error);
	*match = memcmp(scan->zero_md[last], piece_hash(store, piece),
			SHA1_LEN) == 0;
	return TRUE;
}

/* Makes verified exactly the pieces whose bytes on disk match. */
static gboolean rescan(NetStore *store, GError **error)
{
	Scan scan = {.next_data = 0};

	if (store->piece_count == 0)
		return TRUE;
	zero_hashes(store, &scan);
	for (guint32 i = 0; i < store->piece_count; i++) {
		gboolean match;
		if (!scan_piece(store, &scan, i, &match, error))
			return FALSE;
		g_mutex_lock(&store->lock);
		if (!match && net_bitfield_get(store->durable, i))
			store->bitmap_stale = TRUE;
		if (match)
			mark_verified(store, i);
		else
			unmark_verified(store, i);
		g_mutex_unlock(&store->lock);
	}
	return TRUE;
}

/* ---- open, import, free -------------------------------------------- */

static gboolean check_geometry(guint32 piece_length, guint64 length,
			       GBytes *piece_hashes, guint32 *piece_count,
			       GError **error)
{
	guint64 count =
		piece_length ? (length + piece_length - 1) / piece_length : 0;

	if (piece_length == 0 || count > G_MAXUINT32 ||
	    g_bytes_get_size(piece_hashes) != count * SHA1_LEN) {
		g_set_error(
			error, NET_ERROR, NET_ERROR_METAINFO,
			"A torrent of %" G_GUINT64_FORMAT
			" bytes in pieces of %u bytes cannot have %" G_GSIZE_FORMAT
			" bytes of piece hashes.",
			length, piece_length, g_bytes_get_size(piece_hashes));
		return FALSE;
	}
	*piece_count = (guint32)count;
	return TRUE;
}

static NetStore *store_new(const char *dir, const guint8 info_hash[20],
			   guint32 piece_length, guint64 length,
			   guint32 piece_count, GBytes *piece_hashes)
{
	NetStore *store = g_new0(NetStore, 1);

	memcpy(store->info_hash, info_hash, SHA1_LEN);
	store->hex = g_malloc(HEX_LEN);
	format_hex(info_hash, store->hex);
	store->dir = g_strdup(dir);
	store->piece_length = piece_length;
	store->piece_count = piece_count;
	store->length = length;
	store->piece_hashes = g_bytes_ref(piece_hashes);
	store->dir_fd = -1;
	store->data_fd = -1;
	g_mutex_init(&store->io_lock);
	g_mutex_init(&store->lock);
	store->verified = net_bitfield_new(piece_count);
	store->durable = net_bitfield_new(piece_count);
	store->partials = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	return store;
}

void net_store_free(NetStore *store)
{
	if (store == NULL)
		return;
	if (store->data_fd >= 0)
		close(store->data_fd);
	if (store->dir_fd >= 0)
		close(store->dir_fd);
	g_hash_table_destroy(store->partials);
	net_bitfield_free(store->durable);
	net_bitfield_free(store->verified);
	g_mutex_clear(&store->lock);
	g_mutex_clear(&store->io_lock);
	g_bytes_unref(store->piece_hashes);
	g_free(store->dir);
	g_free(store->hex);
	g_free(store);
}

static gboolean open_files(NetStore *store, GError **error)
{
	g_autofree char *name = data_name(store->hex);
	struct stat st;

	if (g_mkdir_with_parents(store->dir, 0700) < 0)
		return set_io_error(error, errno, "Could not create %s",
				    store->dir);
	store->dir_fd = open(store->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (store->dir_fd < 0)
		return set_io_error(error, errno, "Could not open %s",
				    store->dir);
	store->data_fd =
		openat(store->dir_fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (store->data_fd < 0 || fstat(store->data_fd, &st) < 0)
		return set_io_error(error, errno, "Could not open %s/%s",
				    store->dir, name);
	/* A sparse file at full length: blocks land anywhere, and only the
	 * blocks written take space. */
	if ((guint64)st.st_size != store->length &&
	    ftruncate(store->data_fd, (off_t)store->length) < 0)
		return set_io_error(error, errno, "Could not size %s/%s",
				    store->dir, name);
	return TRUE;
}

NetStore *net_store_open(const char *dir, const guint8 info_hash[20],
			 guint32 piece_length, guint64 length,
			 GBytes *piece_hashes, GError **error)
{
	g_autoptr(NetStore) store = NULL;
	guint32 piece_count;

	if (!check_geometry(piece_length, length, piece_hashes, &piece_count,
			    error))
		return NULL;
	store = store_new(dir, info_hash, piece_length, length, piece_count,
			  piece_hashes);
	if (!open_files(store, error))
		return NULL;
	/* What a rescan finds is claimed on disk by the caller's next sync,
	 * so that a full disk does not stop a seeder from starting. */
	if (!bitmap_load(store) && !rescan(store, error))
		return NULL;
	return g_steal_pointer(&store);
}

/* The first @length bytes of @src into the empty file @dst: a reflink
 * where the filesystem shares extents, else a kernel copy, else read
 * and write (copy_file_range refuses some pairs of filesystems).
 * Explicit offsets, so the position of a shared fd is never touched.
 * No sync. */
static int copy_fd(int src, int dst, guint64 length)
{
	loff_t in = 0, out = 0;
	g_autofree guint8 *buf = NULL;

	if (ioctl(dst, FICLONE, src) == 0)
		return 0;
	while ((guint64)in < length) {
		ssize_t n =
			copy_file_range(src, &in, dst, &out,
					MIN(length - (guint64)in, 1u << 30), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
	}
	if ((guint64)in < length)
		buf = g_malloc(HASH_CHUNK);
	while ((guint64)in < length) {
		guint32 n = (guint32)MIN(length - (guint64)in, HASH_CHUNK);
		int err = pread_full(src, buf, n, (guint64)in);
		if (err == 0)
			err = pwrite_full(dst, buf, n, (guint64)in);
		if (err != 0)
			return err;
		in += n;
	}
	return 0;
}

gboolean net_store_copy_to(NetStore *store, int fd, GError **error)
{
	int err = copy_fd(store->data_fd, fd, store->length);

	if (err != 0)
		return set_io_error(error, err, "Could not copy %s/%s.data",
				    store->dir, store->hex);
	return TRUE;
}

/* The file to publish, which must still have the torrent's length. */
static int open_source(const char *path, guint64 length, GError **error)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		int errsv = errno;
		if (fd >= 0)
			close(fd);
		set_io_error(error, errsv, "Could not open %s", path);
		return -1;
	}
	if ((guint64)st.st_size != length) {
		close(fd);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s has %" G_GUINT64_FORMAT
			    " bytes but its torrent says %" G_GUINT64_FORMAT
			    "; was it changed after it was hashed?",
			    path, (guint64)st.st_size, length);
		return -1;
	}
	return fd;
}

/* Copies @src over @data_path durably, the old bitmap gone first so
 * that it can never vouch for the new bytes. Takes ownership of @src. */
static int copy_in(int src, guint64 length, const char *data_path,
		   const char *bitmap_path)
{
	g_autofree char *tmp_path = g_strconcat(data_path, ".tmp", NULL);
	int dst =
		open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = dst < 0 ? errno : copy_fd(src, dst, length);

	if (err == 0 && fdatasync(dst) < 0)
		err = errno;
	if (dst >= 0 && close(dst) < 0 && err == 0)
		err = errno;
	close(src);
	if (err == 0 && unlink(bitmap_path) < 0 && errno != ENOENT)
		err = errno;
	if (err == 0 && rename(tmp_path, data_path) < 0)
		err = errno;
	if (err != 0)
		g_unlink(tmp_path);
	return err;
}

static gboolean import_data(const char *dir, const char *hex, guint64 length,
			    const char *source_path, GError **error)
{
	g_autofree char *base = g_build_filename(dir, hex, NULL);
	g_autofree char *data_path = g_strconcat(base, ".data", NULL);
	g_autofree char *bitmap_path = g_strconcat(base, ".bitmap", NULL);
	int src, err;

	if (g_mkdir_with_parents(dir, 0700) < 0)
		return set_io_error(error, errno, "Could not create %s", dir);
	src = open_source(source_path, length, error);
	if (src < 0)
		return FALSE;
	err = copy_in(src, length, data_path, bitmap_path);
	if (err != 0)
		return set_io_error(error, err, "Could not copy %s to %s",
				    source_path, data_path);
	return TRUE;
}

static gboolean check_imported(NetStore *store, const char *source_path,
			       GError **error)
{
	for (guint32 i = 0; i < store->piece_count; i++) {
		if (!net_store_has_piece(store, i)) {
			g_set_error(
				error, NET_ERROR, NET_ERROR_HASH_MISMATCH,
				"Piece %u of %s does not match its SHA-1; was the file changed after it was hashed?",
				i, source_path);
			return FALSE;
		}
	}
	return TRUE;
}

NetStore *net_store_import(const char *dir, const guint8 info_hash[20],
			   guint32 piece_length, guint64 length,
			   GBytes *piece_hashes, const char *source_path,
			   GError **error)
{
	g_autoptr(NetStore) store = NULL;
	char hex[HEX_LEN];
	guint32 piece_count;

	if (!check_geometry(piece_length, length, piece_hashes, &piece_count,
			    error))
		return NULL;
	format_hex(info_hash, hex);
	if (!import_data(dir, hex, length, source_path, error))
		return NULL;
	/* No bitmap now, so opening hashes every piece of the copy. */
	store = net_store_open(dir, info_hash, piece_length, length,
			       piece_hashes, error);
	if (store != NULL && (!check_imported(store, source_path, error) ||
			      !net_store_sync(store, error))) {
		g_clear_pointer(&store, net_store_free);
		net_store_unlink(dir, info_hash, NULL);
	}
	return g_steal_pointer(&store);
}

/* Links @source_path in as the data file of @hex, the old bitmap gone
 * first so that it can never vouch for these bytes. */
static gboolean adopt_data(const char *dir, const char *hex, guint64 length,
			   const char *source_path, GError **error)
{
	g_autofree char *base = g_build_filename(dir, hex, NULL);
	g_autofree char *data_path = g_strconcat(base, ".data", NULL);
	g_autofree char *bitmap_path = g_strconcat(base, ".bitmap", NULL);
	g_autofree char *tmp_path = g_strconcat(data_path, ".tmp", NULL);
	int src = open_source(source_path, length, error);

	if (src < 0)
		return FALSE;
	close(src);
	if (g_mkdir_with_parents(dir, 0700) < 0)
		return set_io_error(error, errno, "Could not create %s", dir);
	if (unlink(bitmap_path) < 0 && errno != ENOENT)
		return set_io_error(error, errno, "Could not delete %s",
				    bitmap_path);
	/* A link then a rename: an old data file is replaced at once. */
	g_unlink(tmp_path);
	if (link(source_path, tmp_path) < 0)
		return set_io_error(error, errno, "Could not link %s to %s",
				    source_path, tmp_path);
	if (rename(tmp_path, data_path) < 0) {
		int errsv = errno;
		g_unlink(tmp_path);
		return set_io_error(error, errsv, "Could not rename %s",
				    tmp_path);
	}
	return TRUE;
}

NetStore *net_store_adopt(const char *dir, const guint8 info_hash[20],
			  guint32 piece_length, guint64 length,
			  GBytes *piece_hashes, const char *source_path,
			  GError **error)
{
	g_autoptr(NetStore) store = NULL;
	char hex[HEX_LEN];
	guint32 piece_count;

	if (!check_geometry(piece_length, length, piece_hashes, &piece_count,
			    error))
		return NULL;
	format_hex(info_hash, hex);
	if (!adopt_data(dir, hex, length, source_path, error))
		return NULL;
	store = store_new(dir, info_hash, piece_length, length, piece_count,
			  piece_hashes);
	if (!open_files(store, error)) {
		g_clear_pointer(&store, net_store_free);
		net_store_unlink(dir, info_hash, NULL);
		return NULL;
	}
	/* The caller vouches for every piece; the next sync claims them. */
	g_mutex_lock(&store->lock);
	for (guint32 i = 0; i < piece_count; i++)
		mark_verified(store, i);
	store->bitmap_stale = TRUE;
	g_mutex_unlock(&store->lock);
	return g_steal_pointer(&store);
}

gboolean net_store_unlink(const char *dir, const guint8 info_hash[20],
			  GError **error)
{
	static const char *const suffixes[] = {".bitmap", ".data",
					       ".bitmap.tmp", ".data.tmp"};
	char hex[HEX_LEN];

	format_hex(info_hash, hex);
	/* The bitmap first: without it, leftover data is never trusted. */
	for (gsize i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *base = g_strconcat(hex, suffixes[i], NULL);
		g_autofree char *path = g_build_filename(dir, base, NULL);
		if (g_unlink(path) < 0 && errno != ENOENT)
			return set_io_error(error, errno, "Could not delete %s",
					    path);
	}
	return TRUE;
}

/* ---- writing blocks ------------------------------------------------- */

static gboolean check_block(NetStore *store, guint32 piece, guint32 begin,
			    gsize len, GError **error)
{
	guint32 size;

	if (piece >= store->piece_count) {
		g_set_error(error, NET_ERROR, NET_ERROR_PROTOCOL,
			    "Block for piece %u, but %s has %u pieces.", piece,
			    store->hex, store->piece_count);
		return FALSE;
	}
	size = net_store_get_piece_size(store, piece);
	if (begin % NET_STORE_BLOCK_SIZE != 0 || begin >= size ||
	    len != MIN(NET_STORE_BLOCK_SIZE, size - begin)) {
		g_set_error(
			error, NET_ERROR, NET_ERROR_PROTOCOL,
			"Block of %" G_GSIZE_FORMAT
			" bytes at offset %u of piece %u of %s does not match a 16 KiB block of the piece.",
			len, begin, piece, store->hex);
		return FALSE;
	}
	return TRUE;
}

static Partial *partial_get(NetStore *store, guint32 piece)
{
	Partial *p =
		g_hash_table_lookup(store->partials, GUINT_TO_POINTER(piece));
	guint32 n_blocks;

	if (p != NULL)
		return p;
	n_blocks = (net_store_get_piece_size(store, piece) +
		    NET_STORE_BLOCK_SIZE - 1) /
		   NET_STORE_BLOCK_SIZE;
	p = g_malloc0(sizeof(Partial) + (n_blocks + 7) / 8);
	p->n_blocks = n_blocks;
	g_hash_table_insert(store->partials, GUINT_TO_POINTER(piece), p);
	return p;
}

/* Claims @block of @piece for this writer; FALSE if someone has it. */
static gboolean block_claim(NetStore *store, guint32 piece, guint32 block)
{
	Partial *p;
	guint8 bit = (guint8)(0x80u >> (block % 8));
	gboolean claimed = FALSE;

	g_mutex_lock(&store->lock);
	if (!net_bitfield_get(store->verified, piece)) {
		p = partial_get(store, piece);
		claimed = !p->hashing && !(p->claimed[block / 8] & bit);
		if (claimed)
			p->claimed[block / 8] |= bit;
	}
	g_mutex_unlock(&store->lock);
	return claimed;
}

/* Settles a claimed block's write; TRUE if it completed its piece,
 * which the caller must then hash. */
static gboolean block_settle(NetStore *store, guint32 piece, guint32 block,
			     gboolean written)
{
	Partial *p;
	gboolean complete = FALSE;

	g_mutex_lock(&store->lock);
	p = g_hash_table_lookup(store->partials, GUINT_TO_POINTER(piece));
	if (written) {
		store->bitmap_stale = TRUE;
		complete = ++p->n_written == p->n_blocks;
		p->hashing = complete;
	} else {
		p->claimed[block / 8] &= (guint8) ~(0x80u >> (block % 8));
	}
	g_mutex_unlock(&store->lock);
	return complete;
}

/* Hashes a piece whose blocks are all written, and retires its
 * Partial: verified on a match, all blocks to fetch again otherwise. */
static gboolean piece_finish(NetStore *store, guint32 piece, GError **error)
{
	gboolean match = FALSE;
	gboolean ok = piece_matches(store, piece, &match, error);

	g_mutex_lock(&store->lock);
	g_hash_table_remove(store->partials, GUINT_TO_POINTER(piece));
	if (ok && match)
		mark_verified(store, piece);
	g_mutex_unlock(&store->lock);
	if (ok && !match)
		return hash_mismatch(store, piece, error);
	return ok;
}

gboolean net_store_write_block(NetStore *store, guint32 piece, guint32 begin,
			       const guint8 *data, gsize len,
			       NetStoreWrite *outcome, GError **error)
{
	guint32 block = begin / NET_STORE_BLOCK_SIZE;
	int err;

	*outcome = NET_STORE_WRITE_DUPLICATE;
	if (!check_block(store, piece, begin, len, error))
		return FALSE;
	if (!block_claim(store, piece, block))
		return TRUE;
	err = pwrite_full(store->data_fd, data, len,
			  piece_offset(store, piece) + begin);
	if (!block_settle(store, piece, block, err == 0)) {
		*outcome = NET_STORE_WRITE_STORED;
		return err == 0 ||
		       set_io_error(error, err,
				    "Could not write piece %u of %s to %s",
				    piece, store->hex, store->dir);
	}
	if (!piece_finish(store, piece, error))
		return FALSE;
	*outcome = NET_STORE_WRITE_PIECE_VERIFIED;
	return TRUE;
}

/* ---- sync, read, evict ---------------------------------------------- */

/* After a failed fdatasync the kernel may have dropped the dirty pages,
 * so whatever was verified since the last sync can no longer be
 * trusted. */
static guint32 forget_undurable(NetStore *store, const NetBitfield *snapshot)
{
	guint32 forgotten = 0;

	g_mutex_lock(&store->lock);
	for (guint32 i = 0; i < store->piece_count; i++) {
		if (net_bitfield_get(snapshot, i) &&
		    !net_bitfield_get(store->durable, i)) {
			unmark_verified(store, i);
			forgotten++;
		}
	}
	g_mutex_unlock(&store->lock);
	return forgotten;
}

static gboolean sync_locked(NetStore *store, GError **error)
{
	g_autoptr(NetBitfield) snapshot = NULL;
	int errsv;

	if (!net_store_needs_sync(store))
		return TRUE;
	g_mutex_lock(&store->lock);
	snapshot = net_bitfield_copy(store->verified);
	store->bitmap_stale = FALSE;
	g_mutex_unlock(&store->lock);
	if (fdatasync(store->data_fd) < 0) {
		errsv = errno;
		return set_io_error(
			error, errsv,
			"Could not flush %s/%s.data to disk, so the %u pieces verified since the last flush will be fetched again",
			store->dir, store->hex,
			forget_undurable(store, snapshot));
	}
	if (!bitmap_store(store, snapshot, error)) {
		g_mutex_lock(&store->lock);
		store->bitmap_stale = TRUE;
		g_mutex_unlock(&store->lock);
		return FALSE;
	}
	g_mutex_lock(&store->lock);
	/* Evictions are serialised with us by io_lock, so the snapshot is
	 * still within verified. */
	net_bitfield_set_bytes(store->durable, net_bitfield_bytes(snapshot),
			       net_bitfield_byte_length(snapshot), NULL);
	g_mutex_unlock(&store->lock);
	return TRUE;
}

gboolean net_store_sync(NetStore *store, GError **error)
{
	g_autoptr(GMutexLocker) io G_GNUC_UNUSED =
		g_mutex_locker_new(&store->io_lock);

	return sync_locked(store, error);
}

gboolean net_store_verify_all(NetStore *store, GError **error)
{
	g_autoptr(GMutexLocker) io G_GNUC_UNUSED =
		g_mutex_locker_new(&store->io_lock);

	return rescan(store, error) && sync_locked(store, error);
}

gboolean net_store_read(NetStore *store, guint32 piece, guint32 begin,
			guint8 *buf, gsize len, GError **error)
{
	int err;

	if (piece >= store->piece_count || !net_store_has_piece(store, piece) ||
	    begin > net_store_get_piece_size(store, piece) ||
	    len > net_store_get_piece_size(store, piece) - begin) {
		g_set_error(
			error, NET_ERROR, NET_ERROR_PROTOCOL,
			"Cannot serve %" G_GSIZE_FORMAT
			" bytes at offset %u of piece %u of %s: the piece is not verified or the range is outside it.",
			len, begin, piece, store->hex);
		return FALSE;
	}
	err = pread_full(store->data_fd, buf, len,
			 piece_offset(store, piece) + begin);
	if (err != 0)
		return set_io_error(error, err, "Could not read piece %u of %s",
				    piece, store->hex);
	return TRUE;
}

/* Drops @pieces from verified and rewrites the bitmap without them, so
 * the caller may then destroy their bytes. On failure nothing changes. */
static gboolean unclaim(NetStore *store, const guint32 *pieces, guint n,
			GError **error)
{
	g_autoptr(NetBitfield) before = NULL;
	g_autoptr(NetBitfield) durable = NULL;

	g_mutex_lock(&store->lock);
	before = net_bitfield_copy(store->verified);
	for (guint i = 0; i < n; i++)
		if (pieces[i] < store->piece_count)
			unmark_verified(store, pieces[i]);
	durable = net_bitfield_copy(store->durable);
	g_mutex_unlock(&store->lock);
	if (bitmap_store(store, durable, error))
		return TRUE;
	g_mutex_lock(&store->lock);
	for (guint i = 0; i < n; i++) {
		if (pieces[i] < store->piece_count &&
		    net_bitfield_get(before, pieces[i])) {
			mark_verified(store, pieces[i]);
		}
	}
	/* Their old durable bits are gone; sync puts them back. */
	g_mutex_unlock(&store->lock);
	return FALSE;
}

static gboolean punch(NetStore *store, guint32 piece, GError **error)
{
	if (fallocate(store->data_fd,
		      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)piece_offset(store, piece),
		      net_store_get_piece_size(store, piece)) < 0)
		return set_io_error(error, errno,
				    "Could not release piece %u of %s", piece,
				    store->hex);
	return TRUE;
}

static gboolean evict_locked(NetStore *store, const guint32 *pieces, guint n,
			     GError **error)
{
	g_autoptr(NetBitfield) durable = NULL;

	if (!unclaim(store, pieces, n, error))
		return FALSE;
	for (guint i = 0; i < n; i++)
		if (pieces[i] < store->piece_count &&
		    !punch(store, pieces[i], error))
			return FALSE;
	/* The holes changed the data file's mtime; record the new one, or
	 * the next open would distrust the bitmap and hash everything. */
	g_mutex_lock(&store->lock);
	durable = net_bitfield_copy(store->durable);
	g_mutex_unlock(&store->lock);
	return bitmap_store(store, durable, error);
}

gboolean net_store_evict(NetStore *store, const guint32 *pieces, guint n_pieces,
			 GError **error)
{
	g_autoptr(GMutexLocker) io G_GNUC_UNUSED =
		g_mutex_locker_new(&store->io_lock);

	return evict_locked(store, pieces, n_pieces, error);
}

/* Called with io_lock held. The piece goes from memory first: even if
 * the bitmap cannot be rewritten, it is not served again. */
static gboolean drop_bad_piece(NetStore *store, guint32 piece, GError **error)
{
	g_autoptr(NetBitfield) durable = NULL;

	g_mutex_lock(&store->lock);
	unmark_verified(store, piece);
	durable = net_bitfield_copy(store->durable);
	g_mutex_unlock(&store->lock);
	if (!bitmap_store(store, durable, error))
		return FALSE;
	return hash_mismatch(store, piece, error);
}

gboolean net_store_verify_piece(NetStore *store, guint32 piece, GError **error)
{
	g_autoptr(GMutexLocker) io = NULL;
	gboolean match = TRUE;

	g_return_val_if_fail(piece < store->piece_count, FALSE);
	io = g_mutex_locker_new(&store->io_lock);
	if (!net_store_has_piece(store, piece))
		return TRUE;
	if (!piece_matches(store, piece, &match, error))
		return FALSE;
	return match || drop_bad_piece(store, piece, error);
}

/* ---- queries -------------------------------------------------------- */

gboolean net_store_has_piece(NetStore *store, guint32 piece)
{
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_val_if_fail(piece < store->piece_count, FALSE);
	locker = g_mutex_locker_new(&store->lock);
	return net_bitfield_get(store->verified, piece);
}

guint32 net_store_verified_count(NetStore *store)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
		g_mutex_locker_new(&store->lock);

	return net_bitfield_count(store->verified);
}

gboolean net_store_is_complete(NetStore *store)
{
	return net_store_verified_count(store) == store->piece_count;
}

NetBitfield *net_store_dup_verified(NetStore *store)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
		g_mutex_locker_new(&store->lock);

	return net_bitfield_copy(store->verified);
}

guint64 net_store_verified_bytes(NetStore *store)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
		g_mutex_locker_new(&store->lock);

	return store->verified_bytes;
}

gboolean net_store_needs_sync(NetStore *store)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
		g_mutex_locker_new(&store->lock);

	return store->bitmap_stale ||
	       net_bitfield_count(store->verified) !=
		       net_bitfield_count(store->durable);
}

guint32 net_store_durable_count(NetStore *store)
{
	g_autoptr(GMutexLocker) locker G_GNUC_UNUSED =
		g_mutex_locker_new(&store->lock);

	return net_bitfield_count(store->durable);
}

guint32 net_store_get_piece_count(const NetStore *store)
{
	return store->piece_count;
}

guint32 net_store_get_piece_length(const NetStore *store)
{
	return store->piece_length;
}

guint64 net_store_get_length(const NetStore *store)
{
	return store->length;
}

int net_store_get_data_fd(const NetStore *store)
{
	return store->data_fd;
}
