#include "tls.h"

#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "identity.h"
#include "net-error.h"

/* What the tracker's CA accepts as a user name. */
#define TLS_USER_MAX 64
/* A member's certificate message holds one leaf of under 1 KiB; the
 * bound caps what a hostile peer can make us parse before we refuse. */
#define TLS_MAX_CERT_LIST (16 * 1024)
/* With read-ahead, one read(2) may fill this much of OpenSSL's record
 * buffer: four full records per system call instead of two calls per
 * record (header, then body). */
#define TLS_READ_BUFFER (64 * 1024)
/* Both ends are ours, so the client's order decides: AES-128-GCM is the
 * cheapest with AES-NI, ChaCha20 the cheapest without. */
#define TLS_CIPHERSUITES                                       \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:" \
	"TLS_AES_256_GCM_SHA384"

struct _NetTlsContext {
	grefcount ref;
	char *ca_file;
	char *cert_file;
	char *key_file;
	SSL_CTX *ssl_ctx;
	char *user; /* CN of our certificate */
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SSL_CTX, SSL_CTX_free)

static gboolean is_printable_utf8(const char *s, gsize len)
{
	const char *end = s + len;

	if (!g_utf8_validate(s, (gssize)len, NULL))
		return FALSE;
	for (; s < end; s = g_utf8_next_char(s))
		if (g_unichar_iscntrl(g_utf8_get_char(s)))
			return FALSE;
	return TRUE;
}

/* The user name in @cert: its one and only CN, printable UTF-8 of at
 * most TLS_USER_MAX bytes. A second CN would let two tools disagree on
 * who the peer is, so it makes the certificate nameless. */
static char *tls_user_of(X509 *cert)
{
	const X509_NAME *subject = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *user = NULL;

	if (i < 0 ||
	    X509_NAME_get_index_by_NID(subject, NID_commonName, i) >= 0)
		return NULL;
	int len = ASN1_STRING_to_UTF8(
		&utf8,
		X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
	if (len > 0 && len <= TLS_USER_MAX &&
	    is_printable_utf8((const char *)utf8, (gsize)len))
		user = g_strndup((const char *)utf8, (gsize)len);
	OPENSSL_free(utf8);
	return user;
}

/* OpenSSL has checked the chain up to this point; at the leaf we also
 * require a user name, so that every verified peer has one. */
static int verify_peer(int ok, X509_STORE_CTX *store)
{
	if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
		return ok;
	g_autofree char *user =
		tls_user_of(X509_STORE_CTX_get_current_cert(store));
	if (user)
		return 1;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* The rules every peer connection follows; see the header. Session
 * resumption is off: peer connections live as long as a swarm, so a
 * full handshake is rare and cheap, while a resumed session would skip
 * the certificate check and could outlive the certificate. */
static gboolean apply_policy(SSL_CTX *ctx)
{
	SSL_CTX_set_verify(ctx,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   verify_peer);
	/* The CA signs members directly. One intermediate is allowed only
	 * so that a foreign chain fails as "unknown issuer" rather than
	 * "too long"; the CA's pathlen:0 refuses any real intermediate. */
	SSL_CTX_set_verify_depth(ctx, 1);
	SSL_CTX_set_max_cert_list(ctx, TLS_MAX_CERT_LIST);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* Partial writes let net/conn send a queue record by record; moving
	 * buffers let it retry a blocked write from a reallocated queue. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER);
	return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) &&
	       SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) &&
	       SSL_CTX_set_num_tickets(ctx, 0) &&
	       SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERSUITES);
}

static X509 *load_certificate(const char *path, const char *what,
			      GError **error)
{
	g_autofree char *pem = NULL;

	if (!g_file_get_contents(path, &pem, NULL, error))
		return NULL;
	return net_identity_parse_certificate(pem, what, error);
}

/* Makes the tracker's CA the only trust anchor: a fresh SSL_CTX's store
 * is empty, and we never add the system's. */
static gboolean load_trust(SSL_CTX *ctx, const char *ca_file, GError **error)
{
	g_autoptr(X509) ca =
		load_certificate(ca_file, "tracker's CA certificate", error);

	if (!ca)
		return FALSE;
	if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca)) {
		net_identity_set_openssl_error(error, "Could not trust the CA");
		return FALSE;
	}
	return TRUE;
}

static gboolean load_identity(SSL_CTX *ctx, const char *cert_file,
			      const char *key_file, char **user, GError **error)
{
	g_autoptr(X509) cert =
		load_certificate(cert_file, "certificate", error);
	g_autoptr(EVP_PKEY) key = NULL;

	if (!cert || !(key = net_identity_load_key(key_file, error)))
		return FALSE;
	if (!SSL_CTX_use_certificate(ctx, cert) ||
	    !SSL_CTX_use_PrivateKey(ctx, key) ||
	    !SSL_CTX_check_private_key(ctx)) {
		g_autofree char *what = g_strdup_printf(
			"%s does not hold the key of %s; log in again",
			key_file, cert_file);
		net_identity_set_openssl_error(error, what);
		return FALSE;
	}
	*user = tls_user_of(cert);
	if (!*user)
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "%s names no user; log in again.", cert_file);
	return *user != NULL;
}

static SSL_CTX *build_ssl_ctx(const NetTlsContext *tls, char **user,
			      GError **error)
{
	g_autoptr(SSL_CTX) ctx = SSL_CTX_new(TLS_method());

	if (!ctx || !apply_policy(ctx)) {
		net_identity_set_openssl_error(error, "Could not set up TLS");
		return NULL;
	}
	if (!load_trust(ctx, tls->ca_file, error) ||
	    !load_identity(ctx, tls->cert_file, tls->key_file, user, error))
		return NULL;
	return g_steal_pointer(&ctx);
}

