/* engine-backend: see engine-backend.h. */
#include "engine-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "engine-listing.h"
#include "metainfo.h"
#include "piece-hash.h"

/* What the engine said about its files is fetched again when a reader
 * asks and it is older than this. */
#define STATUS_AGE_US (1 * G_USEC_PER_SEC)
/* How long a free waits for operations in flight. */
#define DRAIN_US (10 * G_USEC_PER_SEC)
#define STAGING_DIR "staging"

/* One file the engine holds, as net_engine_list said. */
typedef struct {
	guint progress;
	guint peers;
	gboolean pinned;
} FileStatus;

struct _FsEngineBackend {
	FsBackend backend;
	NetEngine *engine; /* loop thread only */
	GMainContext *context; /* the loop's */
	char *staging_dir;
	guint64 cache_size;
	FsListing *listing;

	GMutex lock; /* protects the fields below */
	GHashTable *status; /* info-hash -> FileStatus */
	/* Files open now, whose progress is read live: info-hash -> the
	 * NetEngineFile of the handle that opened it last. */
	GHashTable *live;
	guint64 cache_used;
	gint64 status_us; /* monotonic, when fetched */
	gboolean status_asked; /* a fetch is on its way to the loop */

	guint busy; /* loop only: operations in flight */
	gint next_wait; /* atomic */
};

/* A read waiting for its range: loop thread only. */
typedef struct {
	guint id;
	guint engine_id; /* 0 until the file is open */
	/* What engine_ready gets; ours to free if the engine's wait is
	 * cancelled, since the engine then never calls back. */
	struct WaitRef *ref;
	guint64 offset;
	guint64 length;
	gint64 deadline_us;
	FsBackendDoneFunc done;
	gpointer data;
} Wait;

struct _FsBackendHandle {
	FsEngineBackend *backend;
	gint refs; /* atomic: the opener's, and one per marshalled call */
	char *group;
	char *path;
	/* For reading, a placeholder until the file is open, then the
	 * data file at the same number; for writing, the staging file. */
	int fd;
	char *staging_path; /* NULL for reading */

	/* Writing: the pieces hashed as they fill (see "hashing while it
	 * is written"). Under hash_lock, any FUSE thread. */
	GMutex hash_lock;
	guint64 hashed_to; /* bytes written in order from 0 */
	gboolean in_order; /* every write so far continued at hashed_to */
	GByteArray *hashes; /* 20 bytes per full piece below hashed_to */
	guint8 *piece; /* a buffer of one piece, to read it back */
	/* Set once by the first publish: the staging file is read-only
	 * from then on, and (unless NULL) these are its pieces' hashes. */
	gboolean frozen;
	GBytes *final_hashes;

	/* Reading. */
	char info_hash[41];
	NetEngineFile *file; /* atomic pointer; set and freed on the loop */
	/* Loop thread only. */
	gboolean opening;
	gboolean closed;
	gboolean relisted; /* the listing was fetched again for this open */
	GError *open_error;
	GHashTable *waits; /* id -> Wait */
};

/* ---- threads --------------------------------------------------------- */

typedef gboolean (*LoopFunc)(gpointer data);

/* Runs @func on the loop thread, soon. Not g_main_context_invoke: that
 * runs @func on the calling thread whenever it can acquire the context,
 * e.g. between two iterations of the free's drain. */
static void on_loop(FsEngineBackend *backend, LoopFunc func, gpointer data)
{
	GSource *source = g_idle_source_new();

	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, func, data, NULL);
	g_source_attach(source, backend->context);
	g_source_unref(source);
}

static FsBackendHandle *handle_ref(FsBackendHandle *handle)
{
	g_atomic_int_inc(&handle->refs);
	return handle;
}

static void handle_unref(FsBackendHandle *handle)
{
	if (!g_atomic_int_dec_and_test(&handle->refs))
		return;
	g_assert(handle->file == NULL);
	if (handle->fd >= 0)
		close(handle->fd);
	if (handle->staging_path != NULL)
		g_unlink(handle->staging_path);
	g_clear_pointer(&handle->waits, g_hash_table_unref);
	g_clear_error(&handle->open_error);
	g_clear_pointer(&handle->hashes, g_byte_array_unref);
	g_clear_pointer(&handle->final_hashes, g_bytes_unref);
	g_free(handle->piece);
	g_mutex_clear(&handle->hash_lock);
	g_free(handle->staging_path);
	g_free(handle->group);
	g_free(handle->path);
	g_free(handle);
}

static FsBackendHandle *handle_new(FsEngineBackend *backend, int fd,
				   const char *group, const char *path)
{
	FsBackendHandle *handle = g_new0(FsBackendHandle, 1);

	handle->backend = backend;
	handle->refs = 1;
	handle->fd = fd;
	handle->group = g_strdup(group);
	handle->path = g_strdup(path);
	handle->waits = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	g_mutex_init(&handle->hash_lock);
	return handle;
}

