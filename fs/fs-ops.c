#include "fs-ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gio/gio.h>

#include "fs-errno.h"
#include "fs-inode.h"
#include "fs-reader.h"
#include "fs-writer.h"

/* Published content never changes under a name without the listing
 * saying so, and then the kernel is told: its caches may keep entries
 * and attributes for an hour. A file being written changes size at
 * every write, and a name that is not there may be published any
 * second. */
#define CACHE_TIMEOUT_S 3600.0
#define LOCAL_TIMEOUT_S 1.0
#define NEGATIVE_TIMEOUT_S 1.0

/* st_blksize: cp and friends size their buffers from it, and 1 MiB
 * buffers make 1 MiB WRITE requests. */
#define BLOCK_SIZE_HINT (1u << 20)
#define STATFS_BLOCK 4096u

#define XATTR_PREFIX "user.groupfs."
/* The names listxattr shows, NUL-separated. */
static const char xattr_names[] =
	XATTR_PREFIX "infohash\0" XATTR_PREFIX "owner\0" XATTR_PREFIX
		     "progress\0" XATTR_PREFIX "peers\0" XATTR_PREFIX "pin";

struct _FsOps {
	const FsBackend *backend;
	FsOpsConfig config;
	FsInodeTable *table;
	FsReader *reader;
	FsWriter *writer;
	uid_t uid;
	gid_t gid;

	/* Applies listing changes, one at a time, off the FUSE threads. */
	GThreadPool *refresher;
	GMutex lock; /* protects the fields below */
	GHashTable *pending; /* groups queued ("" for the group list) */
	/* OpenFile and OpenDir: what the kernel has not released yet
	 * (releases come asynchronously), freed at the end if the session
	 * stopped first. */
	GHashTable *open_files;
	GHashTable *open_dirs;
	struct fuse_session *session; /* NULL: nobody to tell */
};

/* fi->fh of an open file. */
typedef struct {
	FsBackendHandle *handle; /* a published file: read from here */
	FsStaging *staging; /* a new file: written, or read while written */
	gboolean writer;
	guint64 size; /* of a published file */
	FsReaderStream stream;
} OpenFile;

/* fi->fh of an open folder. */
typedef struct {
	GPtrArray *entries; /* FsInodeDirent snapshot at opendir */
} OpenDir;

/* A request answered from a backend callback. */
typedef struct {
	FsOps *ops;
	fuse_req_t req;
	guint64 parent;
	char *name;
	guint64 new_parent;
	char *new_name;
} Pending;

static FsOps *req_ops(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static gint64 now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

static void reply_error(fuse_req_t req, const GError *error)
{
	fuse_reply_err(req, fs_errno_from_error(error));
}

static Pending *pending_new(fuse_req_t req, guint64 parent, const char *name)
{
	Pending *p = g_new0(Pending, 1);

	p->ops = req_ops(req);
	p->req = req;
	p->parent = parent;
	p->name = g_strdup(name);
	return p;
}

static void pending_free(Pending *p)
{
	g_free(p->name);
	g_free(p->new_name);
	g_free(p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Pending, pending_free)

/* Attributes */

static void fill_stat(const FsOps *ops, const FsInodeAttr *attr,
		      struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = attr->ino;
	if (attr->kind == FS_INODE_KIND_FILE) {
		st->st_mode = S_IFREG | (attr->mine ? 0644 : 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)attr->size;
	} else {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	}
	st->st_uid = ops->uid;
	st->st_gid = ops->gid;
	st->st_blksize = BLOCK_SIZE_HINT;
	st->st_blocks = (blkcnt_t)((attr->size + 511) / 512);
	st->st_atim.tv_sec = attr->mtime;
	st->st_mtim.tv_sec = attr->mtime;
	st->st_ctim.tv_sec = attr->mtime;
}

static double attr_timeout(const FsInodeAttr *attr)
{
	return attr->local ? LOCAL_TIMEOUT_S : CACHE_TIMEOUT_S;
}

static void fill_entry(const FsOps *ops, const FsInodeAttr *attr,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = attr->ino;
	e->attr_timeout = attr_timeout(attr);
	e->entry_timeout = CACHE_TIMEOUT_S;
	fill_stat(ops, attr, &e->attr);
}

static void reply_entry(fuse_req_t req, const FsInodeAttr *attr)
{
	struct fuse_entry_param e;

	fill_entry(req_ops(req), attr, &e);
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, const FsInodeAttr *attr)
{
	struct stat st;

	fill_stat(req_ops(req), attr, &st);
	fuse_reply_attr(req, &st, attr_timeout(attr));
}

/* Listing changes */

static void apply_changes(FsOps *ops, GPtrArray *changes)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&ops->lock);

	if (ops->session == NULL)
		return;
	for (guint i = 0; i < changes->len; i++) {
		const FsInodeChange *change = changes->pdata[i];

		/* ENOENT only says the kernel had nothing cached. */
		if (change->name != NULL)
			fuse_lowlevel_notify_inval_entry(
				ops->session, change->ino, change->name,
				strlen(change->name));
		else
			fuse_lowlevel_notify_inval_inode(ops->session,
							 change->ino, 0, 0);
	}
}

