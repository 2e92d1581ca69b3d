#include "backend.h"

FsBackendEntry *fs_backend_entry_new(const char *name, guint64 size,
				     gint64 mtime, gboolean mine)
{
	FsBackendEntry *entry = g_new0(FsBackendEntry, 1);

	entry->name = g_strdup(name);
	entry->size = size;
	entry->mtime = mtime;
	entry->mine = mine;
	return entry;
}

void fs_backend_entry_free(FsBackendEntry *entry)
{
	if (entry == NULL)
		return;
	g_free(entry->name);
	g_free(entry);
}

void fs_backend_info_clear(FsBackendInfo *info)
{
	g_clear_pointer(&info->owner, g_free);
}
