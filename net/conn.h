/*
 * conn: one TLS connection to a peer over a non-blocking TCP socket,
 * driven by the thread-default GMainContext of the thread that made it.
 *
 * Owns: the socket, its SSL, the source that watches it, the queue of
 * bytes waiting to be sent, and the connect and handshake deadlines.
 * It reports to its owner through callbacks and never blocks. Must
 * not: know anything of BitTorrent (net/peer frames the bytes), choose
 * peers, or be used from any thread but the one that made it.
 *
 * Flow control goes both ways: net_conn_get_queued() and the drained
 * callback let a writer keep its queue bounded, and
 * net_conn_set_reading() lets a reader stop taking bytes, so that the
 * kernel's window pushes back on the peer.
 *
 * OpenSSL writes to sockets with write(2), so a peer that resets the
 * connection would raise SIGPIPE; the first connection therefore
 * ignores SIGPIPE when its disposition is still the default.
 */
#pragma once

#include <gio/gio.h>

#include "tls.h"

G_BEGIN_DECLS

typedef struct _NetConn NetConn;

/* Output queue size under which the drained callback fires. */
#define NET_CONN_LOW_WATER (256 * 1024)
#define NET_CONN_CONNECT_TIMEOUT_MS 10000
#define NET_CONN_HANDSHAKE_TIMEOUT_MS 10000

/* Every callback is optional and runs on the connection's thread from
 * its main loop, never from inside a net_conn_* call. Any of them may
 * call net_conn_close() and net_conn_unref() on the connection. */
typedef struct {
	/* The handshake finished and @peer_user is the CN of the peer's
	 * verified certificate. On an outgoing connection the server checks
	 * our certificate a moment later, so a refusal of it still arrives
	 * as closed() with NET_ERROR_TLS after this. */
	void (*established)(NetConn *conn, const char *peer_user,
			    gpointer user_data);
	/* Decrypted bytes, at most 64 KiB at a time; @data is valid only
	 * during the call. */
	void (*data)(NetConn *conn, const guint8 *data, gsize len,
		     gpointer user_data);
	/* The output queue fell below NET_CONN_LOW_WATER from at or above
	 * it: time to write more. */
	void (*drained)(NetConn *conn, gpointer user_data);
	/* The connection is gone for @reason (never NULL): the peer closed
	 * it (G_IO_ERROR_CONNECTION_CLOSED), a socket call failed or a
	 * deadline passed (G_IO_ERROR), or TLS failed (NET_ERROR_TLS).
	 * Called at most once, and never for net_conn_close(). */
	void (*closed)(NetConn *conn, const GError *reason, gpointer user_data);
} NetConnCallbacks;

/* Starts connecting to @address with @tls's certificate. Returns NULL
 * with @error only when no attempt could start (no file descriptor,
 * an address that is not IP); every later failure, including a refused
 * connection, arrives through closed(). The caller owns the reference. */
NetConn *net_conn_connect(NetTlsContext *tls, GSocketAddress *address,
			  const NetConnCallbacks *callbacks, gpointer user_data,
			  GError **error);

/* Runs the server end of the handshake on @fd, an accepted TCP socket;
 * takes ownership of @fd even on failure. */
NetConn *net_conn_new_accepted(NetTlsContext *tls, int fd,
			       const NetConnCallbacks *callbacks,
			       gpointer user_data, GError **error);

/* Replaces the callbacks (NULL: none); e.g. when a listener hands an
 * established connection to its owner. */
void net_conn_set_callbacks(NetConn *conn, const NetConnCallbacks *callbacks,
			    gpointer user_data);

/* Changes the deadlines of a connection that is still connecting or
 * shaking hands: @connect_ms counts from its creation, @handshake_ms
 * from the moment TCP connected. 0 means no deadline. */
void net_conn_set_timeouts(NetConn *conn, guint connect_ms, guint handshake_ms);

/* Queues a copy of @data for sending. Writes made before the handshake
 * ends wait for it; writes to a closed connection are dropped. */
void net_conn_write(NetConn *conn, const void *data, gsize len);

/* Queues @bytes without copying them (holds a reference until sent). */
void net_conn_write_bytes(NetConn *conn, GBytes *bytes);

/* Bytes queued and not yet handed to TLS. */
gsize net_conn_get_queued(const NetConn *conn);

/* Stops (FALSE) or resumes (TRUE) delivering data; on by default. */
void net_conn_set_reading(NetConn *conn, gboolean reading);

/* Closes now, from anywhere, including the connection's own callbacks:
 * queued output is dropped, a TLS close_notify is sent if the socket
 * takes it, and no callback runs again. Closing twice is harmless. */
void net_conn_close(NetConn *conn);

NetConn *net_conn_ref(NetConn *conn);
/* Dropping the last reference closes the connection first. */
void net_conn_unref(NetConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetConn, net_conn_unref)

gboolean net_conn_is_established(const NetConn *conn);
/* The peer's verified user name, or NULL before established(). */
const char *net_conn_get_peer_user(const NetConn *conn);
/* The peer's IP address and port (borrowed), and the same as text:
 * "127.0.0.1:4242" or "[::1]:4242". */
GInetSocketAddress *net_conn_get_peer_socket_address(const NetConn *conn);
const char *net_conn_get_peer_address(const NetConn *conn);
/* SSL_version() of the established connection, or 0. */
int net_conn_get_tls_version(const NetConn *conn);
/* Application bytes received and sent (not counting TLS overhead). */
guint64 net_conn_get_bytes_in(const NetConn *conn);
guint64 net_conn_get_bytes_out(const NetConn *conn);

G_END_DECLS
