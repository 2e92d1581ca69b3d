#!/usr/bin/env python3
"""`groupfs serve` and the data commands (share, get, status, unshare),
against a real groupfs-tracker on loopback, each user with their own
GROUPFS_HOME and daemon.

What these prove: one daemon per home, a detached start that reports its
failure, a clean stop on SIGTERM that removes the control socket; share
publishes (the tracker lists the file) and seeds ([S]); unshare forgets
the file locally and deletes its seed copy but leaves the listing; a
restart serves the same files from the store without hashing again; the
data commands fail with one clear line when no daemon runs; and the
control socket answers malformed, oversized and unknown requests with
errors while the daemon goes on serving.
"""
import json
import os
import re
import signal
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

NO_DAEMON = ("no groupfs daemon is running; start one with "
             "'groupfs serve' or 'groupfs mount'")
GLIB_TROUBLE = re.compile(r"(CRITICAL|WARNING) \*\*")


class DaemonTestCase(lib.GroupfsTestCase):
    def setUp(self):
        super().setUp()
        config = os.path.join(self.tmp, "tracker.conf")
        with open(config, "w") as f:
            f.write("[tracker]\npassword-iterations=1000\n")
        self.tracker = self.start_tracker("--config", config)

    def member(self, name, group="g1", create=True):
        user = self.user(name)
        user.register(self.tracker)
        user.login(self.tracker)
        if create:
            user.ok("group", "create", group)
        return user

    def make_file(self, name, size):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def fails(self, user, *args, contains):
        r = user.run(*args, check=1)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"stderr: {r.stderr!r}")
        self.assertIn(contains, lines[0])
        return r

    def status(self, user):
        return user.ok("status").stdout.splitlines()

    def assert_quiet(self, daemon):
        """No GLib critical or warning in the daemon's log."""
        out = daemon.output()
        self.assertIsNone(GLIB_TROUBLE.search(out), out)


