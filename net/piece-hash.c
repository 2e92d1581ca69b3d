/*
 * piece-hash: workers claim pieces one at a time from a shared counter,
 * so they advance through the file together (the kernel sees a nearly
 * sequential stream and keeps its readahead) and a slow worker never
 * holds up the others at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <openssl/evp.h>

#include "piece-hash.h"

/* A worker reads at most this much at once: memory stays bounded for
 * any piece length, and the chunk is large enough that the cost of a
 * system call is noise next to the hashing. */
#define READ_CHUNK (1024u * 1024u)

typedef struct {
	const EVP_MD *md;
	int fd;
	guint64 length;
	guint32 piece_length;
	guint64 piece_count;
	/* Each piece's 20 bytes are written only by the worker that
	 * claimed the piece. */
	guint8 *hashes;
	atomic_uint_fast64_t next_piece;
	atomic_bool failed;
	GMutex lock;
	GError *error; /* protected by lock: the first failure only */
} HashJob;

/* Fetched once: an implicit fetch per digest would take a lock in
 * OpenSSL's provider store for every piece. Never freed, like any
 * process-wide table. */
static const EVP_MD *sha1_md(void)
{
	static const EVP_MD *md;

	if (g_once_init_enter(&md)) {
		EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA1", NULL);

		if (!fetched)
			g_error("OpenSSL has no SHA-1; is the default provider missing?");
		g_once_init_leave(&md, fetched);
	}
	return md;
}

guint64 net_piece_hash_count(guint64 length, guint32 piece_length)
{
	g_return_val_if_fail(piece_length > 0, 0);
	return length / piece_length + (length % piece_length != 0);
}

void net_piece_hash_compute(const void *data, gsize len,
			    guint8 out[NET_PIECE_HASH_SIZE])
{
	if (!EVP_Digest(data, len, out, NULL, sha1_md(), NULL))
		g_error("OpenSSL failed to compute a SHA-1");
}

gboolean net_piece_hash_verify(const void *data, gsize len,
			       const guint8 expected[NET_PIECE_HASH_SIZE])
{
	guint8 actual[NET_PIECE_HASH_SIZE];

	net_piece_hash_compute(data, len, actual);
	return memcmp(actual, expected, sizeof(actual)) == 0;
}

static gboolean read_exactly(int fd, guint8 *buf, gsize len, guint64 offset,
			     GError **error)
{
	while (len > 0) {
		gssize got = pread(fd, buf, len, (off_t)offset);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int saved = errno;

			g_set_error(
				error, G_IO_ERROR, g_io_error_from_errno(saved),
				"Could not read the file at byte %" G_GUINT64_FORMAT
				": %s",
				offset, g_strerror(saved));
			return FALSE;
		}
		if (got == 0) {
			g_set_error(
				error, G_IO_ERROR, G_IO_ERROR_FAILED,
				"The file ended at byte %" G_GUINT64_FORMAT
				", before the length being hashed; did it change while it was read?",
				offset);
			return FALSE;
		}
		buf += got;
		len -= (gsize)got;
		offset += (guint64)got;
	}
	return TRUE;
}

static gboolean hash_piece(HashJob *job, EVP_MD_CTX *ctx, guint8 *buf,
			   gsize buf_size, guint64 index, GError **error)
{
	guint64 offset = index * job->piece_length;
	guint64 left = MIN((guint64)job->piece_length, job->length - offset);

	if (!EVP_DigestInit_ex2(ctx, job->md, NULL))
		g_error("OpenSSL failed to start a SHA-1");
	while (left > 0) {
		gsize chunk = (gsize)MIN(left, (guint64)buf_size);

		if (!read_exactly(job->fd, buf, chunk, offset, error))
			return FALSE;
		if (!EVP_DigestUpdate(ctx, buf, chunk))
			g_error("OpenSSL failed to update a SHA-1");
		offset += chunk;
		left -= chunk;
	}
	if (!EVP_DigestFinal_ex(ctx, job->hashes + index * NET_PIECE_HASH_SIZE,
				NULL))
		g_error("OpenSSL failed to finish a SHA-1");
	return TRUE;
}

static void record_failure(HashJob *job, GError *error)
{
	g_mutex_lock(&job->lock);
	if (job->error)
		g_error_free(error);
	else
		job->error = error;
	g_mutex_unlock(&job->lock);
	atomic_store(&job->failed, true);
}

static gpointer hash_worker(gpointer data)
{
	HashJob *job = data;
	gsize buf_size = MIN(job->piece_length, READ_CHUNK);
	g_autofree guint8 *buf = g_malloc(buf_size);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		g_error("OpenSSL could not allocate a digest context");
	while (!atomic_load(&job->failed)) {
		guint64 index = atomic_fetch_add(&job->next_piece, 1);
		GError *error = NULL;

		if (index >= job->piece_count)
			break;
		if (!hash_piece(job, ctx, buf, buf_size, index, &error))
			record_failure(job, error);
	}
	EVP_MD_CTX_free(ctx);
	return NULL;
}

static guint worker_count(guint64 piece_count)
{
	guint cores = MAX(g_get_num_processors(), 1u);

	return (guint)MIN((guint64)cores, MAX(piece_count, 1u));
}

/* Runs hash_worker on @n threads, the calling thread being one of them.
 * A thread that cannot be created only leaves more for the others. */
static void run_workers(HashJob *job, guint n)
{
	g_autoptr(GPtrArray) threads = g_ptr_array_new();

	for (guint i = 1; i < n; i++) {
		GThread *t =
			g_thread_try_new("piece-hash", hash_worker, job, NULL);

		if (t)
			g_ptr_array_add(threads, t);
	}
	hash_worker(job);
	for (guint i = 0; i < threads->len; i++)
		g_thread_join(threads->pdata[i]);
}

gboolean net_piece_hash_file(int fd, guint64 length, guint32 piece_length,
			     guint8 *hashes_out, GError **error)
{
	HashJob job = {
		.md = sha1_md(),
		.fd = fd,
		.length = length,
		.piece_length = piece_length,
		.piece_count = net_piece_hash_count(length, piece_length),
		.hashes = hashes_out,
	};

	g_return_val_if_fail(fd >= 0, FALSE);
	g_return_val_if_fail(piece_length > 0, FALSE);
	g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

	atomic_init(&job.next_piece, 0);
	atomic_init(&job.failed, false);
	g_mutex_init(&job.lock);
	/* Only a hint for a larger readahead window; ignoring failure is
	 * right, since it changes speed, never results. */
	(void)posix_fadvise(fd, 0, (off_t)length, POSIX_FADV_SEQUENTIAL);
	run_workers(&job, worker_count(job.piece_count));
	g_mutex_clear(&job.lock);
	if (job.error) {
		g_propagate_error(error, job.error);
		return FALSE;
	}
	return TRUE;
}
