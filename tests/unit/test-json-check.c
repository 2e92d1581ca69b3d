/* test-json-check: exactly the JSON grammar, and nothing json-glib
 * would take beyond it. */
#include <string.h>

#include "json-check.h"
#include "tracker-error.h"

static gboolean check(const char *text)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = tracker_json_check(text, strlen(text), &error);

	g_assert_true(ok == (error == NULL));
	if (error)
		g_assert_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID);
	return ok;
}

static void test_accepts_json(void)
{
	const char *good[] = {
		"{}",
		" { \"a\" : \"b\" , \"c\":[1,-2.5e+3,0,true,false,null]}\n",
		"[[[]]]",
		"\"\\u00e9\\n\\\"\\\\\\/\"",
		"-0.0E-1",
		"{\"a\":{\"a\":1}}",
		"\"caf\xc3\xa9\"",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(check(good[i]));
}

static void test_refuses_the_rest(void)
{
	const char *bad[] = {
		"",
		"{",
		"{'a': 'b'}",
		"{\"a\" 1}",
		"{\"a\":1,}",
		"[1,]",
		"01",
		"1.",
		".5",
		"+1",
		"\"\\x41\"",
		"\"a\tb\"",
		"\"\\u0000\"",
		"\"\\u12\"",
		"tru",
		"nul",
		"{\"a\":1}x",
		"/* */{}",
		"{a:1}",
		"NaN",
		"{\"a\":1,\"a\":2}",
		"\"\xff\"",
		"[1 2]",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(check(bad[i]));
	/* A NUL byte inside the given length. */
	g_assert_false(tracker_json_check("{}\0", 3, NULL));
}

static void test_depth_is_bounded(void)
{
	GString *deep = g_string_new(NULL);

	for (int i = 0; i < TRACKER_JSON_MAX_DEPTH; i++)
		g_string_append_c(deep, '[');
	for (int i = 0; i < TRACKER_JSON_MAX_DEPTH; i++)
		g_string_append_c(deep, ']');
	g_assert_true(check(deep->str));
	g_string_prepend_c(deep, '[');
	g_string_append_c(deep, ']');
	g_assert_false(check(deep->str));
	g_string_free(deep, TRUE);
	/* A million brackets fail fast instead of exhausting the stack. */
	deep = g_string_new(NULL);
	for (int i = 0; i < 1000000; i++)
		g_string_append_c(deep, '[');
	g_assert_false(check(deep->str));
	g_string_free(deep, TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/json-check/accepts-json", test_accepts_json);
	g_test_add_func("/tracker/json-check/refuses-the-rest",
			test_refuses_the_rest);
	g_test_add_func("/tracker/json-check/depth-is-bounded",
			test_depth_is_bounded);
	return g_test_run();
}
