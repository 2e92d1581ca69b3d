/*
 * db-cache: the answers of the two reads that every announce makes
 * (passkey -> user, and info-hash + user -> swarm scope), kept in memory
 * so that an announce needs no SQLite lock, no statement and no copy.
 *
 * Correctness rests on one rule: an answer is only reused while the
 * database is unchanged since it was computed. The generation that
 * db.c passes in is SQLite's count of rows changed by this connection,
 * so every write by the tracker (a join accepted, a file published, a
 * user created, even one that rolls back) empties the cache before the
 * next lookup. Writes are rare next to announces, so a full flush costs
 * nothing worth a finer scheme. A change made behind the tracker's back
 * (sqlite3 by hand) is seen within TRACKER_DB_CACHE_MAX_AGE.
 */
#include "db-private.h"

#include <string.h>

/* Announces may name any info-hash: bound what they can make us keep. */
#define MAX_SCOPES 65536u
#define MAX_SCOPE_USERS (1024u * 1024u)

struct _TrackerDbCache {
	gint64 generation;
	gint64 filled; /* monotonic µs of the first entry since a flush */
	GHashTable *users; /* passkey -> user id (only known passkeys) */
	GHashTable *scopes; /* ScopeKey -> set of user ids */
	gsize scope_users; /* sum of the scopes' sizes */
};

typedef struct {
	guint8 info_hash[20];
	gint64 user_id;
} ScopeKey;

static guint scope_key_hash(gconstpointer p)
{
	const ScopeKey *k = p;
	guint h;

	/* An info-hash is a SHA-1: its first bytes are already uniform. */
	memcpy(&h, k->info_hash, sizeof(h));
	return h ^ g_int64_hash(&k->user_id);
}

static gboolean scope_key_equal(gconstpointer a, gconstpointer b)
{
	const ScopeKey *x = a, *y = b;

	return x->user_id == y->user_id &&
	       memcmp(x->info_hash, y->info_hash, 20) == 0;
}

TrackerDbCache *tracker_db_cache_new(void)
{
	TrackerDbCache *cache = g_new0(TrackerDbCache, 1);

	cache->users =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	cache->scopes =
		g_hash_table_new_full(scope_key_hash, scope_key_equal, g_free,
				      (GDestroyNotify)g_hash_table_unref);
	return cache;
}

void tracker_db_cache_free(TrackerDbCache *cache)
{
	if (!cache)
		return;
	g_hash_table_unref(cache->users);
	g_hash_table_unref(cache->scopes);
	g_free(cache);
}

static void flush(TrackerDbCache *cache)
{
	g_hash_table_remove_all(cache->users);
	g_hash_table_remove_all(cache->scopes);
	cache->scope_users = 0;
	cache->filled = 0;
}

void tracker_db_cache_sync(TrackerDbCache *cache, gint64 generation)
{
	gint64 now;

	if (generation != cache->generation) {
		flush(cache);
		cache->generation = generation;
		return;
	}
	if (cache->filled == 0)
		return;
	now = g_get_monotonic_time();
	if (now - cache->filled >= TRACKER_DB_CACHE_MAX_AGE * G_USEC_PER_SEC)
		flush(cache);
}

static void mark_filled(TrackerDbCache *cache)
{
	if (cache->filled == 0)
		cache->filled = g_get_monotonic_time();
}

gint64 tracker_db_cache_get_user(TrackerDbCache *cache, const char *passkey)
{
	gint64 *id = g_hash_table_lookup(cache->users, passkey);

	return id ? *id : 0;
}

void tracker_db_cache_put_user(TrackerDbCache *cache, const char *passkey,
			       gint64 user_id)
{
	/* Only passkeys that name a user get here: the table is no bigger
	 * than the users table. */
	g_hash_table_replace(cache->users, g_strdup(passkey),
			     g_memdup2(&user_id, sizeof(user_id)));
	mark_filled(cache);
}

GHashTable *tracker_db_cache_get_scope(TrackerDbCache *cache,
				       const guint8 *info_hash, gint64 user_id)
{
	ScopeKey key = {.user_id = user_id};
	GHashTable *scope;

	memcpy(key.info_hash, info_hash, 20);
	scope = g_hash_table_lookup(cache->scopes, &key);
	return scope ? g_hash_table_ref(scope) : NULL;
}

void tracker_db_cache_put_scope(TrackerDbCache *cache, const guint8 *info_hash,
				gint64 user_id, GHashTable *scope)
{
	ScopeKey *key = g_new(ScopeKey, 1);

	if (g_hash_table_size(cache->scopes) >= MAX_SCOPES ||
	    cache->scope_users + g_hash_table_size(scope) > MAX_SCOPE_USERS)
		flush(cache);
	key->user_id = user_id;
	memcpy(key->info_hash, info_hash, 20);
	g_hash_table_replace(cache->scopes, key, g_hash_table_ref(scope));
	cache->scope_users += g_hash_table_size(scope);
	mark_filled(cache);
}
