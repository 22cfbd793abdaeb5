// Bit streams, least significant bit first. The rANS coder sends escaped values through one of these, beside
// its word stream, because they are rare and their raw bits would gain nothing from the entropy coder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rcodec {

class BitWriter {
public:
    // Appends the low `nbits` bits of `value` (0 <= nbits <= 64).
    void write(uint64_t value, int nbits);

    // Elias-gamma code of value >= 1: floor(log2 value) zeros, a one, then the bits of value below its top bit.
    void write_gamma(uint64_t value);

    // The bytes written so far, the last one padded with zero bits.
    std::vector<uint8_t> bytes() const;
    size_t size_bytes() const { return bytes_.size() + (count_ + 7) / 8; }

    // A position to return to, so a call that fails halfway leaves no trace.
    struct Mark {
        size_t size;
        uint64_t acc;
        int count;
    };
    Mark mark() const { return {bytes_.size(), acc_, count_}; }
    void rewind(const Mark& m);

private:
    void put(uint64_t value, int nbits);  // nbits <= 32

    std::vector<uint8_t> bytes_;
    uint64_t acc_ = 0;  // pending bits, the oldest in bit 0
    int count_ = 0;     // number of pending bits, < 8 between calls
};

class BitReader {
public:
    BitReader() = default;
    BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    // The next `nbits` bits (0 <= nbits <= 64); throws FormatError past the end of the data.
    uint64_t read(int nbits);

    // Inverse of BitWriter::write_gamma for values below 2**max_bits; throws FormatError otherwise.
    uint64_t read_gamma(int max_bits);

    size_t bits_left() const { return size_ * 8 - pos_; }

private:
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    size_t pos_ = 0;  // in bits
};

}  // namespace rcodec
