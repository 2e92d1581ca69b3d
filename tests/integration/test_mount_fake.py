#!/usr/bin/env python3
"""The FUSE layer (fs/) mounted for real over the fake backend
(tests/lib/fake-backend.c): no network, but real mounts, real programs
(ls, find, du, cp, mv, rm, getfattr) and real signals.

What these prove: groups and '/'-separated paths show as folders with
the listed sizes; ready files read back byte for byte; a read that must
wait is parked and answered when its range becomes ready, with EIO at
read_timeout, or at once with EINTR when the reader gets SIGINT; a file
copied in is published on close with exactly its bytes; another
member's files cannot be overwritten, removed or renamed; mv, mkdir and
rm reach the backend; xattrs and statfs show the backend's answers;
10,000 files list quickly; and every mount is unmounted cleanly.
"""
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

FAKE_MOUNT = os.environ.get("GROUPFS_FAKE_MOUNT_BIN", "fake-mount")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class MountTestCase(lib.GroupfsTestCase):
    read_timeout = 1
    extra_spec = ""

    def setUp(self):
        super().setUp()
        self.state = os.path.join(self.tmp, "state")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.state)
        os.makedirs(self.mnt)
        self.big = self.write_source("big", os.urandom(3 * 1024 * 1024 + 17))
        self.small = self.write_source("small", b"hello, group\n")
        self.spec = os.path.join(self.tmp, "spec")
        with open(self.spec, "w") as f:
            f.write(self.spec_text())
        self.mount = None
        self.start_mount()

    def tearDown(self):
        # Before the base class kills what is left and removes tmp.
        try:
            self.unmount()
        finally:
            super().tearDown()

    def write_source(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def spec_text(self):
        return f"""
[backend]
user=alice
state-dir={self.state}
cache-size=1073741824
cache-used=10485760

[group study]
owner=bob

[group mine]

[file study/notes/week1/a.txt]
source={self.small}
owner=bob
peers=3

[file study/big.bin]
source={self.big}
owner=bob

[file study/slow.bin]
source={self.big}
owner=bob
ready-after-ms=300

[file study/tail.bin]
source={self.big}
owner=bob
ready-after-ms=-1
unready-offset=2097152
unready-length=1048576

[file study/never.bin]
source={self.big}
owner=bob
ready-after-ms=-1

[file study/alices.txt]
source={self.small}
owner=alice
""" + self.extra_spec

    def start_mount(self):
        log = os.path.join(self.tmp, "mount.log")
        argv = [FAKE_MOUNT, "-o", f"read_timeout={self.read_timeout}",
                self.spec, self.mnt]
        self.mount = lib.Process(argv, self.env(), log)
        self.processes.append(self.mount)
        self.mount.wait_for_line(r"mounted")
        deadline = time.monotonic() + lib.WAIT
        while not is_mounted(self.mnt):
            self.assertLess(time.monotonic(), deadline, "no mount")
            time.sleep(0.02)

    def unmount(self):
        """Stops the mount; a lazy unmount if the process could not."""
        if self.mount is not None and self.mount.proc.poll() is None:
            try:
                status = self.mount.stop()
                self.assertEqual(status, 0, self.mount.output())
            finally:
                if is_mounted(self.mnt):
                    subprocess.run(["fusermount3", "-u", "-z", self.mnt])
        elif is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt])
        self.assertFalse(is_mounted(self.mnt))

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def ops(self):
        """The backend's record: one list of fields per operation."""
        with open(os.path.join(self.state, "ops.log")) as f:
            return [line.rstrip("\n").split("\t") for line in f]

    def wait_op(self, *prefix):
        """Waits until the record has an operation starting so."""
        deadline = time.monotonic() + lib.WAIT
        while time.monotonic() < deadline:
            for op in self.ops():
                if tuple(op[:len(prefix)]) == prefix:
                    return op
            time.sleep(0.02)
        self.fail(f"no {prefix} in {self.ops()}")

    def run_ok(self, *argv, **kw):
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=lib.WAIT, **kw)
        self.assertEqual(r.returncode, 0, f"{argv}: {r.stderr}")
        return r.stdout


