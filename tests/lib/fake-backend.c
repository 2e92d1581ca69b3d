#include "fake-backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

typedef struct {
	char *source;
	guint64 size;
	gint64 mtime;
	char *owner;
	gint64 ready_after_ms; /* 0: ready; -1: never */
	guint64 unready_offset;
	guint64 unready_length;
	gint64 ready_at_us; /* 0 until a read first waits */
	guint peers;
	gboolean pinned;
} FakeFile; /* an atomic rc box: open handles keep it */

typedef struct {
	char *owner;
	GHashTable *files; /* path → FakeFile */
} FakeGroup;

struct _FakeBackend {
	FsBackend backend;
	char *user;
	char *state_dir;
	FsBackendSpace space;

	GMainContext *context; /* the loop thread's */
	GMainLoop *loop;
	GThread *thread;

	GMutex lock; /* protects the fields below, and every FakeFile */
	GHashTable *groups; /* name → FakeGroup */
	GHashTable *waits; /* id → Wait */
	guint next_id;
	guint serial; /* of published copies */
	FILE *log;

	GMutex watch_lock; /* held while the watcher runs */
	FsBackendChangedFunc watch_func;
	gpointer watch_data;
};

struct _FsBackendHandle {
	FakeBackend *fake;
	gint refs; /* atomic: the opener's, and one per wait */
	int fd;
	FakeFile *file; /* NULL for a staging file */
	char *group;
	char *path;
	char *staging_path;
};

typedef struct {
	guint id;
	FsBackendHandle *handle; /* a ref */
	guint64 offset;
	guint64 length;
	gint64 deadline_us; /* 0: none */
	FsBackendDoneFunc done;
	gpointer data;
	GSource *timer; /* NULL when it waits for ever */
} Wait;

static void fake_file_clear(gpointer data)
{
	FakeFile *file = data;

	g_free(file->source);
	g_free(file->owner);
}

static void fake_file_unref(gpointer file)
{
	g_atomic_rc_box_release_full(file, fake_file_clear);
}

static void fake_group_free(gpointer data)
{
	FakeGroup *group = data;

	g_free(group->owner);
	g_hash_table_unref(group->files);
	g_free(group);
}

static FakeGroup *fake_group_new(const char *owner)
{
	FakeGroup *group = g_new0(FakeGroup, 1);

	group->owner = g_strdup(owner);
	group->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					     fake_file_unref);
	return group;
}

static FakeFile *fake_file_new(const char *source, guint64 size,
			       const char *owner, gint64 mtime)
{
	FakeFile *file = g_atomic_rc_box_new0(FakeFile);

	file->source = g_strdup(source);
	file->size = size;
	file->owner = g_strdup(owner);
	file->mtime = mtime;
	file->unready_length = G_MAXUINT64;
	return file;
}

static void handle_unref(FsBackendHandle *handle)
{
	if (!g_atomic_int_dec_and_test(&handle->refs))
		return;
	close(handle->fd);
	if (handle->staging_path != NULL)
		g_unlink(handle->staging_path);
	if (handle->file != NULL)
		fake_file_unref(handle->file);
	g_free(handle->group);
	g_free(handle->path);
	g_free(handle->staging_path);
	g_free(handle);
}

/* Under the lock. */
static gboolean mine(FakeBackend *fake, FakeGroup *group, FakeFile *file)
{
	return g_strcmp0(file->owner, fake->user) == 0 ||
	       g_strcmp0(group->owner, fake->user) == 0;
}

