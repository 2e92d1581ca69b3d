#include "fs-inode.h"

#include <string.h>

#include <gio/gio.h>

#include "backend.h"

/* The kernel's NAME_MAX: a longer component cannot be looked up. */
#define NAME_MAX_BYTES 255

typedef struct _Node Node;

/* Every field is protected by the table's lock. */
struct _Node {
	guint64 ino;
	FsInodeKind kind;
	char *name; /* "" for the root */
	/* NULL for the root, and for a node removed from the tree that the
	 * kernel still remembers. */
	Node *parent;
	GHashTable *children; /* folders: name → Node, keys are the names */
	guint64 nlookup;
	guint64 size;
	gint64 mtime;
	gboolean mine;
	gboolean local;
	guint64 seen; /* the sync pass that last listed it */
	guint64 changed; /* the sync pass that last reported it changed */
};

struct _FsInodeTable {
	GMutex lock; /* protects everything below and every node */
	GHashTable *nodes; /* ino → Node, every node alive */
	Node *root;
	guint64 next_ino;
	guint64 pass; /* sync passes so far */
};

void fs_inode_change_free(FsInodeChange *change)
{
	if (change == NULL)
		return;
	g_free(change->name);
	g_free(change);
}

static gboolean is_folder(const Node *node)
{
	return node->kind != FS_INODE_KIND_FILE;
}

/* A component that a listing from the network may use as a name. */
static gboolean valid_name(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strchr(name, '/') == NULL &&
	       strlen(name) <= NAME_MAX_BYTES;
}

static void note_change(FsInodeTable *table, GPtrArray *changes, Node *node,
			const char *name)
{
	FsInodeChange *change;

	if (changes == NULL)
		return;
	/* One "contents changed" per folder and pass is enough. */
	if (name == NULL && node->changed == table->pass)
		return;
	if (name == NULL)
		node->changed = table->pass;
	change = g_new0(FsInodeChange, 1);
	change->ino = node->ino;
	change->name = g_strdup(name);
	g_ptr_array_add(changes, change);
}

static Node *node_new(FsInodeTable *table, Node *parent, const char *name,
		      FsInodeKind kind, gint64 mtime, GPtrArray *changes)
{
	Node *node = g_new0(Node, 1);

	node->ino = table->next_ino++;
	node->kind = kind;
	node->name = g_strdup(name);
	node->mtime = mtime;
	if (is_folder(node))
		node->children = g_hash_table_new(g_str_hash, g_str_equal);
	g_hash_table_insert(table->nodes, &node->ino, node);
	if (parent != NULL) {
		node->parent = parent;
		g_hash_table_insert(parent->children, node->name, node);
		note_change(table, changes, parent, name);
		note_change(table, changes, parent, NULL);
	}
	return node;
}

static void node_free(FsInodeTable *table, Node *node)
{
	g_hash_table_remove(table->nodes, &node->ino);
	g_clear_pointer(&node->children, g_hash_table_unref);
	g_free(node->name);
	g_free(node);
}

static void node_free_if_unreachable(FsInodeTable *table, Node *node)
{
	if (node->parent == NULL && node != table->root && node->nlookup == 0)
		node_free(table, node);
}

static void detach_children(FsInodeTable *table, Node *node);

/* Takes @node out of the tree; frees it unless the kernel still knows
 * it. The kernel drops what it cached below a removed entry, so only
 * the entry itself is reported. */
static void node_detach(FsInodeTable *table, Node *node, GPtrArray *changes)
{
	Node *parent = node->parent;

	if (parent == NULL)
		return;
	note_change(table, changes, parent, node->name);
	note_change(table, changes, parent, NULL);
	g_hash_table_remove(parent->children, node->name);
	node->parent = NULL;
	detach_children(table, node);
	node_free_if_unreachable(table, node);
}

static void detach_children(FsInodeTable *table, Node *node)
{
	GHashTableIter iter;
	gpointer value;

	if (node->children == NULL)
		return;
	g_hash_table_iter_init(&iter, node->children);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Node *child = value;

		g_hash_table_iter_remove(&iter);
		child->parent = NULL;
		detach_children(table, child);
		node_free_if_unreachable(table, child);
	}
}

static Node *find_node(FsInodeTable *table, guint64 ino)
{
	return g_hash_table_lookup(table->nodes, &ino);
}

static Node *find_child(Node *parent, const char *name)
{
	if (parent == NULL || parent->children == NULL)
		return NULL;
	return g_hash_table_lookup(parent->children, name);
}

