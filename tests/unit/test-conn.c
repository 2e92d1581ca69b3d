/* Tests for net/conn and net/listener over real sockets on 127.0.0.1:
 * mutual TLS, every kind of refused peer, large and small transfers
 * with flow control, closing from inside callbacks, and the deadlines.
 * Alice listens and Bob connects unless a test says otherwise; every
 * wait is bounded by wait_until's deadline. */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <openssl/err.h>

#include "conn.h"
#include "listener.h"
#include "net-error.h"
#include "test-pki.h"

#define WAIT_SECONDS 60
#define BIG_TRANSFER (64 * 1024 * 1024)
#define WRITE_CHUNK (256 * 1024)
/* Writers stop at this much queued output and resume on drained(). */
#define HIGH_WATER (1024 * 1024)

/* The test's side of one connection: what it saw, and what it sends
 * (pseudo-random bytes from @seed_out, checked against @seed_in). */
typedef struct {
	NetConn *conn;
	char *peer_user;
	GError *closed;
	GByteArray *received; /* unless @check_pattern */
	gboolean check_pattern;
	guint64 seed_in;
	guint64 received_len;
	guint data_calls;
	guint64 seed_out;
	guint64 to_send;
	guint64 sent;
	guint writes;
	gsize max_queued;
	guint drained;
	guint64 close_after; /* close inside data() after this many bytes */
	gboolean paused; /* set on acceptance */
} End;

typedef struct {
	TestPki pki;
	NetTlsContext *alice;
	NetTlsContext *bob;
	NetListener *listener; /* Alice's */
	guint16 port;
	End client;
	End server;
	GPtrArray *refusals; /* GError, from the listener */
} Fixture;

/* The streams repeat a random block whose length is a prime, so no
 * record, chunk or buffer size lines up with it: a lost, repeated or
 * reordered piece shows as a mismatch. */
#define PATTERN_PERIOD 1048573
static guint8 *pattern;

static void pattern_init(void)
{
	guint32 state = 2463534242u;

	pattern = g_malloc(PATTERN_PERIOD);
	for (gsize i = 0; i < PATTERN_PERIOD; i++) {
		state ^= state << 13;
		state ^= state >> 17;
		state ^= state << 5;
		pattern[i] = (guint8)(state >> 24);
	}
}

static gsize pattern_start(guint64 seed, guint64 offset)
{
	return (gsize)((seed * 7919 + offset) % PATTERN_PERIOD);
}

/* The bytes at @offset of the stream named @seed. */
static void pattern_fill(guint64 seed, guint64 offset, guint8 *out, gsize len)
{
	for (gsize at = pattern_start(seed, offset); len > 0; at = 0) {
		gsize n = MIN(len, PATTERN_PERIOD - at);
		memcpy(out, pattern + at, n);
		out += n;
		len -= n;
	}
}

