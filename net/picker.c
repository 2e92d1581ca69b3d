#include "picker.h"

#include <string.h>

/* How many peers may be asked for one block at once: critical blocks
 * twice (a read is waiting), any block three times in end game. */
#define CRITICAL_MAX_REQUESTS 2u
#define END_GAME_MAX_REQUESTS 3u

typedef struct {
	gconstpointer sender; /* once received */
	guint8 requests; /* peers asked, not answered */
	gboolean received;
} Block;

/* A piece with blocks requested or received, until we have it. */
typedef struct {
	guint32 n_blocks;
	guint32 n_unrequested; /* neither received nor requested */
	guint active_pos; /* index in NetPicker.active */
	Block blocks[];
} Progress;

typedef struct {
	NetBitfield *has;
	GHashTable *requests; /* block keys in flight to this peer */
} Peer;

struct _NetPicker {
	guint32 piece_count;
	guint32 piece_length;
	guint32 blocks_per_piece;
	guint64 length;
	NetBitfield *have;
	guint8 *priority; /* NetPickerPriority */
	guint32 *availability;
	guint32 *salt; /* random tie-break, fixed per piece */
	Progress **progress; /* per piece, NULL unless in flight */
	GArray *active; /* guint32 pieces that have a Progress */
	/* Pieces with unrequested blocks that we want, best first. */
	GSequence *wanted;
	GSequenceIter **wanted_iter; /* per piece, NULL unless in wanted */
	GHashTable *peers; /* peer -> Peer */
};

/* ---- geometry ------------------------------------------------------- */

static guint32 piece_size(const NetPicker *picker, guint32 piece)
{
	return (guint32)MIN((guint64)picker->piece_length,
			    picker->length -
				    (guint64)piece * picker->piece_length);
}

guint32 net_picker_block_count(const NetPicker *picker, guint32 piece)
{
	g_return_val_if_fail(piece < picker->piece_count, 0);
	return (piece_size(picker, piece) + NET_PICKER_BLOCK_SIZE - 1) /
	       NET_PICKER_BLOCK_SIZE;
}

guint32 net_picker_block_length(const NetPicker *picker, guint32 piece,
				guint32 block)
{
	guint32 begin = block * NET_PICKER_BLOCK_SIZE;

	g_return_val_if_fail(block < net_picker_block_count(picker, piece), 0);
	return MIN(NET_PICKER_BLOCK_SIZE, piece_size(picker, piece) - begin);
}

/* A block's key in the peers' request sets; never NULL. */
static gpointer block_key(const NetPicker *picker, guint32 piece, guint32 block)
{
	return GSIZE_TO_POINTER((gsize)piece * picker->blocks_per_piece +
				block + 1);
}

static void key_to_block(const NetPicker *picker, gpointer key, guint32 *piece,
			 guint32 *block)
{
	gsize n = GPOINTER_TO_SIZE(key) - 1;

	*piece = (guint32)(n / picker->blocks_per_piece);
	*block = (guint32)(n % picker->blocks_per_piece);
}

/* ---- the wanted sequence ------------------------------------------- */

static gint piece_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
	const NetPicker *picker = data;
	guint32 x = GPOINTER_TO_UINT(a), y = GPOINTER_TO_UINT(b);
	guint8 px = picker->priority[x], py = picker->priority[y];

	if (px != py)
		return px > py ? -1 : 1;
	if (px == NET_PICKER_NORMAL) {
		/* Finishing started pieces first keeps few pieces half
		 * done; then rarest first, then a random tie-break. */
		gboolean sx = picker->progress[x] != NULL;
		gboolean sy = picker->progress[y] != NULL;
		if (sx != sy)
			return sx ? -1 : 1;
		if (picker->availability[x] != picker->availability[y])
			return picker->availability[x] < picker->availability[y]
				       ? -1
				       : 1;
		if (picker->salt[x] != picker->salt[y])
			return picker->salt[x] < picker->salt[y] ? -1 : 1;
	}
	return x < y ? -1 : x > y;
}

static guint32 unrequested(const NetPicker *picker, guint32 piece)
{
	const Progress *p = picker->progress[piece];
	return p ? p->n_unrequested : net_picker_block_count(picker, piece);
}

/* Puts @piece where it belongs in the wanted sequence after one of its
 * keys changed. Call after every change to one piece, before touching
 * another, or the sequence's order breaks. */
