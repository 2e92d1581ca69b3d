/*
 * announce-load: the load generator of bench/tracker. It sends BitTorrent
 * announces to one tracker as fast as the tracker answers, over a fixed
 * number of connections (one thread each, HTTP or HTTPS), for a fixed
 * time, and prints how many announces per second were answered.
 *
 * Owns: its sockets and TLS sessions. Must not: be the bottleneck, so a
 * request is formatted into a stack buffer and a reply is parsed in
 * place; nor count a reply that is not a successful announce: the first
 * failure stops the run and is reported.
 *
 * Each connection announces for its own share of --peers peers (peer j
 * uses port 10000 + j, so that trackers that tell peers apart by address,
 * as opentracker does, see as many peers as those that use the peer_id),
 * spread over the --info-hash torrents; a peer's first announce is
 * "started", later ones are the periodic kind.
 */
#include <gio/gio.h>

#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_MAX 65536
#define REQUEST_MAX 2048

/* Everything the workers share, read-only once they run. */
typedef struct {
	char *host;
	int port;
	gboolean tls;
	char *cafile;
	gboolean close; /* a new connection per announce */
	char *prefix; /* path and fixed query, e.g. /announce?passkey=K */
	char (*info_hash_escaped)[61]; /* 20 bytes as %XX each */
	guint n_info_hashes;
	guint connections;
	guint peers;
	guint numwant;
	gint64 start; /* monotonic µs; replies before warm_end are not counted */
	gint64 warm_end;
	gint64 end;
	SSL_CTX *ssl_ctx;
	struct sockaddr_in addr;
} Config;

typedef struct {
	const Config *cfg;
	guint index;
	GThread *thread;
	guint64 announces; /* counted ones */
	guint64 connects;
	char *failure; /* the first failure, if any */
} Worker;

typedef struct {
	int fd;
	SSL *ssl;
} Conn;

typedef struct {
	char data[REPLY_MAX];
	gsize len;
} Buf;

/* Set by the first worker that fails, so that the others stop too. */
static gint stop_all;

static void conn_close(Conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static gboolean conn_tls_start(Conn *c, const Config *cfg, GError **error)
{
	X509_VERIFY_PARAM *param;

	c->ssl = SSL_new(cfg->ssl_ctx);
	param = SSL_get0_param(c->ssl);
	/* The tracker's certificate names 127.0.0.1 as an IP address. */
	if (X509_VERIFY_PARAM_set1_ip_asc(param, cfg->host) != 1)
		X509_VERIFY_PARAM_set1_host(param, cfg->host, 0);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1) {
		char msg[256];

		ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "The TLS handshake with %s:%d failed: %s",
			    cfg->host, cfg->port, msg);
		return FALSE;
	}
	return TRUE;
}

static gboolean conn_open(Conn *c, const Config *cfg, GError **error)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&cfg->addr,
				 sizeof(cfg->addr)) != 0) {
		int saved = errno;

		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
			    "Cannot connect to %s:%d: %s", cfg->host, cfg->port,
			    g_strerror(saved));
		return FALSE;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return !cfg->tls || conn_tls_start(c, cfg, error);
}

/* Returns bytes written or read, 0 at end of stream, -1 on error. */
static gssize conn_write(Conn *c, const char *data, gsize len)
{
	gsize done = 0;

	while (done < len) {
		gssize n = c->ssl != NULL
				   ? SSL_write(c->ssl, data + done,
					       (int)(len - done))
				   : write(c->fd, data + done, len - done);

		if (n <= 0)
			return n;
		done += n;
	}
	return done;
}

static gssize conn_read(Conn *c, char *data, gsize len)
{
	if (c->ssl != NULL) {
		int n = SSL_read(c->ssl, data, (int)len);

		if (n <= 0)
			return SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN
				       ? 0
				       : -1;
		return n;
	}
	return read(c->fd, data, len);
}

