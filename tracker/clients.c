#include "clients.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hangup-stream.h"

/* Idle connections are looked at once a second: each closes within a
 * second past the timeout. */
#define SWEEP_SECONDS 1
/* After an accept() error (EMFILE and the like), the pause before the
 * next try: short, since the cause may go as soon as one client does. */
#define ACCEPT_RETRY_MS 100
/* At most one message this often about the cap, or accept() errors. */
#define LOG_INTERVAL (10 * G_USEC_PER_SEC)
/* Connections accepted in one go, so that a flood cannot starve the
 * requests in flight. */
#define ACCEPT_BATCH 64

typedef struct {
	TrackerClients *owner;
	GSocket *socket; /* corked, or shut down */
	GIOStream *tls;
	GCancellable *handshake;
	GSocketAddress *local;
	GSocketAddress *remote; /* the key: libsoup hands it back with
				 * every request of the connection */
	SoupServerMessage *msg; /* the first or the latest answered
				 * request: the handle to take the
				 * connection back with */
	GIOStream *stream; /* the hangup-stream that libsoup reads */
	GList link; /* in owner->idle while idle (data set) */
	gint64 idle_since; /* monotonic µs */
	guint settle; /* the source that acts on the flags below */
	gboolean hung; /* the client hung up between requests */
	gboolean dead; /* the stream is closed, by libsoup or by us */
} TrackerClient;

struct _TrackerClients {
	SoupServer *soup;
	GSocket *listener;
	GTlsCertificate *certificate;
	guint accepting; /* the listener's source, while accepting */
	guint retry; /* the pause after an accept() error */
	gboolean stopped;
	GHashTable *all; /* TrackerClient, owned */
	GQueue idle; /* TrackerClient, idle the longest first */
	guint max;
	gint64 idle_timeout; /* µs */
	guint sweep;
	gint64 logged; /* when the cap or an accept() error was last said */
};

/* Set on a connection's remote address and TLS stream. */
static GQuark client_quark(void)
{
	static GQuark quark;

	if (!quark)
		quark = g_quark_from_static_string("tracker-client");
	return quark;
}

static TrackerClient *lookup(SoupServerMessage *msg)
{
	GSocketAddress *remote = soup_server_message_get_remote_address(msg);

	return remote ? g_object_get_qdata(G_OBJECT(remote), client_quark())
		      : NULL;
}

static void idle_leave(TrackerClient *c)
{
	if (!c->link.data)
		return;
	g_queue_unlink(&c->owner->idle, &c->link);
	c->link.data = NULL;
}

static void idle_enter(TrackerClient *c)
{
	idle_leave(c);
	c->idle_since = g_get_monotonic_time();
	c->link.data = c;
	g_queue_push_tail_link(&c->owner->idle, &c->link);
}

static gboolean log_due(TrackerClients *clients)
{
	gint64 now = g_get_monotonic_time();

	if (clients->logged && now - clients->logged < LOG_INTERVAL)
		return FALSE;
	clients->logged = now;
	return TRUE;
}

static void accept_resume(TrackerClients *clients);

/* Before the hand-over, the connection is only ours to end: shut down,
 * it makes a handshake in progress fail and its stream let go. */
static void client_free(TrackerClient *c)
{
	TrackerClients *owner = c->owner;

	g_clear_handle_id(&c->settle, g_source_remove);
	idle_leave(c);
	g_hash_table_remove(owner->all, c);
	if (!c->stream) {
		g_cancellable_cancel(c->handshake);
		g_socket_shutdown(c->socket, TRUE, TRUE, NULL);
	}
	g_clear_object(&c->msg);
	if (c->stream) {
		tracker_hangup_stream_watch(c->stream, NULL, NULL, NULL);
		g_object_unref(c->stream);
	}
	g_object_set_qdata(G_OBJECT(c->tls), client_quark(), NULL);
	g_object_set_qdata(G_OBJECT(c->remote), client_quark(), NULL);
	g_object_unref(c->handshake);
	g_object_unref(c->tls);
	g_object_unref(c->local);
	g_object_unref(c->remote);
	g_object_unref(c->socket);
	g_free(c);
	accept_resume(owner);
}

/* --- Ending connections that libsoup holds --- */

/* Safe only while no request is being read: libsoup 3.2 dereferences
 * the connection's current request, which it has freed in the state
 * this module exists to avoid. */
