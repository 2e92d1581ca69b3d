/* The scheduling half of announce.h: one SoupSession, a schedule per
 * torrent, and the requests in flight. */
#include "announce.h"

#include <libsoup/soup.h>
#include <string.h>

#include "config.h"
#include "net-error.h"

#define DEFAULT_NUMWANT 50
#define DEFAULT_INTERVAL_FLOOR_S 10
#define DEFAULT_RETRY_INITIAL_MS 5000
#define DEFAULT_RETRY_MAX_MS (5 * 60 * 1000)
#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define DEFAULT_STOP_TIMEOUT_MS 3000
/* What we assume until the tracker says otherwise (its own default). */
#define DEFAULT_INTERVAL_S 60
/* Every torrent re-announces to the same host; a few connections keep
 * a daemon with many torrents from queueing behind one slow reply. */
#define MAX_CONNS_PER_HOST 4
#define READ_CHUNK 16384

typedef struct _Torrent Torrent;
typedef struct _Request Request;

struct _NetAnnouncer {
	GMainContext *context; /* where timers and soup callbacks run */
	SoupSession *session;
	NetAnnouncerCallbacks cb;
	char *url; /* base, without our query: safe to print */
	char *passkey;
	guint8 peer_id[NET_ANNOUNCE_HASH_LEN];
	guint16 port;
	guint numwant;
	guint interval_floor_s;
	guint retry_initial_ms;
	guint retry_max_ms;
	guint request_timeout_ms;
	guint stop_timeout_ms;
	GHashTable *torrents; /* info-hash -> owned Torrent */
	GPtrArray *requests; /* Request in flight; each frees itself */
	GTask *shutdown; /* completes when requests is empty */
	gboolean shutting_down;
};

struct _Torrent {
	NetAnnouncer *announcer;
	guint8 info_hash[NET_ANNOUNCE_HASH_LEN];
	gpointer data; /* the owner's, for callbacks */
	Request *request; /* the announce in flight, or NULL */
	GSource *timer; /* the next announce, or NULL while one is in flight */
	gint64 due; /* monotonic µs when timer fires */
	gint64 last_sent; /* monotonic µs, 0 before the first announce */
	guint interval_s;
	guint min_interval_s;
	guint failures; /* in a row, for the backoff */
	gboolean started_acked;
	gboolean completed_pending;
	GArray *peers; /* of the last successful reply, or NULL */
};

struct _Request {
	NetAnnouncer *announcer; /* NULL once the announcer is freed */
	Torrent *torrent; /* NULL for "stopped", or once removed */
	NetAnnounceEvent event;
	guint timeout_ms;
	gboolean timed_out;
	SoupMessage *msg;
	GCancellable *cancel;
	GSource *deadline;
	GInputStream *stream;
	GByteArray *body;
};

static void torrent_send(Torrent *t);

static guint info_hash_hash(gconstpointer key)
{
	guint h;

	/* Info-hashes are SHA-1 output: any 4 bytes are uniform. */
	memcpy(&h, key, sizeof(h));
	return h;
}

static gboolean info_hash_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, NET_ANNOUNCE_HASH_LEN) == 0;
}

/* The caller keeps the returned reference, to destroy the source. */
static GSource *add_timeout(GMainContext *context, guint ms, GSourceFunc fn,
			    gpointer data)
{
	GSource *source = g_timeout_source_new(ms);

	g_source_set_callback(source, fn, data, NULL);
	g_source_attach(source, context);
	return source;
}

static void clear_source(GSource **source)
{
	if (!*source)
		return;
	g_source_destroy(*source);
	g_clear_pointer(source, g_source_unref);
}

/*
 * Requests: one HTTP GET each, with its own deadline and a bounded body.
 */

static void request_free(Request *req)
{
	clear_source(&req->deadline);
	g_clear_object(&req->msg);
	g_clear_object(&req->cancel);
	g_clear_object(&req->stream);
	g_clear_pointer(&req->body, g_byte_array_unref);
	g_free(req);
}

/* Cuts @req loose from its announcer (being freed) and cancels it; its
 * pending callback then only frees it. */
static void request_detach(gpointer data, gpointer unused)
{
	Request *req = data;

	req->announcer = NULL;
	req->torrent = NULL;
	clear_source(&req->deadline);
	g_cancellable_cancel(req->cancel);
}

