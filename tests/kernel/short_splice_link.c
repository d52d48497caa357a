/* Fact: a short splice breaks the link. A splice that moves less than it
 * was asked (here: a file of 100 bytes, 4096 asked) completes with what it
 * moved and fails its link: every later SQE of the chain completes with
 * -ECANCELED, a linked close included, which then leaves its descriptor
 * open.
 *
 * The server relies on it (src/server/transfer.cpp, src/server/sender.cpp,
 * docs/design.md "Kernel facts"): nothing is closed by a chain (descriptors
 * close through the ring on their own, never linked), and every chain
 * resumes from the cursor, never from what it asked. */
#include "probe.h"

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 8);
    char path[] = "/tmp/splicehttpd-probe-XXXXXX";
    int file = mkstemp(path);
    probe_check(file >= 0, "mkstemp");
    unlink(path);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    probe_check(write(file, buf, 100) == 100, "write");
    int p[2];
    probe_check(pipe(p) == 0, "pipe");
    int victim = dup(file);
    probe_check(victim >= 0, "dup");
    int devnull = open("/dev/null", O_WRONLY);
    probe_check(devnull >= 0, "open /dev/null");

    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_splice(sqe, file, 0, p[1], -1, 4096, 0);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 0;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_splice(sqe, p[0], -1, devnull, -1, 4096, 0);
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 1;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_close(sqe, victim);
    sqe->user_data = 2;
    io_uring_submit(&ring);

    int res[3] = {0};
    for (int i = 0; i < 3; ++i) {
        struct io_uring_cqe* cqe;
        if (!probe_wait(&ring, &cqe, 2000)) probe_fail("the chain did not complete");
        res[cqe->user_data] = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
    }
    if (res[0] != 100) probe_fail("the splice of a 100-byte file, 4096 asked, gave %d, not 100", res[0]);
    if (res[1] != -ECANCELED) probe_fail("the splice linked behind a short splice gave %d, not -ECANCELED", res[1]);
    if (res[2] != -ECANCELED) probe_fail("the close linked behind a short splice gave %d, not -ECANCELED", res[2]);
    if (fcntl(victim, F_GETFD) < 0) probe_fail("the cancelled linked close closed its descriptor anyway");
    printf("holds: a short splice (100 of 4096) fails its link: the next splice and a linked close get -ECANCELED, "
           "the descriptor stays open\n");
    return FACT_HOLDS;
}
