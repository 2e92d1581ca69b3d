#include "ratelimit.h"

struct _TrackerRatelimit {
	guint max_failures;
	gint64 window;
	GHashTable *keys; /* key -> GArray of gint64 failure times, oldest
			   * first, at most max_failures long */
};

TrackerRatelimit *tracker_ratelimit_new(guint max_failures,
					guint window_seconds)
{
	TrackerRatelimit *rl;

	g_return_val_if_fail(max_failures > 0, NULL);
	rl = g_new0(TrackerRatelimit, 1);
	rl->max_failures = max_failures;
	rl->window = window_seconds;
	rl->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 (GDestroyNotify)g_array_unref);
	return rl;
}

void tracker_ratelimit_free(TrackerRatelimit *rl)
{
	if (!rl)
		return;
	g_hash_table_unref(rl->keys);
	g_free(rl);
}

/* Removes the failures of @times that are out of the window. */
static void age_out(TrackerRatelimit *rl, GArray *times, gint64 now)
{
	guint keep = 0;

	while (keep < times->len &&
	       g_array_index(times, gint64, keep) + rl->window <= now)
		keep++;
	g_array_remove_range(times, 0, keep);
}

gboolean tracker_ratelimit_check(TrackerRatelimit *rl, const char *key,
				 gint64 now, guint *retry_after)
{
	GArray *times = g_hash_table_lookup(rl->keys, key);

	if (!times)
		return TRUE;
	age_out(rl, times, now);
	if (times->len < rl->max_failures)
		return TRUE;
	*retry_after = (guint)MAX(1, g_array_index(times, gint64, 0) +
					     rl->window - now);
	return FALSE;
}

void tracker_ratelimit_add(TrackerRatelimit *rl, const char *key, gint64 now)
{
	GArray *times = g_hash_table_lookup(rl->keys, key);

	if (!times) {
		times = g_array_new(FALSE, FALSE, sizeof(gint64));
		g_hash_table_insert(rl->keys, g_strdup(key), times);
	}
	age_out(rl, times, now);
	if (times->len == rl->max_failures)
		g_array_remove_index(times, 0);
	g_array_append_val(times, now);
}

void tracker_ratelimit_clear(TrackerRatelimit *rl, const char *key)
{
	g_hash_table_remove(rl->keys, key);
}

guint tracker_ratelimit_prune(TrackerRatelimit *rl, gint64 now)
{
	GHashTableIter iter;
	GArray *times;

	g_hash_table_iter_init(&iter, rl->keys);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&times)) {
		age_out(rl, times, now);
		if (times->len == 0)
			g_hash_table_iter_remove(&iter);
	}
	return g_hash_table_size(rl->keys);
}
