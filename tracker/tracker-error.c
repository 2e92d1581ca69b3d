#include "tracker-error.h"

G_DEFINE_QUARK(groupfs - tracker - error - quark, tracker_error)

static const struct {
	guint status;
	const char *name;
} errors[] = {
	[TRACKER_ERROR_INVALID] = {400, "invalid_request"},
	[TRACKER_ERROR_UNAUTHORIZED] = {401, "unauthorized"},
	[TRACKER_ERROR_FORBIDDEN] = {403, "forbidden"},
	[TRACKER_ERROR_NOT_FOUND] = {404, "not_found"},
	[TRACKER_ERROR_CONFLICT] = {409, "conflict"},
	[TRACKER_ERROR_TOO_LARGE] = {413, "too_large"},
	[TRACKER_ERROR_RATE_LIMITED] = {429, "rate_limited"},
	[TRACKER_ERROR_INTERNAL] = {500, "internal"},
	[TRACKER_ERROR_BUSY] = {503, "busy"},
};

guint tracker_error_get_status(TrackerErrorCode code)
{
	if ((guint)code >= G_N_ELEMENTS(errors))
		return 500;
	return errors[code].status;
}

const char *tracker_error_get_name(TrackerErrorCode code)
{
	if ((guint)code >= G_N_ELEMENTS(errors))
		return "internal";
	return errors[code].name;
}
