/*
 * announce: the BitTorrent tracker client (BEP 3 HTTP announce, BEP 23
 * compact peers, BEP 7 peers6).
 *
 * Two layers. The codec (announce-codec.c) builds the announce URL and
 * parses the tracker's bencoded reply; it is pure, so the fuzzer and the
 * unit tests drive it byte for byte. The announcer (announce.c) owns
 * one SoupSession and, for every torrent that the daemon serves, the
 * schedule: "started" when it is added, "completed" when its download
 * finishes, a re-announce at the tracker's interval, "stopped" when it
 * is removed, and retries with exponential backoff while the tracker
 * cannot be reached, keeping the last peers it gave.
 *
 * Must not: decide what to do with peers or refusals (the owner does:
 * connect, or stop the torrent), follow redirects (the passkey would go
 * with them), or read an unbounded reply.
 *
 * Threading: an announcer lives on the thread-default GMainContext of
 * the thread that made it, and every call and callback happens there.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NET_ANNOUNCE_HASH_LEN 20
/* Bytes of a reply body that we read at most. */
#define NET_ANNOUNCE_MAX_REPLY (256 * 1024)
/* The longest interval a tracker may ask for before we call it broken;
 * the announcer then clamps to an hour (NET_ANNOUNCE_INTERVAL_CAP). */
#define NET_ANNOUNCE_MAX_INTERVAL (7 * 24 * 3600)
#define NET_ANNOUNCE_INTERVAL_CAP 3600

typedef enum {
	NET_ANNOUNCE_EVENT_NONE,
	NET_ANNOUNCE_EVENT_STARTED,
	NET_ANNOUNCE_EVENT_COMPLETED,
	NET_ANNOUNCE_EVENT_STOPPED,
} NetAnnounceEvent;

typedef struct {
	const guint8 *info_hash; /* 20 bytes */
	const guint8 *peer_id; /* 20 bytes */
	const char *passkey;
	guint16 port;
	guint64 uploaded;
	guint64 downloaded;
	guint64 left;
	NetAnnounceEvent event; /* NONE: the parameter is left out */
	guint numwant; /* 0: left out */
} NetAnnounceRequest;

typedef struct {
	GSocketFamily family; /* G_SOCKET_FAMILY_IPV4 or _IPV6 */
	guint8 ip[16]; /* network order; 4 bytes used for IPv4 */
	guint16 port; /* never 0 */
} NetAnnouncePeer;

typedef struct {
	guint interval; /* seconds, 1..NET_ANNOUNCE_MAX_INTERVAL, as sent */
	guint min_interval; /* as sent, or 0 when the tracker gave none */
	gint64 complete; /* seeders, or -1 when the tracker did not say */
	gint64 incomplete; /* leechers, or -1 */
	GArray *peers; /* NetAnnouncePeer: "peers" then "peers6", in order */
} NetAnnounceReply;

/*
 * The codec (pure).
 */

/* @base_url with the announce query appended ('?' or '&' as @base_url
 * needs): info_hash, peer_id, port, uploaded, downloaded, left, event,
 * numwant, compact=1, passkey, in that order. Every byte but RFC 3986's
 * unreserved characters is percent-encoded, in upper-case hex. */
char *net_announce_build_url(const char *base_url,
			     const NetAnnounceRequest *req);

/* Parses a reply body (at most NET_ANNOUNCE_MAX_REPLY bytes). A
 * "failure reason" is NET_ERROR_TRACKER whose message is the tracker's
 * sentence, stripped of control characters and cut to 300 characters.
 * A body that is not a bencoded dict, a missing or out-of-range
 * interval, or peers that are not 6 (peers6: 18) bytes each, or a
 * non-compact peer without a literal IP address and a port, is
 * NET_ERROR_PROTOCOL (or a bencode error). Peers with port 0 are left
 * out. */
NetAnnounceReply *net_announce_reply_parse(const guint8 *data, gsize len,
					   GError **error);
void net_announce_reply_free(NetAnnounceReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetAnnounceReply, net_announce_reply_free)

/* A new GInetSocketAddress for @peer. */
GSocketAddress *net_announce_peer_to_address(const NetAnnouncePeer *peer);

