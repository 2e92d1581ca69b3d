/*
 * cli: the `groupfs` command. main.c only dispatches; each cmd-*.c file
 * owns one family of subcommands and returns the process exit status.
 *
 * Exit status: CLI_EXIT_OK on success, CLI_EXIT_FAILURE with one line on
 * stderr when the operation failed, CLI_EXIT_USAGE when the command line
 * itself is wrong.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1,
	CLI_EXIT_USAGE = 2,
};

/* A subcommand gets argv with argv[0] the subcommand's own name. */
typedef int (*CliCommandFunc)(int argc, char **argv);

/* Prints "groupfs: " + message to stderr and returns CLI_EXIT_FAILURE;
 * the one way a command reports a failure. */
int cli_fail(const char *format, ...) G_GNUC_PRINTF(1, 2);
/* Same for a wrong command line: prints the message and a hint to run
 * `groupfs help`, and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *format, ...) G_GNUC_PRINTF(1, 2);

int cli_cmd_torrent(int argc, char **argv);

G_END_DECLS