static gboolean pattern_equal(guint64 seed, guint64 offset, const guint8 *data,
			      gsize len)
{
	for (gsize at = pattern_start(seed, offset); len > 0; at = 0) {
		gsize n = MIN(len, PATTERN_PERIOD - at);
		if (memcmp(data, pattern + at, n) != 0)
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}

static void end_init(End *end)
{
	memset(end, 0, sizeof *end);
	end->received = g_byte_array_new();
}

static void end_clear(End *end)
{
	g_clear_pointer(&end->conn, net_conn_unref);
	g_clear_pointer(&end->peer_user, g_free);
	g_clear_error(&end->closed);
	g_clear_pointer(&end->received, g_byte_array_unref);
}

static void end_reset(End *end)
{
	end_clear(end);
	end_init(end);
}

/* Writes until HIGH_WATER is queued, alternating copied and zero-copy
 * writes; drained() calls it again. */
static void end_pump(End *end)
{
	while (end->conn && end->sent < end->to_send &&
	       net_conn_get_queued(end->conn) < HIGH_WATER) {
		gsize len = MIN(WRITE_CHUNK, end->to_send - end->sent);
		guint8 *buf = g_malloc(len);

		pattern_fill(end->seed_out, end->sent, buf, len);
		if (end->writes++ % 2) {
			net_conn_write(end->conn, buf, len);
			g_free(buf);
		} else {
			g_autoptr(GBytes) bytes = g_bytes_new_take(buf, len);
			net_conn_write_bytes(end->conn, bytes);
		}
		end->sent += len;
		end->max_queued =
			MAX(end->max_queued, net_conn_get_queued(end->conn));
	}
}

static void end_check(End *end, const guint8 *data, gsize len)
{
	if (!pattern_equal(end->seed_in, end->received_len, data, len))
		g_error("received bytes differ near offset %" G_GUINT64_FORMAT,
			end->received_len);
}

static void on_established(NetConn *conn, const char *peer_user, gpointer data)
{
	End *end = data;

	end->peer_user = g_strdup(peer_user);
	end_pump(end);
}

/* Closing and dropping the last reference here must be safe. */
static void on_data(NetConn *conn, const guint8 *data, gsize len,
		    gpointer user_data)
{
	End *end = user_data;

	g_assert_cmpuint(len, >, 0);
	g_assert_cmpuint(len, <=, 64 * 1024);
	end->data_calls++;
	if (end->check_pattern)
		end_check(end, data, len);
	else
		g_byte_array_append(end->received, data, (guint)len);
	end->received_len += len;
	if (end->close_after && end->received_len >= end->close_after) {
		net_conn_close(conn);
		g_clear_pointer(&end->conn, net_conn_unref);
	}
}

static void on_drained(NetConn *conn, gpointer data)
{
	End *end = data;

	g_assert_cmpuint(net_conn_get_queued(conn), <, NET_CONN_LOW_WATER);
	end->drained++;
	end_pump(end);
}

static void on_closed(NetConn *conn, const GError *reason, gpointer data)
{
	End *end = data;

	g_assert_nonnull(reason);
	g_assert_null(end->closed);
	end->closed = g_error_copy(reason);
}

static const NetConnCallbacks end_callbacks = {
	.established = on_established,
	.data = on_data,
	.drained = on_drained,
	.closed = on_closed,
};

static void on_accepted(NetListener *listener, NetConn *conn, gpointer data)
{
	Fixture *f = data;
	End *end = &f->server;

	g_assert_null(end->conn);
	g_assert_true(net_conn_is_established(conn));
	end->conn = conn;
	end->peer_user = g_strdup(net_conn_get_peer_user(conn));
	net_conn_set_callbacks(conn, &end_callbacks, end);
	net_conn_set_reading(conn, !end->paused);
	end_pump(end);
}

static void on_refused(NetListener *listener, const GError *reason,
		       gpointer data)
{
	Fixture *f = data;

	g_ptr_array_add(f->refusals, g_error_copy(reason));
}

static const NetListenerCallbacks listener_callbacks = {
	.accepted = on_accepted,
	.refused = on_refused,
};

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	test_pki_init(&f->pki);
	test_pki_issue(&f->pki, f->pki.ca, "alice", "alice");
	test_pki_issue(&f->pki, f->pki.ca, "bob", "bob");
	f->alice = test_pki_context(&f->pki, "alice");
	f->bob = test_pki_context(&f->pki, "bob");
	f->listener = net_listener_new(f->alice, "127.0.0.1", 0,
				       &listener_callbacks, f, &error);
	g_assert_no_error(error);
	f->port = net_listener_get_port(f->listener);
	g_assert_cmpuint(f->port, >, 0);
	end_init(&f->client);
	end_init(&f->server);
	f->refusals =
		g_ptr_array_new_with_free_func((GDestroyNotify)g_error_free);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	end_clear(&f->client);
	end_clear(&f->server);
	g_clear_pointer(&f->listener, net_listener_free);
	g_clear_pointer(&f->alice, net_tls_context_unref);
	g_clear_pointer(&f->bob, net_tls_context_unref);
	g_ptr_array_unref(f->refusals);
	test_pki_clear(&f->pki);
	/* Nothing may be left on the loop for the next test. */
	g_assert_false(g_main_context_pending(NULL));
}

