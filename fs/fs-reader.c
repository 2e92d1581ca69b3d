#include "fs-reader.h"

#include <gio/gio.h>

#define DEFAULT_TIMEOUT_S 60
/* How long shutdown waits for the backend to cancel parked reads. */
#define SHUTDOWN_WAIT_US (5 * G_USEC_PER_SEC)

/* Read-ahead, as mountpoint-s3 and JuiceFS do it: kernel readahead and
 * several FUSE threads reorder reads, so "sequential" tolerates a jump
 * back of 1 MiB and forward of 16 MiB; the window starts at 2 MiB and
 * doubles on each sequential read up to 64 MiB; a seek resets it. */
#define SEQ_BACK (1u << 20)
#define SEQ_FORWARD (16u << 20)
#define WINDOW_MIN (2u << 20)
#define WINDOW_MAX (64u << 20)

struct _FsReader {
	const FsBackend *backend;
	gint64 timeout_us;
	FsReaderAnswerFunc answer;

	GMutex lock; /* protects the fields below */
	GCond drained; /* signalled when parked becomes empty */
	GHashTable *parked; /* Parked, each holding a ref */
};

/* Who answers a parked read: the first to move it out of STARTING or
 * PARKED. An interrupt that comes while the wait is being started
 * (INTERRUPTED_EARLY) leaves the answer to the starter, which alone
 * knows the wait's id then. */
enum {
	STARTING,
	PARKED,
	ANSWERING,
	INTERRUPTED_EARLY,
	INTERRUPTED
};

/* One read waiting for its range. Three refs: the starter's, the
 * backend callback's, and the answerer's (completion or interrupt). */
typedef struct {
	FsReader *reader;
	fuse_req_t req;
	FsBackendHandle *handle;
	int fd;
	guint64 offset;
	gsize size;
	gint state; /* atomic */
	guint wait_id; /* set before the state leaves STARTING */
	gint refs; /* atomic */
} Parked;

static void parked_unref(Parked *parked)
{
	if (g_atomic_int_dec_and_test(&parked->refs))
		g_free(parked);
}

void fs_reader_stream_init(FsReaderStream *stream)
{
	g_mutex_init(&stream->lock);
	stream->next = 0;
	stream->window = WINDOW_MIN;
	stream->wanted_end = 0;
}

void fs_reader_stream_clear(FsReaderStream *stream)
{
	g_mutex_clear(&stream->lock);
}

FsReader *fs_reader_new(const FsBackend *backend, guint read_timeout_s,
			FsReaderAnswerFunc answer)
{
	FsReader *reader = g_new0(FsReader, 1);

	reader->backend = backend;
	reader->timeout_us =
		(gint64)(read_timeout_s ? read_timeout_s : DEFAULT_TIMEOUT_S) *
		G_USEC_PER_SEC;
	reader->answer = answer;
	g_mutex_init(&reader->lock);
	g_cond_init(&reader->drained);
	reader->parked = g_hash_table_new(NULL, NULL);
	return reader;
}

/* Cancels what is parked; the backend's callbacks then answer. */
static void cancel_all(FsReader *reader)
{
	g_autoptr(GPtrArray) parked = NULL;
	const FsBackendOps *ops = reader->backend->ops;

	GHashTableIter iter;
	gpointer key;

	g_mutex_lock(&reader->lock);
	parked = g_ptr_array_new();
	g_hash_table_iter_init(&iter, reader->parked);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		g_atomic_int_inc(&((Parked *)key)->refs);
		g_ptr_array_add(parked, key);
	}
	g_mutex_unlock(&reader->lock);

	for (guint i = 0; i < parked->len; i++) {
		Parked *p = parked->pdata[i];
		guint id = g_atomic_int_get(&p->wait_id);

		if (id != 0)
			ops->cancel_wait(p->handle, id);
		parked_unref(p);
	}
}

void fs_reader_free(FsReader *reader)
{
	gint64 deadline = g_get_monotonic_time() + SHUTDOWN_WAIT_US;

	if (reader == NULL)
		return;
	cancel_all(reader);
	g_mutex_lock(&reader->lock);
	while (g_hash_table_size(reader->parked) > 0) {
		if (!g_cond_wait_until(&reader->drained, &reader->lock,
				       deadline))
			break;
	}
	if (g_hash_table_size(reader->parked) > 0)
		g_warning("%u reads were still parked at shutdown: the "
			  "backend did not cancel them",
			  g_hash_table_size(reader->parked));
	g_mutex_unlock(&reader->lock);
	/* What is still parked keeps a pointer to us: leak rather than
	 * crash. */
	if (g_hash_table_size(reader->parked) > 0)
		return;
	g_hash_table_unref(reader->parked);
	g_cond_clear(&reader->drained);
	g_mutex_clear(&reader->lock);
	g_free(reader);
}

guint fs_reader_parked(FsReader *reader)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&reader->lock);

	return g_hash_table_size(reader->parked);
}

