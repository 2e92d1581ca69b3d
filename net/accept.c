#include "accept.h"

#include <string.h>

#include "conn.h"
#include "listener.h"
#include "peer.h"

/* Connections that finished TLS but not the BitTorrent handshake: at
 * most this many, for at most this long (the listener bounds the TLS
 * handshakes before them the same way). */
#define ACCEPT_MAX_PENDING 64
#define ACCEPT_HANDSHAKE_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define ACCEPT_TICK_SECONDS 1

typedef struct {
	NetAcceptor *acceptor;
	NetConn *conn;
	NetPeer *peer;
	/* Set once a torrent took the connection: from then on the torrent
	 * owns conn and peer, and we only forget them. */
	gboolean adopted;
	NetBitfield *have; /* lent to the peer during its lookup */
} Pending;

struct _NetAcceptor {
	NetListener *listener;
	NetPeerConfig peer_config;
	NetAcceptorLookup lookup;
	gpointer data;
	GHashTable *pending; /* NetPeer -> Pending */
	GSource *tick;
};

/* Forgets @p; closes its connection unless a torrent adopted it. */
static void pending_free(Pending *p)
{
	g_hash_table_remove(p->acceptor->pending, p->peer);
	if (!p->adopted) {
		net_conn_close(p->conn);
		net_conn_unref(p->conn);
		net_peer_free(p->peer);
	}
	g_clear_pointer(&p->have, net_bitfield_free);
	g_free(p);
}

static void pending_on_data(NetConn *conn, const guint8 *data, gsize len,
			    gpointer user_data)
{
	Pending *p = user_data;
	gboolean alive = net_peer_feed(p->peer, data, len);

	if (p->adopted || !alive)
		pending_free(p);
}

static void pending_on_closed(NetConn *conn, const GError *reason,
			      gpointer user_data)
{
	pending_free(user_data);
}

static const NetConnCallbacks pending_callbacks = {
	.data = pending_on_data,
	.closed = pending_on_closed,
};

/* Before the lookup there is nothing to report but death, which feed
 * and tick return; after it the torrent gets the events. */
static void pending_on_event(NetPeer *peer, const NetPeerEvent *event,
			     gpointer user_data)
{
}

/* Their handshake names @info_hash: hand the connection to its torrent,
 * which refuses non-members before our handshake goes out. */
static gboolean acceptor_lookup(NetPeer *peer, const guint8 info_hash[20],
				NetPeerTorrent *out, gpointer user_data)
{
	NetAcceptor *acceptor = user_data;
	Pending *p = g_hash_table_lookup(acceptor->pending, peer);
	NetTorrent *torrent = acceptor->lookup(info_hash, acceptor->data);
	const NetMetainfo *mi;

	if (!p || !torrent)
		return FALSE;
	mi = net_torrent_get_metainfo(torrent);
	p->have = net_store_dup_verified(net_torrent_get_store(torrent));
	out->piece_count = net_metainfo_get_piece_count(mi);
	out->piece_length = net_metainfo_get_piece_length(mi);
	out->length = net_metainfo_get_length(mi);
	out->have = p->have;
	p->adopted = TRUE;
	return net_torrent_adopt(torrent, p->conn, peer);
}

static void on_accepted(NetListener *listener, NetConn *conn, gpointer data)
{
	NetAcceptor *acceptor = data;
	Pending *p;

	if (g_hash_table_size(acceptor->pending) >= ACCEPT_MAX_PENDING) {
		net_conn_close(conn);
		net_conn_unref(conn);
		return;
	}
	p = g_new0(Pending, 1);
	p->acceptor = acceptor;
	p->conn = conn;
	p->peer = net_peer_new_incoming(&acceptor->peer_config, NULL,
					pending_on_event, p,
					g_get_monotonic_time());
	g_hash_table_insert(acceptor->pending, p->peer, p);
	net_conn_set_callbacks(conn, &pending_callbacks, p);
}

