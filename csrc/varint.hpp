// LEB128 varints: 7 bits per byte, low group first, high bit set on every byte but the last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rcodec {

constexpr int kVarintMaxBytes = 10;  // ceil(64 / 7)

// Appends the encoding of `value` to `out`.
void varint_append(std::vector<uint8_t>& out, uint64_t value);

// Number of bytes `value` takes.
int varint_size(uint64_t value);

// Reads one varint from [p, end) and advances p. Throws FormatError on truncation, on a value above 2**64 - 1
// and on non-canonical (zero-padded) encodings, so every value has exactly one encoding.
uint64_t varint_read(const uint8_t*& p, const uint8_t* end);

}  // namespace rcodec
