/*
 * json-check: a strict RFC 8259 syntax check of untrusted JSON text,
 * run before json-glib sees it.
 *
 * json-glib 1.6 is lenient: it takes single-quoted strings and other
 * extensions, keeps the last of two equal keys, and ends a string at an
 * escaped NUL. The API promises to refuse all of that, so this module
 * says yes only to exactly the JSON grammar, with unique keys in each
 * object, no "\u0000", and nesting at most TRACKER_JSON_MAX_DEPTH.
 *
 * Owns: nothing; it never builds a tree. Must not: allocate per byte of
 * input or recurse without the depth bound.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TRACKER_JSON_MAX_DEPTH 32

/* TRUE when @len bytes at @text are one strict JSON value; otherwise
 * a TRACKER_ERROR_INVALID that names the byte offset. */
gboolean tracker_json_check(const char *text, gsize len, GError **error);

G_END_DECLS
