#!/usr/bin/env python3
"""Publishing, renaming and new versions through `groupfs mount`, over a
real tracker and real engines.

What these prove: a file copied in (written in order, so hashed while
it is written) and one written out of order (hashed at the publish)
both get exactly the info-hash of their bytes and are served to
another member byte for byte; a handle still open after the publish
cannot change what is served; after `mv` the daemon's status shows the
new name, and an `rm` after the `mv` stops serving it; a reader whose
listing is older than the tracker's opens the newer version instead of
failing.
"""
import errno
import filecmp
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from test_mount_cli import MountTestCase  # noqa: E402

PIECE = 512 * 1024  # the piece length of any file under 2 GiB


def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    items = sorted(value.items())
    return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"


def info_hash(data, name):
    """The info-hash groupfs gives @data published as @name."""
    pieces = b"".join(hashlib.sha1(data[i:i + PIECE]).digest()
                      for i in range(0, len(data), PIECE))
    info = {"length": len(data), "name": name, "piece length": PIECE,
            "pieces": pieces}
    return hashlib.sha1(bencode(info)).hexdigest()


class Publish(MountTestCase):
    def setUp(self):
        super().setUp()
        self.alice, self.bob = self.two_members()
        self.a_proc, self.a_mnt = self.mount_fg(self.alice)
        self.b_proc, self.b_mnt = self.mount_fg(self.bob)

    def cp(self, src):
        subprocess.run(["cp", src, os.path.join(self.a_mnt, "club")],
                       check=True, timeout=lib.WAIT)

    def theirs(self, name):
        path = os.path.join(self.b_mnt, "club", name)
        self.wait_for(lambda: os.path.exists(path), f"bob to see {name}")
        return path

    def assert_published(self, name, data):
        mine = os.path.join(self.a_mnt, "club", name)
        self.assertEqual(
            os.getxattr(mine, "user.groupfs.infohash").decode(),
            info_hash(data, name))
        with open(self.theirs(name), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_in_order_and_out_of_order_writes(self):
        data = os.urandom(5 * PIECE + 1234)
        src = os.path.join(self.tmp, "in-order.bin")
        with open(src, "wb") as f:
            f.write(data)
        # cp writes in order: hashed while written.
        self.cp(src)
        self.assert_published("in-order.bin", data)

        # Back to front: hashed at the publish instead.
        other = os.urandom(3 * PIECE + 99)
        fd = os.open(os.path.join(self.a_mnt, "club", "shuffled.bin"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            for off in range(len(other) - PIECE, -PIECE, -PIECE):
                off = max(off, 0)
                os.pwrite(fd, other[off:off + PIECE], off)
        finally:
            os.close(fd)
        self.assert_published("shuffled.bin", other)

    def test_a_handle_open_after_the_publish_cannot_change_it(self):
        data = os.urandom(2 * PIECE + 7)
        fd = os.open(os.path.join(self.a_mnt, "club", "kept.bin"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, data)
            # Closing a duplicate publishes (the flush of close(2)).
            os.close(os.dup(fd))
            with self.assertRaises(OSError) as cm:
                os.pwrite(fd, b"changed", 0)
            # Issue 5: modifying a published file is EROFS.
            self.assertEqual(cm.exception.errno, errno.EROFS)
            with self.assertRaises(OSError):
                os.ftruncate(fd, 1)
        finally:
            os.close(fd)
        self.assert_published("kept.bin", data)

    def test_rename_follows_in_the_engine(self):
        src = self.random_file("old.bin", PIECE + 3)
        self.cp(src)
        self.assertIn("club/old.bin", self.alice.ok("status").stdout)
        os.rename(os.path.join(self.a_mnt, "club", "old.bin"),
                  os.path.join(self.a_mnt, "club", "new.bin"))
        status = self.alice.ok("status").stdout
        self.assertIn("club/new.bin", status)
        self.assertNotIn("club/old.bin", status)
        self.assertTrue(filecmp.cmp(src, self.theirs("new.bin"),
                                    shallow=False))
        # The rm of the new name stops alice serving it.
        os.unlink(os.path.join(self.a_mnt, "club", "new.bin"))
        self.wait_for(
            lambda: "new.bin" not in self.alice.ok("status").stdout,
            "alice to stop serving new.bin")

    def test_a_stale_listing_opens_the_new_version(self):
        first = os.urandom(PIECE + 5)
        second = os.urandom(PIECE + 5)
        mine = os.path.join(self.a_mnt, "club", "song.bin")
        with open(mine, "wb") as f:
            f.write(first)
        # Bob's listing shows the first version; he has not read it (so
        # his kernel holds none of its pages).
        theirs = self.theirs("song.bin")
        self.assertEqual(os.path.getsize(theirs), len(first))
        # A new version; bob reads at once, before his lister has
        # fetched the group again (the kernel keeps his entry).
        with open(mine, "wb") as f:
            f.write(second)
        with open(theirs, "rb") as f:
            self.assertEqual(f.read(), second)


if __name__ == "__main__":
    lib.main()
