#include "format.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace jpegcm {

const int kZigzag[64] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
                         41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
                         30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

namespace {

constexpr int kMaxCorrectionBits = 1000 - 64 + 1;  // libjpeg flushes buffered refinement bits beyond this

struct Huffman {
    bool defined = false;
    uint16_t code[256] = {};
    uint8_t size[256] = {};  // 0: symbol not in the table
    int32_t maxcode[18] = {};
    int32_t valoffset[17] = {};
    uint8_t values[256] = {};
};

struct Scan {
    int ns = 0;
    int comp[4] = {};
    int td[4] = {}, ta[4] = {};
    int ss = 0, se = 63, ah = 0, al = 0;
};

class BitReader {
public:
    BitReader(const uint8_t* d, size_t pos, size_t end) : d_(d), pos_(pos), end_(end) {}

    int bit() {
        if (nbits_ == 0) {
            if (pos_ >= end_) throw Unsupported("scan data ends early");
            uint8_t b = d_[pos_++];
            if (b == 0xFF) {
                if (pos_ < end_ && d_[pos_] == 0) {
                    pos_++;
                } else {
                    throw Unsupported("marker inside scan data");
                }
            }
            acc_ = b;
            nbits_ = 8;
        }
        nbits_--;
        return (acc_ >> nbits_) & 1;
    }

    int bits(int n) {
        int v = 0;
        while (n--) v = (v << 1) | bit();
        return v;
    }

    void restart(int n) {
        nbits_ = 0;
        if (pos_ + 2 > end_ || d_[pos_] != 0xFF || d_[pos_ + 1] != 0xD0 + n)
            throw Unsupported("restart marker missing or out of sequence");
        pos_ += 2;
    }

    int decode(const Huffman& h) {
        int code = bit();
        int len = 1;
        while (code > h.maxcode[len]) {
            if (++len > 16) throw Unsupported("invalid Huffman code");
            code = (code << 1) | bit();
        }
        int index = code + h.valoffset[len];
        if (index < 0 || index > 255) throw Unsupported("invalid Huffman code");
        return h.values[index];
    }

private:
    const uint8_t* d_;
    size_t pos_, end_;
    int acc_ = 0, nbits_ = 0;
};

class BitWriter {
public:
    explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}

    void put(uint32_t bits, int len) {
        if (len == 0) return;
        acc_ = (acc_ << len) | (bits & ((1u << len) - 1));
        n_ += len;
        while (n_ >= 8) {
            uint8_t b = uint8_t(acc_ >> (n_ - 8));
            out_.push_back(b);
            if (b == 0xFF) out_.push_back(0);
            n_ -= 8;
        }
        acc_ &= (uint64_t(1) << n_) - 1;
    }

    void emit(const Huffman& h, int symbol) {
        if (h.size[symbol] == 0) throw Corrupt("symbol missing from the Huffman table");
        put(h.code[symbol], h.size[symbol]);
    }

    void flush() {
        if (n_) put(0x7F, 8 - n_);  // pad with 1 bits, as libjpeg does
    }

    void marker(int m) {
        out_.push_back(0xFF);
        out_.push_back(uint8_t(m));
    }

private:
    std::vector<uint8_t>& out_;
    uint64_t acc_ = 0;
    int n_ = 0;
};

int extend(int v, int s) { return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v; }

int16_t checked(int v) {
    if (v < -32768 || v > 32767) throw Unsupported("coefficient out of range");
    return int16_t(v);
}

enum class Mode { kParse, kGeometry, kRebuild };

class Walker {
public:
    Walker(Mode mode, const uint8_t* d, size_t n, size_t file_size, Frame& frame, std::vector<uint8_t>& out)
        : mode_(mode), d_(d), n_(n), file_size_(file_size), frame_(frame), out_(out) {}

