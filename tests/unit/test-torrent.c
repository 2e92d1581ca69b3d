/* Tests for net/torrent and net/accept: whole swarms in one process,
 * over real TLS connections on 127.0.0.1, with stores in a temporary
 * folder. Seeders import a pseudo-random source file; leechers start
 * empty. Faulty peers are real ones with a damaged store, a fake peer
 * that takes requests and never answers, a seeder freed mid-transfer,
 * and a member whose certificate is fine but who is not in the group.
 * Every wait is bounded and fails the test when it runs out. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "accept.h"
#include "conn.h"
#include "listener.h"
#include "net-error.h"
#include "peer.h"
#include "piece-hash.h"
#include "test-pki.h"
#include "torrent.h"

#define WAIT_SECONDS 60
#define MAX_MEMBERS 4
#define MiB (1024 * 1024)
/* Short enough that the fault tests run in a second or two. */
#define TEST_REQUEST_TIMEOUT_MS 1000

typedef struct _Fixture Fixture;

/* One member's daemon: its certificate, torrent and listener. */
typedef struct {
	Fixture *f;
	char *user;
	NetTlsContext *tls;
	NetTorrent *torrent;
	NetAcceptor *acceptor;
	guint8 peer_id[20];
	guint completed;
} Member;

struct _Fixture {
	TestPki pki;
	char *dir;
	char *source;
	guint64 length;
	NetMetainfo *mi;
	Member members[MAX_MEMBERS];
	guint n_members;
	/* Users that is_member refuses, and how often it did. */
	GPtrArray *outsiders;
	guint refusals;
};

/* ---- the source file ------------------------------------------------ */

static void fill_pattern(guint8 *buf, gsize len, guint64 *state)
{
	for (gsize i = 0; i < len; i++) {
		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		buf[i] = (guint8)(*state >> 32);
	}
}

static void write_source(Fixture *f, guint64 length)
{
	g_autofree guint8 *buf = g_malloc(MiB);
	guint64 state = 0x9e3779b97f4a7c15ull;
	int fd;

	f->source = g_build_filename(f->dir, "source.bin", NULL);
	f->length = length;
	fd = open(f->source, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	g_assert_cmpint(fd, >=, 0);
	for (guint64 done = 0; done < length;) {
		gsize n = (gsize)MIN(length - done, (guint64)MiB);
		fill_pattern(buf, n, &state);
		g_assert_cmpint(write(fd, buf, n), ==, (gssize)n);
		done += n;
	}
	g_assert_cmpint(close(fd), ==, 0);
}

static GBytes *piece_hashes(const NetMetainfo *mi)
{
	guint32 n = net_metainfo_get_piece_count(mi);
	GByteArray *all = g_byte_array_sized_new(n * 20);

	for (guint32 i = 0; i < n; i++)
		g_byte_array_append(all, net_metainfo_get_piece_hash(mi, i),
				    20);
	return g_byte_array_free_to_bytes(all);
}

/* ---- members -------------------------------------------------------- */

static gboolean is_member(const char *user, gpointer data)
{
	Fixture *f = data;

	for (guint i = 0; i < f->outsiders->len; i++) {
		if (g_str_equal(f->outsiders->pdata[i], user)) {
			f->refusals++;
			return FALSE;
		}
	}
	return TRUE;
}

static void on_complete(NetTorrent *torrent, gpointer data)
{
	Fixture *f = data;

	for (guint i = 0; i < f->n_members; i++)
		if (f->members[i].torrent == torrent)
			f->members[i].completed++;
}

static NetTorrent *lookup(const guint8 *info_hash, gpointer data)
{
	Member *m = data;
	const NetMetainfo *mi = net_torrent_get_metainfo(m->torrent);

	return memcmp(info_hash, net_metainfo_get_info_hash(mi), 20) == 0
		       ? m->torrent
		       : NULL;
}

static NetStore *open_store(Fixture *f, const char *user, gboolean seed)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_build_filename(f->dir, user, NULL);
	g_autoptr(GBytes) hashes = piece_hashes(f->mi);
	const guint8 *hash = net_metainfo_get_info_hash(f->mi);
	guint32 plen = net_metainfo_get_piece_length(f->mi);
	NetStore *store = seed ? net_store_import(dir, hash, plen, f->length,
						  hashes, f->source, &error)
			       : net_store_open(dir, hash, plen, f->length,
						hashes, &error);

	g_assert_no_error(error);
	return store;
}

