/*
 * password: salted, slow password hashes (PBKDF2-HMAC-SHA256, OpenSSL).
 *
 * Owns: the record format "pbkdf2-sha256$ITERATIONS$SALT$HASH" (salt and
 * hash in base64), which carries its own parameters so that they can be
 * raised without invalidating old records. Must not: log or keep a
 * password, or compare hashes in variable time.
 *
 * Hashing is deliberately slow (tenths of a second): callers on a main
 * loop run it in a worker thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
#define TRACKER_PASSWORD_DEFAULT_ITERATIONS 600000u
#define TRACKER_PASSWORD_MIN_ITERATIONS 1000u

char *tracker_password_hash(const char *password, guint iterations,
			    GError **error);

/* TRUE when @password matches @record. @needs_rehash (may be NULL) is
 * set to TRUE when the password matches but the record used fewer than
 * @iterations; FALSE otherwise. A malformed record never matches. */
gboolean tracker_password_verify(const char *password, const char *record,
				 guint iterations, gboolean *needs_rehash);

G_END_DECLS