static void record(FakeBackend *fake, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Under the lock. */
static void record(FakeBackend *fake, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(fake->log, fmt, ap);
	va_end(ap);
	fputc('\n', fake->log);
	fflush(fake->log);
}

static void notify(FakeBackend *fake, const char *group)
{
	g_mutex_lock(&fake->watch_lock);
	if (fake->watch_func != NULL)
		fake->watch_func(group, fake->watch_data);
	g_mutex_unlock(&fake->watch_lock);
}

/* Loading the spec */

static gboolean load_file(FakeBackend *fake, GKeyFile *spec,
			  const char *section, GError **error)
{
	const char *name = section + strlen("file ");
	const char *slash = strchr(name, '/');
	g_autofree char *group_name = NULL;
	g_autofree char *source = NULL;
	g_autofree char *owner = NULL;
	FakeGroup *group;
	FakeFile *file;
	GStatBuf st;

	if (slash == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "[file %s] needs GROUP/PATH", name);
		return FALSE;
	}
	group_name = g_strndup(name, slash - name);
	group = g_hash_table_lookup(fake->groups, group_name);
	source = g_key_file_get_string(spec, section, "source", NULL);
	if (group == NULL || source == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "[file %s]: no such group, or no source", name);
		return FALSE;
	}
	if (g_stat(source, &st) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: %s",
			    source, g_strerror(errno));
		return FALSE;
	}
	owner = g_key_file_get_string(spec, section, "owner", NULL);
	file = fake_file_new(source, (guint64)st.st_size,
			     owner ? owner : group->owner, st.st_mtime);
	g_hash_table_replace(group->files, g_strdup(slash + 1), file);
	return TRUE;
}

static gint64 key_int(GKeyFile *spec, const char *section, const char *key,
		      gint64 fallback)
{
	g_autoptr(GError) error = NULL;
	gint64 value = g_key_file_get_int64(spec, section, key, &error);

	return error ? fallback : value;
}

static void load_file_options(FakeBackend *fake, GKeyFile *spec,
			      const char *section)
{
	const char *name = section + strlen("file ");
	const char *slash = strchr(name, '/');
	g_autofree char *group_name = g_strndup(name, slash - name);
	FakeGroup *group = g_hash_table_lookup(fake->groups, group_name);
	FakeFile *file = g_hash_table_lookup(group->files, slash + 1);

	file->mtime = key_int(spec, section, "mtime", file->mtime);
	file->ready_after_ms = key_int(spec, section, "ready-after-ms", 0);
	file->unready_offset = key_int(spec, section, "unready-offset", 0);
	file->unready_length =
		key_int(spec, section, "unready-length", G_MAXINT64);
	file->peers = key_int(spec, section, "peers", 0);
}

static gboolean generate_files(FakeBackend *fake, GKeyFile *spec,
			       const char *section, FakeGroup *group,
			       GError **error)
{
	gint64 count = key_int(spec, section, "generate", 0);
	gint64 size = key_int(spec, section, "generate-size", 0);
	g_autofree char *source = NULL;
	g_autofree char *content = NULL;

	if (count <= 0)
		return TRUE;
	source = g_build_filename(fake->state_dir, "generated", NULL);
	content = g_malloc((gsize)size + 1);
	for (gint64 i = 0; i < size; i++)
		content[i] = (char)('a' + i % 26);
	if (!g_file_set_contents(source, content, size, error))
		return FALSE;
	for (gint64 i = 0; i < count; i++) {
		char name[32];

		g_snprintf(name, sizeof(name),
			   "file-%05" G_GINT64_FORMAT ".txt", i);
		g_hash_table_replace(group->files, g_strdup(name),
				     fake_file_new(source, (guint64)size,
						   group->owner, 1700000000));
	}
	return TRUE;
}

static gboolean load_spec(FakeBackend *fake, GKeyFile *spec, GError **error)
{
	g_auto(GStrv) sections = g_key_file_get_groups(spec, NULL);

	fake->user = g_key_file_get_string(spec, "backend", "user", error);
	fake->state_dir =
		g_key_file_get_string(spec, "backend", "state-dir", error);
	if (fake->user == NULL || fake->state_dir == NULL)
		return FALSE;
	fake->space.cache_size = key_int(spec, "backend", "cache-size", 0);
	fake->space.cache_used = key_int(spec, "backend", "cache-used", 0);
	for (guint i = 0; sections[i] != NULL; i++) {
		g_autofree char *owner = NULL;
		FakeGroup *group;

		if (!g_str_has_prefix(sections[i], "group "))
			continue;
		owner = g_key_file_get_string(spec, sections[i], "owner", NULL);
		group = fake_group_new(owner ? owner : fake->user);
		g_hash_table_replace(fake->groups,
				     g_strdup(sections[i] + strlen("group ")),
				     group);
		if (!generate_files(fake, spec, sections[i], group, error))
			return FALSE;
	}
	for (guint i = 0; sections[i] != NULL; i++) {
		if (!g_str_has_prefix(sections[i], "file "))
			continue;
		if (!load_file(fake, spec, sections[i], error))
			return FALSE;
		load_file_options(fake, spec, sections[i]);
	}
	return TRUE;
}

