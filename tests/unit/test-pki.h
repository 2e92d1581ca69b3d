/* A throwaway PKI for the TLS tests (test-tls.c, test-conn.c): a
 * tracker CA in a temporary folder, and members' key and certificate
 * files minted on demand, including certificates that the tracker
 * would never issue (expired, self-signed, nameless). */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "identity.h"
#include "tls.h"

#define TEST_PKI_DAY (24 * 60 * 60)

typedef struct {
	char *dir;
	TrackerCa *ca;
	char *ca_file;
} TestPki;

static inline char *test_pki_path(const TestPki *pki, const char *name,
				  const char *ext)
{
	g_autofree char *file = g_strconcat(name, ext, NULL);

	return g_build_filename(pki->dir, file, NULL);
}

/* A CA in @pki->dir/@name/ (ca.crt, ca.key). */
static inline TrackerCa *test_pki_open_ca(const TestPki *pki, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_build_filename(pki->dir, name, NULL);

	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	TrackerCa *ca = tracker_ca_open(dir, &error);
	g_assert_no_error(error);
	return ca;
}

static inline void test_pki_init(TestPki *pki)
{
	g_autoptr(GError) error = NULL;

	pki->dir = g_dir_make_tmp("test-pki-XXXXXX", &error);
	g_assert_no_error(error);
	pki->ca = test_pki_open_ca(pki, "ca");
	pki->ca_file = g_build_filename(pki->dir, "ca", "ca.crt", NULL);
}

static inline void test_pki_remove_tree(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *child = g_build_filename(path, name, NULL);
		if (g_file_test(child, G_FILE_TEST_IS_DIR))
			test_pki_remove_tree(child);
		else
			g_assert_cmpint(g_unlink(child), ==, 0);
	}
	g_assert_cmpint(g_rmdir(path), ==, 0);
}

static inline void test_pki_clear(TestPki *pki)
{
	g_clear_pointer(&pki->ca, tracker_ca_free);
	test_pki_remove_tree(pki->dir);
	g_clear_pointer(&pki->dir, g_free);
	g_clear_pointer(&pki->ca_file, g_free);
}

static inline void test_pki_write(const char *path, const char *pem)
{
	g_autoptr(GError) error = NULL;

	g_file_set_contents(path, pem, -1, &error);
	g_assert_no_error(error);
}

/* @name.key and @name.crt, the certificate signed by @ca for @user. */
static inline void test_pki_issue(const TestPki *pki, TrackerCa *ca,
				  const char *name, const char *user)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *key_path = test_pki_path(pki, name, ".key");
	g_autofree char *cert_path = test_pki_path(pki, name, ".crt");
	g_autofree char *public_key = net_identity_ensure_key(key_path, &error);

	g_assert_no_error(error);
	g_autofree char *pem = tracker_ca_sign_user(ca, user, public_key,
						    TEST_PKI_DAY, NULL, &error);
	g_assert_no_error(error);
	test_pki_write(cert_path, pem);
}

static inline void test_pki_set_time(ASN1_TIME *field, long offset)
{
	g_assert_nonnull(X509_time_adj_ex(field, 0, offset, NULL));
}

/* @name.key and @name.crt, the certificate built by hand: CN @user (none
 * if NULL), valid from @from to @to seconds from now, signed by the CA
 * of @pki if @by_ca, else by its own key. */
static inline void test_pki_mint(const TestPki *pki, const char *name,
				 const char *user, long from, long to,
				 gboolean by_ca)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *key_path = test_pki_path(pki, name, ".key");
	g_autofree char *cert_path = test_pki_path(pki, name, ".crt");
	g_autofree char *ca_key_path =
		g_build_filename(pki->dir, "ca", "ca.key", NULL);
	g_autofree char *unused = net_identity_ensure_key(key_path, &error);
	g_autoptr(EVP_PKEY) key = net_identity_load_key(key_path, &error);
	g_autoptr(EVP_PKEY) ca_key = net_identity_load_key(ca_key_path, &error);
	g_autoptr(X509) ca = net_identity_parse_certificate(
		tracker_ca_get_certificate_pem(pki->ca), "CA", &error);
	g_autoptr(X509) cert = X509_new();
	X509_NAME *subject = X509_get_subject_name(cert);

	g_assert_no_error(error);
	g_assert_true(X509_set_version(cert, X509_VERSION_3));
	g_assert_true(ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242));
	if (user)
		g_assert_true(X509_NAME_add_entry_by_txt(
			subject, "CN", MBSTRING_UTF8,
			(const unsigned char *)user, -1, -1, 0));
	g_assert_true(X509_set_issuer_name(
		cert, by_ca ? X509_get_subject_name(ca) : subject));
	test_pki_set_time(X509_getm_notBefore(cert), from);
	test_pki_set_time(X509_getm_notAfter(cert), to);
	g_assert_true(X509_set_pubkey(cert, key));
	g_assert_cmpint(X509_sign(cert, by_ca ? ca_key : key, EVP_sha256()), >,
			0);

	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	g_assert_true(PEM_write_bio_X509(bio, cert));
	long len = BIO_get_mem_data(bio, &pem);
	g_autofree char *text = g_strndup(pem, (gsize)len);
	test_pki_write(cert_path, text);
}

/* A TLS context for the files of test_pki_issue or test_pki_mint. */
static inline NetTlsContext *test_pki_context(const TestPki *pki,
					      const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *key_path = test_pki_path(pki, name, ".key");
	g_autofree char *cert_path = test_pki_path(pki, name, ".crt");
	NetTlsContext *tls =
		net_tls_context_new(pki->ca_file, cert_path, key_path, &error);

	g_assert_no_error(error);
	return tls;
}
