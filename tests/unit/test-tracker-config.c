/* test-tracker-config: defaults, the settings file, and its errors. */
#include <glib/gstdio.h>

#include "password.h"
#include "tracker-config.h"

static char *write_config(const char *text)
{
	g_autoptr(GError) error = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("tracker-XXXXXX.conf", &path, &error);

	g_assert_no_error(error);
	close(fd);
	g_assert_true(g_file_set_contents(path, text, -1, &error));
	return path;
}

static void test_defaults(void)
{
	g_autoptr(TrackerConfig) c = tracker_config_new();
	g_auto(GStrv) names = tracker_config_dup_hostnames(c);

	g_assert_cmpstr(c->listen_host, ==, "0.0.0.0");
	g_assert_cmpuint(c->listen_port, ==, 7070);
	g_assert_cmpstr(c->data_dir, ==, "/var/lib/groupfs-tracker");
	g_assert_cmpuint(c->password_iterations, ==,
			 TRACKER_PASSWORD_DEFAULT_ITERATIONS);
	g_assert_cmpuint(c->token_lifetime, ==, 30 * 86400);
	g_assert_cmpuint(c->password_jobs, ==,
			 2 * g_get_num_processors() + 128);
	g_assert_cmpstr(names[0], ==, "localhost");
	g_assert_true(tracker_config_check(c, NULL));
}

static void test_listen(void)
{
	g_autoptr(TrackerConfig) c = tracker_config_new();
	const char *bad[] = {"7070",	      "host:1",	    "1.2.3.4",
			     "1.2.3.4:70000", "1.2.3.4:-1", ":80",
			     "1.2.3.4:8x"};

	g_assert_true(tracker_config_set_listen(c, "127.0.0.1:0", NULL));
	g_assert_cmpuint(c->listen_port, ==, 0);
	g_assert_true(tracker_config_set_listen(c, "[::1]:443", NULL));
	g_assert_cmpstr(c->listen_host, ==, "::1");
	g_assert_cmpuint(c->listen_port, ==, 443);
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(tracker_config_set_listen(c, bad[i], NULL));
	g_assert_cmpstr(c->listen_host, ==, "::1");
}

static void test_file(void)
{
	g_autoptr(TrackerConfig) c = tracker_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *path = write_config(
		"[tracker]\nlisten = 127.0.0.1:9000\ndata = /srv/t\n"
		"hostnames = a.example;b.example\npassword-iterations = 1000\n"
		"announce-interval = 30\npassword-jobs = 3\n");
	g_auto(GStrv) names = NULL;

	g_assert_true(tracker_config_load_file(c, path, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(c->listen_port, ==, 9000);
	g_assert_cmpstr(c->data_dir, ==, "/srv/t");
	g_assert_cmpuint(c->password_iterations, ==, 1000);
	g_assert_cmpuint(c->announce_interval, ==, 30);
	g_assert_cmpuint(c->password_jobs, ==, 3);
	names = tracker_config_dup_hostnames(c);
	g_assert_cmpstr(names[1], ==, "b.example");
	g_unlink(path);
}

static void test_file_errors(void)
{
	const char *bad[] = {
		"[tracker]\npasword-iterations = 1000\n",
		"[tracker]\npassword-iterations = 10\n",
		"[tracker]\npassword-jobs = 0\n",
		"[tracker]\nannounce-interval = soon\n",
		"[tracker]\nlisten = nowhere\n",
		"not a key file",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(TrackerConfig) c = tracker_config_new();
		g_autoptr(GError) error = NULL;
		g_autofree char *path = write_config(bad[i]);

		g_assert_false(tracker_config_load_file(c, path, &error));
		g_assert_nonnull(error);
		g_unlink(path);
	}
}

static void test_tls_pair(void)
{
	g_autoptr(TrackerConfig) c = tracker_config_new();

	c->tls_cert = g_strdup("cert.pem");
	g_assert_false(tracker_config_check(c, NULL));
	c->tls_key = g_strdup("key.pem");
	g_assert_true(tracker_config_check(c, NULL));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/config/defaults", test_defaults);
	g_test_add_func("/tracker/config/listen", test_listen);
	g_test_add_func("/tracker/config/file", test_file);
	g_test_add_func("/tracker/config/file-errors", test_file_errors);
	g_test_add_func("/tracker/config/tls-pair", test_tls_pair);
	return g_test_run();
}
