/* test-swarm: the tracker's in-memory swarms, checked case by case and
 * against a plain reference model under random operations. */
#include "swarm.h"

#include <string.h>

#define TTL 60

typedef struct {
	guint8 info_hash[20];
	guint8 peer_id[20];
	TrackerSwarmAnnounce a;
} Announce;

/* Distinct 20-byte ids: @n spread over the bytes so that the sort order
 * of the swarm's array differs from the order of @n. */
static void id_fill(guint8 *out, guint8 tag, guint n)
{
	memset(out, tag, 20);
	out[0] = (guint8)(n * 37);
	out[1] = (guint8)(n >> 8);
	out[2] = (guint8)n;
}

/* Peer @n of torrent @torrent, user @user, at 10.0.hi.lo:(6000 + n). */
static void announce_init(Announce *an, guint torrent, guint n, gint64 user,
			  guint64 left, TrackerSwarmEvent event)
{
	id_fill(an->info_hash, 0xaa, torrent);
	id_fill(an->peer_id, 0x55, n);
	an->a = (TrackerSwarmAnnounce){
		.info_hash = an->info_hash,
		.peer_id = an->peer_id,
		.user_id = user,
		.ipv4 = {10, 0, (guint8)(n >> 8), (guint8)n},
		.port = (guint16)(6000 + n),
		.left = left,
		.event = event,
	};
}

static gboolean announce(TrackerSwarm *sw, guint torrent, guint n, gint64 user,
			 guint64 left, TrackerSwarmEvent event, gint64 now)
{
	Announce an;

	announce_init(&an, torrent, n, user, left, event);
	return tracker_swarm_update(sw, &an.a, now);
}

/* The peer number a compact entry names, from its address. */
static guint compact_peer(const guint8 *c)
{
	return (guint)c[2] << 8 | c[3];
}

typedef struct {
	guint n_peers;
	guint complete;
	guint incomplete;
	guint8 compact[1024 * 6];
} Reply;

static void get_peers(TrackerSwarm *sw, guint torrent, gint self, guint numwant,
		      TrackerSwarmFilter filter, gpointer data, Reply *r)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	guint8 info_hash[20], self_id[20];

	id_fill(info_hash, 0xaa, torrent);
	id_fill(self_id, 0x55, (guint)self);
	r->n_peers = tracker_swarm_get_peers(
		sw, info_hash, self >= 0 ? self_id : NULL, numwant, filter,
		data, out, &r->complete, &r->incomplete);
	g_assert_cmpuint(out->len, ==, r->n_peers * 6);
	g_assert_cmpuint(out->len, <=, sizeof(r->compact));
	if (out->len > 0)
		memcpy(r->compact, out->data, out->len);
}

static gboolean reply_has(const Reply *r, guint n)
{
	for (guint i = 0; i < r->n_peers; i++)
		if (compact_peer(&r->compact[i * 6]) == n)
			return TRUE;
	return FALSE;
}

static void test_add_refresh_stop(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Announce an;
	Reply r;

	g_assert_true(
		announce(sw, 1, 1, 7, 100, TRACKER_SWARM_EVENT_STARTED, 0));
	g_assert_true(announce(sw, 1, 2, 7, 100, TRACKER_SWARM_EVENT_NONE, 0));
	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 2);
	g_assert_cmpuint(r.incomplete, ==, 2);

	/* A refresh from a new address replaces the record, never adds. */
	announce_init(&an, 1, 1, 7, 100, TRACKER_SWARM_EVENT_NONE);
	an.a.port = 7777;
	g_assert_true(tracker_swarm_update(sw, &an.a, 5));
	get_peers(sw, 1, 2, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 1);
	g_assert_cmpuint(r.compact[4] << 8 | r.compact[5], ==, 7777);

	g_assert_true(
		announce(sw, 1, 1, 7, 100, TRACKER_SWARM_EVENT_STOPPED, 6));
	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 1);
	g_assert_true(reply_has(&r, 2));
	g_assert_cmpuint(r.incomplete, ==, 1);

	/* Stopping what is not there is harmless, and creates nothing. */
	g_assert_true(announce(sw, 9, 1, 7, 0, TRACKER_SWARM_EVENT_STOPPED, 6));
	get_peers(sw, 9, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.complete + r.incomplete + r.n_peers, ==, 0);
}