static gboolean on_wake(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the loop until @done, failing the test after WAIT_SECONDS. */
static void wait_until(Fixture *f, gboolean (*done)(Fixture *f))
{
	gint64 deadline =
		g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;
	guint wake = g_timeout_add(100, on_wake, NULL);

	while (!done(f)) {
		if (g_get_monotonic_time() > deadline)
			g_error("timed out after %d s", WAIT_SECONDS);
		g_main_context_iteration(NULL, TRUE);
	}
	g_source_remove(wake);
}

/* Runs the loop for @ms, for tests that check that nothing happens. */
static void run_for(guint ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	guint wake = g_timeout_add(10, on_wake, NULL);

	while (g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(wake);
}

static NetConn *connect_to(NetTlsContext *tls, guint16 port, End *end)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketAddress) address =
		g_inet_socket_address_new_from_string("127.0.0.1", port);
	NetConn *conn =
		net_conn_connect(tls, address, &end_callbacks, end, &error);

	g_assert_no_error(error);
	g_assert_nonnull(conn);
	return conn;
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		g_assert_cmpstr(text, ==, part);
}

static gboolean both_established(Fixture *f)
{
	return f->client.peer_user && f->server.conn;
}

static gboolean greetings_arrived(Fixture *f)
{
	return f->client.received->len == 9 && f->server.received->len == 11;
}

static gboolean server_closed(Fixture *f)
{
	return f->server.closed != NULL;
}

static gboolean client_closed(Fixture *f)
{
	return f->client.closed != NULL;
}

static gboolean refused(Fixture *f)
{
	return f->refusals->len > 0;
}

static gboolean refused_and_client_closed(Fixture *f)
{
	return refused(f) && client_closed(f);
}

static void test_mutual(Fixture *f, gconstpointer data)
{
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	wait_until(f, both_established);
	g_assert_cmpstr(f->client.peer_user, ==, "alice");
	g_assert_cmpstr(f->server.peer_user, ==, "bob");
	g_assert_cmpint(net_conn_get_tls_version(f->client.conn), ==,
			TLS1_3_VERSION);
	g_assert_cmpint(net_conn_get_tls_version(f->server.conn), ==,
			TLS1_3_VERSION);
	GInetSocketAddress *alice_at =
		net_conn_get_peer_socket_address(f->client.conn);
	g_assert_cmpuint(g_inet_socket_address_get_port(alice_at), ==, f->port);
	g_autofree char *alice_text = g_strdup_printf("127.0.0.1:%u", f->port);
	g_assert_cmpstr(net_conn_get_peer_address(f->client.conn), ==,
			alice_text);
	g_assert_true(g_str_has_prefix(
		net_conn_get_peer_address(f->server.conn), "127.0.0.1:"));

	net_conn_write(f->client.conn, "hello alice", 11);
	net_conn_write(f->server.conn, "hello bob", 9);
	wait_until(f, greetings_arrived);
	g_assert_cmpmem(f->server.received->data, 11, "hello alice", 11);
	g_assert_cmpmem(f->client.received->data, 9, "hello bob", 9);
	g_assert_cmpuint(net_conn_get_bytes_out(f->client.conn), ==, 11);
	g_assert_cmpuint(net_conn_get_bytes_in(f->client.conn), ==, 9);

	net_conn_close(f->client.conn);
	net_conn_close(f->client.conn);
	wait_until(f, server_closed);
	g_assert_error(f->server.closed, G_IO_ERROR,
		       G_IO_ERROR_CONNECTION_CLOSED);
	g_assert_true(g_str_has_prefix(f->server.closed->message,
				       "Peer bob at 127.0.0.1:"));
	g_assert_true(g_str_has_suffix(f->server.closed->message,
				       " closed the connection."));
	/* Closing by the owner does not call back. */
	g_assert_null(f->client.closed);
	g_assert_false(net_conn_is_established(f->client.conn));
}