/* Reads until @b holds at least @want bytes. FALSE on EOF or error. */
static gboolean buf_fill(Conn *c, Buf *b, gsize want)
{
	while (b->len < want) {
		gssize n;

		if (want > sizeof(b->data))
			return FALSE;
		n = conn_read(c, b->data + b->len, sizeof(b->data) - b->len);
		if (n <= 0)
			return FALSE;
		b->len += n;
	}
	return TRUE;
}

/* Reads until a CRLF follows @from; returns its offset, or -1. */
static gssize buf_fill_line(Conn *c, Buf *b, gsize from)
{
	for (;;) {
		const char *eol =
			memmem(b->data + from, b->len - from, "\r\n", 2);

		if (eol != NULL)
			return eol - b->data;
		if (!buf_fill(c, b, b->len + 1))
			return -1;
	}
}

typedef struct {
	int status;
	gssize content_length; /* -1: none given */
	gboolean chunked;
	gboolean close;
	gsize body; /* offset of the body in the buffer */
} Head;

static gboolean header_is(const char *line, const char *name)
{
	return g_ascii_strncasecmp(line, name, strlen(name)) == 0;
}

static gboolean head_parse(Buf *b, gsize end, Head *h)
{
	g_auto(GStrv) lines = NULL;

	b->data[end] = '\0';
	lines = g_strsplit(b->data, "\r\n", -1);
	*h = (Head){.content_length = -1, .body = end + 4};
	if (sscanf(lines[0], "HTTP/1.%*d %d", &h->status) != 1)
		return FALSE;
	h->close = g_str_has_prefix(lines[0], "HTTP/1.0");
	for (guint i = 1; lines[i] != NULL; i++) {
		const char *v = strchr(lines[i], ':');

		if (v == NULL)
			continue;
		v++;
		if (header_is(lines[i], "content-length:"))
			h->content_length = g_ascii_strtoll(v, NULL, 10);
		else if (header_is(lines[i], "transfer-encoding:"))
			h->chunked = strstr(v, "chunked") != NULL;
		else if (header_is(lines[i], "connection:"))
			h->close = strstr(v, "close") != NULL;
	}
	return TRUE;
}

/* Decodes a chunked body in place, moving each chunk's data down to
 * follow the previous one; returns the body's length, or -1. */
static gssize body_read_chunked(Conn *c, Buf *b, gsize body)
{
	gsize out = body, at = body;

	for (;;) {
		gssize eol = buf_fill_line(c, b, at);
		gsize size;

		if (eol < 0)
			return -1;
		size = g_ascii_strtoull(b->data + at, NULL, 16);
		at = eol + 2;
		if (size > REPLY_MAX || !buf_fill(c, b, at + size + 2))
			return -1;
		memmove(b->data + out, b->data + at, size);
		out += size;
		at += size + 2;
		if (size == 0)
			return out - body;
	}
}

/* Reads one reply; returns the body's length (the body is at
 * b->data + h->body), or -1 when the stream broke off. */
static gssize reply_read(Conn *c, Buf *b, Head *h)
{
	gssize end;

	b->len = 0;
	for (gsize from = 0;; from = b->len > 3 ? b->len - 3 : 0) {
		const char *p;

		if (!buf_fill(c, b, b->len + 1))
			return -1;
		p = memmem(b->data + from, b->len - from, "\r\n\r\n", 4);
		if (p != NULL) {
			end = p - b->data;
			break;
		}
	}
	if (!head_parse(b, end, h))
		return -1;
	if (h->chunked)
		return body_read_chunked(c, b, h->body);
	if (h->content_length >= 0)
		return buf_fill(c, b, h->body + h->content_length)
			       ? h->content_length
			       : -1;
	while (buf_fill(c, b, b->len + 1))
		; /* no length: the body ends with the stream */
	h->close = TRUE;
	return b->len - h->body;
}