/* The tracker's refusals, as the errno that programs expect. */
static GError *to_io_error(GError *error)
{
	static const struct {
		int api;
		GIOErrorEnum io;
	} map[] = {
		{NET_TRACKER_API_ERROR_INVALID_REQUEST,
		 G_IO_ERROR_INVALID_ARGUMENT},
		{NET_TRACKER_API_ERROR_FORBIDDEN, G_IO_ERROR_PERMISSION_DENIED},
		{NET_TRACKER_API_ERROR_NOT_FOUND, G_IO_ERROR_NOT_FOUND},
		{NET_TRACKER_API_ERROR_CONFLICT, G_IO_ERROR_EXISTS},
		{NET_TRACKER_API_ERROR_TOO_LARGE, G_IO_ERROR_NO_SPACE},
	};

	if (error == NULL || error->domain != NET_TRACKER_API_ERROR)
		return error;
	for (gsize i = 0; i < G_N_ELEMENTS(map); i++) {
		if (error->code == map[i].api) {
			error->domain = G_IO_ERROR;
			error->code = map[i].io;
			return error;
		}
	}
	error->domain = G_IO_ERROR;
	error->code = G_IO_ERROR_FAILED;
	return error;
}

/* ---- what the engine holds ------------------------------------------ */

static gboolean fetch_status(gpointer data)
{
	FsEngineBackend *backend = data;
	g_autoptr(GPtrArray) files = net_engine_list(backend->engine);
	GHashTable *status =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	guint64 used = 0;

	for (guint i = 0; i < files->len; i++) {
		const NetEngineFileStatus *s = files->pdata[i];
		FileStatus *fs = g_new0(FileStatus, 1);

		fs->progress = s->pieces ? (guint)((guint64)s->verified * 100 /
						   s->pieces)
					 : 100;
		fs->peers = s->peers;
		fs->pinned = s->pinned;
		g_hash_table_replace(status, g_strdup(s->info_hash), fs);
		if (s->state != NET_ENGINE_SEEDING && s->pieces > 0)
			used += s->length * s->verified / s->pieces;
	}
	g_mutex_lock(&backend->lock);
	g_hash_table_unref(backend->status);
	backend->status = status;
	backend->cache_used = used;
	backend->status_us = g_get_monotonic_time();
	backend->status_asked = FALSE;
	g_mutex_unlock(&backend->lock);
	return G_SOURCE_REMOVE;
}

/* The stores of a restart are open: what the registry said gives way
 * to what they hold. */
static void restored(gpointer data)
{
	fetch_status(data);
}

/* Under the lock: asks the loop for a fresh status if it is stale. */
static void status_check_age(FsEngineBackend *backend)
{
	if (backend->status_asked ||
	    g_get_monotonic_time() - backend->status_us < STATUS_AGE_US)
		return;
	backend->status_asked = TRUE;
	on_loop(backend, fetch_status, backend);
}

/* ---- queries --------------------------------------------------------- */

static GPtrArray *eb_list_groups(gpointer self)
{
	FsEngineBackend *backend = self;

	return fs_listing_groups(backend->listing);
}

static GPtrArray *eb_list_files(gpointer self, const char *group)
{
	FsEngineBackend *backend = self;

	return fs_listing_files(backend->listing, group);
}

static void eb_get_space(gpointer self, FsBackendSpace *space)
{
	FsEngineBackend *backend = self;

	g_mutex_lock(&backend->lock);
	space->cache_size = backend->cache_size;
	space->cache_used = backend->cache_used;
	status_check_age(backend);
	g_mutex_unlock(&backend->lock);
}

static gboolean eb_get_info(gpointer self, const char *group, const char *path,
			    FsBackendInfo *info, GError **error)
{
	FsEngineBackend *backend = self;
	g_autoptr(FsListed) file =
		fs_listing_find(backend->listing, group, path, NULL, error);
	FileStatus *status;
	NetEngineFile *live;

	if (file == NULL)
		return FALSE;
	memcpy(info->info_hash, file->info_hash, sizeof(info->info_hash));
	info->owner = g_strdup(file->owner ? file->owner : "");
	g_mutex_lock(&backend->lock);
	status = g_hash_table_lookup(backend->status, file->info_hash);
	live = g_hash_table_lookup(backend->live, file->info_hash);
	info->progress = live	  ? net_engine_file_get_progress(live)
			 : status ? status->progress
				  : 0;
	info->peers = status ? status->peers : 0;
	info->pinned = status ? status->pinned : FALSE;
	status_check_age(backend);
	g_mutex_unlock(&backend->lock);
	return TRUE;
}

static int eb_get_fd(FsBackendHandle *handle)
{
	return handle->fd;
}

static gboolean eb_range_ready(FsBackendHandle *handle, guint64 offset,
			       guint64 length)
{
	NetEngineFile *file;

	if (handle->staging_path != NULL)
		return TRUE;
	file = g_atomic_pointer_get(&handle->file);
	return file != NULL &&
	       net_engine_file_range_ready(file, offset, length);
}

/* ---- reading --------------------------------------------------------- */

/* Starts @wait on the open file, or answers it with the open's error. */
static void wait_start(FsBackendHandle *handle, Wait *wait);

static void wait_finish(FsBackendHandle *handle, guint id, const GError *error)
{
	Wait *wait;

	if (!g_hash_table_steal_extended(handle->waits, GUINT_TO_POINTER(id),
					 NULL, (gpointer *)&wait))
		return;
	wait->done(error, wait->data);
	g_free(wait);
	handle_unref(handle);
}

typedef struct WaitRef {
	FsBackendHandle *handle;
	guint id;
} WaitRef;