static void reposition(NetPicker *picker, guint32 piece)
{
	GSequenceIter **it = &picker->wanted_iter[piece];
	gboolean want = net_picker_wants(picker, piece) &&
			unrequested(picker, piece) > 0;

	if (want && *it != NULL) {
		g_sequence_sort_changed(*it, piece_cmp, picker);
	} else if (want) {
		*it = g_sequence_insert_sorted(picker->wanted,
					       GUINT_TO_POINTER(piece),
					       piece_cmp, picker);
	} else if (*it != NULL) {
		g_sequence_remove(*it);
		*it = NULL;
	}
}

/* ---- pieces in flight ----------------------------------------------- */

static Progress *progress_get(NetPicker *picker, guint32 piece)
{
	Progress *p = picker->progress[piece];
	guint32 n;

	if (p != NULL)
		return p;
	n = net_picker_block_count(picker, piece);
	p = g_malloc0(sizeof(Progress) + n * sizeof(Block));
	p->n_blocks = n;
	p->n_unrequested = n;
	p->active_pos = picker->active->len;
	g_array_append_val(picker->active, piece);
	picker->progress[piece] = p;
	return p;
}

static void progress_drop(NetPicker *picker, guint32 piece)
{
	Progress *p = picker->progress[piece];
	guint32 last;

	if (p == NULL)
		return;
	last = g_array_index(picker->active, guint32, picker->active->len - 1);
	g_array_index(picker->active, guint32, p->active_pos) = last;
	picker->progress[last]->active_pos = p->active_pos;
	g_array_set_size(picker->active, picker->active->len - 1);
	picker->progress[piece] = NULL;
	g_free(p);
}

static void add_request(NetPicker *picker, Peer *peer, guint32 piece,
			guint32 block, NetPickerRequest *out)
{
	Progress *p = progress_get(picker, piece);

	out->duplicate = p->blocks[block].requests++ > 0;
	if (!out->duplicate)
		p->n_unrequested--;
	g_hash_table_add(peer->requests, block_key(picker, piece, block));
	out->piece = piece;
	out->begin = block * NET_PICKER_BLOCK_SIZE;
	out->length = net_picker_block_length(picker, piece, block);
}

/* One request for the block is gone; the caller repositions. */
static void drop_request(NetPicker *picker, guint32 piece, guint32 block)
{
	Progress *p = picker->progress[piece];
	Block *b = p ? &p->blocks[block] : NULL;

	if (b == NULL || b->requests == 0)
		return;
	if (--b->requests == 0 && !b->received)
		p->n_unrequested++;
}

/* Removes every peer's request for @piece/@block, appending the peers
 * other than @except to @cancel. */
static void forget_block(NetPicker *picker, guint32 piece, guint32 block,
			 gconstpointer except, GPtrArray *cancel)
{
	gpointer key = block_key(picker, piece, block);
	GHashTableIter iter;
	gpointer peer_key, value;

	g_hash_table_iter_init(&iter, picker->peers);
	while (g_hash_table_iter_next(&iter, &peer_key, &value)) {
		Peer *peer = value;
		if (g_hash_table_remove(peer->requests, key) &&
		    peer_key != except && cancel != NULL)
			g_ptr_array_add(cancel, peer_key);
	}
	picker->progress[piece]->blocks[block].requests = 0;
}

static void forget_piece(NetPicker *picker, guint32 piece)
{
	Progress *p = picker->progress[piece];

	for (guint32 b = 0; p != NULL && b < p->n_blocks; b++)
		if (p->blocks[b].requests > 0)
			forget_block(picker, piece, b, NULL, NULL);
	progress_drop(picker, piece);
}

/* ---- life cycle ----------------------------------------------------- */

static void peer_free(gpointer data)
{
	Peer *peer = data;

	net_bitfield_free(peer->has);
	g_hash_table_destroy(peer->requests);
	g_free(peer);
}

