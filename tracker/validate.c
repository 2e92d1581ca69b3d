#include "validate.h"

#include <string.h>

#include "names.h"
#include "tracker-error.h"

gboolean tracker_validate_name(const char *what, const char *name,
			       GError **error)
{
	if (net_name_is_valid(name))
		return TRUE;
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
		    "A %s must be 1 to %u letters, digits, '.', '_' or '-', "
		    "not starting with '.' or '-'.",
		    what, NET_NAME_MAX);
	return FALSE;
}

gboolean tracker_validate_password(const char *password, GError **error)
{
	gsize len = strlen(password);

	if (len == 0 || len > TRACKER_PASSWORD_MAX ||
	    !g_utf8_validate(password, len, NULL)) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "A password must be 1 to %u bytes of UTF-8.",
			    TRACKER_PASSWORD_MAX);
		return FALSE;
	}
	return TRUE;
}

gboolean tracker_validate_path(const char *path, GError **error)
{
	if (net_path_is_valid(path))
		return TRUE;
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
		    "A file path must be relative and \"/\"-separated, at "
		    "most %u bytes, with no empty, \".\" or \"..\" component "
		    "and no control characters.",
		    NET_PATH_MAX);
	return FALSE;
}
