/* Tests for net/identity: the member's key file, fingerprints and the
 * refusals of the certificate check. Certificates signed by the
 * tracker's CA are tested end to end in test-ca.c. */
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>

#include "identity.h"
#include "net-error.h"

/* Made with `openssl req -x509 -newkey ec -pkeyopt
 * ec_paramgen_curve:P-256 -subj "/CN=groupfs fingerprint test"`; the
 * fingerprint below is what `openssl x509 -noout -fingerprint -sha256`
 * printed for it. */
static const char kat_cert[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBmzCCAUGgAwIBAgIUICnIhWtMZ/qvjKhBdiN6uKPfB44wCgYIKoZIzj0EAwIw\n"
	"IzEhMB8GA1UEAwwYZ3JvdXBmcyBmaW5nZXJwcmludCB0ZXN0MB4XDTI2MTEyMTEz\n"
	"MjkwNFoXDTI2MTEyMjEzMjkwNFowIzEhMB8GA1UEAwwYZ3JvdXBmcyBmaW5nZXJw\n"
	"cmludCB0ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENYZb+fYAl7q7EFrE\n"
	"Q+oUPfXktWcuyO+MpsAm8jBpcmiPr5H941vd1ckVzFw43svpD3gxGxB/tkpdVrKx\n"
	"iqNLcaNTMFEwHQYDVR0OBBYEFJGAAtpsxLmiDamrYPXulpyZ/9sgMB8GA1UdIwQY\n"
	"MBaAFJGAAtpsxLmiDamrYPXulpyZ/9sgMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI\n"
	"zj0EAwIDSAAwRQIhAIibs8TNS1ZOPLNFrNeJxSYYgZDVisz98xyJVmRHz+TjAiB/\n"
	"kkZpMprsP0oq7vITQNihor8pUh3a1Ab9vA9FR/TNtA==\n"
	"-----END CERTIFICATE-----\n";
static const char kat_fingerprint[] =
	"14:1A:08:64:CA:AD:F0:4B:6C:57:96:2E:B4:A5:44:93:"
	"B5:42:27:5F:50:24:92:29:5A:A5:E8:43:FF:89:55:FC";

typedef struct {
	char *dir;
	char *key_path;
} Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("test-identity-XXXXXX", &error);
	g_assert_no_error(error);
	f->key_path = g_build_filename(f->dir, "key.pem", NULL);
}

/* The folder is flat: key.pem and whatever a test put beside it. */
static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *path = g_build_filename(f->dir, name, NULL);
		g_assert_cmpint(g_unlink(path), ==, 0);
	}
	g_assert_cmpint(g_rmdir(f->dir), ==, 0);
	g_free(f->key_path);
	g_free(f->dir);
}

static guint count_files(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	guint n = 0;

	while (dir && g_dir_read_name(dir))
		n++;
	return n;
}

