/*
 * test-bencode: byte vectors for every form and every rejection, raw
 * spans, prefix parsing, limits, and randomised round trips.
 */
#include <string.h>

#include "bencode.h"
#include "net-error.h"

/* A byte vector; len is explicit because some hold NUL bytes. */
typedef struct {
	const char *data;
	gsize len;
} Vec;

#define VEC(s)                   \
	{                        \
		s, sizeof(s) - 1 \
	}

static NetBencode *parse_vec(Vec v, GError **error)
{
	return net_bencode_parse_data(v.data, v.len, NULL, error);
}

static void assert_encodes_to(const NetBencode *value, Vec expected)
{
	g_autoptr(GBytes) out = net_bencode_encode(value);
	gsize len;
	const guint8 *data = g_bytes_get_data(out, &len);

	g_assert_cmpmem(data, len, expected.data, expected.len);
}

/* A parsed value's span is the whole input, and it re-encodes to it. */
static void assert_canonical(const NetBencode *value, Vec input)
{
	gsize raw_len;
	const guint8 *raw = net_bencode_get_raw(value, &raw_len);

	g_assert_cmpmem(raw, raw_len, input.data, input.len);
	assert_encodes_to(value, input);
}

static void test_ints(void)
{
	static const struct {
		Vec input;
		gint64 value;
	} cases[] = {
		{VEC("i0e"), 0},
		{VEC("i7e"), 7},
		{VEC("i42e"), 42},
		{VEC("i-1e"), -1},
		{VEC("i-42e"), -42},
		{VEC("i1000000e"), 1000000},
		{VEC("i9223372036854775807e"), G_MAXINT64},
		{VEC("i-9223372036854775808e"), G_MININT64},
		{VEC("i-9223372036854775807e"), -G_MAXINT64},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NetBencode) parsed =
			parse_vec(cases[i].input, &error);
		g_autoptr(NetBencode) built =
			net_bencode_new_int(cases[i].value);
		gint64 v = 0;

		g_assert_no_error(error);
		g_assert_cmpint(net_bencode_get_type(parsed), ==,
				NET_BENCODE_INT);
		g_assert_true(net_bencode_get_int(parsed, &v));
		g_assert_cmpint(v, ==, cases[i].value);
		assert_canonical(parsed, cases[i].input);
		assert_encodes_to(built, cases[i].input);
	}
}

static void test_strings(void)
{
	static const Vec cases[] = {
		VEC("0:"),
		VEC("1:a"),
		VEC("3:abc"),
		VEC("5:a\0b\0c"),
		VEC("4:\0\0\0\0"),
		VEC("3:\xff\x00\x80"),
		VEC("11:hello world"),
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NetBencode) parsed = parse_vec(cases[i], &error);
		const char *colon = memchr(cases[i].data, ':', cases[i].len);
		gsize body_len = cases[i].len - (colon + 1 - cases[i].data);
		g_autoptr(NetBencode) built =
			net_bencode_new_string(colon + 1, body_len);
		const guint8 *s;
		gsize len;

		g_assert_no_error(error);
		s = net_bencode_get_string(parsed, &len);
		g_assert_nonnull(s);
		g_assert_cmpmem(s, len, colon + 1, body_len);
		assert_canonical(parsed, cases[i]);
		assert_encodes_to(built, cases[i]);
	}
}

static void test_long_string(void)
{
	g_autoptr(GByteArray) input = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) parsed = NULL;
	guint8 body[300];
	const guint8 *s;
	gsize len;

	for (gsize i = 0; i < sizeof(body); i++)
		body[i] = (guint8)(i * 7);
	g_byte_array_append(input, (const guint8 *)"300:", 4);
	g_byte_array_append(input, body, sizeof(body));
	parsed = net_bencode_parse_data(input->data, input->len, NULL, &error);
	g_assert_no_error(error);
	s = net_bencode_get_string(parsed, &len);
	g_assert_cmpmem(s, len, body, sizeof(body));
	assert_canonical(parsed, (Vec){(const char *)input->data, input->len});
}

