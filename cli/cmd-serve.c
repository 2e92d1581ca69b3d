/*
 * cmd-serve: `groupfs serve`, the engine as a daemon without a mount.
 *
 * Detaching comes first, before the session is read or any thread
 * exists (fork and threads do not mix); whatever fails after that is
 * reported to the waiting parent, which prints it and exits 1.
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"

void cli_identity_clear(CliIdentity *id)
{
	g_clear_pointer(&id->session, cli_session_free);
	g_free(id->ca_file);
	g_free(id->cert_file);
	g_free(id->key_file);
}

gboolean cli_identity_load(CliIdentity *id, GError **error)
{
	g_autoptr(NetTrackerApi) api = NULL;

	id->session = cli_session_load(error);
	if (id->session == NULL)
		return FALSE;
	/* Checks the login and the tracker's CA; makes no request. */
	api = cli_session_connect(id->session, error);
	if (api == NULL)
		return FALSE;
	if (id->session->passkey == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "the session has no passkey; run 'groupfs login "
			    "--tracker %s %s' again",
			    id->session->tracker, id->session->user);
		return FALSE;
	}
	id->ca_file = cli_session_path(CLI_SESSION_CA_FILE);
	id->cert_file = cli_session_path(CLI_SESSION_CERT_FILE);
	id->key_file = cli_session_path(CLI_SESSION_KEY_FILE);
	return TRUE;
}

void cli_identity_engine_config(const CliIdentity *id,
				const FsDaemonOptions *options,
				NetEngineConfig *config)
{
	*config = (NetEngineConfig){
		.tracker_url = id->session->tracker,
		.token = id->session->token,
		.passkey = id->session->passkey,
		.ca_file = id->ca_file,
		.cert_file = id->cert_file,
		.key_file = id->key_file,
		.listen = options->listen,
		.cache_size = options->cache_size,
	};
}

int cli_daemon_start_failed(const GError *error)
{
	fs_daemon_report_failure(error->message);
	return cli_fail("%s", error->message);
}

static int serve(const FsDaemonOptions *options)
{
	CliIdentity id = {0};
	g_autoptr(FsDaemon) daemon = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *line = NULL;
	NetEngineConfig config = {0};
	NetEngine *engine;
	int status;

	if (!cli_identity_load(&id, &error)) {
		cli_identity_clear(&id);
		return cli_daemon_start_failed(error);
	}
	cli_identity_engine_config(&id, options, &config);
	daemon = fs_daemon_new(&config, &error);
	cli_identity_clear(&id);
	if (daemon == NULL)
		return cli_daemon_start_failed(error);
	engine = fs_daemon_get_engine(daemon);
	line = g_strdup_printf("serving %s: peers connect on port %u (pid %d)",
			       net_engine_get_user(engine),
			       net_engine_get_port(engine), (int)getpid());
	g_message("%s", line);
	fs_daemon_report_ready(line);
	status = fs_daemon_run(daemon);
	return status;
}

static gboolean parse_options(char **options, FsDaemonOptions *out, int *status)
{
	for (char **o = options; o != NULL && *o != NULL; o++) {
		g_auto(GStrv) parts = g_strsplit(*o, ",", -1);

		for (char **p = parts; *p != NULL; p++) {
			g_autoptr(GError) error = NULL;
			gboolean known = FALSE;

			if (**p == '\0' ||
			    fs_daemon_options_parse(out, *p, &known, &error))
				continue;
			*status = known ? cli_usage_error("%s", error->message)
					: cli_usage_error("unknown option '%s'",
							  *p);
			return FALSE;
		}
	}
	return TRUE;
}

int cli_cmd_serve(int argc, char **argv)
{
	gboolean foreground = FALSE;
	g_auto(GStrv) raw_options = NULL;
	const GOptionEntry entries[] = {
		{"foreground", 'f', 0, G_OPTION_ARG_NONE, &foreground,
		 "stay in the foreground and log to stderr", NULL},
		{"options", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &raw_options,
		 "listen=ADDR:PORT, cache_size=SIZE", "OPTIONS"},
		{NULL},
	};
	FsDaemonOptions options;
	g_autoptr(GError) error = NULL;
	int status = CLI_EXIT_OK;

	if (!cli_parse_args(&argc, &argv, "serve [-f] [-o OPTIONS]", entries, 0,
			    0, &status))
		return status;
	fs_daemon_options_init(&options);
	if (parse_options(raw_options, &options, &status)) {
		if (foreground || fs_daemon_detach(&error))
			status = serve(&options);
		else
			status = cli_fail("%s", error->message);
	}
	fs_daemon_options_clear(&options);
	return status;
}
