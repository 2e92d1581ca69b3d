/* test-picker: request scheduling, down to a simulated swarm. */
#include <string.h>

#include "picker.h"

#define KiB 1024u
#define BLOCK NET_PICKER_BLOCK_SIZE

/* Fake peers: the picker only uses their addresses as keys. */
static char peers[64];
#define PEER(i) ((gconstpointer)&peers[i])

/* Requests for peer @i with no cap of ours on duplicates: the picker's
 * per-block caps alone. */
static guint next_requests(NetPicker *picker, guint i, guint max,
			   NetPickerRequest *out)
{
	return net_picker_next_requests(picker, PEER(i), max, G_MAXUINT, out);
}

static NetBitfield *bits_of(guint32 n, const char *pattern)
{
	NetBitfield *bf = net_bitfield_new(n);

	for (guint32 i = 0; i < n && pattern[i]; i++)
		if (pattern[i] == '1')
			net_bitfield_set(bf, i);
	return bf;
}

static NetBitfield *all_bits(guint32 n)
{
	NetBitfield *bf = net_bitfield_new(n);
	net_bitfield_set_all(bf);
	return bf;
}

static void add_peer(NetPicker *picker, guint i, const NetBitfield *has)
{
	net_picker_peer_add(picker, PEER(i), has);
}

/* 8 pieces of 2 blocks; peer 0 has all, 1 has 0-5, 2 has 0-3. */
static NetPicker *picker_three_peers(void)
{
	NetPicker *picker = net_picker_new(8, 2 * BLOCK, 8 * 2 * BLOCK);
	g_autoptr(NetBitfield) all = all_bits(8);
	g_autoptr(NetBitfield) six = bits_of(8, "11111100");
	g_autoptr(NetBitfield) four = bits_of(8, "11110000");

	add_peer(picker, 0, all);
	add_peer(picker, 1, six);
	add_peer(picker, 2, four);
	return picker;
}

static void test_nothing_by_default(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[64];

	g_assert_cmpuint(next_requests(picker, 0, 64, out), ==, 0);
	g_assert_false(net_picker_peer_is_interesting(picker, PEER(0)));
	net_picker_set_priority(picker, 7, 1, NET_PICKER_NORMAL);
	g_assert_true(net_picker_peer_is_interesting(picker, PEER(0)));
	g_assert_false(net_picker_peer_is_interesting(picker, PEER(1)));
	g_assert_cmpuint(next_requests(picker, 0, 64, out), ==, 2);
	g_assert_cmpuint(out[0].piece, ==, 7);
	g_assert_cmpuint(out[1].piece, ==, 7);
}

static void test_availability(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	guint32 expected[8] = {3, 3, 3, 3, 2, 2, 1, 1};

	for (guint32 i = 0; i < 8; i++)
		g_assert_cmpuint(net_picker_availability(picker, i), ==,
				 expected[i]);
	g_assert_true(net_picker_peer_have(picker, PEER(2), 6));
	g_assert_true(net_picker_peer_have(picker, PEER(2), 6));
	g_assert_false(net_picker_peer_have(picker, PEER(2), 8));
	g_assert_false(net_picker_peer_have(picker, PEER(2), G_MAXUINT32));
	g_assert_cmpuint(net_picker_availability(picker, 6), ==, 2);
	net_picker_peer_remove(picker, PEER(0));
	g_assert_cmpuint(net_picker_availability(picker, 6), ==, 1);
	g_assert_cmpuint(net_picker_availability(picker, 7), ==, 0);
	g_assert_cmpuint(net_picker_availability(picker, 0), ==, 2);
}

/* A bitfield replaces what a peer had: availability follows, and its
 * requests stay in flight. */
