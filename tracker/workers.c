#include "workers.h"

struct _TrackerWorkers {
	GThreadPool *pool;
	guint max_jobs;
	gint jobs; /* queued or running; atomic: the threads decrement */
};

typedef struct {
	GTask *task;
	GTaskThreadFunc func;
} Job;

static void run_job(gpointer data, gpointer user_data)
{
	Job *job = data;
	TrackerWorkers *workers = user_data;
	GTask *task = job->task;

	job->func(task, g_task_get_source_object(task),
		  g_task_get_task_data(task), g_task_get_cancellable(task));
	g_object_unref(task);
	g_free(job);
	g_atomic_int_add(&workers->jobs, -1);
}

TrackerWorkers *tracker_workers_new(guint threads, guint max_jobs)
{
	TrackerWorkers *workers = g_new0(TrackerWorkers, 1);

	g_return_val_if_fail(threads > 0 && max_jobs >= threads, NULL);
	workers->max_jobs = max_jobs;
	/* Not exclusive: threads are made as jobs come and shared with
	 * GLib's other pools; only how many run at once is ours. */
	workers->pool =
		g_thread_pool_new(run_job, workers, (gint)threads, FALSE, NULL);
	return workers;
}

void tracker_workers_free(TrackerWorkers *workers)
{
	if (!workers)
		return;
	g_thread_pool_free(workers->pool, FALSE, TRUE);
	g_free(workers);
}

gboolean tracker_workers_run(TrackerWorkers *workers, GTask *task,
			     GTaskThreadFunc func)
{
	Job *job;

	/* Only this thread adds, so the count cannot pass the bound. */
	if ((guint)g_atomic_int_get(&workers->jobs) >= workers->max_jobs)
		return FALSE;
	g_atomic_int_inc(&workers->jobs);
	job = g_new(Job, 1);
	job->task = g_object_ref(task);
	job->func = func;
	g_thread_pool_push(workers->pool, job, NULL);
	return TRUE;
}
