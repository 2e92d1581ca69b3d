/*
 * backend: what the FUSE layer needs from whatever holds the files (the
 * engine in `groupfs mount`, a fake in the tests). fs/ is written
 * against this table only, so that it knows nothing of torrents,
 * trackers or stores.
 *
 * Owns: nothing; it is a contract. The FsBackend value is the
 * backend's, and so is every FsBackendHandle it returns.
 * Must not: grow calls that make a FUSE thread wait on the network. A
 * FUSE worker that waits for peers is a worker that cannot answer `ls`.
 *
 * Names. A group is a name without '/'. A path is the file's name inside
 * its group: '/'-separated components, none empty, "." or "..". fs/
 * checks both before calling in; the backend refuses what its own rules
 * forbid (G_IO_ERROR_INVALID_ARGUMENT).
 *
 * Threads. FUSE requests arrive on libfuse's worker threads, several at
 * once. So every function below may be called from any thread,
 * concurrently, and is one of two kinds:
 *
 *   Queries (list_*, get_space, get_info, open, create, get_fd,
 *   range_ready) answer at once from memory or a local file: they may
 *   take short locks, never wait on the network or on the backend's
 *   own loop.
 *
 *   Operations (wait_range, publish, unlink, rename, create_group,
 *   set_pinned) start work and return. Their callback runs exactly
 *   once, on any thread but never inside a FUSE thread's call that
 *   started it unless the answer is known at once (then it may run
 *   before the call returns). It must be quick: fs/ only replies to the
 *   kernel from it. The engine runs it on its loop thread.
 *
 * Errors are GErrors; fs/fs-errno turns them into errno values. The
 * codes that matter: G_IO_ERROR_NOT_FOUND (ENOENT), _EXISTS (EEXIST),
 * _PERMISSION_DENIED (EACCES: another member's file), _READ_ONLY
 * (EROFS), _TIMED_OUT (EIO: no peer had the piece in time), _CANCELLED
 * (EINTR), _NOT_EMPTY, _NO_SPACE, _INVALID_ARGUMENT.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FsBackend FsBackend;
/* One open file, the backend's: a published file being read or a new
 * file being written. */
typedef struct _FsBackendHandle FsBackendHandle;

/* A group, or a file in a group, as listed. */
typedef struct {
	char *name; /* the group's name, or the file's path in its group */
	guint64 size; /* files only */
	gint64 mtime; /* seconds since the epoch */
	/* This member may remove, rename or overwrite it (it is theirs, or
	 * the group is); for a group, this member owns it. */
	gboolean mine;
} FsBackendEntry;

FsBackendEntry *fs_backend_entry_new(const char *name, guint64 size,
				     gint64 mtime, gboolean mine);
void fs_backend_entry_free(FsBackendEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsBackendEntry, fs_backend_entry_free)

/* What the extended attributes user.groupfs.* show. */
typedef struct {
	char info_hash[41]; /* 40 hex digits */
	char *owner;
	guint progress; /* percent of pieces verified here, 0..100 */
	guint peers; /* connected now */
	gboolean pinned;
} FsBackendInfo;

void fs_backend_info_clear(FsBackendInfo *info);

typedef struct {
	guint64 cache_size; /* the limit; 0 when there is none */
	guint64 cache_used; /* bytes of verified pieces held */
} FsBackendSpace;

/* The end of an operation: @error NULL on success. */
typedef void (*FsBackendDoneFunc)(const GError *error, gpointer data);

/* The listing of @group changed (files added, removed, renamed, new
 * versions), or with @group NULL, the list of groups did. Any thread;
 * fs/ rereads the listing later, on its own thread. */
typedef void (*FsBackendChangedFunc)(const char *group, gpointer data);

