/*
 * server: the HTTPS front door of the tracker: the listening socket,
 * libsoup's SoupServer, the limits every request meets before a
 * handler sees it (body and header sizes), routing to the api.h
 * handlers, authentication of the routes that need it, and a clean
 * stop that lets in-flight requests finish.
 *
 * Connections, from accept() and TLS to close, are clients.c's.
 *
 * Owns: the SoupServer, the listening socket and the TrackerClients.
 * Must not: parse
 * bodies or talk to the database beyond authentication (http.c and
 * the handlers do).
 */
#pragma once

#include <gio/gio.h>

#include "app.h"

G_BEGIN_DECLS

typedef struct _TrackerServer TrackerServer;

/* Listens on the app's configured address with @certificate (leaf and
 * chain). */
TrackerServer *tracker_server_new(TrackerApp *app, GTlsCertificate *certificate,
				  GError **error);
void tracker_server_free(TrackerServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerServer, tracker_server_free)

/* The port actually bound (useful with port 0). */
guint16 tracker_server_get_port(TrackerServer *server);

/* Stops accepting connections, and calls @done on the main loop once
 * every request in flight has been answered, or after @timeout_seconds
 * at the latest. */
void tracker_server_stop(TrackerServer *server, guint timeout_seconds,
			 GSourceFunc done, gpointer data);

G_END_DECLS