/* After a refusal, a member can still connect. */
static void assert_still_serving(Fixture *f)
{
	end_reset(&f->client);
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	wait_until(f, both_established);
	g_assert_cmpstr(f->server.peer_user, ==, "bob");
}

static void assert_refusal(Fixture *f, GQuark domain, int code,
			   const char *server_says)
{
	wait_until(f, refused);
	g_assert_cmpuint(f->refusals->len, ==, 1);
	const GError *refusal = f->refusals->pdata[0];
	g_assert_error(refusal, domain, code);
	g_assert_true(g_str_has_prefix(refusal->message, "Peer 127.0.0.1:"));
	assert_contains(refusal->message, server_says);
	g_assert_null(f->server.conn);
}

/* A client with our CA in its trust store but a certificate that the
 * server refuses: the server says why, the client hears of it. */
static void assert_client_refused(Fixture *f, const char *name,
				  const char *server_says)
{
	g_autoptr(NetTlsContext) tls = test_pki_context(&f->pki, name);
	g_autofree char *heard = g_strdup_printf(
		"Peer alice at 127.0.0.1:%u refused our certificate", f->port);

	f->client.conn = connect_to(tls, f->port, &f->client);
	wait_until(f, refused_and_client_closed);
	assert_refusal(f, NET_ERROR, NET_ERROR_TLS, server_says);
	g_assert_error(f->client.closed, NET_ERROR, NET_ERROR_TLS);
	assert_contains(f->client.closed->message, heard);
	assert_still_serving(f);
}

static void test_refuse_self_signed(Fixture *f, gconstpointer data)
{
	test_pki_mint(&f->pki, "selfie", "carol", -60, TEST_PKI_DAY, FALSE);
	assert_client_refused(f, "selfie",
			      "presented a self-signed certificate, not one "
			      "signed by this tracker's CA.");
}

static void test_refuse_other_ca(Fixture *f, gconstpointer data)
{
	g_autoptr(TrackerCa) other = test_pki_open_ca(&f->pki, "other");

	test_pki_issue(&f->pki, other, "mallory", "mallory");
	assert_client_refused(f, "mallory",
			      "presented a certificate not signed by this "
			      "tracker's CA.");
}

static void test_refuse_expired(Fixture *f, gconstpointer data)
{
	test_pki_mint(&f->pki, "expired", "dave", -2 * TEST_PKI_DAY,
		      -TEST_PKI_DAY, TRUE);
	assert_client_refused(f, "expired",
			      "presented an expired certificate.");
}

/* A client that is not ours, run in a thread with blocking sockets:
 * TLS with @ctx, or plain TCP sending @send when @ctx is NULL. */
typedef struct {
	guint16 port;
	SSL_CTX *ctx;
	const char *send;
	gsize send_len;
	gboolean handshake_ok;
	gboolean got_data;
	gboolean saw_end; /* plain TCP: the server closed */
} RawClient;

static int raw_connect(guint16 port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct timeval timeout = {.tv_sec = WAIT_SECONDS};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout,
				   sizeof timeout),
			==, 0);
	g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof addr), ==,
			0);
	return fd;
}

static void raw_tls(RawClient *raw, int fd)
{
	SSL *ssl = SSL_new(raw->ctx);
	char byte;

	g_assert_true(SSL_set_fd(ssl, fd));
	raw->handshake_ok = SSL_connect(ssl) == 1;
	if (raw->handshake_ok && SSL_write(ssl, "hello", 5) == 5)
		raw->got_data = SSL_read(ssl, &byte, 1) > 0;
	SSL_free(ssl);
	ERR_clear_error();
}

