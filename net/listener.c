#include "listener.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

/* Accepts per dispatch, so that a burst of connections cannot hold the
 * loop, and the pause after the process ran out of file descriptors
 * (accepting again at once would spin on the same error). */
#define LISTENER_ACCEPTS_PER_DISPATCH 16
#define LISTENER_RETRY_MS 250

struct _NetListener {
	NetTlsContext *tls;
	int fd;
	guint16 port;
	NetListenerCallbacks callbacks;
	gpointer user_data;
	guint handshake_ms;
	GSource *watch; /* accepts; NULL while paused */
	GSource *retry; /* ends a pause after a shortage */
	/* Connections shaking hands, each holding our reference. */
	GHashTable *handshaking;
};

static void listener_watch(NetListener *listener);
static void listener_resume(NetListener *listener);

static gboolean listener_has_room(const NetListener *listener)
{
	return g_hash_table_size(listener->handshaking) <
	       NET_LISTENER_MAX_HANDSHAKES;
}

static gboolean listener_on_retry(gpointer data)
{
	NetListener *listener = data;

	g_clear_pointer(&listener->retry, g_source_unref);
	listener_resume(listener);
	return G_SOURCE_REMOVE;
}

/* Stops accepting; after @retry_ms, or when a handshake ends if 0. */
static void listener_pause(NetListener *listener, guint retry_ms)
{
	g_source_destroy(listener->watch);
	g_clear_pointer(&listener->watch, g_source_unref);
	if (!retry_ms)
		return;
	listener->retry = g_timeout_source_new(retry_ms);
	g_source_set_callback(listener->retry, listener_on_retry, listener,
			      NULL);
	g_source_attach(listener->retry, g_main_context_get_thread_default());
}

static void listener_resume(NetListener *listener)
{
	if (!listener->watch && !listener->retry && listener_has_room(listener))
		listener_watch(listener);
}

/* The handshake succeeded: the connection and our reference on it go
 * to the owner, whose callback may free the listener, so it comes last. */
static void listener_on_established(NetConn *conn, const char *peer_user,
				    gpointer data)
{
	NetListener *listener = data;

	g_hash_table_steal(listener->handshaking, conn);
	net_conn_set_callbacks(conn, NULL, NULL);
	listener_resume(listener);
	listener->callbacks.accepted(listener, conn, listener->user_data);
}

static void listener_report(NetListener *listener, const GError *reason)
{
	if (listener->callbacks.refused)
		listener->callbacks.refused(listener, reason,
					    listener->user_data);
}

/* Drops our reference; the connection's dispatch still holds one. */
static void listener_on_failed(NetConn *conn, const GError *reason,
			       gpointer data)
{
	NetListener *listener = data;

	g_hash_table_remove(listener->handshaking, conn);
	listener_resume(listener);
	listener_report(listener, reason);
}

static const NetConnCallbacks handshake_callbacks = {
	.established = listener_on_established,
	.closed = listener_on_failed,
};

/* Returns FALSE when it reported an error, after which the listener
 * may be gone. */
static gboolean listener_start(NetListener *listener, int fd)
{
	g_autoptr(GError) error = NULL;
	NetConn *conn = net_conn_new_accepted(
		listener->tls, fd, &handshake_callbacks, listener, &error);

	if (!conn) {
		listener_report(listener, error);
		return FALSE;
	}
	net_conn_set_timeouts(conn, 0, listener->handshake_ms);
	g_hash_table_add(listener->handshaking, conn);
	return TRUE;
}

static gboolean is_transient(int err)
{
	return err == EINTR || err == ECONNABORTED || err == EPROTO ||
	       err == EPERM;
}

/* Reports an accept(2) failure other than "nothing to accept". */
static void listener_accept_failed(NetListener *listener, int err)
{
	g_autoptr(GError) error = g_error_new(
		G_IO_ERROR, g_io_error_from_errno(err),
		"Could not accept a peer connection: %s.", g_strerror(err));

	listener_pause(listener, LISTENER_RETRY_MS);
	listener_report(listener, error);
}

