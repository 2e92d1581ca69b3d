/*
 * The policy, in short (see torrent.h for the contract):
 *
 * Requests. Each peer that unchokes us gets a pipeline about half a
 * second of its recent rate deep (at least 32 blocks, at most their
 * reqq), topped up once a piece's worth of room is free, so that a
 * piece tends to come from one peer. The picker decides which blocks:
 * critical pieces first (a read waits), then read-ahead, then rarest
 * first. Blocks already asked of another peer (in end game, or of a
 * piece a read waits for) a peer gets a few at a time, once its own
 * requests are nearly done.
 *
 * Serving. Their requests are read from the store in worker threads,
 * in batches, at most TORRENT_SERVE_WINDOW bytes per peer between the
 * disk and the socket. A pread from the page cache costs a few
 * microseconds, about what a hand-off to a worker costs, but a read
 * that misses the cache takes milliseconds and would stall every peer
 * on the loop; batching makes the hand-off cost per batch, not per
 * block, so workers cost nothing in the hot case and save the loop in
 * the cold one.
 *
 * Choking. A group is cooperative: every interested member is
 * unchoked, up to TORRENT_UPLOAD_SLOTS at once; beyond that the member
 * served longest makes room for the one that waited longest every 30 s.
 *
 * Faults. A piece that fails its hash costs each of its senders trust;
 * a peer whose trust falls to the floor is dropped and its user banned
 * from this torrent. A peer that delivers nothing while its oldest
 * request waited request_timeout_ms has stalled: its requests go to
 * the pool and it gets one at a time until it delivers again.
 */
#include "torrent.h"

#include <string.h>

#include "blockio.h"
#include "conn.h"
#include "net-error.h"
#include "peer.h"
#include "picker.h"
#include "rate.h"

#define TORRENT_DEFAULT_MAX_PEERS 50
#define TORRENT_DEFAULT_STALL_MS 5000
/* A group is cooperative: every interested member is served, up to
 * this many at once; beyond that the slots rotate (see choke_tick). */
#define TORRENT_UPLOAD_SLOTS 16
#define TORRENT_ROTATE_US (30 * G_USEC_PER_SEC)
/* The clock: fast while requests are in flight (stalls are noticed
 * within a quarter second of the timeout), slow when idle. */
#define TORRENT_TICK_BUSY_MS 250
#define TORRENT_TICK_IDLE_MS 1000
#define TORRENT_SLOW_TICK_US G_USEC_PER_SEC
#define TORRENT_SYNC_US G_USEC_PER_SEC
/* Request pipeline: about this much time's worth of a peer's recent
 * rate in flight (the bandwidth-delay product with room to spare),
 * between the bounds below; their reqq caps it too. */
#define TORRENT_PIPELINE_US (G_USEC_PER_SEC / 2)
#define TORRENT_MIN_DEPTH 32u
#define TORRENT_MAX_DEPTH 2048u
/* Per peer served: bytes being read for it, queued in its NetPeer and
 * in its connection, at most; and what its connection may hold. */
#define TORRENT_SERVE_WINDOW (2 * 1024 * 1024)
#define TORRENT_CONN_HIGH_WATER (1024 * 1024)
/* Trust, as libtorrent keeps it: a piece a peer helped to verify earns
 * a point (up to the cap), a piece that failed costs two; at the floor
 * the peer is dropped and its user banned from this torrent. A peer
 * that sends only bad pieces goes after two of them. */
#define TORRENT_TRUST_CAP 8
#define TORRENT_TRUST_FLOOR (-4)
#define TORRENT_TRUST_BAD_PIECE 2
/* After a disk error, fetching pauses this long. */
#define TORRENT_DISK_PAUSE_US (5 * G_USEC_PER_SEC)
/* Duplicates (end game, and the blocks of pieces a read waits for) go
 * out this many at a time per peer, once its own requests are nearly
 * done (see link_duplicate_budget). */
#define TORRENT_END_GAME_BATCH 8u
#define TORRENT_REQUEST_CHUNK 64u
#define TORRENT_OUT_VECTORS 16

typedef struct _Link Link;

/* A request: theirs waiting for its block to be read, or ours in
 * flight (NetPeer knows since when). */
typedef struct {
	guint32 index;
	guint32 begin;
	guint32 length;
} Request;

/* A parked read (net_torrent_wait_range). */
typedef struct {
	NetTorrent *torrent;
	guint id;
	guint32 first; /* pieces */
	guint32 last;
	guint32 missing;
	NetTorrentReadyFunc func;
	gpointer data;
	GSource *timer; /* the deadline, or the idle of a ready range */
} Waiter;

/* One connection. Closing it is immediate; its NetPeer and NetConn are
 * released from an idle (it may close inside its own feed), and its
 * memory when the last reference goes (reads in flight hold one). */
struct _Link {
	gint ref;
	NetTorrent *torrent;
	NetConn *conn;
	NetPeer *peer;
	GInetSocketAddress *dialed; /* outgoing: where we connected */
	gboolean closed;
	gboolean in_picker;
	gboolean stalled; /* requests outstanding, no block for too long */
	gint64 progress_at; /* last block, or first request after none */
	gint64 choke_changed_at;
	int trust;
	GQueue serve; /* of Request: theirs, to read */
	/* Of Request: ours, in the order sent; answered ones are pruned
	 * from the head. The oldest one's age tells a stall. */
	GQueue asked;
	gsize reading; /* bytes being read for them */
	GQueue sending; /* GBytes given to net_peer_send_piece, in order */
	NetRate *down_rate;
	guint64 downloaded;
	guint64 uploaded;
	GSource *kick; /* flushes after an adoption */
};

struct _NetTorrent {
	NetMetainfo *mi;
	NetStore *store;
	NetTorrentConfig config;
	guint8 peer_id[20];
	NetPeerConfig peer_config;
	GMainContext *context;
	NetPicker *picker;
	NetBlockIo *io;
	guint32 piece_count;

	GQueue links; /* Link, open ones */
	GPtrArray *dead; /* Link, closed, to release */
	GSource *reaper;
	GSource *refill; /* refills every link, coalesced */
	GSource *tick;
	gint64 now;
	gint64 last_slow_tick;
	gint64 last_sync;
	gint64 last_rotate;
	gint64 disk_paused_until;
	gboolean reading_paused;
	gboolean was_complete;

