// Checksums for the container: CRC32 (the zlib/PNG polynomial, same values as zlib.crc32) and XXH64.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rcodec {

// `init` is the CRC of the data before this chunk, so crc32(b, crc32(a)) == crc32(a + b), as with zlib.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t init = 0);

// XXH64 as specified by the xxHash project; equals xxhash.xxh64_intdigest(data, seed).
uint64_t xxh64(const uint8_t* data, size_t size, uint64_t seed = 0);

}  // namespace rcodec