static gboolean listener_on_ready(int fd, GIOCondition condition, gpointer data)
{
	NetListener *listener = data;

	for (int i = 0; i < LISTENER_ACCEPTS_PER_DISPATCH; i++) {
		if (!listener_has_room(listener)) {
			listener_pause(listener, 0);
			break;
		}
		int client =
			accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int err = errno;
		if (client >= 0 && !listener_start(listener, client))
			break;
		if (client >= 0 || is_transient(err))
			continue;
		if (err != EAGAIN && err != EWOULDBLOCK)
			listener_accept_failed(listener, err);
		break;
	}
	return G_SOURCE_CONTINUE;
}

static void listener_watch(NetListener *listener)
{
	listener->watch = g_unix_fd_source_new(listener->fd, G_IO_IN);
	g_source_set_callback(listener->watch, G_SOURCE_FUNC(listener_on_ready),
			      listener, NULL);
	g_source_attach(listener->watch, g_main_context_get_thread_default());
}

static void close_handshaking(gpointer data)
{
	net_conn_close(data);
	net_conn_unref(data);
}

static GError *listen_error(const char *address, guint16 port, int err)
{
	return g_error_new(G_IO_ERROR, g_io_error_from_errno(err),
			   "Could not listen for peers on %s port %u: %s.",
			   address, port, g_strerror(err));
}

/* Binds and listens; returns the socket and the port it got. */
static int listen_on(const char *address, guint16 port, guint16 *bound,
		     GError **error)
{
	g_autoptr(GInetAddress) ip = g_inet_address_new_from_string(address);
	struct sockaddr_storage native;
	socklen_t len = sizeof native;
	int one = 1;

	if (!ip) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "Cannot listen for peers on “%s”: not an IP "
			    "address.",
			    address);
		return -1;
	}
	g_autoptr(GSocketAddress) want = g_inet_socket_address_new(ip, port);
	g_socket_address_to_native(want, &native, sizeof native, NULL);
	int fd = socket(native.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&native,
		 (socklen_t)g_socket_address_get_native_size(want)) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&native, &len) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		g_propagate_error(error, listen_error(address, port, err));
		return -1;
	}
	g_autoptr(GSocketAddress) got =
		g_socket_address_new_from_native(&native, len);
	*bound = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(got));
	return fd;
}

/* Listens and starts accepting; see the header. */
NetListener *net_listener_new(NetTlsContext *tls, const char *address,
			      guint16 port,
			      const NetListenerCallbacks *callbacks,
			      gpointer user_data, GError **error)
{
	guint16 bound = 0;

	g_return_val_if_fail(callbacks && callbacks->accepted, NULL);
	int fd = listen_on(address, port, &bound, error);
	if (fd < 0)
		return NULL;
	NetListener *listener = g_new0(NetListener, 1);
	listener->tls = net_tls_context_ref(tls);
	listener->fd = fd;
	listener->port = bound;
	listener->callbacks = *callbacks;
	listener->user_data = user_data;
	listener->handshake_ms = NET_CONN_HANDSHAKE_TIMEOUT_MS;
	listener->handshaking =
		g_hash_table_new_full(NULL, NULL, close_handshaking, NULL);
	listener_watch(listener);
	return listener;
}

void net_listener_free(NetListener *listener)
{
	if (!listener)
		return;
	if (listener->watch)
		g_source_destroy(listener->watch);
	if (listener->retry)
		g_source_destroy(listener->retry);
	g_clear_pointer(&listener->watch, g_source_unref);
	g_clear_pointer(&listener->retry, g_source_unref);
	g_hash_table_destroy(listener->handshaking);
	close(listener->fd);
	net_tls_context_unref(listener->tls);
	g_free(listener);
}

guint16 net_listener_get_port(const NetListener *listener)
{
	return listener->port;
}

void net_listener_set_handshake_timeout(NetListener *listener, guint ms)
{
	listener->handshake_ms = ms;
}
