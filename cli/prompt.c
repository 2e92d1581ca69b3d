/* prompt: see prompt.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>

#include "prompt.h"

/* The signals that may end a read with echo off; the terminal must get
 * its echo back before the process goes. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static volatile sig_atomic_t caught_signal;

void cli_secret_free(CliSecret *secret)
{
	if (secret == NULL)
		return;
	memset(secret, 0, strlen(secret));
	g_free(secret);
}

gboolean cli_prompt_is_interactive(void)
{
	int fd;

	if (!isatty(STDIN_FILENO))
		return FALSE;
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

/* Reads one line from @fd, a byte at a time so that nothing after the
 * newline is consumed. The newline is dropped; EOF ends a last line. */
static CliSecret *read_line(int fd, const char *what, GError **error)
{
	g_autoptr(CliSecret) line = g_malloc0(CLI_PASSWORD_MAX + 2);
	gsize len = 0;
	ssize_t n;
	char c;

	while ((n = read(fd, &c, 1)) == 1 && c != '\n') {
		if (len == CLI_PASSWORD_MAX || c == '\0') {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "the %s must be at most %d bytes with no "
				    "NUL byte",
				    what, CLI_PASSWORD_MAX);
			return NULL;
		}
		line[len++] = c;
	}
	if (n < 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot read the %s: %s", what, g_strerror(err));
		return NULL;
	}
	if (n == 0 && len == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "no %s given", what);
		return NULL;
	}
	return g_steal_pointer(&line);
}

CliSecret *cli_read_password_stdin(GError **error)
{
	CliSecret *password = read_line(STDIN_FILENO, "password", error);

	if (password != NULL && *password == '\0') {
		cli_secret_free(password);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "the password on standard input is empty");
		return NULL;
	}
	return password;
}

static void on_stop_signal(int sig)
{
	caught_signal = sig;
}

/* Catches the stop signals without SA_RESTART, so that a read in
 * progress fails with EINTR and the caller can restore the terminal. */
static void catch_stop_signals(struct sigaction *old)
{
	struct sigaction sa = {.sa_handler = on_stop_signal};

	caught_signal = 0;
	sigemptyset(&sa.sa_mask);
	for (gsize i = 0; i < G_N_ELEMENTS(stop_signals); i++)
		sigaction(stop_signals[i], &sa, &old[i]);
}

static void release_stop_signals(const struct sigaction *old)
{
	for (gsize i = 0; i < G_N_ELEMENTS(stop_signals); i++)
		sigaction(stop_signals[i], &old[i], NULL);
	if (caught_signal != 0)
		raise(caught_signal);
}

static int open_tty(GError **error)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int err = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot open the terminal: %s", g_strerror(err));
	}
	return fd;
}

static void write_all(int fd, const char *text)
{
	gsize len = strlen(text);

	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		text += n;
		len -= n;
	}
}

/* Shows @prompt on the terminal @fd and reads a line with echo off.
 * Echo goes off before the prompt appears: whatever is typed after
 * the prompt is never shown, and what was typed before it is dropped. */
static CliSecret *read_secret(int fd, const char *prompt, GError **error)
{
	struct sigaction old[G_N_ELEMENTS(stop_signals)];
	struct termios saved, quiet;
	CliSecret *secret;

	if (tcgetattr(fd, &saved) != 0) {
		write_all(fd, prompt);
		return read_line(fd, "password", error);
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	catch_stop_signals(old);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	write_all(fd, prompt);
	secret = read_line(fd, "password", error);
	tcsetattr(fd, TCSAFLUSH, &saved);
	write_all(fd, "\n");
	release_stop_signals(old);
	return secret;
}

CliSecret *cli_prompt_secret(const char *prompt, GError **error)
{
	int fd = open_tty(error);
	CliSecret *secret;

	if (fd < 0)
		return NULL;
	secret = read_secret(fd, prompt, error);
	close(fd);
	return secret;
}

gboolean cli_prompt_confirm(const char *question)
{
	int fd = open_tty(NULL);
	g_autoptr(CliSecret) answer = NULL;
	g_autofree char *text = NULL;

	if (fd < 0)
		return FALSE;
	text = g_strdup_printf("%s [y/N] ", question);
	write_all(fd, text);
	answer = read_line(fd, "answer", NULL);
	close(fd);
	return answer != NULL && (answer[0] == 'y' || answer[0] == 'Y');
}
