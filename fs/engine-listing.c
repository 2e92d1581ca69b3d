/* engine-listing: see engine-listing.h. */
#include "engine-listing.h"

#include "names.h"

#include <string.h>

#include <gio/gio.h>

#define DEFAULT_REFRESH_S 5
/* An opened folder whose listing is older than this is fetched again
 * at once: `ls` after another member's `cp` shows the file. */
#define ON_DEMAND_AGE_US (1 * G_USEC_PER_SEC)

typedef struct {
	char *owner;
	GHashTable *files; /* path -> FsListed */
	guint64 generation; /* bumped by every patch */
	gint64 fetched_us; /* monotonic; 0: never */
} ListedGroup;

struct _FsListing {
	NetTrackerApi *api;
	char *user;
	gint64 interval_us;

	GMutex lock; /* protects the fields below */
	GHashTable *groups; /* name -> ListedGroup */
	GCond wake;
	gboolean poke; /* fetch now */
	gboolean quit;
	GThread *thread;

	GMutex watch_lock; /* held while the listener runs */
	FsBackendChangedFunc watch_func;
	gpointer watch_data;
};

void fs_listed_free(FsListed *file)
{
	if (file == NULL)
		return;
	g_free(file->path);
	g_free(file->owner);
	g_free(file);
}

static FsListed *listed_copy(const FsListed *file)
{
	FsListed *copy = g_memdup2(file, sizeof(*file));

	copy->path = g_strdup(file->path);
	copy->owner = g_strdup(file->owner);
	return copy;
}

static gboolean listed_equal(const FsListed *a, const FsListed *b)
{
	return a->size == b->size && a->mtime == b->mtime &&
	       strcmp(a->info_hash, b->info_hash) == 0 &&
	       g_strcmp0(a->owner, b->owner) == 0;
}

static ListedGroup *group_new(const char *owner)
{
	ListedGroup *group = g_new0(ListedGroup, 1);

	group->owner = g_strdup(owner);
	group->files = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					     (GDestroyNotify)fs_listed_free);
	return group;
}

static void group_free(ListedGroup *group)
{
	g_free(group->owner);
	g_hash_table_unref(group->files);
	g_free(group);
}

/* ---- the tracker's replies ----------------------------------------- */

/* A file record, checked like any input from the network; NULL when it
 * is malformed. */
static FsListed *listed_from_record(JsonObject *record)
{
	const char *path = net_tracker_api_get_string(record, "path");
	const char *hex = net_tracker_api_get_string(record, "info_hash");
	const char *owner = net_tracker_api_get_string(record, "owner");
	gint64 length = 0, published = 0;
	FsListed *file;

	if (path == NULL || !net_info_hash_hex_is_valid(hex) ||
	    !net_tracker_api_get_int(record, "length", &length) || length < 0 ||
	    strlen(path) > 4096)
		return NULL;
	net_tracker_api_get_int(record, "published", &published);
	file = g_new0(FsListed, 1);
	file->path = g_strdup(path);
	file->size = (guint64)length;
	file->mtime = published;
	file->owner = g_strdup(owner);
	memcpy(file->info_hash, hex, sizeof(file->info_hash));
	return file;
}

static GHashTable *fetch_files(NetTrackerApi *api, const char *group,
			       GError **error)
{
	g_autofree char *path =
		net_tracker_api_path("groups", group, "files", NULL);
	g_autoptr(JsonObject) reply =
		net_tracker_api_call(api, "GET", path, NULL, error);
	JsonArray *files;
	GHashTable *table;

	if (reply == NULL)
		return NULL;
	files = net_tracker_api_get_array(reply, "files");
	if (files == NULL) {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker's list of files of %s is malformed",
			    group);
		return NULL;
	}
	table = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
				      (GDestroyNotify)fs_listed_free);
	for (guint i = 0; i < json_array_get_length(files); i++) {
		JsonNode *node = json_array_get_element(files, i);
		FsListed *file =
			JSON_NODE_HOLDS_OBJECT(node)
				? listed_from_record(json_node_get_object(node))
				: NULL;

		if (file != NULL)
			g_hash_table_replace(table, file->path, file);
	}
	return table;
}

