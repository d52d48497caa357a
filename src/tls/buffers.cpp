#include "tls/buffers.hpp"

#include <algorithm>
#include <cstring>

namespace splicehttpd::tls {

void InputBuffer::append(std::span<const char> bytes)
{
    if (bytes.empty()) return;
    if (begin_ > 0 && begin_ == data_.size()) {
        data_.clear();
        begin_ = 0;
    } else if (begin_ > 0 && begin_ >= data_.size() / 2) {
        // Taken bytes are dead; drop them before growing past them.
        data_.erase(data_.begin(), data_.begin() + std::ptrdiff_t(begin_));
        begin_ = 0;
    }
    data_.insert(data_.end(), bytes.begin(), bytes.end());
}

std::size_t InputBuffer::take(std::span<char> out)
{
    const std::size_t n = std::min(out.size(), size());
    if (n == 0) return 0; // (memcpy from an empty vector's null data() is undefined, even for 0 bytes)
    std::memcpy(out.data(), data_.data() + begin_, n);
    begin_ += n;
    if (begin_ == data_.size()) {
        std::vector<char>().swap(data_); // drained: give the memory back
        begin_ = 0;
    }
    return n;
}

void OutputBuffer::append(std::span<const char> bytes)
{
    size_ += bytes.size();
    while (!bytes.empty()) {
        if (blocks_.empty() || blocks_.back().end == blocks_.back().capacity) {
            Block b;
            b.capacity = std::max(kBlockBytes, bytes.size());
            b.data = std::make_unique_for_overwrite<char[]>(b.capacity);
            blocks_.push_back(std::move(b));
        }
        Block& last = blocks_.back();
        const std::size_t n = std::min(bytes.size(), last.capacity - last.end);
        std::memcpy(last.data.get() + last.end, bytes.data(), n);
        last.end += n;
        bytes = bytes.subspan(n);
    }
}

std::span<char> OutputBuffer::reserve(std::size_t n)
{
    if (blocks_.empty() || blocks_.back().capacity - blocks_.back().end < n) {
        Block b;
        b.capacity = std::max(kBlockBytes, n);
        b.data = std::make_unique_for_overwrite<char[]>(b.capacity);
        blocks_.push_back(std::move(b));
    }
    Block& last = blocks_.back();
    return {last.data.get() + last.end, n};
}

void OutputBuffer::commit(std::size_t n)
{
    Block& last = blocks_.back();
    last.end += n;
    size_ += n;
}

std::span<const char> OutputBuffer::front() const
{
    if (blocks_.empty()) return {};
    const Block& b = blocks_.front();
    return {b.data.get() + b.begin, b.end - b.begin};
}

void OutputBuffer::consume(std::size_t n)
{
    while (n > 0 && !blocks_.empty()) {
        Block& b = blocks_.front();
        const std::size_t k = std::min(n, b.end - b.begin);
        b.begin += k;
        size_ -= k;
        n -= k;
        if (b.begin == b.end) blocks_.erase(blocks_.begin()); // drained: give the memory back
    }
    if (blocks_.empty()) std::vector<Block>().swap(blocks_);
}

} // namespace splicehttpd::tls
