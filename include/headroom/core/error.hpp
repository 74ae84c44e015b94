#pragma once
// Errors are exceptions that carry where they came from; only main() turns them into exit codes.
#include <stdexcept>
#include <string>

namespace headroom {

// Base of every error headroom throws on purpose. what() is the full, user-facing message.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input data: a hardware or model file, a trace line, a parallel plan that cannot work.
// Message form: "file:line:col: key.path: what was expected, what was found".
class InputError : public Error {
 public:
  using Error::Error;
};

// A unit string that does not parse or has the wrong dimension (no file context yet).
class UnitError : public InputError {
 public:
  using InputError::InputError;
};

// Command-line misuse (exit code 2).
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace headroom