NetPicker *net_picker_new(guint32 piece_count, guint32 piece_length,
			  guint64 length)
{
	NetPicker *picker;

	g_return_val_if_fail(piece_length > 0 &&
				     piece_length % NET_PICKER_BLOCK_SIZE == 0,
			     NULL);
	g_return_val_if_fail((length + piece_length - 1) / piece_length ==
				     piece_count,
			     NULL);
	picker = g_new0(NetPicker, 1);
	picker->piece_count = piece_count;
	picker->piece_length = piece_length;
	picker->blocks_per_piece = piece_length / NET_PICKER_BLOCK_SIZE;
	picker->length = length;
	picker->have = net_bitfield_new(piece_count);
	picker->priority = g_new0(guint8, piece_count);
	picker->availability = g_new0(guint32, piece_count);
	picker->salt = g_new(guint32, piece_count);
	for (guint32 i = 0; i < piece_count; i++)
		picker->salt[i] = g_random_int();
	picker->progress = g_new0(Progress *, piece_count);
	picker->active = g_array_new(FALSE, FALSE, sizeof(guint32));
	picker->wanted = g_sequence_new(NULL);
	picker->wanted_iter = g_new0(GSequenceIter *, piece_count);
	picker->peers = g_hash_table_new_full(NULL, NULL, NULL, peer_free);
	return picker;
}

void net_picker_free(NetPicker *picker)
{
	if (picker == NULL)
		return;
	g_hash_table_destroy(picker->peers);
	for (guint i = 0; i < picker->active->len; i++)
		g_free(picker->progress[g_array_index(picker->active, guint32,
						      i)]);
	g_array_free(picker->active, TRUE);
	g_sequence_free(picker->wanted);
	g_free(picker->wanted_iter);
	g_free(picker->progress);
	g_free(picker->salt);
	g_free(picker->availability);
	g_free(picker->priority);
	net_bitfield_free(picker->have);
	g_free(picker);
}

/* ---- our side ------------------------------------------------------- */

void net_picker_set_priority(NetPicker *picker, guint32 first, guint32 count,
			     NetPickerPriority priority)
{
	g_return_if_fail(first <= picker->piece_count &&
			 count <= picker->piece_count - first);
	g_return_if_fail(priority <= NET_PICKER_CRITICAL);
	for (guint32 i = first; i < first + count; i++) {
		picker->priority[i] = (guint8)priority;
		reposition(picker, i);
	}
}

void net_picker_set_have(NetPicker *picker, guint32 piece)
{
	g_return_if_fail(piece < picker->piece_count);
	net_bitfield_set(picker->have, piece);
	forget_piece(picker, piece);
	reposition(picker, piece);
}

gboolean net_picker_has(const NetPicker *picker, guint32 piece)
{
	g_return_val_if_fail(piece < picker->piece_count, FALSE);
	return net_bitfield_get(picker->have, piece);
}

gboolean net_picker_wants(const NetPicker *picker, guint32 piece)
{
	g_return_val_if_fail(piece < picker->piece_count, FALSE);
	return picker->priority[piece] != NET_PICKER_SKIP &&
	       !net_bitfield_get(picker->have, piece);
}

guint32 net_picker_availability(const NetPicker *picker, guint32 piece)
{
	g_return_val_if_fail(piece < picker->piece_count, 0);
	return picker->availability[piece];
}

/* ---- peers ---------------------------------------------------------- */

static Peer *peer_lookup(const NetPicker *picker, gconstpointer peer)
{
	return g_hash_table_lookup(picker->peers, peer);
}

static void count_piece(NetPicker *picker, guint32 piece, gint delta)
{
	picker->availability[piece] += (guint32)delta;
	reposition(picker, piece);
}

void net_picker_peer_add(NetPicker *picker, gconstpointer peer,
			 const NetBitfield *has)
{
	Peer *p;

	g_return_if_fail(peer_lookup(picker, peer) == NULL);
	g_return_if_fail(has == NULL ||
			 net_bitfield_size(has) == picker->piece_count);
	p = g_new0(Peer, 1);
	p->has = has ? net_bitfield_copy(has)
		     : net_bitfield_new(picker->piece_count);
	p->requests = g_hash_table_new(NULL, NULL);
	g_hash_table_insert(picker->peers, (gpointer)peer, p);
	for (guint32 i = 0; i < picker->piece_count; i++)
		if (net_bitfield_get(p->has, i))
			count_piece(picker, i, +1);
}

void net_picker_peer_set_bitfield(NetPicker *picker, gconstpointer peer,
				  const NetBitfield *has)
{
	Peer *p = peer_lookup(picker, peer);

	g_return_if_fail(p != NULL);
	g_return_if_fail(net_bitfield_size(has) == picker->piece_count);
	for (guint32 i = 0; i < picker->piece_count; i++) {
		gboolean had = net_bitfield_get(p->has, i);
		if (had != net_bitfield_get(has, i))
			count_piece(picker, i, had ? -1 : +1);
	}
	net_bitfield_free(p->has);
	p->has = net_bitfield_copy(has);
}

