// rcodec.plugins.lossless._cmimage: the context-mixing lossless image coder (lossless codec version 2).
//
// Every sample is predicted by a blend of predictors (neighbourhood, gradient, CALIC GAP, two online NLMS filters
// and, for channels after the first, cross-channel predictors from the channels already coded at this pixel),
// weighted by the inverse of their recent errors, then corrected by a context-dependent bias. The residual is
// coded as binary decisions (zero, sign, magnitude class in unary, mantissa bits); each decision's probability
// mixes several adaptive context models in the logistic domain and passes two APMs, on a 32-bit binary arithmetic
// coder. Everything is integer arithmetic, so every machine decodes the same bits.
//
// Images are split into horizontal stripes coded independently (fresh models, no reference across the border),
// which lets encoder and decoder use one thread per stripe.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

constexpr int kMaxChannels = 4;
constexpr int kMaxRefs = 2;
constexpr int kOwnPredictors = 9;
constexpr int kCrossPerRef = 3;
constexpr int kMaxPredictors = kOwnPredictors + kCrossPerRef * kMaxRefs;
constexpr int kLmsOwn = 7;
constexpr int kLmsCross = 3;
constexpr int kMaxLms = kLmsOwn + kLmsCross * kMaxRefs;
constexpr int kLevels = 64;  // quantised expected error magnitude
constexpr int kNodes = 339;  // binary decisions per sample kind (see node ids below)
constexpr int kModels = 6;
constexpr int kInputs = kModels + 1;
constexpr int kMixerRate = 3;   // mixer learning rate kMixerRate / 2^kMixerShift
constexpr int kMixerShift = 13;
constexpr int kLmsShift = 9;    // NLMS step sizes 2^-(shift - 2): a slow and a fast filter
constexpr int kLmsFastShift = 6;
constexpr int kCounterLimit = 1023;
constexpr int kBiasLimit = 1023;
// Final probabilities stay within [8, 4088] / 4096, so every decision costs at least -log2(4088/4096) = 0.0028
// bits, and every sample codes at least one decision: a stream of B bytes cannot hold more than about 355 * 8 * B
// samples. The decoder refuses larger claims (with some margin) before allocating anything.
constexpr int kMinP = 8;
constexpr int64_t kSamplesPerBit = 512;

// ---------------------------------------------------------------------------------------------------------------
// Logistic helpers (paq8 style, integer): squash maps the stretch domain [-2047, 2047] to 12-bit probabilities.

int squash(int d) {
    static const int t[33] = {1,    2,    3,    6,    10,   16,   27,   45,   73,   120,  194,
                              310,  488,  747,  1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785,
                              3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};
    if (d > 2047) return 4095;
    if (d < -2047) return 1;
    const int w = d & 127;
    d = (d >> 7) + 16;
    return (t[d] * (128 - w) + t[d + 1] * w + 64) >> 7;
}

