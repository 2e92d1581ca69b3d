/* Tests for net/announce: the codec byte for byte, then the announcer
 * against a real SoupServer on 127.0.0.1 (plain HTTP for the schedule,
 * HTTPS with a CA from tracker/ca for the trust checks). */
#include <string.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "announce.h"
#include "bencode.h"
#include "ca.h"
#include "net-error.h"

/* Bytes that every escaping rule must get right: NUL, high bytes,
 * separators, the escape character itself, and unreserved ones. */
static const guint8 info_hash[NET_ANNOUNCE_HASH_LEN] = {
	0x00, 0xff, ' ', '&', '=', '%', '+', '/',  '?',	 '#',
	'a',  'Z',  '0', '-', '.', '_', '~', 0x7f, 0x80, 0x12,
};
static const guint8 peer_id[NET_ANNOUNCE_HASH_LEN] = "-GF0100-abcdef/12345";
static const char passkey[] = "0123456789abcdef0123456789abcdef";

/*
 * The URL.
 */

static void test_url_exact(void)
{
	NetAnnounceRequest req = {
		.info_hash = info_hash,
		.peer_id = peer_id,
		.passkey = "p a+ss",
		.port = 6881,
		.uploaded = 1,
		.downloaded = 2,
		.left = G_MAXUINT64,
		.event = NET_ANNOUNCE_EVENT_STARTED,
		.numwant = 50,
	};
	g_autofree char *url =
		net_announce_build_url("https://t:1/announce", &req);

	g_assert_cmpstr(
		url, ==,
		"https://t:1/announce"
		"?info_hash=%00%FF%20%26%3D%25%2B%2F%3F%23aZ0-._~%7F%80%12"
		"&peer_id=-GF0100-abcdef%2F12345"
		"&port=6881&uploaded=1&downloaded=2"
		"&left=18446744073709551615"
		"&event=started&numwant=50&compact=1&passkey=p%20a%2Bss");
}

static void test_url_optional_parts(void)
{
	NetAnnounceRequest req = {
		.info_hash = info_hash,
		.peer_id = peer_id,
		.passkey = "k",
		.port = 1,
	};
	g_autofree char *url = net_announce_build_url("http://t/a?x=1", &req);

	/* No event, no numwant, and '&' after a query already there. */
	g_assert_true(g_str_has_prefix(url, "http://t/a?x=1&info_hash="));
	g_assert_true(g_str_has_suffix(
		url, "&port=1&uploaded=0&downloaded=0&left=0&compact=1"
		     "&passkey=k"));
	g_assert_null(strstr(url, "event="));
	g_assert_null(strstr(url, "numwant="));
}

/* Every byte value, in every position: only unreserved characters
 * appear bare, and unescaping gives back the exact bytes. */
static void test_url_escapes_every_byte(void)
{
	for (guint start = 0; start < 256; start++) {
		guint8 hash[NET_ANNOUNCE_HASH_LEN];
		NetAnnounceRequest req = {.info_hash = hash,
					  .peer_id = peer_id,
					  .passkey = "k",
					  .port = 1};
		g_autofree char *url = NULL;
		g_autoptr(GBytes) back = NULL;
		const char *value;
		const char *end;

		for (guint i = 0; i < sizeof(hash); i++)
			hash[i] = (guint8)(start + i * 13);
		url = net_announce_build_url("http://t/a", &req);
		value = strstr(url, "info_hash=") + strlen("info_hash=");
		end = strchr(value, '&');
		for (const char *p = value; p < end; p++)
			g_assert_true(g_ascii_isalnum(*p) ||
				      strchr("-._~%", *p));
		back = g_uri_unescape_bytes(value, end - value, NULL, NULL);
		g_assert_nonnull(back);
		g_assert_cmpmem(g_bytes_get_data(back, NULL),
				g_bytes_get_size(back), hash, sizeof(hash));
	}
}

/*
 * The reply.
 */

static NetAnnounceReply *parse(const char *data, gsize len, GError **error)
{
	return net_announce_reply_parse((const guint8 *)data, len, error);
}

#define PARSE_LITERAL(lit, error) parse(lit, sizeof(lit) - 1, error)

static void assert_peer(const GArray *peers, guint i, const char *ip,
			guint16 port)
{
	const NetAnnouncePeer *peer = &g_array_index(peers, NetAnnouncePeer, i);
	g_autoptr(GSocketAddress) addr = net_announce_peer_to_address(peer);
	GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(addr);
	g_autofree char *text = g_inet_address_to_string(
		g_inet_socket_address_get_address(inet));

	g_assert_cmpstr(text, ==, ip);
	g_assert_cmpuint(peer->port, ==, port);
	g_assert_cmpuint(g_inet_socket_address_get_port(inet), ==, port);
}