/* "started", "completed", "stopped", or NULL for NONE. */
const char *net_announce_event_name(NetAnnounceEvent event);

/*
 * The announcer.
 */

typedef struct {
	const char *url; /* "https://tracker:port/announce" (or http://) */
	const char *ca_file; /* PEM CAs to trust for https; NULL: system */
	const char *passkey;
	const guint8 *peer_id; /* 20 bytes */
	guint16 port; /* where members reach our peer listener */
	guint numwant; /* 0: 50 */
	/* Timing; 0 picks the default in brackets. */
	guint interval_floor_s; /* [10] least interval and min interval */
	guint retry_initial_ms; /* [5000] first retry after a failure */
	guint retry_max_ms; /* [300000] retries double up to this */
	guint request_timeout_ms; /* [30000] per announce */
	guint stop_timeout_ms; /* [3000] per "stopped" announce */
} NetAnnouncerConfig;

/* Every callback gets the @torrent pointer given to net_announcer_add.
 * A callback may call net_announcer_remove for its torrent, but must not
 * free the announcer. */
typedef struct {
	/* Required: the totals to send, asked just before each announce. */
	void (*get_stats)(gpointer torrent, guint64 *uploaded,
			  guint64 *downloaded, guint64 *left);
	/* Required: a successful reply, with the tracker's current peers
	 * (maybe none). The reply is borrowed for the call. */
	void (*reply)(gpointer torrent, const NetAnnounceReply *reply);
	/* Optional: the tracker refused (NET_ERROR_TRACKER, its sentence,
	 * e.g. not a member). The announcer retries with backoff; the owner
	 * may remove the torrent instead. */
	void (*refused)(gpointer torrent, const GError *error);
	/* Optional: no usable answer (network, TLS, HTTP status, timeout,
	 * malformed reply). The last peers are kept; the next try is in
	 * @retry_ms. */
	void (*unreachable)(gpointer torrent, const GError *error,
			    guint retry_ms);
} NetAnnouncerCallbacks;

typedef struct _NetAnnouncer NetAnnouncer;

/* Checks @config (an http(s) URL, a readable @ca_file, a passkey and a
 * port) and makes the shared session. Copies everything it keeps. */
NetAnnouncer *net_announcer_new(const NetAnnouncerConfig *config,
				const NetAnnouncerCallbacks *callbacks,
				GError **error);

/* Cancels every timer and request at once, without "stopped"; use
 * net_announcer_shutdown_async first for a polite exit. Requests still
 * in flight release their memory when their cancellation reaches the
 * main context. */
void net_announcer_free(NetAnnouncer *announcer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetAnnouncer, net_announcer_free)

/* Starts announcing @info_hash: "started" right away, then at the
 * tracker's interval. @torrent is the owner's, passed to callbacks. */
void net_announcer_add(NetAnnouncer *announcer, const guint8 *info_hash,
		       gpointer torrent);

/* Sends "stopped" (bounded by stop_timeout_ms) unless nothing was ever
 * sent, and forgets @info_hash: no callback for it runs after this. */
void net_announcer_remove(NetAnnouncer *announcer, const guint8 *info_hash);

/* The download of @info_hash finished: sends "completed" as soon as no
 * other announce for it is in flight. Once per download. */
void net_announcer_completed(NetAnnouncer *announcer, const guint8 *info_hash);

/* The owner needs peers now: announces as soon as the tracker's min
 * interval since the last announce allows, unless one is in flight or
 * the announcer is backing off after a failure. */
void net_announcer_announce_now(NetAnnouncer *announcer,
				const guint8 *info_hash);

/* The peers of the last successful reply (NetAnnouncePeer), or NULL
 * before one. Borrowed: valid until the next reply or the removal. */
const GArray *net_announcer_get_peers(NetAnnouncer *announcer,
				      const guint8 *info_hash);

/* Removes every torrent (sending "stopped") and completes when no
 * request is left in flight, at most stop_timeout_ms later. No torrent
 * can be added afterwards. */
void net_announcer_shutdown_async(NetAnnouncer *announcer,
				  GAsyncReadyCallback callback,
				  gpointer user_data);
gboolean net_announcer_shutdown_finish(NetAnnouncer *announcer,
				       GAsyncResult *result, GError **error);

G_END_DECLS
