/*
 * fs-inode: the mount's namespace. Inode numbers for the root, each
 * group and every file and folder in a group, the folders derived from
 * the '/'-separated paths of the group's listing, and the kernel's
 * lookup counts, so that a node lives exactly as long as the kernel may
 * still name it.
 *
 * Owns: the nodes, their attributes as last listed, and the changes a
 * new listing makes (for the kernel's caches to be told). Must not:
 * call the backend or the kernel (fs-ops does, with what this returns),
 * or hand out node pointers: a node may go on another thread as soon as
 * the lock is released, so callers get copies (FsInodeAttr) and names.
 *
 * Inode numbers are never reused in a mount, so the generation is 0.
 *
 * Threads: every function may be called from any thread; one mutex
 * guards the whole table and is held only for memory work.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FS_INODE_ROOT 1

typedef enum {
	FS_INODE_KIND_ROOT,
	FS_INODE_KIND_GROUP,
	FS_INODE_KIND_DIR,
	FS_INODE_KIND_FILE,
} FsInodeKind;

/* A copy of what a node shows. */
typedef struct {
	guint64 ino;
	FsInodeKind kind;
	guint64 size;
	gint64 mtime;
	/* Listed as this member's (files), owned by this member (groups). */
	gboolean mine;
	/* Made here and not (yet) in the backend's listing: a folder made
	 * with mkdir, or a new file before it is published. */
	gboolean local;
	/* The number of entries, for a folder. */
	guint children;
} FsInodeAttr;

/* One entry of a folder listing snapshot. */
typedef struct {
	guint64 ino;
	FsInodeKind kind;
	char name[];
} FsInodeDirent;

/* What a new listing changed, for the kernel: @name NULL means "the
 * attributes or contents of @ino", otherwise "the entry @name in
 * folder @ino appeared or went". */
typedef struct {
	guint64 ino;
	char *name;
} FsInodeChange;

void fs_inode_change_free(FsInodeChange *change);

typedef struct _FsInodeTable FsInodeTable;

FsInodeTable *fs_inode_table_new(gint64 now);
void fs_inode_table_free(FsInodeTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsInodeTable, fs_inode_table_free)

/* The entry @name of folder @parent: fills @attr and, when @count,
 * counts one kernel lookup of it. G_IO_ERROR_NOT_FOUND, or
 * _NOT_DIRECTORY when @parent is a file or unknown. */
gboolean fs_inode_lookup(FsInodeTable *table, guint64 parent, const char *name,
			 gboolean count, FsInodeAttr *attr, GError **error);

/* The attributes of @ino; FALSE when the table does not know it. */
gboolean fs_inode_get(FsInodeTable *table, guint64 ino, FsInodeAttr *attr);

/* The kernel forgot @n lookups of @ino. A node that nobody can name
 * any more (removed from its folder and forgotten) is freed. */
void fs_inode_forget(FsInodeTable *table, guint64 ino, guint64 n);

/* Where @ino is: @group NULL for the root, @path NULL for a group.
 * FALSE when @ino is unknown or no longer in the tree. */
gboolean fs_inode_get_path(FsInodeTable *table, guint64 ino, char **group,
			   char **path);
/* The same for entry @name of folder @parent, which need not exist.
 * FALSE when @parent is unknown, detached or not a folder. */
gboolean fs_inode_child_path(FsInodeTable *table, guint64 parent,
			     const char *name, char **group, char **path);

/* A snapshot of folder @ino for a directory handle, "." and ".."
 * first: FsInodeDirent, freed with g_free. NULL with
 * G_IO_ERROR_NOT_DIRECTORY when @ino is not a folder. */
GPtrArray *fs_inode_list(FsInodeTable *table, guint64 ino, GError **error);

/* For readdir: returns FALSE when @fill wants no more. @attr is NULL
 * when the node of the entry is gone since the snapshot. Called with
 * the table locked, so that an entry handed to the kernel and the
 * lookup counted for it cannot be torn apart: @fill must not call back
 * into the table. */
typedef gboolean (*FsInodeFillFunc)(const FsInodeDirent *entry,
				    const FsInodeAttr *attr, gpointer data);
/* Walks @snapshot from @start until @fill returns FALSE; returns the
 * index of the first entry not filled. With @count, each filled entry
 * but "." and ".." counts one lookup of its node. */
guint fs_inode_fill(FsInodeTable *table, GPtrArray *snapshot, guint start,
		    gboolean count, FsInodeFillFunc fill, gpointer data);

/* Applies the backend's list of groups (FsBackendEntry): adds the new,
 * removes those gone. Appends what changed to @changes
 * (FsInodeChange). */
void fs_inode_sync_groups(FsInodeTable *table, GPtrArray *groups,
			  GPtrArray *changes);
/* Applies @group's listing (FsBackendEntry, or NULL when the group is
 * gone): files and their folders appear, change or go; local nodes
 * stay. */
void fs_inode_sync_files(FsInodeTable *table, const char *group,
			 GPtrArray *files, GPtrArray *changes);

/* Adds a local node in @parent: a folder (FS_INODE_KIND_DIR), a new
 * file, or a group (at the root, once the backend made it; no error if
 * a listing already brought it). Counts one lookup. _EXISTS when the
 * name is taken. */
gboolean fs_inode_add(FsInodeTable *table, guint64 parent, const char *name,
		      FsInodeKind kind, gint64 mtime, FsInodeAttr *attr,
		      GError **error);
/* Removes entry @name of @parent (the backend agreed, or it was local).
 * _NOT_EMPTY for a folder with entries when @only_empty. */
gboolean fs_inode_remove(FsInodeTable *table, guint64 parent, const char *name,
			 gboolean only_empty, GError **error);
/* Moves an entry; an existing @new_name is removed first. */
gboolean fs_inode_rename(FsInodeTable *table, guint64 parent, const char *name,
			 guint64 new_parent, const char *new_name,
			 GError **error);
/* A local file grew or shrank while written. */
void fs_inode_set_size(FsInodeTable *table, guint64 ino, guint64 size,
		       gint64 mtime);
/* A local file was published: it is listed as this member's now. */
void fs_inode_set_published(FsInodeTable *table, guint64 ino, guint64 size,
			    gint64 mtime);

/* A new file that could not be published goes away. */
void fs_inode_drop_local(FsInodeTable *table, guint64 ino);

/* Nodes in the table (the root included), for tests and statfs. */
guint fs_inode_count(FsInodeTable *table);

G_END_DECLS
