/*
 * workers: a bounded pool of threads for slow CPU work (password
 * hashes), so that a flood of requests cannot queue unbounded work nor
 * take every CPU from the main loop.
 *
 * Owns: its threads and the count of jobs queued or running. Must not:
 * know what the work is. A job is a GTask and a thread function; the
 * function returns its result through the GTask, whose callback runs on
 * the main loop as with g_task_run_in_thread.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _TrackerWorkers TrackerWorkers;

/* @threads run jobs at once; at most @max_jobs (>= @threads) are queued
 * or running. */
TrackerWorkers *tracker_workers_new(guint threads, guint max_jobs);
/* Waits for the jobs queued and running, then frees. */
void tracker_workers_free(TrackerWorkers *workers);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerWorkers, tracker_workers_free)

/* Queues @func on @task (taking a reference). FALSE, doing nothing, when
 * max_jobs are already queued or running: the caller answers "busy".
 * Main loop thread only. */
gboolean tracker_workers_run(TrackerWorkers *workers, GTask *task,
			     GTaskThreadFunc func);

G_END_DECLS
