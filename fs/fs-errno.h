/*
 * fs-errno: the one table from GError to the errno a program expects
 * from a file system call.
 *
 * Owns: that table. Must not: log (the caller decides) or be called
 * outside the FUSE edge: only fs-ops.c turns errors into replies.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The positive errno for @error; EIO for anything the table does not
 * know, so that a surprise never looks like success. */
int fs_errno_from_error(const GError *error);

G_END_DECLS
