/* engine-swarm: the peers of every file the engine serves. One TLS
 * identity, one listener (NetAcceptor), one announcer, a NetTorrent per
 * file, and the membership of each group that the torrents ask about.
 *
 * Membership is what the tracker last said: fetched when a group's
 * first file is added and every MEMBERS_REFRESH_S after, so that a
 * member removed from a group loses access within one announce interval
 * (the tracker's default). Until a group's members are known, nobody is
 * a member: refusing for a second is safer than serving a stranger.
 */
#include <string.h>

#include "accept.h"
#include "announce.h"
#include "engine-private.h"
#include "tls.h"
#include "torrent.h"

#define MEMBERS_REFRESH_S 60
/* "-GF0100-": groupfs 0.1.0, in the Azureus style of BEP 20. */
#define PEER_ID_PREFIX "-GF0100-"

typedef struct {
	GHashTable *users; /* user names; NULL until first fetched */
	gboolean fetching;
} Membership;

struct _EngineSwarm {
	NetEngine *engine;
	NetTlsContext *tls;
	guint8 peer_id[20];
	NetAcceptor *acceptor;
	NetAnnouncer *announcer;
	GHashTable *groups; /* group name -> Membership */
	guint refresh_source;
	gboolean stopped; /* the announcer has said "stopped" for all */
};

struct _EngineSeat {
	EngineSwarm *swarm;
	EngineFile *file; /* borrowed: the file owns the seat */
	NetTorrent *torrent;
};

static void membership_free(Membership *m)
{
	g_clear_pointer(&m->users, g_hash_table_unref);
	g_free(m);
}

/* ---- membership ---------------------------------------------------- */

static GHashTable *fetch_members(NetTrackerApi *api, const char *group,
				 GError **error)
{
	g_autofree char *path =
		net_tracker_api_path("groups", group, "members", NULL);
	g_autoptr(JsonObject) reply =
		net_tracker_api_call(api, "GET", path, NULL, error);
	GHashTable *users;
	JsonArray *members;

	if (reply == NULL)
		return NULL;
	members = net_tracker_api_get_array(reply, "members");
	if (members == NULL) {
		g_set_error(error, NET_TRACKER_API_ERROR,
			    NET_TRACKER_API_ERROR_PROTOCOL,
			    "the tracker's list of members is malformed");
		return NULL;
	}
	users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < json_array_get_length(members); i++) {
		JsonNode *node = json_array_get_element(members, i);
		const char *user = NULL;

		if (JSON_NODE_HOLDS_OBJECT(node))
			user = net_tracker_api_get_string(
				json_node_get_object(node), "user");
		if (user != NULL)
			g_hash_table_add(users, g_strdup(user));
	}
	return users;
}

typedef struct {
	NetTrackerApi *api; /* the engine's, which outlives the job */
	char *group;
} MembersJob;

static void members_job_free(MembersJob *job)
{
	g_free(job->group);
	g_free(job);
}

static void members_in_thread(GTask *task, gpointer source, gpointer data,
			      GCancellable *cancellable)
{
	MembersJob *job = data;
	GError *error = NULL;
	GHashTable *users = fetch_members(job->api, job->group, &error);

	if (users == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, users,
				      (GDestroyNotify)g_hash_table_unref);
}

static void members_fetched(GObject *source, GAsyncResult *result,
			    gpointer data)
{
	NetEngine *engine = data;
	EngineSwarm *swarm = engine->swarm;
	MembersJob *job = g_task_get_task_data(G_TASK(result));
	const char *group = job->group;
	g_autoptr(GError) error = NULL;
	GHashTable *users = g_task_propagate_pointer(G_TASK(result), &error);
	Membership *m = g_hash_table_lookup(swarm->groups, group);
	GHashTableIter iter;
	EngineFile *file;

	m->fetching = FALSE;
	engine_work_end(engine);
	if (users == NULL) {
		/* The last list stays: the tracker may be down for a while. */
		g_message("cannot refresh the members of %s: %s", group,
			  error->message);
		return;
	}
	g_clear_pointer(&m->users, g_hash_table_unref);
	m->users = users;
	g_hash_table_iter_init(&iter, engine->files_by_hash);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&file)) {
		if (file->seat != NULL && strcmp(file->group, group) == 0)
			net_torrent_recheck_members(file->seat->torrent);
	}
}

static void members_refresh(EngineSwarm *swarm, const char *group)
{
	Membership *m = g_hash_table_lookup(swarm->groups, group);
	g_autoptr(GTask) task = NULL;
	MembersJob *job;

	if (m == NULL) {
		m = g_new0(Membership, 1);
		g_hash_table_insert(swarm->groups, g_strdup(group), m);
	}
	if (m->fetching || swarm->engine->stopping)
		return;
	m->fetching = TRUE;
	/* A stop waits for the job, so the engine outlives it. */
	engine_work_begin(swarm->engine);
	job = g_new0(MembersJob, 1);
	job->api = swarm->engine->api;
	job->group = g_strdup(group);
	task = g_task_new(NULL, NULL, members_fetched, swarm->engine);
	g_task_set_task_data(task, job, (GDestroyNotify)members_job_free);
	g_task_run_in_thread(task, members_in_thread);
}