/* The loop thread */

static gpointer run_loop(gpointer data)
{
	FakeBackend *fake = data;

	g_main_context_push_thread_default(fake->context);
	g_main_loop_run(fake->loop);
	g_main_context_pop_thread_default(fake->context);
	return NULL;
}

/* Runs @func(@data) on the loop thread, later. */
static void defer(FakeBackend *fake, GSourceFunc func, gpointer data)
{
	GSource *source = g_idle_source_new();

	g_source_set_callback(source, func, data, NULL);
	g_source_attach(source, fake->context);
	g_source_unref(source);
}

/* Waits */

/* Under the lock. */
static gboolean ready_now(FakeFile *file, guint64 offset, guint64 length)
{
	guint64 end = offset + length;
	guint64 unready_end;

	if (file == NULL || file->ready_after_ms == 0)
		return TRUE;
	unready_end =
		file->unready_offset +
		MIN(file->unready_length, G_MAXUINT64 - file->unready_offset);
	if (end <= file->unready_offset || offset >= unready_end)
		return TRUE;
	return file->ready_at_us != 0 &&
	       g_get_monotonic_time() >= file->ready_at_us;
}

static void wait_free(Wait *wait)
{
	if (wait->timer != NULL) {
		g_source_destroy(wait->timer);
		g_source_unref(wait->timer);
	}
	handle_unref(wait->handle);
	g_free(wait);
}

/* Takes @wait out of the table; NULL if somebody else did. */
static Wait *steal_wait(FakeBackend *fake, guint id)
{
	Wait *wait = NULL;

	g_mutex_lock(&fake->lock);
	if (g_hash_table_steal_extended(fake->waits, GUINT_TO_POINTER(id), NULL,
					(gpointer *)&wait) &&
	    wait->timer != NULL) {
		g_source_destroy(wait->timer);
		g_clear_pointer(&wait->timer, g_source_unref);
	}
	g_mutex_unlock(&fake->lock);
	return wait;
}

/* Under the lock: when the wait should end, 0 for never. */
static gint64 wait_until(FakeFile *file, gint64 deadline_us)
{
	gint64 at;

	if (file->ready_after_ms < 0)
		return deadline_us;
	if (file->ready_at_us == 0)
		file->ready_at_us =
			g_get_monotonic_time() + file->ready_after_ms * 1000;
	at = file->ready_at_us;
	return deadline_us != 0 ? MIN(at, deadline_us) : at;
}

/* Under the lock: (re)arms @wait's timer for @at, 0 meaning never. */
static void arm(FakeBackend *fake, Wait *wait, gint64 at);

static gboolean fire(gpointer data)
{
	Wait *wait = data;
	FakeBackend *fake = wait->handle->fake;
	g_autoptr(GError) error = NULL;
	gboolean ready;

	g_mutex_lock(&fake->lock);
	ready = ready_now(wait->handle->file, wait->offset, wait->length);
	/* A timer may fire a little early: wait on until the deadline. */
	if (!ready && (wait->deadline_us == 0 ||
		       g_get_monotonic_time() < wait->deadline_us)) {
		arm(fake, wait,
		    wait_until(wait->handle->file, wait->deadline_us));
		g_mutex_unlock(&fake->lock);
		return G_SOURCE_REMOVE;
	}
	g_mutex_unlock(&fake->lock);
	if (steal_wait(fake, wait->id) == NULL)
		return G_SOURCE_REMOVE;
	if (!ready)
		error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
					    "No peer had the pieces in time.");
	wait->done(error, wait->data);
	wait_free(wait);
	return G_SOURCE_REMOVE;
}

static gboolean fire_cancelled(gpointer data)
{
	Wait *wait = data;
	g_autoptr(GError) error = g_error_new_literal(
		G_IO_ERROR, G_IO_ERROR_CANCELLED, "The read was cancelled.");

	wait->done(error, wait->data);
	wait_free(wait);
	return G_SOURCE_REMOVE;
}

