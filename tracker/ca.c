#include "ca.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "identity.h"
#include "net-error.h"

#define DAY_SECONDS (24 * 60 * 60)
#define CA_LIFETIME (3650 * (gint64)DAY_SECONDS)
#define SERVER_LIFETIME (730 * (gint64)DAY_SECONDS)
/* A server certificate this close to its end is renewed at startup
 * rather than left to expire while the tracker runs. */
#define SERVER_RENEW_MARGIN (30 * (gint64)DAY_SECONDS)
/* Every certificate starts a little in the past, because the clocks of
 * the machines that verify it may run behind the tracker's. */
#define CLOCK_SKEW (5 * 60)
#define USER_NAME_MAX 64
/* EVP_PKEY_get_bits of RSA keys we certify; larger ones only cost the
 * peers that verify them. */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
/* An RSA-8192 public key in PEM is under 1.5 KiB. */
#define USER_KEY_PEM_MAX 4096

struct _TrackerCa {
	EVP_PKEY *key;
	X509 *cert;
	char *cert_pem;
	char *fingerprint;
	gboolean created;
};

typedef struct {
	int nid;
	const char *value;
} CaExtension;

static const CaExtension ca_extensions[] = {
	{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
	{NID_key_usage, "critical,keyCertSign,cRLSign"},
	{NID_subject_key_identifier, "hash"},
	{0, NULL},
};

static const CaExtension server_extensions[] = {
	{NID_basic_constraints, "critical,CA:FALSE"},
	{NID_key_usage, "critical,digitalSignature"},
	{NID_ext_key_usage, "serverAuth"},
	{NID_subject_key_identifier, "hash"},
	{NID_authority_key_identifier, "keyid:always"},
	{0, NULL},
};

/* A member's certificate serves both ends of a peer connection. */
static const CaExtension user_extensions[] = {
	{NID_basic_constraints, "critical,CA:FALSE"},
	{NID_key_usage, "critical,digitalSignature"},
	{NID_ext_key_usage, "clientAuth,serverAuth"},
	{NID_subject_key_identifier, "hash"},
	{NID_authority_key_identifier, "keyid:always"},
	{0, NULL},
};

/* The wall clock in whole seconds, read as the rest of groupfs reads it.
 * Not time(): on Linux it reads the coarse clock, which still shows the
 * previous second for a few milliseconds after gettimeofday has moved
 * on, so a certificate asked for "N seconds from now" could end one
 * second before a caller that read the clock just before asking. */
static time_t wall_clock_now(void)
{
	return (time_t)(g_get_real_time() / G_USEC_PER_SEC);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIGNUM, BN_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free)

void tracker_ca_free(TrackerCa *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	g_free(ca->cert_pem);
	g_free(ca->fingerprint);
	g_free(ca);
}

gboolean tracker_ca_was_created(const TrackerCa *ca)
{
	return ca->created;
}

const char *tracker_ca_get_certificate_pem(const TrackerCa *ca)
{
	return ca->cert_pem;
}

const char *tracker_ca_get_fingerprint(const TrackerCa *ca)
{
	return ca->fingerprint;
}

static char *certificate_to_pem(X509 *cert)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
	char *data = NULL;

	if (!bio || !PEM_write_bio_X509(bio, cert))
		return NULL;
	long len = BIO_get_mem_data(bio, &data);
	return g_strndup(data, (gsize)len);
}

/* 128 random bits with the top one set: never zero, never negative,
 * and never the same twice in practice (RFC 5280 4.1.2.2). */
static gboolean set_random_serial(X509 *cert)
{
	g_autoptr(BIGNUM) serial = BN_new();

	return serial &&
	       BN_rand(serial, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
	       BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
}

static gboolean add_extensions(X509 *cert, X509 *issuer,
			       const CaExtension *extensions)
{
	X509V3_CTX v3;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	for (const CaExtension *e = extensions; e->value; e++) {
		X509_EXTENSION *ext =
			X509V3_EXT_nconf_nid(NULL, &v3, e->nid, e->value);
		gboolean ok = ext && X509_add_ext(cert, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

/* A certificate for @key named @common_name, valid from @not_before to
 * @not_after, with @extensions but not yet signed. @issuer NULL makes
 * it self-issued. */
static X509 *new_certificate(EVP_PKEY *key, const char *common_name,
			     X509 *issuer, time_t not_before, time_t not_after)
{
	g_autoptr(X509) cert = X509_new();

	if (!cert || !X509_set_version(cert, X509_VERSION_3) ||
	    !set_random_serial(cert) || !X509_set_pubkey(cert, key) ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), not_after))
		return NULL;
	X509_NAME *subject = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)common_name, -1,
					-1, 0))
		return NULL;
	X509_NAME *issuer_name =
		issuer ? X509_get_subject_name(issuer) : subject;
	if (!X509_set_issuer_name(cert, issuer_name))
		return NULL;
	return g_steal_pointer(&cert);
}