/* Builds the context; see the header for what is checked. */
NetTlsContext *net_tls_context_new(const char *ca_file, const char *cert_file,
				   const char *key_file, GError **error)
{
	NetTlsContext *tls = g_new0(NetTlsContext, 1);

	g_ref_count_init(&tls->ref);
	tls->ca_file = g_strdup(ca_file);
	tls->cert_file = g_strdup(cert_file);
	tls->key_file = g_strdup(key_file);
	if (!net_tls_context_reload(tls, error))
		g_clear_pointer(&tls, net_tls_context_unref);
	return tls;
}

NetTlsContext *net_tls_context_ref(NetTlsContext *tls)
{
	g_ref_count_inc(&tls->ref);
	return tls;
}

void net_tls_context_unref(NetTlsContext *tls)
{
	if (!tls || !g_ref_count_dec(&tls->ref))
		return;
	SSL_CTX_free(tls->ssl_ctx);
	g_free(tls->user);
	g_free(tls->ca_file);
	g_free(tls->cert_file);
	g_free(tls->key_file);
	g_free(tls);
}

/* Swaps in a context built from the files as they are now. Each SSL
 * holds a reference on the SSL_CTX it came from, so live connections
 * are unaffected. */
gboolean net_tls_context_reload(NetTlsContext *tls, GError **error)
{
	char *user = NULL;
	SSL_CTX *ctx = build_ssl_ctx(tls, &user, error);

	if (!ctx)
		return FALSE;
	SSL_CTX_free(tls->ssl_ctx);
	tls->ssl_ctx = ctx;
	g_free(tls->user);
	tls->user = user;
	return TRUE;
}

const char *net_tls_context_get_user(const NetTlsContext *tls)
{
	return tls->user;
}

/* A connection's SSL, set to the end it plays. */
SSL *net_tls_new_ssl(NetTlsContext *tls, gboolean server, GError **error)
{
	SSL *ssl = SSL_new(tls->ssl_ctx);

	if (!ssl) {
		net_identity_set_openssl_error(
			error, "Could not start a TLS connection");
		return NULL;
	}
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	return ssl;
}

/* The verified peer's user name. */
char *net_tls_peer_user(SSL *ssl)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return tls_user_of(cert);
}

/* Why we refused the peer's certificate, as the object of "presented". */
static char *certificate_problem(long result)
{
	switch (result) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return g_strdup("a self-signed certificate, not one signed by "
				"this tracker's CA");
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return g_strdup(
			"a certificate not signed by this tracker's CA");
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return g_strdup("an expired certificate");
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return g_strdup("a certificate that is not valid yet (is one "
				"of the clocks wrong?)");
	case X509_V_ERR_APPLICATION_VERIFICATION:
		return g_strdup("a certificate that names no user");
	default:
		return g_strdup_printf("a certificate that failed verification "
				       "(%s)",
				       X509_verify_cert_error_string(result));
	}
}

/* Alerts by which a peer says that it did not accept our certificate. */
static gboolean is_certificate_alert(int reason)
{
	switch (reason) {
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return TRUE;
	default:
		return FALSE;
	}
}

/* First bytes that are no TLS record at all. */
static gboolean is_not_tls(int reason)
{
	return reason == SSL_R_WRONG_VERSION_NUMBER ||
	       reason == SSL_R_HTTP_REQUEST ||
	       reason == SSL_R_HTTPS_PROXY_REQUEST ||
	       reason == SSL_R_PACKET_LENGTH_TOO_LONG;
}

static void set_protocol_error(GError **error, SSL *ssl, unsigned long code,
			       const char *peer)
{
	int reason = ERR_GET_REASON(code);
	const char *text = ERR_reason_error_string(code);
	long verified = SSL_get_verify_result(ssl);

	if (!text)
		text = "no reason given by OpenSSL";
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED &&
	    verified != X509_V_OK) {
		g_autofree char *problem = certificate_problem(verified);
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "Peer %s presented %s.", peer, problem);
	} else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "Peer %s presented no certificate; only members "
			    "with a certificate from this tracker may connect.",
			    peer);
	} else if (is_certificate_alert(reason)) {
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "Peer %s refused our certificate (%s); if it has "
			    "expired, log in again to renew it.",
			    peer, text);
	} else if (is_not_tls(reason)) {
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "Peer %s does not speak TLS (%s); it may be a "
			    "plain BitTorrent client.",
			    peer, text);
	} else if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
		   reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "Peer %s does not speak TLS 1.3 (%s).", peer, text);
	} else {
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "TLS with peer %s failed (%s).", peer, text);
	}
}

/* Sorts a failed SSL call into closed, broken socket and TLS failure. */
void net_tls_set_error(GError **error, SSL *ssl, int ssl_error, int saved_errno,
		       const char *peer)
{
	unsigned long code = ERR_peek_error();

	if (ssl_error == SSL_ERROR_ZERO_RETURN) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
			    "Peer %s closed the connection.", peer);
	} else if (ssl_error == SSL_ERROR_SYSCALL && saved_errno != 0) {
		g_set_error(error, G_IO_ERROR,
			    g_io_error_from_errno(saved_errno),
			    "The connection with peer %s failed: %s.", peer,
			    g_strerror(saved_errno));
	} else if (code == 0 ||
		   ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
			    "Peer %s closed the connection without ending "
			    "TLS.",
			    peer);
	} else {
		set_protocol_error(error, ssl, code, peer);
	}
	ERR_clear_error();
}
