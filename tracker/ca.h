/*
 * ca: the certificate authority of a tracker installation.
 *
 * Owns: the CA key and certificate in the tracker's data folder
 * (ca.key mode 0600, ca.crt), the tracker's own HTTPS certificate when
 * the operator brings none, and the signing of members' short-lived
 * client certificates. Must not: accept anything but a public key from
 * a client (the private key never leaves the member's machine), or
 * sign a name that the caller did not authenticate.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _TrackerCa TrackerCa;

/* Loads DIR/ca.crt and DIR/ca.key, or creates them (EC P-256, 10 years)
 * when neither exists. Fails when only one of them exists. */
TrackerCa *tracker_ca_open(const char *dir, GError **error);
void tracker_ca_free(TrackerCa *ca);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerCa, tracker_ca_free)

/* TRUE when tracker_ca_open created a new CA. */
gboolean tracker_ca_was_created(const TrackerCa *ca);
const char *tracker_ca_get_certificate_pem(const TrackerCa *ca);
/* SHA-256 of the CA certificate's DER, as "AB:CD:...". */
const char *tracker_ca_get_fingerprint(const TrackerCa *ca);

/* Makes DIR/server.crt (leaf followed by the CA) and DIR/server.key for
 * @hostnames (DNS names or IP literals, as subjectAltNames), unless
 * they exist and already cover every name. */
gboolean tracker_ca_ensure_server_certificate(TrackerCa *ca, const char *dir,
					      const char *const *hostnames,
					      GError **error);

/* Signs a client certificate with CN = @user for @public_key_pem (a
 * PEM "PUBLIC KEY", EC or Ed25519), valid for @valid_seconds from now.
 * Returns the PEM and stores its expiry in @not_after. */
char *tracker_ca_sign_user(TrackerCa *ca, const char *user,
			   const char *public_key_pem, guint valid_seconds,
			   gint64 *not_after, GError **error);

G_END_DECLS