	/* Why a piece is wanted: pinned, read-ahead, waited for. */
	gboolean pinned;
	NetBitfield *readahead;
	guint32 *critical; /* waiters per piece */
	guint8 *priority; /* NetPickerPriority, as the picker has it */
	GHashTable *waiters; /* id -> Waiter */
	guint next_waiter;

	/* piece -> GPtrArray of Link (referenced): who sent its blocks. */
	GHashTable *senders;
	GHashTable *banned; /* user names */
	GPtrArray *cancel; /* scratch for net_picker_block_received */

	guint64 downloaded;
	guint64 uploaded;
	NetRate *down_rate;
	NetRate *up_rate;
};

static void link_close(Link *link, const GError *reason);
static void link_flush(Link *link);
static void link_serve(Link *link);
static void link_refill(Link *link, gboolean force);
static void schedule_refill(NetTorrent *t);

/* ---- links ---------------------------------------------------------- */

static Link *link_ref(Link *link)
{
	g_atomic_int_inc(&link->ref);
	return link;
}

static void link_unref(gpointer data)
{
	Link *link = data;

	if (!g_atomic_int_dec_and_test(&link->ref))
		return;
	g_queue_clear_full(&link->serve, g_free);
	g_queue_clear_full(&link->asked, g_free);
	g_queue_clear_full(&link->sending, (GDestroyNotify)g_bytes_unref);
	g_clear_object(&link->dialed);
	net_rate_free(link->down_rate);
	g_free(link);
}

static Link *link_new(NetTorrent *t)
{
	Link *link = g_new0(Link, 1);

	link->ref = 1;
	link->torrent = t;
	link->down_rate = net_rate_new();
	link->choke_changed_at = t->now;
	g_queue_init(&link->serve);
	g_queue_init(&link->asked);
	g_queue_init(&link->sending);
	return link;
}

static const char *link_user(const Link *link)
{
	return net_conn_get_peer_user(link->conn);
}

static const char *link_label(const Link *link)
{
	return net_conn_get_peer_address(link->conn);
}

/* Idle: the NetPeers and NetConns of closed links, now that no feed of
 * theirs is on the stack. */
static gboolean reap_links(gpointer data)
{
	NetTorrent *t = data;

	g_clear_pointer(&t->reaper, g_source_unref);
	g_ptr_array_set_size(t->dead, 0);
	return G_SOURCE_REMOVE;
}

static void link_release(gpointer data)
{
	Link *link = data;

	g_clear_pointer(&link->peer, net_peer_free);
	g_clear_pointer(&link->conn, net_conn_unref);
	link_unref(link);
}

static GSource *attach_idle(NetTorrent *t, GSourceFunc func, gpointer data,
			    const char *name)
{
	GSource *source = g_idle_source_new();

	g_source_set_priority(source, G_PRIORITY_DEFAULT);
	g_source_set_callback(source, func, data, NULL);
	g_source_set_static_name(source, name);
	g_source_attach(source, t->context);
	return source;
}

static void destroy_source(GSource **source)
{
	if (*source)
		g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

/* A reference to every open link, for loops whose steps may close some. */
static GPtrArray *links_snapshot(NetTorrent *t)
{
	GPtrArray *all = g_ptr_array_new_full(t->links.length, link_unref);

	for (GList *l = t->links.head; l; l = l->next)
		g_ptr_array_add(all, link_ref(l->data));
	return all;
}

/* ---- output --------------------------------------------------------- */

/* Piece blocks go to the connection by reference, the rest as copies
 * (which the connection coalesces into few TLS records). */
static void link_write_vector(Link *link, const GOutputVector *vec)
{
	GBytes *head = g_queue_peek_head(&link->sending);

	if (head && g_bytes_get_data(head, NULL) == vec->buffer) {
		net_conn_write_bytes(link->conn, head);
		g_bytes_unref(g_queue_pop_head(&link->sending));
		return;
	}
	net_conn_write(link->conn, vec->buffer, vec->size);
}

/* Moves what the peer queued to the connection, keeping the
 * connection's queue bounded; drained() brings us back for the rest. */
static void link_flush(Link *link)
{
	GOutputVector vecs[TORRENT_OUT_VECTORS];

	while (!link->closed &&
	       net_conn_get_queued(link->conn) < TORRENT_CONN_HIGH_WATER) {
		guint n = net_peer_out_peek(link->peer, vecs,
					    TORRENT_OUT_VECTORS);
		gsize total = 0;

		if (n == 0)
			break;
		for (guint i = 0; i < n; i++) {
			link_write_vector(link, &vecs[i]);
			total += vecs[i].size;
		}
		net_peer_out_consume(link->peer, total);
	}
}

static void flush_all(NetTorrent *t)
{
	for (GList *l = t->links.head; l; l = l->next)
		link_flush(l->data);
}

/* ---- choking -------------------------------------------------------- */

static guint count_unchoked(const NetTorrent *t)
{
	guint n = 0;

	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		n += net_peer_is_ready(link->peer) &&
		     !net_peer_am_choking(link->peer);
	}
	return n;
}

static void link_set_choking(Link *link, gboolean choking)
{
	if (net_peer_am_choking(link->peer) == choking)
		return;
	net_peer_set_choking(link->peer, choking);
	link->choke_changed_at = link->torrent->now;
	/* BEP 3: a choke discards their requests; so do we. */
	if (choking)
		g_queue_clear_full(&link->serve, g_free);
}

static gboolean link_wants_upload(const Link *link)
{
	return net_peer_is_ready(link->peer) &&
	       net_peer_peer_interested(link->peer) &&
	       net_peer_am_choking(link->peer);
}

/* The interested peer that has waited longest, or NULL. */
static Link *longest_waiting(NetTorrent *t)
{
	Link *best = NULL;

	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		if (link_wants_upload(link) &&
		    (!best || link->choke_changed_at < best->choke_changed_at))
			best = link;
	}
	return best;
}

static Link *longest_unchoked(NetTorrent *t)
{
	Link *best = NULL;

	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		if (net_peer_is_ready(link->peer) &&
		    !net_peer_am_choking(link->peer) &&
		    (!best || link->choke_changed_at < best->choke_changed_at))
			best = link;
	}
	return best;
}

static void fill_upload_slots(NetTorrent *t)
{
	guint unchoked = count_unchoked(t);
	Link *link;

	while (unchoked < TORRENT_UPLOAD_SLOTS && (link = longest_waiting(t))) {
		link_set_choking(link, FALSE);
		link_flush(link);
		unchoked++;
	}
}

