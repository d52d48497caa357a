/* Fact: IORING_OP_SPLICE never completes inline: io_splice() refuses a
 * non-blocking issue, so every splice is handed to an io-wq worker (an
 * "iou-wrk-" thread of this process appears), even one that could finish at
 * once. A read of a pipe that has data completes inline (no worker).
 *
 * The server relies on it (src/server/sender.cpp start, docs/design.md
 * "The request path"): a body up to --inline-max is read into memory and
 * sent with its head, no splice and no io-wq hop. */
#include "probe.h"

#include <dirent.h>

static int io_workers(void)
{
    int n = 0;
    DIR* d = opendir("/proc/self/task");
    probe_check(d != NULL, "opendir /proc/self/task");
    struct dirent* e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE* f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "iou-wrk-", 8) == 0) ++n;
        fclose(f);
    }
    closedir(d);
    return n;
}

static int run_one(struct io_uring* ring)
{
    io_uring_submit(ring);
    struct io_uring_cqe* cqe;
    if (!probe_wait(ring, &cqe, 2000)) probe_fail("a request did not complete");
    int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res;
}

int main(void)
{
    struct io_uring ring;
    probe_ring(&ring, 4);
    int a[2], b[2];
    probe_check(pipe(a) == 0 && pipe(b) == 0, "pipe");
    static char buf[4096];
    probe_check(write(a[1], buf, 100) == 100, "write");

    if (io_workers() != 0) probe_skip("io-wq workers exist before the probe");
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, a[0], buf, 50, 0);
    if (run_one(&ring) != 50) probe_fail("the read of a pipe with data failed");
    if (io_workers() != 0) probe_fail("a read of a pipe with data went to an io-wq worker");

    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_splice(sqe, a[0], -1, b[1], -1, 50, 0);
    int res = run_one(&ring);
    if (res != 50) probe_fail("the splice between two pipes gave %d, not 50", res);
    if (io_workers() == 0) probe_fail("a splice that could finish at once completed without an io-wq worker");
    printf("holds: the read completed inline, the splice in an io-wq worker\n");
    return FACT_HOLDS;
}