static void maybe_finish_shutdown(NetAnnouncer *a)
{
	if (!a->shutdown || a->requests->len > 0)
		return;
	g_task_return_boolean(a->shutdown, TRUE);
	g_clear_object(&a->shutdown);
}

static void torrent_on_result(Torrent *t, NetAnnounceEvent event,
			      GByteArray *body, GError *failure);

/* Ends @req with @error, or with its body. Frees it. */
static void request_finish(Request *req, const GError *error)
{
	NetAnnouncer *a = req->announcer;
	Torrent *t = req->torrent;
	NetAnnounceEvent event = req->event;
	g_autoptr(GByteArray) body = g_steal_pointer(&req->body);
	g_autoptr(GError) failure = error ? g_error_copy(error) : NULL;

	if (failure && req->timed_out) {
		g_clear_error(&failure);
		g_set_error(&failure, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
			    "The tracker did not answer within %u ms.",
			    req->timeout_ms);
	}
	if (a)
		g_ptr_array_remove_fast(a->requests, req);
	request_free(req);
	if (!a)
		return;
	if (t)
		torrent_on_result(t, event, body, g_steal_pointer(&failure));
	maybe_finish_shutdown(a);
}

static void on_read(GObject *source, GAsyncResult *res, gpointer data);

static void request_read_more(Request *req)
{
	g_input_stream_read_bytes_async(req->stream, READ_CHUNK,
					G_PRIORITY_DEFAULT, req->cancel,
					on_read, req);
}

static void on_read(GObject *source, GAsyncResult *res, gpointer data)
{
	Request *req = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(
		G_INPUT_STREAM(source), res, &error);
	gsize len;
	gconstpointer bytes;

	if (!chunk) {
		request_finish(req, error);
		return;
	}
	bytes = g_bytes_get_data(chunk, &len);
	if (len == 0) {
		request_finish(req, NULL);
		return;
	}
	if (req->body->len + len > NET_ANNOUNCE_MAX_REPLY) {
		g_set_error(&error, NET_ERROR, NET_ERROR_LIMIT,
			    "The tracker's reply is longer than %u bytes.",
			    NET_ANNOUNCE_MAX_REPLY);
		request_finish(req, error);
		return;
	}
	g_byte_array_append(req->body, bytes, len);
	request_read_more(req);
}

static void on_sent(GObject *source, GAsyncResult *res, gpointer data)
{
	Request *req = data;
	g_autoptr(GError) error = NULL;
	guint status;

	req->stream =
		soup_session_send_finish(SOUP_SESSION(source), res, &error);
	if (!req->stream) {
		request_finish(req, error);
		return;
	}
	status = soup_message_get_status(req->msg);
	if (status != SOUP_STATUS_OK) {
		g_set_error(&error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "The tracker answered HTTP %u %s.", status,
			    soup_message_get_reason_phrase(req->msg));
		request_finish(req, error);
		return;
	}
	request_read_more(req);
}

static gboolean on_deadline(gpointer data)
{
	Request *req = data;

	req->timed_out = TRUE;
	g_clear_pointer(&req->deadline, g_source_unref);
	g_cancellable_cancel(req->cancel);
	return G_SOURCE_REMOVE;
}

/* Sends GET @url; the request lives until its callback chain ends. */
static Request *request_start(NetAnnouncer *a, const char *url,
			      NetAnnounceEvent event, guint timeout_ms)
{
	Request *req = g_new0(Request, 1);

	req->announcer = a;
	req->event = event;
	req->timeout_ms = timeout_ms;
	/* The base URL was checked by net_announcer_new and the query is
	 * fully escaped, so the URL always parses. */
	req->msg = soup_message_new(SOUP_METHOD_GET, url);
	g_assert(req->msg);
	/* A redirect would carry the passkey to wherever it points. */
	soup_message_add_flags(req->msg, SOUP_MESSAGE_NO_REDIRECT);
	req->cancel = g_cancellable_new();
	req->body = g_byte_array_new();
	req->deadline = add_timeout(a->context, timeout_ms, on_deadline, req);
	g_ptr_array_add(a->requests, req);
	soup_session_send_async(a->session, req->msg, G_PRIORITY_DEFAULT,
				req->cancel, on_sent, req);
	return req;
}

/*
 * Torrents: what to send next, and when.
 */

