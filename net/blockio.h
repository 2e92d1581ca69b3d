/*
 * blockio: the disk work of one torrent's swarm, in worker threads:
 * writing the blocks peers send (and the hash check that the last block
 * of a piece sets off), reading the blocks peers ask for, and syncing.
 *
 * Owns: a thread pool, the batches in flight and their results until
 * the owner's loop takes them. Must not: decide anything (what to
 * write, whom to serve, whom to blame); it reports outcomes through
 * callbacks on the loop thread of its creator, never from a worker.
 *
 * Batching. A thread handoff costs a few microseconds, as much as
 * writing a 16 KiB block to the page cache, so requests are gathered
 * and handed to a worker in batches: when a batch reaches
 * NET_BLOCK_IO_BATCH bytes, or at the end of the main loop iteration
 * that started it. Batches run in parallel on up to one thread per
 * core; a piece's hash is checked by whichever thread writes its last
 * block.
 *
 * Back pressure. Bytes accepted for writing and not yet written are
 * the write backlog; when it passes high_water the owner should stop
 * reading from peers, and writes_drained tells it when the backlog fell
 * below half of that again, so memory stays bounded when the disk is
 * slower than the network.
 *
 * Threads: every function, and every callback, on the creator's thread
 * (its thread-default GMainContext).
 */
#pragma once

#include <glib.h>

#include "store.h"

G_BEGIN_DECLS

#define NET_BLOCK_IO_BATCH (1024 * 1024)

typedef struct _NetBlockIo NetBlockIo;

/* Callbacks may call any net_block_io_* function except _free. */
typedef struct {
	/* @piece was verified (@error NULL), failed its hash (@error
	 * NET_ERROR_HASH_MISMATCH: its blocks were discarded), or one of
	 * its blocks could not be written (any other error: that block is
	 * missing, the others are kept). */
	void (*piece_written)(guint32 piece, const GError *error,
			      gpointer data);
	/* A read of @len bytes finished: @bytes (the block, borrowed) or
	 * @error. @key is the one given to net_block_io_read. */
	void (*block_read)(gpointer key, guint32 piece, guint32 begin,
			   guint32 len, GBytes *bytes, const GError *error,
			   gpointer data);
	/* The write backlog fell below half of high_water after reaching
	 * it. */
	void (*writes_drained)(gpointer data);
	/* A net_block_io_sync finished; @error NULL on success. */
	void (*synced)(const GError *error, gpointer data);
	/* Drops the reference that a read's key holds, once its result was
	 * delivered or discarded. Optional. */
	GDestroyNotify key_destroy;
} NetBlockIoCallbacks;

/* @store is borrowed and must outlive the NetBlockIo; @high_water 0
 * means 32 MiB. */
NetBlockIo *net_block_io_new(NetStore *store, gsize high_water,
			     const NetBlockIoCallbacks *callbacks,
			     gpointer data);
/* Waits for the batches in flight (their disk work completes), then
 * discards their results without calling back; keys are destroyed. */
void net_block_io_free(NetBlockIo *io);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetBlockIo, net_block_io_free)

/* Queues a copy of a block that a peer sent. */
void net_block_io_write(NetBlockIo *io, guint32 piece, guint32 begin,
			const guint8 *data, gsize len);
/* Queues a read of a block of a verified piece, for @key. */
void net_block_io_read(NetBlockIo *io, guint32 piece, guint32 begin,
		       guint32 len, gpointer key);
/* Starts a net_store_sync unless one is running; FALSE if one is. */
gboolean net_block_io_sync(NetBlockIo *io);

/* Bytes queued for writing and not yet written. */
gsize net_block_io_get_write_backlog(const NetBlockIo *io);
gboolean net_block_io_is_above_high_water(const NetBlockIo *io);

G_END_DECLS
