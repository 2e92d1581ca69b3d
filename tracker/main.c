/*
 * groupfs-tracker: the one server of a groupfs installation. This file
 * reads the settings, opens the data folder (CA, certificates,
 * database), starts the HTTPS server and the housekeeping timers, and
 * shuts everything down cleanly on SIGTERM or SIGINT.
 */
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "config.h"
#include "app.h"
#include "server.h"
#include "tracker-config.h"

/* How long a stop waits for requests in flight. */
#define STOP_TIMEOUT_SECONDS 10

typedef struct {
	char *listen;
	char *data;
	char *config;
	char **hostnames;
	char *tls_cert;
	char *tls_key;
	gboolean version;
} Options;

static void options_clear(Options *o)
{
	g_free(o->listen);
	g_free(o->data);
	g_free(o->config);
	g_strfreev(o->hostnames);
	g_free(o->tls_cert);
	g_free(o->tls_key);
}

static gboolean parse_options(int *argc, char ***argv, Options *o,
			      GError **error)
{
	const GOptionEntry entries[] = {
		{"listen", 'l', 0, G_OPTION_ARG_STRING, &o->listen,
		 "Address and port to serve HTTPS on (default " TRACKER_CONFIG_DEFAULT_LISTEN
		 ")",
		 "ADDR:PORT"},
		{"data", 'd', 0, G_OPTION_ARG_FILENAME, &o->data,
		 "Folder of the database and certificates (default " TRACKER_CONFIG_DEFAULT_DATA
		 ")",
		 "DIR"},
		{"config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config,
		 "Settings file; flags override it", "FILE"},
		{"hostname", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->hostnames,
		 "Name for the server certificate (repeatable)", "NAME"},
		{"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_cert,
		 "Your own server certificate chain (PEM)", "FILE"},
		{"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_key,
		 "The key of --tls-cert (PEM)", "FILE"},
		{"version", 0, 0, G_OPTION_ARG_NONE, &o->version,
		 "Print the version and exit", NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) ctx =
		g_option_context_new("- the groupfs tracker");

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx, "See groupfs-tracker(8) for the "
					      "settings file and the API.");
	return g_option_context_parse(ctx, argc, argv, error);
}

static void override(char **field, char *value)
{
	if (value) {
		g_free(*field);
		*field = g_strdup(value);
	}
}

static TrackerConfig *load_config(const Options *o, GError **error)
{
	g_autoptr(TrackerConfig) config = tracker_config_new();

	if (o->config && !tracker_config_load_file(config, o->config, error))
		return NULL;
	if (o->listen && !tracker_config_set_listen(config, o->listen, error))
		return NULL;
	override(&config->data_dir, o->data);
	override(&config->tls_cert, o->tls_cert);
	override(&config->tls_key, o->tls_key);
	if (o->hostnames) {
		g_strfreev(config->hostnames);
		config->hostnames = g_strdupv(o->hostnames);
	}
	if (!tracker_config_check(config, error))
		return NULL;
	return g_steal_pointer(&config);
}

typedef struct {
	TrackerConfig *config;
	TrackerApp app;
	TrackerServer *server;
	GMainLoop *loop;
	guint sources[4]; /* timers and signal watches */
	gboolean stopping;
} Tracker;

static gboolean open_app(Tracker *t, GError **error)
{
	const char *dir = t->config->data_dir;
	g_autofree char *db_path = g_build_filename(dir, "tracker.db", NULL);

	/* The folder holds the CA key and the password hashes. */
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int saved = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Cannot create the data folder %s: %s", dir,
			    g_strerror(saved));
		return FALSE;
	}
	t->app.config = t->config;
	t->app.ca = tracker_ca_open(dir, error);
	if (!t->app.ca)
		return FALSE;
	if (tracker_ca_was_created(t->app.ca))
		g_message("created a new certificate authority in %s", dir);
	t->app.db = tracker_db_open(db_path, error);
	if (!t->app.db)
		return FALSE;
	t->app.swarm = tracker_swarm_new(3 * t->config->announce_interval);
	t->app.login_failures_by_user = tracker_ratelimit_new(
		TRACKER_LOGIN_FAILURES_PER_USER, TRACKER_LOGIN_WINDOW_SECONDS);
	t->app.login_failures_by_address =
		tracker_ratelimit_new(TRACKER_LOGIN_FAILURES_PER_ADDRESS,
				      TRACKER_LOGIN_WINDOW_SECONDS);
	/* More hashing threads than CPUs would only take CPU from the
	 * main loop, which serves everything else. */
	t->app.password_workers = tracker_workers_new(
		MIN(g_get_num_processors(), t->config->password_jobs),
		t->config->password_jobs);
	return TRUE;
}