static void torrent_free(gpointer data)
{
	Torrent *t = data;

	clear_source(&t->timer);
	if (t->request) {
		t->request->torrent = NULL;
		g_cancellable_cancel(t->request->cancel);
	}
	g_clear_pointer(&t->peers, g_array_unref);
	g_free(t);
}

static NetAnnounceEvent torrent_next_event(const Torrent *t)
{
	if (!t->started_acked)
		return NET_ANNOUNCE_EVENT_STARTED;
	if (t->completed_pending)
		return NET_ANNOUNCE_EVENT_COMPLETED;
	return NET_ANNOUNCE_EVENT_NONE;
}

static char *torrent_build_url(Torrent *t, NetAnnounceEvent event)
{
	NetAnnouncer *a = t->announcer;
	NetAnnounceRequest req = {
		.info_hash = t->info_hash,
		.peer_id = a->peer_id,
		.passkey = a->passkey,
		.port = a->port,
		.event = event,
		/* A peer that leaves has no use for peers. */
		.numwant = event == NET_ANNOUNCE_EVENT_STOPPED ? 0 : a->numwant,
	};

	a->cb.get_stats(t->data, &req.uploaded, &req.downloaded, &req.left);
	return net_announce_build_url(a->url, &req);
}

static gboolean on_timer(gpointer data)
{
	Torrent *t = data;

	g_clear_pointer(&t->timer, g_source_unref);
	torrent_send(t);
	return G_SOURCE_REMOVE;
}

static void torrent_schedule(Torrent *t, guint ms)
{
	clear_source(&t->timer);
	t->due = g_get_monotonic_time() + (gint64)ms * 1000;
	t->timer = add_timeout(t->announcer->context, ms, on_timer, t);
}

static void torrent_send(Torrent *t)
{
	NetAnnouncer *a = t->announcer;
	NetAnnounceEvent event = torrent_next_event(t);
	g_autofree char *url = torrent_build_url(t, event);

	/* "started" carries the totals of now: when the download finished
	 * before it got through, no "completed" is due (BEP 3). */
	if (event == NET_ANNOUNCE_EVENT_STARTED)
		t->completed_pending = FALSE;
	g_debug("announce: %s to %s",
		event ? net_announce_event_name(event) : "update", a->url);
	t->last_sent = g_get_monotonic_time();
	t->request = request_start(a, url, event, a->request_timeout_ms);
	t->request->torrent = t;
}

/* Exponential from retry_initial_ms to retry_max_ms, less up to a
 * quarter at random so that daemons that lost the tracker together do
 * not come back in step. */
static guint backoff_ms(const NetAnnouncer *a, guint failures)
{
	guint64 ms = (guint64)a->retry_initial_ms << MIN(failures, 32u);

	ms = MIN(ms, a->retry_max_ms);
	return (guint)(ms - (guint64)g_random_int_range(0, ms / 4 + 1));
}

static void torrent_succeeded(Torrent *t, NetAnnounceEvent event,
			      const NetAnnounceReply *reply)
{
	NetAnnouncer *a = t->announcer;
	guint min_interval =
		reply->min_interval ? reply->min_interval : reply->interval;

	t->failures = 0;
	t->interval_s = CLAMP(reply->interval, a->interval_floor_s,
			      NET_ANNOUNCE_INTERVAL_CAP);
	t->min_interval_s =
		CLAMP(min_interval, a->interval_floor_s, t->interval_s);
	if (event == NET_ANNOUNCE_EVENT_STARTED)
		t->started_acked = TRUE;
	else if (event == NET_ANNOUNCE_EVENT_COMPLETED)
		t->completed_pending = FALSE;
	g_clear_pointer(&t->peers, g_array_unref);
	t->peers = g_array_ref(reply->peers);
	/* An event that came in meanwhile goes at once. */
	torrent_schedule(t, torrent_next_event(t) != NET_ANNOUNCE_EVENT_NONE
				    ? 0
				    : t->interval_s * 1000);
	a->cb.reply(t->data, reply);
}

static void torrent_failed(Torrent *t, const GError *error)
{
	NetAnnouncer *a = t->announcer;
	guint ms = backoff_ms(a, t->failures++);

	torrent_schedule(t, ms);
	g_debug("announce: %s; retrying in %u ms", error->message, ms);
	if (g_error_matches(error, NET_ERROR, NET_ERROR_TRACKER)) {
		if (a->cb.refused)
			a->cb.refused(t->data, error);
	} else if (a->cb.unreachable) {
		a->cb.unreachable(t->data, error, ms);
	}
}