static void test_set_bitfield(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	g_autoptr(NetBitfield) back = bits_of(8, "00001111");
	guint32 expected[8] = {2, 2, 2, 2, 3, 3, 2, 2};
	NetPickerRequest out[4];

	net_picker_set_priority(picker, 0, 1, NET_PICKER_NORMAL);
	g_assert_cmpuint(next_requests(picker, 2, 4, out), ==, 2);
	g_assert_true(net_picker_peer_is_interesting(picker, PEER(2)));
	net_picker_peer_set_bitfield(picker, PEER(2), back);
	for (guint32 i = 0; i < 8; i++)
		g_assert_cmpuint(net_picker_availability(picker, i), ==,
				 expected[i]);
	g_assert_false(net_picker_peer_is_interesting(picker, PEER(2)));
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(2)), ==, 2);
	/* Removing the peer takes away what it has now, no more. */
	net_picker_peer_remove(picker, PEER(2));
	g_assert_cmpuint(net_picker_availability(picker, 0), ==, 2);
	g_assert_cmpuint(net_picker_availability(picker, 7), ==, 1);
}

/* Asking a peer that has everything for one piece at a time visits
 * the pieces from the rarest to the most common. */
static void test_rarest_first(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[2];
	guint32 last_availability = 0;

	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	for (guint i = 0; i < 8; i++) {
		g_assert_cmpuint(next_requests(picker, 0, 2, out), ==, 2);
		g_assert_cmpuint(out[0].piece, ==, out[1].piece);
		guint32 a = net_picker_availability(picker, out[0].piece);
		g_assert_cmpuint(a, >=, last_availability);
		last_availability = a;
	}
	g_assert_cmpuint(last_availability, ==, 3);
}

/* A started piece is finished before a rarer one is begun. */
static void test_started_first(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[4];

	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	g_assert_true(net_picker_block_received(picker, PEER(2), 1, 0, NULL));
	g_assert_cmpuint(next_requests(picker, 0, 2, out), ==, 2);
	g_assert_cmpuint(out[0].piece, ==, 1);
	g_assert_cmpuint(out[0].begin, ==, BLOCK);
	g_assert_cmpuint(net_picker_availability(picker, out[1].piece), ==, 1);
}

/* Many pieces of equal availability: different pickers start in
 * different places, so downloaders spread over the swarm. */
static void test_random_tie_break(void)
{
	g_autoptr(GHashTable) firsts = g_hash_table_new(NULL, NULL);
	g_autoptr(NetBitfield) all = all_bits(64);

	for (guint i = 0; i < 10; i++) {
		g_autoptr(NetPicker) picker =
			net_picker_new(64, BLOCK, 64 * BLOCK);
		NetPickerRequest out[1];
		net_picker_set_priority(picker, 0, 64, NET_PICKER_NORMAL);
		add_peer(picker, 0, all);
		g_assert_cmpuint(next_requests(picker, 0, 1, out), ==, 1);
		g_hash_table_add(firsts, GUINT_TO_POINTER(out[0].piece + 1));
	}
	/* Ten times the same of 64 would happen once in 64^9. */
	g_assert_cmpuint(g_hash_table_size(firsts), >, 1);
}

static void test_critical_first(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[16];
	guint32 expected[] = {3, 3, 4, 4, 1, 1, 2, 2};

	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	net_picker_set_priority(picker, 1, 2, NET_PICKER_READAHEAD);
	net_picker_set_priority(picker, 3, 2, NET_PICKER_CRITICAL);
	g_assert_cmpuint(next_requests(picker, 0, 8, out), ==, 8);
	for (guint i = 0; i < 8; i++) {
		g_assert_cmpuint(out[i].piece, ==, expected[i]);
		g_assert_cmpuint(out[i].begin, ==, (i % 2) * BLOCK);
	}
	/* Then back to rarest first. */
	g_assert_cmpuint(next_requests(picker, 0, 1, out), ==, 1);
	g_assert_cmpuint(net_picker_availability(picker, out[0].piece), ==, 1);
}

/* Once all critical blocks are in flight, a second peer asks for them
 * too, before anything else; a third does not. */