static void raw_plain(RawClient *raw, int fd)
{
	char buf[256];
	ssize_t n;

	g_assert_cmpint(send(fd, raw->send, raw->send_len, MSG_NOSIGNAL), ==,
			(gssize)raw->send_len);
	while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
		;
	raw->saw_end = n == 0 || errno == ECONNRESET;
}

static gpointer raw_client_run(gpointer data)
{
	RawClient *raw = data;
	int fd = raw_connect(raw->port);

	if (raw->ctx)
		raw_tls(raw, fd);
	else
		raw_plain(raw, fd);
	close(fd);
	return NULL;
}

/* Runs @raw against the listener until the listener refuses it. */
static void run_raw_client(Fixture *f, RawClient *raw)
{
	raw->port = f->port;
	GThread *thread = g_thread_new("raw client", raw_client_run, raw);

	wait_until(f, refused);
	g_thread_join(thread);
	g_assert_false(raw->got_data);
}

/* @name's certificate and key, or none; at most TLS @max_version. */
static SSL_CTX *raw_tls_context(Fixture *f, const char *name, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	g_assert_true(SSL_CTX_set_max_proto_version(ctx, max_version));
	g_assert_true(SSL_CTX_load_verify_file(ctx, f->pki.ca_file));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (name) {
		g_autofree char *cert = test_pki_path(&f->pki, name, ".crt");
		g_autofree char *key = test_pki_path(&f->pki, name, ".key");
		g_assert_true(SSL_CTX_use_certificate_file(ctx, cert,
							   SSL_FILETYPE_PEM));
		g_assert_true(SSL_CTX_use_PrivateKey_file(ctx, key,
							  SSL_FILETYPE_PEM));
	}
	return ctx;
}

static void assert_raw_tls_refused(Fixture *f, const char *name,
				   int max_version, const char *server_says)
{
	RawClient raw = {.ctx = raw_tls_context(f, name, max_version)};

	run_raw_client(f, &raw);
	SSL_CTX_free(raw.ctx);
	assert_refusal(f, NET_ERROR, NET_ERROR_TLS, server_says);
	assert_still_serving(f);
}

static void test_refuse_no_certificate(Fixture *f, gconstpointer data)
{
	assert_raw_tls_refused(f, NULL, TLS1_3_VERSION,
			       "presented no certificate; only members with a "
			       "certificate from this tracker may connect.");
}

static void test_refuse_nameless(Fixture *f, gconstpointer data)
{
	test_pki_mint(&f->pki, "nameless", NULL, -60, TEST_PKI_DAY, TRUE);
	assert_raw_tls_refused(f, "nameless", TLS1_3_VERSION,
			       "presented a certificate that names no user.");
}

static void test_refuse_tls12(Fixture *f, gconstpointer data)
{
	assert_raw_tls_refused(f, "bob", TLS1_2_VERSION,
			       "does not speak TLS 1.3");
}

/* A BitTorrent client that does not know about TLS. */
static void test_refuse_plain_tcp(Fixture *f, gconstpointer data)
{
	static const char handshake[68] = "\x13"
					  "BitTorrent protocol";
	RawClient raw = {.send = handshake, .send_len = sizeof handshake};

	run_raw_client(f, &raw);
	g_assert_true(raw.saw_end);
	assert_refusal(f, NET_ERROR, NET_ERROR_TLS,
		       "does not speak TLS (wrong version number); it may be "
		       "a plain BitTorrent client.");
	assert_still_serving(f);
}

static gboolean transfers_done(Fixture *f)
{
	return f->client.received_len == f->server.to_send &&
	       f->server.received_len == f->client.to_send &&
	       f->client.sent == f->client.to_send &&
	       f->server.sent == f->server.to_send;
}

