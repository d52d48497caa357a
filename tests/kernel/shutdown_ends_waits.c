/* Fact: shutdown(SHUT_RDWR) through the ring ends a connection's waits: a
 * POLLOUT poll on its full socket completes, and a multishot recv on it
 * completes for good (no IORING_CQE_F_MORE). A cancel would only find
 * requests already issued; a shutdown also fails what is still to start.
 *
 * The server relies on it (src/server/connection.cpp begin_close,
 * src/server/socket.cpp shutdown, docs/design.md "Kernel facts"): an abort
 * shuts the socket down and waits for every completion in flight before
 * the connection is freed. */
#include "probe.h"

#include <poll.h>

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 8);
    probe_need_op(&ring, IORING_OP_SHUTDOWN, "IORING_OP_SHUTDOWN");
    int server, client;
    probe_tcp_pair(&server, &client);

    /* Buffers for the multishot recv (the classic provided-buffers kind). */
    static char bufs[4][256];
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_provide_buffers(sqe, bufs, sizeof bufs[0], 4, 7, 0);
    sqe->user_data = 9;
    io_uring_submit(&ring);
    struct io_uring_cqe* cqe;
    probe_check(probe_wait(&ring, &cqe, 1000) && cqe->res >= 0, "provide buffers");
    io_uring_cqe_seen(&ring, cqe);

    probe_fill(server);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_poll_add(sqe, server, POLLOUT);
    sqe->user_data = 1;
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, server, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 7;
    sqe->user_data = 2;
    io_uring_submit(&ring);
    if (probe_wait(&ring, &cqe, 200)) probe_fail("a wait completed (%d) before the shutdown", cqe->res);

    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_shutdown(sqe, server, SHUT_RDWR);
    sqe->user_data = 3;
    io_uring_submit(&ring);
    int poll_done = 0, recv_done = 0, shut = 1;
    for (int i = 0; i < 3; ++i) {
        if (!probe_wait(&ring, &cqe, 2000)) break;
        if (cqe->user_data == 1) poll_done = 1;
        if (cqe->user_data == 2 && !(cqe->flags & IORING_CQE_F_MORE)) recv_done = 1;
        if (cqe->user_data == 3) shut = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
    }
    if (shut != 0) probe_fail("the shutdown gave %d", shut);
    if (!poll_done) probe_fail("the POLLOUT wait did not complete after the shutdown");
    if (!recv_done) probe_fail("the multishot recv did not end after the shutdown");
    printf("holds: shutdown(SHUT_RDWR) completes the POLLOUT wait and ends the multishot recv\n");
    return FACT_HOLDS;
}