static void test_nested(void)
{
	static const Vec input =
		VEC("d5:emptyde4:listli1ei-2el0:deee3:str5:helloe");
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) v = parse_vec(input, &error);
	NetBencode *list, *inner;
	const guint8 *key;
	gsize key_len;
	gint64 n;

	g_assert_no_error(error);
	g_assert_cmpuint(net_bencode_dict_size(v), ==, 3);
	g_assert_nonnull(net_bencode_dict_nth(v, 0, &key, &key_len));
	g_assert_cmpmem(key, key_len, "empty", 5);
	g_assert_cmpuint(
		net_bencode_dict_size(net_bencode_dict_lookup(v, "empty")), ==,
		0);
	list = net_bencode_dict_lookup(v, "list");
	g_assert_cmpuint(net_bencode_list_length(list), ==, 3);
	g_assert_true(net_bencode_get_int(net_bencode_list_nth(list, 1), &n));
	g_assert_cmpint(n, ==, -2);
	inner = net_bencode_list_nth(list, 2);
	g_assert_cmpint(net_bencode_get_type(inner), ==, NET_BENCODE_LIST);
	g_assert_cmpuint(net_bencode_list_length(inner), ==, 2);
	g_assert_cmpint(net_bencode_get_type(net_bencode_list_nth(inner, 1)),
			==, NET_BENCODE_DICT);
	g_assert_null(net_bencode_list_nth(list, 3));
	g_assert_null(net_bencode_dict_lookup(v, "lis"));
	g_assert_null(net_bencode_dict_lookup(v, "lists"));
	g_assert_null(net_bencode_dict_lookup(v, ""));
	assert_canonical(v, input);
}

static void test_accessors_wrong_type(void)
{
	g_autoptr(NetBencode) i = net_bencode_new_int(5);
	g_autoptr(NetBencode) s = net_bencode_new_str("x");
	g_autoptr(NetBencode) l = net_bencode_new_list();
	gint64 n = 99;
	gsize len = 99;

	g_assert_false(net_bencode_get_int(s, &n));
	g_assert_cmpint(n, ==, 99);
	g_assert_null(net_bencode_get_string(i, &len));
	g_assert_cmpuint(len, ==, 99);
	g_assert_null(net_bencode_dup_utf8(i));
	g_assert_cmpuint(net_bencode_list_length(s), ==, 0);
	g_assert_null(net_bencode_list_nth(i, 0));
	g_assert_null(net_bencode_list_nth(l, 0));
	g_assert_cmpuint(net_bencode_dict_size(l), ==, 0);
	g_assert_null(net_bencode_dict_lookup(l, "a"));
	g_assert_null(net_bencode_dict_nth(l, 0, NULL, NULL));
	g_assert_null(net_bencode_get_raw(i, &len));
	g_assert_cmpuint(len, ==, 0);
}

static void test_dup_utf8(void)
{
	static const struct {
		Vec input;
		const char *expected; /* NULL: refused */
	} cases[] = {
		{VEC("5:hello"), "hello"},
		{VEC("0:"), ""},
		{VEC("6:gr\xc3\xbc\xc3\x9f"), "gr\xc3\xbc\xc3\x9f"},
		{VEC("3:a\0b"), NULL},
		{VEC("2:\xc3\x28"), NULL},
		{VEC("1:\xff"), NULL},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(NetBencode) v = parse_vec(cases[i].input, NULL);
		g_autofree char *s = net_bencode_dup_utf8(v);

		g_assert_nonnull(v);
		g_assert_cmpstr(s, ==, cases[i].expected);
	}
}

static void test_emit_sorted(void)
{
	g_autoptr(NetBencode) d = net_bencode_new_dict();
	NetBencode *l = net_bencode_new_list();

	net_bencode_dict_insert(d, "zeta", net_bencode_new_int(1));
	net_bencode_dict_insert(d, "\xff", net_bencode_new_int(2));
	net_bencode_dict_insert(d, "ab", net_bencode_new_str("x"));
	net_bencode_dict_insert(d, "a", net_bencode_new_int(3));
	net_bencode_dict_insert(d, "", net_bencode_new_int(4));
	net_bencode_dict_insert(d, "b", net_bencode_new_int(5));
	net_bencode_list_append(l, net_bencode_new_int(-1));
	net_bencode_list_append(l, net_bencode_new_dict());
	net_bencode_dict_insert(d, "list", l);
	/* Replacing keeps one entry, in place, and frees the old value. */
	net_bencode_dict_insert(d, "a", net_bencode_new_str("new"));

	assert_encodes_to(d, (Vec)VEC("d0:i4e1:a3:new2:ab1:x1:bi5e"
				      "4:listli-1edee4:zetai1e1:\xffi2ee"));
	g_assert_cmpuint(net_bencode_dict_size(d), ==, 7);
	g_assert_true(net_bencode_dict_lookup(d, "list") == l);
}