/* With more interested peers than slots, the one served longest makes
 * room for the one that waited longest, every TORRENT_ROTATE_US. */
static void choke_tick(NetTorrent *t)
{
	Link *victim;

	if (t->now - t->last_rotate >= TORRENT_ROTATE_US &&
	    longest_waiting(t) && count_unchoked(t) >= TORRENT_UPLOAD_SLOTS &&
	    (victim = longest_unchoked(t))) {
		t->last_rotate = t->now;
		link_set_choking(victim, TRUE);
		link_flush(victim);
	}
	fill_upload_slots(t);
}

/* ---- interest and requests ------------------------------------------ */

static void link_update_interest(Link *link)
{
	if (!link->in_picker)
		return;
	net_peer_set_interested(
		link->peer,
		net_picker_peer_is_interesting(link->torrent->picker, link));
}

/* How many requests to keep in flight to this peer. */
static guint link_depth(Link *link)
{
	double rate = net_rate_get(link->down_rate, link->torrent->now);
	double blocks = rate * TORRENT_PIPELINE_US / G_USEC_PER_SEC /
			NET_PICKER_BLOCK_SIZE;

	if (link->stalled)
		return 1;
	return (guint)CLAMP(blocks, TORRENT_MIN_DEPTH, TORRENT_MAX_DEPTH);
}

static guint32 blocks_per_piece(const NetTorrent *t)
{
	return net_metainfo_get_piece_length(t->mi) / NET_PICKER_BLOCK_SIZE;
}

static Request *request_new(guint32 index, guint32 begin, guint32 length)
{
	Request *req = g_new(Request, 1);

	req->index = index;
	req->begin = begin;
	req->length = length;
	return req;
}

/* Age of our request @req to @link, or -1 once it is not in flight. */
static gint64 request_age(const Link *link, const Request *req)
{
	return net_peer_request_age(link->peer, req->index, req->begin,
				    link->torrent->now);
}

/* Forgets answered, dropped and cancelled requests at the head. */
static void link_prune_asked(Link *link)
{
	Request *req;

	while ((req = g_queue_peek_head(&link->asked)) &&
	       request_age(link, req) < 0)
		g_free(g_queue_pop_head(&link->asked));
}

/* Cancels every request in flight to @link: the blocks go back to the
 * pool for other peers. */
static void link_cancel_asked(Link *link)
{
	NetTorrent *t = link->torrent;
	Request *req;

	while ((req = g_queue_pop_head(&link->asked))) {
		if (net_peer_cancel(link->peer, req->index, req->begin,
				    req->length))
			net_picker_request_cancelled(t->picker, link,
						     req->index, req->begin);
		g_free(req);
	}
}

/* A peer that delivered nothing for request_timeout_ms while its oldest
 * request waited that long has stalled: all of its requests go to
 * other peers, and it gets one at a time until it delivers again. A
 * peer that delivers, however slowly, keeps its pipeline (sized to its
 * rate); a request it dropped times out in NetPeer. */
static void link_check_stall(Link *link)
{
	NetTorrent *t = link->torrent;
	gint64 limit = (gint64)t->config.request_timeout_ms * 1000;
	Request *req;

	link_prune_asked(link);
	req = g_queue_peek_head(&link->asked);
	if (!req || request_age(link, req) < limit ||
	    t->now - link->progress_at < limit)
		return;
	if (!link->stalled)
		g_debug("Peer %s stalled; its requests go to other peers",
			link_label(link));
	link->stalled = TRUE;
	link_cancel_asked(link);
	schedule_refill(t);
}

/* How many blocks already in flight to other peers @link may be asked
 * for now: a few, and only once its own requests are nearly done, so
 * that what arrives twice stays small. */
static guint link_duplicate_budget(Link *link)
{
	guint32 outstanding = net_peer_requests_outstanding(link->peer);

	if (outstanding >= TORRENT_END_GAME_BATCH)
		return 0;
	return TORRENT_END_GAME_BATCH - outstanding;
}

static void send_request(Link *link, const NetPickerRequest *r)
{
	if (net_peer_request(link->peer, r->piece, r->begin, r->length,
			     link->torrent->now))
		g_queue_push_tail(&link->asked,
				  request_new(r->piece, r->begin, r->length));
	else
		net_picker_request_cancelled(link->torrent->picker, link,
					     r->piece, r->begin);
}

/* Sends up to @max requests. */
static void link_request(Link *link, guint max)
{
	NetTorrent *t = link->torrent;
	NetPickerRequest reqs[TORRENT_REQUEST_CHUNK];
	guint duplicates = link_duplicate_budget(link);
	guint sent = 0;

	while (sent < max) {
		guint chunk = MIN(max - sent, G_N_ELEMENTS(reqs));
		guint n = net_picker_next_requests(t->picker, link, chunk,
						   duplicates, reqs);

		for (guint i = 0; i < n; i++) {
			duplicates -= reqs[i].duplicate;
			send_request(link, &reqs[i]);
		}
		sent += n;
		if (n < chunk)
			break;
	}
}

/* Tops the pipeline up to its depth. Unless @force, only once a whole
 * piece's worth of room is free, so that a piece tends to come from one
 * peer: that keeps pieces few and the blame for a bad one clear. */
static void link_refill(Link *link, gboolean force)
{
	NetTorrent *t = link->torrent;
	guint32 room, outstanding;
	guint depth, want;

	if (link->closed || !link->in_picker || t->now < t->disk_paused_until)
		return;
	room = net_peer_request_room(link->peer);
	outstanding = net_peer_requests_outstanding(link->peer);
	depth = link_depth(link);
	if (room == 0 || outstanding >= depth)
		return;
	want = MIN(depth - outstanding, room);
	if (!force && want < MIN(blocks_per_piece(t), depth / 2))
		return;
	if (outstanding == 0)
		link->progress_at = t->now;
	link_request(link, want);
}

static gboolean on_refill(gpointer data)
{
	NetTorrent *t = data;

	g_clear_pointer(&t->refill, g_source_unref);
	t->now = g_get_monotonic_time();
	for (GList *l = t->links.head; l; l = l->next) {
		link_refill(l->data, TRUE);
		link_flush(l->data);
	}
	return G_SOURCE_REMOVE;
}

