/*
 * engine-listing: the snapshot of what the tracker lists for this
 * member, for engine-backend: the groups they belong to and each
 * group's files, kept fresh by a lister thread and patched by our own
 * changes.
 *
 * Owns: the snapshot (one mutex), the lister thread and the tracker API
 * client it uses; the listener of changes. Must not: touch the engine,
 * or hold its lock during a request to the tracker.
 *
 * A patch (our own change, which the tracker has confirmed) bumps its
 * group's generation; a fetch that started before the patch is thrown
 * away, so that a listing never goes back to an older state.
 *
 * Threads: every function may be called from any thread.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "backend.h"
#include "tracker-api.h"

G_BEGIN_DECLS

/* One file of a group, as listed. */
typedef struct {
	char *path;
	guint64 size;
	gint64 mtime;
	char *owner;
	char info_hash[41];
} FsListed;

void fs_listed_free(FsListed *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsListed, fs_listed_free)

typedef struct _FsListing FsListing;

/* Fetches every listing once (blocking). @api is the listing's from
 * then on; @user is this member. */
FsListing *fs_listing_new(NetTrackerApi *api, const char *user, guint refresh_s,
			  GError **error);
/* Stops the lister (waiting for a request in flight) and frees. */
void fs_listing_free(FsListing *listing);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsListing, fs_listing_free)

/* The tracker client, thread-safe for requests. */
NetTrackerApi *fs_listing_get_api(FsListing *listing);
const char *fs_listing_get_user(FsListing *listing);

/* The FsBackendOps queries of the same names. */
GPtrArray *fs_listing_groups(FsListing *listing);
GPtrArray *fs_listing_files(FsListing *listing, const char *group);

/* A copy of @group/@path; NULL with G_IO_ERROR_NOT_FOUND. With @owner,
 * the group's owner too (NULL when the group is unknown). */
FsListed *fs_listing_find(FsListing *listing, const char *group,
			  const char *path, char **group_owner, GError **error);
/* Whether this member is in @group. */
gboolean fs_listing_has_group(FsListing *listing, const char *group);

/* Fetch @group (NULL: everything) soon, unless it is fresh. */
void fs_listing_refresh(FsListing *listing, const char *group);

/* Blocking, for a worker thread: fetches @group's files now, whatever
 * their age (a reader found the snapshot behind the tracker). A failure
 * is logged: the snapshot stays as it was. */
void fs_listing_refresh_now(FsListing *listing, const char *group);

/* Patches, after the tracker said yes: @record is its file record. */
void fs_listing_put(FsListing *listing, const char *group, JsonObject *record);
/* A file we published, as we know it. */
void fs_listing_put_file(FsListing *listing, const char *group,
			 const FsListed *file);
void fs_listing_remove(FsListing *listing, const char *group, const char *path);
void fs_listing_add_group(FsListing *listing, const char *group,
			  const char *owner);

/* The one listener of changes (FsBackendOps.watch). */
void fs_listing_watch(FsListing *listing, FsBackendChangedFunc func,
		      gpointer data);

G_END_DECLS
