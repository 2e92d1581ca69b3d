/* Tests for net/tls: loading a member's identity, the policy that both
 * ends of a handshake apply, and reloading a renewed certificate. The
 * handshakes run in memory over BIO pairs; test-conn.c runs them over
 * real sockets, with the refusals. */
#include <string.h>

#include <openssl/err.h>

#include "net-error.h"
#include "test-pki.h"

typedef struct {
	TestPki pki;
} Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	test_pki_init(&f->pki);
	test_pki_issue(&f->pki, f->pki.ca, "alice", "alice");
	test_pki_issue(&f->pki, f->pki.ca, "bob", "bob");
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	test_pki_clear(&f->pki);
}

/* Drives both ends until each has finished its handshake; FALSE as
 * soon as either fails, with the client's failure in @client_error. */
static gboolean handshake_in_memory(SSL *client, SSL *server,
				    GError **client_error)
{
	BIO *client_bio = NULL;
	BIO *server_bio = NULL;
	int c = 0;
	int s = 0;

	g_assert_true(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0));
	SSL_set_bio(client, client_bio, client_bio);
	SSL_set_bio(server, server_bio, server_bio);
	for (int i = 0; i < 16 && !(c == 1 && s == 1); i++) {
		c = SSL_do_handshake(client);
		int c_err = SSL_get_error(client, c);
		if (c != 1 && c_err != SSL_ERROR_WANT_READ) {
			net_tls_set_error(client_error, client, c_err, 0,
					  "127.0.0.1:9");
			return FALSE;
		}
		s = SSL_do_handshake(server);
		if (s != 1 && SSL_get_error(server, s) != SSL_ERROR_WANT_READ)
			return FALSE;
	}
	return c == 1 && s == 1;
}

static SSL *new_ssl(NetTlsContext *tls, gboolean server)
{
	g_autoptr(GError) error = NULL;
	SSL *ssl = net_tls_new_ssl(tls, server, &error);

	g_assert_no_error(error);
	return ssl;
}

static void assert_peer(SSL *ssl, const char *user)
{
	g_autofree char *peer = net_tls_peer_user(ssl);

	g_assert_cmpstr(peer, ==, user);
}

static void test_context_user(Fixture *f, gconstpointer data)
{
	g_autoptr(NetTlsContext) tls = test_pki_context(&f->pki, "alice");

	g_assert_cmpstr(net_tls_context_get_user(tls), ==, "alice");
}

static void test_key_mismatch(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *cert = test_pki_path(&f->pki, "alice", ".crt");
	g_autofree char *key = test_pki_path(&f->pki, "bob", ".key");
	NetTlsContext *tls =
		net_tls_context_new(f->pki.ca_file, cert, key, &error);

	g_assert_null(tls);
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_assert_nonnull(strstr(error->message, "does not hold the key of"));
	g_assert_cmpuint(ERR_peek_error(), ==, 0);
}

