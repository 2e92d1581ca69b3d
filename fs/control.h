/*
 * control: the daemon's control socket, a Unix stream socket (mode 0600,
 * in the 0700 runtime folder) that speaks JSON lines; both ends of it.
 *
 * A client sends one request per line, an object with an "op":
 *
 *   {"op":"share", "file":ABSOLUTE-PATH, "group":G, "path":P}
 *       -> {"ok":true, "info_hash":HEX}
 *   {"op":"get", "group":G, "path":P, "dest":ABSOLUTE-PATH}
 *       -> {"event":"progress", ...status fields...}*  (a few a second)
 *       -> {"ok":true, "dest":PATH-WRITTEN}
 *   {"op":"status"}
 *       -> {"ok":true, "files":[{"group", "path", "info_hash", "state":
 *           "S"|"D"|"C", "length", "pieces", "verified",
 *           "download_rate", "upload_rate", "downloaded", "uploaded",
 *           "peers"}]}
 *   {"op":"unshare", "group":G, "path":P}
 *       -> {"ok":true}
 *
 * Any failure is {"error":CODE, "message":SENTENCE}, CODE one of
 * invalid_request, too_large, not_found, exists, busy, failed. Requests
 * on one connection are answered in order; a line longer than
 * FS_CONTROL_MAX_LINE closes the connection after its error. A client
 * that hangs up during a get cancels the wait (not the download).
 *
 * Owns: the listening socket and its file, the client connections, the
 * mapping between requests and net_engine calls. Must not: trust a
 * request (every field is checked for type and form before the engine
 * sees it), or block the loop.
 *
 * Threads: the engine's loop thread.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "engine.h"

G_BEGIN_DECLS

#define FS_CONTROL_MAX_LINE (64 * 1024)
#define FS_CONTROL_MAX_CLIENTS 64

typedef struct _FsControl FsControl;

/* Listens on @socket_path, replacing a stale socket file there (the
 * caller holds the daemon lock, so it is stale). */
FsControl *fs_control_new(NetEngine *engine, const char *socket_path,
			  GError **error);
/* Closes every connection and removes the socket file. */
void fs_control_free(FsControl *control);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FsControl, fs_control_free)

/* The client end: connects to the running daemon's socket, or fails
 * with a sentence that says how to start one. */
GSocketConnection *fs_control_connect(GError **error);

/* Sends @request as one line. */
gboolean fs_control_send(GSocketConnection *conn, JsonObject *request,
			 GError **error);
/* Reads the next reply line as an object; an {"error"} reply becomes
 * @error with its message. NULL at the end of the stream, with @error
 * set ("the daemon closed the connection"). */
JsonObject *fs_control_receive(GDataInputStream *in, GError **error);

G_END_DECLS
