"""Shared helpers for the integration tests: real processes, loopback
ports, one temporary folder per test, and nothing left running after.

Each test case that inherits GroupfsTestCase gets:
  self.tmp         a fresh directory, removed at the end
  self.start_tracker()  a real groupfs-tracker on 127.0.0.1:<ephemeral>
  self.user(name)  a User whose GROUPFS_HOME is private to that name
Every process started through these helpers is killed in tearDown, and
its stderr is checked for sanitizer reports. Every mount made with
User.mount is unmounted in tearDown, before anything else, whatever the
test did.
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

GROUPFS = os.environ.get("GROUPFS_BIN", "groupfs")
TRACKER = os.environ.get("GROUPFS_TRACKER_BIN", "groupfs-tracker")

# Everything a test waits for is bounded by this many seconds.
WAIT = 20

SANITIZER = re.compile(rb"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                       rb"runtime error:|==\d+==ERROR)")


class Process:
    """A background process whose stderr goes to a file we can read."""

    def __init__(self, argv, env, log_path):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def wait_for_line(self, pattern, timeout=WAIT):
        """Waits until the output matches @pattern; returns the match."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str)
                           else pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = regex.search(self.output())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.argv[0]} exited with {self.proc.returncode} "
                    f"before printing {pattern!r}:\n"
                    + self.output().decode(errors="replace"))
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {pattern!r} from "
                             f"{self.argv[0]}:\n"
                             + self.output().decode(errors="replace"))

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=WAIT):
        """Stops the process (SIGTERM unless @sig) and returns its exit
        status."""
        # Not a default argument: in the class body, "signal" is the
        # method above, not the module.
        if sig is None:
            sig = signal.SIGTERM
        self.signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{self.argv[0]} did not stop on {sig}")
        finally:
            self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.log.close()