struct Tables {
    int16_t stretch[4096];
    int32_t reciprocal[kCounterLimit + 1];
    Tables() {
        int pi = 0;
        for (int x = -2047; x <= 2047; ++x) {
            const int v = squash(x);
            for (int j = pi; j <= v; ++j) stretch[j] = static_cast<int16_t>(x);
            pi = v + 1;
        }
        for (int j = pi; j < 4096; ++j) stretch[j] = 2047;
        for (int n = 0; n <= kCounterLimit; ++n) reciprocal[n] = static_cast<int32_t>(131072 / (2 * n + 3));
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// Binary arithmetic coder (carryless, 32-bit, 12-bit probabilities of a 1).

class Encoder {
public:
    explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}
    int code(int bit, int p) {
        const uint32_t mid = x1_ + ((x2_ - x1_) >> 12) * static_cast<uint32_t>(p);
        if (bit) x2_ = mid; else x1_ = mid + 1;
        while (((x1_ ^ x2_) & 0xff000000u) == 0) {
            out_.push_back(static_cast<uint8_t>(x2_ >> 24));
            x1_ <<= 8;
            x2_ = (x2_ << 8) | 255;
        }
        return bit;
    }
    void flush() {
        for (int i = 0; i < 4; ++i) {
            out_.push_back(static_cast<uint8_t>(x1_ >> 24));
            x1_ <<= 8;
        }
    }

private:
    std::vector<uint8_t>& out_;
    uint32_t x1_ = 0, x2_ = 0xffffffffu;
};

class Decoder {
public:
    Decoder(const uint8_t* data, size_t size) : data_(data), size_(size) {
        for (int i = 0; i < 4; ++i) x_ = (x_ << 8) | next();
    }
    int code(int /*unused*/, int p) {
        const uint32_t mid = x1_ + ((x2_ - x1_) >> 12) * static_cast<uint32_t>(p);
        const int bit = x_ <= mid;
        if (bit) x2_ = mid; else x1_ = mid + 1;
        while (((x1_ ^ x2_) & 0xff000000u) == 0) {
            x1_ <<= 8;
            x2_ = (x2_ << 8) | 255;
            x_ = (x_ << 8) | next();
        }
        return bit;
    }

private:
    uint32_t next() {
        if (pos_ < size_) return data_[pos_++];
        // The encoder's flush leaves 4 bytes; reading far past the end means the stream is damaged or truncated.
        if (++overrun_ > 8) throw std::invalid_argument("image stream ends early (truncated or damaged)");
        return 0;
    }
    const uint8_t* data_;
    size_t size_, pos_ = 0;
    int overrun_ = 0;
    uint32_t x1_ = 0, x2_ = 0xffffffffu, x_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// Adaptive probability: 16-bit probability of a 1 and a hit count that sets the adaptation rate (1 / (n + 1.5)).

struct Counter {
    uint16_t p = 32768;
    uint16_t n = 0;
    void update(int bit, const int32_t* reciprocal) {
        const int target = bit ? 65535 : 0;
        p = static_cast<uint16_t>(p + ((static_cast<int64_t>(target - p) * reciprocal[n]) >> 16));
        if (n < kCounterLimit) ++n;
    }
};

// Adaptive probability map: refines a probability given a context, interpolating between 33 stretch buckets.
class Apm {
public:
    explicit Apm(size_t contexts) : t_(contexts * 33) {
        for (size_t i = 0; i < contexts; ++i)
            for (int j = 0; j < 33; ++j) t_[i * 33 + j] = static_cast<uint16_t>(squash((j - 16) * 128) * 16);
    }
    int refine(int pr, size_t cx) {
        const int s = tables().stretch[pr] + 2048;
        const int lo = s & 127;
        idx_ = (s >> 7) + cx * 33;
        w_ = lo;
        return (t_[idx_] * (128 - lo) + t_[idx_ + 1] * lo) >> 11;
    }
    void update(int bit) {
        const int g = (bit << 16) + (bit << 5) - bit - bit;
        t_[idx_] += (g - t_[idx_]) * (128 - w_) >> 13;
        t_[idx_ + 1] += (g - t_[idx_ + 1]) * w_ >> 13;
    }

private:
    std::vector<uint16_t> t_;
    size_t idx_ = 0;
    int w_ = 0;
};

inline int bitlen(uint32_t v) { return v ? 32 - __builtin_clz(v) : 0; }

// Fine logarithmic level of a non-negative magnitude: 4 steps per octave.
inline int level(uint32_t v) {
    const uint32_t u = v + 1;
    const int b = bitlen(u) - 1;
    const int frac = b >= 2 ? static_cast<int>((u >> (b - 2)) & 3) : static_cast<int>((u << (2 - b)) & 3);
    return std::min(4 * b + frac, kLevels - 1);
}

inline int coarse(int v) { return std::min(bitlen(static_cast<uint32_t>(std::abs(v))), 11); }  // 0..11

inline int signed3(int v) { return v > 0 ? 2 : (v < 0 ? 0 : 1); }

inline int signed7(int v) {
    const int m = std::min(bitlen(static_cast<uint32_t>(std::abs(v))), 3);
    return v < 0 ? 3 - m : 3 + m;
}

// Node ids: 0 zero?, 1 sign, 1 + j for "magnitude >= 2^j" (j = 1..16), then mantissa decisions per class k.
inline int mantissa_node(int k, int depth, int prefix, int b) {
    const int sub = depth == 0 ? 0 : (depth == 1 ? 1 + prefix : 3 + b);
    return 19 + (k - 2) * 20 + sub;
}

// Context-model sizes per channel (number of contexts, each holding kNodes counters).
constexpr int kCtx[kModels] = {kLevels, 32 * 12, 7 * 7 * 7, 12 * 16, 8 * 16 * 3, 64 * 8};

struct Neighbours {
    int n, w, nw, ne, nn, ww, nne;
};

// ---------------------------------------------------------------------------------------------------------------
// One stripe: rows [y0, y1) of the image, coded with its own models.

class StripeCoder {
public:
    StripeCoder(int width, int rows, int channels, int bits)
        : width_(width), rows_(rows), channels_(channels), bits_(bits), maxv_((1 << bits) - 1),
          mid_(1 << (bits - 1)), apm1_(static_cast<size_t>(channels) * kNodes * 32),
          apm2_(static_cast<size_t>(channels) * kNodes * 64) {
        const size_t plane = static_cast<size_t>(width) * rows;
        const size_t padded = static_cast<size_t>(width) + 4;
        for (int c = 0; c < channels; ++c) {
            plane_[c].assign(plane, 0);
            perr_[c].assign(static_cast<size_t>(kMaxPredictors) * 3 * padded, 0);
            resid_[c].assign(2 * padded, 0);
            bias_sum_[c].assign(64 * 3 * 8, 0);
            bias_cnt_[c].assign(64 * 3 * 8, 0);
            lms_[c].assign(kMaxLms, 0);
            lms2_[c].assign(kMaxLms, 0);
            for (int m = 0; m < kModels; ++m) model_[c][m].assign(static_cast<size_t>(kCtx[m]) * kNodes, Counter());
            mixer_[c].assign(static_cast<size_t>(kNodes) * 8 * kInputs, 1 << 14);
        }
        // Channel order and references: for RGB(A) green first, then red and blue predicted from the channels
        // coded before them; gray, gray+alpha and alpha stand alone.
        if (channels >= 3) {
            order_ = {1, 0, 2};
            refs_[1] = {};
            refs_[0] = {1};
            refs_[2] = {1, 0};
            if (channels == 4) {
                order_.push_back(3);
                refs_[3] = {};
            }
        } else {
            for (int c = 0; c < channels; ++c) order_.push_back(c);
        }
    }

