#include "model.hpp"

#include <algorithm>
#include <cstring>

namespace jpegcm {
namespace {

// --- logistic mixing in fixed point (12-bit probabilities, stretch in 1/256 units) ------------------------------

int squash(int d) {  // 4096 / (1 + exp(-d / 256)), by interpolation in an integer table
    static const int t[33] = {1,    2,    3,    6,    10,   16,   27,   45,   73,   120,  194,
                              310,  488,  747,  1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785,
                              3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};
    if (d > 2047) return 4095;
    if (d < -2047) return 1;
    int w = d & 127, i = (d >> 7) + 16;
    return (t[i] * (128 - w) + t[i + 1] * w + 64) >> 7;
}

struct Tables {
    int16_t stretch[4096];
    int32_t rate[256];
    Tables() {
        int pi = 0;
        for (int x = -2047; x <= 2047; x++) {
            int v = squash(x);
            for (int i = pi; i <= v; i++) stretch[i] = int16_t(x);
            pi = v + 1;
        }
        for (int i = pi; i < 4096; i++) stretch[i] = 2047;
        for (int n = 0; n < 256; n++) rate[n] = (65536 * 2) / (2 * n + 3);  // 1 / (n + 1.5)
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

// An adaptive probability (of a 1 bit, 16 bits) that learns fast at first and settles as it sees more.
struct Counter {
    uint16_t p = 32768;
    uint8_t n = 0;
};

constexpr int kCounterLimit = 255;
constexpr int kMixerShift = 14;
constexpr int kMixerRate = 10;

// --- binary arithmetic coder (carry-less range coder, 32-bit state) ----------------------------------------------

class BinaryCoder {
public:
    explicit BinaryCoder(std::vector<uint8_t>* out) : out_(out) {}
    BinaryCoder(const uint8_t* d, size_t n) : in_(d), n_(n) {
        for (int i = 0; i < 4; i++) x_ = (x_ << 8) | next();
    }

    bool decoding() const { return out_ == nullptr; }

    // p: probability of a 1 in 1/4096 units, 1..4095.
    int code(int bit, int p) {
        uint32_t mid = x1_ + uint32_t((uint64_t(x2_ - x1_) * uint32_t(p)) >> 12);
        if (out_ == nullptr) bit = x_ <= mid;
        if (bit)
            x2_ = mid;
        else
            x1_ = mid + 1;
        while (((x1_ ^ x2_) & 0xFF000000u) == 0) {
            if (out_)
                out_->push_back(uint8_t(x2_ >> 24));
            else
                x_ = (x_ << 8) | next();
            x1_ <<= 8;
            x2_ = (x2_ << 8) | 255;
        }
        return bit;
    }

    void flush() {
        for (int i = 0; i < 4; i++) {
            out_->push_back(uint8_t(x1_ >> 24));
            x1_ <<= 8;
        }
    }

private:
    uint32_t next() { return pos_ < n_ ? in_[pos_++] : 0; }

    std::vector<uint8_t>* out_ = nullptr;
    const uint8_t* in_ = nullptr;
    size_t n_ = 0, pos_ = 0;
    uint32_t x1_ = 0, x2_ = 0xFFFFFFFFu, x_ = 0;
};

// --- context buckets ---------------------------------------------------------------------------------------------

// 0..15: exact below 4, then two buckets per octave.
int bucket16(int x) {
    if (x < 4) return x;
    int b = bit_length(x);
    return std::min(2 * b - 2 + ((x >> (b - 2)) & 1), 15);
}

// Counts of nonzeros (0..63) in 14 buckets.
const uint8_t kNnzBucket[64] = {0,  1,  2,  3,  4,  4,  5,  5,  6,  6,  6,  7,  7,  7,  7,  8,
                                8,  8,  8,  8,  9,  9,  9,  9,  9,  9,  10, 10, 10, 10, 10, 10,
                                10, 11, 11, 11, 11, 11, 11, 11, 11, 12, 12, 12, 12, 12, 12, 12,
                                12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13};
constexpr int kNnzBuckets = 15;  // 14 plus "no neighbour"

// Zigzag positions of the interior (rows and columns 1-7), in zigzag order, and of the first row and column,
// interleaved by frequency.
const int kInterior[49] = {4,  7,  8,  11, 12, 13, 16, 17, 18, 19, 22, 23, 24, 25, 26, 29, 30,
                           31, 32, 33, 34, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
                           49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};
const int kEdge[14] = {1, 2, 5, 3, 6, 9, 14, 10, 15, 20, 27, 21, 28, 35};

// Zigzag positions in 10 bands.
int zband(int z) {
    static const uint8_t b[64] = {0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 6,
                                  6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8,
                                  8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    return b[z];
}

int sign3(int v) { return v > 0 ? 1 : v < 0 ? 2 : 0; }

int iabs(int v) { return v < 0 ? -v : v; }

// --- the model ---------------------------------------------------------------------------------------------------

struct Family {
    std::vector<Counter> c;
    explicit Family(size_t n) : c(n) {}
    Counter& operator[](size_t i) { return c[i]; }
};

constexpr int kMaxInputs = 7;

// Adaptive probability map: refines a probability in a small context by interpolating between 33 learned
// points along the stretched axis.
struct Apm {
    std::vector<int32_t> t;
    size_t index = 0;
    explicit Apm(size_t contexts) : t(contexts * 33) {
        for (size_t c = 0; c < contexts; c++)
            for (int j = 0; j < 33; j++) t[c * 33 + j] = squash((j - 16) * 128) * 16;
    }
    int refine(int p, size_t cx, const int16_t* stretch) {
        int s = stretch[p] + 2048, lo = s >> 7, w = s & 127;
        size_t base = cx * 33 + lo;
        index = base + (w >> 6);
        return (t[base] * (128 - w) + t[base + 1] * w) >> 11;
    }
    void update(int y) { t[index] += ((y << 16) - t[index]) >> kApmRate; }
    static constexpr int kApmRate = 7;
};

struct Weights {
    std::vector<int32_t> w;
    explicit Weights(size_t sets, int inputs = 3) : w(sets * (kMaxInputs + 1), 0) {
        for (size_t i = 0; i < sets; i++)
            for (int k = 0; k < inputs; k++) w[(kMaxInputs + 1) * i + k] = 60000 / inputs;
    }
    int32_t* operator[](size_t i) { return &w[(kMaxInputs + 1) * i]; }
};

class Model {
public:
    explicit Model(BinaryCoder& coder) : coder_(coder), t_(tables()) {}

    void run(Frame& f) {
        std::vector<std::vector<uint8_t>> nnz(f.comps.size()), edges(f.comps.size());
        std::vector<std::vector<int32_t>> resid(f.comps.size());  // DC prediction residuals
        for (size_t ci = 0; ci < f.comps.size(); ci++) {
            Component& c = f.comps[ci];
            const int cls = ci == 0 ? 0 : 1;
            nnz[ci].assign(size_t(c.bw) * c.bh, 0);
            edges[ci].assign(size_t(c.bw) * c.bh, 0);
            resid[ci].assign(size_t(c.bw) * c.bh, 0);
            for (int z = 0; z < 64; z++) q_[z] = std::max<int>(1, f.quant[ci][z]);
            int prev_resid = 0;
            for (int by = 0; by < c.bh; by++) {
                for (int bx = 0; bx < c.bw; bx++) {
                    size_t blk = size_t(by) * c.bw + bx;
                    int16_t* b = c.coef.data() + blk * 64;
                    const int16_t* above = by > 0 ? b - size_t(c.bw) * 64 : nullptr;
                    const int16_t* left = bx > 0 ? b - 64 : nullptr;
                    const int16_t* corner = above && left ? above - 64 : nullptr;
                    int na = above ? kNnzBucket[nnz[ci][blk - c.bw]] : 14;
                    int nl = left ? kNnzBucket[nnz[ci][blk - 1]] : 14;
                    int navg;
                    if (above && left)
                        navg = kNnzBucket[(nnz[ci][blk - c.bw] + nnz[ci][blk - 1] + 1) / 2];
                    else
                        navg = above ? na : left ? nl : 14;
                    int nx;
                    // The block of an earlier component at the same place: Cb for Cr when they have the same
                    // size, else the luma block at the same position.
                    ref_ = nullptr;
                    ref_resid_ = 0;
                    nx = 14;
                    if (ci > 0) {
                        size_t rc = ci >= 2 && f.comps[1].bw == c.bw && f.comps[1].bh == c.bh ? 1 : 0;
                        const Component& r = f.comps[rc];
                        int rx = int(int64_t(bx) * r.h / c.h), ry = int(int64_t(by) * r.v / c.v);
                        if (rx < r.bw && ry < r.bh) {
                            ref_ = r.coef.data() + (size_t(ry) * r.bw + rx) * 64;
                            ref_resid_ = resid[rc][size_t(ry) * r.bw + rx];
                            nx = kNnzBucket[nnz[rc][size_t(ry) * r.bw + rx]];
                        }
                    } else if (above && bx + 1 < c.bw) {
                        nx = kNnzBucket[nnz[ci][blk - c.bw + 1]];
                    }
                    ci_ = int(std::min<size_t>(ci, 3));
                    // Interior (rows and columns 1-7) first, then the first row and column, which are predicted
                    // from the neighbours' edges and this block's interior.
                    int n = 0, ne = 0;
                    if (!coder_.decoding()) {
                        for (int k = 0; k < 49; k++) n += b[kInterior[k]] != 0;
                        for (int k = 0; k < 14; k++) ne += b[kEdge[k]] != 0;
                    }
                    n = std::min(code_nnz(n, cls, navg, na, nl, nx), 49);  // more only in damaged data
                    nnz[ci][blk] = uint8_t(n);
                    code_ac(b, above, left, corner, n, cls, kInterior, 49);
                    int ea = above ? edges[ci][blk - c.bw] : 15, el = left ? edges[ci][blk - 1] : 15;
                    ne = std::min(code_edge_count(ne, cls, kNnzBucket[n], ea, el), 14);
                    edges[ci][blk] = uint8_t(ne);
                    code_ac(b, above, left, corner, ne, cls, kEdge, 14);
                    n += ne;
                    code_dc(b, above, left, corner, n, cls, prev_resid);
                    resid[ci][blk] = prev_resid;
                }
            }
        }
    }

private:
    int bit(int b, Counter& c0, Counter& c1, Counter& c2, int32_t* w) {
        Counter* cs[3] = {&c0, &c1, &c2};
        return bitn(b, cs, 3, w);
    }

    // One binary decision: the counters' stretched probabilities mixed by the weight set `w` (n + 1 weights,
    // the last for a bias input), coded, then counters and weights updated towards the outcome.
    int bitn(int b, Counter* const* cs, int n, int32_t* w, Apm* apm = nullptr, size_t apm_cx = 0) {
        int st[kMaxInputs + 1];
        int64_t dot = 0;
        for (int i = 0; i < n; i++) {
            st[i] = t_.stretch[cs[i]->p >> 4];
            dot += int64_t(w[i]) * st[i];
        }
        st[n] = 256;
        dot += int64_t(w[n]) * 256;
        int d = int(std::max<int64_t>(-2047, std::min<int64_t>(2047, dot >> 16)));
        int p = std::max(1, std::min(4095, squash(d)));
        int pc = p;
        if (apm) pc = std::max(1, std::min(4095, (p + 3 * apm->refine(p, apm_cx, t_.stretch)) >> 2));
        b = coder_.code(b, pc);
        if (apm) apm->update(b);
        int err = ((b << 12) - p) * kMixerRate;
        for (int i = 0; i <= n; i++) w[i] += (st[i] * err) >> kMixerShift;
        for (int i = 0; i < n; i++) update(*cs[i], b);
        return b;
    }

    void update(Counter& c, int b) {
        int target = b ? 65535 : 0;
        c.p = uint16_t(c.p + ((int64_t(target - c.p) * t_.rate[c.n]) >> 16));
        if (c.n < kCounterLimit) c.n++;
    }

    int code_nnz(int n, int cls, int navg, int na, int nl, int nx) {
        int node = 1;
        for (int i = 5; i >= 0; i--) {
            int b = bit((n >> i) & 1, nz0_[(cls * kNnzBuckets + navg) * 64 + node],
                        nz1_[((cls * kNnzBuckets + na) * kNnzBuckets + nl) * 64 + node],
                        nz2_[(ci_ * kNnzBuckets + nx) * 64 + node], nzw_[cls * 64 + node]);
            node = node * 2 + b;
        }
        return node - 64;
    }

    int code_edge_count(int n, int cls, int nb, int ea, int el) {
        int node = 1;
        for (int i = 3; i >= 0; i--) {
            int b = bit((n >> i) & 1, ec0_[(cls * 14 + nb) * 16 + node], ec1_[((cls * 16 + ea) * 16 + el) * 16 + node],
                        ec2_[(cls * 16 + std::min(ea, el)) * 16 + node], ecw_[cls * 16 + node]);
            node = node * 2 + b;
        }
        return node - 16;
    }

    // The first-row coefficient (0, v) (or first-column (v, 0) when `column`) that continues the neighbour's last
    // row (column) into this block, given this block's interior; x8, in quantized units.
    int64_t edge_estimate(const int16_t* b, const int16_t* nb, int v, bool column) const {
        int64_t sum = 0;
        for (int u = 0; u < 8; u++) {
            sum += kIdct[u][7] * (column ? deq(nb, v, u) : deq(nb, u, v));
            if (u) sum -= kIdct[u][0] * (column ? deq(b, v, u) : deq(b, u, v));
        }
        int z = kUnzig[column ? v * 8 : v];
        return div_round(sum * 8, int64_t(kIdct[0][0]) * q_[z]);
    }

    void code_ac(int16_t* b, const int16_t* above, const int16_t* left, const int16_t* corner, int n, int cls,
                 const int* order, int length) {
        int rem = n;
        for (int k = 0; k < length && rem > 0; k++) {
            const int z = order[k], nat = kZigzag[z], row = nat >> 3, col = nat & 7;
            const bool edge_row = row == 0, edge_col = col == 0;
            int64_t est;  // expected magnitude at this frequency, x8
            int sa = 0, sl = 0, se = 0;
            const int16_t* nb = edge_row ? above : edge_col ? left : nullptr;
            if (nb) {
                int64_t e = edge_estimate(b, nb, edge_row ? col : row, edge_col);
                est = e < 0 ? -e : e;
                sa = e > 2 ? 1 : e < -2 ? 2 : 0;
                sl = est < 8 ? 0 : est < 24 ? 1 : 2;
                se = 1 + (e < 0) * 16 + bucket16(int(std::min<int64_t>(est, 1 << 20)));
            } else if (above && left) {
                est = (13 * (iabs(above[z]) + iabs(left[z])) + 6 * iabs(corner[z])) >> 2;
            } else if (above) {
                est = 8 * iabs(above[z]);
            } else if (left) {
                est = 8 * iabs(left[z]);
            } else {
                est = 0;
            }
            if (!nb) {
                sa = above ? sign3(above[z]) : 0;
                sl = left ? sign3(left[z]) : 0;
            }
            const int mb = bucket16(int(std::min<int64_t>(est, 1 << 20)));
            // Already-coded neighbours inside the block: interior coefficients see only the interior (the edges
            // come later); edge coefficients see the interior and the earlier edge coefficients.
            int up_nat = -1, lf_nat = -1;
            if (edge_row) {
                up_nat = nat + 8;
                lf_nat = col > 1 ? nat - 1 : -1;
            } else if (edge_col) {
                up_nat = row > 1 ? nat - 8 : -1;
                lf_nat = nat + 1;
            } else {
                up_nat = row > 1 ? nat - 8 : -1;
                lf_nat = col > 1 ? nat - 1 : -1;
            }
            const int upv = up_nat >= 0 ? b[kUnzig[up_nat]] : 0, lfv = lf_nat >= 0 ? b[kUnzig[lf_nat]] : 0;
            const int ib = std::min(bucket16(iabs(upv) + iabs(lfv)), 9);
            const int rb = kNnzBucket[rem], zb = zband(z);
            const int na3 = above ? std::min(iabs(above[z]), 3) : 0, nl3 = left ? std::min(iabs(left[z]), 3) : 0;
            const int xv = ref_ ? std::min(iabs(ref_[z]), 7) : 0;
            int v = coder_.decoding() ? 0 : b[z];
            if (length - k > rem) {
                Counter* cs[6] = {&zf0_[(cls * 64 + z) * 16 + mb], &zf1_[(cls * 64 + z) * 14 + rb],
                                  &zf2_[(((cls * 10 + zb) * 16 + mb) * 10 + ib) * 14 + rb],
                                  &zf3_[((cls * 64 + z) * 4 + na3) * 4 + nl3],
                                  &zf4_[((cls * 64 + z) * 8 + std::min(bucket16(iabs(upv)), 7)) * 8 +
                                        std::min(bucket16(iabs(lfv)), 7)],
                                  &zf5_[((ci_ * 64 + z) * 8 + xv) * 16 + mb]};
                int nonzero = bitn(v != 0, cs, 6, zfw_[ci_ * 64 + z], &zfa_, (cls * 64 + z) * 14 + rb);
                if (!nonzero) continue;
            }
            int a = iabs(v), e = bit_length(a);
            int i = 1;
            for (; i < 15; i++) {
                Counter* cs[6] = {&ex0_[((cls * 64 + z) * 16 + mb) * 16 + i],
                                  &ex1_[((cls * 10 + zb) * 10 + ib) * 16 + i], &ex2_[(cls * 14 + rb) * 16 + i],
                                  &ex3_[(((cls * 10 + zb) * 4 + na3) * 4 + nl3) * 16 + i],
                                  &ex4_[((cls * 64 + z) * 10 + ib) * 16 + i],
                                  &ex5_[((ci_ * 64 + z) * 8 + xv) * 16 + i]};
                int more = bitn(e > i, cs, 6, exw_[(cls * 10 + zb) * 16 + i], &exa_, ((cls * 64 + z) * 16 + i));
                if (!more) break;
            }
            e = i;
            int m = 1;
            for (int j = e - 2; j >= 0; j--) {
                int mbit = bit((a >> j) & 1, mt0_[((cls * 64 + z) * 16 + e) * 16 + j],
                               mt1_[((cls * 16 + mb) * 16 + e) * 16 + j], mt2_[(cls * 16 + e) * 16 + j],
                               mtw_[cls * 16 + e]);
                m = (m << 1) | mbit;
            }
            const int su = sign3(upv), sf = sign3(lfv);
            Counter* sc[5] = {&sg0_[((cls * 64 + z) * 3 + sa) * 3 + sl], &sg1_[((cls * 64 + z) * 3 + su) * 3 + sf],
                              &sg2_[(cls * 64 + z) * 16 + std::min(e, 15)],
                              &sg3_[((ci_ * 64 + z) * 3 + (ref_ ? sign3(ref_[z]) : 0)) * 3 + sa],
                              &sg4_[((cls * 64 + z) * 33 + se) * 4 + std::min(e, 4) - 1]};
            int neg = bitn(v < 0, sc, 5, sgw_[(cls * 10 + zb) * 2 + (se > 0)]);
            b[z] = int16_t(neg ? -m : m);
            rem--;
        }
    }

    // Dequantized coefficient at natural position (u, v).
    int64_t deq(const int16_t* b, int u, int v) const {
        int z = kUnzig[u * 8 + v];
        return int64_t(b[z]) * q_[z];
    }

    // Pixel row i (or column i when `column`) of a block, scaled by 4 * 4096^2; without the DC when !with_dc.
    void edge(const int16_t* b, int i, bool column, bool with_dc, int64_t* px) const {
        int64_t t[8];
        for (int k = 0; k < 8; k++) {
            int64_t sum = 0;
            for (int m = 0; m < 8; m++) {
                if (!with_dc && m == 0 && k == 0) continue;
                sum += kIdct[m][i] * (column ? deq(b, k, m) : deq(b, m, k));
            }
            t[k] = sum;
        }
        for (int j = 0; j < 8; j++) {
            int64_t sum = 0;
            for (int k = 0; k < 8; k++) sum += kIdct[k][j] * t[k];
            px[j] = sum;
        }
    }

    static int64_t div_round(int64_t num, int64_t den) {
        return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
    }

    void code_dc(int16_t* b, const int16_t* above, const int16_t* left, const int16_t* corner, int n, int cls,
                 int& prev_resid) {
        (void)corner;
        // The DC that continues the neighbours' edge pixels (extrapolated by half their gradient) into this
        // block's own edge pixels (AC only, extrapolated back likewise), one estimate per edge pixel.
        int64_t d[16];
        int count = 0;
        for (int side = 0; side < 2; side++) {
            const int16_t* nb = side == 0 ? above : left;
            if (!nb) continue;
            int64_t n7[8], n6[8], b0[8], b1[8];
            edge(nb, 7, side == 1, true, n7);
            edge(nb, 6, side == 1, true, n6);
            edge(b, 0, side == 1, false, b0);
            edge(b, 1, side == 1, false, b1);
            for (int j = 0; j < 8; j++) d[count++] = (3 * n7[j] - n6[j]) - (3 * b0[j] - b1[j]);
        }
        int pred = 0, g = 16;
        if (count) {
            int64_t sum = 0, lo = d[0], hi = d[0];
            for (int k = 0; k < count; k++) {
                sum += d[k];
                lo = std::min(lo, d[k]);
                hi = std::max(hi, d[k]);
            }
            const int64_t unit = int64_t(4096) * 4096 * q_[0];
            pred = int(std::max<int64_t>(-32768, std::min<int64_t>(32767, div_round(sum, unit * count))));
            g = bucket16(int(std::min<int64_t>(1 << 20, div_round(hi - lo, unit))));
        }
        const int nb = kNnzBucket[n], pr = bucket16(iabs(prev_resid));
        int r = coder_.decoding() ? 0 : b[0] - pred;
        const int xr = bucket16(iabs(ref_resid_)), xs = sign3(ref_resid_);
        Counter* zc[4] = {&dz0_[(cls * 17 + g) * 14 + nb], &dz1_[cls * 16 + pr], &dz2_[(cls * 17 + g) * 16 + pr],
                          &dz3_[(ci_ * 16 + xr) * 17 + g]};
        int nonzero = bitn(r != 0, zc, 4, dzw_[cls * 17 + g]);
        if (nonzero) {
            int a = iabs(r), e = bit_length(a);
            int i = 1;
            for (; i < 16; i++) {
                Counter* ec[4] = {&de0_[(cls * 17 + g) * 16 + i], &de1_[(cls * 14 + nb) * 16 + i],
                                  &de2_[(cls * 16 + pr) * 16 + i], &de3_[(ci_ * 16 + xr) * 16 + i]};
                int more = bitn(e > i, ec, 4, dew_[cls * 16 + i]);
                if (!more) break;
            }
            e = i;
            int m = 1;
            for (int j = e - 2; j >= 0; j--) {
                int mbit = bit((a >> j) & 1, dm0_[(cls * 17 + e) * 16 + j], dm1_[((cls * 17 + g) * 17 + e) * 16 + j],
                               dm2_[cls * 16 + j], dmw_[cls * 17 + e]);
                m = (m << 1) | mbit;
            }
            Counter* sc[4] = {&ds0_[cls * 17 + g], &ds1_[cls * 16 + pr], &ds2_[cls * 3 + sign3(prev_resid)],
                              &ds3_[(ci_ * 3 + xs) * 16 + xr]};
            int neg = bitn(r < 0, sc, 4, dsw_[cls]);
            r = neg ? -m : m;
        } else {
            r = 0;
        }
        int v = pred + r;
        if (v < -32768 || v > 32767) throw Corrupt("DC coefficient out of range");
        b[0] = int16_t(v);
        prev_resid = r;
    }

    static const int kUnzig[64];
    static const int32_t kIdct[8][8];

    int q_[64] = {};
    const int16_t* ref_ = nullptr;  // the other component's block at this place (see run)
    int ci_ = 0;
    int ref_resid_ = 0;
    BinaryCoder& coder_;
    const Tables& t_;
    Family ec0_{2 * 14 * 16}, ec1_{2 * 16 * 16 * 16}, ec2_{2 * 16 * 16};
    Weights ecw_{2 * 16};
    Family nz0_{2 * kNnzBuckets * 64}, nz1_{2 * kNnzBuckets * kNnzBuckets * 64}, nz2_{4 * kNnzBuckets * 64};
    Weights nzw_{2 * 64};
    Family zf0_{2 * 64 * 16}, zf1_{2 * 64 * 14}, zf2_{2 * 10 * 16 * 10 * 14};
    Family zf3_{2 * 64 * 16}, zf4_{2 * 64 * 64}, zf5_{4 * 64 * 8 * 16};
    Weights zfw_{4 * 64, 6};
    Apm zfa_{2 * 64 * 14};
    Family ex0_{2 * 64 * 16 * 16}, ex1_{2 * 10 * 10 * 16}, ex2_{2 * 14 * 16};
    Family ex3_{2 * 10 * 16 * 16}, ex4_{2 * 64 * 10 * 16}, ex5_{4 * 64 * 8 * 16};
    Weights exw_{2 * 10 * 16, 6};
    Apm exa_{2 * 64 * 16};
    Family mt0_{2 * 64 * 16 * 16}, mt1_{2 * 16 * 16 * 16}, mt2_{2 * 16 * 16};
    Weights mtw_{2 * 16};
    Family sg0_{2 * 64 * 9}, sg1_{2 * 64 * 9}, sg2_{2 * 64 * 16};
    Family sg3_{4 * 64 * 9}, sg4_{2 * 64 * 33 * 4};
    Weights sgw_{2 * 10 * 2, 5};
    Family dz0_{2 * 17 * 14}, dz1_{2 * 16}, dz2_{2 * 17 * 16};
    Family dz3_{4 * 16 * 17};
    Weights dzw_{2 * 17, 4};
    Family de0_{2 * 17 * 16}, de1_{2 * 14 * 16}, de2_{2 * 16 * 16};
    Family de3_{4 * 16 * 16};
    Weights dew_{2 * 16, 4};
    Family dm0_{2 * 17 * 16}, dm1_{2 * 17 * 17 * 16}, dm2_{2 * 16};
    Weights dmw_{2 * 17};
    Family ds0_{2 * 17}, ds1_{2 * 16}, ds2_{2 * 3};
    Family ds3_{4 * 3 * 16};
    Weights dsw_{2, 4};
};

// Zigzag position of each natural index.
const int Model::kUnzig[64] = {0,  1,  5,  6,  14, 15, 27, 28, 2,  4,  7,  13, 16, 26, 29, 42,
                               3,  8,  12, 17, 25, 30, 41, 43, 9,  11, 18, 24, 31, 40, 44, 53,
                               10, 19, 23, 32, 39, 45, 52, 54, 20, 22, 33, 38, 46, 51, 55, 60,
                               21, 34, 37, 47, 50, 56, 59, 61, 35, 36, 48, 49, 57, 58, 62, 63};

// kIdct[u][i] = round(4096 * c(u) * cos((2i + 1) u pi / 16)), c(0) = 1/sqrt(2), else 1: integers, so every
// machine predicts the same.
const int32_t Model::kIdct[8][8] = {{2896, 2896, 2896, 2896, 2896, 2896, 2896, 2896},
                                    {4017, 3406, 2276, 799, -799, -2276, -3406, -4017},
                                    {3784, 1567, -1567, -3784, -3784, -1567, 1567, 3784},
                                    {3406, -799, -4017, -2276, 2276, 4017, 799, -3406},
                                    {2896, -2896, -2896, 2896, 2896, -2896, -2896, 2896},
                                    {2276, -4017, 799, 3406, -3406, -799, 4017, -2276},
                                    {1567, -3784, 3784, -1567, -1567, 3784, -3784, 1567},
                                    {799, -2276, 3406, -4017, 4017, -3406, 2276, -799}};

}  // namespace

std::vector<uint8_t> encode_coefficients(const Frame& frame) {
    for (const Component& c : frame.comps)
        for (size_t i = 0; i < c.coef.size(); i++)
            if ((i & 63) && c.coef[i] == -32768) throw Unsupported("AC coefficient out of range");
    std::vector<uint8_t> out;
    BinaryCoder coder(&out);
    Model model(coder);
    model.run(const_cast<Frame&>(frame));  // encoding only reads the coefficients
    coder.flush();
    return out;
}

void decode_coefficients(const uint8_t* data, size_t size, Frame& frame) {
    BinaryCoder coder(data, size);
    Model model(coder);
    model.run(frame);
}

}  // namespace jpegcm
