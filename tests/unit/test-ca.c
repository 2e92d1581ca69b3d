/* Tests for tracker/ca, with net/identity on the member's side: what
 * the CA issues must pass the member's check, and what it did not issue
 * for that member must fail it. */
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "identity.h"
#include "net-error.h"

typedef struct {
	char *dir;
	TrackerCa *ca;
} Fixture;

static char *path_in(const char *dir, const char *name)
{
	return g_build_filename(dir, name, NULL);
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->dir = g_dir_make_tmp("test-ca-XXXXXX", &error);
	g_assert_no_error(error);
	f->ca = tracker_ca_open(f->dir, &error);
	g_assert_no_error(error);
}

/* Removes a flat folder; tests make no subfolders but "other". */
static void remove_tree(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *child = path_in(path, name);
		if (g_file_test(child, G_FILE_TEST_IS_DIR))
			remove_tree(child);
		else
			g_assert_cmpint(g_unlink(child), ==, 0);
	}
	g_assert_cmpint(g_rmdir(path), ==, 0);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	g_clear_pointer(&f->ca, tracker_ca_free);
	remove_tree(f->dir);
	g_free(f->dir);
}

static char *read_file(const char *dir, const char *name)
{
	g_autofree char *path = path_in(dir, name);
	char *contents = NULL;

	g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
	return contents;
}

static guint file_mode(const char *dir, const char *name)
{
	g_autofree char *path = path_in(dir, name);
	struct stat st;

	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return st.st_mode & 07777;
}

/* Every certificate of @pem, in order. */
static GPtrArray *parse_chain(const char *pem)
{
	GPtrArray *certs =
		g_ptr_array_new_with_free_func((GDestroyNotify)X509_free);
	g_autoptr(BIO) bio = BIO_new_mem_buf(pem, -1);
	X509 *cert;

	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		g_ptr_array_add(certs, cert);
	ERR_clear_error();
	return certs;
}

static int verify_with_ca(X509 *leaf, const TrackerCa *ca)
{
	g_autoptr(X509) root = net_identity_parse_certificate(
		tracker_ca_get_certificate_pem(ca), "CA", NULL);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();

	X509_STORE_add_cert(store, root);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	int ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void test_create_and_reopen(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GRegex) format =
		g_regex_new("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", 0, 0, NULL);
	const char *fingerprint = tracker_ca_get_fingerprint(f->ca);

	g_assert_true(tracker_ca_was_created(f->ca));
	g_assert_true(g_regex_match(format, fingerprint, 0, NULL));
	g_assert_cmpuint(file_mode(f->dir, "ca.key"), ==, 0600);

	g_autofree char *on_disk = read_file(f->dir, "ca.crt");
	g_assert_cmpstr(on_disk, ==, tracker_ca_get_certificate_pem(f->ca));
	g_autofree char *independent =
		net_identity_fingerprint(on_disk, &error);
	g_assert_cmpstr(independent, ==, fingerprint);

	g_autoptr(TrackerCa) again = tracker_ca_open(f->dir, &error);
	g_assert_no_error(error);
	g_assert_false(tracker_ca_was_created(again));
	g_assert_cmpstr(tracker_ca_get_fingerprint(again), ==, fingerprint);
}

static void test_ca_certificate_shape(Fixture *f, gconstpointer data)
{
	g_autoptr(X509) cert = net_identity_parse_certificate(
		tracker_ca_get_certificate_pem(f->ca), "CA", NULL);
	char cn[128] = "";
	int critical = 0;

	g_assert_nonnull(cert);
	g_assert_cmpint(X509_check_ca(cert), ==, 1);
	g_assert_cmpint(X509_check_issued(cert, cert), ==, X509_V_OK);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
				  cn, sizeof cn);
	g_assert_true(g_str_has_prefix(cn, "groupfs CA "));
	g_assert_cmpuint(strlen(cn), ==, strlen("groupfs CA ") + 16);

	BASIC_CONSTRAINTS *bc =
		X509_get_ext_d2i(cert, NID_basic_constraints, &critical, NULL);
	g_assert_nonnull(bc);
	g_assert_true(bc->ca);
	g_assert_cmpint(critical, ==, 1);
	g_assert_cmpint(ASN1_INTEGER_get(bc->pathlen), ==, 0);
	BASIC_CONSTRAINTS_free(bc);
	g_assert_true(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN);
	g_assert_nonnull(X509_get0_subject_key_id(cert));

	/* Valid for a member whose clock is a minute behind. */
	time_t minute_ago = time(NULL) - 60;
	g_assert_cmpint(X509_cmp_time(X509_get0_notBefore(cert), &minute_ago),
			<, 0);

	/* Ten years (in days: the clock-skew allowance is seconds). */
	int days = 0, seconds = 0;
	g_assert_true(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert),
				     X509_get0_notAfter(cert)));
	g_assert_cmpint(days, ==, 3650);
}

