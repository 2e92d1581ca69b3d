/* Unit tests for fs/daemon: where its files go, its -o options, and the
 * runtime folder's protection. The process life cycle itself is driven
 * by tests/integration/test_daemon.py. */
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "daemon.h"

static void test_folders_home(void)
{
	g_autofree char *cache = NULL;
	g_autofree char *data = NULL;
	g_autofree char *run = NULL;

	g_setenv("GROUPFS_HOME", "/srv/alice", TRUE);
	cache = fs_daemon_cache_dir();
	data = fs_daemon_data_dir();
	run = fs_daemon_runtime_dir();
	g_assert_cmpstr(cache, ==, "/srv/alice/cache");
	g_assert_cmpstr(data, ==, "/srv/alice/data");
	g_assert_cmpstr(run, ==, "/srv/alice/run");
	g_unsetenv("GROUPFS_HOME");
}

static void test_folders_xdg(void)
{
	g_autofree char *cache = NULL;
	g_autofree char *data = NULL;
	g_autofree char *run = NULL;
	g_autofree char *want_cache = NULL;
	g_autofree char *want_data = NULL;
	g_autofree char *want_run = NULL;

	g_unsetenv("GROUPFS_HOME");
	cache = fs_daemon_cache_dir();
	data = fs_daemon_data_dir();
	run = fs_daemon_runtime_dir();
	want_cache = g_build_filename(g_get_user_cache_dir(), "groupfs", NULL);
	want_data = g_build_filename(g_get_user_data_dir(), "groupfs", NULL);
	want_run = g_build_filename(g_get_user_runtime_dir(), "groupfs", NULL);
	g_assert_cmpstr(cache, ==, want_cache);
	g_assert_cmpstr(data, ==, want_data);
	g_assert_cmpstr(run, ==, want_run);
}

static void test_socket_path_limit(void)
{
	g_autofree char *longdir = g_strnfill(120, 'x');
	g_autofree char *home = g_build_filename("/tmp", longdir, NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;

	g_setenv("GROUPFS_HOME", home, TRUE);
	path = fs_daemon_socket_path(&error);
	g_assert_null(path);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG);
	g_assert_nonnull(strstr(error->message, "GROUPFS_HOME"));
	g_clear_error(&error);

	g_setenv("GROUPFS_HOME", "/tmp/h", TRUE);
	g_clear_pointer(&path, g_free);
	path = fs_daemon_socket_path(&error);
	g_assert_no_error(error);
	g_assert_cmpstr(path, ==, "/tmp/h/run/control.sock");
	g_unsetenv("GROUPFS_HOME");
}