static void test_critical_duplicates(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[16];
	g_autoptr(GPtrArray) cancel = g_ptr_array_new();

	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	net_picker_set_priority(picker, 2, 1, NET_PICKER_CRITICAL);
	g_assert_cmpuint(next_requests(picker, 1, 2, out), ==, 2);
	g_assert_cmpuint(next_requests(picker, 2, 3, out), ==, 3);
	g_assert_cmpuint(out[0].piece, ==, 2);
	g_assert_cmpuint(out[1].piece, ==, 2);
	g_assert_cmpuint(out[2].piece, !=, 2);
	g_assert_cmpuint(next_requests(picker, 0, 1, out), ==, 1);
	g_assert_cmpuint(out[0].piece, !=, 2);

	g_assert_true(
		net_picker_block_received(picker, PEER(2), 2, BLOCK, cancel));
	g_assert_cmpuint(cancel->len, ==, 1);
	g_assert_true(cancel->pdata[0] == PEER(1));
	g_assert_false(
		net_picker_block_received(picker, PEER(1), 2, BLOCK, NULL));
}

/* Over and over until nothing is left: never a piece we have, never
 * one the peer lacks, never a block twice while not in end game. */
static void test_only_useful_requests(void)
{
	g_autoptr(NetPicker) picker =
		net_picker_new(8, 4 * BLOCK, 8 * 4 * BLOCK);
	g_autoptr(NetBitfield) has = bits_of(8, "10111011");
	g_autoptr(NetBitfield) other = bits_of(8, "01000000");
	g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
	NetPickerRequest out[3];
	guint n;

	add_peer(picker, 0, has);
	add_peer(picker, 1, other);
	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	net_picker_set_have(picker, 0);
	net_picker_set_have(picker, 4);
	while ((n = next_requests(picker, 0, 3, out)) > 0) {
		for (guint i = 0; i < n; i++) {
			gpointer key = GUINT_TO_POINTER(out[i].piece << 20 |
							out[i].begin / BLOCK);
			g_assert_true(net_bitfield_get(has, out[i].piece));
			g_assert_false(net_picker_has(picker, out[i].piece));
			g_assert_cmpuint(out[i].length, ==, BLOCK);
			g_assert_true(g_hash_table_add(seen, key));
		}
	}
	/* Pieces 2, 3, 6, 7 of four blocks each. */
	g_assert_cmpuint(g_hash_table_size(seen), ==, 16);
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(0)), ==, 16);
}

/* The caller caps duplicates per call: only they are held back, not
 * the fresh blocks that come after them, and each says what it is. */
static void test_duplicate_cap(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[16];

	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	net_picker_set_priority(picker, 2, 1, NET_PICKER_CRITICAL);
	g_assert_cmpuint(next_requests(picker, 1, 2, out), ==, 2);
	g_assert_false(out[0].duplicate || out[1].duplicate);
	g_assert_cmpuint(net_picker_next_requests(picker, PEER(2), 3, 1, out),
			 ==, 3);
	g_assert_cmpuint(out[0].piece, ==, 2);
	g_assert_true(out[0].duplicate);
	g_assert_cmpuint(out[1].piece, !=, 2);
	g_assert_false(out[1].duplicate || out[2].duplicate);
	/* Peer 0 takes everything fresh that is left... */
	g_assert_cmpuint(net_picker_next_requests(picker, PEER(0), 16, 0, out),
			 ==, 12);
	/* ...and then, in end game, duplicates up to the cap alone. */
	g_assert_cmpuint(net_picker_next_requests(picker, PEER(0), 16, 0, out),
			 ==, 0);
	g_assert_cmpuint(net_picker_next_requests(picker, PEER(0), 16, 2, out),
			 ==, 2);
	g_assert_true(out[0].duplicate && out[1].duplicate);
}