static void test_two_cas_differ(Fixture *f, gconstpointer data)
{
	g_autofree char *other_dir = path_in(f->dir, "other");
	g_autoptr(TrackerCa) other = tracker_ca_open(other_dir, NULL);

	g_assert_nonnull(other);
	g_assert_cmpstr(tracker_ca_get_fingerprint(other), !=,
			tracker_ca_get_fingerprint(f->ca));
}

static void expect_open_error(const char *dir, GQuark domain, int code)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TrackerCa) ca = tracker_ca_open(dir, &error);

	g_assert_null(ca);
	g_assert_error(error, domain, code);
}

static void test_only_one_file(Fixture *f, gconstpointer data)
{
	g_autofree char *key = path_in(f->dir, "ca.key");
	g_autofree char *cert = path_in(f->dir, "ca.crt");
	g_autofree char *saved = path_in(f->dir, "saved");

	g_assert_cmpint(g_rename(cert, saved), ==, 0);
	expect_open_error(f->dir, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	/* The lone key was left alone for the operator. */
	g_assert_true(g_file_test(key, G_FILE_TEST_EXISTS));

	g_assert_cmpint(g_rename(saved, cert), ==, 0);
	g_assert_cmpint(g_rename(key, saved), ==, 0);
	expect_open_error(f->dir, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_false(g_file_test(key, G_FILE_TEST_EXISTS));
}

static void test_mismatched_pair(Fixture *f, gconstpointer data)
{
	g_autofree char *other_dir = path_in(f->dir, "other");
	g_autoptr(TrackerCa) other = tracker_ca_open(other_dir, NULL);
	g_autofree char *cert = path_in(f->dir, "ca.crt");

	g_assert_nonnull(other);
	g_assert_true(g_file_set_contents(
		cert, tracker_ca_get_certificate_pem(other), -1, NULL));
	expect_open_error(f->dir, NET_ERROR, NET_ERROR_TLS);

	g_assert_true(g_file_set_contents(cert, "garbage", -1, NULL));
	expect_open_error(f->dir, NET_ERROR, NET_ERROR_TLS);
}

static char *ensure_server(Fixture *f, const char *const *names)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(tracker_ca_ensure_server_certificate(f->ca, f->dir, names,
							   &error));
	g_assert_no_error(error);
	return read_file(f->dir, "server.crt");
}

static void test_server_certificate(Fixture *f, gconstpointer data)
{
	static const char *const names[] = {"localhost", "127.0.0.1", "::1",
					    NULL};
	g_autofree char *pem = ensure_server(f, names);
	g_autoptr(GPtrArray) chain = parse_chain(pem);

	g_assert_cmpuint(chain->len, ==, 2);
	X509 *leaf = chain->pdata[0];
	g_autoptr(X509) root = net_identity_parse_certificate(
		tracker_ca_get_certificate_pem(f->ca), "CA", NULL);
	g_assert_cmpint(X509_cmp(chain->pdata[1], root), ==, 0);
	g_assert_cmpint(verify_with_ca(leaf, f->ca), ==, 1);
	g_assert_cmpint(X509_check_host(leaf, "localhost", 0, 0, NULL), ==, 1);
	g_assert_cmpint(X509_check_ip_asc(leaf, "127.0.0.1", 0), ==, 1);
	g_assert_cmpint(X509_check_ip_asc(leaf, "::1", 0), ==, 1);
	g_assert_cmpint(X509_check_host(leaf, "example.org", 0, 0, NULL), ==,
			0);
	g_assert_cmpuint(file_mode(f->dir, "server.key"), ==, 0600);

	g_autoptr(GError) error = NULL;
	g_autofree char *key_path = path_in(f->dir, "server.key");
	g_autoptr(EVP_PKEY) key = net_identity_load_key(key_path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(X509_check_private_key(leaf, key), ==, 1);
}

static void test_server_certificate_renewal(Fixture *f, gconstpointer data)
{
	static const char *const two[] = {"localhost", "127.0.0.1", NULL};
	static const char *const one[] = {"127.0.0.1", NULL};
	static const char *const three[] = {"localhost", "127.0.0.1",
					    "Tracker.Example.org", NULL};
	g_autofree char *first = ensure_server(f, two);
	g_autofree char *key = read_file(f->dir, "server.key");

	g_autofree char *same = ensure_server(f, two);
	g_assert_cmpstr(same, ==, first);
	g_autofree char *subset = ensure_server(f, one);
	g_assert_cmpstr(subset, ==, first);

	g_autofree char *grown = ensure_server(f, three);
	g_assert_cmpstr(grown, !=, first);
	g_autoptr(GPtrArray) chain = parse_chain(grown);
	g_assert_cmpint(X509_check_host(chain->pdata[0], "tracker.example.org",
					0, 0, NULL),
			==, 1);
	g_autofree char *key_after = read_file(f->dir, "server.key");
	g_assert_cmpstr(key_after, ==, key);
}

/* A server certificate from another CA (a restored backup, a copied
 * folder) is replaced by one from this CA. */
static void test_server_certificate_other_ca(Fixture *f, gconstpointer data)
{
	static const char *const names[] = {"localhost", NULL};
	g_autofree char *other_dir = path_in(f->dir, "other");
	g_autoptr(TrackerCa) other = tracker_ca_open(other_dir, NULL);

	g_assert_true(tracker_ca_ensure_server_certificate(other, f->dir, names,
							   NULL));
	g_autofree char *foreign = read_file(f->dir, "server.crt");
	g_autofree char *mine = ensure_server(f, names);
	g_assert_cmpstr(mine, !=, foreign);
	g_autoptr(GPtrArray) chain = parse_chain(mine);
	g_assert_cmpint(verify_with_ca(chain->pdata[0], f->ca), ==, 1);
}

static void test_server_bad_names(Fixture *f, gconstpointer data)
{
	static const char *const bad[][2] = {
		{"", NULL},    {"evil,DNS:x", NULL}, {"*.example.org", NULL},
		{"a b", NULL}, {"[::1]", NULL},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;

		g_assert_false(tracker_ca_ensure_server_certificate(
			f->ca, f->dir, bad[i], &error));
		g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	}
	g_autofree char *cert = path_in(f->dir, "server.crt");
	g_assert_false(g_file_test(cert, G_FILE_TEST_EXISTS));
}

/* A member's key pair in @dir/NAME, as net_identity makes it. */
static char *member_key(Fixture *f, const char *name, char **key_path)
{
	g_autoptr(GError) error = NULL;

	*key_path = path_in(f->dir, name);
	char *pem = net_identity_ensure_key(*key_path, &error);
	g_assert_no_error(error);
	return pem;
}

static void test_user_certificate(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "alice.pem", &key_path);
	gint64 expiry = 0, checked_expiry = 0;
	g_autofree char *user = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	g_autofree char *cert = tracker_ca_sign_user(
		f->ca, "alice", pub, 3 * 86400, &expiry, &error);
	g_assert_no_error(error);
	g_assert_cmpint(expiry, >=, now + 3 * 86400);
	g_assert_cmpint(expiry, <=, now + 3 * 86400 + 5);
	g_assert_true(net_identity_check_certificate(
		cert, tracker_ca_get_certificate_pem(f->ca), key_path, &user,
		&checked_expiry, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(user, ==, "alice");
	g_assert_cmpint(checked_expiry, ==, expiry);

	/* Peers use the one certificate as TLS client and as server. */
	g_autoptr(X509) x = net_identity_parse_certificate(cert, "c", NULL);
	g_assert_cmpint(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), ==,
			1);
	g_assert_cmpint(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), ==,
			1);
	g_assert_cmpint(X509_check_ca(x), ==, 0);
}

/* The wall clock's second, read just after it turned: a few
 * milliseconds in which time() may still show the previous one. */
static gint64 just_after_second_turns(void)
{
	gint64 start = g_get_real_time();
	gint64 second = start / G_USEC_PER_SEC;
	gint64 left = (second + 1) * G_USEC_PER_SEC - start;

	if (left > 2000)
		g_usleep((gulong)(left - 2000));
	while (g_get_real_time() / G_USEC_PER_SEC == second)
		;
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* "Valid for N seconds" holds to the second by the caller's clock even
 * right at a second boundary, where an expiry computed from a clock
 * that lags would end a second early. */
static void test_expiry_at_second_boundary(Fixture *f, gconstpointer data)
{
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "k.pem", &key_path);

	for (int i = 0; i < 3; i++) {
		gint64 now = just_after_second_turns();
		gint64 expiry = 0;
		g_autofree char *cert = tracker_ca_sign_user(
			f->ca, "alice", pub, 60, &expiry, NULL);

		g_assert_nonnull(cert);
		g_assert_cmpint(expiry, >=, now + 60);
	}
}

static void test_user_certificate_utf8(Fixture *f, gconstpointer data)
{
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "k.pem", &key_path);
	g_autofree char *user = NULL;
	const char *name = "J\xc3\xbcrgen";

	g_autofree char *cert =
		tracker_ca_sign_user(f->ca, name, pub, 60, NULL, NULL);
	g_assert_true(net_identity_check_certificate(
		cert, tracker_ca_get_certificate_pem(f->ca), key_path, &user,
		NULL, NULL));
	g_assert_cmpstr(user, ==, name);
}

