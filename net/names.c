#include "names.h"

#include <string.h>

#include "metainfo.h"

gboolean net_name_is_valid(const char *name)
{
	gsize len = strlen(name);

	if (len == 0 || len > NET_NAME_MAX || name[0] == '.' || name[0] == '-')
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = name[i];

		if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-')
			return FALSE;
	}
	return TRUE;
}

gboolean net_path_is_valid(const char *path)
{
	gsize len = strlen(path);
	const char *component = path;

	if (len == 0 || len > NET_PATH_MAX)
		return FALSE;
	for (;;) {
		const char *slash = strchr(component, '/');
		gsize clen =
			slash ? (gsize)(slash - component) : strlen(component);

		if (!net_metainfo_name_is_safe(component, clen))
			return FALSE;
		if (slash == NULL)
			return TRUE;
		component = slash + 1;
	}
}

gboolean net_info_hash_hex_is_valid(const char *hex)
{
	if (hex == NULL || strlen(hex) != 40)
		return FALSE;
	for (int i = 0; i < 40; i++) {
		if (!g_ascii_isxdigit(hex[i]) || g_ascii_isupper(hex[i]))
			return FALSE;
	}
	return TRUE;
}