static void engine_ready(const GError *error, gpointer data)
{
	WaitRef *ref = data;

	wait_finish(ref->handle, ref->id, error);
	g_free(ref);
}

static void wait_start(FsBackendHandle *handle, Wait *wait)
{
	WaitRef *ref;

	if (handle->open_error != NULL) {
		wait_finish(handle, wait->id, handle->open_error);
		return;
	}
	if (handle->file == NULL)
		return; /* opened_file starts it */
	ref = g_new0(WaitRef, 1);
	ref->handle = handle;
	ref->id = wait->id;
	wait->ref = ref;
	wait->engine_id = net_engine_file_wait_range(
		handle->file, wait->offset, wait->length, wait->deadline_us,
		engine_ready, ref);
}

/* On the loop: @file is what get_info reads @info_hash's progress
 * from, until it is closed. */
static void set_live(FsEngineBackend *backend, const char *info_hash,
		     NetEngineFile *file)
{
	g_mutex_lock(&backend->lock);
	g_hash_table_replace(backend->live, g_strdup(info_hash), file);
	g_mutex_unlock(&backend->lock);
}

/* The open of @handle ended with @file, or with @error (taken): start
 * what waited for that. */
static void open_done(FsBackendHandle *handle, NetEngineFile *file,
		      GError *error)
{
	g_autoptr(GList) waits = NULL;

	handle->opening = FALSE;
	if (file != NULL && handle->closed) {
		net_engine_file_close(file);
	} else if (file != NULL && dup3(net_engine_file_get_fd(file),
					handle->fd, O_CLOEXEC) < 0) {
		int err = errno;

		net_engine_file_close(file);
		error = g_error_new(G_IO_ERROR, g_io_error_from_errno(err),
				    "cannot open the data of %s/%s: %s",
				    handle->group, handle->path,
				    g_strerror(err));
	} else if (file != NULL) {
		/* After the dup3: a ready range is readable at once. */
		g_atomic_pointer_set(&handle->file, file);
		set_live(handle->backend, handle->info_hash, file);
	}
	handle->open_error = error;
	waits = g_hash_table_get_values(handle->waits);
	for (GList *l = waits; l != NULL; l = l->next)
		wait_start(handle, l->data);
	handle_unref(handle);
}

static void opened_file(GObject *source, GAsyncResult *result, gpointer data);

/* An open that asks the tracker again before it fails. */
typedef struct {
	FsBackendHandle *handle; /* the open's reference */
	GError *error; /* what the open fails with if nothing newer shows */
} Relist;

/* Back on the loop with the group's listing fresh from the tracker: a
 * newer version of the file is opened instead; else the open fails. */
static void relisted(GObject *source, GAsyncResult *result, gpointer data)
{
	Relist *relist = data;
	FsBackendHandle *handle = relist->handle;
	FsEngineBackend *backend = handle->backend;
	g_autoptr(FsListed) file = fs_listing_find(
		backend->listing, handle->group, handle->path, NULL, NULL);
	GError *error = relist->error;

	g_free(relist);
	backend->busy--;
	if (file == NULL || handle->closed ||
	    strcmp(file->info_hash, handle->info_hash) == 0) {
		open_done(handle, NULL, error);
		return;
	}
	g_error_free(error);
	memcpy(handle->info_hash, file->info_hash, sizeof(handle->info_hash));
	net_engine_open_file_async(backend->engine, handle->group, handle->path,
				   handle->info_hash, opened_file, handle);
}

static void relist_in_thread(GTask *task, gpointer source, gpointer data,
			     GCancellable *cancellable)
{
	Relist *relist = data;
	FsBackendHandle *handle = relist->handle;

	fs_listing_refresh_now(handle->backend->listing, handle->group);
	g_task_return_boolean(task, TRUE);
}

/* The snapshot showed a version that the tracker no longer lists: ask
 * the tracker once more, in a worker, before failing with @error. */
static void relist(FsBackendHandle *handle, GError *error)
{
	Relist *relist = g_new0(Relist, 1);
	g_autoptr(GTask) task = g_task_new(NULL, NULL, relisted, relist);

	relist->handle = handle;
	relist->error = error;
	handle->relisted = TRUE;
	handle->backend->busy++;
	g_task_set_task_data(task, relist, NULL);
	g_task_run_in_thread(task, relist_in_thread);
}

