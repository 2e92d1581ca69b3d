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

G_END_DECLS
