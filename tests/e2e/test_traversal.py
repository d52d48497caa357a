"""Nothing outside the root is ever served: dot segments, encoded dots,
overlong UTF-8, symlinks to files outside, to "..", absolute symlinks.
A symlink that stays inside works."""

import os

import harness

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT\n"


class Traversal(harness.ServerTest):
    @classmethod
    def populate(cls, root):
        root.outside("secret.txt", SECRET)
        root.write("inside.txt", "inside\n")
        root.write("sub/file.txt", "sub file\n")
        os.symlink(os.path.join(root.base, "secret.txt"), os.path.join(root.path, "abs-out"))
        os.symlink("../secret.txt", os.path.join(root.path, "rel-out"))
        os.symlink("..", os.path.join(root.path, "up"))
        os.symlink("/", os.path.join(root.path, "slash"))
        os.symlink("inside.txt", os.path.join(root.path, "link-in"))
        os.symlink("sub", os.path.join(root.path, "dir-in"))
        os.symlink("../inside.txt", os.path.join(root.path, "sub", "back-in"))

    def raw_get(self, target):
        c = self.server.client()
        try:
            c.send(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return c.read_response()
        finally:
            c.close()

    def test_never_outside(self):
        targets = [
            "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/sub/../../secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt", "/sub%2f..%2f..%2fsecret.txt", "/..%2fsecret.txt",
            "/%c0%ae%c0%ae/secret.txt", "/.%2e/secret.txt", "/abs-out", "/rel-out", "/up/secret.txt",
            "/up/root/inside.txt", "/up/", "/up", "/slash/etc/passwd", "/slash/", "/up/%2e%2e/secret.txt",
            "http://x/../secret.txt",
        ]
        for t in targets:
            with self.subTest(target=t):
                r = self.raw_get(t)
                self.assertIn(r.status, (400, 403, 404), f"{t} -> {r.status}")
                self.assertNotIn(b"TOP-SECRET", r.body)
                self.assertNotIn(b"root:", r.body)

    def test_symlinks_inside_work(self):
        self.assertEqual(self.raw_get("/link-in").body, b"inside\n")
        self.assertEqual(self.raw_get("/dir-in/file.txt").body, b"sub file\n")

    def test_resolved_dot_segments_inside(self):
        r = self.raw_get("/sub/../inside.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"inside\n")
        self.assertEqual(self.raw_get("/sub/./file.txt").body, b"sub file\n")

    def test_relative_symlink_that_stays_inside_works(self):
        # sub/back-in -> ../inside.txt climbs out of sub/ but not out of the
        # root: RESOLVE_BENEATH allows it.
        r = self.raw_get("/sub/back-in")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"inside\n")


if __name__ == "__main__":
    harness.main()
