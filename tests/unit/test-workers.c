/* test-workers: the bounded pool that runs password hashes: jobs run in
 * threads and report on the main loop, and a full pool refuses more
 * instead of queueing them. */
#include "workers.h"

#define WAIT_US (10 * G_USEC_PER_SEC)

typedef struct {
	GMutex lock;
	GCond cond;
	gboolean release; /* jobs block until this is set */
	guint started;
	guint done;
} Gate;

static void blocking_job(GTask *task, gpointer source, gpointer data,
			 GCancellable *cancellable)
{
	Gate *gate = data;

	g_mutex_lock(&gate->lock);
	gate->started++;
	g_cond_broadcast(&gate->cond);
	while (!gate->release)
		g_cond_wait(&gate->cond, &gate->lock);
	g_mutex_unlock(&gate->lock);
	g_task_return_boolean(task, TRUE);
}

static void on_done(GObject *source, GAsyncResult *result, gpointer data)
{
	Gate *gate = data;

	g_assert_true(g_task_propagate_boolean(G_TASK(result), NULL));
	gate->done++;
}

static gboolean run(TrackerWorkers *w, Gate *gate)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, on_done, gate);

	g_task_set_task_data(task, gate, NULL);
	return tracker_workers_run(w, task, blocking_job);
}

static gboolean run_soon(TrackerWorkers *w, Gate *gate)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_US;

	while (g_get_monotonic_time() < deadline) {
		if (run(w, gate))
			return TRUE;
		g_usleep(1000);
	}
	return FALSE;
}

/* Waits (bounded) until @count jobs have started in their threads. */
static void wait_started(Gate *gate, guint count)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_US;

	g_mutex_lock(&gate->lock);
	while (gate->started < count &&
	       g_cond_wait_until(&gate->cond, &gate->lock, deadline))
		;
	g_assert_cmpuint(gate->started, ==, count);
	g_mutex_unlock(&gate->lock);
}

/* Iterates the main loop (bounded) until @count callbacks have run. */
static void wait_done(Gate *gate, guint count)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_US;

	while (gate->done < count && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(gate->done, ==, count);
}

static void test_bounded(void)
{
	g_autoptr(TrackerWorkers) w = tracker_workers_new(2, 3);
	Gate gate = {0};

	g_mutex_init(&gate.lock);
	g_cond_init(&gate.cond);
	g_assert_true(run(w, &gate));
	g_assert_true(run(w, &gate));
	g_assert_true(run(w, &gate));
	/* Two threads: two run, the third waits in the queue. */
	wait_started(&gate, 2);
	g_assert_false(run(w, &gate));
	g_mutex_lock(&gate.lock);
	gate.release = TRUE;
	g_cond_broadcast(&gate.cond);
	g_mutex_unlock(&gate.lock);
	wait_done(&gate, 3);
	g_assert_cmpuint(gate.started, ==, 3);
	/* Finished jobs make room again (a thread leaves the count just
	 * after its result went to the main loop: allow it a moment). */
	g_assert_true(run_soon(w, &gate));
	wait_done(&gate, 4);
	g_clear_pointer(&w, tracker_workers_free);
	g_mutex_clear(&gate.lock);
	g_cond_clear(&gate.cond);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/workers/bounded", test_bounded);
	return g_test_run();
}