static void opened_file(GObject *source, GAsyncResult *result, gpointer data)
{
	FsBackendHandle *handle = data;
	GError *error = NULL;
	NetEngineFile *file = net_engine_open_file_finish(
		handle->backend->engine, result, &error);

	error = to_io_error(error);
	if (file == NULL && !handle->relisted && !handle->closed &&
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
		relist(handle, error);
	else
		open_done(handle, file, error);
}

static gboolean open_on_loop(gpointer data)
{
	FsBackendHandle *handle = data;

	if (handle->closed) {
		handle_unref(handle);
		return G_SOURCE_REMOVE;
	}
	handle->opening = TRUE;
	net_engine_open_file_async(handle->backend->engine, handle->group,
				   handle->path, handle->info_hash, opened_file,
				   handle);
	return G_SOURCE_REMOVE;
}

static FsBackendHandle *eb_open(gpointer self, const char *group,
				const char *path, GError **error)
{
	FsEngineBackend *backend = self;
	g_autoptr(FsListed) file =
		fs_listing_find(backend->listing, group, path, NULL, error);
	FsBackendHandle *handle;
	int fd;

	if (file == NULL) {
		/* The kernel knew it: the tracker may list it again. */
		fs_listing_refresh(backend->listing, group);
		return NULL;
	}
	/* Stands in for the data file until the engine has it open. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot open /dev/null: %s", g_strerror(err));
		return NULL;
	}
	handle = handle_new(backend, fd, group, path);
	memcpy(handle->info_hash, file->info_hash, sizeof(handle->info_hash));
	on_loop(backend, open_on_loop, handle_ref(handle));
	return handle;
}

typedef struct {
	FsBackendHandle *handle; /* a reference */
	Wait *wait;
} WaitCall;

static gboolean wait_on_loop(gpointer data)
{
	WaitCall *call = data;
	FsBackendHandle *handle = call->handle;
	Wait *wait = call->wait;

	g_free(call);
	if (handle->closed) {
		g_autoptr(GError) error =
			g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED,
					    "the file was closed");

		wait->done(error, wait->data);
		g_free(wait);
		handle_unref(handle);
		return G_SOURCE_REMOVE;
	}
	/* The handle's reference now belongs to the wait. */
	g_hash_table_insert(handle->waits, GUINT_TO_POINTER(wait->id), wait);
	if (!handle->opening)
		wait_start(handle, wait);
	return G_SOURCE_REMOVE;
}

static guint eb_wait_range(FsBackendHandle *handle, guint64 offset,
			   guint64 length, gint64 deadline_us,
			   FsBackendDoneFunc done, gpointer data)
{
	FsEngineBackend *backend = handle->backend;
	WaitCall *call = g_new0(WaitCall, 1);
	Wait *wait = g_new0(Wait, 1);

	do
		wait->id = (guint)g_atomic_int_add(&backend->next_wait, 1) + 1;
	while (wait->id == 0);
	wait->offset = offset;
	wait->length = length;
	wait->deadline_us = deadline_us;
	wait->done = done;
	wait->data = data;
	call->handle = handle_ref(handle);
	call->wait = wait;
	on_loop(backend, wait_on_loop, call);
	return wait->id;
}

typedef struct {
	FsBackendHandle *handle; /* a reference */
	guint id;
	guint64 offset;
	guint64 length;
} HandleCall;

static HandleCall *handle_call_new(FsBackendHandle *handle, guint id,
				   guint64 offset, guint64 length)
{
	HandleCall *call = g_new0(HandleCall, 1);

	call->handle = handle_ref(handle);
	call->id = id;
	call->offset = offset;
	call->length = length;
	return call;
}

static void handle_call_free(HandleCall *call)
{
	handle_unref(call->handle);
	g_free(call);
}

/* On the loop: ends wait @id with CANCELLED. */
static void cancel_one(FsBackendHandle *handle, guint id)
{
	g_autoptr(GError) error = g_error_new_literal(
		G_IO_ERROR, G_IO_ERROR_CANCELLED, "the read was interrupted");
	Wait *wait = g_hash_table_lookup(handle->waits, GUINT_TO_POINTER(id));
	NetEngineFile *file = g_atomic_pointer_get(&handle->file);

	if (wait == NULL)
		return;
	if (wait->engine_id != 0 && file != NULL) {
		net_engine_file_cancel_wait(file, wait->engine_id);
		g_free(wait->ref);
	}
	wait_finish(handle, id, error);
}

static gboolean cancel_on_loop(gpointer data)
{
	HandleCall *call = data;

	cancel_one(call->handle, call->id);
	handle_call_free(call);
	return G_SOURCE_REMOVE;
}

static void eb_cancel_wait(FsBackendHandle *handle, guint id)
{
	on_loop(handle->backend, cancel_on_loop,
		handle_call_new(handle, id, 0, 0));
}

static gboolean want_on_loop(gpointer data)
{
	HandleCall *call = data;
	NetEngineFile *file = g_atomic_pointer_get(&call->handle->file);

	if (file != NULL && !call->handle->closed)
		net_engine_file_want_range(file, call->offset, call->length);
	handle_call_free(call);
	return G_SOURCE_REMOVE;
}

static void eb_want_range(FsBackendHandle *handle, guint64 offset,
			  guint64 length)
{
	on_loop(handle->backend, want_on_loop,
		handle_call_new(handle, 0, offset, length));
}

/* On the loop: @file is closing. Its last progress goes into the
 * status snapshot under the same lock, so that get_info never falls
 * back to a snapshot taken before the reads that just ended. */
static void drop_live(FsEngineBackend *backend, const char *info_hash,
		      NetEngineFile *file)
{
	guint progress = net_engine_file_get_progress(file);
	FileStatus *status;

	g_mutex_lock(&backend->lock);
	if (g_hash_table_lookup(backend->live, info_hash) == file) {
		g_hash_table_remove(backend->live, info_hash);
		status = g_hash_table_lookup(backend->status, info_hash);
		if (status == NULL) {
			status = g_new0(FileStatus, 1);
			g_hash_table_replace(backend->status,
					     g_strdup(info_hash), status);
		}
		status->progress = progress;
	}
	g_mutex_unlock(&backend->lock);
}

