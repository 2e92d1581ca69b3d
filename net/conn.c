#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "identity.h"
#include "net-error.h"

/* One data() call carries at most CONN_READ_CHUNK bytes, and one
 * dispatch reads at most CONN_READ_ROUNDS chunks and writes at most
 * CONN_WRITE_BUDGET bytes, so that one fast peer cannot starve the
 * others that share the loop. */
#define CONN_READ_CHUNK (64 * 1024)
#define CONN_READ_ROUNDS 4
#define CONN_WRITE_BUDGET (512 * 1024)
/* GBytes smaller than this are copied, so that small messages share
 * TLS records instead of costing one record each. */
#define CONN_COPY_MAX 4096
#define CONN_TAIL_MIN 4096

typedef enum {
	CONN_CONNECTING,
	CONN_HANDSHAKING,
	CONN_ESTABLISHED,
	CONN_CLOSED,
} ConnState;

/* What a non-blocking SSL call is waiting for: after SSL_ERROR_WANT_READ
 * or WANT_WRITE it is retried only once the socket is ready for @wait.
 * TLS may want to write while we read and the other way round, so each
 * direction keeps its own (the scheme of Redis's tls.c). */
typedef struct {
	gboolean blocked;
	GIOCondition wait;
} ConnWait;

/* Every field belongs to the thread that made the connection. */
struct _NetConn {
	grefcount ref;
	ConnState state;
	int fd;
	SSL *ssl; /* NULL once closed */
	GSource *source; /* a ConnSource; NULL once closed */
	gpointer fd_tag;
	GIOCondition watching;
	NetConnCallbacks callbacks;
	gpointer user_data;

	GSocketAddress *address;
	char *address_text; /* "127.0.0.1:4242" */
	char *label; /* how errors name the peer */
	char *peer_user; /* set when established */
	int tls_version;

	gint64 created; /* monotonic µs */
	gint64 handshake_started;
	gint64 deadline; /* -1: none */
	guint connect_ms;
	guint handshake_ms;
	GError *pending_error; /* reported by the next dispatch */

	ConnWait handshake;
	ConnWait rd;
	ConnWait wr;
	gboolean reading;

	GQueue out; /* GBytes, oldest first */
	gsize out_offset; /* bytes of the head already sent */
	GByteArray *tail; /* small writes after @out, not yet sealed */
	gsize queued;
	gboolean above_low_water;
	guint64 bytes_in;
	guint64 bytes_out;
};

/* The one source of a connection: its socket, the deadline as the
 * ready time, and records that OpenSSL has buffered (see prepare). */
typedef struct {
	GSource source;
	NetConn *conn; /* not a reference: the connection owns the source */
} ConnSource;

static void conn_dispatch(NetConn *conn, GIOCondition revents);

/* With read-ahead, whole records may sit in OpenSSL's buffer while the
 * socket is empty, and poll() would never wake us for them. Once a read
 * has blocked the buffer holds at most a partial record, which only the
 * socket can complete, so asking then would spin. */
static gboolean conn_source_prepare(GSource *source, gint *timeout)
{
	NetConn *conn = ((ConnSource *)source)->conn;

	*timeout = -1;
	return conn->state == CONN_ESTABLISHED && conn->reading &&
	       !conn->rd.blocked && SSL_has_pending(conn->ssl);
}

