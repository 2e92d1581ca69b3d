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

static const CliCommand commands[] = {
	{"torrent", cli_cmd_torrent, "create or show a .torrent file"},
};

static void print_help(FILE *out)
{
	fprintf(out, "Usage: groupfs COMMAND [ARGS...]\n\nCommands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nSee groupfs(1) for details.\n");
}

int cli_fail(const char *format, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, format);
	msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	fprintf(stderr, "groupfs: %s\n", msg);
	return CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *format, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, format);
	msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	fprintf(stderr, "groupfs: %s\nTry 'groupfs help' for usage.\n", msg);
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *name;

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
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return commands[i].func(argc - 1, argv + 1);
	}
	return cli_usage_error("unknown command '%s'", name);
}
