/*
 * swarm: info-hash -> torrent -> a compact array of peer records, kept
 * sorted by (peer_id, user_id) the way opentracker keeps its peer
 * vectors: a lookup is a binary search, a walk is a scan of contiguous
 * memory, and the compact reply is a copy of six stored bytes per peer.
 */
#include "swarm.h"

#include <string.h>

#define HASH_LEN 20

/* The smallest capacity a peer array is given, and shrinks back to. */
#define MIN_CAPACITY 8

typedef struct {
	guint8 peer_id[HASH_LEN];
	guint8 compact[6]; /* BEP 23: IPv4 then port, network order */
	gboolean seeder;
	gint64 user_id;
	gint64 last_seen;
} Peer;

typedef struct {
	guint8 info_hash[HASH_LEN]; /* the hash table's key points here */
	Peer *peers; /* sorted by peer_cmp, no two equal */
	guint n_peers;
	guint capacity;
	guint seeders;
} Torrent;

struct _TrackerSwarm {
	GHashTable *torrents; /* info_hash -> Torrent, none empty */
	GRand *rand;
	guint peer_ttl;
	guint n_peers; /* in all torrents */
	guint max_torrent_peers;
	guint max_peers;
};

/* Info-hashes are SHA-1 output, so any four of their bytes hash well.
 * Only a member who publishes metainfo can choose them at all (the
 * tracker computes them, and announces nothing else), and grinding for
 * collisions costs a publish per torrent. */
static guint info_hash_hash(gconstpointer key)
{
	guint h;

	memcpy(&h, key, sizeof(h));
	return h;
}

static gboolean info_hash_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, HASH_LEN) == 0;
}

static void torrent_free(gpointer p)
{
	Torrent *t = p;

	g_free(t->peers);
	g_free(t);
}

TrackerSwarm *tracker_swarm_new(guint peer_ttl_seconds)
{
	TrackerSwarm *sw = g_new0(TrackerSwarm, 1);

	sw->torrents = g_hash_table_new_full(info_hash_hash, info_hash_equal,
					     NULL, torrent_free);
	sw->rand = g_rand_new();
	sw->peer_ttl = peer_ttl_seconds;
	sw->max_torrent_peers = TRACKER_SWARM_MAX_TORRENT_PEERS;
	sw->max_peers = TRACKER_SWARM_MAX_PEERS;
	return sw;
}

void tracker_swarm_free(TrackerSwarm *sw)
{
	if (sw == NULL)
		return;
	g_hash_table_destroy(sw->torrents);
	g_rand_free(sw->rand);
	g_free(sw);
}

void tracker_swarm_set_limits(TrackerSwarm *sw, guint max_torrent_peers,
			      guint max_peers)
{
	sw->max_torrent_peers = max_torrent_peers;
	sw->max_peers = max_peers;
}

static int peer_cmp(const Peer *p, const guint8 *peer_id, gint64 user_id)
{
	int c = memcmp(p->peer_id, peer_id, HASH_LEN);

	if (c != 0)
		return c;
	return (p->user_id > user_id) - (p->user_id < user_id);
}

/* Returns whether the peer is there; *pos is its index, or where it
 * would be inserted. */