static gboolean finish_certificate(X509 *cert, X509 *issuer,
				   EVP_PKEY *issuer_key,
				   const CaExtension *extensions)
{
	return add_extensions(cert, issuer, extensions) &&
	       X509_sign(cert, issuer_key, EVP_sha256()) > 0;
}

static X509 *make_ca_certificate(EVP_PKEY *key)
{
	guint64 id = 0;
	time_t now = wall_clock_now();

	/* A random name keeps two installations' CAs apart in members'
	 * trust stores and in error messages. */
	if (RAND_bytes((unsigned char *)&id, sizeof id) != 1)
		return NULL;
	g_autofree char *name =
		g_strdup_printf("groupfs CA %016" G_GINT64_MODIFIER "x", id);
	g_autoptr(X509) cert = new_certificate(
		key, name, NULL, now - CLOCK_SKEW, now + CA_LIFETIME);
	if (!cert || !finish_certificate(cert, cert, key, ca_extensions))
		return NULL;
	return g_steal_pointer(&cert);
}

static gboolean write_public_file(const char *path, const char *contents,
				  GError **error)
{
	return g_file_set_contents_full(path, contents, -1,
					G_FILE_SET_CONTENTS_CONSISTENT, 0644,
					error);
}

static gboolean create_ca(TrackerCa *ca, const char *key_path,
			  const char *cert_path, GError **error)
{
	g_autofree char *public_pem = net_identity_ensure_key(key_path, error);

	if (!public_pem || !(ca->key = net_identity_load_key(key_path, error)))
		return FALSE;
	if (!(ca->cert = make_ca_certificate(ca->key)) ||
	    !(ca->cert_pem = certificate_to_pem(ca->cert))) {
		net_identity_set_openssl_error(
			error, "Could not make the CA certificate");
	} else if (write_public_file(cert_path, ca->cert_pem, error)) {
		ca->created = TRUE;
		return TRUE;
	}
	/* A key without its certificate would block the next start. */
	g_unlink(key_path);
	return FALSE;
}

static gboolean load_ca(TrackerCa *ca, const char *key_path,
			const char *cert_path, GError **error)
{
	if (!g_file_get_contents(cert_path, &ca->cert_pem, NULL, error))
		return FALSE;
	ca->cert =
		net_identity_parse_certificate(ca->cert_pem, cert_path, error);
	if (!ca->cert)
		return FALSE;
	ca->key = net_identity_load_key(key_path, error);
	if (!ca->key)
		return FALSE;
	if (X509_check_private_key(ca->cert, ca->key) != 1 ||
	    X509_check_ca(ca->cert) == 0) {
		ERR_clear_error();
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "%s is not a CA certificate for the key in %s; "
			    "restore the pair from a backup.",
			    cert_path, key_path);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_pair_complete(const char *key_path, const char *cert_path,
				    GError **error)
{
	gboolean have_key = g_file_test(key_path, G_FILE_TEST_EXISTS);
	gboolean have_cert = g_file_test(cert_path, G_FILE_TEST_EXISTS);

	if (have_key == have_cert)
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
		    "%s exists but %s does not; restore the missing file from "
		    "a backup, or move %s away to create a new CA (members "
		    "will then have to trust the new one).",
		    have_key ? key_path : cert_path,
		    have_key ? cert_path : key_path,
		    have_key ? key_path : cert_path);
	return FALSE;
}

/* Opens the CA in @dir (created 0700 if missing), making a new one when
 * @dir holds neither ca.key nor ca.crt. */
TrackerCa *tracker_ca_open(const char *dir, GError **error)
{
	g_autofree char *key_path = g_build_filename(dir, "ca.key", NULL);
	g_autofree char *cert_path = g_build_filename(dir, "ca.crt", NULL);
	g_autoptr(TrackerCa) ca = g_new0(TrackerCa, 1);

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Could not create %s: %s", dir, g_strerror(saved));
		return NULL;
	}
	if (!check_pair_complete(key_path, cert_path, error))
		return NULL;
	gboolean ok = g_file_test(cert_path, G_FILE_TEST_EXISTS)
			      ? load_ca(ca, key_path, cert_path, error)
			      : create_ca(ca, key_path, cert_path, error);
	if (!ok)
		return NULL;
	ca->fingerprint = net_identity_certificate_fingerprint(ca->cert);
	if (!ca->fingerprint) {
		net_identity_set_openssl_error(error, "Could not hash the CA");
		return NULL;
	}
	return g_steal_pointer(&ca);
}

