/*
 * validate: the API's rules for names, passwords and file paths
 * (docs/API.md, "Conventions"), as one place that says yes or no.
 *
 * The rules themselves are net/names.h's, shared with the clients; this
 * module words the refusals for the API.
 *
 * Owns: nothing but the wording. Must not: repair input (no trimming, no
 * case folding, no normalisation): what is refused is refused whole,
 * with a TRACKER_ERROR_INVALID sentence that names the rule.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TRACKER_PASSWORD_MAX 1024u

/* A user or group name: 1 to 64 bytes of A-Z a-z 0-9 . _ -, not
 * starting with "." or "-". @what ("user name", "group name") starts
 * the error message. */
gboolean tracker_validate_name(const char *what, const char *name,
			       GError **error);

/* 1 to 1024 bytes of UTF-8. */
gboolean tracker_validate_password(const char *password, GError **error);

/* A relative "/"-separated path inside a group: at most 4096 bytes,
 * every component a safe file name (net_metainfo_name_is_safe). */
gboolean tracker_validate_path(const char *path, GError **error);

G_END_DECLS
