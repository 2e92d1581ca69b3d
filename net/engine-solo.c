/* engine-solo: the engine without peers, built only while net/ lacks
 * the swarm modules (tls, accept, torrent, announce); see net/meson.build.
 * Files are registered, stored and listed, but nobody is served and
 * nothing is fetched. It goes away when those modules land.
 */
#include <openssl/x509.h>

#include "engine-private.h"
#include "identity.h"

struct _EngineSwarm {
	char *user;
};

static char *certificate_user(const char *cert_file, GError **error)
{
	g_autofree char *pem = NULL;
	g_autoptr(X509) cert = NULL;
	char cn[256];

	if (!g_file_get_contents(cert_file, &pem, NULL, error))
		return NULL;
	cert = net_identity_parse_certificate(pem, "certificate", error);
	if (cert == NULL)
		return NULL;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
				      NID_commonName, cn, sizeof(cn)) <= 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s names no user", cert_file);
		return NULL;
	}
	return g_strdup(cn);
}

EngineSwarm *engine_swarm_new(NetEngine *engine, const NetEngineConfig *config,
			      GError **error)
{
	g_autofree char *user = certificate_user(config->cert_file, error);
	EngineSwarm *swarm;

	if (user == NULL)
		return NULL;
	swarm = g_new0(EngineSwarm, 1);
	swarm->user = g_steal_pointer(&user);
	return swarm;
}

void engine_swarm_free(EngineSwarm *swarm)
{
	g_free(swarm->user);
	g_free(swarm);
}

guint16 engine_swarm_get_port(const EngineSwarm *swarm)
{
	return 0;
}

const char *engine_swarm_get_user(const EngineSwarm *swarm)
{
	return swarm->user;
}

void engine_swarm_add(EngineSwarm *swarm, EngineFile *file)
{
}

void engine_swarm_remove(EngineSwarm *swarm, EngineFile *file)
{
	g_assert_not_reached();
}

void engine_swarm_set_pinned(EngineSwarm *swarm, EngineFile *file,
			     gboolean pinned)
{
}

void engine_swarm_fill_status(EngineSwarm *swarm, EngineFile *file,
			      NetEngineFileStatus *status)
{
}

NetTorrent *engine_swarm_get_torrent(EngineFile *file)
{
	return NULL;
}

guint engine_swarm_wait_all(EngineFile *file, EngineReadyFunc func,
			    gpointer data)
{
	return 0;
}

void engine_swarm_cancel_wait(EngineFile *file, guint id)
{
}

void engine_swarm_stop(EngineSwarm *swarm, GSourceFunc done, gpointer data)
{
	g_idle_add(done, data);
}
