/* Tests for net/rate on fake time: a steady flow reads as its rate, a
 * fresh one is measured over its own short life, and old bytes leave
 * the window. */
#include "rate.h"

#define MS 1000

/* 1 MB every 10 ms for @ms from @start. */
static gint64 feed(NetRate *rate, gint64 start, gint64 ms)
{
	gint64 t;

	for (t = start; t < start + ms * MS; t += 10 * MS)
		net_rate_add(rate, 1000 * 1000, t);
	return t;
}

static void test_steady(void)
{
	g_autoptr(NetRate) rate = net_rate_new();
	gint64 now = feed(rate, 5 * G_USEC_PER_SEC, 5000);

	/* 100 MB/s, within a slot's worth of error. */
	g_assert_cmpfloat_with_epsilon(net_rate_get(rate, now), 100e6, 15e6);
}

static void test_fresh(void)
{
	g_autoptr(NetRate) rate = net_rate_new();
	gint64 now;

	g_assert_cmpfloat(net_rate_get(rate, 0), ==, 0);
	now = feed(rate, 1000 * MS, 300);
	/* Measured over 300 ms, not over the whole window. */
	g_assert_cmpfloat_with_epsilon(net_rate_get(rate, now), 100e6, 20e6);
}

static void test_decay(void)
{
	g_autoptr(NetRate) rate = net_rate_new();
	gint64 now = feed(rate, 0, 2000);

	g_assert_cmpfloat(net_rate_get(rate, now), >, 50e6);
	/* Half a window later, part of it; a window later, nothing. */
	g_assert_cmpfloat(net_rate_get(rate, now + 1000 * MS), <, 70e6);
	g_assert_cmpfloat(net_rate_get(rate, now + 1000 * MS), >, 20e6);
	g_assert_cmpfloat(net_rate_get(rate, now + 2500 * MS), ==, 0);
	/* Time never goes back: an older sample counts as now. */
	net_rate_add(rate, 1000, now);
	g_assert_cmpfloat(net_rate_get(rate, now + 2500 * MS), >, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/rate/steady", test_steady);
	g_test_add_func("/net/rate/fresh", test_fresh);
	g_test_add_func("/net/rate/decay", test_decay);
	return g_test_run();
}