static void test_compact_format(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	g_autoptr(GByteArray) out = g_byte_array_new();
	const guint8 want[6] = {192, 168, 1, 2, 0x1a, 0xe1};
	guint complete, incomplete;
	Announce an;

	announce_init(&an, 1, 1, 7, 0, TRACKER_SWARM_EVENT_STARTED);
	memcpy(an.a.ipv4, want, 4);
	an.a.port = 6881;
	g_assert_true(tracker_swarm_update(sw, &an.a, 0));
	g_assert_cmpuint(tracker_swarm_get_peers(sw, an.info_hash, NULL, 10,
						 NULL, NULL, out, &complete,
						 &incomplete),
			 ==, 1);
	g_assert_cmpmem(out->data, out->len, want, sizeof(want));
}

/* A peer is known by peer_id and user together: another user using the
 * same peer_id neither replaces nor stops it. */
static void test_peer_belongs_to_user(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Reply r;

	g_assert_true(announce(sw, 1, 1, 7, 0, TRACKER_SWARM_EVENT_STARTED, 0));
	g_assert_true(announce(sw, 1, 1, 8, 0, TRACKER_SWARM_EVENT_STOPPED, 0));
	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 1);

	g_assert_true(announce(sw, 1, 1, 8, 5, TRACKER_SWARM_EVENT_STARTED, 0));
	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.complete, ==, 1);
	g_assert_cmpuint(r.incomplete, ==, 1);
}

static void test_counts(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	guint8 info_hash[20];
	Reply r;

	g_assert_true(announce(sw, 1, 1, 7, 0, TRACKER_SWARM_EVENT_STARTED, 0));
	g_assert_true(
		announce(sw, 1, 2, 7, 10, TRACKER_SWARM_EVENT_STARTED, 0));
	g_assert_true(
		announce(sw, 1, 3, 8, 10, TRACKER_SWARM_EVENT_STARTED, 0));
	get_peers(sw, 1, -1, 0, NULL, NULL, &r);
	g_assert_cmpuint(r.complete, ==, 1);
	g_assert_cmpuint(r.incomplete, ==, 2);

	g_assert_true(
		announce(sw, 1, 2, 7, 0, TRACKER_SWARM_EVENT_COMPLETED, 1));
	get_peers(sw, 1, -1, 0, NULL, NULL, &r);
	g_assert_cmpuint(r.complete, ==, 2);
	g_assert_cmpuint(r.incomplete, ==, 1);
	g_assert_cmpuint(r.n_peers, ==, 0);

	/* A repeated COMPLETED counts once; a seeder that stops leaves. */
	g_assert_true(
		announce(sw, 1, 2, 7, 0, TRACKER_SWARM_EVENT_COMPLETED, 2));
	g_assert_true(announce(sw, 1, 1, 7, 0, TRACKER_SWARM_EVENT_STOPPED, 2));
	id_fill(info_hash, 0xaa, 1);
	g_assert_cmpuint(tracker_swarm_count_seeders(sw, info_hash), ==, 1);
	id_fill(info_hash, 0xaa, 2);
	g_assert_cmpuint(tracker_swarm_count_seeders(sw, info_hash), ==, 0);
	get_peers(sw, 1, -1, 0, NULL, NULL, &r);
	g_assert_cmpuint(r.complete, ==, 1);
	g_assert_cmpuint(r.incomplete, ==, 1);
}

static void test_exclude_self(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Reply r;

	for (guint n = 0; n < 5; n++)
		g_assert_true(announce(sw, 1, n, 7, 1,
				       TRACKER_SWARM_EVENT_STARTED, 0));
	for (guint i = 0; i < 50; i++) {
		get_peers(sw, 1, 3, 4, NULL, NULL, &r);
		g_assert_cmpuint(r.n_peers, ==, 4);
		g_assert_false(reply_has(&r, 3));
	}
}

static gboolean only_even_users(gint64 user_id, gpointer data)
{
	guint *calls = data;

	(*calls)++;
	return user_id % 2 == 0;
}