    // Encoder: the stripe's samples, interleaved (rows, width, channels).
    void load(const uint16_t* src) {
        for (int y = 0; y < rows_; ++y)
            for (int x = 0; x < width_; ++x)
                for (int c = 0; c < channels_; ++c)
                    plane_[c][static_cast<size_t>(y) * width_ + x] =
                        src[(static_cast<size_t>(y) * width_ + x) * channels_ + c];
    }

    void store(uint16_t* dst) const {
        for (int y = 0; y < rows_; ++y)
            for (int x = 0; x < width_; ++x)
                for (int c = 0; c < channels_; ++c)
                    dst[(static_cast<size_t>(y) * width_ + x) * channels_ + c] =
                        static_cast<uint16_t>(plane_[c][static_cast<size_t>(y) * width_ + x]);
    }

    template <class Coder>
    void run(Coder& coder, bool decoding) {
        for (int y = 0; y < rows_; ++y)
            for (int x = 0; x < width_; ++x)
                for (size_t k = 0; k < order_.size(); ++k) sample(coder, decoding, static_cast<int>(k), y, x);
    }

private:
    int value(int c, int y, int x) const { return plane_[c][static_cast<size_t>(y) * width_ + x]; }

    Neighbours neighbours(int c, int y, int x) const {
        Neighbours v;
        if (y == 0) {
            v.w = x > 0 ? value(c, y, x - 1) : mid_;
            v.ww = x > 1 ? value(c, y, x - 2) : v.w;
            v.n = v.nw = v.ne = v.nn = v.nne = v.w;
            return v;
        }
        const int* up = &plane_[c][static_cast<size_t>(y - 1) * width_];
        v.n = up[x];
        v.nw = x > 0 ? up[x - 1] : v.n;
        v.ne = x + 1 < width_ ? up[x + 1] : v.n;
        v.w = x > 0 ? value(c, y, x - 1) : v.n;
        v.ww = x > 1 ? value(c, y, x - 2) : v.w;
        if (y > 1) {
            const int* up2 = &plane_[c][static_cast<size_t>(y - 2) * width_];
            v.nn = up2[x];
            v.nne = x + 1 < width_ ? up2[x + 1] : v.nn;
        } else {
            v.nn = v.n;
            v.nne = v.ne;
        }
        return v;
    }

