"""Record and refuse every network connection a Python process attempts (a test aid).

A folder on ``PYTHONPATH`` whose ``sitecustomize`` module Python imports at start-up, in
every process of a command: its children (DVC's stages, Ray's workers, the server) inherit
the variable. An audit hook sees each ``socket.connect``, ``socket.sendto`` and
``socket.getaddrinfo`` (a DNS lookup is traffic too), appends it as a JSON line to the file
``OUTBOUND_LOG`` names, and refuses it with ``PermissionError`` unless it stays on this
machine (a loopback address, or one of the machine's own in ``OUTBOUND_OWN_ADDRESSES``,
which Ray's processes use to reach each other): the command runs as on a machine with no
network, and the test reads the log.
"""

import ipaddress
import json
import os
import socket
import sys

LOG = os.environ.get("OUTBOUND_LOG", "")
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
OWN_ADDRESSES = set(filter(None, os.environ.get("OUTBOUND_OWN_ADDRESSES", "").split(",")))


def is_local(host: object) -> bool:
    """Tell whether ``host`` names this machine: a loopback or unspecified address."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or host in LOCAL_NAMES or host in OWN_ADDRESSES:
        return True
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False  # a name to look up: DNS traffic
    return address.is_loopback or address.is_unspecified


def audit(event: str, args: tuple[object, ...]) -> None:
    """Log, and refuse, a connection or lookup that would leave the machine."""
    if event in {"socket.connect", "socket.sendto"}:
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) not in {socket.AF_INET, socket.AF_INET6}:
            return
        host = address[0] if isinstance(address, tuple) else address
    elif event == "socket.getaddrinfo":
        host = args[0]
    else:
        return
    local = is_local(host)
    entry = {"event": event, "host": repr(host), "local": local, "argv": sys.argv[:3]}
    with open(LOG, "a", encoding="utf-8") as stream:  # noqa: PTH123 - no pathlib at start-up
        stream.write(json.dumps(entry) + "\n")
    if not local:
        raise PermissionError(f"outbound connection to {host!r} refused by the test")


if LOG:
    sys.addaudithook(audit)