    void run() {
        if (n_ < 2 || d_[0] != 0xFF || d_[1] != 0xD8) fail("not a JPEG file (no SOI marker)");
        copy(0, 2);
        size_t pos = 2;
        for (;;) {
            if (pos >= n_) fail("no EOI marker");
            if (d_[pos] != 0xFF) fail("unexpected bytes between segments");
            size_t start = pos;
            while (pos < n_ && d_[pos] == 0xFF) pos++;
            if (pos >= n_) fail("no EOI marker");
            int m = d_[pos++];
            copy(start, pos);
            if (m == 0xD9) {
                if (!seen_scan_) fail("no scan before EOI");
                copy(pos, n_);  // data after EOI, kept verbatim
                return;
            }
            if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) fail("unexpected marker");
            if (pos + 2 > n_) fail("truncated segment");
            size_t len = (size_t(d_[pos]) << 8) | d_[pos + 1];
            if (len < 2 || pos + len > n_) fail("segment overruns the file");
            copy(pos, pos + len);
            const uint8_t* p = d_ + pos + 2;
            pos += len;
            segment(m, p, len - 2);
            if (m == 0xDA) {
                if (mode_ == Mode::kGeometry) return;
                if (mode_ == Mode::kParse) {
                    size_t end = pos;
                    while (end + 1 < n_ &&
                           !(d_[end] == 0xFF && d_[end + 1] != 0 && !(d_[end + 1] >= 0xD0 && d_[end + 1] <= 0xD7)))
                        end++;
                    if (end + 1 >= n_) fail("scan data runs to the end of the file");
                    decode_scan(pos, end);
                    pos = end;
                } else {
                    encode_scan();
                }
            }
        }
    }