    int gap(const Neighbours& v) const {
        // CALIC's gradient-adjusted prediction, thresholds scaled to the sample depth; result times 8.
        const int shift = bits_ - 8;
        const auto th = [shift](int t) { return shift >= 0 ? t << shift : t >> -shift; };
        const int dh = std::abs(v.w - v.ww) + std::abs(v.n - v.nw) + std::abs(v.n - v.ne);
        const int dv = std::abs(v.w - v.nw) + std::abs(v.n - v.nn) + std::abs(v.ne - v.nne);
        const int d = dv - dh;
        if (d > th(80)) return 8 * v.w;
        if (d < -th(80)) return 8 * v.n;
        const int t = 4 * (v.w + v.n) + 2 * (v.ne - v.nw);
        if (d > th(32)) return (t + 8 * v.w) >> 1;
        if (d > th(8)) return (3 * t + 8 * v.w) >> 2;
        if (d < -th(32)) return (t + 8 * v.n) >> 1;
        if (d < -th(8)) return (3 * t + 8 * v.n) >> 2;
        return t;
    }

    // What selects the probabilities of one sample's decisions.
    struct Context {
        size_t base[kModels];
        int c, q, frac;
    };

    template <class Coder>
    int code_bit(Coder& coder, int bit, int node, const Context& cx) {
        const int c = cx.c;
        const size_t* base = cx.base;
        const int mix_set = cx.q >> 3;
        const Tables& tb = tables();
        int st[kInputs];
        Counter* ctr[kModels];
        for (int m = 0; m < kModels; ++m) {
            ctr[m] = &model_[c][m][base[m] + node];
            st[m] = tb.stretch[ctr[m]->p >> 4];
        }
        st[kModels] = 256;
        int32_t* w = &mixer_[c][(static_cast<size_t>(node) * 8 + mix_set) * kInputs];
        int64_t dot = 0;
        for (int i = 0; i < kInputs; ++i) dot += static_cast<int64_t>(w[i]) * st[i];
        int pm = squash(static_cast<int>(std::clamp<int64_t>(dot >> 16, -2047, 2047)));
        const size_t slot = static_cast<size_t>(c) * kNodes + node;
        const int pa = apm1_.refine(pm, slot * 32 + (cx.q >> 1));
        const int pb = apm2_.refine(pm, (slot * 8 + cx.frac) * 8 + mix_set);
        int p = (4 * pm + 3 * pa + pb + 4) >> 3;
        p = std::clamp(p, kMinP, 4096 - kMinP);
        bit = coder.code(bit, p);
        // Learn.
        for (int m = 0; m < kModels; ++m) ctr[m]->update(bit, tb.reciprocal);
        const int err = ((bit << 12) - pm) * kMixerRate;
        for (int i = 0; i < kInputs; ++i) w[i] += (st[i] * err) >> kMixerShift;
        apm1_.update(bit);
        apm2_.update(bit);
        return bit;
    }