gboolean net_picker_peer_have(NetPicker *picker, gconstpointer peer,
			      guint32 piece)
{
	Peer *p = peer_lookup(picker, peer);

	g_return_val_if_fail(p != NULL, FALSE);
	if (piece >= picker->piece_count)
		return FALSE;
	if (!net_bitfield_get(p->has, piece)) {
		net_bitfield_set(p->has, piece);
		count_piece(picker, piece, +1);
	}
	return TRUE;
}

void net_picker_peer_cancel_all(NetPicker *picker, gconstpointer peer)
{
	Peer *p = peer_lookup(picker, peer);
	GHashTableIter iter;
	gpointer key;

	g_return_if_fail(p != NULL);
	g_hash_table_iter_init(&iter, p->requests);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		guint32 piece, block;
		key_to_block(picker, key, &piece, &block);
		drop_request(picker, piece, block);
		reposition(picker, piece);
	}
	g_hash_table_remove_all(p->requests);
}

void net_picker_peer_remove(NetPicker *picker, gconstpointer peer)
{
	Peer *p = peer_lookup(picker, peer);

	g_return_if_fail(p != NULL);
	net_picker_peer_cancel_all(picker, peer);
	for (guint32 i = 0; i < picker->piece_count; i++)
		if (net_bitfield_get(p->has, i))
			count_piece(picker, i, -1);
	g_hash_table_remove(picker->peers, peer);
}

gboolean net_picker_peer_is_interesting(const NetPicker *picker,
					gconstpointer peer)
{
	const Peer *p = peer_lookup(picker, peer);

	g_return_val_if_fail(p != NULL, FALSE);
	for (guint32 i = 0; i < picker->piece_count; i++)
		if (net_bitfield_get(p->has, i) && net_picker_wants(picker, i))
			return TRUE;
	return FALSE;
}

guint net_picker_peer_pending(const NetPicker *picker, gconstpointer peer)
{
	const Peer *p = peer_lookup(picker, peer);

	g_return_val_if_fail(p != NULL, 0);
	return g_hash_table_size(p->requests);
}

/* ---- choosing requests ---------------------------------------------- */

/* Requests of @piece's blocks that nobody was asked for yet. */
static guint take_fresh(NetPicker *picker, Peer *peer, guint32 piece, guint max,
			NetPickerRequest *out, guint n)
{
	const Progress *p = picker->progress[piece];
	guint32 count = net_picker_block_count(picker, piece);

	for (guint32 b = 0; b < count && n < max; b++) {
		if (p == NULL ||
		    (!p->blocks[b].received && p->blocks[b].requests == 0)) {
			add_request(picker, peer, piece, b, &out[n++]);
			p = picker->progress[piece];
		}
	}
	return n;
}

/* Walks the wanted sequence from the front while the priority is at
 * least @min_priority. */
static guint take_wanted(NetPicker *picker, Peer *peer, guint8 min_priority,
			 guint max, NetPickerRequest *out, guint n)
{
	GSequenceIter *it = g_sequence_get_begin_iter(picker->wanted);

	while (n < max && !g_sequence_iter_is_end(it)) {
		guint32 piece = GPOINTER_TO_UINT(g_sequence_get(it));
		/* Taking blocks can only move the piece forward (started)
		 * or out of the sequence, so the next one stays next. */
		GSequenceIter *next = g_sequence_iter_next(it);

		if (picker->priority[piece] < min_priority)
			break;
		if (net_bitfield_get(peer->has, piece)) {
			n = take_fresh(picker, peer, piece, max, out, n);
			reposition(picker, piece);
		}
		it = next;
	}
	return n;
}

/* Second (or third) requests for blocks in flight to other peers. */
static guint take_duplicates(NetPicker *picker, Peer *peer, guint8 min_priority,
			     guint cap, guint max, NetPickerRequest *out,
			     guint n)
{
	for (guint i = 0; i < picker->active->len && n < max; i++) {
		guint32 piece = g_array_index(picker->active, guint32, i);
		const Progress *p = picker->progress[piece];

		if (picker->priority[piece] < min_priority ||
		    !net_picker_wants(picker, piece) ||
		    !net_bitfield_get(peer->has, piece))
			continue;
		for (guint32 b = 0; b < p->n_blocks && n < max; b++) {
			const Block *blk = &p->blocks[b];
			if (!blk->received && blk->requests < cap &&
			    !g_hash_table_contains(peer->requests,
						   block_key(picker, piece, b)))
				add_request(picker, peer, piece, b, &out[n++]);
		}
	}
	return n;
}

