#include "rans.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "bytes.hpp"
#include "errors.hpp"
#include "varint.hpp"

namespace rcodec {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
// Escape distances are below 2**34 (int32 value against int32 offset, zig-zagged), so gamma codes of
// distance + 1 have at most 34 significant bits.
constexpr int kEscapeBits = 34;

inline uint64_t mul_high(uint64_t a, uint64_t b) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
}

// Division by freq as a multiply-high: for x < 2**63, floor(x / f) == mul_high(x, rcp) >> shift with
// rcp = ceil(2**(63 + l) / f), l = ceil(log2 f) (Granlund & Montgomery). freq 1 cannot use that (shift -1),
// so it takes rcp = 2**64 - 1, giving x - 1, and the bias adds the missing 2**precision - 1.
EncSymbol make_enc_symbol(uint32_t start, uint32_t freq, int precision) {
    const uint32_t total = 1u << precision;
    EncSymbol e{};
    e.cmpl = static_cast<uint16_t>(total - freq);
    if (freq == 1) {
        e.rcp = ~uint64_t{0};
        e.shift = 0;
        e.bias = start + total - 1;
    } else {
        const int l = 32 - __builtin_clz(freq - 1);
        const unsigned __int128 num = static_cast<unsigned __int128>(1) << (63 + l);
        e.rcp = static_cast<uint64_t>((num + freq - 1) / freq);
        e.shift = static_cast<uint8_t>(l - 1);
        e.bias = start;
    }
    return e;
}

