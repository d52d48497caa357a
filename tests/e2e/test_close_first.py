"""Short connections are closed by the server first.

When a response ends the connection and its bytes leave before the FIN, a
client on another core reads them and closes first: the TIME_WAIT lands on
the client, whose next connect() has to search for a free port among them,
and a load generator burns its CPU there while the server idles (issue 15:
13,851 of 14,826 TIME_WAITs on the client's side with wrk on 16 cores). The
last bytes of a closing response are held back (MSG_MORE / SPLICE_F_MORE)
until the close, so data and FIN leave together.

The TIME_WAIT sockets of the server's port are counted in /proc/net/tcp:
with the server's port as the local port the server closed first, as the
remote port the client did.
"""

import os
import subprocess

import harness

CLIENT = os.environ.get("CLOSE_CLIENT") or os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                         "tests", "e2e", "close_client")
TIME_WAIT = "06"


def time_wait_sides(port):
    server = client = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != TIME_WAIT:
                continue
            local = int(fields[1].rsplit(":", 1)[1], 16)
            remote = int(fields[2].rsplit(":", 1)[1], 16)
            if local == port:
                server += 1
            elif remote == port:
                client += 1
    return server, client


class CloseFirst(harness.ServerTest):
    # Two workers: the client threads race them on both cores.
    threads = 2

    @classmethod
    def populate(cls, root):
        root.write("small.txt", harness.payload(1024))
        root.write("mid.bin", harness.payload(40 * 1024))
        root.write("large.bin", harness.payload(300 * 1024))

    def run_clients(self, path, threads, each):
        out = subprocess.run([CLIENT, str(self.server.port), str(threads), str(each), path], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout

    def assert_server_closed_first(self, path, threads=4, each=400):
        before = time_wait_sides(self.server.port)
        self.run_clients(path, threads, each)
        after = time_wait_sides(self.server.port)
        server, client = after[0] - before[0], after[1] - before[1]
        total = server + client
        self.assertGreater(total, threads * each // 2, (server, client))
        self.assertGreaterEqual(server / total, 0.95, f"{path}: TIME_WAIT server {server} / client {client}")

    def test_small_in_memory_responses(self):
        self.assert_server_closed_first("/small.txt")

    def test_cached_body_sent_from_the_cache_copy(self):
        self.assert_server_closed_first("/mid.bin")

    def test_spliced_responses(self):
        self.assert_server_closed_first("/large.bin", threads=2, each=150)

    def test_error_responses(self):
        before = time_wait_sides(self.server.port)
        out = subprocess.run([CLIENT, str(self.server.port), "4", "300", "/missing"], capture_output=True, text=True,
                             timeout=120)
        self.assertIn("failed 1200", out.stdout)  # 404s: not counted as whole 200s
        after = time_wait_sides(self.server.port)
        server, client = after[0] - before[0], after[1] - before[1]
        self.assertGreaterEqual(server / max(1, server + client), 0.95, (server, client))


if __name__ == "__main__":
    harness.main()
