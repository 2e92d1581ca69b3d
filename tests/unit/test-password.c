/* Tests for tracker/password: the record format, its parser's
 * refusals and an independent known answer. */
#include <string.h>

#include "password.h"

/* Fast enough for tests; the floor of what the module accepts. */
#define TEST_ITERATIONS TRACKER_PASSWORD_MIN_ITERATIONS

/* Computed independently with Python 3's hashlib at test-writing time:
 *   salt = b"groupfs-kat-salt"
 *   hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple",
 *                       salt, 4096, 32)
 * with salt and hash in standard base64. */
static const char kat_record[] = "pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
				 "ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=";
/* Same salt, "pässwörd" as UTF-8, 1000 iterations. */
static const char kat_utf8_record[] =
	"pbkdf2-sha256$1000$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"gVgu3o7PhlZmuxnxQ/Cqkhrj2EGCy6gOYAwkB509bW8=";

static void test_roundtrip(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *record =
		tracker_password_hash("hunter2", TEST_ITERATIONS, &error);
	gboolean rehash = TRUE;

	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(record, "pbkdf2-sha256$1000$"));
	g_assert_true(tracker_password_verify("hunter2", record,
					      TEST_ITERATIONS, &rehash));
	g_assert_false(rehash);
	g_assert_false(tracker_password_verify("hunter3", record,
					       TEST_ITERATIONS, &rehash));
	g_assert_false(
		tracker_password_verify("", record, TEST_ITERATIONS, NULL));
	g_assert_false(tracker_password_verify("hunter2 ", record,
					       TEST_ITERATIONS, NULL));
}

static void test_known_answer(void)
{
	g_assert_true(tracker_password_verify("correct horse battery staple",
					      kat_record, 4096, NULL));
	g_assert_false(tracker_password_verify("correct horse battery stapl",
					       kat_record, 4096, NULL));
	g_assert_true(tracker_password_verify("p\xc3\xa4ssw\xc3\xb6rd",
					      kat_utf8_record, 1000, NULL));
}

static void test_salts_differ(void)
{
	g_autofree char *a =
		tracker_password_hash("same", TEST_ITERATIONS, NULL);
	g_autofree char *b =
		tracker_password_hash("same", TEST_ITERATIONS, NULL);

	g_assert_nonnull(a);
	g_assert_nonnull(b);
	g_assert_cmpstr(a, !=, b);
	g_assert_true(tracker_password_verify("same", a, 0, NULL));
	g_assert_true(tracker_password_verify("same", b, 0, NULL));
}

static void test_needs_rehash(void)
{
	gboolean rehash = FALSE;

	g_assert_true(tracker_password_verify("correct horse battery staple",
					      kat_record, 4097, &rehash));
	g_assert_true(rehash);
	g_assert_true(tracker_password_verify("correct horse battery staple",
					      kat_record, 4096, &rehash));
	g_assert_false(rehash);
	/* A wrong password says nothing about the record's strength. */
	rehash = TRUE;
	g_assert_false(
		tracker_password_verify("wrong", kat_record, 1000000, &rehash));
	g_assert_false(rehash);
}

/* Each of these is the known-answer record with one thing broken, so a
 * parser that ignored the break would accept the right password. */
static const char *const malformed[] = {
	"",
	"pbkdf2-sha256",
	"pbkdf2-sha512$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"PBKDF2-SHA256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	/* iterations: zero, absurd, signed, not a number, missing */
	"pbkdf2-sha256$0$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$4000000000$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$99999999999999999999999$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$+4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$4096x$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	/* salt: bad character, no padding, one byte short, empty */
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2Fs*dA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2Fs$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	"pbkdf2-sha256$4096$$ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=",
	/* hash: truncated, extended, missing, extra field */
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybc",
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0AAAA",
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$",
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=$",
	/* whitespace the base64 decoder would otherwise skip */
	"pbkdf2-sha256$4096$Z3JvdXBmcy1rYXQtc2FsdA==$"
	"ACO2sBMgF/x/H0F8GuQrI2WWGavAhdOdTP/ylybcTV0=\n",
};

static void test_malformed(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(malformed); i++) {
		gboolean rehash = TRUE;

		g_test_message("record %" G_GSIZE_FORMAT ": %s", i,
			       malformed[i]);
		g_assert_false(
			tracker_password_verify("correct horse battery staple",
						malformed[i], 4096, &rehash));
		g_assert_false(rehash);
	}
	g_assert_false(tracker_password_verify("x", NULL, 4096, NULL));
}

static void test_huge_record(void)
{
	g_autofree char *big = g_strnfill(1 << 20, 'A');
	g_autofree char *record =
		g_strconcat("pbkdf2-sha256$4096$", big, "$", big, NULL);

	g_assert_false(tracker_password_verify("x", record, 4096, NULL));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tracker/password/roundtrip", test_roundtrip);
	g_test_add_func("/tracker/password/known-answer", test_known_answer);
	g_test_add_func("/tracker/password/salts-differ", test_salts_differ);
	g_test_add_func("/tracker/password/needs-rehash", test_needs_rehash);
	g_test_add_func("/tracker/password/malformed", test_malformed);
	g_test_add_func("/tracker/password/huge-record", test_huge_record);
	return g_test_run();
}
