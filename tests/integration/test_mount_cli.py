#!/usr/bin/env python3
"""`groupfs mount` and `groupfs umount` as programs: the ways a mount
starts and ends, over a real tracker and real engines.

What these prove: a foreground and a detached mount show the member's
groups; a file copied into one member's mount is read back through
another's, byte for byte, and the daemon's data commands work against
the mount's daemon; the `mount -t fuse.groupfs URL DIR -o ...` form
(libfuse's mount.fuse3 runs `groupfs URL DIR -o ...`) mounts; a SOURCE
that is not the session's tracker is refused with a clear line; and
`groupfs umount`, `fusermount3 -u` and SIGTERM each stop the daemon with
status 0, its socket gone and what it verified kept.
"""
import filecmp
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

MOUNTED = r"mounted the groups of (\S+) at (\S+): peers connect on port (\d+)"


def is_mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class MountTestCase(lib.GroupfsTestCase):
    def setUp(self):
        super().setUp()
        config = os.path.join(self.tmp, "tracker.conf")
        with open(config, "w") as f:
            f.write("[tracker]\npassword-iterations=1000\n")
        self.tracker = self.start_tracker("--config", config)
        self.mount_paths = []

    def tearDown(self):
        for path in self.mount_paths:
            if is_mounted(path):
                subprocess.run(["fusermount3", "-u", "-z", path],
                               check=False)
        super().tearDown()

    def member(self, name):
        user = self.user(name)
        user.register(self.tracker)
        user.login(self.tracker)
        return user

    def mountpoint(self, user):
        path = os.path.join(self.tmp, "mnt-" + user.name)
        os.makedirs(path, exist_ok=True)
        self.mount_paths.append(path)
        return path

    def mount_fg(self, user, *options):
        """`groupfs mount -f`, waited for; returns (process, path)."""
        path = self.mountpoint(user)
        argv = [lib.GROUPFS, "mount", path, "-f",
                "-o", ",".join(["listen=127.0.0.1:0"] + list(options))]
        log = os.path.join(self.tmp, f"mount-{user.name}-"
                           f"{time.monotonic_ns()}.log")
        proc = lib.Process(argv, user.env(), log)
        self.processes.append(proc)
        proc.wait_for_line(MOUNTED)
        return proc, path

    def two_members(self):
        alice = self.member("alice")
        bob = self.member("bob")
        alice.ok("group", "create", "club")
        bob.ok("group", "join", "club")
        alice.ok("group", "accept", "club", "bob")
        return alice, bob

    def wait_for(self, predicate, what, timeout=lib.WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail(f"timed out waiting for {what}")

    def random_file(self, name, size):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path


class CopyAcross(MountTestCase):
    def test_copy_in_one_mount_read_in_the_other(self):
        alice, bob = self.two_members()
        a_proc, a_mnt = self.mount_fg(alice)
        b_proc, b_mnt = self.mount_fg(bob)
        self.assertEqual(os.listdir(a_mnt), ["club"])
        self.assertEqual(os.listdir(b_mnt), ["club"])

        src = self.random_file("song.bin", 3 * 1024 * 1024 + 17)
        shutil.copyfile(src, os.path.join(a_mnt, "club", "song.bin"))
        self.assertIn("song.bin", alice.ok("ls", "club").stdout)

        theirs = os.path.join(b_mnt, "club", "song.bin")
        self.wait_for(lambda: os.path.exists(theirs), "bob to see the file")
        self.assertEqual(os.path.getsize(theirs), os.path.getsize(src))
        self.assertTrue(filecmp.cmp(src, theirs, shallow=False))
        self.assertEqual(
            os.getxattr(theirs, "user.groupfs.owner").decode(), "alice")
        self.assertEqual(
            os.getxattr(theirs, "user.groupfs.progress").decode(), "100")

        # The mount's daemon answers the data commands too.
        self.assertIn("club/song.bin", bob.ok("status").stdout)

        # Not his: bob can neither remove nor overwrite it.
        with self.assertRaises(PermissionError):
            os.unlink(theirs)
        with self.assertRaises(PermissionError):
            with open(theirs, "wb") as f:
                f.write(b"mine now")

        # Alice's rm unpublishes it for everyone.
        os.unlink(os.path.join(a_mnt, "club", "song.bin"))
        self.assertNotIn("song.bin", bob.ok("ls", "club").stdout)
        self.assertEqual(a_proc.stop(), 0)
        self.assertEqual(b_proc.stop(), 0)
        self.assertFalse(is_mounted(a_mnt))
        self.assertFalse(os.path.exists(alice.socket_path))


class Lifecycle(MountTestCase):
    def test_detached_mount_and_umount(self):
        alice = self.member("alice")
        alice.ok("group", "create", "club")
        path = self.mountpoint(alice)
        r = alice.ok("mount", path, "-o", "listen=127.0.0.1:0")
        self.assertRegex(r.stdout, MOUNTED)
        self.assertTrue(is_mounted(path))
        self.assertEqual(os.listdir(path), ["club"])
        src = self.random_file("a.txt", 1000)
        shutil.copyfile(src, os.path.join(path, "club", "a.txt"))
        alice.ok("umount", path)
        self.assertFalse(is_mounted(path))
        # umount returns once the daemon is gone: a new one may start.
        self.assertFalse(os.path.exists(alice.socket_path))
        alice.ok("mount", path, "-o", "listen=127.0.0.1:0")
        self.assertTrue(filecmp.cmp(src, os.path.join(path, "club", "a.txt"),
                                    shallow=False))
        alice.ok("umount", path)

    def test_fusermount_and_sigterm_stop_cleanly(self):
        alice = self.member("alice")
        proc, path = self.mount_fg(alice)
        subprocess.run(["fusermount3", "-u", path], check=True)
        self.assertEqual(proc.proc.wait(timeout=lib.WAIT), 0)
        self.assertIn(b"stopped", proc.output())

        proc, path = self.mount_fg(alice)
        self.assertEqual(proc.stop(signal.SIGTERM), 0)
        self.assertFalse(is_mounted(path))
        self.assertIn(b"stopped", proc.output())

    def helper_env(self, user):
        """@user's environment with groupfs on PATH, as an installed
        groupfs would be."""
        env = user.env()
        cli_dir = os.path.dirname(os.path.abspath(lib.GROUPFS))
        env["PATH"] = cli_dir + os.pathsep + env.get("PATH", "")
        return env

    def test_mount_fuse3_form(self):
        """What mount(8) runs for -t fuse.groupfs and /etc/fstab:
        mount.fuse3, which runs `groupfs URL DIR -o OPTIONS`."""
        alice = self.member("alice")
        alice.ok("group", "create", "club")
        path = self.mountpoint(alice)
        r = subprocess.run(
            ["mount.fuse3", self.tracker.url, path, "-t", "fuse.groupfs",
             "-o", "rw,listen=127.0.0.1:0,read_timeout=5,nosuid"],
            env=self.helper_env(alice), capture_output=True, text=True,
            timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(is_mounted(path))
        self.assertEqual(os.listdir(path), ["club"])
        alice.ok("umount", path)
        self.assertFalse(is_mounted(path))

    def test_mount_t_fuse_groupfs(self):
        """The real `mount -t fuse.groupfs URL DIR`. mount(8) drops PATH,
        so groupfs must be where an installed one is: a private mount
        namespace binds a folder holding it over /usr/local/bin."""
        alice = self.member("alice")
        alice.ok("group", "create", "club")
        path = self.mountpoint(alice)
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        os.symlink(os.path.abspath(lib.GROUPFS),
                   os.path.join(bindir, "groupfs"))
        script = (
            'set -e; mount --bind "$1" /usr/local/bin; '
            'mount -t fuse.groupfs "$2" "$3" -o listen=127.0.0.1:0; '
            'ls "$3"; groupfs umount "$3"; '
            'if grep -q " $3 " /proc/self/mounts; then exit 9; fi')
        r = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             script, "sh", bindir, self.tracker.url, path],
            env=self.helper_env(alice), capture_output=True, text=True,
            timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The detached start prints its ready line first.
        self.assertEqual(r.stdout.splitlines()[-1], "club")

    def test_source_must_be_the_sessions_tracker(self):
        alice = self.member("alice")
        path = self.mountpoint(alice)
        r = alice.run("mount", "https://127.0.0.1:1", path, check=1)
        self.assertIn("logged in to", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertFalse(is_mounted(path))

    def test_missing_mountpoint(self):
        alice = self.member("alice")
        r = alice.run("mount", os.path.join(self.tmp, "nowhere"), check=1)
        self.assertIn("is not a folder", r.stderr)


if __name__ == "__main__":
    lib.main()