static void test_reply_compact(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetAnnounceReply) reply = PARSE_LITERAL(
		"d8:completei2e10:incompletei1e8:intervali1800e"
		"12:min intervali900e5:peers12:\x0a\x00\x00\x07\x1a\xe1"
		"\xc0\xa8\x01\xfe\xff\xff"
		"e",
		&error);

	g_assert_no_error(error);
	g_assert_cmpuint(reply->interval, ==, 1800);
	g_assert_cmpuint(reply->min_interval, ==, 900);
	g_assert_cmpint(reply->complete, ==, 2);
	g_assert_cmpint(reply->incomplete, ==, 1);
	g_assert_cmpuint(reply->peers->len, ==, 2);
	assert_peer(reply->peers, 0, "10.0.0.7", 6881);
	assert_peer(reply->peers, 1, "192.168.1.254", 65535);
}

static void test_reply_minimal(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetAnnounceReply) reply =
		PARSE_LITERAL("d8:intervali1e5:peers0:e", &error);

	g_assert_no_error(error);
	g_assert_cmpuint(reply->interval, ==, 1);
	g_assert_cmpuint(reply->min_interval, ==, 0);
	g_assert_cmpint(reply->complete, ==, -1);
	g_assert_cmpint(reply->incomplete, ==, -1);
	g_assert_cmpuint(reply->peers->len, ==, 0);
}

/* BEP 3's long form, as other trackers send it; "peer id" ignored. */
static void test_reply_dict_peers(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetAnnounceReply) reply = PARSE_LITERAL(
		"d8:intervali60e5:peersl"
		"d2:ip8:10.1.2.37:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti80ee"
		"d2:ip3:::14:porti6881ee"
		"d2:ip7:1.2.3.44:porti0ee"
		"ee",
		&error);

	g_assert_no_error(error);
	/* The port-0 peer is left out. */
	g_assert_cmpuint(reply->peers->len, ==, 2);
	assert_peer(reply->peers, 0, "10.1.2.3", 80);
	assert_peer(reply->peers, 1, "::1", 6881);
}

static void test_reply_peers6(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NetAnnounceReply) reply = PARSE_LITERAL(
		"d8:intervali60e5:peers6:\x7f\x00\x00\x01\x00\x50"
		"6:peers636:"
		"\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
		"\x1a\xe1"
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
		"\x00\x00"
		"e",
		&error);

	g_assert_no_error(error);
	g_assert_cmpuint(reply->peers->len, ==, 2);
	assert_peer(reply->peers, 0, "127.0.0.1", 80);
	assert_peer(reply->peers, 1, "2001:db8::1", 6881);
}

static void assert_refusal(const char *body, gsize len, const char *message)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(parse(body, len, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_TRACKER);
	g_assert_cmpstr(error->message, ==, message);
}

#define ASSERT_REFUSAL(lit, message) \
	assert_refusal(lit, sizeof(lit) - 1, message)

static void test_reply_failure_reason(void)
{
	g_autoptr(GString) long_reason = g_string_new("d14:failure reason");
	g_autofree char *expected = g_strnfill(300, 'x');

	ASSERT_REFUSAL("d14:failure reason35:You are not a member of this "
		       "group.e",
		       "You are not a member of this group.");
	/* A failure wins over everything else in the dict. */
	ASSERT_REFUSAL("d14:failure reason2:no8:intervali-5ee", "no");
	/* Terminal escapes cannot reach the user's terminal. */
	ASSERT_REFUSAL("d14:failure reason9:\x1b[31mred\ne", "?[31mred?");
	ASSERT_REFUSAL("d14:failure reason0:e",
		       "The tracker refused the announce without saying why.");
	ASSERT_REFUSAL("d14:failure reason2:\xff\xfe"
		       "e",
		       "The tracker refused the announce, and its reason is "
		       "not readable text.");
	ASSERT_REFUSAL("d14:failure reasoni7ee",
		       "The tracker refused the announce, and its reason is "
		       "not readable text.");
	g_string_append(long_reason, "1000:");
	for (guint i = 0; i < 1000; i++)
		g_string_append_c(long_reason, 'x');
	g_string_append_c(long_reason, 'e');
	assert_refusal(long_reason->str, long_reason->len, expected);
}

typedef struct {
	const char *body;
	gsize len; /* 0: strlen */
	GQuark domain;
	int code;
} Rejection;