static void escape20(const guint8 *bytes, char out[61])
{
	for (guint i = 0; i < 20; i++)
		g_snprintf(out + 3 * i, 4, "%%%02X", bytes[i]);
}

static gsize request_format(const Config *cfg, guint peer, gboolean first,
			    char *out)
{
	char peer_id[21];
	int n;

	/* Azureus-style, like a real client's; only [A-Za-z0-9-]. */
	g_snprintf(peer_id, sizeof(peer_id), "-BL0001-%012u", peer);
	n = g_snprintf(
		out, REQUEST_MAX,
		"GET %s%sinfo_hash=%s&peer_id=%s&port=%u&uploaded=0"
		"&downloaded=0&left=%u&compact=1&numwant=%u%s HTTP/1.1\r\n"
		"Host: %s:%d\r\n%s\r\n",
		cfg->prefix, strchr(cfg->prefix, '?') != NULL ? "&" : "?",
		cfg->info_hash_escaped[peer % cfg->n_info_hashes], peer_id,
		10000 + peer, peer % 4 == 0 ? 0 : 1048576, cfg->numwant,
		first ? "&event=started" : "", cfg->host, cfg->port,
		cfg->close ? "Connection: close\r\n" : "");
	g_assert(n > 0 && n < REQUEST_MAX);
	return n;
}

static gboolean reply_check(Worker *w, const Head *h, const char *body,
			    gssize len)
{
	if (h->status == 200 && len > 0 && body[0] == 'd' &&
	    memmem(body, len, "14:failure reason", 17) == NULL)
		return TRUE;
	w->failure = g_strdup_printf("HTTP %d, body: %.*s", h->status,
				     (int)MIN(len, 300), body);
	return FALSE;
}

/* One announce, reconnecting first if needed. FALSE with w->failure set
 * when the run must stop. */
static gboolean worker_announce(Worker *w, Conn *c, Buf *b, guint peer,
				gboolean first)
{
	const Config *cfg = w->cfg;
	char req[REQUEST_MAX];
	gsize len = request_format(cfg, peer, first, req);
	g_autoptr(GError) error = NULL;
	gssize body_len = -1;
	Head h = {0};

	for (guint attempt = 0; attempt < 2; attempt++) {
		gboolean reused = c->fd >= 0;

		if (!reused && !conn_open(c, cfg, &error)) {
			w->failure = g_strdup(error->message);
			return FALSE;
		}
		w->connects += !reused;
		if (conn_write(c, req, len) == (gssize)len &&
		    (body_len = reply_read(c, b, &h)) >= 0)
			break;
		conn_close(c);
		/* A kept-alive connection may have been closed by the server
		 * just before we wrote: retry once on a fresh one. */
		if (!reused || attempt == 1) {
			w->failure = g_strdup_printf(
				"The connection to %s:%d broke off mid-reply",
				cfg->host, cfg->port);
			return FALSE;
		}
	}
	if (h.close || cfg->close)
		conn_close(c);
	return reply_check(w, &h, b->data + h.body, body_len);
}

static gpointer worker_run(gpointer data)
{
	Worker *w = data;
	const Config *cfg = w->cfg;
	Conn c = {.fd = -1};
	Buf *b = g_new(Buf, 1);
	guint peer = w->index;
	gboolean first = TRUE;
	gint64 now;

	while (!g_atomic_int_get(&stop_all)) {
		if (!worker_announce(w, &c, b, peer, first)) {
			g_atomic_int_set(&stop_all, 1);
			break;
		}
		now = g_get_monotonic_time();
		/* Only replies that arrive inside the measured window count,
		 * so the window's length is the time to divide by. */
		if (now >= cfg->end)
			break;
		w->announces += now >= cfg->warm_end;
		peer += cfg->connections;
		if (peer >= cfg->peers) {
			peer = w->index;
			first = FALSE;
		}
	}
	conn_close(&c);
	g_free(b);
	return NULL;
}

