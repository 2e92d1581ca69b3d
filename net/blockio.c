#include "blockio.h"

#define BLOCK_IO_DEFAULT_HIGH_WATER (32 * 1024 * 1024)
/* Results delivered per dispatch, so that a burst of finished batches
 * cannot hold the loop. */
#define BLOCK_IO_RESULTS_PER_DISPATCH 16
/* Write buffers kept for the next batches: fresh 1 MiB buffers cost a
 * page fault per 4 KiB on first touch, more than the copy into them.
 * Enough for a batch per worker and one filling; the rest are freed. */
#define BLOCK_IO_SPARE_BUFFERS 4
#define BLOCK_IO_BUFFER_SIZE (NET_BLOCK_IO_BATCH + NET_STORE_BLOCK_SIZE)

typedef enum {
	JOB_WRITE,
	JOB_READ,
	JOB_SYNC,
} JobKind;

/* One block of a batch, and what became of it. */
typedef struct {
	guint32 piece;
	guint32 begin;
	guint32 len;
	gsize offset; /* write: where its bytes start in Job.data */
	gpointer key; /* read */
	GBytes *bytes; /* read: the result */
	GError *error;
	NetStoreWrite outcome; /* write */
} Item;

/* A batch: built on the loop, run by one worker, delivered on the
 * loop. A worker touches only its own job and the immutable fields of
 * NetBlockIo (store, done, context). */
typedef struct {
	JobKind kind;
	GByteArray *data; /* write: the blocks' bytes, back to back */
	GArray *items; /* of Item */
	GError *error; /* sync */
} Job;

typedef struct {
	GSource source;
	NetBlockIo *io;
} DoneSource;

struct _NetBlockIo {
	NetStore *store;
	GMainContext *context;
	NetBlockIoCallbacks callbacks;
	gpointer data;
	gsize high_water;
	GThreadPool *pool;
	GAsyncQueue *done; /* finished jobs, from the workers */
	GSource *done_source;
	/* Everything below: loop thread only. */
	GSource *submit_idle; /* submits the open batches; NULL if none */
	GPtrArray *spare; /* of GByteArray: write buffers to reuse */
	Job *writing; /* the open batches, NULL if none */
	Job *reading;
	gsize backlog;
	gboolean above_high_water;
	gboolean syncing;
};

/* ---- jobs ----------------------------------------------------------- */

/* Loop thread only, like every function that touches io->spare. */
static GByteArray *buffer_take(NetBlockIo *io)
{
	if (io->spare->len > 0)
		return g_ptr_array_steal_index_fast(io->spare,
						    io->spare->len - 1);
	return g_byte_array_sized_new(BLOCK_IO_BUFFER_SIZE);
}

static void buffer_give_back(NetBlockIo *io, GByteArray *buffer)
{
	if (io->spare->len >= BLOCK_IO_SPARE_BUFFERS) {
		g_byte_array_unref(buffer);
		return;
	}
	g_byte_array_set_size(buffer, 0);
	g_ptr_array_add(io->spare, buffer);
}

static Job *job_new(NetBlockIo *io, JobKind kind)
{
	Job *job = g_new0(Job, 1);

	job->kind = kind;
	job->items = g_array_new(FALSE, TRUE, sizeof(Item));
	if (kind == JOB_WRITE)
		job->data = buffer_take(io);
	return job;
}

static void job_free(NetBlockIo *io, Job *job)
{
	for (guint i = 0; i < job->items->len; i++) {
		Item *item = &g_array_index(job->items, Item, i);
		g_clear_pointer(&item->bytes, g_bytes_unref);
		g_clear_error(&item->error);
		if (item->key && io->callbacks.key_destroy)
			io->callbacks.key_destroy(item->key);
	}
	g_array_unref(job->items);
	if (job->data)
		buffer_give_back(io, job->data);
	g_clear_error(&job->error);
	g_free(job);
}

static void run_write(NetStore *store, Job *job)
{
	for (guint i = 0; i < job->items->len; i++) {
		Item *item = &g_array_index(job->items, Item, i);
		net_store_write_block(store, item->piece, item->begin,
				      job->data->data + item->offset, item->len,
				      &item->outcome, &item->error);
	}
}