static void test_reply_rejections(void)
{
	const GQuark net = NET_ERROR;
	const Rejection cases[] = {
		{"", 0, net, NET_ERROR_TRUNCATED},
		{"d8:intervali60e", 0, net, NET_ERROR_TRUNCATED},
		{"d8:intervali60e5:peers6:abce", 0, net, NET_ERROR_TRUNCATED},
		{"d8:intervali60e5:peers0:ee", 0, net, NET_ERROR_BENCODE},
		{"i5e", 0, net, NET_ERROR_PROTOCOL},
		{"le", 0, net, NET_ERROR_PROTOCOL},
		{"5:peers", 0, net, NET_ERROR_PROTOCOL},
		{"d5:peers0:e", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali-1e5:peers0:e", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali0e5:peers0:e", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali604801e5:peers0:e", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali99999999999999999999e5:peers0:e", 0, net,
		 NET_ERROR_LIMIT},
		{"d8:interval2:605:peers0:e", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali60e12:min intervali-1e5:peers0:e", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:completei-1e8:intervali60e5:peers0:e", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60ee", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peers7:abcdefge", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersi6ee", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peers0:6:peers617:aaaaaaaaaaaaaaaaae", 0,
		 net, NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peers0:6:peers6lee", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersli1eee", 0, net, NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersld4:porti1eeee", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersld2:ip9:localhost4:porti1eeee", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersld2:ip7:1.2.3.4eee", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti65536eeee", 0,
		 net, NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti-1eeee", 0, net,
		 NET_ERROR_PROTOCOL},
		{"d8:intervali60e5:peersld2:ip8:1.2.3.4\x00"
		 "4:porti1eeee",
		 sizeof("d8:intervali60e5:peersld2:ip8:1.2.3.4\x00"
			"4:porti1eeee") -
			 1,
		 net, NET_ERROR_PROTOCOL},
		/* Deeper than any reply needs. */
		{"d8:intervali60e5:peersllllleeeeee", 0, net, NET_ERROR_LIMIT},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		const Rejection *c = &cases[i];
		gsize len = c->len ? c->len : strlen(c->body);

		g_test_message("case %zu: %s", i, c->body);
		g_assert_null(parse(c->body, len, &error));
		g_assert_error(error, c->domain, c->code);
		/* A sentence, not a code. */
		g_assert_cmpuint(strlen(error->message), >, 10);
	}
}

static void test_reply_too_large(void)
{
	g_autoptr(GError) error = NULL;
	gsize len = NET_ANNOUNCE_MAX_REPLY + 1;
	g_autofree char *body = g_malloc(len);

	/* Refused for its size before a byte of it is parsed. */
	memset(body, 'x', len);
	g_assert_null(parse(body, len, &error));
	g_assert_error(error, NET_ERROR, NET_ERROR_LIMIT);
}

/* Random bytes and random cuts of a good reply never crash, and every
 * failure says why. */
static void test_reply_random_input(void)
{
	static const char good[] =
		"d8:completei2e8:intervali60e5:peers6:\x7f\x00\x00\x01\x1a\xe1"
		"6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00"
		"\x00\x00\x00\x01\x1a\xe1"
		"e";
	GRand *rand = g_rand_new_with_seed(4);
	guint8 buf[sizeof(good)];

	for (guint round = 0; round < 20000; round++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NetAnnounceReply) reply = NULL;
		gsize len = g_rand_int_range(rand, 0, sizeof(good));

		memcpy(buf, good, sizeof(good) - 1);
		buf[g_rand_int_range(rand, 0, sizeof(good) - 1)] =
			(guint8)g_rand_int(rand);
		reply = net_announce_reply_parse(buf, len, &error);
		g_assert_true((reply == NULL) == (error != NULL));
		if (error)
			g_assert_true(error->domain == NET_ERROR);
	}
	g_rand_free(rand);
}

/*
 * The announcer, against a SoupServer.
 */

typedef struct {
	gint64 at; /* monotonic µs */
	char *event; /* "" when absent */
	char *passkey;
	GBytes *info_hash;
	GBytes *peer_id;
	guint64 port;
	guint64 left;
	gboolean numwant;
} Hit;

static void hit_free(gpointer data)
{
	Hit *hit = data;

	g_free(hit->event);
	g_free(hit->passkey);
	g_bytes_unref(hit->info_hash);
	g_bytes_unref(hit->peer_id);
	g_free(hit);
}

typedef struct {
	SoupServer *server;
	char *url;
	char *dir; /* for CA files */
	GPtrArray *hits;
	/* The next answer. */
	guint status;
	GBytes *body;
	char *redirect;
	/* The announcer and what its callbacks saw. */
	NetAnnouncer *announcer;
	guint64 left;
	guint replies;
	guint refusals;
	guint unreachables;
	GError *error; /* the last refusal or failure */
	GArray *retry_ms;
	gboolean remove_on_refusal;
	guint shut_down; /* 1 once shutdown finished */
} Fixture;

static GBytes *make_reply(guint interval, guint min_interval, gsize npeers)
{
	GByteArray *out = g_byte_array_new();

	net_bencode_emit_dict_begin(out);
	net_bencode_emit_str(out, "interval");
	net_bencode_emit_int(out, interval);
	net_bencode_emit_str(out, "min interval");
	net_bencode_emit_int(out, min_interval);
	net_bencode_emit_str(out, "peers");
	net_bencode_emit_string(out,
				"\x0a\x00\x00\x07\x1a\xe1"
				"\x0a\x00\x00\x08\x1a\xe2",
				npeers * 6);
	net_bencode_emit_end(out);
	return g_byte_array_free_to_bytes(out);
}

static void set_reply(Fixture *f, guint status, GBytes *body)
{
	g_clear_pointer(&f->body, g_bytes_unref);
	f->status = status;
	f->body = body;
}