static void close_now(TrackerClient *c)
{
	g_autoptr(GIOStream) stream =
		soup_server_message_steal_connection(c->msg);

	if (stream)
		g_io_stream_close(stream, NULL, NULL);
	c->dead = TRUE;
}

static gboolean settle(gpointer data)
{
	TrackerClient *c = data;

	c->settle = 0;
	if (!c->dead && c->hung)
		close_now(c);
	if (c->dead)
		client_free(c);
	return G_SOURCE_REMOVE;
}

/* Acts on @c's flags outside libsoup's callbacks, and before any of
 * libsoup's sources (of default priority) runs again: before the next
 * request of the connection can start to be read. */
static void schedule(TrackerClient *c)
{
	if (!c->settle)
		c->settle = g_idle_add_full(G_PRIORITY_HIGH, settle, c, NULL);
}

/* Called inside libsoup's read. */
static void on_hangup(gpointer data)
{
	TrackerClient *c = data;

	c->hung = TRUE;
	schedule(c);
}

/* libsoup closes the stream when it drops the connection (after
 * "Connection: close", an error, or soup_server_disconnect()); we do
 * in close_now(). Called inside libsoup, or inside close_now(). */
static void on_closed(gpointer data)
{
	TrackerClient *c = data;

	c->dead = TRUE;
	idle_leave(c);
	schedule(c);
}

/* --- Following requests --- */

/* The one request whose start matters: the first, which libsoup starts
 * inside soup_server_accept_iostream(); later ones are known as they
 * end. A handler for every request would cost each one a signal. */
static void on_first_request(SoupServer *soup, SoupServerMessage *msg,
			     gpointer data)
{
	TrackerClient *c = data;

	g_set_object(&c->msg, msg);
}

/* Answered, or given up. libsoup may drop the connection right after;
 * then the stream is closed, and never reports a hang-up. */
static void on_request_done(SoupServer *soup, SoupServerMessage *msg,
			    gpointer data)
{
	TrackerClient *c = lookup(msg);

	if (!c || c->dead)
		return;
	g_set_object(&c->msg, msg);
	idle_enter(c);
	tracker_hangup_stream_arm(c->stream, TRUE);
}

/* --- From accept() to libsoup --- */

/* Armed from the start: a client may hang up before its first request
 * too, and it is simplest to end every hang-up the same way. */
static void hand_over(TrackerClient *c)
{
	SoupServer *soup = c->owner->soup;
	gulong first = g_signal_connect(soup, "request-started",
					G_CALLBACK(on_first_request), c);

	c->stream = tracker_hangup_stream_new(c->tls);
	tracker_hangup_stream_watch(c->stream, on_hangup, on_closed, c);
	tracker_hangup_stream_arm(c->stream, TRUE);
	soup_server_accept_iostream(soup, c->stream, c->local, c->remote, NULL);
	g_signal_handler_disconnect(soup, first);
}

/* Looks the record up, rather than holding it in the callback's data:
 * a record freed meanwhile (idle timeout, shutdown) is simply gone. */
static void on_handshake(GObject *source, GAsyncResult *result, gpointer data)
{
	TrackerClient *c = g_object_get_qdata(source, client_quark());
	g_autoptr(GError) error = NULL;

	if (g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result,
					      &error)) {
		if (c)
			hand_over(c);
		return;
	}
	g_debug("TLS handshake failed: %s", error->message);
	if (c)
		client_free(c);
}

static TrackerClient *client_new(TrackerClients *clients, GSocket *socket,
				 GIOStream *tls)
{
	g_autoptr(GSocketAddress) local =
		g_socket_get_local_address(socket, NULL);
	g_autoptr(GSocketAddress) remote =
		g_socket_get_remote_address(socket, NULL);
	TrackerClient *c;

	if (!local || !remote)
		return NULL; /* already gone */
	c = g_new0(TrackerClient, 1);
	c->owner = clients;
	c->socket = g_object_ref(socket);
	c->tls = g_object_ref(tls);
	c->handshake = g_cancellable_new();
	c->local = g_steal_pointer(&local);
	c->remote = g_steal_pointer(&remote);
	g_object_set_qdata(G_OBJECT(c->remote), client_quark(), c);
	g_object_set_qdata(G_OBJECT(tls), client_quark(), c);
	g_hash_table_add(clients->all, c);
	idle_enter(c);
	return c;
}

