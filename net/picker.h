/*
 * picker: which blocks to request next, and from which peer, for one
 * torrent.
 *
 * Order: critical pieces first, in piece order (a parked read waits for
 * them); then read-ahead pieces, in piece order; then normal pieces,
 * those already started first, then rarest first with a random tie-break
 * fixed per piece (so different downloaders spread over the swarm).
 * Pieces at SKIP priority, the default, are never requested: nothing is
 * fetched that nobody asked for.
 *
 * Duplicates: a block is normally requested from one peer at a time.
 * Once every block of the critical pieces is requested, other peers may
 * request them again, and once every wanted block is requested (end
 * game) any block still in flight may be; when one copy arrives,
 * net_picker_block_received names the peers whose requests to cancel.
 * How many duplicates a peer gets at once is the caller's policy: it
 * caps them per call, and each request says whether it is one.
 *
 * Owns: availability counts, each peer's bitfield and outstanding
 * requests, per-block state of the pieces in flight. Must not: touch
 * sockets or disk, or judge peers (it only reports who sent what).
 * Peers are opaque keys (the engine's peer pointers), never dereferenced.
 *
 * Cost: pieces that still have unrequested blocks sit in a sorted
 * sequence, re-sorted one piece at a time (O(log n)) when availability,
 * priority or progress changes; a call to net_picker_next_requests walks
 * it from the front and stops when it has enough. Not thread-safe: the
 * engine's main loop owns it.
 */
#pragma once

#include <glib.h>

#include "bitfield.h"

G_BEGIN_DECLS

#define NET_PICKER_BLOCK_SIZE (16u * 1024u)

typedef enum {
	NET_PICKER_SKIP = 0,
	NET_PICKER_NORMAL,
	NET_PICKER_READAHEAD,
	NET_PICKER_CRITICAL,
} NetPickerPriority;

typedef struct {
	guint32 piece;
	guint32 begin;
	guint32 length;
	gboolean duplicate; /* also in flight to another peer */
} NetPickerRequest;

typedef struct _NetPicker NetPicker;

/* @piece_length must be a multiple of NET_PICKER_BLOCK_SIZE (BEP 3
 * piece lengths are powers of two of at least 16 KiB). All pieces start
 * at NET_PICKER_SKIP. */
NetPicker *net_picker_new(guint32 piece_count, guint32 piece_length,
			  guint64 length);
void net_picker_free(NetPicker *picker);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetPicker, net_picker_free)

/* Sets @count pieces from @first to @priority. */
void net_picker_set_priority(NetPicker *picker, guint32 first, guint32 count,
			     NetPickerPriority priority);
/* We have @piece (verified): never request it again. */
void net_picker_set_have(NetPicker *picker, guint32 piece);
gboolean net_picker_has(const NetPicker *picker, guint32 piece);
/* Not had and not SKIP. */
gboolean net_picker_wants(const NetPicker *picker, guint32 piece);
guint32 net_picker_availability(const NetPicker *picker, guint32 piece);

/* A peer joins with the pieces it has (NULL for none; copied; must be
 * piece_count bits). */
void net_picker_peer_add(NetPicker *picker, gconstpointer peer,
			 const NetBitfield *has);
/* Replaces the peer's pieces with @has (piece_count bits), e.g. with
 * its bitfield after it joined with none. Its requests stay in flight. */
void net_picker_peer_set_bitfield(NetPicker *picker, gconstpointer peer,
				  const NetBitfield *has);
/* A have message. FALSE if @piece is out of range: a protocol error
 * for the caller to act on. */
gboolean net_picker_peer_have(NetPicker *picker, gconstpointer peer,
			      guint32 piece);
/* The peer is gone: its pieces no longer count and its requests go back
 * to the pool. */
void net_picker_peer_remove(NetPicker *picker, gconstpointer peer);
/* The peer choked us, which drops its queue: its requests go back to
 * the pool. */
void net_picker_peer_cancel_all(NetPicker *picker, gconstpointer peer);
/* Whether the peer has a piece that we want. O(pieces). */
gboolean net_picker_peer_is_interesting(const NetPicker *picker,
					gconstpointer peer);
/* Number of blocks requested from @peer and not yet answered. */
guint net_picker_peer_pending(const NetPicker *picker, gconstpointer peer);

/* Fills @out with up to @max requests for @peer (which must have been
 * added), at most @max_duplicates of them duplicates, and records them
 * as in flight. Returns how many. */
guint net_picker_next_requests(NetPicker *picker, gconstpointer peer, guint max,
			       guint max_duplicates, NetPickerRequest *out);

/* A block arrived from @peer. Returns TRUE if it is new (write it) and
 * FALSE if it is a duplicate, unknown or out of range (drop it). Peers
 * whose requests for it are still in flight are appended to @cancel (if
 * not NULL) and forgotten: send them a cancel. */
gboolean net_picker_block_received(NetPicker *picker, gconstpointer peer,
				   guint32 piece, guint32 begin,
				   GPtrArray *cancel);
/* A request to @peer will not be answered (rejected, timed out, or the
 * caller cancelled it): the block goes back to the pool. */
void net_picker_request_cancelled(NetPicker *picker, gconstpointer peer,
				  guint32 piece, guint32 begin);
/* A piece failed its hash: all its blocks are wanted again. The peers
 * that sent its blocks are appended to @senders (if not NULL), each
 * once; they may already have been removed. */
void net_picker_piece_failed(NetPicker *picker, guint32 piece,
			     GPtrArray *senders);

/* Blocks in @piece, and the length of block @block of it. */
guint32 net_picker_block_count(const NetPicker *picker, guint32 piece);
guint32 net_picker_block_length(const NetPicker *picker, guint32 piece,
				guint32 block);

G_END_DECLS
