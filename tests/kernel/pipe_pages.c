/* Fact: a pipe holds capacity / 4096 pages, not capacity bytes. A splice
 * from a file into an empty pipe of 16 KiB (4 pages) starting at a file
 * offset that is not page-aligned moves capacity - offset % 4096 bytes; at
 * an aligned offset, the whole capacity.
 *
 * The server relies on it (src/server/transfer.cpp next_chain, docs/design.md
 * "Kernel facts"): a chunk is sized capacity - offset % 4096, so that a
 * splice into a pipe is never short for want of room. */
#include "probe.h"

static int splice_into(struct io_uring* ring, int file, long off, int pipe_w, unsigned len)
{
    struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_splice(sqe, file, off, pipe_w, -1, len, 0);
    io_uring_submit(ring);
    struct io_uring_cqe* cqe;
    if (!probe_wait(ring, &cqe, 2000)) probe_fail("a splice into an empty pipe did not complete");
    int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res;
}

static void empty(int pipe_r)
{
    static char sink[1 << 16];
    while (read(pipe_r, sink, sizeof sink) > 0) {
    }
}

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 4);
    char path[] = "/tmp/splicehttpd-probe-XXXXXX";
    int file = mkstemp(path);
    probe_check(file >= 0, "mkstemp");
    unlink(path);
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    probe_check(write(file, buf, sizeof buf) == (ssize_t)sizeof buf, "write");
    int p[2];
    probe_check(pipe2(p, O_NONBLOCK) == 0, "pipe2");
    const int capacity = 16384;
    probe_check(fcntl(p[1], F_SETPIPE_SZ, capacity) == capacity, "F_SETPIPE_SZ 16384");

    int aligned = splice_into(&ring, file, 4096, p[1], 2 * capacity);
    empty(p[0]);
    int unaligned = splice_into(&ring, file, 100, p[1], 2 * capacity);
    empty(p[0]);
    if (aligned != capacity) probe_fail("from an aligned offset a 16 KiB pipe took %d bytes, not %d", aligned, capacity);
    if (unaligned != capacity - 100)
        probe_fail("from offset 100 a 16 KiB pipe took %d bytes, not %d", unaligned, capacity - 100);
    printf("holds: a 16 KiB pipe takes %d bytes from an aligned offset, %d from offset 100\n", aligned, unaligned);
    return FACT_HOLDS;
}