static GTlsCertificate *load_certificate(Tracker *t, GError **error)
{
	const TrackerConfig *c = t->config;
	g_autofree char *cert = NULL;
	g_autofree char *key = NULL;
	g_auto(GStrv) names = NULL;

	if (c->tls_cert)
		return g_tls_certificate_new_from_files(c->tls_cert, c->tls_key,
							error);
	names = tracker_config_dup_hostnames(c);
	if (!tracker_ca_ensure_server_certificate(
		    t->app.ca, c->data_dir, (const char *const *)names, error))
		return NULL;
	cert = g_build_filename(c->data_dir, "server.crt", NULL);
	key = g_build_filename(c->data_dir, "server.key", NULL);
	return g_tls_certificate_new_from_files(cert, key, error);
}

static gint64 now_seconds(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

static gboolean expire_peers(gpointer data)
{
	Tracker *t = data;

	tracker_swarm_expire(t->app.swarm, now_seconds());
	return G_SOURCE_CONTINUE;
}

static gboolean housekeeping(gpointer data)
{
	Tracker *t = data;
	g_autoptr(GError) error = NULL;
	gint64 now = now_seconds();

	tracker_ratelimit_prune(t->app.login_failures_by_user, now);
	tracker_ratelimit_prune(t->app.login_failures_by_address, now);
	if (tracker_db_token_expire(t->app.db, now, &error) < 0)
		g_warning("cannot delete expired tokens: %s", error->message);
	return G_SOURCE_CONTINUE;
}

static gboolean on_stopped(gpointer data)
{
	Tracker *t = data;

	g_main_loop_quit(t->loop);
	return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data)
{
	Tracker *t = data;

	if (t->stopping) {
		g_message("second signal: stopping now");
		g_main_loop_quit(t->loop);
		return G_SOURCE_CONTINUE;
	}
	t->stopping = TRUE;
	g_message("stopping: finishing the requests in flight");
	tracker_server_stop(t->server, STOP_TIMEOUT_SECONDS, on_stopped, t);
	return G_SOURCE_CONTINUE;
}

static gboolean start(Tracker *t, GError **error)
{
	g_autoptr(GTlsCertificate) cert = NULL;
	const char *host = t->config->listen_host;
	gboolean v6 = strchr(host, ':') != NULL;

	if (!open_app(t, error) || !(cert = load_certificate(t, error)))
		return FALSE;
	t->server = tracker_server_new(&t->app, cert, error);
	if (!t->server)
		return FALSE;
	g_message("listening on https://%s%s%s:%u (CA fingerprint SHA-256 %s)",
		  v6 ? "[" : "", host, v6 ? "]" : "",
		  tracker_server_get_port(t->server),
		  tracker_ca_get_fingerprint(t->app.ca));
	t->sources[0] = g_timeout_add_seconds(t->config->announce_interval,
					      expire_peers, t);
	t->sources[1] = g_timeout_add_seconds(60, housekeeping, t);
	t->sources[2] = g_unix_signal_add(SIGTERM, on_signal, t);
	t->sources[3] = g_unix_signal_add(SIGINT, on_signal, t);
	return TRUE;
}

static void tracker_clear(Tracker *t)
{
	for (gsize i = 0; i < G_N_ELEMENTS(t->sources); i++)
		g_clear_handle_id(&t->sources[i], g_source_remove);
	/* The server first: it closes the connections that still use
	 * the database. */
	g_clear_pointer(&t->server, tracker_server_free);
	g_clear_pointer(&t->app.password_workers, tracker_workers_free);
	g_clear_pointer(&t->app.db, tracker_db_free);
	g_clear_pointer(&t->app.swarm, tracker_swarm_free);
	g_clear_pointer(&t->app.ca, tracker_ca_free);
	g_clear_pointer(&t->app.login_failures_by_user, tracker_ratelimit_free);
	g_clear_pointer(&t->app.login_failures_by_address,
			tracker_ratelimit_free);
	g_clear_pointer(&t->loop, g_main_loop_unref);
	g_clear_pointer(&t->config, tracker_config_free);
}

int main(int argc, char **argv)
{
	Options options = {0};
	Tracker t = {0};
	g_autoptr(GError) error = NULL;
	int status = EXIT_SUCCESS;

	if (!parse_options(&argc, &argv, &options, &error)) {
		fprintf(stderr, "groupfs-tracker: %s\n", error->message);
		options_clear(&options);
		return 2;
	}
	if (options.version) {
		printf("groupfs-tracker %s\n", GROUPFS_VERSION);
		options_clear(&options);
		return EXIT_SUCCESS;
	}
	t.config = load_config(&options, &error);
	options_clear(&options);
	t.loop = g_main_loop_new(NULL, FALSE);
	if (!t.config || !start(&t, &error)) {
		fprintf(stderr, "groupfs-tracker: %s\n", error->message);
		status = EXIT_FAILURE;
	} else {
		g_main_loop_run(t.loop);
		g_message("stopped");
	}
	tracker_clear(&t);
	return status;
}
