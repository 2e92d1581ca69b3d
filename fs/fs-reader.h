/*
 * fs-reader: READ requests of published files. A read whose bytes are
 * verified is answered at once from the backend's data file; any other
 * is parked: its fuse_req_t is kept, the backend is asked to make the
 * range ready, and the read is answered from the backend's callback,
 * with EIO at the read timeout, or with EINTR as soon as the kernel
 * says the reader was interrupted (Ctrl-C on a `cat`). No FUSE thread
 * ever waits for a piece. A per-handle stream detector asks for a
 * read-ahead window that grows while reads stay sequential.
 *
 * Owns: the parked reads (each answered exactly once, whichever of
 * completion, timeout, interrupt or shutdown comes first) and the
 * streams' windows. Must not: reply to the kernel itself (it calls the
 * FsReaderAnswerFunc, which fs-ops provides) or know what is behind the
 * backend.
 *
 * Threads: fs_reader_read on FUSE threads; answers come from the
 * backend's callback thread, or from the FUSE thread that receives the
 * interrupt. fs_reader_free once the FUSE loop has stopped.
 */
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "backend.h"

G_BEGIN_DECLS

/* Replies to READ @req: @size bytes of @fd at @offset, or @error.
 * @splice is FALSE on threads that are not libfuse's: splicing makes
 * libfuse give the thread a pipe that only a thread ending before the
 * session frees. */
typedef void (*FsReaderAnswerFunc)(fuse_req_t req, int fd, guint64 offset,
				   gsize size, gboolean splice,
				   const GError *error);

typedef struct _FsReader FsReader;

/* Sequential reads of one open file; embedded in the file handle. */
typedef struct {
	GMutex lock; /* protects the fields below */
	guint64 next; /* where a sequential read would start */
	guint64 window; /* read-ahead bytes after the read */
	guint64 wanted_end; /* read-ahead asked for up to here */
} FsReaderStream;

void fs_reader_stream_init(FsReaderStream *stream);
void fs_reader_stream_clear(FsReaderStream *stream);

/* @read_timeout_s: seconds a read may wait for its range (0: the
 * default, 60). */
FsReader *fs_reader_new(const FsBackend *backend, guint read_timeout_s,
			FsReaderAnswerFunc answer);
/* Cancels every parked read, waits (a few seconds at most) for their
 * answers, and frees. */
void fs_reader_free(FsReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsReader, fs_reader_free)

/* Answers @req with [@offset, @offset+@size) of @handle's file, now or
 * later. @size must already end at the end of the file (the caller
 * knows its length), so the answer is never short. @file_size bounds
 * the read-ahead. */
void fs_reader_read(FsReader *reader, fuse_req_t req, FsBackendHandle *handle,
		    FsReaderStream *stream, guint64 file_size, guint64 offset,
		    gsize size);

/* Reads parked right now. */
guint fs_reader_parked(FsReader *reader);

G_END_DECLS
