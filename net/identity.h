/*
 * identity: a member's own key pair and the certificate that the
 * tracker's CA signed for it, as files on the member's machine.
 *
 * Owns: key.pem (created 0600, never sent anywhere) and the checks that
 * a certificate from the tracker really is ours and chains to the CA we
 * trust. Must not: talk to the network; the caller fetches certificates.
 */
#pragma once

#include <glib.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

G_BEGIN_DECLS

/* Creates an EC P-256 private key at @key_path (mode 0600) unless one
 * is there, and returns its public key as a PEM "PUBLIC KEY". */
char *net_identity_ensure_key(const char *key_path, GError **error);

/* Checks that @cert_pem is signed by @ca_pem, is valid now, and holds
 * the public key of @key_path. Stores its CN in @user and its expiry in
 * @not_after (both may be NULL). */
gboolean net_identity_check_certificate(const char *cert_pem,
					const char *ca_pem,
					const char *key_path, char **user,
					gint64 *not_after, GError **error);

/* SHA-256 of the first certificate in @pem, as "AB:CD:...". */
char *net_identity_fingerprint(const char *pem, GError **error);

/* The OpenSSL plumbing below is shared with the tracker's CA and the
 * TLS layer, so that keys and certificates are read, written and
 * reported in one way. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)

/* Reads the unencrypted PEM private key at @key_path. */
EVP_PKEY *net_identity_load_key(const char *key_path, GError **error);

/* Parses the first certificate of @pem (at most 64 KiB); @what names it
 * in the error ("CA certificate"). */
X509 *net_identity_parse_certificate(const char *pem, const char *what,
				     GError **error);

/* SHA-256 of @cert's DER as "AB:CD:...", or NULL if OpenSSL fails. */
char *net_identity_certificate_fingerprint(X509 *cert);

/* Sets @error (NET_ERROR_TLS) to "@what (OpenSSL's reason)." and clears
 * OpenSSL's error queue for this thread. */
void net_identity_set_openssl_error(GError **error, const char *what);

G_END_DECLS
