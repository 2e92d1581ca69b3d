/*
 * tracker-config: the tracker's settings, from defaults, then the config file
 * (GKeyFile, group [tracker]), then the command line, each overriding
 * the one before.
 *
 * Owns: the settings and their bounds. Must not: open files other than
 * the config file, or touch the data folder; main.c acts on the result.
 * Unknown keys are errors, so that a misspelt setting never silently
 * keeps its default.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TRACKER_CONFIG_DEFAULT_LISTEN "0.0.0.0:7070"
#define TRACKER_CONFIG_DEFAULT_DATA "/var/lib/groupfs-tracker"

typedef struct {
	char *listen_host; /* an IP literal */
	guint16 listen_port; /* 0: ephemeral */
	char *data_dir;
	char **hostnames; /* NULL: localhost and the listen address */
	char *tls_cert; /* both NULL: the CA makes one */
	char *tls_key;
	guint announce_interval; /* seconds */
	guint token_lifetime; /* seconds */
	guint certificate_lifetime; /* seconds */
	guint password_iterations;
	guint password_jobs; /* hashes queued or running at once */
	guint max_connections; /* 0: from the open-file limit */
	guint idle_timeout; /* seconds without a request before closing */
} TrackerConfig;

TrackerConfig *tracker_config_new(void);
void tracker_config_free(TrackerConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerConfig, tracker_config_free)

/* Splits "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into the listen fields. */
gboolean tracker_config_set_listen(TrackerConfig *config, const char *value,
				   GError **error);

/* Applies the settings in the [tracker] group of @path. */
gboolean tracker_config_load_file(TrackerConfig *config, const char *path,
				  GError **error);

/* Checks what no single setting can: both or neither of the TLS files. */
gboolean tracker_config_check(const TrackerConfig *config, GError **error);

/* The names that the server certificate must cover. */
char **tracker_config_dup_hostnames(const TrackerConfig *config);

G_END_DECLS
