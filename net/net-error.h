/*
 * net-error: the one GError domain of the net/ library.
 *
 * Every failure that crosses a net/ module boundary is a GError in
 * NET_ERROR (protocol and format problems) or G_IO_ERROR (system calls,
 * converted once with g_io_error_from_errno at the syscall edge).
 * This header owns nothing but the codes; it must not grow helpers that
 * log, since the caller decides whether an error is worth a log line.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NET_ERROR (net_error_quark())
GQuark net_error_quark(void);

typedef enum {
	/* Input ended before a complete value or frame. */
	NET_ERROR_TRUNCATED,
	/* Bencode that breaks BEP 3's canonical rules. */
	NET_ERROR_BENCODE,
	/* A length, depth or count above the caller's limit. */
	NET_ERROR_LIMIT,
	/* Metainfo that is well-formed bencode but not a valid torrent. */
	NET_ERROR_METAINFO,
	/* A peer broke the wire protocol: close the connection. */
	NET_ERROR_PROTOCOL,
	/* Data whose SHA-1 does not match the metainfo. */
	NET_ERROR_HASH_MISMATCH,
	/* A TLS or certificate failure. */
	NET_ERROR_TLS,
	/* The tracker refused a request; the message is the tracker's. */
	NET_ERROR_TRACKER,
} NetErrorCode;

G_END_DECLS
