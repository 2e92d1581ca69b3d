/* test-session: where the session lives, and how it survives on disk. */
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "session.h"

static char *tmp; /* removed at the end */
static char *home; /* this test's GROUPFS_HOME, inside tmp */

static void set_up(void)
{
	g_free(home);
	home = g_build_filename(tmp, "home", g_test_get_path(), NULL);
	g_setenv("GROUPFS_HOME", home, TRUE);
}

static guint file_mode(const char *path)
{
	GStatBuf st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

static CliSession *session_example(void)
{
	CliSession *session = g_new0(CliSession, 1);

	session->tracker = g_strdup("https://127.0.0.1:7070");
	session->user = g_strdup("alice");
	session->token = g_strdup("t0k3n-abc");
	session->expires = G_MAXINT32 + G_GINT64_CONSTANT(1000);
	session->passkey = g_strdup("0123456789abcdef0123456789abcdef");
	return session;
}

static void test_dir_groupfs_home(void)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = NULL;

	set_up();
	dir = cli_session_dir();
	g_assert_cmpstr(dir, ==, home);
	path = cli_session_path(CLI_SESSION_FILE);
	g_assert_true(g_str_has_prefix(path, home));
	g_assert_true(g_str_has_suffix(path, "/session.json"));
}

static void test_dir_xdg(void)
{
	g_autofree char *expected =
		g_build_filename(g_get_user_config_dir(), "groupfs", NULL);
	g_autofree char *unset = NULL;
	g_autofree char *empty = NULL;

	g_unsetenv("GROUPFS_HOME");
	unset = cli_session_dir();
	g_setenv("GROUPFS_HOME", "", TRUE);
	empty = cli_session_dir();
	g_assert_cmpstr(unset, ==, expected);
	g_assert_cmpstr(empty, ==, expected);
}

static void test_roundtrip(void)
{
	g_autoptr(CliSession) saved = NULL;
	g_autoptr(CliSession) loaded = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;

	set_up();
	saved = session_example();
	g_assert_true(cli_session_save(saved, &error));
	g_assert_no_error(error);
	loaded = cli_session_load(&error);
	g_assert_no_error(error);
	g_assert_cmpstr(loaded->tracker, ==, saved->tracker);
	g_assert_cmpstr(loaded->user, ==, saved->user);
	g_assert_cmpstr(loaded->token, ==, saved->token);
	g_assert_cmpstr(loaded->passkey, ==, saved->passkey);
	g_assert_cmpint(loaded->expires, ==, saved->expires);
	path = cli_session_path(CLI_SESSION_FILE);
	g_assert_cmpuint(file_mode(path), ==, 0600);
	g_assert_cmpuint(file_mode(home), ==, 0700);
}

static void test_missing(void)
{
	g_autoptr(CliSession) session = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(NetTrackerApi) api = NULL;

	set_up();
	session = cli_session_load(&error);
	g_assert_no_error(error);
	g_assert_null(session->tracker);
	g_assert_null(session->token);
	g_assert_false(cli_session_is_logged_in(session, 0));
	api = cli_session_connect(session, &error);
	g_assert_null(api);
	g_assert_nonnull(strstr(error->message, "not logged in"));
}

static void test_damaged(void)
{
	static const char *const bad[] = {
		"not json",
		"[1, 2]",
		"{\"tracker\": 7}",
		"{\"expires\": \"soon\"}",
		"{\"token\": \"two words\"}",
		"{\"token\": \"line\\nbreak\"}",
		"{\"user\": null}",
	};

	set_up();
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(CliSession) session = NULL;

		g_assert_true(cli_session_write_file(CLI_SESSION_FILE, bad[i],
						     &error));
		session = cli_session_load(&error);
		g_assert_null(session);
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
		g_assert_nonnull(strstr(error->message, "groupfs login"));
	}
}

static void test_expiry(void)
{
	g_autoptr(CliSession) session = session_example();
	g_autoptr(GError) error = NULL;
	g_autoptr(NetTrackerApi) api = NULL;

	set_up();
	g_assert_true(cli_session_is_logged_in(session, session->expires - 1));
	g_assert_false(cli_session_is_logged_in(session, session->expires));
	session->expires = 1000;
	api = cli_session_connect(session, &error);
	g_assert_null(api);
	g_assert_nonnull(strstr(error->message, "expired"));
	cli_session_clear_login(session);
	g_assert_null(session->token);
	g_assert_null(session->passkey);
	g_assert_cmpstr(session->user, ==, "alice");
}

/* A file that was readable by others becomes 0600 when rewritten. */
static void test_write_tightens_mode(void)
{
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;

	set_up();
	g_assert_true(cli_session_make_dir(&error));
	path = cli_session_path(CLI_SESSION_CERT_FILE);
	g_assert_true(
		g_file_set_contents_full(path, "old", -1, 0, 0644, &error));
	g_assert_cmpuint(file_mode(path), ==, 0644);
	g_assert_true(
		cli_session_write_file(CLI_SESSION_CERT_FILE, "new", &error));
	g_assert_no_error(error);
	g_assert_cmpuint(file_mode(path), ==, 0600);
	g_assert_true(g_file_get_contents(path, &text, NULL, &error));
	g_assert_cmpstr(text, ==, "new");
}

int main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	/* Before GLib reads and caches it. */
	tmp = g_dir_make_tmp("test-session-XXXXXX", NULL);
	g_assert_nonnull(tmp);
	g_setenv("XDG_CONFIG_HOME", tmp, TRUE);
	g_test_add_func("/cli/session/dir-groupfs-home", test_dir_groupfs_home);
	g_test_add_func("/cli/session/dir-xdg", test_dir_xdg);
	g_test_add_func("/cli/session/roundtrip", test_roundtrip);
	g_test_add_func("/cli/session/missing", test_missing);
	g_test_add_func("/cli/session/damaged", test_damaged);
	g_test_add_func("/cli/session/expiry", test_expiry);
	g_test_add_func("/cli/session/write-tightens-mode",
			test_write_tightens_mode);
	status = g_test_run();
	g_assert_true(g_spawn_sync(NULL, (char *[]){"rm", "-rf", tmp, NULL},
				   NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
				   NULL, NULL, NULL));
	g_free(home);
	g_free(tmp);
	return status;
}