static void test_filter(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	guint calls = 0;
	Reply r;

	for (guint n = 0; n < 20; n++)
		g_assert_true(announce(sw, 1, n, n % 4, 1,
				       TRACKER_SWARM_EVENT_STARTED, 0));
	get_peers(sw, 1, -1, 100, only_even_users, &calls, &r);
	g_assert_cmpuint(r.n_peers, ==, 10);
	g_assert_cmpuint(calls, ==, 20);
	for (guint i = 0; i < r.n_peers; i++)
		g_assert_cmpuint(compact_peer(&r.compact[i * 6]) % 2, ==, 0);
	/* Counts are of the whole swarm, filtered or not. */
	g_assert_cmpuint(r.incomplete, ==, 20);
}

static void test_numwant_bounds(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Reply r;

	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 0);
	for (guint n = 0; n < 30; n++)
		g_assert_true(announce(sw, 1, n, 7, 1,
				       TRACKER_SWARM_EVENT_STARTED, 0));
	get_peers(sw, 1, -1, 0, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 0);
	get_peers(sw, 1, -1, 1, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 1);
	get_peers(sw, 1, -1, 29, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 29);
	get_peers(sw, 1, -1, 30, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 30);
	get_peers(sw, 1, -1, 1000, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 30);
	for (guint n = 0; n < 30; n++)
		g_assert_true(reply_has(&r, n));
	get_peers(sw, 1, 0, 1000, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 29);
}

/* Asking for few of many peers, again and again, reaches all of them,
 * and no reply names a peer twice. */
static void test_random_coverage(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	gboolean seen[200] = {FALSE};
	guint n_seen = 0;
	Reply r;

	for (guint n = 0; n < G_N_ELEMENTS(seen); n++)
		g_assert_true(announce(sw, 1, n, 7, 1,
				       TRACKER_SWARM_EVENT_STARTED, 0));
	for (guint call = 0; call < 2000 && n_seen < G_N_ELEMENTS(seen);
	     call++) {
		g_autoptr(GHashTable) once = g_hash_table_new(NULL, NULL);

		get_peers(sw, 1, -1, 5, NULL, NULL, &r);
		g_assert_cmpuint(r.n_peers, ==, 5);
		for (guint i = 0; i < r.n_peers; i++) {
			guint n = compact_peer(&r.compact[i * 6]);

			g_assert_cmpuint(n, <, G_N_ELEMENTS(seen));
			g_assert_true(
				g_hash_table_add(once, GUINT_TO_POINTER(n)));
			n_seen += !seen[n];
			seen[n] = TRUE;
		}
	}
	g_assert_cmpuint(n_seen, ==, G_N_ELEMENTS(seen));
}

static void test_expiry(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Reply r;

	g_assert_true(
		announce(sw, 1, 1, 7, 0, TRACKER_SWARM_EVENT_STARTED, 1000));
	g_assert_true(
		announce(sw, 1, 2, 7, 5, TRACKER_SWARM_EVENT_STARTED, 1000));
	g_assert_true(
		announce(sw, 2, 3, 7, 5, TRACKER_SWARM_EVENT_STARTED, 1000));
	g_assert_true(announce(sw, 1, 2, 7, 5, TRACKER_SWARM_EVENT_NONE, 1030));

	g_assert_cmpuint(tracker_swarm_expire(sw, 1000 + TTL - 1), ==, 0);
	g_assert_cmpuint(tracker_swarm_expire(sw, 1000 + TTL), ==, 2);
	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers, ==, 1);
	g_assert_true(reply_has(&r, 2));
	g_assert_cmpuint(r.complete, ==, 0);
	g_assert_cmpuint(r.incomplete, ==, 1);
	get_peers(sw, 2, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers + r.incomplete, ==, 0);

	g_assert_cmpuint(tracker_swarm_expire(sw, 1030 + TTL), ==, 1);
	get_peers(sw, 1, -1, 50, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers + r.incomplete + r.complete, ==, 0);
	g_assert_cmpuint(tracker_swarm_expire(sw, 1 << 30), ==, 0);
}

