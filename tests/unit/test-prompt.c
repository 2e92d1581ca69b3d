/* test-prompt: the password on standard input, byte for byte. */
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "prompt.h"

/* Makes @input the process's standard input (a pipe) and reads a
 * password from it. Stores what is left on the pipe in @rest. */
static CliSecret *read_from(const char *input, gsize len, char **rest,
			    GError **error)
{
	int fds[2];
	CliSecret *password;
	char buf[64] = {0};
	ssize_t n;

	g_assert_cmpint(pipe(fds), ==, 0);
	g_assert_cmpint(write(fds[1], input, len), ==, (gssize)len);
	close(fds[1]);
	g_assert_cmpint(dup2(fds[0], STDIN_FILENO), ==, STDIN_FILENO);
	close(fds[0]);
	password = cli_read_password_stdin(error);
	n = read(STDIN_FILENO, buf, sizeof(buf) - 1);
	g_assert_cmpint(n, >=, 0);
	*rest = g_strdup(buf);
	return password;
}

static void test_strips_newline_only(void)
{
	static const struct {
		const char *input;
		const char *password;
		const char *rest;
	} cases[] = {
		{"secret\n", "secret", ""},
		{" spaced out \n", " spaced out ", ""},
		{"crlf\r\n", "crlf\r", ""},
		{"no-newline", "no-newline", ""},
		{"first\nsecond\n", "first", "second\n"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *rest = NULL;
		g_autoptr(CliSecret) password = read_from(
			cases[i].input, strlen(cases[i].input), &rest, &error);

		g_assert_no_error(error);
		g_assert_cmpstr(password, ==, cases[i].password);
		g_assert_cmpstr(rest, ==, cases[i].rest);
	}
}

static void test_refuses(void)
{
	g_autofree char *longest = g_strnfill(CLI_PASSWORD_MAX, 'x');
	g_autofree char *too_long = g_strnfill(CLI_PASSWORD_MAX + 1, 'x');
	const struct {
		const char *input;
		gsize len;
	} cases[] = {
		{"", 0},
		{"\n", 1},
		{"nul\0byte\n", 9},
		{too_long, CLI_PASSWORD_MAX + 1},
	};
	g_autoptr(GError) error = NULL;
	g_autofree char *rest = NULL;
	g_autoptr(CliSecret) ok =
		read_from(longest, CLI_PASSWORD_MAX, &rest, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(strlen(ok), ==, CLI_PASSWORD_MAX);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) refused = NULL;
		g_autofree char *left = NULL;
		g_autoptr(CliSecret) password = read_from(
			cases[i].input, cases[i].len, &left, &refused);

		g_assert_null(password);
		g_assert_error(refused, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
	}
}

static void test_not_interactive_on_pipe(void)
{
	g_autofree char *rest = NULL;
	g_autoptr(CliSecret) password = read_from("x\n", 2, &rest, NULL);

	g_assert_false(cli_prompt_is_interactive());
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cli/prompt/strips-newline-only",
			test_strips_newline_only);
	g_test_add_func("/cli/prompt/refuses", test_refuses);
	g_test_add_func("/cli/prompt/not-interactive-on-pipe",
			test_not_interactive_on_pipe);
	return g_test_run();
}