/* Blocks went back to the pool: other peers may take them. */
static void schedule_refill(NetTorrent *t)
{
	if (!t->refill)
		t->refill = attach_idle(t, on_refill, t, "groupfs refill");
}

/* ---- priorities ----------------------------------------------------- */

static NetPickerPriority piece_priority(const NetTorrent *t, guint32 piece)
{
	if (t->critical[piece] > 0)
		return NET_PICKER_CRITICAL;
	if (net_bitfield_get(t->readahead, piece))
		return NET_PICKER_READAHEAD;
	return t->pinned ? NET_PICKER_NORMAL : NET_PICKER_SKIP;
}

/* Brings the picker up to date for @first..@last; TRUE if a piece
 * became more wanted. */
static gboolean update_priorities(NetTorrent *t, guint32 first, guint32 last)
{
	gboolean raised = FALSE;

	for (guint32 i = first; i <= last; i++) {
		NetPickerPriority p = piece_priority(t, i);
		if (p == t->priority[i])
			continue;
		raised |= p > t->priority[i];
		t->priority[i] = (guint8)p;
		net_picker_set_priority(t->picker, i, 1, p);
	}
	return raised;
}

/* After pieces became more wanted: ask the peers that have them. */
static void wants_grew(NetTorrent *t)
{
	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		if (!net_peer_am_interested(link->peer))
			link_update_interest(link);
		link_refill(link, TRUE);
		link_flush(link);
	}
}

static void change_priorities(NetTorrent *t, guint32 first, guint32 last)
{
	if (update_priorities(t, first, last))
		wants_grew(t);
}

/* ---- waiters -------------------------------------------------------- */

static gboolean range_pieces(const NetTorrent *t, guint64 offset,
			     guint64 length, guint32 *first, guint32 *last)
{
	guint64 total = net_metainfo_get_length(t->mi);
	guint32 piece_length = net_metainfo_get_piece_length(t->mi);

	if (length == 0 || offset >= total)
		return FALSE;
	*first = (guint32)(offset / piece_length);
	*last = (guint32)((MIN(offset + length, total) - 1) / piece_length);
	return TRUE;
}

/* Forgets @w: its pieces are no longer critical on its account. */
static void waiter_remove(NetTorrent *t, Waiter *w)
{
	g_hash_table_steal(t->waiters, GUINT_TO_POINTER(w->id));
	destroy_source(&w->timer);
	if (w->missing > 0) {
		for (guint32 i = w->first; i <= w->last; i++)
			t->critical[i]--;
		update_priorities(t, w->first, w->last);
	}
}

static void waiter_finish(NetTorrent *t, Waiter *w, const GError *error)
{
	waiter_remove(t, w);
	w->func(t, error, w->data);
	g_free(w);
}

static gboolean on_waiter_ready(gpointer data)
{
	Waiter *w = data;

	waiter_finish(w->torrent, w, NULL);
	return G_SOURCE_REMOVE;
}

static gboolean on_waiter_deadline(gpointer data)
{
	Waiter *w = data;
	g_autoptr(GError) error = g_error_new(
		G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		"No peer delivered pieces %u to %u of %s in time.", w->first,
		w->last, net_metainfo_get_name(w->torrent->mi));

	waiter_finish(w->torrent, w, error);
	return G_SOURCE_REMOVE;
}

static void waiter_arm(NetTorrent *t, Waiter *w, gint64 deadline_us)
{
	if (w->missing == 0) {
		w->timer = attach_idle(t, on_waiter_ready, w,
				       "groupfs ready range");
		return;
	}
	if (deadline_us <= 0)
		return;
	w->timer = g_timeout_source_new((guint)CLAMP(
		(deadline_us - g_get_monotonic_time() + 999) / 1000, 0,
		G_MAXUINT));
	g_source_set_callback(w->timer, on_waiter_deadline, w, NULL);
	g_source_set_static_name(w->timer, "groupfs read deadline");
	g_source_attach(w->timer, t->context);
}

/* @piece was verified: answer the waiters it completes. */
static void waiters_piece_verified(NetTorrent *t, guint32 piece)
{
	g_autoptr(GPtrArray) ready = g_ptr_array_new();
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, t->waiters);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		Waiter *w = value;
		if (w->missing > 0 && piece >= w->first && piece <= w->last &&
		    --w->missing == 0)
			g_ptr_array_add(ready, w);
	}
	for (guint i = 0; i < ready->len; i++) {
		Waiter *w = ready->pdata[i];
		for (guint32 p = w->first; p <= w->last; p++)
			t->critical[p]--;
		update_priorities(t, w->first, w->last);
		waiter_finish(t, w, NULL);
	}
}

/* ---- verified and failed pieces -------------------------------------- */

static GPtrArray *piece_senders(NetTorrent *t, guint32 piece)
{
	GPtrArray *senders =
		g_hash_table_lookup(t->senders, GUINT_TO_POINTER(piece));

	if (!senders) {
		senders = g_ptr_array_new_with_free_func(link_unref);
		g_hash_table_insert(t->senders, GUINT_TO_POINTER(piece),
				    senders);
	}
	return senders;
}

static void note_sender(NetTorrent *t, guint32 piece, Link *link)
{
	GPtrArray *senders = piece_senders(t, piece);

	if (!g_ptr_array_find(senders, link, NULL))
		g_ptr_array_add(senders, link_ref(link));
}

/* Adjusts the trust of @piece's senders by @delta and forgets them. */
static void judge_senders(NetTorrent *t, guint32 piece, int delta)
{
	g_autoptr(GPtrArray) senders = NULL;

	g_hash_table_steal_extended(t->senders, GUINT_TO_POINTER(piece), NULL,
				    (gpointer *)&senders);
	for (guint i = 0; senders && i < senders->len; i++) {
		Link *link = senders->pdata[i];
		link->trust = MIN(link->trust + delta, TORRENT_TRUST_CAP);
		if (link->closed || link->trust > TORRENT_TRUST_FLOOR)
			continue;
		g_debug("Peer %s sent bad pieces; banning %s", link_label(link),
			link_user(link));
		g_hash_table_add(t->banned, g_strdup(link_user(link)));
		link_close(link, NULL);
	}
}

static void maybe_complete(NetTorrent *t)
{
	if (t->was_complete || !net_store_is_complete(t->store))
		return;
	t->was_complete = TRUE;
	net_block_io_sync(t->io);
	t->last_sync = t->now;
	for (GList *l = t->links.head; l; l = l->next)
		link_update_interest(l->data);
	if (t->config.on_complete)
		t->config.on_complete(t, t->config.data);
}