static gboolean close_on_loop(gpointer data)
{
	FsBackendHandle *handle = data;
	g_autoptr(GList) ids = g_hash_table_get_keys(handle->waits);
	NetEngineFile *file;

	handle->closed = TRUE;
	for (GList *l = ids; l != NULL; l = l->next)
		cancel_one(handle, GPOINTER_TO_UINT(l->data));
	file = g_atomic_pointer_exchange(&handle->file, NULL);
	if (file != NULL) {
		drop_live(handle->backend, handle->info_hash, file);
		net_engine_file_close(file);
		/* What it fetched shows in the xattrs once it is closed. */
		fetch_status(handle->backend);
	}
	handle_unref(handle);
	return G_SOURCE_REMOVE;
}

static void eb_close(FsBackendHandle *handle)
{
	on_loop(handle->backend, close_on_loop, handle);
}

/* ---- writing --------------------------------------------------------- */

static FsBackendHandle *eb_create(gpointer self, const char *group,
				  const char *path, GError **error)
{
	FsEngineBackend *backend = self;
	const char *user = fs_listing_get_user(backend->listing);
	g_autoptr(FsListed) file = NULL;
	g_autofree char *staging = NULL;
	FsBackendHandle *handle;
	int fd;

	if (!fs_listing_has_group(backend->listing, group)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "you are not a member of %s", group);
		return NULL;
	}
	if (!net_engine_check_name(group, path, error))
		return NULL;
	file = fs_listing_find(backend->listing, group, path, NULL, NULL);
	if (file != NULL && g_strcmp0(file->owner, user) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "%s/%s is %s's; only they can replace it", group,
			    path, file->owner);
		return NULL;
	}
	staging = g_build_filename(backend->staging_dir, "new-XXXXXX", NULL);
	fd = g_mkstemp_full(staging, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot create a staging file in %s: %s",
			    backend->staging_dir, g_strerror(err));
		return NULL;
	}
	handle = handle_new(backend, fd, group, path);
	handle->staging_path = g_steal_pointer(&staging);
	handle->in_order = TRUE;
	handle->hashes = g_byte_array_new();
	return handle;
}

/* ---- hashing while it is written ------------------------------------ */

/* `cp` writes in order, so each piece is hashed as soon as it is full,
 * read back from the page cache on the writer's FUSE thread; publishing
 * then has only the last piece left to hash. The piece length is the
 * one of any file up to 2 GiB; a longer file, or any write that does
 * not continue where the last one ended, leaves the hashing to the
 * publish. */
#define HASH_PIECE_LENGTH net_metainfo_choose_piece_length(0)
#define HASH_MAX_LENGTH \
	((guint64)HASH_PIECE_LENGTH * NET_METAINFO_TARGET_PIECES)

/* Under hash_lock. */
static void hash_give_up(FsBackendHandle *handle)
{
	handle->in_order = FALSE;
	g_clear_pointer(&handle->hashes, g_byte_array_unref);
	g_clear_pointer(&handle->piece, g_free);
}

