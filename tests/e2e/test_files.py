"""Every file byte-exact through the splice chain, GET and HEAD, for sizes
around page and pipe boundaries; again with a one-page pipe and one splice
pair per chain, so that chunks are cut by the pipe's page capacity and every
chain is resubmitted from the state machine."""

import harness

MiB = 1 << 20
SIZES = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537, MiB + 13, 32 * MiB + 5]


class FilesDefault(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        for size in SIZES:
            root.write(f"f{size}.bin", harness.payload(size))

    def test_get_byte_exact(self):
        c = self.server.client()
        for size in SIZES:
            with self.subTest(size=size):
                r = c.request("GET", f"/f{size}.bin")
                self.assertEqual(r.status, 200)
                self.assertEqual(int(r.header("Content-Length")), size)
                self.assertEqual(r.header("Content-Type"), "application/octet-stream")
                self.assertTrue(r.body == harness.payload(size), f"body of {size} bytes differs")
        c.close()

    def test_head_has_no_body(self):
        c = self.server.client()
        for size in SIZES:
            with self.subTest(size=size):
                r = c.request("HEAD", f"/f{size}.bin")
                self.assertEqual(r.status, 200)
                self.assertEqual(int(r.header("Content-Length")), size)
                # The next response on the same connection must start right
                # after the head: a body sent for HEAD would show up here.
                r2 = c.request("GET", "/f1.bin")
                self.assertEqual(r2.status, 200)
                self.assertEqual(r2.body, harness.payload(1))
        c.close()


class FilesTinyPipe(FilesDefault):
    """4 KiB pipes: every chunk that starts off a page boundary fits
    4096 - offset % 4096 bytes."""
    server_args = ("--pipe-size", "4096", "--chain-pairs", "1", "--pipes", "1", "--pipes-max", "1")


class FilesOddPipe(FilesDefault):
    """A 64 KiB pipe and three pairs per chain."""
    server_args = ("--pipe-size", "65536", "--chain-pairs", "3")


if __name__ == "__main__":
    harness.main()