static void test_end_game(void)
{
	g_autoptr(NetPicker) picker = net_picker_new(2, 2 * BLOCK, 4 * BLOCK);
	g_autoptr(NetBitfield) all = all_bits(2);
	g_autoptr(GPtrArray) cancel = g_ptr_array_new();
	NetPickerRequest out[8];

	for (guint i = 0; i < 5; i++)
		add_peer(picker, i, all);
	net_picker_set_priority(picker, 0, 2, NET_PICKER_NORMAL);
	g_assert_cmpuint(next_requests(picker, 0, 8, out), ==, 4);
	/* Nothing left to ask peer 0 for: it has every block in flight. */
	g_assert_cmpuint(next_requests(picker, 0, 8, out), ==, 0);
	/* End game: peers 1 and 2 duplicate, peer 3 finds the cap. */
	g_assert_cmpuint(next_requests(picker, 1, 8, out), ==, 4);
	g_assert_cmpuint(next_requests(picker, 2, 8, out), ==, 4);
	g_assert_cmpuint(next_requests(picker, 3, 8, out), ==, 0);

	g_assert_true(
		net_picker_block_received(picker, PEER(1), 1, BLOCK, cancel));
	g_assert_cmpuint(cancel->len, ==, 2);
	g_assert_true(g_ptr_array_find(cancel, PEER(0), NULL));
	g_assert_true(g_ptr_array_find(cancel, PEER(2), NULL));
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(0)), ==, 3);
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(1)), ==, 3);
	/* The copies that were on their way anyway are duplicates. */
	g_assert_false(
		net_picker_block_received(picker, PEER(0), 1, BLOCK, NULL));
	/* The received block is never asked for again. */
	guint n = next_requests(picker, 3, 8, out);
	for (guint i = 0; i < n; i++)
		g_assert_false(out[i].piece == 1 && out[i].begin == BLOCK);
}

static void test_timeouts_return_blocks(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	NetPickerRequest out[16];

	net_picker_set_priority(picker, 0, 4, NET_PICKER_NORMAL);
	g_assert_cmpuint(next_requests(picker, 0, 16, out), ==, 8);
	/* Peers 1 and 2 have pieces 0-3 too, but everything is in flight
	 * to peer 0... */
	g_assert_cmpuint(next_requests(picker, 1, 1, out), ==, 1);
	net_picker_request_cancelled(picker, PEER(1), out[0].piece,
				     out[0].begin);
	/* ...until one request times out: exactly that block is free. */
	net_picker_request_cancelled(picker, PEER(0), 2, BLOCK);
	net_picker_request_cancelled(picker, PEER(0), 2, BLOCK);
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(0)), ==, 7);
	g_assert_cmpuint(next_requests(picker, 2, 1, out), ==, 1);
	g_assert_cmpuint(out[0].piece, ==, 2);
	g_assert_cmpuint(out[0].begin, ==, BLOCK);

	/* A choke drops the rest; a departure drops everything. Each time
	 * the 7 blocks come back, plus, everything being in flight (end
	 * game), a second request for the one that peer 2 has. */
	net_picker_peer_cancel_all(picker, PEER(0));
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(0)), ==, 0);
	g_assert_cmpuint(next_requests(picker, 1, 16, out), ==, 8);
	g_assert_cmpuint(out[7].piece, ==, 2);
	g_assert_cmpuint(out[7].begin, ==, BLOCK);
	net_picker_peer_remove(picker, PEER(1));
	g_assert_cmpuint(next_requests(picker, 0, 16, out), ==, 8);
	g_assert_cmpuint(net_picker_peer_pending(picker, PEER(0)), ==, 8);
}

static void test_last_piece_blocks(void)
{
	guint64 length = 3 * 64 * KiB + 20000;
	g_autoptr(NetPicker) picker = net_picker_new(4, 64 * KiB, length);
	g_autoptr(NetBitfield) all = all_bits(4);
	NetPickerRequest out[64];
	guint64 total = 0;
	guint n;

	g_assert_cmpuint(net_picker_block_count(picker, 3), ==, 2);
	g_assert_cmpuint(net_picker_block_length(picker, 3, 1), ==,
			 20000 - BLOCK);
	add_peer(picker, 0, all);
	net_picker_set_priority(picker, 0, 4, NET_PICKER_NORMAL);
	n = next_requests(picker, 0, 64, out);
	g_assert_cmpuint(n, ==, 14);
	for (guint i = 0; i < n; i++) {
		g_assert_cmpuint(out[i].begin + out[i].length, <=,
				 out[i].piece == 3 ? 20000 : 64 * KiB);
		total += out[i].length;
	}
	g_assert_cmpuint(total, ==, length);
	/* A begin past the last block, or not on a block, is nothing. */
	g_assert_false(
		net_picker_block_received(picker, PEER(0), 3, 2 * BLOCK, NULL));
	g_assert_false(net_picker_block_received(picker, PEER(0), 0, 1, NULL));
	g_assert_false(net_picker_block_received(picker, PEER(0), 4, 0, NULL));
}