static void on_piece_verified(NetTorrent *t, guint32 piece)
{
	net_picker_set_have(t->picker, piece);
	judge_senders(t, piece, +1);
	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		const NetBitfield *theirs = net_peer_get_peer_have(link->peer);
		/* Nobody needs to hear of a piece they have. */
		if (theirs && !net_bitfield_get(theirs, piece))
			net_peer_send_have(link->peer, piece);
	}
	waiters_piece_verified(t, piece);
	maybe_complete(t);
	flush_all(t);
}

static void on_piece_failed(NetTorrent *t, guint32 piece)
{
	g_debug("Piece %u of %s failed its hash check; fetching it again",
		piece, net_metainfo_get_name(t->mi));
	net_picker_piece_failed(t->picker, piece, NULL);
	judge_senders(t, piece, -TORRENT_TRUST_BAD_PIECE);
	schedule_refill(t);
}

/* The block is lost, not the peer's fault: fetch the piece's missing
 * blocks again, after a pause that keeps a full disk from spinning. */
static void on_write_failed(NetTorrent *t, guint32 piece, const GError *error)
{
	gboolean first = t->now >= t->disk_paused_until;

	net_picker_piece_failed(t->picker, piece, NULL);
	judge_senders(t, piece, 0);
	t->disk_paused_until = t->now + TORRENT_DISK_PAUSE_US;
	if (first && t->config.on_error)
		t->config.on_error(t, error, t->config.data);
}

static void io_piece_written(guint32 piece, const GError *error, gpointer data)
{
	NetTorrent *t = data;

	t->now = g_get_monotonic_time();
	if (!error)
		on_piece_verified(t, piece);
	else if (g_error_matches(error, NET_ERROR, NET_ERROR_HASH_MISMATCH))
		on_piece_failed(t, piece);
	else
		on_write_failed(t, piece, error);
}

/* ---- serving -------------------------------------------------------- */

static gsize link_serving_bytes(const Link *link)
{
	return link->reading + net_peer_out_pending(link->peer) +
	       net_conn_get_queued(link->conn);
}

/* Starts reads for their queued requests while the window has room. */
static void link_serve(Link *link)
{
	Request *req;

	while (!link->closed &&
	       link_serving_bytes(link) < TORRENT_SERVE_WINDOW &&
	       (req = g_queue_pop_head(&link->serve))) {
		link->reading += req->length;
		net_block_io_read(link->torrent->io, req->index, req->begin,
				  req->length, link_ref(link));
		g_free(req);
	}
}

static void io_block_read(gpointer key, guint32 piece, guint32 begin,
			  guint32 len, GBytes *bytes, const GError *error,
			  gpointer data)
{
	Link *link = key;
	NetTorrent *t = data;

	link->reading -= len;
	if (link->closed)
		return;
	if (!bytes) {
		/* BEP 3 has no refusal; they will time out and ask others. */
		g_debug("Could not serve peer %s: %s", link_label(link),
			error->message);
		net_peer_drop_request(link->peer, piece, begin, len);
	} else if (net_peer_send_piece(link->peer, piece, begin, bytes)) {
		g_queue_push_tail(&link->sending, g_bytes_ref(bytes));
		link->uploaded += len;
		t->uploaded += len;
		net_rate_add(t->up_rate, len, g_get_monotonic_time());
	}
	link_flush(link);
	link_serve(link);
}

static void forget_request(Link *link, const NetPeerEvent *ev)
{
	for (GList *l = link->serve.head; l; l = l->next) {
		Request *req = l->data;
		if (req->index == ev->index && req->begin == ev->begin) {
			g_free(req);
			g_queue_delete_link(&link->serve, l);
			return;
		}
	}
}

static void queue_request(Link *link, const NetPeerEvent *ev)
{
	g_queue_push_tail(&link->serve,
			  request_new(ev->index, ev->begin, ev->length));
}

/* ---- peer events ---------------------------------------------------- */

/* Of two connections between the same pair of peers, both sides keep
 * the one opened by the peer with the lower id. */
static const guint8 *initiator_id(const Link *link)
{
	if (net_peer_is_incoming(link->peer))
		return net_peer_get_peer_id(link->peer);
	return link->torrent->peer_id;
}

static Link *find_duplicate(NetTorrent *t, Link *link)
{
	const guint8 *id = net_peer_get_peer_id(link->peer);

	for (GList *l = t->links.head; l; l = l->next) {
		Link *other = l->data;
		const guint8 *other_id = net_peer_get_peer_id(other->peer);
		if (other != link && other_id && memcmp(other_id, id, 20) == 0)
			return other;
	}
	return NULL;
}

/* FALSE if @link lost to an existing connection and was closed. */
static gboolean keep_one_connection(NetTorrent *t, Link *link)
{
	Link *other = find_duplicate(t, link);
	Link *loser;

	if (!other)
		return TRUE;
	loser = memcmp(initiator_id(link), initiator_id(other), 20) < 0 ? other
									: link;
	link_close(loser, NULL);
	return loser != link;
}

static void on_handshake(Link *link)
{
	NetTorrent *t = link->torrent;

	if (!keep_one_connection(t, link))
		return;
	net_picker_peer_add(t->picker, link,
			    net_peer_get_peer_have(link->peer));
	link->in_picker = TRUE;
	link_update_interest(link);
	link_flush(link);
}

/* Their bitfield replaces the empty set the picker got at handshake. */
static void on_bitfield(Link *link)
{
	net_picker_peer_set_bitfield(link->torrent->picker, link,
				     net_peer_get_peer_have(link->peer));
	link_update_interest(link);
}

static void on_have(Link *link, guint32 piece)
{
	NetTorrent *t = link->torrent;

	net_picker_peer_have(t->picker, link, piece);
	if (net_picker_wants(t->picker, piece))
		net_peer_set_interested(link->peer, TRUE);
}