static gboolean conn_source_dispatch(GSource *source, GSourceFunc callback,
				     gpointer data)
{
	NetConn *conn = ((ConnSource *)source)->conn;

	conn_dispatch(conn, g_source_query_unix_fd(source, conn->fd_tag));
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs conn_source_funcs = {
	.prepare = conn_source_prepare,
	.dispatch = conn_source_dispatch,
};

/* OpenSSL's socket BIO writes with write(2), not send(MSG_NOSIGNAL). */
static void ignore_sigpipe_once(void)
{
	static gsize done = 0;
	struct sigaction old;

	if (!g_once_init_enter(&done))
		return;
	if (sigaction(SIGPIPE, NULL, &old) == 0 &&
	    !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	g_once_init_leave(&done, 1);
}

static char *address_to_string(GSocketAddress *address)
{
	GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(address);
	GInetAddress *ip = g_inet_socket_address_get_address(inet);
	g_autofree char *text = g_inet_address_to_string(ip);
	guint16 port = g_inet_socket_address_get_port(inet);

	if (g_inet_address_get_family(ip) == G_SOCKET_FAMILY_IPV6)
		return g_strdup_printf("[%s]:%u", text, port);
	return g_strdup_printf("%s:%u", text, port);
}

/* Arms the deadline @ms after @from; 0 means none. */
static void conn_set_deadline(NetConn *conn, gint64 from, guint ms)
{
	conn->deadline = ms ? from + (gint64)ms * 1000 : -1;
	g_source_set_ready_time(conn->source, conn->deadline);
}

static GIOCondition conn_wanted_conditions(const NetConn *conn)
{
	GIOCondition events = 0;

	switch (conn->state) {
	case CONN_CONNECTING:
		return G_IO_OUT;
	case CONN_HANDSHAKING:
		return conn->handshake.wait;
	case CONN_ESTABLISHED:
		break;
	case CONN_CLOSED:
		return 0;
	}
	if (conn->reading)
		events |= conn->rd.blocked ? conn->rd.wait : G_IO_IN;
	if (conn->queued > 0)
		events |= conn->wr.blocked ? conn->wr.wait : G_IO_OUT;
	return events;
}

static void conn_update_watch(NetConn *conn)
{
	GIOCondition events = conn_wanted_conditions(conn);

	if (conn->state == CONN_CLOSED || events == conn->watching)
		return;
	g_source_modify_unix_fd(conn->source, conn->fd_tag, events);
	conn->watching = events;
}

/* Records a WANT_READ/WANT_WRITE in @wait; FALSE for a real failure. */
static gboolean conn_wait_for(ConnWait *wait, int ssl_error)
{
	if (ssl_error == SSL_ERROR_WANT_READ)
		wait->wait = G_IO_IN;
	else if (ssl_error == SSL_ERROR_WANT_WRITE)
		wait->wait = G_IO_OUT;
	else
		return FALSE;
	wait->blocked = TRUE;
	return TRUE;
}

static void conn_note_ready(ConnWait *wait, GIOCondition revents)
{
	if (revents & (wait->wait | G_IO_HUP | G_IO_ERR))
		wait->blocked = FALSE;
}

static void conn_drop_output(NetConn *conn)
{
	g_queue_clear_full(&conn->out, (GDestroyNotify)g_bytes_unref);
	g_clear_pointer(&conn->tail, g_byte_array_unref);
	conn->out_offset = 0;
	conn->queued = 0;
}

/* Releases the socket, the SSL and the source; callbacks never run
 * again. @notify sends a close_notify if the socket takes it at once. */
static void conn_teardown(NetConn *conn, gboolean notify)
{
	if (conn->state == CONN_CLOSED)
		return;
	if (notify && conn->state == CONN_ESTABLISHED) {
		ERR_clear_error();
		SSL_shutdown(conn->ssl);
		ERR_clear_error();
	}
	conn->state = CONN_CLOSED;
	g_source_destroy(conn->source);
	g_clear_pointer(&conn->source, g_source_unref);
	g_clear_pointer(&conn->ssl, SSL_free);
	close(conn->fd);
	conn->fd = -1;
	conn_drop_output(conn);
	g_clear_error(&conn->pending_error);
}

/* Closes for @error (taken) and tells the owner, unless the owner has
 * closed the connection already. */
static void conn_fail(NetConn *conn, GError *error)
{
	if (conn->state != CONN_CLOSED) {
		conn_teardown(conn, FALSE);
		if (conn->callbacks.closed)
			conn->callbacks.closed(conn, error, conn->user_data);
	}
	g_error_free(error);
}

static void conn_fail_ssl(NetConn *conn, int ssl_error, int saved_errno)
{
	GError *error = NULL;

	net_tls_set_error(&error, conn->ssl, ssl_error, saved_errno,
			  conn->label);
	conn_fail(conn, error);
}

static GError *conn_timeout_error(const NetConn *conn)
{
	if (conn->state == CONN_CONNECTING)
		return g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				   "Could not connect to peer %s within %g s.",
				   conn->label, conn->connect_ms / 1000.0);
	return g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			   "Peer %s did not complete the TLS handshake within "
			   "%g s.",
			   conn->label, conn->handshake_ms / 1000.0);
}

