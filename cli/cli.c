/* cli: the helpers that every subcommand shares; see cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *format, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;
	g_autofree char *printable = NULL;

	va_start(ap, format);
	msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	/* Messages quote the tracker; it must not draw on the terminal. */
	printable = cli_printable(msg);
	fprintf(stderr, "groupfs: %s\n", printable);
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

gboolean cli_parse_args(int *argc, char ***argv, const char *usage,
			const GOptionEntry *entries, int min_args, int max_args,
			int *status)
{
	g_autoptr(GOptionContext) context = g_option_context_new(usage);
	g_autoptr(GError) error = NULL;

	if (entries != NULL)
		g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, argc, argv, &error)) {
		*status = cli_usage_error("%s", error->message);
		return FALSE;
	}
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] == '\0') {
			*status = cli_usage_error("an argument is empty; "
						  "usage: groupfs %s",
						  usage);
			return FALSE;
		}
	}
	if (*argc - 1 < min_args || *argc - 1 > max_args) {
		*status = cli_usage_error("%s; usage: groupfs %s",
					  *argc - 1 < min_args
						  ? "missing argument"
						  : "too many arguments",
					  usage);
		return FALSE;
	}
	return TRUE;
}

char *cli_printable(const char *text)
{
	g_autofree char *valid = g_utf8_make_valid(text, -1);
	GString *out = g_string_sized_new(strlen(valid));

	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (g_unichar_iscntrl(c))
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

void cli_print_row(const char *const *fields)
{
	for (gsize i = 0; fields[i] != NULL; i++) {
		g_autofree char *printable = cli_printable(fields[i]);

		if (i > 0)
			putchar('\t');
		fputs(printable, stdout);
	}
	putchar('\n');
}