/* Under hash_lock: hashes @len bytes at @offset into the list. */
static gboolean hash_piece(FsBackendHandle *handle, guint64 offset, gsize len)
{
	guint8 md[NET_PIECE_HASH_SIZE];
	gsize done = 0;

	if (handle->piece == NULL)
		handle->piece = g_malloc(HASH_PIECE_LENGTH);
	while (done < len) {
		ssize_t n = pread(handle->fd, handle->piece + done, len - done,
				  (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		done += (gsize)n;
	}
	net_piece_hash_compute(handle->piece, len, md);
	g_byte_array_append(handle->hashes, md, sizeof(md));
	return TRUE;
}

/* Under hash_lock: hashes the pieces that are full now. */
static void hash_full_pieces(FsBackendHandle *handle)
{
	guint64 piece_length = HASH_PIECE_LENGTH;

	if (handle->hashed_to > HASH_MAX_LENGTH) {
		hash_give_up(handle);
		return;
	}
	while ((handle->hashes->len / NET_PIECE_HASH_SIZE + 1) * piece_length <=
	       handle->hashed_to) {
		guint64 offset = handle->hashes->len / NET_PIECE_HASH_SIZE *
				 piece_length;

		if (!hash_piece(handle, offset, piece_length)) {
			hash_give_up(handle);
			return;
		}
	}
}

static void eb_staged(FsBackendHandle *handle, guint64 offset, guint64 bytes)
{
	g_mutex_lock(&handle->hash_lock);
	if (handle->in_order && !handle->frozen &&
	    offset == handle->hashed_to) {
		handle->hashed_to += bytes;
		hash_full_pieces(handle);
	} else if (handle->in_order) {
		hash_give_up(handle);
	}
	g_mutex_unlock(&handle->hash_lock);
}

/* Under hash_lock: the hashes of the whole file, if the writes hashed
 * every byte it holds. A truncate is not reported to us: a file that is
 * shorter than what was hashed, or has a hole where hashed bytes were,
 * is hashed again at the publish. */
static GBytes *hash_finish(FsBackendHandle *handle)
{
	guint64 piece_length = HASH_PIECE_LENGTH;
	guint64 full;
	struct stat st;

	if (!handle->in_order || fstat(handle->fd, &st) != 0 ||
	    (guint64)st.st_size != handle->hashed_to ||
	    (st.st_size > 0 && lseek(handle->fd, 0, SEEK_HOLE) != st.st_size))
		return NULL;
	full = handle->hashes->len / NET_PIECE_HASH_SIZE * piece_length;
	if (full < handle->hashed_to &&
	    !hash_piece(handle, full, handle->hashed_to - full))
		return NULL;
	return g_bytes_new(handle->hashes->data, handle->hashes->len);
}

/* The staging file becomes the seed copy as it is, so from its first
 * publish on nothing may write it: the handle's descriptor is swapped,
 * at the same number, for a read-only one (a write through fs/ fails
 * from then on), and the hashes are taken. FALSE when it cannot be:
 * the publish copies the file then. On the publishing FUSE thread. */
static gboolean staging_freeze(FsBackendHandle *handle)
{
	gboolean frozen;
	int fd;

	g_mutex_lock(&handle->hash_lock);
	if (!handle->frozen) {
		fd = open(handle->staging_path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && dup3(fd, handle->fd, O_CLOEXEC) >= 0) {
			handle->frozen = TRUE;
			handle->final_hashes = hash_finish(handle);
		}
		if (fd >= 0)
			close(fd);
		hash_give_up(handle);
	}
	frozen = handle->frozen;
	g_mutex_unlock(&handle->hash_lock);
	return frozen;
}

/* An operation on the loop, with its done. */
typedef struct {
	FsEngineBackend *backend;
	FsBackendHandle *handle; /* a reference, or NULL */
	char *group;
	char *from;
	char *to;
	gboolean flag;
	FsBackendDoneFunc done;
	gpointer data;
} Op;

static Op *op_new(FsEngineBackend *backend, const char *group, const char *from,
		  const char *to, FsBackendDoneFunc done, gpointer data)
{
	Op *op = g_new0(Op, 1);

	op->backend = backend;
	op->group = g_strdup(group);
	op->from = g_strdup(from);
	op->to = g_strdup(to);
	op->done = done;
	op->data = data;
	return op;
}

/* On the loop: @op's done, with @error (taken), and its end. */
static void op_finish(Op *op, GError *error)
{
	op->backend->busy--;
	op->done(to_io_error(error), op->data);
	g_clear_error(&error);
	if (op->handle != NULL)
		handle_unref(op->handle);
	g_free(op->group);
	g_free(op->from);
	g_free(op->to);
	g_free(op);
}

static void op_start(Op *op, LoopFunc func)
{
	/* Counted on the loop, where the free waits for it. */
	on_loop(op->backend, func, op);
}

static void shared(GObject *source, GAsyncResult *result, gpointer data)
{
	Op *op = data;
	FsBackendHandle *handle = op->handle;
	GError *error = NULL;
	g_autofree char *hex =
		net_engine_share_finish(op->backend->engine, result, &error);
	FsListed file = {0};
	struct stat st;

	if (hex != NULL && fstat(handle->fd, &st) == 0) {
		file.path = handle->path;
		file.size = (guint64)st.st_size;
		file.mtime = g_get_real_time() / G_USEC_PER_SEC;
		file.owner = (char *)fs_listing_get_user(op->backend->listing);
		g_strlcpy(file.info_hash, hex, sizeof(file.info_hash));
		fs_listing_put_file(op->backend->listing, handle->group, &file);
		fetch_status(op->backend);
	}
	op_finish(op, error);
}

static gboolean publish_on_loop(gpointer data)
{
	Op *op = data;
	FsBackendHandle *handle = op->handle;

	op->backend->busy++;
	if (op->flag)
		net_engine_share_adopt_async(
			op->backend->engine, handle->staging_path,
			handle->group, handle->path, handle->final_hashes, NULL,
			shared, op);
	else
		net_engine_share_async(op->backend->engine,
				       handle->staging_path, handle->group,
				       handle->path, NULL, shared, op);
	return G_SOURCE_REMOVE;
}

static void eb_publish(FsBackendHandle *handle, FsBackendDoneFunc done,
		       gpointer data)
{
	Op *op = op_new(handle->backend, NULL, NULL, NULL, done, data);

	op->handle = handle_ref(handle);
	/* Frozen, it is the seed copy; else (out of descriptors) a copy. */
	op->flag = staging_freeze(handle);
	op_start(op, publish_on_loop);
}

/* ---- operations on the tracker --------------------------------------- */

/* Runs @func in a worker, then @then on the loop. */
static void op_in_thread(Op *op, GTaskThreadFunc func, GAsyncReadyCallback then)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, then, op);

	op->backend->busy++;
	g_task_set_task_data(task, op, NULL);
	g_task_run_in_thread(task, func);
}

static NetTrackerApi *op_api(Op *op)
{
	return fs_listing_get_api(op->backend->listing);
}

/* A file's path as a query: "?path=P". */
static char *file_query(const char *group, const char *tail, const char *path)
{
	g_autofree char *base =
		net_tracker_api_path("groups", group, "files", tail, NULL);
	g_autofree char *query = g_uri_escape_string(path, NULL, FALSE);

	return g_strconcat(base, "?path=", query, NULL);
}

static gboolean delete_file(NetTrackerApi *api, const char *group,
			    const char *path, GError **error)
{
	g_autofree char *api_path = file_query(group, NULL, path);
	g_autoptr(JsonObject) reply =
		net_tracker_api_call(api, "DELETE", api_path, NULL, error);

	return reply != NULL;
}

