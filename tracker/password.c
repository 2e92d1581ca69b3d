#include "password.h"

#include <string.h>

#include <gio/gio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define PASSWORD_SCHEME "pbkdf2-sha256"
#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32
/* Far above any sane setting (about ten seconds of CPU); a record that
 * asks for more is corrupt or planted, and verifying it would let it
 * pin a worker thread. */
#define PASSWORD_MAX_ITERATIONS 10000000u
/* The longest well-formed record is well under this. */
#define PASSWORD_MAX_RECORD_LEN 128

typedef struct {
	guint iterations;
	guint8 salt[PASSWORD_SALT_LEN];
	guint8 hash[PASSWORD_HASH_LEN];
} PasswordRecord;

static gboolean derive(const char *password, const guint8 *salt,
		       guint iterations, guint8 out[PASSWORD_HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
				 PASSWORD_SALT_LEN, (int)iterations,
				 EVP_sha256(), PASSWORD_HASH_LEN, out) == 1;
}

/* Hashes @password with the given parameters. Returns the record
 * "pbkdf2-sha256$ITERATIONS$SALT$HASH". */
char *tracker_password_hash(const char *password, guint iterations,
			    GError **error)
{
	PasswordRecord rec = {.iterations = iterations};

	g_return_val_if_fail(password != NULL, NULL);
	g_return_val_if_fail(iterations >= TRACKER_PASSWORD_MIN_ITERATIONS &&
				     iterations <= PASSWORD_MAX_ITERATIONS,
			     NULL);

	if (RAND_bytes(rec.salt, sizeof rec.salt) != 1 ||
	    !derive(password, rec.salt, iterations, rec.hash)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "OpenSSL could not hash the password; "
				    "check that its random generator works.");
		return NULL;
	}
	g_autofree char *salt = g_base64_encode(rec.salt, sizeof rec.salt);
	g_autofree char *hash = g_base64_encode(rec.hash, sizeof rec.hash);
	OPENSSL_cleanse(&rec, sizeof rec);
	return g_strdup_printf(PASSWORD_SCHEME "$%u$%s$%s", iterations, salt,
			       hash);
}

/* Decodes canonical base64 of exactly @len bytes into @out. Decoding
 * and comparing the re-encoding rejects what g_base64_decode would
 * silently skip (stray characters, missing padding). */
static gboolean decode_exact(const char *text, guint8 *out, gsize len)
{
	gsize got = 0;
	g_autofree guchar *bytes = g_base64_decode(text, &got);
	if (got != len)
		return FALSE;
	g_autofree char *again = g_base64_encode(bytes, got);
	if (strcmp(again, text) != 0)
		return FALSE;
	memcpy(out, bytes, len);
	return TRUE;
}

static gboolean parse_record(const char *record, PasswordRecord *rec)
{
	guint64 iterations = 0;

	if (strnlen(record, PASSWORD_MAX_RECORD_LEN + 1) >
	    PASSWORD_MAX_RECORD_LEN)
		return FALSE;
	g_auto(GStrv) parts = g_strsplit(record, "$", 5);
	if (g_strv_length(parts) != 4 || strcmp(parts[0], PASSWORD_SCHEME) != 0)
		return FALSE;
	if (!g_ascii_string_to_unsigned(
		    parts[1], 10, TRACKER_PASSWORD_MIN_ITERATIONS,
		    PASSWORD_MAX_ITERATIONS, &iterations, NULL))
		return FALSE;
	rec->iterations = (guint)iterations;
	return decode_exact(parts[2], rec->salt, sizeof rec->salt) &&
	       decode_exact(parts[3], rec->hash, sizeof rec->hash);
}

/* Checks @password against @record in constant time once the record
 * has parsed. @needs_rehash is TRUE only for a matching record that used
 * fewer than @iterations, so that the caller stores a fresh hash. */
gboolean tracker_password_verify(const char *password, const char *record,
				 guint iterations, gboolean *needs_rehash)
{
	PasswordRecord rec;
	guint8 hash[PASSWORD_HASH_LEN];
	gboolean match;

	if (needs_rehash)
		*needs_rehash = FALSE;
	g_return_val_if_fail(password != NULL, FALSE);
	if (record == NULL || !parse_record(record, &rec))
		return FALSE;

	match = derive(password, rec.salt, rec.iterations, hash) &&
		CRYPTO_memcmp(hash, rec.hash, sizeof hash) == 0;
	OPENSSL_cleanse(hash, sizeof hash);
	if (match && needs_rehash)
		*needs_rehash = rec.iterations < iterations;
	return match;
}