static void run_read(NetStore *store, Job *job)
{
	for (guint i = 0; i < job->items->len; i++) {
		Item *item = &g_array_index(job->items, Item, i);
		guint8 *buf = g_malloc(item->len);

		if (net_store_read(store, item->piece, item->begin, buf,
				   item->len, &item->error))
			item->bytes = g_bytes_new_take(buf, item->len);
		else
			g_free(buf);
	}
}

/* Worker thread. */
static void job_run(gpointer data, gpointer user_data)
{
	Job *job = data;
	NetBlockIo *io = user_data;

	switch (job->kind) {
	case JOB_WRITE:
		run_write(io->store, job);
		break;
	case JOB_READ:
		run_read(io->store, job);
		break;
	case JOB_SYNC:
		net_store_sync(io->store, &job->error);
		break;
	}
	g_async_queue_push(io->done, job);
	g_main_context_wakeup(io->context);
}

/* ---- delivering results on the loop ---------------------------------- */

static void deliver_write(NetBlockIo *io, Job *job)
{
	const NetBlockIoCallbacks *cb = &io->callbacks;

	io->backlog -= job->data->len;
	for (guint i = 0; i < job->items->len; i++) {
		const Item *item = &g_array_index(job->items, Item, i);
		if (item->error)
			cb->piece_written(item->piece, item->error, io->data);
		else if (item->outcome == NET_STORE_WRITE_PIECE_VERIFIED)
			cb->piece_written(item->piece, NULL, io->data);
	}
	if (io->above_high_water && io->backlog < io->high_water / 2) {
		io->above_high_water = FALSE;
		if (cb->writes_drained)
			cb->writes_drained(io->data);
	}
}

static void deliver_read(NetBlockIo *io, Job *job)
{
	for (guint i = 0; i < job->items->len; i++) {
		const Item *item = &g_array_index(job->items, Item, i);
		io->callbacks.block_read(item->key, item->piece, item->begin,
					 item->len, item->bytes, item->error,
					 io->data);
	}
}

static void deliver(NetBlockIo *io, Job *job)
{
	switch (job->kind) {
	case JOB_WRITE:
		deliver_write(io, job);
		break;
	case JOB_READ:
		deliver_read(io, job);
		break;
	case JOB_SYNC:
		io->syncing = FALSE;
		if (io->callbacks.synced)
			io->callbacks.synced(job->error, io->data);
		break;
	}
	job_free(io, job);
}

static gboolean done_source_ready(GSource *source)
{
	return g_async_queue_length(((DoneSource *)source)->io->done) > 0;
}

static gboolean done_source_prepare(GSource *source, gint *timeout)
{
	*timeout = -1;
	return done_source_ready(source);
}

