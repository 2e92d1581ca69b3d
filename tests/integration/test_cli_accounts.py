#!/usr/bin/env python3
"""The account and group commands of `groupfs`, driven as a person or a
script would, against a real groupfs-tracker on loopback.

What these prove: the whole group life cycle for three users, every
assignment alias, the exit statuses (0, 1 with one line on stderr, 2
for a wrong command line), that a password is never taken from argv,
that session files are private, that users in separate GROUPFS_HOMEs
do not see each other's sessions, that logout revokes the token on the
tracker, and how the tracker's CA comes to be trusted (--ca-file, the
remembered CA, or a person's yes on a terminal).
"""
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

NOT_LOGGED_IN = "not logged in; run 'groupfs login --tracker URL USER'"


def rows(stdout):
    """List output as lists of fields, one per line."""
    return [line.split("\t") for line in stdout.splitlines()]


class CliTestCase(lib.GroupfsTestCase):
    def setUp(self):
        super().setUp()
        # Password hashing at the tracker's minimum cost: these tests log
        # in dozens of times.
        config = os.path.join(self.tmp, "tracker.conf")
        with open(config, "w") as f:
            f.write("[tracker]\npassword-iterations=1000\n")
        self.tracker = self.start_tracker("--config", config)

    def registered(self, name, login=True):
        user = self.user(name)
        user.register(self.tracker)
        if login:
            user.login(self.tracker)
        return user

    def fails(self, user, *args, status=1, contains=None, **kw):
        """Runs a command that must fail with @status and, for status 1,
        exactly one line on stderr."""
        r = user.run(*args, check=status, **kw)
        if status == 1:
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 1, f"stderr: {r.stderr!r}")
            self.assertTrue(lines[0].startswith("groupfs: "), r.stderr)
        if contains is not None:
            self.assertIn(contains, r.stderr)
        return r

    def detached(self, user, *args, input=None):
        """Runs groupfs without a controlling terminal, as cron would."""
        return subprocess.run(
            [lib.GROUPFS] + [str(a) for a in args], env=user.env(),
            input=input, stdin=None if input else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60,
            start_new_session=True)

    def group_roles(self, user):
        return {r[0]: r[1] for r in rows(user.ok("group", "list").stdout)}


class LifeCycle(CliTestCase):
    def test_three_users(self):
        alice = self.registered("alice")
        bob = self.registered("bob")
        carol = self.registered("carol")

        alice.ok("group", "create", "study")
        self.assertEqual(rows(alice.ok("group", "list").stdout),
                         [["study", "owner", "alice", "1"]])
        self.assertEqual(self.group_roles(bob), {"study": "none"})

        bob.ok("group", "join", "study")
        carol.ok("group", "join", "study")
        self.assertEqual(self.group_roles(bob), {"study": "pending"})
        self.fails(bob, "group", "join", "study")  # already pending
        requests = rows(alice.ok("group", "requests", "study").stdout)
        self.assertEqual([r[0] for r in requests], ["bob", "carol"])

        # Only the owner sees and answers requests.
        self.fails(bob, "group", "requests", "study")
        self.fails(carol, "group", "accept", "study", "carol")
        self.assertEqual(self.group_roles(carol), {"study": "pending"})

        alice.ok("group", "accept", "study", "bob")
        alice.ok("group", "reject", "study", "carol")
        self.fails(alice, "group", "accept", "study", "carol")  # gone
        self.assertEqual(alice.ok("group", "requests", "study").stdout, "")
        self.assertEqual(self.group_roles(bob), {"study": "member"})
        self.assertEqual(self.group_roles(carol), {"study": "none"})
        members = rows(bob.ok("group", "members", "study").stdout)
        self.assertEqual([m[:2] for m in members],
                         [["alice", "owner"], ["bob", "member"]])
        self.fails(carol, "group", "members", "study")

        # Files: members may list them (none yet), others may not.
        self.assertEqual(bob.ok("ls", "study").stdout, "")
        self.fails(carol, "ls", "study")

        # The owner leaves: the earliest member takes over.
        r = alice.ok("group", "leave", "study")
        self.assertIn("bob", r.stdout)
        self.assertEqual(rows(bob.ok("group", "list").stdout),
                         [["study", "owner", "bob", "1"]])
        self.assertEqual(self.group_roles(alice), {"study": "none"})

        # The last member leaves: the group is gone.
        r = bob.ok("group", "leave", "study")
        self.assertIn("deleted", r.stdout)
        self.assertEqual(alice.ok("group", "list").stdout, "")
        self.fails(alice, "group", "members", "study")

    def test_aliases(self):
        alice = self.user("alice")
        bob = self.user("bob")
        for user in (alice, bob):
            user.ok("create_user", "--tracker", self.tracker.url,
                    "--ca-file", self.tracker.ca_file, "--password-stdin",
                    user.name, input=user.password + "\n")
            user.login(self.tracker)
        alice.ok("create_group", "club")
        bob.ok("join_group", "club")
        self.assertEqual(
            [r[0] for r in rows(alice.ok("list_requests", "club").stdout)],
            ["bob"])
        alice.ok("accept_request", "club", "bob")
        self.assertEqual(rows(bob.ok("list_groups").stdout),
                         [["club", "member", "alice", "2"]])
        self.assertEqual(bob.ok("list_files", "club").stdout, "")
        bob.ok("leave_group", "club")
        self.assertEqual(self.group_roles(bob), {"club": "none"})
        # Aliases check their arguments like the commands they stand for.
        self.fails(alice, "accept_request", "club", status=2)
        self.fails(alice, "list_groups", "extra", status=2)

    def test_refused_names(self):
        alice = self.registered("alice")
        for name in ("a/b", "..", ".hidden", "x" * 10000, "semi;colon'--"):
            self.fails(alice, "group", "create", name)
        self.assertEqual(alice.ok("group", "list").stdout, "")
        alice.ok("group", "create", "fine.name_1-x")
        self.fails(alice, "group", "create", "fine.name_1-x",
                   contains="groupfs: ")