static void expect_check_failure(const char *cert, const char *ca_pem,
				 const char *key_path, const char *reason)
{
	g_autoptr(GError) error = NULL;
	char *user = NULL;

	g_assert_false(net_identity_check_certificate(cert, ca_pem, key_path,
						      &user, NULL, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_assert_nonnull(strstr(error->message, reason));
	g_assert_null(user);
}

static void test_other_ca_refused(Fixture *f, gconstpointer data)
{
	g_autofree char *other_dir = path_in(f->dir, "other");
	g_autoptr(TrackerCa) other = tracker_ca_open(other_dir, NULL);
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "k.pem", &key_path);
	g_autofree char *cert =
		tracker_ca_sign_user(other, "mallory", pub, 600, NULL, NULL);

	g_assert_nonnull(cert);
	expect_check_failure(cert, tracker_ca_get_certificate_pem(f->ca),
			     key_path, "not valid for this tracker");
	/* The same certificate does pass against its own CA. */
	g_assert_true(net_identity_check_certificate(
		cert, tracker_ca_get_certificate_pem(other), key_path, NULL,
		NULL, NULL));
}

static void test_other_key_refused(Fixture *f, gconstpointer data)
{
	g_autofree char *mine = NULL;
	g_autofree char *theirs = NULL;
	g_autofree char *my_pub = member_key(f, "mine.pem", &mine);
	g_autofree char *their_pub = member_key(f, "theirs.pem", &theirs);
	g_autofree char *cert =
		tracker_ca_sign_user(f->ca, "bob", their_pub, 600, NULL, NULL);

	g_assert_nonnull(cert);
	expect_check_failure(cert, tracker_ca_get_certificate_pem(f->ca), mine,
			     "another key");
}

static void test_expired_refused(Fixture *f, gconstpointer data)
{
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "k.pem", &key_path);
	const char *ca_pem = tracker_ca_get_certificate_pem(f->ca);
	g_autofree char *cert =
		tracker_ca_sign_user(f->ca, "carol", pub, 1, NULL, NULL);

	g_assert_nonnull(cert);
	/* notAfter has whole seconds: wait until it is surely past. */
	g_usleep(2100 * G_TIME_SPAN_MILLISECOND);
	expect_check_failure(cert, ca_pem, key_path, "expired");
}