class Lifecycle(DaemonTestCase):
    def test_serve_stop_and_one_per_home(self):
        alice = self.member("alice")
        daemon = alice.serve()
        sock = alice.socket_path
        mode = os.stat(sock).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)
        self.assertEqual(
            stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode), 0o700)

        # A second daemon for the same home is refused, in both modes.
        r = alice.run("serve", "-f", check=1)
        self.assertIn("already running", r.stderr)
        r = alice.run("serve", check=1)
        self.assertIn("already running", r.stderr)
        self.assertEqual(self.status(alice), [])

        self.assertEqual(daemon.stop(), 0)
        self.assertFalse(os.path.exists(sock))
        self.assert_quiet(daemon)
        self.assertIn("stopped", daemon.output())

    def test_detached_start_and_stop(self):
        alice = self.member("alice")
        r = alice.ok("serve", "-o", "listen=127.0.0.1:0")
        self.assertRegex(r.stdout, r"serving alice: peers connect on port")
        pid_file = os.path.join(alice.home, "run", "daemon.pid")
        with open(pid_file) as f:
            pid = int(f.read())
        try:
            self.assertEqual(self.status(alice), [])
        finally:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + lib.WAIT
        while os.path.exists(alice.socket_path):
            self.assertLess(time.monotonic(), deadline, "did not stop")
            time.sleep(0.05)
        self.fails(alice, "status", contains=NO_DAEMON)
        with open(os.path.join(alice.home, "run", "daemon.log")) as f:
            log = f.read()
        self.assertIn("stopped", log)
        self.assertIsNone(lib.SANITIZER.search(log.encode()), log)

    def test_not_logged_in(self):
        carol = self.user("carol")
        self.fails(carol, "serve", "-f", contains="not logged in")
        # Detached, the parent prints the child's reason and exits 1.
        self.fails(carol, "serve", contains="not logged in")
        self.assertFalse(os.path.exists(carol.socket_path))

    def test_bad_options(self):
        alice = self.member("alice")
        r = alice.run("serve", "-f", "-o", "listen=nowhere", check=2)
        self.assertIn("listen=nowhere", r.stderr)
        r = alice.run("serve", "-f", "-o", "cache_size=lots", check=2)
        self.assertIn("cache_size=lots", r.stderr)
        r = alice.run("serve", "-f", "-o", "colour=blue", check=2)
        self.assertIn("unknown option", r.stderr)

    def test_socket_path_too_long(self):
        alice = self.member("alice")
        env = alice.env()
        deep = os.path.join(self.tmp, "d" * 60, "e" * 60)
        os.makedirs(deep)
        env["GROUPFS_HOME"] = deep
        import subprocess
        r = subprocess.run([lib.GROUPFS, "status"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("more than a Unix socket allows", r.stderr)
        self.assertIn("GROUPFS_HOME", r.stderr)

    def test_no_daemon(self):
        alice = self.member("alice")
        f = self.make_file("a.bin", 1000)
        self.fails(alice, "status", contains=NO_DAEMON)
        self.fails(alice, "share", f, "g1", contains=NO_DAEMON)
        self.fails(alice, "get", "g1/a.bin", self.tmp, contains=NO_DAEMON)
        self.fails(alice, "unshare", "g1/a.bin", contains=NO_DAEMON)
        self.fails(alice, "show_downloads", contains=NO_DAEMON)


class Sharing(DaemonTestCase):
    def store_files(self, user, info_hash):
        data = os.path.join(user.home, "data")
        return [os.path.join(data, info_hash + ext)
                for ext in (".data", ".bitmap", ".torrent")]

    def listed(self, user, group="g1"):
        return [line.split("\t") for line in
                user.ok("ls", group).stdout.splitlines()]

    def test_share_status_unshare(self):
        alice = self.member("alice")
        daemon = alice.serve()
        f = self.make_file("report.pdf", 3_000_000)
        alice.ok("share", f, "g1/docs/")
        self.assertEqual(self.status(alice), ["[S] g1/docs/report.pdf"])
        files = self.listed(alice)
        self.assertEqual(len(files), 1)
        self.assertEqual(files[0][0], "docs/report.pdf")
        self.assertEqual(files[0][1], "3000000")
        info_hash = files[0][3]
        for path in self.store_files(alice, info_hash):
            self.assertTrue(os.path.exists(path), path)
        # The seed copy is what is served, whatever becomes of the file.
        with open(os.path.join(alice.home, "data", info_hash + ".data"),
                  "rb") as a, open(f, "rb") as b:
            self.assertEqual(a.read(), b.read())

        alice.ok("unshare", "g1/docs/report.pdf")
        self.assertEqual(self.status(alice), [])
        for path in self.store_files(alice, info_hash):
            self.assertFalse(os.path.exists(path), path)
        # stop_share forgets locally; the tracker's listing stays.
        self.assertEqual(len(self.listed(alice)), 1)
        self.fails(alice, "unshare", "g1/docs/report.pdf",
                   contains="not shared")
        self.assertEqual(daemon.stop(), 0)
        self.assert_quiet(daemon)

    def test_share_errors(self):
        alice = self.member("alice")
        self.member("bob", group="g2")
        alice.serve()
        f = self.make_file("x.bin", 5000)
        self.fails(alice, "share", os.path.join(self.tmp, "missing"), "g1",
                   contains="missing")
        # Not a member of g2; no such group g3: the tracker says so.
        r = alice.run("share", f, "g2", check=1)
        self.assertEqual(len(r.stderr.splitlines()), 1)
        alice.run("share", f, "g3", check=1)
        r = alice.run("share", f, "g1/../x", check=1)
        self.assertIn("not a file path", r.stderr)
        self.assertEqual(self.status(alice), [])
        self.assertEqual(self.listed(alice), [])
        # Nothing was kept of the refused shares.
        data = os.path.join(alice.home, "data")
        leftovers = [n for n in os.listdir(data) if n != "registry.json"]
        self.assertEqual(leftovers, [])

    def test_aliases(self):
        alice = self.member("alice")
        alice.serve()
        f = self.make_file("notes.txt", 70_000)
        alice.ok("upload_file", f, "g1")
        self.assertEqual(alice.ok("show_downloads").stdout,
                         "[S] g1/notes.txt\n")
        alice.ok("stop_share", "g1", "notes.txt")
        self.assertEqual(alice.ok("show_downloads").stdout, "")

    def test_restart_resumes_without_hashing(self):
        alice = self.member("alice")
        daemon = alice.serve()
        f1 = self.make_file("one.bin", 2_000_000)
        f2 = self.make_file("two.bin", 600_000)
        alice.ok("share", f1, "g1")
        alice.ok("share", f2, "g1/sub/two.bin")
        before = self.status(alice)
        self.assertEqual(before, ["[S] g1/one.bin", "[S] g1/sub/two.bin"])
        self.assertEqual(daemon.stop(), 0)
        hashes = [row[3] for row in self.listed(alice)]
        stats = {}
        for h in hashes:
            for path in self.store_files(alice, h):
                st = os.stat(path)
                stats[path] = (st.st_ino, st.st_mtime_ns)
        # The original files may go: the store has what is served.
        os.unlink(f1)
        os.unlink(f2)

        daemon = alice.serve()
        self.assertEqual(self.status(alice), before)
        # Opening a store with a trusted bitmap reads it and rewrites
        # nothing: no file of the store changed.
        for path, (ino, mtime) in stats.items():
            st = os.stat(path)
            self.assertEqual((st.st_ino, st.st_mtime_ns), (ino, mtime), path)
        self.assertNotIn("skipped", daemon.output())
        self.assertEqual(daemon.stop(), 0)
        self.assert_quiet(daemon)


class ControlSocket(DaemonTestCase):
    def connect(self, user):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(lib.WAIT)
        s.connect(user.socket_path)
        return s, s.makefile("rb")

    def ask(self, conn, reader, line):
        conn.sendall(line)
        reply = reader.readline()
        self.assertTrue(reply.endswith(b"\n"), reply)
        return json.loads(reply)

    def test_bad_requests(self):
        alice = self.member("alice")
        daemon = alice.serve()
        conn, reader = self.connect(alice)
        cases = [
            b"this is not json\n",
            b"[1, 2, 3]\n",
            b'{"op": 42}\n',
            b'{"op": "format-disk"}\n',
            b'{"op": "status", "extra": 1}\n',
            b'{"op": "share", "file": "relative", "group": "g1", '
            b'"path": "x"}\n',
            b'{"op": "share", "file": "/tmp/x", "group": 7, "path": "x"}\n',
            b'{"op": "get", "group": "g1", "path": "../etc/passwd", '
            b'"dest": "/tmp/x"}\n',
            b'{"op": "unshare", "group": "bad group", "path": "x"}\n',
            b'{"op": "status"\x00}\n',
            b'\xff\xfe{"op": "status"}\n',
        ]
        for line in cases:
            reply = self.ask(conn, reader, line)
            self.assertIn(reply.get("error"), ("invalid_request",), line)
            self.assertIsInstance(reply.get("message"), str)
        # The same connection still works after all of that.
        self.assertEqual(self.ask(conn, reader, b'{"op":"status"}\n'),
                         {"ok": True, "files": []})
        unshare = self.ask(conn, reader,
                           b'{"op":"unshare","group":"g1","path":"x"}\n')
        self.assertEqual(unshare["error"], "not_found")

        # A line over 64 KiB: an error, then the connection closes.
        conn.sendall(b'{"op":"status","pad":"' + b"x" * 70_000)
        reply = json.loads(reader.readline())
        self.assertEqual(reply["error"], "too_large")
        self.assertEqual(reader.readline(), b"")
        conn.close()

        # Pipelined requests are answered in order; a client that hangs
        # up mid-line harms nobody.
        conn, reader = self.connect(alice)
        conn.sendall(b'{"op":"status"}\n{"op":"nope"}\n{"op":"status"}\n')
        self.assertIn("ok", json.loads(reader.readline()))
        self.assertIn("error", json.loads(reader.readline()))
        self.assertIn("ok", json.loads(reader.readline()))
        conn.sendall(b'{"op":"sta')
        conn.close()

        self.assertEqual(self.status(alice), [])
        self.assertEqual(daemon.stop(), 0)
        self.assert_quiet(daemon)


if __name__ == "__main__":
    lib.main()