    template <class Coder>
    void sample(Coder& coder, bool decoding, int k, int y, int x) {
        const int c = order_[k];
        const std::vector<int>& refs = refs_[c];
        const size_t padded = static_cast<size_t>(width_) + 4;
        const size_t cur = (y & 1) * padded + x + 2;
        const size_t prev = ((y + 1) & 1) * padded + x + 2;
        // Predictor errors keep three rows.
        const size_t cur3 = (y % 3) * padded + x + 2;
        const size_t prev3 = ((y + 2) % 3) * padded + x + 2;
        const size_t prev23 = ((y + 1) % 3) * padded + x + 2;
        const Neighbours v = neighbours(c, y, x);

        // Predictors, times 8.
        int pred[kMaxPredictors];
        int np = 0;
        pred[np++] = 8 * v.n;
        pred[np++] = 8 * v.w;
        pred[np++] = 8 * (v.w + v.ne - v.n);
        pred[np++] = 8 * (v.n + v.w - v.nw);
        pred[np++] = gap(v);
        pred[np++] = 8 * (v.n + v.ne - v.nne);
        pred[np++] = 4 * (v.n + v.w) + 2 * (v.ne - v.nw);
        // Two online NLMS filters (slow and fast) on the neighbourhood and the reference channels' local gradients
        // at this pixel, predicting the offset from the mean of N and W.
        const int lbase = (v.n + v.w + 1) >> 1;
        int lin[kMaxLms];
        int nl = 0;
        lin[nl++] = v.n - lbase;
        lin[nl++] = v.w - lbase;
        lin[nl++] = v.nw - lbase;
        lin[nl++] = v.ne - lbase;
        lin[nl++] = v.nn - lbase;
        lin[nl++] = v.ww - lbase;
        lin[nl++] = v.nne - lbase;
        int rcur[kMaxRefs];
        Neighbours rv[kMaxRefs];
        for (size_t r = 0; r < refs.size(); ++r) {
            rv[r] = neighbours(refs[r], y, x);
            rcur[r] = value(refs[r], y, x);
            lin[nl++] = rcur[r] - rv[r].n;
            lin[nl++] = rcur[r] - rv[r].w;
            lin[nl++] = rcur[r] - rv[r].ne;
        }
        int32_t* lw = lms_[c].data();
        int64_t lacc = 0;
        int64_t energy = 1;
        for (int i = 0; i < nl; ++i) {
            lacc += static_cast<int64_t>(lw[i]) * lin[i];
            energy += static_cast<int64_t>(lin[i]) * lin[i];
        }
        const int plms = static_cast<int>(std::clamp<int64_t>(8 * static_cast<int64_t>(lbase) + (lacc >> 13),
                                                              -8 * static_cast<int64_t>(maxv_), 16 * static_cast<int64_t>(maxv_)));
        pred[np++] = plms;
        int32_t* lw2 = lms2_[c].data();
        int64_t lacc2 = 0;
        for (int i = 0; i < nl; ++i) lacc2 += static_cast<int64_t>(lw2[i]) * lin[i];
        const int plms2 = static_cast<int>(std::clamp<int64_t>(8 * static_cast<int64_t>(lbase) + (lacc2 >> 13),
                                                               -8 * static_cast<int64_t>(maxv_), 16 * static_cast<int64_t>(maxv_)));
        pred[np++] = plms2;
        // Cross-channel: the reference's value at this pixel plus this channel's offset from it nearby.
        for (size_t r = 0; r < refs.size(); ++r) {
            pred[np++] = 8 * (rcur[r] + v.w - rv[r].w);
            pred[np++] = 8 * (rcur[r] + v.n - rv[r].n);
            pred[np++] = 8 * rcur[r] + 4 * (v.w - rv[r].w + v.n - rv[r].n) + 2 * (v.ne - rv[r].ne - v.nw + rv[r].nw);
        }

        // Blend: each predictor weighted by the inverse cube of the errors it made nearby.
        uint32_t* pe = perr_[c].data();
        int64_t wsum = 0, psum = 0;
        int pmin = pred[0], pmax = pred[0];
        // Error sums over a window of the two rows above and the two pixels to the left (N and W count twice).
        uint32_t esum[kMaxPredictors];
        uint32_t best = UINT32_MAX;
        for (int i = 0; i < np; ++i) {
            const uint32_t* e = pe + static_cast<size_t>(i) * 3 * padded;
            esum[i] = 2 * (e[prev3] + e[cur3 - 1]) + e[prev3 - 1] + e[prev3 + 1] + e[cur3 - 2] + e[prev3 + 2] +
                      e[prev3 - 2] + e[prev23] + e[prev23 - 1] + e[prev23 + 1] + e[prev23 - 2] + e[prev23 + 2] + 2;
            best = std::min(best, esum[i]);
            pmin = std::min(pmin, pred[i]);
            pmax = std::max(pmax, pred[i]);
        }
        // Weights (best / error)^3, relative to the best predictor so that precision does not depend on scale.
        for (int i = 0; i < np; ++i) {
            const uint64_t r = (static_cast<uint64_t>(best) << 16) / esum[i];  // 1..2^16
            const int64_t wi = static_cast<int64_t>(r * r * r >> 24) + 1;
            wsum += wi;
            psum += wi * pred[i];
        }
        const int pblend = static_cast<int>((psum + wsum / 2) / wsum);

        // Neighbouring residuals of this channel, and of the reference channel at this pixel.
        const int* rs = resid_[c].data();
        const int en = rs[prev], ew = rs[cur - 1], enw = rs[prev - 1], ene = rs[prev + 1];
        const int eref = refs.empty() ? 0 : resid_[refs[0]][cur];
        const uint32_t energy_ctx = 4u * (std::abs(en) + std::abs(ew)) + 2u * (std::abs(enw) + std::abs(ene)) +
                                    4u * std::abs(eref) + (best >> 2);
        const int q = level(energy_ctx);

        // Bias correction by texture context.
        int tex = 0;
        tex |= (8 * v.n > pblend) << 0;
        tex |= (8 * v.w > pblend) << 1;
        tex |= (8 * v.nw > pblend) << 2;
        tex |= (8 * v.ne > pblend) << 3;
        tex |= (8 * v.nn > pblend) << 4;
        tex |= (8 * v.ww > pblend) << 5;
        const size_t bcx = (static_cast<size_t>(tex) * 3 + signed3(eref)) * 8 + (q >> 3);
        const int bias = bias_cnt_[c][bcx] ? bias_sum_[c][bcx] / bias_cnt_[c][bcx] : 0;
        const int pfull = pblend + bias;
        const int pr = std::clamp((pfull + 4) >> 3, 0, maxv_);
        const int frac = std::clamp(pfull - 8 * pr + 4, 0, 7);

        // Context bases for the models.
        Context cx;
        cx.c = c;
        cx.q = q;
        cx.frac = frac;
        size_t* base = cx.base;
        base[0] = static_cast<size_t>(q) * kNodes;
        base[1] = static_cast<size_t>((q >> 1) * 12 + (refs.empty() ? coarse(ew) : coarse(eref))) * kNodes;
        base[2] = static_cast<size_t>((signed7(ew) * 7 + signed7(en)) * 7 + signed7(enw)) * kNodes;
        base[3] = static_cast<size_t>(coarse((pmax - pmin) >> 3) * 16 + (q >> 2)) * kNodes;
        base[4] = static_cast<size_t>((frac * 16 + (q >> 2)) * 3 + signed3(eref)) * kNodes;
        base[5] = static_cast<size_t>(tex * 8 + (q >> 3)) * kNodes;

        // Code the residual.
        int xv = decoding ? 0 : value(c, y, x);
        int e = xv - pr;
        const int zero = code_bit(coder, e == 0, 0, cx);
        if (!zero) {
            int positive;
            if (pr == 0) positive = 1;
            else if (pr == maxv_) positive = 0;
            else positive = code_bit(coder, e > 0, 1, cx);
            const int limit = positive ? maxv_ - pr : pr;  // largest possible magnitude
            const int m = decoding ? 0 : std::abs(e);
            int kbits = 1;
            while ((1 << kbits) <= limit) {
                const int more = code_bit(coder, m >= (1 << kbits), 1 + kbits, cx);
                if (!more) break;
                ++kbits;
            }
            int mag = 1 << (kbits - 1);
            for (int b = kbits - 2, depth = 0; b >= 0; --b, ++depth) {
                const int prefix = depth == 1 ? (mag >> (b + 1)) & 1 : 0;
                const int bit = code_bit(coder, (m >> b) & 1, mantissa_node(kbits, depth, prefix, b), cx);
                mag |= bit << b;
            }
            if (decoding) {
                if (mag > limit) throw std::invalid_argument("image stream decodes to a sample out of range");
                e = positive ? mag : -mag;
                xv = pr + e;
                plane_[c][static_cast<size_t>(y) * width_ + x] = xv;
            }
        } else if (decoding) {
            e = 0;
            xv = pr;
            plane_[c][static_cast<size_t>(y) * width_ + x] = xv;
        }

        // Learn: per-predictor errors, residuals, bias, NLMS weights.
        const int x8 = 8 * xv;
        for (int i = 0; i < np; ++i) pe[static_cast<size_t>(i) * 3 * padded + cur3] = std::abs(pred[i] - x8);
        resid_[c][cur] = e;
        int& bs = bias_sum_[c][bcx];
        int& bn = bias_cnt_[c][bcx];
        bs += x8 - pblend;
        if (++bn >= kBiasLimit) {
            bs /= 2;
            bn /= 2;
        }
        const int64_t lerr = static_cast<int64_t>(x8) - plms;
        const int64_t f = (lerr << 16) / energy;
        for (int i = 0; i < nl; ++i) lw[i] = std::clamp<int32_t>(lw[i] + static_cast<int32_t>((f * lin[i]) >> kLmsShift),
                                                                 -(1 << 20), 1 << 20);
        const int64_t f2 = ((static_cast<int64_t>(x8) - plms2) << 16) / energy;
        for (int i = 0; i < nl; ++i) lw2[i] = std::clamp<int32_t>(lw2[i] + static_cast<int32_t>((f2 * lin[i]) >> kLmsFastShift),
                                                                  -(1 << 20), 1 << 20);
    }