static void answer_interrupted(Parked *p)
{
	g_autoptr(GError) error =
		g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
				    "The reader was interrupted.");

	p->reader->answer(p->req, p->fd, p->offset, 0, FALSE, error);
	parked_unref(p);
}

/* The kernel says the reader gave up (a signal). Runs on a FUSE thread
 * with libfuse's lock of @req held, so a completion that wants to
 * answer waits for us in fuse_req_interrupt_func. */
static void on_interrupt(fuse_req_t req, void *data)
{
	Parked *p = data;

	if (g_atomic_int_compare_and_exchange(&p->state, STARTING,
					      INTERRUPTED_EARLY))
		return;
	if (!g_atomic_int_compare_and_exchange(&p->state, PARKED, INTERRUPTED))
		return;
	/* Before answering: once answered, the file may be closed and its
	 * handle gone. */
	p->reader->backend->ops->cancel_wait(p->handle, p->wait_id);
	answer_interrupted(p);
}

static void unpark(Parked *p)
{
	FsReader *reader = p->reader;

	g_mutex_lock(&reader->lock);
	g_hash_table_remove(reader->parked, p);
	if (g_hash_table_size(reader->parked) == 0)
		g_cond_broadcast(&reader->drained);
	g_mutex_unlock(&reader->lock);
	parked_unref(p);
}

static gboolean claim(Parked *p, gint to)
{
	return g_atomic_int_compare_and_exchange(&p->state, STARTING, to) ||
	       g_atomic_int_compare_and_exchange(&p->state, PARKED, to);
}

/* The backend's answer: the range is ready, timed out, or cancelled. */
static void on_ready(const GError *error, gpointer data)
{
	Parked *p = data;

	if (claim(p, ANSWERING)) {
		/* Waits for an interrupt callback that may be running, and
		 * makes sure none comes after the answer. */
		fuse_req_interrupt_func(p->req, NULL, NULL);
		p->reader->answer(p->req, p->fd, p->offset, p->size, FALSE,
				  error);
		parked_unref(p);
	}
	unpark(p);
}

static void park(FsReader *reader, fuse_req_t req, FsBackendHandle *handle,
		 guint64 offset, gsize size)
{
	const FsBackendOps *ops = reader->backend->ops;
	Parked *p = g_new0(Parked, 1);

	p->reader = reader;
	p->req = req;
	p->handle = handle;
	p->fd = ops->get_fd(handle);
	p->offset = offset;
	p->size = size;
	p->state = STARTING;
	p->refs = 3;
	g_mutex_lock(&reader->lock);
	g_hash_table_add(reader->parked, p);
	g_mutex_unlock(&reader->lock);

	/* First the interrupt: once the wait starts, @req may be answered
	 * and gone at any moment. */
	fuse_req_interrupt_func(req, on_interrupt, p);
	p->wait_id = ops->wait_range(
		handle, offset, size,
		g_get_monotonic_time() + reader->timeout_us, on_ready, p);
	if (!g_atomic_int_compare_and_exchange(&p->state, STARTING, PARKED) &&
	    g_atomic_int_get(&p->state) == INTERRUPTED_EARLY) {
		/* Unanswered, so the handle is still there. */
		ops->cancel_wait(handle, p->wait_id);
		answer_interrupted(p);
	}
	parked_unref(p);
}

/* Asks for the read-ahead window after a read, when it moved on. */
static void read_ahead(FsReader *reader, FsBackendHandle *handle,
		       FsReaderStream *s, guint64 file_size, guint64 offset,
		       gsize size)
{
	const FsBackendOps *ops = reader->backend->ops;
	guint64 end = offset + size;
	guint64 from;
	guint64 to;
	gboolean sequential;

	g_mutex_lock(&s->lock);
	sequential =
		offset + SEQ_BACK >= s->next && offset <= s->next + SEQ_FORWARD;
	if (!sequential) {
		s->window = WINDOW_MIN;
		s->wanted_end = end;
	} else if (s->window < WINDOW_MAX) {
		s->window *= 2;
	}
	s->next = MAX(s->next, end);
	from = MAX(s->wanted_end, end);
	to = MIN(end + s->window, file_size);
	/* Ask again only once a quarter of the window was read. */
	if (to <= from || to - from < s->window / 4) {
		g_mutex_unlock(&s->lock);
		return;
	}
	s->wanted_end = to;
	g_mutex_unlock(&s->lock);

	if (!ops->range_ready(handle, from, to - from))
		ops->want_range(handle, from, to - from);
}

void fs_reader_read(FsReader *reader, fuse_req_t req, FsBackendHandle *handle,
		    FsReaderStream *stream, guint64 file_size, guint64 offset,
		    gsize size)
{
	const FsBackendOps *ops = reader->backend->ops;

	/* Before the answer, after which the handle may go. */
	if (ops->want_range != NULL && size > 0)
		read_ahead(reader, handle, stream, file_size, offset, size);
	if (size == 0 || ops->range_ready(handle, offset, size))
		reader->answer(req, ops->get_fd(handle), offset, size, TRUE,
			       NULL);
	else
		park(reader, req, handle, offset, size);
}