/* With "database" given, even as NULL: the default one would parse the
 * system's CA bundle for every connection, for client certificates that
 * the tracker never asks for. Clients rarely say goodbye in TLS before
 * closing: not required. */
static GIOStream *tls_new(GSocketConnection *tcp, GTlsCertificate *cert,
			  GError **error)
{
	GType type = g_tls_backend_get_server_connection_type(
		g_tls_backend_get_default());

	return g_initable_new(type, NULL, error, "base-io-stream", tcp,
			      "certificate", cert, "database", NULL,
			      "require-close-notify", FALSE, NULL);
}

static void client_start(TrackerClients *clients, GSocket *socket)
{
	g_autoptr(GSocketConnection) tcp =
		g_socket_connection_factory_create_connection(socket);
	g_autoptr(GError) error = NULL;
	g_autoptr(GIOStream) tls = NULL;
	TrackerClient *c;

	/* Replies go out whole (server.c corks them); no Nagle delay. */
	g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
	tls = tls_new(tcp, clients->certificate, &error);
	if (!tls) {
		if (log_due(clients))
			g_message("cannot start TLS on a new connection: %s",
				  error->message);
		return;
	}
	c = client_new(clients, socket, tls);
	if (c)
		g_tls_connection_handshake_async(
			G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, c->handshake,
			on_handshake, NULL);
}

static gboolean on_incoming(GSocket *listener, GIOCondition condition,
			    gpointer data);

static gboolean retry_accept(gpointer data)
{
	TrackerClients *clients = data;

	clients->retry = 0;
	accept_resume(clients);
	return G_SOURCE_REMOVE;
}

static void accept_resume(TrackerClients *clients)
{
	g_autoptr(GSource) source = NULL;

	if (clients->accepting || clients->retry || clients->stopped ||
	    g_hash_table_size(clients->all) >= clients->max)
		return;
	source = g_socket_create_source(clients->listener, G_IO_IN, NULL);
	g_source_set_callback(source, G_SOURCE_FUNC(on_incoming), clients,
			      NULL);
	clients->accepting = g_source_attach(source, NULL);
}

/* EMFILE and its kind pass when connections close: try again soon,
 * rather than stop for good as libsoup's listener does. */
static gboolean accept_failed(TrackerClients *clients, GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		return G_SOURCE_CONTINUE;
	if (log_due(clients))
		g_message("cannot accept a connection (%u open): %s",
			  g_hash_table_size(clients->all), error->message);
	clients->accepting = 0;
	clients->retry = g_timeout_add(ACCEPT_RETRY_MS, retry_accept, clients);
	return G_SOURCE_REMOVE;
}

static gboolean at_cap(TrackerClients *clients)
{
	if (g_hash_table_size(clients->all) < clients->max)
		return FALSE;
	if (log_due(clients))
		g_message("%u client connections are open, the most allowed "
			  "(max-connections): new ones wait until some "
			  "close.",
			  clients->max);
	clients->accepting = 0;
	return TRUE;
}

static gboolean on_incoming(GSocket *listener, GIOCondition condition,
			    gpointer data)
{
	TrackerClients *clients = data;

	for (guint i = 0; i < ACCEPT_BATCH; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocket) socket = NULL;

		if (at_cap(clients))
			return G_SOURCE_REMOVE;
		socket = g_socket_accept(listener, NULL, &error);
		if (!socket)
			return accept_failed(clients, error);
		client_start(clients, socket);
	}
	return G_SOURCE_CONTINUE;
}

/* --- Idle connections, limits, life cycle --- */

/* Shut down, a connection ends through libsoup, its hangup-stream or
 * its handshake, whatever state it is in. */
static gboolean sweep(gpointer data)
{
	TrackerClients *clients = data;
	gint64 now = g_get_monotonic_time();
	TrackerClient *c;

	while ((c = g_queue_peek_head(&clients->idle)) &&
	       now - c->idle_since >= clients->idle_timeout) {
		idle_leave(c);
		g_debug("closing a connection idle for %" G_GINT64_FORMAT " s",
			(now - c->idle_since) / G_USEC_PER_SEC);
		g_socket_shutdown(c->socket, TRUE, TRUE, NULL);
	}
	return G_SOURCE_CONTINUE;
}

/* The soft open-file limit, raised to the hard one first: a connection
 * is a descriptor, and the soft limit is often a mere 1024. */
