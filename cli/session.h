/*
 * session: the member's state on this machine, in one folder:
 * $GROUPFS_HOME when it is set, else $XDG_CONFIG_HOME/groupfs.
 *
 *   session.json  tracker URL, user, bearer token, its expiry, passkey
 *   ca.crt        the tracker's CA, trusted for that tracker URL only
 *   key.pem       the member's private key (net/identity.h makes it)
 *   cert.pem      the certificate the tracker's CA signed for that key
 *
 * Owns: those paths, and writing them atomically with mode 0600 in a
 * folder of mode 0700, so that a crash leaves the old file or the new
 * one and no other user can read a token. Must not: talk to the
 * network, or trust the files: a damaged session.json is an error that
 * says to log in again, never a crash.
 */
#pragma once

#include <glib.h>

#include "tracker-api.h"

G_BEGIN_DECLS

#define CLI_SESSION_FILE "session.json"
#define CLI_SESSION_CA_FILE "ca.crt"
#define CLI_SESSION_KEY_FILE "key.pem"
#define CLI_SESSION_CERT_FILE "cert.pem"

/* What session.json holds. A field is NULL (or 0) when unknown; a
 * session with a tracker but no token remembers the tracker's CA for a
 * later login. */
typedef struct {
	char *tracker; /* normalised URL; ca.crt belongs to it */
	char *user;
	char *token;
	gint64 expires; /* the token's, seconds since the epoch */
	char *passkey;
} CliSession;

void cli_session_free(CliSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliSession, cli_session_free)

/* The session folder (not created); see the header comment. */
char *cli_session_dir(void);
/* @name inside the session folder. */
char *cli_session_path(const char *name);

/* Reads session.json; an empty session when there is none. Fails on a
 * file that is unreadable, not JSON, or has fields of the wrong type. */
CliSession *cli_session_load(GError **error);
/* Writes session.json atomically, 0600, creating the folder 0700. */
gboolean cli_session_save(const CliSession *session, GError **error);

/* Creates the session folder (0700) unless it exists. */
gboolean cli_session_make_dir(GError **error);

/* Writes @contents to @name in the session folder, atomically and with
 * mode 0600, creating the folder 0700. */
gboolean cli_session_write_file(const char *name, const char *contents,
				GError **error);

/* Forgets the login (token, expiry, passkey) but keeps the tracker and
 * the user's name for the next login. */
void cli_session_clear_login(CliSession *session);

/* TRUE when the session has a token that has not expired at @now. */
gboolean cli_session_is_logged_in(const CliSession *session, gint64 now);

/* A client for the session's tracker, verified against ca.crt and
 * carrying the token. Fails with a sentence that says to log in when
 * there is no valid login. */
NetTrackerApi *cli_session_connect(const CliSession *session, GError **error);

/* When @error says the tracker refused the session's token, adds what
 * to run to log in again. */
void cli_session_explain(const CliSession *session, GError *error);

G_END_DECLS