private:
    [[noreturn]] void fail(const std::string& msg) {
        if (mode_ == Mode::kParse) throw Unsupported(msg);
        throw Corrupt(msg);
    }

    void copy(size_t a, size_t b) { out_.insert(out_.end(), d_ + a, d_ + b); }

    void segment(int m, const uint8_t* p, size_t len) {
        if (m == 0xC4) {
            huffman(p, len);
        } else if (m == 0xDB) {
            quant(p, len);
        } else if (m == 0xDD) {
            if (len != 2) fail("bad DRI segment");
            restart_ = (p[0] << 8) | p[1];
        } else if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
            frame(m, p, len);
        } else if ((m >= 0xC3 && m <= 0xCF) || m == 0xDC || m == 0xDE || m == 0xDF) {
            fail("arithmetic-coded, lossless, hierarchical or DNL JPEG");
        } else if (m == 0xDA) {
            scan_header(p, len);
        }
        // APPn, COM and other segments carry nothing the scans depend on: they stay in the skeleton.
    }

    void huffman(const uint8_t* p, size_t len) {
        size_t i = 0;
        while (i < len) {
            if (i + 17 > len) fail("bad DHT segment");
            int tc = p[i] >> 4, th = p[i] & 15;
            if (tc > 1 || th > 3) fail("bad DHT table id");
            Huffman& h = tc ? ac_[th] : dc_[th];
            h = Huffman();
            int counts[17] = {};
            int total = 0;
            for (int l = 1; l <= 16; l++) total += counts[l] = p[i + l];
            i += 17;
            if (total > 256 || i + total > len) fail("bad DHT segment");
            std::memcpy(h.values, p + i, total);
            i += total;
            int k = 0;
            int32_t code = 0;
            for (int l = 1; l <= 16; l++) {
                if (counts[l]) {
                    h.valoffset[l] = k - code;
                    for (int c = 0; c < counts[l]; c++, k++, code++) {
                        h.code[h.values[k]] = uint16_t(code);
                        h.size[h.values[k]] = uint8_t(l);
                    }
                    h.maxcode[l] = code - 1;
                } else {
                    h.maxcode[l] = -1;
                }
                if (code > (1 << l)) fail("Huffman table overfull");
                code <<= 1;
            }
            h.maxcode[17] = 0x7FFFFFFF;
            h.defined = true;
        }
    }

    void quant(const uint8_t* p, size_t len) {
        size_t i = 0;
        while (i < len) {
            int pq = p[i] >> 4, tq = p[i] & 15;
            if (pq > 1 || tq > 3) fail("bad DQT segment");
            i++;
            if (i + 64 * (pq + 1) > len) fail("bad DQT segment");
            for (int k = 0; k < 64; k++) q_[tq][k] = pq ? uint16_t((p[i + 2 * k] << 8) | p[i + 2 * k + 1]) : p[i + k];
            i += 64 * (pq + 1);
        }
    }

    void frame(int m, const uint8_t* p, size_t len) {
        if (have_frame_) fail("more than one frame");
        have_frame_ = true;
        if (len < 6) fail("bad SOF segment");
        int precision = p[0], height = (p[1] << 8) | p[2], width = (p[3] << 8) | p[4], nf = p[5];
        if (precision != 8) fail("not an 8-bit JPEG");
        if (height == 0 || width == 0) fail("image size missing (DNL) or zero");
        if (nf < 1 || nf > 4 || len != size_t(6 + 3 * nf)) fail("bad SOF segment");
        Frame f;
        f.progressive = m == 0xC2;
        f.width = width;
        f.height = height;
        for (int c = 0; c < nf; c++) {
            Component comp;
            comp.id = p[6 + 3 * c];
            comp.h = p[7 + 3 * c] >> 4;
            comp.v = p[7 + 3 * c] & 15;
            comp.tq = p[8 + 3 * c];
            if (comp.h < 1 || comp.h > 4 || comp.v < 1 || comp.v > 4 || comp.tq > 3) fail("bad SOF component");
            for (const Component& other : f.comps)
                if (other.id == comp.id) fail("duplicate component id");
            f.hmax = std::max(f.hmax, comp.h);
            f.vmax = std::max(f.vmax, comp.v);
            f.comps.push_back(comp);
        }
        f.mcux = (width + 8 * f.hmax - 1) / (8 * f.hmax);
        f.mcuy = (height + 8 * f.vmax - 1) / (8 * f.vmax);
        int64_t total = 0;
        for (Component& c : f.comps) {
            c.bw = f.mcux * c.h;
            c.bh = f.mcuy * c.v;
            c.cw = int((int64_t(width) * c.h + f.hmax - 1) / f.hmax + 7) / 8;
            c.ch = int((int64_t(height) * c.v + f.vmax - 1) / f.vmax + 7) / 8;
            total += int64_t(c.bw) * c.bh;
        }
        if (total > kMaxTotalBlocks) fail("image too large");
        if (total > kBlocksPerByte * int64_t(file_size_) + 4096) fail("more blocks than the file can hold");
        total_blocks_ = total;
        if (mode_ == Mode::kRebuild) {
            if (f.width != frame_.width || f.height != frame_.height || f.comps.size() != frame_.comps.size())
                fail("frame differs from the coefficients");
            return;  // the coefficients are already in place
        }
        for (Component& c : f.comps) c.coef.assign(size_t(c.bw) * c.bh * 64, 0);
        frame_ = std::move(f);
    }

    void scan_header(const uint8_t* p, size_t len) {
        if (!have_frame_) fail("scan before frame");
        if (len < 1) fail("bad SOS segment");
        Scan s;
        s.ns = p[0];
        if (s.ns < 1 || s.ns > 4 || len != size_t(1 + 2 * s.ns + 3)) fail("bad SOS segment");
        int blocks = 0;
        for (int j = 0; j < s.ns; j++) {
            int id = p[1 + 2 * j];
            int found = -1;
            for (size_t c = 0; c < frame_.comps.size(); c++)
                if (frame_.comps[c].id == id) found = int(c);
            if (found < 0) fail("scan names an unknown component");
            for (int k = 0; k < j; k++)
                if (s.comp[k] == found) fail("scan names a component twice");
            s.comp[j] = found;
            s.td[j] = p[2 + 2 * j] >> 4;
            s.ta[j] = p[2 + 2 * j] & 15;
            if (s.td[j] > 3 || s.ta[j] > 3) fail("bad Huffman table id");
            blocks += frame_.comps[found].h * frame_.comps[found].v;
        }
        if (s.ns > 1 && blocks > 10) fail("too many blocks per MCU");
        if (s.ns == 1) {
            visits_ += int64_t(frame_.comps[s.comp[0]].cw) * frame_.comps[s.comp[0]].ch;
        } else {
            visits_ += int64_t(frame_.mcux) * frame_.mcuy * blocks;
        }
        if (visits_ > kMaxVisitsPerBlock * total_blocks_) fail("too many scans");
        const uint8_t* t = p + 1 + 2 * s.ns;
        s.ss = t[0];
        s.se = t[1];
        s.ah = t[2] >> 4;
        s.al = t[2] & 15;
        if (!frame_.progressive) {
            if (s.ss != 0 || s.se != 63 || s.ah != 0 || s.al != 0) fail("bad sequential scan parameters");
        } else {
            if (s.al > 13 || s.ah > 13) fail("bad successive approximation");
            if (s.ss == 0 && s.se != 0) fail("progressive scan mixes DC and AC");
            if (s.ss > 0 && (s.ns != 1 || s.se < s.ss || s.se > 63)) fail("bad progressive AC scan");
        }
        for (int j = 0; j < s.ns; j++) {
            bool need_dc = s.ss == 0 && s.ah == 0, need_ac = s.se > 0;
            if ((need_dc && !dc_[s.td[j]].defined) || (need_ac && !ac_[s.ta[j]].defined))
                fail("scan uses an undefined Huffman table");
        }
        if (!seen_scan_ && mode_ != Mode::kRebuild) {
            for (size_t c = 0; c < frame_.comps.size(); c++)
                std::memcpy(frame_.quant[c], q_[frame_.comps[c].tq], sizeof(frame_.quant[c]));
        }
        seen_scan_ = true;
        scan_ = s;
    }

    // Visit the scan's blocks in coding order; `on_restart(n)` between restart intervals.
    template <class Block, class Restart>
    void iterate(Block&& on_block, Restart&& on_restart) {
        const Scan& s = scan_;
        int64_t total;
        if (s.ns == 1) {
            const Component& c = frame_.comps[s.comp[0]];
            total = int64_t(c.cw) * c.ch;
        } else {
            total = int64_t(frame_.mcux) * frame_.mcuy;
        }
        int rst = 0;
        for (int64_t m = 0; m < total; m++) {
            if (out_.size() > max_out_) fail("rebuilt file larger than the original");
            if (restart_ && m > 0 && m % restart_ == 0) {
                on_restart(rst);
                rst = (rst + 1) & 7;
            }
            if (s.ns == 1) {
                Component& c = frame_.comps[s.comp[0]];
                on_block(0, c.coef.data() + ((m / c.cw) * c.bw + m % c.cw) * 64);
            } else {
                int64_t mx = m % frame_.mcux, my = m / frame_.mcux;
                for (int j = 0; j < s.ns; j++) {
                    Component& c = frame_.comps[s.comp[j]];
                    for (int y = 0; y < c.v; y++)
                        for (int x = 0; x < c.h; x++)
                            on_block(j, c.coef.data() + ((my * c.v + y) * c.bw + mx * c.h + x) * 64);
                }
            }
        }
    }

    void decode_scan(size_t start, size_t end) {
        const Scan& s = scan_;
        BitReader br(d_, start, end);
        int pred[4] = {};
        int eobrun = 0;
        auto on_restart = [&](int n) {
            br.restart(n);
            std::memset(pred, 0, sizeof(pred));
            eobrun = 0;
        };
        auto dc_diff = [&](const Huffman& h) {
            int sz = br.decode(h);
            if (sz > 16) throw Unsupported("bad DC size");
            return sz ? extend(br.bits(sz), sz) : 0;
        };
        if (!frame_.progressive) {
            iterate(
                [&](int j, int16_t* b) {
                    pred[j] += dc_diff(dc_[s.td[j]]);
                    b[0] = checked(pred[j]);
                    const Huffman& h = ac_[s.ta[j]];
                    for (int k = 1; k < 64; k++) {
                        int rs = br.decode(h), r = rs >> 4, sz = rs & 15;
                        if (sz) {
                            k += r;
                            if (k > 63) throw Unsupported("coefficient index past 63");
                            b[k] = checked(extend(br.bits(sz), sz));
                        } else if (r == 15) {
                            k += 15;
                        } else {
                            break;
                        }
                    }
                },
                on_restart);
        } else if (s.ss == 0 && s.ah == 0) {
            iterate(
                [&](int j, int16_t* b) {
                    pred[j] += dc_diff(dc_[s.td[j]]);
                    if (pred[j] < -32768 || pred[j] > 32767) throw Unsupported("DC out of range");
                    b[0] = checked(pred[j] * (1 << s.al));
                },
                on_restart);
        } else if (s.ss == 0) {
            iterate([&](int, int16_t* b) { b[0] = int16_t(b[0] | (br.bit() << s.al)); }, on_restart);
        } else if (s.ah == 0) {
            const Huffman& h = ac_[s.ta[0]];
            iterate(
                [&](int, int16_t* b) {
                    if (eobrun > 0) {
                        eobrun--;
                        return;
                    }
                    for (int k = s.ss; k <= s.se; k++) {
                        int rs = br.decode(h), r = rs >> 4, sz = rs & 15;
                        if (sz) {
                            k += r;
                            if (k > s.se) throw Unsupported("coefficient index past the band");
                            b[k] = checked(extend(br.bits(sz), sz) * (1 << s.al));
                        } else if (r == 15) {
                            k += 15;
                        } else {
                            eobrun = (1 << r) - 1;
                            if (r) eobrun += br.bits(r);
                            break;
                        }
                    }
                },
                on_restart);
        } else {
            const Huffman& h = ac_[s.ta[0]];
            const int p1 = 1 << s.al, m1 = -(1 << s.al);
            iterate(
                [&](int, int16_t* b) {
                    int k = s.ss;
                    auto correct = [&](int16_t& c) {
                        if (br.bit() && (c & p1) == 0) c = checked(c + (c >= 0 ? p1 : m1));
                    };
                    if (eobrun == 0) {
                        for (; k <= s.se; k++) {
                            int rs = br.decode(h), r = rs >> 4, sz = rs & 15, value = 0;
                            if (sz) {
                                if (sz != 1) throw Unsupported("bad refinement symbol");
                                value = br.bit() ? p1 : m1;
                            } else if (r != 15) {
                                eobrun = 1 << r;
                                if (r) eobrun += br.bits(r);
                                break;
                            }
                            do {
                                int16_t& c = b[k];
                                if (c != 0) {
                                    correct(c);
                                } else {
                                    if (--r < 0) break;
                                }
                                k++;
                            } while (k <= s.se);
                            if (value) {
                                if (k > s.se) throw Unsupported("coefficient index past the band");
                                b[k] = int16_t(value);
                            }
                        }
                    }
                    if (eobrun > 0) {
                        for (; k <= s.se; k++)
                            if (b[k] != 0) correct(b[k]);
                        eobrun--;
                    }
                },
                on_restart);
        }
    }

    void encode_scan() {
        const Scan& s = scan_;
        BitWriter bw(out_);
        int pred[4] = {};
        int eobrun = 0;
        std::vector<uint8_t> pending;  // correction bits held back with an EOB run (refinement scans)
        const Huffman& ach = ac_[s.ta[0]];
        auto emit_eobrun = [&]() {
            if (eobrun > 0) {
                int nb = bit_length(eobrun) - 1;
                bw.emit(ach, nb << 4);
                bw.put(uint32_t(eobrun), nb);
                eobrun = 0;
                for (uint8_t bit : pending) bw.put(bit, 1);
                pending.clear();
            }
        };
        auto on_restart = [&](int n) {
            if (frame_.progressive && s.ss > 0) emit_eobrun();
            bw.flush();
            bw.marker(0xD0 + n);
            std::memset(pred, 0, sizeof(pred));
            eobrun = 0;
            pending.clear();
        };
        auto emit_value = [&](const Huffman& h, int run, int v, int max_bits) {
            int a = v < 0 ? -v : v, nb = bit_length(a);
            if (nb > max_bits) throw Corrupt("coefficient too large");
            bw.emit(h, (run << 4) + nb);
            bw.put(uint32_t(v < 0 ? v - 1 : v), nb);
        };
        if (!frame_.progressive) {
            iterate(
                [&](int j, int16_t* b) {
                    emit_value(dc_[s.td[j]], 0, b[0] - pred[j], 16);
                    pred[j] = b[0];
                    const Huffman& h = ac_[s.ta[j]];
                    int r = 0;
                    for (int k = 1; k < 64; k++) {
                        if (b[k] == 0) {
                            r++;
                            continue;
                        }
                        for (; r > 15; r -= 16) bw.emit(h, 0xF0);
                        emit_value(h, r, b[k], 15);
                        r = 0;
                    }
                    if (r > 0) bw.emit(h, 0x00);
                },
                on_restart);
        } else if (s.ss == 0 && s.ah == 0) {
            iterate(
                [&](int j, int16_t* b) {
                    int v = b[0] >> s.al;  // arithmetic shift, as libjpeg's IRIGHT_SHIFT
                    emit_value(dc_[s.td[j]], 0, v - pred[j], 16);
                    pred[j] = v;
                },
                on_restart);
        } else if (s.ss == 0) {
            iterate([&](int, int16_t* b) { bw.put(uint32_t(b[0] >> s.al) & 1, 1); }, on_restart);
        } else if (s.ah == 0) {
            iterate(
                [&](int, int16_t* b) {
                    int r = 0;
                    for (int k = s.ss; k <= s.se; k++) {
                        int v = b[k];
                        int a = (v < 0 ? -v : v) >> s.al;
                        if (a == 0) {
                            r++;
                            continue;
                        }
                        emit_eobrun();
                        for (; r > 15; r -= 16) bw.emit(ach, 0xF0);
                        emit_value(ach, r, v < 0 ? -a : a, 15);
                        r = 0;
                    }
                    if (r > 0 && ++eobrun == 0x7FFF) emit_eobrun();
                },
                on_restart);
        } else {
            std::vector<uint8_t> held;  // this block's correction bits not yet sent
            iterate(
                [&](int, int16_t* b) {
                    int absval[64];
                    int eob = 0;
                    for (int k = s.ss; k <= s.se; k++) {
                        int v = b[k];
                        absval[k] = (v < 0 ? -v : v) >> s.al;
                        if (absval[k] == 1) eob = k;
                    }
                    int r = 0;
                    held.clear();
                    for (int k = s.ss; k <= s.se; k++) {
                        int a = absval[k];
                        if (a == 0) {
                            r++;
                            continue;
                        }
                        while (r > 15 && k <= eob) {
                            emit_eobrun();
                            bw.emit(ach, 0xF0);
                            r -= 16;
                            for (uint8_t bit : held) bw.put(bit, 1);
                            held.clear();
                        }
                        if (a > 1) {
                            held.push_back(uint8_t(a & 1));
                            continue;
                        }
                        emit_eobrun();
                        bw.emit(ach, (r << 4) + 1);
                        bw.put(b[k] < 0 ? 0 : 1, 1);
                        for (uint8_t bit : held) bw.put(bit, 1);
                        held.clear();
                        r = 0;
                    }
                    if (r > 0 || !held.empty()) {
                        eobrun++;
                        pending.insert(pending.end(), held.begin(), held.end());
                        if (eobrun == 0x7FFF || int(pending.size()) > kMaxCorrectionBits) emit_eobrun();
                    }
                },
                on_restart);
        }
        if (frame_.progressive && s.ss > 0) emit_eobrun();
        bw.flush();
    }

