/*
 * swarm: the live swarms of a tracker, in memory: who is sharing which
 * info-hash, from which address, and how much they still need.
 *
 * Owns: the peer records, their expiry, and the compact (BEP 23) peer
 * lists. Must not: touch the database or decide who may see a swarm;
 * the caller checks membership and passes a filter. Lost on restart by
 * design: clients rebuild it at their next announce.
 *
 * Single-threaded: the tracker's main loop owns it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

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

/* Peers that have not announced for @peer_ttl_seconds are dropped. */
TrackerSwarm *tracker_swarm_new(guint peer_ttl_seconds);
void tracker_swarm_free(TrackerSwarm *sw);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerSwarm, tracker_swarm_free)

/* Adds, refreshes or (on STOPPED) removes the announcing peer. */
void tracker_swarm_update(TrackerSwarm *sw, const TrackerSwarmAnnounce *a,
			  gint64 now);

/* Appends up to @numwant compact peers of @info_hash to @out, never the
 * peer @self_peer_id, only peers that @filter accepts (NULL: all), and
 * stores the swarm's seeder and leecher counts. Returns peers added. */
guint tracker_swarm_get_peers(TrackerSwarm *sw, const guint8 *info_hash,
			      const guint8 *self_peer_id, guint numwant,
			      TrackerSwarmFilter filter, gpointer data,
			      GByteArray *out, guint *complete,
			      guint *incomplete);

guint tracker_swarm_count_seeders(TrackerSwarm *sw, const guint8 *info_hash);

/* Drops expired peers; returns how many. Called from a timer. */
guint tracker_swarm_expire(TrackerSwarm *sw, gint64 now);

G_END_DECLS
