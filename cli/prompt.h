/*
 * prompt: questions to the person at the terminal, and passwords.
 *
 * Owns: /dev/tty while a question is asked (echo off for secrets, and
 * back on however the read ends), and the one-line password on standard
 * input. Must not: read a secret from anywhere else, keep one longer
 * than its CliSecret lives, or ask anything when standard input is not
 * a terminal (scripts must never hang on a question).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The tracker's limit on a password, in bytes. */
#define CLI_PASSWORD_MAX 1024

/* A string that holds a secret: it is wiped before it is freed. */
typedef char CliSecret;
void cli_secret_free(CliSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliSecret, cli_secret_free)

/* TRUE when standard input is a terminal and /dev/tty can be opened:
 * the only case in which groupfs asks questions. */
gboolean cli_prompt_is_interactive(void);

/* Asks for a secret on /dev/tty without echo; one line, without its
 * newline. Fails on end of input, an interrupt, or a line longer than
 * CLI_PASSWORD_MAX bytes. */
CliSecret *cli_prompt_secret(const char *prompt, GError **error);

/* Asks @question on /dev/tty and returns TRUE only for an answer that
 * starts with 'y' or 'Y'. */
gboolean cli_prompt_confirm(const char *question);

/* Reads one line from standard input as a password: the trailing
 * newline is stripped and nothing else. Fails on an empty password, a
 * NUL byte, or more than CLI_PASSWORD_MAX bytes. */
CliSecret *cli_read_password_stdin(GError **error);

G_END_DECLS