/* The ASCII form of a DNS name, or NULL if it is not one. IP literals
 * are handled before this; wildcards are never issued. */
static char *dns_name(const char *hostname)
{
	g_autofree char *ascii = g_hostname_to_ascii(hostname);

	if (!ascii || !*ascii || strlen(ascii) > 253)
		return NULL;
	for (const char *p = ascii; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
			return NULL;
	return g_ascii_strdown(ascii, -1);
}

/* @hostname has passed check_hostnames. */
static GENERAL_NAME *alt_name(const char *hostname)
{
	g_autofree char *dns = NULL;
	GENERAL_NAME *name = GENERAL_NAME_new();

	if (name && g_hostname_is_ip_address(hostname)) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(hostname);
		if (ip) {
			GENERAL_NAME_set0_value(name, GEN_IPADD, ip);
			return name;
		}
	} else if (name && (dns = dns_name(hostname))) {
		ASN1_IA5STRING *text = ASN1_IA5STRING_new();
		if (text && ASN1_STRING_set(text, dns, -1)) {
			GENERAL_NAME_set0_value(name, GEN_DNS, text);
			return name;
		}
		ASN1_IA5STRING_free(text);
	}
	GENERAL_NAME_free(name);
	return NULL;
}

static gboolean add_alt_names(X509 *cert, const char *const *hostnames)
{
	g_autoptr(GENERAL_NAMES) names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *name;

	for (gsize i = 0; names && hostnames[i]; i++) {
		if (!(name = alt_name(hostnames[i])))
			return FALSE;
		if (!sk_GENERAL_NAME_push(names, name)) {
			GENERAL_NAME_free(name);
			return FALSE;
		}
	}
	return names && X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0,
					  X509V3_ADD_DEFAULT) == 1;
}

static gboolean check_hostnames(const char *const *hostnames, GError **error)
{
	for (gsize i = 0; hostnames[i]; i++) {
		g_autofree char *dns = NULL;
		if (g_hostname_is_ip_address(hostnames[i]) ||
		    (dns = dns_name(hostnames[i])))
			continue;
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "\"%s\" is neither a host name nor an IP address.",
			    hostnames[i]);
		return FALSE;
	}
	return TRUE;
}

static gboolean covers_name(X509 *cert, const char *hostname)
{
	if (g_hostname_is_ip_address(hostname))
		return X509_check_ip_asc(cert, hostname, 0) == 1;
	g_autofree char *dns = dns_name(hostname);
	return dns &&
	       X509_check_host(cert, dns, 0,
			       X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1;
}

/* TRUE when @cert_path's leaf is ours to keep: issued and signed by this
 * CA, for @key, not near its end, and naming every host. */
static gboolean server_certificate_current(TrackerCa *ca, const char *cert_path,
					   EVP_PKEY *key,
					   const char *const *hostnames)
{
	g_autofree char *pem = NULL;
	time_t renew_at = wall_clock_now() + SERVER_RENEW_MARGIN;

	if (!g_file_get_contents(cert_path, &pem, NULL, NULL))
		return FALSE;
	g_autoptr(X509) cert =
		net_identity_parse_certificate(pem, cert_path, NULL);
	gboolean ok = cert && X509_check_issued(ca->cert, cert) == X509_V_OK &&
		      X509_verify(cert, ca->key) == 1 &&
		      X509_check_private_key(cert, key) == 1 &&
		      X509_cmp_time(X509_get0_notAfter(cert), &renew_at) > 0;
	for (gsize i = 0; ok && hostnames[i]; i++)
		ok = covers_name(cert, hostnames[i]);
	ERR_clear_error();
	return ok;
}

static char *make_server_certificate(TrackerCa *ca, EVP_PKEY *key,
				     const char *const *hostnames,
				     GError **error)
{
	time_t now = wall_clock_now();
	g_autoptr(X509) cert =
		new_certificate(key, "groupfs tracker", ca->cert,
				now - CLOCK_SKEW, now + SERVER_LIFETIME);

	g_autofree char *leaf = NULL;

	if (!cert || !add_alt_names(cert, hostnames) ||
	    !finish_certificate(cert, ca->cert, ca->key, server_extensions) ||
	    !(leaf = certificate_to_pem(cert))) {
		net_identity_set_openssl_error(
			error, "Could not make the server certificate");
		return NULL;
	}
	return g_strconcat(leaf, ca->cert_pem, NULL);
}

/* Keeps DIR/server.key (made once) and renews DIR/server.crt when it no
 * longer fits: another CA, another key, a missing name, or under 30
 * days left. */
gboolean tracker_ca_ensure_server_certificate(TrackerCa *ca, const char *dir,
					      const char *const *hostnames,
					      GError **error)
{
	g_autofree char *key_path = g_build_filename(dir, "server.key", NULL);
	g_autofree char *cert_path = g_build_filename(dir, "server.crt", NULL);

	g_return_val_if_fail(hostnames && hostnames[0], FALSE);
	if (!check_hostnames(hostnames, error))
		return FALSE;
	g_autofree char *public_pem = net_identity_ensure_key(key_path, error);
	if (!public_pem)
		return FALSE;
	g_autoptr(EVP_PKEY) key = net_identity_load_key(key_path, error);
	if (!key)
		return FALSE;
	if (server_certificate_current(ca, cert_path, key, hostnames))
		return TRUE;
	g_autofree char *chain =
		make_server_certificate(ca, key, hostnames, error);
	return chain && write_public_file(cert_path, chain, error);
}

static gboolean check_user_name(const char *user, GError **error)
{
	gsize len = strnlen(user, USER_NAME_MAX + 1);
	gboolean ok = len > 0 && len <= USER_NAME_MAX &&
		      g_utf8_validate(user, (gssize)len, NULL);

	for (const char *p = user; ok && *p; p = g_utf8_next_char(p))
		ok = !g_unichar_iscntrl(g_utf8_get_char(p));
	if (!ok)
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "A certificate's user name must be 1 to %d bytes "
			    "of printable UTF-8.",
			    USER_NAME_MAX);
	return ok;
}