/* Takes @failure (NULL: @body is the reply). The last thing the caller
 * does with @t, since callbacks may remove it. */
static void torrent_on_result(Torrent *t, NetAnnounceEvent event,
			      GByteArray *body, GError *failure)
{
	g_autoptr(NetAnnounceReply) reply = NULL;
	g_autoptr(GError) error = failure;

	t->request = NULL;
	if (!error)
		reply = net_announce_reply_parse(body->data, body->len, &error);
	if (reply) {
		torrent_succeeded(t, event, reply);
		return;
	}
	if (!g_error_matches(error, NET_ERROR, NET_ERROR_TRACKER))
		g_prefix_error(&error,
			       "Announcing to %s failed: ", t->announcer->url);
	torrent_failed(t, error);
}

/*
 * The announcer.
 */

static gboolean check_url(const char *url, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);
	const char *scheme = uri ? g_uri_get_scheme(uri) : NULL;

	if (scheme &&
	    (g_str_equal(scheme, "http") || g_str_equal(scheme, "https")) &&
	    g_uri_get_host(uri) && *g_uri_get_host(uri) &&
	    !g_uri_get_fragment(uri))
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "The tracker URL \"%s\" is not an http:// or https:// "
		    "URL.",
		    url);
	return FALSE;
}

static SoupSession *make_session(const char *ca_file, GError **error)
{
	g_autoptr(SoupSession) session = NULL;
	g_autoptr(GTlsDatabase) ca = NULL;

	if (ca_file) {
		ca = g_tls_file_database_new(ca_file, error);
		if (!ca) {
			g_prefix_error(error,
				       "Cannot trust %s as the "
				       "tracker's CA: ",
				       ca_file);
			return NULL;
		}
	}
	session = soup_session_new_with_options(
		"user-agent", "groupfs/" GROUPFS_VERSION, "max-conns-per-host",
		MAX_CONNS_PER_HOST, NULL);
	/* Direct connections: GIO's desktop proxy module aborts the process
	 * when GSettings schemas are missing, as on a headless server. */
	soup_session_set_proxy_resolver(session, NULL);
	/* Only the installation's CA: a public CA must not vouch for it. */
	if (ca)
		soup_session_set_tls_database(session, ca);
	return g_steal_pointer(&session);
}

#define OR_DEFAULT(v, d) ((v) ? (v) : (d))

static void copy_config(NetAnnouncer *a, const NetAnnouncerConfig *c)
{
	a->url = g_strdup(c->url);
	a->passkey = g_strdup(c->passkey);
	memcpy(a->peer_id, c->peer_id, NET_ANNOUNCE_HASH_LEN);
	a->port = c->port;
	a->numwant = OR_DEFAULT(c->numwant, DEFAULT_NUMWANT);
	a->interval_floor_s =
		MIN(OR_DEFAULT(c->interval_floor_s, DEFAULT_INTERVAL_FLOOR_S),
		    NET_ANNOUNCE_INTERVAL_CAP);
	a->retry_initial_ms =
		OR_DEFAULT(c->retry_initial_ms, DEFAULT_RETRY_INITIAL_MS);
	a->retry_max_ms = MAX(OR_DEFAULT(c->retry_max_ms, DEFAULT_RETRY_MAX_MS),
			      a->retry_initial_ms);
	a->request_timeout_ms =
		OR_DEFAULT(c->request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS);
	a->stop_timeout_ms =
		OR_DEFAULT(c->stop_timeout_ms, DEFAULT_STOP_TIMEOUT_MS);
}

NetAnnouncer *net_announcer_new(const NetAnnouncerConfig *config,
				const NetAnnouncerCallbacks *callbacks,
				GError **error)
{
	NetAnnouncer *a;
	SoupSession *session;

	g_return_val_if_fail(config->url && config->peer_id, NULL);
	g_return_val_if_fail(config->passkey && *config->passkey, NULL);
	g_return_val_if_fail(config->port != 0, NULL);
	g_return_val_if_fail(callbacks->get_stats && callbacks->reply, NULL);

	if (!check_url(config->url, error))
		return NULL;
	session = make_session(config->ca_file, error);
	if (!session)
		return NULL;
	a = g_new0(NetAnnouncer, 1);
	a->context = g_main_context_ref_thread_default();
	a->session = session;
	a->cb = *callbacks;
	copy_config(a, config);
	a->torrents = g_hash_table_new_full(info_hash_hash, info_hash_equal,
					    NULL, torrent_free);
	a->requests = g_ptr_array_new();
	return a;
}