def is_mounted(path):
    """True when @path is a mount point now (dead FUSE mounts too)."""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def wait_until(predicate, what, timeout=WAIT, interval=0.05):
    """Polls @predicate until it returns something true, which it
    returns; fails after @timeout seconds, saying @what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting "
                                 f"for {what}")
        time.sleep(interval)


def force_unmount(path):
    """Unmounts @path whatever state its daemon is in: fusermount3 -u,
    then a lazy -uz when that fails (a dead or busy mount)."""
    if not is_mounted(path):
        return
    subprocess.run(["fusermount3", "-u", path], capture_output=True,
                   timeout=WAIT)
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", path],
                       capture_output=True, timeout=WAIT)


class Tracker:
    def __init__(self, test, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.test = test
        self.process = None
        self.url = None
        self.port = 0
        # Where it listens, and a command prefix to run it with (e.g.
        # "ip netns exec NS"); loopback and none by default.
        self.host = "127.0.0.1"
        self.wrap = []

    def start(self, port=0):
        """Starts the tracker; with port 0 it keeps the port it had
        before, or picks an ephemeral one the first time."""
        port = port or self.port
        log = os.path.join(self.test.tmp, f"tracker-{time.monotonic_ns()}.log")
        argv = self.wrap + [TRACKER, "--listen", f"{self.host}:{port}",
                            "--data", self.data_dir] + self.extra_args
        self.process = Process(argv, self.test.env(), log)
        self.test.processes.append(self.process)
        m = self.process.wait_for_line(
            r"listening on (https://" + re.escape(self.host) + r":(\d+))")
        self.url = m.group(1).decode()
        self.port = int(m.group(2))
        return self

    @property
    def ca_file(self):
        return os.path.join(self.data_dir, "ca.crt")


class User:
    """A member with their own GROUPFS_HOME, driving the real CLI."""

    def __init__(self, test, name, password=None):
        self.test = test
        self.name = name
        self.password = password or f"pw-{name}-secret"
        self.home = os.path.join(test.tmp, "home-" + name)
        os.makedirs(self.home, exist_ok=True)
        # A command prefix for everything run as this user, e.g.
        # "ip netns exec NS".
        self.wrap = []

    def env(self):
        env = self.test.env()
        env["GROUPFS_HOME"] = self.home
        return env

    def run(self, *args, input=None, check=None, timeout=60):
        """Runs `groupfs ARGS`; returns CompletedProcess with text output.
        With check=N asserts the exit status is N."""
        r = subprocess.run(self.wrap + [GROUPFS] + [str(a) for a in args],
                           env=self.env(), input=input,
                           capture_output=True, text=True, timeout=timeout)
        self.test.assert_clean(r.stderr.encode(), f"groupfs {args}")
        if check is not None and r.returncode != check:
            raise AssertionError(
                f"groupfs {' '.join(map(str, args))} exited "
                f"{r.returncode}, expected {check}\n"
                f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def ok(self, *args, **kw):
        return self.run(*args, check=0, **kw)

    def register(self, tracker):
        return self.ok("register", "--tracker", tracker.url, "--ca-file",
                       tracker.ca_file, "--password-stdin", self.name,
                       input=self.password + "\n")

    def login(self, tracker):
        return self.ok("login", "--tracker", tracker.url, "--ca-file",
                       tracker.ca_file, "--password-stdin", self.name,
                       input=self.password + "\n")

    def serve(self, *options):
        """Starts `groupfs serve -f` for this user and waits until it
        serves; returns the Daemon. @options go to -o, e.g.
        "listen=127.0.0.1:0"."""
        return Daemon(self, options).start()

    def mount(self, mountpoint, *options, source=None, foreground=True):
        """Mounts this member's groups at @mountpoint (created if
        missing) with `groupfs mount [-f]` and waits until the mount is
        there; returns the Mount. @options go to -o ("listen=127.0.0.1:0"
        unless one says listen=). tearDown always unmounts it."""
        return Mount(self, mountpoint, options, source, foreground).start()

    def session(self):
        with open(os.path.join(self.home, "session.json")) as f:
            return json.load(f)

    def api(self, method, path, body=None, connection=None):
        """Calls the tracker's API as this member (the token of the
        login); returns (status, parsed JSON or None). @path is under
        /api/v1/. @connection, from api_connection, reuses one."""
        conn = connection or self.api_connection()
        try:
            headers = {"Authorization": "Bearer " + self.session()["token"]}
            data = None
            if body is not None:
                data = json.dumps(body)
                headers["Content-Type"] = "application/json"
            conn.request(method, "/api/v1/" + path, body=data,
                         headers=headers)
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
        finally:
            if connection is None:
                conn.close()

    def api_connection(self):
        """A keep-alive HTTPS connection to this member's tracker."""
        url = self.session()["tracker"]
        host, port = url.split("://", 1)[1].rstrip("/").rsplit(":", 1)
        ctx = ssl.create_default_context(
            cafile=os.path.join(self.home, "ca.crt"))
        return http.client.HTTPSConnection(host, int(port), context=ctx,
                                           timeout=WAIT)

    @property
    def socket_path(self):
        return os.path.join(self.home, "run", "control.sock")

    def control(self, request, timeout=WAIT, on_event=None):
        """Sends @request (a dict) on the daemon's control socket and
        returns the final reply (the one with "ok" or "error"); events
        before it (a get's progress) go to @on_event."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket_path)
            s.sendall(json.dumps(request).encode() + b"\n")
            with s.makefile("rb") as reader:
                while True:
                    s.settimeout(max(0.01, deadline - time.monotonic()))
                    line = reader.readline()
                    if not line:
                        raise AssertionError(f"the daemon of {self.name} "
                                             f"hung up on {request}")
                    reply = json.loads(line)
                    if "event" not in reply:
                        return reply
                    if on_event:
                        on_event(reply)

    def files(self):
        """The daemon's status as {"G/PATH": fields}: state, length,
        pieces, verified, downloaded, uploaded, peers, ..."""
        reply = self.control({"op": "status"})
        if not reply.get("ok"):
            raise AssertionError(f"status of {self.name}: {reply}")
        return {f["group"] + "/" + f["path"]: f for f in reply["files"]}


class Daemon:
    """A user's `groupfs serve -f`, whose log is its stderr."""

    READY = r"serving (\S+): peers connect on port (\d+)"

    def __init__(self, user, options=()):
        self.user = user
        self.options = list(options) or ["listen=127.0.0.1:0"]
        self.process = None
        self.port = None

    def start(self):
        test = self.user.test
        log = os.path.join(test.tmp, f"daemon-{self.user.name}-"
                           f"{time.monotonic_ns()}.log")
        argv = self.user.wrap + [GROUPFS, "serve", "-f"]
        for o in self.options:
            argv += ["-o", o]
        self.process = Process(argv, self.user.env(), log)
        test.processes.append(self.process)
        m = self.process.wait_for_line(self.READY)
        self.port = int(m.group(2))
        return self

    def stop(self, sig=None):
        """Stops the daemon (SIGTERM unless @sig); returns its status."""
        return self.process.stop(sig)

    def output(self):
        return self.process.output().decode(errors="replace")

    def freeze(self):
        """SIGSTOP: the daemon holds its connections but answers nothing
        until thaw()."""
        self.process.signal(signal.SIGSTOP)

    def thaw(self):
        self.process.signal(signal.SIGCONT)

    def kill(self):
        """SIGKILL, as a crash would; waits until it is gone."""
        self.process.signal(signal.SIGCONT)
        self.process.kill()

    def running(self):
        return self.process.proc.poll() is None


def random_file(path, size):
    """Writes @size random bytes to @path; returns their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 22))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wait_until(predicate, what, timeout=WAIT, interval=0.02):
    """Polls @predicate until it returns something true, which is
    returned; fails naming @what after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting "
                                 f"for {what}")
        time.sleep(interval)