    int width_, rows_, channels_, bits_, maxv_, mid_;
    std::vector<int> order_;
    std::vector<int> refs_[kMaxChannels];
    std::vector<int> plane_[kMaxChannels];
    std::vector<uint32_t> perr_[kMaxChannels];
    std::vector<int> resid_[kMaxChannels];
    std::vector<int> bias_sum_[kMaxChannels], bias_cnt_[kMaxChannels];
    std::vector<int32_t> lms_[kMaxChannels], lms2_[kMaxChannels];
    std::vector<Counter> model_[kMaxChannels][kModels];
    std::vector<int32_t> mixer_[kMaxChannels];
    Apm apm1_, apm2_;
};

void check_shape(int64_t height, int64_t width, int64_t channels, int bits) {
    if (height < 1 || width < 1 || height > (1 << 24) || width > (1 << 24))
        throw std::invalid_argument("image size out of range");
    if (channels < 1 || channels > kMaxChannels) throw std::invalid_argument("images have 1 to 4 channels");
    if (bits < 1 || bits > 16) throw std::invalid_argument("samples have 1 to 16 bits");
}

// Row ranges of the stripes: as equal as possible.
std::vector<std::pair<int, int>> stripe_rows(int height, int stripes) {
    std::vector<std::pair<int, int>> out;
    for (int s = 0; s < stripes; ++s)
        out.emplace_back(static_cast<int>(static_cast<int64_t>(height) * s / stripes),
                         static_cast<int>(static_cast<int64_t>(height) * (s + 1) / stripes));
    return out;
}

template <class Job>
void run_jobs(size_t count, int threads, Job job) {
    // Jobs are independent; with several threads, job i runs on thread i % threads.
    if (threads <= 1 || count <= 1) {
        for (size_t i = 0; i < count; ++i) job(i);
        return;
    }
    std::vector<std::thread> pool;
    std::vector<std::string> errors(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            try {
                for (size_t i = static_cast<size_t>(t); i < count; i += static_cast<size_t>(threads)) job(i);
            } catch (const std::exception& exc) {
                errors[static_cast<size_t>(t)] = exc.what();
            }
        });
    }
    for (auto& th : pool) th.join();
    for (const auto& e : errors)
        if (!e.empty()) throw std::invalid_argument(e);
}

