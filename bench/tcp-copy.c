/*
 * tcp-copy: the "raw copy" of bench/swarm, the ceiling a file-sharing
 * client is measured against. It copies SOURCE to DEST through one TCP
 * connection on 127.0.0.1, as plainly as a program can: the sender
 * hands the file to the kernel with sendfile(), the receiver read()s
 * 1 MiB at a time and write()s each into DEST. It prints the bytes and
 * the seconds from the connect() to the last write():
 *
 *     tcp-copy SOURCE DEST   ->   bytes=1073741824 seconds=0.712
 *
 * Owns: one listening socket, one connection, a sender thread. Must not:
 * do anything a downloader would not have to do (no fsync, no hashing),
 * nor anything it could skip (every byte is written to DEST).
 */
#include <gio/gio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_SIZE (1 << 20)

typedef struct {
	int fd; /* SOURCE */
	off_t length;
	struct sockaddr_in addr; /* the receiver's */
	int error; /* an errno value, or 0 */
} Sender;

static gboolean fail_errno(GError **error, const char *what)
{
	int err = errno;

	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "%s: %s",
		    what, g_strerror(err));
	return FALSE;
}

static gpointer sender_run(gpointer data)
{
	Sender *s = data;
	int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	off_t offset = 0;

	if (sock < 0 ||
	    connect(sock, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0) {
		s->error = errno;
		goto out;
	}
	while (offset < s->length) {
		ssize_t n = sendfile(sock, s->fd, &offset,
				     (size_t)(s->length - offset));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->error = n < 0 ? errno : EIO;
			break;
		}
	}
out:
	if (sock >= 0)
		close(sock);
	return NULL;
}

/* A socket listening on 127.0.0.1 at a port the kernel picks; fills
 * @addr with where to connect. */
static int listen_loopback(struct sockaddr_in *addr, GError **error)
{
	socklen_t len = sizeof(*addr);
	int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*addr = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (sock < 0) {
		fail_errno(error, "socket");
		return -1;
	}
	if (bind(sock, (struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    listen(sock, 1) < 0 ||
	    getsockname(sock, (struct sockaddr *)addr, &len) < 0) {
		fail_errno(error, "listening on 127.0.0.1");
		close(sock);
		return -1;
	}
	return sock;
}

static gboolean write_full(int fd, const char *buf, gsize len, GError **error)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno(error, "writing DEST");
		buf += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Reads the connection to its end into @dest; returns the byte count,
 * or -1. */
static gint64 receive(int conn, int dest, GError **error)
{
	g_autofree char *buf = g_malloc(READ_SIZE);
	gint64 total = 0;

	for (;;) {
		ssize_t n = read(conn, buf, READ_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail_errno(error, "reading the connection");
			return -1;
		}
		if (n == 0)
			return total;
		if (!write_full(dest, buf, (gsize)n, error))
			return -1;
		total += n;
	}
}

/* Copies, timing from the sender's start to the receiver's last write. */
static gboolean copy(Sender *s, int dest, GError **error)
{
	int listener = listen_loopback(&s->addr, error);
	gint64 start, end, got = -1;
	GThread *thread;
	int conn;

	if (listener < 0)
		return FALSE;
	start = g_get_monotonic_time();
	thread = g_thread_new("sender", sender_run, s);
	conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		fail_errno(error, "accept");
	else
		got = receive(conn, dest, error);
	end = g_get_monotonic_time();
	if (conn >= 0)
		close(conn);
	close(listener);
	g_thread_join(thread);
	if (got < 0)
		return FALSE;
	if (s->error != 0 || got != s->length) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "the sender stopped after %" G_GINT64_FORMAT
			    " of %" G_GINT64_FORMAT " bytes: %s",
			    got, (gint64)s->length,
			    g_strerror(s->error ? s->error : EPIPE));
		return FALSE;
	}
	printf("bytes=%" G_GINT64_FORMAT " seconds=%.6f\n", got,
	       (double)(end - start) / G_USEC_PER_SEC);
	return TRUE;
}

int main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	Sender s = {.fd = -1};
	struct stat st;
	int dest = -1;
	gboolean ok;

	if (argc != 3) {
		fprintf(stderr, "usage: tcp-copy SOURCE DEST\n");
		return 2;
	}
	s.fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (s.fd < 0 || fstat(s.fd, &st) < 0)
		ok = fail_errno(&error, argv[1]);
	else if ((dest = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0600)) < 0)
		ok = fail_errno(&error, argv[2]);
	else {
		s.length = st.st_size;
		ok = copy(&s, dest, &error);
	}
	if (dest >= 0)
		close(dest);
	if (s.fd >= 0)
		close(s.fd);
	if (!ok) {
		fprintf(stderr, "tcp-copy: %s\n", error->message);
		return 1;
	}
	return 0;
}
