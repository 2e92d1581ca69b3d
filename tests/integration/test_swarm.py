#!/usr/bin/env python3
"""The swarm: members' daemons fetching a file from each other over TLS,
against a real groupfs-tracker on loopback, each member with their own
GROUPFS_HOME and `groupfs serve`; evilpeer.py plays the hostile peers.

What these prove (issue 4, "Faults and bad input" and "Tests"):
  - a file one member shares is fetched by two others, byte for byte,
    and status then says [C] for them and [S] for its publisher;
  - a download draws pieces from at least two of three seeders (their
    uploaded counters), over connections open at the same time;
  - a seeder killed mid-transfer: the download completes from the other;
  - a peer that sends corrupt blocks: nothing of it is kept, it is cut
    off and banned, and the file comes whole from an honest seeder;
  - a peer that stalls: the download completes elsewhere;
  - malformed frames, a wrong info-hash, a piece index out of range, a
    request flood: the connection is closed and the seeder goes on;
  - a user of the tracker outside the group, with a valid certificate:
    the tracker gives it no peers and a seeder gives it no piece;
  - the daemon killed mid-download: after a restart the verified pieces
    are still there, and the download resumes without fetching them;
  - a full disk: `get` fails with a clear error, the daemon lives on,
    and what it kept is sound;
  - a seed copy changed on disk: no downloader ever gets wrong bytes,
    and the seeder notices.

Mid-transfer moments are made, not raced for: the seeders are frozen
with SIGSTOP while the test looks and acts, so that a fast machine
cannot finish the download first.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

EVILPEER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "evilpeer.py")
MiB = 1 << 20
# Every `get` in these tests finishes well within this, ASan included.
GET_WAIT = 90


class EvilPeer:
    """evilpeer.py as @user (a session folder with a certificate)."""

    def __init__(self, test, user, torrent, mode, connect=None,
                 lifetime=120):
        argv = [sys.executable, EVILPEER, "--home", user.home, "--torrent",
                torrent, "--mode", mode, "--lifetime", str(lifetime)]
        if connect:
            argv += ["--connect", connect]
        log = os.path.join(test.tmp, f"evil-{mode}-{time.monotonic_ns()}.log")
        self.process = lib.Process(argv, user.env(), log)
        test.processes.append(self.process)

    def events(self, kind=None):
        out = []
        for line in self.process.output().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if kind is None or event.get("event") == kind:
                out.append(event)
        return out

    def wait(self, kind, what=None, timeout=lib.WAIT, **match):
        """The first event of @kind whose fields include @match."""
        def find():
            for event in self.events(kind):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            if self.process.proc.poll() is not None:
                raise AssertionError("evilpeer exited:\n" +
                                     self.process.output().decode())
            return None
        return lib.wait_until(find, what or f"evilpeer event {kind} "
                              f"{match}", timeout=timeout)

    def log(self):
        return self.process.output().decode(errors="replace")


class SwarmTestCase(lib.GroupfsTestCase):
    def setUp(self):
        super().setUp()
        config = os.path.join(self.tmp, "tracker.conf")
        with open(config, "w") as f:
            # The shortest interval the tracker allows, so that members
            # hear of each other again within seconds.
            f.write("[tracker]\npassword-iterations=1000\n"
                    "announce-interval=10\n")
        self.tracker = self.start_tracker("--config", config)
        self.gets = []
        self.tmpfs_mounts = []
        self.addCleanup(self.unmount)
        self.addCleanup(self.kill_gets)

    def tearDown(self):
        # The daemons keep files open in the mounts; the folder that
        # holds them is removed after.
        self.stop_everything()
        self.kill_gets()
        self.unmount()
        super().tearDown()

    def kill_gets(self):
        for proc in self.gets:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def unmount(self):
        while self.tmpfs_mounts:
            subprocess.run(["umount", self.tmpfs_mounts.pop()], check=False)

    def group(self, *names, group="g1"):
        """Registers and logs in @names; the first creates @group and
        accepts the others into it."""
        users = []
        for name in names:
            user = self.user(name)
            user.register(self.tracker)
            user.login(self.tracker)
            if users:
                user.ok("group", "join", group)
                users[0].ok("group", "accept", group, name)
            else:
                user.ok("group", "create", group)
            users.append(user)
        return users

    def publish(self, user, name, size):
        """@user shares @size random bytes as g1/@name; returns their
        SHA-256."""
        path = os.path.join(self.tmp, "src-" + name)
        digest = lib.random_file(path, size)
        user.ok("share", path, "g1/" + name)
        return digest

    def dest(self, user, name):
        return os.path.join(self.tmp, f"{user.name}-got-{name}")

    def fetch(self, user, name):
        """`groupfs get g1/@name`, which must succeed; returns the
        SHA-256 of what it wrote."""
        dest = self.dest(user, name)
        user.run("get", "g1/" + name, dest, check=0, timeout=GET_WAIT)
        return lib.sha256(dest)

    def start_get(self, user, name):
        """`groupfs get` in the background; see finish_get."""
        proc = subprocess.Popen(
            user.wrap + [lib.GROUPFS, "get", "g1/" + name,
                         self.dest(user, name)],
            env=user.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.gets.append(proc)
        return proc

    def finish_get(self, proc, timeout=GET_WAIT):
        """Waits for a background get; returns (status, stderr)."""
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"{proc.args} did not finish in "
                                 f"{timeout} s")
        self.assert_clean(err.encode(), "groupfs get")
        return proc.returncode, err

    def status(self, user):
        return user.ok("status").stdout.splitlines()

    def file(self, user, name):
        return user.files()["g1/" + name]

    def torrent(self, user, name):
        """The .torrent file @user's daemon keeps for g1/@name."""
        info_hash = self.file(user, name)["info_hash"]
        return os.path.join(user.home, "data", info_hash + ".torrent")

    def wait_file(self, user, name, what, predicate, timeout=GET_WAIT):
        """Polls @user's status of g1/@name until @predicate(fields)."""
        def check():
            f = user.files().get("g1/" + name)
            return f if f and predicate(f) else None
        return lib.wait_until(check, f"{user.name}: {what}",
                              timeout=timeout)

    def assert_alive(self, daemon):
        """The daemon runs and answers its control socket."""
        self.assertTrue(daemon.running(), daemon.output())
        daemon.user.files()


