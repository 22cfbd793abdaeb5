// Interleaved rANS over integer CDF tables (the CdfTables layout of rcodec.entropy.tables).
//
// States are 64-bit and live in [2**31, 2**63); renormalisation moves 32-bit words. With probabilities of at
// most 16 bits every state keeps >= 15 bits of headroom above the model precision, so the coding loss against
// the ideal code length stays far below 0.01%. Symbol i of a stream (counted across all calls) goes to lane
// i % lanes; independent lanes let the CPU overlap the dependency chains of consecutive symbols.
//
// Stream layout (all integers little-endian, varints LEB128):
//   u8 lanes (1 or 8) | varint word count | varint escape byte count | lanes x varint (final state - 2**31)
//   | words (u32 each) | escape bits
// The encoder runs last symbol first and writes words backwards, so the decoder reads everything forwards.
// Values outside a table's range are coded as its escape symbol plus an Elias-gamma code of their zig-zag
// distance from the range, in the separate escape bit stream, in coding order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bitio.hpp"
#include "buffer.hpp"

namespace rcodec {

constexpr uint64_t kRansLow = uint64_t{1} << 31;  // lower bound of a normalised state
constexpr int kMaxLanes = 8;
constexpr int kMaxPrecision = 16;
constexpr size_t kInterleaveMin = 16384;  // shorter streams use one lane: 8 final states cost ~64 bytes

// What the encoder needs per (table, symbol): q = floor(x / freq) as a multiply-high and a shift, and the
// additive constants that turn x into q * 2**precision + x mod freq + start.
struct EncSymbol {
    uint64_t rcp;
    uint32_t bias;
    uint16_t cmpl;  // 2**precision - freq
    uint8_t shift;
    uint8_t unused;
};

// A validated, immutable copy of one CdfTables set plus the encoder's and decoder's lookup tables.
class RansTables {
public:
    // `cdf` is (count, width) row-major. Throws ArgumentError when the arrays break the CdfTables invariants.
    RansTables(const int32_t* cdf, int64_t count, int64_t width, const int32_t* lengths, const int32_t* offsets,
               int precision, bool escape);

    int count() const { return count_; }
    int width() const { return width_; }
    int precision() const { return precision_; }
    bool escape() const { return escape_; }
    int lut_bits() const { return lut_bits_; }

    const int32_t* row(int t) const { return cdf_.data() + static_cast<size_t>(t) * width_; }
    const uint16_t* lut(int t) const { return lut_.data() + (static_cast<size_t>(t) << lut_bits_); }
    const EncSymbol* enc() const { return enc_.data(); }
    int32_t length(int t) const { return lengths_[t]; }
    int32_t offset(int t) const { return offsets_[t]; }
    // Decoded symbols below plain(t) are values; the rest are the escape symbol or impossible.
    uint32_t plain(int t) const { return plain_[t]; }

private:
    int count_, width_, precision_, lut_bits_;
    bool escape_;
    std::vector<int32_t> cdf_, lengths_, offsets_;
    std::vector<uint32_t> plain_;
    std::vector<EncSymbol> enc_;  // (count, width), entry t * width + symbol
    std::vector<uint16_t> lut_;   // (count, 2**lut_bits): first symbol whose range holds slot b << (precision - bits)
};

using TablesPtr = std::shared_ptr<const RansTables>;

// Collects the calls of one stream; finish() codes them all, last symbol first.
class RansEncoder {
public:
    // Queues `n` values coded with tables `indexes[i]` (table 0 for all when indexes is null). Throws
    // ArgumentError for an unknown table or a value that the tables cannot code; the encoder is then unchanged.
    void push(const TablesPtr& tables, const int32_t* values, const int32_t* indexes, size_t n);

    // Queues `n` symbols given directly by their ranges [start, start + freq) out of 2**precision: the path for
    // models that change with every symbol (one table per symbol), where building tables would cost more than
    // coding. Codes exactly as push() with tables holding those ranges. Throws ArgumentError for a bad range.
    void push_ranges(const uint32_t* start, const uint32_t* freq, size_t n, int precision);

    // Codes everything queued so far (the encoder keeps its contents) and writes the stream to the memory that
    // `allocate(size)` returns, so that a caller can code straight into its own buffer.
    void finish(const std::function<uint8_t*(size_t)>& allocate) const;
    std::vector<uint8_t> finish() const;

    size_t symbols() const { return entries_.size(); }

private:
    struct Segment {
        TablesPtr tables;                                   // null for push_ranges segments
        std::shared_ptr<const std::vector<EncSymbol>> direct;  // their symbols, indexed by entry
        int precision;
        size_t begin, end;
    };
    std::vector<Segment> segments_;
    RawArray<uint32_t> entries_;  // per symbol: index into its tables' enc()
    BitWriter escapes_;
};

// Decodes a stream call by call. Does not own the bytes: the caller keeps them alive and unchanged.
class RansDecoder {
public:
    // Parses and checks the header; throws FormatError when the bytes cannot be a stream.
    RansDecoder(const uint8_t* data, size_t size);

    // The next `n` values into `out`; `indexes` as for RansEncoder::push. Throws ArgumentError for an unknown
    // table and FormatError for damaged data, after which the decoder refuses further calls.
    void decode(const RansTables& tables, const int32_t* indexes, size_t n, int32_t* out);

    // The next `n` symbols, symbol i with its own CDF row `cdf + i * width` (starting at 0, ending at
    // 2**precision, non-decreasing); the counterpart of push_ranges. Writes symbol numbers (0-based) to `out`.
    void decode_rows(const int32_t* cdf, size_t width, size_t n, int precision, int32_t* out);

    // True when every word was read and every lane is back at its initial state: the stream was consumed
    // exactly (a cheap integrity check after the last call).
    bool exhausted() const;

    int lanes() const { return lanes_; }

private:
    template <int N, bool Single>
    void run(const RansTables& t, const int32_t* indexes, size_t n, int32_t* out);
    int32_t escaped_value(const RansTables& t, int table, uint32_t symbol);

    uint64_t state_[kMaxLanes];
    int lanes_ = 1;
    unsigned lane_ = 0;  // lane of the next symbol
    const uint8_t* words_ = nullptr;
    size_t word_count_ = 0, word_pos_ = 0;
    BitReader escapes_;
    bool failed_ = false;
};

}  // namespace rcodec
