/*
 * peer: the BitTorrent protocol state of one connection, sans I/O.
 *
 * The owner feeds it the bytes the connection received
 * (net_peer_feed), writes out the bytes it queues (net_peer_out_peek,
 * net_peer_out_consume) and advances its clock (net_peer_tick). In
 * between, the peer runs both directions of the BEP 3 handshake and
 * the BEP 10 extension handshake, sends our bitfield, tracks the
 * choke and interest state of both sides, the peer's pieces, the
 * requests we sent and those it sent, and reports what happened
 * through one event callback.
 *
 * Owns: the decoder, the outbound queue, both request queues and the
 * peer's bitfield. Must not: touch sockets or disk, or decide anything
 * (whom to choke, what to request, whom to blame): that is the swarm's
 * policy, which calls the net_peer_send_* functions below. The one
 * thing it decides is that a peer which breaks the protocol is done:
 * it reports one NET_PEER_EVENT_ERROR and from then on ignores input
 * and refuses to send; the owner closes the connection and frees it.
 *
 * Time is the owner's clock, never read here, so the peer is
 * deterministic. Our requests are stamped with the time the owner
 * passes to net_peer_request, so their ages are exact in its clock;
 * NET_PEER_EVENT_REQUEST_TIMEOUT fires at the first net_peer_tick at or
 * after a request's deadline: never early, late by at most one tick
 * period. Silence (keep-alive, idle, handshake) is measured from the
 * latest time the owner gave (a tick or a request) before bytes moved,
 * so those timers, all tens of seconds long, may fire a tick early.
 *
 * Their requests: an honest peer keeps at most our reqq (max_requests)
 * in flight by its own count, but its count and ours disagree while
 * messages cross on the wire. A request it sends after cancelling one
 * we had already answered, or requests it sent before our choke that
 * arrive after a quick unchoke, leave more queued here than it counts.
 * So we serve up to twice reqq (BEP 10 lets us drop what exceeds reqq,
 * but an honest peer would then wait for its request to time out), and
 * only more than that is a flood: a protocol error.
 *
 * Re-entrancy: the event callback may call any function here on the
 * same peer except net_peer_feed and net_peer_free (mark the
 * connection closed and free it from an idle, as the house style
 * says). Not thread-safe: the engine's main loop owns every peer.
 */
#pragma once

#include <gio/gio.h>

#include "bitfield.h"

G_BEGIN_DECLS

/* What we advertise as reqq unless the config says otherwise: deep
 * enough to keep a fast loopback or LAN link busy (8 MiB in flight). */
#define NET_PEER_DEFAULT_MAX_REQUESTS 512
/* Their reqq when their extension handshake names none, and the range
 * we clamp a named one (and our own) to. */
#define NET_PEER_DEFAULT_PEER_REQUESTS 250
#define NET_PEER_MIN_PEER_REQUESTS 16
#define NET_PEER_MAX_PEER_REQUESTS 2048
/* Default timers, in microseconds. */
#define NET_PEER_DEFAULT_KEEPALIVE (90 * G_USEC_PER_SEC)
#define NET_PEER_DEFAULT_IDLE_TIMEOUT (180 * G_USEC_PER_SEC)
#define NET_PEER_DEFAULT_HANDSHAKE_TIMEOUT (30 * G_USEC_PER_SEC)
#define NET_PEER_DEFAULT_REQUEST_TIMEOUT (30 * G_USEC_PER_SEC)

typedef struct _NetPeer NetPeer;

/* One torrent as a peer needs to know it. */
typedef struct {
	guint8 info_hash[20];
	guint32 piece_count; /* at least 1 */
	guint32 piece_length;
	guint64 length; /* total bytes */
	/* Our verified pieces (piece_count bits), copied; NULL for none.
	 * Later ones reach the peer through net_peer_send_have. */
	const NetBitfield *have;
} NetPeerTorrent;

/* For an incoming connection: fill @torrent for @info_hash and return
 * TRUE to serve it, or return FALSE to refuse the peer (unknown
 * torrent, or a user who may not have it). Called once, from
 * net_peer_feed. */
typedef gboolean (*NetPeerLookupFunc)(NetPeer *peer, const guint8 info_hash[20],
				      NetPeerTorrent *torrent,
				      gpointer user_data);

/* Ours, shared by every peer of an engine; copied by net_peer_new_*.
 * Zero timers and max_requests mean the defaults above; max_requests
 * is clamped to NET_PEER_MAX_PEER_REQUESTS. */