static void test_bad_user_names(Fixture *f, gconstpointer data)
{
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "k.pem", &key_path);
	g_autofree char *longest = g_strnfill(64, 'u');
	g_autofree char *too_long = g_strnfill(65, 'u');
	const char *bad[] = {"", too_long, "tab\there", "bad\xff", "nl\n"};

	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_null(tracker_ca_sign_user(f->ca, bad[i], pub, 60, NULL,
						   &error));
		g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	}
	g_autofree char *cert =
		tracker_ca_sign_user(f->ca, longest, pub, 60, NULL, NULL);
	g_assert_nonnull(cert);
}

static char *public_pem(EVP_PKEY *key)
{
	g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
	char *data = NULL;

	g_assert_true(PEM_write_bio_PUBKEY(bio, key));
	long len = BIO_get_mem_data(bio, &data);
	return g_strndup(data, (gsize)len);
}

static void expect_key_refused(TrackerCa *ca, const char *pem,
			       const char *reason)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(tracker_ca_sign_user(ca, "dave", pem, 60, NULL, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_TLS);
	g_test_message("refused: %s", error->message);
	if (reason)
		g_assert_nonnull(strstr(error->message, reason));
}

static void test_key_types(Fixture *f, gconstpointer data)
{
	g_autoptr(EVP_PKEY) rsa1024 = EVP_RSA_gen(1024);
	g_autoptr(EVP_PKEY) rsa2048 = EVP_RSA_gen(2048);
	g_autoptr(EVP_PKEY) p384 = EVP_EC_gen("P-384");
	g_autoptr(EVP_PKEY) ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	g_autoptr(EVP_PKEY) x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	g_autofree char *pem_rsa1024 = public_pem(rsa1024);
	g_autofree char *pem_rsa2048 = public_pem(rsa2048);
	g_autofree char *pem_p384 = public_pem(p384);
	g_autofree char *pem_ed25519 = public_pem(ed25519);
	g_autofree char *pem_x25519 = public_pem(x25519);

	expect_key_refused(f->ca, pem_rsa1024, "1024-bit RSA");
	expect_key_refused(f->ca, pem_p384, "secp384r1");
	expect_key_refused(f->ca, pem_x25519, "X25519");

	g_autofree char *ed_cert = tracker_ca_sign_user(
		f->ca, "erin", pem_ed25519, 60, NULL, NULL);
	g_autofree char *rsa_cert = tracker_ca_sign_user(
		f->ca, "frank", pem_rsa2048, 60, NULL, NULL);
	g_assert_nonnull(ed_cert);
	g_assert_nonnull(rsa_cert);
	g_autoptr(X509) x = net_identity_parse_certificate(ed_cert, "c", NULL);
	g_assert_cmpint(EVP_PKEY_eq(X509_get0_pubkey(x), ed25519), ==, 1);
}

