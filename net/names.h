/*
 * names: the rules for user names, group names and file paths inside a
 * group (docs/API.md, "Conventions"), in the one place that the tracker,
 * the engine and the mount all ask.
 *
 * The same goes for an info-hash written in hex.
 *
 * Owns: nothing but the rules. Must not: repair input (no trimming, no
 * case folding, no normalisation), or word errors: each caller words the
 * refusal in its own error domain, naming the rule from this header.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NET_NAME_MAX 64u
#define NET_PATH_MAX 4096u

/* A user or group name: 1 to 64 bytes of A-Z a-z 0-9 . _ -, not
 * starting with "." or "-" (so it is a safe folder name in the mount
 * and never looks like an option). */
gboolean net_name_is_valid(const char *name);

/* A file path inside a group: relative, "/"-separated, at most 4096
 * bytes, every component a safe file name (net_metainfo_name_is_safe:
 * not empty, ".", ".."; no NUL or control character). */
gboolean net_path_is_valid(const char *path);

/* An info-hash as the tracker's API, the registry and the listings
 * write it: exactly 40 lowercase hex digits. NULL is not valid. */
gboolean net_info_hash_hex_is_valid(const char *hex);

G_END_DECLS