static gboolean members_tick(gpointer data)
{
	EngineSwarm *swarm = data;
	GHashTableIter iter;
	const char *group;

	g_hash_table_iter_init(&iter, swarm->groups);
	while (g_hash_table_iter_next(&iter, (gpointer *)&group, NULL))
		members_refresh(swarm, group);
	return G_SOURCE_CONTINUE;
}

static gboolean is_member(const char *user, gpointer data)
{
	EngineSeat *seat = data;
	Membership *m =
		g_hash_table_lookup(seat->swarm->groups, seat->file->group);

	return m != NULL && m->users != NULL &&
	       g_hash_table_contains(m->users, user);
}

/* ---- announces ----------------------------------------------------- */

static void announce_stats(gpointer data, guint64 *uploaded,
			   guint64 *downloaded, guint64 *left)
{
	EngineSeat *seat = data;
	NetTorrentStats stats;

	net_torrent_get_stats(seat->torrent, &stats);
	*uploaded = stats.uploaded;
	*downloaded = stats.downloaded;
	*left = stats.left;
}

static void announce_reply(gpointer data, const NetAnnounceReply *reply)
{
	EngineSeat *seat = data;
	g_autoptr(GPtrArray) addresses =
		g_ptr_array_new_with_free_func(g_object_unref);

	for (guint i = 0; i < reply->peers->len; i++) {
		const NetAnnouncePeer *peer =
			&g_array_index(reply->peers, NetAnnouncePeer, i);

		g_ptr_array_add(addresses, net_announce_peer_to_address(peer));
	}
	if (addresses->len > 0)
		net_torrent_add_peers(seat->torrent, addresses);
}

static void announce_refused(gpointer data, const GError *error)
{
	EngineSeat *seat = data;

	g_message("%s: the tracker refused the announce: %s", seat->file->name,
		  error->message);
}

static void announce_unreachable(gpointer data, const GError *error,
				 guint retry_ms)
{
	EngineSeat *seat = data;

	g_message("%s: cannot reach the tracker (%s); trying again in %u s",
		  seat->file->name, error->message, retry_ms / 1000);
}

static const NetAnnouncerCallbacks announce_callbacks = {
	.get_stats = announce_stats,
	.reply = announce_reply,
	.refused = announce_refused,
	.unreachable = announce_unreachable,
};

static void torrent_complete(NetTorrent *torrent, gpointer data)
{
	EngineSeat *seat = data;

	g_info("%s: complete", seat->file->name);
	if (!seat->swarm->stopped)
		net_announcer_completed(seat->swarm->announcer,
					seat->file->info_hash);
}

static void torrent_error(NetTorrent *torrent, const GError *error,
			  gpointer data)
{
	EngineSeat *seat = data;

	engine_file_disk_error(seat->file, error);
}

/* ---- files --------------------------------------------------------- */

void engine_swarm_add(EngineSwarm *swarm, EngineFile *file)
{
	EngineSeat *seat = g_new0(EngineSeat, 1);
	NetTorrentConfig config = {
		.tls = swarm->tls,
		.peer_id = swarm->peer_id,
		.listen_port = net_acceptor_get_port(swarm->acceptor),
		.is_member = is_member,
		.on_complete = torrent_complete,
		.on_error = torrent_error,
		.data = seat,
	};

	g_assert(file->seat == NULL && file->store != NULL);
	seat->swarm = swarm;
	seat->file = file;
	/* The torrent owns the metainfo and the store from now on. */
	seat->torrent = net_torrent_new(file->mi, file->store, &config);
	file->seat = seat;
	if (file->pinned)
		net_torrent_set_pinned(seat->torrent, TRUE);
	if (!g_hash_table_contains(swarm->groups, file->group))
		members_refresh(swarm, file->group);
	net_announcer_add(swarm->announcer, file->info_hash, seat);
}

void engine_swarm_remove(EngineSwarm *swarm, EngineFile *file)
{
	EngineSeat *seat = g_steal_pointer(&file->seat);

	if (!swarm->stopped)
		net_announcer_remove(swarm->announcer, file->info_hash);
	net_torrent_free(seat->torrent);
	/* They went with the torrent. */
	file->mi = NULL;
	file->store = NULL;
	g_free(seat);
}

void engine_swarm_set_pinned(EngineSwarm *swarm, EngineFile *file,
			     gboolean pinned)
{
	if (file->seat != NULL)
		net_torrent_set_pinned(file->seat->torrent, pinned);
}