static void test_piece_failed(void)
{
	g_autoptr(NetPicker) picker = picker_three_peers();
	g_autoptr(GPtrArray) senders = g_ptr_array_new();
	NetPickerRequest out[4];

	net_picker_set_priority(picker, 0, 8, NET_PICKER_NORMAL);
	g_assert_true(net_picker_block_received(picker, PEER(1), 0, 0, NULL));
	g_assert_true(
		net_picker_block_received(picker, PEER(2), 0, BLOCK, NULL));
	/* Complete, waiting for its hash: nothing of it is asked for. */
	g_assert_cmpuint(next_requests(picker, 2, 4, out), ==, 4);
	for (guint i = 0; i < 4; i++)
		g_assert_cmpuint(out[i].piece, !=, 0);
	net_picker_peer_cancel_all(picker, PEER(2));

	net_picker_piece_failed(picker, 0, senders);
	g_assert_cmpuint(senders->len, ==, 2);
	g_assert_true(g_ptr_array_find(senders, PEER(1), NULL));
	g_assert_true(g_ptr_array_find(senders, PEER(2), NULL));
	g_assert_true(net_picker_block_received(picker, PEER(0), 0, 0, NULL));
	net_picker_set_have(picker, 1);
	g_assert_false(net_picker_block_received(picker, PEER(0), 1, 0, NULL));
	/* Nor is a block of a piece nobody wants. */
	g_assert_false(net_picker_wants(picker, 1));
	net_picker_set_priority(picker, 7, 1, NET_PICKER_SKIP);
	g_assert_false(net_picker_block_received(picker, PEER(0), 7, 0, NULL));
}

/* ---- a simulated swarm --------------------------------------------- */

typedef struct {
	GRand *rand;
	NetPicker *picker;
	guint32 pieces;
	guint n_peers;
	gboolean present[64]; /* added to the picker */
	NetBitfield *has[64];
	GPtrArray *queue[64]; /* NetPickerRequest* in flight */
	gboolean liar[64]; /* sends bad data now and then */
	gboolean staller[64]; /* never answers */
	guint8 *got; /* per block: times written for the current try */
	gboolean *bad; /* per block: the written copy is bad */
	guint32 blocks_per_piece;
	guint failures;
} Swarm;

static guint32 block_index(const Swarm *s, guint32 piece, guint32 begin)
{
	return piece * s->blocks_per_piece + begin / BLOCK;
}

static void swarm_join(Swarm *s, guint i)
{
	net_picker_peer_add(s->picker, PEER(i), s->has[i]);
	s->present[i] = TRUE;
}

static void swarm_leave(Swarm *s, guint i)
{
	net_picker_peer_remove(s->picker, PEER(i));
	g_ptr_array_set_size(s->queue[i], 0);
	s->present[i] = FALSE;
}

/* The peer forgets a request: drop it from the simulated queue. */
static void queue_drop(Swarm *s, guint i, guint32 piece, guint32 begin)
{
	for (guint k = 0; k < s->queue[i]->len; k++) {
		NetPickerRequest *r = s->queue[i]->pdata[k];
		if (r->piece == piece && r->begin == begin) {
			g_ptr_array_remove_index_fast(s->queue[i], k);
			return;
		}
	}
	g_assert_not_reached(); /* a cancel for a request never made */
}

static void fill_queue(Swarm *s, guint i)
{
	NetPickerRequest out[16];
	guint n = next_requests(s->picker, i, 16 - MIN(16, s->queue[i]->len),
				out);

	for (guint k = 0; k < n; k++) {
		g_assert_true(net_bitfield_get(s->has[i], out[k].piece));
		g_assert_false(net_picker_has(s->picker, out[k].piece));
		g_assert_cmpuint(out[k].length, ==,
				 net_picker_block_length(s->picker,
							 out[k].piece,
							 out[k].begin / BLOCK));
		g_ptr_array_add(s->queue[i],
				g_memdup2(&out[k], sizeof(out[k])));
	}
}