static void on_block(Link *link, const NetPeerEvent *ev)
{
	NetTorrent *t = link->torrent;
	GPtrArray *cancel = t->cancel;

	g_ptr_array_set_size(cancel, 0);
	link->downloaded += ev->length;
	t->downloaded += ev->length;
	net_rate_add(link->down_rate, ev->length, t->now);
	net_rate_add(t->down_rate, ev->length, t->now);
	link->progress_at = t->now;
	link->stalled = FALSE;
	link_prune_asked(link);
	if (!net_picker_block_received(t->picker, link, ev->index, ev->begin,
				       cancel))
		return;
	note_sender(t, ev->index, link);
	net_block_io_write(t->io, ev->index, ev->begin, ev->data, ev->length);
	for (guint i = 0; i < cancel->len; i++) {
		Link *other = cancel->pdata[i];
		net_peer_cancel(other->peer, ev->index, ev->begin, ev->length);
		link_flush(other);
	}
	if (net_block_io_is_above_high_water(t->io) && !t->reading_paused) {
		t->reading_paused = TRUE;
		for (GList *l = t->links.head; l; l = l->next)
			net_conn_set_reading(((Link *)l->data)->conn, FALSE);
	}
}

static void on_request_timeout(Link *link, const NetPeerEvent *ev)
{
	net_peer_cancel(link->peer, ev->index, ev->begin, ev->length);
	net_picker_request_cancelled(link->torrent->picker, link, ev->index,
				     ev->begin);
	schedule_refill(link->torrent);
}

static void on_interest(Link *link, gboolean interested)
{
	if (interested) {
		fill_upload_slots(link->torrent);
		return;
	}
	link_set_choking(link, TRUE);
	fill_upload_slots(link->torrent);
}

static void on_event(NetPeer *peer, const NetPeerEvent *ev, gpointer data)
{
	Link *link = data;
	NetTorrent *t = link->torrent;

	if (link->closed)
		return;
	switch (ev->type) {
	case NET_PEER_EVENT_HANDSHAKE:
		on_handshake(link);
		break;
	case NET_PEER_EVENT_BITFIELD:
		on_bitfield(link);
		break;
	case NET_PEER_EVENT_HAVE:
		on_have(link, ev->index);
		break;
	case NET_PEER_EVENT_CHOKE:
		net_picker_peer_cancel_all(t->picker, link);
		schedule_refill(t);
		break;
	case NET_PEER_EVENT_UNCHOKE:
		link_refill(link, TRUE);
		break;
	case NET_PEER_EVENT_INTERESTED:
	case NET_PEER_EVENT_NOT_INTERESTED:
		on_interest(link, ev->type == NET_PEER_EVENT_INTERESTED);
		break;
	case NET_PEER_EVENT_BLOCK:
		on_block(link, ev);
		break;
	case NET_PEER_EVENT_REQUEST:
		queue_request(link, ev);
		break;
	case NET_PEER_EVENT_CANCEL:
		forget_request(link, ev);
		break;
	case NET_PEER_EVENT_REQUEST_DROPPED:
		net_picker_request_cancelled(t->picker, link, ev->index,
					     ev->begin);
		break;
	case NET_PEER_EVENT_REQUEST_TIMEOUT:
		on_request_timeout(link, ev);
		break;
	case NET_PEER_EVENT_ERROR:
		link_close(link, ev->error);
		break;
	case NET_PEER_EVENT_EXTENDED_HANDSHAKE:
		break;
	}
}

/* ---- connection callbacks ------------------------------------------- */

static gboolean may_connect(NetTorrent *t, const char *user)
{
	return user && !g_hash_table_contains(t->banned, user) &&
	       t->config.is_member(user, t->config.data);
}

static void on_established(NetConn *conn, const char *user, gpointer data)
{
	Link *link = data;

	if (!may_connect(link->torrent, user)) {
		g_debug("Refused peer %s: banned, or not a member of the group",
			link_label(link));
		link_close(link, NULL);
		return;
	}
	link_flush(link);
}

static void on_data(NetConn *conn, const guint8 *data, gsize len,
		    gpointer user_data)
{
	Link *link = user_data;

	link->torrent->now = g_get_monotonic_time();
	if (!net_peer_feed(link->peer, data, len) || link->closed)
		return;
	link_refill(link, FALSE);
	link_serve(link);
	link_flush(link);
}

static void on_drained(NetConn *conn, gpointer data)
{
	Link *link = data;

	link_flush(link);
	link_serve(link);
}

static void on_closed(NetConn *conn, const GError *reason, gpointer data)
{
	link_close(data, reason);
}

static const NetConnCallbacks link_callbacks = {
	.established = on_established,
	.data = on_data,
	.drained = on_drained,
	.closed = on_closed,
};

/* Closes at once; the NetPeer and NetConn go from an idle, since this
 * may run inside their callbacks. */
static void link_close(Link *link, const GError *reason)
{
	NetTorrent *t = link->torrent;

	if (link->closed)
		return;
	if (reason)
		g_debug("Peer %s is gone: %s", link_label(link),
			reason->message);
	link->closed = TRUE;
	net_conn_close(link->conn);
	destroy_source(&link->kick);
	if (link->in_picker)
		net_picker_peer_remove(t->picker, link);
	link->in_picker = FALSE;
	g_queue_remove(&t->links, link);
	g_queue_clear_full(&link->serve, g_free);
	g_queue_clear_full(&link->asked, g_free);
	g_ptr_array_add(t->dead, link);
	if (!t->reaper)
		t->reaper = attach_idle(t, reap_links, t, "groupfs reaper");
	schedule_refill(t);
	fill_upload_slots(t);
}

/* ---- the clock ------------------------------------------------------ */

static void slow_tick(NetTorrent *t)
{
	t->last_slow_tick = t->now;
	choke_tick(t);
	for (GList *l = t->links.head; l; l = l->next)
		link_update_interest(l->data);
	if (t->now - t->last_sync >= TORRENT_SYNC_US &&
	    net_store_needs_sync(t->store) && net_block_io_sync(t->io))
		t->last_sync = t->now;
}

static gboolean any_requests(const NetTorrent *t)
{
	for (GList *l = t->links.head; l; l = l->next)
		if (net_peer_requests_outstanding(((Link *)l->data)->peer))
			return TRUE;
	return FALSE;
}

static void arm_tick(NetTorrent *t)
{
	guint ms =
		any_requests(t) ? TORRENT_TICK_BUSY_MS : TORRENT_TICK_IDLE_MS;

	g_source_set_ready_time(t->tick, t->now + (gint64)ms * 1000);
}