class Mount:
    """A member's `groupfs mount`: the daemon and its FUSE session.

    In the foreground (-f) the daemon is our child and its log its
    stderr; detached, it is found through the pid file and its log is
    run/daemon.log. teardown() unmounts whatever happened and kills the
    daemon, so a failing test never leaves a mount behind."""

    def __init__(self, user, mountpoint, options, source, foreground):
        self.user = user
        self.mountpoint = os.path.realpath(mountpoint)
        self.options = list(options)
        if not any(o.startswith("listen=") for o in self.options):
            self.options.append("listen=127.0.0.1:0")
        self.source = source
        self.foreground = foreground
        self.process = None
        self.pid = None

    def argv(self):
        argv = [GROUPFS, "mount"]
        if self.source:
            argv.append(self.source)
        argv.append(self.mountpoint)
        if self.foreground:
            argv.append("-f")
        if self.options:
            argv += ["-o", ",".join(self.options)]
        return argv

    def start(self):
        test = self.user.test
        os.makedirs(self.mountpoint, exist_ok=True)
        test.mounts.append(self)
        if self.foreground:
            log = os.path.join(test.tmp, f"mount-{self.user.name}-"
                               f"{time.monotonic_ns()}.log")
            self.process = Process(self.argv(), self.user.env(), log)
            test.processes.append(self.process)
            self.pid = self.process.proc.pid
        else:
            r = subprocess.run(self.argv(), env=self.user.env(),
                               capture_output=True, text=True, timeout=WAIT)
            if r.returncode != 0:
                raise AssertionError(f"{self.argv()} exited {r.returncode}:"
                                     f"\n{r.stdout}{r.stderr}")
            with open(os.path.join(self.user.home, "run",
                                   "daemon.pid")) as f:
                self.pid = int(f.read())
        wait_until(self.ready, f"the mount at {self.mountpoint}")
        return self

    def ready(self):
        if self.process is not None and self.process.proc.poll() is not None:
            raise AssertionError(f"groupfs mount exited with "
                                 f"{self.process.proc.returncode}:\n"
                                 + self.output())
        return is_mounted(self.mountpoint)

    def path(self, *parts):
        return os.path.join(self.mountpoint, *parts)

    def alive(self):
        if self.process is not None:
            return self.process.proc.poll() is None
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def output(self):
        if self.process is not None:
            return self.process.output().decode(errors="replace")
        log = os.path.join(self.user.home, "run", "daemon.log")
        try:
            with open(log, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout=WAIT):
        """Waits until the daemon has exited; its status when it was our
        child, else None."""
        if self.process is not None:
            try:
                return self.process.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError("groupfs mount did not exit:\n"
                                     + self.output())
        wait_until(lambda: not self.alive(), "groupfs mount to exit",
                   timeout)
        return None

    def umount(self):
        """`groupfs umount`: the clean way. Returns the daemon's status
        (None when detached) once it has exited."""
        self.user.ok("umount", self.mountpoint)
        status = self.wait_exit()
        if is_mounted(self.mountpoint):
            raise AssertionError(f"{self.mountpoint} still mounted")
        return status

    def kill(self):
        """SIGKILL of the daemon: the mount stays, dead, until
        force_unmount."""
        if self.process is not None:
            self.process.kill()
        elif self.alive():
            os.kill(self.pid, signal.SIGKILL)
            wait_until(lambda: not self.alive(), "the daemon to die")

    def teardown(self):
        try:
            force_unmount(self.mountpoint)
        finally:
            if self.alive():
                try:
                    self.wait_exit(timeout=5)
                except AssertionError:
                    pass
            self.kill()


class GroupfsTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="groupfs-test-")
        self.processes = []
        self.mounts = []
        # tearDown stops them, but does not run when a subclass's setUp
        # fails after starting some; cleanups always run.
        self.addCleanup(self.stop_everything)

    def stop_everything(self):
        # Mounts first: a killed daemon leaves a dead mount that nothing
        # under it could be removed through. Runs twice (tearDown, then
        # the cleanup); the second time finds nothing left to do.
        for m in getattr(self, "mounts", []):
            m.teardown()
        for p in self.processes:
            p.kill()

    def tearDown(self):
        self.stop_everything()
        for m in getattr(self, "mounts", []):
            if m.process is None:
                self.assert_clean(m.output().encode(), "groupfs mount")
        for p in self.processes:
            self.assert_clean(p.output(), p.argv[0])
        if os.environ.get("GROUPFS_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            subprocess.run(["rm", "-rf", self.tmp], check=False)

    def env(self):
        env = dict(os.environ)
        # Keep each test's XDG folders inside its own tmp.
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
                    "XDG_RUNTIME_DIR"):
            env[var] = os.path.join(self.tmp, var.lower())
        env["HOME"] = self.tmp
        return env

    def assert_clean(self, output, what):
        m = SANITIZER.search(output)
        if m:
            raise AssertionError(f"sanitizer report from {what}:\n"
                                 + output.decode(errors="replace"))

    def start_tracker(self, *extra_args):
        data = os.path.join(self.tmp, "tracker-data")
        return Tracker(self, data, extra_args).start()

    def user(self, name, password=None):
        return User(self, name, password)


def main():
    unittest.main(verbosity=2)