typedef struct {
	guint8 peer_id[20];
	guint16 listen_port; /* 0: not advertised */
	guint32 max_requests; /* reqq we advertise; we queue up to twice */
	gint64 keepalive_us; /* send silence before a keep-alive */
	gint64 idle_timeout_us; /* receive silence before we give up */
	gint64 handshake_timeout_us; /* until the BEP 3 handshake is done */
	gint64 request_timeout_us; /* before NET_PEER_EVENT_REQUEST_TIMEOUT */
	NetPeerLookupFunc lookup; /* incoming connections without a torrent */
	gpointer lookup_data;
} NetPeerConfig;

typedef enum {
	/* BEP 3 handshake done both ways: the net_peer_get_peer_* getters
	 * answer, and our extension handshake and bitfield are queued. */
	NET_PEER_EVENT_HANDSHAKE,
	/* Their BEP 10 handshake arrived (again, if they resend it): the
	 * client name, listen port and reqq getters are updated. */
	NET_PEER_EVENT_EXTENDED_HANDSHAKE,
	/* Their bitfield; net_peer_get_peer_have has it. At most once. */
	NET_PEER_EVENT_BITFIELD,
	/* A have for a piece they did not have before (@index). */
	NET_PEER_EVENT_HAVE,
	/* These four fire only when the state changes. A choke comes
	 * after one NET_PEER_EVENT_REQUEST_DROPPED per request we had
	 * outstanding. */
	NET_PEER_EVENT_CHOKE,
	NET_PEER_EVENT_UNCHOKE,
	NET_PEER_EVENT_INTERESTED,
	NET_PEER_EVENT_NOT_INTERESTED,
	/* A block (@index, @begin, @length bytes at @data, borrowed for
	 * the call). @requested: it answers a request we still had
	 * outstanding, which is now forgotten; otherwise we cancelled it,
	 * it was dropped by a choke, or we never asked for it. */
	NET_PEER_EVENT_BLOCK,
	/* They want a block: answer with net_peer_send_piece, now or
	 * later, or drop it with net_peer_drop_request. */
	NET_PEER_EVENT_REQUEST,
	/* They cancelled a request that was still queued. */
	NET_PEER_EVENT_CANCEL,
	/* They choked us, so they will not answer this request of ours:
	 * give the block back to the picker. */
	NET_PEER_EVENT_REQUEST_DROPPED,
	/* Our request has been outstanding for request_timeout_us; it
	 * stays outstanding until net_peer_cancel or its block. Once per
	 * request. */
	NET_PEER_EVENT_REQUEST_TIMEOUT,
	/* The peer is dead (@error: NET_ERROR_PROTOCOL for a violation,
	 * G_IO_ERROR_TIMED_OUT for silence): close the connection. */
	NET_PEER_EVENT_ERROR,
} NetPeerEventType;

typedef struct {
	NetPeerEventType type;
	guint32 index;
	guint32 begin;
	guint32 length;
	const guint8 *data; /* block */
	gboolean requested; /* block */
	const GError *error; /* error */
} NetPeerEvent;

typedef void (*NetPeerEventFunc)(NetPeer *peer, const NetPeerEvent *event,
				 gpointer user_data);

/* Bytes moved, counted when they are fed and when the owner consumes
 * them from the outbound queue; payload is block bytes alone. */
typedef struct {
	guint64 bytes_in;
	guint64 bytes_out;
	guint64 payload_in;
	guint64 payload_out;
} NetPeerStats;

/* We connected: our handshake is queued at once, and theirs must name
 * @torrent and another peer id than ours. */
NetPeer *net_peer_new_outgoing(const NetPeerConfig *config,
			       const NetPeerTorrent *torrent,
			       NetPeerEventFunc on_event, gpointer user_data,
			       gint64 now_us);
/* They connected: we answer once their handshake arrives and names
 * @expected, or, when @expected is NULL, a torrent config->lookup
 * accepts. */
NetPeer *net_peer_new_incoming(const NetPeerConfig *config,
			       const NetPeerTorrent *expected,
			       NetPeerEventFunc on_event, gpointer user_data,
			       gint64 now_us);
void net_peer_free(NetPeer *peer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetPeer, net_peer_free)

/* Hands the peer's events to another handler, e.g. from the lookup
 * callback, once the connection belongs to a torrent. */
void net_peer_set_event_func(NetPeer *peer, NetPeerEventFunc on_event,
			     gpointer user_data);

/* Input. Processes @len received bytes, emitting events as it goes.
 * Returns FALSE once the peer is dead (now or before). */