static GError *conn_connect_error(const NetConn *conn, int err)
{
	return g_error_new(G_IO_ERROR, g_io_error_from_errno(err),
			   "Could not connect to peer %s: %s.", conn->label,
			   g_strerror(err));
}

static void conn_established(NetConn *conn)
{
	conn->peer_user = net_tls_peer_user(conn->ssl);
	if (!conn->peer_user) {
		conn_fail(conn, g_error_new(NET_ERROR, NET_ERROR_TLS,
					    "Peer %s presented no user name.",
					    conn->label));
		return;
	}
	conn->state = CONN_ESTABLISHED;
	conn->tls_version = SSL_version(conn->ssl);
	conn_set_deadline(conn, 0, 0);
	g_free(conn->label);
	conn->label = g_strdup_printf("%s at %s", conn->peer_user,
				      conn->address_text);
	if (conn->callbacks.established)
		conn->callbacks.established(conn, conn->peer_user,
					    conn->user_data);
}

static void conn_handshake(NetConn *conn)
{
	ERR_clear_error();
	int ret = SSL_do_handshake(conn->ssl);
	int saved_errno = errno;

	if (ret == 1) {
		conn_established(conn);
		return;
	}
	int ssl_error = SSL_get_error(conn->ssl, ret);
	if (!conn_wait_for(&conn->handshake, ssl_error))
		conn_fail_ssl(conn, ssl_error, saved_errno);
}

static void conn_start_handshake(NetConn *conn)
{
	conn->state = CONN_HANDSHAKING;
	conn->handshake_started = g_get_monotonic_time();
	conn_set_deadline(conn, conn->handshake_started, conn->handshake_ms);
}

/* The socket's pending error (SO_ERROR), which reading clears. */
static int conn_take_socket_error(const NetConn *conn)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

static void conn_finish_connect(NetConn *conn)
{
	int err = conn_take_socket_error(conn);

	if (err) {
		conn_fail(conn, conn_connect_error(conn, err));
		return;
	}
	conn_start_handshake(conn);
	conn_handshake(conn);
}

/* Fills @buf with up to CONN_READ_CHUNK decrypted bytes. */
static gsize conn_read_chunk(NetConn *conn, guint8 *buf, GError **error)
{
	gsize len = 0;

	while (len < CONN_READ_CHUNK) {
		size_t n = 0;
		ERR_clear_error();
		int ret = SSL_read_ex(conn->ssl, buf + len,
				      CONN_READ_CHUNK - len, &n);
		int saved_errno = errno;
		if (ret == 1) {
			len += n;
			continue;
		}
		int ssl_error = SSL_get_error(conn->ssl, ret);
		if (!conn_wait_for(&conn->rd, ssl_error))
			net_tls_set_error(error, conn->ssl, ssl_error,
					  saved_errno, conn->label);
		break;
	}
	return len;
}

static gboolean conn_can_read(const NetConn *conn)
{
	return conn->state == CONN_ESTABLISHED && conn->reading &&
	       !conn->rd.blocked;
}

/* Delivers what arrived, bytes before a failure that follows them.
 * The buffer is on the stack: data() may close the connection, and
 * the bytes stay valid until it returns either way. */
static void conn_receive(NetConn *conn)
{
	guint8 buf[CONN_READ_CHUNK];

	for (int round = 0; round < CONN_READ_ROUNDS && conn_can_read(conn);
	     round++) {
		GError *error = NULL;
		gsize len = conn_read_chunk(conn, buf, &error);

		conn->bytes_in += len;
		if (len > 0 && conn->callbacks.data)
			conn->callbacks.data(conn, buf, len, conn->user_data);
		if (error)
			conn_fail(conn, error);
	}
}

/* Moves the tail of small writes into the queue proper. */
static void conn_seal_tail(NetConn *conn)
{
	if (!conn->tail)
		return;
	g_queue_push_tail(&conn->out, g_byte_array_free_to_bytes(
					      g_steal_pointer(&conn->tail)));
}

