#!/usr/bin/env python3
"""`groupfs mount` for real: a tracker on loopback, members with their
own homes and daemons, each with a FUSE mount, and ordinary programs
(cp, cat, ls, stat, find, du, mv, rm, mkdir) and signals on top.

What these prove: a file copied into one member's mount reads back byte
for byte through two others, also with several readers at once; folder
trees go in and out with cp -r and look right to ls, stat, find and du;
a seeder killed mid-read does not stop the read (another seeder has the
pieces); with no peer left a read fails with EIO after read_timeout, and
Ctrl-C ends a waiting read at once; a non-member sees no such group; a
member cannot remove, overwrite or rename another's file, but removes
(unpublishes) and renames their own, for everyone; mkdir at the root
creates a group; the xattrs say the info-hash `groupfs ls` shows, the
progress, and pin=1 fetches everything in the background; a daemon
killed and remounted still has what it had verified; a group of 10,000
files lists; and the pinned interface (SOURCE, detached start,
`groupfs umount`, `mount -t fuse.groupfs`) works and stops cleanly.
"""
import base64
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from test_tracker_api import bencode  # noqa: E402

GROUP = "study"
XATTR = "user.groupfs."


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def xattr(path, name):
    return os.getxattr(path, XATTR + name).decode()


def info_dict(name, data, piece_length=16384):
    """The bencoded info dictionary of a single file holding @data, with
    its true piece hashes."""
    pieces = b"".join(hashlib.sha1(data[i:i + piece_length]).digest()
                      for i in range(0, max(len(data), 1), piece_length))
    return bencode({"length": len(data), "name": name,
                    "piece length": piece_length, "pieces": pieces})


class MountTestCase(lib.GroupfsTestCase):
    # -o options of each member's mount, by name.
    mount_options = {}
    members = ("alice", "bob", "carol")
    # The tracker's database on tmpfs, where its fsync per commit is
    # free: for tests that publish thousands of files.
    tracker_in_memory = False

    def setUp(self):
        super().setUp()
        config = os.path.join(self.tmp, "tracker.conf")
        with open(config, "w") as f:
            f.write("[tracker]\npassword-iterations=1000\n")
        if self.tracker_in_memory:
            shm = tempfile.mkdtemp(prefix="groupfs-test-", dir="/dev/shm")
            self.addCleanup(shutil.rmtree, shm, True)
            self.tracker = lib.Tracker(self, os.path.join(shm, "data"),
                                       ["--config", config]).start()
        else:
            self.tracker = self.start_tracker("--config", config)
        self.users = {}
        self.mounted = {}
        for name in self.members:
            self.users[name] = self.member(name)
        owner = self.users[self.members[0]]
        owner.ok("group", "create", GROUP)
        for name in self.members[1:]:
            self.users[name].ok("group", "join", GROUP)
            owner.ok("group", "accept", GROUP, name)
        for name in self.members:
            self.mount(name)

    def member(self, name):
        user = self.user(name)
        user.register(self.tracker)
        user.login(self.tracker)
        return user

    def mount(self, name):
        options = self.mount_options.get(name, ("read_timeout=15",))
        m = self.users[name].mount(os.path.join(self.tmp, "mnt-" + name),
                                   *options)
        self.mounted[name] = m
        return m

    def source(self, name, size):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def publish(self, who, src, path):
        """Copies @src into @who's mount as GROUP/@path and waits until
        the tracker lists it; returns the listing row."""
        dest = self.mounted[who].path(GROUP, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(src, dest)
        return lib.wait_until(lambda: self.listed(who).get(path),
                              f"{GROUP}/{path} in the tracker's listing")

    def listed(self, who, group=GROUP):
        """`groupfs ls`: path -> (length, owner, info-hash)."""
        rows = self.users[who].ok("ls", group).stdout.splitlines()
        return {r[0]: tuple(r[1:]) for r in (x.split("\t") for x in rows)}

    def visible(self, who, path):
        """Waits until @who's mount shows GROUP/@path; returns its path."""
        full = self.mounted[who].path(GROUP, path)
        lib.wait_until(lambda: os.path.exists(full),
                       f"{full} to appear")
        return full

    def gone(self, who, path):
        full = self.mounted[who].path(GROUP, path)
        lib.wait_until(lambda: not os.path.exists(full),
                       f"{full} to disappear")

    def run_ok(self, *argv):
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=lib.WAIT * 3)
        self.assertEqual(r.returncode, 0, f"{argv}: {r.stderr}")
        return r.stdout

    def seeders(self, who, path):
        status, body = self.users[who].api("GET", f"groups/{GROUP}/files")
        self.assertEqual(status, 200, body)
        return next(f["seeders"] for f in body["files"]
                    if f["path"] == path)


