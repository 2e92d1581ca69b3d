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

/* Parses the options in @entries (may be NULL) out of @argc/@argv, whose
 * argv[0] is the subcommand, and checks that between @min_args and
 * @max_args positional arguments remain after argv[0]. @usage is the
 * synopsis without "groupfs", e.g. "group accept GROUP USER". Returns
 * FALSE after printing a usage error, with the exit status in @status.
 * --help prints the options and exits. */
gboolean cli_parse_args(int *argc, char ***argv, const char *usage,
			const GOptionEntry *entries, int min_args, int max_args,
			int *status);

/* @text for a terminal: invalid UTF-8 and control characters (tab and
 * newline included) become '?', so that a hostile name can neither move
 * the cursor nor break a column. */
char *cli_printable(const char *text);

/* Prints one line of list output: the NULL-terminated @fields, each
 * made printable, separated by tabs. */
void cli_print_row(const char *const *fields);

/* Accounts: cmd-account.c. */
int cli_cmd_register(int argc, char **argv);
int cli_cmd_login(int argc, char **argv);
int cli_cmd_logout(int argc, char **argv);
int cli_cmd_whoami(int argc, char **argv);

/* Groups and their files: cmd-group.c. */
int cli_cmd_group(int argc, char **argv);
int cli_cmd_ls(int argc, char **argv);

int cli_cmd_torrent(int argc, char **argv);

/* The daemon: cmd-serve.c; its data commands: cmd-data.c. */
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_share(int argc, char **argv);
int cli_cmd_get(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_unshare(int argc, char **argv);

/* The mount: cmd-mount.c. */
int cli_cmd_mount(int argc, char **argv);
int cli_cmd_umount(int argc, char **argv);
/* Whether the first word of a command line is a mount's SOURCE (a
 * tracker URL), as in the "groupfs SOURCE MOUNTPOINT -o OPTIONS" that
 * mount.fuse3 runs. */
gboolean cli_is_mount_source(const char *word);

G_END_DECLS
