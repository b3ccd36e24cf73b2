"""Loopback ports for the servers a test starts (waygate, etcd, dnsmasq, nginx, ...), handed out
so that no other process can take them between the moment a test picks one and the moment its
server binds it.

A port the kernel gave to a bind to port 0 and that was closed again can be taken by anyone: by
another test module running beside this one (ctest -j), by its upstreams binding port 0, or as
the source port of any outgoing connection. So the ports handed out here lie below the kernel's
ephemeral range (net.ipv4.ip_local_port_range), where the kernel never picks one on its own, and
that range is split into blocks that test processes claim with an exclusive flock on a lock file
per block. The lock is held until the process exits, and the kernel drops it when the process
dies however it dies, so no claim goes stale. Within its block a process hands out each port
once, skipping any that something unrelated holds.

The tests' range starts at 22000, above the fixed ports of bench/ (18080-18600 for bench/e2e,
21000-21099 for bench/health/checker_cpu.sh), and ends below the ephemeral range (32767 here).
"""

import fcntl
import os
import random
import socket
import threading

FIRST_PORT = 22000
BLOCK_SIZE = 64
# Ports are one namespace for the whole machine, so the lock files are too: a fixed directory,
# not tempfile.gettempdir(), which TMPDIR may point elsewhere for one process and not another.
LOCK_DIR = "/tmp/waygate-test-ports"
HOST = "127.0.0.1"


def ephemeral_range():
    """The kernel's ephemeral port range (first, last), where it picks ports for binds to port 0
    and for outgoing connections."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        first, last = (int(v) for v in f.read().split())
    return first, last


def port_range():
    """The ports tests hand out: from FIRST_PORT to just below the ephemeral range, or above it
    when the ephemeral range starts too low to leave a block below it."""
    first, last = ephemeral_range()
    if first - FIRST_PORT >= BLOCK_SIZE:
        return range(FIRST_PORT, first)
    if 65535 - last >= BLOCK_SIZE:
        return range(last + 1, 65536)
    raise RuntimeError(f"the ephemeral port range {first}-{last} leaves no room for test ports")


def _bindable(port):
    """Whether nothing holds port on HOST right now, for TCP or UDP (dnsmasq takes both). Without
    SO_REUSEADDR, so a port with connections in TIME_WAIT is skipped too."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


class _Allocator:
    """This process's claimed blocks and the next port to hand out in the newest one."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._locks = []  # lock files of the claimed blocks, open for the life of the process
        self._ports = iter(())  # the rest of the newest block

    def _claim_block(self):
        """Claims a free block and returns its ports; starts at a random block so that processes
        started one after another do not keep landing on the ports the last one used."""
        ports = port_range()
        starts = list(range(ports.start, ports.stop - BLOCK_SIZE + 1, BLOCK_SIZE))
        offset = random.SystemRandom().randrange(len(starts))
        try:
            os.mkdir(LOCK_DIR)
            os.chmod(LOCK_DIR, 0o1777)  # other users' test runs claim blocks here too
        except FileExistsError:
            pass
        for start in starts[offset:] + starts[:offset]:
            try:
                fd = os.open(os.path.join(LOCK_DIR, f"{start}.lock"), os.O_RDONLY | os.O_CREAT,
                             0o644)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self._locks.append(fd)
            return range(start, start + BLOCK_SIZE)
        raise RuntimeError(f"every block of test ports in {ports.start}-{ports.stop - 1} is "
                           f"claimed by another process (lock files in {LOCK_DIR})")

    def take(self):
        with self._lock:
            if self._pid != os.getpid():
                # A forked child shares its parent's locks but must not share its ports.
                self._pid = os.getpid()
                self._locks = []
                self._ports = iter(())
            while True:
                for port in self._ports:
                    if _bindable(port):
                        return port
                self._ports = iter(self._claim_block())


_allocator = _Allocator()


def free_port():
    """A loopback port that no other process can have been handed, and that nothing held when
    it was handed out; never the same one twice in a process."""
    return _allocator.take()


def free_ports(count):
    """count distinct ports, as from free_port()."""
    return [_allocator.take() for _ in range(count)]