static guint64 raise_fd_limit(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return 1024;
	if (lim.rlim_cur < lim.rlim_max && lim.rlim_max != RLIM_INFINITY) {
		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
			getrlimit(RLIMIT_NOFILE, &lim);
	}
	return lim.rlim_cur == RLIM_INFINITY ? G_MAXUINT : lim.rlim_cur;
}

/* The limit less a reserve for the database, the TLS backend, the
 * password workers and such. */
static guint default_max(guint64 fd_limit)
{
	guint64 reserve = CLAMP(fd_limit / 8, 64, 4096);

	return fd_limit > 2 * reserve ? MIN(fd_limit - reserve, G_MAXUINT)
				      : MAX(fd_limit / 2, 1);
}

/* libsoup 3.2 keeps a connection alive after a reply only on a server
 * with a listener (request_finished() checks its list). This gives it
 * one that can never accept: one end of a socket pair, the other end
 * closed once libsoup watches it. Its first wakeup, at that end of
 * stream, makes its accept() fail and it stops watching for good. */
static gboolean add_inert_listener(SoupServer *soup, GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	int fds[2];
	gboolean ok;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		int saved = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Cannot make a socket pair: %s", g_strerror(saved));
		return FALSE;
	}
	socket = g_socket_new_from_fd(fds[0], error);
	if (!socket)
		close(fds[0]);
	ok = socket && soup_server_listen_socket(soup, socket, 0, error);
	close(fds[1]);
	return ok;
}

static void watch_server(TrackerClients *clients)
{
	g_signal_connect(clients->soup, "request-finished",
			 G_CALLBACK(on_request_done), clients);
	g_signal_connect(clients->soup, "request-aborted",
			 G_CALLBACK(on_request_done), clients);
}

TrackerClients *tracker_clients_new(SoupServer *soup, GSocket *listener,
				    GTlsCertificate *certificate,
				    guint max_connections, guint idle_timeout,
				    GError **error)
{
	g_autoptr(TrackerClients) clients = g_new0(TrackerClients, 1);
	guint64 fd_limit = raise_fd_limit();

	clients->soup = g_object_ref(soup);
	clients->listener = g_object_ref(listener);
	clients->certificate = g_object_ref(certificate);
	clients->all = g_hash_table_new(NULL, NULL);
	g_queue_init(&clients->idle);
	clients->max =
		max_connections ? max_connections : default_max(fd_limit);
	clients->idle_timeout = (gint64)idle_timeout * G_USEC_PER_SEC;
	if (!add_inert_listener(soup, error))
		return NULL;
	g_socket_set_blocking(listener, FALSE);
	watch_server(clients);
	if (idle_timeout)
		clients->sweep =
			g_timeout_add_seconds(SWEEP_SECONDS, sweep, clients);
	accept_resume(clients);
	g_message("serving at most %u client connections at once (open-file "
		  "limit %" G_GUINT64_FORMAT ")",
		  clients->max, fd_limit);
	return g_steal_pointer(&clients);
}

void tracker_clients_stop_accepting(TrackerClients *clients)
{
	clients->stopped = TRUE;
	g_clear_handle_id(&clients->accepting, g_source_remove);
	g_clear_handle_id(&clients->retry, g_source_remove);
}

void tracker_clients_free(TrackerClients *clients)
{
	g_autoptr(GList) all = NULL;

	if (!clients)
		return;
	tracker_clients_stop_accepting(clients);
	g_signal_handlers_disconnect_by_data(clients->soup, clients);
	g_clear_handle_id(&clients->sweep, g_source_remove);
	all = g_hash_table_get_values(clients->all);
	for (GList *l = all; l; l = l->next)
		client_free(l->data);
	g_hash_table_unref(clients->all);
	g_object_unref(clients->certificate);
	g_object_unref(clients->listener);
	g_object_unref(clients->soup);
	g_free(clients);
}

void tracker_clients_got_headers(TrackerClients *clients,
				 SoupServerMessage *msg)
{
	TrackerClient *c = lookup(msg);

	if (!c || c->dead)
		return;
	idle_leave(c);
	tracker_hangup_stream_arm(c->stream, FALSE);
}

GSocket *tracker_clients_get_socket(TrackerClients *clients,
				    SoupServerMessage *msg)
{
	TrackerClient *c = lookup(msg);

	return c ? c->socket : soup_server_message_get_socket(msg);
}