public:
    size_t max_out_ = SIZE_MAX;

private:
    Mode mode_;
    const uint8_t* d_;
    size_t n_, file_size_;
    int64_t total_blocks_ = 0, visits_ = 0;
    Frame& frame_;
    std::vector<uint8_t>& out_;
    Huffman dc_[4], ac_[4];
    uint16_t q_[4][64] = {};
    int restart_ = 0;
    bool have_frame_ = false, seen_scan_ = false;
    Scan scan_;
};

}  // namespace

void parse(const uint8_t* data, size_t size, Frame& frame, std::vector<uint8_t>& skeleton) {
    skeleton.clear();
    Walker(Mode::kParse, data, size, size, frame, skeleton).run();
}

void read_frame(const uint8_t* skel, size_t size, size_t file_size, Frame& frame) {
    std::vector<uint8_t> ignored;
    Walker(Mode::kGeometry, skel, size, file_size, frame, ignored).run();
    if (frame.comps.empty()) throw Corrupt("no frame in the skeleton");
}

std::vector<uint8_t> rebuild(const uint8_t* skel, size_t size, const Frame& frame, size_t max_size) {
    std::vector<uint8_t> out;
    out.reserve(std::min(max_size, size_t(1) << 26));
    // The walker only reads the coefficients when rebuilding.
    Walker walker(Mode::kRebuild, skel, size, max_size, const_cast<Frame&>(frame), out);
    walker.max_out_ = max_size;
    walker.run();
    if (out.size() > max_size) throw Corrupt("rebuilt file larger than the original");
    return out;
}

}  // namespace jpegcm