/* Whether this member may remove or rename @path (theirs, or the
 * group is), answered from the snapshot. */
static gboolean may_change(Op *op, const char *path, GError **error)
{
	const char *user = fs_listing_get_user(op->backend->listing);
	g_autofree char *group_owner = NULL;
	g_autoptr(FsListed) file = fs_listing_find(
		op->backend->listing, op->group, path, &group_owner, error);

	if (file == NULL)
		return FALSE;
	if (g_strcmp0(file->owner, user) == 0 ||
	    g_strcmp0(group_owner, user) == 0)
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		    "%s/%s is %s's; only they or the group's owner can change "
		    "it",
		    op->group, path, file->owner);
	return FALSE;
}

static void unlink_in_thread(GTask *task, gpointer source, gpointer data,
			     GCancellable *cancellable)
{
	Op *op = data;
	GError *error = NULL;

	if (delete_file(op_api(op), op->group, op->from, &error))
		g_task_return_boolean(task, TRUE);
	else
		g_task_return_error(task, error);
}

static void unshared(GObject *source, GAsyncResult *result, gpointer data)
{
	/* Not ours to serve, or not here: nothing to stop. */
	net_engine_unshare_finish(data, result, NULL);
}

static void unlinked(GObject *source, GAsyncResult *result, gpointer data)
{
	Op *op = data;
	GError *error = NULL;

	if (g_task_propagate_boolean(G_TASK(result), &error)) {
		fs_listing_remove(op->backend->listing, op->group, op->from);
		/* Stop serving it: the group no longer has it. */
		net_engine_unshare_async(op->backend->engine, op->group,
					 op->from, unshared,
					 op->backend->engine);
	}
	op_finish(op, error);
}

static gboolean unlink_on_loop(gpointer data)
{
	Op *op = data;
	GError *error = NULL;

	if (!may_change(op, op->from, &error)) {
		op->backend->busy++;
		op_finish(op, error);
		return G_SOURCE_REMOVE;
	}
	op_in_thread(op, unlink_in_thread, unlinked);
	return G_SOURCE_REMOVE;
}

static void eb_unlink(gpointer self, const char *group, const char *path,
		      FsBackendDoneFunc done, gpointer data)
{
	op_start(op_new(self, group, path, NULL, done, data), unlink_on_loop);
}

static void rename_in_thread(GTask *task, gpointer source, gpointer data,
			     GCancellable *cancellable)
{
	Op *op = data;
	g_autofree char *api_path = net_tracker_api_path(
		"groups", op->group, "files", "rename", NULL);
	g_autoptr(JsonObject) body = json_object_new();
	JsonObject *record = NULL;
	GError *error = NULL;

	/* An existing @to of ours is replaced, as rename(2) does. */
	if (op->flag && !delete_file(op_api(op), op->group, op->to, &error)) {
		g_task_return_error(task, error);
		return;
	}
	json_object_set_string_member(body, "from", op->from);
	json_object_set_string_member(body, "to", op->to);
	record = net_tracker_api_call(op_api(op), "POST", api_path, body,
				      &error);
	if (record == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, record,
				      (GDestroyNotify)json_object_unref);
}

static void renamed(GObject *source, GAsyncResult *result, gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	g_autoptr(JsonObject) record =
		g_task_propagate_pointer(G_TASK(result), &error);

	if (record != NULL) {
		fs_listing_remove(op->backend->listing, op->group, op->from);
		fs_listing_put(op->backend->listing, op->group, record);
		/* What we serve or hold follows; not held here: nothing to
		 * follow. */
		net_engine_rename(op->backend->engine, op->group, op->from,
				  op->to, NULL);
		fetch_status(op->backend);
	}
	op_finish(op, error);
}

static gboolean rename_on_loop(gpointer data)
{
	Op *op = data;
	g_autoptr(GError) missing = NULL;
	GError *error = NULL;

	if (!may_change(op, op->from, &error) ||
	    (!may_change(op, op->to, &missing) &&
	     !g_error_matches(missing, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))) {
		op->backend->busy++;
		op_finish(op, error ? error : g_steal_pointer(&missing));
		return G_SOURCE_REMOVE;
	}
	op->flag = missing == NULL; /* @to exists, and is ours */
	op_in_thread(op, rename_in_thread, renamed);
	return G_SOURCE_REMOVE;
}

static void eb_rename(gpointer self, const char *group, const char *from,
		      const char *to, FsBackendDoneFunc done, gpointer data)
{
	op_start(op_new(self, group, from, to, done, data), rename_on_loop);
}

