/* test-ratelimit: failures per key in a sliding window. */
#include "ratelimit.h"

static void test_window(void)
{
	g_autoptr(TrackerRatelimit) rl = tracker_ratelimit_new(3, 300);
	guint retry = 0;

	for (int i = 0; i < 3; i++) {
		g_assert_true(
			tracker_ratelimit_check(rl, "alice", 1000 + i, &retry));
		tracker_ratelimit_add(rl, "alice", 1000 + i);
	}
	g_assert_false(tracker_ratelimit_check(rl, "alice", 1010, &retry));
	g_assert_cmpuint(retry, ==, 290);
	/* Other keys are not affected. */
	g_assert_true(tracker_ratelimit_check(rl, "bob", 1010, &retry));
	/* The oldest failure ages out at 1300. */
	g_assert_false(tracker_ratelimit_check(rl, "alice", 1299, &retry));
	g_assert_cmpuint(retry, ==, 1);
	g_assert_true(tracker_ratelimit_check(rl, "alice", 1300, &retry));
}

static void test_clear_and_prune(void)
{
	g_autoptr(TrackerRatelimit) rl = tracker_ratelimit_new(2, 60);
	guint retry = 0;

	tracker_ratelimit_add(rl, "a", 0);
	tracker_ratelimit_add(rl, "a", 1);
	tracker_ratelimit_add(rl, "b", 50);
	g_assert_false(tracker_ratelimit_check(rl, "a", 2, &retry));
	tracker_ratelimit_clear(rl, "a");
	g_assert_true(tracker_ratelimit_check(rl, "a", 2, &retry));
	tracker_ratelimit_add(rl, "c", 0);
	g_assert_cmpuint(tracker_ratelimit_prune(rl, 100), ==, 1);
	g_assert_cmpuint(tracker_ratelimit_prune(rl, 110), ==, 0);
}

static void test_memory_per_key_is_bounded(void)
{
	g_autoptr(TrackerRatelimit) rl = tracker_ratelimit_new(2, 60);
	guint retry = 0;

	/* A storm of failures keeps only the newest two. */
	for (int i = 0; i < 100000; i++)
		tracker_ratelimit_add(rl, "a", 10);
	tracker_ratelimit_add(rl, "a", 40);
	g_assert_false(tracker_ratelimit_check(rl, "a", 69, &retry));
	g_assert_cmpuint(retry, ==, 1);
	g_assert_true(tracker_ratelimit_check(rl, "a", 70, &retry));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/ratelimit/window", test_window);
	g_test_add_func("/tracker/ratelimit/clear-and-prune",
			test_clear_and_prune);
	g_test_add_func("/tracker/ratelimit/memory-per-key-is-bounded",
			test_memory_per_key_is_bounded);
	return g_test_run();
}