using U16Array = py::array_t<uint16_t, py::array::c_style | py::array::forcecast>;

py::list encode(U16Array image, int bits, int stripes, int threads) {
    if (image.ndim() != 3) throw std::invalid_argument("expected an array of shape (height, width, channels)");
    const int64_t h = image.shape(0), w = image.shape(1), ch = image.shape(2);
    check_shape(h, w, ch, bits);
    if (stripes < 1 || stripes > h) throw std::invalid_argument("stripes must be between 1 and the height");
    const uint16_t* src = image.data();
    const size_t n = static_cast<size_t>(h * w * ch);
    for (size_t i = 0; i < n; ++i)
        if (src[i] >> bits) throw std::invalid_argument("sample value exceeds the bit depth");
    const auto rows = stripe_rows(static_cast<int>(h), stripes);
    std::vector<std::vector<uint8_t>> out(rows.size());
    {
        py::gil_scoped_release release;
        run_jobs(rows.size(), threads, [&](size_t s) {
            const int r = rows[s].second - rows[s].first;
            StripeCoder coder(static_cast<int>(w), r, static_cast<int>(ch), bits);
            coder.load(src + static_cast<size_t>(rows[s].first) * w * ch);
            Encoder enc(out[s]);
            coder.run(enc, false);
            enc.flush();
        });
    }
    py::list result;
    for (const auto& o : out) result.append(py::bytes(reinterpret_cast<const char*>(o.data()), o.size()));
    return result;
}

