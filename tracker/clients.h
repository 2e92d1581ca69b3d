/*
 * clients: the tracker's client connections, from accept() to close:
 * TLS, hand-over to libsoup, and the end of each, so that none outlives
 * its client, none idles for ever, and there are never more than a cap.
 *
 * Why not libsoup's own listener: libsoup 3.2.3 (Debian 12) never drops
 * a kept-alive connection that the client closes between two requests.
 * After each reply it starts reading the next request without telling
 * the server; when that read meets the end of the stream, it gives up
 * on the request and on nothing else: the socket stays in CLOSE-WAIT,
 * and its objects in the server's list, until the server is freed
 * (fixed in libsoup 3.3.0, commit d20c6601). Once stuck, nothing public
 * frees such a connection, short of soup_server_disconnect(); stealing
 * it then crashes. Its listener also leaks a GSocket per connection
 * (fixed in 3.4.0), and stops for good the first time accept() fails,
 * e.g. with EMFILE.
 *
 * How: this module accepts each connection, does the TLS handshake and
 * hands the connection to libsoup (soup_server_accept_iostream) through
 * a hangup-stream, which reports a client's hang-up between requests
 * here instead of to libsoup; the connection is then taken back
 * (soup_server_message_steal_connection, safe while no request has
 * started) and closed. A connection that has not sent complete request
 * headers within idle_timeout seconds (an idle keep-alive, a stalled
 * handshake, a slow trickle of headers) is shut down; at the cap, new
 * connections wait in the listen backlog.
 *
 * Owns: the accepting, a record per connection, and the open-file limit
 * (its soft limit is raised to the hard one). Must not: read or answer
 * requests (server.c does).
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _TrackerClients TrackerClients;

/* Accepts connections on @listener (listening, bound) for @soup, with
 * @certificate. @max_connections 0: the open-file limit less a reserve
 * for the tracker's own files. @idle_timeout in seconds, 0: none. */
TrackerClients *tracker_clients_new(SoupServer *soup, GSocket *listener,
				    GTlsCertificate *certificate,
				    guint max_connections, guint idle_timeout,
				    GError **error);
/* Call after soup_server_disconnect(). */
void tracker_clients_free(TrackerClients *clients);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerClients, tracker_clients_free)

/* Accepts no more connections; those open stay. */
void tracker_clients_stop_accepting(TrackerClients *clients);

/* Call from a "got-headers" handler: the connection is busy, not idle,
 * until the request is answered. */
void tracker_clients_got_headers(TrackerClients *clients,
				 SoupServerMessage *msg);

/* The TCP socket under @msg's connection, or NULL
 * (soup_server_message_get_socket() knows none, with the streams this
 * module hands over). */
GSocket *tracker_clients_get_socket(TrackerClients *clients,
				    SoupServerMessage *msg);

G_END_DECLS
