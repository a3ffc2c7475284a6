# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Write the seed corpora of the fuzz targets from real peers: C{python -m
fuzz.capture_seeds} (root: it builds a network namespace; it never touches
the clock: every daemon runs without CAP_SYS_TIME, chronyd with C{-x}).

In a namespace of its own it captures, with tshark on its loopback:

  - NTPsec's ntpd as a server with MD5, SHA-1 and AES-128-CMAC keys,
    queried by ntpdig (without a key and with each key), by chronyd C{-Q}
    (with a key, and with chrony's experimental extension field), and by
    ntpq (C{rv}, C{peers}, C{as}, C{mrulist}, C{readlist}, a signed
    C{:config}): NTP packets with MACs, and mode 6 requests and answers;
  - chronyd as an NTS server and chronyd C{-Q} as its NTS client: NTP
    packets with NTS extension fields (Unique Identifier, cookies,
    placeholders, authenticator), both ways;
  - the NTS-KE records chronyd sends (a Python TLS server in the
    namespace records them) and those it answers (a Python TLS client
    records them).

The configuration and keys corpora come from C{etc/} and the keys files
written here. Existing files in C{fuzz/corpus/} are kept; new ones are
named after their content's hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from fuzz._harness import CORPUS, HERE

ROOT = os.path.dirname(HERE)

KEYS_TEXT = """\
# KEYID TYPE KEY: the keys of fuzz/capture_seeds.py (and of fuzz.control_handler)
1 MD5 crocus
2 SHA1 933f62be1d604e68a81b557f18cfa200483f5b70
3 AES128CMAC 7ea62ae64d190114d46d5a082f948ec1
"""

TLS_SERVER = textwrap.dedent(
    """\
    import socket, ssl, struct, sys
    cert, key, out = sys.argv[1:4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["ntske/1"])
    listener = socket.create_server(("127.0.0.1", 14460))
    listener.settimeout(30)
    print("listening", flush=True)
    raw, _ = listener.accept()
    with context.wrap_socket(raw, server_side=True) as connection:
        connection.settimeout(10)
        data = b""
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                break
            data += chunk
            if data.endswith(bytes.fromhex("80000000")):
                break
        with open(out, "wb") as f:
            f.write(data)
        # Bad request: an error record and the end.
        connection.sendall(bytes.fromhex("8002000200018000" "0000"))
    """
)
"""Records what an NTS-KE client (chronyd) sends."""

TLS_CLIENT = textwrap.dedent(
    """\
    import socket, ssl, sys
    ca, out = sys.argv[1:3]
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["ntske/1"])
    with socket.create_connection(("127.0.0.1", 4460), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="nts.test") as connection:
            # Next protocol NTPv4; AEAD 15 (AES-SIV-CMAC-256); end.
            connection.sendall(bytes.fromhex("80010002000080040002000f80000000"))
            data = b""
            while True:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                data += chunk
    with open(out, "wb") as f:
        f.write(data)
    """
)
"""Records what an NTS-KE server (chronyd) answers."""


def save(target: str, data: bytes, prefix: bytes = b"") -> str:
    """
    Write one seed of C{target} (C{prefix} then C{data}), named after its
    hash; return its path.
    """
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    content = prefix + data
    path = os.path.join(directory, hashlib.sha1(content).hexdigest()[:16])
    with open(path, "wb") as f:
        f.write(content)
    return path


def payloads(path: str) -> list[bytes]:
    """The UDP payloads of a capture file, in order."""
    result = subprocess.run(
        ["tshark", "-n", "-r", path, "-T", "fields", "-e", "udp.payload"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [bytes.fromhex(line.strip()) for line in result.stdout.splitlines() if line.strip()]


def sortPayloads(packets: list[bytes], ntsTarget: bool = False) -> dict[str, int]:
    """
    Save the captured datagrams: mode 6 to C{control} and
    C{control_handler}, the others to C{packet} (and to C{nts_fields}).
    """
    counts: dict[str, int] = {}
    for data in packets:
        if not data:
            continue
        mode = data[0] & 7
        if mode == 6:
            targets = [("control", b""), ("control_handler", b"\0")]
        elif ntsTarget:
            targets = [("nts_fields", b"\0"), ("packet", b"\0")]
        else:
            targets = [("packet", b"\0")]
        for target, prefix in targets:
            save(target, data, prefix)
            counts[target] = counts.get(target, 0) + 1
    return counts


def captureNtpsec(peers, workdir: str, netns) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """
    NTPsec's ntpd with keys, queried by ntpdig, chronyd and ntpq.
    """
    from ntpservice.auth.keys import formatKeysFile, parseKeysText

    keys = os.path.join(workdir, "ntp.keys")
    with open(keys, "w") as f:
        f.write(KEYS_TEXT)
    os.chmod(keys, 0o600)
    ring = parseKeysText(KEYS_TEXT, keys).withTrusted([1, 2, 3])
    chronyKeys = os.path.join(workdir, "chrony.keys")
    with open(chronyKeys, "w") as f:
        f.write(formatKeysFile(ring, "chrony", onlyTrusted=True))
    os.chmod(chronyKeys, 0o600)
    server = peers.startNtpsecServer(
        workdir,
        netns,
        extraConfig=[f"keys {keys}", "trustedkey 1 2 3", "controlkey 2"],
    )
    with server, peers.capture(workdir, 123, netns=netns, name="ntpsec") as running:
        peers.runNtpdig("127.0.0.1", 1, netns=netns)
        for keyID in ("1", "2", "3"):
            peers.runNtpdig("127.0.0.1", 1, netns=netns, extraArgs=["-a", keyID, "-k", keys])
        for extra in ("key 2", "key 3 extfield F323", "extfield F323"):
            conf = os.path.join(workdir, "chrony-q.conf")
            with open(conf, "w") as f:
                f.write(f"server 127.0.0.1 iburst {extra}\nkeyfile {chronyKeys}\n")
            peers.runCommand(
                peers.withoutSysTime(
                    [peers.requireBinary("chronyd"), "-Q", "-x", "-u", "root", "-f", conf,
                     "-t", "6"]
                ),
                netns=netns,
                timeout=30,
                check=False,
            )
        server.ntpq("-c", "rv", "-c", "peers", "-c", "as", "-c", "rv 0 version,leap")
        server.ntpq("-c", "mrulist", "-c", "readlist", "-c", "sysinfo")
        ntpq = peers.requireBinary("ntpq")
        peers.runCommand(
            [ntpq, "-n", "-a", "2", "-k", keys, "-c", ":config restrict 192.0.2.1 nomodify",
             "-c", "rv", "127.0.0.1"],
            netns=netns,
            timeout=30,
            check=False,
        )
    return sortPayloads(payloads(running.path))


def captureNts(peers, workdir: str, netns) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """
    chronyd as NTS server and client; the NTS-KE records both ways.
    """
    from tests.nts.certs import makeCA, makeServer

    ca = makeCA(workdir)
    issued = makeServer(workdir, ca)
    chronyd = peers.requireBinary("chronyd")
    dump = os.path.join(workdir, "ntsdump")
    os.makedirs(dump, exist_ok=True)
    server = peers.startChronydServer(
        workdir,
        netns=netns,
        extraConfig=[
            f"ntsservercert {issued.cert}",
            f"ntsserverkey {issued.key}",
            f"ntsdumpdir {dump}",
        ],
        name="chronyd-nts",
    )
    counts: dict[str, int] = {}
    with server:
        with peers.capture(workdir, 123, netns=netns, name="nts") as running:
            conf = os.path.join(workdir, "chrony-nts.conf")
            with open(conf, "w") as f:
                f.write(
                    "server nts.test iburst nts maxsamples 3\n"
                    f"ntstrustedcerts {ca[0].cert}\n"
                )
            hosts = os.path.join(workdir, "hosts")
            with open(hosts, "w") as f:
                f.write("127.0.0.1 nts.test localhost\n")
            # chronyd resolves nts.test through /etc/hosts: give the
            # namespace's mount namespace a hosts file of its own.
            peers.runCommand(
                ["unshare", "-m", "sh", "-c",
                 f"mount --bind {hosts} /etc/hosts && exec "
                 + " ".join(peers.withoutSysTime(
                     [chronyd, "-Q", "-x", "-u", "root", "-f", conf, "-t", "15"]))],
                netns=netns,
                timeout=40,
                check=False,
            )
        for target, count in sortPayloads(payloads(running.path), ntsTarget=True).items():
            counts[target] = counts.get(target, 0) + count
        response = os.path.join(workdir, "ke-response")
        peers.runCommand([sys.executable, "-c", TLS_CLIENT, ca[0].cert, response],
                         netns=netns, timeout=30)
        with open(response, "rb") as f:
            save("nts_ke", f.read(), b"\1")
            counts["nts_ke"] = counts.get("nts_ke", 0) + 1
    request = os.path.join(workdir, "ke-request")
    listener = netns.popen([sys.executable, "-c", TLS_SERVER, issued.cert, issued.key, request],
                           stdout=subprocess.PIPE)
    try:
        assert listener.stdout is not None
        listener.stdout.readline()
        conf = os.path.join(workdir, "chrony-ke.conf")
        with open(conf, "w") as f:
            f.write("server 127.0.0.1 iburst nts ntsport 14460\n"
                    f"ntstrustedcerts {ca[0].cert}\n")
        peers.runCommand(
            peers.withoutSysTime([chronyd, "-Q", "-x", "-u", "root", "-f", conf, "-t", "5"]),
            netns=netns, timeout=30, check=False,
        )
        listener.wait(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    if os.path.exists(request):
        with open(request, "rb") as f:
            save("nts_ke", f.read(), b"\0")
            counts["nts_ke"] = counts.get("nts_ke", 0) + 1
    return counts


def copyFiles() -> dict[str, int]:
    """
    The configuration corpus from C{etc/}, the keys corpus from the keys
    files written here.
    """
    counts = {"config": 0, "keys": 0}
    etc = os.path.join(ROOT, "etc")
    for name in sorted(os.listdir(etc)):
        if name.endswith(".conf"):
            with open(os.path.join(etc, name), "rb") as f:
                save("config", f.read())
            counts["config"] += 1
    from ntpservice.auth.keys import formatKeysFile, parseKeysText

    ring = parseKeysText(KEYS_TEXT).withTrusted([1, 2, 3])
    for text in (KEYS_TEXT, formatKeysFile(ring, "chrony", onlyTrusted=True),
                 formatKeysFile(ring)):
        save("keys", text.encode())
        counts["keys"] += 1
    return counts


def main() -> None:
    """
    Capture and write every seed corpus.
    """
    sys.path.insert(0, ROOT)
    from tests.interop import peers

    peers.requireRoot()
    counts = copyFiles()
    workdir = tempfile.mkdtemp(prefix="ntpservice-seeds-")
    try:
        with peers.NetNamespace() as netns:
            for part in (captureNtpsec(peers, workdir, netns),
                         captureNts(peers, workdir, netns)):
                for target, count in part.items():
                    counts[target] = counts.get(target, 0) + count
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for target, count in sorted(counts.items()):
        print(f"{target}: {count} seeds written")


if __name__ == "__main__":
    main()