void net_announcer_free(NetAnnouncer *a)
{
	if (!a)
		return;
	g_hash_table_destroy(a->torrents);
	g_ptr_array_foreach(a->requests, request_detach, NULL);
	g_ptr_array_unref(a->requests);
	if (a->shutdown)
		g_task_return_new_error(a->shutdown, G_IO_ERROR,
					G_IO_ERROR_CANCELLED,
					"The announcer was freed before it "
					"shut down.");
	g_clear_object(&a->shutdown);
	g_object_unref(a->session);
	g_main_context_unref(a->context);
	g_free(a->url);
	g_free(a->passkey);
	g_free(a);
}

void net_announcer_add(NetAnnouncer *a, const guint8 *info_hash,
		       gpointer torrent)
{
	Torrent *t;

	g_return_if_fail(!a->shutting_down);
	g_return_if_fail(!g_hash_table_contains(a->torrents, info_hash));

	t = g_new0(Torrent, 1);
	t->announcer = a;
	memcpy(t->info_hash, info_hash, NET_ANNOUNCE_HASH_LEN);
	t->data = torrent;
	t->interval_s = MAX(DEFAULT_INTERVAL_S, a->interval_floor_s);
	t->min_interval_s = a->interval_floor_s;
	g_hash_table_insert(a->torrents, t->info_hash, t);
	/* From the loop, not from here: the owner may still be adding. */
	torrent_schedule(t, 0);
}

void net_announcer_remove(NetAnnouncer *a, const guint8 *info_hash)
{
	Torrent *t = g_hash_table_lookup(a->torrents, info_hash);
	g_autofree char *url = NULL;

	if (!t)
		return;
	/* Even an unanswered "started" may have reached the tracker. */
	if (t->last_sent) {
		url = torrent_build_url(t, NET_ANNOUNCE_EVENT_STOPPED);
		request_start(a, url, NET_ANNOUNCE_EVENT_STOPPED,
			      a->stop_timeout_ms);
	}
	g_hash_table_remove(a->torrents, info_hash);
}

void net_announcer_completed(NetAnnouncer *a, const guint8 *info_hash)
{
	Torrent *t = g_hash_table_lookup(a->torrents, info_hash);

	g_return_if_fail(t);
	t->completed_pending = TRUE;
	/* In flight: it goes when that one ends. Backing off: with the
	 * next try. */
	if (!t->request && t->failures == 0)
		torrent_schedule(t, 0);
}

void net_announcer_announce_now(NetAnnouncer *a, const guint8 *info_hash)
{
	Torrent *t = g_hash_table_lookup(a->torrents, info_hash);
	gint64 earliest, now = g_get_monotonic_time();

	g_return_if_fail(t);
	if (t->request || t->failures > 0 || !t->timer)
		return;
	earliest = t->last_sent + (gint64)t->min_interval_s * G_USEC_PER_SEC;
	if (earliest < t->due)
		torrent_schedule(t, (guint)(MAX(earliest - now, 0) / 1000));
}

const GArray *net_announcer_get_peers(NetAnnouncer *a, const guint8 *info_hash)
{
	Torrent *t = g_hash_table_lookup(a->torrents, info_hash);

	return t ? t->peers : NULL;
}

void net_announcer_shutdown_async(NetAnnouncer *a, GAsyncReadyCallback callback,
				  gpointer user_data)
{
	g_autoptr(GPtrArray) hashes = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter iter;
	gpointer key;

	g_return_if_fail(!a->shutting_down);
	a->shutting_down = TRUE;
	a->shutdown = g_task_new(NULL, NULL, callback, user_data);
	g_task_set_source_tag(a->shutdown, net_announcer_shutdown_async);
	g_hash_table_iter_init(&iter, a->torrents);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(hashes, g_memdup2(key, NET_ANNOUNCE_HASH_LEN));
	for (guint i = 0; i < hashes->len; i++)
		net_announcer_remove(a, hashes->pdata[i]);
	maybe_finish_shutdown(a);
}

gboolean net_announcer_shutdown_finish(NetAnnouncer *a, GAsyncResult *result,
				       GError **error)
{
	g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
	return g_task_propagate_boolean(G_TASK(result), error);
}
