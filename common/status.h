// Status and Result<T>: GridMint's one error type (after LevelDB's Status).
// Errors are values at boundaries; a Status carries a code and a message that
// names what was wrong, ready to print to a user.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gm {

class Status {
 public:
  // Frozen: codes are sent on the wire as their names.
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // bad input from a user or peer (HTTP 400)
    kNotFound,         // HTTP 404
    kAlreadyExists,    // HTTP 409
    kPermissionDenied, // HTTP 403
    kUnauthenticated,  // HTTP 401
    kFailedPrecondition,  // state forbids it now (HTTP 409)
    kResourceExhausted,   // limits, funds (HTTP 402/413/429 by context)
    kUnavailable,      // peer unreachable, try again (HTTP 503)
    kCorruption,       // stored data broken
    kIOError,          // operating system said no
    kInternal,         // broken invariant
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
  static Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
  static Status Unauthenticated(std::string m) { return Status(Code::kUnauthenticated, std::move(m)); }
  static Status FailedPrecondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
  static Status ResourceExhausted(std::string m) { return Status(Code::kResourceExhausted, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  // For decoding a Status received from a peer.
  static Status FromCode(Code c, std::string m) { return Status(c, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const {
    return ok() ? "OK" : std::string(CodeName(code_)) + ": " + message_;
  }
  static const char* CodeName(Code c);
  static Code CodeFromName(const std::string& name);

  // Prefixes context: "reading job.sh: <message>".
  Status Annotate(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: implicit by design
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace gm

#define GM_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::gm::Status _gm_s = (expr);          \
    if (!_gm_s.ok()) return _gm_s;        \
  } while (0)

#define GM_CONCAT_INNER(a, b) a##b
#define GM_CONCAT(a, b) GM_CONCAT_INNER(a, b)
#define GM_ASSIGN_OR_RETURN(lhs, expr) \
  GM_ASSIGN_OR_RETURN_IMPL(GM_CONCAT(_gm_r_, __LINE__), lhs, expr)
#define GM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