static void assert_sent_all(const End *end)
{
	g_assert_cmpuint(end->sent, ==, end->to_send);
	g_assert_cmpuint(net_conn_get_bytes_out(end->conn), ==, end->to_send);
	g_assert_cmpuint(net_conn_get_queued(end->conn), ==, 0);
	/* The writer waited for drained() rather than queue everything. */
	g_assert_cmpuint(end->drained, >, 0);
	g_assert_cmpuint(end->max_queued, <, HIGH_WATER + WRITE_CHUNK);
}

/* User and system time of this process. */
static double cpu_seconds(void)
{
	struct rusage usage;

	g_assert_cmpint(getrusage(RUSAGE_SELF, &usage), ==, 0);
	return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
	       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void setup_streams(Fixture *f, guint64 client_sends,
			  guint64 server_sends)
{
	f->client.to_send = client_sends;
	f->client.seed_out = 1;
	f->server.seed_in = 1;
	f->server.to_send = server_sends;
	f->server.seed_out = 2;
	f->client.seed_in = 2;
	f->client.check_pattern = TRUE;
	f->server.check_pattern = TRUE;
}

/* 64 MiB each way at once, compared byte for byte. */
static void test_transfer_duplex(Fixture *f, gconstpointer data)
{
	setup_streams(f, BIG_TRANSFER, BIG_TRANSFER);
	gint64 start = g_get_monotonic_time();
	double cpu_start = cpu_seconds();
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	wait_until(f, transfers_done);
	double seconds = (g_get_monotonic_time() - start) / 1e6;
	double cpu = cpu_seconds() - cpu_start;

	assert_sent_all(&f->client);
	assert_sent_all(&f->server);
	/* The client has no more in flight: wait for the server's tail. */
	g_assert_cmpuint(net_conn_get_bytes_in(f->server.conn), ==,
			 BIG_TRANSFER);
	g_assert_cmpuint(net_conn_get_bytes_in(f->client.conn), ==,
			 BIG_TRANSFER);
	/* Both ends share this thread, so each byte is encrypted and
	 * decrypted here: MB/s per CPU second is the cost of the layer. */
	g_test_message("64 MiB each way at once over TLS on loopback in "
		       "%.2f s (%.2f s of CPU): %.0f MB/s per direction, "
		       "%.0f MB/s per CPU second in all",
		       seconds, cpu, BIG_TRANSFER / 1e6 / seconds,
		       2 * BIG_TRANSFER / 1e6 / cpu);
	g_assert_null(f->client.closed);
	g_assert_null(f->server.closed);
}

static gboolean server_received_all(Fixture *f)
{
	return f->server.received_len == f->client.to_send;
}

/* Many small writes, queued before the handshake ends, arrive in order
 * and share records: far fewer data() calls than writes. */
static void test_small_writes(Fixture *f, gconstpointer data)
{
	guint8 buf[100];
	guint64 offset = 0;
	guint writes = 0;

	setup_streams(f, 0, 0);
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	while (offset < 1024 * 1024) {
		gsize len = 1 + (writes * 37) % sizeof buf;
		pattern_fill(f->client.seed_out, offset, buf, len);
		net_conn_write(f->client.conn, buf, len);
		offset += len;
		writes++;
	}
	f->client.to_send = offset;
	f->client.sent = offset;
	g_assert_cmpuint(net_conn_get_queued(f->client.conn), ==, offset);
	wait_until(f, server_received_all);
	g_assert_cmpuint(f->server.received_len, ==, offset);
	g_assert_cmpuint(f->server.data_calls, <, writes / 100);
}

/* The server closes and drops its last reference from inside data(),
 * while the client keeps sending. */
static void test_close_in_callback(Fixture *f, gconstpointer data)
{
	setup_streams(f, 8 * 1024 * 1024, 0);
	f->server.close_after = 1;
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	wait_until(f, client_closed);
	g_assert_cmpuint(f->server.data_calls, ==, 1);
	g_assert_null(f->server.conn);
	g_assert_null(f->server.closed);
	g_assert_error(f->client.closed, G_IO_ERROR,
		       G_IO_ERROR_CONNECTION_CLOSED);
	assert_contains(f->client.closed->message, "alice at 127.0.0.1:");
}

static gboolean client_got_some(Fixture *f)
{
	return f->client.received_len >= 1024 * 1024;
}

/* Alice stops in the middle of sending 64 MiB; Bob is told. */
static void test_peer_closes_mid_stream(Fixture *f, gconstpointer data)
{
	setup_streams(f, 0, BIG_TRANSFER);
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	wait_until(f, client_got_some);
	net_conn_close(f->server.conn);
	wait_until(f, client_closed);
	g_assert_cmpuint(f->client.received_len, <, BIG_TRANSFER);
	g_assert_error(f->client.closed, G_IO_ERROR,
		       G_IO_ERROR_CONNECTION_CLOSED);
	assert_contains(f->client.closed->message, "alice at 127.0.0.1:");
	g_assert_null(f->server.closed);
}

static gboolean server_stalled(Fixture *f)
{
	return f->client.sent > 0 &&
	       net_conn_get_queued(f->client.conn) >= HIGH_WATER;
}

/* A reader that stops reading makes the writer's queue fill up, and
 * everything arrives once it reads again. */
static void test_pause_reading(Fixture *f, gconstpointer data)
{
	setup_streams(f, 32 * 1024 * 1024, 0);
	f->server.paused = TRUE;
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	wait_until(f, server_stalled);
	run_for(100);
	g_assert_cmpuint(f->server.received_len, ==, 0);
	g_assert_cmpuint(f->client.sent, <, f->client.to_send);

	net_conn_set_reading(f->server.conn, TRUE);
	wait_until(f, server_received_all);
	assert_sent_all(&f->client);
}

static gboolean server_sent_all(Fixture *f)
{
	return f->server.conn && f->server.sent == f->server.to_send &&
	       net_conn_get_queued(f->server.conn) == 0;
}

/* Bob resets the connection while Alice neither reads nor writes:
 * she is told at once instead of polling the dead socket forever. */
static void test_reset_while_paused(Fixture *f, gconstpointer data)
{
	setup_streams(f, 0, 64 * 1024);
	f->server.paused = TRUE;
	f->client.conn = connect_to(f->bob, f->port, &f->client);
	net_conn_set_reading(f->client.conn, FALSE);
	wait_until(f, server_sent_all);
	/* Unread bytes make close(2) send a reset rather than a FIN. */
	run_for(50);
	net_conn_close(f->client.conn);
	wait_until(f, server_closed);
	g_assert_error(f->server.closed, G_IO_ERROR,
		       G_IO_ERROR_CONNECTION_CLOSED);
	assert_contains(f->server.closed->message, "bob at 127.0.0.1:");
}

static guint16 free_port(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, len), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &len), ==, 0);
	close(fd);
	return ntohs(addr.sin_port);
}

