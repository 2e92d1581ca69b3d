/*
 * listener: accepts peer connections on one TCP address and runs their
 * TLS handshakes, on the thread-default GMainContext of its creator.
 *
 * Owns: the listening socket and the connections that are still
 * shaking hands; only a peer whose certificate checked out reaches the
 * owner. It bounds the handshakes in progress, so that peers which
 * connect and stay silent cannot use up our file descriptors. Must not:
 * decide whether a verified member may talk to us (that needs the
 * group memberships, which the peer protocol knows).
 */
#pragma once

#include <gio/gio.h>

#include "conn.h"
#include "tls.h"

G_BEGIN_DECLS

typedef struct _NetListener NetListener;

/* Handshakes in progress beyond which accepting pauses. */
#define NET_LISTENER_MAX_HANDSHAKES 64

typedef struct {
	/* A peer finished the handshake. @conn is the caller's (one
	 * reference) and has no callbacks yet: set them with
	 * net_conn_set_callbacks(), or close and unref it. */
	void (*accepted)(NetListener *listener, NetConn *conn,
			 gpointer user_data);
	/* An incoming connection failed before it was accepted (refused
	 * certificate, not TLS, a deadline, no file descriptors left).
	 * For the log; the listener goes on serving. Optional. */
	void (*refused)(NetListener *listener, const GError *reason,
			gpointer user_data);
} NetListenerCallbacks;

/* Listens on @address (an IPv4 or IPv6 literal) and @port (0: any free
 * port, see net_listener_get_port). Holds a reference on @tls, whose
 * reloads apply to the connections accepted afterwards. The callbacks
 * may free the listener. */
NetListener *net_listener_new(NetTlsContext *tls, const char *address,
			      guint16 port,
			      const NetListenerCallbacks *callbacks,
			      gpointer user_data, GError **error);

/* Stops listening and closes the connections still shaking hands. */
void net_listener_free(NetListener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetListener, net_listener_free)

guint16 net_listener_get_port(const NetListener *listener);

/* Deadline for the handshakes of connections accepted from now on;
 * NET_CONN_HANDSHAKE_TIMEOUT_MS by default. */
void net_listener_set_handshake_timeout(NetListener *listener, guint ms);

G_END_DECLS
