/*
 * http: one API request as the handlers see it: its path arguments,
 * its caller, its strictly parsed JSON body and query, and the replies.
 *
 * Owns: the translation between HTTP and the API's conventions
 * (docs/API.md): JSON in and out, errors as {"error","message"} with
 * the status of their TRACKER_ERROR code, 500s logged once here. Must
 * not: know any endpoint; server.c routes, the api-*.c files decide.
 *
 * A request lives while its handler runs; a handler that finishes
 * later (after work in a thread) keeps it with tracker_request_ref and
 * replies from the main loop. Replying to a client that has gone away
 * is harmless.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "app.h"

G_BEGIN_DECLS

#define TRACKER_HTTP_MAX_BODY (4u * 1024u * 1024u)
#define TRACKER_HTTP_MAX_HEADERS (16u * 1024u)

typedef struct _TrackerRequest TrackerRequest;

typedef void (*TrackerHandler)(TrackerRequest *req);

/* Made by server.c for each routed request. @args: the decoded path
 * segments that the route's "*" matched (owned by the request). */
TrackerRequest *tracker_request_new(TrackerApp *app, SoupServerMessage *msg,
				    GPtrArray *args);
TrackerRequest *tracker_request_ref(TrackerRequest *req);
void tracker_request_unref(TrackerRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TrackerRequest, tracker_request_unref)

TrackerApp *tracker_request_get_app(TrackerRequest *req);
SoupServerMessage *tracker_request_get_message(TrackerRequest *req);
/* The @index-th "*" of the route, percent-decoded. */
const char *tracker_request_get_arg(TrackerRequest *req, guint index);
/* The peer's IP address as text. */
const char *tracker_request_get_address(TrackerRequest *req);

/* Checks the bearer token; on success the caller's id and name are
 * available. UNAUTHORIZED otherwise. */
gboolean tracker_request_authenticate(TrackerRequest *req, GError **error);
gint64 tracker_request_get_user_id(TrackerRequest *req);
const char *tracker_request_get_user(TrackerRequest *req);
gint64 tracker_request_get_token_expires(TrackerRequest *req);
/* SHA-256 of the bearer token (32 bytes), once authenticated. */
const guint8 *tracker_request_get_token_hash(TrackerRequest *req);

/* One string field of a JSON request body. */
typedef struct {
	const char *name;
	gboolean optional;
	const char *value; /* out: borrowed from @req; NULL when absent */
} TrackerField;

/* Parses the body as a JSON object whose members are exactly @fields
 * (strings, optional ones may be missing). An empty body counts as {}.
 * INVALID for anything else: bad JSON, another type, a NUL, an unknown
 * or missing field. */
gboolean tracker_request_read_fields(TrackerRequest *req, TrackerField *fields,
				     guint n_fields, GError **error);

/* The query parameters, form-decoded strictly: a bad escape or a
 * repeated key is INVALID. Values are byte strings (GBytes). */
GHashTable *tracker_request_get_query(TrackerRequest *req, GError **error);
/* A query whose only parameter is @key, as UTF-8 text without NUL. */
const char *tracker_request_get_query_string(TrackerRequest *req,
					     const char *key, GError **error);

/* Replies with @status and @body (taken). */
void tracker_request_reply_json(TrackerRequest *req, guint status,
				JsonNode *body);
void tracker_request_reply_empty(TrackerRequest *req, guint status);
/* Replies with an error body; a TRACKER_ERROR_INTERNAL or a foreign
 * domain is logged and answered with a generic 500. */
void tracker_request_fail(TrackerRequest *req, const GError *error);
/* Adds a response header (e.g. Retry-After) before the reply. */
void tracker_request_set_header(TrackerRequest *req, const char *name,
				const char *value);
/* Replies with raw @data (taken) of @content_type. */
void tracker_request_reply_bytes(TrackerRequest *req, guint status,
				 const char *content_type, GBytes *data);

/* Holds the HTTP reply until tracker_request_resume, after the handler
 * has returned; takes a reference that resume drops. */
void tracker_request_pause(TrackerRequest *req);
void tracker_request_resume(TrackerRequest *req);

/* The SHA-256 of a bearer token's text: what the database stores. */
void tracker_http_hash_token(const char *token, guint8 *hash);

/* Strict form decoding of one query string, exposed for tests: a
 * table of key -> GBytes, or NULL with INVALID. */
GHashTable *tracker_http_parse_query(const char *query, GError **error);

G_END_DECLS