static void test_connect_refused(Fixture *f, gconstpointer data)
{
	guint16 port = free_port();
	g_autofree char *want = g_strdup_printf(
		"Could not connect to peer 127.0.0.1:%u: Connection refused.",
		port);

	f->client.conn = connect_to(f->bob, port, &f->client);
	wait_until(f, client_closed);
	g_assert_error(f->client.closed, G_IO_ERROR,
		       G_IO_ERROR_CONNECTION_REFUSED);
	g_assert_cmpstr(f->client.closed->message, ==, want);
	g_assert_null(f->client.peer_user);
}

/* A listening socket that accepts and never says a word. */
typedef struct {
	int fd;
	int accepted;
	guint watch;
} SilentServer;

static gboolean silent_accept(int fd, GIOCondition condition, gpointer data)
{
	SilentServer *silent = data;

	silent->accepted = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	g_assert_cmpint(silent->accepted, >=, 0);
	silent->watch = 0;
	return G_SOURCE_REMOVE;
}

static guint16 silent_server_start(SilentServer *silent)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof addr;

	silent->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	silent->accepted = -1;
	g_assert_cmpint(bind(silent->fd, (struct sockaddr *)&addr, len), ==, 0);
	g_assert_cmpint(listen(silent->fd, 1), ==, 0);
	g_assert_cmpint(getsockname(silent->fd, (struct sockaddr *)&addr, &len),
			==, 0);
	silent->watch =
		g_unix_fd_add(silent->fd, G_IO_IN, silent_accept, silent);
	return ntohs(addr.sin_port);
}