void engine_swarm_fill_status(EngineSwarm *swarm, EngineFile *file,
			      NetEngineFileStatus *status)
{
	NetTorrentStats stats;

	net_torrent_get_stats(file->seat->torrent, &stats);
	status->download_rate = stats.download_rate;
	status->upload_rate = stats.upload_rate;
	status->downloaded = stats.downloaded;
	status->uploaded = stats.uploaded;
	status->peers = stats.peers;
}

NetTorrent *engine_swarm_get_torrent(EngineFile *file)
{
	return file->seat != NULL ? file->seat->torrent : NULL;
}

guint engine_swarm_wait_all(EngineFile *file, EngineReadyFunc func,
			    gpointer data)
{
	if (file->seat == NULL)
		return 0;
	return net_torrent_wait_range(file->seat->torrent, 0,
				      net_metainfo_get_length(file->mi), 0,
				      func, data);
}

void engine_swarm_cancel_wait(EngineFile *file, guint id)
{
	if (file->seat != NULL)
		net_torrent_cancel_wait(file->seat->torrent, id);
}

/* ---- the swarm ----------------------------------------------------- */

static NetTorrent *lookup_torrent(const guint8 *info_hash, gpointer data)
{
	EngineSwarm *swarm = data;
	EngineFile *file = engine_lookup_hash(swarm->engine, info_hash);

	return file != NULL ? engine_swarm_get_torrent(file) : NULL;
}

static void make_peer_id(guint8 peer_id[20])
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	size_t prefix = strlen(PEER_ID_PREFIX);

	memcpy(peer_id, PEER_ID_PREFIX, prefix);
	for (size_t i = prefix; i < 20; i++)
		peer_id[i] = digits[g_random_int_range(0, sizeof(digits) - 1)];
}

static gboolean swarm_announce(EngineSwarm *swarm,
			       const NetEngineConfig *config, GError **error)
{
	g_autofree char *url =
		g_strconcat(config->tracker_url, "/announce", NULL);
	NetAnnouncerConfig ac = {
		.url = url,
		.ca_file = config->ca_file,
		.passkey = config->passkey,
		.peer_id = swarm->peer_id,
		.port = net_acceptor_get_port(swarm->acceptor),
	};

	swarm->announcer = net_announcer_new(&ac, &announce_callbacks, error);
	return swarm->announcer != NULL;
}

EngineSwarm *engine_swarm_new(NetEngine *engine, const NetEngineConfig *config,
			      GError **error)
{
	EngineSwarm *swarm = g_new0(EngineSwarm, 1);

	swarm->engine = engine;
	swarm->groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      (GDestroyNotify)membership_free);
	make_peer_id(swarm->peer_id);
	swarm->tls = net_tls_context_new(config->ca_file, config->cert_file,
					 config->key_file, error);
	if (swarm->tls != NULL)
		swarm->acceptor = net_acceptor_new(
			swarm->tls, config->listen, swarm->peer_id,
			lookup_torrent, swarm, error);
	if (swarm->acceptor == NULL || !swarm_announce(swarm, config, error)) {
		engine_swarm_free(swarm);
		return NULL;
	}
	swarm->refresh_source =
		g_timeout_add_seconds(MEMBERS_REFRESH_S, members_tick, swarm);
	return swarm;
}

void engine_swarm_free(EngineSwarm *swarm)
{
	g_clear_handle_id(&swarm->refresh_source, g_source_remove);
	g_clear_pointer(&swarm->announcer, net_announcer_free);
	g_clear_pointer(&swarm->acceptor, net_acceptor_free);
	g_clear_pointer(&swarm->tls, net_tls_context_unref);
	g_hash_table_unref(swarm->groups);
	g_free(swarm);
}

guint16 engine_swarm_get_port(const EngineSwarm *swarm)
{
	return net_acceptor_get_port(swarm->acceptor);
}

const char *engine_swarm_get_user(const EngineSwarm *swarm)
{
	return net_tls_context_get_user(swarm->tls);
}

typedef struct {
	EngineSwarm *swarm;
	GSourceFunc done;
	gpointer data;
} StopJob;

static void announcer_down(GObject *source, GAsyncResult *result, gpointer data)
{
	StopJob *job = data;

	net_announcer_shutdown_finish(job->swarm->announcer, result, NULL);
	job->done(job->data);
	g_free(job);
}

void engine_swarm_stop(EngineSwarm *swarm, GSourceFunc done, gpointer data)
{
	StopJob *job = g_new0(StopJob, 1);

	job->swarm = swarm;
	job->done = done;
	job->data = data;
	g_clear_handle_id(&swarm->refresh_source, g_source_remove);
	swarm->stopped = TRUE;
	net_announcer_shutdown_async(swarm->announcer, announcer_down, job);
}
