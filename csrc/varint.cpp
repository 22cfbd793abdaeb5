#include "varint.hpp"

#include "errors.hpp"

namespace rcodec {

void varint_append(std::vector<uint8_t>& out, uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<uint8_t>(value | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<uint8_t>(value));
}

int varint_size(uint64_t value) {
    int n = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++n;
    }
    return n;
}

uint64_t varint_read(const uint8_t*& p, const uint8_t* end) {
    uint64_t value = 0;
    for (int i = 0; i < kVarintMaxBytes; ++i) {
        if (p == end) throw FormatError("truncated varint");
        const uint8_t byte = *p++;
        const uint64_t group = byte & 0x7f;
        // The tenth byte holds only bit 63: anything above it overflows.
        if (i == kVarintMaxBytes - 1 && group > 1) throw FormatError("varint overflows 64 bits");
        value |= group << (7 * i);
        if (!(byte & 0x80)) {
            if (i > 0 && group == 0) throw FormatError("non-canonical varint");
            return value;
        }
    }
    throw FormatError("varint longer than 10 bytes");
}

}  // namespace rcodec
