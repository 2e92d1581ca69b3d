/*
 * accept: incoming peer connections, from the listening socket to the
 * torrent they asked for.
 *
 * Owns: the listener and connections whose BitTorrent handshake has not
 * arrived yet (bounded in number and time). Must not: keep a connection
 * after its handshake: it hands it to the torrent the handshake names,
 * or closes it when no torrent matches.
 *
 * Threads: the engine's loop thread only.
 */
#pragma once

#include <gio/gio.h>

#include "torrent.h"

G_BEGIN_DECLS

typedef struct _NetAcceptor NetAcceptor;

/* The torrent for @info_hash (20 bytes), or NULL when we serve none. */
typedef NetTorrent *(*NetAcceptorLookup)(const guint8 *info_hash,
					 gpointer data);

/* Listens on @address ("ADDR:PORT"; port 0 picks one) with TLS from
 * @tls (borrowed). @peer_id (20 bytes, copied) is ours. */
NetAcceptor *net_acceptor_new(NetTlsContext *tls, const char *address,
			      const guint8 *peer_id, NetAcceptorLookup lookup,
			      gpointer data, GError **error);
void net_acceptor_free(NetAcceptor *acceptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetAcceptor, net_acceptor_free)

guint16 net_acceptor_get_port(const NetAcceptor *acceptor);

G_END_DECLS