static gboolean piece_written(const Swarm *s, guint32 piece)
{
	guint32 n = net_picker_block_count(s->picker, piece);

	for (guint32 b = 0; b < n; b++)
		if (s->got[piece * s->blocks_per_piece + b] != 1)
			return FALSE;
	return TRUE;
}

/* What the store would do once every block of a piece is written. */
static void verify_piece(Swarm *s, guint32 piece)
{
	guint32 n = net_picker_block_count(s->picker, piece);
	gboolean ok = TRUE;

	for (guint32 b = 0; b < n; b++) {
		guint32 x = piece * s->blocks_per_piece + b;
		ok = ok && !s->bad[x];
		s->got[x] = 0;
		s->bad[x] = FALSE;
	}
	if (ok) {
		net_picker_set_have(s->picker, piece);
		return;
	}
	g_autoptr(GPtrArray) senders = g_ptr_array_new();
	net_picker_piece_failed(s->picker, piece, senders);
	g_assert_cmpuint(senders->len, >, 0);
	s->failures++;
}

static void deliver(Swarm *s, guint i, NetPickerRequest *r)
{
	g_autoptr(GPtrArray) cancel = g_ptr_array_new();
	guint32 x = block_index(s, r->piece, r->begin);

	if (!net_picker_block_received(s->picker, PEER(i), r->piece, r->begin,
				       cancel))
		return;
	g_assert_cmpuint(++s->got[x], ==, 1);
	s->bad[x] = s->liar[i] && g_rand_int_range(s->rand, 0, 4) == 0;
	for (guint k = 0; k < cancel->len; k++) {
		guint j = (guint)((const char *)cancel->pdata[k] - peers);
		g_assert_cmpuint(j, !=, i);
		queue_drop(s, j, r->piece, r->begin);
	}
	if (piece_written(s, r->piece))
		verify_piece(s, r->piece);
}

/* One tick of peer @i: answer a few requests, or time them out if it
 * stalls, then top the queue up. */
static void peer_tick(Swarm *s, guint i)
{
	guint answers = (guint)g_rand_int_range(s->rand, 0, 6);

	gboolean timed_out = FALSE;

	for (guint k = 0; k < answers && s->queue[i]->len > 0; k++) {
		guint at = (guint)g_rand_int_range(s->rand, 0,
						   (gint32)s->queue[i]->len);
		NetPickerRequest *r =
			g_ptr_array_steal_index_fast(s->queue[i], at);
		if (s->staller[i]) {
			net_picker_request_cancelled(s->picker, PEER(i),
						     r->piece, r->begin);
			timed_out = TRUE;
		} else {
			deliver(s, i, r);
		}
		g_free(r);
	}
	/* The engine does not ask a peer again in the tick its requests
	 * timed out. */
	if (!timed_out)
		fill_queue(s, i);
}

static void swarm_setup(Swarm *s, guint32 pieces, guint32 piece_length,
			guint n_peers)
{
	guint64 length = (guint64)pieces * piece_length - 1000;

	s->rand = g_rand_new_with_seed(g_test_rand_int());
	s->picker = net_picker_new(pieces, piece_length, length);
	s->pieces = pieces;
	s->n_peers = n_peers;
	s->blocks_per_piece = piece_length / BLOCK;
	s->got = g_new0(guint8, (gsize)pieces * s->blocks_per_piece);
	s->bad = g_new0(gboolean, (gsize)pieces * s->blocks_per_piece);
	for (guint i = 0; i < n_peers; i++) {
		s->has[i] = net_bitfield_new(pieces);
		for (guint32 p = 0; p < pieces; p++)
			if (g_rand_int_range(s->rand, 0, 3) == 0)
				net_bitfield_set(s->has[i], p);
		s->queue[i] = g_ptr_array_new_with_free_func(g_free);
		s->liar[i] = i % 5 == 1;
		s->staller[i] = i % 7 == 3;
		swarm_join(s, i);
	}
	/* A seeder that always stays, so that the swarm can finish. */
	net_bitfield_set_all(s->has[0]);
	s->liar[0] = s->staller[0] = FALSE;
	swarm_leave(s, 0);
	swarm_join(s, 0);
	net_picker_set_priority(s->picker, 0, pieces, NET_PICKER_NORMAL);
}

