"""A stand-in for the service manager's notification socket, for tests.

Binds a Unix datagram socket at argv[1] (a path, or @name for the abstract
namespace), prints "listening", then one JSON line per datagram:
{"pid": sender pid, "uid": sender uid, "text": the datagram}. Like systemd,
it asks for the sender's credentials (SO_PASSCRED) and closes any file
descriptor passed along (systemd-notify's BARRIER=1 waits for that close).
socat would print datagrams back to back with nothing between them, and keeps
passed descriptors open, so a barrier would wait until it gives up.
"""
import json
import os
import socket
import struct
import sys

address = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind("\0" + address[1:] if address.startswith("@") else address)
print("listening", flush=True)
while True:
    data, ancillary, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(4 * 64) + socket.CMSG_SPACE(12))
    pid = uid = None
    for level, kind, payload in ancillary:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_CREDENTIALS:
            pid, uid, _gid = struct.unpack("iII", payload[:12])
        elif kind == socket.SCM_RIGHTS:
            for (fd,) in struct.iter_unpack("i", payload[: len(payload) - len(payload) % 4]):
                os.close(fd)
    print(json.dumps({"pid": pid, "uid": uid, "text": data.decode("utf-8", "replace")}), flush=True)