class ExitStatus(CliTestCase):
    def test_usage_errors(self):
        alice = self.registered("alice")
        url, ca = self.tracker.url, self.tracker.ca_file
        for args in [(), ("frobnicate",), ("group",), ("group", "frob"),
                     ("group", "create"), ("group", "create", "a", "b"),
                     ("group", "accept", "g"), ("group", "list", "x"),
                     ("group", "join", ""), ("ls",), ("whoami", "x"),
                     ("group", "create", "--bogus", "g"),
                     ("login", "--ca-file", ca, "--password-stdin", "alice"),
                     ("login", "--tracker", url, "--ca-file", ca,
                      "--password-stdin"),
                     ("login", "--tracker", url, "--ca-file", ca,
                      "--password-stdin", "alice", "bob")]:
            with self.subTest(args=args):
                self.fails(alice, *args, status=2, input="")
        # Nothing above changed anything.
        self.assertEqual(alice.ok("group", "list").stdout, "")

    def test_help(self):
        alice = self.user("alice")
        r = alice.ok("help")
        for word in ("register", "login", "group", "ls", "create_user",
                     "accept_request", "list_files"):
            self.assertIn(word, r.stdout)
        self.assertIn("--password-stdin",
                      alice.ok("login", "--help").stdout)

    def test_wrong_password(self):
        alice = self.registered("alice", login=False)
        self.fails(alice, "login", "--tracker", self.tracker.url,
                   "--ca-file", self.tracker.ca_file, "--password-stdin",
                   "alice", input="not-the-password\n")
        self.fails(alice, "whoami", contains=NOT_LOGGED_IN)

    def test_register_taken_name(self):
        self.registered("alice", login=False)
        other = self.user("alice", password="another-one")
        r = other.run("register", "--tracker", self.tracker.url,
                      "--ca-file", self.tracker.ca_file,
                      "--password-stdin", "alice", input="x\n", check=1)
        self.assertEqual(len(r.stderr.splitlines()), 1)

    def test_not_logged_in(self):
        nobody = self.user("nobody")
        for args in [("whoami",), ("logout",), ("group", "list"),
                     ("group", "create", "g"), ("ls", "g")]:
            with self.subTest(args=args):
                r = self.fails(nobody, *args)
                self.assertIn("not logged in", r.stderr)
        self.fails(nobody, "group", "list", contains=NOT_LOGGED_IN)