static void copy_attr(const Node *node, FsInodeAttr *attr)
{
	attr->ino = node->ino;
	attr->kind = node->kind;
	attr->size = node->size;
	attr->mtime = node->mtime;
	attr->mine = node->mine;
	attr->local = node->local;
	attr->children = node->children ? g_hash_table_size(node->children) : 0;
}

FsInodeTable *fs_inode_table_new(gint64 now)
{
	FsInodeTable *table = g_new0(FsInodeTable, 1);

	g_mutex_init(&table->lock);
	table->nodes = g_hash_table_new(g_int64_hash, g_int64_equal);
	table->next_ino = FS_INODE_ROOT;
	table->root = node_new(table, NULL, "", FS_INODE_KIND_ROOT, now, NULL);
	return table;
}

void fs_inode_table_free(FsInodeTable *table)
{
	GHashTableIter iter;
	gpointer value;

	if (table == NULL)
		return;
	g_hash_table_iter_init(&iter, table->nodes);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Node *node = value;

		g_hash_table_iter_remove(&iter);
		g_clear_pointer(&node->children, g_hash_table_unref);
		g_free(node->name);
		g_free(node);
	}
	g_hash_table_unref(table->nodes);
	g_mutex_clear(&table->lock);
	g_free(table);
}

gboolean fs_inode_lookup(FsInodeTable *table, guint64 parent, const char *name,
			 gboolean count, FsInodeAttr *attr, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *folder = find_node(table, parent);
	Node *node;

	if (folder == NULL || !is_folder(folder)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
				    "Not a folder.");
		return FALSE;
	}
	node = find_child(folder, name);
	if (node == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "No such file: %s.", name);
		return FALSE;
	}
	if (count)
		node->nlookup++;
	copy_attr(node, attr);
	return TRUE;
}

gboolean fs_inode_get(FsInodeTable *table, guint64 ino, FsInodeAttr *attr)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_node(table, ino);

	if (node == NULL)
		return FALSE;
	copy_attr(node, attr);
	return TRUE;
}

void fs_inode_forget(FsInodeTable *table, guint64 ino, guint64 n)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_node(table, ino);

	if (node == NULL || node == table->root)
		return;
	node->nlookup = n < node->nlookup ? node->nlookup - n : 0;
	node_free_if_unreachable(table, node);
}

/* Under the lock. */
static gboolean node_path(FsInodeTable *table, Node *node, char **group,
			  char **path)
{
	GPtrArray *parts = g_ptr_array_new();
	Node *at = node;

	while (at != NULL && at->kind != FS_INODE_KIND_GROUP &&
	       at != table->root) {
		g_ptr_array_insert(parts, 0, at->name);
		at = at->parent;
	}
	if (at == NULL ||
	    (at->kind == FS_INODE_KIND_GROUP && at->parent != table->root)) {
		g_ptr_array_free(parts, TRUE);
		return FALSE;
	}
	g_ptr_array_add(parts, NULL);
	*group = at == table->root ? NULL : g_strdup(at->name);
	*path = parts->len > 1 ? g_strjoinv("/", (char **)parts->pdata) : NULL;
	g_ptr_array_free(parts, TRUE);
	return TRUE;
}

gboolean fs_inode_get_path(FsInodeTable *table, guint64 ino, char **group,
			   char **path)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_node(table, ino);

	return node != NULL && node_path(table, node, group, path);
}

gboolean fs_inode_child_path(FsInodeTable *table, guint64 parent,
			     const char *name, char **group, char **path)
{
	g_autofree char *parent_group = NULL;
	g_autofree char *parent_path = NULL;

	if (!valid_name(name) ||
	    !fs_inode_get_path(table, parent, &parent_group, &parent_path))
		return FALSE;
	if (parent_group == NULL) {
		*group = g_strdup(name);
		*path = NULL;
	} else if (parent_path == NULL) {
		*group = g_steal_pointer(&parent_group);
		*path = g_strdup(name);
	} else {
		*group = g_steal_pointer(&parent_group);
		*path = g_strconcat(parent_path, "/", name, NULL);
	}
	return TRUE;
}

static FsInodeDirent *dirent_new(guint64 ino, FsInodeKind kind,
				 const char *name)
{
	gsize len = strlen(name) + 1;
	FsInodeDirent *entry = g_malloc(sizeof(*entry) + len);

	entry->ino = ino;
	entry->kind = kind;
	memcpy(entry->name, name, len);
	return entry;
}