static void sync_group(FsOps *ops, const char *group, GPtrArray *changes)
{
	const FsBackend *backend = ops->backend;
	g_autoptr(GPtrArray) files =
		backend->ops->list_files(backend->self, group);

	fs_inode_sync_files(ops->table, group, files, changes);
}

static void sync_all(FsOps *ops, GPtrArray *changes)
{
	const FsBackend *backend = ops->backend;
	g_autoptr(GPtrArray) groups = backend->ops->list_groups(backend->self);

	fs_inode_sync_groups(ops->table, groups, changes);
	for (guint i = 0; i < groups->len; i++) {
		const FsBackendEntry *group = groups->pdata[i];

		sync_group(ops, group->name, changes);
	}
}

/* The refresher thread: rereads what changed and tells the kernel. */
static void refresh(gpointer item, gpointer data)
{
	g_autofree char *group = item;
	FsOps *ops = data;
	g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func(
		(GDestroyNotify)fs_inode_change_free);

	g_mutex_lock(&ops->lock);
	g_hash_table_remove(ops->pending, group);
	g_mutex_unlock(&ops->lock);
	if (group[0] == '\0')
		sync_all(ops, changes);
	else
		sync_group(ops, group, changes);
	apply_changes(ops, changes);
}

/* FsBackendChangedFunc: queues one refresh per group. */
static void on_changed(const char *group, gpointer data)
{
	FsOps *ops = data;
	const char *key = group ? group : "";
	gboolean queued;

	g_mutex_lock(&ops->lock);
	queued = g_hash_table_contains(ops->pending, key);
	if (!queued)
		g_hash_table_add(ops->pending, g_strdup(key));
	g_mutex_unlock(&ops->lock);
	if (!queued)
		g_thread_pool_push(ops->refresher, g_strdup(key), NULL);
}

/* Reads */

/* FsReaderAnswerFunc, and the answer of reads of staging files. */
static void answer_read(fuse_req_t req, int fd, guint64 offset, gsize size,
			gboolean splice, const GError *error)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (error != NULL) {
		reply_error(req, error);
		return;
	}
	if (size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* The kernel gets the bytes straight from the data file: splice
	 * when it can, pread into a buffer when it cannot. */
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = (off_t)offset;
	fuse_reply_data(req, &buf,
			splice ? FUSE_BUF_SPLICE_MOVE : FUSE_BUF_NO_SPLICE);
}

/* What is left of @size bytes at @offset in a file of @length. */
static gsize clamp_read(guint64 length, off_t offset, size_t size)
{
	if (offset < 0 || (guint64)offset >= length)
		return 0;
	return (gsize)MIN((guint64)size, length - (guint64)offset);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	FsOps *ops = req_ops(req);
	OpenFile *file = (OpenFile *)(uintptr_t)fi->fh;
	guint64 length;

	if (file->staging != NULL) {
		length = fs_staging_get_size(file->staging);
		answer_read(req, fs_staging_get_fd(file->staging), (guint64)off,
			    clamp_read(length, off, size), TRUE, NULL);
		return;
	}
	fs_reader_read(ops->reader, req, file->handle, &file->stream,
		       file->size, (guint64)off,
		       clamp_read(file->size, off, size));
}

