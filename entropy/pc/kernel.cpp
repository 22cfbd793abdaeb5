// rcodec.entropy.pc._kernel: the exact HCLT conditionals p(x_i | x_<i) of `conditionals.py`, for a batch of
// samples coded side by side, in C++.
//
// The scheme is the cached one described in conditionals.py (coding order = depth-first pre-order; per node an
// outside message and an accumulated inside message). What this file adds is speed with exactness:
//
// - Every output value is a sum in one fixed order (sequential over the summed index). Loops are arranged so that
//   the compiler vectorises across *independent outputs* only, never inside one sum; with -ffp-contract=off (no
//   fused multiply-add) each value is the same IEEE float64 result on every x86/ARM machine, at any SIMD width.
// - Samples of a batch never interact: splitting the batch over threads changes nothing in the results.
// - Each conditional is rounded to multiples of 2^-40 (as in conditionals.py) before it is quantised to integer
//   frequencies by the caller.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

constexpr double kGrid = 1099511627776.0;  // 2^40

using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

void normalise(double* v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; ++i) s += v[i];
    for (int i = 0; i < n; ++i) v[i] /= s;
}

// AVX2 doubles the vector width where the CPU has it. Results do not change: vectors only span independent
// outputs, and without FMA every lane computes the same IEEE operations as scalar code.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define RCODEC_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define RCODEC_MULTIVERSION
#endif

// out[r] = sum_j m[j][r] * w[j], j ascending, for r < rows (m row-major with `rows` columns).
RCODEC_MULTIVERSION void weighted_rows(const double* m, const double* w, int inner, int rows, double* out) {
    for (int r = 0; r < rows; ++r) out[r] = m[r] * w[0];
    for (int j = 1; j < inner; ++j) {
        const double* row = m + static_cast<size_t>(j) * rows;
        const double wj = w[j];
        for (int r = 0; r < rows; ++r) out[r] += row[r] * wj;
    }
}

class Model {
   public:
    Model(I64Array parent, I64Array order, F64Array root, F64Array down, F64Array up, F64Array leaf) {
        if (parent.ndim() != 1 || order.ndim() != 1 || root.ndim() != 1 || down.ndim() != 3 || up.ndim() != 3 ||
            leaf.ndim() != 3)
            throw std::invalid_argument("HCLT arrays have the wrong number of dimensions");
        d_ = static_cast<int>(parent.shape(0));
        k_ = static_cast<int>(root.shape(0));
        c_ = static_cast<int>(leaf.shape(1));
        if (order.shape(0) != d_ || down.shape(0) != d_ || down.shape(1) != k_ || down.shape(2) != k_ ||
            up.shape(0) != d_ || up.shape(1) != k_ || up.shape(2) != k_ || leaf.shape(0) != d_ || leaf.shape(2) != k_)
            throw std::invalid_argument("HCLT array shapes do not fit together");
        parent_.assign(parent.data(), parent.data() + d_);
        order_.assign(order.data(), order.data() + d_);
        children_.assign(d_, 0);
        for (int v = 0; v < d_; ++v) {
            if (parent_[v] >= d_ || parent_[v] < -1) throw std::invalid_argument("HCLT parent index out of range");
            if (order_[v] < 0 || order_[v] >= d_) throw std::invalid_argument("HCLT order index out of range");
            if (parent_[v] >= 0) children_[parent_[v]] += 1;
        }
        root_.assign(root.data(), root.data() + k_);
        // Layouts for summing across independent outputs (see weighted_rows):
        // outside_i[z] = sum_j p(z_i = z | z_p = j) g[j]   -> rows of up[v][j][:]   (j = parent state)
        // message[j]   = sum_z p(z_v = z | z_p = j) acc[z] -> rows of down[v][z][:] (z = own state)
        // joint[a]     = sum_z p(x = a | z) outside[z]      -> rows of leaf transposed, leaf_t[v][z][a]
        const size_t kk = static_cast<size_t>(k_) * k_, kc = static_cast<size_t>(k_) * c_;
        by_parent_.assign(up.data(), up.data() + d_ * kk);
        by_child_.assign(down.data(), down.data() + d_ * kk);
        leaf_.assign(leaf.data(), leaf.data() + d_ * kc);
        leaf_t_.resize(d_ * kc);
        for (int v = 0; v < d_; ++v)
            for (int a = 0; a < c_; ++a)
                for (int z = 0; z < k_; ++z) leaf_t_[v * kc + static_cast<size_t>(z) * c_ + a] = leaf_[v * kc + static_cast<size_t>(a) * k_ + z];
    }