static void test_garbage_keys(Fixture *f, gconstpointer data)
{
	g_autofree char *key_path = NULL;
	g_autofree char *pub = member_key(f, "k.pem", &key_path);
	g_autofree char *private_pem = read_file(f->dir, "k.pem");
	g_autofree char *truncated = g_strndup(pub, strlen(pub) / 2);
	g_autofree char *huge = g_strnfill(1 << 20, 'A');
	const char *garbage[] = {
		"",
		"garbage",
		truncated,
		huge,
		private_pem,
		tracker_ca_get_certificate_pem(f->ca),
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(garbage); i++)
		expect_key_refused(f->ca, garbage[i], NULL);
}

#define ADD(path, fn) \
	g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("/tracker/ca/create-and-reopen", test_create_and_reopen);
	ADD("/tracker/ca/ca-certificate-shape", test_ca_certificate_shape);
	ADD("/tracker/ca/two-cas-differ", test_two_cas_differ);
	ADD("/tracker/ca/only-one-file", test_only_one_file);
	ADD("/tracker/ca/mismatched-pair", test_mismatched_pair);
	ADD("/tracker/ca/server-certificate", test_server_certificate);
	ADD("/tracker/ca/server-certificate-renewal",
	    test_server_certificate_renewal);
	ADD("/tracker/ca/server-certificate-other-ca",
	    test_server_certificate_other_ca);
	ADD("/tracker/ca/server-bad-names", test_server_bad_names);
	ADD("/tracker/ca/user-certificate", test_user_certificate);
	ADD("/tracker/ca/expiry-at-second-boundary",
	    test_expiry_at_second_boundary);
	ADD("/tracker/ca/user-certificate-utf8", test_user_certificate_utf8);
	ADD("/tracker/ca/other-ca-refused", test_other_ca_refused);
	ADD("/tracker/ca/other-key-refused", test_other_key_refused);
	ADD("/tracker/ca/expired-refused", test_expired_refused);
	ADD("/tracker/ca/bad-user-names", test_bad_user_names);
	ADD("/tracker/ca/key-types", test_key_types);
	ADD("/tracker/ca/garbage-keys", test_garbage_keys);
	return g_test_run();
}
