#include "fs-writer.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

/* How long shutdown waits for publishes in flight. */
#define SHUTDOWN_WAIT_US (30 * G_USEC_PER_SEC)

struct _FsWriter {
	const FsBackend *backend;
	FsInodeTable *table;

	GMutex lock; /* protects the fields below */
	GCond idle; /* signalled when publishing drops to 0 */
	GHashTable *staging; /* ino → FsStaging with writers, a ref each */
	guint publishing; /* publishes in flight */
};

struct _FsStaging {
	FsWriter *writer;
	guint64 ino;
	FsBackendHandle *handle; /* closed with the last ref */
	int fd;
	gint refs; /* atomic: open handles, publishes in flight */

	GMutex lock; /* protects the fields below */
	guint writers; /* open write handles */
	guint64 size;
	gboolean dirty; /* written since the last publish started */
	gboolean published; /* a publish succeeded */
	gboolean publishing;
	gboolean abandoned; /* removed unpublished: never publish */
};

/* One publish in flight. */
typedef struct {
	FsStaging *staging; /* a ref */
	guint64 size;
	gboolean last; /* by the last writer: a failure drops the file */
	FsWriterDoneFunc done; /* may be NULL */
	gpointer data;
} Publish;

FsWriter *fs_writer_new(const FsBackend *backend, FsInodeTable *table)
{
	FsWriter *writer = g_new0(FsWriter, 1);

	writer->backend = backend;
	writer->table = table;
	g_mutex_init(&writer->lock);
	g_cond_init(&writer->idle);
	writer->staging = g_hash_table_new(g_int64_hash, g_int64_equal);
	return writer;
}

static void staging_unref(FsStaging *staging)
{
	if (!g_atomic_int_dec_and_test(&staging->refs))
		return;
	staging->writer->backend->ops->close(staging->handle);
	g_mutex_clear(&staging->lock);
	g_free(staging);
}

static FsStaging *staging_ref(FsStaging *staging)
{
	g_atomic_int_inc(&staging->refs);
	return staging;
}

static void drop_table_ref(gpointer key, gpointer value, gpointer data)
{
	staging_unref(value);
}

void fs_writer_free(FsWriter *writer)
{
	gint64 deadline = g_get_monotonic_time() + SHUTDOWN_WAIT_US;
	gboolean idle = TRUE;

	if (writer == NULL)
		return;
	g_mutex_lock(&writer->lock);
	while (writer->publishing > 0 && idle)
		idle = g_cond_wait_until(&writer->idle, &writer->lock,
					 deadline);
	g_mutex_unlock(&writer->lock);
	if (writer->publishing > 0) {
		/* Their callbacks will use us: leak rather than crash. */
		g_warning("%u publishes did not finish before the unmount",
			  writer->publishing);
		return;
	}
	/* The table's refs of files the kernel never released (a forced
	 * unmount); their handles' refs went with the session. */
	g_hash_table_foreach(writer->staging, drop_table_ref, NULL);
	g_hash_table_unref(writer->staging);
	g_cond_clear(&writer->idle);
	g_mutex_clear(&writer->lock);
	g_free(writer);
}

static FsStaging *staging_new(FsWriter *writer, guint64 ino,
			      FsBackendHandle *handle)
{
	FsStaging *staging = g_new0(FsStaging, 1);

	staging->writer = writer;
	staging->ino = ino;
	staging->handle = handle;
	staging->fd = writer->backend->ops->get_fd(handle);
	staging->refs = 1; /* the table's */
	g_mutex_init(&staging->lock);
	return staging;
}

/* Under the writer's lock: a new writer of @staging. */
static FsStaging *add_writer(FsStaging *staging)
{
	g_mutex_lock(&staging->lock);
	staging->writers++;
	g_mutex_unlock(&staging->lock);
	return staging_ref(staging);
}

FsStaging *fs_writer_open(FsWriter *writer, guint64 ino, const char *group,
			  const char *path, gboolean truncate, GError **error)
{
	const FsBackendOps *ops = writer->backend->ops;
	FsBackendHandle *handle;
	FsStaging *staging;

	g_mutex_lock(&writer->lock);
	staging = g_hash_table_lookup(writer->staging, &ino);
	if (staging != NULL) {
		staging = add_writer(staging);
		g_mutex_unlock(&writer->lock);
		if (truncate && !fs_staging_truncate(staging, 0, error)) {
			fs_staging_release(staging, TRUE);
			return NULL;
		}
		return staging;
	}
	if (!truncate) {
		g_mutex_unlock(&writer->lock);
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_READ_ONLY,
				    "A published file does not change; "
				    "replace it as a whole.");
		return NULL;
	}
	/* The backend's create is a quick query; holding the lock keeps two
	 * opens of one inode from making two staging files. */
	handle = ops->create(writer->backend->self, group, path, error);
	if (handle == NULL) {
		g_mutex_unlock(&writer->lock);
		return NULL;
	}
	staging = staging_new(writer, ino, handle);
	g_hash_table_insert(writer->staging, &staging->ino, staging);
	staging = add_writer(staging);
	/* A new file: something must be published even if nothing is
	 * written (`touch`). */
	staging->dirty = TRUE;
	g_mutex_unlock(&writer->lock);
	fs_inode_set_size(writer->table, ino, 0,
			  g_get_real_time() / G_USEC_PER_SEC);
	return staging;
}