/* The raw (still escaped) value of @key in @query, unescaped. */
static GBytes *query_get(const char *query, const char *key)
{
	g_auto(GStrv) pairs = g_strsplit(query, "&", -1);
	gsize key_len = strlen(key);

	for (guint i = 0; pairs[i]; i++)
		if (strncmp(pairs[i], key, key_len) == 0 &&
		    pairs[i][key_len] == '=')
			return g_uri_unescape_bytes(pairs[i] + key_len + 1, -1,
						    NULL, NULL);
	return NULL;
}

static char *query_get_text(const char *query, const char *key)
{
	g_autoptr(GBytes) value = query_get(query, key);

	if (!value)
		return g_strdup("");
	return g_strndup(g_bytes_get_data(value, NULL),
			 g_bytes_get_size(value));
}

static guint64 query_get_number(const char *query, const char *key)
{
	g_autofree char *text = query_get_text(query, key);

	return g_ascii_strtoull(text, NULL, 10);
}

static void on_announce(SoupServer *server, SoupServerMessage *msg,
			const char *path, GHashTable *unused, gpointer data)
{
	Fixture *f = data;
	const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
	Hit *hit = g_new0(Hit, 1);

	g_assert_nonnull(query);
	hit->at = g_get_monotonic_time();
	hit->event = query_get_text(query, "event");
	hit->passkey = query_get_text(query, "passkey");
	hit->info_hash = query_get(query, "info_hash");
	hit->peer_id = query_get(query, "peer_id");
	hit->port = query_get_number(query, "port");
	hit->left = query_get_number(query, "left");
	hit->numwant = strstr(query, "numwant=") != NULL;
	g_ptr_array_add(f->hits, hit);
	if (f->redirect) {
		soup_server_message_set_redirect(msg, 302, f->redirect);
		return;
	}
	soup_server_message_set_status(msg, f->status, NULL);
	soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_COPY,
					 g_bytes_get_data(f->body, NULL),
					 g_bytes_get_size(f->body));
}

static Hit *hit_nth(Fixture *f, guint i)
{
	g_assert_cmpuint(i, <, f->hits->len);
	return f->hits->pdata[i];
}

static Hit *last_hit(Fixture *f)
{
	return hit_nth(f, f->hits->len - 1);
}

static guint hit_gap_ms(Fixture *f, guint i)
{
	return (guint)((hit_nth(f, i)->at - hit_nth(f, i - 1)->at) / 1000);
}

static char *server_url(SoupServer *server, const char *scheme)
{
	g_autoslist(GUri) uris = soup_server_get_uris(server);

	g_assert_nonnull(uris);
	return g_strdup_printf("%s://127.0.0.1:%d/announce", scheme,
			       g_uri_get_port(uris->data));
}

static SoupServer *start_server(Fixture *f, GTlsCertificate *cert,
				GSocketAddress *at)
{
	g_autoptr(GError) error = NULL;
	SoupServer *server = soup_server_new("tls-certificate", cert, NULL);
	SoupServerListenOptions opts = cert ? SOUP_SERVER_LISTEN_HTTPS : 0;

	soup_server_add_handler(server, "/announce", on_announce, f, NULL);
	if (at)
		soup_server_listen(server, at, opts, &error);
	else
		soup_server_listen_local(
			server, 0, opts | SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
	g_assert_no_error(error);
	return server;
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->hits = g_ptr_array_new_with_free_func(hit_free);
	f->retry_ms = g_array_new(FALSE, FALSE, sizeof(guint));
	f->left = 1000;
	set_reply(f, 200, make_reply(60, 30, 1));
	f->server = start_server(f, NULL, NULL);
	f->url = server_url(f->server, "http");
	f->dir = g_dir_make_tmp("test-announce-XXXXXX", &error);
	g_assert_no_error(error);
}

static gboolean keep_ticking(gpointer unused)
{
	return G_SOURCE_CONTINUE;
}

/* Turns the main context until *@counter reaches @n or @timeout_ms
 * passes; says whether it got there. */
static gboolean wait_until(const guint *counter, guint n, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;
	/* Wakes the loop so that the deadline is seen without events. */
	guint tick = g_timeout_add(10, keep_ticking, NULL);

	while (*counter < n && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	return *counter >= n;
}

static void wait_hits(Fixture *f, guint n, guint timeout_ms)
{
	g_assert_true(wait_until(&f->hits->len, n, timeout_ms));
}

static void on_shutdown(GObject *unused, GAsyncResult *res, gpointer data)
{
	Fixture *f = data;
	g_autoptr(GError) error = NULL;

	g_assert_true(net_announcer_shutdown_finish(f->announcer, res, &error));
	g_assert_no_error(error);
	f->shut_down = TRUE;
}

static void shut_down(Fixture *f, guint timeout_ms)
{
	net_announcer_shutdown_async(f->announcer, on_shutdown, f);
	g_assert_true(wait_until(&f->shut_down, 1, timeout_ms));
}

static void drain_context(void)
{
	for (guint i = 0; i < 100 && g_main_context_iteration(NULL, FALSE); i++)
		;
}

static void remove_tree(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_DIR))
			remove_tree(child);
		else
			g_assert_cmpint(g_unlink(child), ==, 0);
	}
	g_assert_cmpint(g_rmdir(path), ==, 0);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
	if (f->announcer && !f->shut_down)
		shut_down(f, 5000);
	g_clear_pointer(&f->announcer, net_announcer_free);
	if (f->server)
		soup_server_disconnect(f->server);
	g_clear_object(&f->server);
	drain_context();
	g_clear_pointer(&f->hits, g_ptr_array_unref);
	g_clear_pointer(&f->retry_ms, g_array_unref);
	g_clear_pointer(&f->body, g_bytes_unref);
	g_clear_error(&f->error);
	g_free(f->redirect);
	g_free(f->url);
	if (f->dir)
		remove_tree(f->dir);
	g_free(f->dir);
}