/* A member named @user with a listener on 127.0.0.1; a seeder has the
 * whole file. */
static Member *add_member(Fixture *f, const char *user, gboolean seed)
{
	g_autoptr(GError) error = NULL;
	Member *m = &f->members[f->n_members++];
	NetTorrentConfig config = {
		.peer_id = m->peer_id,
		.is_member = is_member,
		.on_complete = on_complete,
		.data = f,
		.request_timeout_ms = TEST_REQUEST_TIMEOUT_MS,
	};

	g_assert_cmpuint(f->n_members, <=, MAX_MEMBERS);
	m->f = f;
	m->user = g_strdup(user);
	test_pki_issue(&f->pki, f->pki.ca, user, user);
	m->tls = test_pki_context(&f->pki, user);
	g_snprintf((char *)m->peer_id, sizeof m->peer_id, "-GF0001-%s", user);
	config.tls = m->tls;
	m->torrent = net_torrent_new(
		net_metainfo_new_from_info(net_metainfo_get_info(f->mi), NULL),
		open_store(f, user, seed), &config);
	m->acceptor = net_acceptor_new(m->tls, "127.0.0.1:0", m->peer_id,
				       lookup, m, &error);
	g_assert_no_error(error);
	return m;
}

static void remove_member(Member *m)
{
	g_clear_pointer(&m->acceptor, net_acceptor_free);
	g_clear_pointer(&m->torrent, net_torrent_free);
}

static GInetSocketAddress *loopback(guint16 port)
{
	return G_INET_SOCKET_ADDRESS(
		g_inet_socket_address_new_from_string("127.0.0.1", port));
}

/* @from connects to @port on 127.0.0.1. */
static void connect_port(Member *from, guint16 port)
{
	g_autoptr(GPtrArray) addresses =
		g_ptr_array_new_with_free_func(g_object_unref);

	g_ptr_array_add(addresses, loopback(port));
	net_torrent_add_peers(from->torrent, addresses);
}

static void connect_to(Member *from, Member *to)
{
	connect_port(from, net_acceptor_get_port(to->acceptor));
}

static void fixture_set_up(Fixture *f, guint64 length)
{
	g_autoptr(GError) error = NULL;

	test_pki_init(&f->pki);
	f->dir = g_dir_make_tmp("test-torrent-XXXXXX", &error);
	g_assert_no_error(error);
	write_source(f, length);
	f->mi = net_metainfo_new_from_file(f->source, NULL, 0, &error);
	g_assert_no_error(error);
	f->outsiders = g_ptr_array_new_with_free_func(g_free);
}