    int d_, k_, c_;
    std::vector<int64_t> parent_, order_, children_;
    std::vector<double> root_, by_parent_, by_child_, leaf_, leaf_t_;
};

// A batch of samples stepping through the coding order together.
class Stepper {
   public:
    Stepper(const Model& model, int batch, int threads)
        : m_(model), b_(batch), threads_(threads < 1 ? 1 : threads), position_(0) {
        if (batch < 1) throw std::invalid_argument("batch must be at least 1");
        const size_t n = static_cast<size_t>(b_) * m_.d_ * m_.k_;
        outside_.assign(n, 0.0);
        acc_.assign(n, 0.0);
        finished_.assign(m_.d_, 0);
    }

    int batch() const { return b_; }
    int categories() const { return m_.c_; }
    int variable() const { return position_ < m_.d_ ? static_cast<int>(m_.order_[position_]) : -1; }
    int position() const { return position_; }

    // Conditionals of the current variable for every sample: out (batch, C).
    void pmf(double* out) {
        check_running();
        parallel([&](int b) { pmf_one(b, out + static_cast<size_t>(b) * m_.c_); });
    }

    // The same conditionals as integer CDF rows out (batch, C + 1) of 2**precision, quantised exactly like
    // rcodec.entropy.tables.quantize_pmf: freq = 1 + floor(p / sum * (2**precision - C)), the deficit to the
    // most probable value (first on ties).
    void cdf(int32_t* out, int precision) {
        check_running();
        if (precision < 1 || precision > 24 || (int64_t{1} << precision) < m_.c_)
            throw std::invalid_argument("precision too small for the number of values");
        parallel([&](int b) {
            std::vector<double> p(m_.c_);
            pmf_one(b, p.data());
            quantise(p.data(), precision, out + static_cast<size_t>(b) * (m_.c_ + 1));
        });
    }

    // Fix the current variable to values[b] for every sample and move on.
    void observe(const int64_t* values) {
        check_running();
        for (int b = 0; b < b_; ++b)
            if (values[b] < 0 || values[b] >= m_.c_) throw std::invalid_argument("symbol value out of range");
        const int v = variable();
        parallel([&](int b) { observe_one(b, v, values[b]); });
        ++position_;
        // A childless node finishes its subtree; finished subtrees report to their parents as far as they go.
        if (m_.children_[v] > 0) return;
        int node = v;
        while (m_.parent_[node] >= 0) {
            const int p = static_cast<int>(m_.parent_[node]);
            parallel([&](int b) { pass_up(b, node, p); });
            if (++finished_[p] < m_.children_[p]) return;
            node = p;
        }
    }

   private:
    double* outside(int b, int v) { return outside_.data() + (static_cast<size_t>(b) * m_.d_ + v) * m_.k_; }
    double* acc(int b, int v) { return acc_.data() + (static_cast<size_t>(b) * m_.d_ + v) * m_.k_; }

    void check_running() const {
        if (position_ >= m_.d_) throw std::runtime_error("all variables have been coded");
    }

    template <class F>
    void parallel(F&& work) {
        const int n = threads_ < b_ ? threads_ : b_;
        if (n <= 1) {
            for (int b = 0; b < b_; ++b) work(b);
            return;
        }
        std::vector<std::thread> pool;
        for (int t = 0; t < n; ++t)
            pool.emplace_back([&, t] {
                for (int b = t * b_ / n; b < (t + 1) * b_ / n; ++b) work(b);
            });
        for (auto& th : pool) th.join();
    }