static void test_emit_low_level(void)
{
	static const Vec expected = VEC("d1:ali-9223372036854775808e2:\0z0:ee");
	g_autoptr(GByteArray) out = g_byte_array_new();

	net_bencode_emit_dict_begin(out);
	net_bencode_emit_str(out, "a");
	net_bencode_emit_list_begin(out);
	net_bencode_emit_int(out, G_MININT64);
	net_bencode_emit_string(out, "\0z", 2);
	net_bencode_emit_string(out, NULL, 0);
	net_bencode_emit_end(out);
	net_bencode_emit_end(out);
	g_assert_cmpmem(out->data, out->len, expected.data, expected.len);
}

typedef struct {
	Vec input;
	NetErrorCode code;
	gsize offset;
} Rejection;

static void assert_rejected(const Rejection *r, const NetBencodeLimits *lim)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) v = net_bencode_parse_data(
		r->input.data, r->input.len, lim, &error);
	g_autofree char *prefix = g_strdup_printf(
		"bencode: byte %" G_GSIZE_FORMAT ": ", r->offset);

	if (v != NULL || error == NULL || error->code != (gint)r->code ||
	    !g_str_has_prefix(error->message, prefix))
		g_error("input \"%.*s\": expected code %d at byte %zu, got %s",
			(int)r->input.len, r->input.data, r->code, r->offset,
			error ? error->message : "success");
	g_assert_error(error, NET_ERROR, (gint)r->code);
}