/* Lookups and attributes */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FsOps *ops = req_ops(req);
	g_autoptr(GError) error = NULL;
	struct fuse_entry_param e;
	FsInodeAttr attr;

	if (fs_inode_lookup(ops->table, parent, name, TRUE, &attr, &error)) {
		reply_entry(req, &attr);
		return;
	}
	if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
		reply_error(req, error);
		return;
	}
	/* A negative entry the kernel may keep for a moment. */
	memset(&e, 0, sizeof(e));
	e.entry_timeout = NEGATIVE_TIMEOUT_S;
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inode_forget(req_ops(req)->table, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	FsOps *ops = req_ops(req);

	for (size_t i = 0; i < count; i++)
		fs_inode_forget(ops->table, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	FsInodeAttr attr;

	if (!fs_inode_get(req_ops(req)->table, ino, &attr)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_attr(req, &attr);
}

/* Only a file being written changes size. Modes, owners and times are
 * accepted and ignored: what a group shares is bytes. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st,
		       int to_set, struct fuse_file_info *fi)
{
	FsOps *ops = req_ops(req);
	g_autoptr(GError) error = NULL;
	FsStaging *staging;
	FsInodeAttr attr;

	if (!fs_inode_get(ops->table, ino, &attr)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr.kind != FS_INODE_KIND_FILE) {
			fuse_reply_err(req, EISDIR);
			return;
		}
		staging = fs_writer_lookup(ops->writer, ino);
		if (staging == NULL) {
			fuse_reply_err(req, EROFS);
			return;
		}
		if (!fs_staging_truncate(staging, (guint64)st->st_size,
					 &error)) {
			fs_staging_release(staging, FALSE);
			reply_error(req, error);
			return;
		}
		fs_staging_release(staging, FALSE);
		fs_inode_get(ops->table, ino, &attr);
	}
	reply_attr(req, &attr);
}

/* Folders */

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	FsOps *ops = req_ops(req);
	const FsBackend *backend = ops->backend;
	g_autoptr(GError) error = NULL;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	OpenDir *dir;
	GPtrArray *entries;

	entries = fs_inode_list(ops->table, ino, &error);
	if (entries == NULL) {
		reply_error(req, error);
		return;
	}
	if (backend->ops->refresh != NULL &&
	    fs_inode_get_path(ops->table, ino, &group, &path) && group != NULL)
		backend->ops->refresh(backend->self, group);
	dir = g_new0(OpenDir, 1);
	dir->entries = entries;
	g_mutex_lock(&ops->lock);
	g_hash_table_add(ops->open_dirs, dir);
	g_mutex_unlock(&ops->lock);
	fi->fh = (uintptr_t)dir;
	/* Listings change only through invalidations we send. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void open_dir_free(gpointer data)
{
	OpenDir *dir = data;

	g_ptr_array_unref(dir->entries);
	g_free(dir);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	FsOps *ops = req_ops(req);
	OpenDir *dir = (OpenDir *)(uintptr_t)fi->fh;

	g_mutex_lock(&ops->lock);
	g_hash_table_steal(ops->open_dirs, dir);
	g_mutex_unlock(&ops->lock);
	open_dir_free(dir);
	fuse_reply_err(req, 0);
}

typedef struct {
	fuse_req_t req;
	FsOps *ops;
	gboolean plus;
	char *buf;
	size_t size;
	size_t used;
	guint index; /* of the entry being filled */
} DirFill;

/* FsInodeFillFunc: one entry into the reply buffer. */
static gboolean fill_dirent(const FsInodeDirent *entry, const FsInodeAttr *attr,
			    gpointer data)
{
	DirFill *fill = data;
	char *at = fill->buf + fill->used;
	size_t left = fill->size - fill->used;
	off_t next = (off_t)fill->index + 1;
	size_t len;

	fill->index++;
	if (fill->plus) {
		struct fuse_entry_param e;

		if (attr == NULL)
			return TRUE; /* gone since opendir */
		fill_entry(fill->ops, attr, &e);
		len = fuse_add_direntry_plus(fill->req, at, left, entry->name,
					     &e, next);
	} else {
		struct stat st = {.st_ino = entry->ino};

		st.st_mode =
			entry->kind == FS_INODE_KIND_FILE ? S_IFREG : S_IFDIR;
		len = fuse_add_direntry(fill->req, at, left, entry->name, &st,
					next);
	}
	if (len > left)
		return FALSE;
	fill->used += len;
	return TRUE;
}

static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, gboolean plus)
{
	FsOps *ops = req_ops(req);
	OpenDir *dir = (OpenDir *)(uintptr_t)fi->fh;
	g_autofree char *buf = g_malloc(size);
	DirFill fill = {req, ops, plus, buf, size, 0, 0};
	guint next;

	if (off < 0 || (guint64)off >= dir->entries->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	fill.index = (guint)off;
	next = fs_inode_fill(ops->table, dir->entries, (guint)off, plus,
			     fill_dirent, &fill);
	(void)next;
	fuse_reply_buf(req, buf, fill.used);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, FALSE);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, TRUE);
}

