/*
 * fake-backend: an FsBackend for tests of the mount, with no network.
 * Groups and files come from a key file; a file's bytes are a local
 * file's; a file may be "not yet available" (all of it, or one range)
 * until some milliseconds after the first read waits for it, or never.
 * Publishes, unlinks, renames, new groups and pins are carried out in
 * memory and recorded, one tab-separated line each, in
 * STATE-DIR/ops.log, with a copy of each published file's bytes.
 *
 * Like the engine, it answers operations on a loop thread of its own,
 * so fs/ is tested against callbacks that come from another thread.
 *
 * The key file:
 *
 *   [backend]
 *   user=alice              whose mount it is
 *   state-dir=/tmp/x/state  staging files, published copies, ops.log
 *   cache-size=BYTES        statfs (optional)
 *   cache-used=BYTES
 *
 *   [group study]
 *   owner=bob
 *   generate=10000          optional: file-00000.txt ... in the group,
 *   generate-size=100       each with this many bytes
 *
 *   [file study/notes/a.txt]
 *   source=/tmp/x/a.txt     its bytes
 *   owner=bob
 *   mtime=1700000000        optional
 *   ready-after-ms=300      optional: 0 ready (default), -1 never
 *   unready-offset=0        optional: the part that waits (default:
 *   unready-length=4096     all of it)
 *   peers=3                 optional, for user.groupfs.peers
 *
 * Log lines: publish GROUP PATH COPY | unlink GROUP PATH |
 * rename GROUP FROM TO | mkgroup NAME | pin GROUP PATH 0|1.
 */
#pragma once

#include "backend.h"

G_BEGIN_DECLS

typedef struct _FakeBackend FakeBackend;

FakeBackend *fake_backend_new(const char *spec_path, GError **error);
void fake_backend_free(FakeBackend *fake);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeBackend, fake_backend_free)

const FsBackend *fake_backend_get(FakeBackend *fake);

G_END_DECLS
