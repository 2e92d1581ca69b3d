/*
 * tls: the TLS policy of peer connections between members' daemons.
 *
 * Owns: one OpenSSL SSL_CTX per daemon, built from the tracker's CA
 * certificate and the member's own key and certificate, and the rules
 * that every peer connection follows: TLS 1.3 only, a certificate
 * required from both ends (each daemon both connects and accepts),
 * trust in the tracker's CA alone (never the system store), and the
 * leaf certificate's CN as the peer's user name. It also turns OpenSSL
 * failures into sentences. Must not: touch sockets or the main loop
 * (net/conn does), or decide who may fetch what (membership is the peer
 * protocol's business; a valid certificate only says who is speaking).
 *
 * Host names are not checked: peers are found through the tracker's
 * peer lists as bare addresses, often behind NAT, so an address proves
 * nothing about who answers. Identity is the CA-signed user name, which
 * the caller compares with the member it meant to reach.
 */
#pragma once

#include <glib.h>
#include <openssl/ssl.h>

G_BEGIN_DECLS

typedef struct _NetTlsContext NetTlsContext;

/* Loads @ca_file (the tracker's CA certificate, the only trust anchor),
 * @cert_file (our certificate) and @key_file (its private key), and
 * checks that the key belongs to the certificate and that it names a
 * user. The certificate's validity period is not checked here: peers
 * refuse an expired one, with an error that says so. */
NetTlsContext *net_tls_context_new(const char *ca_file, const char *cert_file,
				   const char *key_file, GError **error);
NetTlsContext *net_tls_context_ref(NetTlsContext *tls);
void net_tls_context_unref(NetTlsContext *tls);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetTlsContext, net_tls_context_unref)

/* Reads the three files again, e.g. after a renewed certificate was
 * written. Connections made from then on use the new files; existing
 * ones keep the SSL_CTX they started with. On failure nothing changes. */
gboolean net_tls_context_reload(NetTlsContext *tls, GError **error);

/* Our own user name: the CN of the loaded certificate. */
const char *net_tls_context_get_user(const NetTlsContext *tls);

/* A new SSL object for one connection, as the server (accepting) or
 * the client (connecting) end. The caller attaches the socket. */
SSL *net_tls_new_ssl(NetTlsContext *tls, gboolean server, GError **error);

/* The peer's user name once its certificate was verified, or NULL.
 * The handshake guarantees one: a certificate without a usable CN
 * fails verification. */
char *net_tls_peer_user(SSL *ssl);

/* Explains a failed SSL call on the connection with @peer ("address"
 * or "user at address"): @ssl_error is SSL_get_error()'s answer and
 * @saved_errno the errno right after the call. Certificate and
 * protocol failures become NET_ERROR_TLS, a closed or broken socket
 * G_IO_ERROR. Clears OpenSSL's error queue. */
void net_tls_set_error(GError **error, SSL *ssl, int ssl_error, int saved_errno,
		       const char *peer);

G_END_DECLS