static void group_in_thread(GTask *task, gpointer source, gpointer data,
			    GCancellable *cancellable)
{
	Op *op = data;
	g_autoptr(JsonObject) body = json_object_new();
	g_autoptr(JsonObject) reply = NULL;
	GError *error = NULL;

	json_object_set_string_member(body, "name", op->group);
	reply = net_tracker_api_call(op_api(op), "POST", "groups", body,
				     &error);
	if (reply == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
}

static void group_made(GObject *source, GAsyncResult *result, gpointer data)
{
	Op *op = data;
	GError *error = NULL;

	if (g_task_propagate_boolean(G_TASK(result), &error))
		fs_listing_add_group(op->backend->listing, op->group,
				     fs_listing_get_user(op->backend->listing));
	op_finish(op, error);
}

static gboolean group_on_loop(gpointer data)
{
	op_in_thread(data, group_in_thread, group_made);
	return G_SOURCE_REMOVE;
}

static void eb_create_group(gpointer self, const char *name,
			    FsBackendDoneFunc done, gpointer data)
{
	op_start(op_new(self, name, NULL, NULL, done, data), group_on_loop);
}

/* ---- pins ------------------------------------------------------------ */

static void pin_opened(GObject *source, GAsyncResult *result, gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	NetEngineFile *file = net_engine_open_file_finish(op->backend->engine,
							  result, &error);

	if (file != NULL) {
		net_engine_file_set_pinned(file, op->flag);
		net_engine_file_close(file);
		fetch_status(op->backend);
	}
	op_finish(op, error);
}

static gboolean pin_on_loop(gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	g_autoptr(FsListed) file = fs_listing_find(
		op->backend->listing, op->group, op->from, NULL, &error);

	op->backend->busy++;
	if (file == NULL) {
		op_finish(op, error);
		return G_SOURCE_REMOVE;
	}
	net_engine_open_file_async(op->backend->engine, op->group, op->from,
				   file->info_hash, pin_opened, op);
	return G_SOURCE_REMOVE;
}

static void eb_set_pinned(gpointer self, const char *group, const char *path,
			  gboolean pinned, FsBackendDoneFunc done,
			  gpointer data)
{
	Op *op = op_new(self, group, path, NULL, done, data);

	op->flag = pinned;
	op_start(op, pin_on_loop);
}

static void eb_refresh(gpointer self, const char *group)
{
	FsEngineBackend *backend = self;

	fs_listing_refresh(backend->listing, group);
}

static void eb_watch(gpointer self, FsBackendChangedFunc func, gpointer data)
{
	FsEngineBackend *backend = self;

	fs_listing_watch(backend->listing, func, data);
}

static const FsBackendOps engine_backend_ops = {
	.list_groups = eb_list_groups,
	.list_files = eb_list_files,
	.get_space = eb_get_space,
	.get_info = eb_get_info,
	.open = eb_open,
	.create = eb_create,
	.get_fd = eb_get_fd,
	.range_ready = eb_range_ready,
	.wait_range = eb_wait_range,
	.cancel_wait = eb_cancel_wait,
	.want_range = eb_want_range,
	.staged = eb_staged,
	.publish = eb_publish,
	.close = eb_close,
	.unlink = eb_unlink,
	.rename = eb_rename,
	.create_group = eb_create_group,
	.set_pinned = eb_set_pinned,
	.refresh = eb_refresh,
	.watch = eb_watch,
};

/* ---- life cycle ------------------------------------------------------ */

/* Staging files that a crash left behind were never published. */
static gboolean make_staging_dir(const char *dir, GError **error)
{
	g_autoptr(GDir) entries = NULL;
	const char *name;

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot create the folder %s: %s", dir,
			    g_strerror(err));
		return FALSE;
	}
	entries = g_dir_open(dir, 0, error);
	if (entries == NULL)
		return FALSE;
	while ((name = g_dir_read_name(entries)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);

		g_unlink(path);
	}
	return TRUE;
}

FsEngineBackend *fs_engine_backend_new(const FsEngineBackendConfig *config,
				       GError **error)
{
	g_autoptr(FsEngineBackend) backend = g_new0(FsEngineBackend, 1);
	NetTrackerApi *api;

	backend->backend.ops = &engine_backend_ops;
	backend->backend.self = backend;
	backend->engine = config->engine;
	backend->context = g_main_context_ref_thread_default();
	backend->cache_size = config->cache_size;
	backend->staging_dir =
		g_build_filename(config->data_dir, STAGING_DIR, NULL);
	g_mutex_init(&backend->lock);
	backend->status =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	backend->live =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (!make_staging_dir(backend->staging_dir, error))
		return NULL;
	api = net_tracker_api_new(config->tracker_url, config->ca_file, error);
	if (api == NULL)
		return NULL;
	net_tracker_api_set_token(api, config->token);
	backend->listing =
		fs_listing_new(api, net_engine_get_user(config->engine),
			       config->refresh_s, error);
	if (backend->listing == NULL)
		return NULL;
	fetch_status(backend);
	net_engine_watch_restore(backend->engine, restored, backend);
	return g_steal_pointer(&backend);
}

void fs_engine_backend_free(FsEngineBackend *backend)
{
	gint64 deadline = g_get_monotonic_time() + DRAIN_US;

	if (backend == NULL)
		return;
	net_engine_watch_restore(backend->engine, NULL, NULL);
	while (backend->busy > 0 && g_get_monotonic_time() < deadline)
		g_main_context_iteration(backend->context, TRUE);
	if (backend->busy > 0) {
		g_message("%u operations of the mount did not end in time",
			  backend->busy);
		return; /* they still point at us */
	}
	g_clear_pointer(&backend->listing, fs_listing_free);
	g_clear_pointer(&backend->status, g_hash_table_unref);
	g_clear_pointer(&backend->live, g_hash_table_unref);
	g_mutex_clear(&backend->lock);
	g_main_context_unref(backend->context);
	g_free(backend->staging_dir);
	g_free(backend);
}

const FsBackend *fs_engine_backend_get(FsEngineBackend *backend)
{
	return &backend->backend;
}
