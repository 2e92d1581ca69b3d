/*
 * groupfs: the command-line front end. This file maps a subcommand name
 * (and the assignment's alias for it) to the function that runs it, and
 * nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cli.h"

typedef struct {
	const char *name;
	CliCommandFunc func;
	const char *summary;
} CliCommand;

/* The assignment's command names, as the words they stand for. */
typedef struct {
	const char *alias;
	const char *command;
	const char *subcommand; /* NULL when the command has none */
} CliAlias;

static const CliCommand commands[] = {
	{"register", cli_cmd_register, "create an account on a tracker"},
	{"login", cli_cmd_login, "log in and get a certificate"},
	{"logout", cli_cmd_logout, "end the session on the tracker"},
	{"whoami", cli_cmd_whoami, "show who is logged in, and where"},
	{"group", cli_cmd_group, "create, join, leave, list and run groups"},
	{"ls", cli_cmd_ls, "list the files of a group"},
	{"torrent", cli_cmd_torrent, "create or show a .torrent file"},
	{"serve", cli_cmd_serve, "run the daemon that shares and fetches"},
	{"share", cli_cmd_share, "publish a file into a group"},
	{"get", cli_cmd_get, "download a file of a group"},
	{"status", cli_cmd_status, "show what the daemon shares and fetches"},
	{"unshare", cli_cmd_unshare, "stop sharing a file from here"},
	{"mount", cli_cmd_mount, "show every group as a folder"},
	{"umount", cli_cmd_umount, "unmount the groups and stop sharing"},
};

static const CliAlias aliases[] = {
	{"create_user", "register", NULL},
	{"create_group", "group", "create"},
	{"join_group", "group", "join"},
	{"leave_group", "group", "leave"},
	{"list_requests", "group", "requests"},
	{"accept_request", "group", "accept"},
	{"list_groups", "group", "list"},
	{"list_files", "ls", NULL},
	{"upload_file", "share", NULL},
	{"download_file", "get", NULL},
	{"show_downloads", "status", NULL},
	{"stop_share", "unshare", NULL},
};

static void print_help(FILE *out)
{
	fprintf(out, "Usage: groupfs COMMAND [ARGS...]\n\nCommands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(out, "  %-15s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nAliases:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(aliases); i++)
		fprintf(out, "  %-15s %s %s\n", aliases[i].alias,
			aliases[i].command,
			aliases[i].subcommand ? aliases[i].subcommand : "");
	fprintf(out, "\nSee groupfs(1) for details.\n");
}

static int run(int argc, char **argv)
{
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(commands[i].name, argv[0]) == 0)
			return commands[i].func(argc, argv);
	}
	return cli_usage_error("unknown command '%s'", argv[0]);
}

/* Runs an alias as its command: "accept_request G U" becomes
 * "group accept G U". */
static int run_alias(const CliAlias *alias, int argc, char **argv)
{
	g_autofree char **expanded = g_new0(char *, argc + 2);
	int n = 0;

	expanded[n++] = (char *)alias->command;
	if (alias->subcommand != NULL)
		expanded[n++] = (char *)alias->subcommand;
	for (int i = 1; i < argc; i++)
		expanded[n++] = argv[i];
	return run(n, expanded);
}

int main(int argc, char **argv)
{
	const char *name;

	g_set_prgname("groupfs");
	if (argc < 2)
		return cli_usage_error("missing command");
	name = argv[1];
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
	    strcmp(name, "-h") == 0) {
		print_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0) {
		printf("groupfs %s\n", GROUPFS_VERSION);
		return CLI_EXIT_OK;
	}
	/* mount.fuse3 runs "groupfs SOURCE MOUNTPOINT -o OPTIONS". */
	if (cli_is_mount_source(name))
		return cli_cmd_mount(argc, argv);
	for (gsize i = 0; i < G_N_ELEMENTS(aliases); i++) {
		if (strcmp(aliases[i].alias, name) == 0)
			return run_alias(&aliases[i], argc - 1, argv + 1);
	}
	return run(argc - 1, argv + 1);
}