/* The groups this member is in: name -> owner. */
static GHashTable *fetch_groups(NetTrackerApi *api, GError **error)
{
	g_autoptr(JsonObject) reply =
		net_tracker_api_call(api, "GET", "groups", NULL, error);
	JsonArray *groups;
	GHashTable *table;

	if (reply == NULL)
		return NULL;
	groups = net_tracker_api_get_array(reply, "groups");
	if (groups == NULL) {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker's list of groups is malformed");
		return NULL;
	}
	table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 0; i < json_array_get_length(groups); i++) {
		JsonNode *node = json_array_get_element(groups, i);
		JsonObject *o = JSON_NODE_HOLDS_OBJECT(node)
					? json_node_get_object(node)
					: NULL;
		const char *name =
			o ? net_tracker_api_get_string(o, "name") : NULL;
		const char *role =
			o ? net_tracker_api_get_string(o, "role") : NULL;

		if (name != NULL && (g_strcmp0(role, "owner") == 0 ||
				     g_strcmp0(role, "member") == 0))
			g_hash_table_replace(
				table, g_strdup(name),
				g_strdup(net_tracker_api_get_string(o,
								    "owner")));
	}
	return table;
}

/* ---- applying what was fetched --------------------------------------- */

static void notify(FsListing *listing, const char *group)
{
	g_mutex_lock(&listing->watch_lock);
	if (listing->watch_func != NULL)
		listing->watch_func(group, listing->watch_data);
	g_mutex_unlock(&listing->watch_lock);
}

static gboolean files_equal(GHashTable *a, GHashTable *b)
{
	GHashTableIter iter;
	FsListed *file, *other;

	if (g_hash_table_size(a) != g_hash_table_size(b))
		return FALSE;
	g_hash_table_iter_init(&iter, a);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file)) {
		other = g_hash_table_lookup(b, file->path);
		if (other == NULL || !listed_equal(file, other))
			return FALSE;
	}
	return TRUE;
}

/* Under the lock: the groups that @names keeps, adds and drops. TRUE
 * when the set changed. */
static gboolean apply_groups(FsListing *listing, GHashTable *names)
{
	GHashTableIter iter;
	const char *name, *owner;
	ListedGroup *group;
	gboolean changed = FALSE;

	g_hash_table_iter_init(&iter, listing->groups);
	while (g_hash_table_iter_next(&iter, (gpointer *)&name, NULL)) {
		if (!g_hash_table_contains(names, name)) {
			g_hash_table_iter_remove(&iter);
			changed = TRUE;
		}
	}
	g_hash_table_iter_init(&iter, names);
	while (g_hash_table_iter_next(&iter, (gpointer *)&name,
				      (gpointer *)&owner)) {
		group = g_hash_table_lookup(listing->groups, name);
		if (group == NULL) {
			g_hash_table_insert(listing->groups, g_strdup(name),
					    group_new(owner));
			changed = TRUE;
		} else if (g_strcmp0(group->owner, owner) != 0) {
			g_free(group->owner);
			group->owner = g_strdup(owner);
			changed = TRUE;
		}
	}
	return changed;
}

/* Fetches @name's files; applies them unless a patch came meanwhile.
 * TRUE when the listing changed. */
static gboolean refresh_group(FsListing *listing, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) files = NULL;
	ListedGroup *group;
	guint64 generation;
	gboolean changed = FALSE;

	g_mutex_lock(&listing->lock);
	group = g_hash_table_lookup(listing->groups, name);
	generation = group ? group->generation : 0;
	g_mutex_unlock(&listing->lock);
	if (group == NULL)
		return FALSE;
	files = fetch_files(listing->api, name, &error);
	if (files == NULL) {
		g_message("cannot list the files of %s: %s", name,
			  error->message);
		return FALSE;
	}
	g_mutex_lock(&listing->lock);
	group = g_hash_table_lookup(listing->groups, name);
	if (group != NULL && group->generation == generation) {
		group->fetched_us = g_get_monotonic_time();
		changed = !files_equal(group->files, files);
	}
	if (changed) {
		g_hash_table_unref(group->files);
		group->files = g_steal_pointer(&files);
	}
	g_mutex_unlock(&listing->lock);
	return changed;
}