class Listing(MountTestCase):
    def test_root_lists_groups(self):
        self.assertEqual(sorted(os.listdir(self.mnt)), ["mine", "study"])

    def test_nested_paths_are_folders(self):
        self.assertEqual(sorted(os.listdir(self.path("study"))),
                         ["alices.txt", "big.bin", "never.bin", "notes",
                          "slow.bin", "tail.bin"])
        self.assertTrue(os.path.isdir(self.path("study", "notes", "week1")))
        self.assertEqual(os.listdir(self.path("study", "notes", "week1")),
                         ["a.txt"])

    def test_stat_sizes_without_reading(self):
        st = os.stat(self.path("study", "never.bin"))
        self.assertEqual(st.st_size, os.path.getsize(self.big))
        self.assertEqual(st.st_blksize, 1 << 20)
        self.assertEqual(oct(st.st_mode & 0o777), "0o444")
        self.assertEqual(oct(os.stat(self.path("study", "alices.txt"))
                             .st_mode & 0o777), "0o644")
        self.assertEqual(self.ops(), [])

    def test_find_ls_du(self):
        found = self.run_ok("find", self.path("study"), "-type", "f")
        self.assertEqual(len(found.split()), 6)
        ls = self.run_ok("ls", "-l", self.path("study", "notes", "week1"))
        self.assertIn(" 13 ", ls)
        du = self.run_ok("du", "-s", "--apparent-size", "-B1",
                         self.path("study", "notes"))
        self.assertEqual(du.split()[0], "13")

    def test_missing_name(self):
        with self.assertRaises(FileNotFoundError):
            os.stat(self.path("study", "nope"))
        with self.assertRaises(FileNotFoundError):
            os.stat(self.path("nogroup"))


