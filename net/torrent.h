/*
 * torrent: the swarm policy for one file, the peer-mgr to NetPeer's
 * peer-msgs. Which peers to keep, whom to choke, which blocks to ask
 * whom for (through NetPicker), what to do with a bad piece, and when a
 * waiting reader can be answered.
 *
 * Owns: its connections (NetConn + NetPeer pairs), its NetPicker, its
 * NetStore (given at creation), the waiters of parked reads, rates.
 * Must not: talk to the tracker (the engine announces and hands peer
 * addresses in), decide group membership (it asks is_member), or block
 * the loop on disk: store reads, writes and hash checks run in worker
 * threads and complete on the loop.
 *
 * Threads: every function runs on the engine's loop thread (the
 * thread-default GMainContext when net_torrent_new was called), except
 * net_torrent_range_ready, which any thread may call.
 */
#pragma once

#include <gio/gio.h>

#include "metainfo.h"
#include "store.h"

G_BEGIN_DECLS

typedef struct _NetTorrent NetTorrent;
typedef struct _NetTlsContext NetTlsContext;
typedef struct _NetConn NetConn;
typedef struct _NetPeer NetPeer;

/* May @user (a certificate CN) exchange pieces of this torrent? */
typedef gboolean (*NetTorrentMemberFunc)(const char *user, gpointer data);
typedef void (*NetTorrentFunc)(NetTorrent *torrent, gpointer data);
typedef void (*NetTorrentErrorFunc)(NetTorrent *torrent, const GError *error,
				    gpointer data);

typedef struct {
	NetTlsContext *tls; /* borrowed; outgoing connections */
	const guint8 *peer_id; /* 20 bytes, copied */
	guint16 listen_port; /* advertised in the extension handshake */
	guint max_peers; /* 0: default (50) */
	NetTorrentMemberFunc is_member;
	/* The last piece was verified: announce "completed". */
	NetTorrentFunc on_complete;
	/* Optional: the store failed (a full disk, an I/O error). Fetching
	 * pauses for a few seconds and then retries what was lost. */
	NetTorrentErrorFunc on_error;
	gpointer data; /* for the callbacks above */
	/* A peer that answers none of our requests for this long is
	 * stalled: they go to other peers. 0: 5000. */
	guint request_timeout_ms;
} NetTorrentConfig;

typedef struct {
	guint32 piece_count;
	guint32 pieces_verified;
	guint64 length;
	guint64 left; /* bytes not yet verified */
	guint64 downloaded; /* payload bytes received, this session */
	guint64 uploaded; /* payload bytes sent, this session */
	double download_rate; /* bytes per second, recent */
	double upload_rate;
	guint peers; /* connected, handshake done */
	guint seeders; /* of those, with every piece */
} NetTorrentStats;

/* Takes ownership of @mi and @store. Nothing is fetched until a range
 * is waited for, wanted or the torrent is pinned. */
NetTorrent *net_torrent_new(NetMetainfo *mi, NetStore *store,
			    const NetTorrentConfig *config);
/* Closes every connection; pending waiters get G_IO_ERROR_CANCELLED. */
void net_torrent_free(NetTorrent *torrent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetTorrent, net_torrent_free)

const NetMetainfo *net_torrent_get_metainfo(const NetTorrent *torrent);
NetStore *net_torrent_get_store(const NetTorrent *torrent);

/* Peer addresses from an announce: connects to those not connected,
 * up to max_peers. @addresses holds GInetSocketAddress. */
void net_torrent_add_peers(NetTorrent *torrent, GPtrArray *addresses);

/* An incoming connection whose handshake named this torrent. Takes
 * ownership of both and of @peer's events; refuses (closes) peers that
 * are not members, are banned, or exceed max_peers, and then returns
 * FALSE. May be called from @peer's lookup callback, inside
 * net_peer_feed: nothing is freed before the loop's next iteration. */
gboolean net_torrent_adopt(NetTorrent *torrent, NetConn *conn, NetPeer *peer);

/* Drops connections to users who are no longer members (after the
 * engine refreshed the membership). */
void net_torrent_recheck_members(NetTorrent *torrent);

/* Pinned: fetch every piece in the background (rarest first). */
void net_torrent_set_pinned(NetTorrent *torrent, gboolean pinned);

/* Read-ahead: fetch [offset, offset+length) soon, behind critical
 * pieces, without anybody waiting. */
void net_torrent_want_range(NetTorrent *torrent, guint64 offset,
			    guint64 length);

/* Called once, on the loop thread: @error NULL when every piece of the
 * range is verified; G_IO_ERROR_TIMED_OUT at the deadline (nobody had
 * the pieces in time); G_IO_ERROR_CANCELLED when the torrent goes. It
 * must not free the torrent. */
typedef void (*NetTorrentReadyFunc)(NetTorrent *torrent, const GError *error,
				    gpointer data);

/* Makes the range's pieces critical and calls @func when they are all
 * verified (at once, from an idle, if they already are). @deadline_us
 * is g_get_monotonic_time() based; 0 means no deadline. Returns an id
 * for net_torrent_cancel_wait. */
guint net_torrent_wait_range(NetTorrent *torrent, guint64 offset,
			     guint64 length, gint64 deadline_us,
			     NetTorrentReadyFunc func, gpointer data);
/* @func will not be called after this. */
void net_torrent_cancel_wait(NetTorrent *torrent, guint id);

/* TRUE when every piece of the range is verified. Any thread. */
gboolean net_torrent_range_ready(NetTorrent *torrent, guint64 offset,
				 guint64 length);

void net_torrent_get_stats(NetTorrent *torrent, NetTorrentStats *stats);

G_END_DECLS
