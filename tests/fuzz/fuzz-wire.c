/*
 * fuzz-wire: the wire decoder on hostile streams.
 *
 * Input: 2 bytes of piece count (big-endian, 0 = unknown), 1 byte of
 * flags (bit 0: a handshake comes first; bits 1-7: the largest
 * fragment is 2^(flags >> 1 mod 17) bytes), 1 byte seeding the
 * fragment sizes, then the stream.
 *
 * Checks, aborting on any failure: fed in those fragments, the stream
 * gives the same messages and the same verdict as fed whole; every
 * message, encoded again, gives the bytes it was decoded from, and
 * decodes with a fresh decoder to itself.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define HEADER_LEN 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	guint32 piece_count;
	gboolean handshake;
	guint max_fragment;
} Setup;

static void require(gboolean ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz-wire: %s\n", what);
	abort();
}

static gboolean msg_equal(const NetWireMsg *a, const NetWireMsg *b)
{
	return a->type == b->type && a->index == b->index &&
	       a->begin == b->begin && a->length == b->length &&
	       a->ext_id == b->ext_id && a->data_len == b->data_len &&
	       (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0);
}

static void check_msg_round_trip(const Setup *setup, const NetWireMsg *msg)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(NetWireDecoder) dec =
		net_wire_decoder_new(setup->piece_count, FALSE);
	NetWireMsg again;

	net_wire_encode_msg(out, msg);
	net_wire_decoder_feed(dec, out->data, out->len);
	require(net_wire_decoder_next(dec, &again, NULL) == NET_WIRE_MESSAGE,
		"a decoded message, encoded again, does not decode");
	require(msg_equal(msg, &again), "a message changed on a round trip");
	require(net_wire_decoder_pending(dec) == 0,
		"a message encoded again has bytes to spare");
}

static void check_handshake_round_trip(const NetWireHandshake *hs)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(NetWireDecoder) dec = net_wire_decoder_new(0, TRUE);
	NetWireHandshake again;

	net_wire_encode_handshake(out, hs);
	require(out->len == NET_WIRE_HANDSHAKE_LEN,
		"a handshake encodes to other than 68 bytes");
	net_wire_decoder_feed(dec, out->data, out->len);
	require(net_wire_decoder_next_handshake(dec, &again, NULL) ==
				NET_WIRE_MESSAGE &&
			memcmp(hs, &again, sizeof(again)) == 0,
		"the handshake changed on a round trip");
}

typedef struct {
	const Setup *setup;
	NetWireDecoder *dec;
	const guint8 *stream;
	gsize fed;
	gboolean want_handshake;
	GByteArray *log; /* every message decoded, encoded again */
} Run;

/* Wire frames have one encoding, so what was logged since @mark must
 * be the very bytes the decoder just consumed (after any frames of
 * unknown id that it skipped). */
static void check_canonical(const Run *run, gsize mark)
{
	gsize end = run->fed - net_wire_decoder_pending(run->dec);
	gsize len = run->log->len - mark;

	require(len <= end && memcmp(run->stream + end - len,
				     run->log->data + mark, len) == 0,
		"a message encodes to other bytes than those it came from");
}

static NetWireResult next_handshake(Run *run, GError **error)
{
	NetWireHandshake hs;
	NetWireResult r = net_wire_decoder_next_handshake(run->dec, &hs, error);

	if (r == NET_WIRE_MESSAGE) {
		check_handshake_round_trip(&hs);
		net_wire_encode_handshake(run->log, &hs);
		check_canonical(run, run->log->len - NET_WIRE_HANDSHAKE_LEN);
		run->want_handshake = FALSE;
	}
	return r;
}

/* Decodes all it can, checking each message; FALSE once the decoder
 * has refused the stream. */
static gboolean drain(Run *run)
{
	NetWireMsg msg;
	NetWireResult r = NET_WIRE_MESSAGE;
	g_autoptr(GError) error = NULL;

	if (run->want_handshake)
		r = next_handshake(run, &error);
	while (r == NET_WIRE_MESSAGE && !run->want_handshake) {
		gsize mark = run->log->len;

		r = net_wire_decoder_next(run->dec, &msg, &error);
		if (r != NET_WIRE_MESSAGE)
			break;
		check_msg_round_trip(run->setup, &msg);
		net_wire_encode_msg(run->log, &msg);
		check_canonical(run, mark);
	}
	require((r == NET_WIRE_ERROR) == (error != NULL),
		"an error result without an error, or the reverse");
	return r != NET_WIRE_ERROR;
}

/* Feeds @stream whole, or in fragments when @fragment_rand is set;
 * returns whether the decoder accepted all of it. */
static gboolean decode(const Setup *setup, const guint8 *stream, gsize len,
		       GRand *fragment_rand, GByteArray *log)
{
	g_autoptr(NetWireDecoder) dec =
		net_wire_decoder_new(setup->piece_count, setup->handshake);
	Run run = {setup, dec, stream, 0, setup->handshake, log};

	do {
		gsize n = len - run.fed;

		if (fragment_rand) {
			/* Drawn outside MIN, which would draw twice. */
			gsize draw = (gsize)g_rand_int_range(
				fragment_rand, 1,
				(gint32)setup->max_fragment + 1);

			n = MIN(n, draw);
		}
		net_wire_decoder_feed(dec, stream + run.fed, n);
		run.fed += n;
		if (!drain(&run))
			return FALSE;
	} while (run.fed < len);
	return TRUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GByteArray) whole = g_byte_array_new();
	g_autoptr(GByteArray) fragmented = g_byte_array_new();
	g_autoptr(GRand) rand = NULL;
	Setup setup;
	gboolean whole_ok, fragmented_ok;

	if (size < HEADER_LEN)
		return 0;
	setup.piece_count = (guint32)data[0] << 8 | data[1];
	setup.handshake = data[2] & 1;
	setup.max_fragment = 1u << ((data[2] >> 1) % 17);
	rand = g_rand_new_with_seed(data[3]);
	whole_ok = decode(&setup, data + HEADER_LEN, size - HEADER_LEN, NULL,
			  whole);
	fragmented_ok = decode(&setup, data + HEADER_LEN, size - HEADER_LEN,
			       rand, fragmented);
	require(whole_ok == fragmented_ok,
		"fragments and the whole stream got different verdicts");
	require(whole->len == fragmented->len &&
			(whole->len == 0 ||
			 memcmp(whole->data, fragmented->data, whole->len) ==
				 0),
		"fragments and the whole stream gave different messages");
	return 0;
}
