/* test-http: strict form decoding of queries, and token hashing. */
#include <string.h>

#include "http.h"
#include "tracker-error.h"

static GBytes *value(GHashTable *q, const char *key)
{
	GBytes *v = g_hash_table_lookup(q, key);

	g_assert_nonnull(v);
	return v;
}

static void test_query_decoding(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) q = tracker_http_parse_query(
		"info_hash=%00%FFa%2b&path=a+b%2Fc&flag&&empty=", &error);
	gsize len;
	const guint8 *hash;

	g_assert_no_error(error);
	hash = g_bytes_get_data(value(q, "info_hash"), &len);
	g_assert_cmpmem(hash, len,
			"\0\xff"
			"a+",
			4);
	g_assert_cmpstr(g_bytes_get_data(value(q, "path"), NULL), ==, "a b/c");
	g_assert_cmpuint(g_bytes_get_size(value(q, "flag")), ==, 0);
	g_assert_cmpuint(g_bytes_get_size(value(q, "empty")), ==, 0);
	g_assert_cmpuint(g_hash_table_size(q), ==, 4);
	g_clear_pointer(&q, g_hash_table_unref);
	q = tracker_http_parse_query(NULL, &error);
	g_assert_cmpuint(g_hash_table_size(q), ==, 0);
}

static void test_query_errors(void)
{
	const char *bad[] = {"a=%",	"a=%4",	   "a=%zz", "a=%4g",
			     "a=1&a=2", "a%00b=1", "%=1"};

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_null(tracker_http_parse_query(bad[i], &error));
		g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID);
	}
}

static void test_token_hash(void)
{
	guint8 a[32], b[32];

	tracker_http_hash_token("abc", a);
	tracker_http_hash_token("abd", b);
	/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
	g_assert_cmpuint(a[0], ==, 0xba);
	g_assert_cmpuint(a[31], ==, 0xad);
	g_assert_true(memcmp(a, b, 32) != 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/http/query-decoding", test_query_decoding);
	g_test_add_func("/tracker/http/query-errors", test_query_errors);
	g_test_add_func("/tracker/http/token-hash", test_token_hash);
	return g_test_run();
}