int64_t max_samples(int64_t stream_bytes) { return (stream_bytes + 16) * 8 * kSamplesPerBit; }

py::array_t<uint16_t> decode(const std::vector<std::string>& streams, int64_t height, int64_t width,
                             int64_t channels, int bits, int threads) {
    check_shape(height, width, channels, bits);
    if (streams.empty() || static_cast<int64_t>(streams.size()) > height)
        throw std::invalid_argument("wrong number of image stripes");
    const auto rows = stripe_rows(static_cast<int>(height), static_cast<int>(streams.size()));
    for (size_t s = 0; s < rows.size(); ++s) {
        const int64_t samples = static_cast<int64_t>(rows[s].second - rows[s].first) * width * channels;
        if (samples > max_samples(static_cast<int64_t>(streams[s].size())))
            throw std::invalid_argument("the header claims more samples than the image stream can hold");
    }
    py::array_t<uint16_t> out({height, width, channels});
    uint16_t* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        run_jobs(rows.size(), threads, [&](size_t s) {
            const int r = rows[s].second - rows[s].first;
            StripeCoder coder(static_cast<int>(width), r, static_cast<int>(channels), bits);
            Decoder dec(reinterpret_cast<const uint8_t*>(streams[s].data()), streams[s].size());
            coder.run(dec, true);
            coder.store(dst + static_cast<size_t>(rows[s].first) * width * channels);
        });
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_cmimage, m) {
    m.doc() = "Context-mixing lossless image coder (integer arithmetic, independent stripes)";
    m.def("encode", &encode, py::arg("image"), py::arg("bits"), py::arg("stripes") = 1, py::arg("threads") = 1,
          "Code a (height, width, channels) uint16 array of `bits`-bit samples; one bytes object per stripe.");
    m.def("decode", &decode, py::arg("streams"), py::arg("height"), py::arg("width"), py::arg("channels"),
          py::arg("bits"), py::arg("threads") = 1, "Decode the stripes written by encode.");
    m.def("max_samples", &max_samples, py::arg("stream_bytes"),
          "The most samples a stream of this many bytes can hold (decoders refuse larger claims).");
}