static void test_ensure_key(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	struct stat st;

	g_autofree char *first = net_identity_ensure_key(f->key_path, &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(first, "-----BEGIN PUBLIC KEY-----\n"));
	g_assert_cmpint(g_stat(f->key_path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 07777, ==, 0600);
	/* No temporary file is left beside the key. */
	g_assert_cmpuint(count_files(f->dir), ==, 1);

	g_autofree char *second = net_identity_ensure_key(f->key_path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(first, ==, second);

	g_autoptr(BIO) bio = BIO_new_mem_buf(first, -1);
	g_autoptr(EVP_PKEY) key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	char group[64] = "";
	g_assert_nonnull(key);
	g_assert_true(EVP_PKEY_is_a(key, "EC"));
	g_assert_true(EVP_PKEY_get_group_name(key, group, sizeof group, NULL));
	g_assert_cmpstr(group, ==, "prime256v1");

	g_autoptr(EVP_PKEY) private =
		net_identity_load_key(f->key_path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(EVP_PKEY_eq(private, key), ==, 1);
}

static void test_keys_differ(Fixture *f, gconstpointer data)
{
	g_autofree char *other_path =
		g_build_filename(f->dir, "other.pem", NULL);
	g_autofree char *a = net_identity_ensure_key(f->key_path, NULL);
	g_autofree char *b = net_identity_ensure_key(other_path, NULL);

	g_assert_nonnull(a);
	g_assert_nonnull(b);
	g_assert_cmpstr(a, !=, b);
}

static void test_garbage_key_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	static const char garbage[] = "-----BEGIN PRIVATE KEY-----\nnope\n";

	g_assert_true(g_file_set_contents(f->key_path, garbage, -1, NULL));
	g_autofree char *pem = net_identity_ensure_key(f->key_path, &error);
	g_assert_null(pem);
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_assert_nonnull(strstr(error->message, f->key_path));

	/* The broken file is the member's to inspect, not ours to replace. */
	g_autofree char *after = NULL;
	g_assert_true(g_file_get_contents(f->key_path, &after, NULL, NULL));
	g_assert_cmpstr(after, ==, garbage);
}

static void test_unwritable_folder(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path =
		g_build_filename(f->dir, "missing", "key.pem", NULL);

	g_assert_null(net_identity_ensure_key(path, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void test_fingerprint_known(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *fp = net_identity_fingerprint(kat_cert, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(fp, ==, kat_fingerprint);
}

static void test_fingerprint_first_only(void)
{
	g_autofree char *chain = g_strconcat(kat_cert, "garbage\n", NULL);
	g_autofree char *fp = net_identity_fingerprint(chain, NULL);

	g_assert_cmpstr(fp, ==, kat_fingerprint);
}

/* Inputs that are not a certificate; each must give an error. */
static char *garbage_pem(guint i)
{
	switch (i) {
	case 0:
		return g_strdup("");
	case 1:
		return g_strdup("garbage");
	case 2:
		return g_strndup(kat_cert, sizeof kat_cert / 2);
	case 3:
		return g_strdup("-----BEGIN CERTIFICATE-----\n!!!!\n"
				"-----END CERTIFICATE-----\n");
	case 4:
		return g_strdup("-----BEGIN CERTIFICATE-----\nMIIB\n"
				"-----END CERTIFICATE-----\n");
	default:
		return g_strnfill(1 << 20, 'A');
	}
}

#define N_GARBAGE 6

static void test_fingerprint_garbage(void)
{
	for (guint i = 0; i < N_GARBAGE; i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *pem = garbage_pem(i);

		g_assert_null(net_identity_fingerprint(pem, &error));
		g_assert_nonnull(error);
	}
}

static void test_check_garbage(Fixture *f, gconstpointer data)
{
	g_autofree char *pub = net_identity_ensure_key(f->key_path, NULL);

	g_assert_nonnull(pub);
	for (guint i = 0; i < N_GARBAGE; i++) {
		g_autoptr(GError) e1 = NULL;
		g_autoptr(GError) e2 = NULL;
		g_autofree char *pem = garbage_pem(i);
		char *user = NULL;

		g_assert_false(net_identity_check_certificate(
			pem, kat_cert, f->key_path, &user, NULL, &e1));
		g_assert_nonnull(e1);
		g_assert_false(net_identity_check_certificate(
			kat_cert, pem, f->key_path, &user, NULL, &e2));
		g_assert_nonnull(e2);
		g_assert_null(user);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/net/identity/ensure-key", Fixture, NULL, fixture_set_up,
		   test_ensure_key, fixture_tear_down);
	g_test_add("/net/identity/keys-differ", Fixture, NULL, fixture_set_up,
		   test_keys_differ, fixture_tear_down);
	g_test_add("/net/identity/garbage-key-file", Fixture, NULL,
		   fixture_set_up, test_garbage_key_file, fixture_tear_down);
	g_test_add("/net/identity/unwritable-folder", Fixture, NULL,
		   fixture_set_up, test_unwritable_folder, fixture_tear_down);
	g_test_add_func("/net/identity/fingerprint-known",
			test_fingerprint_known);
	g_test_add_func("/net/identity/fingerprint-first-only",
			test_fingerprint_first_only);
	g_test_add_func("/net/identity/fingerprint-garbage",
			test_fingerprint_garbage);
	g_test_add("/net/identity/check-garbage", Fixture, NULL, fixture_set_up,
		   test_check_garbage, fixture_tear_down);
	return g_test_run();
}