static void arm(FakeBackend *fake, Wait *wait, gint64 at)
{
	gint64 delay = MAX(at - g_get_monotonic_time(), 0);

	if (wait->timer != NULL) {
		g_source_destroy(wait->timer);
		g_clear_pointer(&wait->timer, g_source_unref);
	}
	if (at == 0)
		return;
	/* Rounded up: GLib's timers count whole milliseconds. */
	wait->timer = g_timeout_source_new((guint)((delay + 999) / 1000));
	g_source_set_callback(wait->timer, fire, wait, NULL);
	g_source_attach(wait->timer, fake->context);
}

static guint fake_wait_range(FsBackendHandle *handle, guint64 offset,
			     guint64 length, gint64 deadline_us,
			     FsBackendDoneFunc done, gpointer data)
{
	FakeBackend *fake = handle->fake;
	Wait *wait = g_new0(Wait, 1);

	g_atomic_int_inc(&handle->refs);
	wait->handle = handle;
	wait->offset = offset;
	wait->length = length;
	wait->deadline_us = deadline_us;
	wait->done = done;
	wait->data = data;
	g_mutex_lock(&fake->lock);
	wait->id = ++fake->next_id;
	g_hash_table_insert(fake->waits, GUINT_TO_POINTER(wait->id), wait);
	arm(fake, wait,
	    ready_now(handle->file, offset, length)
		    ? g_get_monotonic_time()
		    : wait_until(handle->file, deadline_us));
	g_mutex_unlock(&fake->lock);
	return wait->id;
}

static void fake_cancel_wait(FsBackendHandle *handle, guint id)
{
	Wait *wait = steal_wait(handle->fake, id);

	if (wait != NULL)
		defer(handle->fake, fire_cancelled, wait);
}

static gboolean fake_range_ready(FsBackendHandle *handle, guint64 offset,
				 guint64 length)
{
	g_autoptr(GMutexLocker) locker =
		g_mutex_locker_new(&handle->fake->lock);

	return ready_now(handle->file, offset, length);
}

static int fake_get_fd(FsBackendHandle *handle)
{
	return handle->fd;
}

static void fake_close(FsBackendHandle *handle)
{
	FakeBackend *fake = handle->fake;
	g_autoptr(GPtrArray) ids = g_ptr_array_new();
	GHashTableIter iter;
	gpointer key, value;

	g_mutex_lock(&fake->lock);
	g_hash_table_iter_init(&iter, fake->waits);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (((Wait *)value)->handle == handle)
			g_ptr_array_add(ids, key);
	}
	g_mutex_unlock(&fake->lock);
	for (guint i = 0; i < ids->len; i++)
		fake_cancel_wait(handle, GPOINTER_TO_UINT(ids->pdata[i]));
	handle_unref(handle);
}

/* Queries */

static GPtrArray *fake_list_groups(gpointer self)
{
	FakeBackend *fake = self;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	GPtrArray *list = g_ptr_array_new_with_free_func(
		(GDestroyNotify)fs_backend_entry_free);
	GHashTableIter iter;
	gpointer key, value;

	g_hash_table_iter_init(&iter, fake->groups);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		FakeGroup *group = value;

		g_ptr_array_add(
			list, fs_backend_entry_new(key, 0, 1700000000,
						   g_strcmp0(group->owner,
							     fake->user) == 0));
	}
	return list;
}

static GPtrArray *fake_list_files(gpointer self, const char *name)
{
	FakeBackend *fake = self;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	FakeGroup *group = g_hash_table_lookup(fake->groups, name);
	GPtrArray *list;
	GHashTableIter iter;
	gpointer key, value;

	if (group == NULL)
		return NULL;
	list = g_ptr_array_new_with_free_func(
		(GDestroyNotify)fs_backend_entry_free);
	g_hash_table_iter_init(&iter, group->files);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		FakeFile *file = value;

		g_ptr_array_add(
			list, fs_backend_entry_new(key, file->size, file->mtime,
						   mine(fake, group, file)));
	}
	return list;
}

static void fake_get_space(gpointer self, FsBackendSpace *space)
{
	FakeBackend *fake = self;

	*space = fake->space;
}

/* Under the lock. */
static FakeFile *find_file(FakeBackend *fake, const char *group_name,
			   const char *path, FakeGroup **group, GError **error)
{
	FakeFile *file = NULL;

	*group = g_hash_table_lookup(fake->groups, group_name);
	if (*group != NULL)
		file = g_hash_table_lookup((*group)->files, path);
	if (file == NULL)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "%s/%s is not published.", group_name, path);
	return file;
}