static gboolean on_tick(gpointer data)
{
	NetTorrent *t = data;
	g_autoptr(GPtrArray) links = links_snapshot(t);

	t->now = g_get_monotonic_time();
	for (guint i = 0; i < links->len; i++) {
		Link *link = links->pdata[i];
		if (link->closed || !net_peer_tick(link->peer, t->now))
			continue;
		link_check_stall(link);
		link_refill(link, FALSE);
		link_flush(link);
	}
	if (t->now - t->last_slow_tick >= TORRENT_SLOW_TICK_US)
		slow_tick(t);
	arm_tick(t);
	return G_SOURCE_CONTINUE;
}

static gboolean tick_dispatch(GSource *source, GSourceFunc callback,
			      gpointer data)
{
	return callback(data);
}

static GSourceFuncs tick_funcs = {.dispatch = tick_dispatch};

/* ---- disk results --------------------------------------------------- */

static void io_writes_drained(gpointer data)
{
	NetTorrent *t = data;

	t->reading_paused = FALSE;
	for (GList *l = t->links.head; l; l = l->next)
		net_conn_set_reading(((Link *)l->data)->conn, TRUE);
}

static void io_synced(const GError *error, gpointer data)
{
	NetTorrent *t = data;

	if (error && t->config.on_error)
		t->config.on_error(t, error, t->config.data);
}

static const NetBlockIoCallbacks io_callbacks = {
	.piece_written = io_piece_written,
	.block_read = io_block_read,
	.writes_drained = io_writes_drained,
	.synced = io_synced,
	.key_destroy = link_unref,
};

/* ---- the public face ------------------------------------------------ */

static void init_pieces(NetTorrent *t)
{
	t->piece_count = net_metainfo_get_piece_count(t->mi);
	t->picker = net_picker_new(t->piece_count,
				   net_metainfo_get_piece_length(t->mi),
				   net_metainfo_get_length(t->mi));
	for (guint32 i = 0; i < t->piece_count; i++)
		if (net_store_has_piece(t->store, i))
			net_picker_set_have(t->picker, i);
	t->readahead = net_bitfield_new(t->piece_count);
	t->critical = g_new0(guint32, t->piece_count);
	t->priority = g_new0(guint8, t->piece_count);
	t->was_complete = net_store_is_complete(t->store);
}

static void init_config(NetTorrent *t, const NetTorrentConfig *config)
{
	t->config = *config;
	memcpy(t->peer_id, config->peer_id, sizeof t->peer_id);
	if (!t->config.max_peers)
		t->config.max_peers = TORRENT_DEFAULT_MAX_PEERS;
	if (!t->config.request_timeout_ms)
		t->config.request_timeout_ms = TORRENT_DEFAULT_STALL_MS;
	memcpy(t->peer_config.peer_id, t->peer_id, 20);
	t->peer_config.listen_port = config->listen_port;
}

static void start_tick(NetTorrent *t)
{
	t->tick = g_source_new(&tick_funcs, sizeof(GSource));
	g_source_set_callback(t->tick, on_tick, t, NULL);
	g_source_set_static_name(t->tick, "groupfs torrent tick");
	g_source_attach(t->tick, t->context);
	arm_tick(t);
}

NetTorrent *net_torrent_new(NetMetainfo *mi, NetStore *store,
			    const NetTorrentConfig *config)
{
	NetTorrent *t = g_new0(NetTorrent, 1);

	g_return_val_if_fail(config->is_member && config->peer_id, NULL);
	t->mi = mi;
	t->store = store;
	t->context = g_main_context_ref_thread_default();
	t->now = g_get_monotonic_time();
	t->last_slow_tick = t->last_sync = t->last_rotate = t->now;
	init_config(t, config);
	init_pieces(t);
	g_queue_init(&t->links);
	t->dead = g_ptr_array_new_with_free_func(link_release);
	t->waiters = g_hash_table_new(NULL, NULL);
	t->senders = g_hash_table_new_full(NULL, NULL, NULL,
					   (GDestroyNotify)g_ptr_array_unref);
	t->banned =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	t->cancel = g_ptr_array_new();
	t->down_rate = net_rate_new();
	t->up_rate = net_rate_new();
	t->io = net_block_io_new(store, 0, &io_callbacks, t);
	start_tick(t);
	return t;
}

static void cancel_waiters(NetTorrent *t)
{
	g_autoptr(GError) error = g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED,
					      "The transfer of %s was stopped.",
					      net_metainfo_get_name(t->mi));
	g_autoptr(GList) waiters = g_hash_table_get_values(t->waiters);

	for (GList *l = waiters; l; l = l->next)
		waiter_finish(t, l->data, error);
}

void net_torrent_free(NetTorrent *t)
{
	g_autoptr(GError) error = NULL;

	if (!t)
		return;
	cancel_waiters(t);
	while (t->links.head)
		link_close(t->links.head->data, NULL);
	destroy_source(&t->tick);
	destroy_source(&t->refill);
	destroy_source(&t->reaper);
	/* Waits for the disk work in flight; reads drop their links. */
	g_clear_pointer(&t->io, net_block_io_free);
	g_hash_table_destroy(t->senders);
	g_ptr_array_unref(t->dead);
	if (!net_store_sync(t->store, &error))
		g_debug("Final sync of %s failed: %s",
			net_metainfo_get_name(t->mi), error->message);
	g_hash_table_destroy(t->waiters);
	g_hash_table_destroy(t->banned);
	g_ptr_array_unref(t->cancel);
	net_rate_free(t->down_rate);
	net_rate_free(t->up_rate);
	g_free(t->critical);
	g_free(t->priority);
	net_bitfield_free(t->readahead);
	net_picker_free(t->picker);
	net_store_free(t->store);
	net_metainfo_free(t->mi);
	g_main_context_unref(t->context);
	g_free(t);
}

const NetMetainfo *net_torrent_get_metainfo(const NetTorrent *t)
{
	return t->mi;
}

NetStore *net_torrent_get_store(const NetTorrent *t)
{
	return t->store;
}

static NetPeerTorrent describe(NetTorrent *t, NetBitfield *have)
{
	NetPeerTorrent desc = {
		.piece_count = t->piece_count,
		.piece_length = net_metainfo_get_piece_length(t->mi),
		.length = net_metainfo_get_length(t->mi),
		.have = have,
	};

	memcpy(desc.info_hash, net_metainfo_get_info_hash(t->mi), 20);
	return desc;
}