static void test_reject(void)
{
	static const Rejection cases[] = {
		{VEC("i03e"), NET_ERROR_BENCODE, 2},
		{VEC("i00e"), NET_ERROR_BENCODE, 2},
		{VEC("i-0e"), NET_ERROR_BENCODE, 1},
		{VEC("i-03e"), NET_ERROR_BENCODE, 1},
		{VEC("i-e"), NET_ERROR_BENCODE, 2},
		{VEC("ie"), NET_ERROR_BENCODE, 1},
		{VEC("i+1e"), NET_ERROR_BENCODE, 1},
		{VEC("i1.5e"), NET_ERROR_BENCODE, 2},
		{VEC("i--1e"), NET_ERROR_BENCODE, 2},
		{VEC("i 1e"), NET_ERROR_BENCODE, 1},
		{VEC("i9223372036854775808e"), NET_ERROR_LIMIT, 1},
		{VEC("i-9223372036854775809e"), NET_ERROR_LIMIT, 2},
		{VEC("i99999999999999999999999e"), NET_ERROR_LIMIT, 1},
		{VEC("03:abc"), NET_ERROR_BENCODE, 1},
		{VEC("00:"), NET_ERROR_BENCODE, 1},
		{VEC("3-abc"), NET_ERROR_BENCODE, 1},
		{VEC("-3:abc"), NET_ERROR_BENCODE, 0},
		{VEC("d1:bi1e1:ai2ee"), NET_ERROR_BENCODE, 7},
		{VEC("d2:abi1e1:ai2ee"), NET_ERROR_BENCODE, 8},
		{VEC("d1:\xffi1e1:ai2ee"), NET_ERROR_BENCODE, 7},
		{VEC("d1:ai1e1:ai2ee"), NET_ERROR_BENCODE, 7},
		{VEC("d0:i1e0:i2ee"), NET_ERROR_BENCODE, 6},
		{VEC("di1ei2ee"), NET_ERROR_BENCODE, 1},
		{VEC("dlei1ee"), NET_ERROR_BENCODE, 1},
		{VEC("dde1:ae"), NET_ERROR_BENCODE, 1},
		{VEC("d1:ae"), NET_ERROR_BENCODE, 4},
		{VEC("i1ei2e"), NET_ERROR_BENCODE, 3},
		{VEC("i1ex"), NET_ERROR_BENCODE, 3},
		{VEC("le\n"), NET_ERROR_BENCODE, 2},
		{VEC("0:\0"), NET_ERROR_BENCODE, 2},
		{VEC("e"), NET_ERROR_BENCODE, 0},
		{VEC("x"), NET_ERROR_BENCODE, 0},
		{VEC("lxe"), NET_ERROR_BENCODE, 1},
		{VEC(" i1e"), NET_ERROR_BENCODE, 0},
		/* Truncated: a longer input could still be valid. */
		{VEC(""), NET_ERROR_TRUNCATED, 0},
		{VEC("i"), NET_ERROR_TRUNCATED, 1},
		{VEC("i-"), NET_ERROR_TRUNCATED, 2},
		{VEC("i12"), NET_ERROR_TRUNCATED, 3},
		{VEC("3"), NET_ERROR_TRUNCATED, 1},
		{VEC("3:ab"), NET_ERROR_TRUNCATED, 4},
		{VEC("l"), NET_ERROR_TRUNCATED, 1},
		{VEC("lli1e"), NET_ERROR_TRUNCATED, 5},
		{VEC("d1:a"), NET_ERROR_TRUNCATED, 4},
		{VEC("d1:ai1e"), NET_ERROR_TRUNCATED, 7},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
		assert_rejected(&cases[i], NULL);
}

static void test_limits(void)
{
	static const NetBencodeLimits lim = {
		.max_depth = 2,
		.max_string = 3,
		.max_size = 12,
		.max_items = 4,
	};
	static const Vec accepted[] = {
		VEC("llee"),	     VEC("3:abc"),	 VEC("d1:ali1eee"),
		VEC("i1234567890e"), VEC("li1ei2ei3ee"),
	};
	static const Rejection rejected[] = {
		{VEC("llleee"), NET_ERROR_LIMIT, 2},
		{VEC("d1:a3:abc1:bi1ee"), NET_ERROR_LIMIT, 12},
		{VEC("4:abcd"), NET_ERROR_LIMIT, 0},
		{VEC("d4:abcdi1ee"), NET_ERROR_LIMIT, 1},
		{VEC("i12345678901e"), NET_ERROR_LIMIT, 12},
		{VEC("li1ei2ei3ei4ee"), NET_ERROR_LIMIT, 12},
		{VEC("l0:0:0:0:e"), NET_ERROR_LIMIT, 7},
		/* Keys count as values. */
		{VEC("d0:0:1:a0:e"), NET_ERROR_LIMIT, 8},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(accepted); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NetBencode) v = net_bencode_parse_data(
			accepted[i].data, accepted[i].len, &lim, &error);

		g_assert_no_error(error);
		assert_canonical(v, accepted[i]);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(rejected); i++)
		assert_rejected(&rejected[i], &lim);
}

/* A claimed length far beyond the input must be refused from the prefix
 * alone: LIMIT under default limits, TRUNCATED (nothing allocated, the
 * body never read) when the caller allows any length. */
static void test_huge_length(void)
{
	static const Vec claim = VEC("99999999999:abcdefgh");
	static const Vec wider = VEC("99999999999999999999999:abc");
	NetBencodeLimits open_ended = net_bencode_limits_default;
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) v = NULL;

	g_assert_cmpuint(claim.len, ==, 20);
	v = parse_vec(claim, &error);
	g_assert_null(v);
	g_assert_error(error, NET_ERROR, NET_ERROR_LIMIT);
	g_assert_true(g_str_has_prefix(error->message, "bencode: byte 0: "));
	g_clear_error(&error);

	open_ended.max_string = G_MAXSIZE;
	v = net_bencode_parse_data(claim.data, claim.len, &open_ended, &error);
	g_assert_null(v);
	g_assert_error(error, NET_ERROR, NET_ERROR_TRUNCATED);
	g_clear_error(&error);

	v = net_bencode_parse_data(wider.data, wider.len, &open_ended, &error);
	g_assert_null(v);
	g_assert_error(error, NET_ERROR, NET_ERROR_LIMIT);
}

