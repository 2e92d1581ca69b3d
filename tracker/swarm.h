/*
 * swarm: the live swarms of a tracker, in memory: who is sharing which
 * info-hash, from which address, and how much they still need.
 *
 * Owns: the peer records, their expiry, and the compact (BEP 23) peer
 * lists. Must not: touch the database or decide who may see a swarm;
 * the caller checks membership and passes a filter. Lost on restart by
 * design: clients rebuild it at their next announce.
 *
 * Memory is bounded: a swarm holds at most TRACKER_SWARM_MAX_TORRENT_PEERS
 * peers and the tracker at most TRACKER_SWARM_MAX_PEERS in all (about 48
 * bytes each, so some 50 MB at the default); a new peer beyond either cap
 * is refused, never stored. A torrent exists only while it has peers.
 *
 * Single-threaded: the tracker's main loop owns it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TRACKER_SWARM_MAX_TORRENT_PEERS 10000
#define TRACKER_SWARM_MAX_PEERS 1000000

typedef enum {
	TRACKER_SWARM_EVENT_NONE,
	TRACKER_SWARM_EVENT_STARTED,
	TRACKER_SWARM_EVENT_COMPLETED,
	TRACKER_SWARM_EVENT_STOPPED,
} TrackerSwarmEvent;

typedef struct {
	const guint8 *info_hash; /* 20 bytes */
	const guint8 *peer_id; /* 20 bytes */
	gint64 user_id;
	guint8 ipv4[4]; /* network order */
	guint16 port;
	guint64 left;
	TrackerSwarmEvent event;
} TrackerSwarmAnnounce;

/* Decides whether a peer of @user_id may be handed to the caller. */
typedef gboolean (*TrackerSwarmFilter)(gint64 user_id, gpointer data);

typedef struct _TrackerSwarm TrackerSwarm;

/* Peers that have not announced for @peer_ttl_seconds are dropped. The
 * limits start at the TRACKER_SWARM_MAX_* defaults. */
TrackerSwarm *tracker_swarm_new(guint peer_ttl_seconds);
void tracker_swarm_free(TrackerSwarm *sw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerSwarm, tracker_swarm_free)

/* Changes the caps on peers per torrent and in all. Lowering them below
 * the current counts drops nobody; new peers are refused until the
 * counts fall below the caps again. */
void tracker_swarm_set_limits(TrackerSwarm *sw, guint max_torrent_peers,
			      guint max_peers);

/* Adds, refreshes or (on STOPPED) removes the announcing peer, known by
 * its peer_id and user_id together, so that nobody can refresh or stop
 * another user's peer. A peer is a seeder when @a->left is 0. Returns
 * FALSE, changing nothing, when the peer is new and its torrent or the
 * tracker is full: the caller answers with a failure reason. */
gboolean tracker_swarm_update(TrackerSwarm *sw, const TrackerSwarmAnnounce *a,
			      gint64 now);

/* Appends up to @numwant compact peers of @info_hash to @out, never a
 * peer with @self_peer_id (NULL: none excluded), only peers that @filter
 * accepts (NULL: all), and stores the swarm's seeder and leecher counts
 * (of the whole swarm, so that they cost nothing). When more peers
 * qualify than @numwant, a random run of them is returned, so every peer
 * gets handed out over successive calls. Returns peers added. */
guint tracker_swarm_get_peers(TrackerSwarm *sw, const guint8 *info_hash,
			      const guint8 *self_peer_id, guint numwant,
			      TrackerSwarmFilter filter, gpointer data,
			      GByteArray *out, guint *complete,
			      guint *incomplete);

guint tracker_swarm_count_seeders(TrackerSwarm *sw, const guint8 *info_hash);

/* Drops peers whose last announce is @peer_ttl_seconds or more before
 * @now, and torrents left empty; returns how many peers. Called from a
 * timer: it walks every peer. */
guint tracker_swarm_expire(TrackerSwarm *sw, gint64 now);

G_END_DECLS