static gboolean is_connected_to(const NetTorrent *t,
				GInetSocketAddress *address)
{
	GInetAddress *ip = g_inet_socket_address_get_address(address);
	guint16 port = g_inet_socket_address_get_port(address);

	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		if (link->dialed &&
		    g_inet_socket_address_get_port(link->dialed) == port &&
		    g_inet_address_equal(
			    g_inet_socket_address_get_address(link->dialed),
			    ip))
			return TRUE;
	}
	return FALSE;
}

static void connect_to(NetTorrent *t, GInetSocketAddress *address)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBitfield) have = net_store_dup_verified(t->store);
	NetPeerTorrent desc = describe(t, have);
	Link *link = link_new(t);

	link->conn = net_conn_connect(t->config.tls, G_SOCKET_ADDRESS(address),
				      &link_callbacks, link, &error);
	if (!link->conn) {
		g_debug("Could not connect to a peer: %s", error->message);
		link_unref(link);
		return;
	}
	link->dialed = g_object_ref(address);
	link->peer = net_peer_new_outgoing(&t->peer_config, &desc, on_event,
					   link, t->now);
	g_queue_push_tail(&t->links, link);
	/* The handshake waits in the connection until TLS is up. */
	link_flush(link);
}

void net_torrent_add_peers(NetTorrent *t, GPtrArray *addresses)
{
	t->now = g_get_monotonic_time();
	for (guint i = 0; i < addresses->len; i++) {
		GInetSocketAddress *address = addresses->pdata[i];
		if (t->links.length >= t->config.max_peers)
			break;
		if (!is_connected_to(t, address))
			connect_to(t, address);
	}
	arm_tick(t);
}

static gboolean on_kick(gpointer data)
{
	Link *link = data;

	g_clear_pointer(&link->kick, g_source_unref);
	link->torrent->now = g_get_monotonic_time();
	link_refill(link, FALSE);
	link_serve(link);
	link_flush(link);
	return G_SOURCE_REMOVE;
}

gboolean net_torrent_adopt(NetTorrent *t, NetConn *conn, NetPeer *peer)
{
	Link *link = link_new(t);
	const char *user = net_conn_get_peer_user(conn);

	t->now = g_get_monotonic_time();
	link->conn = conn;
	link->peer = peer;
	net_conn_set_callbacks(conn, &link_callbacks, link);
	net_peer_set_event_func(peer, on_event, link);
	g_queue_push_tail(&t->links, link);
	if (!may_connect(t, user) || t->links.length > t->config.max_peers) {
		g_debug("Refused peer %s", link_label(link));
		link_close(link, NULL);
		return FALSE;
	}
	if (net_peer_is_ready(peer))
		on_handshake(link);
	/* Events may have come inside the caller's feed: act on them. */
	link->kick = attach_idle(t, on_kick, link, "groupfs adopted peer");
	return TRUE;
}

void net_torrent_recheck_members(NetTorrent *t)
{
	g_autoptr(GPtrArray) links = links_snapshot(t);

	for (guint i = 0; i < links->len; i++) {
		Link *link = links->pdata[i];
		const char *user = link_user(link);
		if (!link->closed && user &&
		    !t->config.is_member(user, t->config.data))
			link_close(link, NULL);
	}
}

void net_torrent_set_pinned(NetTorrent *t, gboolean pinned)
{
	t->pinned = pinned;
	t->now = g_get_monotonic_time();
	change_priorities(t, 0, t->piece_count - 1);
}

void net_torrent_want_range(NetTorrent *t, guint64 offset, guint64 length)
{
	guint32 first, last;

	if (!range_pieces(t, offset, length, &first, &last))
		return;
	for (guint32 i = first; i <= last; i++)
		net_bitfield_set(t->readahead, i);
	t->now = g_get_monotonic_time();
	change_priorities(t, first, last);
}

static guint32 count_missing(const NetTorrent *t, guint32 first, guint32 last)
{
	guint32 missing = 0;

	for (guint32 i = first; i <= last; i++)
		missing += !net_picker_has(t->picker, i);
	return missing;
}

guint net_torrent_wait_range(NetTorrent *t, guint64 offset, guint64 length,
			     gint64 deadline_us, NetTorrentReadyFunc func,
			     gpointer data)
{
	Waiter *w = g_new0(Waiter, 1);

	w->torrent = t;
	w->id = ++t->next_waiter ? t->next_waiter : ++t->next_waiter;
	w->func = func;
	w->data = data;
	if (range_pieces(t, offset, length, &w->first, &w->last))
		w->missing = count_missing(t, w->first, w->last);
	g_hash_table_insert(t->waiters, GUINT_TO_POINTER(w->id), w);
	waiter_arm(t, w, deadline_us);
	if (w->missing > 0) {
		for (guint32 i = w->first; i <= w->last; i++)
			t->critical[i]++;
		t->now = g_get_monotonic_time();
		change_priorities(t, w->first, w->last);
	}
	return w->id;
}

void net_torrent_cancel_wait(NetTorrent *t, guint id)
{
	Waiter *w = g_hash_table_lookup(t->waiters, GUINT_TO_POINTER(id));

	if (!w)
		return;
	waiter_remove(t, w);
	g_free(w);
}

gboolean net_torrent_range_ready(NetTorrent *t, guint64 offset, guint64 length)
{
	guint32 first, last;

	if (!range_pieces(t, offset, length, &first, &last))
		return TRUE;
	for (guint32 i = first; i <= last; i++)
		if (!net_store_has_piece(t->store, i))
			return FALSE;
	return TRUE;
}

void net_torrent_get_stats(NetTorrent *t, NetTorrentStats *stats)
{
	gint64 now = g_get_monotonic_time();

	memset(stats, 0, sizeof *stats);
	stats->piece_count = t->piece_count;
	stats->pieces_verified = net_store_verified_count(t->store);
	stats->length = net_metainfo_get_length(t->mi);
	stats->left = stats->length - net_store_verified_bytes(t->store);
	stats->downloaded = t->downloaded;
	stats->uploaded = t->uploaded;
	stats->download_rate = net_rate_get(t->down_rate, now);
	stats->upload_rate = net_rate_get(t->up_rate, now);
	for (GList *l = t->links.head; l; l = l->next) {
		Link *link = l->data;
		const NetBitfield *have = net_peer_get_peer_have(link->peer);
		if (!net_peer_is_ready(link->peer))
			continue;
		stats->peers++;
		stats->seeders += have && net_bitfield_is_complete(have);
	}
}