class Sharing(MountTestCase):
    def test_copy_in_read_through_the_others(self):
        src = self.source("lecture.bin", 4 * 1024 * 1024 + 123)
        length, owner, info_hash = self.publish("alice", src, "lecture.bin")
        self.assertEqual((int(length), owner), (os.path.getsize(src),
                                                "alice"))
        want = sha(src)
        paths = [self.visible(w, "lecture.bin") for w in ("bob", "bob",
                                                          "carol")]
        self.assertEqual(os.path.getsize(paths[0]), os.path.getsize(src))
        self.assertEqual(xattr(paths[0], "progress"), "0")

        # Three readers at once, two of them on one mount, all cold.
        got = [None] * len(paths)

        def read(i):
            got[i] = sha(paths[i])

        threads = [threading.Thread(target=read, args=(i,))
                   for i in range(len(paths))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(lib.WAIT * 3)
        self.assertEqual(got, [want] * len(paths))

        for who in ("alice", "bob", "carol"):
            p = self.mounted[who].path(GROUP, "lecture.bin")
            self.assertEqual(xattr(p, "infohash"), info_hash, who)
            self.assertEqual(xattr(p, "owner"), "alice", who)
            self.assertEqual(xattr(p, "progress"), "100", who)

    def test_tools_on_a_folder_tree(self):
        tree = os.path.join(self.tmp, "tree")
        files = {"top.txt": b"top\n", "a/one.bin": os.urandom(70000),
                 "a/b/two.txt": b"two\n", "c/three.bin": os.urandom(300001)}
        for name, data in files.items():
            os.makedirs(os.path.dirname(os.path.join(tree, name)),
                        exist_ok=True)
            with open(os.path.join(tree, name), "wb") as f:
                f.write(data)
        self.run_ok("cp", "-r", tree, self.mounted["alice"].path(GROUP,
                                                                 "tree"))
        lib.wait_until(lambda: all(f"tree/{n}" in self.listed("alice")
                                   for n in files),
                       "the tree in the tracker's listing")
        for name in files:
            self.visible("bob", "tree/" + name)

        there = self.mounted["bob"].path(GROUP, "tree")
        ls = self.run_ok("ls", "-l", os.path.join(there, "c"))
        self.assertRegex(ls, r"-r\S* .* 300001 .* three\.bin")
        self.assertEqual(self.run_ok("stat", "-c", "%s %F",
                                     os.path.join(there, "a", "one.bin")),
                         "70000 regular file\n")
        self.assertEqual(self.run_ok("stat", "-c", "%F",
                                     os.path.join(there, "a", "b")),
                         "directory\n")
        found = self.run_ok("find", there, "-type", "f").split()
        self.assertEqual(sorted(os.path.relpath(f, there) for f in found),
                         sorted(files))
        du = {}
        for line in self.run_ok("du", "-a", "-b", there).splitlines():
            size, name = line.split("\t")
            du[os.path.relpath(name, there)] = int(size)
        self.assertEqual({n: du.get(n) for n in files},
                         {n: len(d) for n, d in files.items()})
        self.assertGreaterEqual(du["."], sum(len(d) for d in files.values()))

        out = os.path.join(self.tmp, "out")
        self.run_ok("cp", "-r", there, out)
        for name, data in files.items():
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(f.read(), data, name)

    def test_pin_fetches_everything(self):
        src = self.source("pinned.bin", 6 * 1024 * 1024 + 5)
        self.publish("alice", src, "pinned.bin")
        path = self.visible("carol", "pinned.bin")
        self.assertEqual(xattr(path, "pin"), "0")
        self.assertEqual(xattr(path, "progress"), "0")
        os.setxattr(path, XATTR + "pin", b"1")
        self.assertEqual(xattr(path, "pin"), "1")
        # Nobody reads: the background fetch alone gets it all.
        lib.wait_until(lambda: xattr(path, "progress") == "100",
                       "progress 100 after pin=1", timeout=60)
        self.assertGreaterEqual(int(xattr(path, "peers")), 0)
        self.assertEqual(sha(path), sha(src))


class Rules(MountTestCase):
    def test_others_files_are_not_yours(self):
        src = self.source("a.txt", 5000)
        info_hash = self.publish("alice", src, "a.txt")[2]
        theirs = self.visible("bob", "a.txt")
        with self.assertRaises(PermissionError):
            os.unlink(theirs)
        with self.assertRaises(OSError) as cm:
            with open(theirs, "wb") as f:
                f.write(b"mine now")
        self.assertIn(cm.exception.errno, (errno.EEXIST, errno.EACCES))
        r = subprocess.run(["cp", self.source("other", 10), theirs],
                           capture_output=True, text=True, timeout=lib.WAIT)
        self.assertNotEqual(r.returncode, 0)
        with self.assertRaises(PermissionError):
            os.rename(theirs, self.mounted["bob"].path(GROUP, "b.txt"))
        # Nothing changed, for anyone.
        self.assertEqual(self.listed("carol"),
                         {"a.txt": ("5000", "alice", info_hash)})
        self.assertEqual(sha(self.visible("carol", "a.txt")), sha(src))

    def test_rm_and_mv_of_ones_own_files(self):
        self.publish("alice", self.source("old.txt", 100), "old.txt")
        src = self.source("moving.txt", 3000)
        info_hash = self.publish("alice", src, "moving.txt")[2]
        self.visible("bob", "old.txt")
        self.visible("bob", "moving.txt")

        os.unlink(self.mounted["alice"].path(GROUP, "old.txt"))
        self.assertNotIn("old.txt", self.listed("carol"))
        self.gone("bob", "old.txt")

        os.makedirs(self.mounted["alice"].path(GROUP, "done"))
        os.rename(self.mounted["alice"].path(GROUP, "moving.txt"),
                  self.mounted["alice"].path(GROUP, "done", "moved.txt"))
        self.assertEqual(self.listed("carol"),
                         {"done/moved.txt": ("3000", "alice", info_hash)})
        moved = self.visible("bob", "done/moved.txt")
        self.gone("bob", "moving.txt")
        self.assertEqual(sha(moved), sha(src))

    def test_mkdir_at_the_root_creates_a_group(self):
        os.mkdir(self.mounted["bob"].path("bobs-group"))
        groups = [line.split("\t") for line in
                  self.users["bob"].ok("group", "list").stdout.splitlines()]
        self.assertIn(["bobs-group", "owner"],
                      [g[:2] for g in groups])
        self.assertIn("bobs-group", os.listdir(self.mounted["bob"].path()))
        with self.assertRaises(FileExistsError):
            os.mkdir(self.mounted["bob"].path(GROUP))

    def test_a_non_member_sees_no_such_group(self):
        self.publish("alice", self.source("secret.txt", 10), "secret.txt")
        dave = self.users["dave"] = self.member("dave")
        dave.ok("group", "create", "daves")
        m = self.mount("dave")
        lib.wait_until(lambda: "daves" in os.listdir(m.path()),
                       "dave's own group in his mount")
        self.assertNotIn(GROUP, os.listdir(m.path()))
        for parts in ((GROUP,), (GROUP, "secret.txt")):
            with self.assertRaises(FileNotFoundError):
                os.stat(m.path(*parts))


class Failures(MountTestCase):
    mount_options = {"bob": ("read_timeout=2",),
                     "carol": ("read_timeout=30",)}

    def test_no_peer_left(self):
        self.publish("alice", self.source("lonely.bin", 2 * 1024 * 1024),
                     "lonely.bin")
        bobs = self.visible("bob", "lonely.bin")
        carols = self.visible("carol", "lonely.bin")
        self.assertEqual(self.mounted["alice"].umount(), 0)

        # EIO once read_timeout has passed without a peer.
        start = time.monotonic()
        with self.assertRaises(OSError) as cm:
            with open(bobs, "rb") as f:
                f.read(4096)
        elapsed = time.monotonic() - start
        self.assertEqual(cm.exception.errno, errno.EIO)
        self.assertGreaterEqual(elapsed, 1.8)
        self.assertLess(elapsed, 10)

        # Ctrl-C of a reader that waits ends it at once.
        cat = subprocess.Popen(["cat", carols], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            self.assertIsNone(cat.poll(), "cat should be waiting")
            start = time.monotonic()
            cat.send_signal(signal.SIGINT)
            cat.wait(timeout=10)
            self.assertLess(time.monotonic() - start, 2)
            self.assertEqual(cat.returncode, -signal.SIGINT)
        finally:
            if cat.poll() is None:
                cat.kill()
                cat.wait()

    def test_seeder_killed_mid_read(self):
        src = self.source("movie.bin", 48 * 1024 * 1024)
        self.publish("alice", src, "movie.bin")
        # A second seeder: bob fetches everything and announces it.
        bobs = self.visible("bob", "movie.bin")
        os.setxattr(bobs, XATTR + "pin", b"1")
        lib.wait_until(lambda: xattr(bobs, "progress") == "100",
                       "bob's copy complete", timeout=60)
        lib.wait_until(lambda: self.seeders("carol", "movie.bin") >= 2,
                       "two seeders in the swarm", timeout=30)

        with open(src, "rb") as f:
            want = f.read()
        with open(self.visible("carol", "movie.bin"), "rb") as f:
            head = f.read(1024 * 1024)
            self.assertEqual(head, want[:len(head)])
            self.mounted["alice"].kill()
            lib.force_unmount(self.mounted["alice"].mountpoint)
            rest = f.read()
        self.assertEqual(len(head) + len(rest), len(want))
        self.assertTrue(head + rest == want, "bytes differ")

    def test_daemon_killed_and_remounted(self):
        src = self.source("kept.bin", 6 * 1024 * 1024 + 1)
        info_hash = self.publish("alice", src, "kept.bin")[2]
        bobs = self.visible("bob", "kept.bin")
        self.assertEqual(sha(bobs), sha(src))
        # The engine syncs verified pieces to the bitmap about once a
        # second while there are new ones: once it has not changed for
        # two seconds, it holds everything that was read.
        bitmap = os.path.join(self.users["bob"].home, "cache",
                              info_hash + ".bitmap")
        lib.wait_until(lambda: os.path.exists(bitmap) and
                       time.time() - os.stat(bitmap).st_mtime > 2,
                       f"{bitmap} to settle")

        # No seeder anywhere: whatever reads after this is bob's own.
        self.assertEqual(self.mounted["alice"].umount(), 0)
        self.mounted["bob"].kill()
        self.assertTrue(lib.is_mounted(self.mounted["bob"].mountpoint))
        subprocess.run(["fusermount3", "-uz",
                        self.mounted["bob"].mountpoint], check=True,
                       timeout=lib.WAIT)
        m = self.mount("bob")
        path = m.path(GROUP, "kept.bin")
        lib.wait_until(lambda: os.path.exists(path), f"{path} after remount")
        self.assertGreater(int(xattr(path, "progress")), 0)
        self.assertEqual(xattr(path, "progress"), "100")
        self.assertEqual(sha(path), sha(src))


class ManyFiles(MountTestCase):
    members = ("alice",)
    tracker_in_memory = True
    count = 10000

    def test_ten_thousand_files_list(self):
        alice = self.users["alice"]
        alice.ok("group", "create", "big")
        # Straight to the tracker's API, four connections at once: this
        # is about listing, not about 10,000 copies.
        failures = []

        def post(first):
            conn = alice.api_connection()
            try:
                for i in range(first, self.count, 4):
                    name = f"f{i:05d}.txt"
                    data = b"file %d\n" % i
                    status, body = alice.api(
                        "POST", "groups/big/files",
                        {"path": name, "info": base64.b64encode(
                            info_dict(name, data)).decode()},
                        connection=conn)
                    if status != 201:
                        failures.append((name, status, body))
                        return
            finally:
                conn.close()

        threads = [threading.Thread(target=post, args=(i,))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(failures, [])
        folder = self.mounted["alice"].path("big")
        start = time.monotonic()
        out = lib.wait_until(lambda: self.ls_l(folder),
                             "10,000 files in the mount")
        self.assertLess(time.monotonic() - start, lib.WAIT)
        self.assertTrue(out[0].startswith("total"), out[0])
        self.assertRegex(out[1], r"^-r\S* .* 7 .* f00000\.txt$")
        self.assertRegex(out[-1], r" 10 .* f09999\.txt$")

    def ls_l(self, folder):
        """`ls -l` of @folder once it shows every file, else None."""
        r = subprocess.run(["ls", "-l", folder], capture_output=True,
                           text=True, timeout=lib.WAIT)
        lines = r.stdout.splitlines()
        return lines if r.returncode == 0 and \
            len(lines) == self.count + 1 else None


class Interface(MountTestCase):
    members = ("alice",)

    def test_detached_with_source_then_umount(self):
        alice = self.users["alice"]
        self.mounted["alice"].umount()
        m = alice.mount(os.path.join(self.tmp, "detached"),
                        source=self.tracker.url, foreground=False)
        self.assertIn(GROUP, os.listdir(m.path()))
        # The data commands talk to the same daemon.
        src = self.source("shared.txt", 1000)
        alice.ok("share", src, GROUP)
        self.assertEqual(alice.ok("status").stdout,
                         f"[S] {GROUP}/shared.txt\n")
        lib.wait_until(lambda: os.path.exists(m.path(GROUP, "shared.txt")),
                       "a shared file in the mount")
        self.assertEqual(sha(m.path(GROUP, "shared.txt")), sha(src))
        m.umount()
        self.assertFalse(os.path.exists(alice.socket_path))
        self.assertIn("stopped", m.output())

    def test_mount_t_fuse_groupfs(self):
        """What `mount -t fuse.groupfs URL DIR` and an fstab line run:
        libfuse's mount.fuse3, which runs `groupfs URL DIR -o OPTIONS`
        (mount(8) itself would look for groupfs in a PATH of its own,
        where the build's is not)."""
        alice = self.users["alice"]
        self.mounted["alice"].umount()
        where = os.path.join(self.tmp, "by-mount")
        env = alice.env()
        env["PATH"] = (os.path.dirname(os.path.abspath(lib.GROUPFS))
                       + os.pathsep + env.get("PATH", ""))
        handle = lib.Mount(alice, where, (), None, False)
        os.makedirs(handle.mountpoint)
        self.mounts.append(handle)
        r = subprocess.run([shutil.which("mount.fuse3") or
                            "/sbin/mount.fuse3", self.tracker.url, where,
                            "-t", "fuse.groupfs", "-o",
                            "rw,listen=127.0.0.1:0,read_timeout=5"],
                           env=env, capture_output=True, text=True,
                           timeout=lib.WAIT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(lib.is_mounted(where))
        with open(os.path.join(alice.home, "run", "daemon.pid")) as f:
            handle.pid = int(f.read())
        self.assertIn(GROUP, os.listdir(where))
        self.run_ok("umount", where)
        handle.wait_exit()
        self.assertFalse(lib.is_mounted(where))


if __name__ == "__main__":
    lib.main()
