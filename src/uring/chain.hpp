// A linked SQE chain, and the only place that sets IOSQE_IO_LINK.
//
// Kernel facts that shape its users (docs/design.md has the long version):
//  - a short splice breaks the link: every later SQE completes with -ECANCELED,
//    a linked close included, so nothing is ever closed by a chain; the state
//    machine closes after the chain's last CQE;
//  - a short send without MSG_WAITALL does not break it, so a send with
//    anything linked behind it carries MSG_WAITALL;
//  - a chain must go to the kernel in one submit, hence reserve() up front.
#pragma once

#include "uring/ring.hpp"

namespace splicehttpd::uring {

class Chain {
public:
    Chain(Ring& ring, unsigned max_len) noexcept : ring_(ring), max_len_(max_len) { ring_.reserve(max_len); }
    Chain(const Chain&) = delete;
    Chain& operator=(const Chain&) = delete;

    // The next SQE of the chain; links the previous one to it. Prepare it with
    // io_uring_prep_*, then add flags with |= (prep resets them).
    io_uring_sqe* next() noexcept
    {
        if (last_) last_->flags |= hard_ ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
        hard_ = false;
        last_ = ring_.get_sqe();
        ++length_;
        return last_;
    }
    // The SQE just prepared does not break the chain when it fails: what
    // follows runs anyway (IOSQE_IO_HARDLINK). For a step that only helps.
    void hard_link() noexcept { hard_ = true; }

    [[nodiscard]] unsigned length() const noexcept { return length_; }
    [[nodiscard]] bool full() const noexcept { return length_ >= max_len_; }

private:
    Ring& ring_;
    unsigned max_len_;
    unsigned length_ = 0;
    io_uring_sqe* last_ = nullptr;
    bool hard_ = false;
};

} // namespace splicehttpd::uring