static gboolean fake_get_info(gpointer self, const char *group_name,
			      const char *path, FsBackendInfo *info,
			      GError **error)
{
	FakeBackend *fake = self;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	g_autofree char *name = g_strdup_printf("%s/%s", group_name, path);
	g_autofree char *hash = NULL;
	FakeGroup *group;
	FakeFile *file = find_file(fake, group_name, path, &group, error);

	if (file == NULL)
		return FALSE;
	hash = g_compute_checksum_for_string(G_CHECKSUM_SHA1, name, -1);
	g_strlcpy(info->info_hash, hash, sizeof(info->info_hash));
	info->owner = g_strdup(file->owner);
	info->progress = ready_now(file, 0, file->size) ? 100 : 0;
	info->peers = file->peers;
	info->pinned = file->pinned;
	return TRUE;
}

static FsBackendHandle *handle_new(FakeBackend *fake, int fd, const char *group,
				   const char *path)
{
	FsBackendHandle *handle = g_new0(FsBackendHandle, 1);

	handle->fake = fake;
	handle->refs = 1;
	handle->fd = fd;
	handle->group = g_strdup(group);
	handle->path = g_strdup(path);
	return handle;
}

static FsBackendHandle *fake_open(gpointer self, const char *group_name,
				  const char *path, GError **error)
{
	FakeBackend *fake = self;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	FsBackendHandle *handle;
	FakeGroup *group;
	FakeFile *file = find_file(fake, group_name, path, &group, error);
	int fd;

	if (file == NULL)
		return NULL;
	fd = open(file->source, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "%s: %s", file->source, g_strerror(errno));
		return NULL;
	}
	handle = handle_new(fake, fd, group_name, path);
	handle->file = g_atomic_rc_box_acquire(file);
	return handle;
}

static FsBackendHandle *fake_create(gpointer self, const char *group_name,
				    const char *path, GError **error)
{
	FakeBackend *fake = self;
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&fake->lock);
	g_autofree char *staging = NULL;
	FsBackendHandle *handle;
	FakeGroup *group;
	FakeFile *file = find_file(fake, group_name, path, &group, NULL);
	int fd;

	if (group == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "No group %s.", group_name);
		return NULL;
	}
	if (file != NULL && !mine(fake, group, file)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "%s/%s is %s's.", group_name, path, file->owner);
		return NULL;
	}
	staging = g_build_filename(fake->state_dir, "staging-XXXXXX", NULL);
	fd = g_mkstemp(staging);
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "%s: %s", staging, g_strerror(errno));
		return NULL;
	}
	handle = handle_new(fake, fd, group_name, path);
	handle->staging_path = g_steal_pointer(&staging);
	return handle;
}

/* Operations, carried out on the loop thread */

typedef struct {
	FakeBackend *fake;
	FsBackendHandle *handle; /* a ref, for publish */
	char *group;
	char *a;
	char *b;
	gboolean flag;
	FsBackendDoneFunc done;
	gpointer data;
} Op;

static Op *op_new(FakeBackend *fake, const char *group, const char *a,
		  const char *b, FsBackendDoneFunc done, gpointer data)
{
	Op *op = g_new0(Op, 1);

	op->fake = fake;
	op->group = g_strdup(group);
	op->a = g_strdup(a);
	op->b = g_strdup(b);
	op->done = done;
	op->data = data;
	return op;
}

/* Reports @error (or success), frees @op; a GSourceFunc's end. */
static gboolean op_finish(Op *op, GError *error)
{
	op->done(error, op->data);
	g_clear_error(&error);
	if (op->handle != NULL)
		handle_unref(op->handle);
	g_free(op->group);
	g_free(op->a);
	g_free(op->b);
	g_free(op);
	return G_SOURCE_REMOVE;
}

/* Under the lock: a copy of the staging file that the record names. */
static char *copy_staging(FakeBackend *fake, FsBackendHandle *handle,
			  GError **error)
{
	g_autofree char *name = g_strdup_printf("published-%u", ++fake->serial);
	g_autofree char *copy = g_build_filename(fake->state_dir, name, NULL);
	g_autoptr(GFile) from = g_file_new_for_path(handle->staging_path);
	g_autoptr(GFile) to = g_file_new_for_path(copy);

	if (!g_file_copy(from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL,
			 error))
		return NULL;
	return g_steal_pointer(&copy);
}