typedef struct {
	/* Queries: any thread, answered at once. */

	/* The groups this member belongs to: FsBackendEntry, with a free
	 * function. */
	GPtrArray *(*list_groups)(gpointer self);
	/* Every file of @group (FsBackendEntry, with a free function), or
	 * NULL when this member has no such group. */
	GPtrArray *(*list_files)(gpointer self, const char *group);
	void (*get_space)(gpointer self, FsBackendSpace *space);
	/* G_IO_ERROR_NOT_FOUND for a file that is not (yet) published. */
	gboolean (*get_info)(gpointer self, const char *group, const char *path,
			     FsBackendInfo *info, GError **error);

	/* Reading a published file. The handle keeps what it needs alive
	 * (the store, its data file) until close, even if the file is
	 * unpublished meanwhile. */
	FsBackendHandle *(*open)(gpointer self, const char *group,
				 const char *path, GError **error);
	/* Writing a new file, or a new version of one of ours: a handle on
	 * an empty staging file. G_IO_ERROR_PERMISSION_DENIED or _EXISTS
	 * when @path is another member's file. Nothing is published until
	 * publish. */
	FsBackendHandle *(*create)(gpointer self, const char *group,
				   const char *path, GError **error);
	/* Both kinds: the file's bytes, valid until close. For an opened
	 * file, the store's data file, whose verified ranges fs/ splices to
	 * the kernel (and must never write); for a created one, the staging
	 * file, open read-write, that fs/ writes into. */
	int (*get_fd)(FsBackendHandle *handle);
	/* TRUE when every byte of the range may be read from get_fd now
	 * (its pieces are verified). Always TRUE for a staging file. */
	gboolean (*range_ready)(FsBackendHandle *handle, guint64 offset,
				guint64 length);
	/* Calls @done when the range is ready, with G_IO_ERROR_TIMED_OUT
	 * at @deadline_us (g_get_monotonic_time based) if it is not, or
	 * G_IO_ERROR_CANCELLED after cancel_wait or close. Returns an id,
	 * never 0. */
	guint (*wait_range)(FsBackendHandle *handle, guint64 offset,
			    guint64 length, gint64 deadline_us,
			    FsBackendDoneFunc done, gpointer data);
	/* Ends a wait early: its @done still runs once, with
	 * G_IO_ERROR_CANCELLED unless it had already been called. */
	void (*cancel_wait)(FsBackendHandle *handle, guint id);
	/* May be NULL. Read-ahead: fetch the range soon, nobody waits. */
	void (*want_range)(FsBackendHandle *handle, guint64 offset,
			   guint64 length);
	/* @bytes were written to a staging file at @offset (so it can be
	 * hashed as it arrives). May be NULL. Called on the FUSE thread
	 * after the write: quick. */
	void (*staged)(FsBackendHandle *handle, guint64 offset, guint64 bytes);
	/* Publishes what the staging file of @handle holds now, under the
	 * name it was created with. @done runs once the group's listing
	 * shows the new file. The handle stays writable: a later publish
	 * makes a new version. */
	void (*publish)(FsBackendHandle *handle, FsBackendDoneFunc done,
			gpointer data);
	/* Ends the handle; waits still pending get G_IO_ERROR_CANCELLED.
	 * A staging file that was never published is thrown away. */
	void (*close)(FsBackendHandle *handle);

	/* Operations: any thread, @done exactly once. */

	/* Unpublishes a file: G_IO_ERROR_PERMISSION_DENIED unless mine. */
	void (*unlink)(gpointer self, const char *group, const char *path,
		       FsBackendDoneFunc done, gpointer data);
	/* Renames a file inside its group, for everyone. Same rules as
	 * unlink for @from. An existing @to is replaced when it is mine
	 * (like an overwrite); otherwise _PERMISSION_DENIED. */
	void (*rename)(gpointer self, const char *group, const char *from,
		       const char *to, FsBackendDoneFunc done, gpointer data);
	/* A new group owned by this member. */
	void (*create_group)(gpointer self, const char *name,
			     FsBackendDoneFunc done, gpointer data);
	/* Pinned: fetch all of the file in the background. */
	void (*set_pinned)(gpointer self, const char *group, const char *path,
			   gboolean pinned, FsBackendDoneFunc done,
			   gpointer data);
	/* May be NULL. Somebody looks at @group: refresh its listing soon
	 * if it is more than a few seconds old. */
	void (*refresh)(gpointer self, const char *group);

	/* Registers (or, with @func NULL, removes) the one listener of
	 * listing changes. After removal returns, @func is not running and
	 * will not be called again. */
	void (*watch)(gpointer self, FsBackendChangedFunc func, gpointer data);
} FsBackendOps;

struct _FsBackend {
	const FsBackendOps *ops;
	gpointer self;
};

G_END_DECLS
