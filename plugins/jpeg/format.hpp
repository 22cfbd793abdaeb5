// JPEG file structure: parse a Huffman-coded JPEG into its quantized DCT coefficients plus a "skeleton" (every
// byte of the file except the entropy-coded scan data), and rebuild the exact file from the two.
//
// Both directions walk the markers with the same state machine; the scan data is decoded (parse) or re-encoded
// (rebuild) following libjpeg's rules (standard EOB runs, correction-bit buffering, padding with 1 bits, RST
// markers in sequence). Whatever those rules do not reproduce is caught by comparing the rebuilt file with the
// original at encode time, and the caller stores the original bytes instead.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace jpegcm {

// The number of bits of a non-negative value (0 for 0): JPEG's magnitude category.
inline int bit_length(int v) {
    int n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

// The file uses a feature this recompressor does not model: store it as plain bytes instead.
struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The compressed data is inconsistent (damaged or hostile).
struct Corrupt : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Limits that bound memory and work on any input: 4M blocks (about 170M pixels at 4:2:0, 512 MB of
// coefficients), at most 8 blocks per byte of file (every block costs at least one bit in a first DC scan),
// and at most 64 block visits per block over all scans.
constexpr int64_t kMaxTotalBlocks = int64_t(1) << 22;
constexpr int64_t kBlocksPerByte = 8;
constexpr int64_t kMaxVisitsPerBlock = 64;

// Natural (row-major) index of each zigzag position.
extern const int kZigzag[64];

struct Component {
    int id = 0, h = 1, v = 1, tq = 0;
    int bw = 0, bh = 0;  // blocks stored: whole MCUs
    int cw = 0, ch = 0;  // blocks a single-component scan covers
    std::vector<int16_t> coef;  // bw * bh * 64, zigzag order
};

struct Frame {
    bool progressive = false;
    int width = 0, height = 0, hmax = 1, vmax = 1, mcux = 0, mcuy = 0;
    std::vector<Component> comps;
    uint16_t quant[4][64] = {};  // the tables each component used when the frame was defined (zigzag order)
};

// Parse `data`: fills `frame` (with coefficients) and `skeleton`. Throws Unsupported.
void parse(const uint8_t* data, size_t size, Frame& frame, std::vector<uint8_t>& skeleton);

// Read only the frame geometry from a skeleton (coefficient arrays allocated, zero) of a file of `file_size`
// bytes. Throws Corrupt.
void read_frame(const uint8_t* skel, size_t size, size_t file_size, Frame& frame);

// Rebuild the file from a skeleton and the frame's coefficients; Corrupt once the output passes `max_size`.
std::vector<uint8_t> rebuild(const uint8_t* skel, size_t size, const Frame& frame, size_t max_size);

}  // namespace jpegcm