static void test_torrent_cap(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	guint n;
	Reply r;

	for (n = 0; n < TRACKER_SWARM_MAX_TORRENT_PEERS; n++)
		g_assert_true(announce(sw, 1, n, 7, 1,
				       TRACKER_SWARM_EVENT_STARTED, 0));
	g_assert_false(
		announce(sw, 1, n, 7, 1, TRACKER_SWARM_EVENT_STARTED, 0));
	/* Known peers still refresh; other torrents still take peers. */
	g_assert_true(announce(sw, 1, 0, 7, 0, TRACKER_SWARM_EVENT_NONE, 0));
	g_assert_true(announce(sw, 2, n, 7, 1, TRACKER_SWARM_EVENT_STARTED, 0));
	get_peers(sw, 1, -1, 0, NULL, NULL, &r);
	g_assert_cmpuint(r.complete + r.incomplete, ==,
			 TRACKER_SWARM_MAX_TORRENT_PEERS);
	g_assert_cmpuint(r.complete, ==, 1);

	g_assert_true(announce(sw, 1, 5, 7, 1, TRACKER_SWARM_EVENT_STOPPED, 0));
	g_assert_true(announce(sw, 1, n, 7, 1, TRACKER_SWARM_EVENT_STARTED, 0));
}

static void test_total_cap(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Reply r;

	tracker_swarm_set_limits(sw, 3, 5);
	for (guint n = 0; n < 5; n++)
		g_assert_true(announce(sw, n / 2, n, 7, 1,
				       TRACKER_SWARM_EVENT_STARTED, 0));
	g_assert_false(
		announce(sw, 1, 99, 7, 1, TRACKER_SWARM_EVENT_STARTED, 0));
	/* A refused peer of a new torrent leaves no empty torrent behind. */
	g_assert_false(
		announce(sw, 9, 99, 7, 1, TRACKER_SWARM_EVENT_STARTED, 0));
	get_peers(sw, 9, -1, 10, NULL, NULL, &r);
	g_assert_cmpuint(r.n_peers + r.incomplete, ==, 0);

	g_assert_cmpuint(tracker_swarm_expire(sw, TTL), ==, 5);
	g_assert_true(
		announce(sw, 9, 99, 7, 1, TRACKER_SWARM_EVENT_STARTED, 0));
}

/* The reference model: every (torrent, peer, user) slot of a small
 * universe, so that collisions, stops and caps happen often. */
#define M_TORRENTS 3
#define M_PEERS 10
#define M_USERS 3
#define M_TORRENT_CAP 20
#define M_TOTAL_CAP 45

typedef struct {
	gboolean present;
	gboolean seeder;
	guint16 port;
	gint64 last_seen;
} Slot;

typedef struct {
	Slot slot[M_TORRENTS][M_PEERS][M_USERS];
} Model;

static guint model_count(const Model *m, gint torrent, gboolean seeders_only)
{
	guint count = 0;

	for (guint t = 0; t < M_TORRENTS; t++)
		for (guint p = 0; p < M_PEERS; p++)
			for (guint u = 0; u < M_USERS; u++) {
				const Slot *s = &m->slot[t][p][u];

				if ((torrent < 0 || (guint)torrent == t) &&
				    s->present && (!seeders_only || s->seeder))
					count++;
			}
	return count;
}

/* Slot (t, p, u) announces peer_id p, shared by all users, from an
 * address naming p * M_USERS + u, so that a compact entry names its
 * slot. */
static void model_update(TrackerSwarm *sw, Model *m, gint64 now)
{
	guint t = g_test_rand_int_range(0, M_TORRENTS);
	guint p = g_test_rand_int_range(0, M_PEERS);
	guint u = g_test_rand_int_range(0, M_USERS);
	TrackerSwarmEvent ev = g_test_rand_int_range(0, 4);
	guint64 left = g_test_rand_bit() ? 0 : 1000;
	Slot *s = &m->slot[t][p][u];
	gboolean full, ok;
	Announce an;

	announce_init(&an, t, p * M_USERS + u, u, left, ev);
	id_fill(an.peer_id, 0x55, p);
	an.a.port = g_test_rand_int_range(1, 65536);
	ok = tracker_swarm_update(sw, &an.a, now);
	if (ev == TRACKER_SWARM_EVENT_STOPPED) {
		g_assert_true(ok);
		s->present = FALSE;
		return;
	}
	full = model_count(m, t, FALSE) >= M_TORRENT_CAP ||
	       model_count(m, -1, FALSE) >= M_TOTAL_CAP;
	g_assert_cmpint(ok, ==, s->present || !full);
	if (ok)
		*s = (Slot){TRUE, left == 0, an.a.port, now};
}