static const char *find(const char *haystack, gsize len, const char *needle)
{
	const char *at = memmem(haystack, len, needle, strlen(needle));

	g_assert_nonnull(at);
	return at;
}

/* The "info" dict's span is the exact input slice, inside the input. */
static void test_raw_span(void)
{
	static const char input[] = "d8:announce21:http://127.0.0.1:80/a"
				    "4:infod6:lengthi12345e4:name5:a.bin"
				    "12:piece lengthi524288e6:pieces20:"
				    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"
				    "\x0b\x0c\x0d\x0e\x0f\x00\x11\x12\x13\x14"
				    "e7:privatei1ee";
	const gsize input_len = sizeof(input) - 1;
	const char *info_at = find(input, input_len, "4:infod") + 6;
	const char *info_end = find(input, input_len, "e7:private") + 1;
	g_autoptr(GBytes) bytes = g_bytes_new(input, input_len);
	g_autoptr(GError) error = NULL;
	g_autoptr(NetBencode) v = net_bencode_parse(bytes, NULL, &error);
	const guint8 *base = g_bytes_get_data(bytes, NULL);
	NetBencode *info, *pieces;
	const guint8 *raw, *s;
	gsize len, s_len;

	g_assert_no_error(error);
	info = net_bencode_dict_lookup(v, "info");
	raw = net_bencode_get_raw(info, &len);
	g_assert_cmpmem(raw, len, info_at, info_end - info_at);
	g_assert_true(raw == base + (info_at - input));
	pieces = net_bencode_dict_lookup(info, "pieces");
	s = net_bencode_get_string(pieces, &s_len);
	g_assert_cmpuint(s_len, ==, 20);
	g_assert_true(s == base + (find(input, input_len, "20:") + 3 - input));
	raw = net_bencode_get_raw(pieces, &len);
	g_assert_cmpuint(len, ==, 23);
	g_assert_true(raw + 3 == s);
}

static const Vec valid_inputs[] = {
	VEC("i0e"),
	VEC("i-9223372036854775808e"),
	VEC("0:"),
	VEC("10:0123456789"),
	VEC("le"),
	VEC("de"),
	VEC("lli1eei2ee"),
	VEC("d1:ad1:bli1e0:ee1:cdee"),
	VEC("d8:completei3e10:incompletei1e8:intervali1800e"
	    "5:peers12:\x7f\0\0\1\x1a\xe1\x7f\0\0\1\x1a\xe2"
	    "e"),
};

/* Every proper prefix of a valid value is TRUNCATED, not an error. */
static void assert_prefixes_truncated(const guint8 *data, gsize len)
{
	for (gsize cut = 0; cut < len; cut++) {
		g_autoptr(GBytes) b = g_bytes_new(data, cut);
		g_autoptr(GError) error = NULL;
		gsize consumed = 99;
		g_autoptr(NetBencode) v =
			net_bencode_parse_prefix(b, NULL, &consumed, &error);

		if (v != NULL ||
		    !g_error_matches(error, NET_ERROR, NET_ERROR_TRUNCATED))
			g_error("prefix %zu of \"%.*s\": %s", cut, (int)len,
				data, error ? error->message : "success");
		g_assert_cmpuint(consumed, ==, 0);
	}
}

static void test_prefix(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(valid_inputs); i++) {
		const Vec in = valid_inputs[i];
		GByteArray *joined = g_byte_array_new();
		g_autoptr(GBytes) b = NULL;
		g_autoptr(GError) error = NULL;
		gsize consumed = 0;
		g_autoptr(NetBencode) v = NULL;
		g_autoptr(NetBencode) whole = NULL;

		g_byte_array_append(joined, (const guint8 *)in.data, in.len);
		g_byte_array_append(joined, (const guint8 *)"i5e", 3);
		b = g_byte_array_free_to_bytes(joined);
		v = net_bencode_parse_prefix(b, NULL, &consumed, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(consumed, ==, in.len);
		assert_prefixes_truncated((const guint8 *)in.data, in.len);
		whole = parse_vec(in, &error);
		g_assert_no_error(error);
		assert_canonical(whole, in);
	}
}