    void pmf_one(int b, double* out) {
        const int i = variable(), k = m_.k_, c = m_.c_;
        const size_t kk = static_cast<size_t>(k) * k, kc = static_cast<size_t>(k) * c;
        double* o = outside(b, i);
        const int p = static_cast<int>(m_.parent_[i]);
        if (p < 0) {
            for (int z = 0; z < k; ++z) o[z] = m_.root_[z];
        } else {
            std::vector<double> g(k);
            const double* op = outside(b, p);
            const double* ap = acc(b, p);
            for (int j = 0; j < k; ++j) g[j] = op[j] * ap[j];
            normalise(g.data(), k);
            weighted_rows(m_.by_parent_.data() + i * kk, g.data(), k, k, o);
            normalise(o, k);
        }
        weighted_rows(m_.leaf_t_.data() + i * kc, o, k, c, out);
        double s = 0.0;
        for (int a = 0; a < c; ++a) s += out[a];
        for (int a = 0; a < c; ++a) out[a] = std::nearbyint(out[a] / s * kGrid) / kGrid;
    }

    void quantise(const double* p, int precision, int32_t* row) const {
        const int c = m_.c_;
        const int64_t total = int64_t{1} << precision;
        double s = 0.0;
        for (int a = 0; a < c; ++a) s += p[a];
        if (!(s > 0.0)) s = 1.0;
        std::vector<int64_t> freq(c);
        int64_t used = 0;
        int top = 0;
        for (int a = 0; a < c; ++a) {
            freq[a] = 1 + static_cast<int64_t>(std::floor(p[a] / s * static_cast<double>(total - c)));
            used += freq[a];
            if (freq[a] > freq[top]) top = a;
        }
        freq[top] += total - used;
        row[0] = 0;
        for (int a = 0; a < c; ++a) row[a + 1] = static_cast<int32_t>(row[a] + freq[a]);
    }

    void observe_one(int b, int v, int64_t value) {
        const int k = m_.k_;
        const double* row = m_.leaf_.data() + (static_cast<size_t>(v) * m_.c_ + value) * k;
        double* a = acc(b, v);
        for (int z = 0; z < k; ++z) a[z] = row[z];
        normalise(a, k);
    }

    void pass_up(int b, int v, int p) {
        const int k = m_.k_;
        std::vector<double> message(k);
        weighted_rows(m_.by_child_.data() + static_cast<size_t>(v) * k * k, acc(b, v), k, k, message.data());
        double* ap = acc(b, p);
        for (int j = 0; j < k; ++j) ap[j] *= message[j];
        normalise(ap, k);
    }

    const Model& m_;
    int b_, threads_, position_;
    std::vector<double> outside_, acc_;
    std::vector<int64_t> finished_;
};

}  // namespace

PYBIND11_MODULE(_kernel, mod) {
    mod.doc() = "Exact HCLT conditionals for a batch of samples, deterministic on every machine";
    py::class_<Model>(mod, "Model")
        .def(py::init<I64Array, I64Array, F64Array, F64Array, F64Array, F64Array>(), py::arg("parent"),
             py::arg("order"), py::arg("root"), py::arg("down"), py::arg("up"), py::arg("leaf"));
    py::class_<Stepper>(mod, "Stepper")
        .def(py::init<const Model&, int, int>(), py::arg("model"), py::arg("batch"), py::arg("threads") = 1,
             py::keep_alive<1, 2>())
        .def_property_readonly("variable", &Stepper::variable)
        .def_property_readonly("position", &Stepper::position)
        .def("pmf",
             [](Stepper& s, py::array_t<double, py::array::c_style> out) {
                 if (out.ndim() != 2 || out.shape(0) != s.batch() || out.shape(1) != s.categories())
                     throw std::invalid_argument("out must be a (batch, categories) float64 array");
                 py::gil_scoped_release release;
                 s.pmf(out.mutable_data());
             },
             "Conditionals of the current variable into out (batch, C) float64")
        .def("cdf",
             [](Stepper& s, py::array_t<int32_t, py::array::c_style> out, int precision) {
                 if (out.ndim() != 2 || out.shape(0) != s.batch() || out.shape(1) != s.categories() + 1)
                     throw std::invalid_argument("out must be a (batch, categories + 1) int32 array");
                 py::gil_scoped_release release;
                 s.cdf(out.mutable_data(), precision);
             },
             py::arg("out"), py::arg("precision"), "Quantised CDF rows of the current variable into out")
        .def("observe",
             [](Stepper& s, I64Array values) {
                 if (values.ndim() != 1 || values.shape(0) != s.batch())
                     throw std::invalid_argument("values must be a (batch,) integer array");
                 py::gil_scoped_release release;
                 s.observe(values.data());
             },
             "Fix the current variable to values (batch,) and move on");
}
