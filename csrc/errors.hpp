// Error types of the native layer. Kept free of Python so the core also builds into fuzzers and tools.
#pragma once

#include <stdexcept>

namespace rcodec {

// Compressed bytes that cannot be decoded: truncated, damaged or hostile. Python sees a ValueError subclass.
struct FormatError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Bad arguments from the caller (values outside a table, unknown table index): Python sees ValueError.
using ArgumentError = std::invalid_argument;

}  // namespace rcodec
