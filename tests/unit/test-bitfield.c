/* test-bitfield: BEP 3 bit order, spare bits, the O(1) count, and
 * set_bytes' refusals, plus random operations against a bool array. */
#include <glib.h>
#include <string.h>

#include "bitfield.h"
#include "net-error.h"

/* The bytes a reference bool array stands for, built bit by bit in
 * BEP 3 order independently of the module's own arithmetic. */
static GByteArray *reference_bytes(const gboolean *ref, guint32 n)
{
	GByteArray *out = g_byte_array_new();

	for (guint32 i = 0; i < n; i += 8) {
		guint8 byte = 0;

		for (guint32 j = 0; j < 8; j++) {
			byte <<= 1;
			if (i + j < n && ref[i + j])
				byte |= 1;
		}
		g_byte_array_append(out, &byte, 1);
	}
	return out;
}

static void assert_matches(const NetBitfield *bf, const gboolean *ref,
			   guint32 n)
{
	g_autoptr(GByteArray) want = reference_bytes(ref, n);
	guint32 count = 0;

	for (guint32 i = 0; i < n; i++) {
		g_assert_cmpint(net_bitfield_get(bf, i), ==, ref[i]);
		count += ref[i] ? 1 : 0;
	}
	g_assert_cmpuint(net_bitfield_count(bf), ==, count);
	g_assert_cmpmem(net_bitfield_bytes(bf), net_bitfield_byte_length(bf),
			want->data, want->len);
}

static void test_new_is_clear(void)
{
	static const guint32 sizes[] = {0, 1, 7, 8, 9, 1000};

	for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++) {
		g_autoptr(NetBitfield) bf = net_bitfield_new(sizes[s]);
		g_autofree gboolean *ref = g_new0(gboolean, sizes[s] + 1);

		g_assert_cmpuint(net_bitfield_size(bf), ==, sizes[s]);
		g_assert_cmpuint(net_bitfield_byte_length(bf), ==,
				 (sizes[s] + 7) / 8);
		g_assert_cmpint(net_bitfield_is_complete(bf), ==,
				sizes[s] == 0);
		assert_matches(bf, ref, sizes[s]);
	}
}

static void test_bit_order(void)
{
	g_autoptr(NetBitfield) bf = net_bitfield_new(10);
	static const guint8 want[] = {0x81, 0x40};

	net_bitfield_set(bf, 0);
	net_bitfield_set(bf, 7);
	net_bitfield_set(bf, 9);
	g_assert_cmpmem(net_bitfield_bytes(bf), 2, want, sizeof(want));
	g_assert_true(net_bitfield_get(bf, 9));
	g_assert_false(net_bitfield_get(bf, 8));
}

static void test_set_clear_count(void)
{
	g_autoptr(NetBitfield) bf = net_bitfield_new(20);

	net_bitfield_set(bf, 3);
	net_bitfield_set(bf, 3);
	net_bitfield_set(bf, 19);
	g_assert_cmpuint(net_bitfield_count(bf), ==, 2);
	net_bitfield_clear(bf, 3);
	net_bitfield_clear(bf, 3);
	net_bitfield_clear(bf, 4);
	g_assert_cmpuint(net_bitfield_count(bf), ==, 1);
	g_assert_false(net_bitfield_get(bf, 3));
	g_assert_true(net_bitfield_get(bf, 19));
}

static void test_set_all_keeps_spare_bits_zero(void)
{
	for (guint32 n = 1; n <= 17; n++) {
		g_autoptr(NetBitfield) bf = net_bitfield_new(n);
		g_autofree gboolean *ref = g_new(gboolean, n);

		for (guint32 i = 0; i < n; i++)
			ref[i] = TRUE;
		net_bitfield_set_all(bf);
		g_assert_true(net_bitfield_is_complete(bf));
		assert_matches(bf, ref, n);
		net_bitfield_clear(bf, n - 1);
		g_assert_false(net_bitfield_is_complete(bf));
		net_bitfield_clear_all(bf);
		g_assert_cmpuint(net_bitfield_count(bf), ==, 0);
	}
}