static void swarm_teardown(Swarm *s)
{
	for (guint i = 0; i < s->n_peers; i++) {
		net_bitfield_free(s->has[i]);
		g_ptr_array_unref(s->queue[i]);
	}
	net_picker_free(s->picker);
	g_free(s->got);
	g_free(s->bad);
	g_rand_free(s->rand);
}

static gboolean swarm_done(Swarm *s)
{
	for (guint32 p = 0; p < s->pieces; p++)
		if (!net_picker_has(s->picker, p))
			return FALSE;
	return TRUE;
}

static void swarm_churn(Swarm *s)
{
	guint i = (guint)g_rand_int_range(s->rand, 1, (gint32)s->n_peers);

	if (s->present[i])
		swarm_leave(s, i);
	else
		swarm_join(s, i);
}

/* Returns how many pieces failed their (simulated) hash. */
static guint run_swarm(guint32 pieces, guint32 piece_length, guint n_peers)
{
	Swarm s = {0};
	guint ticks = 0;

	swarm_setup(&s, pieces, piece_length, n_peers);
	/* Critical pieces in the middle, like a reader's. */
	net_picker_set_priority(s.picker, pieces / 2, 3, NET_PICKER_CRITICAL);
	while (!swarm_done(&s)) {
		g_assert_cmpuint(++ticks, <, 200000);
		for (guint i = 0; i < n_peers; i++)
			if (s.present[i])
				peer_tick(&s, i);
		if (ticks % 16 == 0)
			swarm_churn(&s);
	}
	g_test_message("%u pieces, %u peers: %u ticks, %u bad pieces", pieces,
		       n_peers, ticks, s.failures);
	for (guint i = 0; i < n_peers; i++)
		if (s.present[i])
			g_assert_cmpuint(
				net_picker_peer_pending(s.picker, PEER(i)), ==,
				0);
	swarm_teardown(&s);
	return s.failures;
}

static void test_simulation_small(void)
{
	guint failures = 0;

	for (guint round = 0; round < 20; round++)
		failures += run_swarm(24, 4 * BLOCK, 6);
	g_assert_cmpuint(failures, >, 0);
}

/* The size the picker is built for: 4096 pieces of 32 blocks, dozens
 * of peers. */
static void test_simulation_large(void)
{
	g_assert_cmpuint(run_swarm(4096, 32 * BLOCK, 40), >, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/picker/nothing-by-default",
			test_nothing_by_default);
	g_test_add_func("/net/picker/availability", test_availability);
	g_test_add_func("/net/picker/rarest-first", test_rarest_first);
	g_test_add_func("/net/picker/started-first", test_started_first);
	g_test_add_func("/net/picker/random-tie-break", test_random_tie_break);
	g_test_add_func("/net/picker/critical-first", test_critical_first);
	g_test_add_func("/net/picker/critical-duplicates",
			test_critical_duplicates);
	g_test_add_func("/net/picker/only-useful-requests",
			test_only_useful_requests);
	g_test_add_func("/net/picker/end-game", test_end_game);
	g_test_add_func("/net/picker/duplicate-cap", test_duplicate_cap);
	g_test_add_func("/net/picker/set-bitfield", test_set_bitfield);
	g_test_add_func("/net/picker/timeouts-return-blocks",
			test_timeouts_return_blocks);
	g_test_add_func("/net/picker/last-piece-blocks",
			test_last_piece_blocks);
	g_test_add_func("/net/picker/piece-failed", test_piece_failed);
	g_test_add_func("/net/picker/simulation-small", test_simulation_small);
	g_test_add_func("/net/picker/simulation-large", test_simulation_large);
	return g_test_run();
}