static gboolean torrent_find(const Torrent *t, const guint8 *peer_id,
			     gint64 user_id, guint *pos)
{
	guint lo = 0, hi = t->n_peers;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		int c = peer_cmp(&t->peers[mid], peer_id, user_id);

		if (c == 0) {
			*pos = mid;
			return TRUE;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return FALSE;
}

static void torrent_resize(Torrent *t, guint capacity)
{
	t->peers = g_renew(Peer, t->peers, capacity);
	t->capacity = capacity;
}

/* Gives memory back once a swarm has shrunk to a quarter of its array,
 * so that a crowd that came and went does not pin it. */
static void torrent_maybe_shrink(Torrent *t)
{
	guint capacity = t->capacity;

	while (capacity > MIN_CAPACITY && t->n_peers < capacity / 4)
		capacity /= 2;
	if (capacity != t->capacity)
		torrent_resize(t, MAX(capacity, MIN_CAPACITY));
}

static Peer *torrent_insert(Torrent *t, guint pos)
{
	if (t->n_peers == t->capacity)
		torrent_resize(t, MAX(t->capacity * 2, MIN_CAPACITY));
	memmove(&t->peers[pos + 1], &t->peers[pos],
		(t->n_peers - pos) * sizeof(Peer));
	t->n_peers++;
	return &t->peers[pos];
}

static void torrent_remove(Torrent *t, guint pos)
{
	t->seeders -= t->peers[pos].seeder;
	t->n_peers--;
	memmove(&t->peers[pos], &t->peers[pos + 1],
		(t->n_peers - pos) * sizeof(Peer));
	torrent_maybe_shrink(t);
}

static void peer_set(Torrent *t, Peer *p, const TrackerSwarmAnnounce *a,
		     gint64 now)
{
	gboolean seeder = a->left == 0;

	if (seeder && !p->seeder)
		t->seeders++;
	else if (!seeder && p->seeder)
		t->seeders--;
	p->seeder = seeder;
	memcpy(p->compact, a->ipv4, 4);
	p->compact[4] = a->port >> 8;
	p->compact[5] = a->port & 0xff;
	p->last_seen = now;
}

static void swarm_stop(TrackerSwarm *sw, const TrackerSwarmAnnounce *a)
{
	Torrent *t = g_hash_table_lookup(sw->torrents, a->info_hash);
	guint pos;

	if (t == NULL || !torrent_find(t, a->peer_id, a->user_id, &pos))
		return;
	torrent_remove(t, pos);
	sw->n_peers--;
	if (t->n_peers == 0)
		g_hash_table_remove(sw->torrents, t->info_hash);
}

static Torrent *swarm_add_torrent(TrackerSwarm *sw, const guint8 *info_hash)
{
	Torrent *t = g_new0(Torrent, 1);

	memcpy(t->info_hash, info_hash, HASH_LEN);
	g_hash_table_insert(sw->torrents, t->info_hash, t);
	return t;
}

static gboolean swarm_full(const TrackerSwarm *sw, const Torrent *t)
{
	guint torrent_peers = t != NULL ? t->n_peers : 0;

	return torrent_peers >= sw->max_torrent_peers ||
	       sw->n_peers >= sw->max_peers;
}

gboolean tracker_swarm_update(TrackerSwarm *sw, const TrackerSwarmAnnounce *a,
			      gint64 now)
{
	Torrent *t;
	Peer *p;
	guint pos = 0;

	if (a->event == TRACKER_SWARM_EVENT_STOPPED) {
		swarm_stop(sw, a);
		return TRUE;
	}
	t = g_hash_table_lookup(sw->torrents, a->info_hash);
	if (t != NULL && torrent_find(t, a->peer_id, a->user_id, &pos)) {
		peer_set(t, &t->peers[pos], a, now);
		return TRUE;
	}
	if (swarm_full(sw, t))
		return FALSE;
	if (t == NULL)
		t = swarm_add_torrent(sw, a->info_hash);
	p = torrent_insert(t, pos);
	memcpy(p->peer_id, a->peer_id, HASH_LEN);
	p->user_id = a->user_id;
	p->seeder = FALSE;
	peer_set(t, p, a, now);
	sw->n_peers++;
	return TRUE;
}

static gboolean peer_wanted(const Peer *p, const guint8 *self_peer_id,
			    TrackerSwarmFilter filter, gpointer data)
{
	if (self_peer_id != NULL &&
	    memcmp(p->peer_id, self_peer_id, HASH_LEN) == 0)
		return FALSE;
	return filter == NULL || filter(p->user_id, data);
}

guint tracker_swarm_get_peers(TrackerSwarm *sw, const guint8 *info_hash,
			      const guint8 *self_peer_id, guint numwant,
			      TrackerSwarmFilter filter, gpointer data,
			      GByteArray *out, guint *complete,
			      guint *incomplete)
{
	Torrent *t = g_hash_table_lookup(sw->torrents, info_hash);
	guint added = 0, start, i;

	*complete = t != NULL ? t->seeders : 0;
	*incomplete = t != NULL ? t->n_peers - t->seeders : 0;
	if (t == NULL || numwant == 0)
		return 0;
	/* A random starting point, wrapping round: each peer is as likely
	 * as any other to head the run, at the cost of one random number. */
	start = g_rand_int_range(sw->rand, 0, (gint32)t->n_peers);
	for (i = 0; i < t->n_peers && added < numwant; i++) {
		const Peer *p = &t->peers[(start + i) % t->n_peers];

		if (!peer_wanted(p, self_peer_id, filter, data))
			continue;
		g_byte_array_append(out, p->compact, sizeof(p->compact));
		added++;
	}
	return added;
}

guint tracker_swarm_count_seeders(TrackerSwarm *sw, const guint8 *info_hash)
{
	Torrent *t = g_hash_table_lookup(sw->torrents, info_hash);

	return t != NULL ? t->seeders : 0;
}

/* Drops the peers last seen at or before @cutoff, compacting the array
 * in place, which keeps it sorted. Returns how many. */
static guint torrent_expire(Torrent *t, gint64 cutoff)
{
	guint kept = 0, dropped, i;

	t->seeders = 0;
	for (i = 0; i < t->n_peers; i++) {
		if (t->peers[i].last_seen <= cutoff)
			continue;
		t->seeders += t->peers[i].seeder;
		t->peers[kept++] = t->peers[i];
	}
	dropped = t->n_peers - kept;
	t->n_peers = kept;
	torrent_maybe_shrink(t);
	return dropped;
}

guint tracker_swarm_expire(TrackerSwarm *sw, gint64 now)
{
	GHashTableIter iter;
	gpointer value;
	guint dropped = 0;

	g_hash_table_iter_init(&iter, sw->torrents);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Torrent *t = value;

		dropped += torrent_expire(t, now - sw->peer_ttl);
		if (t->n_peers == 0)
			g_hash_table_iter_remove(&iter);
	}
	sw->n_peers -= dropped;
	return dropped;
}
