#include "validate.h"

#include <string.h>

#include "metainfo.h"
#include "tracker-error.h"

static gboolean is_name_char(char c)
{
	return g_ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
}

gboolean tracker_validate_name(const char *what, const char *name,
			       GError **error)
{
	gsize len = strlen(name);

	if (len == 0 || len > TRACKER_NAME_MAX) {
		g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
			    "A %s must be 1 to %u characters long.", what,
			    TRACKER_NAME_MAX);
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		if (!is_name_char(name[i]) ||
		    (i == 0 && (name[i] == '.' || name[i] == '-'))) {
			g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
				    "A %s may hold only letters, digits, '.', "
				    "'_' and '-', and may not start with '.' "
				    "or '-'.",
				    what);
			return FALSE;
		}
	}
	return TRUE;
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
	gsize len = strlen(path);
	const char *component = path;

	if (len == 0 || len > TRACKER_PATH_MAX)
		goto invalid;
	while (TRUE) {
		const char *slash = strchr(component, '/');
		gsize clen =
			slash ? (gsize)(slash - component) : strlen(component);

		if (!net_metainfo_name_is_safe(component, clen))
			goto invalid;
		if (!slash)
			return TRUE;
		component = slash + 1;
	}
invalid:
	g_set_error(error, TRACKER_ERROR, TRACKER_ERROR_INVALID,
		    "A file path must be relative and \"/\"-separated, at "
		    "most %u bytes, with no empty, \".\" or \"..\" component "
		    "and no control characters.",
		    TRACKER_PATH_MAX);
	return FALSE;
}