class Reading(MountTestCase):
    def test_cat_ready_file(self):
        out = subprocess.run(["cat", self.path("study", "big.bin")],
                             capture_output=True, timeout=lib.WAIT).stdout
        with open(self.big, "rb") as f:
            self.assertEqual(out, f.read())

    def test_parked_read_answered_when_ready(self):
        start = time.monotonic()
        with open(self.path("study", "slow.bin"), "rb") as f:
            data = f.read()
        elapsed = time.monotonic() - start
        with open(self.big, "rb") as f:
            self.assertEqual(data, f.read())
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 5)

    def test_ready_part_reads_while_other_part_never(self):
        with open(self.path("study", "tail.bin"), "rb") as f:
            head = os.pread(f.fileno(), 65536, 0)
            with self.assertRaises(OSError) as cm:
                os.pread(f.fileno(), 65536, 2 * 1024 * 1024 + 4096)
            self.assertEqual(cm.exception.errno, errno.EIO)
        with open(self.big, "rb") as f:
            self.assertEqual(head, f.read(65536))

    def test_never_ready_is_eio_after_read_timeout(self):
        start = time.monotonic()
        with self.assertRaises(OSError) as cm:
            with open(self.path("study", "never.bin"), "rb") as f:
                f.read(4096)
        self.assertEqual(cm.exception.errno, errno.EIO)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        self.assertLess(time.monotonic() - start, 5)

    def test_two_readers_at_once(self):
        results = [None, None]

        def read(i):
            with open(self.path("study", "slow.bin"), "rb") as f:
                results[i] = hashlib.sha256(f.read()).hexdigest()

        threads = [threading.Thread(target=read, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(lib.WAIT)
        self.assertEqual(results, [sha(self.big)] * 2)

    def test_reading_is_never_short(self):
        size = os.path.getsize(self.big)
        with open(self.path("study", "big.bin"), "rb") as f:
            self.assertEqual(len(os.pread(f.fileno(), 1 << 20, size - 100)),
                             100)
            self.assertEqual(os.pread(f.fileno(), 4096, size), b"")


class Interrupt(MountTestCase):
    read_timeout = 30

    def test_sigint_ends_a_waiting_read_at_once(self):
        cat = subprocess.Popen(["cat", self.path("study", "never.bin")],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        self.assertIsNone(cat.poll(), "cat should be waiting")
        start = time.monotonic()
        cat.send_signal(signal.SIGINT)
        cat.wait(timeout=5)
        self.assertLess(time.monotonic() - start, 2)
        self.assertEqual(cat.returncode, -signal.SIGINT)

    def test_unmount_with_a_read_waiting(self):
        cat = subprocess.Popen(["cat", self.path("study", "never.bin")],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        self.unmount()
        cat.wait(timeout=5)
        self.assertNotEqual(cat.returncode, 0)


class Writing(MountTestCase):
    def test_cp_in_publishes_identical_bytes(self):
        self.run_ok("cp", self.big, self.path("mine", "copy.bin"))
        op = self.wait_op("publish", "mine", "copy.bin")
        self.assertEqual(sha(op[3]), sha(self.big))
        self.assertEqual(os.path.getsize(self.path("mine", "copy.bin")),
                         os.path.getsize(self.big))
        self.assertEqual(sha(self.path("mine", "copy.bin")), sha(self.big))

    def test_empty_file_is_published(self):
        open(self.path("mine", "empty"), "w").close()
        op = self.wait_op("publish", "mine", "empty")
        self.assertEqual(os.path.getsize(op[3]), 0)

    def test_cp_r_tree_in_and_out(self):
        tree = os.path.join(self.tmp, "tree")
        for d in ("a", "a/b", "c"):
            os.makedirs(os.path.join(tree, d))
        files = {"top.txt": b"top\n", "a/one.bin": os.urandom(70000),
                 "a/b/two.txt": b"two\n", "c/three.bin": os.urandom(5)}
        for name, data in files.items():
            with open(os.path.join(tree, name), "wb") as f:
                f.write(data)
        self.run_ok("cp", "-r", tree, self.path("mine", "tree"))
        for name, data in files.items():
            op = self.wait_op("publish", "mine", "tree/" + name)
            with open(op[3], "rb") as f:
                self.assertEqual(f.read(), data)
        out = os.path.join(self.tmp, "out")
        self.run_ok("cp", "-r", self.path("mine", "tree"), out)
        for name, data in files.items():
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(f.read(), data)

    def test_overwrite_of_another_members_file_is_refused(self):
        with self.assertRaises(PermissionError):
            with open(self.path("study", "big.bin"), "wb") as f:
                f.write(b"mine now")
        r = subprocess.run(["cp", self.small,
                            self.path("study", "notes", "week1", "a.txt")],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Permission denied", r.stderr)
        self.assertFalse([op for op in self.ops() if op[0] == "publish"])

    def test_own_file_overwrite_publishes_a_new_version(self):
        with open(self.path("study", "alices.txt"), "wb") as f:
            f.write(b"version 2\n")
        op = self.wait_op("publish", "study", "alices.txt")
        with open(op[3], "rb") as f:
            self.assertEqual(f.read(), b"version 2\n")
        with open(self.path("study", "alices.txt"), "rb") as f:
            self.assertEqual(f.read(), b"version 2\n")

    def test_published_file_is_read_only(self):
        with self.assertRaises(OSError) as cm:
            with open(self.path("study", "alices.txt"), "r+b") as f:
                f.write(b"x")
        self.assertEqual(cm.exception.errno, errno.EROFS)

    def test_rm_own_and_others(self):
        os.unlink(self.path("study", "alices.txt"))
        self.assertEqual(self.ops()[-1], ["unlink", "study", "alices.txt"])
        self.assertFalse(os.path.exists(self.path("study", "alices.txt")))
        with self.assertRaises(PermissionError):
            os.unlink(self.path("study", "big.bin"))
        self.assertTrue(os.path.exists(self.path("study", "big.bin")))

    def test_mv_inside_a_group(self):
        os.rename(self.path("study", "alices.txt"),
                  self.path("study", "notes", "renamed.txt"))
        self.assertEqual(self.ops()[-1], ["rename", "study", "alices.txt",
                                          "notes/renamed.txt"])
        with open(self.path("study", "notes", "renamed.txt"), "rb") as f:
            self.assertEqual(f.read(), b"hello, group\n")
        self.assertFalse(os.path.exists(self.path("study", "alices.txt")))
        with self.assertRaises(PermissionError):
            os.rename(self.path("study", "big.bin"),
                      self.path("study", "stolen.bin"))
        with self.assertRaises(OSError) as cm:
            os.rename(self.path("study", "notes", "renamed.txt"),
                      self.path("mine", "renamed.txt"))
        self.assertEqual(cm.exception.errno, errno.EXDEV)

    def test_mkdir_at_root_creates_a_group(self):
        os.mkdir(self.path("newgroup"))
        self.assertEqual(self.ops()[-1], ["mkgroup", "newgroup"])
        self.assertIn("newgroup", os.listdir(self.mnt))
        self.run_ok("cp", self.small, self.path("newgroup", "f.txt"))
        self.wait_op("publish", "newgroup", "f.txt")
        with self.assertRaises(FileExistsError):
            os.mkdir(self.path("study"))

    def test_mkdir_in_group_is_a_local_folder(self):
        os.makedirs(self.path("mine", "empty", "deeper"))
        self.assertTrue(os.path.isdir(self.path("mine", "empty", "deeper")))
        with self.assertRaises(OSError) as cm:
            os.rmdir(self.path("mine", "empty"))
        self.assertEqual(cm.exception.errno, errno.ENOTEMPTY)
        os.rmdir(self.path("mine", "empty", "deeper"))
        os.rmdir(self.path("mine", "empty"))
        self.assertEqual(self.ops(), [])


class Attributes(MountTestCase):
    def getfattr(self, name, path):
        return os.getxattr(path, "user.groupfs." + name).decode()

    def test_xattrs(self):
        path = self.path("study", "notes", "week1", "a.txt")
        self.assertEqual(sorted(os.listxattr(path)),
                         sorted("user.groupfs." + n for n in
                                ("infohash", "owner", "progress", "peers",
                                 "pin")))
        self.assertEqual(self.getfattr("infohash", path),
                         hashlib.sha1(b"study/notes/week1/a.txt").hexdigest())
        self.assertEqual(self.getfattr("owner", path), "bob")
        self.assertEqual(self.getfattr("progress", path), "100")
        self.assertEqual(self.getfattr("peers", path), "3")
        self.assertEqual(self.getfattr("progress",
                                       self.path("study", "never.bin")), "0")

    def test_pin(self):
        path = self.path("study", "never.bin")
        self.assertEqual(self.getfattr("pin", path), "0")
        os.setxattr(path, "user.groupfs.pin", b"1")
        self.assertEqual(self.ops()[-1], ["pin", "study", "never.bin", "1"])
        self.assertEqual(self.getfattr("pin", path), "1")
        with self.assertRaises(OSError) as cm:
            os.setxattr(path, "user.groupfs.pin", b"yes")
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_statfs_is_the_cache(self):
        st = os.statvfs(self.mnt)
        self.assertEqual(st.f_blocks * st.f_frsize, 1073741824)
        self.assertEqual((st.f_blocks - st.f_bfree) * st.f_frsize, 10485760)


class ManyFiles(MountTestCase):
    extra_spec = """
[group big]
owner=bob
generate=10000
generate-size=100
"""

    def test_ten_thousand_files(self):
        start = time.monotonic()
        out = self.run_ok("ls", "-l", self.path("big"))
        elapsed = time.monotonic() - start
        lines = [line for line in out.splitlines()
                 if line.startswith("-")]
        self.assertEqual(len(lines), 10000)
        self.assertTrue(all(" 100 " in line for line in lines[:10]))
        self.assertLess(elapsed, 10)


if __name__ == "__main__":
    lib.main()