static void silent_server_stop(SilentServer *silent)
{
	if (silent->watch)
		g_source_remove(silent->watch);
	if (silent->accepted >= 0)
		close(silent->accepted);
	close(silent->fd);
}

static void test_handshake_timeout(Fixture *f, gconstpointer data)
{
	SilentServer silent;
	guint16 port = silent_server_start(&silent);
	g_autofree char *want = g_strdup_printf(
		"Peer 127.0.0.1:%u did not complete the TLS handshake within "
		"0.2 s.",
		port);

	f->client.conn = connect_to(f->bob, port, &f->client);
	net_conn_set_timeouts(f->client.conn, 5000, 200);
	wait_until(f, client_closed);
	g_assert_cmpint(silent.accepted, >=, 0);
	g_assert_error(f->client.closed, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_cmpstr(f->client.closed->message, ==, want);
	silent_server_stop(&silent);
}

/* A client that connects and says nothing is dropped by the listener. */
static void test_listener_handshake_timeout(Fixture *f, gconstpointer data)
{
	char byte;

	net_listener_set_handshake_timeout(f->listener, 200);
	int fd = raw_connect(f->port);
	assert_refusal(f, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		       "did not complete the TLS handshake within 0.2 s.");
	g_assert_cmpint(recv(fd, &byte, 1, 0), ==, 0);
	close(fd);
	assert_still_serving(f);
}

static void test_listen_errors(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *in_use = g_strdup_printf(
		"Could not listen for peers on 127.0.0.1 port %u: Address "
		"already in use.",
		f->port);

	g_assert_null(net_listener_new(f->alice, "localhost", 0,
				       &listener_callbacks, f, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_null(net_listener_new(f->alice, "127.0.0.1", f->port,
				       &listener_callbacks, f, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_assert_cmpstr(error->message, ==, in_use);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	pattern_init();
#define ADD(path, fn) \
	g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/net/conn/mutual", test_mutual);
	ADD("/net/conn/refuse-self-signed", test_refuse_self_signed);
	ADD("/net/conn/refuse-other-ca", test_refuse_other_ca);
	ADD("/net/conn/refuse-expired", test_refuse_expired);
	ADD("/net/conn/refuse-no-certificate", test_refuse_no_certificate);
	ADD("/net/conn/refuse-nameless", test_refuse_nameless);
	ADD("/net/conn/refuse-tls12", test_refuse_tls12);
	ADD("/net/conn/refuse-plain-tcp", test_refuse_plain_tcp);
	ADD("/net/conn/transfer-duplex-64m", test_transfer_duplex);
	ADD("/net/conn/small-writes", test_small_writes);
	ADD("/net/conn/close-in-callback", test_close_in_callback);
	ADD("/net/conn/peer-closes-mid-stream", test_peer_closes_mid_stream);
	ADD("/net/conn/pause-reading", test_pause_reading);
	ADD("/net/conn/reset-while-paused", test_reset_while_paused);
	ADD("/net/conn/connect-refused", test_connect_refused);
	ADD("/net/conn/handshake-timeout", test_handshake_timeout);
	ADD("/net/conn/listener-handshake-timeout",
	    test_listener_handshake_timeout);
	ADD("/net/conn/listen-errors", test_listen_errors);
#undef ADD
	int status = g_test_run();
	g_free(pattern);
	return status;
}
