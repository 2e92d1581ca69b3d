/* test-validate: the API's rules for names, passwords and paths. */
#include <string.h>

#include "tracker-error.h"
#include "names.h"
#include "validate.h"

static gboolean name_ok(const char *name)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = tracker_validate_name("group name", name, &error);

	if (!ok) {
		g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID);
		g_assert_true(g_str_has_prefix(error->message, "A group name"));
	}
	return ok;
}

static void test_names(void)
{
	g_autofree char *longest = g_strnfill(64, 'x');
	g_autofree char *too_long = g_strnfill(65, 'x');
	g_autofree char *huge = g_strnfill(10000, 'x');
	const char *bad[] = {"",     ".x", "-x",  "a/b", "..",	 "a b", "a\nb",
			     "a\tb", "é",  "a'b", "a;b", "a\"b", "a%b", "a*b"};

	g_assert_true(name_ok("a"));
	g_assert_true(name_ok("Alice_2.0-x"));
	g_assert_true(name_ok("x."));
	g_assert_true(name_ok(longest));
	g_assert_false(name_ok(too_long));
	g_assert_false(name_ok(huge));
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(name_ok(bad[i]));
}

static void test_passwords(void)
{
	g_autofree char *longest = g_strnfill(1024, 'p');
	g_autofree char *too_long = g_strnfill(1025, 'p');

	g_assert_true(
		tracker_validate_password("x'; DROP TABLE users;--", NULL));
	g_assert_true(tracker_validate_password("pässwörd", NULL));
	g_assert_true(tracker_validate_password(longest, NULL));
	g_assert_false(tracker_validate_password("", NULL));
	g_assert_false(tracker_validate_password(too_long, NULL));
	g_assert_false(tracker_validate_password("\xff\xfe", NULL));
}

static void test_paths(void)
{
	g_autofree char *component = g_strnfill(255, 'c');
	g_autofree char *too_long_component = g_strnfill(256, 'c');
	GString *deep = g_string_new(NULL);
	const char *good[] = {"a",	   "a/b/c.txt", "it's; DROP TABLE--/x",
			      "dir/ü.pdf", ".hidden",	"a..b",
			      "..."};
	const char *bad[] = {"",     "/a",     "a/",	 "a//b", ".",
			     "..",   "a/./b",  "a/../b", "../a", "a\x01",
			     "a\nb", "a\177b", "\xff"};

	for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(tracker_validate_path(good[i], NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(tracker_validate_path(bad[i], NULL));
	g_assert_true(tracker_validate_path(component, NULL));
	g_assert_false(tracker_validate_path(too_long_component, NULL));
	while (deep->len < NET_PATH_MAX - 1)
		g_string_append(deep, "a/");
	g_string_truncate(deep, NET_PATH_MAX - 1);
	if (deep->str[deep->len - 1] == '/')
		g_string_append_c(deep, 'b');
	g_assert_true(tracker_validate_path(deep->str, NULL));
	g_string_append(deep, "/c");
	g_assert_false(tracker_validate_path(deep->str, NULL));
	g_string_free(deep, TRUE);
}

static void test_info_hash_hex(void)
{
	const char *good = "0123456789abcdef0123456789abcdef01234567";
	const char *bad[] = {"", "0123456789abcdef0123456789abcdef0123456",
			     "0123456789abcdef0123456789abcdef012345678",
			     "0123456789ABCDEF0123456789abcdef01234567",
			     "0123456789abcdef0123456789abcdef0123456g"};

	g_assert_true(net_info_hash_hex_is_valid(good));
	g_assert_false(net_info_hash_hex_is_valid(NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(net_info_hash_hex_is_valid(bad[i]));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/validate/names", test_names);
	g_test_add_func("/tracker/validate/passwords", test_passwords);
	g_test_add_func("/tracker/validate/paths", test_paths);
	g_test_add_func("/tracker/validate/info-hash-hex", test_info_hash_hex);
	return g_test_run();
}
