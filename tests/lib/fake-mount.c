/*
 * fake-mount: the mount of fs/ over the fake backend, for the
 * integration tests and bench/mount-fake.
 *
 *   fake-mount [-o OPTIONS] SPEC MOUNTPOINT
 *
 * Prints "mounted" once the file system is mounted, serves it until
 * SIGTERM, SIGINT or an unmount from outside, and exits 0 after a
 * clean stop.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include <glib.h>

#include "fake-backend.h"
#include "fs-mount.h"

typedef struct {
	sigset_t signals;
	FsMount *mount;
	gint done; /* atomic: the session ended, the waiter should too */
} Stopper;

/* Takes the stop signals on this one thread, so that neither libfuse's
 * threads nor the backend's ever see them. */
static gpointer wait_for_signal(gpointer data)
{
	Stopper *stopper = data;
	int sig;

	while (sigwait(&stopper->signals, &sig) == 0) {
		if (g_atomic_int_get(&stopper->done))
			break;
		fs_mount_stop(stopper->mount);
	}
	return NULL;
}

static int serve(const char *spec, const char *mountpoint, const char *options)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(FakeBackend) fake = fake_backend_new(spec, &error);
	Stopper stopper = {.done = 0};
	GThread *waiter;
	FsMount *mount;
	gboolean ok;

	if (fake == NULL) {
		g_printerr("fake-mount: %s\n", error->message);
		return 1;
	}
	mount = fs_mount_new(fake_backend_get(fake), "fake", mountpoint,
			     options, &error);
	if (mount == NULL) {
		g_printerr("fake-mount: %s\n", error->message);
		return 1;
	}
	printf("mounted\n");
	fflush(stdout);
	sigemptyset(&stopper.signals);
	sigaddset(&stopper.signals, SIGTERM);
	sigaddset(&stopper.signals, SIGINT);
	sigaddset(&stopper.signals, SIGHUP);
	stopper.mount = mount;
	waiter = g_thread_new("signals", wait_for_signal, &stopper);
	ok = fs_mount_run(mount, &error);
	g_atomic_int_set(&stopper.done, 1);
	kill(getpid(), SIGHUP); /* wakes the waiter, which now leaves */
	g_thread_join(waiter);
	fs_mount_free(mount);
	if (!ok) {
		g_printerr("fake-mount: %s\n", error->message);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	g_autofree char *options = NULL;
	GOptionEntry entries[] = {
		{"options", 'o', 0, G_OPTION_ARG_STRING, &options,
		 "Mount options", "OPTIONS"},
		{NULL},
	};
	g_autoptr(GOptionContext) context =
		g_option_context_new("SPEC MOUNTPOINT");
	g_autoptr(GError) error = NULL;
	sigset_t signals;

	/* Before any thread exists, so that every thread inherits it. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);

	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error) ||
	    argc != 3) {
		g_printerr("usage: fake-mount [-o OPTIONS] SPEC MOUNTPOINT\n");
		return 2;
	}
	return serve(argv[1], argv[2], options);
}
