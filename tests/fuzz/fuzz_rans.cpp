// libFuzzer harness for the native rANS layer (see README.md in this folder for the build and run commands).
//
// The first input bytes choose a table set (always a valid one: frequencies are derived, not read raw) and a
// mode. Mode 0 decodes the rest of the input as a hostile stream, call by call. Mode 1 encodes values taken from
// the input, checks the round trip, then damages the stream at input-chosen places and decodes it again.
// Decoding may only succeed or throw FormatError; anything else (a crash, a sanitizer report, another exception,
// a wrong round trip) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

#include "errors.hpp"
#include "rans.hpp"
#include "varint.hpp"

using namespace rcodec;

namespace {

class Input {
public:
    Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
    uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
    uint32_t u32() { return byte() | byte() << 8 | byte() << 16 | static_cast<uint32_t>(byte()) << 24; }
    const uint8_t* rest() const { return p_; }
    size_t left() const { return static_cast<size_t>(end_ - p_); }
    void skip(size_t n) { p_ += n < left() ? n : left(); }

private:
    const uint8_t* p_;
    const uint8_t* end_;
};

int32_t pick_offset(Input& in) {
    switch (in.byte() % 4) {
        case 0: return 0;
        case 1: return -static_cast<int32_t>(in.byte());
        case 2: return std::numeric_limits<int32_t>::max() - in.byte();
        default: return static_cast<int32_t>(in.u32());
    }
}

std::shared_ptr<RansTables> make_tables(Input& in) {
    const int precision = 1 + in.byte() % 16;
    const bool escape = in.byte() & 1;
    const int count = 1 + in.byte() % 4;
    const int total = 1 << precision;
    const int max_len = total < 48 ? total : 48;
    std::vector<int> lengths(count);
    int width = 2;
    for (int& len : lengths) {
        len = 1 + in.byte() % max_len;
        if (escape && len < 2) len = 2;
        if (escape && len > total) len = total;
        width = len + 1 > width ? len + 1 : width;
    }
    std::vector<int32_t> cdf(static_cast<size_t>(count) * width, total), lens(lengths.begin(), lengths.end()),
        offsets(count);
    for (int t = 0; t < count; ++t) {
        // Cut [0, total) at len - 1 distinct points chosen from the input: every frequency is >= 1.
        int32_t* row = cdf.data() + static_cast<size_t>(t) * width;
        row[0] = 0;
        const int len = lengths[t];
        for (int s = 1; s < len; ++s) {
            const int room = total - (len - s) - row[s - 1];  // keep space for the remaining symbols
            row[s] = row[s - 1] + 1 + static_cast<int>(in.u32() % static_cast<uint32_t>(room));
        }
        row[len] = total;
        offsets[t] = pick_offset(in);
    }
    return std::make_shared<RansTables>(cdf.data(), count, width, lens.data(), offsets.data(), precision, escape);
}

void decode_hostile(const RansTables& tables, Input& in) {
    const int calls = 1 + in.byte() % 4;
    std::vector<std::pair<size_t, bool>> plan;
    for (int c = 0; c < calls; ++c) plan.emplace_back(in.byte() * 9u, in.byte() & 1);
    RansDecoder decoder(in.rest(), in.left());
    std::vector<int32_t> indexes, out;
    for (const auto& [n, indexed] : plan) {
        indexes.resize(n);
        for (size_t i = 0; i < n; ++i) indexes[i] = static_cast<int32_t>(i * 7 % tables.count());
        out.assign(n, 0);
        decoder.decode(tables, indexed ? indexes.data() : nullptr, n, out.data());
    }
    (void)decoder.exhausted();
}

void round_trip(const std::shared_ptr<RansTables>& tables, Input& in) {
    const int calls = 1 + in.byte() % 3;
    std::vector<std::vector<int32_t>> values(calls), indexes(calls);
    RansEncoder encoder;
    for (int c = 0; c < calls; ++c) {
        const size_t n = in.byte() * 3u;
        for (size_t i = 0; i < n; ++i) {
            const int t = in.byte() % tables->count();
            int32_t v;
            if (in.byte() < 16)
                v = static_cast<int32_t>(in.u32());  // often outside the table: escape or refusal
            else
                v = tables->offset(t) + static_cast<int32_t>(in.byte() % tables->plain(t));
            // Drop values the encoder would refuse, so the stream still has content.
            const int64_t s = static_cast<int64_t>(v) - tables->offset(t);
            if (!tables->escape() && (s < 0 || s >= tables->plain(t))) continue;
            indexes[c].push_back(t);
            values[c].push_back(v);
        }
        encoder.push(tables, values[c].data(), indexes[c].data(), values[c].size());
    }
    std::vector<uint8_t> stream = encoder.finish();
    {
        RansDecoder decoder(stream.data(), stream.size());
        for (int c = 0; c < calls; ++c) {
            std::vector<int32_t> out(values[c].size());
            decoder.decode(*tables, indexes[c].data(), out.size(), out.data());
            if (out != values[c]) std::abort();
        }
        if (!decoder.exhausted()) std::abort();
    }
    // Damage: flip input-chosen bytes, or cut the stream short, then decode again.
    const int flips = in.byte() % 4;
    for (int f = 0; f < flips && !stream.empty(); ++f)
        stream[in.u32() % stream.size()] ^= static_cast<uint8_t>(1 + in.byte() % 255);
    if (in.byte() & 1 && !stream.empty()) stream.resize(in.u32() % stream.size());
    RansDecoder decoder(stream.data(), stream.size());
    for (int c = 0; c < calls; ++c) {
        std::vector<int32_t> out(values[c].size());
        decoder.decode(*tables, indexes[c].data(), out.size(), out.data());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Input in(data, size);
    try {
        const uint8_t mode = in.byte();
        std::shared_ptr<RansTables> tables = make_tables(in);
        if (mode % 3 == 0) {
            round_trip(tables, in);
        } else if (mode % 3 == 1) {
            decode_hostile(*tables, in);
        } else {
            const uint8_t* p = in.rest();
            while (p < in.rest() + in.left()) (void)varint_read(p, in.rest() + in.left());
        }
    } catch (const FormatError&) {
        // The only acceptable failure of damaged input.
    }
    return 0;
}
