/*
 * api: the handlers of docs/API.md's endpoints, one per route of
 * server.c. api-accounts.c, api-groups.c and api-files.c hold the JSON
 * API; announce.c the BitTorrent announce.
 *
 * Each handler checks its input and the caller's rights, calls the
 * database, and replies exactly once (now, or after a pause). Handlers
 * of routes marked "authenticated" run only after the caller's token
 * has been checked.
 */
#pragma once

#include "http.h"

G_BEGIN_DECLS

void tracker_api_ca(TrackerRequest *req);
void tracker_api_register(TrackerRequest *req);
void tracker_api_login(TrackerRequest *req);
void tracker_api_logout(TrackerRequest *req);
void tracker_api_whoami(TrackerRequest *req);
void tracker_api_certificate(TrackerRequest *req);

void tracker_api_groups_list(TrackerRequest *req);
void tracker_api_groups_create(TrackerRequest *req);
void tracker_api_group_members(TrackerRequest *req);
void tracker_api_group_join(TrackerRequest *req);
void tracker_api_group_leave(TrackerRequest *req);
void tracker_api_group_requests(TrackerRequest *req);
void tracker_api_group_accept(TrackerRequest *req);
void tracker_api_group_reject(TrackerRequest *req);

void tracker_api_files_list(TrackerRequest *req);
void tracker_api_files_info(TrackerRequest *req);
void tracker_api_files_publish(TrackerRequest *req);
void tracker_api_files_remove(TrackerRequest *req);
void tracker_api_files_rename(TrackerRequest *req);

void tracker_announce_handle(TrackerRequest *req);

/* --- Shared by the api-*.c files (api-common.c) --- */

/* @len bytes as lowercase hex. */
char *tracker_api_hex(const guint8 *bytes, gsize len);

/* Seconds since the epoch. */
gint64 tracker_api_now(void);

/* The group named by the route's first "*" and the caller's role in
 * it: INVALID for a bad name, NOT_FOUND for no such group, FORBIDDEN
 * when the role is below @min_role (@action says what was refused,
 * e.g. "see its members"). Returns the group id or 0. */
gint64 tracker_api_find_group(TrackerRequest *req, TrackerRole min_role,
			      const char *action, TrackerRole *role,
			      GError **error);

/* JSON replies built member by member: begin, add, then reply (which
 * frees the builder). */
JsonBuilder *tracker_api_begin_object(void);
void tracker_api_add_string(JsonBuilder *b, const char *name,
			    const char *value);
void tracker_api_add_int(JsonBuilder *b, const char *name, gint64 value);
void tracker_api_reply_object(TrackerRequest *req, guint status,
			      JsonBuilder *b);
/* Replies with @error and frees it. */
void tracker_api_fail(TrackerRequest *req, GError *error);

G_END_DECLS
