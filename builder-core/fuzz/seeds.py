#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into corpus/<target>/seed-*.

Run once before the first fuzzing, then minimize with `run.sh TARGET cmin`; the committed
corpus grew from these. Layers are crafted with Python's tarfile (so that hostile names,
links and devices can be written as they are) and compressed with the gzip and zstd
tools (Debian packages `gzip`, `zstd`).
"""

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEPARATOR = b"\0mkimage-fuzz-next-layer\0"
HEX = "0123456789abcdef" * 4


def write(target, name, data):
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, pax=None, **fields):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = len(data)
    info.linkname = link
    info.mtime = 1_700_000_000
    info.pax_headers = pax or {}
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar(entries, fmt=tarfile.GNU_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data else None)
    # Keep the end-of-archive blocks, drop the padding to a 10 KiB record.
    raw = out.getvalue()
    end = len(raw)
    while end >= 1024 and raw[end - 1024:end] == bytes(1024):
        end -= 512
    return raw[: end + 1024]


def compress(tool, data):
    return subprocess.run([tool, "-c", "-q"], input=data, capture_output=True, check=True).stdout


DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE

LAYERS = {
    "basic": [
        entry("etc/", DIR, mode=0o755),
        entry("etc/hosts", data=b"127.0.0.1 localhost\n"),
        entry("bin/", DIR, mode=0o755),
        entry("bin/sh", data=b"#!\n", mode=0o4755, uid=0, gid=0),
        entry("bin/ash", LNK, link="bin/sh"),
        entry("bin/busybox", SYM, link="sh"),
        entry("tmp/", DIR, mode=0o1777),
    ],
    "devices": [
        entry("dev/", DIR, mode=0o755),
        entry("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
        entry("dev/sda", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0),
        entry("dev/fifo", tarfile.FIFOTYPE, mode=0o600),
    ],
    "whiteouts": [
        entry("etc/", DIR, mode=0o755),
        entry("etc/.wh.hosts"),
        entry("var/", DIR, mode=0o755),
        entry("var/.wh..wh..opq"),
        entry("var/new", data=b"new\n"),
        entry(".wh..wh.plnk/"),
    ],
    "symlink-escape": [
        entry("up", SYM, link="../../.."),
        entry("up/escaped", data=b"x"),
        entry("abs", SYM, link="/"),
        entry("abs/etc/escaped", data=b"x"),
        entry("chain", SYM, link="up/abs/.."),
        entry("chain/x", data=b"x"),
    ],
    "hardlink-escape": [
        entry("dotdot", LNK, link="../outside"),
        entry("abs", LNK, link="/etc/passwd"),
        entry("s", SYM, link="/etc"),
        entry("viasym", LNK, link="s/passwd"),
    ],
    "replace": [
        entry("a/", DIR, mode=0o700),
        entry("a/b", data=b"b"),
        entry("a", data=b"now a file"),
        entry("a/", DIR, mode=0o000),
        entry("a/c", SYM, link="b"),
        entry("./", DIR, mode=0o755),
    ],
    "names": [
        entry("../climb", data=b"x"),
        entry("/absolute", data=b"x"),
        entry("./dot/./slash//x", data=b"x"),
        entry("d" * 120 + "/" + "e" * 120, data=b"long"),
        entry(".wh.", data=b""),
        entry("x/.wh...", data=b""),
    ],
}

PAX = [
    entry("pax/", DIR, mode=0o755),
    entry(
        "pax/file",
        data=b"pax",
        pax={
            "SCHILY.xattr.user.key": "value",
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
            "SCHILY.xattr.trusted.overlay.opaque": "y",
            "uid": "70000",
            "gid": "4294967296",
            "mtime": "1700000000.5",
        },
    ),
    entry("pax/" + "n" * 200, data=b"long pax name"),
    entry("pax/link", SYM, link="t" * 200),
]


def unpack_seeds():
    for name, entries in LAYERS.items():
        layer = tar(entries)
        write("unpack", name, layer)
        write("unpack", name + ".gz", compress("gzip", layer))
        write("unpack", name + ".zst", compress("zstd", layer))
    write("unpack", "pax", tar(PAX, tarfile.PAX_FORMAT))
    base = tar(LAYERS["basic"] + LAYERS["devices"])
    top = tar(LAYERS["whiteouts"] + [entry("bin/sh", LNK, link="etc/hosts")])
    write("unpack", "two-layers", base + SEPARATOR + top)
    write("unpack", "three-layers", base + SEPARATOR + compress("gzip", top) + SEPARATOR + tar(LAYERS["replace"]))
    write("unpack", "empty", b"")
    write("unpack", "truncated.gz", compress("gzip", base)[:100])


def dockerignore_seeds():
    write("dockerignore", "docs", "# comment\n*/temp*\n*/*/temp*\ntemp?\n**/*.go\n!README*.md\nREADME-secret.md\n\0a/temp\nREADME.md\nsrc/main.go\n")
    write("dockerignore", "reinclude", "build\n!build/keep\n!**/keep\n/leading\n./dot/./x/\n\0build/keep/deep\nbuild/other\n")
    write("dockerignore", "classes", "[a-c]at\n[^a-c]at\na\\*b\n\\[x\\]\nfoo**\n**foo\n**.go\ndir/**/x\n\0bat\nhat\na*b\nfoobar/baz\nx/barfoo\ndir/a/b/x\n")
    write("dockerignore", "bad", "[\n")
    write("dockerignore", "bom", "\ufeff*.md\r\n! spaced\r\n")


def reference_seeds():
    for i, text in enumerate([
        "busybox",
        "library/busybox:1.36",
        "docker.io/library/busybox:latest",
        "index.docker.io/user/app",
        "localhost:5000/team/app:1.0",
        "[::1]:5000/a/b@sha256:" + HEX,
        "quay.io/org/img:tag@sha256:" + HEX,
        "UPPER/case",
        "a.b/c:d",
        HEX,
    ]):
        write("reference", str(i), text)


def descriptor(media_type, platform=None):
    d = {"mediaType": media_type, "size": 1234, "digest": "sha256:" + HEX}
    if platform:
        d["platform"] = platform
    return d


def manifest_seeds():
    oci_manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [
            descriptor("application/vnd.oci.image.layer.v1.tar+gzip"),
            descriptor("application/vnd.oci.image.layer.v1.tar+zstd"),
        ],
        "annotations": {"org.opencontainers.image.ref.name": "1.0"},
    }
    docker_manifest = dict(oci_manifest, mediaType="application/vnd.docker.distribution.manifest.v2+json")
    docker_manifest["layers"] = [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip")]
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            descriptor("application/vnd.oci.image.manifest.v1+json", {"os": "linux", "architecture": "amd64"}),
            descriptor("application/vnd.oci.image.manifest.v1+json", {"os": "linux", "architecture": "arm", "variant": "v7"}),
            descriptor("application/vnd.oci.image.manifest.v1+json", {"os": "unknown", "architecture": "unknown"}),
        ],
    }
    docker_list = dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "variant": "v8",
        "os.version": "10",
        "config": {
            "User": "1000:1000",
            "ExposedPorts": {"80/tcp": {}},
            "Env": ["PATH=/bin", "A=1"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo"],
            "Volumes": {"/data": {}},
            "WorkingDir": "/srv",
            "Labels": {"a": "b"},
            "StopSignal": "SIGTERM",
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000, "Retries": 3},
            "OnBuild": ["RUN true"],
            "Shell": ["/bin/sh", "-c"],
            "ArgsEscaped": True,
            "Hostname": "",
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + HEX]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "RUN true", "empty_layer": True}],
        "unknown": [1.5, None, {"nested": 1e300}],
    }
    documents = {
        "oci-manifest": oci_manifest,
        "docker-manifest": docker_manifest,
        "oci-index": index,
        "docker-list": docker_list,
        "no-media-type-index": {"schemaVersion": 2, "manifests": index["manifests"]},
        "no-media-type-manifest": {"schemaVersion": 2, "config": oci_manifest["config"], "layers": []},
        "schema1": {"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": [], "history": []},
        "config": config,
        "odd-digest": dict(oci_manifest, config=dict(oci_manifest["config"], digest="sha512+b64:abc=")),
    }
    for name, document in documents.items():
        write("manifest", name, json.dumps(document, indent=1))


def challenge_seeds():
    for i, text in enumerate([
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
        'Basic realm="a \\"quoted\\" realm", charset=UTF-8',
        'bearer realm=unquoted , scope="a:b:pull,push"\nBasic realm="x"',
        'Bearer realm="https://127.0.0.1:5000/token",error="insufficient_scope"',
        'Bearer',
        '   ',
        'Negotiate abc==',
        'Bearer realm="unterminated',
        'Bearer ,,, =, a=, ="b", c="\\',
        'Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=MD5',
    ]):
        write("challenge", str(i), text)


if __name__ == "__main__":
    os.umask(0o022)
    unpack_seeds()
    dockerignore_seeds()
    reference_seeds()
    manifest_seeds()
    challenge_seeds()