/* Hands the head of the queue to TLS; returns the bytes it took. */
static gsize conn_write_head(NetConn *conn)
{
	gsize size = 0;
	size_t n = 0;

	if (g_queue_is_empty(&conn->out))
		conn_seal_tail(conn);
	const guint8 *data =
		g_bytes_get_data(g_queue_peek_head(&conn->out), &size);
	ERR_clear_error();
	int ret = SSL_write_ex(conn->ssl, data + conn->out_offset,
			       size - conn->out_offset, &n);
	int saved_errno = errno;
	if (ret == 1)
		return n;
	int ssl_error = SSL_get_error(conn->ssl, ret);
	if (!conn_wait_for(&conn->wr, ssl_error))
		conn_fail_ssl(conn, ssl_error, saved_errno);
	return 0;
}

static void conn_consume(NetConn *conn, gsize n)
{
	GBytes *head = g_queue_peek_head(&conn->out);

	conn->out_offset += n;
	conn->queued -= n;
	conn->bytes_out += n;
	if (conn->out_offset == g_bytes_get_size(head)) {
		g_bytes_unref(g_queue_pop_head(&conn->out));
		conn->out_offset = 0;
	}
}

static void conn_check_drained(NetConn *conn)
{
	if (conn->state != CONN_ESTABLISHED || !conn->above_low_water ||
	    conn->queued >= NET_CONN_LOW_WATER)
		return;
	conn->above_low_water = FALSE;
	if (conn->callbacks.drained)
		conn->callbacks.drained(conn, conn->user_data);
}

static void conn_flush(NetConn *conn)
{
	gsize budget = CONN_WRITE_BUDGET;

	while (conn->state == CONN_ESTABLISHED && conn->queued > 0 &&
	       !conn->wr.blocked && budget > 0) {
		gsize n = conn_write_head(conn);
		if (n == 0)
			break;
		conn_consume(conn, n);
		budget -= MIN(budget, n);
	}
	conn_check_drained(conn);
}

/* Writes first so that the socket buffer fills while we decrypt, then
 * writes again what data() queued, without waiting for another loop
 * iteration. */
static void conn_transfer(NetConn *conn)
{
	conn_flush(conn);
	conn_receive(conn);
	conn_flush(conn);
}

/* Why the socket reported an error or a hang-up. */
static GError *conn_socket_error(const NetConn *conn)
{
	int err = conn_take_socket_error(conn);

	if (err == 0)
		return g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
				   "Peer %s closed the connection.",
				   conn->label);
	return g_error_new(G_IO_ERROR, g_io_error_from_errno(err),
			   "The connection with peer %s failed: %s.",
			   conn->label, g_strerror(err));
}

/* While reading is paused and nothing waits to be sent, no SSL call
 * would notice a reset, and poll() would report it at every turn. */
static gboolean conn_hung_up_idle(const NetConn *conn, GIOCondition revents)
{
	return conn->state == CONN_ESTABLISHED && !conn->reading &&
	       conn->queued == 0 && (revents & (G_IO_HUP | G_IO_ERR));
}

static void conn_advance(NetConn *conn, GIOCondition revents)
{
	if (conn_hung_up_idle(conn, revents)) {
		conn_fail(conn, conn_socket_error(conn));
		return;
	}
	if (conn->state == CONN_CONNECTING && revents)
		conn_finish_connect(conn);
	if (conn->state == CONN_HANDSHAKING && !conn->handshake.blocked)
		conn_handshake(conn);
	if (conn->state == CONN_ESTABLISHED)
		conn_transfer(conn);
}

static void conn_dispatch(NetConn *conn, GIOCondition revents)
{
	/* Callbacks may drop the owner's reference; ours keeps @conn. */
	net_conn_ref(conn);
	conn_note_ready(&conn->handshake, revents);
	conn_note_ready(&conn->rd, revents);
	conn_note_ready(&conn->wr, revents);
	if (conn->pending_error)
		conn_fail(conn, g_steal_pointer(&conn->pending_error));
	else if (conn->deadline >= 0 &&
		 g_source_get_time(conn->source) >= conn->deadline)
		conn_fail(conn, conn_timeout_error(conn));
	else
		conn_advance(conn, revents);
	conn_update_watch(conn);
	net_conn_unref(conn);
}

