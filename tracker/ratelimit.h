/*
 * ratelimit: counts failures per key (a user name, an address) in a
 * sliding window, to slow down password guessing.
 *
 * Owns: the recent failure times of each key, at most @max_failures
 * per key, and nothing older than the window after a prune. Must not:
 * know what a key means, or grow without bound: tracker_ratelimit_prune
 * runs from a timer and drops every key whose failures have aged out.
 *
 * Single-threaded: the main loop owns it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _TrackerRatelimit TrackerRatelimit;

TrackerRatelimit *tracker_ratelimit_new(guint max_failures,
					guint window_seconds);
void tracker_ratelimit_free(TrackerRatelimit *rl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerRatelimit, tracker_ratelimit_free)

/* TRUE when @key may try again at @now; otherwise FALSE with the
 * seconds until its oldest failure ages out in @retry_after. */
gboolean tracker_ratelimit_check(TrackerRatelimit *rl, const char *key,
				 gint64 now, guint *retry_after);
/* Records a failure of @key at @now. */
void tracker_ratelimit_add(TrackerRatelimit *rl, const char *key, gint64 now);
/* Forgets every failure of @key (after a success). */
void tracker_ratelimit_clear(TrackerRatelimit *rl, const char *key);
/* Drops keys with no failure in the window; returns how many keys
 * remain. */
guint tracker_ratelimit_prune(TrackerRatelimit *rl, gint64 now);

G_END_DECLS