static void cb_get_stats(gpointer torrent, guint64 *uploaded,
			 guint64 *downloaded, guint64 *left)
{
	Fixture *f = torrent;

	*uploaded = 11;
	*downloaded = 22;
	*left = f->left;
}

static void cb_reply(gpointer torrent, const NetAnnounceReply *reply)
{
	Fixture *f = torrent;

	f->replies++;
}

static void cb_refused(gpointer torrent, const GError *error)
{
	Fixture *f = torrent;

	f->refusals++;
	g_clear_error(&f->error);
	f->error = g_error_copy(error);
	if (f->remove_on_refusal)
		net_announcer_remove(f->announcer, info_hash);
}

static void cb_unreachable(gpointer torrent, const GError *error,
			   guint retry_ms)
{
	Fixture *f = torrent;

	f->unreachables++;
	g_clear_error(&f->error);
	f->error = g_error_copy(error);
	g_array_append_val(f->retry_ms, retry_ms);
}

static const NetAnnouncerCallbacks callbacks = {
	.get_stats = cb_get_stats,
	.reply = cb_reply,
	.refused = cb_refused,
	.unreachable = cb_unreachable,
};

static NetAnnouncerConfig test_config(const char *url)
{
	return (NetAnnouncerConfig){
		.url = url,
		.passkey = passkey,
		.peer_id = peer_id,
		.port = 7000,
		.interval_floor_s = 1,
		.retry_initial_ms = 100,
		.retry_max_ms = 400,
		.request_timeout_ms = 10000,
		.stop_timeout_ms = 300,
	};
}

static void start_announcer(Fixture *f, const NetAnnouncerConfig *config)
{
	g_autoptr(GError) error = NULL;

	f->announcer = net_announcer_new(config, &callbacks, &error);
	g_assert_no_error(error);
	net_announcer_add(f->announcer, info_hash, f);
}

static void assert_hit(Fixture *f, guint i, const char *event, guint64 left)
{
	Hit *hit = hit_nth(f, i);

	g_assert_cmpstr(hit->event, ==, event);
	g_assert_cmpuint(hit->left, ==, left);
	g_assert_cmpstr(hit->passkey, ==, passkey);
	g_assert_cmpuint(hit->port, ==, 7000);
	g_assert_cmpmem(g_bytes_get_data(hit->info_hash, NULL),
			g_bytes_get_size(hit->info_hash), info_hash,
			sizeof(info_hash));
	g_assert_cmpmem(g_bytes_get_data(hit->peer_id, NULL),
			g_bytes_get_size(hit->peer_id), peer_id,
			sizeof(peer_id));
}

static void test_lifecycle(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);
	const GArray *peers;
	guint before;

	set_reply(f, 200, make_reply(1, 1, 2));
	start_announcer(f, &config);
	wait_hits(f, 3, 5000);
	assert_hit(f, 0, "started", 1000);
	assert_hit(f, 1, "", 1000);
	assert_hit(f, 2, "", 1000);
	g_assert_true(hit_nth(f, 0)->numwant);
	/* The tracker's interval, 1 s, and not the default 60 s. */
	for (guint i = 1; i < 3; i++) {
		g_assert_cmpuint(hit_gap_ms(f, i), >=, 950);
		g_assert_cmpuint(hit_gap_ms(f, i), <, 2500);
	}
	g_assert_cmpuint(f->replies, >=, 2);
	peers = net_announcer_get_peers(f->announcer, info_hash);
	g_assert_cmpuint(peers->len, ==, 2);
	assert_peer(peers, 1, "10.0.0.8", 6882);

	/* "completed" goes at once, not at the next interval. */
	before = f->hits->len;
	f->left = 0;
	net_announcer_completed(f->announcer, info_hash);
	wait_hits(f, before + 1, 2000);
	assert_hit(f, before, "completed", 0);
	g_assert_cmpuint(hit_gap_ms(f, before), <, 900);

	before = f->hits->len;
	shut_down(f, 2000);
	g_assert_cmpuint(f->hits->len, ==, before + 1);
	assert_hit(f, before, "stopped", 0);
	g_assert_false(last_hit(f)->numwant);
	g_assert_cmpuint(f->refusals + f->unreachables, ==, 0);
}