static void conn_attach_source(NetConn *conn)
{
	conn->source = g_source_new(&conn_source_funcs, sizeof(ConnSource));
	((ConnSource *)conn->source)->conn = conn;
	g_source_set_static_name(conn->source, "groupfs peer connection");
	conn->fd_tag = g_source_add_unix_fd(conn->source, conn->fd, 0);
	g_source_attach(conn->source, g_main_context_get_thread_default());
}

/* Takes ownership of @fd even on failure. */
static NetConn *conn_new(NetTlsContext *tls, int fd, GSocketAddress *address,
			 gboolean server, const NetConnCallbacks *callbacks,
			 gpointer user_data, GError **error)
{
	SSL *ssl = net_tls_new_ssl(tls, server, error);
	int one = 1;

	if (ssl && !SSL_set_fd(ssl, fd)) {
		net_identity_set_openssl_error(error, "Could not attach TLS");
		g_clear_pointer(&ssl, SSL_free);
	}
	if (!ssl) {
		close(fd);
		return NULL;
	}
	ignore_sigpipe_once();
	/* Peer messages are small and latency-bound; we batch ourselves. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	NetConn *conn = g_new0(NetConn, 1);
	g_ref_count_init(&conn->ref);
	conn->fd = fd;
	conn->ssl = ssl;
	conn->address = g_object_ref(address);
	conn->address_text = address_to_string(address);
	conn->label = g_strdup(conn->address_text);
	conn->created = g_get_monotonic_time();
	conn->connect_ms = NET_CONN_CONNECT_TIMEOUT_MS;
	conn->handshake_ms = NET_CONN_HANDSHAKE_TIMEOUT_MS;
	conn->reading = TRUE;
	g_queue_init(&conn->out);
	net_conn_set_callbacks(conn, callbacks, user_data);
	conn_attach_source(conn);
	return conn;
}

/* "@what: strerror(errno)." in G_IO_ERROR, for a failed system call. */
static void set_errno_error(GError **error, const char *what)
{
	int saved_errno = errno;

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
		    "%s: %s.", what, g_strerror(saved_errno));
}

static gboolean check_ip_address(GSocketAddress *address, GError **error)
{
	if (G_IS_INET_SOCKET_ADDRESS(address))
		return TRUE;
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "Peers are reached over IP, and this address is "
			    "not an IP address.");
	return FALSE;
}

/* Starts a non-blocking connect; see the header. */
NetConn *net_conn_connect(NetTlsContext *tls, GSocketAddress *address,
			  const NetConnCallbacks *callbacks, gpointer user_data,
			  GError **error)
{
	struct sockaddr_storage native;
	gssize len = g_socket_address_get_native_size(address);

	if (!check_ip_address(address, error) ||
	    !g_socket_address_to_native(address, &native, sizeof native, error))
		return NULL;
	int fd =
		socket(native.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		set_errno_error(error, "Could not make a socket");
		return NULL;
	}
	NetConn *conn =
		conn_new(tls, fd, address, FALSE, callbacks, user_data, error);
	if (!conn)
		return NULL;
	conn->state = CONN_CONNECTING;
	conn_set_deadline(conn, conn->created, conn->connect_ms);
	if (connect(fd, (struct sockaddr *)&native, (socklen_t)len) < 0 &&
	    errno != EINPROGRESS) {
		/* Reported from the loop, like every other failure. */
		conn->pending_error = conn_connect_error(conn, errno);
		g_source_set_ready_time(conn->source, 0);
	}
	conn_update_watch(conn);
	return conn;
}

static GSocketAddress *peer_address_of(int fd, GError **error)
{
	struct sockaddr_storage native;
	socklen_t len = sizeof native;

	if (getpeername(fd, (struct sockaddr *)&native, &len) < 0) {
		set_errno_error(error,
				"An incoming connection ended before it began");
		return NULL;
	}
	GSocketAddress *address =
		g_socket_address_new_from_native(&native, len);
	if (address && !check_ip_address(address, error))
		g_clear_object(&address);
	return address;
}

