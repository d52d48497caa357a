// The bytes a TLS session holds between the ring and OpenSSL. Both start
// empty and give their memory back when drained, so an idle session holds
// none (thousands of keep-alive connections are the common case).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace splicehttpd::tls {

// Ciphertext received, not yet taken by OpenSSL.
class InputBuffer {
public:
    void append(std::span<const char> bytes);
    // Up to out.size() bytes, taken.
    std::size_t take(std::span<char> out);
    std::size_t size() const { return data_.size() - begin_; }

private:
    std::vector<char> data_;
    std::size_t begin_ = 0;
};

// Records written by OpenSSL, waiting to be sent. A chain of blocks that
// are never moved or reallocated: front() stays where it is while a send
// SQE points into it, and appends go after it (or into a new block).
class OutputBuffer {
public:
    static constexpr std::size_t kBlockBytes = 64 * 1024 + 1024; // four full records and their overhead

    void append(std::span<const char> bytes);
    // n contiguous bytes after what is there, to be written in place, then
    // commit()ted (a record sealed straight into the output); a block of
    // its own when the last one has too little room left.
    std::span<char> reserve(std::size_t n);
    void commit(std::size_t n);
    // The first contiguous run of unsent bytes (empty when there are none).
    std::span<const char> front() const;
    // n bytes of front() were sent.
    void consume(std::size_t n);
    std::size_t size() const { return size_; }
    std::size_t blocks() const { return blocks_.size(); }

private:
    struct Block {
        std::unique_ptr<char[]> data;
        std::size_t capacity = 0;
        std::size_t begin = 0;
        std::size_t end = 0;
    };
    std::vector<Block> blocks_;
    std::size_t size_ = 0;
};

} // namespace splicehttpd::tls
