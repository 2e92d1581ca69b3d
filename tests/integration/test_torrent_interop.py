#!/usr/bin/env python3
"""`groupfs torrent create` must write the torrent that the field writes:
for the same file, piece length and name, the info-hash that mktorrent
gives. transmission-create adds "private": 0 to every info dictionary,
so its info-hash differs by design; for it the test checks that every
other field is byte for byte ours.

Info-hashes are computed twice: by `groupfs torrent show`, and here in
Python from the torrent's bytes, so that the test does not only trust
groupfs's own parser.
"""
import hashlib
import os
import re
import shutil
import subprocess

import lib

ANNOUNCE = "http://127.0.0.1:1/announce"

# (size in bytes, log2 of the piece length): empty, one byte, around a
# piece boundary, and files of many pieces at several piece lengths.
CASES = [
    (0, 15),
    (1, 15),
    (32767, 15),
    (32768, 15),
    (32769, 15),
    (1048576 + 3, 16),
    (5 * 1048576, 19),
    (3 * 1048576 + 12345, 20),
    (9 * 1048576, 22),
]


def bdecode(data, i=0):
    """Decodes the bencoded value at data[i:]; returns (value, end).
    Dicts decode to dicts of bytes keys; enough for .torrent files."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        i += 1
        items = []
        while data[i:i + 1] != b"e":
            item, i = bdecode(data, i)
            items.append(item)
        return items, i + 1
    if c == b"d":
        i += 1
        entries = {}
        while data[i:i + 1] != b"e":
            key, i = bdecode(data, i)
            entries[key], i = bdecode(data, i)
        return entries, i + 1
    colon = data.index(b":", i)
    end = colon + 1 + int(data[i:colon])
    if end > len(data):
        raise ValueError("string runs past the end")
    return data[colon + 1:end], end


def info_span(torrent):
    """The bytes of the top-level "info" value, exactly as written."""
    if torrent[:1] != b"d":
        raise ValueError("a torrent is a dictionary")
    i = 1
    while torrent[i:i + 1] != b"e":
        key, i = bdecode(torrent, i)
        start = i
        _, i = bdecode(torrent, i)
        if key == b"info":
            return torrent[start:i]
    raise ValueError("no info dictionary")


def python_info_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha1(info_span(f.read())).hexdigest()


def info_of(path):
    with open(path, "rb") as f:
        return bdecode(info_span(f.read()))[0]


class TorrentInterop(lib.GroupfsTestCase):
    def setUp(self):
        super().setUp()
        self.alice = self.user("alice")

    def make_file(self, size, name="data.bin"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def groupfs_info_hash(self, torrent):
        out = self.alice.ok("torrent", "show", torrent).stdout
        m = re.search(r"^info-hash: ([0-9a-f]{40})$", out, re.MULTILINE)
        self.assertIsNotNone(m, f"no info-hash line in:\n{out}")
        return m.group(1)

    def groupfs_create(self, path, log2, *extra):
        out = path + ".groupfs.torrent"
        self.alice.ok("torrent", "create", path, "-o", out,
                      "--piece-length", str(1 << log2),
                      "--announce", ANNOUNCE, *extra)
        return out

    def run_tool(self, argv):
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, f"{argv}: {r.stderr}")

    def mktorrent(self, path, log2, *extra):
        out = path + ".mktorrent.torrent"
        self.run_tool(["mktorrent", "-l", str(log2), "-a", ANNOUNCE,
                       "-o", out, *extra, path])
        return out

    def test_same_info_hash_as_mktorrent(self):
        if not shutil.which("mktorrent"):
            self.fail("mktorrent is not installed (make deps installs it)")
        for size, log2 in CASES:
            with self.subTest(size=size, piece_length=1 << log2):
                path = self.make_file(size, f"data-{size}-{log2}.bin")
                ours = self.groupfs_create(path, log2)
                theirs = self.mktorrent(path, log2)
                expected = python_info_hash(theirs)
                self.assertEqual(self.groupfs_info_hash(theirs), expected)
                self.assertEqual(python_info_hash(ours), expected)
                self.assertEqual(self.groupfs_info_hash(ours), expected)

    def test_same_info_hash_with_chosen_name(self):
        path = self.make_file(100000)
        ours = self.groupfs_create(path, 15, "--name", "holiday.mkv")
        theirs = self.mktorrent(path, 15, "-n", "holiday.mkv")
        self.assertEqual(python_info_hash(ours), python_info_hash(theirs))

    def test_keys_we_do_not_write_count_in_the_hash(self):
        """mktorrent's private and source keys are kept as received."""
        path = self.make_file(70000)
        theirs = self.mktorrent(path, 15, "-p", "-s", "groupfs-test")
        self.assertIn(b"source", info_of(theirs))
        self.assertEqual(self.groupfs_info_hash(theirs),
                         python_info_hash(theirs))

    def test_same_fields_as_transmission_create(self):
        if not shutil.which("transmission-create"):
            self.fail("transmission-create is not installed "
                      "(Debian package transmission-cli)")
        for size, log2 in CASES:
            if size == 0:
                continue  # transmission-create refuses empty files
            with self.subTest(size=size, piece_length=1 << log2):
                path = self.make_file(size, f"data-{size}-{log2}.bin")
                ours = self.groupfs_create(path, log2)
                theirs = path + ".transmission.torrent"
                self.run_tool(["transmission-create", "-o", theirs,
                               "-s", str((1 << log2) // 1024),
                               "-t", ANNOUNCE, path])
                self.assertEqual(self.groupfs_info_hash(theirs),
                                 python_info_hash(theirs))
                info = info_of(theirs)
                info.pop(b"private", None)
                self.assertEqual(info, info_of(ours))

    def test_multi_file_torrent_is_refused(self):
        folder = os.path.join(self.tmp, "folder")
        os.mkdir(folder)
        for name in ("a", "b"):
            with open(os.path.join(folder, name), "w") as f:
                f.write(name)
        theirs = self.mktorrent(folder, 15)
        r = self.alice.run("torrent", "show", theirs, check=1)
        self.assertIn("multi-file torrents are not supported", r.stderr)


if __name__ == "__main__":
    lib.main()
