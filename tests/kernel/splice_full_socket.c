/* Fact: a splice from a pipe to a full non-blocking socket completes at once
 * with -EAGAIN (or with the bytes that fitted): it does not wait in an io-wq
 * worker for the peer to read. The same splice to a blocking socket does
 * wait.
 *
 * The server relies on it (src/server/socket.cpp accepts with SOCK_NONBLOCK;
 * src/server/sender.cpp waits for POLLOUT; docs/design.md "Kernel facts"): a
 * slow reader never holds a kernel thread, and its progress is visible. */
#include "probe.h"

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 4);
    int server, client;
    probe_tcp_pair(&server, &client);
    int p[2];
    probe_check(pipe(p) == 0, "pipe");
    static char buf[4096];
    probe_check(write(p[1], buf, sizeof buf) == (ssize_t)sizeof buf, "write");

    probe_fill(server);
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_splice(sqe, p[0], -1, server, -1, sizeof buf, 0);
    io_uring_submit(&ring);
    struct io_uring_cqe* cqe;
    if (!probe_wait(&ring, &cqe, 1000))
        probe_fail("a splice to a full non-blocking socket did not complete within a second");
    int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (res != -EAGAIN && !(res > 0 && res < (int)sizeof buf))
        probe_fail("a splice to a full non-blocking socket gave %d, not -EAGAIN or a short count", res);

    /* The contrast: blocking, it waits until the peer reads. */
    int flags = fcntl(server, F_GETFL);
    probe_check(fcntl(server, F_SETFL, flags & ~O_NONBLOCK) == 0, "F_SETFL");
    while (read(p[0], buf, sizeof buf) > 0) {
        break;
    }
    probe_check(write(p[1], buf, sizeof buf) == (ssize_t)sizeof buf, "write");
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_splice(sqe, p[0], -1, server, -1, sizeof buf, 0);
    io_uring_submit(&ring);
    if (probe_wait(&ring, &cqe, 300)) probe_fail("a splice to a full blocking socket completed (%d) at once", cqe->res);
    static char sink[1 << 16];
    for (;;) { /* the peer reads: the waiting splice completes */
        ssize_t n = recv(client, sink, sizeof sink, MSG_DONTWAIT);
        if (n <= 0 && probe_wait(&ring, &cqe, 50)) break;
    }
    io_uring_cqe_seen(&ring, cqe);
    printf("holds: a splice to a full non-blocking socket gives %d at once; to a blocking one it waits\n", res);
    return FACT_HOLDS;
}