/* The tracker fails: retries back off (100, 200, 400, 400 ms less
 * jitter), the last peers stay, and a good reply ends the backoff. */
static void test_backoff_keeps_peers(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);
	const guint expect[] = {100, 200, 400, 400};
	const GArray *peers;
	guint first_failure;

	set_reply(f, 200, make_reply(1, 1, 1));
	start_announcer(f, &config);
	wait_hits(f, 1, 2000);
	set_reply(f, 500, g_bytes_new_static("oops", 4));
	first_failure = 1;
	wait_hits(f, first_failure + 1 + G_N_ELEMENTS(expect), 5000);
	g_assert_cmpuint(f->retry_ms->len, >=, G_N_ELEMENTS(expect));
	for (guint i = 0; i < G_N_ELEMENTS(expect); i++) {
		guint ms = g_array_index(f->retry_ms, guint, i);

		g_assert_cmpuint(ms, <=, expect[i]);
		g_assert_cmpuint(ms, >=, expect[i] * 3 / 4);
		/* Timers never fire early. */
		g_assert_cmpuint(hit_gap_ms(f, first_failure + i + 1), >=,
				 ms - 2);
	}
	g_assert_error(f->error, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_assert_nonnull(strstr(f->error->message, "HTTP 500"));
	g_assert_nonnull(strstr(f->error->message, f->url));
	peers = net_announcer_get_peers(f->announcer, info_hash);
	g_assert_cmpuint(peers->len, ==, 1);
	assert_peer(peers, 0, "10.0.0.7", 6881);
	g_assert_cmpuint(f->replies, ==, 1);

	/* Back: the next reply resets the backoff to the interval. */
	set_reply(f, 200, make_reply(60, 60, 2));
	g_assert_true(wait_until(&f->replies, 2, 2000));
	peers = net_announcer_get_peers(f->announcer, info_hash);
	g_assert_cmpuint(peers->len, ==, 2);
	g_assert_false(wait_until(&f->hits->len, f->hits->len + 1, 700));
}

/* No server at all: connection refused, backoff, then the tracker
 * comes up on that port and the announcer gets through. */
static void test_tracker_down(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) probe = g_socket_new(
		G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, &error);
	g_autoptr(GInetAddress) lo =
		g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) at = NULL;
	g_autofree char *url = NULL;
	NetAnnouncerConfig config;

	/* A port that nothing listens on, known to be free a moment ago. */
	g_assert_true(g_socket_bind(probe, any, FALSE, &error));
	at = g_socket_get_local_address(probe, &error);
	g_assert_true(g_socket_close(probe, &error));
	url = g_strdup_printf(
		"http://127.0.0.1:%u/announce",
		g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(at)));
	config = test_config(url);
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->unreachables, 3, 3000));
	g_assert_cmpuint(f->replies, ==, 0);
	g_assert_cmpuint(f->unreachables, >=, 3);
	g_assert_error(f->error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
	g_assert_cmpuint(g_array_index(f->retry_ms, guint, 2), >,
			 g_array_index(f->retry_ms, guint, 0));

	soup_server_disconnect(f->server);
	g_clear_object(&f->server);
	f->server = start_server(f, NULL, at);
	wait_hits(f, 1, 2000);
	assert_hit(f, 0, "started", 1000);
	g_assert_cmpuint(f->refusals, ==, 0);
}

/* A refusal is not a transport failure: it gets its own callback, is
 * retried like one, and the owner may remove the torrent from it. */
static void test_refused(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);

	set_reply(f, 200,
		  g_bytes_new_static("d14:failure reason35:You are not a "
				     "member of this group.e",
				     57));
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->refusals, 2, 3000));
	g_assert_error(f->error, NET_ERROR, NET_ERROR_TRACKER);
	g_assert_cmpstr(f->error->message, ==,
			"You are not a member of this group.");
	/* Never acknowledged, so the retry is "started" again. */
	assert_hit(f, 1, "started", 1000);

	f->remove_on_refusal = TRUE;
	g_assert_true(wait_until(&f->refusals, 3, 3000));
	wait_hits(f, 4, 2000);
	assert_hit(f, 3, "stopped", 1000);
	g_assert_null(net_announcer_get_peers(f->announcer, info_hash));
	g_assert_false(wait_until(&f->hits->len, 5, 500));
	g_assert_cmpuint(f->unreachables + f->replies, ==, 0);
}

/* "Announce now" waits for the tracker's min interval (1 s), not for
 * its interval (60 s). */