class Fetching(SwarmTestCase):
    def test_two_members_fetch_one_file(self):
        alice, bob, carol = self.group("alice", "bob", "carol")
        for user in (alice, bob, carol):
            user.serve()
        digest = self.publish(alice, "data.bin", 20 * MiB + 12345)

        # Both at once: they may also trade pieces with each other.
        gets = [self.start_get(u, "data.bin") for u in (bob, carol)]
        for proc in gets:
            status, err = self.finish_get(proc)
            self.assertEqual(status, 0, err)
        for user in (bob, carol):
            self.assertEqual(lib.sha256(self.dest(user, "data.bin")),
                             digest)
            self.assertEqual(self.status(user), ["[C] g1/data.bin"])
        self.assertEqual(self.status(alice), ["[S] g1/data.bin"])
        served = self.file(alice, "data.bin")["uploaded"]
        self.assertGreater(served, 0)

    def test_pieces_come_from_several_seeders(self):
        users = self.group("alice", "bob", "carol", "dave")
        alice, bob, carol, dave = users
        for user in users:
            user.serve()
        length = 32 * MiB
        digest = self.publish(alice, "big.bin", length)
        # Bob and carol become seeders by fetching it.
        self.assertEqual(self.fetch(bob, "big.bin"), digest)
        self.assertEqual(self.fetch(carol, "big.bin"), digest)
        seeders = (alice, bob, carol)
        before = {u.name: self.file(u, "big.bin")["uploaded"]
                  for u in seeders}

        peers_seen = []
        reply = dave.control({"op": "get", "group": "g1",
                              "path": "big.bin",
                              "dest": self.dest(dave, "big.bin")},
                             timeout=GET_WAIT,
                             on_event=lambda e: peers_seen.append(
                                 e["peers"]))
        self.assertTrue(reply.get("ok"), reply)
        self.assertEqual(lib.sha256(self.dest(dave, "big.bin")), digest)

        sent = {u.name: self.file(u, "big.bin")["uploaded"] - before[u.name]
                for u in seeders}
        piece = length // self.file(dave, "big.bin")["pieces"]
        # Every byte dave has came from them (end game may repeat some).
        self.assertGreaterEqual(sum(sent.values()), length, sent)
        self.assertGreaterEqual(self.file(dave, "big.bin")["downloaded"],
                                length)
        contributors = [n for n, b in sent.items() if b >= piece]
        self.assertGreaterEqual(len(contributors), 2,
                                f"bytes each seeder sent dave: {sent}")
        # ... over connections that were open together.
        self.assertGreaterEqual(max(peers_seen, default=0), 2, peers_seen)


