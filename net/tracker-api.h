/*
 * tracker-api: a client for the tracker's JSON API under /api/v1/
 * (docs/API.md), over HTTPS with libsoup-3.
 *
 * Owns: the HTTPS session to one tracker, the trust in that tracker's CA
 * (every connection is verified against the CA file given to
 * net_tracker_api_new; the one exception is net_tracker_api_fetch_ca,
 * which exists to show a person the fingerprint of an unknown CA), the
 * bearer token, and the mapping of replies to JSON objects or GErrors.
 * Must not: know what any endpoint means (callers build paths and bodies
 * and read replies), keep or log passwords and tokens, or trust a reply:
 * bodies are bounded and read through accessors that never warn.
 *
 * A request is three steps that share no state but the NetTrackerApi:
 * build a SoupMessage, read its body with a bound, map status and body
 * to an object or an error. The synchronous call below strings them
 * together; an asynchronous variant needs only to swap the middle step.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define NET_TRACKER_API_ERROR (net_tracker_api_error_quark())
GQuark net_tracker_api_error_quark(void);

/* The "error" codes of docs/API.md, plus two for replies that do not
 * follow it. The GError's message is the tracker's "message". */
typedef enum {
	NET_TRACKER_API_ERROR_INVALID_REQUEST, /* 400 */
	NET_TRACKER_API_ERROR_UNAUTHORIZED, /* 401 */
	NET_TRACKER_API_ERROR_FORBIDDEN, /* 403 */
	NET_TRACKER_API_ERROR_NOT_FOUND, /* 404 */
	NET_TRACKER_API_ERROR_CONFLICT, /* 409 */
	NET_TRACKER_API_ERROR_TOO_LARGE, /* 413 */
	NET_TRACKER_API_ERROR_RATE_LIMITED, /* 429 */
	NET_TRACKER_API_ERROR_INTERNAL, /* 500 */
	/* Any other failure status or error code. */
	NET_TRACKER_API_ERROR_FAILED,
	/* A reply that is not what docs/API.md promises (not JSON, too
	 * large, a field missing or of the wrong type). */
	NET_TRACKER_API_ERROR_PROTOCOL,
} NetTrackerApiErrorCode;

/* Replies larger than this are refused: the largest legitimate one is a
 * file record with a 4 MiB info dictionary in base64. */
#define NET_TRACKER_API_MAX_REPLY (8u * 1024 * 1024)

typedef struct _NetTrackerApi NetTrackerApi;

/* A client for the tracker at @url ("https://HOST[:PORT][/PREFIX]")
 * that trusts only the CA certificates in @ca_file. Fails on a URL that
 * is not https or on a CA file that holds no certificate. */
NetTrackerApi *net_tracker_api_new(const char *url, const char *ca_file,
				   GError **error);
void net_tracker_api_free(NetTrackerApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetTrackerApi, net_tracker_api_free)

/* Checks that @url is https://HOST[:PORT][/PREFIX] with no user,
 * query or fragment, and returns it without trailing slashes: the form
 * in which a tracker's URL is stored and compared. */
char *net_tracker_api_normalise_url(const char *url, GError **error);

/* The URL as normalised by net_tracker_api_new (no trailing slash). */
const char *net_tracker_api_get_url(const NetTrackerApi *api);

/* Sends "Authorization: Bearer @token" with every later request; NULL
 * stops sending it. The token is copied. */
void net_tracker_api_set_token(NetTrackerApi *api, const char *token);

/* Sends @method to /api/v1/@path (already escaped, see
 * net_tracker_api_path; may end in "?query") with @body (may be NULL)
 * as JSON, and returns the reply's object: an empty one for a reply
 * without a body (204). On a 4xx/5xx the error is in
 * NET_TRACKER_API_ERROR with the tracker's message; transport and TLS
 * failures keep their GIO domain, with a message that names the URL. */
JsonObject *net_tracker_api_call(NetTrackerApi *api, const char *method,
				 const char *path, JsonObject *body,
				 GError **error);

/* Joins NULL-terminated path segments with "/", each percent-encoded,
 * e.g. ("groups", "a b", "join", NULL) -> "groups/a%20b/join". */
char *net_tracker_api_path(const char *first_segment,
			   ...) G_GNUC_NULL_TERMINATED;

/* Fetches the tracker's CA certificate (GET /api/v1/ca) WITHOUT
 * verifying the connection, and returns its PEM after checking that it
 * parses as a certificate. Only for showing its fingerprint to a person
 * who decides whether to trust it. */
char *net_tracker_api_fetch_ca(const char *url, GError **error);

/* Typed reads of a reply's members that never warn: NULL or FALSE when
 * @member is missing or of another JSON type. */
const char *net_tracker_api_get_string(JsonObject *object, const char *member);
gboolean net_tracker_api_get_int(JsonObject *object, const char *member,
				 gint64 *value);
gboolean net_tracker_api_get_bool(JsonObject *object, const char *member,
				  gboolean *value);
JsonArray *net_tracker_api_get_array(JsonObject *object, const char *member);

/* Like net_tracker_api_get_string, but a missing member is a
 * NET_TRACKER_API_ERROR_PROTOCOL error naming it. */
const char *net_tracker_api_require_string(JsonObject *object,
					   const char *member, GError **error);

G_END_DECLS