static void test_announce_now(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);

	set_reply(f, 200, make_reply(60, 1, 1));
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->replies, 1, 2000));
	net_announcer_announce_now(f->announcer, info_hash);
	net_announcer_announce_now(f->announcer, info_hash);
	wait_hits(f, 2, 3000);
	g_assert_cmpuint(hit_gap_ms(f, 1), >=, 950);
	g_assert_cmpuint(hit_gap_ms(f, 1), <, 2000);
	assert_hit(f, 1, "", 1000);
	g_assert_false(wait_until(&f->hits->len, 3, 1300));
}

/* A tracker that accepts connections and never answers: announces
 * time out, and shutdown is not held up by it. */
static void test_dead_tracker(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketListener) listener = g_socket_listener_new();
	g_autofree char *url = NULL;
	NetAnnouncerConfig config;
	guint16 port =
		g_socket_listener_add_any_inet_port(listener, NULL, &error);
	gint64 start;

	g_assert_no_error(error);
	url = g_strdup_printf("http://127.0.0.1:%u/announce", port);
	config = test_config(url);
	config.request_timeout_ms = 300;
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->unreachables, 1, 3000));
	g_assert_error(f->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
	g_assert_nonnull(strstr(f->error->message, "within 300 ms"));

	start = g_get_monotonic_time();
	shut_down(f, 3000);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 1500 * 1000);
}

static void test_redirect_refused(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);

	f->redirect = g_strdup("http://127.0.0.1:1/elsewhere");
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->unreachables, 1, 3000));
	g_assert_nonnull(strstr(f->error->message, "HTTP 302"));
	g_assert_cmpuint(f->replies, ==, 0);
}

static void test_bad_replies(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);
	gsize big = NET_ANNOUNCE_MAX_REPLY + 100;

	/* Malformed: a failure to report, not a refusal. */
	set_reply(f, 200, g_bytes_new_static("d8:intervali60e5:peers1:xe", 26));
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->unreachables, 1, 3000));
	g_assert_error(f->error, NET_ERROR, NET_ERROR_PROTOCOL);
	g_assert_cmpuint(f->refusals, ==, 0);

	/* Too long: cut off while reading, whatever it would have said. */
	set_reply(f, 200, g_bytes_new_take(g_malloc0(big), big));
	g_assert_true(wait_until(&f->unreachables, 2, 3000));
	g_assert_error(f->error, NET_ERROR, NET_ERROR_LIMIT);
	g_assert_cmpuint(f->replies, ==, 0);
}

static void test_two_torrents(Fixture *f, gconstpointer data)
{
	NetAnnouncerConfig config = test_config(f->url);
	guint8 other[NET_ANNOUNCE_HASH_LEN];

	memset(other, 0x42, sizeof(other));
	start_announcer(f, &config);
	net_announcer_add(f->announcer, other, f);
	g_assert_true(wait_until(&f->replies, 2, 3000));
	assert_hit(f, 0, "started", 1000);
	g_assert_cmpstr(hit_nth(f, 1)->event, ==, "started");
	g_assert_false(g_bytes_equal(hit_nth(f, 0)->info_hash,
				     hit_nth(f, 1)->info_hash));

	net_announcer_remove(f->announcer, other);
	wait_hits(f, 3, 2000);
	g_assert_cmpstr(hit_nth(f, 2)->event, ==, "stopped");
	g_assert_cmpmem(g_bytes_get_data(hit_nth(f, 2)->info_hash, NULL),
			g_bytes_get_size(hit_nth(f, 2)->info_hash), other,
			sizeof(other));
	g_assert_null(net_announcer_get_peers(f->announcer, other));
	g_assert_nonnull(net_announcer_get_peers(f->announcer, info_hash));
	shut_down(f, 2000);
	assert_hit(f, 3, "stopped", 1000);
}

/*
 * HTTPS with the installation's CA.
 */

static char *make_ca(const char *dir, const char *const *hostnames)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TrackerCa) ca = NULL;

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	ca = tracker_ca_open(dir, &error);
	g_assert_no_error(error);
	if (hostnames) {
		tracker_ca_ensure_server_certificate(ca, dir, hostnames,
						     &error);
		g_assert_no_error(error);
	}
	return g_build_filename(dir, "ca.crt", NULL);
}

static void start_https(Fixture *f, const char *dir)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *crt = g_build_filename(dir, "server.crt", NULL);
	g_autofree char *key = g_build_filename(dir, "server.key", NULL);
	g_autoptr(GTlsCertificate) cert =
		g_tls_certificate_new_from_files(crt, key, &error);

	g_assert_no_error(error);
	soup_server_disconnect(f->server);
	g_clear_object(&f->server);
	f->server = start_server(f, cert, NULL);
	g_free(f->url);
	f->url = server_url(f->server, "https");
}

static void test_https_trusted_ca(Fixture *f, gconstpointer data)
{
	const char *const names[] = {"127.0.0.1", NULL};
	g_autofree char *dir = g_build_filename(f->dir, "tracker", NULL);
	g_autofree char *ca_file = make_ca(dir, names);
	NetAnnouncerConfig config;

	start_https(f, dir);
	config = test_config(f->url);
	config.ca_file = ca_file;
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->replies, 1, 15000));
	assert_hit(f, 0, "started", 1000);
	g_assert_cmpuint(f->unreachables, ==, 0);
}