static gboolean check_key_type(EVP_PKEY *key, GError **error)
{
	char group[64] = "";
	int bits = EVP_PKEY_get_bits(key);

	if (EVP_PKEY_is_a(key, "ED25519"))
		return TRUE;
	if (EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_group_name(key, group, sizeof group, NULL) &&
	    strcmp(group, "prime256v1") == 0)
		return TRUE;
	if (EVP_PKEY_is_a(key, "RSA") && bits >= RSA_MIN_BITS &&
	    bits <= RSA_MAX_BITS)
		return TRUE;
	g_set_error(error, NET_ERROR, NET_ERROR_TLS,
		    "Cannot certify a %d-bit %s%s%s key; use EC P-256, Ed25519 "
		    "or RSA of %d to %d bits.",
		    bits, EVP_PKEY_get0_type_name(key), *group ? " " : "",
		    group, RSA_MIN_BITS, RSA_MAX_BITS);
	return FALSE;
}

/* Parses a member's PEM "PUBLIC KEY" and checks that it is one we sign.
 * A private key is not accepted: PEM_read_bio_PUBKEY skips it. */
static EVP_PKEY *parse_user_key(const char *public_key_pem, GError **error)
{
	gsize len = strnlen(public_key_pem, USER_KEY_PEM_MAX + 1);

	if (len > USER_KEY_PEM_MAX) {
		g_set_error(error, NET_ERROR, NET_ERROR_TLS,
			    "The public key is larger than %d bytes, too large "
			    "to be one.",
			    USER_KEY_PEM_MAX);
		return NULL;
	}
	g_autoptr(BIO) bio = BIO_new_mem_buf(public_key_pem, (int)len);
	g_autoptr(EVP_PKEY) key =
		bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	if (!key) {
		net_identity_set_openssl_error(
			error, "The public key is not a PEM \"PUBLIC KEY\"");
		return NULL;
	}
	if (!check_key_type(key, error))
		return NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	gboolean valid = ctx && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!valid) {
		net_identity_set_openssl_error(error,
					       "The public key is not valid");
		return NULL;
	}
	return g_steal_pointer(&key);
}

/* Signs a member's certificate; the caller has authenticated @user. */
char *tracker_ca_sign_user(TrackerCa *ca, const char *user,
			   const char *public_key_pem, guint valid_seconds,
			   gint64 *not_after, GError **error)
{
	time_t now = wall_clock_now();

	g_return_val_if_fail(user && public_key_pem && valid_seconds > 0, NULL);
	if (!check_user_name(user, error))
		return NULL;
	g_autoptr(EVP_PKEY) key = parse_user_key(public_key_pem, error);
	if (!key)
		return NULL;
	g_autoptr(X509) cert =
		new_certificate(key, user, ca->cert, now - CLOCK_SKEW,
				now + (time_t)valid_seconds);
	char *pem = NULL;
	if (cert &&
	    finish_certificate(cert, ca->cert, ca->key, user_extensions))
		pem = certificate_to_pem(cert);
	if (!pem) {
		net_identity_set_openssl_error(
			error, "Could not sign the certificate");
		return NULL;
	}
	if (not_after)
		*not_after = (gint64)now + valid_seconds;
	return pem;
}