static gboolean config_info_hashes(Config *cfg, char **hex, GError **error)
{
	cfg->n_info_hashes = hex != NULL ? g_strv_length(hex) : 0;
	if (cfg->n_info_hashes == 0) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
			    "Give at least one --info-hash (40 hex digits)");
		return FALSE;
	}
	cfg->info_hash_escaped = g_malloc_n(cfg->n_info_hashes, 61);
	for (guint i = 0; i < cfg->n_info_hashes; i++) {
		guint8 raw[20];

		for (guint k = 0; k < 20 && strlen(hex[i]) == 40; k++)
			raw[k] = g_ascii_xdigit_value(hex[i][2 * k]) << 4 |
				 g_ascii_xdigit_value(hex[i][2 * k + 1]);
		if (strlen(hex[i]) != 40 ||
		    strspn(hex[i], "0123456789abcdefABCDEF") != 40) {
			g_set_error(error, G_OPTION_ERROR,
				    G_OPTION_ERROR_BAD_VALUE,
				    "Not an info-hash of 40 hex digits: %s",
				    hex[i]);
			return FALSE;
		}
		escape20(raw, cfg->info_hash_escaped[i]);
	}
	return TRUE;
}

static gboolean config_tls(Config *cfg, GError **error)
{
	if (!cfg->tls)
		return TRUE;
	cfg->ssl_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cfg->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(cfg->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (cfg->cafile == NULL ||
	    SSL_CTX_load_verify_locations(cfg->ssl_ctx, cfg->cafile, NULL) !=
		    1) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "--tls needs --cafile with the tracker's CA "
			    "certificate (PEM); could not load %s",
			    cfg->cafile != NULL ? cfg->cafile : "(none)");
		return FALSE;
	}
	return TRUE;
}

static gboolean config_address(Config *cfg, GError **error)
{
	cfg->addr.sin_family = AF_INET;
	cfg->addr.sin_port = htons(cfg->port);
	if (cfg->port <= 0 || cfg->port > 65535 ||
	    inet_pton(AF_INET, cfg->host, &cfg->addr.sin_addr) != 1) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "Give --host as an IPv4 address and --port as "
			    "1-65535 (got %s:%d)",
			    cfg->host, cfg->port);
		return FALSE;
	}
	return TRUE;
}

static gboolean config_parse(Config *cfg, int *argc, char ***argv,
			     double *seconds, double *warmup, GError **error)
{
	g_auto(GStrv) hex = NULL;
	int connections = 16, peers = 1000, numwant = 50;
	GOptionEntry entries[] = {
		{"host", 0, 0, G_OPTION_ARG_STRING, &cfg->host,
		 "Tracker address (default 127.0.0.1)", "IPV4"},
		{"port", 0, 0, G_OPTION_ARG_INT, &cfg->port, "Tracker port",
		 "PORT"},
		{"tls", 0, 0, G_OPTION_ARG_NONE, &cfg->tls, "Speak HTTPS",
		 NULL},
		{"cafile", 0, 0, G_OPTION_ARG_FILENAME, &cfg->cafile,
		 "CA certificate that signed the tracker's", "FILE"},
		{"close", 0, 0, G_OPTION_ARG_NONE, &cfg->close,
		 "One connection per announce (no keep-alive)", NULL},
		{"prefix", 0, 0, G_OPTION_ARG_STRING, &cfg->prefix,
		 "Path and fixed query (default /announce)", "PATH"},
		{"info-hash", 0, 0, G_OPTION_ARG_STRING_ARRAY, &hex,
		 "A torrent to announce (repeat for more)", "HEX"},
		{"connections", 0, 0, G_OPTION_ARG_INT, &connections,
		 "Parallel connections (default 16)", "N"},
		{"peers", 0, 0, G_OPTION_ARG_INT, &peers,
		 "Distinct peers in all (default 1000)", "N"},
		{"numwant", 0, 0, G_OPTION_ARG_INT, &numwant,
		 "Peers asked for per announce (default 50)", "N"},
		{"seconds", 0, 0, G_OPTION_ARG_DOUBLE, seconds,
		 "Measured time (default 5)", "S"},
		{"warmup", 0, 0, G_OPTION_ARG_DOUBLE, warmup,
		 "Unmeasured time first (default 1)", "S"},
		G_OPTION_ENTRY_NULL,
	};
	g_autoptr(GOptionContext) ctx =
		g_option_context_new("- announce load for bench/tracker");

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, argc, argv, error))
		return FALSE;
	if (cfg->host == NULL)
		cfg->host = g_strdup("127.0.0.1");
	if (cfg->prefix == NULL)
		cfg->prefix = g_strdup("/announce");
	if (connections < 1 || connections > 1024 || peers < connections ||
	    numwant < 0 || numwant > 1000 || *seconds <= 0 || *warmup < 0) {
		g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "Need 1 <= connections <= 1024, peers >= "
			    "connections, 0 <= numwant <= 1000, seconds > 0");
		return FALSE;
	}
	cfg->connections = connections;
	cfg->peers = peers;
	cfg->numwant = numwant;
	return config_info_hashes(cfg, hex, error) &&
	       config_address(cfg, error) && config_tls(cfg, error);
}