/* A certificate from another CA, or the system's CAs for ours: the
 * handshake fails and the tracker never sees the passkey. */
static void test_https_untrusted(Fixture *f, gconstpointer data)
{
	const char *const names[] = {"127.0.0.1", NULL};
	g_autofree char *dir = g_build_filename(f->dir, "tracker", NULL);
	g_autofree char *other = g_build_filename(f->dir, "other", NULL);
	g_autofree char *ca_file = make_ca(dir, names);
	g_autofree char *other_ca = make_ca(other, NULL);
	NetAnnouncerConfig config;

	start_https(f, dir);
	config = test_config(f->url);
	config.ca_file = other_ca;
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->unreachables, 2, 15000));
	g_assert_true(f->error->domain == G_TLS_ERROR);
	shut_down(f, 2000);
	g_clear_pointer(&f->announcer, net_announcer_free);

	config.ca_file = NULL;
	f->shut_down = 0;
	start_announcer(f, &config);
	g_assert_true(wait_until(&f->unreachables, 3, 15000));
	g_assert_true(f->error->domain == G_TLS_ERROR);
	g_assert_cmpuint(f->hits->len, ==, 0);
	g_assert_cmpuint(f->replies, ==, 0);
}

static void test_new_rejects(void)
{
	const char *const bad_urls[] = {
		"ftp://t/announce",	"t/announce", "http:///announce",
		"https://t/announce#x", "",
	};
	NetAnnouncerConfig config = test_config("http://t/announce");
	g_autoptr(GError) error = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(bad_urls); i++) {
		g_autoptr(GError) url_error = NULL;

		config.url = bad_urls[i];
		g_assert_null(
			net_announcer_new(&config, &callbacks, &url_error));
		g_assert_error(url_error, G_IO_ERROR,
			       G_IO_ERROR_INVALID_ARGUMENT);
	}
	config.url = "https://t/announce";
	config.ca_file = "/nonexistent/ca.crt";
	g_assert_null(net_announcer_new(&config, &callbacks, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "/nonexistent/ca.crt"));
}

#define ADD_SERVER_TEST(path, fn) \
	g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)

/* GIO's TLS backend runs handshakes in pool threads, and gcc 12's
 * LeakSanitizer crashes at exit reading the dynamic TLS that gnutls
 * leaves in them. A pool thread idles on its pool for half a second
 * before it joins the unused ones that can be stopped. */
static void stop_idle_threads(void)
{
	g_thread_pool_set_max_unused_threads(0);
	for (guint i = 0; i < 8; i++) {
		g_usleep(100 * 1000);
		g_thread_pool_stop_unused_threads();
	}
}

int main(int argc, char **argv)
{
	int ret;

	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/net/announce/url-exact", test_url_exact);
	g_test_add_func("/net/announce/url-optional-parts",
			test_url_optional_parts);
	g_test_add_func("/net/announce/url-escapes-every-byte",
			test_url_escapes_every_byte);
	g_test_add_func("/net/announce/reply-compact", test_reply_compact);
	g_test_add_func("/net/announce/reply-minimal", test_reply_minimal);
	g_test_add_func("/net/announce/reply-dict-peers",
			test_reply_dict_peers);
	g_test_add_func("/net/announce/reply-peers6", test_reply_peers6);
	g_test_add_func("/net/announce/reply-failure-reason",
			test_reply_failure_reason);
	g_test_add_func("/net/announce/reply-rejections",
			test_reply_rejections);
	g_test_add_func("/net/announce/reply-too-large", test_reply_too_large);
	g_test_add_func("/net/announce/reply-random-input",
			test_reply_random_input);
	g_test_add_func("/net/announce/new-rejects", test_new_rejects);
	ADD_SERVER_TEST("/net/announce/lifecycle", test_lifecycle);
	ADD_SERVER_TEST("/net/announce/backoff-keeps-peers",
			test_backoff_keeps_peers);
	ADD_SERVER_TEST("/net/announce/tracker-down", test_tracker_down);
	ADD_SERVER_TEST("/net/announce/refused", test_refused);
	ADD_SERVER_TEST("/net/announce/announce-now", test_announce_now);
	ADD_SERVER_TEST("/net/announce/dead-tracker", test_dead_tracker);
	ADD_SERVER_TEST("/net/announce/redirect-refused",
			test_redirect_refused);
	ADD_SERVER_TEST("/net/announce/bad-replies", test_bad_replies);
	ADD_SERVER_TEST("/net/announce/two-torrents", test_two_torrents);
	ADD_SERVER_TEST("/net/announce/https-trusted-ca",
			test_https_trusted_ca);
	ADD_SERVER_TEST("/net/announce/https-untrusted", test_https_untrusted);
	ret = g_test_run();
	stop_idle_threads();
	return ret;
}