GPtrArray *fs_inode_list(FsInodeTable *table, guint64 ino, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *folder = find_node(table, ino);
	GPtrArray *list;
	GHashTableIter iter;
	gpointer value;

	if (folder == NULL || !is_folder(folder)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
				    "Not a folder.");
		return NULL;
	}
	list = g_ptr_array_new_full(g_hash_table_size(folder->children) + 2,
				    g_free);
	g_ptr_array_add(list, dirent_new(ino, folder->kind, "."));
	g_ptr_array_add(list, dirent_new(folder->parent ? folder->parent->ino
							: FS_INODE_ROOT,
					 FS_INODE_KIND_DIR, ".."));
	g_hash_table_iter_init(&iter, folder->children);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Node *child = value;

		g_ptr_array_add(
			list, dirent_new(child->ino, child->kind, child->name));
	}
	return list;
}

static gboolean is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

guint fs_inode_fill(FsInodeTable *table, GPtrArray *snapshot, guint start,
		    gboolean count, FsInodeFillFunc fill, gpointer data)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	guint i;

	for (i = start; i < snapshot->len; i++) {
		const FsInodeDirent *entry = snapshot->pdata[i];
		Node *node = find_node(table, entry->ino);
		FsInodeAttr attr;

		if (node != NULL)
			copy_attr(node, &attr);
		if (!fill(entry, node ? &attr : NULL, data))
			break;
		if (count && node != NULL && !is_dot(entry->name))
			node->nlookup++;
	}
	return i;
}

/* A copy of a folder's children, to change the folder while walking
 * them (GLib 2.74 has no g_hash_table_get_values_as_ptr_array). */
static GPtrArray *children_of(GHashTable *children)
{
	GPtrArray *list = g_ptr_array_sized_new(g_hash_table_size(children));
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, children);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(list, value);
	return list;
}

/* Sweeps what the pass did not list out of @folder, depth first, so a
 * folder left empty goes too; local nodes stay. */
static void sweep(FsInodeTable *table, Node *folder, GPtrArray *changes)
{
	g_autoptr(GPtrArray) children = children_of(folder->children);

	for (guint i = 0; i < children->len; i++) {
		Node *child = children->pdata[i];

		if (child->kind == FS_INODE_KIND_DIR)
			sweep(table, child, changes);
		if (child->seen == table->pass || child->local)
			continue;
		if (child->children == NULL ||
		    g_hash_table_size(child->children) == 0)
			node_detach(table, child, changes);
	}
}

void fs_inode_sync_groups(FsInodeTable *table, GPtrArray *groups,
			  GPtrArray *changes)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	g_autoptr(GPtrArray) children = NULL;

	table->pass++;
	for (guint i = 0; i < groups->len; i++) {
		const FsBackendEntry *entry = groups->pdata[i];
		Node *group;

		if (!valid_name(entry->name))
			continue;
		group = find_child(table->root, entry->name);
		if (group != NULL && group->kind != FS_INODE_KIND_GROUP)
			continue;
		if (group == NULL)
			group = node_new(table, table->root, entry->name,
					 FS_INODE_KIND_GROUP, entry->mtime,
					 changes);
		group->mine = entry->mine;
		group->seen = table->pass;
	}
	children = children_of(table->root->children);
	for (guint i = 0; i < children->len; i++) {
		Node *group = children->pdata[i];

		if (group->seen != table->pass)
			node_detach(table, group, changes);
	}
}

/* Under the lock: the folder for the components of @parts but the last,
 * made as needed; NULL where a file holds a folder's name. */
static Node *place_folders(FsInodeTable *table, Node *group, char **parts,
			   gint64 mtime, GPtrArray *changes)
{
	Node *folder = group;

	for (guint i = 0; parts[i + 1] != NULL; i++) {
		Node *next = find_child(folder, parts[i]);

		if (next == NULL)
			next = node_new(table, folder, parts[i],
					FS_INODE_KIND_DIR, mtime, changes);
		if (next->kind != FS_INODE_KIND_DIR)
			return NULL;
		next->seen = table->pass;
		folder = next;
	}
	return folder;
}

static gboolean valid_path(char **parts)
{
	if (parts[0] == NULL)
		return FALSE;
	for (guint i = 0; parts[i] != NULL; i++) {
		if (!valid_name(parts[i]))
			return FALSE;
	}
	return TRUE;
}

