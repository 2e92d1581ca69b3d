#!/usr/bin/env python3
"""evilpeer: a hostile groupfs peer, for the integration tests.

It is a real member as far as TLS and the tracker can tell: it presents
the key and certificate that the tracker signed for a logged-in user
(the session folder of that user, --home), trusts only the tracker's CA,
and can announce itself to the tracker with the user's passkey. Above
TLS it speaks BitTorrent v1 badly, in one of these modes:

  seeder modes (it listens and announces; the victim connects)
    corrupt     handshake, full bitfield, unchoke; answers every
                request with random bytes
    stall       handshake, full bitfield, unchoke; never answers

  downloader modes (it connects to --connect, a seeder)
    garbage     a correct handshake, then random bytes
    wrong-hash  a handshake for a torrent nobody serves
    bad-index   handshake, interested, then a request for a piece past
                the end of the torrent
    flood       handshake, interested, and once unchoked far more
                requests than the seeder said it accepts, without
                reading anything in between
    leech       an honest request for the first block (for a user who
                should be refused)
    announce    only announces and reports the tracker's answer

Everything it sees is printed to stdout as JSON lines, one event each:
  {"event": "listening", "port": P}
  {"event": "announced", "peers": ["ADDR:PORT", ...]}
  {"event": "announce_failed", "reason": TEXT}
  {"event": "connected", "direction": "in"|"out", "user": CN}
  {"event": "requested", "user": CN}   (the first request on a connection)
  {"event": "tls_failed", "direction": ..., "error": TEXT}
  {"event": "closed", "direction": ..., "user": CN, "by": "peer"|"us",
   "seconds": S, "handshake": BOOL, "received": {TYPE: COUNT},
   "requests": N, "blocks_sent": N, "garbage_sent": N}
so that a test can assert what happened on the wire. Every wait is
bounded: sockets time out, and the program exits after --lifetime
seconds whatever it is doing.

The torrent comes from a .torrent file (--torrent), e.g. the
data/<hex>.torrent a member's daemon keeps; a user who may not read the
group's listing can still be given one.
"""
import argparse
import hashlib
import json
import os
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The interop test's bencode reader serves here too.
from test_torrent_interop import bdecode, info_span  # noqa: E402

PROTOCOL = b"BitTorrent protocol"
BLOCK = 16384
SOCKET_TIMEOUT = 10.0
MSG_NAMES = {0: "choke", 1: "unchoke", 2: "interested", 3: "not_interested",
             4: "have", 5: "bitfield", 6: "request", 7: "piece", 8: "cancel",
             20: "extended"}
SEEDER_MODES = ("corrupt", "stall")
DOWNLOADER_MODES = ("garbage", "wrong-hash", "bad-index", "flood", "leech")

_print_lock = threading.Lock()


def emit(event, **fields):
    with _print_lock:
        print(json.dumps({"event": event, **fields}), flush=True)


# ---- the torrent -----------------------------------------------------------

class Torrent:
    def __init__(self, path):
        with open(path, "rb") as f:
            raw = f.read()
        span = info_span(raw)
        info, _ = bdecode(span)
        self.info_hash = hashlib.sha1(span).digest()
        self.length = info[b"length"]
        self.piece_length = info[b"piece length"]
        self.pieces = len(info[b"pieces"]) // 20

    def piece_size(self, index):
        if index == self.pieces - 1:
            return self.length - index * self.piece_length
        return self.piece_length

    def blocks(self):
        for index in range(self.pieces):
            size = self.piece_size(index)
            for begin in range(0, size, BLOCK):
                yield index, begin, min(BLOCK, size - begin)


# ---- the member's identity and the tracker -------------------------------

class Identity:
    def __init__(self, home):
        with open(os.path.join(home, "session.json")) as f:
            self.session = json.load(f)
        self.cert = os.path.join(home, "cert.pem")
        self.key = os.path.join(home, "key.pem")
        self.ca = os.path.join(home, "ca.crt")

    def context(self, server):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server
                             else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(self.cert, self.key)
        ctx.load_verify_locations(self.ca)
        # Peers are bare addresses: identity is the certificate's CN.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def announce(self, torrent, peer_id, port, left):
        query = "&".join([
            "info_hash=" + urllib.parse.quote_from_bytes(torrent.info_hash,
                                                         safe=""),
            "peer_id=" + urllib.parse.quote_from_bytes(peer_id, safe=""),
            f"port={port}", "uploaded=0", "downloaded=0", f"left={left}",
            "event=started", "compact=1",
            "passkey=" + self.session["passkey"]])
        url = self.session["tracker"] + "/announce?" + query
        ctx = ssl.create_default_context(cafile=self.ca)
        with urllib.request.urlopen(url, context=ctx,
                                    timeout=SOCKET_TIMEOUT) as r:
            reply, _ = bdecode(r.read())
        if b"failure reason" in reply:
            emit("announce_failed",
                 reason=reply[b"failure reason"].decode(errors="replace"))
            return
        compact = reply.get(b"peers", b"")
        peers = []
        for i in range(0, len(compact) - len(compact) % 6, 6):
            addr = socket.inet_ntoa(compact[i:i + 4])
            (p,) = struct.unpack(">H", compact[i + 4:i + 6])
            peers.append(f"{addr}:{p}")
        emit("announced", peers=peers)


