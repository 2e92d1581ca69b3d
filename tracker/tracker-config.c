#include "tracker-config.h"

#include <string.h>

#include "password.h"

#define GROUP "tracker"

typedef struct {
	const char *key;
	gsize offset;
	guint min;
	guint max;
} UintSetting;

static const UintSetting uint_settings[] = {
	{"announce-interval", G_STRUCT_OFFSET(TrackerConfig, announce_interval),
	 10, 3600},
	{"token-lifetime", G_STRUCT_OFFSET(TrackerConfig, token_lifetime), 60,
	 365 * 86400},
	{"certificate-lifetime",
	 G_STRUCT_OFFSET(TrackerConfig, certificate_lifetime), 3600,
	 90 * 86400},
	{"password-iterations",
	 G_STRUCT_OFFSET(TrackerConfig, password_iterations),
	 TRACKER_PASSWORD_MIN_ITERATIONS, 100000000},
	{"password-jobs", G_STRUCT_OFFSET(TrackerConfig, password_jobs), 1,
	 100000},
	{"max-connections", G_STRUCT_OFFSET(TrackerConfig, max_connections), 0,
	 10000000},
	{"idle-timeout", G_STRUCT_OFFSET(TrackerConfig, idle_timeout), 1,
	 86400},
};

static const char *const string_keys[] = {
	"listen", "data", "hostnames", "tls-cert", "tls-key",
};

TrackerConfig *tracker_config_new(void)
{
	TrackerConfig *config = g_new0(TrackerConfig, 1);

	tracker_config_set_listen(config, TRACKER_CONFIG_DEFAULT_LISTEN, NULL);
	config->data_dir = g_strdup(TRACKER_CONFIG_DEFAULT_DATA);
	config->announce_interval = 60;
	config->token_lifetime = 30 * 86400;
	config->certificate_lifetime = 7 * 86400;
	config->password_iterations = TRACKER_PASSWORD_DEFAULT_ITERATIONS;
	/* Room for a crowd of a hundred registering at once (issue 3's
	 * test), yet a bound on the work and memory a flood can queue;
	 * hashes run one per CPU however long the queue. */
	config->password_jobs = 2 * g_get_num_processors() + 128;
	/* What web servers commonly allow a kept-alive connection; a
	 * BitTorrent client announces far less often anyway. */
	config->idle_timeout = 60;
	return config;
}

void tracker_config_free(TrackerConfig *config)
{
	if (!config)
		return;
	g_free(config->listen_host);
	g_free(config->data_dir);
	g_strfreev(config->hostnames);
	g_free(config->tls_cert);
	g_free(config->tls_key);
	g_free(config);
}

/* "ADDR:PORT" or "[ADDR]:PORT" into a host literal and a port. */
static gboolean split_listen(const char *value, char **host, guint16 *port)
{
	const char *colon = strrchr(value, ':');
	g_autofree char *h = NULL;
	guint64 p;

	if (!colon ||
	    !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &p, NULL))
		return FALSE;
	h = g_strndup(value, colon - value);
	if (h[0] == '[' && g_str_has_suffix(h, "]")) {
		char *inner = g_strndup(h + 1, strlen(h) - 2);

		g_free(h);
		h = inner;
	}
	if (!g_hostname_is_ip_address(h))
		return FALSE;
	*host = g_steal_pointer(&h);
	*port = (guint16)p;
	return TRUE;
}

gboolean tracker_config_set_listen(TrackerConfig *config, const char *value,
				   GError **error)
{
	char *host;
	guint16 port;

	if (!split_listen(value, &host, &port)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "The listen address \"%s\" is not ADDR:PORT with "
			    "an IP address (e.g. 0.0.0.0:7070).",
			    value);
		return FALSE;
	}
	g_free(config->listen_host);
	config->listen_host = host;
	config->listen_port = port;
	return TRUE;
}

static gboolean check_known_keys(GKeyFile *kf, const char *path, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, GROUP, NULL, NULL);

	for (guint i = 0; keys && keys[i]; i++) {
		gboolean known = FALSE;

		for (gsize j = 0; j < G_N_ELEMENTS(string_keys); j++)
			known = known || g_str_equal(keys[i], string_keys[j]);
		for (gsize j = 0; j < G_N_ELEMENTS(uint_settings); j++)
			known = known ||
				g_str_equal(keys[i], uint_settings[j].key);
		if (!known) {
			g_set_error(error, G_KEY_FILE_ERROR,
				    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
				    "%s: unknown setting \"%s\" in [" GROUP
				    "]; see groupfs-tracker(8).",
				    path, keys[i]);
			return FALSE;
		}
	}
	return TRUE;
}

static void replace_string(GKeyFile *kf, const char *key, char **field)
{
	char *value = g_key_file_get_string(kf, GROUP, key, NULL);

	if (value) {
		g_free(*field);
		*field = value;
	}
}

static gboolean load_uint(GKeyFile *kf, const char *path, const UintSetting *s,
			  TrackerConfig *config, GError **error)
{
	g_autoptr(GError) local = NULL;
	guint64 value;

	if (!g_key_file_has_key(kf, GROUP, s->key, NULL))
		return TRUE;
	value = g_key_file_get_uint64(kf, GROUP, s->key, &local);
	if (local || value < s->min || value > s->max) {
		g_set_error(error, G_KEY_FILE_ERROR,
			    G_KEY_FILE_ERROR_INVALID_VALUE,
			    "%s: \"%s\" must be a whole number from %u to %u.",
			    path, s->key, s->min, s->max);
		return FALSE;
	}
	G_STRUCT_MEMBER(guint, config, s->offset) = (guint)value;
	return TRUE;
}

gboolean tracker_config_load_file(TrackerConfig *config, const char *path,
				  GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *listen = NULL;
	g_auto(GStrv) hostnames = NULL;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error))
		return FALSE;
	if (!check_known_keys(kf, path, error))
		return FALSE;
	listen = g_key_file_get_string(kf, GROUP, "listen", NULL);
	if (listen && !tracker_config_set_listen(config, listen, error))
		return FALSE;
	replace_string(kf, "data", &config->data_dir);
	replace_string(kf, "tls-cert", &config->tls_cert);
	replace_string(kf, "tls-key", &config->tls_key);
	hostnames =
		g_key_file_get_string_list(kf, GROUP, "hostnames", NULL, NULL);
	if (hostnames) {
		g_strfreev(config->hostnames);
		config->hostnames = g_steal_pointer(&hostnames);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(uint_settings); i++)
		if (!load_uint(kf, path, &uint_settings[i], config, error))
			return FALSE;
	return TRUE;
}

gboolean tracker_config_check(const TrackerConfig *config, GError **error)
{
	if ((config->tls_cert == NULL) != (config->tls_key == NULL)) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "A TLS certificate needs its key: give both "
			    "tls-cert and tls-key, or neither.");
		return FALSE;
	}
	return TRUE;
}

char **tracker_config_dup_hostnames(const TrackerConfig *config)
{
	g_autoptr(GStrvBuilder) names = g_strv_builder_new();

	if (config->hostnames && config->hostnames[0])
		return g_strdupv(config->hostnames);
	g_strv_builder_add(names, "localhost");
	if (!g_str_equal(config->listen_host, "0.0.0.0") &&
	    !g_str_equal(config->listen_host, "::"))
		g_strv_builder_add(names, config->listen_host);
	else
		g_strv_builder_add(names, "127.0.0.1");
	return g_strv_builder_end(names);
}