class Faults(SwarmTestCase):
    def test_seeder_killed_mid_transfer(self):
        alice, bob, carol = self.group("alice", "bob", "carol")
        a, b, _ = (u.serve() for u in (alice, bob, carol))
        digest = self.publish(alice, "big.bin", 96 * MiB)
        self.assertEqual(self.fetch(bob, "big.bin"), digest)

        get = self.start_get(carol, "big.bin")
        # Carol draws from both; freeze both while she is halfway.
        self.wait_file(carol, "big.bin", "some pieces",
                       lambda f: f["verified"] > 0 and f["peers"] >= 2)
        lib.wait_until(lambda: self.file(bob, "big.bin")["uploaded"] > 0,
                       "bob serving carol")
        a.freeze()
        b.freeze()
        mid = self.file(carol, "big.bin")
        self.assertLess(mid["verified"], mid["pieces"],
                        "carol finished before the test could stop her; "
                        "the file is too small for this machine")
        b.kill()
        a.thaw()

        status, err = self.finish_get(get)
        self.assertEqual(status, 0, err)
        self.assertEqual(lib.sha256(self.dest(carol, "big.bin")), digest)
        self.assertEqual(self.status(carol), ["[C] g1/big.bin"])

    def test_daemon_killed_mid_download_resumes(self):
        alice, bob = self.group("alice", "bob")
        a = alice.serve()
        b = bob.serve()
        length = 64 * MiB
        digest = self.publish(alice, "big.bin", length)

        get = self.start_get(bob, "big.bin")
        self.wait_file(bob, "big.bin", "a few pieces",
                       lambda f: f["verified"] >= 4)
        # Nothing more arrives while alice is frozen; give bob's store
        # time to claim what it verified (it syncs about once a second).
        a.freeze()
        time.sleep(2.5)
        before = self.file(bob, "big.bin")
        self.assertLess(before["verified"], before["pieces"])
        b.kill()
        status, err = self.finish_get(get)
        self.assertEqual(status, 1, err)

        # Alice is still frozen: whatever bob has now, he had on disk.
        b = bob.serve()
        after = self.wait_file(bob, "big.bin", "the store reopened",
                               lambda f: f["verified"] > 0, timeout=10)
        self.assertEqual(after["state"], "D")
        self.assertEqual(after["verified"], before["verified"])
        self.assertEqual(after["downloaded"], 0)

        a.thaw()
        self.assertEqual(self.fetch(bob, "big.bin"), digest)
        done = self.file(bob, "big.bin")
        piece = done["length"] // done["pieces"]
        # Only the missing pieces came over the wire this time.
        self.assertLessEqual(done["downloaded"],
                             length - (before["verified"] - 1) * piece)
        self.assertEqual(self.status(bob), ["[C] g1/big.bin"])

    def mount_tmpfs(self, path, size):
        os.makedirs(path, mode=0o700, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        f"size={size},mode=0700", "tmpfs", path], check=True)
        self.tmpfs_mounts.append(path)

    def test_full_disk(self):
        alice, bob = self.group("alice", "bob")
        alice.serve()
        cache = os.path.join(bob.home, "cache")
        self.mount_tmpfs(cache, 12 * MiB)
        b = bob.serve()
        big = self.publish(alice, "big.bin", 24 * MiB)
        small = self.publish(alice, "small.bin", 2 * MiB)

        started = time.monotonic()
        r = bob.run("get", "g1/big.bin", self.dest(bob, "big.bin"),
                    check=1, timeout=GET_WAIT)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0].lower(), r"space|disk.*full")
        self.assertLess(time.monotonic() - started, 30)
        self.assertFalse(os.path.exists(self.dest(bob, "big.bin")))
        self.assert_alive(b)
        self.assertEqual(self.file(bob, "big.bin")["state"], "D")

        # Room again: what was kept is sound, the rest comes, and the
        # daemon goes on fetching other files.
        subprocess.run(["mount", "-o", "remount,size=64m", cache],
                       check=True)
        self.assertEqual(self.fetch(bob, "big.bin"), big)
        self.assertEqual(self.fetch(bob, "small.bin"), small)
        self.assert_alive(b)

    def corrupt_seed_copy(self, user, shared, piece):
        """Overwrites the start of @piece in @user's seed copy of the
        file whose status is @shared."""
        piece_length = -(-shared["length"] // shared["pieces"])
        path = os.path.join(user.home, "data",
                            shared["info_hash"] + ".data")
        with open(path, "r+b") as data:
            data.seek(piece * piece_length)
            data.write(os.urandom(4096))

    def test_changed_seed_copy_is_never_served(self):
        alice, bob, carol = self.group("alice", "bob", "carol")
        alice.serve()
        b = bob.serve()
        carol.serve()
        digest = self.publish(alice, "data.bin", 20 * MiB)
        self.assertEqual(self.fetch(bob, "data.bin"), digest)
        b.stop()
        pieces = self.file(alice, "data.bin")["pieces"]
        self.corrupt_seed_copy(alice, self.file(alice, "data.bin"), 3)

        # Alice alone: carol gets every piece but the changed one (which
        # alice refuses to send, or which fails carol's hash check), and
        # no file.
        get = self.start_get(carol, "data.bin")
        self.wait_file(carol, "data.bin", "all but one piece",
                       lambda f: f["verified"] == pieces - 1)
        time.sleep(1)
        self.assertEqual(self.file(carol, "data.bin")["verified"],
                         pieces - 1)
        self.assertIsNone(get.poll())
        self.assertFalse(os.path.exists(self.dest(carol, "data.bin")))

        # Bob has it right: now it completes, with the right bytes.
        bob.serve()
        status, err = self.finish_get(get)
        self.assertEqual(status, 0, err)
        self.assertEqual(lib.sha256(self.dest(carol, "data.bin")), digest)

        # The seeder itself must notice, not only its downloaders: it
        # served a piece that no longer matches its hash.
        self.wait_file(alice, "data.bin", "alice dropping the changed "
                       "piece (she still claims it)",
                       lambda f: f["verified"] == pieces - 1, timeout=10)

    def test_changed_seed_copy_found_on_restart(self):
        alice, bob = self.group("alice", "bob")
        a = alice.serve()
        bob.serve()
        self.publish(alice, "data.bin", 8 * MiB)
        shared = self.file(alice, "data.bin")
        a.stop()
        self.corrupt_seed_copy(alice, shared, 5)
        a = alice.serve()
        self.wait_file(alice, "data.bin", "the changed piece dropped",
                       lambda f: f["verified"] == shared["pieces"] - 1,
                       timeout=10)
        self.assertEqual(self.status(alice), ["[S] g1/data.bin"])
        # Nobody has piece 5: bob gets the rest and no file.
        get = self.start_get(bob, "data.bin")
        self.wait_file(bob, "data.bin", "all but one piece",
                       lambda f: f["verified"] == shared["pieces"] - 1)
        time.sleep(1)
        self.assertIsNone(get.poll())
        self.assertFalse(os.path.exists(self.dest(bob, "data.bin")))


class HostilePeers(SwarmTestCase):
    def setUp(self):
        super().setUp()
        self.alice, self.bob, self.mallory = self.group(
            "alice", "bob", "mallory")
        self.a = self.alice.serve()
        # Enough distinct blocks for evilpeer's flood: 4 x 512 + 64.
        self.digest = self.publish(self.alice, "data.bin", 36 * MiB)
        self.torrent_path = self.torrent(self.alice, "data.bin")

    def evil(self, mode, **kw):
        return EvilPeer(self, self.mallory, self.torrent_path, mode, **kw)

    def bob_meets_evil_first(self, mode):
        """Alice stops; mallory, in @mode, is the only seeder when bob
        starts to fetch. Returns the EvilPeer and bob's get."""
        self.a.stop()
        evil = self.evil(mode)
        evil.wait("announced")
        self.bob.serve()
        return evil, self.start_get(self.bob, "data.bin")

    def assert_bob_got_it(self, get):
        status, err = self.finish_get(get)
        self.assertEqual(status, 0, err)
        self.assertEqual(lib.sha256(self.dest(self.bob, "data.bin")),
                         self.digest)

    def test_corrupt_blocks(self):
        evil, get = self.bob_meets_evil_first("corrupt")
        cut = evil.wait("closed", "bob dropping mallory", timeout=30,
                        user="bob", by="peer")
        self.assertGreater(cut["blocks_sent"], 0)
        # Not one of mallory's pieces passed.
        self.assertEqual(self.file(self.bob, "data.bin")["verified"], 0)

        self.alice.serve()
        self.assert_bob_got_it(get)
        # Banned: if bob met mallory again, he asked her for nothing.
        later = [e for e in evil.events("closed") if e["user"] == "bob"][1:]
        self.assertEqual([e["requests"] for e in later], [0] * len(later),
                         evil.log())

    def test_stalling_peer(self):
        evil, get = self.bob_meets_evil_first("stall")
        evil.wait("requested", "bob asking mallory", user="bob")
        # What bob asked mallory for, he must now get from alice.
        self.alice.serve()
        self.assert_bob_got_it(get)

    def test_bad_input_closes_the_connection(self):
        seeder = f"127.0.0.1:{self.a.port}"
        for mode in ("garbage", "wrong-hash", "bad-index", "flood"):
            with self.subTest(mode=mode):
                evil = self.evil(mode, connect=seeder)
                closed = evil.wait("closed", f"alice closing on {mode}",
                                   timeout=lib.WAIT)
                self.assertEqual(closed["by"], "peer", evil.log())
                self.assertEqual(closed["user"], "alice")
                self.assertEqual(closed["handshake"], mode != "wrong-hash")
                if mode == "flood":
                    # Requests within the allowance are honest and may
                    # be served before the flood crosses it; nothing
                    # beyond it is.
                    self.assertIsNotNone(closed["their_reqq"])
                    self.assertGreater(closed["requests"],
                                       2 * closed["their_reqq"])
                    self.assertLessEqual(
                        closed["received"].get("piece", 0),
                        2 * closed["their_reqq"])
                else:
                    self.assertNotIn("piece", closed["received"])
                self.assert_alive(self.a)
        # After all that, alice serves an honest member as before.
        self.bob.serve()
        self.assertEqual(self.fetch(self.bob, "data.bin"), self.digest)

    def test_non_member_is_refused(self):
        eve = self.user("eve")
        eve.register(self.tracker)
        eve.login(self.tracker)
        # A leaked .torrent does not make eve a member.
        asked = EvilPeer(self, eve, self.torrent_path, "announce")
        failed = asked.wait("announce_failed", "the tracker refusing eve")
        self.assertIn("member", failed["reason"])
        self.assertEqual(asked.events("announced"), [])

        leech = EvilPeer(self, eve, self.torrent_path, "leech",
                         connect=f"127.0.0.1:{self.a.port}")
        leech.wait("connected", "TLS with alice", user="alice")
        closed = leech.wait("closed", "alice refusing eve")
        self.assertEqual(closed["by"], "peer", leech.log())
        # Not a piece, not even which pieces alice has.
        self.assertEqual(closed["received"], {}, leech.log())
        self.assertEqual(self.file(self.alice, "data.bin")["uploaded"], 0)
        self.assert_alive(self.a)


if __name__ == "__main__":
    lib.main()
