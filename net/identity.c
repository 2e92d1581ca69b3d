#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net-error.h"

/* Keys and certificates are a few kilobytes; anything far larger is
 * not one, and is refused before OpenSSL parses it. */
#define IDENTITY_MAX_PEM (64 * 1024)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE_CTX, X509_STORE_CTX_free)

/* Sets @error to "@what (OpenSSL's first reason)." and empties OpenSSL's
 * thread-local error queue, so that a stale entry never explains a
 * later failure. */
void net_identity_set_openssl_error(GError **error, const char *what)
{
	unsigned long code = ERR_peek_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;

	g_set_error(error, NET_ERROR, NET_ERROR_TLS, "%s (%s).", what,
		    reason ? reason : "no reason given by OpenSSL");
	ERR_clear_error();
}

static BIO *pem_bio(const char *pem, const char *what, GError **error)
{
	gsize len = strnlen(pem, IDENTITY_MAX_PEM + 1);

	if (len > IDENTITY_MAX_PEM) {
		g_set_error(error, NET_ERROR, NET_ERROR_LIMIT,
			    "The %s is larger than %d bytes, too large to be "
			    "one.",
			    what, IDENTITY_MAX_PEM);
		return NULL;
	}
	return BIO_new_mem_buf(pem, (int)len);
}

/* Parses the first certificate of @pem; @what names it in errors. */
X509 *net_identity_parse_certificate(const char *pem, const char *what,
				     GError **error)
{
	g_autoptr(BIO) bio = pem_bio(pem, what, error);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

	if (bio && !cert) {
		g_autofree char *msg = g_strdup_printf(
			"The %s is not a PEM certificate", what);
		net_identity_set_openssl_error(error, msg);
	}
	return cert;
}

/* Reads and parses the PEM private key at @key_path. */
EVP_PKEY *net_identity_load_key(const char *key_path, GError **error)
{
	g_autofree char *pem = NULL;
	gsize len = 0;

	if (!g_file_get_contents(key_path, &pem, &len, error))
		return NULL;
	g_autoptr(BIO) bio = pem_bio(pem, "private key file", error);
	EVP_PKEY *key =
		bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	OPENSSL_cleanse(pem, len);
	if (bio && !key) {
		g_autofree char *msg = g_strdup_printf(
			"%s does not hold an unencrypted PEM private key; "
			"move it away to make a new one",
			key_path);
		net_identity_set_openssl_error(error, msg);
	}
	return key;
}

static gboolean write_all(int fd, const char *data, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Makes a new name in @path's folder survive a power cut. */
static void sync_parent(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Creates @path holding @data with mode 0600, failing with
 * G_IO_ERROR_EXISTS rather than replace anything. The data is written
 * to a private temporary file first and then hard-linked into place, so
 * no reader ever sees a partial or world-readable key. */
static gboolean create_private_file(const char *path, const char *data,
				    gsize len, GError **error)
{
	g_autofree char *tmp = g_strconcat(path, ".XXXXXX", NULL);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	int saved;

	if (fd < 0) {
		saved = errno;
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Could not create a file beside %s: %s", path,
			    g_strerror(saved));
		return FALSE;
	}
	gboolean ok = write_all(fd, data, len) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok && link(tmp, path) == 0;
	saved = errno;
	g_unlink(tmp);
	if (ok)
		sync_parent(path);
	else
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Could not write %s: %s", path, g_strerror(saved));
	return ok;
}

static char *bio_to_string(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	return g_strndup(data, (gsize)len);
}

static gboolean create_key_file(EVP_PKEY *key, const char *path, GError **error)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());

	if (!bio ||
	    !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		net_identity_set_openssl_error(error, "Could not encode a key");
		return FALSE;
	}
	g_autofree char *pem = bio_to_string(bio);
	gsize len = strlen(pem);
	gboolean ok = create_private_file(path, pem, len, error);
	OPENSSL_cleanse(pem, len);
	return ok;
}

/* Loads @key_path, or makes a new key there. Losing a race with another
 * process that made one at the same moment is fine: its key wins. */
static EVP_PKEY *load_or_create_key(const char *key_path, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (g_file_test(key_path, G_FILE_TEST_EXISTS))
		return net_identity_load_key(key_path, error);
	g_autoptr(EVP_PKEY) key = EVP_EC_gen("P-256");
	if (!key) {
		net_identity_set_openssl_error(error, "Could not make a key");
		return NULL;
	}
	if (create_key_file(key, key_path, &local))
		return g_steal_pointer(&key);
	if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_EXISTS))
		return net_identity_load_key(key_path, error);
	g_propagate_error(error, g_steal_pointer(&local));
	return NULL;
}

