#include "bitio.hpp"

#include "errors.hpp"

namespace rcodec {

void BitWriter::put(uint64_t value, int nbits) {
    if (nbits < 64) value &= (uint64_t{1} << nbits) - 1;
    acc_ |= value << count_;
    count_ += nbits;
    while (count_ >= 8) {
        bytes_.push_back(static_cast<uint8_t>(acc_));
        acc_ >>= 8;
        count_ -= 8;
    }
}

void BitWriter::write(uint64_t value, int nbits) {
    // At most 7 bits are pending, so 32 more always fit the 64-bit accumulator.
    if (nbits > 32) {
        put(value, 32);
        value >>= 32;
        nbits -= 32;
    }
    put(value, nbits);
}

void BitWriter::write_gamma(uint64_t value) {
    const int top = 63 - __builtin_clzll(value);  // value >= 1
    write(0, top);
    write(1, 1);
    write(value, top);
}

std::vector<uint8_t> BitWriter::bytes() const {
    std::vector<uint8_t> out(bytes_);
    if (count_ > 0) out.push_back(static_cast<uint8_t>(acc_));
    return out;
}

void BitWriter::rewind(const Mark& m) {
    bytes_.resize(m.size);
    acc_ = m.acc;
    count_ = m.count;
}

uint64_t BitReader::read(int nbits) {
    if (static_cast<size_t>(nbits) > bits_left()) throw FormatError("escape bit stream is truncated");
    uint64_t value = 0;
    for (int got = 0; got < nbits;) {
        const int shift = static_cast<int>(pos_ & 7);
        const int take = (8 - shift < nbits - got) ? 8 - shift : nbits - got;
        const uint64_t bits = (data_[pos_ >> 3] >> shift) & ((1u << take) - 1);
        value |= bits << got;
        got += take;
        pos_ += static_cast<size_t>(take);
    }
    return value;
}

uint64_t BitReader::read_gamma(int max_bits) {
    int zeros = 0;
    while (read(1) == 0) {
        if (++zeros >= max_bits) throw FormatError("escape code out of range");
    }
    return (uint64_t{1} << zeros) | read(zeros);
}

}  // namespace rcodec
