/*
 * cmd-torrent: `groupfs torrent create` and `groupfs torrent show`, the
 * .torrent files of single files, readable by any BitTorrent client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "metainfo.h"

static void print_metainfo(const NetMetainfo *mi, const char *announce)
{
	guint64 length = net_metainfo_get_length(mi);
	guint32 piece_length = net_metainfo_get_piece_length(mi);
	g_autofree char *size =
		g_format_size_full(length, G_FORMAT_SIZE_IEC_UNITS);
	g_autofree char *piece =
		g_format_size_full(piece_length, G_FORMAT_SIZE_IEC_UNITS);
	g_autofree char *hex = net_metainfo_dup_info_hash_hex(mi);

	printf("name: %s\n", net_metainfo_get_name(mi));
	printf("size: %" G_GUINT64_FORMAT " bytes (%s)\n", length, size);
	printf("piece length: %u bytes (%s)\n", piece_length, piece);
	printf("piece count: %u\n", net_metainfo_get_piece_count(mi));
	if (announce)
		printf("announce: %s\n", announce);
	printf("info-hash: %s\n", hex);
}

/* "16384", "512K", "512KiB", "1M", "1MiB" (case does not matter). */
static gboolean parse_piece_length(const char *text, guint32 *out)
{
	guint64 value;
	guint shift;
	char *end;

	if (!g_ascii_isdigit(text[0]))
		return FALSE;
	errno = 0;
	value = g_ascii_strtoull(text, &end, 10);
	if (errno != 0)
		return FALSE;
	if (*end == '\0' || g_ascii_strcasecmp(end, "B") == 0)
		shift = 0;
	else if (g_ascii_strcasecmp(end, "K") == 0 ||
		 g_ascii_strcasecmp(end, "KiB") == 0)
		shift = 10;
	else if (g_ascii_strcasecmp(end, "M") == 0 ||
		 g_ascii_strcasecmp(end, "MiB") == 0)
		shift = 20;
	else
		return FALSE;
	if (value > (G_MAXUINT32 >> shift))
		return FALSE;
	value <<= shift;
	if (!net_metainfo_piece_length_is_valid(value))
		return FALSE;
	*out = (guint32)value;
	return TRUE;
}

/* Parses @argv with @entries; on a wrong command line prints why and
 * returns FALSE with *status set. */
static gboolean parse_options(int *argc, char ***argv, const char *prgname,
			      const char *parameters, const char *summary,
			      const GOptionEntry *entries, int *status)
{
	g_autoptr(GOptionContext) context = g_option_context_new(parameters);
	g_autoptr(GError) error = NULL;

	g_set_prgname(prgname);
	g_option_context_set_summary(context, summary);
	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, argc, argv, &error)) {
		*status = cli_usage_error("%s", error->message);
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	char *output;
	char *piece_length;
	char *announce;
	char *name;
} CreateOptions;

static void create_options_clear(CreateOptions *o)
{
	g_free(o->output);
	g_free(o->piece_length);
	g_free(o->announce);
	g_free(o->name);
}

/* The checks that need no file: a wrong command line exits 2 before
 * any hashing starts. */
static int check_create_options(const CreateOptions *o, int argc,
				guint32 *piece_length)
{
	if (argc != 2)
		return cli_usage_error(
			"torrent create: expected one FILE, got %d", argc - 1);
	if (!o->output)
		return cli_usage_error(
			"torrent create: missing -o OUT.torrent");
	if (o->piece_length &&
	    !parse_piece_length(o->piece_length, piece_length))
		return cli_usage_error(
			"torrent create: piece length '%s' is not a power of two from 16K to 64M",
			o->piece_length);
	if (o->announce &&
	    (strlen(o->announce) > NET_METAINFO_MAX_ANNOUNCE ||
	     !g_uri_is_valid(o->announce, G_URI_FLAGS_NONE, NULL)))
		return cli_usage_error(
			"torrent create: announce '%s' is not a valid URL",
			o->announce);
	if (o->name && !net_metainfo_name_is_safe(o->name, strlen(o->name)))
		return cli_usage_error(
			"torrent create: name '%s' is not a single safe file name",
			o->name);
	return CLI_EXIT_OK;
}

static int torrent_create(int argc, char **argv)
{
	CreateOptions o = {0};
	const GOptionEntry entries[] = {
		{"output", 'o', 0, G_OPTION_ARG_FILENAME, &o.output,
		 "Write the torrent to OUT", "OUT"},
		{"piece-length", 'l', 0, G_OPTION_ARG_STRING, &o.piece_length,
		 "Piece length, a power of two such as 16K, 512K or 4M (default: 512K, doubled until at most 4096 pieces)",
		 "BYTES"},
		{"announce", 'a', 0, G_OPTION_ARG_STRING, &o.announce,
		 "Tracker announce URL", "URL"},
		{"name", 'n', 0, G_OPTION_ARG_STRING, &o.name,
		 "Name in the torrent (default: the file's base name)", "NAME"},
		{NULL},
	};
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) error = NULL;
	guint32 piece_length = 0;
	int status = CLI_EXIT_OK;

	if (parse_options(
		    &argc, &argv, "groupfs torrent create",
		    "FILE -o OUT.torrent",
		    "Hash FILE and write a single-file BitTorrent v1 torrent.",
		    entries, &status))
		status = check_create_options(&o, argc, &piece_length);
	if (status == CLI_EXIT_OK) {
		mi = net_metainfo_new_from_file(argv[1], o.name, piece_length,
						&error);
		if (!mi || !net_metainfo_save(mi, o.output, o.announce, &error))
			status = cli_fail("%s", error->message);
	}
	if (status == CLI_EXIT_OK) {
		print_metainfo(mi, o.announce);
		printf("wrote %s\n", o.output);
	}
	create_options_clear(&o);
	return status;
}

static int torrent_show(int argc, char **argv)
{
	const GOptionEntry entries[] = {{NULL}};
	g_autoptr(NetMetainfo) mi = NULL;
	g_autoptr(GError) error = NULL;
	int status;

	if (!parse_options(&argc, &argv, "groupfs torrent show", "FILE.torrent",
			   "Validate a torrent and print what it describes.",
			   entries, &status))
		return status;
	if (argc != 2)
		return cli_usage_error(
			"torrent show: expected one FILE.torrent, got %d",
			argc - 1);
	mi = net_metainfo_load(argv[1], &error);
	if (!mi)
		return cli_fail("%s", error->message);
	print_metainfo(mi, net_metainfo_get_announce(mi));
	return CLI_EXIT_OK;
}

int cli_cmd_torrent(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("torrent: expected 'create' or 'show'");
	if (strcmp(argv[1], "create") == 0)
		return torrent_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return torrent_show(argc - 1, argv + 1);
	return cli_usage_error(
		"torrent: unknown subcommand '%s'; expected 'create' or 'show'",
		argv[1]);
}
