/*
 * tracker-error: the one GError domain of the tracker's API.
 *
 * Each code is one row of docs/API.md's error table, so that a handler
 * (or the database layer under it) says *what* went wrong and the HTTP
 * layer alone decides the status line and the JSON "error" word. Must
 * not: carry anything but a sentence for a person in the message; the
 * message is sent to the client as is.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TRACKER_ERROR (tracker_error_quark())
GQuark tracker_error_quark(void);

typedef enum {
	TRACKER_ERROR_INVALID, /* 400 invalid_request */
	TRACKER_ERROR_UNAUTHORIZED, /* 401 unauthorized */
	TRACKER_ERROR_FORBIDDEN, /* 403 forbidden */
	TRACKER_ERROR_NOT_FOUND, /* 404 not_found */
	TRACKER_ERROR_CONFLICT, /* 409 conflict */
	TRACKER_ERROR_TOO_LARGE, /* 413 too_large */
	TRACKER_ERROR_RATE_LIMITED, /* 429 rate_limited */
	TRACKER_ERROR_INTERNAL, /* 500 internal */
	TRACKER_ERROR_BUSY, /* 503 busy */
} TrackerErrorCode;

/* The HTTP status and the API's error word for @code. */
guint tracker_error_get_status(TrackerErrorCode code);
const char *tracker_error_get_name(TrackerErrorCode code);

G_END_DECLS