static void fixture_tear_down(Fixture *f)
{
	for (guint i = 0; i < f->n_members; i++) {
		remove_member(&f->members[i]);
		net_tls_context_unref(f->members[i].tls);
		g_free(f->members[i].user);
	}
	/* Let the connections' last sources go. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_ptr_array_unref(f->outsiders);
	net_metainfo_free(f->mi);
	test_pki_remove_tree(f->dir);
	g_free(f->dir);
	g_free(f->source);
	test_pki_clear(&f->pki);
}

/* ---- waiting -------------------------------------------------------- */

typedef gboolean (*Condition)(gpointer data);

static gboolean on_wait_tick(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the loop until @cond holds, failing the test after @seconds. */
static void wait_for(Condition cond, gpointer data, guint seconds,
		     const char *what)
{
	gint64 deadline = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
	guint wake = g_timeout_add(20, on_wait_tick, NULL);

	while (!cond(data)) {
		if (g_get_monotonic_time() > deadline)
			g_error("Timed out waiting for %s", what);
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(wake);
}

static gboolean never(gpointer data)
{
	return FALSE;
}

/* Runs the loop for @ms: for checking that something does NOT happen. */
static void run_for(guint ms)
{
	gint64 until = g_get_monotonic_time() + ms * 1000;
	guint wake = g_timeout_add(10, on_wait_tick, NULL);

	while (g_get_monotonic_time() < until)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(wake);
	(void)never;
}

static gboolean is_complete(gpointer data)
{
	Member *m = data;

	return m->completed > 0;
}

static NetTorrentStats stats_of(Member *m)
{
	NetTorrentStats stats;

	net_torrent_get_stats(m->torrent, &stats);
	return stats;
}

static gboolean has_no_peers(gpointer data)
{
	return stats_of(data).peers == 0;
}

static gboolean has_peers(gpointer data)
{
	return stats_of(data).peers > 0;
}

/* The leecher's data file holds the source's bytes. */
static void assert_same_bytes(Member *m)
{
	Fixture *f = m->f;
	NetStore *store = net_torrent_get_store(m->torrent);
	int fd = net_store_get_data_fd(store);
	int src = open(f->source, O_RDONLY);
	g_autofree guint8 *a = g_malloc(MiB);
	g_autofree guint8 *b = g_malloc(MiB);

	g_assert_cmpint(src, >=, 0);
	for (guint64 off = 0; off < f->length; off += MiB) {
		gsize n = (gsize)MIN((guint64)MiB, f->length - off);
		g_assert_cmpint(pread(fd, a, n, (off_t)off), ==, (gssize)n);
		g_assert_cmpint(pread(src, b, n, (off_t)off), ==, (gssize)n);
		g_assert_true(memcmp(a, b, n) == 0);
	}
	close(src);
}

static void assert_complete(Member *m)
{
	NetTorrentStats stats = stats_of(m);

	g_assert_cmpuint(m->completed, ==, 1);
	g_assert_cmpuint(stats.left, ==, 0);
	g_assert_cmpuint(stats.pieces_verified, ==, stats.piece_count);
	g_assert_true(net_torrent_range_ready(m->torrent, 0, stats.length));
	assert_same_bytes(m);
}

/* ---- transfers ------------------------------------------------------ */

static void test_one_seeder(void)
{
	Fixture f = {0};
	Member *seeder, *leecher;
	NetTorrentStats stats;

	fixture_set_up(&f, 8 * MiB + 12345);
	seeder = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_set_pinned(leecher->torrent, TRUE);
	connect_to(leecher, seeder);
	wait_for(is_complete, leecher, WAIT_SECONDS, "the download");
	assert_complete(leecher);
	stats = stats_of(leecher);
	g_assert_cmpuint(stats.downloaded, >=, f.length);
	g_assert_cmpuint(stats.peers, ==, 1);
	g_assert_cmpuint(stats.seeders, ==, 1);
	g_assert_cmpuint(stats_of(seeder).uploaded, >=, f.length);
	/* The seeder was complete from the start: no "completed" event. */
	g_assert_cmpuint(seeder->completed, ==, 0);
	fixture_tear_down(&f);
}

/* Pieces come from every seeder at once, and the leecher serves what
 * it verified to a second leecher too. */
static void test_three_seeders(void)
{
	Fixture f = {0};
	Member *leecher;
	guint serving = 0;

	fixture_set_up(&f, 48 * MiB);
	for (guint i = 0; i < 3; i++) {
		g_autofree char *name = g_strdup_printf("seeder%u", i);
		add_member(&f, name, TRUE);
	}
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_set_pinned(leecher->torrent, TRUE);
	for (guint i = 0; i < 3; i++)
		connect_to(leecher, &f.members[i]);
	wait_for(is_complete, leecher, WAIT_SECONDS, "the download");
	assert_complete(leecher);
	for (guint i = 0; i < 3; i++) {
		guint64 up = stats_of(&f.members[i]).uploaded;
		g_test_message("seeder %u sent %" G_GUINT64_FORMAT " bytes", i,
			       up);
		serving += up > 0;
	}
	g_assert_cmpuint(serving, >=, 2);
	fixture_tear_down(&f);
}

static gboolean is_half_done(gpointer data)
{
	Member *m = data;

	return stats_of(m).downloaded >= m->f->length / 4;
}

static void test_seeder_vanishes(void)
{
	Fixture f = {0};
	Member *a, *b, *leecher;

	fixture_set_up(&f, 64 * MiB);
	a = add_member(&f, "alice", TRUE);
	b = add_member(&f, "carol", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_set_pinned(leecher->torrent, TRUE);
	connect_to(leecher, a);
	connect_to(leecher, b);
	wait_for(is_half_done, leecher, WAIT_SECONDS, "a quarter");
	g_assert_cmpuint(leecher->completed, ==, 0);
	remove_member(a);
	wait_for(is_complete, leecher, WAIT_SECONDS, "the download");
	assert_complete(leecher);
	g_assert_cmpuint(stats_of(leecher).peers, ==, 1);
	fixture_tear_down(&f);
}

/* Damages every piece of @m's seed copy behind the store's back. */
static void corrupt_store(Member *m)
{
	NetStore *store = net_torrent_get_store(m->torrent);
	int fd = net_store_get_data_fd(store);
	guint32 plen = net_store_get_piece_length(store);
	guint8 junk[64];

	memset(junk, 0xa5, sizeof junk);
	for (guint32 i = 0; i < net_store_get_piece_count(store); i++)
		g_assert_cmpint(
			pwrite(fd, junk, sizeof junk, (off_t)i * plen + 100),
			==, sizeof junk);
}

static void test_corrupt_seeder(void)
{
	Fixture f = {0};
	Member *bad, *good, *leecher;
	NetTorrentStats stats;

	fixture_set_up(&f, 8 * MiB);
	bad = add_member(&f, "mallory", TRUE);
	good = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	corrupt_store(bad);
	net_torrent_set_pinned(leecher->torrent, TRUE);
	connect_to(leecher, bad);
	wait_for(has_peers, leecher, WAIT_SECONDS, "the bad seeder");
	/* Its pieces fail the hash, and after two it is dropped. */
	wait_for(has_no_peers, leecher, WAIT_SECONDS, "the ban");
	stats = stats_of(leecher);
	g_assert_cmpuint(stats.pieces_verified, ==, 0);
	g_assert_cmpuint(stats.downloaded, >=, 2 * 512 * 1024);
	connect_to(leecher, good);
	wait_for(is_complete, leecher, WAIT_SECONDS, "the download");
	assert_complete(leecher);
	/* Banned: connecting again gets nowhere. */
	connect_to(leecher, bad);
	run_for(300);
	g_assert_cmpuint(stats_of(leecher).peers, ==, 1);
	fixture_tear_down(&f);
}

/* ---- a peer that stalls --------------------------------------------- */

/* A fake seeder: it completes both handshakes, claims every piece,
 * unchokes, and then takes requests without ever answering them. */
typedef struct {
	NetListener *listener;
	NetConn *conn;
	NetPeer *peer;
	NetBitfield *have;
	guint requests;
	guint cancels;
} Staller;

static void staller_flush(Staller *s)
{
	GOutputVector vecs[8];
	guint n;

	while ((n = net_peer_out_peek(s->peer, vecs, G_N_ELEMENTS(vecs)))) {
		gsize total = 0;
		for (guint i = 0; i < n; i++) {
			net_conn_write(s->conn, vecs[i].buffer, vecs[i].size);
			total += vecs[i].size;
		}
		net_peer_out_consume(s->peer, total);
	}
}

static void staller_on_event(NetPeer *peer, const NetPeerEvent *ev,
			     gpointer data)
{
	Staller *s = data;

	if (ev->type == NET_PEER_EVENT_INTERESTED)
		net_peer_set_choking(peer, FALSE);
	else if (ev->type == NET_PEER_EVENT_REQUEST)
		s->requests++;
	else if (ev->type == NET_PEER_EVENT_CANCEL)
		s->cancels++;
}

static void staller_on_data(NetConn *conn, const guint8 *data, gsize len,
			    gpointer user_data)
{
	Staller *s = user_data;

	g_assert_true(net_peer_feed(s->peer, data, len));
	staller_flush(s);
}

static const NetConnCallbacks staller_conn_callbacks = {
	.data = staller_on_data,
};

static void staller_accepted(NetListener *listener, NetConn *conn,
			     gpointer data)
{
	Staller *s = data;

	g_assert_null(s->conn);
	s->conn = conn;
	net_conn_set_callbacks(conn, &staller_conn_callbacks, s);
}

static const NetListenerCallbacks staller_callbacks = {
	.accepted = staller_accepted,
};

static void staller_start(Staller *s, Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetTlsContext) tls = NULL;
	NetPeerConfig config = {.peer_id = "-GF0001-staller-----"};
	NetPeerTorrent desc = {
		.piece_count = net_metainfo_get_piece_count(f->mi),
		.piece_length = net_metainfo_get_piece_length(f->mi),
		.length = f->length,
	};

	test_pki_issue(&f->pki, f->pki.ca, "staller", "staller");
	tls = test_pki_context(&f->pki, "staller");
	memcpy(desc.info_hash, net_metainfo_get_info_hash(f->mi), 20);
	s->have = net_bitfield_new(desc.piece_count);
	net_bitfield_set_all(s->have);
	desc.have = s->have;
	s->peer = net_peer_new_incoming(&config, &desc, staller_on_event, s,
					g_get_monotonic_time());
	s->listener = net_listener_new(tls, "127.0.0.1", 0, &staller_callbacks,
				       s, &error);
	g_assert_no_error(error);
}

static void staller_stop(Staller *s)
{
	g_clear_pointer(&s->listener, net_listener_free);
	g_clear_pointer(&s->conn, net_conn_unref);
	g_clear_pointer(&s->peer, net_peer_free);
	g_clear_pointer(&s->have, net_bitfield_free);
}

static gboolean staller_has_requests(gpointer data)
{
	Staller *s = data;

	return s->requests > 0;
}

static gboolean staller_all_cancelled(gpointer data)
{
	Staller *s = data;

	/* One probe request may follow the cancels. */
	return s->cancels > 0 && s->cancels + 1 >= s->requests;
}

static void test_stalled_seeder(void)
{
	Fixture f = {0};
	Staller s = {0};
	Member *good, *leecher;

	fixture_set_up(&f, 8 * MiB);
	staller_start(&s, &f);
	good = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_set_pinned(leecher->torrent, TRUE);
	connect_port(leecher, net_listener_get_port(s.listener));
	wait_for(staller_has_requests, &s, WAIT_SECONDS, "requests");
	/* With nobody else to ask, only the timeout can cancel them. */
	wait_for(staller_all_cancelled, &s, WAIT_SECONDS, "the cancels");
	g_test_message("the stalled peer got %u requests and %u cancels",
		       s.requests, s.cancels);
	connect_to(leecher, good);
	wait_for(is_complete, leecher, WAIT_SECONDS, "the download");
	assert_complete(leecher);
	fixture_tear_down(&f);
	staller_stop(&s);
}

/* ---- membership ----------------------------------------------------- */

static gboolean was_refused(gpointer data)
{
	Fixture *f = data;

	return f->refusals > 0;
}

/* Mallory's certificate is valid, but she is not in the group: neither
 * her connection to Alice nor Alice's to her carries a byte of it. */
static void test_non_member(void)
{
	Fixture f = {0};
	Member *alice, *mallory;

	fixture_set_up(&f, 2 * MiB);
	alice = add_member(&f, "alice", TRUE);
	mallory = add_member(&f, "mallory", FALSE);
	g_ptr_array_add(f.outsiders, g_strdup("mallory"));
	net_torrent_set_pinned(mallory->torrent, TRUE);

	connect_to(mallory, alice);
	wait_for(was_refused, &f, WAIT_SECONDS, "the incoming refusal");
	run_for(200);
	g_assert_cmpuint(stats_of(alice).peers, ==, 0);
	g_assert_cmpuint(stats_of(mallory).peers, ==, 0);

	f.refusals = 0;
	connect_to(alice, mallory);
	wait_for(was_refused, &f, WAIT_SECONDS, "the outgoing refusal");
	run_for(200);
	g_assert_cmpuint(stats_of(alice).peers, ==, 0);
	g_assert_cmpuint(stats_of(mallory).peers, ==, 0);
	g_assert_cmpuint(stats_of(mallory).downloaded, ==, 0);
	g_assert_cmpuint(stats_of(alice).uploaded, ==, 0);

	/* The same connection works once she is admitted. */
	g_ptr_array_set_size(f.outsiders, 0);
	connect_to(mallory, alice);
	wait_for(is_complete, mallory, WAIT_SECONDS, "the download");
	assert_complete(mallory);
	fixture_tear_down(&f);
}

/* ---- parked reads --------------------------------------------------- */

typedef struct {
	guint calls;
	GError *error;
} Ready;

static void on_ready(NetTorrent *torrent, const GError *error, gpointer data)
{
	Ready *r = data;

	r->calls++;
	g_clear_error(&r->error);
	r->error = error ? g_error_copy(error) : NULL;
}

static gboolean is_called(gpointer data)
{
	return ((Ready *)data)->calls > 0;
}

/* Only the pieces waited for are fetched, and the waiter is answered
 * once they are verified. */
static void test_wait_range(void)
{
	Fixture f = {0};
	Member *seeder, *leecher;
	Ready r = {0};
	guint64 off = 5 * 512 * 1024 + 1000;

	fixture_set_up(&f, 8 * MiB);
	seeder = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	connect_to(leecher, seeder);
	g_assert_false(net_torrent_range_ready(leecher->torrent, off, 600000));
	net_torrent_wait_range(leecher->torrent, off, 600000,
			       g_get_monotonic_time() + 30 * G_USEC_PER_SEC,
			       on_ready, &r);
	wait_for(is_called, &r, WAIT_SECONDS, "the range");
	g_assert_no_error(r.error);
	g_assert_true(net_torrent_range_ready(leecher->torrent, off, 600000));
	run_for(100);
	g_assert_cmpuint(r.calls, ==, 1);
	/* Pieces 5 and 6 and nothing else. */
	g_assert_cmpuint(stats_of(leecher).pieces_verified, ==, 2);
	g_assert_false(net_torrent_range_ready(leecher->torrent, 0, 1));
	fixture_tear_down(&f);
}

static void test_wait_timeout(void)
{
	Fixture f = {0};
	Member *leecher;
	Ready r = {0};
	gint64 start = g_get_monotonic_time();

	fixture_set_up(&f, 1 * MiB);
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_wait_range(leecher->torrent, 0, 10, start + 200 * 1000,
			       on_ready, &r);
	wait_for(is_called, &r, WAIT_SECONDS, "the deadline");
	g_assert_error(r.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 200 * 1000);
	g_clear_error(&r.error);
	fixture_tear_down(&f);
}

/* A cancelled waiter is never called: not at its deadline, not when
 * the pieces arrive, not for a range that was ready. */
static void test_wait_cancel(void)
{
	Fixture f = {0};
	Member *seeder, *leecher;
	Ready r = {0}, done = {0};
	guint id;

	fixture_set_up(&f, 2 * MiB);
	seeder = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	id = net_torrent_wait_range(leecher->torrent, 0, 1,
				    g_get_monotonic_time() + 50 * 1000,
				    on_ready, &r);
	net_torrent_cancel_wait(leecher->torrent, id);
	id = net_torrent_wait_range(seeder->torrent, 0, 1, 0, on_ready, &r);
	net_torrent_cancel_wait(seeder->torrent, id);
	connect_to(leecher, seeder);
	net_torrent_wait_range(leecher->torrent, 1 * MiB, 1, 0, on_ready,
			       &done);
	wait_for(is_called, &done, WAIT_SECONDS, "the other waiter");
	run_for(100);
	g_assert_cmpuint(r.calls, ==, 0);
	/* The cancelled range was not fetched. */
	g_assert_false(net_torrent_range_ready(leecher->torrent, 0, 1));
	fixture_tear_down(&f);
}

/* A range that is ready is answered from an idle, not from inside the
 * call, so a caller can finish registering before it runs. */
static void test_wait_ready(void)
{
	Fixture f = {0};
	Member *seeder, *leecher;
	Ready r = {0}, past = {0}, empty = {0};

	fixture_set_up(&f, 1 * MiB);
	seeder = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_wait_range(seeder->torrent, 1000, 5000, 0, on_ready, &r);
	g_assert_cmpuint(r.calls, ==, 0);
	wait_for(is_called, &r, WAIT_SECONDS, "the idle");
	g_assert_no_error(r.error);
	/* A range past the end, or empty, has nothing to wait for. */
	net_torrent_wait_range(leecher->torrent, 5 * MiB, 10, 0, on_ready,
			       &past);
	net_torrent_wait_range(leecher->torrent, 0, 0, 0, on_ready, &empty);
	g_assert_cmpuint(past.calls + empty.calls, ==, 0);
	wait_for(is_called, &past, WAIT_SECONDS, "the idle");
	wait_for(is_called, &empty, WAIT_SECONDS, "the idle");
	g_assert_no_error(past.error);
	g_assert_no_error(empty.error);
	run_for(50);
	g_assert_cmpuint(r.calls + past.calls + empty.calls, ==, 3);
	fixture_tear_down(&f);
}

static void test_wait_freed(void)
{
	Fixture f = {0};
	Member *leecher;
	Ready r = {0};

	fixture_set_up(&f, 1 * MiB);
	leecher = add_member(&f, "bob", FALSE);
	net_torrent_wait_range(leecher->torrent, 0, 10, 0, on_ready, &r);
	remove_member(leecher);
	g_assert_cmpuint(r.calls, ==, 1);
	g_assert_error(r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_clear_error(&r.error);
	fixture_tear_down(&f);
}

/* ---- the listener's address ----------------------------------------- */

static NetTorrent *lookup_none(const guint8 *info_hash, gpointer data)
{
	return NULL;
}

static void test_accept_address(void)
{
	static const char *const bad[] = {
		"",	      "127.0.0.1",	"127.0.0.1:",
		":80",	      "::1:80",		"[::1]",
		"[::1:80",    "host:80",	"1.2.3.4:65536",
		"1.2.3.4:-1", "[127.0.0.1]:80",
	};
	TestPki pki;
	g_autoptr(NetTlsContext) tls = NULL;
	guint8 id[20] = {0};

	test_pki_init(&pki);
	test_pki_issue(&pki, pki.ca, "alice", "alice");
	tls = test_pki_context(&pki, "alice");
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		NetAcceptor *a = net_acceptor_new(tls, bad[i], id, lookup_none,
						  NULL, &error);
		g_assert_null(a);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	}
	for (guint i = 0; i < 2; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NetAcceptor) a =
			net_acceptor_new(tls, i ? "[::1]:0" : "127.0.0.1:0", id,
					 lookup_none, NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(net_acceptor_get_port(a), >, 0);
	}
	test_pki_clear(&pki);
}

/* A peer that asks for a torrent we do not serve is dropped. */
static void test_accept_unknown(void)
{
	Fixture f = {0};
	Member *alice, *bob;
	g_autoptr(GError) error = NULL;
	g_autoptr(NetAcceptor) empty = NULL;

	fixture_set_up(&f, 1 * MiB);
	alice = add_member(&f, "alice", FALSE);
	bob = add_member(&f, "bob", TRUE);
	empty = net_acceptor_new(bob->tls, "127.0.0.1:0", bob->peer_id,
				 lookup_none, NULL, &error);
	g_assert_no_error(error);
	net_torrent_set_pinned(alice->torrent, TRUE);
	connect_port(alice, net_acceptor_get_port(empty));
	run_for(300);
	g_assert_cmpuint(stats_of(alice).peers, ==, 0);
	g_assert_cmpuint(stats_of(bob).uploaded, ==, 0);
	g_clear_pointer(&empty, net_acceptor_free);
	fixture_tear_down(&f);
}

/* ---- speed (informative) -------------------------------------------- */

static double cpu_seconds(void)
{
	struct rusage usage;

	g_assert_cmpint(getrusage(RUSAGE_SELF, &usage), ==, 0);
	return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
	       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void test_throughput(void)
{
	Fixture f = {0};
	Member *seeder, *leecher;
	gint64 start;
	double seconds, cpu;

	fixture_set_up(&f, 256 * MiB);
	seeder = add_member(&f, "alice", TRUE);
	leecher = add_member(&f, "bob", FALSE);
	cpu = cpu_seconds();
	start = g_get_monotonic_time();
	net_torrent_set_pinned(leecher->torrent, TRUE);
	connect_to(leecher, seeder);
	wait_for(is_complete, leecher, 120, "the download");
	seconds = (g_get_monotonic_time() - start) / 1e6;
	cpu = cpu_seconds() - cpu;
	g_test_message("256 MiB from one seeder, both in this thread: %.2f s, "
		       "%.0f MB/s, %.2f s of CPU",
		       seconds, f.length / seconds / 1e6, cpu);
	assert_complete(leecher);
	fixture_tear_down(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/torrent/one-seeder", test_one_seeder);
	g_test_add_func("/net/torrent/three-seeders", test_three_seeders);
	g_test_add_func("/net/torrent/seeder-vanishes", test_seeder_vanishes);
	g_test_add_func("/net/torrent/corrupt-seeder", test_corrupt_seeder);
	g_test_add_func("/net/torrent/stalled-seeder", test_stalled_seeder);
	g_test_add_func("/net/torrent/non-member", test_non_member);
	g_test_add_func("/net/torrent/wait-range", test_wait_range);
	g_test_add_func("/net/torrent/wait-timeout", test_wait_timeout);
	g_test_add_func("/net/torrent/wait-cancel", test_wait_cancel);
	g_test_add_func("/net/torrent/wait-ready", test_wait_ready);
	g_test_add_func("/net/torrent/wait-freed", test_wait_freed);
	g_test_add_func("/net/accept/address", test_accept_address);
	g_test_add_func("/net/accept/unknown-torrent", test_accept_unknown);
	g_test_add_func("/net/torrent/throughput", test_throughput);
	return g_test_run();
}