static void place_file(FsInodeTable *table, Node *group,
		       const FsBackendEntry *entry, GPtrArray *changes)
{
	g_auto(GStrv) parts = g_strsplit(entry->name, "/", -1);
	guint last = g_strv_length(parts) - 1;
	Node *folder;
	Node *file;

	if (!valid_path(parts))
		return;
	folder = place_folders(table, group, parts, entry->mtime, changes);
	if (folder == NULL)
		return;
	file = find_child(folder, parts[last]);
	if (file == NULL)
		file = node_new(table, folder, parts[last], FS_INODE_KIND_FILE,
				entry->mtime, changes);
	else if (file->kind != FS_INODE_KIND_FILE)
		return;
	else if (file->size != entry->size || file->mtime != entry->mtime)
		note_change(table, changes, file, NULL);
	file->size = entry->size;
	file->mtime = entry->mtime;
	file->mine = entry->mine;
	file->local = FALSE;
	file->seen = table->pass;
}

void fs_inode_sync_files(FsInodeTable *table, const char *group,
			 GPtrArray *files, GPtrArray *changes)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_child(table->root, group);

	if (node == NULL || node->kind != FS_INODE_KIND_GROUP || files == NULL)
		return;
	table->pass++;
	for (guint i = 0; i < files->len; i++)
		place_file(table, node, files->pdata[i], changes);
	sweep(table, node, changes);
}

gboolean fs_inode_add(FsInodeTable *table, guint64 parent, const char *name,
		      FsInodeKind kind, gint64 mtime, FsInodeAttr *attr,
		      GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *folder = find_node(table, parent);
	Node *node;

	if (folder == NULL || !is_folder(folder) || !valid_name(name)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
				    "Not a folder.");
		return FALSE;
	}
	node = find_child(folder, name);
	if (node != NULL && !(node->kind == FS_INODE_KIND_GROUP &&
			      kind == FS_INODE_KIND_GROUP)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "%s exists already.", name);
		return FALSE;
	}
	if (node == NULL) {
		node = node_new(table, folder, name, kind, mtime, NULL);
		node->local = kind != FS_INODE_KIND_GROUP;
		node->mine = TRUE;
	}
	node->nlookup++;
	copy_attr(node, attr);
	return TRUE;
}

gboolean fs_inode_remove(FsInodeTable *table, guint64 parent, const char *name,
			 gboolean only_empty, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_child(find_node(table, parent), name);

	if (node == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "No such file: %s.", name);
		return FALSE;
	}
	if (only_empty && node->children != NULL &&
	    g_hash_table_size(node->children) > 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_EMPTY,
			    "The folder %s is not empty.", name);
		return FALSE;
	}
	node_detach(table, node, NULL);
	return TRUE;
}

gboolean fs_inode_rename(FsInodeTable *table, guint64 parent, const char *name,
			 guint64 new_parent, const char *new_name,
			 GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_child(find_node(table, parent), name);
	Node *folder = find_node(table, new_parent);
	Node *old;

	if (node == NULL || folder == NULL || !is_folder(folder) ||
	    !valid_name(new_name)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "No such file: %s.", name);
		return FALSE;
	}
	old = find_child(folder, new_name);
	if (old == node)
		return TRUE;
	if (old != NULL)
		node_detach(table, old, NULL);
	g_hash_table_remove(node->parent->children, node->name);
	g_free(node->name);
	node->name = g_strdup(new_name);
	node->parent = folder;
	g_hash_table_insert(folder->children, node->name, node);
	return TRUE;
}

static void update_file(FsInodeTable *table, guint64 ino, guint64 size,
			gint64 mtime, gboolean published)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_node(table, ino);

	if (node == NULL)
		return;
	node->size = size;
	node->mtime = mtime;
	if (published) {
		node->local = FALSE;
		node->mine = TRUE;
	}
}

void fs_inode_set_size(FsInodeTable *table, guint64 ino, guint64 size,
		       gint64 mtime)
{
	update_file(table, ino, size, mtime, FALSE);
}

void fs_inode_set_published(FsInodeTable *table, guint64 ino, guint64 size,
			    gint64 mtime)
{
	update_file(table, ino, size, mtime, TRUE);
}

void fs_inode_drop_local(FsInodeTable *table, guint64 ino)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);
	Node *node = find_node(table, ino);

	if (node != NULL && node->local)
		node_detach(table, node, NULL);
}

guint fs_inode_count(FsInodeTable *table)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&table->lock);

	return g_hash_table_size(table->nodes);
}