/* Starts the server end of the handshake on an accepted socket. */
NetConn *net_conn_new_accepted(NetTlsContext *tls, int fd,
			       const NetConnCallbacks *callbacks,
			       gpointer user_data, GError **error)
{
	g_autoptr(GSocketAddress) address = peer_address_of(fd, error);

	if (!address) {
		close(fd);
		return NULL;
	}
	NetConn *conn =
		conn_new(tls, fd, address, TRUE, callbacks, user_data, error);
	if (!conn)
		return NULL;
	conn_start_handshake(conn);
	/* The client speaks first. */
	conn->handshake = (ConnWait){TRUE, G_IO_IN};
	conn_update_watch(conn);
	return conn;
}

void net_conn_set_callbacks(NetConn *conn, const NetConnCallbacks *callbacks,
			    gpointer user_data)
{
	static const NetConnCallbacks none;

	conn->callbacks = callbacks ? *callbacks : none;
	conn->user_data = user_data;
}

/* Re-arms the deadline of the current phase with the new values. */
void net_conn_set_timeouts(NetConn *conn, guint connect_ms, guint handshake_ms)
{
	conn->connect_ms = connect_ms;
	conn->handshake_ms = handshake_ms;
	if (conn->state == CONN_CONNECTING)
		conn_set_deadline(conn, conn->created, connect_ms);
	else if (conn->state == CONN_HANDSHAKING)
		conn_set_deadline(conn, conn->handshake_started, handshake_ms);
}

static void conn_queued_more(NetConn *conn, gsize len)
{
	conn->queued += len;
	if (conn->queued >= NET_CONN_LOW_WATER)
		conn->above_low_water = TRUE;
	conn_update_watch(conn);
}

/* Appends a copy to the tail, where small writes coalesce. */
void net_conn_write(NetConn *conn, const void *data, gsize len)
{
	g_return_if_fail(len <= G_MAXUINT);
	if (conn->state == CONN_CLOSED || len == 0)
		return;
	if (!conn->tail)
		conn->tail =
			g_byte_array_sized_new((guint)MAX(len, CONN_TAIL_MIN));
	g_byte_array_append(conn->tail, data, (guint)len);
	conn_queued_more(conn, len);
}

/* Queues @bytes by reference; small ones are copied (see CONN_COPY_MAX). */
void net_conn_write_bytes(NetConn *conn, GBytes *bytes)
{
	gsize size = 0;
	const void *data = g_bytes_get_data(bytes, &size);

	if (size < CONN_COPY_MAX) {
		net_conn_write(conn, data, size);
		return;
	}
	if (conn->state == CONN_CLOSED)
		return;
	conn_seal_tail(conn);
	g_queue_push_tail(&conn->out, g_bytes_ref(bytes));
	conn_queued_more(conn, size);
}

gsize net_conn_get_queued(const NetConn *conn)
{
	return conn->queued;
}

void net_conn_set_reading(NetConn *conn, gboolean reading)
{
	conn->reading = reading;
	conn_update_watch(conn);
}

/* Closes without calling back; safe inside the connection's callbacks,
 * since a dispatch holds its own reference. */
void net_conn_close(NetConn *conn)
{
	conn_teardown(conn, TRUE);
}

NetConn *net_conn_ref(NetConn *conn)
{
	g_ref_count_inc(&conn->ref);
	return conn;
}

void net_conn_unref(NetConn *conn)
{
	if (!conn || !g_ref_count_dec(&conn->ref))
		return;
	conn_teardown(conn, TRUE);
	g_object_unref(conn->address);
	g_free(conn->address_text);
	g_free(conn->label);
	g_free(conn->peer_user);
	g_free(conn);
}

gboolean net_conn_is_established(const NetConn *conn)
{
	return conn->state == CONN_ESTABLISHED;
}

const char *net_conn_get_peer_user(const NetConn *conn)
{
	return conn->peer_user;
}

GInetSocketAddress *net_conn_get_peer_socket_address(const NetConn *conn)
{
	return G_INET_SOCKET_ADDRESS(conn->address);
}

const char *net_conn_get_peer_address(const NetConn *conn)
{
	return conn->address_text;
}

int net_conn_get_tls_version(const NetConn *conn)
{
	return conn->tls_version;
}

guint64 net_conn_get_bytes_in(const NetConn *conn)
{
	return conn->bytes_in;
}

guint64 net_conn_get_bytes_out(const NetConn *conn)
{
	return conn->bytes_out;
}