static gboolean done_source_dispatch(GSource *source, GSourceFunc callback,
				     gpointer data)
{
	NetBlockIo *io = ((DoneSource *)source)->io;
	Job *job;

	for (guint n = 0; n < BLOCK_IO_RESULTS_PER_DISPATCH &&
			  (job = g_async_queue_try_pop(io->done));
	     n++)
		deliver(io, job);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs done_source_funcs = {
	.prepare = done_source_prepare,
	.check = done_source_ready,
	.dispatch = done_source_dispatch,
};

/* ---- batches -------------------------------------------------------- */

static void submit(NetBlockIo *io, Job **open)
{
	g_thread_pool_push(io->pool, g_steal_pointer(open), NULL);
}

static gboolean on_submit_idle(gpointer data)
{
	NetBlockIo *io = data;

	g_clear_pointer(&io->submit_idle, g_source_unref);
	if (io->writing)
		submit(io, &io->writing);
	if (io->reading)
		submit(io, &io->reading);
	return G_SOURCE_REMOVE;
}

/* At the end of this loop iteration: every source that is ready now,
 * peers included, runs before an idle of the same priority that is
 * added during dispatch. */
static void schedule_submit(NetBlockIo *io)
{
	if (io->submit_idle)
		return;
	io->submit_idle = g_idle_source_new();
	g_source_set_priority(io->submit_idle, G_PRIORITY_DEFAULT);
	g_source_set_callback(io->submit_idle, on_submit_idle, io, NULL);
	g_source_set_static_name(io->submit_idle, "groupfs block batches");
	g_source_attach(io->submit_idle, io->context);
}

static Item *open_item(NetBlockIo *io, Job **open, JobKind kind)
{
	if (!*open) {
		*open = job_new(io, kind);
		schedule_submit(io);
	}
	g_array_set_size((*open)->items, (*open)->items->len + 1);
	return &g_array_index((*open)->items, Item, (*open)->items->len - 1);
}

void net_block_io_write(NetBlockIo *io, guint32 piece, guint32 begin,
			const guint8 *data, gsize len)
{
	Item *item;

	g_return_if_fail(len <= NET_STORE_BLOCK_SIZE);
	item = open_item(io, &io->writing, JOB_WRITE);
	item->piece = piece;
	item->begin = begin;
	item->len = (guint32)len;
	item->offset = io->writing->data->len;
	g_byte_array_append(io->writing->data, data, (guint)len);
	io->backlog += len;
	if (io->backlog >= io->high_water)
		io->above_high_water = TRUE;
	if (io->writing->data->len >= NET_BLOCK_IO_BATCH)
		submit(io, &io->writing);
}

void net_block_io_read(NetBlockIo *io, guint32 piece, guint32 begin,
		       guint32 len, gpointer key)
{
	Item *item = open_item(io, &io->reading, JOB_READ);

	item->piece = piece;
	item->begin = begin;
	item->len = len;
	item->key = key;
	if (io->reading->items->len * (gsize)NET_STORE_BLOCK_SIZE >=
	    NET_BLOCK_IO_BATCH)
		submit(io, &io->reading);
}

gboolean net_block_io_sync(NetBlockIo *io)
{
	if (io->syncing)
		return FALSE;
	io->syncing = TRUE;
	g_thread_pool_push(io->pool, job_new(io, JOB_SYNC), NULL);
	return TRUE;
}

gsize net_block_io_get_write_backlog(const NetBlockIo *io)
{
	return io->backlog;
}

gboolean net_block_io_is_above_high_water(const NetBlockIo *io)
{
	return io->above_high_water;
}

/* ---- life cycle ----------------------------------------------------- */

NetBlockIo *net_block_io_new(NetStore *store, gsize high_water,
			     const NetBlockIoCallbacks *callbacks,
			     gpointer data)
{
	NetBlockIo *io = g_new0(NetBlockIo, 1);

	g_return_val_if_fail(callbacks->piece_written && callbacks->block_read,
			     NULL);
	io->store = store;
	io->context = g_main_context_ref_thread_default();
	io->callbacks = *callbacks;
	io->data = data;
	io->high_water = high_water ? high_water : BLOCK_IO_DEFAULT_HIGH_WATER;
	io->done = g_async_queue_new();
	io->spare = g_ptr_array_new_with_free_func(
		(GDestroyNotify)g_byte_array_unref);
	/* Not exclusive, so it cannot fail, and idle threads are shared
	 * with the rest of the process. */
	io->pool = g_thread_pool_new(job_run, io,
				     (gint)MAX(2u, g_get_num_processors()),
				     FALSE, NULL);
	io->done_source = g_source_new(&done_source_funcs, sizeof(DoneSource));
	((DoneSource *)io->done_source)->io = io;
	g_source_set_static_name(io->done_source, "groupfs block results");
	g_source_attach(io->done_source, io->context);
	return io;
}

void net_block_io_free(NetBlockIo *io)
{
	Job *job;

	if (!io)
		return;
	/* Blocks that arrived are worth writing: the next sync claims the
	 * pieces they complete. */
	if (io->writing)
		submit(io, &io->writing);
	if (io->reading)
		job_free(io, g_steal_pointer(&io->reading));
	if (io->submit_idle)
		g_source_destroy(io->submit_idle);
	g_clear_pointer(&io->submit_idle, g_source_unref);
	g_thread_pool_free(io->pool, FALSE, TRUE);
	while ((job = g_async_queue_try_pop(io->done)))
		job_free(io, job);
	g_async_queue_unref(io->done);
	g_ptr_array_unref(io->spare);
	g_source_destroy(io->done_source);
	g_source_unref(io->done_source);
	g_main_context_unref(io->context);
	g_free(io);
}
