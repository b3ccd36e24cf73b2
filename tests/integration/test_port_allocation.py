"""The harness's free_port() and free_ports(): the ports test modules running side by side start
their servers on (see ports.py). A port handed to two of them, or taken by the kernel for a bind
to port 0 or an outgoing connection, makes a server fail with "Address already in use"."""

import json
import subprocess
import sys
import unittest

from harness import HERE, free_port, free_ports
from ports import ephemeral_range

# More than one block's worth, so each process claims several blocks.
COUNT = 300

# A test process in miniature: takes ports the way the tests do, prints them, and keeps its
# claim until its stdin closes.
CHILD = f"""
import json, sys
from harness import free_port, free_ports
ports = [free_port() for _ in range({COUNT // 2})] + free_ports({COUNT - COUNT // 2})
print(json.dumps(ports), flush=True)
sys.stdin.read()
"""


def take_ports():
    return [free_port() for _ in range(COUNT // 2)] + free_ports(COUNT - COUNT // 2)


class PortAllocationTest(unittest.TestCase):
    def test_ports_are_outside_the_kernels_ephemeral_range(self):
        first, last = ephemeral_range()
        inside = [p for p in take_ports() if first <= p <= last]
        self.assertEqual(inside, [], f"ports inside the ephemeral range {first}-{last}")

    def test_a_process_never_gets_the_same_port_twice(self):
        ports = take_ports() + take_ports()
        self.assertEqual(len(set(ports)), len(ports), "a port was handed out twice")

    def test_processes_side_by_side_get_disjoint_ports(self):
        # Two fresh processes (this one has taken ports already), each alive until both have
        # taken theirs.
        with self.child() as first, self.child() as second:
            theirs = [set(json.loads(child.stdout.readline())) for child in (first, second)]
        self.assertEqual([first.returncode, second.returncode], [0, 0])
        self.assertEqual([len(ports) for ports in theirs], [COUNT, COUNT])
        self.assertEqual(theirs[0] & theirs[1], set(), "ports handed to both processes")

    def child(self):
        return subprocess.Popen([sys.executable, "-c", CHILD], cwd=HERE, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)

if __name__ == "__main__":
    unittest.main()