static gboolean do_publish(gpointer data)
{
	Op *op = data;
	FakeBackend *fake = op->fake;
	FsBackendHandle *handle = op->handle;
	GError *error = NULL;
	g_autofree char *copy = NULL;
	FakeGroup *group;
	FakeFile *file;
	GStatBuf st;

	g_mutex_lock(&fake->lock);
	file = find_file(fake, handle->group, handle->path, &group, NULL);
	if (group == NULL || (file != NULL && !mine(fake, group, file)))
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
				    "%s/%s is not yours to publish.",
				    handle->group, handle->path);
	else
		copy = copy_staging(fake, handle, &error);
	if (copy != NULL && g_stat(copy, &st) == 0) {
		g_hash_table_replace(
			group->files, g_strdup(handle->path),
			fake_file_new(copy, (guint64)st.st_size, fake->user,
				      g_get_real_time() / G_USEC_PER_SEC));
		record(fake, "publish\t%s\t%s\t%s", handle->group, handle->path,
		       copy);
	}
	g_mutex_unlock(&fake->lock);
	if (error == NULL)
		notify(fake, handle->group);
	return op_finish(op, error);
}

static void fake_publish(FsBackendHandle *handle, FsBackendDoneFunc done,
			 gpointer data)
{
	Op *op = op_new(handle->fake, NULL, NULL, NULL, done, data);

	g_atomic_int_inc(&handle->refs);
	op->handle = handle;
	defer(handle->fake, do_publish, op);
}

/* Under the lock: the file @op names, if this member may change it. */
static FakeFile *own_file(Op *op, FakeGroup **group, GError **error)
{
	FakeFile *file = find_file(op->fake, op->group, op->a, group, error);

	if (file != NULL && !mine(op->fake, *group, file)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "%s/%s is %s's.", op->group, op->a, file->owner);
		return NULL;
	}
	return file;
}

static gboolean do_unlink(gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	FakeGroup *group;

	g_mutex_lock(&op->fake->lock);
	if (own_file(op, &group, &error) != NULL) {
		g_hash_table_remove(group->files, op->a);
		record(op->fake, "unlink\t%s\t%s", op->group, op->a);
	}
	g_mutex_unlock(&op->fake->lock);
	if (error == NULL)
		notify(op->fake, op->group);
	return op_finish(op, error);
}

static void fake_unlink(gpointer self, const char *group, const char *path,
			FsBackendDoneFunc done, gpointer data)
{
	defer(self, do_unlink, op_new(self, group, path, NULL, done, data));
}

static gboolean do_rename(gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	FakeGroup *group;
	FakeFile *file;
	FakeFile *old;

	g_mutex_lock(&op->fake->lock);
	file = own_file(op, &group, &error);
	old = file ? g_hash_table_lookup(group->files, op->b) : NULL;
	if (old != NULL && !mine(op->fake, group, old)) {
		g_set_error(&error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "%s/%s is %s's.", op->group, op->b, old->owner);
	} else if (file != NULL) {
		g_hash_table_replace(group->files, g_strdup(op->b),
				     g_atomic_rc_box_acquire(file));
		g_hash_table_remove(group->files, op->a);
		record(op->fake, "rename\t%s\t%s\t%s", op->group, op->a, op->b);
	}
	g_mutex_unlock(&op->fake->lock);
	if (error == NULL)
		notify(op->fake, op->group);
	return op_finish(op, error);
}

static void fake_rename(gpointer self, const char *group, const char *from,
			const char *to, FsBackendDoneFunc done, gpointer data)
{
	defer(self, do_rename, op_new(self, group, from, to, done, data));
}

static gboolean do_create_group(gpointer data)
{
	Op *op = data;
	FakeBackend *fake = op->fake;
	GError *error = NULL;

	g_mutex_lock(&fake->lock);
	if (g_hash_table_contains(fake->groups, op->group)) {
		error = g_error_new(G_IO_ERROR, G_IO_ERROR_EXISTS,
				    "The group %s exists.", op->group);
	} else {
		g_hash_table_insert(fake->groups, g_strdup(op->group),
				    fake_group_new(fake->user));
		record(fake, "mkgroup\t%s", op->group);
	}
	g_mutex_unlock(&fake->lock);
	if (error == NULL)
		notify(fake, NULL);
	return op_finish(op, error);
}

