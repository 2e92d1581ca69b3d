#!/usr/bin/env python3
"""Members on separate network stacks: the tracker, alice and bob each
in a network namespace of their own, with a distinct 10.x address on a
veth into a bridge that lives in a fourth namespace. Nothing is created
in the host's namespace, so no packet of the test can leave the ones it
made; all of them are deleted at the end (after the processes in them
are killed), whatever happened.

What this proves: share and get work across a real network stack, with
addresses that are not loopback: the tracker's certificate names its
namespace address (--hostname), the tracker sees each member at that
member's address and hands it to the other, the daemons connect to each
other there, and the bytes arrive intact, through the veth of the
seeder.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

MiB = 1 << 20
SUBNET = "10.231.77"
ROLES = {"tracker": 1, "alice": 2, "bob": 3}


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, timeout=lib.WAIT,
                   stdout=subprocess.DEVNULL)


class Network:
    """The namespaces of one test, named after its process so that runs
    side by side do not meet."""

    def __init__(self):
        self.prefix = f"gfs{os.getpid()}"
        self.names = []

    def name(self, role):
        return f"{self.prefix}-{role}"

    def build(self):
        switch = self.add("switch")
        ip("-n", switch, "link", "add", "br0", "type", "bridge")
        ip("-n", switch, "link", "set", "br0", "up")
        for role, host in ROLES.items():
            ns = self.add(role)
            port = f"v{role}"
            # Both ends are born inside namespaces of ours.
            ip("-n", switch, "link", "add", port, "type", "veth", "peer",
               "name", "eth0", "netns", ns)
            ip("-n", switch, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.address(role)}/24",
               "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def add(self, role):
        ns = self.name(role)
        ip("netns", "add", ns)
        self.names.append(ns)
        return ns

    @staticmethod
    def address(role):
        return f"{SUBNET}.{ROLES[role]}"

    def wrap(self, role):
        return ["ip", "netns", "exec", self.name(role)]

    def tx_bytes(self, role):
        out = subprocess.run(
            ["ip", "-n", self.name(role), "-j", "-s", "link", "show",
             "eth0"], check=True, capture_output=True, text=True,
            timeout=lib.WAIT).stdout
        return json.loads(out)[0]["stats64"]["tx"]["bytes"]

    def delete(self):
        for ns in reversed(self.names):
            subprocess.run(["ip", "netns", "del", ns], check=False,
                           timeout=lib.WAIT)
        self.names = []


class Namespaces(lib.GroupfsTestCase):
    def setUp(self):
        super().setUp()
        self.net = Network()
        # Cleanups run after tearDown has killed what runs inside.
        self.addCleanup(self.net.delete)
        self.net.build()

    def start_tracker_in_namespace(self):
        config = os.path.join(self.tmp, "tracker.conf")
        with open(config, "w") as f:
            f.write("[tracker]\npassword-iterations=1000\n")
        address = self.net.address("tracker")
        tracker = lib.Tracker(self, os.path.join(self.tmp, "tracker-data"),
                              ["--config", config, "--hostname", address])
        tracker.host = address
        tracker.wrap = self.net.wrap("tracker")
        return tracker.start()

    def member(self, name, tracker):
        user = self.user(name)
        user.wrap = self.net.wrap(name)
        user.register(tracker)
        user.login(tracker)
        return user

    def test_share_and_get_across_namespaces(self):
        tracker = self.start_tracker_in_namespace()
        self.assertTrue(tracker.url.startswith("https://10."), tracker.url)
        alice = self.member("alice", tracker)
        bob = self.member("bob", tracker)
        alice.ok("group", "create", "g1")
        bob.ok("group", "join", "g1")
        alice.ok("group", "accept", "g1", "bob")
        a = alice.serve(f"listen={self.net.address('alice')}:0")
        bob.serve(f"listen={self.net.address('bob')}:0")

        length = 16 * MiB + 777
        src = os.path.join(self.tmp, "across.bin")
        digest = lib.random_file(src, length)
        alice.ok("share", src, "g1")
        sent_before = self.net.tx_bytes("alice")

        dest = os.path.join(self.tmp, "bob-across.bin")
        bob.run("get", "g1/across.bin", dest, check=0, timeout=90)
        self.assertEqual(lib.sha256(dest), digest)
        self.assertEqual(bob.ok("status").stdout, "[C] g1/across.bin\n")
        # The bytes left alice's namespace through its veth (TLS and
        # framing make it a little more than the file).
        self.assertGreaterEqual(self.net.tx_bytes("alice") - sent_before,
                                length)
        self.assertGreaterEqual(alice.files()["g1/across.bin"]["uploaded"],
                                length)
        self.assertTrue(a.running())


if __name__ == "__main__":
    lib.main()