static const NetListenerCallbacks listener_callbacks = {
	.accepted = on_accepted,
};

/* Ends the handshakes that took too long. */
static gboolean on_tick(gpointer data)
{
	NetAcceptor *acceptor = data;
	g_autoptr(GList) all = g_hash_table_get_values(acceptor->pending);
	gint64 now = g_get_monotonic_time();

	for (GList *l = all; l; l = l->next) {
		Pending *p = l->data;
		if (!net_peer_tick(p->peer, now))
			pending_free(p);
	}
	return G_SOURCE_CONTINUE;
}

/* "ADDR:PORT" with an IPv4 address, or "[ADDR]:PORT" with IPv6. */
static gboolean parse_address(const char *text, char **host, guint16 *port,
			      GError **error)
{
	const char *colon = strrchr(text, ':');
	guint64 value;
	gboolean bracketed = text[0] == '[';

	if (colon && bracketed && colon > text && colon[-1] == ']' &&
	    memchr(text, ':', (gsize)(colon - text)))
		*host = g_strndup(text + 1, (gsize)(colon - text - 2));
	else if (colon && !bracketed &&
		 !memchr(text, ':', (gsize)(colon - text)))
		*host = g_strndup(text, (gsize)(colon - text));
	else
		*host = NULL;
	if (*host && g_hostname_is_ip_address(*host) &&
	    g_ascii_string_to_unsigned(colon + 1, 10, 0, G_MAXUINT16, &value,
				       NULL)) {
		*port = (guint16)value;
		return TRUE;
	}
	g_clear_pointer(host, g_free);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "Cannot listen on \"%s\": give an IP address and a port, "
		    "such as 0.0.0.0:6881 or [::]:6881.",
		    text);
	return FALSE;
}

NetAcceptor *net_acceptor_new(NetTlsContext *tls, const char *address,
			      const guint8 *peer_id, NetAcceptorLookup lookup,
			      gpointer data, GError **error)
{
	g_autofree char *host = NULL;
	guint16 port;
	NetAcceptor *acceptor;

	if (!parse_address(address, &host, &port, error))
		return NULL;
	acceptor = g_new0(NetAcceptor, 1);
	acceptor->listener = net_listener_new(
		tls, host, port, &listener_callbacks, acceptor, error);
	if (!acceptor->listener) {
		g_free(acceptor);
		return NULL;
	}
	acceptor->lookup = lookup;
	acceptor->data = data;
	memcpy(acceptor->peer_config.peer_id, peer_id, 20);
	acceptor->peer_config.listen_port =
		net_listener_get_port(acceptor->listener);
	acceptor->peer_config.handshake_timeout_us =
		ACCEPT_HANDSHAKE_TIMEOUT_US;
	acceptor->peer_config.lookup = acceptor_lookup;
	acceptor->peer_config.lookup_data = acceptor;
	acceptor->pending = g_hash_table_new(NULL, NULL);
	acceptor->tick = g_timeout_source_new_seconds(ACCEPT_TICK_SECONDS);
	g_source_set_callback(acceptor->tick, on_tick, acceptor, NULL);
	g_source_set_static_name(acceptor->tick, "groupfs acceptor tick");
	g_source_attach(acceptor->tick, g_main_context_get_thread_default());
	return acceptor;
}

void net_acceptor_free(NetAcceptor *acceptor)
{
	g_autoptr(GList) all = NULL;

	if (!acceptor)
		return;
	net_listener_free(acceptor->listener);
	all = g_hash_table_get_values(acceptor->pending);
	for (GList *l = all; l; l = l->next)
		pending_free(l->data);
	g_hash_table_destroy(acceptor->pending);
	g_source_destroy(acceptor->tick);
	g_source_unref(acceptor->tick);
	g_free(acceptor);
}

guint16 net_acceptor_get_port(const NetAcceptor *acceptor)
{
	return net_listener_get_port(acceptor->listener);
}