static void test_missing_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *cert = test_pki_path(&f->pki, "nobody", ".crt");
	g_autofree char *key = test_pki_path(&f->pki, "alice", ".key");

	g_assert_null(net_tls_context_new(f->pki.ca_file, cert, key, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

static void test_nameless_certificate(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *cert = test_pki_path(&f->pki, "nameless", ".crt");
	g_autofree char *key = test_pki_path(&f->pki, "nameless", ".key");

	test_pki_mint(&f->pki, "nameless", NULL, 0, TEST_PKI_DAY, TRUE);
	g_assert_null(net_tls_context_new(f->pki.ca_file, cert, key, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_assert_true(g_str_has_suffix(error->message,
				       "names no user; log in again."));
}

/* Both ends see the other's name, over TLS 1.3, without a ticket that
 * would let the client resume without a certificate check. */
static void test_mutual_in_memory(Fixture *f, gconstpointer data)
{
	g_autoptr(NetTlsContext) alice = test_pki_context(&f->pki, "alice");
	g_autoptr(NetTlsContext) bob = test_pki_context(&f->pki, "bob");
	SSL *server = new_ssl(alice, TRUE);
	SSL *client = new_ssl(bob, FALSE);

	g_assert_true(handshake_in_memory(client, server, NULL));
	assert_peer(client, "alice");
	assert_peer(server, "bob");
	g_assert_cmpint(SSL_version(client), ==, TLS1_3_VERSION);
	g_assert_cmpstr(SSL_get_cipher_name(client), ==,
			"TLS_AES_128_GCM_SHA256");
	SSL_SESSION *session = SSL_get1_session(client);
	g_assert_false(SSL_SESSION_is_resumable(session));
	SSL_SESSION_free(session);
	SSL_free(client);
	SSL_free(server);
}

/* A handshake between two members of different trackers fails on the
 * first certificate checked: the server's, by the client. */
static void test_foreign_server_in_memory(Fixture *f, gconstpointer data)
{
	g_autoptr(TrackerCa) other = test_pki_open_ca(&f->pki, "other");
	g_autoptr(NetTlsContext) alice = test_pki_context(&f->pki, "alice");
	g_autoptr(GError) error = NULL;

	test_pki_issue(&f->pki, other, "mallory", "mallory");
	g_autofree char *other_ca =
		g_build_filename(f->pki.dir, "other", "ca.crt", NULL);
	g_autofree char *cert = test_pki_path(&f->pki, "mallory", ".crt");
	g_autofree char *key = test_pki_path(&f->pki, "mallory", ".key");
	g_autoptr(NetTlsContext) mallory =
		net_tls_context_new(other_ca, cert, key, &error);
	g_assert_no_error(error);
	SSL *server = new_ssl(mallory, TRUE);
	SSL *client = new_ssl(alice, FALSE);

	g_assert_false(handshake_in_memory(client, server, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_assert_cmpstr(error->message, ==,
			"Peer 127.0.0.1:9 presented a certificate not signed "
			"by this tracker's CA.");
	g_assert_null(net_tls_peer_user(client));
	SSL_free(client);
	SSL_free(server);
}

/* A renewed certificate serves new connections; a connection set up
 * before the reload keeps the old one, and a failed reload changes
 * nothing. */
static void test_reload(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *cert = test_pki_path(&f->pki, "alice", ".crt");
	g_autoptr(NetTlsContext) alice = test_pki_context(&f->pki, "alice");
	g_autoptr(NetTlsContext) bob = test_pki_context(&f->pki, "bob");
	SSL *before = new_ssl(alice, TRUE);

	/* The tracker renamed nobody, but the new name proves the swap. */
	test_pki_issue(&f->pki, f->pki.ca, "alice", "alice2");
	g_assert_true(net_tls_context_reload(alice, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(net_tls_context_get_user(alice), ==, "alice2");

	SSL *after = new_ssl(alice, TRUE);
	SSL *client_before = new_ssl(bob, FALSE);
	SSL *client_after = new_ssl(bob, FALSE);
	g_assert_true(handshake_in_memory(client_before, before, NULL));
	g_assert_true(handshake_in_memory(client_after, after, NULL));
	assert_peer(client_before, "alice");
	assert_peer(client_after, "alice2");

	test_pki_write(cert, "not a certificate\n");
	g_assert_false(net_tls_context_reload(alice, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_assert_cmpstr(net_tls_context_get_user(alice), ==, "alice2");
	SSL_free(before);
	SSL_free(after);
	SSL_free(client_before);
	SSL_free(client_after);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) \
	g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/net/tls/context-user", test_context_user);
	ADD("/net/tls/key-mismatch", test_key_mismatch);
	ADD("/net/tls/missing-file", test_missing_file);
	ADD("/net/tls/nameless-certificate", test_nameless_certificate);
	ADD("/net/tls/mutual-in-memory", test_mutual_in_memory);
	ADD("/net/tls/foreign-server-in-memory", test_foreign_server_in_memory);
	ADD("/net/tls/reload", test_reload);
#undef ADD
	return g_test_run();
}