/* A streaming caller with more than max_size bytes buffered and no whole
 * value in them must get LIMIT, or it would wait forever. */
static void test_prefix_limit(void)
{
	NetBencodeLimits lim = net_bencode_limits_default;
	g_autoptr(GBytes) b = g_bytes_new_static("li1ei2ei3ee", 11);
	g_autoptr(GError) error = NULL;
	gsize consumed = 0;
	g_autoptr(NetBencode) v = NULL;

	lim.max_size = 6;
	v = net_bencode_parse_prefix(b, &lim, &consumed, &error);
	g_assert_null(v);
	g_assert_error(error, NET_ERROR, NET_ERROR_LIMIT);
	g_clear_error(&error);
	lim.max_size = 11;
	v = net_bencode_parse_prefix(b, &lim, &consumed, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(consumed, ==, 11);
}

/* Both the parser and the tree walkers are iterative: nesting far deeper
 * than a recursion could survive must work. */
static void test_deep(void)
{
	const gsize depth = 200000;
	NetBencodeLimits lim = {depth, 16, 2 * depth, depth};
	g_autoptr(NetBencode) root = net_bencode_new_list();
	NetBencode *tail = root;
	g_autoptr(GBytes) encoded = NULL;
	g_autoptr(NetBencode) parsed = NULL;
	g_autoptr(GError) error = NULL;
	const guint8 *data;
	gsize len;

	for (gsize i = 1; i < depth; i++) {
		NetBencode *next = net_bencode_new_list();

		net_bencode_list_append(tail, next);
		tail = next;
	}
	encoded = net_bencode_encode(root);
	data = g_bytes_get_data(encoded, &len);
	g_assert_cmpuint(len, ==, 2 * depth);
	g_assert_cmpint(data[depth - 1], ==, 'l');
	g_assert_cmpint(data[depth], ==, 'e');
	parsed = net_bencode_parse(encoded, &lim, &error);
	g_assert_no_error(error);
	lim.max_depth--;
	g_assert_null(net_bencode_parse(encoded, &lim, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_LIMIT);
}

/* ---- Random round trips ---- */

static NetBencode *random_tree(guint depth);

static NetBencode *random_string(void)
{
	guint8 buf[24];
	gsize len = g_test_rand_int_range(0, sizeof(buf));

	for (gsize i = 0; i < len; i++)
		buf[i] = g_test_rand_int_range(0, 256);
	return net_bencode_new_string(buf, len);
}

static gint64 random_int(void)
{
	switch (g_test_rand_int_range(0, 4)) {
	case 0:
		return g_test_rand_int_range(-10, 10);
	case 1:
		return g_test_rand_bit() ? G_MAXINT64 : G_MININT64;
	default:
		return (gint64)(((guint64)g_test_rand_int() << 32) |
				(guint32)g_test_rand_int());
	}
}

static char *random_key(void)
{
	gsize len = g_test_rand_int_range(0, 6);
	char *key = g_malloc(len + 1);

	/* Few distinct bytes, so that keys share prefixes; no NUL. */
	for (gsize i = 0; i < len; i++)
		key[i] = "ab\x7f\x80\xff"[g_test_rand_int_range(0, 5)];
	key[len] = '\0';
	return key;
}

static NetBencode *random_container(guint depth)
{
	gboolean is_dict = g_test_rand_bit();
	NetBencode *c =
		is_dict ? net_bencode_new_dict() : net_bencode_new_list();
	guint n = g_test_rand_int_range(0, 6);

	for (guint i = 0; i < n; i++) {
		g_autofree char *key = is_dict ? random_key() : NULL;

		if (is_dict)
			net_bencode_dict_insert(c, key, random_tree(depth - 1));
		else
			net_bencode_list_append(c, random_tree(depth - 1));
	}
	return c;
}

static NetBencode *random_tree(guint depth)
{
	guint kind = g_test_rand_int_range(0, depth > 0 ? 4 : 2);

	if (kind == 0)
		return net_bencode_new_int(random_int());
	if (kind == 1)
		return random_string();
	return random_container(depth);
}

static gboolean tree_equal(const NetBencode *a, const NetBencode *b);

static gboolean dict_equal(const NetBencode *a, const NetBencode *b)
{
	if (net_bencode_dict_size(a) != net_bencode_dict_size(b))
		return FALSE;
	for (gsize i = 0; i < net_bencode_dict_size(a); i++) {
		const guint8 *ka, *kb;
		gsize la, lb;
		NetBencode *va = net_bencode_dict_nth(a, i, &ka, &la);
		NetBencode *vb = net_bencode_dict_nth(b, i, &kb, &lb);

		if (la != lb || memcmp(ka, kb, la) != 0 || !tree_equal(va, vb))
			return FALSE;
		/* Lookup must find every key of a parsed dict by search. */
		if (memchr(kb, '\0', lb) == NULL) {
			g_autofree char *k = g_strndup((const char *)kb, lb);

			if (net_bencode_dict_lookup(b, k) != vb)
				return FALSE;
		}
	}
	return TRUE;
}

static gboolean tree_equal(const NetBencode *a, const NetBencode *b)
{
	gint64 ia, ib;
	const guint8 *sa, *sb;
	gsize la, lb;

	if (net_bencode_get_type(a) != net_bencode_get_type(b))
		return FALSE;
	switch (net_bencode_get_type(a)) {
	case NET_BENCODE_INT:
		return net_bencode_get_int(a, &ia) &&
		       net_bencode_get_int(b, &ib) && ia == ib;
	case NET_BENCODE_STRING:
		sa = net_bencode_get_string(a, &la);
		sb = net_bencode_get_string(b, &lb);
		return la == lb && memcmp(sa, sb, la) == 0;
	case NET_BENCODE_LIST:
		if (net_bencode_list_length(a) != net_bencode_list_length(b))
			return FALSE;
		for (gsize i = 0; i < net_bencode_list_length(a); i++)
			if (!tree_equal(net_bencode_list_nth(a, i),
					net_bencode_list_nth(b, i)))
				return FALSE;
		return TRUE;
	case NET_BENCODE_DICT:
		return dict_equal(a, b);
	}
	return FALSE;
}

static void test_random_roundtrip(void)
{
	for (guint n = 0; n < 3000; n++) {
		g_autoptr(NetBencode) tree = random_tree(5);
		g_autoptr(GBytes) encoded = net_bencode_encode(tree);
		g_autoptr(GError) error = NULL;
		g_autoptr(NetBencode) parsed = NULL;
		g_autoptr(GBytes) again = NULL;
		gsize raw_len;
		const guint8 *raw;

		parsed = net_bencode_parse(encoded, NULL, &error);
		g_assert_no_error(error);
		g_assert_true(tree_equal(tree, parsed));
		again = net_bencode_encode(parsed);
		g_assert_true(g_bytes_equal(encoded, again));
		raw = net_bencode_get_raw(parsed, &raw_len);
		g_assert_cmpmem(raw, raw_len, g_bytes_get_data(encoded, NULL),
				g_bytes_get_size(encoded));
		if (n % 20 == 0)
			assert_prefixes_truncated(raw, raw_len);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/bencode/ints", test_ints);
	g_test_add_func("/net/bencode/strings", test_strings);
	g_test_add_func("/net/bencode/long-string", test_long_string);
	g_test_add_func("/net/bencode/nested", test_nested);
	g_test_add_func("/net/bencode/accessors-wrong-type",
			test_accessors_wrong_type);
	g_test_add_func("/net/bencode/dup-utf8", test_dup_utf8);
	g_test_add_func("/net/bencode/emit-sorted", test_emit_sorted);
	g_test_add_func("/net/bencode/emit-low-level", test_emit_low_level);
	g_test_add_func("/net/bencode/reject", test_reject);
	g_test_add_func("/net/bencode/limits", test_limits);
	g_test_add_func("/net/bencode/huge-length", test_huge_length);
	g_test_add_func("/net/bencode/raw-span", test_raw_span);
	g_test_add_func("/net/bencode/prefix", test_prefix);
	g_test_add_func("/net/bencode/prefix-limit", test_prefix_limit);
	g_test_add_func("/net/bencode/deep", test_deep);
	g_test_add_func("/net/bencode/random-roundtrip", test_random_roundtrip);
	return g_test_run();
}