static void test_set_bytes(void)
{
	g_autoptr(NetBitfield) bf = net_bitfield_new(12);
	static const guint8 bytes[] = {0xa5, 0x30};
	g_autoptr(GError) error = NULL;

	g_assert_true(net_bitfield_set_bytes(bf, bytes, 2, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(net_bitfield_count(bf), ==, 6);
	g_assert_true(net_bitfield_get(bf, 0));
	g_assert_false(net_bitfield_get(bf, 1));
	g_assert_true(net_bitfield_get(bf, 10));
	g_assert_true(net_bitfield_get(bf, 11));
	g_assert_cmpmem(net_bitfield_bytes(bf), 2, bytes, 2);
}

/* Every refusal leaves the bits and the count as they were. */
static void assert_refused(NetBitfield *bf, const guint8 *bytes, gsize len)
{
	g_autoptr(NetBitfield) before = net_bitfield_copy(bf);
	g_autoptr(GError) error = NULL;

	g_assert_false(net_bitfield_set_bytes(bf, bytes, len, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_assert_cmpuint(net_bitfield_count(bf), ==,
			 net_bitfield_count(before));
	g_assert_cmpmem(net_bitfield_bytes(bf), net_bitfield_byte_length(bf),
			net_bitfield_bytes(before),
			net_bitfield_byte_length(before));
}

static void test_set_bytes_refusals(void)
{
	g_autoptr(NetBitfield) bf = net_bitfield_new(12);
	static const guint8 three[] = {0xff, 0xf0, 0x00};
	static const guint8 spare[] = {0x00, 0x08};
	static const guint8 last_spare[] = {0xff, 0x01};

	net_bitfield_set(bf, 5);
	assert_refused(bf, three, 1);
	assert_refused(bf, three, 3);
	assert_refused(bf, spare, 2);
	assert_refused(bf, last_spare, 2);
}

static void test_set_bytes_whole_bytes(void)
{
	g_autoptr(NetBitfield) bf = net_bitfield_new(16);
	static const guint8 full[] = {0xff, 0xff};
	g_autoptr(NetBitfield) empty = net_bitfield_new(0);

	g_assert_true(net_bitfield_set_bytes(bf, full, 2, NULL));
	g_assert_true(net_bitfield_is_complete(bf));
	g_assert_true(net_bitfield_set_bytes(empty, NULL, 0, NULL));
	g_assert_true(net_bitfield_is_complete(empty));
}

static void test_copy_is_independent(void)
{
	g_autoptr(NetBitfield) bf = net_bitfield_new(9);
	g_autoptr(NetBitfield) copy = NULL;

	net_bitfield_set(bf, 8);
	copy = net_bitfield_copy(bf);
	net_bitfield_clear(bf, 8);
	net_bitfield_set(copy, 0);
	g_assert_cmpuint(net_bitfield_count(bf), ==, 0);
	g_assert_cmpuint(net_bitfield_count(copy), ==, 2);
	g_assert_true(net_bitfield_get(copy, 8));
}

/* One random operation, applied to both the bitfield and @ref. */
static void random_op(GRand *rand, NetBitfield *bf, gboolean *ref, guint32 n)
{
	guint32 i = (guint32)g_rand_int_range(rand, 0, (gint32)n);
	guint32 op = (guint32)g_rand_int_range(rand, 0, 1000);

	if (op < 480) {
		net_bitfield_set(bf, i);
		ref[i] = TRUE;
	} else if (op < 960) {
		net_bitfield_clear(bf, i);
		ref[i] = FALSE;
	} else if (op < 970) {
		net_bitfield_set_all(bf);
		for (guint32 j = 0; j < n; j++)
			ref[j] = TRUE;
	} else if (op < 980) {
		net_bitfield_clear_all(bf);
		memset(ref, 0, n * sizeof(*ref));
	} else {
		for (guint32 j = 0; j < n; j++)
			ref[j] = g_rand_boolean(rand);
		g_autoptr(GByteArray) bytes = reference_bytes(ref, n);
		g_assert_true(net_bitfield_set_bytes(bf, bytes->data,
						     bytes->len, NULL));
	}
}

static void test_random_against_reference(void)
{
	const guint32 n = 1237; /* not a multiple of 8 or 64 */
	g_autoptr(GRand) rand = g_rand_new_with_seed(20240601);
	g_autoptr(NetBitfield) bf = net_bitfield_new(n);
	g_autofree gboolean *ref = g_new0(gboolean, n);

	for (guint op = 0; op < 10000; op++) {
		guint32 probe = (guint32)g_rand_int_range(rand, 0, (gint32)n);
		guint32 count = 0;

		random_op(rand, bf, ref, n);
		for (guint32 j = 0; j < n; j++)
			count += ref[j] ? 1 : 0;
		g_assert_cmpuint(net_bitfield_count(bf), ==, count);
		g_assert_cmpint(net_bitfield_get(bf, probe), ==, ref[probe]);
		if (op % 100 == 0)
			assert_matches(bf, ref, n);
	}
	assert_matches(bf, ref, n);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/bitfield/new-is-clear", test_new_is_clear);
	g_test_add_func("/net/bitfield/bit-order", test_bit_order);
	g_test_add_func("/net/bitfield/set-clear-count", test_set_clear_count);
	g_test_add_func("/net/bitfield/set-all-spare-bits-zero",
			test_set_all_keeps_spare_bits_zero);
	g_test_add_func("/net/bitfield/set-bytes", test_set_bytes);
	g_test_add_func("/net/bitfield/set-bytes-refusals",
			test_set_bytes_refusals);
	g_test_add_func("/net/bitfield/set-bytes-whole-bytes",
			test_set_bytes_whole_bytes);
	g_test_add_func("/net/bitfield/copy-is-independent",
			test_copy_is_independent);
	g_test_add_func("/net/bitfield/random-against-reference",
			test_random_against_reference);
	return g_test_run();
}