static void test_runtime_dir_closed(void)
{
	g_autofree char *home = g_build_filename(g_get_tmp_dir(), "home", NULL);
	g_autofree char *run = g_build_filename(home, "run", NULL);
	g_autoptr(GError) error = NULL;
	struct stat st;

	g_setenv("GROUPFS_HOME", home, TRUE);
	g_assert_cmpint(g_mkdir_with_parents(run, 0755), ==, 0);
	g_assert_cmpint(g_chmod(run, 0755), ==, 0);
	g_assert_true(fs_daemon_make_runtime_dir(&error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(run, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
	g_unsetenv("GROUPFS_HOME");
	g_assert_cmpint(g_rmdir(run), ==, 0);
	g_assert_cmpint(g_rmdir(home), ==, 0);
}

typedef struct {
	const char *option;
	gboolean known;
	gboolean ok;
	guint64 cache_size; /* when ok and a size */
	const char *listen; /* when ok and an address */
} OptionCase;

static void test_options(void)
{
	static const OptionCase cases[] = {
		{"cache_size=0", TRUE, TRUE, 0, NULL},
		{"cache_size=4096", TRUE, TRUE, 4096, NULL},
		{"cache_size=512K", TRUE, TRUE, 512u << 10, NULL},
		{"cache_size=20G", TRUE, TRUE, G_GUINT64_CONSTANT(20) << 30,
		 NULL},
		{"cache_size=3gib", TRUE, TRUE, G_GUINT64_CONSTANT(3) << 30,
		 NULL},
		{"cache_size=2T", TRUE, TRUE, G_GUINT64_CONSTANT(2) << 40,
		 NULL},
		{"cache_size=", TRUE, FALSE, 0, NULL},
		{"cache_size=-1", TRUE, FALSE, 0, NULL},
		{"cache_size=10Q", TRUE, FALSE, 0, NULL},
		{"cache_size=10GB", TRUE, FALSE, 0, NULL},
		{"cache_size=99999999999999999999", TRUE, FALSE, 0, NULL},
		{"cache_size=17179869184T", TRUE, FALSE, 0, NULL},
		{"listen=127.0.0.1:6881", TRUE, TRUE, 0, "127.0.0.1:6881"},
		{"listen=0.0.0.0:0", TRUE, TRUE, 0, "0.0.0.0:0"},
		{"listen=[::1]:7000", TRUE, TRUE, 0, "[::1]:7000"},
		{"listen=localhost:80", TRUE, FALSE, 0, NULL},
		{"listen=127.0.0.1", TRUE, FALSE, 0, NULL},
		{"listen=127.0.0.1:65536", TRUE, FALSE, 0, NULL},
		{"listen=:80", TRUE, FALSE, 0, NULL},
		{"listen=", TRUE, FALSE, 0, NULL},
		{"allow_other", FALSE, FALSE, 0, NULL},
		{"read_timeout=5", FALSE, FALSE, 0, NULL},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		const OptionCase *c = &cases[i];
		FsDaemonOptions o;
		g_autoptr(GError) error = NULL;
		gboolean known = !c->known;
		gboolean ok;

		fs_daemon_options_init(&o);
		ok = fs_daemon_options_parse(&o, c->option, &known, &error);
		g_test_message("%s", c->option);
		g_assert_cmpint(known, ==, c->known);
		g_assert_cmpint(ok, ==, c->ok);
		if (c->known && !c->ok)
			g_assert_error(error, G_IO_ERROR,
				       G_IO_ERROR_INVALID_ARGUMENT);
		else
			g_assert_no_error(error);
		if (ok && c->listen != NULL)
			g_assert_cmpstr(o.listen, ==, c->listen);
		else
			g_assert_cmpstr(o.listen, ==, FS_DAEMON_DEFAULT_LISTEN);
		if (ok && c->listen == NULL)
			g_assert_cmpuint(o.cache_size, ==, c->cache_size);
		else
			g_assert_cmpuint(o.cache_size, ==,
					 FS_DAEMON_DEFAULT_CACHE_SIZE);
		fs_daemon_options_clear(&o);
	}
}

static void test_check_name(void)
{
	static const struct {
		const char *group;
		const char *path;
		gboolean ok;
	} cases[] = {
		{"g1", "a.txt", TRUE},
		{"Team_2.x-y", "docs/week 1/notes.pdf", TRUE},
		{"", "a", FALSE},
		{".hidden", "a", FALSE},
		{"-dash", "a", FALSE},
		{"sp ace", "a", FALSE},
		{"g/h", "a", FALSE},
		{"g", "", FALSE},
		{"g", "/abs", FALSE},
		{"g", "a//b", FALSE},
		{"g", "a/", FALSE},
		{"g", "../etc/passwd", FALSE},
		{"g", "a/./b", FALSE},
		{"g", "tab\there", FALSE},
		{"g", "bad\xff", FALSE},
	};
	g_autofree char *long_group = g_strnfill(65, 'g');
	g_autofree char *long_part = g_strnfill(256, 'p');
	g_autoptr(GError) error = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		gboolean ok = net_engine_check_name(cases[i].group,
						    cases[i].path, &error);
		/* Escaped: TAP output must stay UTF-8 for meson to read it. */
		g_autofree char *group = g_strescape(cases[i].group, NULL);
		g_autofree char *path = g_strescape(cases[i].path, NULL);

		g_test_message("%s / %s", group, path);
		g_assert_cmpint(ok, ==, cases[i].ok);
		if (!ok)
			g_assert_error(error, G_IO_ERROR,
				       G_IO_ERROR_INVALID_ARGUMENT);
		g_clear_error(&error);
	}
	g_assert_false(net_engine_check_name(long_group, "a", NULL));
	g_assert_true(net_engine_check_name(long_group + 1, "a", NULL));
	g_assert_false(net_engine_check_name("g", long_part, NULL));
	g_assert_true(net_engine_check_name("g", long_part + 1, NULL));
}

int main(int argc, char **argv)
{
	/* Not G_TEST_OPTION_ISOLATE_DIRS: GLib 2.74 leaks its strings. The
	 * tests set GROUPFS_HOME, or only read the XDG folders. */
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fs/daemon/folders-home", test_folders_home);
	g_test_add_func("/fs/daemon/folders-xdg", test_folders_xdg);
	g_test_add_func("/fs/daemon/socket-path-limit", test_socket_path_limit);
	g_test_add_func("/fs/daemon/runtime-dir-closed",
			test_runtime_dir_closed);
	g_test_add_func("/fs/daemon/options", test_options);
	g_test_add_func("/net/engine/check-name", test_check_name);
	return g_test_run();
}
