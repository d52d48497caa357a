"""64 concurrent clients fetching files of mixed sizes, byte-exact; then the
server is back to idle: no connection, no open file slot, every pipe free."""

import random
import threading

import harness

MiB = 1 << 20
SIZES = [0, 1, 100, 4095, 4096, 4097, 65536, 65537, 300_000, MiB + 13, 3 * MiB + 7, 8 * MiB + 1]
CLIENTS = 64


def run_clients(count, body):
    """Runs body(n) in `count` threads at once; returns every failure."""
    errors = []

    def guarded(n):
        try:
            errors.extend(body(n))
        except Exception as e:  # noqa: BLE001 - report every failure
            errors.append(f"client {n}: {e!r}")

    ts = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    hung = [t for t in ts if t.is_alive()]
    if hung:
        errors.append(f"{len(hung)} of {count} clients did not finish in time")
    return errors


class Concurrency(harness.ServerTest):
    threads = 2
    server_args = ("--pipes", "2", "--pipes-max", "16")

    @classmethod
    def populate(cls, root):
        for size in SIZES:
            root.write(f"f{size}.bin", harness.payload(size))

    def test_64_clients_mixed_sizes(self):
        def client(n):
            rng = random.Random(n)
            errors = []
            c = self.server.client(timeout=60)
            for _ in range(6):
                size = rng.choice(SIZES)
                if rng.random() < 0.3:  # some clients pipeline two at once
                    c.send(f"GET /f{size}.bin HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
                    bodies = [c.read_response().body for _ in range(2)]
                else:
                    bodies = [c.request("GET", f"/f{size}.bin").body]
                for body in bodies:
                    if body != harness.payload(size):
                        errors.append(f"client {n}: {size}-byte file differs ({len(body)} bytes)")
            c.close()
            return errors

        self.assertEqual(run_clients(CLIENTS, client), [])
        self.assertServerAlive()
        s = self.server.wait_idle()
        # 64 clients on 2 workers with 2 pipes each: the pools had to grow,
        # and never beyond --pipes-max.
        self.assertGreater(s["pipes"], 4)
        self.assertLessEqual(s["pipes"], 32)


class ConcurrencyNoGrowth(harness.ServerTest):
    """A pool that may not grow: requests wait for a free pipe instead."""
    server_args = ("--pipes", "2", "--pipes-max", "2")
    populate = Concurrency.populate

    def test_64_clients_wait_for_two_pipes(self):
        def client(n):
            c = self.server.client(timeout=60)
            errors = [f"client {n}: {size}" for size in (MiB + 13, 8 * MiB + 1, 4097)
                      if c.request("GET", f"/f{size}.bin").body != harness.payload(size)]
            c.close()
            return errors

        self.assertEqual(run_clients(CLIENTS, client), [])
        s = self.server.wait_idle()
        self.assertEqual(s["pipes"], 2)


if __name__ == "__main__":
    harness.main()