/* The CPU time this process has used, in seconds. */
static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int run(Config *cfg, double seconds, double warmup)
{
	g_autofree Worker *workers = g_new0(Worker, cfg->connections);
	guint64 announces = 0, connects = 0;
	int status = 0;
	double cpu;

	cfg->start = g_get_monotonic_time();
	cfg->warm_end = cfg->start + (gint64)(warmup * G_USEC_PER_SEC);
	cfg->end = cfg->warm_end + (gint64)(seconds * G_USEC_PER_SEC);
	for (guint i = 0; i < cfg->connections; i++) {
		workers[i] = (Worker){.cfg = cfg, .index = i};
		workers[i].thread =
			g_thread_new("announce", worker_run, &workers[i]);
	}
	for (guint i = 0; i < cfg->connections; i++) {
		g_thread_join(workers[i].thread);
		announces += workers[i].announces;
		connects += workers[i].connects;
		if (workers[i].failure != NULL && status == 0) {
			g_printerr("announce-load: %s\n", workers[i].failure);
			status = 1;
		}
		g_free(workers[i].failure);
	}
	/* Our own cost, warm-up included, so that a reader can tell
	 * whether the client kept up: client_cpu near the number of CPUs
	 * we may use means the rate measured us, not the tracker. */
	cpu = cpu_seconds() / (seconds + warmup);
	if (status == 0)
		printf("announces_per_second=%.0f announces=%" G_GUINT64_FORMAT
		       " seconds=%.2f connections=%u connects=%" G_GUINT64_FORMAT
		       " client_cpu=%.2f\n",
		       announces / seconds, announces, seconds,
		       cfg->connections, connects, cpu);
	return status;
}

static void config_clear(Config *cfg)
{
	g_clear_pointer(&cfg->ssl_ctx, SSL_CTX_free);
	g_clear_pointer(&cfg->info_hash_escaped, g_free);
	g_clear_pointer(&cfg->host, g_free);
	g_clear_pointer(&cfg->cafile, g_free);
	g_clear_pointer(&cfg->prefix, g_free);
}

int main(int argc, char **argv)
{
	Config cfg = {0};
	double seconds = 5, warmup = 1;
	g_autoptr(GError) error = NULL;
	int status = 2;

	/* A write to a connection the server has just closed must fail
	 * with EPIPE, which we retry, rather than kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (config_parse(&cfg, &argc, &argv, &seconds, &warmup, &error))
		status = run(&cfg, seconds, warmup);
	else
		g_printerr("announce-load: %s\n", error->message);
	config_clear(&cfg);
	return status;
}