void fs_writer_abandon(FsWriter *writer, guint64 ino)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&writer->lock);
	FsStaging *staging = g_hash_table_lookup(writer->staging, &ino);

	if (staging == NULL)
		return;
	g_mutex_lock(&staging->lock);
	staging->abandoned = TRUE;
	g_mutex_unlock(&staging->lock);
}

FsStaging *fs_writer_lookup(FsWriter *writer, guint64 ino)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&writer->lock);
	FsStaging *staging = g_hash_table_lookup(writer->staging, &ino);

	return staging ? staging_ref(staging) : NULL;
}

int fs_staging_get_fd(FsStaging *staging)
{
	return staging->fd;
}

guint64 fs_staging_get_size(FsStaging *staging)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&staging->lock);

	return staging->size;
}

static void set_size(FsStaging *staging, guint64 size)
{
	FsWriter *writer = staging->writer;

	fs_inode_set_size(writer->table, staging->ino, size,
			  g_get_real_time() / G_USEC_PER_SEC);
}

void fs_staging_wrote(FsStaging *staging, guint64 offset, guint64 bytes)
{
	const FsBackendOps *ops = staging->writer->backend->ops;
	guint64 size;

	g_mutex_lock(&staging->lock);
	staging->dirty = TRUE;
	staging->size = MAX(staging->size, offset + bytes);
	size = staging->size;
	g_mutex_unlock(&staging->lock);
	set_size(staging, size);
	if (ops->staged != NULL)
		ops->staged(staging->handle, offset, bytes);
}

gboolean fs_staging_truncate(FsStaging *staging, guint64 size, GError **error)
{
	int saved;

	g_mutex_lock(&staging->lock);
	if (ftruncate(staging->fd, (off_t)size) != 0) {
		saved = errno;
		g_mutex_unlock(&staging->lock);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Could not resize the staging file: %s.",
			    g_strerror(saved));
		return FALSE;
	}
	staging->dirty = TRUE;
	staging->size = size;
	g_mutex_unlock(&staging->lock);
	set_size(staging, size);
	return TRUE;
}

static void publish_done(FsWriter *writer)
{
	g_mutex_lock(&writer->lock);
	if (--writer->publishing == 0)
		g_cond_broadcast(&writer->idle);
	g_mutex_unlock(&writer->lock);
}

static void on_published(const GError *error, gpointer data)
{
	Publish *publish = data;
	FsStaging *staging = publish->staging;
	FsWriter *writer = staging->writer;

	g_mutex_lock(&staging->lock);
	staging->publishing = FALSE;
	if (error == NULL)
		staging->published = TRUE;
	else
		staging->dirty = TRUE;
	g_mutex_unlock(&staging->lock);

	if (error == NULL)
		fs_inode_set_published(writer->table, staging->ino,
				       publish->size,
				       g_get_real_time() / G_USEC_PER_SEC);
	else if (publish->last && !staging->published)
		fs_inode_drop_local(writer->table, staging->ino);
	if (error != NULL && publish->done == NULL)
		g_message("Could not publish a file: %s", error->message);
	if (publish->done != NULL)
		publish->done(error, publish->data);
	staging_unref(staging);
	g_free(publish);
	publish_done(writer);
}

/* Under the staging's lock: what a publish of it now needs. */
static Publish *begin_publish(FsStaging *staging, gboolean last)
{
	Publish *publish = g_new0(Publish, 1);

	publish->staging = staging_ref(staging);
	publish->size = staging->size;
	publish->last = last;
	staging->dirty = FALSE;
	staging->publishing = TRUE;
	return publish;
}

static void run_publish(Publish *publish, FsWriterDoneFunc done, gpointer data)
{
	FsStaging *staging = publish->staging;
	FsWriter *writer = staging->writer;

	publish->done = done;
	publish->data = data;
	g_mutex_lock(&writer->lock);
	writer->publishing++;
	g_mutex_unlock(&writer->lock);
	writer->backend->ops->publish(staging->handle, on_published, publish);
}

gboolean fs_staging_flush(FsStaging *staging, FsWriterDoneFunc done,
			  gpointer data)
{
	Publish *publish = NULL;

	g_mutex_lock(&staging->lock);
	/* With other writers, the last one publishes at its release. */
	if (staging->writers == 1 && staging->dirty && !staging->publishing &&
	    !staging->abandoned)
		publish = begin_publish(staging, FALSE);
	g_mutex_unlock(&staging->lock);
	if (publish == NULL)
		return FALSE;
	run_publish(publish, done, data);
	return TRUE;
}

void fs_staging_release(FsStaging *staging, gboolean writer)
{
	FsWriter *w = staging->writer;
	Publish *publish = NULL;
	gboolean last;

	if (!writer) {
		staging_unref(staging);
		return;
	}
	g_mutex_lock(&w->lock);
	g_mutex_lock(&staging->lock);
	last = --staging->writers == 0;
	if (last) {
		/* New opens see the published file from now on. */
		g_hash_table_remove(w->staging, &staging->ino);
		if ((staging->dirty || !staging->published) &&
		    !staging->publishing && !staging->abandoned)
			publish = begin_publish(staging, TRUE);
	}
	g_mutex_unlock(&staging->lock);
	g_mutex_unlock(&w->lock);
	if (publish != NULL)
		run_publish(publish, NULL, NULL);
	if (last)
		staging_unref(staging); /* the table's */
	staging_unref(staging);
}