/* Under the lock: the names of the groups, to fetch without it. */
static GPtrArray *group_names(FsListing *listing)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	const char *name;

	g_hash_table_iter_init(&iter, listing->groups);
	while (g_hash_table_iter_next(&iter, (gpointer *)&name, NULL))
		g_ptr_array_add(names, g_strdup(name));
	return names;
}

/* Everything, or only @only; tells the listener what changed. */
static gboolean refresh(FsListing *listing, const char *only, GError **error)
{
	g_autoptr(GHashTable) names = NULL;
	g_autoptr(GPtrArray) todo = NULL;
	gboolean groups_changed = FALSE;

	if (only == NULL) {
		names = fetch_groups(listing->api, error);
		if (names == NULL)
			return FALSE;
	}
	g_mutex_lock(&listing->lock);
	if (names != NULL)
		groups_changed = apply_groups(listing, names);
	todo = group_names(listing);
	g_mutex_unlock(&listing->lock);
	if (groups_changed)
		notify(listing, NULL);
	for (guint i = 0; i < todo->len; i++) {
		const char *name = todo->pdata[i];

		if ((only == NULL || strcmp(only, name) == 0) &&
		    refresh_group(listing, name))
			notify(listing, name);
	}
	return TRUE;
}

/* ---- the lister thread ----------------------------------------------- */

static gpointer lister_main(gpointer data)
{
	FsListing *listing = data;

	g_mutex_lock(&listing->lock);
	while (!listing->quit) {
		gint64 until = g_get_monotonic_time() + listing->interval_us;
		g_autoptr(GError) error = NULL;

		while (!listing->poke && !listing->quit &&
		       g_cond_wait_until(&listing->wake, &listing->lock, until))
			;
		if (listing->quit)
			break;
		listing->poke = FALSE;
		g_mutex_unlock(&listing->lock);
		if (!refresh(listing, NULL, &error))
			g_message("cannot list the groups: %s", error->message);
		g_mutex_lock(&listing->lock);
	}
	g_mutex_unlock(&listing->lock);
	return NULL;
}

FsListing *fs_listing_new(NetTrackerApi *api, const char *user, guint refresh_s,
			  GError **error)
{
	FsListing *listing = g_new0(FsListing, 1);

	listing->api = api;
	listing->user = g_strdup(user);
	listing->interval_us =
		(gint64)(refresh_s ? refresh_s : DEFAULT_REFRESH_S) *
		G_USEC_PER_SEC;
	g_mutex_init(&listing->lock);
	g_cond_init(&listing->wake);
	g_mutex_init(&listing->watch_lock);
	listing->groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)group_free);
	if (!refresh(listing, NULL, error)) {
		fs_listing_free(listing);
		return NULL;
	}
	listing->thread = g_thread_new("groupfs-lister", lister_main, listing);
	return listing;
}

void fs_listing_free(FsListing *listing)
{
	if (listing == NULL)
		return;
	if (listing->thread != NULL) {
		g_mutex_lock(&listing->lock);
		listing->quit = TRUE;
		g_cond_signal(&listing->wake);
		g_mutex_unlock(&listing->lock);
		g_thread_join(listing->thread);
	}
	g_hash_table_unref(listing->groups);
	g_cond_clear(&listing->wake);
	g_mutex_clear(&listing->lock);
	g_mutex_clear(&listing->watch_lock);
	net_tracker_api_free(listing->api);
	g_free(listing->user);
	g_free(listing);
}

NetTrackerApi *fs_listing_get_api(FsListing *listing)
{
	return listing->api;
}

const char *fs_listing_get_user(FsListing *listing)
{
	return listing->user;
}

void fs_listing_refresh(FsListing *listing, const char *name)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&listing->lock);
	ListedGroup *group =
		name ? g_hash_table_lookup(listing->groups, name) : NULL;

	if (group != NULL &&
	    g_get_monotonic_time() - group->fetched_us < ON_DEMAND_AGE_US)
		return;
	listing->poke = TRUE;
	g_cond_signal(&listing->wake);
}

void fs_listing_refresh_now(FsListing *listing, const char *group)
{
	refresh(listing, group, NULL);
}