# ---- one connection -------------------------------------------------------

class Closed(Exception):
    pass


class Connection:
    def __init__(self, sock, direction, torrent, mode, peer_id):
        self.sock = sock
        self.direction = direction
        self.torrent = torrent
        self.mode = mode
        self.peer_id = peer_id
        self.user = self.peer_user()
        self.started = time.monotonic()
        self.received = {}
        self.handshake = False
        self.requests = 0
        self.blocks_sent = 0
        self.garbage_sent = 0
        self.their_reqq = None
        self.buf = b""

    def peer_user(self):
        cert = self.sock.getpeercert() or {}
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    # Reading.
    def read_exact(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except (ConnectionError, ssl.SSLError, OSError) as e:
                if isinstance(e, socket.timeout):
                    raise
                raise Closed() from e
            if not chunk:
                raise Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_handshake(self):
        hs = self.read_exact(68)
        if hs[0] != 19 or hs[1:20] != PROTOCOL:
            raise Closed()
        self.handshake = True
        return hs[28:48]

    def read_message(self):
        (length,) = struct.unpack(">I", self.read_exact(4))
        if length == 0:
            self.count("keepalive")
            return None, b""
        body = self.read_exact(length)
        kind = MSG_NAMES.get(body[0], f"id{body[0]}")
        self.count(kind)
        if kind == "extended" and body[1:2] == b"\0":
            self.on_extended_handshake(body[2:])
        return kind, body[1:]

    def on_extended_handshake(self, payload):
        try:
            d, _ = bdecode(payload)
            self.their_reqq = d.get(b"reqq")
        except (ValueError, IndexError, AttributeError):
            pass

    def count(self, kind):
        self.received[kind] = self.received.get(kind, 0) + 1

    # Writing.
    def send(self, data):
        try:
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
            raise Closed() from e

    def send_handshake(self, info_hash):
        # reserved[5] & 0x10: BEP 10, so that they tell us their reqq.
        reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0])
        self.send(bytes([19]) + PROTOCOL + reserved + info_hash +
                  self.peer_id)

    @staticmethod
    def frame(msg_id, payload=b""):
        return struct.pack(">IB", 1 + len(payload), msg_id) + payload

    def send_bitfield_all(self):
        n = self.torrent.pieces
        bits = bytearray(b"\xff" * ((n + 7) // 8))
        if n % 8:
            bits[-1] = (0xff << (8 - n % 8)) & 0xff
        self.send(self.frame(5, bytes(bits)))

    def request_frame(self, index, begin, length):
        return self.frame(6, struct.pack(">III", index, begin, length))

    # The modes.
    def run(self):
        by = "us"
        try:
            if self.direction == "in":
                self.serve()
            else:
                self.fetch()
        except Closed:
            by = "peer"
        except socket.timeout:
            by = "us"
        finally:
            self.report(by)

    def report(self, by):
        emit("closed", direction=self.direction, user=self.user, by=by,
             seconds=round(time.monotonic() - self.started, 3),
             handshake=self.handshake, received=self.received,
             requests=self.requests, blocks_sent=self.blocks_sent,
             garbage_sent=self.garbage_sent, their_reqq=self.their_reqq)
        try:
            self.sock.close()
        except OSError:
            pass

    def serve(self):
        """They connected to us, the 'seeder'."""
        self.read_handshake()
        self.send_handshake(self.torrent.info_hash)
        self.send_bitfield_all()
        self.send(self.frame(1))  # unchoke
        while True:
            kind, body = self.read_message()
            if kind != "request":
                continue
            self.requests += 1
            if self.requests == 1:
                emit("requested", user=self.user)
            if self.mode == "corrupt":
                index, begin, length = struct.unpack(">III", body)
                self.send(self.frame(7, struct.pack(">II", index, begin) +
                                     secrets.token_bytes(length)))
                self.blocks_sent += 1

    def fetch(self):
        """We connected to a seeder."""
        if self.mode == "wrong-hash":
            self.send_handshake(secrets.token_bytes(20))
            self.read_until_closed()
            return
        self.send_handshake(self.torrent.info_hash)
        if self.read_handshake() != self.torrent.info_hash:
            raise Closed()
        if self.mode == "garbage":
            # A frame header that claims 4 GiB, then noise.
            junk = b"\xff\xff\xff\xf0" + secrets.token_bytes(4096)
            self.send(junk)
            self.garbage_sent = len(junk)
            self.read_until_closed()
            return
        self.send(self.frame(2))  # interested
        if self.mode == "bad-index":
            self.send(self.request_frame(self.torrent.pieces, 0, BLOCK))
            self.requests = 1
            self.read_until_closed()
            return
        self.wait_for("unchoke")
        if self.mode == "flood":
            self.flood()
        else:
            self.send(self.request_frame(0, 0, min(BLOCK,
                                                  self.torrent.length)))
            self.requests = 1
        self.read_until_closed()

    def wait_for(self, kind):
        while True:
            got, _ = self.read_message()
            if got == kind:
                return

    def flood(self):
        # Distinct blocks (a duplicate is not queued twice), far more
        # than the reqq they announced, in one go. A peer tolerates up to
        # twice its reqq (requests cross cancels on the wire) and serves
        # while they arrive, so only well beyond that is a flood however
        # TLS splits the frames into records.
        limit = 4 * (self.their_reqq or 2048) + 64
        frames = [self.request_frame(i, b, n)
                  for i, b, n in self.torrent.blocks()][:limit]
        self.requests = len(frames)
        self.send(b"".join(frames))

    def read_until_closed(self):
        while True:
            self.read_message()


# ---- the program -----------------------------------------------------------

def tls_accept(listener, ctx, args, torrent, peer_id):
    while True:
        try:
            raw, _ = listener.accept()
        except OSError:
            return
        raw.settimeout(SOCKET_TIMEOUT)
        threading.Thread(target=handle_in, daemon=True,
                         args=(raw, ctx, args, torrent, peer_id)).start()


def handle_in(raw, ctx, args, torrent, peer_id):
    try:
        sock = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as e:
        emit("tls_failed", direction="in", error=str(e))
        raw.close()
        return
    # A seeder waits for requests as long as it lives: closing on our
    # side would hide a stall behind a closed connection.
    sock.settimeout(args.lifetime)
    conn = Connection(sock, "in", torrent, args.mode, peer_id)
    emit("connected", direction="in", user=conn.user)
    conn.run()


def connect_out(ctx, args, torrent, peer_id):
    host, port = args.connect.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT)
    try:
        sock = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError) as e:
        emit("tls_failed", direction="out", error=str(e))
        raw.close()
        return
    conn = Connection(sock, "out", torrent, args.mode, peer_id)
    emit("connected", direction="out", user=conn.user)
    conn.run()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--home", required=True,
                   help="the session folder of a logged-in user")
    p.add_argument("--torrent", required=True, help="a .torrent file")
    p.add_argument("--mode", required=True,
                   choices=SEEDER_MODES + DOWNLOADER_MODES + ("announce",))
    p.add_argument("--listen", default="127.0.0.1",
                   help="address to listen on (seeder modes)")
    p.add_argument("--connect", help="ADDR:PORT of a seeder")
    p.add_argument("--announce", action="store_true",
                   help="announce to the tracker (seeder modes do)")
    p.add_argument("--lifetime", type=float, default=60.0)
    args = p.parse_args()

    identity = Identity(args.home)
    torrent = Torrent(args.torrent)
    peer_id = b"-EV0001-" + secrets.token_bytes(12)
    # Whatever happens, the program ends.
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()

    if args.mode == "announce":
        identity.announce(torrent, peer_id, 6881, torrent.length)
        os._exit(0)
    if args.mode in SEEDER_MODES:
        listener = socket.create_server((args.listen, 0))
        port = listener.getsockname()[1]
        emit("listening", port=port)
        identity.announce(torrent, peer_id, port, 0)
        tls_accept(listener, identity.context(True), args, torrent, peer_id)
    else:
        if not args.connect:
            p.error(f"--mode {args.mode} needs --connect")
        if args.announce:
            identity.announce(torrent, peer_id, 6881, torrent.length)
        connect_out(identity.context(False), args, torrent, peer_id)
        os._exit(0)


if __name__ == "__main__":
    main()