/* Returns the public half of @key_path's key, making the key first when
 * there is none. */
char *net_identity_ensure_key(const char *key_path, GError **error)
{
	g_autoptr(EVP_PKEY) key = load_or_create_key(key_path, error);
	if (!key)
		return NULL;
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PUBKEY(bio, key)) {
		net_identity_set_openssl_error(
			error, "Could not encode the public key");
		return NULL;
	}
	return bio_to_string(bio);
}

/* Verifies @cert against the single trust anchor @ca at the current
 * time. Purpose "any" because a peer's certificate serves both ends of
 * a TLS connection. */
static gboolean verify_chain(X509 *cert, X509 *ca, GError **error)
{
	g_autoptr(X509_STORE) store = X509_STORE_new();
	g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();

	if (!store || !ctx || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, cert, NULL) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY)) {
		net_identity_set_openssl_error(
			error, "Could not set up certificate verification");
		return FALSE;
	}
	if (X509_verify_cert(ctx) == 1)
		return TRUE;
	g_set_error(
		error, NET_ERROR, NET_ERROR_TLS,
		"The certificate is not valid for this tracker's CA (%s); "
		"log in again to get a new one.",
		X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	ERR_clear_error();
	return FALSE;
}

static gboolean check_holds_key(X509 *cert, const char *key_path,
				GError **error)
{
	g_autoptr(EVP_PKEY) key = net_identity_load_key(key_path, error);

	if (!key)
		return FALSE;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1)
		return TRUE;
	g_set_error(error, NET_ERROR, NET_ERROR_TLS,
		    "The certificate was issued for another key than %s; "
		    "log in again to get one for this key.",
		    key_path);
	return FALSE;
}

/* The subject's common name as UTF-8; NULL when absent or when it holds
 * a NUL, which could make two different names print the same. */
static char *common_name(X509 *cert)
{
	const X509_NAME *subject = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	unsigned char *utf8 = NULL;

	if (i < 0)
		return NULL;
	const ASN1_STRING *data =
		X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
	int len = ASN1_STRING_to_UTF8(&utf8, data);
	char *name = NULL;
	if (len > 0 && memchr(utf8, '\0', (size_t)len) == NULL)
		name = g_strndup((const char *)utf8, (gsize)len);
	OPENSSL_free(utf8);
	return name;
}

/* Converts an ASN.1 time to seconds since the epoch, or -1. */
static gint64 time_to_unix(const ASN1_TIME *time)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(time, &tm))
		return -1;
	return (gint64)timegm(&tm);
}

/* Checks that @cert_pem chains to @ca_pem now and holds the public key
 * of @key_path; then reports its CN and expiry. */
gboolean net_identity_check_certificate(const char *cert_pem,
					const char *ca_pem,
					const char *key_path, char **user,
					gint64 *not_after, GError **error)
{
	g_autoptr(X509) cert =
		net_identity_parse_certificate(cert_pem, "certificate", error);
	if (!cert)
		return FALSE;
	g_autoptr(X509) ca =
		net_identity_parse_certificate(ca_pem, "CA certificate", error);
	if (!ca || !verify_chain(cert, ca, error) ||
	    !check_holds_key(cert, key_path, error))
		return FALSE;

	g_autofree char *name = common_name(cert);
	if (!name) {
		g_set_error_literal(error, NET_ERROR, NET_ERROR_TLS,
				    "The certificate names no user.");
		return FALSE;
	}
	if (user)
		*user = g_steal_pointer(&name);
	if (not_after)
		*not_after = time_to_unix(X509_get0_notAfter(cert));
	return TRUE;
}

/* Formats the SHA-256 of @cert's DER as "AB:CD:...". */
char *net_identity_certificate_fingerprint(X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!X509_digest(cert, EVP_sha256(), md, &len))
		return NULL;
	GString *out = g_string_sized_new(len * 3);
	for (unsigned int i = 0; i < len; i++)
		g_string_append_printf(out, i ? ":%02X" : "%02X", md[i]);
	return g_string_free(out, FALSE);
}

/* The fingerprint of the first certificate of @pem. */
char *net_identity_fingerprint(const char *pem, GError **error)
{
	g_autoptr(X509) cert =
		net_identity_parse_certificate(pem, "certificate", error);
	if (!cert)
		return NULL;
	char *fingerprint = net_identity_certificate_fingerprint(cert);
	if (!fingerprint)
		net_identity_set_openssl_error(
			error, "Could not hash the certificate");
	return fingerprint;
}
