#!/usr/bin/env python3
"""The tracker's HTTP API and announce, driven over real HTTPS on
loopback: accounts, the group life cycle of three users, files, every
bad input of issue 3 (each refused with the right status and changing
nothing in the database), restart persistence, SIGKILL during a burst
of writes, 100 concurrent clients, and connections: none kept after its
client hangs up, idle ones closed, and a cap on how many are open."""
import functools
import hashlib
import http.client
import json
import os
import re
import resource
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import unittest.mock
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

PIECE = 16384


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x)
                       for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x)
                               for k, x in items) + b"e"
    raise TypeError(v)


def info_dict(name, length, seed=b""):
    """A single-file info dictionary; the piece hashes are made up, the
    tracker only checks that their count fits the length."""
    count = (length + PIECE - 1) // PIECE
    pieces = b"".join(hashlib.sha1(seed + name.encode() + bytes([i % 256]))
                      .digest() for i in range(count))
    return bencode({"length": length, "name": name,
                    "piece length": PIECE, "pieces": pieces})


def b64(data):
    import base64
    return base64.b64encode(data).decode()


class Client:
    """One HTTPS connection per call, trusting the tracker's CA."""

    def __init__(self, tracker):
        self.port = tracker.port
        self.ctx = ssl.create_default_context(cafile=tracker.ca_file)

    def raw(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=self.ctx, timeout=timeout)
        try:
            headers = headers or {}
            conn.request(method, path, body=body, headers=headers,
                         encode_chunked="Transfer-Encoding" in headers)
            r = conn.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            conn.close()

    def call(self, method, path, body=None, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        status, data, hdrs = self.raw(method, "/api/v1" + path, body, h)
        parsed = json.loads(data) if data else None
        if status >= 400:
            assert set(parsed) == {"error", "message"}, parsed
        return status, parsed, hdrs

    def announce(self, **params):
        status, data, _ = self.raw(
            "GET", "/announce?" + urllib.parse.urlencode(params))
        assert status == 200, status
        return data


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(predicate, timeout):
    """Polls @predicate until it holds or @timeout seconds pass; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


class LimitedTracker(lib.Tracker):
    """A tracker started with a hard limit of @nofile open files, as
    under a stock `ulimit -n 1024`."""

    def __init__(self, test, data_dir, nofile, extra_args=()):
        super().__init__(test, data_dir, extra_args)
        self.nofile = nofile

    def limit(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile,) * 2)

    def start(self, port=0):
        # lib.Process has no hook for this: give its Popen one.
        popen = functools.partial(subprocess.Popen, preexec_fn=self.limit)
        with unittest.mock.patch.object(subprocess, "Popen", popen):
            return super().start(port)


def q(s):
    return urllib.parse.quote(s, safe="")


class TrackerApiTest(lib.GroupfsTestCase):
    def env(self):
        env = super().env()
        # ASan's tracking of dynamic TLS reads freed memory at exit once
        # glib-networking's worker threads have done a TLS handshake
        # ("Tracer caught signal 11"): turn that tracking off.
        opts = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
            "intercept_tls_get_addr=0"
        env["G_MESSAGES_DEBUG"] = "groupfs-tracker"
        return env

    def setUp(self):
        super().setUp()
        conf = os.path.join(self.tmp, "tracker.conf")
        with open(conf, "w") as f:
            f.write("[tracker]\npassword-iterations = 1000\n")
        self.tracker = self.start_tracker("--config", conf)
        self.c = Client(self.tracker)

    # --- helpers ---

    def register(self, user, password=None):
        status, body, _ = self.c.call("POST", "/register", {
            "user": user, "password": password or "pw-" + user})
        self.assertEqual(status, 201, body)

    def login(self, user, password=None):
        status, body, _ = self.c.call("POST", "/login", {
            "user": user, "password": password or "pw-" + user})
        self.assertEqual(status, 200, body)
        return body

    def account(self, user):
        self.register(user)
        return self.login(user)["token"]

    def snapshot(self):
        """Every row of every table, to prove that nothing changed."""
        db = os.path.join(self.tracker.data_dir, "tracker.db")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " ORDER BY name")]
            return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(),
                              key=repr) for t in tables}
        finally:
            con.close()

    def expect(self, status, method, path, body=None, token=None,
               headers=None, error=None):
        """Asserts @status and that the database did not change."""
        before = self.snapshot()
        got, reply, _ = self.c.call(method, path, body, token, headers)
        self.assertEqual(got, status, f"{method} {path} {body!r}: {reply}")
        if error:
            self.assertEqual(reply["error"], error)
        self.assertEqual(self.snapshot(), before,
                         f"{method} {path} changed the database")
        return reply

    def group_roles(self, token):
        status, body, _ = self.c.call("GET", "/groups", token=token)
        self.assertEqual(status, 200)
        return {g["name"]: g["role"] for g in body["groups"]}

    # --- accounts ---

    def test_accounts(self):
        self.register("alice")
        self.expect(409, "POST", "/register",
                    {"user": "alice", "password": "other"}, error="conflict")
        body = self.login("alice")
        self.assertRegex(body["token"], r"^[0-9a-f]{64}$")
        self.assertRegex(body["passkey"], r"^[0-9a-f]{32}$")
        self.assertIn("BEGIN CERTIFICATE", body["ca_certificate"])
        self.assertNotIn("certificate", body)
        self.assertGreater(body["expires"], time.time() + 29 * 86400)
        self.assertEqual(self.login("alice")["passkey"], body["passkey"])

        status, me, _ = self.c.call("GET", "/whoami", token=body["token"])
        self.assertEqual((status, me["user"]), (200, "alice"))
        status, ca, _ = self.c.call("GET", "/ca")
        self.assertEqual(status, 200)
        log = self.tracker.process.output().decode()
        self.assertIn(ca["fingerprint"], log)

        self.expect(401, "POST", "/login",
                    {"user": "alice", "password": "wrong"},
                    error="unauthorized")
        self.expect(401, "POST", "/login",
                    {"user": "nobody", "password": "pw"},
                    error="unauthorized")
        status, _, _ = self.c.call("POST", "/logout", token=body["token"])
        self.assertEqual(status, 204)
        self.expect(401, "GET", "/whoami", token=body["token"])

    def test_client_certificate(self):
        key = os.path.join(self.tmp, "user.key")
        pub = os.path.join(self.tmp, "user.pub")
        import subprocess
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out",
                        pub], check=True, capture_output=True)
        with open(pub) as f:
            pem = f.read()
        self.register("alice")
        status, body, _ = self.c.call("POST", "/login", {
            "user": "alice", "password": "pw-alice", "public_key": pem})
        self.assertEqual(status, 200, body)
        self.assertIn("BEGIN CERTIFICATE", body["certificate"])
        self.assertLess(body["certificate_expires"], time.time() + 8 * 86400)
        cert = os.path.join(self.tmp, "user.crt")
        with open(cert, "w") as f:
            f.write(body["certificate"])
        out = subprocess.run(["openssl", "x509", "-in", cert, "-noout",
                              "-subject"], capture_output=True, text=True)
        self.assertIn("CN = alice", out.stdout)
        status, renewed, _ = self.c.call("POST", "/certificate",
                                         {"public_key": pem},
                                         token=body["token"])
        self.assertEqual(status, 200, renewed)
        self.expect(400, "POST", "/certificate",
                    {"public_key": "not a key"}, token=body["token"])

    # --- the group life cycle of three users ---

    def test_group_life_cycle(self):
        alice, bob, carol = (self.account(u) for u in ("alice", "bob",
                                                        "carol"))
        status, body, _ = self.c.call("POST", "/groups", {"name": "films"},
                                      token=alice)
        self.assertEqual((status, body), (201, {"name": "films",
                                                "role": "owner"}))
        self.expect(409, "POST", "/groups", {"name": "films"}, token=bob)
        self.assertEqual(self.group_roles(bob), {"films": "none"})

        for t in (bob, carol):
            status, body, _ = self.c.call("POST", "/groups/films/join",
                                          token=t)
            self.assertEqual((status, body["role"]), (202, "pending"))
        self.expect(409, "POST", "/groups/films/join", token=bob)
        self.expect(409, "POST", "/groups/films/join", token=alice)
        self.assertEqual(self.group_roles(bob), {"films": "pending"})

        status, body, _ = self.c.call("GET", "/groups/films/requests",
                                      token=alice)
        self.assertEqual([r["user"] for r in body["requests"]],
                         ["bob", "carol"])
        self.expect(403, "GET", "/groups/films/requests", token=bob)
        self.expect(403, "POST", "/groups/films/requests/carol/accept",
                    token=bob, error="forbidden")
        self.expect(404, "POST", "/groups/films/requests/nobody/accept",
                    token=alice, error="not_found")

        status, body, _ = self.c.call(
            "POST", "/groups/films/requests/bob/accept", token=alice)
        self.assertEqual((status, body), (200, {"name": "films",
                                                "user": "bob",
                                                "role": "member"}))
        status, body, _ = self.c.call(
            "POST", "/groups/films/requests/carol/reject", token=alice)
        self.assertEqual((status, body["role"]), (200, "none"))
        self.assertEqual(self.group_roles(carol), {"films": "none"})

        status, body, _ = self.c.call("GET", "/groups/films/members",
                                      token=bob)
        self.assertEqual([(m["user"], m["role"]) for m in body["members"]],
                         [("alice", "owner"), ("bob", "member")])
        self.expect(403, "GET", "/groups/films/members", token=carol)

        self.publish(bob, "films", "a/b.mkv", 40000)
        status, body, _ = self.c.call("GET", "/groups/films/files",
                                      token=alice)
        self.assertEqual([(f["path"], f["owner"], f["length"])
                          for f in body["files"]], [("a/b.mkv", "bob",
                                                     40000)])
        self.expect(403, "GET", "/groups/films/files", token=carol,
                    error="forbidden")

        # The owner leaves: the earliest member takes over.
        status, body, _ = self.c.call("POST", "/groups/films/leave",
                                      token=alice)
        self.assertEqual((status, body), (200, {"name": "films",
                                                "owner": "bob",
                                                "deleted": False}))
        self.assertEqual(self.group_roles(bob), {"films": "owner"})
        self.expect(404, "POST", "/groups/films/leave", token=alice)
        # The last member leaves: the group and its files are gone.
        status, body, _ = self.c.call("POST", "/groups/films/leave",
                                      token=bob)
        self.assertEqual((status, body["deleted"], body["owner"]),
                         (200, True, None))
        self.assertEqual(self.group_roles(alice), {})
        self.assertEqual(self.snapshot()["files"], [])

    def publish(self, token, group, path, length, seed=b"", status=201,
                name=None):
        info = info_dict(name or os.path.basename(path), length, seed)
        got, body, _ = self.c.call("POST", f"/groups/{group}/files",
                                   {"path": path, "info": b64(info)},
                                   token=token)
        self.assertEqual(got, status, body)
        if status < 300:
            self.assertEqual(body["info_hash"],
                             hashlib.sha1(info).hexdigest())
        return body

    def test_files(self):
        alice, bob = self.account("alice"), self.account("bob")
        self.c.call("POST", "/groups", {"name": "g"}, token=alice)
        self.c.call("POST", "/groups/g/join", token=bob)
        self.c.call("POST", "/groups/g/requests/bob/accept", token=alice)

        self.publish(bob, "g", "x.bin", 20000)
        self.publish(bob, "g", "x.bin", 30000, status=200)  # new version
        self.publish(alice, "g", "x.bin", 1000, seed=b"a", status=409)
        self.publish(alice, "g", "copy.bin", 30000, name="x.bin",
                     status=409)  # the same info-hash
        self.publish(alice, "g", "mine.bin", 5)

        path = "/groups/g/files/info?path=" + q("x.bin")
        status, body, _ = self.c.call("GET", path, token=alice)
        self.assertEqual((status, body["length"]), (200, 30000))
        self.assertEqual(hashlib.sha1(__import__("base64").b64decode(
            body["info"])).hexdigest(), body["info_hash"])

        self.expect(403, "DELETE", "/groups/g/files?path=mine.bin",
                    token=bob)
        self.expect(409, "POST", "/groups/g/files/rename",
                    {"from": "x.bin", "to": "mine.bin"}, token=bob)
        status, body, _ = self.c.call("POST", "/groups/g/files/rename", {
            "from": "x.bin", "to": "dir/y.bin"}, token=bob)
        self.assertEqual((status, body["path"]), (200, "dir/y.bin"))
        # The group's owner may remove anyone's file.
        status, _, _ = self.c.call("DELETE", "/groups/g/files?path="
                                   + q("dir/y.bin"), token=alice)
        self.assertEqual(status, 204)
        self.expect(404, "DELETE", "/groups/g/files?path=dir%2Fy.bin",
                    token=alice)
        self.expect(400, "POST", "/groups/g/files",
                    {"path": "z", "info": b64(b"d4:name1:ze")}, token=bob)
        self.expect(400, "POST", "/groups/g/files",
                    {"path": "z", "info": "***"}, token=bob)

    # --- announce ---

    def test_announce(self):
        accounts = {}
        for u in ("alice", "bob", "carol"):
            self.register(u)
            accounts[u] = self.login(u)
        a, b, c = (accounts[u] for u in ("alice", "bob", "carol"))
        self.c.call("POST", "/groups", {"name": "g"}, token=a["token"])
        self.c.call("POST", "/groups/g/join", token=b["token"])
        self.c.call("POST", "/groups/g/requests/bob/accept",
                    token=a["token"])
        info = self.publish(a["token"], "g", "f.bin", 40000)
        ih = bytes.fromhex(info["info_hash"])

        def announce(who, peer_id, port, **extra):
            params = dict(passkey=who["passkey"], info_hash=ih,
                          peer_id=peer_id, port=port, uploaded=0,
                          downloaded=0, left=0, compact=1)
            params.update(extra)
            return self.c.announce(**params)

        pa, pb = b"A" * 20, b"\x00B" + b"\xff" * 18
        reply = announce(a, pa, 6881, event="started")
        self.assertTrue(reply.startswith(b"d8:completei"), reply)
        self.assertIn(b"5:peers0:", reply)
        reply = announce(b, pb, 6882, left=100)
        self.assertIn(b"5:peers6:\x7f\x00\x00\x01\x1a\xe1", reply)
        reply = announce(a, pa, 6881)
        self.assertIn(b"5:peers6:\x7f\x00\x00\x01\x1a\xe2", reply)
        self.assertIn(b"8:completei1e10:incompletei1e", reply)

        for bad in (announce(c, b"C" * 20, 6883),
                    announce(dict(passkey="0" * 32), b"D" * 20, 1),
                    announce(a, b"E" * 19, 1),
                    announce(a, b"E" * 21, 1),
                    announce(a, pa, 0),
                    announce(a, pa, 1, event="bogus"),
                    self.c.announce(passkey=a["passkey"]),
                    self.c.announce(passkey=a["passkey"], info_hash=ih,
                                    info_hash2=ih, peer_id=pa, port=1,
                                    uploaded="x", downloaded=0, left=0)):
            self.assertTrue(bad.startswith(b"d14:failure reason"), bad)
        # A member who leaves is no longer handed out.
        self.c.call("POST", "/groups/g/leave", token=b["token"])
        reply = announce(a, pa, 6881)
        self.assertIn(b"5:peers0:", reply)
        self.assertTrue(announce(b, pb, 6882).startswith(
            b"d14:failure reason"))
        status, body, _ = self.c.call("GET", "/groups/g/files",
                                      token=a["token"])
        self.assertEqual(body["files"][0]["seeders"], 1)

    # --- bad input ---

    def test_bad_json_and_fields(self):
        self.register("alice")
        token = self.login("alice")["token"]
        self.c.call("POST", "/groups", {"name": "g"}, token=token)
        bodies = [
            b'{"name":', b"[]", b'"g2"', b"{'name': 'g2'}", b"\xff\xfe",
            b'{"name": "g2"}\x00', b'{"name": "g\\u0000x"}',
            b'{"name": 5}', b'{"name": null}', b'{"name": ["g2"]}',
            b'{"name": {"a": 1}}', b'{"name": true}', b"{}",
            b'{"name": "g2", "extra": 1}', b'{"Name": "g2"}',
        ]
        for body in bodies:
            self.expect(400, "POST", "/groups", body, token=token,
                        error="invalid_request")
        self.expect(400, "POST", "/register",
                    {"user": "bob", "password": 123})
        self.expect(400, "POST", "/register", {"user": "bob"})
        self.expect(400, "POST", "/register",
                    {"user": "bob", "password": ""})
        self.expect(400, "POST", "/groups/g/join", {"x": 1}, token=token)
        self.expect(404, "GET", "/nothing", token=token)
        self.expect(405, "PUT", "/groups", {"name": "g3"}, token=token)

    def test_bad_names(self):
        token = self.account("alice")
        names = ["a/b", "..", ".hidden", "-x", "a\x00b", "a\x01b", "a\nb",
                 "tab\t", "x" * 10000, "x" * 65, "", "caf\u00e9",
                 "'; DROP TABLE groups; --", 'a" OR "1"="1', "a b"]
        for name in names:
            self.expect(400, "POST", "/groups", {"name": name}, token=token,
                        error="invalid_request")
            self.expect(400, "POST", "/register",
                        {"user": name, "password": "pw"})
        for name in ["a%2Fb", "a%00b", "a%01b", "x" * 10000,
                     "%27%3B%20DROP%20TABLE%20groups%3B--"]:
            self.expect(400, "POST", f"/groups/{name}/join", token=token)
            self.expect(400, "POST",
                        f"/groups/g/requests/{name}/accept", token=token)
        # GUri removes dot segments before any handler runs.
        self.expect(404, "POST", "/groups/%2E%2E/join", token=token)
        self.assertEqual(self.group_roles(token), {})
        # The longest good name and a name of every allowed character.
        for name in ["x" * 64, "A-z_0.9"]:
            status, _, _ = self.c.call("POST", "/groups", {"name": name},
                                       token=token)
            self.assertEqual(status, 201)

    def test_sql_metacharacters_are_data(self):
        tricky = "x'); DROP TABLE users; --\"\\%_*"
        self.register("mallory", tricky)
        token = self.login("mallory", tricky)["token"]
        self.expect(401, "POST", "/login",
                    {"user": "mallory", "password": "x' OR '1'='1"})
        self.c.call("POST", "/groups", {"name": "g"}, token=token)
        path = "it's; DROP TABLE files;--/%s _*.txt"
        self.publish(token, "g", path, 10)
        status, body, _ = self.c.call("GET", "/groups/g/files", token=token)
        self.assertEqual([f["path"] for f in body["files"]], [path])
        self.assertEqual(len(self.snapshot()["users"]), 1)

    def test_bad_paths(self):
        token = self.account("alice")
        self.c.call("POST", "/groups", {"name": "g"}, token=token)
        info = b64(info_dict("f", 10))
        for path in ["/abs", "a//b", "a/", "./a", "a/./b", "../a", "a/..",
                     "a\x00b", "a\x1fb", "a\x7fb", "x" * 256,
                     "/".join(["x"] * 2100), ""]:
            self.expect(400, "POST", "/groups/g/files",
                        {"path": path, "info": info}, token=token)
        self.expect(400, "GET", "/groups/g/files/info?path=a%00b",
                    token=token)
        self.expect(400, "GET", "/groups/g/files/info?path=a&path=b",
                    token=token)
        # libsoup itself refuses a URL with a bad escape.
        before = self.snapshot()
        status, _, _ = self.c.raw("GET", "/api/v1/groups/g/files/info"
                                  "?path=%zz", None,
                                  {"Authorization": "Bearer " + token})
        self.assertEqual((status, self.snapshot()), (400, before))
        self.expect(400, "GET", "/groups/g/files/info?x=1", token=token)
        self.expect(400, "POST", "/groups/g/files/rename",
                    {"from": "a", "to": "../b"}, token=token)

    def test_huge_bodies_and_headers(self):
        token = self.account("alice")
        big = b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
        self.expect(413, "POST", "/groups", big, token=token,
                    error="too_large")
        chunks = (b"x" * 65536 for _ in range(80))
        before = self.snapshot()
        status, _, _ = self.c.raw("POST", "/api/v1/groups", chunks, {
            "Authorization": "Bearer " + token,
            "Transfer-Encoding": "chunked"})
        self.assertEqual(status, 413)
        self.expect(431, "GET", "/groups", token=token,
                    headers={"X-Big": "y" * 20000})
        self.assertEqual(self.snapshot(), before)
        # Beyond libsoup's own 64 KiB the connection is refused outright.
        try:
            status, _, _ = self.c.raw("GET", "/api/v1/groups", None,
                                      {"X-Big": "y" * 100000})
            self.assertGreaterEqual(status, 400)
        except (ConnectionError, http.client.HTTPException, ssl.SSLError):
            pass
        status, _, _ = self.c.call("GET", "/groups", token=token)
        self.assertEqual(status, 200)

    def test_rights(self):
        alice, bob = self.account("alice"), self.account("bob")
        self.c.call("POST", "/groups", {"name": "g"}, token=alice)
        self.publish(alice, "g", "f", 10)
        self.c.call("POST", "/groups/g/join", token=bob)
        self.expect(403, "POST", "/groups/g/requests/bob/accept", token=bob)
        self.expect(403, "GET", "/groups/g/files", token=bob)
        self.expect(403, "GET", "/groups/g/files/info?path=f", token=bob)
        self.expect(403, "DELETE", "/groups/g/files?path=f", token=bob)
        self.expect(403, "POST", "/groups/g/files",
                    {"path": "h", "info": b64(info_dict("h", 3))},
                    token=bob)
        self.expect(404, "GET", "/groups/nope/files", token=alice)

    def test_bad_tokens(self):
        token = self.account("alice")
        for auth in [None, "Bearer " + "0" * 64, "Bearer " + token[:-1],
                     "Bearer " + token + "0", "Basic " + token, token,
                     "Bearer " + token.upper()[:-1] + "Z"]:
            headers = {"Authorization": auth} if auth else {}
            self.expect(401, "POST", "/groups", {"name": "g"},
                        headers=headers, error="unauthorized")
        self.c.call("POST", "/logout", token=token)
        self.expect(401, "POST", "/groups", {"name": "g"}, token=token)

    def test_brute_force_login(self):
        self.register("alice")
        for _ in range(5):
            self.expect(401, "POST", "/login",
                        {"user": "alice", "password": "guess"})
        reply = self.expect(429, "POST", "/login",
                            {"user": "alice", "password": "pw-alice"},
                            error="rate_limited")
        _, _, headers = self.c.call("POST", "/login", {
            "user": "alice", "password": "pw-alice"})
        self.assertGreater(int(headers["Retry-After"]), 0)
        self.assertIn("try again", reply["message"])
        # Per address: 20 failures over several names.
        for i in range(15):
            self.expect(401, "POST", "/login",
                        {"user": f"u{i % 5}", "password": "guess"})
        self.expect(429, "POST", "/login",
                    {"user": "fresh", "password": "guess"})

    def slow_tracker(self, name, *settings):
        """Restarts the tracker with slow hashing and @settings."""
        self.tracker.process.stop()
        conf = os.path.join(self.tmp, f"{name}.conf")
        with open(conf, "w") as f:
            f.write("[tracker]\npassword-iterations = 300000\n")
            f.writelines(line + "\n" for line in settings)
        self.tracker = lib.Tracker(self, os.path.join(self.tmp, name),
                                   ["--config", conf]).start()
        self.c = Client(self.tracker)

    def test_password_flood_is_refused_busy(self):
        self.slow_tracker("flood", "password-jobs = 2")
        token = self.account("alice")
        results, barrier = [], threading.Barrier(12, timeout=60)

        def register(n):
            barrier.wait()
            status, body, headers = self.c.call("POST", "/register", {
                "user": f"flood{n}", "password": "pw"})
            results.append((status, body, headers))

        threads = [threading.Thread(target=register, args=(n,))
                   for n in range(12)]
        for t in threads:
            t.start()
        # The main loop keeps answering while the hashes run.
        slowest = 0
        for _ in range(5):
            start = time.monotonic()
            status, body, _ = self.c.call("GET", "/whoami", token=token)
            slowest = max(slowest, time.monotonic() - start)
            self.assertEqual((status, body["user"]), (200, "alice"))
        for t in threads:
            t.join(timeout=60)
        self.assertLess(slowest, 2.0)
        statuses = sorted(status for status, _, _ in results)
        self.assertEqual(len(statuses), 12)
        self.assertEqual(set(statuses), {201, 503}, statuses)
        for status, body, headers in results:
            if status == 503:
                self.assertEqual(body["error"], "busy")
                self.assertIn("try again", body["message"])
                self.assertGreater(int(headers["Retry-After"]), 0)
        self.assertEqual(len(self.snapshot()["users"]),
                         1 + statuses.count(201))
        # The flood is over: the next one is served.
        self.register("late")

    # --- durability ---

    def test_restart_persistence(self):
        alice, bob = self.account("alice"), self.account("bob")
        self.c.call("POST", "/groups", {"name": "g"}, token=alice)
        self.c.call("POST", "/groups/g/join", token=bob)
        self.publish(alice, "g", "f", 100)
        self.assertEqual(self.tracker.process.stop(signal.SIGTERM), 0)
        self.assertIn(b"stopped", self.tracker.process.output())
        self.tracker.start()
        self.c = Client(self.tracker)
        self.assertEqual(self.group_roles(bob), {"g": "pending"})
        status, body, _ = self.c.call("GET", "/groups/g/files", token=alice)
        self.assertEqual([f["path"] for f in body["files"]], ["f"])
        self.login("alice")

    def test_sigkill_during_burst(self):
        token = self.account("alice")
        acked, stop = [], threading.Event()

        def writer(n):
            for i in range(10000):
                if stop.is_set():
                    return
                name = f"g{n}-{i}"
                try:
                    status, _, _ = self.c.call("POST", "/groups",
                                               {"name": name}, token=token)
                except (OSError, http.client.HTTPException):
                    return
                if status == 201:
                    acked.append(name)

        threads = [threading.Thread(target=writer, args=(n,))
                   for n in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(acked) < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(self.tracker.process.proc.pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.tracker.process.proc.wait()
        self.assertGreaterEqual(len(acked), 50)

        db = os.path.join(self.tracker.data_dir, "tracker.db")
        con = sqlite3.connect(db)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check")
                             .fetchone()[0], "ok")
            self.assertEqual(con.execute("PRAGMA foreign_key_check")
                             .fetchall(), [])
        finally:
            con.close()
        self.tracker.start()
        self.c = Client(self.tracker)
        groups = self.group_roles(token)
        missing = [g for g in acked if groups.get(g) != "owner"]
        self.assertEqual(missing, [])

    def test_sigterm_finishes_requests_in_flight(self):
        # Slow hashing keeps registrations in flight while SIGTERM comes.
        self.tracker.process.stop()
        conf = os.path.join(self.tmp, "slow.conf")
        with open(conf, "w") as f:
            f.write("[tracker]\npassword-iterations = 300000\n")
        self.tracker = lib.Tracker(self, os.path.join(self.tmp, "slow"),
                                   ["--config", conf]).start()
        self.c = Client(self.tracker)
        results = []

        def register(n):
            results.append(self.c.call("POST", "/register", {
                "user": f"u{n}", "password": "pw"})[0])

        threads = [threading.Thread(target=register, args=(n,))
                   for n in range(3)]
        for t in threads:
            t.start()
        for n in range(3):
            self.tracker.process.wait_for_line(f"hashing a password for u{n}")
        self.assertEqual(self.tracker.process.stop(signal.SIGTERM), 0)
        for t in threads:
            t.join(timeout=30)
        log = self.tracker.process.output()
        self.assertLess(log.index(b"stopping"), log.index(b"registered"))
        self.assertEqual(results, [201] * 3)
        self.assertEqual(len(self.snapshot()["users"]), 3)

    # --- concurrency ---

    def test_100_concurrent_clients(self):
        owner = self.account("owner")
        self.c.call("POST", "/groups", {"name": "shared"}, token=owner)
        errors, barrier = [], threading.Barrier(100, timeout=60)

        def client(n):
            try:
                user = f"user{n}"
                barrier.wait()
                self.register(user)
                token = self.login(user)["token"]
                status, _, _ = self.c.call("POST", "/groups/shared/join",
                                           token=token)
                assert status == 202, status
                status, _, _ = self.c.call("POST", "/groups",
                                           {"name": f"own{n}"}, token=token)
                assert status == 201, status
                roles = self.group_roles(token)
                assert roles["shared"] == "pending", roles
                assert roles[f"own{n}"] == "owner", roles
            except Exception as e:  # collected and reported below
                errors.append(f"client {n}: {e!r}")

        threads = [threading.Thread(target=client, args=(n,))
                   for n in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(errors, [])
        status, body, _ = self.c.call("GET", "/groups/shared/requests",
                                      token=owner)
        self.assertEqual(len(body["requests"]), 100)

    # --- connections ---

    def tls(self, tracker):
        """A TLS connection to @tracker, handshake done."""
        ctx = ssl.create_default_context(cafile=tracker.ca_file)
        raw = socket.create_connection(("127.0.0.1", tracker.port),
                                       timeout=lib.WAIT)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def get_ca(self, conn):
        """One request on @conn, kept alive; returns the reply's head."""
        conn.sendall(b"GET /api/v1/ca HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = b""
        while b"-----END CERTIFICATE-----" not in reply:
            data = conn.recv(65536)
            self.assertTrue(data, "the tracker closed the connection")
            reply += data
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply[:80])
        return reply

    def assert_closed_by_tracker(self, conn, within):
        conn.settimeout(within)
        try:
            self.assertEqual(conn.recv(1), b"")
        except (ConnectionResetError, ssl.SSLError):
            pass

    def limited_tracker(self, name, nofile, *settings):
        self.tracker.process.stop()
        conf = os.path.join(self.tmp, f"{name}.conf")
        with open(conf, "w") as f:
            f.writelines(line + "\n" for line in settings)
        self.tracker = LimitedTracker(self, os.path.join(self.tmp, name),
                                      nofile, ["--config", conf]).start()
        self.c = Client(self.tracker)
        return self.tracker.process.proc.pid

    def test_clients_that_hang_up_leave_nothing_open(self):
        # libsoup 3.2 alone kept every connection whose client hung up
        # after a request: past ~1000 of them, under this limit, the
        # tracker could accept no more.
        pid = self.limited_tracker("hangups", 1024, "[tracker]")
        self.c.raw("GET", "/api/v1/ca")  # the TLS backend is loaded
        baseline = open_fds(pid)
        deadline = time.monotonic() + 240
        for n in range(1500):
            self.assertLess(time.monotonic(), deadline, f"at client {n}")
            if n % 10 == 0:
                # Says goodbye in TLS first (close_notify), as curl and
                # GLib clients do, without waiting for the reply;
                # Python's http.client does not.
                conn = self.tls(self.tracker)
                self.get_ca(conn)
                self.get_ca(conn)
                conn.setblocking(False)
                try:
                    conn.unwrap()
                except ssl.SSLWantReadError:
                    pass
                conn.close()
            else:
                status, _, _ = self.c.raw("GET", "/api/v1/ca", timeout=10)
                self.assertEqual(status, 200, f"client {n}")
        status, _, _ = self.c.raw("GET", "/api/v1/ca")
        self.assertEqual(status, 200)
        self.assertTrue(wait_for(lambda: open_fds(pid) <= baseline + 2, 5),
                        f"{open_fds(pid)} files open, {baseline} before")

    def test_idle_connections_are_closed(self):
        pid = self.limited_tracker("idle", 1024,
                                   "[tracker]", "idle-timeout = 1")
        baseline = open_fds(pid)
        kept_alive = self.tls(self.tracker)
        self.get_ca(kept_alive)
        self.get_ca(kept_alive)
        silent = socket.create_connection(("127.0.0.1", self.tracker.port))
        slow = self.tls(self.tracker)
        slow.sendall(b"GET /api/v1/ca HTTP/1.1\r\n")
        self.assertTrue(wait_for(lambda: open_fds(pid) >= baseline + 3, 5))
        start = time.monotonic()
        for conn in (kept_alive, silent, slow):
            self.assert_closed_by_tracker(conn, 5)
            conn.close()
        self.assertGreater(time.monotonic() - start, 0.5)
        self.assertTrue(wait_for(lambda: open_fds(pid) <= baseline, 5),
                        f"{open_fds(pid)} files open, {baseline} before")
        # A request that keeps coming is not idle.
        busy = self.tls(self.tracker)
        for _ in range(6):
            self.get_ca(busy)
            time.sleep(0.4)
        busy.close()

    def test_connections_past_the_cap_wait(self):
        self.limited_tracker("cap", 1024, "[tracker]", "max-connections = 4")
        full = [self.tls(self.tracker) for _ in range(4)]
        for conn in full:
            self.get_ca(conn)
        # The fifth waits in the listen backlog, its handshake unanswered.
        raw = socket.create_connection(("127.0.0.1", self.tracker.port))
        ctx = ssl.create_default_context(cafile=self.tracker.ca_file)
        raw.settimeout(1)
        with self.assertRaises(socket.timeout):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        raw.close()
        self.tracker.process.wait_for_line(
            r"4 client connections are open, the most allowed")
        full.pop().close()
        waiting = self.tls(self.tracker)
        self.get_ca(waiting)
        for conn in full + [waiting]:
            self.get_ca(conn)
            conn.close()


if __name__ == "__main__":
    lib.main()
