"""Network for dependency installs: the internet, but nothing of the host's.

Each sandbox that asks for ``network="registries"`` gets its own named network
namespace (``previewd-<slot>``) joined to the host by a veth pair
(``pvh<slot>`` on the host, ``eth0`` inside) on a /30 of its own, and its
traffic leaves through the host's uplink with masquerade. One nftables table,
``inet previewd``, shared by all of them and replaced atomically, decides what
may pass:

* nothing from a sandbox reaches the host itself (any of its addresses, its
  loopback services, the API, the edge): the ``input`` hook rejects all of it;
* nothing reaches private, link-local, CGNAT, multicast or reserved ranges, the
  host's own on-link networks, or another sandbox: except DNS (port 53) to the
  resolvers in the host's ``/etc/resolv.conf``;
* nothing may open a connection into a sandbox; IPv6 is not forwarded at all.

The namespace is owned by the host's user namespace, so code inside (which
has no capabilities) can change neither its addresses nor its routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from previewd.errors import Unavailable

logger = logging.getLogger(__name__)

POOL = ipaddress.IPv4Network("10.213.0.0/16")
_TABLE = "previewd"
# private, shared (CGNAT), link-local, loopback, multicast and reserved ranges, and
# 192.0.2.0/24 (TEST-NET-1, the LAN of previewd's CI machines); the host's on-link
# networks are added when the table is made
_BLOCKED = (
    "0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 "
    "192.0.0.0/24 192.0.2.0/24 192.168.0.0/16 224.0.0.0/4 240.0.0.0/4"
)
_IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")

_used: set[int] = set()
_firewall: asyncio.Lock | None = None
_firewall_ready = False


@dataclass
class RegistryNetwork:
    """One sandbox's network namespace; enter it with ``nsenter --net=<path>``."""

    slot: int
    resolvers: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"previewd-{self.slot}"

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.name

    @property
    def host_link(self) -> str:
        return f"pvh{self.slot}"

    @property
    def resolv_conf(self) -> str:
        return "".join(f"nameserver {r}\n" for r in self.resolvers)

    @classmethod
    async def create(cls) -> RegistryNetwork:
        resolvers = await ensure_firewall()
        mtu = await _uplink_mtu()
        for slot in range(POOL.num_addresses // 4):
            if slot in _used:
                continue
            _used.add(slot)
            net = cls(slot, resolvers)
            base = POOL.network_address + 4 * slot
            host, inside = base + 1, base + 2
            code, err = await _ip(
                f"netns add {net.name}\n"
                f"link add {net.host_link} mtu {mtu} type veth peer name eth0 mtu {mtu} "
                f"netns {net.name}\n"
                f"addr add {host}/30 dev {net.host_link}\n"
                f"link set {net.host_link} up\n",
                check=False,
                force=False,
            )
            if code != 0:
                _used.discard(slot)
                # line 1 failing means the namespace exists: another previewd's, or a
                # crashed one's; later lines failing leave parts of ours to remove
                if "-:1" not in err:
                    await net.close()
                continue
            try:
                await _ip(
                    f"addr add {inside}/30 dev eth0\nlink set lo up\nlink set eth0 up\n"
                    f"route add default via {host}\n",
                    netns=net.name,
                )
            except BaseException:
                await net.close()
                raise
            return net
        raise Unavailable("no free network slot for another sandbox with registry access")

    async def close(self) -> None:
        """Remove the veth pair and the namespace. Safe to call twice."""
        try:
            await _ip(f"link del {self.host_link}\nnetns del {self.name}\n", check=False)
        finally:
            _used.discard(self.slot)


def remove_stale(min_age_s: float = 60) -> int:
    """Remove sandbox namespaces with no process left in them (a crash's); count them."""
    removed = 0
    now = time.time()
    for path in Path("/run/netns").glob("previewd-*") if Path("/run/netns").exists() else ():
        with contextlib.suppress(OSError, ValueError):
            slot = int(path.name.removeprefix("previewd-"))
            if now - path.stat().st_mtime < min_age_s or slot in _used:
                continue
            pids = subprocess.run(["ip", "netns", "pids", path.name], capture_output=True)
            if pids.returncode == 0 and not pids.stdout.strip():
                batch = f"link del pvh{slot}\nnetns del {path.name}\n"
                subprocess.run(
                    ["ip", "-force", "-batch", "-"], input=batch.encode(), capture_output=True
                )
                removed += 1
    return removed


async def ensure_firewall() -> tuple[str, ...]:
    """Install (once per process) the nftables table; return the resolvers allowed."""
    global _firewall, _firewall_ready
    resolvers = _resolvers()
    if _firewall_ready:
        return resolvers
    _firewall = _firewall or asyncio.Lock()
    async with _firewall:
        if not _firewall_ready:
            await _install_firewall(resolvers)
            _firewall_ready = True
    return resolvers


async def _install_firewall(resolvers: tuple[str, ...]) -> None:
    listed = await _run("nft", "list", "table", "inet", _TABLE, check=False)
    # If forwarding was off before previewd, keep it off for everything but sandboxes.
    # The decision lives in the table itself ("chain guard"), so a restart keeps it.
    guard = "chain guard" in listed[1] or _IP_FORWARD.read_text().strip() == "0"
    blocked = set(_BLOCKED.split()) | {str(POOL)} | set(await _on_link_networks())
    dns = "".join(
        f'    iifname "pvh*" ip daddr {r} meta l4proto {{ tcp, udp }} th dport 53 accept\n'
        for r in resolvers
    )
    other = '    iifname != "pvh*" oifname != "pvh*" drop\n' if guard else ""
    ruleset = (
        f"add table inet {_TABLE}\n"
        f"delete table inet {_TABLE}\n"
        f"table inet {_TABLE} {{\n"
        "  set blocked { type ipv4_addr; flags interval; auto-merge;\n"
        f"    elements = {{ {', '.join(sorted(blocked))} }} }}\n"
        "  chain input { type filter hook input priority filter - 10; policy accept;\n"
        '    iifname "pvh*" reject with icmpx type admin-prohibited\n  }\n'
        "  chain forward { type filter hook forward priority filter - 10; policy accept;\n"
        '    oifname "pvh*" ct state established,related accept\n'
        '    oifname "pvh*" reject with icmpx type admin-prohibited\n'
        '    iifname "pvh*" meta nfproto ipv6 reject with icmpx type admin-prohibited\n'
        f"{dns}"
        '    iifname "pvh*" ip daddr @blocked reject with icmpx type admin-prohibited\n'
        '    iifname "pvh*" accept\n'
        f"{other}  }}\n"
        + ("  chain guard { }\n" if guard else "")
        + "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;\n"
        f'    ip saddr {POOL} oifname != "pvh*" masquerade\n  }}\n'
        "}\n"
    )
    await _run("nft", "-f", "-", stdin=ruleset)
    _IP_FORWARD.write_text("1")


def _resolvers() -> tuple[str, ...]:
    found = []
    with contextlib.suppress(OSError), open("/etc/resolv.conf") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    address = ipaddress.ip_address(parts[1])
                    if address.version == 4 and not address.is_loopback:
                        found.append(str(address))
    if not found:
        raise Unavailable(
            "no IPv4 nameserver outside loopback in /etc/resolv.conf, so a sandbox "
            "could not resolve the package registries",
            hint="point /etc/resolv.conf at the upstream resolver (not a 127.0.0.x stub)",
        )
    return tuple(found)


async def _on_link_networks() -> list[str]:
    _, out = await _run("ip", "-j", "-4", "route", "show", "table", "main", "scope", "link")
    found = []
    for route in json.loads(out or "[]"):
        with contextlib.suppress(ValueError):
            net = ipaddress.ip_network(route.get("dst", ""), strict=False)
            if not net.overlaps(POOL):
                found.append(str(net))
    return found


async def _uplink_mtu() -> int:
    _, out = await _run("ip", "-j", "-4", "route", "show", "default")
    for route in json.loads(out or "[]"):
        if dev := route.get("dev"):
            with contextlib.suppress(OSError, ValueError):
                return int(Path(f"/sys/class/net/{dev}/mtu").read_text())
    return 1500


async def _ip(
    batch: str, *, netns: str | None = None, check: bool = True, force: bool = True
) -> tuple[int, str]:
    """Run ``ip`` commands in one process; with ``force``, go on past errors."""
    args = ["ip", *(["-n", netns] if netns else []), *(["-force"] if force else []), "-batch", "-"]
    return await _run(*args, stdin=batch, check=check)


async def _run(*argv: str, stdin: str | None = None, check: bool = True) -> tuple[int, str]:
    """Exit status and stdout (stderr when it failed) of ``argv``."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise Unavailable(
            f"{argv[0]} is not installed; sandboxes with registry access need it",
            hint="apt-get install iproute2 nftables util-linux",
        ) from exc
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    code = proc.returncode or 0
    if code != 0:
        message = err.decode(errors="replace").strip()
        if check:
            raise Unavailable(f"{' '.join(argv)} failed: {message}")
        return code, message
    return code, out.decode()