gboolean net_peer_feed(NetPeer *peer, const guint8 *data, gsize len);
/* Advances the clock to @now_us: queues a keep-alive after
 * keepalive_us of send silence, reports request timeouts, and kills
 * the peer after idle_timeout_us without input (or handshake_timeout_us
 * without a handshake). Returns FALSE once the peer is dead. */
gboolean net_peer_tick(NetPeer *peer, gint64 now_us);

/* Output. Bytes queued and not yet consumed: the backpressure gauge. */
gsize net_peer_out_pending(const NetPeer *peer);
/* Fills up to @max views of the queued bytes, in order, and returns
 * how many. They stay valid until net_peer_out_consume or
 * net_peer_free; piece blocks appear as the caller's own GBytes. */
guint net_peer_out_peek(NetPeer *peer, GOutputVector *vecs, guint max);
/* The transport wrote the first @n queued bytes. */
void net_peer_out_consume(NetPeer *peer, gsize n);

/* Policy actions. Each queues its message only when it changes
 * something, and does nothing on a dead peer. */
void net_peer_set_choking(NetPeer *peer, gboolean choking);
void net_peer_set_interested(NetPeer *peer, gboolean interested);
/* Announces a piece we verified (or records it for the bitfield if the
 * handshake is not done yet). */
void net_peer_send_have(NetPeer *peer, guint32 index);
/* Requests a block, which must lie in the torrent, at @now_us (the
 * clock net_peer_tick gets): its age and timeout count from then. FALSE
 * (nothing sent) when they choke us, it is already outstanding, or
 * net_peer_request_room is 0. */
gboolean net_peer_request(NetPeer *peer, guint32 index, guint32 begin,
			  guint32 length, gint64 now_us);
/* Cancels an outstanding request; FALSE if it was not outstanding. */
gboolean net_peer_cancel(NetPeer *peer, guint32 index, guint32 begin,
			 guint32 length);
/* Answers their request for g_bytes_get_size(@block) bytes at
 * @index/@begin with a reference to @block (no copy). FALSE, and
 * nothing sent, when that request is no longer queued (cancelled,
 * dropped by our choke) or the peer is dead. */
gboolean net_peer_send_piece(NetPeer *peer, guint32 index, guint32 begin,
			     GBytes *block);
/* Forgets one of their requests without answering (e.g. the read
 * failed); FALSE if it was not queued. */
gboolean net_peer_drop_request(NetPeer *peer, guint32 index, guint32 begin,
			       guint32 length);

/* State. */
gboolean net_peer_is_dead(const NetPeer *peer);
/* The BEP 3 handshake is done both ways. */
gboolean net_peer_is_ready(const NetPeer *peer);
gboolean net_peer_is_incoming(const NetPeer *peer);
gboolean net_peer_am_choking(const NetPeer *peer);
gboolean net_peer_am_interested(const NetPeer *peer);
gboolean net_peer_peer_choking(const NetPeer *peer);
gboolean net_peer_peer_interested(const NetPeer *peer);
/* NULL until the handshake (or lookup) names the torrent. */
const guint8 *net_peer_get_info_hash(const NetPeer *peer);
/* The handshake's fields: NULL until NET_PEER_EVENT_HANDSHAKE. */
const guint8 *net_peer_get_peer_id(const NetPeer *peer);
const guint8 *net_peer_get_peer_reserved(const NetPeer *peer);
gboolean net_peer_peer_supports_extensions(const NetPeer *peer);
/* From their extension handshake: "v" (NULL if none or not UTF-8),
 * "p" (0 if none) and "reqq" (clamped; the default until it arrives). */
const char *net_peer_get_peer_client(const NetPeer *peer);
guint16 net_peer_get_peer_listen_port(const NetPeer *peer);
guint32 net_peer_get_peer_max_requests(const NetPeer *peer);
/* Their pieces; NULL until the torrent is known. */
const NetBitfield *net_peer_get_peer_have(const NetPeer *peer);
/* Requests we may still send now: their reqq minus those outstanding,
 * 0 while they choke us. */
guint32 net_peer_request_room(const NetPeer *peer);
/* Our requests outstanding, and theirs queued for an answer. */
guint32 net_peer_requests_outstanding(const NetPeer *peer);
guint32 net_peer_requests_queued(const NetPeer *peer);
/* Microseconds from sending the request to @now_us, or -1 if it is
 * not outstanding. */
gint64 net_peer_request_age(const NetPeer *peer, guint32 index, guint32 begin,
			    gint64 now_us);
void net_peer_get_stats(const NetPeer *peer, NetPeerStats *stats);

G_END_DECLS