static gboolean model_filter(gint64 user_id, gpointer data)
{
	return user_id != GPOINTER_TO_INT(data);
}

static void model_get_peers(TrackerSwarm *sw, const Model *m)
{
	guint t = g_test_rand_int_range(0, M_TORRENTS);
	gint self = g_test_rand_int_range(-1, M_PEERS);
	gint banned = g_test_rand_int_range(-1, M_USERS);
	guint numwant = g_test_rand_int_range(0, 2 * M_TORRENT_CAP);
	guint qualifying = 0;
	Reply r;

	get_peers(sw, t, self, numwant, model_filter, GINT_TO_POINTER(banned),
		  &r);
	g_assert_cmpuint(r.complete, ==, model_count(m, t, TRUE));
	g_assert_cmpuint(r.complete + r.incomplete, ==,
			 model_count(m, t, FALSE));
	for (guint n = 0; n < M_PEERS * M_USERS; n++) {
		const Slot *s = &m->slot[t][n / M_USERS][n % M_USERS];
		gboolean wanted = s->present && (gint)(n / M_USERS) != self &&
				  (gint)(n % M_USERS) != banned;

		qualifying += wanted;
		if (reply_has(&r, n))
			g_assert_true(wanted);
	}
	g_assert_cmpuint(r.n_peers, ==, MIN(numwant, qualifying));
	for (guint i = 0; i < r.n_peers; i++) {
		const guint8 *c = &r.compact[i * 6];
		guint n = compact_peer(c);
		const Slot *s = &m->slot[t][n / M_USERS][n % M_USERS];

		g_assert_cmpuint(c[4] << 8 | c[5], ==, s->port);
	}
}

static void model_expire(TrackerSwarm *sw, Model *m, gint64 now)
{
	guint dropped = 0;

	for (guint t = 0; t < M_TORRENTS; t++)
		for (guint p = 0; p < M_PEERS; p++)
			for (guint u = 0; u < M_USERS; u++) {
				Slot *s = &m->slot[t][p][u];

				if (s->present && now - s->last_seen >= TTL) {
					s->present = FALSE;
					dropped++;
				}
			}
	g_assert_cmpuint(tracker_swarm_expire(sw, now), ==, dropped);
}

static void test_against_model(void)
{
	g_autoptr(TrackerSwarm) sw = tracker_swarm_new(TTL);
	Model m = {0};
	gint64 now = 1;

	tracker_swarm_set_limits(sw, M_TORRENT_CAP, M_TOTAL_CAP);
	for (guint op = 0; op < 10000; op++) {
		guint dice = g_test_rand_int_range(0, 100);

		now += g_test_rand_int_range(0, 2);
		if (dice < 60)
			model_update(sw, &m, now);
		else if (dice < 97)
			model_get_peers(sw, &m);
		else
			model_expire(sw, &m, now);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/swarm/add-refresh-stop",
			test_add_refresh_stop);
	g_test_add_func("/tracker/swarm/compact-format", test_compact_format);
	g_test_add_func("/tracker/swarm/peer-belongs-to-user",
			test_peer_belongs_to_user);
	g_test_add_func("/tracker/swarm/counts", test_counts);
	g_test_add_func("/tracker/swarm/exclude-self", test_exclude_self);
	g_test_add_func("/tracker/swarm/filter", test_filter);
	g_test_add_func("/tracker/swarm/numwant-bounds", test_numwant_bounds);
	g_test_add_func("/tracker/swarm/random-coverage", test_random_coverage);
	g_test_add_func("/tracker/swarm/expiry", test_expiry);
	g_test_add_func("/tracker/swarm/torrent-cap", test_torrent_cap);
	g_test_add_func("/tracker/swarm/total-cap", test_total_cap);
	g_test_add_func("/tracker/swarm/against-model", test_against_model);
	return g_test_run();
}