static void fake_create_group(gpointer self, const char *name,
			      FsBackendDoneFunc done, gpointer data)
{
	defer(self, do_create_group,
	      op_new(self, name, NULL, NULL, done, data));
}

static gboolean do_set_pinned(gpointer data)
{
	Op *op = data;
	GError *error = NULL;
	FakeGroup *group;
	FakeFile *file;

	g_mutex_lock(&op->fake->lock);
	file = find_file(op->fake, op->group, op->a, &group, &error);
	if (file != NULL) {
		file->pinned = op->flag;
		record(op->fake, "pin\t%s\t%s\t%d", op->group, op->a, op->flag);
	}
	g_mutex_unlock(&op->fake->lock);
	return op_finish(op, error);
}

static void fake_set_pinned(gpointer self, const char *group, const char *path,
			    gboolean pinned, FsBackendDoneFunc done,
			    gpointer data)
{
	Op *op = op_new(self, group, path, NULL, done, data);

	op->flag = pinned;
	defer(self, do_set_pinned, op);
}

static void fake_watch(gpointer self, FsBackendChangedFunc func, gpointer data)
{
	FakeBackend *fake = self;

	g_mutex_lock(&fake->watch_lock);
	fake->watch_func = func;
	fake->watch_data = data;
	g_mutex_unlock(&fake->watch_lock);
}

static const FsBackendOps fake_ops = {
	.list_groups = fake_list_groups,
	.list_files = fake_list_files,
	.get_space = fake_get_space,
	.get_info = fake_get_info,
	.open = fake_open,
	.create = fake_create,
	.get_fd = fake_get_fd,
	.range_ready = fake_range_ready,
	.wait_range = fake_wait_range,
	.cancel_wait = fake_cancel_wait,
	.publish = fake_publish,
	.close = fake_close,
	.unlink = fake_unlink,
	.rename = fake_rename,
	.create_group = fake_create_group,
	.set_pinned = fake_set_pinned,
	.watch = fake_watch,
};

FakeBackend *fake_backend_new(const char *spec_path, GError **error)
{
	g_autoptr(GKeyFile) spec = g_key_file_new();
	g_autoptr(FakeBackend) fake = g_new0(FakeBackend, 1);
	g_autofree char *log_path = NULL;

	fake->backend.ops = &fake_ops;
	fake->backend.self = fake;
	g_mutex_init(&fake->lock);
	g_mutex_init(&fake->watch_lock);
	fake->groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					     fake_group_free);
	fake->waits = g_hash_table_new(NULL, NULL);
	fake->context = g_main_context_new();
	fake->loop = g_main_loop_new(fake->context, FALSE);
	if (!g_key_file_load_from_file(spec, spec_path, G_KEY_FILE_NONE,
				       error) ||
	    !load_spec(fake, spec, error))
		return NULL;
	log_path = g_build_filename(fake->state_dir, "ops.log", NULL);
	fake->log = fopen(log_path, "a");
	if (fake->log == NULL) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "%s: %s", log_path, g_strerror(errno));
		return NULL;
	}
	fake->thread = g_thread_new("fake-backend", run_loop, fake);
	return g_steal_pointer(&fake);
}

static void free_wait_entry(gpointer key, gpointer value, gpointer data)
{
	wait_free(value);
}

void fake_backend_free(FakeBackend *fake)
{
	if (fake == NULL)
		return;
	if (fake->thread != NULL) {
		g_main_loop_quit(fake->loop);
		g_thread_join(fake->thread);
	}
	/* Waits nobody cancelled (a forced stop) hold handles. */
	g_hash_table_foreach(fake->waits, free_wait_entry, NULL);
	g_hash_table_unref(fake->waits);
	g_hash_table_unref(fake->groups);
	g_main_loop_unref(fake->loop);
	g_main_context_unref(fake->context);
	if (fake->log != NULL)
		fclose(fake->log);
	g_free(fake->user);
	g_free(fake->state_dir);
	g_mutex_clear(&fake->lock);
	g_mutex_clear(&fake->watch_lock);
	g_free(fake);
}

const FsBackend *fake_backend_get(FakeBackend *fake)
{
	return &fake->backend;
}