class Passwords(CliTestCase):
    def test_never_from_argv(self):
        alice = self.registered("alice", login=False)
        url, ca = self.tracker.url, self.tracker.ca_file
        # No terminal and no --password-stdin: a usage error that says
        # what to do, whatever else is on the command line.
        for args in [("login", "--tracker", url, "--ca-file", ca, "alice"),
                     ("login", "--tracker", url, "--ca-file", ca, "alice",
                      alice.password),
                     ("login", "--tracker", url, "--ca-file", ca,
                      "--password", alice.password, "alice"),
                     ("login", "--tracker", url, "--ca-file", ca,
                      f"--password={alice.password}", "alice")]:
            with self.subTest(args=args):
                r = self.detached(alice, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
        r = self.detached(alice, "login", "--tracker", url, "--ca-file", ca,
                          "alice")
        self.assertIn("--password-stdin", r.stderr)
        self.fails(alice, "whoami", contains=NOT_LOGGED_IN)

    def test_stdin_line_exactly(self):
        # Spaces are part of a password; only the newline is not.
        alice = self.user("alice", password=" two words ")
        alice.register(self.tracker)
        alice.login(self.tracker)
        self.fails(alice, "login", "--tracker", self.tracker.url,
                   "--ca-file", self.tracker.ca_file, "--password-stdin",
                   "alice", input="two words\n")
        self.fails(alice, "register", "--tracker", self.tracker.url,
                   "--ca-file", self.tracker.ca_file, "--password-stdin",
                   "bob", input="\n")


class Sessions(CliTestCase):
    def test_files_are_private(self):
        alice = self.registered("alice")
        names = sorted(os.listdir(alice.home))
        self.assertEqual(names,
                         ["ca.crt", "cert.pem", "key.pem", "session.json"])
        for name in names:
            mode = stat.S_IMODE(os.stat(os.path.join(alice.home, name))
                                .st_mode)
            self.assertEqual(mode, 0o600, name)
        with open(os.path.join(alice.home, "session.json")) as f:
            self.assertNotIn(alice.password, f.read())

    def test_xdg_config_home(self):
        alice = self.user("alice")
        env = alice.env()
        del env["GROUPFS_HOME"]
        r = subprocess.run(
            [lib.GROUPFS, "register", "--tracker", self.tracker.url,
             "--ca-file", self.tracker.ca_file, "--password-stdin",
             "alice"], env=env, input=alice.password + "\n",
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        folder = os.path.join(env["XDG_CONFIG_HOME"], "groupfs")
        self.assertTrue(os.path.exists(os.path.join(folder, "ca.crt")))
        # A folder that groupfs creates is private too.
        self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o700)
        self.assertEqual(os.listdir(alice.home), [])

    def test_two_users_one_machine(self):
        alice = self.registered("alice")
        bob = self.registered("bob")
        self.assertEqual(rows(alice.ok("whoami").stdout),
                         [["alice", self.tracker.url]])
        self.assertEqual(rows(bob.ok("whoami").stdout),
                         [["bob", self.tracker.url]])
        alice.ok("logout")
        self.assertEqual(rows(bob.ok("whoami").stdout)[0][0], "bob")

    def test_logout_revokes_the_token(self):
        alice = self.registered("alice")
        path = os.path.join(alice.home, "session.json")
        with open(path) as f:
            saved = f.read()
        alice.ok("logout")
        self.fails(alice, "whoami", contains=NOT_LOGGED_IN)
        self.fails(alice, "group", "list", contains=NOT_LOGGED_IN)
        self.assertTrue(os.path.exists(os.path.join(alice.home, "key.pem")))
        # The old token, put back, is refused by the tracker itself.
        with open(path, "w") as f:
            f.write(saved)
        r = self.fails(alice, "whoami")
        self.assertIn("groupfs login", r.stderr)
        # And a new login works with the key that was kept.
        alice.login(self.tracker)
        self.assertEqual(rows(alice.ok("whoami").stdout)[0][0], "alice")

    def test_damaged_session(self):
        alice = self.registered("alice")
        with open(os.path.join(alice.home, "session.json"), "w") as f:
            f.write("{not json")
        self.fails(alice, "whoami", contains="damaged")
        alice.login(self.tracker)
        alice.ok("whoami")


class CaTrust(CliTestCase):
    def test_without_ca_file_and_terminal(self):
        alice = self.user("alice")
        r = self.detached(alice, "register", "--tracker", self.tracker.url,
                          "--password-stdin", "alice",
                          input=alice.password + "\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1)
        self.assertIn("--ca-file", r.stderr)

    def test_remembered_for_the_same_tracker(self):
        alice = self.registered("alice", login=False)
        r = self.detached(alice, "login", "--tracker", self.tracker.url + "/",
                          "--password-stdin", "alice",
                          input=alice.password + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Not for another URL.
        other = f"https://localhost:{self.tracker.port}"
        r = self.detached(alice, "login", "--tracker", other,
                          "--password-stdin", "alice",
                          input=alice.password + "\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--ca-file", r.stderr)
        alice.ok("whoami")  # the refused login changed nothing

    def test_wrong_ca_is_refused(self):
        alice = self.registered("alice", login=False)
        stranger = lib.Tracker(self, os.path.join(self.tmp, "stranger"))
        stranger.start()
        r = self.fails(alice, "login", "--tracker", self.tracker.url,
                       "--ca-file", stranger.ca_file, "--password-stdin",
                       "alice", input=alice.password + "\n")
        self.assertIn(self.tracker.url, r.stderr)
        self.assertIn("CA", r.stderr)
        self.fails(alice, "login", "--tracker", self.tracker.url,
                   "--ca-file", os.path.join(alice.home, "session.json"),
                   "--password-stdin", "alice", input=alice.password + "\n")

    def test_not_https(self):
        alice = self.user("alice")
        self.fails(alice, "register", "--tracker",
                   f"http://127.0.0.1:{self.tracker.port}", "--ca-file",
                   self.tracker.ca_file, "--password-stdin", "alice",
                   input="pw\n", contains="https")


class Terminal(CliTestCase):
    """A person at a terminal: prompts without echo, and the CA's
    fingerprint to accept or refuse."""

    def spawn(self, user, *args):
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(lib.GROUPFS, [lib.GROUPFS] + list(args),
                          user.env())
            finally:
                os._exit(127)
        self.addCleanup(self.reap, pid, fd)
        return pid, fd

    def reap(self, pid, fd):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)

    def expect(self, fd, text, transcript):
        deadline = time.monotonic() + lib.WAIT
        while text not in transcript[0]:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f"no {text!r} in {transcript[0]!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b""
                self.assertTrue(chunk, f"EOF before {text!r}: "
                                f"{transcript[0]!r}")
                transcript[0] += chunk.decode(errors="replace")

    def finish(self, pid, fd, transcript):
        deadline = time.monotonic() + lib.WAIT
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    transcript[0] += os.read(fd, 4096).decode(
                        errors="replace")
                except OSError:
                    pass
        self.fail(f"groupfs did not finish: {transcript[0]!r}")

    def test_trust_on_first_use_and_password_prompts(self):
        alice = self.user("alice")
        pid, fd = self.spawn(alice, "register", "--tracker",
                             self.tracker.url, "alice")
        out = [""]
        self.expect(fd, "[y/N]", out)
        fingerprint = self.tracker.process.output().decode()
        shown = out[0].split("fingerprint")[1].split()[0]
        self.assertIn(shown, fingerprint)
        os.write(fd, b"y\n")
        self.expect(fd, "Password for alice", out)
        os.write(fd, alice.password.encode() + b"\n")
        self.expect(fd, "Repeat the password", out)
        os.write(fd, alice.password.encode() + b"\n")
        self.assertEqual(self.finish(pid, fd, out), 0, out[0])
        self.assertNotIn(alice.password, out[0])
        # The CA is remembered: a script can now log in without a file.
        r = self.detached(alice, "login", "--tracker", self.tracker.url,
                          "--password-stdin", "alice",
                          input=alice.password + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_refusing_the_ca(self):
        alice = self.user("alice")
        pid, fd = self.spawn(alice, "register", "--tracker",
                             self.tracker.url, "alice")
        out = [""]
        self.expect(fd, "[y/N]", out)
        os.write(fd, b"\n")
        self.assertEqual(self.finish(pid, fd, out), 1, out[0])
        self.assertIn("--ca-file", out[0])
        self.assertFalse(os.path.exists(os.path.join(alice.home, "ca.crt")))

    def test_passwords_that_differ(self):
        alice = self.user("alice")
        pid, fd = self.spawn(alice, "register", "--tracker",
                             self.tracker.url, "--ca-file",
                             self.tracker.ca_file, "alice")
        out = [""]
        self.expect(fd, "Password for alice", out)
        os.write(fd, b"one\n")
        self.expect(fd, "Repeat the password", out)
        os.write(fd, b"two\n")
        self.assertEqual(self.finish(pid, fd, out), 1, out[0])
        self.assertIn("differ", out[0])


if __name__ == "__main__":
    lib.main()