/* On success the kernel knows the new entry: one lookup. */
static void on_group_made(const GError *error, gpointer data)
{
	g_autoptr(Pending) p = data;
	g_autoptr(GError) local = NULL;
	FsInodeAttr attr;

	if (error != NULL) {
		reply_error(p->req, error);
		return;
	}
	if (!fs_inode_add(p->ops->table, FS_INODE_ROOT, p->name,
			  FS_INODE_KIND_GROUP, now_s(), &attr, &local)) {
		reply_error(p->req, local);
		return;
	}
	reply_entry(p->req, &attr);
}

/* At the root a new group; in a group a local folder for files to
 * come, which lives as long as the mount unless files fill it. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	FsOps *ops = req_ops(req);
	const FsBackend *backend = ops->backend;
	g_autoptr(GError) error = NULL;
	FsInodeAttr attr;

	if (parent == FS_INODE_ROOT) {
		backend->ops->create_group(backend->self, name, on_group_made,
					   pending_new(req, parent, name));
		return;
	}
	if (!fs_inode_add(ops->table, parent, name, FS_INODE_KIND_DIR, now_s(),
			  &attr, &error)) {
		reply_error(req, error);
		return;
	}
	reply_entry(req, &attr);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FsOps *ops = req_ops(req);
	g_autoptr(GError) error = NULL;
	FsInodeAttr attr;

	if (!fs_inode_lookup(ops->table, parent, name, FALSE, &attr, &error)) {
		reply_error(req, error);
		return;
	}
	if (attr.kind == FS_INODE_KIND_FILE) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	/* Leaving or deleting a group is a decision for `groupfs group`,
	 * not for an `rm -r` that went one level too high. */
	if (attr.kind == FS_INODE_KIND_GROUP) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (!fs_inode_remove(ops->table, parent, name, TRUE, &error)) {
		reply_error(req, error);
		return;
	}
	fuse_reply_err(req, 0);
}

/* Files: unlink and rename */