/* ---- queries --------------------------------------------------------- */

static GPtrArray *entries_new(void)
{
	return g_ptr_array_new_with_free_func(
		(GDestroyNotify)fs_backend_entry_free);
}

GPtrArray *fs_listing_groups(FsListing *listing)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&listing->lock);
	GPtrArray *list = entries_new();
	GHashTableIter iter;
	const char *name;
	ListedGroup *group;

	g_hash_table_iter_init(&iter, listing->groups);
	while (g_hash_table_iter_next(&iter, (gpointer *)&name,
				      (gpointer *)&group))
		g_ptr_array_add(list, fs_backend_entry_new(
					      name, 0, 0,
					      g_strcmp0(group->owner,
							listing->user) == 0));
	return list;
}

GPtrArray *fs_listing_files(FsListing *listing, const char *name)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&listing->lock);
	ListedGroup *group = g_hash_table_lookup(listing->groups, name);
	gboolean group_mine;
	GHashTableIter iter;
	FsListed *file;
	GPtrArray *list;

	if (group == NULL)
		return NULL;
	group_mine = g_strcmp0(group->owner, listing->user) == 0;
	list = entries_new();
	g_hash_table_iter_init(&iter, group->files);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file))
		g_ptr_array_add(
			list,
			fs_backend_entry_new(
				file->path, file->size, file->mtime,
				group_mine || g_strcmp0(file->owner,
							listing->user) == 0));
	return list;
}

FsListed *fs_listing_find(FsListing *listing, const char *name,
			  const char *path, char **group_owner, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&listing->lock);
	ListedGroup *group = g_hash_table_lookup(listing->groups, name);
	FsListed *file = group ? g_hash_table_lookup(group->files, path) : NULL;

	if (group_owner != NULL)
		*group_owner = group ? g_strdup(group->owner) : NULL;
	if (file != NULL)
		return listed_copy(file);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "%s/%s is not published", name, path);
	return NULL;
}

gboolean fs_listing_has_group(FsListing *listing, const char *name)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&listing->lock);

	return g_hash_table_contains(listing->groups, name);
}

/* ---- patches --------------------------------------------------------- */

/* Under the lock: @name's group, its generation bumped; or NULL. */
static ListedGroup *patch_group(FsListing *listing, const char *name)
{
	ListedGroup *group = g_hash_table_lookup(listing->groups, name);

	if (group != NULL)
		group->generation++;
	return group;
}

void fs_listing_put_file(FsListing *listing, const char *name,
			 const FsListed *file)
{
	ListedGroup *group;

	g_mutex_lock(&listing->lock);
	group = patch_group(listing, name);
	if (group != NULL) {
		FsListed *copy = listed_copy(file);

		g_hash_table_replace(group->files, copy->path, copy);
	}
	g_mutex_unlock(&listing->lock);
	if (group != NULL)
		notify(listing, name);
}

void fs_listing_put(FsListing *listing, const char *name, JsonObject *record)
{
	g_autoptr(FsListed) file = listed_from_record(record);

	if (file != NULL)
		fs_listing_put_file(listing, name, file);
	else
		fs_listing_refresh(listing, NULL);
}

void fs_listing_remove(FsListing *listing, const char *name, const char *path)
{
	ListedGroup *group;

	g_mutex_lock(&listing->lock);
	group = patch_group(listing, name);
	if (group != NULL)
		g_hash_table_remove(group->files, path);
	g_mutex_unlock(&listing->lock);
	if (group != NULL)
		notify(listing, name);
}

void fs_listing_add_group(FsListing *listing, const char *name,
			  const char *owner)
{
	g_mutex_lock(&listing->lock);
	if (!g_hash_table_contains(listing->groups, name))
		g_hash_table_insert(listing->groups, g_strdup(name),
				    group_new(owner));
	g_mutex_unlock(&listing->lock);
	notify(listing, NULL);
}

void fs_listing_watch(FsListing *listing, FsBackendChangedFunc func,
		      gpointer data)
{
	g_mutex_lock(&listing->watch_lock);
	listing->watch_func = func;
	listing->watch_data = data;
	g_mutex_unlock(&listing->watch_lock);
}
