/* Tests of the engine's registry across restarts: what `status` shows
 * while the stores are still being reopened, and how it gives way to
 * what the stores hold once they are open. No tracker runs: the engine
 * is pointed at a closed loopback port, so its announces fail quietly. */
#include <fcntl.h>
#include <unistd.h>

#include "engine.h"
#include "metainfo.h"
#include "store.h"
#include "test-pki.h"

#define PIECE_LENGTH (16u * 1024u)
#define PIECES 6u

typedef struct {
	TestPki pki;
	char *cache_dir;
	char *data_dir;
	char *cert_file;
	char *key_file;
	NetMetainfo *mi;
	char *hex;
} Fixture;

/* A download of PIECES pieces, complete in the cache, registered the
 * way an older registry did: without a count of verified pieces. */
static void make_download(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *source = g_build_filename(f->pki.dir, "x.bin", NULL);
	g_autofree guint8 *bytes = g_malloc(PIECES * PIECE_LENGTH);
	g_autoptr(GBytes) hashes = NULL;
	g_autoptr(NetStore) store = NULL;
	g_autofree char *torrent = NULL;
	g_autofree char *registry = NULL;
	g_autofree char *text = NULL;

	for (gsize i = 0; i < PIECES * PIECE_LENGTH; i++)
		bytes[i] = (guint8)g_random_int();
	g_assert_true(g_file_set_contents(source, (char *)bytes,
					  PIECES * PIECE_LENGTH, NULL));
	f->mi = net_metainfo_new_from_file(source, NULL, PIECE_LENGTH, &error);
	g_assert_no_error(error);
	f->hex = net_metainfo_dup_info_hash_hex(f->mi);
	hashes =
		g_bytes_new(net_metainfo_get_piece_hash(f->mi, 0), PIECES * 20);
	store = net_store_import(
		f->cache_dir, net_metainfo_get_info_hash(f->mi), PIECE_LENGTH,
		PIECES * PIECE_LENGTH, hashes, source, &error);
	g_assert_no_error(error);
	g_assert_true(net_store_sync(store, &error));
	torrent = g_strconcat(f->data_dir, "/", f->hex, ".torrent", NULL);
	g_assert_true(net_metainfo_save(f->mi, torrent, NULL, &error));
	registry = g_build_filename(f->data_dir, "registry.json", NULL);
	text = g_strdup_printf(
		"{\"version\": 1, \"files\": [{\"info_hash\": \"%s\", "
		"\"group\": \"g1\", \"path\": \"x.bin\", \"role\": "
		"\"download\", \"pinned\": false, \"last_used\": 1}]}",
		f->hex);
	g_assert_true(g_file_set_contents(registry, text, -1, NULL));
}

static void fixture_init(Fixture *f)
{
	test_pki_init(&f->pki);
	test_pki_issue(&f->pki, f->pki.ca, "alice", "alice");
	f->cert_file = test_pki_path(&f->pki, "alice", ".crt");
	f->key_file = test_pki_path(&f->pki, "alice", ".key");
	f->cache_dir = g_build_filename(f->pki.dir, "cache", NULL);
	f->data_dir = g_build_filename(f->pki.dir, "data", NULL);
	g_assert_cmpint(g_mkdir(f->cache_dir, 0700), ==, 0);
	g_assert_cmpint(g_mkdir(f->data_dir, 0700), ==, 0);
	make_download(f);
}

static void fixture_clear(Fixture *f)
{
	g_clear_pointer(&f->mi, net_metainfo_free);
	g_free(f->hex);
	g_free(f->cert_file);
	g_free(f->key_file);
	g_free(f->cache_dir);
	g_free(f->data_dir);
	test_pki_clear(&f->pki);
}

static NetEngine *engine_start(const Fixture *f)
{
	NetEngineConfig config = {
		.tracker_url = "https://127.0.0.1:1",
		.token = "token",
		.passkey = "passkey",
		.ca_file = f->pki.ca_file,
		.cert_file = f->cert_file,
		.key_file = f->key_file,
		.cache_dir = f->cache_dir,
		.data_dir = f->data_dir,
		.listen = "127.0.0.1:0",
	};
	g_autoptr(GError) error = NULL;
	NetEngine *engine = net_engine_new(&config, &error);

	g_assert_no_error(error);
	return engine;
}

static void set_flag(gpointer data)
{
	*(gboolean *)data = TRUE;
}

/* Runs the loop until every store the start reopened is open. */
static void wait_restored(NetEngine *engine)
{
	gboolean done = FALSE;
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

	if (!net_engine_watch_restore(engine, set_flag, &done))
		return;
	while (!done && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(done);
	g_assert_false(net_engine_watch_restore(engine, NULL, NULL));
}

typedef struct {
	NetEngine *engine;
	gboolean done;
} Stop;

static void stopped(GObject *source, GAsyncResult *result, gpointer data)
{
	Stop *stop = data;

	net_engine_stop_finish(stop->engine, result);
	stop->done = TRUE;
}

static void engine_stop(NetEngine *engine)
{
	Stop stop = {engine, FALSE};
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

	net_engine_stop_async(engine, stopped, &stop);
	while (!stop.done && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_assert_true(stop.done);
	net_engine_free(engine);
}

/* The status of the only file, as `status` asks for it. */
static NetEngineFileStatus *only_status(NetEngine *engine)
{
	g_autoptr(GPtrArray) list = net_engine_list(engine);

	g_assert_cmpuint(list->len, ==, 1);
	return g_ptr_array_steal_index(list, 0);
}

static void test_restart_shows_last_verified(void)
{
	Fixture f = {0};
	NetEngine *engine;
	g_autofree char *data = NULL;
	int fd;

	fixture_init(&f);
	/* The first run learns the count from the store, and records it
	 * at its stop. */
	engine = engine_start(&f);
	wait_restored(engine);
	engine_stop(engine);

	/* Behind the engine's back, piece 2 changes: the bitmap is no
	 * longer trusted, and a reopen hashes the pieces again. */
	data = g_strconcat(f.cache_dir, "/", f.hex, ".data", NULL);
	fd = open(data, O_WRONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, "x", 1, 2 * PIECE_LENGTH), ==, 1);
	close(fd);

	engine = engine_start(&f);
	{
		/* Asked before the loop ran once: no store is open yet. */
		g_autoptr(NetEngineFileStatus) s = only_status(engine);

		g_assert_cmpuint(s->pieces, ==, PIECES);
		g_assert_cmpuint(s->verified, ==, PIECES);
		g_assert_cmpint(s->state, ==, NET_ENGINE_COMPLETE);
	}
	wait_restored(engine);
	{
		g_autoptr(NetEngineFileStatus) s = only_status(engine);

		g_assert_cmpuint(s->verified, ==, PIECES - 1);
		g_assert_cmpint(s->state, ==, NET_ENGINE_DOWNLOADING);
	}
	engine_stop(engine);

	/* ... and the next start shows what that one found. */
	engine = engine_start(&f);
	{
		g_autoptr(NetEngineFileStatus) s = only_status(engine);

		g_assert_cmpuint(s->verified, ==, PIECES - 1);
	}
	wait_restored(engine);
	engine_stop(engine);
	fixture_clear(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/engine/restart-shows-last-verified",
			test_restart_shows_last_verified);
	return g_test_run();
}
