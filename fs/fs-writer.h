/*
 * fs-writer: new files being written into a group, until they are
 * published. A created file (or a new version of one of this member's
 * files) gets a staging file from the backend; every open handle of
 * that inode shares it. What was written is published when the last
 * writer closes it: at its flush when it is the only writer, so that a
 * failure reaches close() as an error, otherwise at the last release.
 *
 * Owns: the staging files by inode, their dirty/published state, and
 * the publishes in flight. Must not: reply to the kernel (fs-ops does,
 * from the FsWriterDoneFunc) or publish anything but what a writer
 * wrote.
 *
 * Threads: any FUSE thread; publish completions come from the backend's
 * thread. fs_writer_free after the FUSE loop stopped.
 */
#pragma once

#include "backend.h"
#include "fs-inode.h"

G_BEGIN_DECLS

typedef struct _FsWriter FsWriter;
typedef struct _FsStaging FsStaging;

typedef void (*FsWriterDoneFunc)(const GError *error, gpointer data);

FsWriter *fs_writer_new(const FsBackend *backend, FsInodeTable *table);
/* Waits (a few seconds at most) for publishes in flight, then frees. */
void fs_writer_free(FsWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsWriter, fs_writer_free)

/* A writer's handle on @ino, which is @group/@path: the staging file
 * already open for it (emptied when @truncate), or with @truncate a new
 * one from the backend (which may refuse another member's name).
 * Without @truncate and staging file, G_IO_ERROR_READ_ONLY: published
 * bytes never change, a new version replaces the whole file. */
FsStaging *fs_writer_open(FsWriter *writer, guint64 ino, const char *group,
			  const char *path, gboolean truncate, GError **error);
/* A reader's handle on @ino's staging file, if it has one. */
FsStaging *fs_writer_lookup(FsWriter *writer, guint64 ino);

/* The file @ino was removed before it was published: its writers may
 * go on, but nothing will be published. */
void fs_writer_abandon(FsWriter *writer, guint64 ino);

int fs_staging_get_fd(FsStaging *staging);
/* Bytes in the staging file now. */
guint64 fs_staging_get_size(FsStaging *staging);
/* A writer wrote @bytes at @offset. */
void fs_staging_wrote(FsStaging *staging, guint64 offset, guint64 bytes);
gboolean fs_staging_truncate(FsStaging *staging, guint64 size, GError **error);

/* A writer's close(). Returns TRUE when it started a publish, whose end
 * @done reports; FALSE when there was nothing to do yet. */
gboolean fs_staging_flush(FsStaging *staging, FsWriterDoneFunc done,
			  gpointer data);
/* The end of a handle from fs_writer_open (@writer TRUE) or
 * fs_writer_lookup. The last writer publishes what is unpublished; a
 * new file whose publish fails disappears. */
void fs_staging_release(FsStaging *staging, gboolean writer);

G_END_DECLS