static void on_unlinked(const GError *error, gpointer data)
{
	g_autoptr(Pending) p = data;

	if (error == NULL)
		fs_inode_remove(p->ops->table, p->parent, p->name, FALSE, NULL);
	fuse_reply_err(p->req, error ? fs_errno_from_error(error) : 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FsOps *ops = req_ops(req);
	const FsBackend *backend = ops->backend;
	g_autoptr(GError) error = NULL;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	FsInodeAttr attr;

	if (!fs_inode_lookup(ops->table, parent, name, FALSE, &attr, &error)) {
		reply_error(req, error);
		return;
	}
	if (attr.kind != FS_INODE_KIND_FILE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* Not published yet: nothing to ask anyone. */
	if (attr.local) {
		fs_writer_abandon(ops->writer, attr.ino);
		fs_inode_remove(ops->table, parent, name, FALSE, NULL);
		fuse_reply_err(req, 0);
		return;
	}
	if (!fs_inode_child_path(ops->table, parent, name, &group, &path) ||
	    path == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	backend->ops->unlink(backend->self, group, path, on_unlinked,
			     pending_new(req, parent, name));
}

static void on_renamed(const GError *error, gpointer data)
{
	g_autoptr(Pending) p = data;

	/* The backend's listing may have been applied first (the node is
	 * then at its new name already, under a new inode that the
	 * refresh told the kernel about): the rename stands either way. */
	if (error == NULL)
		fs_inode_rename(p->ops->table, p->parent, p->name,
				p->new_parent, p->new_name, NULL);
	fuse_reply_err(p->req, error ? fs_errno_from_error(error) : 0);
}

/* 0 when the kernel's rename of @src over @new_name may go ahead. */
static int check_rename(FsOps *ops, const FsInodeAttr *src, guint64 new_parent,
			const char *new_name, unsigned int flags)
{
	FsInodeAttr dst;

	if (flags & RENAME_EXCHANGE)
		return EINVAL;
	if (!fs_inode_lookup(ops->table, new_parent, new_name, FALSE, &dst,
			     NULL))
		return 0;
	if (flags & RENAME_NOREPLACE)
		return EEXIST;
	if (dst.kind != FS_INODE_KIND_FILE && src->kind == FS_INODE_KIND_FILE)
		return EISDIR;
	if (dst.kind == FS_INODE_KIND_FILE && src->kind != FS_INODE_KIND_FILE)
		return ENOTDIR;
	if (dst.kind != FS_INODE_KIND_FILE && dst.children > 0)
		return ENOTEMPTY;
	return 0;
}

/* A rename the backend has no part in: an empty local folder. */
static void rename_locally(fuse_req_t req, fuse_ino_t parent, const char *name,
			   fuse_ino_t new_parent, const char *new_name)
{
	g_autoptr(GError) error = NULL;

	if (!fs_inode_rename(req_ops(req)->table, parent, name, new_parent,
			     new_name, &error)) {
		reply_error(req, error);
		return;
	}
	fuse_reply_err(req, 0);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t new_parent, const char *new_name,
		      unsigned int flags)
{
	FsOps *ops = req_ops(req);
	const FsBackend *backend = ops->backend;
	g_autofree char *group = NULL, *path = NULL;
	g_autofree char *new_group = NULL, *new_path = NULL;
	g_autoptr(GError) error = NULL;
	FsInodeAttr src;
	Pending *p;
	int err;

	if (!fs_inode_lookup(ops->table, parent, name, FALSE, &src, &error)) {
		reply_error(req, error);
		return;
	}
	err = check_rename(ops, &src, new_parent, new_name, flags);
	if (err == 0 &&
	    (!fs_inode_child_path(ops->table, parent, name, &group, &path) ||
	     !fs_inode_child_path(ops->table, new_parent, new_name, &new_group,
				  &new_path)))
		err = EINVAL;
	/* Groups are renamed by nobody; files move only inside a group
	 * (across, `mv` copies, which publishes). */
	if (err == 0 && (path == NULL || new_path == NULL))
		err = EACCES;
	if (err == 0 && g_strcmp0(group, new_group) != 0)
		err = EXDEV;
	/* A folder with files would be many renames that can half fail:
	 * EXDEV makes `mv` copy and remove instead. */
	if (err == 0 && src.kind != FS_INODE_KIND_FILE && src.children > 0)
		err = EXDEV;
	if (err == 0 && src.kind == FS_INODE_KIND_FILE && src.local)
		err = EBUSY;
	if (err != 0) {
		fuse_reply_err(req, err);
		return;
	}
	if (src.kind != FS_INODE_KIND_FILE) {
		rename_locally(req, parent, name, new_parent, new_name);
		return;
	}
	p = pending_new(req, parent, name);
	p->new_parent = new_parent;
	p->new_name = g_strdup(new_name);
	backend->ops->rename(backend->self, group, path, new_path, on_renamed,
			     p);
}

/* Open files */

static OpenFile *open_file_new(FsOps *ops)
{
	OpenFile *file = g_new0(OpenFile, 1);

	fs_reader_stream_init(&file->stream);
	g_mutex_lock(&ops->lock);
	g_hash_table_add(ops->open_files, file);
	g_mutex_unlock(&ops->lock);
	return file;
}

static void open_file_free(FsOps *ops, OpenFile *file)
{
	g_mutex_lock(&ops->lock);
	g_hash_table_remove(ops->open_files, file);
	g_mutex_unlock(&ops->lock);
	if (file->staging != NULL)
		fs_staging_release(file->staging, file->writer);
	if (file->handle != NULL)
		ops->backend->ops->close(file->handle);
	fs_reader_stream_clear(&file->stream);
	g_free(file);
}

/* A writer: on a file being written, or with O_TRUNC a new version. */
static OpenFile *open_writer(FsOps *ops, const FsInodeAttr *attr,
			     const char *group, const char *path, int flags,
			     GError **error)
{
	FsStaging *staging;
	OpenFile *file;

	staging = fs_writer_open(ops->writer, attr->ino, group, path,
				 (flags & O_TRUNC) != 0, error);
	if (staging == NULL)
		return NULL;
	file = open_file_new(ops);
	file->staging = staging;
	file->writer = TRUE;
	return file;
}

static OpenFile *open_reader(FsOps *ops, const FsInodeAttr *attr,
			     const char *group, const char *path,
			     GError **error)
{
	const FsBackend *backend = ops->backend;
	FsStaging *staging = fs_writer_lookup(ops->writer, attr->ino);
	OpenFile *file;
	FsBackendHandle *handle;

	if (staging != NULL) {
		file = open_file_new(ops);
		file->staging = staging;
		return file;
	}
	handle = backend->ops->open(backend->self, group, path, error);
	if (handle == NULL)
		return NULL;
	file = open_file_new(ops);
	file->handle = handle;
	file->size = attr->size;
	return file;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	FsOps *ops = req_ops(req);
	g_autoptr(GError) error = NULL;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	FsInodeAttr attr;
	OpenFile *file;

	if (!fs_inode_get(ops->table, ino, &attr) ||
	    !fs_inode_get_path(ops->table, ino, &group, &path)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (attr.kind != FS_INODE_KIND_FILE) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		file = open_writer(ops, &attr, group, path, fi->flags, &error);
	else
		file = open_reader(ops, &attr, group, path, &error);
	if (file == NULL) {
		reply_error(req, error);
		return;
	}
	/* Published bytes never change: keep what the page cache has. */
	fi->keep_cache = file->handle != NULL;
	fi->fh = (uintptr_t)file;
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	FsOps *ops = req_ops(req);
	g_autoptr(GError) error = NULL;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	struct fuse_entry_param e;
	FsInodeAttr attr;
	OpenFile *file;

	if (parent == FS_INODE_ROOT) {
		fuse_reply_err(req, EACCES); /* the root holds groups only */
		return;
	}
	if (!fs_inode_child_path(ops->table, parent, name, &group, &path)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!fs_inode_add(ops->table, parent, name, FS_INODE_KIND_FILE, now_s(),
			  &attr, &error)) {
		reply_error(req, error);
		return;
	}
	file = open_writer(ops, &attr, group, path, O_TRUNC, &error);
	if (file == NULL) {
		/* The kernel will not learn of the node: undo its lookup. */
		fs_inode_drop_local(ops->table, attr.ino);
		fs_inode_forget(ops->table, attr.ino, 1);
		reply_error(req, error);
		return;
	}
	fi->fh = (uintptr_t)file;
	fill_entry(ops, &attr, &e);
	fuse_reply_create(req, &e, fi);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
			 off_t off, struct fuse_file_info *fi)
{
	OpenFile *file = (OpenFile *)(uintptr_t)fi->fh;
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	if (!file->writer) {
		fuse_reply_err(req, EBADF);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fs_staging_get_fd(file->staging);
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	/* Once published, the staging file's descriptor is swapped for a
	 * read-only one (what peers are served must not change): a later
	 * write through a handle still open is a write to published
	 * content. */
	if (n == -EBADF)
		n = -EROFS;
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	fs_staging_wrote(file->staging, (guint64)off, (guint64)n);
	fuse_reply_write(req, (size_t)n);
}

static void on_flushed(const GError *error, gpointer data)
{
	fuse_req_t req = data;

	fuse_reply_err(req, error ? fs_errno_from_error(error) : 0);
}

/* A writer's close(): publishing here lets a failure reach close(). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	OpenFile *file = (OpenFile *)(uintptr_t)fi->fh;

	if (!file->writer || !fs_staging_flush(file->staging, on_flushed, req))
		fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	open_file_free(req_ops(req), (OpenFile *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	OpenFile *file = (OpenFile *)(uintptr_t)fi->fh;
	int fd;

	if (file->staging == NULL) {
		fuse_reply_err(req, 0);
		return;
	}
	fd = fs_staging_get_fd(file->staging);
	fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) ? errno : 0);
}

/* Extended attributes */

static char *format_xattr(const FsBackendInfo *info, const char *name)
{
	if (!g_str_has_prefix(name, XATTR_PREFIX))
		return NULL;
	name += strlen(XATTR_PREFIX);
	if (strcmp(name, "infohash") == 0)
		return g_strdup(info->info_hash);
	if (strcmp(name, "owner") == 0)
		return g_strdup(info->owner ? info->owner : "");
	if (strcmp(name, "progress") == 0)
		return g_strdup_printf("%u", info->progress);
	if (strcmp(name, "peers") == 0)
		return g_strdup_printf("%u", info->peers);
	if (strcmp(name, "pin") == 0)
		return g_strdup(info->pinned ? "1" : "0");
	return NULL;
}

/* Replies with @value, or its size when the caller asked (@size 0). */
static void reply_xattr_value(fuse_req_t req, const void *value, size_t len,
			      size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/* The backend's info of published file @ino; ENODATA-worthy if none. */
static gboolean file_info(FsOps *ops, fuse_ino_t ino, FsBackendInfo *info)
{
	const FsBackend *backend = ops->backend;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	FsInodeAttr attr;

	memset(info, 0, sizeof(*info));
	if (!fs_inode_get(ops->table, ino, &attr) ||
	    attr.kind != FS_INODE_KIND_FILE || attr.local ||
	    !fs_inode_get_path(ops->table, ino, &group, &path))
		return FALSE;
	return backend->ops->get_info(backend->self, group, path, info, NULL);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	g_autofree char *value = NULL;
	FsBackendInfo info;

	if (file_info(req_ops(req), ino, &info))
		value = format_xattr(&info, name);
	fs_backend_info_clear(&info);
	if (value == NULL) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	reply_xattr_value(req, value, strlen(value), size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	FsInodeAttr attr;

	if (!fs_inode_get(req_ops(req)->table, ino, &attr)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (attr.kind != FS_INODE_KIND_FILE || attr.local)
		reply_xattr_value(req, "", 0, size);
	else
		reply_xattr_value(req, xattr_names, sizeof(xattr_names), size);
}

static void on_pinned(const GError *error, gpointer data)
{
	fuse_req_t req = data;

	fuse_reply_err(req, error ? fs_errno_from_error(error) : 0);
}

/* Only user.groupfs.pin can be set: "1" fetches the whole file in the
 * background, "0" stops that. */
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	FsOps *ops = req_ops(req);
	const FsBackend *backend = ops->backend;
	g_autofree char *group = NULL;
	g_autofree char *path = NULL;
	FsInodeAttr attr;
	gboolean pin;

	if (strcmp(name, XATTR_PREFIX "pin") != 0) {
		fuse_reply_err(req, g_str_has_prefix(name, XATTR_PREFIX)
					    ? EACCES
					    : ENOTSUP);
		return;
	}
	if (size != 1 || (value[0] != '0' && value[0] != '1')) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pin = value[0] == '1';
	if (!fs_inode_get(ops->table, ino, &attr) ||
	    attr.kind != FS_INODE_KIND_FILE || attr.local ||
	    !fs_inode_get_path(ops->table, ino, &group, &path)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	backend->ops->set_pinned(backend->self, group, path, pin, on_pinned,
				 req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req,
		       g_str_has_prefix(name, XATTR_PREFIX) ? EACCES : ENOTSUP);
}

/* The cache: its limit (or, without one, what it holds) and its use. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	FsOps *ops = req_ops(req);
	const FsBackend *backend = ops->backend;
	FsBackendSpace space = {0};
	struct statvfs st;
	guint64 limit;

	backend->ops->get_space(backend->self, &space);
	limit = space.cache_size ? MAX(space.cache_size, space.cache_used)
				 : space.cache_used;
	memset(&st, 0, sizeof(st));
	st.f_bsize = STATFS_BLOCK;
	st.f_frsize = STATFS_BLOCK;
	st.f_blocks = limit / STATFS_BLOCK;
	st.f_bfree = (limit - space.cache_used) / STATFS_BLOCK;
	st.f_bavail = st.f_bfree;
	st.f_files = fs_inode_count(ops->table);
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

/* Session */

/* Splice both ways, big requests, and enough background requests that
 * readahead of several files does not stall (see
 * shared/reference/fuse-performance.md). */
static void op_init(void *data, struct fuse_conn_info *conn)
{
	FsOps *ops = data;
	const unsigned wanted = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
				FUSE_CAP_SPLICE_READ | FUSE_CAP_ATOMIC_O_TRUNC |
				FUSE_CAP_READDIRPLUS | FUSE_CAP_ASYNC_READ |
				FUSE_CAP_PARALLEL_DIROPS;

	conn->want |= conn->capable & wanted;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = ops->config.max_write;
	conn->max_background = ops->config.max_background;
	conn->congestion_threshold = ops->config.max_background * 3 / 4;
}

static const struct fuse_lowlevel_ops table = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write_buf = op_write_buf,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.statfs = op_statfs,
};

const struct fuse_lowlevel_ops *fs_ops_get_table(void)
{
	return &table;
}

FsOps *fs_ops_new(const FsBackend *backend, const FsOpsConfig *config)
{
	FsOps *ops = g_new0(FsOps, 1);
	g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func(
		(GDestroyNotify)fs_inode_change_free);

	ops->backend = backend;
	ops->config = *config;
	if (ops->config.max_write == 0)
		ops->config.max_write = 1u << 20;
	if (ops->config.max_background == 0)
		ops->config.max_background = 128;
	ops->table = fs_inode_table_new(now_s());
	ops->reader =
		fs_reader_new(backend, config->read_timeout_s, answer_read);
	ops->writer = fs_writer_new(backend, ops->table);
	ops->uid = geteuid();
	ops->gid = getegid();
	g_mutex_init(&ops->lock);
	ops->pending =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	ops->open_files = g_hash_table_new(NULL, NULL);
	ops->open_dirs = g_hash_table_new_full(NULL, NULL, open_dir_free, NULL);
	/* One thread, so that listings are applied in order. */
	ops->refresher = g_thread_pool_new(refresh, ops, 1, FALSE, NULL);
	sync_all(ops, changes);
	backend->ops->watch(backend->self, on_changed, ops);
	return ops;
}

void fs_ops_set_session(FsOps *ops, struct fuse_session *session)
{
	g_mutex_lock(&ops->lock);
	ops->session = session;
	g_mutex_unlock(&ops->lock);
}

static void release_all(FsOps *ops)
{
	GHashTableIter iter;
	gpointer file;

	for (;;) {
		g_mutex_lock(&ops->lock);
		g_hash_table_iter_init(&iter, ops->open_files);
		if (!g_hash_table_iter_next(&iter, &file, NULL))
			file = NULL;
		g_mutex_unlock(&ops->lock);
		if (file == NULL)
			break;
		open_file_free(ops, file);
	}
}

void fs_ops_free(FsOps *ops)
{
	if (ops == NULL)
		return;
	ops->backend->ops->watch(ops->backend->self, NULL, NULL);
	g_thread_pool_free(ops->refresher, FALSE, TRUE);
	fs_reader_free(ops->reader);
	/* Files still open when the session stopped: no release will come.
	 * After the reader, so that no parked read uses their handles. */
	release_all(ops);
	fs_writer_free(ops->writer);
	fs_inode_table_free(ops->table);
	g_hash_table_unref(ops->pending);
	g_hash_table_unref(ops->open_files);
	g_hash_table_unref(ops->open_dirs);
	g_mutex_clear(&ops->lock);
	g_free(ops);
}