// Decoder lookup resolution: slot >> (precision - bits) indexes a bucket holding the first symbol of that
// bucket, and a short forward scan finishes the search. Finer buckets mean shorter scans but more memory; all
// tables of a set together get about 256K entries (512 KiB) so that random table indexes stay in the L2 cache
// (measured: 64 Gaussian tables decode 5x slower with 16-bit buckets than with 12-bit ones).
int choose_lut_bits(int64_t count, int precision) {
    int bits = 14;
    while (bits > 6 && (count << bits) > (int64_t{1} << 18)) --bits;
    return std::min(bits, precision);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Tables

RansTables::RansTables(const int32_t* cdf, int64_t count, int64_t width, const int32_t* lengths,
                       const int32_t* offsets, int precision, bool escape)
    : escape_(escape) {
    if (precision < 1 || precision > kMaxPrecision) throw ArgumentError("CDF precision outside 1..16");
    if (count < 0 || width < 0 || width > kInt32Max || (count > 0 && width < 2))
        throw ArgumentError("CDF table arrays have bad shapes");
    if (count > (int64_t{1} << 31) / std::max<int64_t>(width, 1)) throw ArgumentError("CDF tables too large");
    count_ = static_cast<int>(count);
    width_ = static_cast<int>(width);
    precision_ = precision;
    lut_bits_ = choose_lut_bits(count, precision);
    const int32_t total = int32_t{1} << precision;

    cdf_.assign(cdf, cdf + count * width);
    lengths_.assign(lengths, lengths + count);
    offsets_.assign(offsets, offsets + count);
    plain_.resize(count_);
    enc_.assign(static_cast<size_t>(count) * width, EncSymbol{});
    lut_.resize(static_cast<size_t>(count) << lut_bits_);

    for (int t = 0; t < count_; ++t) {
        const int32_t len = lengths_[t];
        const int32_t* r = row(t);
        if (len < (escape ? 2 : 1) || len > width_ - 1) throw ArgumentError("CDF table length out of range");
        if (r[0] != 0 || r[len] != total) throw ArgumentError("CDF tables must start at 0 and end at 2**precision");
        for (int s = 1; s < width_; ++s) {
            if (s <= len ? r[s] <= r[s - 1] : r[s] != total)
                throw ArgumentError("CDF tables must be strictly increasing and padded with 2**precision");
        }
        for (int s = 0; s < len; ++s) enc_[static_cast<size_t>(t) * width_ + s] = make_enc_symbol(r[s], r[s + 1] - r[s], precision);

        // Symbols whose value offset + symbol would leave int32 can only come from damaged data.
        const int64_t fits = kInt32Max - static_cast<int64_t>(offsets_[t]) + 1;
        plain_[t] = static_cast<uint32_t>(std::min<int64_t>(len - (escape ? 1 : 0), fits));

        uint16_t* l = lut_.data() + (static_cast<size_t>(t) << lut_bits_);
        const int step = precision - lut_bits_;
        int s = 0;
        for (int b = 0; b < (1 << lut_bits_); ++b) {
            while (r[s + 1] <= (b << step)) ++s;
            l[b] = static_cast<uint16_t>(s);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder

namespace {

template <bool Single>
void map_values(const RansTables& t, const int32_t* values, const int32_t* indexes, size_t n, uint32_t* entries,
                BitWriter& escapes) {
    const uint32_t count = static_cast<uint32_t>(t.count());
    const uint32_t width = static_cast<uint32_t>(t.width());
    for (size_t i = 0; i < n; ++i) {
        const uint32_t tb = Single ? 0 : static_cast<uint32_t>(indexes[i]);
        if (!Single && tb >= count) throw ArgumentError("table index out of range");
        const int64_t offset = t.offset(tb);
        const int64_t symbol = values[i] - offset;
        if (static_cast<uint64_t>(symbol) < t.plain(tb)) {
            entries[i] = tb * width + static_cast<uint32_t>(symbol);
            continue;
        }
        if (!t.escape()) throw ArgumentError("value outside its table's range and the tables have no escape symbol");
        const int64_t top = offset + t.length(tb) - 1;  // first value above the range
        const int64_t distance = values[i] < offset ? 2 * (offset - values[i] - 1) : 2 * (values[i] - top) + 1;
        escapes.write_gamma(static_cast<uint64_t>(distance) + 1);
        entries[i] = tb * width + static_cast<uint32_t>(t.length(tb) - 1);
    }
}

// Codes entries [begin, end) backwards; symbol g uses lane g % N. Returns the new start of the word buffer.
template <int N>
uint32_t* encode_segment(const EncSymbol* syms, int precision, const uint32_t* entries, size_t begin, size_t end,
                         uint64_t* state, uint32_t* out) {
    const uint64_t total = uint64_t{1} << precision;
    const int max_shift = 63 - precision;
    auto put = [&](uint64_t& x, const EncSymbol& e) {
        // x must stay below freq * 2**(63 - precision) so that the coded state stays below 2**63.
        // Branch-free: renormalisation is close to a coin flip, so a branch would often be mispredicted. The
        // word is always stored below `out` (the buffer has a spare word in front) and kept only if needed.
        const uint64_t limit = (total - e.cmpl) << max_shift;
        const bool emit = x >= limit;
        out[-1] = static_cast<uint32_t>(x);
        out -= emit;
        x >>= emit ? 32 : 0;
        x += e.bias + (mul_high(x, e.rcp) >> e.shift) * e.cmpl;
    };
    size_t g = end;
    for (; g > begin && g % N != 0; --g) put(state[(g - 1) % N], syms[entries[g - 1]]);
    if (g - begin >= N) {
        uint64_t x[N];
        std::copy(state, state + N, x);
        for (; g - begin >= N; g -= N) {
#pragma GCC unroll 8
            for (int j = N - 1; j >= 0; --j) put(x[j], syms[entries[g - N + j]]);
        }
        std::copy(x, x + N, state);
    }
    for (; g > begin; --g) put(state[(g - 1) % N], syms[entries[g - 1]]);
    return out;
}

}  // namespace

void RansEncoder::push(const TablesPtr& tables, const int32_t* values, const int32_t* indexes, size_t n) {
    if (n == 0) return;
    const RansTables& t = *tables;
    if (t.count() == 0) throw ArgumentError("no tables to code with");
    const size_t old = entries_.size();
    const BitWriter::Mark mark = escapes_.mark();
    entries_.resize(old + n);
    try {
        if (indexes == nullptr)
            map_values<true>(t, values, indexes, n, entries_.data() + old, escapes_);
        else
            map_values<false>(t, values, indexes, n, entries_.data() + old, escapes_);
    } catch (...) {
        entries_.resize(old);
        escapes_.rewind(mark);
        throw;
    }
    if (!segments_.empty() && segments_.back().tables == tables)
        segments_.back().end = entries_.size();
    else
        segments_.push_back({tables, nullptr, t.precision(), old, entries_.size()});
}

void RansEncoder::push_ranges(const uint32_t* start, const uint32_t* freq, size_t n, int precision) {
    if (n == 0) return;
    if (precision < 1 || precision > kMaxPrecision) throw ArgumentError("CDF precision outside 1..16");
    const uint64_t total = uint64_t{1} << precision;
    auto syms = std::make_shared<std::vector<EncSymbol>>(n);
    for (size_t i = 0; i < n; ++i) {
        if (freq[i] == 0 || static_cast<uint64_t>(start[i]) + freq[i] > total)
            throw ArgumentError("symbol range outside 0..2**precision or empty");
        (*syms)[i] = make_enc_symbol(start[i], freq[i], precision);
    }
    const size_t old = entries_.size();
    entries_.resize(old + n);
    for (size_t i = 0; i < n; ++i) entries_.data()[old + i] = static_cast<uint32_t>(i);
    segments_.push_back({nullptr, std::move(syms), precision, old, entries_.size()});
}

void RansEncoder::finish(const std::function<uint8_t*(size_t)>& allocate) const {
    const size_t n = entries_.size();
    const int lanes = n >= kInterleaveMin ? kMaxLanes : 1;
    // At most one word per symbol, plus the spare word in front that the branch-free store may touch.
    RawArray<uint32_t> words(n + 1);
    uint32_t* const end = words.data() + words.size();
    uint32_t* out = end;
    uint64_t state[kMaxLanes];
    std::fill(state, state + kMaxLanes, kRansLow);
    for (auto s = segments_.rbegin(); s != segments_.rend(); ++s) {
        // Direct segments index their own symbols from 0: shift the entry pointer so entry `begin` reads [0].
        const EncSymbol* syms = s->tables ? s->tables->enc() : s->direct->data();
        if (lanes == kMaxLanes)
            out = encode_segment<kMaxLanes>(syms, s->precision, entries_.data(), s->begin, s->end, state, out);
        else
            out = encode_segment<1>(syms, s->precision, entries_.data(), s->begin, s->end, state, out);
    }
    const size_t nwords = static_cast<size_t>(end - out);
    const std::vector<uint8_t> escapes = escapes_.bytes();

    std::vector<uint8_t> header;
    header.push_back(static_cast<uint8_t>(lanes));
    varint_append(header, nwords);
    varint_append(header, escapes.size());
    for (int j = 0; j < lanes; ++j) varint_append(header, state[j] - kRansLow);

    uint8_t* dst = allocate(header.size() + 4 * nwords + escapes.size());
    std::memcpy(dst, header.data(), header.size());
    dst += header.size();
    for (size_t k = 0; k < nwords; ++k) store_le32(dst + 4 * k, out[k]);  // a plain copy on little-endian hosts
    if (!escapes.empty()) std::memcpy(dst + 4 * nwords, escapes.data(), escapes.size());
}

std::vector<uint8_t> RansEncoder::finish() const {
    std::vector<uint8_t> stream;
    finish([&](size_t size) {
        stream.resize(size);
        return stream.data();
    });
    return stream;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder

RansDecoder::RansDecoder(const uint8_t* data, size_t size) {
    const uint8_t* p = data;
    const uint8_t* const end = data + size;
    if (p == end) throw FormatError("empty rANS stream");
    lanes_ = *p++;
    if (lanes_ != 1 && lanes_ != kMaxLanes) throw FormatError("rANS stream has an unsupported lane count");
    const uint64_t nwords = varint_read(p, end);
    const uint64_t nescape = varint_read(p, end);
    std::fill(state_, state_ + kMaxLanes, kRansLow);
    for (int j = 0; j < lanes_; ++j) {
        const uint64_t v = varint_read(p, end);
        if (v >= (uint64_t{1} << 63) - kRansLow) throw FormatError("rANS state out of range");
        state_[j] = v + kRansLow;
    }
    const size_t left = static_cast<size_t>(end - p);
    if (nwords > left / 4 || nescape != left - 4 * nwords)
        throw FormatError("rANS stream length does not match its header");
    words_ = p;
    word_count_ = static_cast<size_t>(nwords);
    escapes_ = BitReader(p + 4 * nwords, static_cast<size_t>(nescape));
}

bool RansDecoder::exhausted() const {
    for (int j = 0; j < lanes_; ++j)
        if (state_[j] != kRansLow) return false;
    return word_pos_ == word_count_ && escapes_.bits_left() < 8;
}

int32_t RansDecoder::escaped_value(const RansTables& t, int table, uint32_t symbol) {
    if (!t.escape() || symbol != static_cast<uint32_t>(t.length(table) - 1))
        throw FormatError("decoded value outside the int32 range");
    const uint64_t distance = escapes_.read_gamma(kEscapeBits) - 1;
    const int64_t offset = t.offset(table);
    const int64_t top = offset + t.length(table) - 1;
    const int64_t half = static_cast<int64_t>(distance >> 1);
    const int64_t value = (distance & 1) ? top + half : offset - half - 1;
    if (value < kInt32Min || value > kInt32Max) throw FormatError("escaped value outside the int32 range");
    return static_cast<int32_t>(value);
}

template <int N, bool Single>
void RansDecoder::run(const RansTables& t, const int32_t* indexes, size_t n, int32_t* out) {
    const int precision = t.precision();
    const uint32_t mask = (1u << precision) - 1;
    const int lut_shift = precision - t.lut_bits();
    // Hoisted so that stores to `out` do not force reloads.
    const int32_t* const cdf = t.row(0);
    const uint16_t* const lut = t.lut(0);
    const size_t width = static_cast<size_t>(t.width());
    const int lut_bits = t.lut_bits();
    const int32_t offset0 = t.offset(0);
    const uint32_t plain0 = t.plain(0);
    const uint8_t* w = words_ + 4 * word_pos_;
    const uint8_t* const wend = words_ + 4 * word_count_;

    auto symbol = [&](uint64_t& x, size_t i) {
        const uint32_t tb = Single ? 0 : static_cast<uint32_t>(indexes[i]);
        const int32_t* r = Single ? cdf : cdf + tb * width;
        const uint16_t* l = Single ? lut : lut + (static_cast<size_t>(tb) << lut_bits);
        const uint32_t slot = static_cast<uint32_t>(x) & mask;
        uint32_t s = l[slot >> lut_shift];
        while (static_cast<uint32_t>(r[s + 1]) <= slot) ++s;
        const uint32_t lo = static_cast<uint32_t>(r[s]);
        x = static_cast<uint64_t>(static_cast<uint32_t>(r[s + 1]) - lo) * (x >> precision) + (slot - lo);
        const uint32_t plain = Single ? plain0 : t.plain(tb);
        const int32_t offset = Single ? offset0 : t.offset(tb);
        out[i] = s < plain ? offset + static_cast<int32_t>(s) : escaped_value(t, tb, s);
    };
    auto checked = [&](uint64_t& x, size_t i) {
        symbol(x, i);
        if (x < kRansLow) {
            if (w == wend) throw FormatError("rANS stream is truncated");
            x = (x << 32) | load_le32(w);
            w += 4;
        }
    };

    size_t i = 0;
    for (; i < n && lane_ != 0; ++i, lane_ = (lane_ + 1) % N) checked(state_[lane_], i);
    if (n - i >= N) {
        uint64_t x[N];
        std::copy(state_, state_ + N, x);
        // Whole rounds of N symbols while N words are surely left: no bounds check per word.
        for (; n - i >= N && static_cast<size_t>(wend - w) >= 4 * N; i += N) {
#pragma GCC unroll 8
            for (int j = 0; j < N; ++j) symbol(x[j], i + j);
            // A branch per lane measured faster here than branch-free selects: prediction lets the CPU start the
            // next round before the refills resolve.
#pragma GCC unroll 8
            for (int j = 0; j < N; ++j) {
                if (x[j] < kRansLow) {
                    x[j] = (x[j] << 32) | load_le32(w);
                    w += 4;
                }
            }
        }
        std::copy(x, x + N, state_);
    }
    for (; i < n; ++i, lane_ = (lane_ + 1) % N) checked(state_[lane_], i);
    word_pos_ = static_cast<size_t>(w - words_) / 4;
}

void RansDecoder::decode(const RansTables& t, const int32_t* indexes, size_t n, int32_t* out) {
    if (failed_) throw FormatError("rANS decoder stopped at an earlier error");
    if (n == 0) return;
    if (t.count() == 0) throw ArgumentError("no tables to code with");
    if (indexes != nullptr) {
        const uint32_t count = static_cast<uint32_t>(t.count());
        uint32_t bad = 0;
        for (size_t i = 0; i < n; ++i) bad |= static_cast<uint32_t>(static_cast<uint32_t>(indexes[i]) >= count);
        if (bad) throw ArgumentError("table index out of range");
    }
    failed_ = true;  // cleared on success: a half-done call leaves the lanes in an unknown state
    if (lanes_ == kMaxLanes)
        indexes ? run<kMaxLanes, false>(t, indexes, n, out) : run<kMaxLanes, true>(t, indexes, n, out);
    else
        indexes ? run<1, false>(t, indexes, n, out) : run<1, true>(t, indexes, n, out);
    failed_ = false;
}

void RansDecoder::decode_rows(const int32_t* cdf, size_t width, size_t n, int precision, int32_t* out) {
    if (failed_) throw FormatError("rANS decoder stopped at an earlier error");
    if (n == 0) return;
    if (precision < 1 || precision > kMaxPrecision) throw ArgumentError("CDF precision outside 1..16");
    if (width < 2) throw ArgumentError("CDF rows need at least two entries");
    const int32_t total = int32_t{1} << precision;
    for (size_t i = 0; i < n; ++i) {
        const int32_t* r = cdf + i * width;
        if (r[0] != 0 || r[width - 1] != total) throw ArgumentError("CDF rows must start at 0 and end at 2**precision");
    }
    failed_ = true;  // cleared on success, as in decode()
    const uint32_t mask = static_cast<uint32_t>(total) - 1;
    const uint8_t* w = words_ + 4 * word_pos_;
    const uint8_t* const wend = words_ + 4 * word_count_;
    for (size_t i = 0; i < n; ++i, lane_ = (lane_ + 1) % lanes_) {
        const int32_t* r = cdf + i * width;
        uint64_t& x = state_[lane_];
        const uint32_t slot = static_cast<uint32_t>(x) & mask;
        // Largest s with r[s] <= slot; r[0] = 0 <= slot < r[width - 1] keeps s inside the row.
        size_t lo = 0, hi = width - 1;
        while (hi - lo > 1) {
            const size_t mid = (lo + hi) / 2;
            if (static_cast<uint32_t>(r[mid]) <= slot) lo = mid; else hi = mid;
        }
        const uint32_t start = static_cast<uint32_t>(r[lo]);
        const uint32_t freq = static_cast<uint32_t>(r[lo + 1]) - start;
        if (freq == 0 || freq > static_cast<uint32_t>(total)) throw ArgumentError("CDF rows must be increasing");
        x = static_cast<uint64_t>(freq) * (x >> precision) + (slot - start);
        if (x < kRansLow) {
            if (w == wend) throw FormatError("rANS stream is truncated");
            x = (x << 32) | load_le32(w);
            w += 4;
        }
        out[i] = static_cast<int32_t>(lo);
    }
    word_pos_ = static_cast<size_t>(w - words_) / 4;
    failed_ = false;
}

}  // namespace rcodec