/* Where take_duplicates must stop for @out to hold at most @max
 * requests and @budget duplicates beyond the @n it holds. */
static guint duplicates_end(guint n, guint max, guint budget)
{
	return n + MIN(max - n, budget);
}

guint net_picker_next_requests(NetPicker *picker, gconstpointer peer, guint max,
			       guint max_duplicates, NetPickerRequest *out)
{
	Peer *p = peer_lookup(picker, peer);
	guint n, before;

	g_return_val_if_fail(p != NULL, 0);
	n = take_wanted(picker, p, NET_PICKER_CRITICAL, max, out, 0);
	before = n;
	n = take_duplicates(picker, p, NET_PICKER_CRITICAL,
			    CRITICAL_MAX_REQUESTS,
			    duplicates_end(n, max, max_duplicates), out, n);
	max_duplicates -= n - before;
	n = take_wanted(picker, p, NET_PICKER_NORMAL, max, out, n);
	if (g_sequence_is_empty(picker->wanted))
		n = take_duplicates(
			picker, p, NET_PICKER_NORMAL, END_GAME_MAX_REQUESTS,
			duplicates_end(n, max, max_duplicates), out, n);
	return n;
}

/* ---- answers -------------------------------------------------------- */

static gboolean parse_block(const NetPicker *picker, guint32 piece,
			    guint32 begin, guint32 *block)
{
	if (piece >= picker->piece_count || begin % NET_PICKER_BLOCK_SIZE != 0)
		return FALSE;
	*block = begin / NET_PICKER_BLOCK_SIZE;
	return *block < net_picker_block_count(picker, piece);
}

gboolean net_picker_block_received(NetPicker *picker, gconstpointer peer,
				   guint32 piece, guint32 begin,
				   GPtrArray *cancel)
{
	Peer *sender = peer_lookup(picker, peer);
	Progress *p;
	Block *b;
	guint32 block;

	if (!parse_block(picker, piece, begin, &block))
		return FALSE;
	if (sender != NULL &&
	    g_hash_table_remove(sender->requests,
				block_key(picker, piece, block)))
		drop_request(picker, piece, block);
	/* Not wanted covers pieces we have and blocks nobody asked for
	 * of pieces nobody wants, which would otherwise linger. */
	if (!net_picker_wants(picker, piece) ||
	    (picker->progress[piece] != NULL &&
	     picker->progress[piece]->blocks[block].received)) {
		reposition(picker, piece);
		return FALSE;
	}
	/* Unrequested blocks are taken too: a late answer to a request
	 * that timed out is as good as any. */
	p = progress_get(picker, piece);
	b = &p->blocks[block];
	if (b->requests == 0)
		p->n_unrequested--;
	else
		forget_block(picker, piece, block, peer, cancel);
	b->received = TRUE;
	b->sender = peer;
	reposition(picker, piece);
	return TRUE;
}

void net_picker_request_cancelled(NetPicker *picker, gconstpointer peer,
				  guint32 piece, guint32 begin)
{
	Peer *p = peer_lookup(picker, peer);
	guint32 block;

	if (p == NULL || !parse_block(picker, piece, begin, &block))
		return;
	if (g_hash_table_remove(p->requests, block_key(picker, piece, block))) {
		drop_request(picker, piece, block);
		reposition(picker, piece);
	}
}

void net_picker_piece_failed(NetPicker *picker, guint32 piece,
			     GPtrArray *senders)
{
	const Progress *p;

	g_return_if_fail(piece < picker->piece_count);
	p = picker->progress[piece];
	for (guint32 b = 0; p != NULL && senders != NULL && b < p->n_blocks;
	     b++) {
		gpointer who = (gpointer)p->blocks[b].sender;
		if (p->blocks[b].received &&
		    !g_ptr_array_find(senders, who, NULL))
			g_ptr_array_add(senders, who);
	}
	forget_piece(picker, piece);
	reposition(picker, piece);
}
